"""The order path to IB: what-if, journal-first transmit, tracking, cancel/modify, walking,
and reconciliation after every (re)connect.

The rule everything here serves: **an order is journaled before it is sent, and nothing is
ever sent twice.**

- ``transmit`` checks everything that can refuse an order *first* (connection, stale
  quotes, paper/live mismatch, risk gates, an order already working on the same legs),
  builds the BAG and the order, takes IB's order id, then commits the intent to the
  journal (``orderRef`` = intent id) and only then calls ``placeOrder``. Between the
  journal commit and ``placeOrder`` there is no ``await``: nothing else runs on the loop,
  so the connection cannot change state in between and no other task can observe a
  half-sent intent. A crash in that gap leaves a PENDING_SEND intent that reconciliation
  turns into UNKNOWN -- shown to the user, never resent.
- ``placeOrder`` hands the bytes to the socket at once, unless ib_insync's own throttle
  (45 messages per second) queues them in memory; the intent is SENT either way, and if the
  connection dies before the queue drains, reconciliation finds no trace: UNKNOWN.
- Nothing in this module re-places an order on its own. A walk step *modifies* the working
  order (same order id, same orderRef); IB applies the new limit to the unfilled
  remainder, so only the unfilled quantity is re-priced. ``resync`` only reads IB and
  updates the journal.
- Modify and cancel go only to an order that IB lists as working with our orderRef *and*
  our clientId: re-placing an order id from another clientId would create a second order.
- **Rejections.** IB reports a rejected order as a Cancelled status plus an error (201 and
  IB's reason), in either order. An unrequested Cancelled is therefore held for
  ``reject_grace_s`` (default 0.25 s) so the error that explains it can turn it into
  REJECTED with IB's text; a cancel we asked for is applied at once. The terminal states
  are absorbing, so whichever arrives last cannot undo the first.
- **Fills** are recorded per leg execution; IB's execution of the BAG itself (its combo
  price, no commission) is not stored as a fill -- the intent's average price comes from
  IB's order status -- so summing a spread's fills never double counts. A fill is an event
  ("fill": ``filled n of N @ price``) when its executions make another whole spread, once:
  an execution whose exec id the journal already holds (ib_insync and ``resync`` replay the
  day's executions on every connect) is no event. One that happened while the app was down
  or disconnected is, stamped with its own execution time and saying it was received late.
- **Reconciliation findings** are told once: a discrepancy ``resync`` already reported (its
  finding's key is remembered in the journal, ``reconcile/told/<key>``) is not reported
  again on the next reconnect or restart.
- IB's 202 "Order Canceled" confirms a cancel: after one we asked for it is no error (not
  recorded on the intent; :meth:`OrderManager.cancel_requested` lets the status bar tell);
  for an order nobody here cancelled it is a warning.
- **Walking** (SPEC 6, :func:`tui_trader.core.pricing.next_walk_action`): one task per
  working order, time from the injected ``clock`` and ``sleep``; the walk re-prices from
  the legs' current quotes (``quotes``: conId -> (bid, ask); by default ib_insync's
  tickers), never past the natural far side nor ``max_debit`` (default
  ``max_spread_cost / multiplier``), and cancels after ``walk_max_steps``. Each step is
  journaled before its modify is sent and shown in the Log (``walk 2/5 BUY MSFT ...: 3.90
  -> 4.00``; the final cancel carries the walk's reason). Where a walk starts (the placed
  limit, the natural quotes then, ``max_debit``) is journaled under ``walk/<intent id>``:
  an order placed at a limit of its own walks from there (``pricing.walk_start``), and an
  engine that finds a working order of ours after a reconnect or a restart resumes its
  walk from the journaled step. No step is used up while IB is not
  connected or does not list the order (said once per walk); an order IB lists under
  another clientId cannot be walked from this session, and the Log says so.
- IB's "no value" markers (1.7976931348623157e308, NaN, empty strings) in a what-if answer
  become None, never numbers; an answer that never comes becomes a warning after
  ``what_if_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from ib_insync import IB, Contract, Trade
from ib_insync import Fill as IbFill
from ib_insync import OrderState as IbOrderState
from loguru import logger

from tui_trader.broker.account import (
    account_mode_problem,
    realized_pnl,
    ticker_quotes,
    trading_account,
)
from tui_trader.broker.contracts import combo_contract, combo_limit, combo_order
from tui_trader.broker.events import Subscriptions
from tui_trader.broker.order_reports import (
    CompletedNotes,
    WhatIfPreview,
    combo_price,
    fill_of,
    preview_from_state,
    snapshot_of,
)
from tui_trader.core.calendar import ET
from tui_trader.core.entry import SendContext, send_problem
from tui_trader.core.models import (
    EventLevel,
    Fill,
    IntentStatus,
    JournalEvent,
    OrderIntent,
    SpreadOrderSpec,
    is_our_ref,
    status_from_ib,
)
from tui_trader.core.pricing import (
    OrderPrice,
    PriceRefusal,
    WalkKind,
    WalkState,
    natural_quotes,
    next_walk_action,
    start_walk,
)
from tui_trader.core.risk import GateResult
from tui_trader.core.settings import ExecutionSettings, RiskSettings, SelectionSettings
from tui_trader.state.journal import Journal, JournalError
from tui_trader.state.reconcile import ReconcileResult, filled_from_fills, reconcile, untold
from tui_trader.state.store import Orders, Store, WalkInfo

QuoteSource = Callable[[int], tuple[float, float] | None]
Sleep = Callable[[float], Awaitable[object]]

#: Error codes on an order id that do not end the order (warnings, cancel confirmations,
#: refused cancels), after ib_insync's own warning list.
NON_FATAL_ORDER_ERRORS = frozenset({161, 202, 399, 404, 434, 492, 10147, 10148, 10167})
_DEAD = frozenset({"Cancelled", "ApiCancelled", "Inactive"})
_DONE = frozenset({"Filled", "Cancelled", "ApiCancelled"})
#: How long terminal intents stay in the store's Orders slice.
RECENT = timedelta(hours=24)
#: IB's confirmation of a cancel.
ORDER_CANCELED = 202
#: Journal key prefix of a reconciliation finding already told (reconcile.untold).
_TOLD_KEY = "reconcile/told/"


class OrderRefused(Exception):
    """Nothing was sent; ``reason`` is the sentence for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --------------------------------------------------------------------------- the manager


@dataclass(slots=True)
class _Walk:
    task: asyncio.Task[None]
    state: WalkState
    max_debit: float | None
    missing_said: bool = False  # "IB does not list the order" was shown for this walk


#: Journal key prefix of where a walk started (limit, natural quotes, debit bound).
_WALK_KEY = "walk/"


def _walk_name(spec: SpreadOrderSpec) -> str:
    """``BUY MSFT 20261224 510/530 C``: the order in a walk event, without its first limit."""
    lo, sh = spec.long_leg, spec.short_leg
    return f"{spec.action} {spec.underlying} {lo.expiry} {lo.strike:g}/{sh.strike:g} {lo.right}"


def _shown(limit: float | None) -> str:
    return "MKT" if limit is None else f"{limit:.2f}"


def _kv_number(value: object) -> float | None:
    """A journaled number; None when absent or not a number."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _kv_price(value: object) -> float:
    """A journaled quote; NaN (unusable, as a missing quote is) when absent."""
    number = _kv_number(value)
    return math.nan if number is None else number


class OrderManager:
    """Sends, tracks, modifies, walks and reconciles combo orders (module doc).

    Subscribes to the IB object's events at construction; the same ``IB`` may reconnect
    (events survive a reconnect), after which :meth:`resync` must run.
    """

    def __init__(
        self,
        ib: IB,
        journal: Journal,
        *,
        clock: Callable[[], datetime],
        store: Store | None = None,
        execution: ExecutionSettings,
        risk: RiskSettings,
        selection: SelectionSettings,
        quotes: QuoteSource | None = None,
        sleep: Sleep = asyncio.sleep,
        what_if_timeout_s: float = 5.0,
        reject_grace_s: float = 0.25,
    ) -> None:
        self._ib = ib
        self._journal = journal
        self._clock = clock
        self._store = store
        self._execution = execution
        self._risk = risk
        self._selection = selection
        self._quotes = quotes or self._ticker_quote
        self._sleep = sleep
        self._what_if_timeout_s = what_if_timeout_s
        self._reject_grace_s = reject_grace_s
        self._cancel_requested: set[str] = set()
        self._cancel_order_ids: set[int] = set()  # IB order ids we asked to cancel
        self._pending_cancel: dict[str, asyncio.TimerHandle] = {}
        self._walks: dict[str, _Walk] = {}
        self._max_debit: dict[str, float | None] = {}
        self._events = Subscriptions(
            [
                (ib.orderStatusEvent, self._on_status),
                (ib.execDetailsEvent, self._on_exec),
                (ib.commissionReportEvent, self._on_commission),
                (ib.errorEvent, self._on_error),
            ]
        )
        self._notes = CompletedNotes(ib)
        self.start()

    # -- wiring ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen to IB's order events (idempotent)."""
        self._events.connect()
        self._notes.install()

    async def close(self) -> None:
        """Stop listening and stop every walk (working orders stay working at IB)."""
        self._events.disconnect()
        self._notes.remove()
        for handle in self._pending_cancel.values():
            handle.cancel()
        self._pending_cancel.clear()
        walks = list(self._walks.values())
        for w in walks:
            w.task.cancel()
        for w in walks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await w.task
        self._walks.clear()

    @property
    def connected(self) -> bool:
        return self._ib.isConnected()

    # -- what-if --------------------------------------------------------------------------

    async def what_if(self, spec: SpreadOrderSpec) -> WhatIfPreview:
        """IB's margin/commission preview of ``spec`` (nothing is placed).

        Never raises for IB's answers: no connection, an error, a timeout or unset values
        come back as a preview whose ``warning`` says why numbers are missing. The store's
        Preview slice is the engine's preview desk's to write (one writer per slice): it
        shows this answer when it is for the order on screen.
        """
        return await self._what_if(spec)

    async def _what_if(self, spec: SpreadOrderSpec) -> WhatIfPreview:
        ib = self._ib
        if not ib.isConnected():
            return WhatIfPreview(warning="Not connected to IB: no what-if preview.")
        account = trading_account(ib)
        if account is None:
            return WhatIfPreview(warning="IB reports no single account: no what-if preview.")
        try:
            contract = combo_contract(spec)
            order = combo_order(
                spec, account=account, order_ref="", combo_tick=self._execution.combo_tick
            )
        except ValueError as exc:
            return WhatIfPreview(warning=f"Cannot build the order: {exc}.")
        errors: list[str] = []

        def on_error(req_id: int, code: int, text: str, c: Contract | None) -> None:
            if c is contract:
                errors.append(f"IB error {code}: {text}")

        ib.errorEvent += on_error
        try:
            answer: Any = await asyncio.wait_for(
                ib.whatIfOrderAsync(contract, order), self._what_if_timeout_s
            )
        except TimeoutError:
            return WhatIfPreview(
                warning=f"IB did not answer the what-if within {self._what_if_timeout_s:g} s."
            )
        except ConnectionError as exc:
            return WhatIfPreview(warning=f"The connection dropped during the what-if: {exc}.")
        finally:
            ib.errorEvent -= on_error
        if isinstance(answer, IbOrderState):
            return preview_from_state(answer)
        why = "; ".join(errors) or "IB refused the what-if without a reason"
        return WhatIfPreview(warning=why)

    # -- transmit -------------------------------------------------------------------------

    def refusal(
        self, spec: SpreadOrderSpec, *, gate: GateResult | None, context: SendContext
    ) -> str | None:
        """Why ``spec`` must not be sent now, or None: :func:`core.entry.send_problem`, the
        one pre-send check, with what only the broker knows added to the engine's
        ``context`` -- the connection itself, the account's mode (SPEC 6), the configured
        mode and cost cap, and an active order on the same legs (an UNKNOWN one included:
        until the user has resolved it, a second order could duplicate it)."""
        ex, sel = self._execution, self._selection
        legs = (spec.long_leg.con_id, spec.short_leg.con_id)
        same = next(
            (
                (it.intent_id, it.status.value)
                for it in self._journal.intents(active_only=True)
                if (it.spec.long_leg.con_id, it.spec.short_leg.con_id) == legs
            ),
            None,
        )
        connected = self._ib.isConnected()
        full = replace(
            context,
            session_ok=context.session_ok and connected,
            session_state=(
                "DOWN"
                if not connected and context.session_state == "CONNECTED"
                else context.session_state
            ),
            mode_problem=context.mode_problem or account_mode_problem(self._ib, ex.mode),
            execution_mode=ex.mode,
            same_legs_order=same,
            max_spread_cost=sel.max_spread_cost,
            multiplier=sel.multiplier,
        )
        return send_problem(spec, gate, full)

    async def transmit(
        self,
        spec: SpreadOrderSpec,
        *,
        gate: GateResult | None = None,
        context: SendContext,
        max_debit: float | None = None,
    ) -> OrderIntent:
        """Journal ``spec`` and send it; the SENT intent, or :class:`OrderRefused` when
        nothing was sent (see :meth:`refusal`: every order, typed or automatic, passes
        that one check here, at the last moment before the wire).

        ``gate`` is required (and must pass with enough contracts) for an opening BUY;
        ``context`` is the engine's view of the moment (session, quote ages, breakers);
        ``max_debit`` (per share) bounds a BUY's walk, default max_spread_cost/multiplier.
        An off-grid limit is put on ``combo_tick`` (toward our side) before it is journaled,
        so the journal holds exactly what was sent. A journal failure *after* placeOrder
        propagates as is: the order is at IB and reconciliation will find it.
        """
        problem = self.refusal(spec, gate=gate, context=context)
        if problem is not None:
            kind = "journal" if context.journal_problem is not None else "order"
            self._event(EventLevel.WARNING, kind, f"refused {spec.describe()}: {problem}")
            raise OrderRefused(problem)
        ib = self._ib
        account = trading_account(ib)
        assert account is not None  # account_mode_problem refuses otherwise
        try:
            sent_limit = combo_limit(spec, spec.limit_price, self._execution.combo_tick)
            if sent_limit != spec.limit_price:
                spec = SpreadOrderSpec.model_validate(
                    {**spec.model_dump(), "limit_price": sent_limit}
                )
            contract = combo_contract(spec)
            order = combo_order(
                spec, account=account, order_ref="", combo_tick=self._execution.combo_tick
            )
            order_id = ib.client.getReqId()
        except (ValueError, ConnectionError) as exc:
            self._event(EventLevel.WARNING, "order", f"refused {spec.describe()}: {exc}")
            raise OrderRefused(f"Nothing was sent: {exc}.") from exc
        order.orderId = order_id
        # --- journal first, then the wire; no await from here to placeOrder -------------
        try:
            intent = self._journal.record_intent(spec, self._clock())
        except Exception as exc:
            logger.exception("journaling {} failed", spec.describe())
            raise OrderRefused(
                f"The journal could not record the order ({exc}); nothing was sent."
            ) from exc
        order.orderRef = intent.intent_id
        try:
            ib.placeOrder(contract, order)
        except Exception as exc:
            self._journal.update_from_ib(
                intent.intent_id,
                self._clock(),
                status=IntentStatus.UNKNOWN,
                error_text=f"placeOrder failed: {exc}",
            )
            self._publish()
            raise OrderRefused(
                f"placeOrder failed ({exc}); {intent.intent_id} is UNKNOWN: check TWS before "
                "sending it again."
            ) from exc
        intent = self._journal.mark_sent(intent.intent_id, order_id, self._clock())
        # --------------------------------------------------------------------------------
        if spec.action == "BUY":
            cap = self._selection.max_spread_cost / self._selection.multiplier
            self._max_debit[intent.intent_id] = cap if max_debit is None else min(cap, max_debit)
        self._publish()
        self._start_walk(intent, first=True)
        return intent

    # -- cancel / modify ------------------------------------------------------------------

    def _live_trade(self, intent: OrderIntent) -> Trade | None:
        """IB's working order for ``intent`` placed by this clientId; None when IB lists
        none; OrderRefused when it belongs to another clientId."""
        mine = self._ib.client.clientId
        found = [t for t in self._ib.openTrades() if t.order.orderRef == intent.intent_id]
        ours = [t for t in found if t.order.clientId == mine]
        if ours:
            return ours[0]
        if found:
            raise OrderRefused(
                f"{intent.intent_id} was placed by clientId {found[0].order.clientId}; this "
                f"session is clientId {mine}, which IB does not let change it. Use TWS."
            )
        return None

    def _intent_or_refuse(self, intent_id: str) -> OrderIntent:
        intent = self._journal.intent(intent_id)
        if intent is None:
            raise OrderRefused(f"No order {intent_id} in the journal.")
        return intent

    async def cancel(self, intent_id: str, *, reason: str | None = None) -> OrderIntent:
        """Ask IB to cancel the working order of ``intent_id`` (its walk stops).

        A terminal intent is returned unchanged. Refused (OrderRefused) when not connected
        or IB lists no working order of ours with that ref (an UNKNOWN intent is the
        user's to resolve in TWS).
        """
        intent = self._intent_or_refuse(intent_id)
        if intent.is_terminal:
            return intent
        if not self._ib.isConnected():
            raise OrderRefused("Not connected to IB: cannot cancel.")
        trade = self._live_trade(intent)
        if trade is None:
            raise OrderRefused(
                f"IB lists no working order {intent_id} ({intent.status.value}); nothing to cancel."
            )
        self._stop_walk(intent_id)
        self._cancel_requested.add(intent_id)
        self._cancel_order_ids.add(trade.order.orderId)
        self._ib.cancelOrder(trade.order)
        text = f"cancel requested{f': {reason}' if reason else ''}"
        self._event(EventLevel.INFO, "order", text, intent_id)
        return self._journal.intent(intent_id) or intent

    async def modify(self, intent_id: str, limit: float) -> OrderIntent:
        """Move the working order's limit to ``limit`` (per share, put on the tick grid
        toward our side); journaled before it is sent. A BUY stays a positive debit within
        max_spread_cost. A manual modify ends the order's walk: the user has taken over."""
        intent = self._intent_or_refuse(intent_id)
        if intent.is_terminal:
            raise OrderRefused(f"{intent_id} is {intent.status.value}: nothing to modify.")
        spec = intent.spec
        if spec.order_type != "LMT":
            raise OrderRefused("A market order has no limit to modify.")
        try:
            price = combo_limit(spec, limit, self._execution.combo_tick)
        except ValueError as exc:
            raise OrderRefused(str(exc)) from exc
        assert price is not None
        mult = self._selection.multiplier
        if spec.action == "BUY" and price * mult > self._selection.max_spread_cost + 1e-9:
            raise OrderRefused(
                f"A debit of {price:.2f} costs {price * mult:,.2f} per spread, above "
                f"max_spread_cost {self._selection.max_spread_cost:,.2f}."
            )
        if not self._ib.isConnected():
            raise OrderRefused("Not connected to IB: cannot modify.")
        trade = self._live_trade(intent)
        if trade is None:
            raise OrderRefused(f"IB lists no working order {intent_id}; nothing to modify.")
        self._stop_walk(intent_id)  # the user has taken the price over
        after = self._journal.set_walk_step(intent_id, intent.walk_step, price, self._clock())
        if after.is_terminal:
            return after
        self._send_modify(after, trade, price)
        self._event(EventLevel.INFO, "order", f"limit modified to {price:.2f}", intent_id)
        return after

    def _send_modify(self, intent: OrderIntent, trade: Trade, limit: float) -> None:
        account = trade.order.account or trading_account(self._ib) or ""
        order = combo_order(
            intent.spec,
            account=account,
            order_ref=intent.intent_id,
            combo_tick=self._execution.combo_tick,
            limit=limit,
        )
        order.orderId = trade.order.orderId
        order.permId = trade.order.permId
        self._ib.placeOrder(combo_contract(intent.spec), order)
        self._publish()

    # -- walking --------------------------------------------------------------------------

    def _ticker_quote(self, con_id: int) -> tuple[float, float] | None:
        return ticker_quotes(self._ib.tickers()).get(con_id)

    def _natural(self, spec: SpreadOrderSpec) -> tuple[float, float]:
        """The combo's natural (bid, ask) from the legs' quotes; NaNs when unusable."""
        lq = self._quotes(spec.long_leg.con_id)
        sq = self._quotes(spec.short_leg.con_id)
        if lq is None or sq is None:
            return math.nan, math.nan
        nat = natural_quotes(lq[0], lq[1], sq[0], sq[1])
        if isinstance(nat, PriceRefusal):
            return math.nan, math.nan
        return nat.bid, nat.ask

    def _start_walk(self, intent: OrderIntent, *, first: bool) -> None:
        """Start walking ``intent`` unless it is already walked or done.

        ``first``: just placed; where it starts (its limit, today's natural quotes and the
        debit bound) is kept in the journal (``walk/<intent id>``), so that a later engine
        resumes the same walk from the journaled step (``first`` False).
        """
        if intent.intent_id in self._walks or intent.is_terminal:
            return
        spec, ex = intent.spec, self._execution
        key = f"{_WALK_KEY}{intent.intent_id}"
        if first:
            nb, na = self._natural(spec)
            limit = intent.working_limit if spec.order_type == "LMT" else None
            max_debit = self._max_debit.get(intent.intent_id)
            self._save_walk_start(key, limit, nb, na, max_debit)
        else:  # resumed: where it started, as journaled (an older journal has none)
            saved = self._journal.get_kv(key)
            saved = saved if isinstance(saved, dict) else {}
            nb, na = _kv_price(saved.get("bid")), _kv_price(saved.get("ask"))
            limit = _kv_number(saved.get("limit"))
            max_debit = self._max_debit.get(intent.intent_id)
            if max_debit is None:
                max_debit = _kv_number(saved.get("max_debit"))
        if max_debit is None and spec.action == "BUY":
            max_debit = self._selection.max_spread_cost / self._selection.multiplier
        placed = OrderPrice(spec.action, spec.order_type, limit, nb, na)
        state = start_walk(placed, spec.quantity, self._clock(), execution=ex, max_debit=max_debit)
        if not first:
            state = replace(state, step=intent.walk_step, limit=intent.working_limit)
        task = asyncio.get_running_loop().create_task(
            self._walk(intent.intent_id), name=f"walk-{intent.intent_id}"
        )
        self._walks[intent.intent_id] = _Walk(task, state, max_debit)
        if not first:
            self._store_event(
                EventLevel.INFO,
                f"walk {state.step}/{ex.walk_max_steps} {_walk_name(spec)}: resumed at "
                f"{_shown(state.limit)}",
                intent.intent_id,
            )
        self._publish()

    def _save_walk_start(
        self,
        key: str,
        limit: float | None,
        natural_bid: float,
        natural_ask: float,
        max_debit: float | None,
    ) -> None:
        """Journal where a walk starts; a failure only costs a restart's exactness."""
        record = {
            "limit": limit,
            "bid": natural_bid if math.isfinite(natural_bid) else None,
            "ask": natural_ask if math.isfinite(natural_ask) else None,
            "max_debit": max_debit,
        }
        try:
            self._journal.put_kv(key, record)
        except Exception:
            logger.exception("journaling the walk start {} failed", key)

    def _stop_walk(self, intent_id: str) -> None:
        walk = self._walks.pop(intent_id, None)
        if walk is not None and walk.task is not asyncio.current_task():
            walk.task.cancel()
        self._publish()

    async def _walk(self, intent_id: str) -> None:
        try:
            await self._walk_loop(intent_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("walking {} failed; the order keeps its last limit", intent_id)
            self._event(
                EventLevel.ERROR,
                "order",
                "walking failed; the order keeps its last limit",
                intent_id,
            )
        finally:
            walk = self._walks.get(intent_id)
            if walk is not None and walk.task is asyncio.current_task():
                del self._walks[intent_id]
                self._publish()

    def _walk_trade(self, walk: _Walk, intent: OrderIntent) -> Trade | None:
        """IB's working order for a due step; None (said once per walk) while IB does not
        list it, e.g. just after a reconnect. OrderRefused: another clientId's order."""
        trade = self._live_trade(intent)
        if trade is not None and trade.orderStatus.status not in _DONE:
            walk.missing_said = False
            return trade
        if not walk.missing_said:
            walk.missing_said = True
            self._store_event(
                EventLevel.WARNING,
                f"walk {_walk_name(intent.spec)}: IB does not list the order as working; "
                f"the step waits {self._execution.walk_interval_s:g} s",
                intent.intent_id,
            )
        return None

    async def _walk_loop(self, intent_id: str) -> None:
        ex = self._execution
        interval = timedelta(seconds=ex.walk_interval_s)
        of = f"/{ex.walk_max_steps}"
        while True:
            walk = self._walks.get(intent_id)
            if walk is None:
                return
            delay = (walk.state.last_step_at + interval - self._clock()).total_seconds()
            await self._sleep(max(0.0, delay))
            walk = self._walks.get(intent_id)
            intent = self._journal.intent(intent_id)
            if walk is None or intent is None or intent.is_terminal:
                return
            if not self._ib.isConnected():
                # No step is consumed while IB cannot be told; try again an interval later.
                walk.state = replace(walk.state, last_step_at=self._clock())
                continue
            nb, na = self._natural(intent.spec)
            previous = walk.state
            action = next_walk_action(
                previous, self._clock(), nb, na, intent.filled, ex, max_debit=walk.max_debit
            )
            if action.kind is WalkKind.DONE:
                return
            name = _walk_name(intent.spec)
            if action.kind is WalkKind.WAIT:
                walk.state = action.state
                if action.state.step != previous.step:
                    self._journal.set_walk_step(
                        intent_id, action.state.step, intent.working_limit, self._clock()
                    )
                    self._event(
                        EventLevel.INFO,
                        "order",
                        f"walk {action.state.step}{of} {name}: kept "
                        f"{_shown(intent.working_limit)} ({action.reason})",
                        intent_id,
                    )
                    self._publish()
                continue
            try:
                trade = self._walk_trade(walk, intent)
            except OrderRefused as exc:
                self._event(EventLevel.WARNING, "order", f"walk stopped: {exc.reason}", intent_id)
                return
            if trade is None:
                # Not listed (not acknowledged yet, just done, or a reconnect is re-reading
                # the orders): this step is not taken; look again an interval later.
                walk.state = replace(previous, last_step_at=self._clock())
                continue
            if action.kind is WalkKind.CANCEL:
                reason = f"walk {previous.step}{of} {name} ended: {action.reason}"
                try:
                    await self.cancel(intent_id, reason=reason)
                except OrderRefused as exc:
                    self._event(
                        EventLevel.WARNING, "order", f"walk cancel: {exc.reason}", intent_id
                    )
                return
            # REPLACE: journal the step, then modify the working order.
            assert action.limit is not None
            walk.state = action.state
            after = self._journal.set_walk_step(
                intent_id, action.state.step, action.limit, self._clock()
            )
            if after.is_terminal:
                return
            self._send_modify(after, trade, action.limit)
            self._store_event(
                EventLevel.INFO,
                f"walk {action.state.step}{of} {name}: {_shown(intent.working_limit)} -> "
                f"{_shown(action.limit)}",
                intent_id,
            )

    def walking(self) -> dict[str, WalkState]:
        """The walk state of every order being walked, by intent id."""
        return {iid: w.state for iid, w in self._walks.items()}

    # -- IB events ------------------------------------------------------------------------

    def _intent_id_of(self, trade: Trade) -> str | None:
        ref = trade.order.orderRef
        if not is_our_ref(ref):
            return None
        return ref if self._journal.intent(ref) is not None else None

    def _on_status(self, trade: Trade) -> None:
        try:
            self._handle_status(trade)
        except Exception:
            logger.exception("order status for {} not recorded", trade.order.orderRef)

    def _handle_status(self, trade: Trade) -> None:
        intent_id = self._intent_id_of(trade)
        if intent_id is None:
            return
        st = trade.orderStatus
        observed = status_from_ib(st.status, st.filled)
        if observed is None:
            logger.warning("{}: unknown IB order status {!r}", intent_id, st.status)
        unrequested_cancel = (
            observed is IntentStatus.CANCELLED and intent_id not in self._cancel_requested
        )
        if unrequested_cancel and self._reject_grace_s > 0:
            # Maybe a rejection whose reason (an IB error) is on its way: hold the status.
            self._apply(intent_id, trade, status=None)
            if intent_id not in self._pending_cancel:
                loop = asyncio.get_running_loop()
                self._pending_cancel[intent_id] = loop.call_later(
                    self._reject_grace_s, self._apply_held_cancel, intent_id, trade
                )
            return
        self._apply(intent_id, trade, status=observed)

    def _apply_held_cancel(self, intent_id: str, trade: Trade) -> None:
        self._pending_cancel.pop(intent_id, None)
        try:
            self._apply(intent_id, trade, status=IntentStatus.CANCELLED)
        except Exception:
            logger.exception("cancel of {} not recorded", intent_id)

    def _apply(
        self,
        intent_id: str,
        trade: Trade,
        *,
        status: IntentStatus | None,
        error_code: int | None = None,
        error_text: str | None = None,
    ) -> OrderIntent:
        st = trade.orderStatus
        before = self._journal.intent(intent_id)
        after = self._journal.update_from_ib(
            intent_id,
            self._clock(),
            status=status,
            order_id=trade.order.orderId or st.orderId or None,
            perm_id=trade.order.permId or st.permId or None,
            filled=st.filled,
            avg_fill_price=st.avgFillPrice if st.filled > 0 else None,
            error_code=error_code,
            error_text=error_text,
        )
        if before is not None and after.status != before.status:
            self._store_event(
                EventLevel.WARNING if after.status is IntentStatus.REJECTED else EventLevel.INFO,
                f"{before.status.value} -> {after.status.value}"
                + (f" ({error_text})" if error_text else ""),
                intent_id,
            )
            if after.is_terminal:
                self._cancel_requested.discard(intent_id)
                self._stop_walk(intent_id)
                self._max_debit.pop(intent_id, None)
        self._publish()
        return after

    def _on_error(self, req_id: int, code: int, text: str, contract: Contract | None) -> None:
        try:
            self._handle_error(req_id, code, text)
        except Exception:
            logger.exception("IB error {} on {} not recorded", code, req_id)

    def _handle_error(self, req_id: int, code: int, text: str) -> None:
        if req_id <= 0:
            return
        mine = self._ib.client.clientId
        trade = next(
            (
                t
                for t in self._ib.trades()
                if t.order.orderId == req_id and t.order.clientId == mine
            ),
            None,
        )
        if trade is None:
            return
        intent_id = self._intent_id_of(trade)
        if intent_id is None:
            return
        if code == ORDER_CANCELED:
            if self.cancel_requested(req_id):
                logger.debug("{}: IB confirms the cancel we asked for ({})", intent_id, text)
                return  # a confirmation: the status change says it all, no error
            self._store_event(
                EventLevel.WARNING, f"IB cancelled an order we did not: {code} {text}", intent_id
            )
        fatal = code not in NON_FATAL_ORDER_ERRORS and not 2100 <= code < 2200
        dead = trade.orderStatus.status in _DEAD
        if fatal and dead and intent_id not in self._cancel_requested:
            held = self._pending_cancel.pop(intent_id, None)
            if held is not None:
                held.cancel()
            self._apply(
                intent_id, trade, status=IntentStatus.REJECTED, error_code=code, error_text=text
            )
            return
        self._apply(intent_id, trade, status=None, error_code=code, error_text=text)

    def cancel_requested(self, order_id: int) -> bool:
        """Whether this session asked IB to cancel order ``order_id`` (of this clientId):
        IB's 202 for it is then a confirmation, not an error."""
        return order_id in self._cancel_order_ids

    def foreign_cancel(self, code: int, order_id: int) -> bool:
        """Whether IB error ``code`` on ``order_id`` is a 202 "Order Canceled" for an order
        this session did not ask to cancel: worth a warning, where ours is a confirmation."""
        return code == ORDER_CANCELED and not self.cancel_requested(order_id)

    def _on_exec(self, trade: Trade, fill: IbFill) -> None:
        try:
            ref = fill.execution.orderRef or trade.order.orderRef
            if not is_our_ref(ref):
                return
            f = fill_of(fill, intent_id=None, commission=None)
            if f is None:
                return
            intent = self._journal.intent_by_order_ref(ref)
            before = self._units(intent)
            if self._journal.add_fill(f.model_copy(update={"order_ref": ref})) and intent:
                self._fill_event(intent, before, [f], late=False)
            self._publish()
        except Exception:
            logger.exception("execution {} not recorded", fill.execution.execId)

    def _units(self, intent: OrderIntent | None) -> int:
        """Whole spreads the journaled executions of ``intent`` make."""
        if intent is None:
            return 0
        return filled_from_fills(intent.spec, self._journal.fills(intent.intent_id))

    def _fill_event(
        self, intent: OrderIntent, before: int, new: Sequence[Fill], *, late: bool
    ) -> None:
        """One "fill" event when the executions ``new`` (not journaled before) make more
        whole spreads than the ``before`` the journal had; stamped with their execution
        time. ``late``: they reached us on a (re)connect, not as they happened."""
        fills = self._journal.fills(intent.intent_id)
        units = filled_from_fills(intent.spec, fills)
        if units <= before or not new:
            return
        spec = intent.spec
        price = combo_price(spec, fills)
        avg = "" if price is None else f" @ {price:.2f}"
        at = max(f.time for f in new)
        text = f"filled {units} of {spec.quantity}{avg}: {spec.describe()}"
        if late:
            text += f" (received late: executed {at.astimezone(ET):%H:%M:%S} ET)"
        self._event(EventLevel.INFO, "fill", text, intent.intent_id, at=at)

    def _on_commission(self, trade: Trade, fill: IbFill, report: Any) -> None:
        try:
            ref = fill.execution.orderRef or trade.order.orderRef
            if not is_our_ref(ref):
                return
            if self._journal.set_commission(fill.execution.execId, report.commission):
                intent = self._journal.intent_by_order_ref(ref)
                if intent is not None:
                    self._maybe_realized(intent)
                self._publish()
        except Exception:
            logger.exception("commission for {} not recorded", fill.execution.execId)

    def _maybe_realized(self, intent: OrderIntent) -> None:
        """Record a filled close's realized P&L once all its commissions are known."""
        if intent.spec.action != "SELL" or intent.status is not IntentStatus.FILLED:
            return
        key = f"realized_pnl/{intent.intent_id}"
        if self._journal.get_kv(key) is not None:
            return
        value = realized_pnl(self._journal, intent, self._selection.multiplier)
        if value is None:
            return
        self._journal.put_kv(key, round(value, 6))
        self._event(
            EventLevel.INFO,
            "pnl",
            f"closed {intent.spec.describe()}: realized P&L {value:+,.2f}",
            intent.intent_id,
        )

    # -- reconciliation -------------------------------------------------------------------

    async def resync(self, now: datetime | None = None) -> ReconcileResult:
        """Read IB's open and completed orders and today's executions, reconcile them with
        the journal by orderRef and apply the result; then resume the walks of working
        orders. Never sends an order. Hook for the session's ready callback."""
        ib = self._ib
        if not ib.isConnected():
            raise OrderRefused("Not connected to IB: cannot reconcile.")
        open_trades = await ib.reqAllOpenOrdersAsync()
        completed = await ib.reqCompletedOrdersAsync(apiOnly=False)
        ib_fills = await ib.reqExecutionsAsync()
        when = self._clock() if now is None else now
        reports = {
            f.commissionReport.execId: f.commissionReport.commission
            for f in ib.fills()
            if f.commissionReport.execId
        }
        snapshots = [snapshot_of(t, completed=False) for t in open_trades]
        notes = self._notes.by_perm_id
        snapshots += [
            snapshot_of(t, completed=True, fills=ib_fills, note=notes.get(t.order.permId))
            for t in completed
        ]
        fills: list[Fill] = []
        for f in ib_fills:
            commission = reports.get(f.execution.execId)
            if f.commissionReport.execId == f.execution.execId:
                commission = f.commissionReport.commission
            core = fill_of(f, intent_id=None, commission=commission)
            if core is not None:
                fills.append(core)  # reconcile keeps ours, reports orphans, counts the rest
        intents = self._journal.intents()
        result = untold(reconcile(intents, snapshots, fills, when), self._told)
        ours = {f.intent_id for f in result.fills if f.intent_id is not None}
        known = {iid: self._journal.fills(iid) for iid in sorted(ours)}
        changed = self._journal.apply_reconcile(result, when)
        for finding in result.findings:
            if finding.key is not None:
                self._journal.put_kv(_TOLD_KEY + finding.key, when.isoformat())
            if self._store is not None:
                self._store.add_event(finding.to_event(when))
        self._late_fill_events(result, known)
        for intent in changed:
            if intent.is_terminal:
                self._stop_walk(intent.intent_id)
                self._maybe_realized(intent)
        self._publish()
        self._resume_walks()
        return result

    def _told(self, key: str) -> bool:
        """Whether a reconciliation finding with ``key`` was already told (module doc)."""
        return self._journal.get_kv(_TOLD_KEY + key) is not None

    def _late_fill_events(self, result: ReconcileResult, known: dict[str, list[Fill]]) -> None:
        """A fill event for each intent whose executions ``resync`` journaled for the first
        time (``known``: what the journal held before), at their own execution time."""
        for iid, had in known.items():
            intent = self._journal.intent(iid)
            if intent is None:
                continue
            seen = {f.exec_id for f in had}
            new = [f for f in result.fills if f.intent_id == iid and f.exec_id not in seen]
            self._fill_event(intent, filled_from_fills(intent.spec, had), new, late=True)

    def _resume_walks(self) -> None:
        """Walk every working order of ours that IB lists for this clientId and that is not
        walked yet (after a restart: from its journaled step). One IB lists under another
        clientId cannot be changed from this session: said, not walked."""
        for intent in self._journal.intents(active_only=True):
            if intent.intent_id in self._walks or intent.status not in (
                IntentStatus.WORKING,
                IntentStatus.PARTIALLY_FILLED,
            ):
                continue
            try:
                trade = self._live_trade(intent)
            except OrderRefused as exc:
                self._event(
                    EventLevel.WARNING, "order", f"not walked: {exc.reason}", intent.intent_id
                )
                continue
            if trade is not None:
                self._start_walk(intent, first=False)

    # -- store ----------------------------------------------------------------------------

    def _event(
        self,
        level: EventLevel,
        kind: str,
        text: str,
        intent_id: str | None = None,
        *,
        at: datetime | None = None,
    ) -> None:
        """Journal and show an event, at ``at`` (default now: when it happened)."""
        when = self._clock() if at is None else at
        try:
            event = self._journal.log_event(level, kind, text, when, intent_id=intent_id)
        except JournalError:  # shown all the same: the journal's own trouble is said once
            event = JournalEvent(time=when, level=level, kind=kind, text=text, intent_id=intent_id)
        if self._store is not None:
            self._store.add_event(event)

    def _store_event(self, level: EventLevel, text: str, intent_id: str) -> None:
        """Show an event the journal has already logged."""
        if self._store is not None:
            self._store.add_event(
                JournalEvent(
                    time=self._clock(), level=level, kind="order", text=text, intent_id=intent_id
                )
            )

    def _publish(self) -> None:
        if self._store is None:
            return
        now = self._clock()
        intents = tuple(
            i for i in self._journal.intents() if not i.is_terminal or now - i.updated_at <= RECENT
        )
        ex = self._execution
        walking = tuple(
            WalkInfo(
                intent_id=iid,
                step=w.state.step,
                max_steps=ex.walk_max_steps,
                limit=w.state.limit,
                next_at=w.state.last_step_at + timedelta(seconds=ex.walk_interval_s),
            )
            for iid, w in sorted(self._walks.items())
        )
        current = self._store.get(Orders)
        if current.intents != intents or current.walking != walking:
            self._store.set(Orders, Orders(intents, walking, now))


__all__ = ["NON_FATAL_ORDER_ERRORS", "OrderManager", "OrderRefused"]
