"""The order desk: the one way an order leaves the engine, typed or automatic.

Every order -- a confirmed preview, an exit the auto-trader closes, an entry it opens --
is a :class:`~tui_trader.core.models.SpreadOrderSpec` passed here as a value, with the
SPEC 8 verdict for it when it opens risk. :meth:`OrderDesk.submit` gathers the moment's
facts into a :class:`~tui_trader.core.entry.SendContext` (session state, the legs' quote
ages *now*, breakers and kill switch, the account's mode, whether the latest scan still
backs an entry, whether the journal can be written, IB's what-if warning) and hands both
to :meth:`OrderManager.transmit`, which adds the broker's own facts and applies
:func:`~tui_trader.core.entry.send_problem` -- the single pre-send check -- right before
journaling and placing the order. Nothing is re-priced behind the sender's back: the
order sent is the order passed.

After a send: an opening order's entry snapshot is journaled for the exits (SPEC 9), and
its legs are pinned so their quotes keep streaming while it works. An entry the last scan
has no row for (a vertical picked on the chain screen for a symbol outside the universe)
gets its row from the symbol's own daily bars (``engine.manual_entry``), awaited before the
outcome is said: a cached day costs nothing, a fetch one historical request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from tui_trader.broker.account import AccountView
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.orders import OrderManager, OrderRefused
from tui_trader.broker.session import Session
from tui_trader.core.calendar import ET
from tui_trader.core.entry import SendContext
from tui_trader.core.models import ConnectionState, EventLevel, OrderIntent, SpreadOrderSpec
from tui_trader.core.risk import BreakerState, GateResult
from tui_trader.core.settings import Settings
from tui_trader.engine.actions import Outcome
from tui_trader.engine.events import EventSink, JournalHealth
from tui_trader.engine.exit_monitor import ExitMonitor
from tui_trader.engine.manual_entry import ManualEntry
from tui_trader.engine.universe import Universe
from tui_trader.state.journal import Journal
from tui_trader.state.store import Store


class OrderDesk:
    """Sends and cancels orders (module doc)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        store: Store,
        session: Session,
        orders: OrderManager,
        account: AccountView,
        marketdata: MarketData,
        universe: Universe,
        exit_monitor: ExitMonitor,
        *,
        events: EventSink,
        journal_health: JournalHealth,
        pins_changed: Callable[[], None],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._store = store
        self._session = session
        self._orders = orders
        self._account = account
        self._md = marketdata
        self._universe = universe
        self._exits = exit_monitor
        self._events = events
        self._journal_health = journal_health
        self._pins_changed = pins_changed
        self._clock = clock
        self.manual_entry = ManualEntry(
            settings,
            session,
            universe,
            store,
            today=lambda: self._clock().astimezone(ET).date(),
            sleep=asyncio.sleep,
        )

    def quote_age(self, con_id: int) -> float | None:
        return self._md.quote_age_s(con_id, self._clock())

    def context(
        self, spec: SpreadOrderSpec, *, what_if_warning: str | None = None, manual: bool = False
    ) -> SendContext:
        """The engine's view of this moment for ``spec`` (module doc). ``manual``: the
        trader chose the symbol and legs on the chain screen (issue 13), so no scan signal
        backs it; the price age rule and every other check still apply."""
        session = self._session
        tradable, why = True, ""
        if spec.action == "BUY" and manual:
            stale = self._universe.price_problem(spec.underlying)
            tradable, why = stale is None, stale or ""
        elif spec.action == "BUY":
            row = self._universe.scan_row(spec.underlying)
            if row is None:
                tradable, why = False, "not in the last scan"
            elif not row.tradable or row.direction != spec.direction:
                tradable = False
                why = f"not tradable now (eligible {row.eligible}, direction {row.direction})"
            else:  # issue 12: a price past [scanner] max_price_age_s is no price to trade on
                stale = self._universe.price_problem(spec.underlying)
                tradable, why = stale is None, stale or ""
        return SendContext(
            session_ok=session.state is ConnectionState.CONNECTED and session.is_ready,
            session_state=session.state.value,
            leg_ages_s=tuple(self.quote_age(leg.con_id) for leg in spec.legs),
            stale_quote_s=self._settings.risk.stale_quote_s,
            breakers=self._store.get(BreakerState),
            mode_problem=self._account.mode_problem(),
            tradable=tradable,
            tradable_why=why,
            journal_problem=self._journal_health.problem(),
            what_if_warning=what_if_warning,
        )

    async def submit(
        self,
        spec: SpreadOrderSpec,
        gate: GateResult | None,
        *,
        max_debit: float | None = None,
        what_if_warning: str | None = None,
        manual: bool = False,
    ) -> tuple[Outcome, OrderIntent | None]:
        """Send ``spec`` (module doc): the outcome in words and the SENT intent, or the
        refusal and None when nothing was sent (``manual``: see :meth:`context`)."""
        context = self.context(spec, what_if_warning=what_if_warning, manual=manual)
        try:
            intent = await self._orders.transmit(
                spec, gate=gate, context=context, max_debit=max_debit
            )
        except OrderRefused as exc:
            return Outcome(False, exc.reason), None
        if spec.action == "BUY":
            await self._save_entry(intent, spec)
        self._pins_changed()  # the legs stream as the order's before a chain is released
        self._events(EventLevel.INFO, "order", f"sent {spec.describe()}", intent.intent_id)
        return Outcome(True, f"Sent {spec.describe()} as {intent.intent_id}."), intent

    async def _save_entry(self, intent: OrderIntent, spec: SpreadOrderSpec) -> None:
        """The entry snapshot for SPEC 9 (module doc): the scan row's, else one made from
        the symbol's daily bars; an ERROR event saying why when neither can be had."""
        symbol = spec.underlying
        row = self._universe.scan_row(symbol)
        if row is not None:
            self._exits.save_entry(intent, spec, row, self._universe.spot(symbol))
            return
        manual = self.manual_entry
        price = await manual.price(symbol, manual.chain_spot(symbol))
        if price is None:
            self._exits.no_levels(intent, spec, f"there is no price for {symbol}")
            return
        made, why = await manual.row(symbol, price)
        if made is None:
            self._exits.no_levels(intent, spec, why or "no scan row could be made")
            return
        self._exits.save_entry(intent, spec, made, price)
        self._exits.republish()

    async def cancel(self, intent_id: str, reason: str = "by the user") -> Outcome:
        try:
            intent = await self._orders.cancel(intent_id, reason=reason)
        except OrderRefused as exc:
            return Outcome(False, exc.reason)
        if intent.is_terminal:
            return Outcome(False, f"{intent_id} is already {intent.status.value}.")
        return Outcome(True, f"Cancel requested for {intent_id} ({intent.spec.describe()}).")

    async def cancel_all(self, reason: str) -> tuple[list[str], list[str]]:
        """Ask IB to cancel every working order we journaled: (cancelled ids, failures)."""
        cancelled: list[str] = []
        failed: list[str] = []
        for it in self._journal.intents(active_only=True):
            try:
                await self._orders.cancel(it.intent_id, reason=reason)
                cancelled.append(it.intent_id)
            except OrderRefused as exc:
                failed.append(f"{it.intent_id}: {exc.reason}")
        return cancelled, failed
