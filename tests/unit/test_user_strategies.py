"""Traders' own strategies in core (issue 15): the contract, parameters, faults kept as
values, the scan's merge (names, CONFLICT across all strategies) and the look-ahead check."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tui_trader.core.bars import Bars
from tui_trader.core.scanner import scan
from tui_trader.core.settings import Settings, StrategySettings, UniverseSettings
from tui_trader.core.user_strategies import (
    BoundStrategy,
    StrategyParamsError,
    UserStrategy,
    evaluate,
    look_ahead,
    sample_ends,
    signal_arrays,
    symbol_frame,
)

START = date(2024, 1, 1)


def _bars(closes: dict[str, np.ndarray]) -> Bars:
    rows = []
    for sym, close in closes.items():
        for k, c in enumerate(close):
            rows.append((START + timedelta(days=k), sym, c, c * 1.01, c * 0.99, c, 2e6))
    df = pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    return Bars.from_frame(df)


class Cross(BaseModel):
    fast: int = 3
    slow: int = 8


def sma_cross(df: pd.DataFrame, params: Cross) -> pd.Series:
    """LONG while the fast SMA is above the slow one, SHORT below (no look-ahead)."""
    fast = df["close"].rolling(params.fast).mean()
    slow = df["close"].rolling(params.slow).mean()
    out = pd.Series(None, index=df.index, dtype=object)
    out[fast > slow] = "LONG"
    out[fast < slow] = "SHORT"
    return out


def peeks(df: pd.DataFrame, params: dict[str, int]) -> pd.Series:
    """LONG when tomorrow's close is higher: looks one bar ahead."""
    up = df["close"].shift(-1) > df["close"]
    return up.map({True: "LONG", False: None})


def always(label: str | None):  # type: ignore[no-untyped-def]
    def fn(df: pd.DataFrame, params: object) -> pd.Series:
        return pd.Series(label, index=df.index, dtype=object)

    return fn


def test_params_validated_strictly_by_the_declared_model() -> None:
    s = UserStrategy("CROSS", sma_cross, Cross)
    assert s.bind({"fast": 5}).params == Cross(fast=5, slow=8)
    with pytest.raises(StrategyParamsError, match=r"\[strategies.CROSS\] params.fast: .*'5'"):
        s.bind({"fast": "5"})
    assert UserStrategy("P", peeks).bind({"k": 1}).params == {"k": 1}


def test_signal_arrays_contract() -> None:
    frame = symbol_frame(_bars({"A": np.arange(1.0, 6.0)}), 0)
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.index.name == "date" and len(frame) == 5
    out = pd.Series(["LONG", None, "SHORT", np.nan, pd.NA], index=frame.index, dtype=object)
    lo, sh = signal_arrays(out, frame)
    assert lo.tolist() == [True, False, False, False, False]
    assert sh.tolist() == [False, False, True, False, False]
    with pytest.raises(ValueError, match="returned list, not a pandas Series"):
        signal_arrays(["LONG"] * 5, frame)
    with pytest.raises(ValueError, match="returned 4 values for 5 bars"):
        signal_arrays(out.iloc[:4], frame)
    with pytest.raises(ValueError, match=r"returned 'BUY' on 2024-01-02"):
        signal_arrays(out.where(out.index != frame.index[1], "BUY"), frame)


def test_evaluate_fills_masks_and_contains_faults() -> None:
    close = np.array([10.0, 11, 12, 13, 14, 15, 16, 17, 18, 19, 18, 17, 16, 15, 14, 13])
    bars = _bars({"A": close, "B": close[::-1].copy()})
    cross = UserStrategy("CROSS", sma_cross, Cross).bind({"fast": 2, "slow": 4})

    def boom(df: pd.DataFrame, params: object) -> pd.Series:
        raise ZeroDivisionError("oops")

    bad = [
        BoundStrategy("BOOM", boom, {}),
        BoundStrategy("SHORTLEN", lambda df, p: pd.Series(["LONG"], dtype=object), {}),
        BoundStrategy("NUMPY", lambda df, p: np.zeros(len(df)), {}),
    ]
    out = evaluate([cross, *bad], bars, [0, 1])
    assert set(out.long) == {"CROSS"}
    # A: rises 9 bars then falls. SMA2 > SMA4 from bar 3 to bar 10, below from bar 11.
    assert np.flatnonzero(out.long["CROSS"][0]).tolist() == [3, 4, 5, 6, 7, 8, 9, 10]
    assert np.flatnonzero(out.short["CROSS"][0]).tolist() == [11, 12, 13, 14, 15]
    assert out.short["CROSS"][1, -1] and not out.long["CROSS"][1, -1]  # B ends falling
    reasons = {f.name: f.reason for f in out.faults}
    assert reasons["BOOM"] == "BOOM raised ZeroDivisionError: oops (on A)"
    assert "ZeroDivisionError" in next(f.detail for f in out.faults if f.name == "BOOM")
    assert (
        reasons["SHORTLEN"]
        == "SHORTLEN returned 1 values for 16 bars (one per bar is needed) for A"
    )
    assert reasons["NUMPY"] == "NUMPY returned ndarray, not a pandas Series for A"


def test_timeout_is_total_time_per_scan_on_the_injected_clock() -> None:
    bars = _bars({s: np.linspace(10, 20, 12) for s in "ABCD"})
    ticks = iter(float(t) for t in range(100))  # every clock read advances 1 s
    slow = BoundStrategy("SLOW", always("LONG"), {})
    out = evaluate([slow], bars, range(4), timeout_s=1.5, clock=lambda: next(ticks))
    # 1 s on A, 2 s after B: disabled on the second symbol.
    assert out.faults[0].reason == "SLOW took 2.0 s, more than [strategies] timeout_s = 1.5 s"
    assert "SLOW" not in out.long


def _scan_bars() -> Bars:
    n = 260
    return _bars({"UP": 50.0 + 0.5 * np.arange(n), "DOWN": 200.0 - 0.5 * np.arange(n)})


def test_scan_lists_user_signals_and_conflict_across_all() -> None:
    bars = _scan_bars()
    base = scan(bars, UniverseSettings(), StrategySettings())
    before = {r.symbol: r for r in base.results}
    user = [
        BoundStrategy("ALWAYS_SHORT", always("SHORT"), {}),
        BoundStrategy("X", always(None), {}),
    ]
    report = scan(bars, UniverseSettings(), StrategySettings(), user=user)
    after = {r.symbol: r for r in report.results}
    for sym in ("UP", "DOWN"):
        assert after[sym].signals == (*before[sym].signals, "ALWAYS_SHORT")
        assert after[sym].rsi14 == before[sym].rsi14  # the compiled pass is untouched
    assert before["UP"].direction == "LONG" and after["UP"].direction == "CONFLICT"
    assert after["DOWN"].direction == "SHORT"
    assert report.faults == ()


def test_scan_skips_ineligible_symbols_and_reports_faults() -> None:
    bars = _scan_bars()
    seen: list[int] = []

    def count(df: pd.DataFrame, params: object) -> pd.Series:
        seen.append(len(df))
        raise RuntimeError("bad")

    report = scan(
        bars, UniverseSettings(min_price=1000.0), StrategySettings(),
        user=[BoundStrategy("BAD", count, {})],
    )  # fmt: skip
    assert seen == [] and report.faults == ()  # nothing eligible: never called
    report = scan(
        bars, UniverseSettings(), StrategySettings(), user=[BoundStrategy("BAD", count, {})]
    )
    assert seen == [260] and report.faults[0].reason == "BAD raised RuntimeError: bad (on DOWN)"
    assert report.to_dict()["strategy_faults"] == [
        {"name": "BAD", "reason": "BAD raised RuntimeError: bad (on DOWN)"}
    ]
    assert all("BAD" not in r.signals for r in report.results)


def test_look_ahead_names_the_first_differing_day() -> None:
    close = np.array([10.0, 11, 10, 12, 13, 12, 11, 14])
    frame = symbol_frame(_bars({"A": close}), 0)
    found = look_ahead(BoundStrategy("PEEK", peeks, {}), frame, "A")
    assert found is not None
    # Full history: bar 0 is LONG (11 > 10); the prefix ending on bar 0 cannot know it.
    assert (found.day, found.full, found.prefix) == ("2024-01-01", "LONG", None)
    assert found.sentence("PEEK") == (
        "PEEK looks ahead: on 2024-01-01 for A it says LONG with the whole history "
        "but nothing with the bars up to that day"
    )
    honest = UserStrategy("CROSS", sma_cross, Cross).bind({"fast": 2, "slow": 3})
    assert look_ahead(honest, frame, "A") is None


def test_sample_ends_are_fired_days_spread_and_the_last() -> None:
    long = np.zeros(100, dtype=bool)
    long[[5, 10, 20, 40, 80]] = True
    assert sample_ends(long, np.zeros(100, dtype=bool), 3) == [5, 20, 80, 99]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(-0.05, 0.05, allow_nan=False), min_size=6, max_size=40),
    shift=st.integers(1, 3),
)
def test_prefix_growing_property(steps: list[float], shift: int) -> None:
    """A strategy that reads ``shift`` bars ahead is caught on the first day its full-run
    signal depends on a bar its prefix lacks; a causal one never is."""
    close = 100.0 * np.exp(np.cumsum([0.0, *steps]))
    frame = symbol_frame(_bars({"A": close}), 0)

    def ahead(df: pd.DataFrame, params: object) -> pd.Series:
        up = df["close"].shift(-shift) > df["close"]
        return up.map({True: "LONG", False: None})

    def causal(df: pd.DataFrame, params: object) -> pd.Series:
        up = df["close"] > df["close"].shift(1)
        return up.map({True: "LONG", False: None})

    full = (frame["close"].shift(-shift) > frame["close"]).to_numpy()
    found = look_ahead(BoundStrategy("AHEAD", ahead, {}), frame, "A")
    if full.any():
        first = int(np.argmax(full))
        assert found is not None and found.day == frame.index[first].date().isoformat()
        assert (found.full, found.prefix) == ("LONG", None)
    else:
        assert found is None
    assert look_ahead(BoundStrategy("CAUSAL", causal, {}), frame, "A") is None


def test_settings_section_names_and_strictness() -> None:
    s = Settings.model_validate(
        {"strategies": {"timeout_s": 2.0, "squeeze": {"function": "sq:signal", "params": {"n": 3}},
                        "gap": {"function": "gap:fill", "enabled": False}}}
    )  # fmt: skip
    assert list(s.strategies.user) == ["SQUEEZE", "GAP"]
    assert s.strategies.enabled == ["SQUEEZE"] and s.strategies.timeout_s == 2.0
    assert s.strategies.user["SQUEEZE"].params == {"n": 3}
    for bad, msg in [
        ({"x": {"function": "nocolon"}}, "module:function"),
        ({"high_base": {"function": "a:b"}}, "taken by a built-in"),
        ({"x": {"function": "a:b", "typo": 1}}, "Extra inputs"),
        ({"timeout_s": 0}, "greater than 0"),
    ]:
        with pytest.raises(ValueError, match=msg):
            Settings.model_validate({"strategies": bad})
