"""Daily bars from a CSV file: ``date,symbol,open,high,low,close,volume``.

File format decisions:
- The header names the columns (any order, surrounding spaces ignored; extra columns are
  ignored, a repeated name is an error). Line 1 is the header, so a data row's line number
  is its 0-based row index + 2 (blank lines are counted and skipped, so numbers stay true
  to what an editor shows; a quoted field spanning lines would throw them off).
- Dates are ``YYYY-MM-DD`` only: a day-first or month-first date is ambiguous in
  early-month days, and a silently swapped date reorders bars.
- An empty price/volume cell (or NaN) is a parsable but invalid bar: it is dropped and
  reported with the other invalid bars (SPEC 1), not an error. Text that is not a number,
  a missing date or symbol, an unparsable date and two rows for the same symbol and date
  are errors naming the line: they mean the file is not what its writer thinks it is.
- The file is read once, into memory (``datafiles.source``), and every pass -- the header,
  the bulk parse, the search for an offending line -- works on those bytes: a pipe or
  ``-`` (standard input) can only be read once, and reopening one used to lose rows.
- Speed: 5,000 symbols x 500 days (2.5 M rows) parse in a couple of seconds because the
  happy path is one C-engine ``read_csv`` with float dtypes and vectorised checks; the slow
  search for the offending line only runs once something has failed.
"""

from __future__ import annotations

import csv
import io
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tui_trader.core.bars import BAR_COLUMNS, Bars, DuplicateBarError
from tui_trader.datafiles import InputFileError
from tui_trader.datafiles.source import decode_utf8, read_source, source_name

IntArray = NDArray[np.int64]
DayArray = NDArray[np.datetime64]

_NUMERIC = ("open", "high", "low", "close", "volume")
_TEXT = ("date", "symbol")
_FIRST_DATA_LINE = 2


def _read_header(path: str, raw: bytes) -> list[str]:
    end = raw.find(b"\n")
    first = decode_utf8(path, raw if end < 0 else raw[:end])
    rest = raw[end + 1 : end + 2] if end >= 0 and not first.strip() else b""
    if not first.strip():
        if rest:
            raise InputFileError(path, "line 1 must be the header, not a blank line.", 1)
        raise InputFileError(path, "the file is empty; expected a header line.", 1)
    return [c.strip() for c in next(csv.reader([first]))]


def _check_header(path: str, header: list[str]) -> None:
    missing = [c for c in BAR_COLUMNS if c not in header]
    if missing:
        raise InputFileError(
            path,
            f"the header lacks column(s) {', '.join(missing)}; expected {','.join(BAR_COLUMNS)}.",
            1,
        )
    repeated = sorted({c for c in header if c and header.count(c) > 1})
    if repeated:
        raise InputFileError(path, f"the header repeats column(s) {', '.join(repeated)}.", 1)


def _read_frame(raw: bytes, header: list[str], numeric_dtype: str) -> pd.DataFrame:
    """The C-engine read, under the stripped header names.

    No ``usecols``: with it pandas silently drops surplus fields, and a row with one field
    too many (a decimal comma, say) would shift its numbers; it must be an error instead.
    """
    names = [name or f"unnamed column {k + 1}" for k, name in enumerate(header)]
    dtypes = {c: numeric_dtype for c in _NUMERIC} | {c: "object" for c in _TEXT}
    with warnings.catch_warnings():
        # pandas only warns when the *first* data row has surplus fields; make it an error.
        warnings.simplefilter("error", pd.errors.ParserWarning)
        frame = pd.read_csv(
            io.BytesIO(raw),
            header=0,
            names=names,
            dtype=dtypes,
            index_col=False,
            encoding="utf-8-sig",
            skip_blank_lines=False,
            skipinitialspace=True,
            engine="c",
        )
    return frame[list(BAR_COLUMNS)]


def _locate_long_row(raw: bytes, n_fields: int) -> int | None:
    """Line number of the first row with more fields than the header (None: not found)."""
    with io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        for row in reader:
            if len(row) > n_fields:
                return reader.line_num
    return None


def _locate_bad_number(path: str, data: bytes, header: list[str]) -> InputFileError:
    """Re-read the numbers as text and name the first cell that is not a number."""
    raw = _read_frame(data, header, "object")
    first_bad: tuple[int, str] | None = None
    for column in _NUMERIC:
        text = raw[column]
        bad = (pd.to_numeric(text, errors="coerce").isna() & text.notna()).to_numpy()
        if bad.any():
            row = int(np.argmax(bad))
            if first_bad is None or row < first_bad[0]:
                first_bad = (row, column)
    if first_bad is None:
        return InputFileError(path, "a price or volume is not a number.")
    row, column = first_bad
    cell = str(raw[column].iloc[row])
    return InputFileError(path, f"{column} value {cell!r} is not a number.", row + _FIRST_DATA_LINE)


def _codes(path: str, col: pd.Series, what: str) -> tuple[IntArray, list[str]]:
    """Factorize a text column, stripping each *distinct* value once (2.5 M rows, ~5,000
    symbols or ~500 dates): a missing or blank value is an error naming its line."""
    codes, uniques = pd.factorize(col)
    stripped = [str(u).strip() for u in uniques]
    blank = [k for k, u in enumerate(stripped) if not u]
    missing = codes < 0
    if blank:
        missing |= np.isin(codes, blank)
    if missing.any():
        raise InputFileError(path, f"the {what} is missing.", int(np.argmax(missing)))
    return codes.astype(np.int64), stripped


def _parse_dates(path: str, col: pd.Series) -> DayArray:
    """YYYY-MM-DD strings -> datetime64[D], each distinct string parsed once."""
    codes, uniques = _codes(path, col, "date")
    parsed = pd.to_datetime(pd.Series(uniques), format="%Y-%m-%d", errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(np.isin(codes, np.flatnonzero(bad))))
        shown = uniques[int(codes[row])]
        raise InputFileError(path, f"date {shown!r} is not a YYYY-MM-DD date.", row)
    days: DayArray = parsed.to_numpy().astype("datetime64[D]")[codes]
    return days


def read_bars_csv(path: str | Path, asof: date | None = None) -> Bars:
    """Read a daily-bars CSV (``-``: standard input) into :class:`Bars` (bars after
    ``asof`` are left out).

    Raises :class:`InputFileError` for a file that cannot be used (see the module doc);
    invalid bars are dropped and listed in ``Bars.dropped`` instead.
    """
    data = read_source(path)
    return _parse(source_name(path), data, asof)


def _parse(path: str, data: bytes, asof: date | None) -> Bars:
    """The bars in ``data``; ``path`` is the name errors give the source."""
    header = _read_header(path, data)
    _check_header(path, header)
    try:
        frame = _read_frame(data, header, "float64")
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        line = _locate_long_row(data, len(header))
        raise InputFileError(path, "the row has more fields than the header.", line) from exc
    except UnicodeDecodeError as exc:  # a ValueError too: must come first
        decode_utf8(path, data)  # raises, naming the byte
        raise InputFileError(path, "is not UTF-8 text.") from exc
    except ValueError as exc:
        raise _locate_bad_number(path, data, header) from exc

    blank = frame["date"].isna().to_numpy().copy()
    if blank.any():  # a blank line has every field empty; a row missing only its date is bad
        blank[blank] = frame.loc[blank].isna().all(axis=1).to_numpy()
    if blank.all():
        raise InputFileError(path, "the file has a header but no bars.", _FIRST_DATA_LINE)
    line_of_row = np.flatnonzero(~blank) + _FIRST_DATA_LINE
    frame = frame.loc[~blank].reset_index(drop=True)

    try:  # the helpers report a row index in `frame`; turn it into the file's line
        sym_codes, sym_names = _codes(path, frame["symbol"], "symbol")
        days = _parse_dates(path, frame["date"])
    except InputFileError as exc:
        line = None if exc.line is None else int(line_of_row[exc.line])
        raise InputFileError(path, exc.problem, line) from None

    # A categorical column: Bars.from_frame then sorts ~5,000 names, not 2.5 M strings.
    # (Two raw spellings may strip to one name, hence the second factorize.)
    names, remap = np.unique(np.asarray(sym_names, dtype=object), return_inverse=True)
    symbols = pd.Categorical.from_codes(remap[sym_codes], categories=names.tolist())
    frame = frame.assign(date=days, symbol=symbols)
    try:
        return Bars.from_frame(frame, asof=asof)
    except DuplicateBarError as exc:
        same = (frame["symbol"] == exc.symbol).to_numpy() & (
            frame["date"].to_numpy() == np.datetime64(exc.day, "D")
        )
        rows = np.flatnonzero(same)
        first, second = (int(line_of_row[r]) for r in rows[:2])
        raise InputFileError(
            path,
            f"a second bar for {exc.symbol} on {exc.day.isoformat()} "
            f"(the first is on line {first}).",
            second,
        ) from None
