"""The engine: core + broker tied together, running with or without a screen.

:class:`Engine` is the composition root. It builds the broker pieces (session, market
data, order manager, account view) and the engine's components, wires them, runs their
tasks, and implements :class:`~tui_trader.engine.actions.EngineActions` (the TUI's only
door to trading) by delegating to them:

- :class:`~tui_trader.engine.universe.Universe` -- daily bars, underlyings' lines, the
  live scanner (ScanResults).
- :class:`~tui_trader.engine.preview_desk.PreviewDesk` -- the order a trader previews
  (Preview, Candidates), planned by :func:`tui_trader.core.entry.plan_entry`.
- :class:`~tui_trader.engine.desk.OrderDesk` -- the one way an order is sent, with the
  single pre-send check (:func:`tui_trader.core.entry.send_problem`).
- :class:`~tui_trader.engine.exit_monitor.ExitMonitor` -- positions with SPEC 9 levels
  (Positions) and exit signals.
- :class:`~tui_trader.engine.pins.Pins` -- lines of positions and working orders stay.
- :class:`~tui_trader.engine.events.EventLog` / ``JournalHealth`` -- events; whether the
  journal can be written.
- :class:`~tui_trader.engine.breakers.BreakerKeeper` -- breakers and the kill switch
  (BreakerState).
- :class:`~tui_trader.engine.autotrader.AutoTrader` -- SPEC 11's loop (Automation), a
  user of the same planner and order desk as a key press.

What it does, and why so:

- **Start** (:meth:`Engine.start`): the circuit-breaker state is restored from the
  journal first (the kill switch persists until the user clears it; a record that cannot
  be read is treated as the kill switch engaged, never as ACTIVE), then the session
  starts with its ready hooks -- order re-sync and reconciliation, account refresh,
  market-data restore -- and a boot task waits for the first ready connection, loads the
  universe's bars, streams it, runs the first scan and starts the live scanner.
  :meth:`Engine.wait_booted` waits for the first scan. When the New York date changes
  while running, the bars are loaded again (yesterday's partial bar is final now).
- **Breakers** (SPEC 8) are updated from IB's day P&L (reqPnL) and the times of rejected
  intents whenever either changes; a trip halts entries, persists, and is an event. A
  tripped breaker is reset when a new New York trading day starts; the kill switch only by
  :meth:`Engine.clear_kill_switch`.
- **Time**: the engine's clock is the market's -- the gateway's (reqCurrentTime, kept in
  step by the session) or the injected one (the simulated market's in the demo).
- Nothing here logs the account id; the store only ever holds the masked one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ib_insync import Fill as IbFill
from ib_insync import Trade as IbTrade
from loguru import logger

from tui_trader.broker.account import AccountView
from tui_trader.broker.bars import apply_live_prices
from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.orders import OrderManager
from tui_trader.broker.session import GatewayClock, Session
from tui_trader.core.bars import Bars
from tui_trader.core.calendar import ET
from tui_trader.core.chain_table import Direction
from tui_trader.core.models import ConnectionState, EventLevel, is_our_ref
from tui_trader.core.risk import BreakerState
from tui_trader.core.scanner import ScanReport
from tui_trader.core.settings import Settings
from tui_trader.engine.actions import EngineActions, Outcome
from tui_trader.engine.autotrader import AutoTrader
from tui_trader.engine.breakers import BreakerKeeper, rejection_times
from tui_trader.engine.chain_desk import ChainDesk
from tui_trader.engine.desk import OrderDesk
from tui_trader.engine.events import EventLog, JournalHealth
from tui_trader.engine.exit_monitor import ExitMonitor
from tui_trader.engine.metrics import EngineMetrics
from tui_trader.engine.pins import Pins
from tui_trader.engine.preview_desk import PreviewDesk
from tui_trader.engine.scanner import LiveScanner, ScanTiming
from tui_trader.engine.universe import Universe
from tui_trader.engine.user_strategies import UserScanPass, session_from_settings
from tui_trader.engine.watchlist import Watchlist
from tui_trader.state.journal import Journal
from tui_trader.state.store import (
    Account,
    Automation,
    Change,
    Health,
    Orders,
    Positions,
    ScanResults,
    Store,
)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[object]]


def _log_failure(task: asyncio.Task[None]) -> None:
    """A background task must never die silently."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.opt(exception=exc).error("engine task {} failed", task.get_name())


class Engine:
    """The composition root (module doc).

    ``session_options`` are passed to :class:`~tui_trader.broker.session.Session` (tests
    inject its sleep, timeouts and health timer). ``sleep``/``monotonic``/``perf`` drive
    the scanner, the monitor and order walking; ``monitor_interval_s`` None disables the
    periodic refresh (tests call :meth:`refresh`).
    """

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        *,
        clock: Clock,
        store: Store | None = None,
        metrics: EngineMetrics | None = None,
        session_options: Mapping[str, Any] | None = None,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        perf: Callable[[], float] = time.perf_counter,
        chain_timeout_s: float = 5.0,
        quote_timeout_s: float = 2.0,
        monitor_interval_s: float | None = 1.0,
        scanner_poll_s: float = 1.0,
        auto_what_if: bool = True,
        bar_cache_path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.store = store if store is not None else Store()
        self.metrics = metrics if metrics is not None else EngineMetrics()
        self._clock = clock
        #: The gateway's clock when the engine tells time by it (not demo, not tests).
        self._gateway_clock = clock if isinstance(clock, GatewayClock) else None
        self._sleep = sleep
        self._monitor_interval_s = monitor_interval_s
        self._raw = Store()  # AccountView writes here; levels are added on the way out
        self.events = EventLog(journal, self.store, clock)
        self.journal_health = JournalHealth(journal, self.events)
        self.breakers = BreakerKeeper(
            journal, self.store, clock=clock, risk=settings.risk, event=self._risk_event
        )
        options = dict(session_options or {})
        options.setdefault("stale_quote_s", settings.risk.stale_quote_s)
        if self._gateway_clock is not None:  # the session keeps it in step with the gateway
            options.setdefault("gateway_clock", self._gateway_clock)
        self.session = Session(settings.connection, clock=clock, store=self.store, **options)
        ib = self.session.ib
        self.ib = ib
        self.marketdata = MarketData(
            ib, LineBudget(settings.connection.max_lines), clock=clock, store=self.store
        )
        self.orders = OrderManager(
            ib,
            journal,
            clock=clock,
            store=self.store,
            execution=settings.execution,
            risk=settings.risk,
            selection=settings.selection,
            quotes=self._two_sided,
            sleep=sleep,
        )
        self.account = AccountView(
            ib, journal, clock=clock, store=self._raw, execution=settings.execution
        )
        self.universe = Universe(
            settings,
            journal,
            self.store,
            self.session,
            self.marketdata,
            events=self.events,
            journal_health=self.journal_health,
            clock=clock,
            today=self.today,
            on_scan=self._on_scan,
            on_streamed=self._sync_pins,
            spawn=self._spawn,
            sleep=sleep,
            monotonic=monotonic,
            perf=perf,
            scanner_poll_s=scanner_poll_s,
            bar_cache_path=bar_cache_path,  # None: the user cache folder (state.bar_cache)
        )
        self.pins = Pins(
            self.marketdata,
            positions=lambda: self._raw.get(Positions),
            orders=lambda: self.store.get(Orders),
            stock=self.universe.stocks.get,
            universe_ids=self.universe.stock_ids,
            multiplier=settings.selection.multiplier,
        )
        self.exit_monitor = ExitMonitor(
            journal,
            self.store,
            self._raw,
            settings.exits,
            events=self.events,
            spot=self.universe.spot,
        )
        self.desk = OrderDesk(
            settings,
            journal,
            self.store,
            self.session,
            self.orders,
            self.account,
            self.marketdata,
            self.universe,
            self.exit_monitor,
            events=self.events,
            journal_health=self.journal_health,
            pins_changed=self._sync_pins,
            clock=clock,
        )
        self.preview_desk = PreviewDesk(
            settings,
            self.store,
            self.session,
            self.marketdata,
            self.orders,
            self.universe,
            self.desk,
            clock=clock,
            today=self.today,
            chain_timeout_s=chain_timeout_s,
            quote_timeout_s=quote_timeout_s,
            auto_what_if=auto_what_if,
        )
        self.chain_desk = ChainDesk(  # any symbol's chain (issue 13)
            settings, self.store, self.session, self.marketdata, self.preview_desk,
            clock=clock, today=self.today, quote_timeout_s=quote_timeout_s,
        )  # fmt: skip
        self.auto = AutoTrader(
            settings,
            journal,
            self.store,
            self.session,
            self.marketdata,
            self.orders,
            self.universe,
            self.desk,
            events=self.events,
            clock=clock,
            today=self.today,
            spawn=self._spawn,
            on_order=self.metrics.count_auto_order,
            chain_timeout_s=chain_timeout_s,
        )
        # Traders' own strategies (issue 15): a second scan pass in a worker thread.
        self.user_pass = UserScanPass(
            session_from_settings(
                settings, lambda line: self.events(EventLevel.WARNING, "strategy", line)
            ),
            settings,
            self._on_user_scan,
            self.universe.market_caps,
        )
        # Watchlist editing (issue 13); the dashboard's launcher sets where it saves.
        self.watchlist = Watchlist(
            settings,
            self.universe,
            self.store,
            self.session,
            self.marketdata,
            journal,
            events=self.events,
            pins_changed=self._sync_pins,
            today=self.today,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._boot_task: asyncio.Task[None] | None = None
        self._reload: asyncio.Task[None] | None = None
        self._booted = asyncio.Event()
        self._started = False
        self._wired = False

    @property
    def scanner(self) -> LiveScanner:
        return self.universe.scanner

    def daily_bars(self) -> Bars | None:
        """The universe's daily bars as loaded (no live prices; in the demo the simulated
        gateway's history), None until loaded: what the dashboard's Backtest screen runs on."""
        return self.universe.scanner.bars

    # ====================================================================== lifecycle

    async def start(self) -> None:
        """Restore the breakers, start the session and the boot task (module doc)."""
        if self._started:
            raise RuntimeError("the engine is already started")
        self._started = True
        self.breakers.restore()
        self.auto.restore()
        self.metrics.seed_orders(self.journal.intents())
        self._wire()
        self.session.add_ready_hook(self.orders.resync)
        self.session.add_ready_hook(self.account.refresh)
        self.session.use_marketdata(self.marketdata)
        self.session.add_ready_hook(self._after_ready)
        await self.session.start()
        self._observe_health()
        self._boot_task = asyncio.create_task(self._boot(), name="engine-boot")
        if self._monitor_interval_s is not None:
            self._spawn(self._monitor(self._monitor_interval_s), "engine-monitor")

    async def _boot(self) -> None:
        await self.universe.boot()
        self._booted.set()

    async def wait_booted(self, timeout: float | None = None) -> bool:
        """Wait until the bars are loaded and the first scan is published."""
        try:
            await asyncio.wait_for(self._booted.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def booted(self) -> bool:
        return self._booted.is_set()

    async def stop(self) -> None:
        """Stop the tasks, the order walks and the session (working orders stay at IB)."""
        tasks = [t for t in (self._boot_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        self._boot_task = None
        await self.orders.close()
        self.account.close()
        self._unwire()
        await self.session.stop()
        self.marketdata.close()
        self.user_pass.close()  # the user strategies' worker processes (issue 15)
        self._observe_health()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(_log_failure)
        self._tasks.append(task)

    def _wire(self) -> None:
        if self._wired:
            return
        self._wired = True
        self._unsubscribe += [
            self.store.subscribe(Health, self._on_health),
            self.store.subscribe(Orders, self._on_orders),
            self._raw.subscribe(Positions, self._on_raw_positions),
            self._raw.subscribe(Account, self._on_raw_account),
            self.store.subscribe(BreakerState, lambda change: self.auto.publish()),
            self.store.subscribe(
                Automation, lambda change: self.metrics.observe_auto(change.value)
            ),
        ]
        self.ib.errorEvent += self._on_ib_error
        self.ib.execDetailsEvent += self._on_exec

    def _unwire(self) -> None:
        if not self._wired:
            return
        self._wired = False
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.ib.errorEvent -= self._on_ib_error
        self.ib.execDetailsEvent -= self._on_exec

    async def _after_ready(self) -> None:
        """Last ready hook: pins follow what the re-sync found; health and metrics."""
        self._sync_pins()
        self._observe_health()

    # ====================================================================== time

    def now(self) -> datetime | None:
        """The engine's time: the gateway's (reqCurrentTime, kept in step by the session)
        or the injected clock (the simulated market's in the demo). None while a gateway
        clock has not been asked yet (before the first connection): the dashboard then
        shows no time rather than this machine's wall clock."""
        if self._gateway_clock is not None:
            return self._gateway_clock.known()
        return self._clock()

    def today(self) -> date:
        """Today's New York date (the trading day bars and entries belong to); before the
        gateway's clock is known, the wall clock's."""
        return self._clock().astimezone(ET).date()

    # ====================================================================== quotes

    def _two_sided(self, con_id: int) -> tuple[float, float] | None:
        """A fresh, usable (bid, ask) from our lines; the order manager walks with these."""
        q = self.marketdata.quote(con_id)
        return (q.bid, q.ask) if q.has_bid_ask else None

    def underlying_contract(self, symbol: str) -> Any:
        """The qualified stock contract of a streamed underlying (None: not streamed)."""
        return self.universe.stocks.get(symbol)

    def spot(self, symbol: str) -> float | None:
        """The underlying's price now: live mid, else live last, else the last scan's close."""
        return self.universe.spot(symbol)

    # ====================================================================== reactions

    def _on_scan(self, report: ScanReport, timing: ScanTiming) -> None:
        self.metrics.observe_scan(timing.seconds, timing.symbols)
        self.exit_monitor.republish()
        self.exit_monitor.signal_exits()
        self.universe.keep_streaming()
        if not self.user_pass.wanted:
            self.auto.on_scan(report)
            return
        # With user strategies (issue 15) readers see complete reports only: the last one
        # with their signals stays until this scan's pass (in a thread) delivers its own.
        if self.user_pass.last is not None:
            self.scanner.report = self.user_pass.last
            self.store.update(ScanResults, report=self.user_pass.last)
        if not self.user_pass.busy and self.scanner.bars is not None:
            prices = self.universe.live_prices()
            bars = apply_live_prices(self.scanner.bars, prices.last, self.today(), prices.volume)
            self._spawn(self._user_scan(bars), "user-strategies")

    async def _user_scan(self, bars: Bars) -> None:
        await self.user_pass.run(bars)

    def _on_user_scan(self, report: ScanReport) -> None:
        """The scan with the user strategies' signals: shown, then the auto-trader's."""
        self.scanner.report = report
        self.store.update(ScanResults, report=report)
        self.auto.on_scan(report)

    def _on_raw_positions(self, change: Change[Positions]) -> None:
        self.exit_monitor.republish()
        self._sync_pins()

    def _on_raw_account(self, change: Change[Account]) -> None:
        self.store.set(Account, change.value)
        self._update_breakers()

    def _sync_pins(self) -> None:
        self.pins.sync()

    def _on_health(self, change: Change[Health]) -> None:
        self._observe_health()
        before, after = change.previous.state, change.value.state
        if before is not after:
            level = (
                EventLevel.INFO
                if after in (ConnectionState.CONNECTED, ConnectionState.MAINTENANCE)
                else EventLevel.WARNING
            )
            self.events(level, "connection", f"IB connection {before.value} -> {after.value}")
        self._log_connect_problem(change.previous, change.value)

    def _log_connect_problem(self, before: Health, after: Health) -> None:
        """Issue 13: where the engine tries to connect, why it cannot (IB's words) and what
        to check, in the Log; once per problem, not once per retry."""
        problem = after.connect_problem
        if problem is not None and problem != before.connect_problem:
            hint = f" {after.connect_hint}" if after.connect_hint else ""
            self.events(
                EventLevel.WARNING,
                "connection",
                f"Cannot connect to IB at {after.endpoint}: {problem}.{hint}",
            )

    def _observe_health(self) -> None:
        self.metrics.observe_health(
            self.store.get(Health),
            connected=self.session.is_connected,
            reconnects=self.session.reconnects,
        )

    def _on_ib_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        try:
            self.metrics.count_error(int(code))
        except Exception:
            logger.exception("counting IB error {} failed", code)
        try:
            # IB's 202 confirms a cancel: the health tracker mutes it, since only the order
            # manager knows whether we asked; for an order nobody here cancelled it is an
            # error for the status bar.
            if self.orders.foreign_cancel(code, req_id):
                self.session.tracker.record_error(code, str(message), self._clock())
                self.session.publish_health()
        except Exception:
            logger.exception("judging IB notice {} on {} failed", code, req_id)

    def _on_exec(self, trade: IbTrade, fill: IbFill) -> None:
        try:
            ref = fill.execution.orderRef or trade.order.orderRef
            if is_our_ref(ref) and fill.contract.secType != "BAG":
                self.metrics.count_fill(fill.execution.execId)
        except Exception:
            logger.exception("counting a fill failed")

    def _on_orders(self, change: Change[Orders]) -> None:
        """The orders changed: metrics, breakers, pinned lines. Fill events are the order
        manager's, from executions as they happen: a slice that changed because orders were
        loaded (a restart) is no fill."""
        self.metrics.observe_orders(change.value.intents)
        self._update_breakers()
        self._sync_pins()
        self.auto.on_orders()

    # ====================================================================== breakers

    def _risk_event(self, level: EventLevel, text: str) -> None:
        self.events(level, "risk", text)

    def _update_breakers(self) -> None:
        tripped = self.breakers.update(
            self.store.get(Account).day_pnl, rejection_times(self.store.get(Orders).intents)
        )
        if tripped:
            self.preview_desk.refresh()

    async def kill_switch(self) -> Outcome:
        self.breakers.engage_kill_switch()  # halted on disk before anything else
        await self.auto.disarm("by the kill switch")
        cancelled, failed = await self.desk.cancel_all("kill switch")
        text = (
            f"Kill switch engaged: entries halted until cleared; cancel requested for "
            f"{len(cancelled)} working order(s)."
        )
        if failed:
            text += f" Not cancelled ({len(failed)}): " + "; ".join(failed)
        self.events(EventLevel.ERROR if failed else EventLevel.WARNING, "risk", text)
        self.preview_desk.refresh()
        return Outcome(not failed, text)

    async def clear_kill_switch(self) -> Outcome:
        """The user's decision to trade again (the dashboard's ``ctrl+u``; ``tui-trader
        kill-switch clear`` while no engine runs). A tripped breaker still holds until the
        next trading day; nothing the kill switch cancelled is re-sent."""
        new = self.breakers.clear_kill_switch()
        if new is None:
            return Outcome(True, "The kill switch is not engaged.")
        still = f" Still halted: {new.reason}." if new.reason else " Entries are allowed again."
        self.events(EventLevel.WARNING, "risk", "Kill switch cleared by the user." + still)
        self.preview_desk.refresh()
        return Outcome(True, "Kill switch cleared." + still)

    # ====================================================================== monitor

    async def _monitor(self, interval: float) -> None:
        while True:
            await self._sleep(interval)
            try:
                self.refresh()
            except Exception:
                logger.exception("engine refresh failed")

    def refresh(self) -> None:
        """The periodic work: leg quotes of the preview, position levels, breakers (a new
        day), universe lines, health metrics, and the bars when the day changed."""
        if (
            self.booted
            and self.universe.new_day()
            and (self._reload is None or self._reload.done())
        ):
            self._reload = asyncio.create_task(
                self.universe.reload_bars(), name="engine-reload-bars"
            )
            self._reload.add_done_callback(_log_failure)
            self._tasks.append(self._reload)
        self.preview_desk.refresh()
        self.chain_desk.refresh()
        self.exit_monitor.republish()
        self._update_breakers()
        self.universe.keep_streaming()
        self._observe_health()
        if self.booted:
            self.auto.tick()

    # ====================================================================== actions

    async def rescan(self) -> Outcome:
        return await self.universe.rescan()

    async def preview(self, symbol: str) -> Outcome:
        return await self.preview_desk.preview(symbol)

    async def select_spread(self, index: int) -> Outcome:
        return await self.preview_desk.select_spread(index)

    async def adjust_quantity(self, delta: int) -> Outcome:
        return await self.preview_desk.adjust_quantity(delta)

    async def adjust_limit(self, ticks: int) -> Outcome:
        return await self.preview_desk.adjust_limit(ticks)

    async def refresh_what_if(self) -> Outcome:
        return await self.preview_desk.refresh_what_if()

    async def preview_close(self, spread_key: str) -> Outcome:
        return await self.preview_desk.preview_close(spread_key)

    async def transmit(self) -> Outcome:
        return await self.preview_desk.transmit()

    async def cancel(self, intent_id: str) -> Outcome:
        return await self.desk.cancel(intent_id)

    async def open_chain(self, symbol: str) -> Outcome:
        return await self.chain_desk.open(symbol)

    async def step_chain(self, expiries: int, strikes: int) -> Outcome:
        return await self.chain_desk.step(expiries, strikes)

    async def close_chain(self) -> Outcome:
        return await self.chain_desk.close()

    async def preview_chain_spread(
        self, direction: str, long_strike: float, short_strike: float
    ) -> Outcome:
        if direction not in ("LONG", "SHORT"):
            return Outcome(False, f"Unknown direction {direction!r}: LONG or SHORT.")
        way: Direction = "LONG" if direction == "LONG" else "SHORT"
        return await self.chain_desk.preview(way, long_strike, short_strike)

    async def arm_auto(self, dry_run: bool) -> Outcome:
        return await self.auto.arm(dry_run)

    async def disarm_auto(self) -> Outcome:
        return await self.auto.disarm()


def as_actions(engine: Engine) -> EngineActions:
    """The engine as the UI sees it (type-checked: :class:`Engine` implements the whole
    :class:`~tui_trader.engine.actions.EngineActions` protocol)."""
    return engine
