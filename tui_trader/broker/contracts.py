"""ib_insync objects built from the core's order models: the BAG combo, its legs, the order.

Decisions (SPEC 6), relied on by :mod:`tui_trader.broker.orders`:

- **One combo shape.** A vertical debit spread is a BAG on SMART in USD whose symbol is the
  underlying, with two legs of ratio 1 routed SMART: BUY the long leg, SELL the short leg.
  The legs keep this orientation for the closing order too; closing is the *order's*
  action (SELL), never flipped legs, so IB sees one and the same combo both ways and the
  limit keeps its sign convention (a debit to open, a price >= 0 to close).
- **Never a credit.** IB prices ``BUY`` of a combo for a credit with a negative limit; we
  never do that. An opening BUY LMT always carries a positive limit, a SELL LMT a limit
  >= 0, and :func:`combo_order` raises :class:`ValueError` rather than build anything else
  (the spec model already refuses it; this is the last check before the wire).
- **Tick grid.** The limit goes out on ``combo_tick``: a price already on the grid is sent
  exactly as the decimal a human reads (1.85, not 1.8499999999999999); an off-grid price
  is moved to the grid toward *our* side -- a BUY down, a SELL up -- so rounding never
  pays more or accepts less than the price that was decided. A BUY that would round to
  zero is refused.
- **Orders identify themselves.** ``orderRef`` is the journal's intent id, so after any
  crash or reconnect the order is found again by it (:mod:`tui_trader.state.reconcile`).
  A what-if order carries no ref: it is never placed and must never look like one of ours.
- ``tif`` is DAY (a debit spread entry is re-decided each session), ``transmit`` True, and
  the account is always set explicitly so an order can never land in another account of
  a multi-account login.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from ib_insync import ComboLeg, Contract, Option, Order

from tui_trader.core.models import SpreadLeg, SpreadOrderSpec, usable_number
from tui_trader.core.pricing import Action

COMBO_EXCHANGE = "SMART"
COMBO_CURRENCY = "USD"
ORDER_TIF = "DAY"


def _dec(x: float) -> Decimal:
    """The decimal a human reads for ``x`` (shortest repr), not its binary expansion."""
    return Decimal(repr(float(x)))


def on_tick(price: float, tick: float, action: Action) -> float:
    """``price`` on the ``tick`` grid, moved toward our side when off it (BUY down, SELL up).

    Works in decimal on the shortest repr, so 1.85 on a 0.01 grid stays 1.85 and 1.853
    becomes 1.85 for a BUY and 1.86 for a SELL. Raises ValueError for a price or tick that
    is not a usable number.
    """
    if not usable_number(price) or not usable_number(tick) or tick <= 0:
        raise ValueError(f"cannot put price {price!r} on tick {tick!r}")
    t = _dec(tick)
    units = _dec(price) / t
    rounding = ROUND_FLOOR if action == "BUY" else ROUND_CEILING
    n = units.to_integral_value(rounding=rounding)
    return float(n * t)


def leg_contract(leg: SpreadLeg) -> Option:
    """The leg as an OPT contract identified by conId (routed SMART), for quotes or checks."""
    return Option(
        symbol=leg.symbol,
        lastTradeDateOrContractMonth=leg.expiry,
        strike=leg.strike,
        right=leg.right,
        exchange=COMBO_EXCHANGE,
        currency=COMBO_CURRENCY,
        conId=leg.con_id,
    )


def combo_contract(spec: SpreadOrderSpec) -> Contract:
    """The BAG contract of ``spec``: long leg BUY, short leg SELL, ratio 1, SMART, USD."""
    long_leg, short_leg = spec.long_leg, spec.short_leg
    return Contract(
        secType="BAG",
        symbol=spec.underlying,
        exchange=COMBO_EXCHANGE,
        currency=COMBO_CURRENCY,
        comboLegs=[
            ComboLeg(conId=long_leg.con_id, ratio=1, action="BUY", exchange=COMBO_EXCHANGE),
            ComboLeg(conId=short_leg.con_id, ratio=1, action="SELL", exchange=COMBO_EXCHANGE),
        ],
    )


def combo_limit(spec: SpreadOrderSpec, limit: float | None, combo_tick: float) -> float | None:
    """The limit to send for ``spec`` (None for MKT), on the grid, sign-checked.

    Raises ValueError for a LMT without a usable limit, a BUY that is not a positive debit
    after rounding, or a negative SELL limit.
    """
    if spec.order_type == "MKT":
        return None
    if limit is None or not usable_number(limit):
        raise ValueError(f"a LMT combo order needs a limit price, got {limit!r}")
    price = on_tick(limit, combo_tick, spec.action)
    if spec.action == "BUY" and price <= 0:
        raise ValueError(
            f"refusing to BUY the combo at {price:.2f}: an opening limit is a positive debit "
            "(we never buy a combo for a credit)"
        )
    if spec.action == "SELL" and price < 0:
        raise ValueError(
            f"refusing a SELL limit of {price:.2f}: a debit spread never pays to close"
        )
    return price


def combo_order(
    spec: SpreadOrderSpec,
    *,
    account: str,
    order_ref: str,
    combo_tick: float,
    limit: float | None = None,
) -> Order:
    """The order for ``spec``: its action and quantity, LMT at ``limit`` (default: the spec's
    limit) on the ``combo_tick`` grid or MKT, DAY, transmit, ``orderRef`` and ``account`` set.
    """
    if not account:
        raise ValueError("an order must name its account")
    price = combo_limit(spec, spec.limit_price if limit is None else limit, combo_tick)
    order = Order(
        action=spec.action,
        totalQuantity=float(spec.quantity),
        orderType=spec.order_type,
        tif=ORDER_TIF,
        orderRef=order_ref,
        transmit=True,
        account=account,
    )
    if price is not None:
        order.lmtPrice = price
    return order
