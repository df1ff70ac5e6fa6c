"""SPEC 9: when an open spread is closed, judged on the underlying's price.

Levels are fixed at entry from the entry snapshot (price, ATR14, HHV20, LLV20), so a stop
never drifts with later volatility. Decisions:

- A level is hit *at* the level: LONG stop when price <= stop, LONG target when
  price >= target; SHORT mirrored.
- A target that is not beyond the entry in the trade's direction (the Fibonacci extension
  can be, when price already trades above LLV20 + 1.618 * range) is dropped for that
  position rather than firing at once and closing the trade it just opened.
- An unusable price (NaN, <= 0, IB marker) skips the price rules; the time rule still
  applies. An unknown DTE (None) skips the time rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from tui_trader.core.markers import IB_UNSET_DOUBLE
from tui_trader.core.settings import ExitSettings

Direction = Literal["LONG", "SHORT"]


class ExitReason(StrEnum):
    STOP = "STOP"
    TARGET_R = "TARGET_R"
    TARGET_ATR = "TARGET_ATR"
    TARGET_FIBO = "TARGET_FIBO"
    TIME = "TIME"


@dataclass(frozen=True, slots=True)
class EntrySnapshot:
    """The underlying at entry. Validated here: a position must never be without a stop."""

    direction: Direction
    entry_price: float
    atr14: float
    hhv20: float
    llv20: float

    def __post_init__(self) -> None:
        if self.direction not in ("LONG", "SHORT"):
            raise ValueError(f"direction must be LONG or SHORT, got {self.direction!r}")
        for name in ("entry_price", "atr14", "hhv20", "llv20"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 < v < IB_UNSET_DOUBLE):
                raise ValueError(f"entry snapshot {name} must be a positive number, got {v!r}")
        if self.hhv20 < self.llv20:
            raise ValueError(f"HHV20 {self.hhv20} is below LLV20 {self.llv20}")


@dataclass(frozen=True, slots=True)
class ExitLevels:
    """Underlying prices that close the spread; a target is None when switched off/dropped."""

    direction: Direction
    entry_price: float
    stop: float
    r_target: float | None
    atr_target: float | None
    fibo_target: float | None


@dataclass(frozen=True, slots=True)
class ExitDecision:
    reason: ExitReason
    level: float | None  # the price level that was hit; None for TIME
    message: str


def exit_levels(snapshot: EntrySnapshot, exits: ExitSettings) -> ExitLevels:
    """SPEC 9 levels. LONG: stop = entry - k*ATR, R target = entry + r*k*ATR,
    ATR target = entry + a*ATR, Fibo = LLV + level*(HHV - LLV); SHORT mirrored
    (Fibo = HHV - level*(HHV - LLV))."""
    s = snapshot
    sign = 1.0 if s.direction == "LONG" else -1.0
    risk = exits.stop_loss_atr_mult * s.atr14
    stop = s.entry_price - sign * risk

    def beyond(level: float) -> float | None:
        return level if sign * (level - s.entry_price) > 0 else None

    r_target = (
        beyond(s.entry_price + sign * exits.r_multiple_target * risk)
        if exits.use_r_multiple_target
        else None
    )
    atr_target = (
        beyond(s.entry_price + sign * exits.atr_target_multiple * s.atr14)
        if exits.use_atr_target
        else None
    )
    fibo_target: float | None = None
    if exits.use_fibo_targets:
        rng = s.hhv20 - s.llv20
        base = s.llv20 if s.direction == "LONG" else s.hhv20
        fibo_target = beyond(base + sign * exits.fibo_target_level * rng)
    return ExitLevels(s.direction, s.entry_price, stop, r_target, atr_target, fibo_target)


def check_exit(
    levels: ExitLevels, underlying_price: float, dte: int | None, exits: ExitSettings
) -> ExitDecision | None:
    """The first exit rule that holds, in SPEC 9 order: stop, R, ATR, Fibonacci, time."""
    sign = 1.0 if levels.direction == "LONG" else -1.0
    p = underlying_price
    if math.isfinite(p) and 0 < p < IB_UNSET_DOUBLE:
        if sign * (p - levels.stop) <= 0:
            return ExitDecision(
                ExitReason.STOP,
                levels.stop,
                f"{levels.direction} stop: underlying {p:.2f} reached the stop {levels.stop:.2f}.",
            )
        for reason, level, name in (
            (ExitReason.TARGET_R, levels.r_target, "R-multiple target"),
            (ExitReason.TARGET_ATR, levels.atr_target, "ATR target"),
            (ExitReason.TARGET_FIBO, levels.fibo_target, "Fibonacci target"),
        ):
            if level is not None and sign * (p - level) >= 0:
                return ExitDecision(
                    reason, level, f"Underlying {p:.2f} reached the {name} {level:.2f}."
                )
    if dte is not None and dte <= exits.min_days_to_exit:
        return ExitDecision(
            ExitReason.TIME,
            None,
            f"{dte} days to expiry, at or below the minimum of {exits.min_days_to_exit}.",
        )
    return None
