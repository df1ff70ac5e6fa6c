"""SPEC 2 indicators (core/indicators.py) against published tables, TA-Lib, pandas-ta and a
plain per-symbol loop written straight from the SPEC formulas.

Published figures are copied as literals from StockCharts' worked examples (ChartSchool
"Relative Strength Index" and "Average True Range" spreadsheets, as kept in
shared/reference/). Findings about pandas-ta 0.4.71b0 with ``talib=False``, checked below:
- SMA equals ours.
- ATR seeds StockCharts-style by default (TR_0 = high_0 - low_0, first value at index 13),
  so it equals StockCharts' column, not ours; with ``prenan=True`` its first value (index
  13) is a 13-bar mean, and from index 14 on it equals ours / TA-Lib exactly.
- RSI smooths with an EMA seeded at the first difference instead of Wilder's 14-bar mean:
  it differs early on and converges to ours geometrically.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pandas_ta as ta
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core import indicators as indicators_module
from tui_trader.core.bars import Bars
from tui_trader.core.indicators import (
    atr,
    compute_indicators,
    hhv,
    llv,
    rsi,
    sma,
    true_range,
)

# StockCharts RSI(14) example: closes 14-Dec-2009 .. 01-Feb-2010 and the published RSI from
# the 15th close (05-Jan-2010) on.
SC_RSI_CLOSES = [
    44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433,
    46.0826, 45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116,
    46.2222, 45.6439, 46.2122, 46.2521, 45.7137, 46.4515, 45.7835, 45.3548, 44.0288,
    44.1783, 44.2181, 44.5672, 43.4205, 42.6628, 43.1314,
]  # fmt: skip
SC_RSI = [
    70.5328, 66.3186, 66.5498, 69.4063, 66.3552, 57.9749, 62.9296, 63.2571, 56.0593,
    62.3771, 54.7076, 50.4228, 39.9898, 41.4605, 41.8689, 45.4632, 37.3040, 33.0795,
    37.7730,
]  # fmt: skip

# StockCharts ATR(14) example, 01-Apr-2010 .. 13-May-2010: high, low, close, TR, ATR.
# StockCharts' TR_0 is high_0 - low_0 and its first ATR (0.555) sits at index 13.
SC_ATR_ROWS = [
    (48.70, 47.79, 48.16, 0.91, None),
    (48.72, 48.14, 48.61, 0.58, None),
    (48.90, 48.39, 48.75, 0.51, None),
    (48.87, 48.37, 48.63, 0.50, None),
    (48.82, 48.24, 48.74, 0.58, None),
    (49.05, 48.635, 49.03, 0.415, None),
    (49.20, 48.94, 49.07, 0.26, None),
    (49.35, 48.86, 49.32, 0.49, None),
    (49.92, 49.50, 49.91, 0.60, None),
    (50.19, 49.87, 50.13, 0.32, None),
    (50.12, 49.20, 49.53, 0.93, None),
    (49.66, 48.90, 49.50, 0.76, None),
    (49.88, 49.43, 49.75, 0.45, None),
    (50.19, 49.725, 50.03, 0.465, 0.555),
    (50.36, 49.26, 50.31, 1.10, 0.5939285714),
    (50.57, 50.09, 50.52, 0.48, 0.5857908163),
    (50.65, 50.30, 50.41, 0.35, 0.5689486152),
    (50.43, 49.21, 49.34, 1.22, 0.6154522855),
    (49.63, 48.98, 49.37, 0.65, 0.6179199794),
    (50.33, 49.61, 50.23, 0.96, 0.6423542666),
    (50.29, 49.20, 49.2375, 1.09, 0.6743289618),
    (50.17, 49.43, 49.93, 0.9325, 0.6927697503),
    (49.32, 48.08, 48.43, 1.85, 0.7754290538),
    (48.50, 47.64, 48.18, 0.86, 0.7814698357),
    (48.3201, 41.55, 46.57, 6.7701, 1.209229133),
    (46.80, 44.2833, 45.41, 2.5167, 1.302619909),
    (47.80, 47.31, 47.77, 2.39, 1.380289916),
    (48.39, 47.20, 47.72, 1.19, 1.366697779),
    (48.66, 47.90, 48.62, 0.94, 1.336219366),
    (48.79, 47.7301, 47.85, 1.0599, 1.316482269),
]


def _row(values: list[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[None, :]


def _sc_atr_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    high = _row([r[0] for r in SC_ATR_ROWS])
    low = _row([r[1] for r in SC_ATR_ROWS])
    close = _row([r[2] for r in SC_ATR_ROWS])
    return high, low, close


def _walk(rng: np.random.Generator, m: int, n: int) -> tuple[np.ndarray, ...]:
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (m, n)), axis=1))
    high = close * (1.0 + rng.uniform(0.0, 0.03, (m, n)))
    low = close * (1.0 - rng.uniform(0.0, 0.03, (m, n)))
    volume = rng.uniform(1e5, 5e6, (m, n)).round()
    return high, low, close, volume


# --- published tables -------------------------------------------------------------------


def test_rsi_equals_stockcharts_published_table() -> None:
    ours = rsi(_row(SC_RSI_CLOSES))[0]
    assert np.isnan(ours[:14]).all()
    for got, published in zip(ours[14:], SC_RSI, strict=True):
        assert round(got, 2) == round(published, 2)
        assert got == pytest.approx(published, abs=5e-5)  # published to 4 decimals


def test_true_range_equals_stockcharts_tr_column() -> None:
    high, low, close = _sc_atr_inputs()
    tr = true_range(high, low, close)[0]
    assert math.isnan(tr[0])  # SPEC: TR from t = 1 (StockCharts fills in high_0 - low_0)
    np.testing.assert_allclose(tr[1:], [r[3] for r in SC_ATR_ROWS[1:]], rtol=0, atol=1e-9)


def test_atr_equals_talib_on_stockcharts_bars() -> None:
    high, low, close = _sc_atr_inputs()
    ours = atr(high, low, close)[0]
    expected = talib.ATR(high[0], low[0], close[0], timeperiod=14)
    assert np.isnan(ours[:14]).all() and np.isnan(expected[:14]).all()
    np.testing.assert_allclose(ours[14:], expected[14:], rtol=0, atol=1e-9)
    # First value: mean(TR_1..TR_14).
    assert ours[14] == pytest.approx(sum(r[3] for r in SC_ATR_ROWS[1:15]) / 14, abs=1e-12)


def test_atr_converges_to_stockcharts_geometrically() -> None:
    """Same recursion, different seed: the gap shrinks by 13/14 a bar, to < 0.01 at the end."""
    high, low, close = _sc_atr_inputs()
    ours = atr(high, low, close)[0]
    published = np.array([np.nan if r[4] is None else r[4] for r in SC_ATR_ROWS])
    gap = ours[14:] - published[14:]
    steps = np.arange(gap.size)
    np.testing.assert_allclose(gap, gap[0] * (13 / 14) ** steps, rtol=0, atol=2e-9)
    assert abs(gap[0]) == pytest.approx(0.02536, abs=1e-5)
    assert abs(gap[-1]) < 0.01


# --- TA-Lib and pandas-ta ---------------------------------------------------------------


def test_equals_talib_on_long_random_walks() -> None:
    rng = np.random.default_rng(7)
    high, low, close, _ = _walk(rng, 6, 400)
    ours_rsi, ours_atr = rsi(close), atr(high, low, close)
    ours_50, ours_200 = sma(close, 50), sma(close, 200)
    for i in range(6):
        pairs = [
            (ours_rsi[i], talib.RSI(close[i], timeperiod=14)),
            (ours_atr[i], talib.ATR(high[i], low[i], close[i], timeperiod=14)),
            (ours_50[i], talib.SMA(close[i], timeperiod=50)),
            (ours_200[i], talib.SMA(close[i], timeperiod=200)),
            (hhv(high)[i], talib.MAX(high[i], timeperiod=20)),
            (llv(low)[i], talib.MIN(low[i], timeperiod=20)),
        ]
        for got, expected in pairs:
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-9, equal_nan=True)


def test_sma_and_atr_equal_pandas_ta_without_talib() -> None:
    rng = np.random.default_rng(11)
    high, low, close, volume = _walk(rng, 1, 300)
    h, lo, c, v = (pd.Series(a[0]) for a in (high, low, close, volume))
    for n, ours in ((50, sma(close, 50)[0]), (200, sma(close, 200)[0])):
        theirs = ta.sma(c, length=n, talib=False).to_numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, equal_nan=True)
    avgvol = ta.sma(v, length=20, talib=False).to_numpy()
    np.testing.assert_allclose(sma(volume, 20)[0], avgvol, rtol=1e-12, equal_nan=True)
    # pandas-ta's ATR with prenan=True seeds a 13-bar mean at index 13, after which its
    # recursion reproduces mean(TR_1..TR_14) at 14: equal from there on.
    theirs_atr = ta.atr(h, lo, c, length=14, talib=False, prenan=True).to_numpy()
    ours_atr = atr(high, low, close)[0]
    assert np.isnan(ours_atr[13]) and not np.isnan(theirs_atr[13])
    np.testing.assert_allclose(ours_atr[14:], theirs_atr[14:], rtol=1e-12)


def test_pandas_ta_default_atr_is_stockcharts_style_not_ours() -> None:
    high, low, close = _sc_atr_inputs()
    frame = pd.DataFrame({"h": high[0], "l": low[0], "c": close[0]})
    theirs = ta.atr(frame.h, frame.l, frame.c, length=14, talib=False).to_numpy()
    published = [r[4] for r in SC_ATR_ROWS[13:]]
    np.testing.assert_allclose(theirs[13:], published, rtol=0, atol=1e-9)
    ours = atr(high, low, close)[0]
    assert abs(ours[14] - theirs[14]) > 0.02  # different seeds: documented, not a bug


def test_pandas_ta_rsi_without_talib_converges_to_ours() -> None:
    rng = np.random.default_rng(3)
    _, _, close, _ = _walk(rng, 1, 400)
    ours = rsi(close)[0]
    theirs = ta.rsi(pd.Series(close[0]), length=14, talib=False).to_numpy()
    assert abs(ours[14] - theirs[14]) > 0.1  # not Wilder's seed (SPEC 2's caution)
    np.testing.assert_allclose(ours[300:], theirs[300:], rtol=0, atol=1e-6)


# --- the SPEC formulas as a plain loop, one symbol at a time -----------------------------


def _reference(
    high: list[float], low: list[float], close: list[float], volume: list[float]
) -> dict[str, list[float]]:
    n = len(close)
    nan = math.nan
    out = {k: [nan] * n for k in ("sma50", "sma200", "rsi", "atr", "hhv", "llv", "avgvol")}
    for t in range(n):
        if t >= 49:
            out["sma50"][t] = sum(close[t - 49 : t + 1]) / 50
        if t >= 199:
            out["sma200"][t] = sum(close[t - 199 : t + 1]) / 200
        if t >= 19:
            out["hhv"][t] = max(high[t - 19 : t + 1])
            out["llv"][t] = min(low[t - 19 : t + 1])
            out["avgvol"][t] = sum(volume[t - 19 : t + 1]) / 20
    gain = loss = 0.0
    for t in range(1, n):
        d = close[t] - close[t - 1]
        g, lo = max(d, 0.0), max(-d, 0.0)
        if t < 14:
            gain, loss = gain + g, loss + lo
            continue
        if t == 14:
            gain, loss = (gain + g) / 14, (loss + lo) / 14
        else:
            gain, loss = (13 * gain + g) / 14, (13 * loss + lo) / 14
        out["rsi"][t] = 100.0 if loss == 0 else 100 - 100 / (1 + gain / loss)
    acc = 0.0
    for t in range(1, n):
        tr = max(high[t], close[t - 1]) - min(low[t], close[t - 1])
        if t < 14:
            acc += tr
        elif t == 14:
            acc = (acc + tr) / 14
            out["atr"][t] = acc
        else:
            acc = (13 * acc + tr) / 14
            out["atr"][t] = acc
    return out


@st.composite
def _padded_bars(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Rows with different amounts of leading NaN; prices a walk with some flat days."""
    n_days = draw(st.sampled_from([1, 2, 15, 16, 21, 60, 230]))
    n_rows = draw(st.integers(1, 4))
    pads = draw(st.lists(st.integers(0, n_days), min_size=n_rows, max_size=n_rows))
    step = st.one_of(st.just(0.0), st.floats(-0.08, 0.08))
    arrays = []
    for pad in pads:
        steps = draw(st.lists(step, min_size=n_days, max_size=n_days))
        spread = draw(st.lists(st.floats(0.0, 0.05), min_size=n_days, max_size=n_days))
        vol = draw(st.lists(st.floats(0.0, 1e7), min_size=n_days, max_size=n_days))
        close = 40.0 * np.exp(np.cumsum(steps))
        high = close * (1 + np.asarray(spread))
        low = close * (1 - np.asarray(spread) / 2)
        row = np.vstack([high, low, close, np.asarray(vol)])
        row[:, :pad] = np.nan
        arrays.append(row)
    stacked = np.stack(arrays)  # rows x 4 x days
    return tuple(stacked[:, k, :] for k in range(4))


def _bars_from_padded(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> Bars:
    """The Bars constructor itself (no frame): rows already right-aligned, NaN padding."""
    n_rows, n_days = close.shape
    days = np.datetime64("2024-01-01") + np.arange(n_days)
    dates = np.where(np.isnan(close), np.datetime64("NaT"), days[None, :]).astype("datetime64[D]")
    return Bars(
        symbols=[f"S{i}" for i in range(n_rows)],
        dates=dates,
        open=close.copy(),
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


@settings(max_examples=40, deadline=None)
@given(data=_padded_bars())
def test_equals_plain_loop_per_symbol(data: tuple[np.ndarray, ...]) -> None:
    """Both entry points: the per-indicator functions on raw arrays, and compute_indicators
    on Bars."""
    high, low, close, volume = data
    _check_against_plain_loop(high, low, close, volume)


def _check_against_plain_loop(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> None:
    got = {
        "sma50": sma(close, 50),
        "sma200": sma(close, 200),
        "rsi": rsi(close),
        "atr": atr(high, low, close),
        "hhv": hhv(high),
        "llv": llv(low),
        "avgvol": sma(volume, 20),
    }
    ind = compute_indicators(_bars_from_padded(high, low, close, volume))
    from_bars = {
        "sma50": ind.sma50,
        "sma200": ind.sma200,
        "rsi": ind.rsi14,
        "atr": ind.atr14,
        "hhv": ind.hhv20,
        "llv": ind.llv20,
        "avgvol": ind.avgvol20,
    }
    for name, values in from_bars.items():
        np.testing.assert_array_equal(values, got[name], err_msg=name)
    for i in range(close.shape[0]):
        valid = ~np.isnan(close[i])
        ref = _reference(
            list(high[i, valid]), list(low[i, valid]), list(close[i, valid]), list(volume[i, valid])
        )
        for name, values in got.items():
            assert np.isnan(values[i, ~valid]).all(), name  # padding stays undefined
            expected = np.asarray(ref[name])
            np.testing.assert_array_equal(np.isnan(values[i, valid]), np.isnan(expected), name)
            scale = 1e7 if name == "avgvol" else 100.0
            np.testing.assert_allclose(
                values[i, valid], expected, rtol=1e-9, atol=1e-9 * scale, equal_nan=True,
                err_msg=name,
            )  # fmt: skip


# --- edge cases ---------------------------------------------------------------------------


def test_flat_prices_give_rsi_100_per_spec() -> None:
    """SPEC 2: RSI = 100 when avgLoss = 0, flat stretch included (TA-Lib says 0 there)."""
    close = _row([50.0] * 20)
    ours = rsi(close)[0]
    assert np.isnan(ours[:14]).all()
    assert (ours[14:] == 100.0).all()
    assert talib.RSI(close[0], timeperiod=14)[14] == 0.0


def test_rising_prices_give_rsi_100_and_falling_0() -> None:
    up = rsi(_row(np.arange(1.0, 31.0)))[0]
    down = rsi(_row(np.arange(31.0, 1.0, -1.0)))[0]
    assert (up[14:] == 100.0).all()
    assert (down[14:] == 0.0).all()


def test_hole_makes_values_nan_from_there_on() -> None:
    rng = np.random.default_rng(5)
    high, low, close, _ = _walk(rng, 2, 80)
    holed = close.copy()
    holed[0, 60] = np.nan
    ours = rsi(holed)
    np.testing.assert_allclose(ours[0, :60], rsi(close)[0, :60], rtol=1e-12, equal_nan=True)
    assert np.isnan(ours[0, 60:]).all()
    np.testing.assert_array_equal(ours[1], rsi(close)[1])  # the other row is untouched
    h2 = high.copy()
    h2[1, 70] = np.inf  # an IB-style bad number is a hole too
    assert np.isnan(atr(h2, low, close)[1, 70:]).all()
    assert not np.isnan(atr(h2, low, close)[1, 14:70]).any()
    assert np.isnan(sma(holed, 20)[0, 60:]).all()


def test_partial_padding_across_inputs_is_padding() -> None:
    """A close without its high/low is not a bar: ATR starts where all three exist."""
    rng = np.random.default_rng(9)
    high, low, close, _ = _walk(rng, 1, 60)
    high[0, :5] = np.nan
    low[0, :5] = np.nan
    got = atr(high, low, close)[0]
    expected = talib.ATR(high[0, 5:], low[0, 5:], close[0, 5:], timeperiod=14)
    assert np.isnan(got[:19]).all()
    np.testing.assert_allclose(got[5:], expected, rtol=1e-12, equal_nan=True)


def test_degenerate_shapes() -> None:
    assert sma(np.empty((0, 10)), 5).shape == (0, 10)
    assert np.isnan(rsi(_row([1.0]))).all()
    assert np.isnan(atr(_row([2.0]), _row([1.0]), _row([1.5]))).all()
    assert np.isnan(sma(_row([1.0, 2.0]), 5)).all()
    with pytest.raises(ValueError):
        sma(_row([1.0]), 0)
    with pytest.raises(ValueError):
        rsi(np.array([1.0, 2.0]))  # 1-D: a symbol is a row


def test_compute_indicators_on_bars_uses_last_column_as_today() -> None:
    rng = np.random.default_rng(13)
    high, low, close, volume = _walk(rng, 2, 220)
    days = [date(2024, 1, 1) + timedelta(days=k) for k in range(220)]
    rows = []
    for i, sym in enumerate(("AAA", "BBB")):
        start = 0 if i == 0 else 100  # BBB has only 120 bars
        for k in range(start, 220):
            rows.append(
                (days[k], sym, close[i, k], high[i, k], low[i, k], close[i, k], volume[i, k])
            )
    bars = Bars.from_frame(
        pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    )
    ind = compute_indicators(bars)
    assert ind.rsi14.shape == (2, 220)
    assert ind.rsi14[0, -1] == pytest.approx(talib.RSI(close[0], timeperiod=14)[-1], rel=1e-12)
    assert ind.rsi14[1, -1] == pytest.approx(talib.RSI(close[1, 100:], 14)[-1], rel=1e-12)
    assert ind.sma200[0, -1] == pytest.approx(close[0, 20:].mean(), rel=1e-12)
    assert math.isnan(ind.sma200[1, -1])  # 120 bars: no SMA200
    assert ind.avgvol20[1, -1] == pytest.approx(volume[1, -20:].mean(), rel=1e-12)
    assert ind.hhv20[1, -1] == high[1, -20:].max()
    assert ind.llv20[1, -1] == low[1, -20:].min()
    np.testing.assert_array_equal(
        ind.close[~np.isnan(ind.close)], bars.close[~np.isnan(bars.close)]
    )


# --- the compiled kernel ----------------------------------------------------------------


def test_sma_hhv_llv_equal_talib_bit_for_bit() -> None:
    """The running window sum is TA-Lib's, operation for operation; max/min round nothing.
    Rows with different padding, so each row's own start is honoured."""
    rng = np.random.default_rng(21)
    high, low, close, volume = _walk(rng, 4, 450)
    for k, pad in enumerate((0, 1, 37, 230)):
        for arr in (high, low, close, volume):
            arr[k, :pad] = np.nan
    got = {
        "sma50": sma(close, 50),
        "sma200": sma(close, 200),
        "avgvol": sma(volume, 20),
        "hhv": hhv(high),
        "llv": llv(low),
    }
    for i in range(4):
        valid = ~np.isnan(close[i])
        h, lo, c, v = high[i, valid], low[i, valid], close[i, valid], volume[i, valid]
        expected = {
            "sma50": talib.SMA(c, 50),
            "sma200": talib.SMA(c, 200),
            "avgvol": talib.SMA(v, 20),
            "hhv": talib.MAX(h, 20),
            "llv": talib.MIN(lo, 20),
        }
        for name, values in got.items():
            assert np.isnan(values[i, ~valid]).all(), name
            np.testing.assert_array_equal(values[i, valid], expected[name], err_msg=name)


def test_wilder_follows_spec_formula_to_the_last_bit() -> None:
    """SPEC 2's (13 * avg + x) / 14 evaluated as written, seed = in-order sum / 14."""
    rng = np.random.default_rng(23)
    high, low, close, _ = _walk(rng, 1, 120)
    c, h, lo = close[0], high[0], low[0]
    tr = [max(h[t], c[t - 1]) - min(lo[t], c[t - 1]) for t in range(1, 120)]
    avg = 0.0
    for x in tr[:14]:
        avg += x
    avg /= 14
    expected = [avg]
    for x in tr[14:]:
        avg = (13 * avg + x) / 14
        expected.append(avg)
    np.testing.assert_array_equal(atr(high, low, close)[0, 14:], expected)


def test_running_sums_do_not_drift_over_a_long_history() -> None:
    """20,000 bars of a stock that went from $5 to thousands: the last windows' means
    against exactly rounded sums (math.fsum)."""
    rng = np.random.default_rng(29)
    close = 5.0 * np.exp(np.cumsum(rng.normal(0.0004, 0.02, 20_000)))[None, :]
    assert close[0, -1] > 1_000
    for n in (20, 50, 200):
        got = sma(close, n)[0]
        for t in range(19_700, 20_000):
            exact = math.fsum(close[0, t - n + 1 : t + 1]) / n
            assert got[t] == pytest.approx(exact, rel=1e-14, abs=0), (n, t)


def test_layouts_and_dtypes_share_one_compiled_signature() -> None:
    """Every entry point converts its inputs to the kernel's one array type, so numba
    compiles (and caches) a single signature, whatever layout or dtype comes in."""
    rng = np.random.default_rng(31)
    high, low, close, volume = _walk(rng, 5, 260)
    close[2, :40] = np.nan
    high[2, :40] = np.nan
    low[2, :40] = np.nan
    volume[2, :40] = np.nan
    c_order = _bars_from_padded(high, low, close, volume)
    f_order = _bars_from_padded(*(np.asfortranarray(a) for a in (high, low, close, volume)))
    frozen = [a.copy() for a in (high, low, close, volume)]
    for a in frozen:
        a.flags.writeable = False
    read_only = _bars_from_padded(*frozen)
    results = [compute_indicators(b) for b in (c_order, f_order, read_only)]
    for name in ("sma50", "sma200", "rsi14", "atr14", "hhv20", "llv20", "avgvol20"):
        for other in results[1:]:
            np.testing.assert_array_equal(getattr(other, name), getattr(results[0], name), name)
    np.testing.assert_array_equal(rsi(close[:, ::2]), rsi(close[:, ::2].copy()))  # strided
    single = close.astype(np.float32)
    np.testing.assert_array_equal(sma(single, 5), sma(single.astype(np.float64), 5))
    np.testing.assert_array_equal(hhv(np.arange(30).reshape(1, 30), 3)[0, 2:], np.arange(2, 30))
    assert len(indicators_module._kernel.signatures) == 1


def test_jit_compiles_without_a_writable_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """numba refuses cache=True when no cache locator applies (read-only install, no user
    cache dir); the decorator then compiles per process instead of failing the import."""
    from numba.core import caching

    monkeypatch.setattr(caching.CacheImpl, "_locator_classes", [])

    def plus_one(x: float) -> float:
        return x + 1.0

    with pytest.raises(RuntimeError, match="no locator available"):
        indicators_module.numba.njit(cache=True)(plus_one)
    compiled = indicators_module.jit(plus_one)
    assert compiled(2.5) == 3.5


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 64, 150])
def test_rolling_extremes_for_any_window(n: int) -> None:
    """The block decomposition against a plain window scan, with padding, a hole (a NaN
    high from bar 120 on row 2) and windows longer than a row's history."""
    rng = np.random.default_rng(n)
    high, low, _, _ = _walk(rng, 4, 140)
    for k, pad in enumerate((0, 5, 19, 139)):
        high[k, :pad] = np.nan
        low[k, :pad] = np.nan
    high[2, 120] = np.nan
    got_high, got_low = hhv(high, n), llv(low, n)
    for i in range(4):
        start = int(np.argmax(~np.isnan(high[i])))
        for t in range(140):
            if t < start + n - 1:
                assert math.isnan(got_high[i, t]) and math.isnan(got_low[i, t])
                continue
            assert got_low[i, t] == min(low[i, t - n + 1 : t + 1])
            if i == 2 and t >= 120:
                assert math.isnan(got_high[i, t])
            else:
                assert got_high[i, t] == max(high[i, t - n + 1 : t + 1])
