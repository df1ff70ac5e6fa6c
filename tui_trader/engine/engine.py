"""The engine: core + broker tied together, running with or without a screen.

:class:`Engine` implements :class:`~tui_trader.engine.actions.EngineActions` (the TUI's
only door to trading) and runs the asyncio tasks behind it. What it does, and why so:

- **Start** (:meth:`Engine.start`): the circuit-breaker state is restored from the
  journal first (the kill switch persists until the user clears it; a record that cannot
  be read is treated as the kill switch engaged, never as ACTIVE), then the session
  starts with its ready hooks -- order re-sync and reconciliation, account refresh,
  market-data restore -- and a boot task waits for the first ready connection, loads the
  universe's daily bars (cached for the day), streams the universe's underlyings, runs
  the first scan and starts the live scanner. ``start`` returns once the session made its
  first attempt; :meth:`Engine.wait_booted` waits for the first scan. If the connection
  drops while bars load, the boot waits for the next connection and loads again. When the
  New York date changes while running, the bars are loaded again (yesterday's partial bar
  is final now).
- **Preview** (``preview``, ``select_spread``, ``adjust_*``, ``refresh_what_if``): the
  chain is fetched with its lines pinned (``preview:<symbol>``) for as long as it is
  previewed; the previous preview's pin is lifted first. The order is priced from the
  legs' *live* quotes (SPEC 6), sized and gated (SPEC 8) with inputs from the account, the
  positions and the journal (:mod:`tui_trader.engine.preview`). IB's what-if is asked
  automatically after each of these actions (``auto_what_if``), because the buying-power
  gate cannot pass without an answer for the exact order; ``w`` asks again. Only these
  actions re-price the order: the periodic refresh republishes live leg quotes, their
  ages and a fresh gate verdict, and an answer from IB never changes the order the trader
  is looking at (the confirmation shows exactly what ``transmit`` sends).
- **Transmit** re-checks everything at the moment of sending: the symbol is still
  tradable in the latest scan (eligible, same direction), the risk gates pass with IB's
  what-if funds for *this exact order*, the session is CONNECTED (not DEGRADED), both leg
  quotes are younger than ``stale_quote_s`` and the account mode matches; then
  :meth:`OrderManager.transmit` journals and sends exactly the order the trader
  confirmed (never re-priced behind their back). The entry snapshot for the exits (SPEC 9)
  is journaled right after. Closing orders skip the entry gates (a halt never blocks an
  exit) but not the connection, quote and mode checks.
- **Manual entries are not held to the entry window** (SPEC 7): the window schedules the
  auto-trader's entries (signals outside it are queued); a trader sending by hand sees the
  window in the footer and decides. (Decision; see the README.)
- **Breakers** (SPEC 8) are updated from IB's day P&L (reqPnL) and the times of rejected
  intents whenever either changes; a trip halts entries, persists, and is an event. A
  tripped breaker is reset when a new New York trading day starts; the kill switch only by
  :meth:`Engine.clear_kill_switch`.
- **Positions** (grouped by :class:`AccountView` into a private store) are republished
  with their SPEC 9 stop/target levels and the exit rule that holds; an exit signal is an
  event the first time it holds for a spread at a rescan. No exit order is sent.
- **Market-data pins**: legs of open positions (and their underlyings) and legs of working
  orders stream pinned, so their quotes are never evicted by a chain preview.
- **Events** (fills, rejections via the order manager, connection changes, breaker trips,
  exit signals) go to the store's EventLog for the UI's toasts.
- Nothing here logs the account id; the store only ever holds the masked one.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from ib_insync import Contract, Stock, Ticker
from ib_insync import Fill as IbFill
from ib_insync import Trade as IbTrade
from loguru import logger

from tui_trader.broker.account import AccountView, closing_spec
from tui_trader.broker.bars import load_daily_bars
from tui_trader.broker.chains import (
    ChainError,
    fetch_chain,
    release_chain,
    spot_of,
    underlying_quote,
)
from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData, clean_number, clean_price
from tui_trader.broker.orders import OrderManager, OrderRefused, WhatIfPreview
from tui_trader.broker.session import GatewayClock, Session
from tui_trader.core.bars import Bars
from tui_trader.core.calendar import ET
from tui_trader.core.exits import EntrySnapshot
from tui_trader.core.models import (
    ConnectionState,
    EventLevel,
    JournalEvent,
    OrderIntent,
    SpreadLeg,
    SpreadOrderSpec,
    is_our_ref,
)
from tui_trader.core.pricing import (
    Action,
    NaturalQuotes,
    OrderPrice,
    PriceRefusal,
    RefusalCode,
    limit_price,
    natural_quotes,
)
from tui_trader.core.risk import (
    BreakerState,
    BreakerStatus,
    GateCode,
    GateResult,
    RiskInputs,
    check_entry,
)
from tui_trader.core.scanner import ScanReport, SymbolScan
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import Direction, OptionChain, SpreadSelection, select_spreads
from tui_trader.engine.actions import EngineActions, Outcome
from tui_trader.engine.breakers import BreakerKeeper, rejection_times
from tui_trader.engine.exits import (
    exit_message,
    find_spread,
    load_entry,
    save_entry,
    with_exit_levels,
)
from tui_trader.engine.metrics import EngineMetrics
from tui_trader.engine.preview import (
    busy_underlyings,
    clamp_limit,
    entries_on,
    limit_bounds,
    mid_of,
    net_greek,
    open_spread_count,
    step_limit,
    worst_debit,
)
from tui_trader.engine.scanner import LivePrices, LiveScanner, ScanTiming
from tui_trader.state.journal import Journal, JournalError
from tui_trader.state.store import (
    Account,
    Candidates,
    CandidateSet,
    Change,
    Health,
    Orders,
    PositionLeg,
    Positions,
    Preview,
    PreviewLeg,
    ScanResults,
    SpreadPosition,
    Store,
)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[object]]

PIN_POSITION = "position"
PIN_ORDER = "order"
QUALIFY_BATCH = 40
QUALIFY_TRIES = 3
QUALIFY_RETRY_S = 1.5


@dataclass(slots=True)
class _PreviewState:
    """What is being previewed; ``closing`` set for a closing order."""

    symbol: str
    direction: Direction
    spot: float
    chain: OptionChain | None = None
    selection: SpreadSelection | None = None
    index: int = 0
    closing: SpreadPosition | None = None
    quantity: int | None = None
    limit: float | None = None
    spec: SpreadOrderSpec | None = None
    natural: NaturalQuotes | None = None
    worst: float | None = None
    what_if: tuple[SpreadOrderSpec, WhatIfPreview] | None = None
    what_if_at: datetime | None = None
    price: OrderPrice | PriceRefusal | None = None
    mid_debit: float | None = None
    pinned: bool = False


def _leg_contract(con_id: int, symbol: str, expiry: str, strike: float, right: str,
                  multiplier: int = 100) -> Contract:  # fmt: skip
    """A contract for a known conId, routable for market data (positions come back from
    IB without an exchange)."""
    return Contract(
        conId=con_id,
        secType="OPT",
        symbol=symbol,
        lastTradeDateOrContractMonth=expiry,
        strike=strike,
        right=right,
        exchange="SMART",
        currency="USD",
        multiplier=str(multiplier),
    )


def _log_failure(task: asyncio.Task[None]) -> None:
    """A background task must never die silently."""
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.opt(exception=exc).error("engine task {} failed", task.get_name())


def _opt(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


class Engine:
    """Core + broker + journal + store, as asyncio tasks (module doc).

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
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.store = store if store is not None else Store()
        self.metrics = metrics if metrics is not None else EngineMetrics()
        self._clock = clock
        #: The gateway's clock when the engine tells time by it (not demo, not tests).
        self._gateway_clock = clock if isinstance(clock, GatewayClock) else None
        self._sleep = sleep
        self._monotonic = monotonic
        self._chain_timeout_s = chain_timeout_s
        self._quote_timeout_s = quote_timeout_s
        self._monitor_interval_s = monitor_interval_s
        self._what_if_auto = auto_what_if
        self._raw = Store()  # AccountView writes here; levels are added on the way out
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
        self.scanner = LiveScanner(
            universe=settings.universe,
            strategy=settings.strategy,
            interval_s=settings.scanner.interval_s,
            live_prices=self._live_prices,
            today=self.today,
            clock=clock,
            store=self.store,
            on_scan=self._on_scan,
            monotonic=monotonic,
            sleep=sleep,
            perf=perf,
            poll_s=scanner_poll_s,
        )
        self._stocks: dict[str, Contract] = {}
        self._problems: dict[str, str] = {}
        self._pv: _PreviewState | None = None
        self._lock = asyncio.Lock()
        self._snapshots: dict[str, EntrySnapshot | None] = {}
        self._exit_fired: set[tuple[tuple[int, ...], str]] = set()
        self._pins: dict[str, set[int]] = {PIN_POSITION: set(), PIN_ORDER: set()}
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._boot_task: asyncio.Task[None] | None = None
        self._reload: asyncio.Task[None] | None = None
        self._bars_day: date | None = None
        self._booted = asyncio.Event()
        self._started = False
        self._wired = False

    # ====================================================================== lifecycle

    async def start(self) -> None:
        """Restore the breakers, start the session and the boot task (module doc)."""
        if self._started:
            raise RuntimeError("the engine is already started")
        self._started = True
        self.breakers.restore()
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

    async def _load_bars(self) -> tuple[Bars, dict[str, str], date]:
        """The universe's daily bars as of today (cached per day), once connected; loads
        again when the connection dropped while loading."""
        while True:
            await self.session.wait_ready(None)
            day = self.today()
            self.store.update(ScanResults, running=True)
            try:
                bars, problems = await load_daily_bars(
                    self.ib,
                    self.settings.universe.symbols,
                    self.journal,
                    self.session.pacer,
                    today=day,
                    monotonic=self._monotonic,
                    sleep=self._sleep,
                )
            except Exception as exc:
                logger.exception("loading daily bars failed")
                self.store.update(ScanResults, running=False, error=f"Loading bars failed: {exc}")
                await self._sleep(1.0)
                continue
            if not self.session.is_connected and problems:
                logger.warning("the connection dropped while loading bars; loading again")
                continue
            return bars, problems, day

    def _use_bars(self, bars: Bars, problems: dict[str, str], day: date) -> None:
        new = {s: w for s, w in problems.items() if self._problems.get(s) != w}
        self._problems = dict(problems)
        for sym, why in sorted(new.items()):
            self._event(EventLevel.WARNING, "universe", f"{sym} skipped: {why}")
        self.store.update(ScanResults, problems=tuple(sorted(problems.items())))
        self._bars_day = day
        self.scanner.set_bars(bars)
        if self.journal.write_error is not None:  # the bar cache could not be written
            problem = self.journal.check_writable()
            if problem is None:
                self._journal_writable_again()
            else:
                self._journal_event(
                    EventLevel.ERROR,
                    f"{problem.rstrip('.')}; the bars are used from memory and no order is "
                    "sent until it can be written.",
                )

    async def _boot(self) -> None:
        bars, problems, day = await self._load_bars()
        await self._stream_universe([s for s in bars.symbols if s not in problems])
        self._use_bars(bars, problems, day)
        report = self.scanner.scan_now()
        self._booted.set()
        if report is not None:
            signals = sum(1 for r in report.results if r.tradable)
            logger.info(
                "engine ready: {} symbols scanned, {} tradable signal(s)", report.symbols, signals
            )
        self._spawn(self.scanner.run(), "engine-scanner")

    async def _reload_bars(self) -> None:
        """A new trading day: yesterday's bar is final now, so the history is loaded again
        (the day's cache misses) and scanned."""
        logger.info("a new day ({}): loading daily bars again", self.today())
        bars, problems, day = await self._load_bars()
        await self._stream_universe([s for s in bars.symbols if s not in problems])
        self._use_bars(bars, problems, day)
        self.scanner.scan_now()

    async def _stream_universe(self, symbols: list[str]) -> None:
        """Qualify and stream the universe's underlyings (unpinned: a chain may evict the
        least recently used; :meth:`refresh` brings them back when lines are free).

        A contract IB did not qualify is asked again up to ``QUALIFY_TRIES`` times, a
        second apart: error 100 (message rate) drops a request without it being unknown."""
        for attempt in range(QUALIFY_TRIES):
            wanted = [s for s in symbols if s not in self._stocks]
            if not wanted:
                break
            if attempt:
                await self._sleep(QUALIFY_RETRY_S)
            for i in range(0, len(wanted), QUALIFY_BATCH):
                chunk = wanted[i : i + QUALIFY_BATCH]
                batch: list[Contract] = [Stock(s, "SMART", "USD") for s in chunk]
                try:
                    qualified = await self.ib.qualifyContractsAsync(*batch)
                except Exception:
                    logger.exception("qualifying the universe failed")
                    continue
                for q in qualified:
                    if q is not None and q.conId > 0:
                        self._stocks[q.symbol] = q
        missing = [s for s in symbols if s not in self._stocks]
        if missing:
            self._event(
                EventLevel.WARNING,
                "universe",
                f"no live prices for {', '.join(missing)}: IB did not qualify them",
            )
        for sym in symbols:
            c = self._stocks.get(sym)
            if c is not None:
                self.marketdata.subscribe(c)
        self._sync_pins()

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

    def _live_prices(self) -> LivePrices:
        last: dict[str, float] = {}
        volume: dict[str, float] = {}
        for sym, c in self._stocks.items():
            q = self.marketdata.quote(c.conId)
            if math.isfinite(q.last) and q.last > 0:
                last[sym] = q.last
                t = self.marketdata.ticker(c.conId)
                v = clean_price(t.volume) if t is not None else math.nan
                if math.isfinite(v):
                    volume[sym] = v
        return LivePrices(last, volume)

    def _scan_row(self, symbol: str) -> SymbolScan | None:
        report = self.scanner.report
        if report is None:
            return None
        return next((r for r in report.results if r.symbol == symbol), None)

    def underlying_contract(self, symbol: str) -> Contract | None:
        """The qualified stock contract of a streamed underlying (None: not streamed)."""
        return self._stocks.get(symbol)

    def spot(self, symbol: str) -> float | None:
        """The underlying's price now: live mid, else live last, else the last scan's close."""
        c = self._stocks.get(symbol)
        if c is not None:
            p = spot_of(self.marketdata.quote(c.conId))
            if math.isfinite(p) and p > 0:
                return p
        row = self._scan_row(symbol)
        return row.close if row is not None else None

    def _age(self, con_id: int) -> float | None:
        return self.marketdata.quote_age_s(con_id, self._clock())

    def _quotes_fresh(self, spec: SpreadOrderSpec) -> bool:
        limit = self.settings.risk.stale_quote_s
        for leg in spec.legs:
            age = self._age(leg.con_id)
            if age is None or not age < limit:
                return False
        return True

    # ====================================================================== scanning

    async def rescan(self) -> Outcome:
        if self.scanner.bars is None:
            return Outcome(False, "The daily bars are not loaded yet; the first scan follows.")
        report = self.scanner.scan_now()
        if report is None:
            return Outcome(False, self.store.get(ScanResults).error or "The scan failed.")
        signals = sum(1 for r in report.results if r.tradable)
        t = self.scanner.last_timing
        took = f" in {t.seconds * 1000:.0f} ms" if t is not None else ""
        return Outcome(
            True, f"Scanned {report.symbols} symbols{took}: {signals} tradable signal(s)."
        )

    def _on_scan(self, report: ScanReport, timing: ScanTiming) -> None:
        self.metrics.observe_scan(timing.seconds, timing.symbols)
        self._republish_positions()
        self._exit_events()
        self._keep_universe_streaming()

    def _keep_universe_streaming(self) -> None:
        """Re-request universe lines a chain evicted, while lines are free (never evict
        for them: a chain being read needs its lines more than the scanner)."""
        budget = self.marketdata.budget
        for c in self._stocks.values():
            if budget.active >= budget.max or budget.queued:
                return
            if self.marketdata.ticker(c.conId) is None:
                self.marketdata.subscribe(c)

    # ====================================================================== positions

    def _snapshot(self, intent_id: str) -> EntrySnapshot | None:
        if intent_id not in self._snapshots:
            self._snapshots[intent_id] = load_entry(self.journal, intent_id)
        return self._snapshots[intent_id]

    def _snapshots_for(self, spreads: tuple[SpreadPosition, ...]) -> dict[str, EntrySnapshot]:
        out: dict[str, EntrySnapshot] = {}
        for sp in spreads:
            for iid in sp.intent_ids or ((sp.intent_id,) if sp.intent_id else ()):
                snap = self._snapshot(iid)
                if snap is not None:
                    out[iid] = snap
        return out

    def _spots(self, spreads: tuple[SpreadPosition, ...]) -> dict[str, float]:
        out: dict[str, float] = {}
        for sp in spreads:
            s = self.spot(sp.underlying)
            if s is not None:
                out[sp.underlying] = s
        return out

    def _on_raw_positions(self, change: Change[Positions]) -> None:
        self._republish_positions()
        self._sync_pins()

    def _republish_positions(self) -> None:
        raw = self._raw.get(Positions)
        spreads = raw.spreads
        enriched = with_exit_levels(
            spreads, self._snapshots_for(spreads), self._spots(spreads), self.settings.exits
        )
        self.store.set(Positions, Positions(enriched, raw.updated_at))

    def _exit_events(self) -> None:
        spreads = self.store.get(Positions).spreads
        snaps = self._snapshots_for(spreads)
        for sp in spreads:
            if sp.exit_reason is None:
                continue
            key = (tuple(leg.con_id for leg in sp.legs), sp.exit_reason)
            if key in self._exit_fired:
                continue
            self._exit_fired.add(key)
            message = exit_message(sp, snaps, self.spot(sp.underlying), self.settings.exits)
            legs = "/".join(f"{leg.strike:g}" for leg in sp.legs)
            self._event(
                EventLevel.WARNING,
                "exit",
                f"{sp.underlying} {sp.expiry or ''} {legs}: exit {sp.exit_reason}: {message} "
                "Nothing was sent: preview the close (c on Positions).",
                sp.intent_id,
            )

    def _on_raw_account(self, change: Change[Account]) -> None:
        self.store.set(Account, change.value)
        self._update_breakers()

    # ====================================================================== pins

    def _sync_pins(self) -> None:
        """Pin and stream the legs of open positions (and their underlyings) and of working
        orders; lift the pins of what is gone."""
        want: dict[str, dict[int, Contract]] = {PIN_POSITION: {}, PIN_ORDER: {}}
        for sp in self._raw.get(Positions).spreads:
            for leg in sp.legs:
                if leg.con_id <= 0:
                    continue
                if leg.sec_type == "OPT":
                    want[PIN_POSITION][leg.con_id] = self._position_contract(leg)
                elif leg.sec_type == "STK":
                    want[PIN_POSITION][leg.con_id] = Stock(
                        leg.symbol, "SMART", "USD", conId=leg.con_id
                    )
            stock = self._stocks.get(sp.underlying)
            if stock is not None:
                want[PIN_POSITION][stock.conId] = stock
        for it in self.store.get(Orders).intents:
            if it.is_terminal:
                continue
            for sl in it.spec.legs:
                want[PIN_ORDER][sl.con_id] = _leg_contract(
                    sl.con_id, sl.symbol, sl.expiry, sl.strike, sl.right,
                    self.settings.selection.multiplier,
                )  # fmt: skip
        md = self.marketdata
        for reason, contracts in want.items():
            held = self._pins[reason]
            for con_id, contract in contracts.items():
                if con_id not in held:
                    held.add(con_id)
                    try:
                        md.subscribe(contract, pin=reason)
                    except ValueError:
                        logger.warning("cannot stream conId {}", con_id)
            for con_id in sorted(held - set(contracts)):
                held.discard(con_id)
                md.unpin(con_id, reason)
                if not md.budget.is_pinned(con_id) and con_id not in self._stock_ids():
                    md.unsubscribe(con_id)

    def _stock_ids(self) -> set[int]:
        return {c.conId for c in self._stocks.values()}

    def _position_contract(self, leg: PositionLeg) -> Contract:
        known = self.marketdata.contract(leg.con_id)
        if known is not None:
            return known
        return _leg_contract(
            leg.con_id, leg.symbol, leg.expiry, leg.strike, leg.right, leg.multiplier or 100
        )

    # ====================================================================== events

    def _event(self, level: EventLevel, kind: str, text: str, intent_id: str | None = None) -> None:
        event = JournalEvent(
            time=self._clock(), level=level, kind=kind, text=text, intent_id=intent_id
        )
        try:
            self.journal.log_event(level, kind, text, event.time, intent_id=intent_id)
        except Exception:
            logger.exception("journaling an event failed")
        self.store.add_event(event)
        log = logger.warning if level is not EventLevel.INFO else logger.info
        log("{}: {}", kind, text)

    def _on_health(self, change: Change[Health]) -> None:
        self._observe_health()
        before, after = change.previous.state, change.value.state
        if before is not after:
            level = (
                EventLevel.INFO
                if after in (ConnectionState.CONNECTED, ConnectionState.MAINTENANCE)
                else EventLevel.WARNING
            )
            self._event(level, "connection", f"IB connection {before.value} -> {after.value}")

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

    # ====================================================================== breakers

    def _risk_event(self, level: EventLevel, text: str) -> None:
        self._event(level, "risk", text)

    def _update_breakers(self) -> None:
        tripped = self.breakers.update(
            self.store.get(Account).day_pnl, rejection_times(self.store.get(Orders).intents)
        )
        if tripped:
            self._refresh_preview()

    async def kill_switch(self) -> Outcome:
        self.breakers.engage_kill_switch()  # halted on disk before anything else
        cancelled: list[str] = []
        failed: list[str] = []
        for it in self.journal.intents(active_only=True):
            try:
                await self.orders.cancel(it.intent_id, reason="kill switch")
                cancelled.append(it.intent_id)
            except OrderRefused as exc:
                failed.append(f"{it.intent_id}: {exc.reason}")
        text = (
            f"Kill switch engaged: entries halted until cleared; cancel requested for "
            f"{len(cancelled)} working order(s)."
        )
        if failed:
            text += f" Not cancelled ({len(failed)}): " + "; ".join(failed)
        self._event(EventLevel.ERROR if failed else EventLevel.WARNING, "risk", text)
        self._refresh_preview()
        return Outcome(not failed, text)

    async def clear_kill_switch(self) -> Outcome:
        """The user's decision to trade again (the dashboard's ``ctrl+u``; ``tui-trader
        kill-switch clear`` while no engine runs). A tripped breaker still holds until the
        next trading day; nothing the kill switch cancelled is re-sent."""
        new = self.breakers.clear_kill_switch()
        if new is None:
            return Outcome(True, "The kill switch is not engaged.")
        still = f" Still halted: {new.reason}." if new.reason else " Entries are allowed again."
        self._event(EventLevel.WARNING, "risk", "Kill switch cleared by the user." + still)
        self._refresh_preview()
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
            and self._bars_day is not None
            and self.today() != self._bars_day
            and (self._reload is None or self._reload.done())
        ):
            self._reload = asyncio.create_task(self._reload_bars(), name="engine-reload-bars")
            self._reload.add_done_callback(_log_failure)
            self._tasks.append(self._reload)
        self._refresh_preview()
        self._republish_positions()
        self._update_breakers()
        self._keep_universe_streaming()
        self._observe_health()

    # ====================================================================== preview

    def _leg(self, con_id: int, action: str, expiry: str, strike: float, right: str,
             fallback: Mapping[str, float] | None = None) -> PreviewLeg:  # fmt: skip
        """A leg with its live quote and greeks (the chain snapshot when no fresh quote)."""
        md = self.marketdata
        fb = fallback or {}
        q = md.quote(con_id)
        bid, ask = (q.bid, q.ask) if q.has_bid_ask else (fb.get("bid"), fb.get("ask"))
        greeks: dict[str, float | None] = {
            k: _opt(fb[k]) if k in fb else None for k in ("iv", "delta", "gamma", "vega", "theta")
        }
        t: Ticker | None = md.ticker(con_id)
        g: Any = t.modelGreeks if t is not None else None
        if g is not None:
            live = {
                "iv": clean_number(g.impliedVol),
                "delta": clean_number(g.delta),
                "gamma": clean_number(g.gamma),
                "vega": clean_number(g.vega),
                "theta": clean_number(g.theta),
            }
            for k, v in live.items():
                if math.isfinite(v):
                    greeks[k] = v
        b = _opt(bid) if bid is not None else None
        a = _opt(ask) if ask is not None else None
        return PreviewLeg(
            con_id=con_id,
            action=action,
            expiry=expiry,
            strike=strike,
            right=right,
            bid=b,
            ask=a,
            mid=mid_of(b, a),
            iv=greeks["iv"],
            delta=greeks["delta"],
            gamma=greeks["gamma"],
            vega=greeks["vega"],
            theta=greeks["theta"],
            quote_age_s=self._age(con_id),
        )

    def _chain_leg(self, chain: OptionChain, row: int, action: str) -> PreviewLeg:
        expiry = str(chain.expiry[row]).replace("-", "")
        snapshot = {
            "bid": float(chain.bid[row]),
            "ask": float(chain.ask[row]),
            "iv": float(chain.iv[row]),
            "delta": float(chain.delta[row]),
            "gamma": float(chain.gamma[row]),
            "vega": float(chain.vega[row]),
            "theta": float(chain.theta[row]),
        }
        return self._leg(
            int(chain.con_id[row]),
            action,
            expiry,
            float(chain.strike[row]),
            "C" if bool(chain.is_call[row]) else "P",
            snapshot,
        )

    def _preview_legs(self, pv: _PreviewState) -> tuple[PreviewLeg, PreviewLeg] | None:
        if pv.closing is not None:
            lo, sh = pv.closing.legs
            return (
                self._leg(lo.con_id, "BUY", lo.expiry, lo.strike, lo.right,
                          {k: v for k, v in (("bid", lo.bid), ("ask", lo.ask)) if v is not None}),
                self._leg(sh.con_id, "SELL", sh.expiry, sh.strike, sh.right,
                          {k: v for k, v in (("bid", sh.bid), ("ask", sh.ask)) if v is not None}),
            )  # fmt: skip
        sel, chain = pv.selection, pv.chain
        if sel is None or chain is None or not 0 <= pv.index < len(sel):
            return None
        return (
            self._chain_leg(chain, int(sel.long_row[pv.index]), "BUY"),
            self._chain_leg(chain, int(sel.short_row[pv.index]), "SELL"),
        )

    def _risk_inputs(
        self, pv: _PreviewState, spec: SpreadOrderSpec, legs: tuple[PreviewLeg, ...],
        funds: float | None,
    ) -> RiskInputs:  # fmt: skip
        assert pv.worst is not None
        m = self.settings.selection.multiplier
        intents = self.store.get(Orders).intents
        spreads = self.store.get(Positions).spreads
        account = self.store.get(Account)
        long_leg = next(leg for leg in legs if leg.action == "BUY")
        return RiskInputs(
            open_spreads=open_spread_count(spreads, intents),
            entries_today=entries_on(intents, self.today()),
            net_liquidation=(
                account.net_liquidation if account.net_liquidation is not None else math.nan
            ),
            max_loss_per_contract=pv.worst * m,
            limit_price=pv.worst,
            multiplier=m,
            available_funds_after=funds,
            underlying_iv=long_leg.iv,
            underlying=spec.underlying,
            busy_underlyings=busy_underlyings(spreads, intents),
            connection_healthy=self.session.state is ConnectionState.CONNECTED,
            leg_quote_ages_s=tuple(self._age(leg.con_id) for leg in spec.legs),
            breakers=self.store.get(BreakerState),
        )

    def _what_if_for(self, pv: _PreviewState, spec: SpreadOrderSpec) -> WhatIfPreview | None:
        if pv.what_if is not None and pv.what_if[0] == spec:
            return pv.what_if[1]
        return None

    def _reprice(self, pv: _PreviewState) -> str | None:
        """Price and size the previewed order from the legs' live quotes (SPEC 5/6/8) and
        publish it; the problem in words when no order can be built (the slice then shows
        the legs and why). Only a trader's action reprices: an answer from IB or a timer
        never changes the order they are looking at."""
        pv.spec, pv.price, pv.natural, pv.worst, pv.mid_debit = None, None, None, None, None
        legs = self._preview_legs(pv)
        if legs is None:
            self._publish(pv)
            return "No spread is selected."
        long_leg, short_leg = legs
        action: Action = "SELL" if pv.closing is not None else "BUY"
        ex, sel = self.settings.execution, self.settings.selection
        cap = sel.max_spread_cost / sel.multiplier
        nat = natural_quotes(
            long_leg.bid if long_leg.bid is not None else math.nan,
            long_leg.ask if long_leg.ask is not None else math.nan,
            short_leg.bid if short_leg.bid is not None else math.nan,
            short_leg.ask if short_leg.ask is not None else math.nan,
        )
        if long_leg.mid is not None and short_leg.mid is not None:
            pv.mid_debit = long_leg.mid - short_leg.mid
        if isinstance(nat, PriceRefusal):
            pv.price = nat
            self._publish(pv)
            return nat.message
        price = limit_price(
            action, nat.bid, nat.ask, ex, max_debit=cap if action == "BUY" else None
        )
        if isinstance(price, PriceRefusal):
            pv.price = price
            self._publish(pv)
            return price.message
        pv.natural = nat
        if price.limit is not None and pv.limit is not None:
            pv.limit = clamp_limit(
                action, pv.limit, nat, ex.combo_tick, cap if action == "BUY" else None
            )
            price = replace(price, limit=pv.limit)
        if pv.closing is not None:
            held = pv.closing.quantity
            qty = min(max(1, pv.quantity or held), held)
            closing = self._closing_spec(pv.closing, qty, legs, price)
            if isinstance(closing, PriceRefusal):
                pv.price = closing
                self._publish(pv)
                return closing.message
            spec = closing
        else:
            pv.worst = worst_debit(price.limit, nat.ask, cap)
            probe = self._opening_spec(pv, long_leg, short_leg, 1, price)
            sized = check_entry(self._risk_inputs(pv, probe, legs, None), self.settings.risk)
            qty = pv.quantity if pv.quantity is not None else sized.contracts
            if sized.contracts > 0:
                qty = min(qty, sized.contracts)
            qty = max(1, qty)
            spec = self._opening_spec(pv, long_leg, short_leg, qty, price)
        pv.quantity = qty
        pv.spec = spec
        pv.price = price
        self._publish(pv)
        return None

    def _gate(self, pv: _PreviewState, legs: tuple[PreviewLeg, ...]) -> GateResult | None:
        """SPEC 8 for the previewed opening order as things stand now (None for a close)."""
        spec = pv.spec
        if spec is None or pv.closing is not None or pv.worst is None or not legs:
            return None
        wi = self._what_if_for(pv, spec)
        funds = wi.available_funds_after if wi is not None else None
        return check_entry(self._risk_inputs(pv, spec, legs, funds), self.settings.risk)

    def _publish(self, pv: _PreviewState) -> None:
        """The Preview slice for the order as priced, with live legs and a fresh gate."""
        legs = self._preview_legs(pv) or ()
        spec = pv.spec
        wi = self._what_if_for(pv, spec) if spec is not None else None
        m = self.settings.selection.multiplier
        self.store.set(
            Preview,
            Preview(
                spec=spec,
                price=pv.price,
                gate=self._gate(pv, legs),
                max_loss=(
                    pv.worst * m * spec.quantity
                    if spec is not None and pv.worst is not None
                    else None
                ),
                updated_at=self._clock(),
                legs=legs,
                quantity=spec.quantity if spec is not None else None,
                natural_debit=pv.natural.ask if pv.natural is not None else None,
                mid_debit=pv.mid_debit,
                limit_debit=spec.limit_price if spec is not None else None,
                net_delta=net_greek(legs, "delta"),
                net_gamma=net_greek(legs, "gamma"),
                net_vega=net_greek(legs, "vega"),
                net_theta=net_greek(legs, "theta"),
                init_margin_change=wi.init_margin_change if wi else None,
                maint_margin_change=wi.maint_margin_change if wi else None,
                equity_with_loan_change=wi.equity_with_loan_change if wi else None,
                commission=wi.commission if wi else None,
                min_commission=wi.min_commission if wi else None,
                max_commission=wi.max_commission if wi else None,
                what_if_warning=wi.warning if wi else None,
                what_if_at=pv.what_if_at if wi else None,
            ),
        )

    def _opening_spec(self, pv: _PreviewState, long_leg: PreviewLeg, short_leg: PreviewLeg,
                      quantity: int, price: OrderPrice) -> SpreadOrderSpec:  # fmt: skip
        right = "C" if pv.direction == "LONG" else "P"

        def leg(p: PreviewLeg, side: str) -> SpreadLeg:
            return SpreadLeg.model_validate(
                {"con_id": p.con_id, "symbol": pv.symbol, "expiry": p.expiry,
                 "strike": p.strike, "right": right, "action": side}
            )  # fmt: skip

        return SpreadOrderSpec(
            underlying=pv.symbol,
            direction=pv.direction,
            legs=(leg(long_leg, "BUY"), leg(short_leg, "SELL")),
            action="BUY",
            quantity=quantity,
            order_type=price.order_type,
            limit_price=price.limit,
            mode=self.settings.execution.mode,
        )

    def _closing_spec(
        self,
        spread: SpreadPosition,
        quantity: int,
        legs: tuple[PreviewLeg, PreviewLeg],
        price: OrderPrice,
    ) -> SpreadOrderSpec | PriceRefusal:
        """The SELL that closes ``quantity`` units, priced from the legs' live quotes (SPEC
        6 via :func:`closing_spec`), at the trader's limit when they moved it."""
        quotes = {
            leg.con_id: (
                leg.bid if leg.bid is not None else math.nan,
                leg.ask if leg.ask is not None else math.nan,
            )
            for leg in legs
        }
        try:
            spec = closing_spec(spread, self.settings.execution, quotes=quotes, quantity=quantity)
        except ValueError as exc:
            return PriceRefusal(RefusalCode.BAD_QUOTE, str(exc))
        if isinstance(spec, PriceRefusal) or spec.limit_price == price.limit:
            return spec
        return SpreadOrderSpec.model_validate({**spec.model_dump(), "limit_price": price.limit})

    def _refresh_preview(self) -> None:
        """Republish the preview with live leg quotes and a fresh gate verdict (quote ages,
        breakers, positions move); the order itself is not re-priced: the trader confirms
        the order they see."""
        pv = self._pv
        if pv is not None and not self._lock.locked():
            self._publish(pv)

    def _release_preview(self) -> None:
        pv, self._pv = self._pv, None
        if pv is not None and pv.chain is not None and pv.pinned:
            try:
                release_chain(self.marketdata, pv.chain, pv.symbol)
            except Exception:
                logger.exception("releasing the {} chain failed", pv.symbol)

    async def _stock(self, symbol: str) -> Contract | None:
        c = self._stocks.get(symbol)
        if c is not None:
            return c
        stock = Stock(symbol, "SMART", "USD")
        try:
            qualified = await self.ib.qualifyContractsAsync(stock)
        except Exception:
            logger.exception("qualifying {} failed", symbol)
            return None
        if not qualified or stock.conId <= 0:
            return None
        self._stocks[symbol] = stock
        return stock

    async def preview(self, symbol: str) -> Outcome:
        symbol = symbol.strip().upper()
        async with self._lock:
            return await self._preview(symbol)

    async def _preview(self, symbol: str) -> Outcome:
        row = self._scan_row(symbol)
        if row is None:
            return Outcome(False, f"{symbol} is not in the last scan.")
        if row.direction not in ("LONG", "SHORT"):
            why = "both a LONG and a SHORT signal (CONFLICT)" if row.direction else "no signal"
            return Outcome(False, f"{symbol} has {why}: no spread to preview.")
        if not self.session.is_connected:
            return Outcome(False, "Not connected to IB: cannot fetch the option chain.")
        direction: Direction = "LONG" if row.direction == "LONG" else "SHORT"
        stock = await self._stock(symbol)
        if stock is None:
            return Outcome(False, f"IB does not know {symbol}.")
        self._release_preview()
        self.store.set(Preview, Preview(updated_at=self._clock()))
        quote = await underlying_quote(self.marketdata, stock, timeout_s=self._quote_timeout_s)
        spot = spot_of(quote)
        if not (math.isfinite(spot) and spot > 0):
            spot = row.close if row.close is not None else math.nan
        if not (math.isfinite(spot) and spot > 0):
            return Outcome(False, f"{symbol}: no underlying price, so no chain.")
        try:
            chain = await fetch_chain(
                self.ib,
                self.marketdata,
                symbol,
                direction,
                spot,
                self.settings.selection,
                self.today(),
                underlying_con_id=stock.conId,
                timeout_s=self._chain_timeout_s,
                release=False,
            )
        except ChainError as exc:
            return Outcome(False, str(exc))
        selection = select_spreads(
            chain, spot, direction, self.today(), self.settings.selection, self.settings.pricing
        )
        pv = _PreviewState(symbol, direction, spot, chain, selection, 0, pinned=True)
        self._pv = pv
        self.store.set(
            Candidates,
            Candidates((CandidateSet(symbol, direction, spot, selection),), self._clock()),
        )
        kind = "bull call" if direction == "LONG" else "bear put"
        if len(selection) == 0:
            self._reprice(pv)
            rejected = ", ".join(f"{k} {v}" for k, v in selection.rejected.items() if v)
            return Outcome(
                False,
                f"{symbol} {direction}: none of {selection.candidates} {kind} spreads passes "
                f"the rules (rejected: {rejected or 'none'}).",
            )
        problem = self._reprice(pv)
        if problem is None:
            await self._auto_what_if(pv)
        head = (
            f"{symbol} {direction}: {len(selection)} of {selection.candidates} {kind} spreads kept"
        )
        if not row.eligible:
            head += f" (not eligible: {', '.join(row.reasons)}; it cannot be sent)"
        return Outcome(problem is None, f"{head}. {self._verdict(problem)}")

    def _verdict(self, problem: str | None) -> str:
        if problem is not None:
            return problem
        preview = self.store.get(Preview)
        spec = preview.spec
        if spec is None:
            return "No order."
        text = spec.describe()
        gate = preview.gate
        if gate is None:
            return text
        if gate.ok:
            return f"{text}: risk gates pass."
        code = gate.reason_code.value if gate.reason_code is not None else "REFUSED"
        return f"{text}: risk gate {code}: {gate.message}"

    async def _auto_what_if(self, pv: _PreviewState) -> None:
        if self._what_if_auto and pv.spec is not None and self.session.is_connected:
            await self._ask_what_if(pv)

    async def _ask_what_if(self, pv: _PreviewState) -> WhatIfPreview | None:
        spec = pv.spec
        if spec is None:
            return None
        result = await self.orders.what_if(spec)
        if self._pv is not pv or pv.spec != spec:
            return result  # the preview moved on while IB answered
        pv.what_if = (spec, result)
        pv.what_if_at = self._clock()
        self._publish(pv)
        return result

    async def select_spread(self, index: int) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.selection is None:
                return Outcome(False, "No spreads are previewed.")
            if not 0 <= index < len(pv.selection):
                return Outcome(False, f"There is no spread #{index + 1}.")
            pv.index, pv.quantity, pv.limit = index, None, None
            problem = self._reprice(pv)
            if problem is None:
                await self._auto_what_if(pv)
            return Outcome(problem is None, f"#{index + 1}: {self._verdict(problem)}")

    async def adjust_quantity(self, delta: int) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.spec is None:
                return Outcome(False, "No order is previewed.")
            current = pv.spec.quantity
            wanted = current + delta
            cap = pv.closing.quantity if pv.closing is not None else None
            gate = self.store.get(Preview).gate
            if pv.closing is None and gate is not None and gate.contracts > 0:
                cap = gate.contracts
            if wanted < 1:
                return Outcome(False, "The quantity is already 1.")
            if cap is not None and wanted > cap:
                what = "held" if pv.closing is not None else "the risk gates allow"
                return Outcome(False, f"{cap} contract(s) is the most {what}.")
            pv.quantity = wanted
            problem = self._reprice(pv)
            if problem is None:
                await self._auto_what_if(pv)
            return Outcome(problem is None, f"Quantity {wanted}. {self._verdict(problem)}")

    async def adjust_limit(self, ticks: int) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.spec is None or pv.natural is None:
                return Outcome(False, "No order is previewed.")
            spec = pv.spec
            if spec.limit_price is None:
                return Outcome(False, "A market order has no limit to move.")
            ex, sel = self.settings.execution, self.settings.selection
            cap = sel.max_spread_cost / sel.multiplier if spec.action == "BUY" else None
            lo, hi = limit_bounds(spec.action, pv.natural, ex.combo_tick, cap)
            wanted = step_limit(spec.limit_price, ticks, ex.combo_tick)
            clamped = min(max(wanted, lo), hi)
            if clamped == spec.limit_price:
                edge = "natural ask" if ticks > 0 else "lowest limit"
                if spec.action == "SELL" and ticks < 0:
                    edge = "natural bid"
                if spec.action == "BUY" and ticks > 0 and cap is not None and hi < pv.natural.ask:
                    edge = "cost cap"
                return Outcome(False, f"The limit {clamped:.2f} is already at the {edge}.")
            pv.limit = clamped
            problem = self._reprice(pv)
            if problem is None:
                await self._auto_what_if(pv)
            note = "" if clamped == wanted else f" (held at {clamped:.2f})"
            return Outcome(problem is None, f"Limit {clamped:.2f}{note}. {self._verdict(problem)}")

    async def refresh_what_if(self) -> Outcome:
        async with self._lock:
            pv = self._pv
            if pv is None or pv.spec is None:
                return Outcome(False, "No order is previewed.")
            result = await self._ask_what_if(pv)
            if result is None:
                return Outcome(False, "No order is previewed.")
            if not result.ok:
                return Outcome(False, f"No what-if answer: {result.warning}")
            warn = f" IB warns: {result.warning}" if result.warning else ""
            funds = result.available_funds_after
            shown = "unknown" if funds is None else f"{funds:,.2f}"
            return Outcome(
                True,
                f"What-if: margin {result.init_margin_change:+,.2f}, commission "
                f"{(result.commission or 0.0):,.2f}, funds after {shown}. "
                f"{self._verdict(None)}{warn}",
            )

    async def preview_close(self, spread_key: str) -> Outcome:
        async with self._lock:
            spreads = self.store.get(Positions).spreads
            sp = find_spread(spreads, spread_key)
            if sp is None:
                return Outcome(False, f"No open spread {spread_key!r}.")
            if len(sp.legs) != 2 or sp.direction not in ("LONG", "SHORT"):
                return Outcome(
                    False,
                    f"{sp.underlying}: only a vertical debit spread can be closed here; "
                    "close other positions in TWS.",
                )
            self._release_preview()
            direction: Direction = "LONG" if sp.direction == "LONG" else "SHORT"
            spot = self.spot(sp.underlying) or math.nan
            pv = _PreviewState(sp.underlying, direction, spot, closing=sp, quantity=sp.quantity)
            self._pv = pv
            problem = self._reprice(pv)
            if problem is None:
                await self._auto_what_if(pv)
            return Outcome(problem is None, f"Close {sp.underlying}: {self._verdict(problem)}")

    # ====================================================================== transmit

    async def transmit(self) -> Outcome:
        async with self._lock:
            return await self._transmit()

    async def _transmit(self) -> Outcome:
        pv = self._pv
        if pv is None or pv.spec is None:
            return Outcome(False, "Nothing to transmit: no order is previewed.")
        spec = pv.spec
        if (refused := self._journal_refusal(spec)) is not None:  # journal first, always
            return refused
        breakers = self.store.get(BreakerState)
        if spec.action == "BUY" and breakers.status is BreakerStatus.HALTED:
            return self._refused(
                spec,
                f"Trading is halted ({breakers.reason}): no new entries; closing orders are "
                "still allowed.",
            )
        session_ok = self.session.state is ConnectionState.CONNECTED and self.session.is_ready
        if not session_ok:
            return self._refused(
                spec,
                f"The IB session is {self.session.state.value}, not CONNECTED: nothing was sent.",
            )
        if not self._quotes_fresh(spec):
            ages = ", ".join(
                "none" if (a := self._age(leg.con_id)) is None else f"{a:.1f} s"
                for leg in spec.legs
            )
            return self._refused(
                spec,
                f"A leg quote is stale (ages {ages}; they must be younger than "
                f"{self.settings.risk.stale_quote_s:g} s): nothing was sent.",
            )
        problem = self.account.mode_problem()
        if problem is not None:
            return self._refused(spec, problem)
        gate: GateResult | None = None
        max_debit: float | None = None
        if spec.action == "BUY":
            row = self._scan_row(spec.underlying)
            if row is None or not row.tradable or row.direction != spec.direction:
                why = "not in the last scan" if row is None else (
                    f"not tradable now (eligible {row.eligible}, direction {row.direction})"
                )  # fmt: skip
                return self._refused(spec, f"{spec.underlying} is {why}: nothing was sent.")
            legs = self._preview_legs(pv) or ()
            wi = self._what_if_for(pv, spec)
            gate = self._gate(pv, legs)
            if gate is None:
                return self._refused(spec, "The risk gates cannot be checked: no live legs.")
            self.store.update(Preview, gate=gate)
            if not gate.ok:
                if gate.reason_code is GateCode.WHATIF_PENDING:
                    why = "IB's what-if answer for this exact order is missing (press w)"
                    if wi is not None and wi.warning:
                        why += f"; IB said: {wi.warning}"
                    return self._refused(spec, f"Risk gate WHATIF_PENDING: {why}.")
                code = gate.reason_code.value if gate.reason_code is not None else "REFUSED"
                return self._refused(spec, f"Risk gate {code}: {gate.message}")
            max_debit = pv.worst
        try:
            intent = await self.orders.transmit(
                spec, gate=gate, session_ok=session_ok, quotes_fresh=True, max_debit=max_debit
            )
        except OrderRefused as exc:
            return Outcome(False, exc.reason)
        if spec.action == "BUY":
            self._save_entry(intent, spec)
        self._sync_pins()  # the legs stream as the order's before the chain is released
        self._release_preview()
        self.store.set(Preview, Preview(updated_at=self._clock()))
        self._event(EventLevel.INFO, "order", f"sent {spec.describe()}", intent.intent_id)
        return Outcome(True, f"Sent {spec.describe()} as {intent.intent_id}.")

    def _journal_refusal(self, spec: SpreadOrderSpec) -> Outcome | None:
        """The refusal of any order (opening or closing) while the journal cannot be
        written -- each is journaled before it is sent -- else None.

        Once a write failed for lack of storage the journal stays suspect until a probe
        write commits (:meth:`Journal.check_writable`); the probe runs here, so sending
        works again as soon as the disk has room."""
        if self.journal.write_error is None:
            return None
        problem = self.journal.check_writable()
        if problem is None:
            self._journal_writable_again()
            return None
        reason = (
            f"{problem.rstrip('.')}; nothing was sent (every order is journaled before it "
            "goes to IB)."
        )
        self._journal_event(EventLevel.WARNING, f"refused {spec.describe()}: {reason}")
        return Outcome(False, reason)

    def _journal_writable_again(self) -> None:
        self._journal_event(
            EventLevel.INFO, f"The journal {self.journal.path} can be written again."
        )

    def _journal_event(self, level: EventLevel, text: str) -> None:
        """An event about the journal itself: on screen and in the log at once; into the
        journal only if it takes it (it may well not)."""
        now = self._clock()
        self.store.add_event(JournalEvent(time=now, level=level, kind="journal", text=text))
        logger.log(level.value, "journal: {}", text)
        with contextlib.suppress(JournalError):
            self.journal.log_event(level, "journal", text, now)

    def _refused(self, spec: SpreadOrderSpec, reason: str) -> Outcome:
        self._event(EventLevel.WARNING, "order", f"refused {spec.describe()}: {reason}")
        return Outcome(False, reason)

    def _save_entry(self, intent: OrderIntent, spec: SpreadOrderSpec) -> None:
        row = self._scan_row(spec.underlying)
        price = self.spot(spec.underlying)
        try:
            if row is None or price is None:
                raise ValueError("no scan row or underlying price")
            snap = EntrySnapshot(
                direction=spec.direction,
                entry_price=float(price),
                atr14=float(row.atr14 if row.atr14 is not None else math.nan),
                hhv20=float(row.hhv20 if row.hhv20 is not None else math.nan),
                llv20=float(row.llv20 if row.llv20 is not None else math.nan),
            )
            save_entry(self.journal, intent.intent_id, snap, spec.underlying)
            self._snapshots[intent.intent_id] = snap
        except Exception as exc:
            logger.exception("entry snapshot of {} not saved", intent.intent_id)
            self._event(
                EventLevel.ERROR,
                "exit",
                f"No stop/target levels for {spec.describe()}: the entry snapshot could not "
                f"be saved ({exc}). Watch this position yourself.",
                intent.intent_id,
            )

    async def cancel(self, intent_id: str) -> Outcome:
        try:
            intent = await self.orders.cancel(intent_id, reason="by the user")
        except OrderRefused as exc:
            return Outcome(False, exc.reason)
        if intent.is_terminal:
            return Outcome(False, f"{intent_id} is already {intent.status.value}.")
        return Outcome(True, f"Cancel requested for {intent_id} ({intent.spec.describe()}).")


def as_actions(engine: Engine) -> EngineActions:
    """The engine as the UI sees it (type-checked: :class:`Engine` implements the whole
    :class:`~tui_trader.engine.actions.EngineActions` protocol)."""
    return engine
