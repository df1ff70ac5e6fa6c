"""The universe from a file: ``[universe] symbols_file`` (issue 12).

A trader scans the index they trade (the S&P 500, a few hundred optionable names), and
such lists come as a plain list or as a spreadsheet export, so both are read:

- **A plain list**: one symbol a line. Surrounding spaces are ignored, and so are blank
  lines and lines starting with ``#`` (comments). A first line that is exactly ``symbol``
  or ``ticker`` (any case) is a one-column CSV's header and skipped.
- **A CSV**: when the first line that is not blank or a comment has a comma, it is the
  header, and the column named ``symbol`` (or else ``ticker``; any case, spaces ignored) is
  read; other columns (a company name, a sector) are ignored. The S&P 500 constituents
  exports (``Symbol,Security,GICS Sector,...``) read as they are.
- UTF-8, with or without a byte-order mark (spreadsheets write one).
- Every symbol must be a ticker as ``[universe] symbols`` accepts (letters, digits, ``.``,
  ``-``, ``/``; upper-cased). One listed twice is an error naming both lines: a list that
  repeats a name was probably not the list meant. An empty list is an error.

Any problem is one :class:`~tui_trader.datafiles.InputFileError` naming the file and the
line; ``config.load_settings`` turns it into a ``ConfigError`` (exit 2, one sentence).
A symbol IB does not know is no file problem: the engine reports it once and drops it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tui_trader.core.settings import checked_symbols
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.source import decode_utf8, read_source, source_name

#: What error messages call the file when it comes from the configuration.
CONFIG_KEY = "[universe] symbols_file"
_HEADERS = ("symbol", "ticker")


def _symbol(name: str, line: int, raw: str, seen: dict[str, int]) -> str:
    try:
        (symbol,) = checked_symbols([raw])
    except ValueError as exc:
        raise InputFileError(name, f"{exc}.", line) from None
    if symbol in seen:
        first = seen[symbol]
        raise InputFileError(name, f"{symbol} is listed twice (first on line {first}).", line)
    seen[symbol] = line
    return symbol


def _from_csv(name: str, rows: list[tuple[int, list[str]]]) -> list[str]:
    header_line, header = rows[0]
    names = [c.strip().lower() for c in header]
    column = next((names.index(h) for h in _HEADERS if h in names), None)
    if column is None:
        got = ",".join(header)
        raise InputFileError(name, f"the header has no symbol column (got {got!r}).", header_line)
    seen: dict[str, int] = {}
    out: list[str] = []
    for line, row in rows[1:]:
        cell = row[column].strip() if column < len(row) else ""
        if not cell:
            raise InputFileError(name, "the symbol is missing.", line)
        out.append(_symbol(name, line, cell, seen))
    return out


def parse_symbols(name: str, text: str) -> list[str]:
    """The symbols in the file's text, in file order; ``name`` is what errors call it."""
    lines = [(n, raw.strip()) for n, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    lines = [(n, t) for n, t in lines if not t.startswith("#")]
    if lines and "," in lines[0][1]:
        rows: list[tuple[int, list[str]]] = []
        for n, t in lines:
            try:
                rows.append((n, next(csv.reader(io.StringIO(t)))))
            except csv.Error as exc:
                raise InputFileError(name, f"is not valid CSV ({exc}).", n) from exc
        out = _from_csv(name, rows)
    else:
        if lines and lines[0][1].lower() in _HEADERS:
            lines = lines[1:]
        seen: dict[str, int] = {}
        out = [_symbol(name, n, t, seen) for n, t in lines]
    if not out:
        raise InputFileError(name, "lists no symbol; expected one symbol a line or a CSV.")
    return out


def read_symbols_file(path: str | Path) -> list[str]:
    """The symbols in ``path`` (``~`` expanded; a relative path is relative to the working
    directory); :class:`InputFileError` on any problem (module doc)."""
    file = Path(path).expanduser()
    name = f"{CONFIG_KEY} {source_name(file)}"
    try:
        raw = read_source(file)
    except InputFileError as exc:
        raise InputFileError(name, exc.problem) from exc
    return parse_symbols(name, decode_utf8(name, raw))
