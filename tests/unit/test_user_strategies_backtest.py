"""Traders' own strategies in the back-test (issue 15): attributed after SPEC 4's four,
CONFLICT across all, their parameters swept through ``strategies.NAME.param`` overrides
(cached per parameter set), and a fault stops the back-test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.unit.backtest_data import ENTRY, bars, base_closes
from tui_trader.config import ConfigError
from tui_trader.core.backtest import Backtest, run_backtest, standard_runs
from tui_trader.core.backtest_market import Market, prepare_market, run_signals, strategy_order
from tui_trader.core.settings import Settings
from tui_trader.core.user_strategies import StrategyFailed, UserStrategy
from tui_trader.engine.user_strategies import check_bars, with_strategy_overrides


def every(df: pd.DataFrame, params: dict[str, str]) -> pd.Series:
    """``params["label"]`` (default LONG) on every bar from the 21st."""
    out = pd.Series(None, index=df.index, dtype=object)
    out.iloc[ENTRY:] = params.get("label", "LONG")
    return out


EVERY = UserStrategy("EVERY", every)
SETTINGS = Settings.model_validate({"strategies": {"every": {"function": "mod:every"}}})


def _market() -> Market:
    return prepare_market(
        bars({"AAA": base_closes(1.0, ENTRY + 40), "BBB": base_closes(0.8, ENTRY + 40)})
    )


def _trades(bt: Backtest, *strategies: str) -> list[tuple[str, str, str, str, float]]:
    (spec,) = [r for r in standard_runs(strategies) if r.strategies == strategies][:1]
    return [(t.symbol, t.strategy, t.direction, t.entry_date, t.pnl) for t in bt.run(spec).trades]


def test_a_trade_belongs_to_the_built_in_first_then_the_user_strategy() -> None:
    m = _market()
    bt = Backtest(m, SETTINGS, 0, len(m.days) - 1, (EVERY,))
    assert bt.strategy_names == ("HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY", "EVERY")
    built_in = _trades(bt, "HIGH_BASE")
    both = _trades(bt, "HIGH_BASE", "EVERY")
    alone = _trades(bt, "EVERY")
    assert len(built_in) == 8 and built_in[0][:4] == ("AAA", "HIGH_BASE", "LONG", "2024-01-29")
    assert both == built_in  # HIGH_BASE fires on each of these days: it owns the trade
    # Alone, EVERY fires on the same days in the same direction: the same trades, its name.
    assert alone == [(s, "EVERY", d, e, p) for s, _, d, e, p in built_in]


def test_conflict_across_built_in_and_user_and_params_swept_by_override() -> None:
    m = _market()
    short = with_strategy_overrides(SETTINGS, {"strategies.every.label": '"SHORT"'}, "--grid")
    assert short.strategies.user["EVERY"].params == {"label": "SHORT"}
    bt = Backtest(m, SETTINGS, 0, len(m.days) - 1, (EVERY,))
    swept = bt.reuse(short)
    assert _trades(swept, "HIGH_BASE", "EVERY") == []  # LONG and SHORT together: CONFLICT
    alone = _trades(swept, "EVERY")
    # Shorts on a rising series hit their stop sooner: more, losing, trades.
    assert len(alone) == 12 and {t[2] for t in alone} == {"SHORT"}
    assert alone[0][3] == "2024-01-29" and all(t[4] < 0 for t in alone)
    assert _trades(bt, "EVERY")[0][2] == "LONG"  # the other set keeps its own parameters
    assert len(bt._user_masks) == 2  # one evaluation per parameter set, shared by reuse
    sig = run_signals(m, short, ("EVERY",), 0, len(m.days) - 1, m.sigma(1.0),
                      {"EVERY": bt.user_masks(EVERY)})  # fmt: skip
    assert set(np.asarray(sig.strategy).tolist()) == {strategy_order(["EVERY"]).index("EVERY")}
    with pytest.raises(ConfigError, match="--grid: no user strategy 'nope'"):
        with_strategy_overrides(SETTINGS, {"strategies.nope.x": "1"}, "--grid")


def test_a_fault_stops_the_back_test_with_its_sentence() -> None:
    def bad(df: pd.DataFrame, params: object) -> pd.Series:
        return pd.Series("BUY", index=df.index, dtype=object)

    m = _market()
    s = Settings.model_validate({"strategies": {"bad": {"function": "mod:bad"}}})
    with pytest.raises(StrategyFailed, match=r"BAD returned 'BUY' on 2024-01-01; allowed"):
        run_backtest(m, s, 0, len(m.days) - 1, standard_runs(("BAD",)), (UserStrategy("BAD", bad),))


def test_the_back_test_sample_check_finds_a_look_ahead_with_day_and_symbol() -> None:
    def peek(df: pd.DataFrame, params: object) -> pd.Series:
        rises = df["close"].shift(-1) > df["close"]
        return rises.map({True: "LONG", False: None})

    b = bars({"AAA": base_closes(1.0, ENTRY + 40), "BBB": base_closes(0.8, ENTRY + 40)})
    found = check_bars(UserStrategy("PEEK", peek).bind({}), b, sample=5, max_symbols=2)
    # base_closes rises on odd steps: day 0's close is below day 1's -> LONG only with later bars.
    assert found is not None and (found.symbol, found.day) == ("AAA", "2024-01-01")
    assert check_bars(EVERY.bind({}), b, sample=5, max_symbols=2) is None
