"""The preview's order box and confirmation text: every number from one snapshot.

Why a module of its own: the order box is where a trader checks the money, so its numbers
must agree with each other and with the legs shown beside them (issue 13, defects 3, 4, 9):

- **One snapshot.** The natural market shown is the combination of the legs on screen
  (long bid - short ask / long ask - short bid), never an older figure. When it differs
  materially from the market the order was priced in (:func:`is_stale`), the box says so
  plainly ("STALE") and ``t`` re-prices first (the engine's ``refresh_what_if`` re-plans
  from the quotes now).
- **At the limit.** Breakeven, max profit and max loss follow the order's limit and
  quantity, so ``[``/``]`` and ``+``/``-`` move them. Max loss is quantity x limit x
  multiplier; the walk's bound (the worst debit the gates sized for) is stated apart.
- **Distance from the market.** The limit's distance from the mid and from the natural
  side it is paid at (ask for a BUY, bid for a SELL).
- **Closing.** A SELL closes a held spread: the box speaks of credit, expected proceeds
  and the realised P&L at the limit (against the position's cost, net of the close's
  commission once the what-if said it); the legs read with their closing actions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from textual.content import Content

from tui_trader.core.calendar import ET
from tui_trader.core.models import SpreadOrderSpec
from tui_trader.core.pricing import OrderPrice
from tui_trader.state.store import Preview, SpreadPosition
from tui_trader.tui.widgets.cells import field_number, field_text, number

#: Two naturals closer than this (per share) are the same market.
SAME = 1e-9
#: The smallest move of the natural (per share) that makes a priced order STALE.
STALE_MOVE = 0.05


@dataclass(frozen=True, slots=True)
class Natural:
    """A combo's natural market per share: what it sells for (bid) and costs (ask)."""

    bid: float
    ask: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2


def legs_natural(preview: Preview) -> Natural | None:
    """The natural market of the legs shown (their ``action`` is the opening side: BUY
    long, SELL short); None without a two-sided quote on both legs."""
    longs = [leg for leg in preview.legs if leg.action == "BUY"]
    shorts = [leg for leg in preview.legs if leg.action == "SELL"]
    if len(longs) != 1 or len(shorts) != 1:
        return None
    lo, sh = longs[0], shorts[0]
    if None in (lo.bid, lo.ask, sh.bid, sh.ask):
        return None
    assert lo.bid is not None and lo.ask is not None and sh.bid is not None
    assert sh.ask is not None
    return Natural(lo.bid - sh.ask, lo.ask - sh.bid)


def priced_natural(preview: Preview) -> Natural | None:
    """The natural market the order was priced in (the plan's), None when unpriced."""
    price = preview.price
    if not isinstance(price, OrderPrice):
        return None
    return Natural(price.natural_bid, price.natural_ask)


def is_stale(preview: Preview) -> bool:
    """Whether the legs' natural moved materially since the order was priced: by a nickel
    or more, or by a quarter of the priced natural's width if that is wider (module doc).

    Why not any move: option quotes flicker by a cent several times a second, in the
    simulated market and at IB alike, so "any move" marked nearly every order STALE within
    a second of pricing and ``t`` re-priced again and again instead of confirming (found in
    the demo at 80x24: three presses in a row re-priced). A cent or two is not a different
    market; the box shows the limit's distance from the mid and the natural side anyway."""
    shown, priced = legs_natural(preview), priced_natural(preview)
    if shown is None or priced is None:
        return False
    move = max(STALE_MOVE, 0.25 * abs(priced.ask - priced.bid)) - SAME
    return abs(shown.bid - priced.bid) >= move or abs(shown.ask - priced.ask) >= move


def closing_position(
    spec: SpreadOrderSpec, spreads: tuple[SpreadPosition, ...]
) -> SpreadPosition | None:
    """The held spread a SELL closes (same two legs), None when not found."""
    cons = {leg.con_id for leg in spec.legs}
    return next((sp for sp in spreads if {leg.con_id for leg in sp.legs} == cons), None)


def breakeven_at(spec: SpreadOrderSpec, debit: float) -> float:
    """The underlying price where the spread bought at ``debit`` breaks even at expiry."""
    k = spec.long_leg.strike
    return k + debit if spec.long_leg.right == "C" else k - debit


def width_of(spec: SpreadOrderSpec) -> float:
    return abs(spec.short_leg.strike - spec.long_leg.strike)


def _signed(x: float) -> str:
    return number(x, sign=True)


def distance_text(action: str, limit: float, nat: Natural) -> str:
    """The limit's distance from the mid and from the natural side it pays/receives."""
    if action == "BUY":
        return f"lim {_signed(limit - nat.mid)} vs mid, {_signed(limit - nat.ask)} vs ask"
    return f"lim {_signed(limit - nat.mid)} vs mid, {_signed(limit - nat.bid)} vs bid"


def order_content(
    preview: Preview, multiplier: float, position: SpreadPosition | None = None
) -> Content:
    """The previewed order's numbers (module doc), short lines: the box shares the width
    with two other panels."""
    spec = preview.spec
    if spec is None:
        return Content("")
    closing = spec.action == "SELL"
    qty = spec.quantity
    limit = spec.limit_price
    kind = "credit" if closing else "debit"
    head: list[str | tuple[str, str]] = [
        f"Qty {qty}" + (f" of {position.quantity}" if closing and position is not None else ""),
        f"  {spec.order_type}{'' if limit is None else ' ' + number(limit)} {kind}",
    ]
    lines = [Content.assemble(*head)]
    nat = legs_natural(preview)
    if nat is None:
        lines.append(Content.styled("Natural -: a leg has no two-sided quote", "$muted"))
    else:
        text = f"Natural {number(nat.bid)}/{number(nat.ask)} mid {number(nat.mid)}"
        lines.append(Content(text))
        if limit is not None:
            lines.append(Content(distance_text(spec.action, limit, nat)))
    priced = priced_natural(preview)
    if is_stale(preview) and priced is not None:
        lines.append(
            Content.assemble(
                ("STALE", "$warning bold"),
                f" priced at {number(priced.bid)}/{number(priced.ask)}: t re-prices first",
            )
        )
    if limit is not None:
        lines.append(
            _at_limit(spec, limit, multiplier, position, field_number(preview, "commission"))
        )
    lines.append(
        Content(
            f"Net Δ{number(field_number(preview, 'net_delta'), 3, sign=True)}"
            f" Γ{number(field_number(preview, 'net_gamma'), 4, sign=True)}"
            f" V{number(field_number(preview, 'net_vega'), 3, sign=True)}"
            f" Θ{number(field_number(preview, 'net_theta'), 3, sign=True)}"
        )
    )
    lines += _what_if_lines(preview, closing)
    return Content("\n").join(lines)


def close_pnl(
    spec: SpreadOrderSpec,
    limit: float,
    multiplier: float,
    position: SpreadPosition | None,
    commission: float | None,
) -> tuple[float, bool] | None:
    """A close's realised P&L at ``limit`` and whether it is net of the close's own
    commission (known once the what-if said it; the position's cost already holds the
    entry's): what the History screen will book. None without the position's cost."""
    if position is None or position.cost is None or position.quantity <= 0:
        return None
    qty = spec.quantity
    pnl = qty * limit * multiplier - position.cost * qty / position.quantity
    if commission is None or not math.isfinite(commission):
        return pnl, False
    return pnl - commission, True


def _at_limit(
    spec: SpreadOrderSpec,
    limit: float,
    multiplier: float,
    position: SpreadPosition | None,
    commission: float | None = None,
) -> Content:
    """What the order does at its limit (a close: :func:`close_pnl`)."""
    qty = spec.quantity
    if spec.action == "SELL":
        proceeds = qty * limit * multiplier
        parts: list[str | tuple[str, str]] = [f"Proceeds {number(proceeds)}"]
        got = close_pnl(spec, limit, multiplier, position, commission)
        if got is not None:
            pnl, net = got
            style = "$pnl-up" if pnl >= 0 else "$pnl-down"
            parts += [
                "\nRealised P&L ",
                (_signed(pnl), style),
                " net" if net else "",
                " at the limit",
            ]
        return Content.assemble(*parts)
    profit = (width_of(spec) - limit) * multiplier * qty
    return Content.assemble(
        "Max loss ",
        (number(qty * limit * multiplier), "$pnl-down"),
        " profit ",
        (number(profit), "$pnl-up"),
        f"\nBE {number(breakeven_at(spec, limit))} at the limit",
    )


def _what_if_lines(preview: Preview, closing: bool) -> list[Content]:
    lines: list[Content] = []
    if not closing:
        lines.append(
            Content(
                f"Margin {number(field_number(preview, 'init_margin_change'), sign=True)} init"
                f" {number(field_number(preview, 'maint_margin_change'), sign=True)} maint"
            )
        )
    commission = field_number(preview, "commission")
    lo, hi = field_number(preview, "min_commission"), field_number(preview, "max_commission")
    span = f" ({number(lo)}-{number(hi)})" if lo is not None and hi is not None and lo != hi else ""
    what_if_at = getattr(preview, "what_if_at", None)
    when = (
        f"  ({what_if_at.astimezone(ET):%H:%M:%S} ET)" if isinstance(what_if_at, datetime) else ""
    )
    if commission is None and not when:
        lines.append(Content.styled("what-if not asked yet (w)", "$muted"))
    else:
        lines.append(Content(f"Commission {number(commission)}{span}{when}"))
    warning = field_text(preview, "what_if_warning")
    if warning:
        lines.append(Content.assemble(("IB: ", "$warning bold"), warning))
    return lines


def confirm_detail(
    preview: Preview, multiplier: float, position: SpreadPosition | None = None
) -> str:
    """The confirmation's money sentence: the order's max loss (quantity x limit x
    multiplier) and how far the walk may move the limit; for a close the proceeds."""
    spec = preview.spec
    if spec is None or spec.limit_price is None:
        return ""
    qty, limit = spec.quantity, spec.limit_price
    if spec.action == "SELL":
        text = f"Credit {number(limit)}: proceeds {number(qty * limit * multiplier)}"
        got = close_pnl(spec, limit, multiplier, position, field_number(preview, "commission"))
        if got is not None:
            text += f", realised P&L {_signed(got[0])}{' net' if got[1] else ''}"
        nat = legs_natural(preview)
        floor = f" (now {number(max(nat.bid, 0.0))})" if nat is not None else ""
        return text + f". The walk may lower the limit toward the natural bid{floor}."
    loss = qty * limit * multiplier
    text = f"Max loss {number(loss)} ({qty} x {number(limit)} x {multiplier:g})."
    worst = preview.max_loss
    if worst is not None and qty > 0:
        bound = worst / (qty * multiplier)
        if bound > limit + SAME:
            text += f" The walk may raise the limit to {number(bound)} (max loss {number(worst)})."
        else:
            text += " The walk will not raise the limit."
    return text
