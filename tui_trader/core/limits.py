"""The combo limit a trader (or the auto-trader) may set, on the tick grid, and the worst
debit an opening order may be worked to. Pure decimal arithmetic, shared by the entry
planner (:mod:`tui_trader.core.entry`), the preview and the backtester.

Decisions (the README carries them):

- **Worst debit.** An opening order may be walked toward the natural ask (SPEC 6), so the
  most it can pay per share is ``max(limit, natural ask)``, capped by
  ``max_spread_cost / multiplier``. Sizing (``max_loss_per_contract``), the order-value
  gate and the walk's ``max_debit`` all use that figure, so the walk never pays more than
  the gates sized the position for.
- **The limit a trader moves** (``[``/``]``) stays on the ``combo_tick`` grid: a BUY never
  above the natural ask (nor the cost cap) and never below one tick; a SELL never below the
  natural bid (floored at 0: a debit spread is never paid to be closed) and never above
  the natural ask.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from tui_trader.core.pricing import Action, NaturalQuotes


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
    """The mid of a usable two-sided quote, else None (SPEC 5's bad-quote rules)."""
    if bid is None or ask is None or not (math.isfinite(bid) and math.isfinite(ask)):
        return None
    if bid < 0 or ask <= 0 or bid > ask:
        return None
    return (bid + ask) / 2
