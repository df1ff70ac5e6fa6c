"""The numbers of an order preview, as plain functions the engine composes: leg quotes,
the limit a trader may move, the risk gates' inputs from the account and the journal.

Decisions (the README should carry them):

- **Underlying IV for the IV gate** (SPEC 8 ``max_volatility_iv``) is the *long leg's*
  implied volatility. The long leg is chosen with |delta| in [0.30, 0.50], i.e. near the
  money, so its IV is the at-the-money IV of that expiry to within the skew between a few
  strikes, and it is the IV the position is actually bought at. No separate ATM contract
  has to be streamed for it.
- **Worst debit.** An opening order may be walked toward the natural ask (SPEC 6), so the
  most it can pay per share is ``max(limit, natural ask)``, capped by
  ``max_spread_cost / multiplier``. Sizing (``max_loss_per_contract``), the order-value
  gate and the walk's ``max_debit`` all use that figure, so the walk never pays more than
  the gates sized the position for. The preview's ``max_loss`` is that worst debit times
  multiplier times quantity (commissions excluded).
- **The limit a trader moves** (``[``/``]``) stays on the ``combo_tick`` grid: a BUY never
  above the natural ask (nor the cost cap) and never below one tick; a SELL never below the
  natural bid (floored at 0: a debit spread is never paid to be closed) and never above
  the natural ask.
- **Counting for the gates.** Open spreads are the Positions slice's spreads (ours and
  external pairs; a stock position is not a spread) plus opening orders still working with
  nothing filled yet, counted once per leg pair. Entries today are opening (BUY) intents
  created on today's New York date that were sent and not rejected or cancelled unfilled.
  Busy underlyings are those with a position or any active intent (an UNKNOWN one
  included: until resolved it may be live at IB).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tui_trader.core.calendar import ET
from tui_trader.core.models import IntentStatus, OrderIntent
from tui_trader.core.pricing import Action, NaturalQuotes
from tui_trader.state.store import PreviewLeg, SpreadPosition


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _ticks(x: float, tick: float, rounding: str) -> int:
    return int((_dec(x) / _dec(tick)).to_integral_value(rounding=rounding))


def limit_bounds(
    action: Action, natural: NaturalQuotes, tick: float, max_debit: float | None = None
) -> tuple[float, float]:
    """The (lowest, highest) limit on the tick grid a trader may set (module doc)."""
    t = _dec(tick)
    if action == "BUY":
        hi_price = natural.ask if max_debit is None else min(natural.ask, max_debit)
        hi = max(1, _ticks(hi_price, tick, ROUND_FLOOR))
        return float(t), float(hi * t)
    lo = max(0, _ticks(max(natural.bid, 0.0), tick, ROUND_CEILING))
    hi = max(lo, _ticks(max(natural.ask, 0.0), tick, ROUND_FLOOR))
    return float(lo * t), float(hi * t)


def clamp_limit(
    action: Action,
    limit: float,
    natural: NaturalQuotes,
    tick: float,
    max_debit: float | None = None,
) -> float:
    """``limit`` on the tick grid (nearest tick) inside :func:`limit_bounds`."""
    lo, hi = limit_bounds(action, natural, tick, max_debit)
    n = int((_dec(limit) / _dec(tick)).to_integral_value())
    snapped = float(n * _dec(tick))
    return min(max(snapped, lo), hi)


def step_limit(limit: float, ticks: int, tick: float) -> float:
    """``limit`` moved by ``ticks`` grid steps (exact decimal arithmetic)."""
    n = int((_dec(limit) / _dec(tick)).to_integral_value()) + ticks
    return float(n * _dec(tick))


def worst_debit(limit: float | None, natural_ask: float, cap: float) -> float:
    """The most an opening order may pay per share (module doc)."""
    worst = natural_ask if limit is None else max(limit, natural_ask)
    return min(worst, cap)


def mid_of(bid: float | None, ask: float | None) -> float | None:
    if bid is None or ask is None or not (math.isfinite(bid) and math.isfinite(ask)):
        return None
    if bid < 0 or ask <= 0 or bid > ask:
        return None
    return (bid + ask) / 2


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
