"""The Positions slice's risk: each held spread's greeks, delta in dollars, breakeven and
max profit / max loss, from its legs' model greeks and the underlying's price.

Why here: the exit monitor republishes the account view's spreads in the shared store;
this adds :class:`~tui_trader.core.position_risk.SpreadRisk` to each on the way, so the
Positions screen formats numbers and computes none (the maths is ``core.position_risk``).

- A leg's greeks are IB's model greeks of its streamed ticker (positions' legs stream
  pinned: ``engine.pins``); a stock leg is delta 1 per share and nothing else.
- Breakeven and max profit / loss only for a vertical debit spread (two legs, direction
  LONG or SHORT) with a known cost: the debit is the cost per share of its units.
- The spot is the one the exit levels use (``Engine.spot``: live mid, else last, else the
  last scan's close); without it the delta in dollars is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from tui_trader.core.position_risk import LegExposure, PayoffBounds, spread_risk, vertical_bounds
from tui_trader.state.store import PositionLeg, SpreadPosition


def leg_exposure(leg: PositionLeg) -> LegExposure:
    """A held leg as core.position_risk reads it (module doc)."""
    multiplier = float(leg.multiplier if leg.multiplier > 0 else 1)
    if leg.sec_type == "STK":
        return LegExposure(leg.quantity, multiplier, 1.0, 0.0, 0.0, 0.0)
    return LegExposure(leg.quantity, multiplier, leg.delta, leg.gamma, leg.theta, leg.vega)


def spread_bounds(sp: SpreadPosition) -> PayoffBounds | None:
    """The vertical's breakeven and max profit / loss at its cost (None: not a vertical
    debit spread, or no cost)."""
    if len(sp.legs) != 2 or sp.direction not in ("LONG", "SHORT") or sp.cost is None:
        return None
    lo, sh = sp.legs
    units = abs(lo.quantity)
    multiplier = float(lo.multiplier if lo.multiplier > 0 else 1)
    if units <= 0:
        return None
    debit = sp.cost / (units * multiplier)
    return vertical_bounds(lo.strike, sh.strike, lo.right == "C", debit, multiplier, units)


def with_risk(
    spreads: Sequence[SpreadPosition], spots: Mapping[str, float]
) -> tuple[SpreadPosition, ...]:
    """The spreads with their :class:`SpreadRisk` (module doc)."""
    return tuple(
        replace(
            sp,
            risk=spread_risk(
                [leg_exposure(leg) for leg in sp.legs], spots.get(sp.underlying), spread_bounds(sp)
            ),
        )
        for sp in spreads
    )
