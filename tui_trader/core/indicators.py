"""SPEC 2 indicators for every symbol and every bar at once, on 2-D arrays (symbols x days).

Conventions:
- A row's data starts at its first bar where every input of the indicator is finite; what
  comes before is padding (the right-aligned NaN padding of
  :class:`~tui_trader.core.bars.Bars`) and is ignored. So a symbol with 30 bars gets RSI
  from its 15th bar on, exactly as if it were computed alone.
- A non-finite value *after* that (a hole; Bars never has one in prices, only a provisional
  bar without volume) makes the indicator NaN from that bar on. Nothing is interpolated:
  a window or recursion that would span the hole has no honest value.
- Undefined values are NaN: SMA(n) before a row's n-th bar, RSI/ATR before its 15th,
  HHV/LLV/AVGVOL20 before its 20th.
- RSI and ATR are Wilder's, seeded exactly as TA-Lib does (SPEC 2): the first average is
  the simple mean of the first 14 differences / true ranges (summed in order), at index 14
  of the row; then ``avg_t = (13 * avg_{t-1} + x_t) / 14``, evaluated as
  ``avg_{t-1} * (13/14) + x_t / 14``. RSI = ``100 * avgGain / (avgGain + avgLoss)``, which
  is SPEC 2's ``100 - 100 / (1 + avgGain / avgLoss)`` rearranged (TA-Lib's form). Results
  agree with TA-Lib to ~1e-14 relative.
- RSI is 100 whenever the average loss is 0, as SPEC 2 says, including a perfectly flat
  stretch where both averages are 0 (TA-Lib returns 0 there: the one case we differ).

Layout and speed: the scanner runs this on 5,000 symbols x 500 days, 50x faster than a
per-symbol pandas-ta loop (tests/benchmarks/test_bench_scan.py). Every computation runs on
time-major arrays (days x symbols in memory), so the two recursions (Wilder smoothing,
running sums) are a loop over *days* whose every step is one numpy operation across all
symbols; along each symbol's row they would be a serial chain of 2.5 million dependent
additions. Multi-step elementwise work runs a block of days at a time
(:func:`day_blocks`) so it stays in cache. Results are (symbols x days) views of those
time-major arrays (Fortran-ordered); :class:`~tui_trader.core.bars.Bars` stores its arrays
the same way, so nothing is transposed on the way in or out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from tui_trader.core.bars import Bars

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

RSI_PERIOD = 14
ATR_PERIOD = 14
SMA_FAST = 50
SMA_SLOW = 200
RANGE_PERIOD = 20  # HHV20, LLV20, AVGVOL20


#: Elements per array in one block of :func:`day_blocks` (1 MB of float64: a few such
#: slices fit the L2 cache, where an elementwise step runs ~1.5x faster than streaming).
_BLOCK_ELEMENTS = 1 << 17


def day_blocks(n_days: int, n_symbols: int) -> Iterator[slice]:
    """Consecutive day ranges covering ``range(n_days)``, sized to keep a time-major slice
    of all symbols cache-resident. Multi-step elementwise work runs block by block."""
    step = max(1, _BLOCK_ELEMENTS // max(1, n_symbols))
    for start in range(0, n_days, step):
        yield slice(start, min(start + step, n_days))


@dataclass(frozen=True, eq=False, slots=True)
class _Series:
    """Time-major (days x symbols) inputs in canonical form: NaN before each symbol's
    ``first`` bar, finite from there on.

    ``hole`` is each symbol's first hole (``n_days``: none); values from it on were
    replaced by the last good one so the arithmetic runs, and :meth:`finish` NaNs the
    results there.
    """

    arrays: tuple[FloatArray, ...]
    first: IntArray
    hole: IntArray
    pad: FloatArray | None = None

    def __post_init__(self) -> None:
        # NaN before each symbol's first bar, 0 after; kept only for the days some symbol
        # is still in its padding (none at all in a universe of established names).
        # arrays[0] * 0 is exactly that when arrays[0] is hole-free (prices, or repaired).
        if self.pad is None:
            late = self.first[self.first < self.arrays[0].shape[0]]
            head = int(late.max()) if late.size else 0
            object.__setattr__(self, "pad", self.arrays[0][:head] * 0.0)

    def nan_before(self, out: FloatArray, lookback: int) -> None:
        """NaN ``out[..., t, i]`` for t < first[i] + lookback: values whose look-back
        reaches into symbol i's padding (the padding pattern, shifted, is added)."""
        n_rows = out.shape[-2]
        out[..., : min(lookback, n_rows), :] = np.nan
        pad = self.pad
        assert pad is not None  # set in __post_init__
        hi = min(n_rows, pad.shape[0] + lookback)
        if hi > lookback:
            out[..., lookback:hi, :] += pad[: hi - lookback]
        gone = np.flatnonzero(self.first >= self.arrays[0].shape[0])
        if gone.size:  # symbols without a single bar
            out[..., gone] = np.nan

    def finish(self, out_t: FloatArray) -> FloatArray:
        """NaN results from each symbol's hole on; return the (symbols x days) view."""
        n_days = out_t.shape[0]
        bad = np.flatnonzero(self.hole < n_days)
        if bad.size:
            sub = out_t[:, bad]
            sub[np.arange(n_days)[:, None] >= self.hole[None, bad]] = np.nan
            out_t[:, bad] = sub
        return out_t.T


def _time_major(x: FloatArray) -> FloatArray:
    out: FloatArray = np.ascontiguousarray(np.asarray(x, dtype=np.float64).T)
    return out


def _canonical(*inputs: FloatArray) -> _Series:
    arrays = tuple(_time_major(a) for a in inputs)
    shape = arrays[0].shape
    if any(a.ndim != 2 or a.shape != shape for a in arrays):
        raise ValueError("indicator inputs must be 2-D (symbols x days) and equally shaped")
    n_days, m = shape
    total = arrays[0]
    for a in arrays[1:]:
        total = total + a
    finite = np.isfinite(total)  # a bar is data only when every input is finite
    first: IntArray = np.argmax(finite, axis=0).astype(np.int64)
    counts = np.count_nonzero(finite, axis=0)
    first[counts == 0] = n_days
    # Clean: no hole after `first`, and each input NaN exactly in the padding (not inf,
    # which would survive the running sums' zero-fill, and not a finite value, e.g. a
    # close whose high is missing). A NaN in an input makes `total` NaN, so an input has
    # at most as many NaN as `total` has non-finite cells; equal totals mean equal per
    # symbol, and the per-symbol count is only needed when they differ.
    clean = counts == n_days - first
    non_finite = finite.size - int(counts.sum())
    for a in arrays:
        nan = np.isnan(a)
        if np.count_nonzero(nan) != non_finite:
            clean &= np.count_nonzero(nan, axis=0) == n_days - counts
    hole: IntArray = np.full(m, n_days, dtype=np.int64)
    bad = np.flatnonzero(~clean)
    if bad.size:
        arrays, hole = _repair(arrays, finite, first, bad)
    return _Series(arrays=arrays, first=first, hole=hole)


def _repair(
    arrays: tuple[FloatArray, ...], finite: NDArray[np.bool_], first: IntArray, bad: IntArray
) -> tuple[tuple[FloatArray, ...], IntArray]:
    """Make the few irregular symbols canonical: NaN padding, holes filled (see _Series)."""
    n_days, m = arrays[0].shape
    idx = np.arange(n_days)[:, None]
    before = idx < first[None, bad]
    holes = ~before & ~finite[:, bad]
    hole_at = np.where(holes.any(axis=0), np.argmax(holes, axis=0), n_days)
    from_hole = idx >= hole_at[None, :]
    last_good = np.maximum(hole_at - 1, 0)
    hole = np.full(m, n_days, dtype=np.int64)
    hole[bad] = hole_at
    fixed: list[FloatArray] = []
    for a in arrays:
        a = a.copy()
        sub = a[:, bad]
        sub = np.where(from_hole, sub[last_good, np.arange(bad.size)][None, :], sub)
        sub[before] = np.nan
        a[:, bad] = sub
        fixed.append(a)
    return tuple(fixed), hole


def _running_sum(x: FloatArray, non_negative: bool) -> FloatArray:
    """Running sums along days, NaN counted as 0; row 0 is 0, row t+1 sums x[0..t].

    ``non_negative``: the caller knows x >= 0 where not NaN (Bars prices and volumes), so
    one ``fmax`` pass zero-fills the NaN.
    """
    if non_negative:
        x0 = np.fmax(x, 0.0)
    else:
        x0 = x.copy()
        x0[np.isnan(x0)] = 0.0
    n_days, m = x.shape
    csum = np.empty((n_days + 1, m))
    csum[0] = 0.0
    for t in range(n_days):
        np.add(csum[t], x0[t], out=csum[t + 1])
    return csum


def _sma_core(
    x: FloatArray, s: _Series, periods: tuple[int, ...], non_negative: bool = False
) -> list[FloatArray]:
    """SMAs from one running sum (padding counted as 0, windows into it NaN-ed after).

    Running sums are not centred: for 5,000 days of a $1,000 stock they reach ~5e6, and
    their rounding error (~1e-9 of a dollar) is far below a cent.
    """
    n_days, m = x.shape
    csum = _running_sum(x, non_negative)
    # Window t is csum[t + 1] - csum[t + 1 - n]: NaN-ing csum[j] for j < first NaNs every
    # window that starts in the padding, for all periods at once.
    s.nan_before(csum, 0)
    outs: list[FloatArray] = []
    for n in periods:
        out = np.empty((n_days, m))
        out[: n - 1] = np.nan
        if n <= n_days:
            body = out[n - 1 :]
            for j in day_blocks(body.shape[0], m):
                np.subtract(csum[j.start + n : j.stop + n], csum[j], out=body[j])
                body[j] *= 1.0 / n
        outs.append(s.finish(out))
    return outs


def sma(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average of the last ``n`` values, today included."""
    if n < 1:
        raise ValueError("SMA period must be at least 1")
    s = _canonical(x)
    return _sma_core(s.arrays[0], s, (n,))[0]


def _rolling_extreme(x: FloatArray, s: _Series, n: int, pick: np.ufunc) -> FloatArray:
    """Trailing ``n``-bar max/min by doubling (sparse table): about log2(n) + 1 passes.

    np.maximum/np.minimum propagate NaN, so a window reaching into the padding is NaN.
    """
    if n < 1:
        raise ValueError("window must be at least 1")
    n_days = x.shape[0]
    if n == 1:
        return s.finish(x.copy())
    buffers = (np.empty_like(x), np.empty_like(x))  # used in turn, one level after another
    acc, span, turn = x, 1, 0
    while span < n:
        step = min(span, n - span)  # windows of span and step bars, step apart: span+step
        nxt = buffers[turn]
        nxt[:step] = np.nan
        pick(acc[step:], acc[: n_days - step], out=nxt[step:])
        acc, span, turn = nxt, span + step, 1 - turn
    return s.finish(acc)


def hhv(high: FloatArray, n: int = RANGE_PERIOD) -> FloatArray:
    """Highest high of the last ``n`` bars, today included."""
    s = _canonical(high)
    return _rolling_extreme(s.arrays[0], s, n, np.maximum)


def llv(low: FloatArray, n: int = RANGE_PERIOD) -> FloatArray:
    """Lowest low of the last ``n`` bars, today included."""
    s = _canonical(low)
    return _rolling_extreme(s.arrays[0], s, n, np.minimum)


def _wilder(x0: FloatArray, s: _Series, n: int) -> FloatArray:
    """Wilder smoothing (SPEC 2) of ``x0`` (k series x days-1 x symbols, **already divided
    by n**; ``x0[:, j]`` belongs to bar j + 1 and is 0 in the padding), first value at bar
    ``first + n``. Returns k x days x symbols, with meaningless values before each
    symbol's first average: callers NaN their final results there (``nan_before(out, n)``).

    ``avg_t = (13 avg_{t-1} + x_t) / 14`` is computed as ``avg_{t-1} * (13/14) + x_t/14``:
    two operations a step instead of three, at a rounding cost of a few 1e-16 relative
    (the recursion is contractive, so it does not accumulate). The seed enters as the
    filter input at the seed bar (the in-order sum of the first ``n`` scaled values, zeros
    before it), so one loop over days serves every symbol whatever its padding. Each series
    stays contiguous (elementwise passes run twice as fast on contiguous blocks as on
    interleaved ones). ``x0`` is modified in place.
    """
    k, width, m = x0.shape
    out = np.empty((k, width + 1, m))
    if width < n:
        out.fill(np.nan)
        return out
    seed_at = s.first + (n - 1)  # column j of the first average
    cols = np.flatnonzero(seed_at < width)
    if cols.size:
        rows = s.first[cols]
        seed = x0[:, rows, cols]
        for step in range(1, n):  # in order, as TA-Lib adds them
            seed = seed + x0[:, rows + step, cols]
            x0[:, rows + step - 1, cols] = 0.0
        x0[:, seed_at[cols], cols] = seed
    out[:, 0] = np.nan  # bar 0 has no difference / true range
    keep = (n - 1.0) / n
    multiply, add = np.multiply, np.add
    for series in range(k):
        x, y = x0[series], out[series, 1:]
        prev = y[0]
        prev[:] = x[0]
        for t in range(1, width):
            row = multiply(prev, keep, out=y[t])
            prev = add(row, x[t], out=row)
    return out


def _gains_losses_into(
    close: FloatArray, gain: FloatArray, neg_loss: FloatArray, scale: float
) -> None:
    """``scale`` x gains and *negated* losses (<= 0, saving a pass); padding NaN -> 0."""
    for j in day_blocks(gain.shape[0], gain.shape[1]):
        d = np.subtract(close[j.start + 1 : j.stop + 1], close[j], out=neg_loss[j])
        d *= scale
        np.fmax(d, 0.0, out=gain[j])  # fmax/fmin drop NaN
        np.fmin(d, 0.0, out=d)


def _true_range_into(
    h: FloatArray, lo: FloatArray, c: FloatArray, out: FloatArray, scale: float | None
) -> None:
    """TR of bars 1.. into ``out`` (row j = bar j + 1). With ``scale``: times ``scale``
    and the padding's NaN as 0 (for Wilder); without: plain TR, NaN in the padding."""
    for j in day_blocks(out.shape[0], out.shape[1]):
        now, prev = slice(j.start + 1, j.stop + 1), c[j]
        tr = np.maximum(h[now], prev, out=out[j])
        tr -= np.minimum(lo[now], prev)
        if scale is not None:
            tr *= scale
            np.fmax(tr, 0.0, out=tr)  # TR >= 0, so fmax only replaces NaN


def _rsi_from_averages(avg_gain: FloatArray, avg_neg_loss: FloatArray) -> FloatArray:
    """100 * G / (G + L) from G and -L (TA-Lib's form of SPEC 2's 100 - 100 / (1 + G/L)).

    G + L = 0 means both are 0 (a flat stretch): 0/0, but SPEC 2 says RSI = 100 whenever
    avgLoss = 0. (avgLoss = 0 < avgGain needs no help: G / G = 1.)
    """
    out = np.empty_like(avg_gain)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in day_blocks(out.shape[0], out.shape[1]):
            g, o = avg_gain[j], out[j]
            total = np.subtract(g, avg_neg_loss[j], out=o)
            flat = np.flatnonzero(total.ravel() == 0.0)
            np.divide(g, total, out=o)
            o *= 100.0
            if flat.size:
                o.ravel()[flat] = 100.0
    return out


def rsi(close: FloatArray, n: int = RSI_PERIOD) -> FloatArray:
    """Wilder RSI (SPEC 2; equals TA-Lib's RSI except flat stretches, see module doc)."""
    if n < 1:
        raise ValueError("RSI period must be at least 1")
    s = _canonical(close)
    (c,) = s.arrays
    if c.shape[0] < 2:
        return s.finish(np.full(c.shape, np.nan))
    x = np.empty((2, c.shape[0] - 1, c.shape[1]))
    _gains_losses_into(c, x[0], x[1], 1.0 / n)
    avg = _wilder(x, s, n)
    out = _rsi_from_averages(avg[0], avg[1])
    s.nan_before(out, n)
    return s.finish(out)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """TR_t = max(high_t, close_{t-1}) - min(low_t, close_{t-1}); NaN at a row's first bar."""
    s = _canonical(high, low, close)
    h, lo, c = s.arrays
    out = np.full(c.shape, np.nan)
    if c.shape[0] > 1:
        _true_range_into(h, lo, c, out[1:], None)
    return s.finish(out)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int = ATR_PERIOD) -> FloatArray:
    """Wilder ATR seeded like TA-Lib (SPEC 2): first value mean(TR_1..TR_n) at index n."""
    if n < 1:
        raise ValueError("ATR period must be at least 1")
    s = _canonical(high, low, close)
    h, lo, c = s.arrays
    if c.shape[0] < 2:
        return s.finish(np.full(c.shape, np.nan))
    x = np.empty((1, c.shape[0] - 1, c.shape[1]))
    _true_range_into(h, lo, c, x[0], 1.0 / n)
    out = _wilder(x, s, n)[0]
    s.nan_before(out, n)
    return s.finish(out)


@dataclass(frozen=True, eq=False, slots=True)
class Indicators:
    """SPEC 2 indicators, each shaped like the bars (symbols x days), NaN where undefined.

    The arrays are Fortran-ordered (time-major in memory; see the module doc).
    """

    close: FloatArray
    sma50: FloatArray
    sma200: FloatArray
    rsi14: FloatArray
    atr14: FloatArray
    hhv20: FloatArray
    llv20: FloatArray
    avgvol20: FloatArray


def _from_bars(bars: Bars) -> tuple[_Series, _Series]:
    """Bars checked the alignment convention on construction: no second check here."""
    h, lo, c, v = (_time_major(a) for a in (bars.high, bars.low, bars.close, bars.volume))
    n_days, m = c.shape
    no_hole = np.full(m, n_days, dtype=np.int64)
    prices = _Series(arrays=(h, lo, c), first=bars.first_valid, hole=no_hole)
    # Volume may have holes (a provisional bar without volume): borrow the prices' pad.
    volume = _Series((v,), first=bars.first_valid, hole=bars.volume_hole, pad=prices.pad)
    return prices, volume


def compute_indicators(bars: Bars) -> Indicators:
    """All SPEC 2 indicators for every symbol and bar of ``bars``.

    A provisional bar without volume leaves the price indicators intact and makes only
    AVGVOL20 undefined (from that bar on).
    """
    prices, vol = _from_bars(bars)
    h, lo, c = prices.arrays
    n_days, m = c.shape
    sma50, sma200 = _sma_core(c, prices, (SMA_FAST, SMA_SLOW), non_negative=True)
    if n_days >= 2:
        # Gains, losses and true ranges share one Wilder call (RSI_PERIOD == ATR_PERIOD).
        x = np.empty((3, n_days - 1, m))
        _gains_losses_into(c, x[0], x[1], 1.0 / RSI_PERIOD)
        _true_range_into(h, lo, c, x[2], 1.0 / ATR_PERIOD)
        avg = _wilder(x, prices, RSI_PERIOD)
        rsi14, atr14 = _rsi_from_averages(avg[0], avg[1]), avg[2]
        prices.nan_before(rsi14, RSI_PERIOD)
        prices.nan_before(atr14, ATR_PERIOD)
    else:
        rsi14, atr14 = np.full((n_days, m), np.nan), np.full((n_days, m), np.nan)
    return Indicators(
        close=c.T,
        sma50=sma50,
        sma200=sma200,
        rsi14=rsi14.T,
        atr14=atr14.T,
        hhv20=_rolling_extreme(h, prices, RANGE_PERIOD, np.maximum),
        llv20=_rolling_extreme(lo, prices, RANGE_PERIOD, np.minimum),
        avgvol20=_sma_core(vol.arrays[0], vol, (RANGE_PERIOD,), non_negative=True)[0],
    )
