"""SPEC 13's events turned into alerts, by watching the store the engine already writes.

Why the store: every event SPEC 13 names is already a store change (an order's status in
``Orders``, the kill switch and breakers in ``BreakerState``, exits and queued candidates
in the ``EventLog``, the connection in ``Health``), so alerting needs no hook inside the
trading code and cannot slow it: each change costs one SQLite write into the outbox
(:class:`~tui_trader.alerts.center.AlertCenter`), the network is the sender's business.

- Orders: IB's first answer (WORKING, FILLED...) more than ``max_order_latency_s`` after
  the intent was SENT (by their journaled stamps) is WARNING, over
  ``critical_order_latency_s`` HIGH. An intent seen for the first time alerts only when
  its outcome is UNKNOWN
  (journaled by an earlier run: CRITICAL); later status changes alert as
  :func:`~tui_trader.core.alerts.intent_alert` says (filled / position closed with P&L:
  INFO; rejected / cancelled: WARNING; unknown: CRITICAL).
- BreakerState: the kill switch engaged is CRITICAL; a breaker tripped is HIGH.
- EventLog: an exit that gave up after its retries is HIGH; a queued candidate is INFO.
- ScanResults: a scan slower than ``min_symbols_per_second`` is WARNING.
- Health: quotes older than ``[scanner] max_price_age_s`` while connected are WARNING
  (market data stale); down longer than ``connection_lost_s`` is HIGH, once per outage;
  checked by
  :meth:`AlertWatcher.tick` (a slice does not change while the link stays down).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

from tui_trader.alerts.center import AlertCenter
from tui_trader.alerts.channels import build_channels
from tui_trader.core.alerts import Alert, Severity, intent_alert, latency_alert, make_alert
from tui_trader.core.models import ConnectionState, EventLevel, IntentStatus, OrderIntent
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import Settings
from tui_trader.state.journal import Journal
from tui_trader.state.store import Change, EventLog, Health, Orders, ScanResults, Store

Clock = Callable[[], datetime]
#: Seconds between :meth:`AlertWatcher.tick` calls while running.
TICK_S = 5.0


class AlertWatcher:
    """Raise SPEC 13's alerts from store changes (module doc)."""

    def __init__(
        self, store: Store, center: AlertCenter, mode: str, clock: Clock, stale_s: float = 60.0
    ) -> None:
        self._store = store
        self._center = center
        self._mode = mode
        self._clock = clock
        self._statuses: dict[str, IntentStatus] = {}
        self._sent_at: dict[str, datetime] = {}
        self._stale_s = stale_s
        self._down_alerted: datetime | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    def attach(self) -> None:
        """Subscribe to the store (before the engine starts: restored state counts)."""
        s = self._store
        self._unsubscribe = [
            s.subscribe(Orders, self._on_orders),
            s.subscribe(BreakerState, self._on_breakers),
            s.subscribe(EventLog, self._on_events),
            s.subscribe(ScanResults, self._on_scan),
        ]
        self._on_orders_value(s.get(Orders))

    def start(self) -> None:
        """Run :meth:`tick` every :data:`TICK_S` seconds in the background."""
        self._task = asyncio.get_running_loop().create_task(self._ticks(), name="alert-watch")

    async def stop(self) -> None:
        for off in self._unsubscribe:
            off()
        self._unsubscribe = []
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _raise(self, alert: Alert | None) -> None:
        if alert is not None:
            self._center.raise_alert(alert)

    def _on_orders(self, change: Change[Any]) -> None:
        self._on_orders_value(change.value)

    def _on_orders_value(self, orders: Orders) -> None:
        for intent in orders.intents:
            before = self._statuses.get(intent.intent_id)
            self._statuses[intent.intent_id] = intent.status
            if before is intent.status:
                continue
            self._latency(intent)
            if before is None and intent.status is not IntentStatus.UNKNOWN:
                continue  # journaled earlier, or new and not yet news
            self._raise(intent_alert(before, intent, orders.intents))

    def _latency(self, intent: OrderIntent) -> None:
        """SPEC 13's order latency: from the intent's SENT stamp to IB's first answer."""
        iid = intent.intent_id
        if intent.status is IntentStatus.SENT:
            self._sent_at[iid] = intent.updated_at
            return
        sent = self._sent_at.pop(iid, None)
        if sent is None or intent.status is IntentStatus.UNKNOWN:
            return
        cfg = self._center.settings
        seconds = (intent.updated_at - sent).total_seconds()
        self._raise(
            latency_alert(intent, seconds, cfg.max_order_latency_s, cfg.critical_order_latency_s)
        )

    def _on_breakers(self, change: Change[Any]) -> None:
        new: BreakerState = change.value
        old: BreakerState = change.previous
        if new.kill_switch and not old.kill_switch:
            since = new.kill_switch_since or self._clock()
            self._raise(make_alert(
                Severity.CRITICAL, f"kill:{since.isoformat()}", "kill switch engaged",
                self._mode, "Entries halted and working orders cancelled until cleared.",
            ))  # fmt: skip
        if new.breaker_code is not None and old.breaker_code is None:
            self._raise(make_alert(
                Severity.HIGH, f"breaker:{new.breaker_code}:{new.breaker_since}",
                f"circuit breaker {new.breaker_code}", self._mode,
                f"Reason: {new.breaker_reason or 'not given'}.",
                "New entries halted; exits still allowed.",
            ))  # fmt: skip

    def _on_events(self, change: Change[Any]) -> None:
        old: EventLog = change.previous
        new: EventLog = change.value
        seen = {id(e) for e in old.items}  # the same objects carried over (store doc)
        for event in new.items:
            if id(event) in seen:
                continue
            if event.kind == "exit" and event.level is EventLevel.ERROR and "failed" in event.text:
                self._raise(make_alert(
                    Severity.HIGH, f"exit-failed:{event.intent_id or event.text}",
                    "exit failed its retries", self._mode, event.text,
                ))  # fmt: skip
            elif event.kind == "auto" and ": QUEUED" in event.text:
                self._raise(make_alert(
                    Severity.INFO, f"queued:{event.text}", "candidate queued", self._mode,
                    event.text,
                ))  # fmt: skip

    def _on_scan(self, change: Change[Any]) -> None:
        new: ScanResults = change.value
        rate, floor = new.symbols_per_s, self._center.settings.min_symbols_per_second
        if rate is None or rate == change.previous.symbols_per_s or rate >= floor:
            return
        symbols = new.report.symbols if new.report is not None else 0
        took = new.duration_s or 0.0
        self._raise(make_alert(
            Severity.WARNING, "scan-slow", "scan slow", self._mode,
            f"{symbols} symbols at {rate:.1f}/s (floor {floor:g}/s) in {took:.1f} s.",
        ))  # fmt: skip

    def tick(self) -> None:
        """Alert when quotes are older than ``stale_s`` (the same alert at most once per
        ``dedupe_s``), and once when the connection has been down longer than
        ``connection_lost_s``."""
        health = self._store.get(Health)
        age = health.oldest_quote_age_s
        if age is not None and age > self._stale_s and health.state is ConnectionState.CONNECTED:
            self._raise(make_alert(
                Severity.WARNING, "stale", "market data stale", self._mode,
                f"The oldest quote is {age:.0f} s old (limit {self._stale_s:g} s).",
            ))  # fmt: skip
        if health.state in (ConnectionState.CONNECTED, ConnectionState.DEGRADED):
            self._down_alerted = None
            return
        since = health.since
        limit = self._center.settings.connection_lost_s
        if since is None or since == self._down_alerted:
            return
        down_s = (self._clock() - since).total_seconds()
        if down_s > limit:
            self._down_alerted = since
            self._raise(make_alert(
                Severity.HIGH, f"down:{since.isoformat()}", "connection to IB lost", self._mode,
                f"{health.state.value} for {down_s:.0f} s (limit {limit:g} s).",
                f"Last error: {health.last_error_message or 'none'}.",
            ))  # fmt: skip

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.tick()


async def start_alerting(
    stack: AsyncExitStack, settings: Settings, journal: Journal, store: Store, clock: Clock
) -> AlertCenter:
    """The outbox's sender and the watcher, started before the engine (so what it restores
    counts) and stopped by ``stack`` (after the engine, when pushed before it)."""
    center = AlertCenter(settings.alerts, build_channels(settings.alerts), journal, store, clock)
    watcher = AlertWatcher(
        store, center, settings.execution.mode, clock, settings.scanner.max_price_age_s
    )
    center.start()
    stack.push_async_callback(center.stop)
    watcher.attach()
    watcher.start()
    stack.push_async_callback(watcher.stop)
    return center
