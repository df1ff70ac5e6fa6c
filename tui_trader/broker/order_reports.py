"""What IB reports about our orders, read into our types: what-if answers, order
snapshots for reconciliation, completed orders' notes and executions as journal fills.

Why a module of its own: these are pure readings of ib_insync's objects (no order is sent
or changed here), shared by the order manager (``broker/orders.py``), the preview desk and
the doctor; keeping them apart leaves ``orders.py`` to the one rule it serves (journal
first, never twice). IB's "no value" markers become None or NaN here, never numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ib_insync import IB, Trade
from ib_insync import Fill as IbFill
from ib_insync import OrderState as IbOrderState
from loguru import logger

from tui_trader.broker.marketdata import ib_number
from tui_trader.core.models import Fill, IbOrderSnapshot, SpreadOrderSpec, usable_number

# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True, slots=True)
class WhatIfPreview:
    """IB's margin and commission preview of an order (account currency; None: unknown).

    Margin changes are what the order adds to the requirement (for a debit spread IB
    asks for the debit paid: the max loss). ``warning`` is IB's warning text, or why no
    answer is available (then every number is None).
    """

    init_margin_before: float | None = None
    init_margin_change: float | None = None
    init_margin_after: float | None = None
    maint_margin_change: float | None = None
    maint_margin_after: float | None = None
    equity_with_loan_change: float | None = None
    equity_with_loan_after: float | None = None
    commission: float | None = None
    min_commission: float | None = None
    max_commission: float | None = None
    commission_currency: str | None = None
    warning: str | None = None

    @property
    def ok(self) -> bool:
        """IB answered with a usable margin change."""
        return self.init_margin_change is not None

    @property
    def available_funds_after(self) -> float | None:
        """Equity with loan minus initial margin after the order (the risk gate's input)."""
        if self.equity_with_loan_after is None or self.init_margin_after is None:
            return None
        return self.equity_with_loan_after - self.init_margin_after


def preview_from_state(state: IbOrderState) -> WhatIfPreview:
    """Read ib_insync's what-if OrderState; unset or garbage values become None."""
    warning = (state.warningText or "").strip() or None
    return WhatIfPreview(
        init_margin_before=ib_number(state.initMarginBefore),
        init_margin_change=ib_number(state.initMarginChange),
        init_margin_after=ib_number(state.initMarginAfter),
        maint_margin_change=ib_number(state.maintMarginChange),
        maint_margin_after=ib_number(state.maintMarginAfter),
        equity_with_loan_change=ib_number(state.equityWithLoanChange),
        equity_with_loan_after=ib_number(state.equityWithLoanAfter),
        commission=ib_number(state.commission),
        min_commission=ib_number(state.minCommission),
        max_commission=ib_number(state.maxCommission),
        commission_currency=(state.commissionCurrency or "").strip() or None,
        warning=warning,
    )


# --------------------------------------------------------------------------- snapshots


def _order_id_from_fills(fills: Sequence[IbFill], perm_id: int) -> int:
    """The order id IB's executions report for ``perm_id`` (completed orders carry none)."""
    for f in fills:
        if perm_id > 0 and f.execution.permId == perm_id and f.execution.orderId > 0:
            return int(f.execution.orderId)
    return 0


def _bag_avg(fills: Sequence[IbFill], perm_id: int) -> float:
    """Average combo price of an order from IB's executions of the BAG; NaN when none."""
    qty = total = 0.0
    for f in fills:
        if f.contract.secType == "BAG" and f.execution.permId == perm_id and perm_id > 0:
            qty += f.execution.shares
            total += f.execution.shares * f.execution.price
    return total / qty if qty > 0 else math.nan


def snapshot_of(
    trade: Trade,
    *,
    completed: bool,
    fills: Sequence[IbFill] = (),
    note: str | None = None,
) -> IbOrderSnapshot:
    """An IB order as :func:`tui_trader.state.reconcile.reconcile` reads it; ``note`` is
    IB's ``completedStatus`` for a completed order (see :class:`CompletedNotes`).

    Completed orders carry no order id and no order status numbers in ib_insync (only the
    order's ``filledQuantity``): the order id is taken from the executions of the same perm
    id, the average price from the BAG executions, else NaN (unknown), never 0.
    """
    o, st = trade.order, trade.orderStatus
    perm_id = o.permId or st.permId
    if completed:
        filled = o.filledQuantity if usable_number(o.filledQuantity) else 0.0
        total = o.totalQuantity if usable_number(o.totalQuantity) else filled
        return IbOrderSnapshot(
            order_ref=o.orderRef or None,
            order_id=o.orderId if o.orderId > 0 else _order_id_from_fills(fills, perm_id),
            perm_id=perm_id,
            status=st.status,
            filled=filled,
            remaining=max(0.0, total - filled),
            avg_fill_price=_bag_avg(fills, perm_id),
            note=note,
        )
    avg = st.avgFillPrice if st.filled > 0 else math.nan
    return IbOrderSnapshot(
        order_ref=o.orderRef or None,
        order_id=o.orderId or st.orderId,
        perm_id=perm_id,
        status=st.status,
        filled=st.filled,
        remaining=st.remaining,
        avg_fill_price=avg,
    )


def combo_price(spec: SpreadOrderSpec, fills: Sequence[Fill]) -> float | None:
    """The combo's average price per share from its legs' executions: the sum over legs of
    the leg's average price times its ratio, signed by the leg's side when the combo is
    bought (for a SELL that is the credit); None while a leg has no execution."""
    total = 0.0
    for leg in spec.legs:
        mine = [f for f in fills if f.con_id == leg.con_id]
        qty = sum(f.quantity for f in mine)
        if qty <= 0:
            return None
        average = sum(f.price * f.quantity for f in mine) / qty
        total += (1.0 if leg.action == "BUY" else -1.0) * leg.ratio * average
    return total


class CompletedNotes:
    """IB's ``completedStatus`` of completed orders, by perm id.

    ib_insync builds a completed order's Trade from the order state's status alone and
    drops ``completedStatus``, where IB puts the reason of a rejection (IB reports a
    rejected order as "Cancelled"). A rejection that happened while the app was down is
    only known through it, so this wraps the ib_insync wrapper's ``completedOrder``
    handler, on this IB instance only, to keep the text (:meth:`install`, :meth:`remove`:
    both idempotent).
    """

    def __init__(self, ib: IB) -> None:
        self._wrapper = ib.wrapper
        self._original = ib.wrapper.completedOrder
        self.by_perm_id: dict[int, str] = {}

    def install(self) -> None:
        # setattr: an instance attribute shadows the method (mypy refuses "assign to a method")
        setattr(self._wrapper, "completedOrder", self._completed_order)  # noqa: B010

    def _completed_order(self, contract: Any, order: Any, order_state: Any) -> None:
        text = str(getattr(order_state, "completedStatus", "") or "").strip()
        if text and order.permId:
            self.by_perm_id[order.permId] = text
        self._original(contract, order, order_state)

    def remove(self) -> None:
        if vars(self._wrapper).get("completedOrder") == self._completed_order:
            delattr(self._wrapper, "completedOrder")


def fill_of(f: IbFill, *, intent_id: str | None, commission: float | None) -> Fill | None:
    """One leg execution as the journal stores it; None for the BAG's own execution and
    for an execution whose numbers are unusable (logged)."""
    c, e = f.contract, f.execution
    if c.secType == "BAG" or c.conId <= 0:
        return None
    side = e.side.upper()
    if side not in ("BOT", "SLD"):
        logger.warning("execution {} has side {!r}; not recorded", e.execId, e.side)
        return None
    when = e.time if e.time.tzinfo is not None else f.time
    try:
        return Fill(
            exec_id=e.execId,
            intent_id=intent_id,
            order_id=e.orderId,
            perm_id=e.permId,
            con_id=c.conId,
            symbol=c.symbol,
            side="BOT" if side == "BOT" else "SLD",
            quantity=e.shares,
            price=e.price,
            time=when,
            commission=commission,
            order_ref=e.orderRef or None,
        )
    except ValueError as exc:
        logger.error("execution {} cannot be recorded: {}", e.execId, exc)
        return None
