"""Market caps from a CSV file: ``symbol,market_cap`` (SPEC 3's market-cap filter).

IB's API gives no market cap, so without this file SPEC 3's ``min_market_cap`` cannot
apply and every symbol is eligible but flagged ``market_cap_unknown``. The file is named by
``[universe] market_caps_file``; the simulated gateway's 60 names ship with theirs
(``tui_trader/sim/market_caps.csv``, which the demo uses).

File format decisions (they match the bars and chain readers where they overlap):
- UTF-8, with or without a byte-order mark (spreadsheets write one). Line 1 is the header
  naming the columns ``symbol`` and ``market_cap`` (any order, case and surrounding spaces
  ignored; extra columns such as a company name are ignored). Blank lines are skipped but
  counted, so a line number is what an editor shows.
- ``market_cap`` is in US dollars, a plain decimal number (``3.5e12`` and
  ``3500000000000`` both work) and positive. An empty cell means "not known": the symbol
  stays eligible and flagged, as when it is not in the file at all. Anything else -- text,
  ``1,5``, ``3.5T``, ``inf``, ``0``, a negative number -- is an error naming the line,
  because a cap read wrongly would let a small company through or keep a large one out.
- A symbol is a ticker as ``[universe] symbols`` accepts it (upper-cased on load); one
  listed twice is an error (which of the two caps would be meant?). Symbols outside the
  universe are ignored, so one file can serve several configurations.
- Any problem is one :class:`~tui_trader.datafiles.InputFileError` naming the file and the
  line; the CLI prints it and exits with code 2 before anything starts.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from tui_trader.core.settings import UniverseSettings, checked_symbols
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.source import STDIN, decode_utf8, read_source, source_name

CAP_COLUMNS: tuple[str, str] = ("symbol", "market_cap")
#: What error messages call the file when it comes from the configuration.
CONFIG_KEY = "[universe] market_caps_file"
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _header(name: str, rows: list[tuple[int, list[str]]]) -> tuple[int, int]:
    """Column indexes of ``symbol`` and ``market_cap`` in the header (line 1)."""
    if not rows or rows[0][0] != 1:
        raise InputFileError(
            name, "the first line must be the header naming the columns symbol and market_cap.", 1
        )
    header = [c.strip().lower() for c in rows[0][1]]
    missing = [c for c in CAP_COLUMNS if c not in header]
    if missing:
        got = ",".join(rows[0][1])
        raise InputFileError(
            name, f"the header has no {' or '.join(missing)} column (got {got!r}).", 1
        )
    repeated = [c for c in CAP_COLUMNS if header.count(c) > 1]
    if repeated:
        raise InputFileError(name, f"the header names {repeated[0]} twice.", 1)
    return header.index("symbol"), header.index("market_cap")


def _cap(name: str, line: int, symbol: str, cell: str) -> float | None:
    """The cap in dollars, or None for an empty cell (not known)."""
    if cell == "":
        return None
    if not _NUMBER.fullmatch(cell):
        raise InputFileError(
            name, f"the market cap of {symbol}, {cell!r}, is not a number in dollars.", line
        )
    value = float(cell)
    if not (math.isfinite(value) and value > 0):
        raise InputFileError(
            name, f"the market cap of {symbol}, {cell}, is not a positive amount.", line
        )
    return value


def parse_market_caps(name: str, text: str) -> dict[str, float]:
    """Symbol -> market cap (USD) from the file's text; ``name`` is what errors call it."""
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text))
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise InputFileError(name, f"is not valid CSV ({exc}).", reader.line_num) from exc
    if not rows:
        raise InputFileError(name, "the file is empty; expected the header symbol,market_cap.")
    sym_at, cap_at = _header(name, rows)
    caps: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    for line, row in rows[1:]:
        if len(row) <= max(sym_at, cap_at):
            raise InputFileError(
                name, f"the row has {len(row)} field(s); the header has more.", line
            )
        raw_symbol, cell = row[sym_at].strip(), row[cap_at].strip()
        if not raw_symbol:
            raise InputFileError(name, "the symbol is missing.", line)
        try:
            (symbol,) = checked_symbols([raw_symbol])
        except ValueError as exc:
            raise InputFileError(name, f"{exc}.", line) from None
        if symbol in first_seen:
            raise InputFileError(
                name, f"{symbol} is listed twice (first on line {first_seen[symbol]}).", line
            )
        first_seen[symbol] = line
        value = _cap(name, line, symbol, cell)
        if value is not None:
            caps[symbol] = value
    return caps


def read_market_caps_csv(path: str | Path, *, what: str = "market caps file") -> dict[str, float]:
    """Symbol -> market cap (USD) from ``path``; :class:`InputFileError` on any problem,
    naming ``what`` and the file (and the line, for a problem inside it)."""
    name = f"{what} {source_name(path)}"
    try:
        raw = read_source(path)
    except InputFileError as exc:
        raise InputFileError(name, exc.problem) from exc
    return parse_market_caps(name, decode_utf8(name, raw))


def universe_market_caps(universe: UniverseSettings) -> dict[str, float] | None:
    """The caps ``[universe] market_caps_file`` names (``~`` expanded; a relative path is
    relative to the working directory); None when the key is empty (every cap unknown)."""
    configured = universe.market_caps_file
    if not configured.strip():
        return None
    if configured.strip() == STDIN:
        raise InputFileError(CONFIG_KEY, "must name a file, not standard input ('-').")
    return read_market_caps_csv(Path(configured).expanduser(), what=CONFIG_KEY)
