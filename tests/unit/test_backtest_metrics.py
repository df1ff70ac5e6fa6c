"""SPEC 12's metrics against the formulas written out on a known equity curve, and the
ranking of runs."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import pytest

from tui_trader.core.backtest_metrics import (
    METRICS,
    cagr,
    compute_metrics,
    daily_returns,
    max_drawdown,
    rank,
    sharpe,
)


@dataclass(frozen=True)
class T:
    pnl: float
    entry_date: str
    exit_date: str


DAYS = np.array(
    ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"], dtype="datetime64[D]"
)
EQUITY = np.array([100_000.0, 101_000.0, 99_000.0, 102_000.0, 100_980.0])
EXPOSED = np.array([False, True, True, True, False])
TRADES = [
    T(1_500.0, "2024-01-02", "2024-01-05"),
    T(-700.0, "2024-01-03", "2024-01-04"),
    T(0.0, "2024-01-03", "2024-01-08"),
    T(180.0, "2024-01-04", "2024-01-08"),
]


def test_metrics_of_a_known_curve() -> None:
    m = compute_metrics(DAYS, EQUITY, EXPOSED, TRADES)
    assert list(m) == list(METRICS)
    rets = [
        101_000 / 100_000 - 1,
        99_000 / 101_000 - 1,
        102_000 / 99_000 - 1,
        100_980 / 102_000 - 1,
    ]
    assert m["trades"] == 4
    assert m["win_rate"] == 0.5  # P&L > 0: the zero trade is no win
    assert m["avg_win"] == pytest.approx((1_500 + 180) / 2)
    assert m["avg_loss"] == -700.0
    assert m["profit_factor"] == pytest.approx(1_680 / 700)
    assert m["net_profit"] == pytest.approx(980.0)
    assert m["max_drawdown"] == pytest.approx((101_000 - 99_000) / 101_000)
    assert m["sharpe"] == pytest.approx(
        statistics.mean(rets) / statistics.stdev(rets) * math.sqrt(252)
    )
    assert m["cagr"] == pytest.approx((100_980 / 100_000) ** (365.25 / 6) - 1)
    assert m["exposure"] == pytest.approx(3 / 5)
    assert m["avg_days_held"] == pytest.approx((3 + 1 + 5 + 4) / 4)
    assert daily_returns(EQUITY) == pytest.approx(rets)


def test_undefined_metrics_are_none() -> None:
    flat = np.full(5, 100_000.0)
    m = compute_metrics(DAYS, flat, np.zeros(5, dtype=bool), [])
    assert m["trades"] == 0 and m["net_profit"] == 0.0
    for key in ("win_rate", "avg_win", "avg_loss", "profit_factor", "avg_days_held", "sharpe"):
        assert m[key] is None, key
    assert m["max_drawdown"] == 0.0 and m["exposure"] == 0.0 and m["cagr"] == 0.0
    only_wins = compute_metrics(DAYS, EQUITY, EXPOSED, [T(5.0, "2024-01-02", "2024-01-03")])
    assert only_wins["profit_factor"] is None and only_wins["avg_loss"] is None
    assert only_wins["win_rate"] == 1.0


def test_one_day_or_one_return_has_no_sharpe_or_cagr() -> None:
    assert sharpe(np.array([0.01])) is None
    assert cagr(DAYS[:1], EQUITY[:1]) is None
    assert max_drawdown(np.array([5.0, 4.0, 6.0, 3.0])) == pytest.approx(0.5)


def test_ranking_puts_the_best_first_undefined_last_and_keeps_ties() -> None:
    runs = [
        {"sharpe": 0.5, "max_drawdown": 0.2},
        {"sharpe": None, "max_drawdown": 0.1},
        {"sharpe": 1.5, "max_drawdown": 0.3},
        {"sharpe": 0.5, "max_drawdown": 0.05},
    ]
    assert rank(runs, "sharpe", lambda r: r) == [runs[2], runs[0], runs[3], runs[1]]
    assert rank(runs, "max_drawdown", lambda r: r) == [runs[3], runs[1], runs[0], runs[2]]
    with pytest.raises(ValueError, match="unknown metric"):
        rank(runs, "alpha", lambda r: r)
