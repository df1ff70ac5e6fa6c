"""An option chain from a CSV file: ``expiry,strike,right,bid,ask,delta,iv``.

File format decisions (they match the daily-bars reader where the two overlap):
- The header names the columns (any order). Optional columns ``con_id``, ``gamma``,
  ``vega`` and ``theta`` are read when present; other extra columns are ignored. Line 1 is
  the header; blank lines are skipped but counted, so a line number is what an editor shows.
- ``expiry`` is ``YYYYMMDD`` (IB's spelling), ``right`` is ``C`` or ``P`` (``CALL``/``PUT``
  and lower case are accepted too), ``strike`` must be a positive number.
- An empty ``bid``/``ask``/``delta``/``iv``/greek cell, or the text ``NaN``, means "no value"
  and becomes NaN: the selector rejects such candidates as ``BAD_QUOTE``/``NO_GREEKS``
  (SPEC 5), which is what happens to a live quote without a value. IB's numeric markers
  (-1, -2, 1.7976931348623157e308) are numbers and are kept as they are, for the same reason.
- Anything else that is not a plain decimal number (``abc``, ``1,5``, ``inf``, ``1_000``) is
  an error naming the line: it means the file is not what its writer thinks it is. So are a
  row with too few or too many fields and a second row for the same expiry, right and
  strike (one chain holds one contract per strike).
- Chains are small (thousands of rows), so the reader is a plain ``csv`` loop that can name
  the exact line of any problem rather than a bulk pandas read. The file is read once into
  memory first (``datafiles.source``), so a pipe works and ``-`` means standard input.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import re
from datetime import date
from pathlib import Path

import numpy as np

from tui_trader.core.spreads import OptionChain
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.source import decode_utf8, read_source, source_name

CHAIN_COLUMNS: tuple[str, ...] = ("expiry", "strike", "right", "bid", "ask", "delta", "iv")
_OPTIONAL_FLOATS: tuple[str, ...] = ("gamma", "vega", "theta")
_VALUE_COLUMNS: tuple[str, ...] = ("bid", "ask", "delta", "iv", *_OPTIONAL_FLOATS)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_EXPIRY = re.compile(r"\d{8}")
_RIGHTS = {"C": True, "CALL": True, "P": False, "PUT": False}


def _number(path: str, line: int, column: str, cell: str) -> float:
    if not _NUMBER.fullmatch(cell):
        raise InputFileError(path, f"{column} value {cell!r} is not a number.", line)
    return float(cell)


def _value(path: str, line: int, column: str, cell: str) -> float:
    """A quote or greek: empty/NaN means "no value"."""
    if cell == "" or cell.lower() == "nan":
        return math.nan
    return _number(path, line, column, cell)


def _expiry(path: str, line: int, cell: str) -> date:
    if cell == "":
        raise InputFileError(path, "the expiry is missing.", line)
    if _EXPIRY.fullmatch(cell):
        with contextlib.suppress(ValueError):  # eight digits but no such day: refused below
            return date(int(cell[:4]), int(cell[4:6]), int(cell[6:]))
    raise InputFileError(path, f"expiry {cell!r} is not a YYYYMMDD date.", line)


def _strike(path: str, line: int, cell: str) -> float:
    if cell == "":
        raise InputFileError(path, "the strike is missing.", line)
    strike = _number(path, line, "strike", cell)
    if not (math.isfinite(strike) and strike > 0):
        raise InputFileError(path, f"strike {cell} is not a positive price.", line)
    return strike


def _right(path: str, line: int, cell: str) -> bool:
    try:
        return _RIGHTS[cell.upper()]
    except KeyError:
        raise InputFileError(path, f"right {cell!r} is not C or P.", line) from None


def _con_id(path: str, line: int, cell: str) -> int:
    if cell == "":
        return -1
    if not _INTEGER.fullmatch(cell):
        raise InputFileError(path, f"con_id value {cell!r} is not a whole number.", line)
    return int(cell)


def _header(path: str, row: list[str] | None) -> dict[str, int]:
    """Column name -> field index of every column this reader uses."""
    if row is None:
        raise InputFileError(path, "the file is empty; expected a header line.", 1)
    names = [c.strip() for c in row]
    if not any(names):
        raise InputFileError(path, "line 1 must be the header, not a blank line.", 1)
    missing = [c for c in CHAIN_COLUMNS if c not in names]
    if missing:
        raise InputFileError(
            path,
            f"the header lacks column(s) {', '.join(missing)}; expected {','.join(CHAIN_COLUMNS)}.",
            1,
        )
    known = (*CHAIN_COLUMNS, "con_id", *_OPTIONAL_FLOATS)
    repeated = sorted({c for c in known if names.count(c) > 1})
    if repeated:
        raise InputFileError(path, f"the header repeats column(s) {', '.join(repeated)}.", 1)
    return {c: names.index(c) for c in known if c in names}


def read_chain_csv(path: str | Path) -> OptionChain:
    """Read an option-chain CSV (``-``: standard input) into an :class:`OptionChain`; see
    the module doc.

    Raises :class:`InputFileError` (with the 1-based line, header = line 1) for a file that
    cannot be used.
    """
    text = decode_utf8(source_name(path), read_source(path))
    return _parse(source_name(path), text)


def _parse(path: str, text: str) -> OptionChain:
    """The chain in ``text``; ``path`` is the name errors give the source."""
    expiries: list[date] = []
    strikes: list[float] = []
    calls: list[bool] = []
    con_ids: list[int] = []
    values: dict[str, list[float]] = {c: [] for c in _VALUE_COLUMNS}
    seen: dict[tuple[date, bool, float], int] = {}
    try:
        with io.StringIO(text, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            where = _header(path, header)
            width = len(header or ())
            for row in reader:
                line = reader.line_num
                cells = [c.strip() for c in row]
                if not any(cells):
                    continue
                if len(cells) != width:
                    raise InputFileError(
                        path, f"the row has {len(cells)} fields, the header has {width}.", line
                    )
                expiry = _expiry(path, line, cells[where["expiry"]])
                strike = _strike(path, line, cells[where["strike"]])
                is_call = _right(path, line, cells[where["right"]])
                for column in _VALUE_COLUMNS:
                    cell = cells[where[column]] if column in where else ""
                    values[column].append(_value(path, line, column, cell))
                con_cell = cells[where["con_id"]] if "con_id" in where else ""
                con_ids.append(_con_id(path, line, con_cell))
                key = (expiry, is_call, strike)
                if key in seen:
                    raise InputFileError(
                        path,
                        f"a second {'call' if is_call else 'put'} for expiry "
                        f"{expiry:%Y%m%d} strike {strike:g} (the first is on line {seen[key]}).",
                        line,
                    )
                seen[key] = line
                expiries.append(expiry)
                strikes.append(strike)
                calls.append(is_call)
    except csv.Error as exc:
        raise InputFileError(path, f"is not valid CSV ({exc}).") from exc
    if not strikes:
        raise InputFileError(path, "the file has a header but no option rows.", 2)
    return OptionChain(
        expiry=np.array(expiries, dtype="datetime64[D]"),
        strike=np.array(strikes),
        is_call=np.array(calls, dtype=np.bool_),
        bid=values["bid"],
        ask=values["ask"],
        delta=values["delta"],
        iv=values["iv"],
        con_id=con_ids,
        gamma=values["gamma"],
        vega=values["vega"],
        theta=values["theta"],
    )
