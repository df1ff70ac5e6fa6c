"""The risk of held spreads: greeks per position and in total, breakeven, max profit/loss.

Why a module of its own: the Positions screen answers "what happens to my book if the
market moves", and that must be the same arithmetic whatever shows it (issue 13).

Conventions, decided here:

- **Per position, in contracts x multiplier.** A leg's exposure is ``quantity x
  multiplier x greek`` with ``quantity`` the leg's signed contracts held for this spread
  (short < 0; for a 1:1 vertical ``units x ratio``, ratio 1) and the greek per share as IB
  sends it. Summed over legs, a spread's ``delta`` is in share equivalents (a bull call of
  5 units with leg deltas 0.60/0.40 is 5 x 100 x 0.20 = +100 shares), ``gamma`` the change
  of that delta per 1.00 move of the underlying, ``theta`` money per calendar day and
  ``vega`` money per volatility point (IB's units).
- **Delta in dollars** is ``delta x spot``: the stock position worth the same exposure.
- **A missing greek is a dash, never a guess.** A leg without a usable greek (None, NaN,
  IB's 1.797e308 marker; a delta outside [-1, 1]; a negative gamma or vega, IB's -1/-2
  "not computed") leaves that greek of the spread None. Totals add the spreads that have
  it and count the ones that do not, so the screen can say the total is partial.
- **Breakeven, max profit and max loss** of a vertical debit spread come from
  ``core.payoff.payoff_at_expiry`` (the preview's payoff code): its value at the long and
  short strikes are the two corners of the expiry line, the breakeven is where the line
  between them crosses zero. The debit is the position's cost per share (IB's average
  costs: commissions included), so the breakeven is the one the trader's money sees.
  Money is for the whole position (all units, multiplier included).

Pure and cheap to import (no numpy until bounds are asked for): the dashboard's first
frame imports it through the Positions screen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tui_trader.core.markers import usable_number

GREEKS = ("delta", "gamma", "theta", "vega")


@dataclass(frozen=True, slots=True)
class LegExposure:
    """One leg as held for a spread: signed contracts, multiplier and per-share greeks."""

    quantity: float
    multiplier: float
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None


@dataclass(frozen=True, slots=True)
class PayoffBounds:
    """A vertical's expiry corners for the whole position (money, multiplier included)."""

    breakeven: float | None
    max_profit: float
    max_loss: float


@dataclass(frozen=True, slots=True)
class SpreadRisk:
    """One held spread's risk (module doc for units); None where unknown."""

    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    dollar_delta: float | None = None
    spot: float | None = None
    breakeven: float | None = None
    max_profit: float | None = None
    max_loss: float | None = None

    @property
    def complete(self) -> bool:
        """Whether every greek and the delta in dollars are known."""
        return None not in (self.delta, self.gamma, self.theta, self.vega, self.dollar_delta)


@dataclass(frozen=True, slots=True)
class RiskTotal:
    """The sum over spreads of each known value (None when no spread has it).

    ``unknown`` spreads have no risk computed yet, ``partial`` ones lack a greek or the
    delta in dollars, ``unbounded`` ones have no max profit/loss (not a vertical debit
    spread: a lone option, a credit pair); their missing values are not in the sums."""

    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    dollar_delta: float | None = None
    max_profit: float | None = None
    max_loss: float | None = None
    spreads: int = 0
    unknown: int = 0
    partial: int = 0
    unbounded: int = 0


def clean_greek(name: str, value: float | None) -> float | None:
    """``value`` when it is a usable ``name`` greek per share, else None (module doc)."""
    if value is None or not usable_number(value):
        return None
    if name == "delta" and abs(value) > 1.0:
        return None
    if name in ("gamma", "vega") and value < 0.0:
        return None
    return float(value)


def position_greek(legs: Sequence[LegExposure], name: str) -> float | None:
    """Sum over legs of ``quantity x multiplier x greek``; None if a leg lacks it."""
    if not legs:
        return None
    total = 0.0
    for leg in legs:
        g = clean_greek(name, getattr(leg, name))
        if g is None or not (usable_number(leg.quantity) and usable_number(leg.multiplier)):
            return None
        total += leg.quantity * leg.multiplier * g
    return total


def vertical_bounds(
    long_strike: float,
    short_strike: float,
    is_call: bool,
    debit: float,
    multiplier: float,
    units: float,
) -> PayoffBounds | None:
    """Breakeven, max profit and max loss of ``units`` verticals bought at ``debit`` per
    share, from ``core.payoff.payoff_at_expiry`` at the two strikes (module doc). None for
    unusable inputs; the breakeven is None when the line does not cross zero (a debit at
    or beyond the width never profits)."""
    inputs = (long_strike, short_strike, debit, multiplier, units)
    if not all(usable_number(x) for x in inputs) or long_strike == short_strike or units <= 0:
        return None
    # numpy and scipy (core.options) load only here: the first frame does not need them.
    from tui_trader.core.payoff import payoff_at_expiry

    at_long, at_short = (
        float(y)
        for y in payoff_at_expiry(
            [long_strike, short_strike], long_strike, short_strike, is_call, debit, multiplier, 1
        )
    )
    at_long, at_short = at_long * units, at_short * units
    breakeven: float | None = None
    if at_long < 0.0 <= at_short or at_short < 0.0 <= at_long:
        breakeven = long_strike + (0.0 - at_long) * (short_strike - long_strike) / (
            at_short - at_long
        )
    return PayoffBounds(
        breakeven=breakeven,
        max_profit=max(at_long, at_short),
        max_loss=-min(at_long, at_short),
    )


def spread_risk(
    legs: Sequence[LegExposure], spot: float | None, bounds: PayoffBounds | None = None
) -> SpreadRisk:
    """A spread's greeks from its legs, its delta in dollars at ``spot`` and ``bounds``."""
    g = {name: position_greek(legs, name) for name in GREEKS}
    usable_spot = spot if spot is not None and usable_number(spot) and spot > 0 else None
    delta = g["delta"]
    return SpreadRisk(
        delta=delta,
        gamma=g["gamma"],
        theta=g["theta"],
        vega=g["vega"],
        dollar_delta=None if delta is None or usable_spot is None else delta * usable_spot,
        spot=usable_spot,
        breakeven=bounds.breakeven if bounds is not None else None,
        max_profit=bounds.max_profit if bounds is not None else None,
        max_loss=bounds.max_loss if bounds is not None else None,
    )


def _sum(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return math.fsum(known) if known else None


def total_risk(rows: Iterable[SpreadRisk | None]) -> RiskTotal:
    """Each value summed over the spreads that have it; the counts of the spreads left
    out (:class:`RiskTotal`)."""
    got = list(rows)
    known = [r for r in got if r is not None]
    return RiskTotal(
        delta=_sum(r.delta for r in known),
        gamma=_sum(r.gamma for r in known),
        theta=_sum(r.theta for r in known),
        vega=_sum(r.vega for r in known),
        dollar_delta=_sum(r.dollar_delta for r in known),
        max_profit=_sum(r.max_profit for r in known),
        max_loss=_sum(r.max_loss for r in known),
        spreads=len(got),
        unknown=len(got) - len(known),
        partial=sum(1 for r in known if not r.complete),
        unbounded=sum(1 for r in known if r.max_loss is None),
    )
