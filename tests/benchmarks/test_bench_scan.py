"""The vectorised scan against the per-symbol pandas-ta loop it replaces.

Synthetic universe: 5,000 symbols x 500 daily bars (seeded random walks, some symbols with
shorter histories so the padding paths run).

(a) ours: what ``scan()`` reports as ``elapsed_ms`` — SPEC 2 indicators on every bar of
    every symbol, the SPEC 3 universe filter and the four SPEC 4 strategy masks on every
    bar. ``scan()`` end to end (plus building the 5,000 result records) is printed too.
(b) baseline: a loop over symbols, each a prebuilt DataFrame, calling pandas-ta with
    ``talib=True`` (TA-Lib's C code does the arithmetic) for SMA50, SMA200, RSI14 and
    ATR14, plus pandas ``rolling`` for HHV20, LLV20 and AVGVOL20: the same indicators, and
    no strategies. Timed on the first 500 symbols and scaled x10 (per-symbol cost is flat),
    as printed. Building the per-symbol frames is not timed, which favours the baseline.
    Before timing, both sides' indicators are compared on every bar of those 500 symbols:
    the two sides do the same work and get the same numbers.

Our side is compiled (numba): the first call compiles or loads the kernels and is not
timed (a warm-up call of each side precedes the rounds).

The machine's load drifts (shared CI runners, other processes), and the two sides react
to it differently: ours streams memory, the baseline runs the interpreter. So the sides are
timed in interleaved rounds, each alternating ours, baseline, ours, baseline, ours and
keeping each side's best; the verdict is the median of the rounds' ratios, so a burst of
load that hits one round, or one side within it, does not decide it.

Run: ``python -m pytest tests/benchmarks/test_bench_scan.py -p no:cacheprovider -o addopts="" -s``
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pandas_ta as ta

from tui_trader.core.bars import Bars
from tui_trader.core.indicators import compute_indicators
from tui_trader.core.scanner import scan
from tui_trader.core.settings import StrategySettings, UniverseSettings
from tui_trader.core.strategies import clean_market_caps, strategy_masks, universe_masks

N_SYMBOLS = 5_000
N_DAYS = 500
BASELINE_SUBSET = 500
TARGET_RATIO = 50.0
ROUNDS = 7


def _universe() -> Bars:
    rng = np.random.default_rng(20240501)
    steps = rng.normal(0.0003, 0.02, (N_SYMBOLS, N_DAYS))
    close = rng.uniform(10, 400, (N_SYMBOLS, 1)) * np.exp(np.cumsum(steps, axis=1))
    spread = rng.uniform(0.002, 0.03, (N_SYMBOLS, N_DAYS))
    high = close * (1 + spread)
    low = close * (1 - spread)
    open_ = low + (high - low) * rng.uniform(size=(N_SYMBOLS, N_DAYS))
    volume = np.round(rng.lognormal(14, 1, (N_SYMBOLS, 1)) * rng.uniform(0.5, 1.5, steps.shape))
    short = rng.random(N_SYMBOLS) < 0.1  # a tenth listed later: 100..399 bars
    start = np.where(short, rng.integers(100, 400, N_SYMBOLS), 0)
    for arr in (open_, high, low, close, volume):
        arr[np.arange(N_DAYS)[None, :] < start[:, None]] = np.nan
    days = np.arange(np.datetime64("2022-01-03"), np.datetime64("2022-01-03") + N_DAYS)
    keep = ~np.isnan(close)
    frame = pd.DataFrame(
        {
            "date": np.broadcast_to(days, close.shape)[keep],
            "symbol": np.repeat([f"S{i:04d}" for i in range(N_SYMBOLS)], N_DAYS)[keep.ravel()],
            "open": open_[keep],
            "high": high[keep],
            "low": low[keep],
            "close": close[keep],
            "volume": volume[keep],
        }
    )
    return Bars.from_frame(frame)


def _per_symbol_frames(bars: Bars, count: int) -> list[pd.DataFrame]:
    frames = []
    for i in range(count):
        valid = ~np.isnan(bars.close[i])
        frames.append(
            pd.DataFrame(
                {
                    "high": bars.high[i, valid],
                    "low": bars.low[i, valid],
                    "close": bars.close[i, valid],
                    "volume": bars.volume[i, valid],
                },
                index=pd.DatetimeIndex(bars.dates[i, valid]),
            )
        )
    return frames


def _pandas_ta_indicators(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=df.index)
    out["sma50"] = ta.sma(df["close"], length=50, talib=True)
    out["sma200"] = ta.sma(df["close"], length=200, talib=True)
    out["rsi14"] = ta.rsi(df["close"], length=14, talib=True)
    out["atr14"] = ta.atr(df["high"], df["low"], df["close"], length=14, talib=True)
    out["hhv20"] = df["high"].rolling(20).max()
    out["llv20"] = df["low"].rolling(20).min()
    out["avgvol20"] = df["volume"].rolling(20).mean()
    return out


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def test_scan_is_50x_faster_than_per_symbol_pandas_ta() -> None:
    bars = _universe()
    universe, strategy = UniverseSettings(), StrategySettings()
    report = scan(bars, universe, strategy)  # also compiles / loads our kernels
    frames = _per_symbol_frames(bars, BASELINE_SUBSET)
    fired = sum(1 for r in report.results if r.signals)
    assert fired > 0 and report.symbols == N_SYMBOLS

    # Same numbers both ways, every bar of every baseline symbol.
    ind = compute_indicators(bars)
    for i, frame in enumerate(frames):
        theirs = _pandas_ta_indicators(frame)
        valid = ~np.isnan(bars.close[i])
        for name in ("sma50", "sma200", "rsi14", "atr14", "hhv20", "llv20", "avgvol20"):
            np.testing.assert_allclose(
                getattr(ind, name)[i, valid],
                theirs[name].to_numpy(dtype=np.float64),  # pandas-ta: None if too short
                rtol=1e-9,
                atol=0,
                equal_nan=True,
                err_msg=f"{bars.symbols[i]} {name}",
            )
    del ind

    caps = clean_market_caps(bars.symbols, None)

    def compute() -> None:
        ind = compute_indicators(bars)
        universe_masks(ind, universe, caps)
        strategy_masks(ind, strategy)

    def baseline() -> None:
        for df in frames:
            _pandas_ta_indicators(df)

    compute()
    baseline()
    scale = N_SYMBOLS / BASELINE_SUBSET
    rounds = []
    for _ in range(ROUNDS):
        ours_runs, theirs_runs = [_seconds(compute)], []
        for _ in range(2):
            theirs_runs.append(_seconds(baseline))
            ours_runs.append(_seconds(compute))
        ours, theirs = min(ours_runs), min(theirs_runs) * scale
        rounds.append((theirs / ours, ours, theirs))
    ratio, ours, theirs = sorted(rounds)[len(rounds) // 2]
    scan_seconds = min(_seconds(lambda: scan(bars, universe, strategy)) for _ in range(3))
    print(
        f"\nours, {N_SYMBOLS} symbols x {N_DAYS} days, indicators + universe filter + four "
        f"strategies on every bar: {ours * 1e3:.1f} ms (scan() end to end, with the "
        f"result records: {scan_seconds * 1e3:.1f} ms)"
        f"\npandas-ta talib=True per-symbol loop (indicators only), timed on "
        f"{BASELINE_SUBSET} symbols and scaled x{scale:.0f}: {theirs:.2f} s "
        f"({theirs / N_SYMBOLS * 1e3:.2f} ms/symbol)"
        f"\nratio {ratio:.0f}x (median of {ROUNDS} interleaved rounds: "
        f"{', '.join(f'{r[0]:.0f}x' for r in rounds)}; target >= {TARGET_RATIO:.0f}x)"
        f"\nper round, ours ms: {', '.join(f'{r[1] * 1e3:.1f}' for r in rounds)}; "
        f"baseline s: {', '.join(f'{r[2]:.2f}' for r in rounds)}"
    )
    assert ratio >= TARGET_RATIO
