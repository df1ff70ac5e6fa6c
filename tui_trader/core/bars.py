"""Daily bars for a whole universe as 2-D arrays, one row per symbol.

Alignment convention (every consumer relies on it): each row holds only that symbol's
*valid* bars, in date order, **right-aligned**. The last column is the symbol's latest valid
bar on or before ``asof``; shorter histories are padded on the left with NaN (``NaT`` in
``dates``). So "today" for every indicator and strategy is column ``-1`` whatever the
symbol's history length, a symbol with a missing day is not shifted against the others'
calendar, and a row never has NaN between two valid bars (the Wilder recursions would carry
such a NaN forward forever). The price of this choice: column ``j`` is *not* the same date
for every symbol. ``dates`` says which date each cell is, and a symbol whose last bar is
older than the universe's latest date is stale (the scanner reports it).

SPEC 1: a bar whose open/high/low/close is NaN, infinite, IB's "no value" marker
(1.7976931348623157e308) or non-positive (IB's -1/-2 markers included), or whose high is
below its low, is dropped for that symbol and reported in ``dropped``. A bar whose volume is
NaN, infinite, the marker or negative is dropped the same way (reason ``bad_volume``):
AVGVOL20 gates eligibility, and a gap in the volume series would be an invented number.
Volume 0 is a real value (halted day, index) and is kept. The SPEC asks for no other
consistency check (close outside high/low is kept as given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from tui_trader.core.markers import IB_UNSET_DOUBLE

FloatArray = NDArray[np.float64]
DateArray = NDArray[np.datetime64]
IntArray = NDArray[np.int64]

#: Columns of the long-format frame :meth:`Bars.from_frame` accepts.
BAR_COLUMNS: tuple[str, ...] = ("date", "symbol", "open", "high", "low", "close", "volume")

#: Reason codes for dropped bars, in the order they are checked (a bar gets the first).
DROP_MISSING_PRICE = "missing_price"  # NaN, +/-inf or IB's "no value" marker in O/H/L/C
DROP_NON_POSITIVE_PRICE = "non_positive_price"  # a price <= 0 (IB's -1 / -2 markers too)
DROP_HIGH_BELOW_LOW = "high_below_low"
DROP_BAD_VOLUME = "bad_volume"  # NaN, inf, the marker or negative volume
DROP_REASONS: tuple[str, ...] = (
    DROP_MISSING_PRICE,
    DROP_NON_POSITIVE_PRICE,
    DROP_HIGH_BELOW_LOW,
    DROP_BAD_VOLUME,
)

_NAT = np.datetime64("NaT", "D")


class DuplicateBarError(ValueError):
    """Two bars for the same symbol and date: which one is right cannot be guessed."""

    def __init__(self, symbol: str, day: date) -> None:
        self.symbol = symbol
        self.day = day
        super().__init__(f"more than one bar for {symbol} on {day.isoformat()}")


@dataclass(frozen=True, slots=True)
class DroppedBar:
    """A bar left out of a symbol's history, and why (one of :data:`DROP_REASONS`)."""

    date: date
    reason: str


def _bad_price(p: FloatArray) -> NDArray[np.bool_]:
    out: NDArray[np.bool_] = ~np.isfinite(p) | (p >= IB_UNSET_DOUBLE)
    return out


def _drop_codes(
    o: FloatArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray
) -> NDArray[np.int8]:
    """Per bar: 0 when valid, else 1 + the index of the first failing check in DROP_REASONS."""
    with np.errstate(invalid="ignore"):
        missing = _bad_price(o) | _bad_price(h) | _bad_price(lo) | _bad_price(c)
        non_positive = (o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0)
        inverted = h < lo
        bad_volume = ~np.isfinite(v) | (v >= IB_UNSET_DOUBLE) | (v < 0)
    codes = np.zeros(o.shape, dtype=np.int8)
    # Assign in reverse so the first failing check wins.
    codes[bad_volume] = 4
    codes[inverted] = 3
    codes[non_positive] = 2
    codes[missing] = 1
    return codes


def _to_date(d: np.datetime64) -> date:
    out: date = d.astype("datetime64[D]").item()
    return out


@dataclass(frozen=True, eq=False)
class Bars:
    """Right-aligned daily bars (see the module doc for the alignment convention).

    ``open``/``high``/``low``/``close``/``volume`` and ``dates`` are shaped
    ``(len(symbols), n_days)``; ``n_days >= 1`` always, so column ``-1`` exists even when
    nothing is known (then it is NaN). ``n_valid[i]`` is how many valid bars row ``i`` holds.
    ``asof`` is the cut-off the bars were taken at (None: no cut-off was asked for).
    The constructors store the arrays Fortran-ordered (days contiguous per column, i.e.
    time-major in memory), the layout the indicators compute in; any layout is accepted.
    Treat the arrays as read-only: the checks below ran once, on construction.
    """

    symbols: list[str]
    dates: DateArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    dropped: Mapping[str, tuple[DroppedBar, ...]] = field(default_factory=dict)
    asof: date | None = None
    first_valid: IntArray = field(init=False, repr=False)
    volume_hole: IntArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Check the alignment convention and SPEC 1 validity once, here.

        Every consumer (above all the indicators, which skip their own checks for Bars)
        relies on it, so a Bars that breaks it is refused rather than half-trusted:
        ``dates`` is NaT exactly on the left padding; prices are NaN there and finite,
        positive, not IB's marker and high >= low on every dated bar; volume is NaN in
        the padding and >= 0 or NaN (unknown, e.g. a provisional bar) on dated bars.
        ``first_valid[i]`` is row i's first dated column (``n_days`` when it has none);
        ``volume_hole[i]`` its first dated column without volume (``n_days``: none).
        Use :meth:`from_frame`, which drops invalid bars instead of refusing them.
        """
        shape = (len(self.symbols), self.dates.shape[1] if self.dates.ndim == 2 else -1)
        for name in ("dates", "open", "high", "low", "close", "volume"):
            arr = getattr(self, name)
            if arr.ndim != 2 or arr.shape != shape or arr.shape[1] < 1:
                raise ValueError(f"Bars.{name} must be shaped (n_symbols, n_days >= 1)")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("Bars.symbols must be unique")
        n_days = shape[1]
        dated = ~np.isnat(self.dates)
        n_dated = np.count_nonzero(dated, axis=1)
        first = (n_days - n_dated).astype(np.int64)
        if not np.array_equal(dated, np.arange(n_days)[None, :] >= first[:, None]):
            raise ValueError("Bars rows must be right-aligned: NaT padding first, then bars")
        total = int(n_dated.sum())
        padding = ~dated
        with np.errstate(invalid="ignore"):
            for name in ("open", "high", "low", "close"):
                p = getattr(self, name)
                if not np.array_equal(np.isnan(p), padding) or (
                    np.count_nonzero((p > 0) & (p < IB_UNSET_DOUBLE)) != total
                ):
                    raise ValueError(f"Bars.{name} must be a valid price exactly on dated bars")
            if np.count_nonzero(self.high >= self.low) != total:
                raise ValueError("Bars.high must not be below Bars.low")
            v = self.volume
            known = (v >= 0) & (v < IB_UNSET_DOUBLE)
            v_nan = np.isnan(v)
            if np.count_nonzero(known | v_nan) != v.size or (known & padding).any():
                raise ValueError("Bars.volume must be >= 0 or NaN on dated bars, NaN elsewhere")
        gaps = v_nan & dated
        hole = np.where(gaps.any(axis=1), np.argmax(gaps, axis=1), n_days).astype(np.int64)
        object.__setattr__(self, "first_valid", first)
        object.__setattr__(self, "volume_hole", hole)

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def n_days(self) -> int:
        return int(self.close.shape[1])

    @property
    def n_valid(self) -> IntArray:
        """Valid bars per symbol."""
        out: IntArray = self.n_days - self.first_valid
        return out

    @property
    def last_dates(self) -> DateArray:
        """Each symbol's latest valid bar date (``NaT`` when it has none)."""
        out: DateArray = self.dates[:, -1]
        return out

    @property
    def latest_date(self) -> date | None:
        """The newest bar date of any symbol; None when no symbol has a bar."""
        last = self.last_dates
        known = last[~np.isnat(last)]
        return _to_date(known.max()) if known.size else None

    @cached_property
    def _rows(self) -> dict[str, int]:
        return {sym: i for i, sym in enumerate(self.symbols)}

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._rows

    def index(self, symbol: str) -> int:
        """Row of ``symbol``; KeyError when it is not held."""
        return self._rows[symbol]

    def last_date(self, symbol: str) -> date | None:
        d = self.dates[self.index(symbol), -1]
        return None if np.isnat(d) else _to_date(d)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, asof: date | None = None) -> Bars:
        """Build from long format (one row per symbol and date; any row order).

        Rows dated after ``asof`` are ignored (not reported: the cut-off is asked for).
        Invalid bars are dropped and reported (module doc); a symbol whose every bar is
        dropped is still held, as an all-NaN row, so the scanner can say ``no_data``.
        Raises :class:`DuplicateBarError` for two rows with the same symbol and date
        (checked before the cut-off) and ValueError for a missing column, a missing date or
        a missing symbol.
        """
        missing_cols = [c for c in BAR_COLUMNS if c not in frame.columns]
        if missing_cols:
            raise ValueError(f"bars frame lacks column(s): {', '.join(missing_cols)}")
        day = pd.to_datetime(frame["date"]).to_numpy().astype("datetime64[D]")
        if np.isnat(day).any():
            raise ValueError("bars frame has a row without a date")
        sym_col = frame["symbol"]
        if sym_col.isna().any():
            raise ValueError("bars frame has a row without a symbol")
        codes, uniques = pd.factorize(sym_col, sort=True)
        symbols = [str(s) for s in uniques]
        n_sym = len(symbols)

        day_int = day.astype(np.int64)
        order = np.lexsort((day_int, codes))
        s_codes = codes[order]
        s_days = day_int[order]
        same = (s_codes[1:] == s_codes[:-1]) & (s_days[1:] == s_days[:-1])
        if same.any():
            k = int(np.argmax(same))
            dup_day = np.datetime64(int(s_days[k]), "D")
            raise DuplicateBarError(symbols[int(s_codes[k])], _to_date(dup_day))

        def col(name: str) -> FloatArray:
            out: FloatArray = frame[name].to_numpy(dtype=np.float64)[order]
            return out

        o, h, lo, c, v = (col(n) for n in ("open", "high", "low", "close", "volume"))
        in_range = (
            np.ones(order.size, dtype=bool)
            if asof is None
            else s_days <= np.datetime64(asof, "D").astype(np.int64)
        )
        drop = _drop_codes(o, h, lo, c, v)
        keep = in_range & (drop == 0)

        dropped: dict[str, tuple[DroppedBar, ...]] = {}
        bad_idx = np.flatnonzero(in_range & (drop != 0))
        if bad_idx.size:
            lists: dict[str, list[DroppedBar]] = {}
            bad_days = s_days[bad_idx].astype("datetime64[D]").tolist()
            for k, d in zip(bad_idx.tolist(), bad_days, strict=True):
                sym = symbols[int(s_codes[k])]
                lists.setdefault(sym, []).append(DroppedBar(d, DROP_REASONS[int(drop[k]) - 1]))
            dropped = {s: tuple(v_) for s, v_ in lists.items()}

        k_codes = s_codes[keep]
        counts = np.bincount(k_codes, minlength=n_sym).astype(np.int64)
        width = max(1, int(counts.max()) if counts.size else 1)
        starts = np.cumsum(counts) - counts
        pos = np.arange(k_codes.size, dtype=np.int64) - starts[k_codes]
        cols = width - counts[k_codes] + pos

        def scatter(values: FloatArray) -> FloatArray:
            # Rows arrive symbol by symbol, so write row-major, then store time-major.
            out = np.full((n_sym, width), np.nan, dtype=np.float64)
            out[k_codes, cols] = values[keep]
            return np.asfortranarray(out)

        dates_c = np.full((n_sym, width), _NAT, dtype="datetime64[D]")
        dates_c[k_codes, cols] = s_days[keep].astype("datetime64[D]")
        dates: DateArray = np.asfortranarray(dates_c)
        return cls(
            symbols=symbols,
            dates=dates,
            open=scatter(o),
            high=scatter(h),
            low=scatter(lo),
            close=scatter(c),
            volume=scatter(v),
            dropped=dropped,
            asof=asof,
        )

    def with_provisional(
        self,
        day: date,
        last: Mapping[str, float],
        volume: Mapping[str, float] | None = None,
    ) -> Bars:
        """Bars with today's provisional bar from live last prices (SPEC 1).

        A symbol whose latest bar is ``day`` already (a partial daily bar from the broker,
        or an earlier provisional one) gets high/low extended by ``last`` and close =
        ``last``; its volume is replaced when ``volume`` gives one. Otherwise a new bar
        open = high = low = close = ``last`` is appended, with volume from ``volume`` or NaN
        (AVGVOL20 is then unknown and the symbol ineligible until a volume arrives: a
        guessed volume could let an illiquid name through).

        A bad last price (NaN, inf, marker, <= 0) or bad volume adds no bar: it is reported
        in ``dropped`` for ``day``, so the symbol goes stale instead of trading on it.
        Symbols without a quote, and quotes for symbols not held, change nothing (a
        provisional bar completes a history; it cannot stand in for one). Raises ValueError
        when a quoted symbol already has a bar after ``day`` (a wrong clock, not market data).
        """
        dropped = {s: list(v) for s, v in self.dropped.items()}
        day64 = np.datetime64(day, "D")
        # One numpy pass over every quoted symbol (a live scan of 1,000 symbols validated
        # them one small array at a time: most of the scan's own cost, issue 12).
        syms = [s for s in last if s in self._rows]
        quoted = len(syms)
        idx = np.fromiter((self.index(s) for s in syms), dtype=np.int64, count=quoted)
        price = np.fromiter((float(last[s]) for s in syms), dtype=np.float64, count=quoted)
        vol = np.fromiter(
            (float("nan") if volume is None or s not in volume else float(volume[s]) for s in syms),
            dtype=np.float64,
            count=quoted,
        )
        codes = _drop_codes(price, price, price, price, np.where(np.isnan(vol), 0.0, vol))
        for k in np.flatnonzero(codes):
            dropped.setdefault(syms[k], []).append(DroppedBar(day, DROP_REASONS[codes[k] - 1]))
        ok = codes == 0
        d_last = self.dates[idx, -1]
        dated = ok & ~np.isnat(d_last)
        later = np.flatnonzero(dated & (d_last > day64))
        if later.size:
            k = int(later[0])
            raise ValueError(
                f"provisional bar for {syms[k]} on {day.isoformat()} is older than its "
                f"latest bar ({_to_date(d_last[k]).isoformat()})"
            )
        same_day = dated & (d_last == day64)
        to_append = ok & ~same_day

        names = ("dates", "open", "high", "low", "close", "volume")
        arrays: dict[str, NDArray[np.generic]] = {
            n: getattr(self, n).copy(order="F") for n in names
        }

        if same_day.any():
            r, pr, vr = idx[same_day], price[same_day], vol[same_day]
            arrays["high"][r, -1] = np.maximum(arrays["high"][r, -1], pr)
            arrays["low"][r, -1] = np.minimum(arrays["low"][r, -1], pr)
            arrays["close"][r, -1] = pr
            arrays["volume"][r, -1] = np.where(np.isnan(vr), arrays["volume"][r, -1], vr)

        if to_append.any():
            a, pa_, va_ = idx[to_append], price[to_append], vol[to_append]
            is_app = np.zeros(self.n_symbols, dtype=bool)
            is_app[a] = True
            width = self.n_days + 1
            for name in names:
                old = arrays[name]
                fill = _NAT if name == "dates" else np.nan
                new = np.full((self.n_symbols, width), fill, dtype=old.dtype, order="F")
                # Rows that gain a bar keep their history one column further left; the
                # others stay where they are, so every row stays right-aligned.
                new[is_app, :-1] = old[is_app]
                new[~is_app, 1:] = old[~is_app]
                arrays[name] = new
            arrays["dates"][a, -1] = day64
            for name in ("open", "high", "low", "close"):
                arrays[name][a, -1] = pa_
            arrays["volume"][a, -1] = va_
            # Drop leading columns no row uses any more (keep at least one).
            used = ~np.isnat(arrays["dates"]).all(axis=0)
            first = int(np.argmax(used)) if used.any() else width - 1
            arrays = {n: np.asfortranarray(v[:, first:]) for n, v in arrays.items()}

        return Bars(
            symbols=list(self.symbols),
            dates=arrays["dates"].astype("datetime64[D]", copy=False),
            open=arrays["open"].astype(np.float64, copy=False),
            high=arrays["high"].astype(np.float64, copy=False),
            low=arrays["low"].astype(np.float64, copy=False),
            close=arrays["close"].astype(np.float64, copy=False),
            volume=arrays["volume"].astype(np.float64, copy=False),
            dropped={s: tuple(v) for s, v in dropped.items()},
            asof=day,
        )
