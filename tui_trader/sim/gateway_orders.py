"""Orders: placeOrder validation, what-ifs, open / completed orders, executions, and the
fan-out of exchange events to the clients IB would send them to.

Order events go to the placing client and to clientId 0 (the master client); fills,
positions and account changes fan out from ``_publish`` in the order IB sends them
(execDetails, then positions and account values, then commissionReports).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from tui_trader.sim import protocol as p
from tui_trader.sim.faults import ERR_READ_ONLY, TEXT_READ_ONLY
from tui_trader.sim.gateway_account import AccountPublisher
from tui_trader.sim.gateway_core import _cid
from tui_trader.sim.gateway_session import ClientSession
from tui_trader.sim.lookup import resolve
from tui_trader.sim.types import (
    AccountEvent,
    Action,
    ComboLeg,
    Contract,
    ExchangeEvent,
    Execution,
    FillEvent,
    OrderEvent,
    OrderRequest,
    OrderState,
    PositionEvent,
    WhatIf,
)


class OrderDesk(AccountPublisher):
    """Order requests and the publication of exchange events (module doc)."""

    def _place_order(self, s: ClientSession, req: p.PlaceOrder) -> None:
        order_id = req.order_id
        o = req.order
        if self.faults.read_only:  # the ``readonly`` play: IB refuses what-ifs too
            s.error(order_id, ERR_READ_ONLY, TEXT_READ_ONLY)
            return
        reason = self._order_problem(req)
        if reason is not None:
            s.error(order_id, *reason)
            return
        request = self._order_request(s, req)
        if isinstance(request, tuple):
            s.error(order_id, *request)
            return
        if o.what_if:
            w = self.exchange.what_if(request)
            state = OrderState(
                request, perm_id=0, status="PreSubmitted", remaining=request.quantity
            )
            s.send(self._open_order_msg(state, what_if=w))
            return
        self._allocate_order_ids(order_id)
        self._publish(self.exchange.place(request))

    def _order_problem(self, req: p.PlaceOrder) -> tuple[int, str] | None:
        o = req.order

        def rejected(text: str) -> tuple[int, str]:
            return p.ERR_ORDER_REJECTED, f"Order rejected - reason:{text}"

        if o.order_type not in ("LMT", "MKT"):
            return 387, f"Unsupported order type {o.order_type!r}: the simulator takes LMT and MKT"
        if o.action not in ("BUY", "SELL"):
            return rejected(f"Invalid action {o.action!r}")
        if not (o.total_quantity > 0 and math.isfinite(o.total_quantity)):
            return rejected(f"Invalid order size {o.total_quantity!r}")
        if o.order_type == "LMT" and (o.lmt_price is None or not math.isfinite(o.lmt_price)):
            return rejected("A limit order needs a limit price")
        if o.account and o.account != self.account:
            return rejected(f"Account {o.account} is not managed by this gateway")
        if o.condition_count or o.algo_strategy or o.parent_id:
            return rejected("Conditions, algos and attached orders are not simulated")
        if req.contract.sec_type.upper() not in ("STK", "OPT", "BAG"):
            return p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY
        return None

    def _order_request(self, s: ClientSession, req: p.PlaceOrder) -> OrderRequest | tuple[int, str]:
        wc = req.contract
        o = req.order
        contract: Contract | None = None
        legs: tuple[ComboLeg, ...] = ()
        sec_type = wc.sec_type.upper()
        symbol = wc.symbol.upper()
        if sec_type == "BAG":
            if not wc.combo_legs:
                return p.ERR_ORDER_REJECTED, "Order rejected - reason:A combo needs legs"
            built: list[ComboLeg] = []
            for leg in wc.combo_legs:
                c = self.market.contract(leg.con_id)
                leg_side = leg.action.upper()
                if c is None:
                    return p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY
                if leg.ratio <= 0 or leg_side not in ("BUY", "SELL"):
                    return p.ERR_ORDER_REJECTED, "Order rejected - reason:Invalid combo leg"
                symbol = symbol or c.symbol
                leg_action: Action = "BUY" if leg_side == "BUY" else "SELL"
                built.append(ComboLeg(c.con_id, leg.ratio, leg_action, leg.exchange or "SMART"))
            legs = tuple(built)
        else:
            found = resolve(self.market, wc)
            if len(found) != 1:
                return p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY
            contract = found[0]
            symbol = contract.symbol
        action: Action = "BUY" if o.action == "BUY" else "SELL"
        return OrderRequest(
            order_id=req.order_id,
            client_id=_cid(s),
            sec_type="BAG" if sec_type == "BAG" else contract.sec_type if contract else "STK",
            symbol=symbol,
            contract=contract,
            legs=legs,
            action=action,
            quantity=o.total_quantity,
            order_type="LMT" if o.order_type == "LMT" else "MKT",
            limit_price=o.lmt_price if o.order_type == "LMT" else None,
            tif=o.tif or "DAY",
            order_ref=o.order_ref,
            account=o.account or self.account,
            what_if=o.what_if,
            transmit=o.transmit,
        )

    def _order_contract(self, r: OrderRequest) -> p.WireContract:
        if r.sec_type == "BAG" or r.contract is None:
            legs = [p.WireComboLeg(g.con_id, g.ratio, g.action, g.exchange) for g in r.legs]
            return p.wire_bag(r.symbol, legs)
        return p.wire_contract(r.contract)

    def _wire_order(self, state: OrderState, *, with_flags: bool) -> p.WireOrder:
        """The order's fields as openOrder echoes them; completedOrder leaves out transmit
        and whatIf (``with_flags`` False: their defaults)."""
        r = state.request
        order = p.WireOrder(
            action=r.action,
            total_quantity=r.quantity,
            order_type=r.order_type,
            lmt_price=r.limit_price,
            tif=r.tif,
            account=r.account or self.account,
            order_ref=r.order_ref,
        )
        return replace(order, transmit=r.transmit, what_if=r.what_if) if with_flags else order

    def _open_order_msg(self, state: OrderState, what_if: WhatIf | None = None) -> bytes:
        r = state.request
        order = self._wire_order(state, with_flags=True)
        return p.open_order(
            r.order_id,
            self._order_contract(r),
            order,
            client_id=r.client_id,
            perm_id=state.perm_id,
            status=state.status,
            what_if=what_if,
        )

    def _send_open_orders(self, s: ClientSession, all_clients: bool) -> None:
        for state in self.exchange.open_orders():
            if all_clients or state.request.client_id == s.client_id:
                s.send(self._open_order_msg(state))
                s.send(p.order_status_of(state))
        s.send(p.open_order_end())

    def _send_completed_orders(self, s: ClientSession) -> None:
        last_fill: dict[int, datetime] = {}
        for e in self.exchange.executions():
            if e.perm_id not in last_fill or e.time > last_fill[e.perm_id]:
                last_fill[e.perm_id] = e.time
        for state in self.exchange.completed_orders():
            r = state.request
            when = last_fill.get(state.perm_id)
            s.send(
                p.completed_order(
                    self._order_contract(r),
                    self._wire_order(state, with_flags=False),
                    perm_id=state.perm_id,
                    status=state.status,
                    filled=state.filled,
                    completed_time=p.fmt_ib_datetime(when) if when else "",
                    completed_status=state.reject_reason or state.status,
                )
            )
        s.send(p.completed_orders_end())

    def _req_executions(self, s: ClientSession, f: p.ReqExecutions) -> None:
        since = p.parse_ib_datetime(f.time)
        side = {"BUY": "BOT", "SELL": "SLD"}.get(f.side.upper(), f.side.upper())
        matched: list[Execution] = []
        for e in self.exchange.executions():
            symbol = e.contract.symbol if e.contract is not None else e.bag_symbol
            sec_type = e.contract.sec_type if e.contract is not None else "BAG"
            if (
                (f.client_id and e.client_id != f.client_id)
                or (f.account and f.account != e.account)
                or (since is not None and e.time < since)
                or (f.symbol and f.symbol.upper() != symbol)
                or (f.sec_type and f.sec_type.upper() != sec_type)
                or (f.exchange and f.exchange.upper() not in ("SMART", e.exchange))
                or (side and side != e.side)
            ):
                continue
            matched.append(e)
        for e in matched:
            s.send(p.exec_details(f.req_id, self._exec_contract(e), e))
        for e in matched:
            s.send(p.commission_report(e))
        s.send(p.exec_details_end(f.req_id))

    def _exec_contract(self, e: Execution) -> p.WireContract:
        if e.contract is None:
            return p.wire_bag(e.bag_symbol, ())
        return p.wire_contract(e.contract, e.exchange)

    # --- fan-out of exchange events -----------------------------------------------------

    def _publish(self, events: Iterable[ExchangeEvent]) -> None:
        reports: list[tuple[Execution, list[ClientSession]]] = []
        account_touched = False
        for ev in events:
            if isinstance(ev, OrderEvent):
                self._publish_order(ev)
            elif isinstance(ev, FillEvent):
                e = ev.execution
                recipients = self._order_recipients(e.client_id)
                msg = p.exec_details(-1, self._exec_contract(e), e)
                for s in recipients:
                    s.send(msg)
                reports.append((e, recipients))
            elif isinstance(ev, PositionEvent):
                self._publish_position(ev.position)
                account_touched = True
            elif isinstance(ev, AccountEvent):
                self._publish_account(ev.values)
                account_touched = True
        if account_touched:
            stamp = p.account_update_time(self.clock.now())
            for s in self._ready():
                if s.account_updates:
                    s.send(stamp)
        for e, recipients in reports:
            msg = p.commission_report(e)
            for s in recipients:
                s.send(msg)
        if reports:
            self._publish_pnl()

    def _publish_order(self, ev: OrderEvent) -> None:
        state = ev.order
        r = state.request
        self._allocate_order_ids(r.order_id)
        recipients = self._order_recipients(r.client_id)
        status_msg = p.order_status_of(state)
        open_msg = (
            None if state.status in ("Cancelled", "ApiCancelled") else (self._open_order_msg(state))
        )
        for s in recipients:
            if open_msg is not None:
                s.send(open_msg)
            s.send(status_msg)
        if ev.error_code is not None:
            owner = self._by_client_id.get(r.client_id)
            if owner is not None:
                owner.error(r.order_id, ev.error_code, ev.error_text)

    # --- read-only statistics (the control port's ``orders``/``executions``) -----------

    def orders_held(self) -> list[OrderState]:
        """Every order the exchange holds (working and completed), copies."""
        return self.exchange.open_orders() + self.exchange.completed_orders()

    def executions_held(self) -> list[Execution]:
        """The exchange's executions of the current session day, oldest first."""
        return self.exchange.executions()
