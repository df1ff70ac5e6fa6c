"""A Backtest reused across runs and settings (what sweeps do) gives the trades a fresh one
gives: its caches (signals, chosen spreads, paths) are keyed by what they depend on."""

from __future__ import annotations

import pytest

from tests.benchmarks.backtest_universe import universe_bars
from tui_trader.core.backtest import Backtest, RunResult, RunSpec
from tui_trader.core.backtest_market import STRATEGIES, Market, prepare_market
from tui_trader.core.settings import Settings

ALL = RunSpec("ALL", STRATEGIES)


@pytest.fixture(scope="module")
def market() -> Market:
    return prepare_market(universe_bars(20, 400))


def trades(run: RunResult) -> list[dict[str, object]]:
    return [t.to_dict() for t in run.trades]


def test_runs_in_any_order_on_one_backtest_equal_fresh_ones(market: Market) -> None:
    last = len(market.days) - 1
    shared = Backtest(market, Settings(), 0, last)
    low_first = trades(shared.run(RunSpec("LOW_BASE", ("LOW_BASE",))))
    all_after = trades(shared.run(ALL))  # new pairs merge into the cache here
    assert all_after == trades(Backtest(market, Settings(), 0, last).run(ALL))
    assert low_first == trades(
        Backtest(market, Settings(), 0, last).run(RunSpec("LOW_BASE", ("LOW_BASE",)))
    )


def test_reuse_under_other_settings_equals_a_fresh_backtest(market: Market) -> None:
    last = len(market.days) - 1
    bt = Backtest(market, Settings(), 0, last)
    bt.run(ALL)
    changes = [
        ("exits", "stop_loss_atr_mult", 1.0),
        ("risk", "max_positions", 1),
        ("strategy", "low_base_min_atr_ratio", 3.0),  # more signals, same spreads and exits
        ("selection", "min_reward_risk", 1.0),
        ("backtest", "iv_multiplier", 1.3),
    ]
    for section, key, value in changes:
        s = Settings()
        setattr(getattr(s, section), key, value)
        bt = bt.reuse(s)
        assert trades(bt.run(ALL)) == trades(Backtest(market, s, 0, last).run(ALL)), key
