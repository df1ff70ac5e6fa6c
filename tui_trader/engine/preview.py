"""The numbers of an order preview, as plain functions the engine composes: leg quotes,
the limit a trader may move, the risk gates' inputs from the account and the journal.

Decisions (the README should carry them):

- **Underlying IV for the IV gate** (SPEC 8 ``max_volatility_iv``) is the *long leg's*
  implied volatility. The long leg is chosen with |delta| in [0.30, 0.50], i.e. near the
  money, so its IV is the at-the-money IV of that expiry to within the skew between a few
  strikes, and it is the IV the position is actually bought at. No separate ATM contract
  has to be streamed for it.
- **Worst debit and the limit a trader moves**: :mod:`tui_trader.core.limits` (re-exported
  here for the engine). The preview's ``max_loss`` is the worst debit times multiplier
  times quantity (commissions excluded).
- **Counting for the gates.** Open spreads are the Positions slice's spreads (ours and
  external pairs; a stock position is not a spread) plus opening orders still working with
  nothing filled yet, counted once per leg pair. Entries today are opening (BUY) intents
  created on today's New York date that were sent and not rejected or cancelled unfilled.
  Busy underlyings are those with a position or any active intent (an UNKNOWN one
  included: until resolved it may be live at IB).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from tui_trader.core.calendar import ET
from tui_trader.core.limits import clamp_limit, limit_bounds, mid_of, step_limit, worst_debit
from tui_trader.core.models import IntentStatus, OrderIntent
from tui_trader.state.store import PreviewLeg, SpreadPosition

__all__ = [
    "busy_underlyings",
    "clamp_limit",
    "entries_on",
    "limit_bounds",
    "mid_of",
    "net_greek",
    "open_spread_count",
    "step_limit",
    "worst_debit",
]


def net_greek(legs: Sequence[PreviewLeg], name: str) -> float | None:
    """Long leg minus short leg (per share); None when either is unknown."""
    longs = [leg for leg in legs if leg.action == "BUY"]
    shorts = [leg for leg in legs if leg.action == "SELL"]
    if len(longs) != 1 or len(shorts) != 1:
        return None
    a, b = getattr(longs[0], name), getattr(shorts[0], name)
    if a is None or b is None:
        return None
    return float(a) - float(b)


def open_spread_count(spreads: Iterable[SpreadPosition], intents: Iterable[OrderIntent]) -> int:
    """Open spreads for ``max_positions`` (module doc)."""
    keys: set[tuple[int, ...]] = set()
    for sp in spreads:
        if any(leg.sec_type == "OPT" for leg in sp.legs):
            keys.add(tuple(sorted(leg.con_id for leg in sp.legs)))
    for it in intents:
        if it.spec.action == "BUY" and not it.is_terminal and it.filled == 0:
            keys.add(tuple(sorted((it.spec.long_leg.con_id, it.spec.short_leg.con_id))))
    return len(keys)


def entries_on(intents: Iterable[OrderIntent], day: date) -> int:
    """Opening orders sent on New York date ``day`` (module doc)."""
    n = 0
    for it in intents:
        if it.spec.action != "BUY" or it.created_at.astimezone(ET).date() != day:
            continue
        if it.status is IntentStatus.REJECTED:
            continue
        if it.status is IntentStatus.CANCELLED and it.filled == 0:
            continue
        n += 1
    return n


def busy_underlyings(
    spreads: Iterable[SpreadPosition], intents: Iterable[OrderIntent]
) -> frozenset[str]:
    busy = {sp.underlying.strip().upper() for sp in spreads}
    busy |= {it.spec.underlying.strip().upper() for it in intents if not it.is_terminal}
    return frozenset(busy)
