"""SPEC 12's metrics of one run, and the ranking of runs (or sweep sets) by one of them.

Ratios are fractions, never percent. ``None`` (JSON null) where a metric is undefined:
win rate, average win/loss and days held without trades; average win without a winner,
average loss without a loser; profit factor without a loser; Sharpe with fewer than two
returns or a zero standard deviation; CAGR over zero calendar days or a non-positive
equity ratio. Days held are calendar days from entry to exit.

Returns are the equity curve's day-to-day simple returns, one fewer than the days (see
:mod:`tui_trader.core.backtest`). Ranking: higher is better for every metric but
``max_drawdown`` (lower is better); undefined values rank last; ties keep their order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Metric = float | int | None

#: Every metric, in the order reports show them.
METRICS: tuple[str, ...] = (
    "trades",
    "win_rate",
    "avg_win",
    "avg_loss",
    "profit_factor",
    "net_profit",
    "max_drawdown",
    "sharpe",
    "cagr",
    "exposure",
    "avg_days_held",
)
#: Metrics where less is better.
LOWER_IS_BETTER: frozenset[str] = frozenset({"max_drawdown"})
TRADING_DAYS = 252.0
DAYS_PER_YEAR = 365.25


class _TradeLike(Protocol):
    @property
    def pnl(self) -> float: ...
    @property
    def entry_date(self) -> str: ...
    @property
    def exit_date(self) -> str: ...


def daily_returns(equity: FloatArray) -> FloatArray:
    """Simple returns from each day's equity to the next (length ``len(equity) - 1``)."""
    e = np.asarray(equity, dtype=np.float64)
    out: FloatArray = e[1:] / e[:-1] - 1.0
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def drawdowns(equity: FloatArray) -> FloatArray:
    """(peak_t - equity_t) / peak_t on every day, peak_t the highest equity up to t (the
    dashboard plots it; :func:`max_drawdown` is its maximum)."""
    e = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(e) if e.shape[0] else e
    out: FloatArray = (peak - e) / peak
    return out


def max_drawdown(equity: FloatArray) -> float:
    """max over t of (peak_t - equity_t) / peak_t, peak_t the highest equity up to t."""
    dd = drawdowns(equity)
    return float(np.max(dd)) if dd.shape[0] else 0.0


def sharpe(returns: FloatArray) -> float | None:
    """mean / std (ddof 1) of daily returns x sqrt(252), rate 0."""
    if returns.shape[0] < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    if sd == 0.0 or not math.isfinite(sd):
        return None
    return float(np.mean(returns)) / sd * math.sqrt(TRADING_DAYS)


def cagr(days: NDArray[np.datetime64], equity: FloatArray) -> float | None:
    """(last / first equity) ^ (365.25 / calendar days from first to last day) - 1."""
    if equity.shape[0] == 0:
        return None
    span = int((days[-1] - days[0]).astype(np.int64))
    ratio = float(equity[-1]) / float(equity[0])
    if span <= 0 or not ratio > 0:
        return None
    return float(ratio ** (DAYS_PER_YEAR / span) - 1.0)


def _held(trade: _TradeLike) -> int:
    return int(
        (np.datetime64(trade.exit_date, "D") - np.datetime64(trade.entry_date, "D")).astype(
            np.int64
        )
    )


def compute_metrics(
    days: NDArray[np.datetime64],
    equity: FloatArray,
    exposed: NDArray[np.bool_],
    trades: Sequence[_TradeLike],
) -> dict[str, Metric]:
    """SPEC 12's metrics of a run (module doc for what is undefined when)."""
    pnl = [t.pnl for t in trades]
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p < 0]
    loss_sum = sum(losses)
    return {
        "trades": len(pnl),
        "win_rate": len(wins) / len(pnl) if pnl else None,
        "avg_win": _mean(wins),
        "avg_loss": _mean(losses),
        "profit_factor": sum(wins) / abs(loss_sum) if losses and loss_sum != 0 else None,
        "net_profit": float(sum(pnl)),
        "max_drawdown": max_drawdown(equity),
        "sharpe": sharpe(daily_returns(equity)),
        "cagr": cagr(days, equity),
        "exposure": float(np.mean(exposed)) if exposed.shape[0] else None,
        "avg_days_held": _mean([float(_held(t)) for t in trades]),
    }


def rank[T](items: Sequence[T], metric: str, value: Callable[[T], Any]) -> list[T]:
    """``items`` best first by ``metric`` (``value(item)`` gives the item's metrics dict);
    undefined values last, ties in their given order."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0

    def key(pair: tuple[int, T]) -> tuple[int, float, int]:
        k, item = pair
        v = value(item).get(metric)
        if v is None:
            return (1, 0.0, k)
        return (0, sign * float(v), k)

    return [item for _, item in sorted(enumerate(items), key=key)]
