"""SPEC 12's results: a trade, a run (its trades, equity curve and metrics), and which runs
a report holds. Plain data, JSON-ready through ``to_dict``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.backtest_market import STRATEGIES

FloatArray = NDArray[np.float64]

ALL = "ALL"
END = "END"


def iso_day(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed spread. Dates are ISO strings; money per share (``entry_debit``,
    ``exit_value``) or in account currency (``pnl``); ``right`` C (LONG) or P (SHORT)."""

    symbol: str
    strategy: str
    direction: str
    entry_date: str
    exit_date: str
    expiry: str
    right: str
    long_strike: float
    short_strike: float
    contracts: int
    entry_debit: float
    exit_value: float
    pnl: float
    exit_reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "strategy": self.strategy,
            "direction": self.direction,
            "entry_date": self.entry_date,
            "exit_date": self.exit_date,
            "expiry": self.expiry,
            "right": self.right,
            "long_strike": self.long_strike,
            "short_strike": self.short_strike,
            "contracts": self.contracts,
            "entry_debit": self.entry_debit,
            "exit_value": self.exit_value,
            "pnl": self.pnl,
            "exit_reason": self.exit_reason,
        }


@dataclass(frozen=True, slots=True, eq=False)
class RunResult:
    """One run: its trades, its equity on every day of the range, its metrics.

    ``exposed[k]``: day k's equity point includes an open spread. ``open_value[k]``: the
    open spreads' part of day k's equity (marks less entry commissions), so
    ``equity = initial + realised + open_value`` day by day."""

    name: str
    days: NDArray[np.datetime64]
    equity: FloatArray
    realised: FloatArray
    open_value: FloatArray
    exposed: NDArray[np.bool_]
    trades: list[Trade]
    metrics: dict[str, float | int | None]

    def to_dict(self, detail: bool = True) -> dict[str, Any]:
        """JSON-ready; ``detail`` adds the trades and the equity curve."""
        out: dict[str, Any] = {"name": self.name, "metrics": dict(self.metrics)}
        if detail:
            out["trades"] = [t.to_dict() for t in self.trades]
            out["equity"] = [
                {"date": str(d), "equity": float(e)}
                for d, e in zip(self.days, self.equity, strict=True)
            ]
        return out


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A run to simulate: its name and the strategies that may fire in it."""

    name: str
    strategies: tuple[str, ...]


def standard_runs(strategies: Sequence[str] = STRATEGIES) -> list[RunSpec]:
    """SPEC 12's report: the strategies together (``ALL``), then each alone; one
    strategy is only its own run. SPEC 4's come first in its order, then the user
    strategies (issue 15) in the order given."""
    chosen = (
        *(s for s in STRATEGIES if s in strategies),
        *dict.fromkeys(s for s in strategies if s not in STRATEGIES),
    )
    singles = [RunSpec(s, (s,)) for s in chosen]
    return singles if len(chosen) == 1 else [RunSpec(ALL, chosen), *singles]
