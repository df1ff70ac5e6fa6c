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
- SMA keeps TA-Lib's running window sum (add today's value, divide by n, subtract the
  value leaving the window), so SMA, HHV and LLV equal TA-Lib's bit for bit. A running
  sum's rounding error is relative to the window's sum, not to a cumulative sum over the
  whole history: ~1e-15 of the mean however long the history.
- RSI and ATR are Wilder's, evaluated exactly as SPEC 2 writes them: the first average is
  the in-order sum of the first 14 differences / true ranges divided by 14, at index 14 of
  the row; then ``avg_t = (13 * avg_{t-1} + x_t) / 14``. RSI is
  ``100 * (avgGain / (avgGain + avgLoss))``, SPEC 2's ``100 - 100 / (1 + avgGain /
  avgLoss)`` rearranged (TA-Lib's form). They agree with TA-Lib to ~1e-14 relative (the
  installed TA-Lib build rounds its recursion differently in the last bit).
- RSI is 100 whenever the average loss is 0, as SPEC 2 says, including a perfectly flat
  stretch where both averages are 0 (TA-Lib returns 0 whenever avgGain + avgLoss < 1e-14:
  the one case we differ).

Speed, and why numba: the scanner runs this on 5,000 symbols x 500 days and must beat a
per-symbol pandas-ta loop by 50x (tests/benchmarks/test_bench_scan.py). Two indicators
are recursions (Wilder smoothing) and three are running sums: in numpy each step of a
recursion is one call per day, and every multi-step formula streams its temporaries
through memory, so the numpy version took ~65 ms where reading the four inputs and
writing the seven outputs takes ~10. One compiled kernel (:func:`_kernel`) instead walks
the days once and, on each day, updates every indicator for all symbols: that day's input
rows are read while they sit in cache, each output is written once, and each inner loop
over symbols is SIMD-vectorised by LLVM (~20 ms for the benchmark universe). The arrays
are time-major (days x symbols in memory) so those inner loops run over contiguous memory
(cutting the symbols into cache-sized chunks measured slower: the rows become short
strided runs). Results are (symbols x days) views of them (Fortran-ordered), and
:class:`~tui_trader.core.bars.Bars` stores its arrays the same way, so nothing is
transposed on the way in or out.

One kernel with one signature (float64 2-D C-contiguous arrays, int64 vectors; see
:func:`time_major`) serves :func:`compute_indicators` and every per-indicator function,
which ask it for the outputs they need. So numba compiles it once, and all entry points
share the same arithmetic: ``compute_indicators(bars).rsi14`` equals ``rsi(bars.close)``
bit for bit. The first call in a fresh environment compiles it (~2.5 s; core.strategies'
two kernels add ~0.5 s); numba caches the machine code on disk (``cache=True``:
``__pycache__`` next to this file, else the user cache directory), keyed on this file's
timestamp, and later processes load it instead (the first call then costs ~0.4 s, nearly
all of it numba's own start-up, which any compiled function pays). Where no cache
directory is writable, :func:`jit` falls back to compiling once per process; nothing
fails.

"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numba
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


# --- compiled kernels ---------------------------------------------------------------------

#: error_model="numpy": a float division by zero gives inf/NaN as in numpy (RSI's 0/0 on a
#: flat stretch, replaced afterwards) instead of raising, and without the per-element check
#: that would keep the loops from vectorising. No fastmath: it would let LLVM reorder and
#: fuse operations, and the results would depend on the compiler's choices. nogil: a scan
#: can run in a worker thread while the UI's event loop keeps going.
_JIT_OPTIONS: dict[str, Any] = {"error_model": "numpy", "nogil": True}


def jit[F: Callable[..., Any]](fn: F) -> F:
    """``numba.njit`` with the options above, machine code cached on disk: the decorator of
    every compiled kernel in ``core`` (core.strategies uses it too).

    numba refuses ``cache=True`` (RuntimeError, at decoration) when neither the source
    tree nor the user cache directory is writable, e.g. a read-only install run by a user
    without a home directory: then compile in every process instead of failing to import.
    """
    try:
        jitted = numba.njit(cache=True, **_JIT_OPTIONS)(fn)
    except RuntimeError:
        jitted = numba.njit(cache=False, **_JIT_OPTIONS)(fn)
    return cast(F, jitted)


_NAN = np.nan


@jit
def _better(a: float, b: float, upper: bool) -> float:
    """The max (``upper``) or min of two values; the operand order makes it x86's
    max/min instruction, so the loops calling it vectorise."""
    if upper:
        return a if a > b else b
    return a if a < b else b


@jit
def _true_range(high: float, low: float, prev_close: float) -> float:
    """max(high, prev close) - min(low, prev close): TA-Lib's largest of high - low,
    |high - prev close| and |low - prev close|, with the same rounding (one subtraction)."""
    return (high if high > prev_close else prev_close) - (low if low < prev_close else prev_close)


@jit
def _sma_row(
    today: FloatArray,
    leaving: FloatArray,
    t: int,
    n: int,
    first: IntArray,
    stop: IntArray,
    out: FloatArray,
    total: FloatArray,
) -> None:
    """Day ``t`` of SMA(n) for every symbol, TA-Lib's way: ``total`` holds each symbol's
    sum of its last n - 1 values; add today's, divide, subtract the one leaving (row
    ``t - n + 1``, passed as row 0 while that is negative: then it is not used).

    Loads are unconditional and the padding is dropped by selects, so the loop vectorises.
    """
    for i in range(today.shape[0]):
        f = first[i]
        x_new = today[i]
        x_old = leaving[i]
        window = total[i] + (x_new if t >= f else 0.0)
        mean = window / n
        out[i] = mean if (t >= f + n - 1) & (t < stop[i]) else _NAN
        total[i] = window - (x_old if t - n + 1 >= f else 0.0)


@jit
def _rsi_row(
    today: FloatArray,
    yesterday: FloatArray,
    t: int,
    n: int,
    first: IntArray,
    stop: IntArray,
    out: FloatArray,
    avg_gain: FloatArray,
    avg_loss: FloatArray,
) -> None:
    """Day ``t`` of Wilder's RSI(n). Before a symbol's seed bar (``first + n``) the
    averages hold plain sums (weight 1, divisor 1: exact no-ops), at it the sum is divided
    by n, after it they smooth; one branch-free formula serves all three phases."""
    keep = n - 1.0
    for i in range(today.shape[0]):
        f = first[i]
        seed = f + n
        change = today[i] - yesterday[i]
        moved = t > f  # a row's first bar has no difference
        gain = change if moved & (change > 0.0) else 0.0
        loss = -change if moved & (change < 0.0) else 0.0
        weight = keep if t > seed else 1.0
        divisor = float(n) if t >= seed else 1.0
        g = (avg_gain[i] * weight + gain) / divisor
        lo = (avg_loss[i] * weight + loss) / divisor
        avg_gain[i] = g
        avg_loss[i] = lo
        both = g + lo
        value = 100.0 * (g / both) if both != 0.0 else 100.0  # SPEC 2: avgLoss 0 -> 100
        out[i] = value if (t >= seed) & (t < stop[i]) else _NAN


@jit
def _atr_row(
    high: FloatArray,
    low: FloatArray,
    prev_close: FloatArray,
    t: int,
    n: int,
    first: IntArray,
    stop: IntArray,
    out: FloatArray,
    avg: FloatArray,
) -> None:
    """Day ``t`` of Wilder's ATR(n), phases as in :func:`_rsi_row`."""
    keep = n - 1.0
    for i in range(high.shape[0]):
        f = first[i]
        seed = f + n
        tr = _true_range(high[i], low[i], prev_close[i])
        x = tr if t > f else 0.0  # a row's first bar has no true range
        weight = keep if t > seed else 1.0
        divisor = float(n) if t >= seed else 1.0
        a = (avg[i] * weight + x) / divisor
        avg[i] = a
        out[i] = a if (t >= seed) & (t < stop[i]) else _NAN


@jit
def _true_range_row(
    high: FloatArray,
    low: FloatArray,
    prev_close: FloatArray,
    t: int,
    first: IntArray,
    stop: IntArray,
    out: FloatArray,
) -> None:
    """Day ``t`` of the true range (for :func:`true_range`; ATR computes its own)."""
    for i in range(high.shape[0]):
        tr = _true_range(high[i], low[i], prev_close[i])
        out[i] = tr if (t > first[i]) & (t < stop[i]) else _NAN


@jit
def _extreme_row(
    x: FloatArray,
    t: int,
    n: int,
    upper: bool,
    first: IntArray,
    stop: IntArray,
    out: FloatArray,
    running: FloatArray,
    suffix: FloatArray,
) -> None:
    """Day ``t`` of the trailing n-bar max (``upper``) or min, van Herk / Gil-Werman.

    Days are cut into blocks of n (t // n). The window ending at t is the tail of the
    previous block from t - n + 1 on, whose extremes (``suffix[j % n]``: of days j to
    that block's end) were stored when the block ended, plus the current block up to t,
    whose extreme ``running`` keeps. Three comparisons per value whatever n, where
    scanning the window takes n - 1. Both parts lie inside the window, so nothing outside
    it (padding, a later hole) reaches the result; max and min round nothing, so the
    result is exactly the window's extreme.
    """
    row = x[t]
    m = row.shape[0]
    restart = t % n == 0
    for i in range(m):
        v = row[i]
        running[i] = v if restart else _better(v, running[i], upper)
    block_end = t % n == n - 1
    j = t - n + 1
    if block_end:  # the window is exactly the current block
        for i in range(m):
            out[i] = running[i] if (t >= first[i] + n - 1) & (t < stop[i]) else _NAN
    elif j < 0:
        for i in range(m):
            out[i] = _NAN
    else:
        tail = suffix[j % n]
        for i in range(m):
            v = _better(tail[i], running[i], upper)
            out[i] = v if (t >= first[i] + n - 1) & (t < stop[i]) else _NAN
    if block_end:  # suffix extremes of the block just completed, for the next block
        last = suffix[n - 1]
        for i in range(m):
            last[i] = row[i]
        for r in range(n - 2, -1, -1):
            src = x[j + r]
            after = suffix[r + 1]
            dst = suffix[r]
            for i in range(m):
                dst[i] = _better(src[i], after[i], upper)


@jit
def _kernel(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    first: IntArray,
    stop: IntArray,
    volume_stop: IntArray,
    periods: tuple[int, ...],
    outs: tuple[FloatArray, ...],
) -> None:
    """Every requested indicator, one pass over the days (see the module doc).

    Inputs are time-major (days x symbols). ``first``: each symbol's first bar;
    ``stop``: its first hole (``n_days``: none), ``volume_stop`` the same for volume.
    ``periods`` (0: not wanted; true range: 1 = wanted) and ``outs`` (days x symbols,
    written where wanted) are in the order SMA fast, SMA slow, RSI, ATR, HHV, LLV, AVGVOL,
    true range. An input not needed by any wanted output may be any array of the same
    shape.
    """
    n_days, m = close.shape
    fast, slow, rsi_n, atr_n, hhv_n, llv_n, vol_n, tr_on = periods
    state = np.zeros((6, m))
    high_running = np.empty(m)
    low_running = np.empty(m)
    high_suffix = np.empty((max(1, min(hhv_n, n_days)), m))
    low_suffix = np.empty((max(1, min(llv_n, n_days)), m))
    # Direction flags as runtime values: given the literals True / False, numba would
    # compile a copy of _extreme_row per value (~0.7 s each on a cold cache), no faster.
    upper = n_days >= 0
    lower = not upper
    for t in range(n_days):
        prev = max(t - 1, 0)  # row 0 at t = 0, where no symbol uses it
        today = close[t]
        if fast > 0:
            leaving = close[max(t - fast + 1, 0)]
            _sma_row(today, leaving, t, fast, first, stop, outs[0][t], state[0])
        if slow > 0:
            leaving = close[max(t - slow + 1, 0)]
            _sma_row(today, leaving, t, slow, first, stop, outs[1][t], state[1])
        if rsi_n > 0:
            _rsi_row(today, close[prev], t, rsi_n, first, stop, outs[2][t], state[2], state[3])
        if atr_n > 0:
            _atr_row(high[t], low[t], close[prev], t, atr_n, first, stop, outs[3][t], state[4])
        if hhv_n > 0:
            _extreme_row(high, t, hhv_n, upper, first, stop, outs[4][t], high_running, high_suffix)
        if llv_n > 0:
            _extreme_row(low, t, llv_n, lower, first, stop, outs[5][t], low_running, low_suffix)
        if vol_n > 0:
            leaving = volume[max(t - vol_n + 1, 0)]
            _sma_row(volume[t], leaving, t, vol_n, first, volume_stop, outs[6][t], state[5])
        if tr_on > 0:
            _true_range_row(high[t], low[t], close[prev], t, first, stop, outs[7][t])


# --- Python side ----------------------------------------------------------------------------

_OUTPUTS = ("sma_fast", "sma_slow", "rsi", "atr", "hhv", "llv", "avgvol", "true_range")


def time_major(x: FloatArray) -> FloatArray:
    """``x`` (symbols x days) as the one array type the compiled kernels take: (days x
    symbols) float64, C-contiguous, aligned and writeable. A view when ``x`` is already
    time-major in memory (Bars' layout, and every result here); a copy otherwise, which
    keeps numba from compiling another signature for another layout."""
    out: FloatArray = np.require(np.asarray(x, dtype=np.float64).T, requirements=("C", "A", "W"))
    return out


def _index(x: IntArray) -> IntArray:
    out: IntArray = np.require(x, dtype=np.int64, requirements=("C", "A", "W"))
    return out


@dataclass(frozen=True, eq=False, slots=True)
class _Series:
    """Time-major inputs, each symbol's first bar and first hole (``n_days``: none)."""

    arrays: tuple[FloatArray, ...]
    first: IntArray
    stop: IntArray


def _canonical(*inputs: FloatArray) -> _Series:
    """Validate raw (symbols x days) inputs and find each symbol's padding and first hole:
    a bar is data only when every input is finite there (module doc)."""
    if any(np.ndim(a) != 2 for a in inputs):
        raise ValueError("indicator inputs must be 2-D (symbols x days) and equally shaped")
    arrays = tuple(time_major(a) for a in inputs)
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        raise ValueError("indicator inputs must be 2-D (symbols x days) and equally shaped")
    n_days, m = shape
    if n_days == 0:
        empty = np.zeros(m, dtype=np.int64)
        return _Series(arrays=arrays, first=empty, stop=empty)
    finite = np.isfinite(arrays[0])
    for a in arrays[1:]:
        finite &= np.isfinite(a)
    has_data = finite.any(axis=0)
    first = np.where(has_data, np.argmax(finite, axis=0), n_days).astype(np.int64)
    holes = ~finite
    holes &= np.arange(n_days)[:, None] >= first[None, :]
    stop = np.where(holes.any(axis=0), np.argmax(holes, axis=0), n_days).astype(np.int64)
    return _Series(arrays=arrays, first=_index(first), stop=_index(stop))


def _run(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    first: IntArray,
    stop: IntArray,
    volume_stop: IntArray,
    **periods: int,
) -> dict[str, FloatArray]:
    """Call the kernel for the outputs named in ``periods`` (see :data:`_OUTPUTS`);
    returns them as (symbols x days) views."""
    n_days, m = close.shape
    values = tuple(int(periods.get(name, 0)) for name in _OUTPUTS)
    unused = np.empty((0, 0))
    outs = tuple(np.empty((n_days, m)) if p > 0 else unused for p in values)
    _kernel(high, low, close, volume, first, stop, volume_stop, values, outs)
    return {name: out.T for name, out, p in zip(_OUTPUTS, outs, values, strict=True) if p > 0}


def _run_on(s: _Series, name: str, period: int) -> FloatArray:
    """One output from canonical inputs: (x,) or (high, low, close)."""
    if len(s.arrays) == 3:
        h, lo, c = s.arrays
    else:
        h = lo = c = s.arrays[0]
    return _run(h, lo, c, c, s.first, s.stop, s.stop, **{name: period})[name]


def sma(x: FloatArray, n: int) -> FloatArray:
    """Simple moving average of the last ``n`` values, today included."""
    if n < 1:
        raise ValueError("SMA period must be at least 1")
    return _run_on(_canonical(x), "sma_fast", n)


def hhv(high: FloatArray, n: int = RANGE_PERIOD) -> FloatArray:
    """Highest high of the last ``n`` bars, today included."""
    if n < 1:
        raise ValueError("window must be at least 1")
    return _run_on(_canonical(high), "hhv", n)


def llv(low: FloatArray, n: int = RANGE_PERIOD) -> FloatArray:
    """Lowest low of the last ``n`` bars, today included."""
    if n < 1:
        raise ValueError("window must be at least 1")
    return _run_on(_canonical(low), "llv", n)


def rsi(close: FloatArray, n: int = RSI_PERIOD) -> FloatArray:
    """Wilder RSI (SPEC 2; equals TA-Lib's RSI except flat stretches, see module doc)."""
    if n < 1:
        raise ValueError("RSI period must be at least 1")
    return _run_on(_canonical(close), "rsi", n)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """TR_t = max(high_t, close_{t-1}) - min(low_t, close_{t-1}); NaN at a row's first bar."""
    return _run_on(_canonical(high, low, close), "true_range", 1)


def atr(high: FloatArray, low: FloatArray, close: FloatArray, n: int = ATR_PERIOD) -> FloatArray:
    """Wilder ATR seeded like TA-Lib (SPEC 2): first value mean(TR_1..TR_n) at index n."""
    if n < 1:
        raise ValueError("ATR period must be at least 1")
    return _run_on(_canonical(high, low, close), "atr", n)


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


def compute_indicators(bars: Bars) -> Indicators:
    """All SPEC 2 indicators for every symbol and bar of ``bars``.

    Bars checked the alignment convention on construction, so its padding and holes are
    taken from it, not searched again. A provisional bar without volume leaves the price
    indicators intact and makes only AVGVOL20 undefined (from that bar on).
    """
    h, lo, c, v = (time_major(a) for a in (bars.high, bars.low, bars.close, bars.volume))
    n_days, m = c.shape
    no_hole = np.full(m, n_days, dtype=np.int64)
    out = _run(
        h,
        lo,
        c,
        v,
        _index(bars.first_valid),
        no_hole,
        _index(bars.volume_hole),
        sma_fast=SMA_FAST,
        sma_slow=SMA_SLOW,
        rsi=RSI_PERIOD,
        atr=ATR_PERIOD,
        hhv=RANGE_PERIOD,
        llv=RANGE_PERIOD,
        avgvol=RANGE_PERIOD,
    )
    return Indicators(
        close=c.T,
        sma50=out["sma_fast"],
        sma200=out["sma_slow"],
        rsi14=out["rsi"],
        atr14=out["atr"],
        hhv20=out["hhv"],
        llv20=out["llv"],
        avgvol20=out["avgvol"],
    )
