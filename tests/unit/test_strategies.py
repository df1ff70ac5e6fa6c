"""SPEC 3 universe filter and SPEC 4 strategies (core/strategies.py) on hand-built arrays.

Each rule is checked on both sides of its threshold: ``>=`` / ``<=`` fire at equality,
``<`` / ``>`` do not. Indicator arrays are built directly, so a test states exactly the
numbers the rule sees.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tui_trader.core.indicators import Indicators
from tui_trader.core.settings import StrategySettings, UniverseSettings
from tui_trader.core.strategies import (
    MIN_TREND_BARS,
    clean_market_caps,
    direction_codes,
    direction_of,
    enough_history,
    strategy_masks,
    universe_masks,
)

NAN = float("nan")
DEFAULT = StrategySettings()
FIELDS = ("close", "sma50", "sma200", "rsi14", "atr14", "hhv20", "llv20", "avgvol20")


def _ind(n_days: int = 2, **tails: list[float]) -> Indicators:
    """One symbol; each field's last values as given, NaN before (close: 100 throughout,
    so the symbol has ``n_days`` bars of history)."""
    arrays = {}
    for name in FIELDS:
        row = np.full(n_days, 100.0 if name == "close" else NAN)
        tail = tails.get(name)
        if tail is not None:
            row[n_days - len(tail) :] = tail
        arrays[name] = row[None, :]
    return Indicators(**arrays)


def _fires(ind: Indicators, name: str, settings: StrategySettings = DEFAULT) -> bool:
    return bool(strategy_masks(ind, settings).by_name()[name][0, -1])


# --- HIGH_BASE: (HHV20 - close) / ATR14 <= 2.0 and RSI14 >= 60 ----------------------------


@pytest.mark.parametrize(
    ("hhv", "atr", "rsi", "fires"),
    [
        (110.0, 5.0, 60.0, True),  # ratio exactly 2.0, RSI exactly 60
        (110.0, 5.0, 75.0, True),
        (100.0, 5.0, 60.0, True),  # at the high: ratio 0
        (110.0, 4.999, 60.0, False),  # ratio 2.0004
        (110.0, 5.0, 59.999, False),
        (110.0, 0.0, 60.0, False),  # ATR 0: ratio inf
        (100.0, 0.0, 60.0, False),  # ATR 0 at the high: 0/0
        (NAN, 5.0, 60.0, False),
        (110.0, NAN, 60.0, False),
        (110.0, 5.0, NAN, False),
    ],
)
def test_high_base_boundaries(hhv: float, atr: float, rsi: float, fires: bool) -> None:
    ind = _ind(close=[100.0], hhv20=[hhv], atr14=[atr], rsi14=[rsi])
    assert _fires(ind, "HIGH_BASE") is fires


# --- LOW_BASE: (close - LLV20) / ATR14 <= 0.5 and RSI14 <= 40 ------------------------------


@pytest.mark.parametrize(
    ("llv", "atr", "rsi", "fires"),
    [
        (97.5, 5.0, 40.0, True),  # ratio exactly 0.5, RSI exactly 40
        (100.0, 5.0, 20.0, True),
        (97.5, 4.999, 40.0, False),
        (97.5, 5.0, 40.001, False),
        (97.5, 0.0, 40.0, False),
        (NAN, 5.0, 40.0, False),
        (97.5, NAN, 40.0, False),
        (97.5, 5.0, NAN, False),
    ],
)
def test_low_base_boundaries(llv: float, atr: float, rsi: float, fires: bool) -> None:
    ind = _ind(close=[100.0], llv20=[llv], atr14=[atr], rsi14=[rsi])
    assert _fires(ind, "LOW_BASE") is fires


def test_base_thresholds_come_from_settings() -> None:
    ind = _ind(close=[100.0], hhv20=[115.0], atr14=[5.0], rsi14=[55.0])  # ratio 3, RSI 55
    assert not _fires(ind, "HIGH_BASE")
    loose = StrategySettings(high_base_max_atr_ratio=3.0, high_base_min_rsi=55.0)
    assert _fires(ind, "HIGH_BASE", loose)


# --- BULL_PULLBACK / BEAR_RALLY: trend + RSI crossing, 201 bars of history ----------------

TREND_DAYS = MIN_TREND_BARS


@pytest.mark.parametrize(
    ("sma50", "sma200", "rsi_prev", "rsi_now", "fires"),
    [
        (101.0, 100.0, 44.99, 45.0, True),  # crosses up to exactly 45
        (101.0, 100.0, 30.0, 60.0, True),
        (101.0, 100.0, 45.0, 50.0, False),  # yesterday not below 45
        (101.0, 100.0, 40.0, 44.99, False),  # today still below 45
        (100.0, 100.0, 40.0, 50.0, False),  # SMA50 = SMA200 is no uptrend
        (99.0, 100.0, 40.0, 50.0, False),
        (101.0, 100.0, NAN, 50.0, False),
        (101.0, NAN, 40.0, 50.0, False),
    ],
)
def test_bull_pullback_boundaries(
    sma50: float, sma200: float, rsi_prev: float, rsi_now: float, fires: bool
) -> None:
    ind = _ind(TREND_DAYS, sma50=[sma50], sma200=[sma200], rsi14=[rsi_prev, rsi_now])
    assert _fires(ind, "BULL_PULLBACK") is fires


@pytest.mark.parametrize(
    ("sma50", "sma200", "rsi_prev", "rsi_now", "fires"),
    [
        (99.0, 100.0, 55.01, 55.0, True),  # crosses down to exactly 55
        (99.0, 100.0, 70.0, 40.0, True),
        (99.0, 100.0, 55.0, 50.0, False),  # yesterday not above 55
        (99.0, 100.0, 60.0, 55.01, False),  # today still above 55
        (100.0, 100.0, 60.0, 50.0, False),
        (101.0, 100.0, 60.0, 50.0, False),
        (99.0, 100.0, 60.0, NAN, False),
    ],
)
def test_bear_rally_boundaries(
    sma50: float, sma200: float, rsi_prev: float, rsi_now: float, fires: bool
) -> None:
    ind = _ind(TREND_DAYS, sma50=[sma50], sma200=[sma200], rsi14=[rsi_prev, rsi_now])
    assert _fires(ind, "BEAR_RALLY") is fires


@pytest.mark.parametrize(("n_bars", "enough"), [(200, False), (201, True)])
def test_trend_strategies_need_201_bars(n_bars: int, enough: bool) -> None:
    """SMA200 exists at bar 200, yet SPEC 1 asks for 201 bars: 200 is insufficient."""
    bull = _ind(n_bars, sma50=[101.0], sma200=[100.0], rsi14=[40.0, 50.0])
    bear = _ind(n_bars, sma50=[99.0], sma200=[100.0], rsi14=[60.0, 50.0])
    assert _fires(bull, "BULL_PULLBACK") is enough
    assert _fires(bear, "BEAR_RALLY") is enough
    assert bool(strategy_masks(bull, DEFAULT).insufficient_history[0, -1]) is not enough


def test_history_counts_from_each_rows_first_bar() -> None:
    close = np.full((3, 205), 100.0)
    close[1, :5] = NAN  # 200 bars
    close[2, :] = NAN  # none
    got = enough_history(close)
    assert got[0, 199] == False and got[0, 200] == True  # noqa: E712 (numpy bools)
    assert not got[1].any()
    assert not got[2].any()


def test_rsi_cross_looks_at_previous_bar_not_previous_symbol() -> None:
    """Two symbols: the lag is along days; row 1's first bar never sees row 0's RSI."""
    rsi = np.array([[40.0, 50.0], [40.0, 50.0]])
    ind = _ind(2)
    arrays = {name: np.vstack([getattr(ind, name)] * 2) for name in FIELDS}
    arrays.update(rsi14=rsi, sma50=np.full((2, 2), 101.0), sma200=np.full((2, 2), 100.0))
    masks = strategy_masks(Indicators(**arrays), DEFAULT)
    assert not masks.bull_pullback[:, 0].any()  # no previous bar: no cross


# --- direction and CONFLICT -----------------------------------------------------------------


def test_directions_and_conflict() -> None:
    """With SPEC defaults no LONG and SHORT rule can hold together (their RSI ranges are
    disjoint); a trader who loosens them can get CONFLICT, which must be flagged."""
    both = _ind(close=[100.0], hhv20=[105.0], llv20=[99.0], atr14=[5.0], rsi14=[50.0])
    default = strategy_masks(both, DEFAULT)
    assert direction_of(int(direction_codes(default, col=-1)[0])) is None
    loose = StrategySettings(high_base_min_rsi=50.0, low_base_max_rsi=50.0)
    masks = strategy_masks(both, loose)
    assert masks.high_base[0, -1] and masks.low_base[0, -1]
    assert direction_of(int(direction_codes(masks, col=-1)[0])) == "CONFLICT"

    long_only = strategy_masks(
        _ind(close=[100.0], hhv20=[101.0], atr14=[5.0], rsi14=[70.0]), DEFAULT
    )
    short_only = strategy_masks(
        _ind(close=[100.0], llv20=[100.0], atr14=[5.0], rsi14=[30.0]), DEFAULT
    )
    assert direction_of(int(direction_codes(long_only)[0, -1])) == "LONG"
    assert direction_of(int(direction_codes(short_only)[0, -1])) == "SHORT"


# --- NaN never fires (property) -------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        (8, 3, 205),
        elements=st.one_of(st.just(NAN), st.floats(0.0, 120.0)),
    )
)
def test_nan_inputs_never_fire(values: np.ndarray) -> None:
    arrays = {name: values[k % 3] for k, name in enumerate(FIELDS)}
    arrays["close"] = np.full((3, 205), 100.0)
    arrays["rsi14"] = values[5]
    ind = Indicators(**arrays)
    masks = strategy_masks(ind, DEFAULT)
    nan = {name: np.isnan(getattr(ind, name)) for name in FIELDS}
    prev_nan = np.ones_like(nan["rsi14"])
    prev_nan[:, 1:] = nan["rsi14"][:, :-1]
    assert not (masks.high_base & (nan["hhv20"] | nan["atr14"] | nan["rsi14"])).any()
    assert not (masks.low_base & (nan["llv20"] | nan["atr14"] | nan["rsi14"])).any()
    for mask in (masks.bull_pullback, masks.bear_rally):
        assert not (mask & (nan["sma50"] | nan["sma200"] | nan["rsi14"] | prev_nan)).any()


# --- universe filter (SPEC 3) ---------------------------------------------------------------


def _universe_row(close: float, avgvol: float, cap: float | None) -> list[str]:
    ind = _ind(close=[close], avgvol20=[avgvol])
    caps = clean_market_caps(["X"], None if cap is None else {"X": cap})
    masks = universe_masks(ind, UniverseSettings(), caps)
    reasons = masks.reasons_at(0)
    assert bool(masks.eligible[0, -1]) is not any(r != "market_cap_unknown" for r in reasons)
    return reasons


def test_universe_boundaries_and_reasons() -> None:
    assert _universe_row(20.0, 1_000_000.0, 10e9) == []
    assert _universe_row(19.99, 1_000_000.0, 10e9) == ["price_below_min"]
    assert _universe_row(20.0, 999_999.0, 10e9) == ["avgvol_below_min"]
    assert _universe_row(20.0, NAN, 10e9) == ["avgvol_unknown"]
    assert _universe_row(20.0, 1e6, 9.99e9) == ["market_cap_below_min"]
    assert _universe_row(20.0, 1e6, None) == ["market_cap_unknown"]  # eligible, flagged
    assert _universe_row(5.0, 10.0, 1e9) == [
        "price_below_min",
        "avgvol_below_min",
        "market_cap_below_min",
    ]


@pytest.mark.parametrize("garbage", [NAN, float("inf"), -1.0, -2.0, 0.0, 1.7976931348623157e308])
def test_garbage_market_cap_is_unknown(garbage: float) -> None:
    assert _universe_row(50.0, 2e6, garbage) == ["market_cap_unknown"]


def test_universe_thresholds_come_from_settings() -> None:
    ind = _ind(close=[15.0], avgvol20=[500_000.0])
    caps = clean_market_caps(["X"], {"X": 2e9})
    strict = universe_masks(ind, UniverseSettings(), caps)
    loose = universe_masks(
        ind, UniverseSettings(min_price=10, min_volume=100_000, min_market_cap=1e9), caps
    )
    assert not strict.eligible[0, -1]
    assert loose.eligible[0, -1]


# --- the compiled kernels against the rules written in numpy --------------------------------


def _numpy_strategies(ind: Indicators, s: StrategySettings) -> dict[str, np.ndarray]:
    """SPEC 3/4 as plain numpy expressions (NaN compares False)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        enough = enough_history(ind.close)
        prev = np.full_like(ind.rsi14, np.nan)
        prev[:, 1:] = ind.rsi14[:, :-1]
        return {
            "HIGH_BASE": (ind.atr14 > 0)  # SPEC 12: no base on ATR14 = 0
            & ((ind.hhv20 - ind.close) / ind.atr14 <= s.high_base_max_atr_ratio)
            & (ind.rsi14 >= s.high_base_min_rsi),
            "LOW_BASE": (ind.atr14 > 0)
            & ((ind.close - ind.llv20) / ind.atr14 <= s.low_base_min_atr_ratio)
            & (ind.rsi14 <= s.low_base_max_rsi),
            "BULL_PULLBACK": (prev < s.bull_pullback_rsi_threshold)
            & (s.bull_pullback_rsi_threshold <= ind.rsi14)
            & (ind.sma50 > ind.sma200)
            & enough,
            "BEAR_RALLY": (prev > s.bear_rally_rsi_threshold)
            & (s.bear_rally_rsi_threshold >= ind.rsi14)
            & (ind.sma50 < ind.sma200)
            & enough,
            "insufficient_history": ~enough,
        }


_SHAPE = (3, 230)
#: Per field: NaN, values on each threshold exactly and on both sides of it, ATR 0 and inf.
_CELLS = {
    "close": [NAN, np.inf, 19.99, 20.0, 97.5, 100.0, 110.0],
    "sma50": [NAN, 99.0, 100.0, 101.0],
    "sma200": [NAN, 100.0],
    "rsi14": [NAN, 30.0, 40.0, 44.99, 45.0, 50.0, 55.0, 55.01, 60.0, 70.0],
    "atr14": [NAN, 0.0, 2.5, 5.0, np.inf],
    "hhv20": [NAN, 100.0, 110.0, 115.0],
    "llv20": [NAN, 97.5, 100.0, 90.0],
    "avgvol20": [NAN, 999_999.0, 1e6, 2e6],
}


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    pads=st.lists(st.sampled_from([0, 1, 15, 29, 30, 31, 230]), min_size=3, max_size=3),
    loose=st.booleans(),
)
def test_masks_equal_the_rules_written_in_numpy(seed: int, pads: list[int], loose: bool) -> None:
    """Indicator values on and around every threshold (NaN, ATR 0 and inf included), drawn
    cell by cell; rows padded so that 201 bars are reached just before, at or after the
    last bars; loosened settings that let LONG and SHORT rules overlap."""
    rng = np.random.default_rng(seed)
    data = {name: rng.choice(cells, size=_SHAPE) for name, cells in _CELLS.items()}
    arrays = {name: values.copy() for name, values in data.items()}
    for i, pad in enumerate(pads):
        arrays["close"][i, :pad] = NAN
    ind = Indicators(**arrays)
    strategy = StrategySettings(high_base_min_rsi=40.0, low_base_max_rsi=60.0) if loose else DEFAULT
    masks = strategy_masks(ind, strategy)
    expected = _numpy_strategies(ind, strategy)
    got = {**masks.by_name(), "insufficient_history": masks.insufficient_history}
    for name, mask in got.items():
        np.testing.assert_array_equal(mask, expected[name], name)

    caps = np.array([NAN, 5e9, 2e10])
    u = UniverseSettings()
    umasks = universe_masks(ind, u, caps)
    with np.errstate(invalid="ignore"):
        cap_ok = np.isnan(caps) | (caps >= u.min_market_cap)
        np.testing.assert_array_equal(umasks.price_below_min, ind.close < u.min_price)
        np.testing.assert_array_equal(umasks.avgvol_below_min, ind.avgvol20 < u.min_volume)
        np.testing.assert_array_equal(umasks.avgvol_unknown, np.isnan(ind.avgvol20))
        np.testing.assert_array_equal(
            umasks.eligible,
            (ind.close >= u.min_price) & (ind.avgvol20 >= u.min_volume) & cap_ok[:, None],
        )


def test_masks_are_symbols_by_days_and_shapes_are_checked() -> None:
    ind = _ind(5, close=[100.0], hhv20=[101.0], atr14=[5.0], rsi14=[70.0])
    masks = strategy_masks(ind, DEFAULT)
    assert masks.high_base.shape == (1, 5) and masks.high_base[0, -1]
    assert not masks.high_base[0, :-1].any()
    bad = Indicators(**{**{n: getattr(ind, n) for n in FIELDS}, "rsi14": np.zeros((1, 4))})
    with pytest.raises(ValueError, match="equally shaped"):
        strategy_masks(bad, DEFAULT)
    with pytest.raises(ValueError, match="same symbols"):
        universe_masks(ind, UniverseSettings(), np.array([NAN, NAN]))
