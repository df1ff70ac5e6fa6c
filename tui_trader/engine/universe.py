"""The universe: its daily bars, its underlyings' live lines and the live scanner.

- **Boot** (:meth:`Universe.boot`): once connected, the universe's daily bars are loaded
  (cached for the day in the journal; a cache that cannot be written keeps the bars in
  memory), the underlyings are qualified and streamed, the first scan is published and
  the live scanner starts. If the connection drops while bars load, they are loaded again
  on the next connection.
- **A new trading day** (:meth:`Universe.reload_bars`): yesterday's bar is final now, so
  the history is loaded again and scanned.
- **Underlyings stream unpinned**: a chain preview may evict the least recently used;
  :meth:`Universe.keep_streaming` brings them back while lines are free (never evicting
  for them: a chain being read needs its lines more than the scanner).
- A contract IB did not qualify is asked again up to ``QUALIFY_TRIES`` times, a second
  apart: error 100 (message rate) drops a request without the symbol being unknown. A
  batch cut short by a lost connection is asked again once connected (a warning, not an
  error: the soak's drops showed it as a traceback and the symbols left unstreamed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date, datetime
from typing import Any

from ib_insync import Contract, Stock
from loguru import logger

from tui_trader.broker.bars import load_daily_bars
from tui_trader.broker.chains import spot_of
from tui_trader.broker.marketdata import MarketData, clean_price
from tui_trader.broker.session import Session
from tui_trader.core.bars import Bars
from tui_trader.core.models import EventLevel
from tui_trader.core.scanner import ScanReport, SymbolScan
from tui_trader.core.settings import Settings
from tui_trader.engine.actions import Outcome
from tui_trader.engine.events import EventSink, JournalHealth
from tui_trader.engine.scanner import LivePrices, LiveScanner, ScanTiming
from tui_trader.state.journal import Journal
from tui_trader.state.store import ScanResults, Store

Sleep = Callable[[float], Awaitable[object]]
Spawn = Callable[[Coroutine[Any, Any, None], str], None]

QUALIFY_BATCH = 40
QUALIFY_TRIES = 3
QUALIFY_RETRY_S = 1.5


class Universe:
    """Bars, underlyings and the live scanner (module doc). Writes the ScanResults slice
    (with its scanner)."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        store: Store,
        session: Session,
        marketdata: MarketData,
        *,
        events: EventSink,
        journal_health: JournalHealth,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        on_scan: Callable[[ScanReport, ScanTiming], None],
        on_streamed: Callable[[], None],
        spawn: Spawn,
        sleep: Sleep,
        monotonic: Callable[[], float] = time.monotonic,
        perf: Callable[[], float] = time.perf_counter,
        scanner_poll_s: float = 1.0,
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._store = store
        self._session = session
        self._ib = session.ib
        self._md = marketdata
        self._events = events
        self._journal_health = journal_health
        self._today = today
        self._on_streamed = on_streamed
        self._spawn = spawn
        self._sleep = sleep
        self._monotonic = monotonic
        self.stocks: dict[str, Contract] = {}
        self._problems: dict[str, str] = {}
        self.bars_day: date | None = None
        self.scanner = LiveScanner(
            universe=settings.universe,
            strategy=settings.strategy,
            interval_s=settings.scanner.interval_s,
            live_prices=self.live_prices,
            today=today,
            clock=clock,
            store=store,
            on_scan=on_scan,
            monotonic=monotonic,
            sleep=sleep,
            perf=perf,
            poll_s=scanner_poll_s,
        )

    # ------------------------------------------------------------------ bars

    async def _load_bars(self) -> tuple[Bars, dict[str, str], date]:
        """The universe's daily bars as of today (cached per day), once connected; loads
        again when the connection dropped while loading."""
        while True:
            await self._session.wait_ready(None)
            day = self._today()
            self._store.update(ScanResults, running=True)
            try:
                bars, problems = await load_daily_bars(
                    self._ib,
                    self._settings.universe.symbols,
                    self._journal,
                    self._session.pacer,
                    today=day,
                    monotonic=self._monotonic,
                    sleep=self._sleep,
                )
            except ConnectionError as exc:
                logger.warning("the connection dropped while loading bars ({}): loading again", exc)
                await self._sleep(1.0)
                continue
            except Exception as exc:
                logger.exception("loading daily bars failed")
                self._store.update(ScanResults, running=False, error=f"Loading bars failed: {exc}")
                await self._sleep(1.0)
                continue
            if not self._session.is_connected and problems:
                logger.warning("the connection dropped while loading bars; loading again")
                continue
            return bars, problems, day

    def _use_bars(self, bars: Bars, problems: dict[str, str], day: date) -> None:
        new = {s: w for s, w in problems.items() if self._problems.get(s) != w}
        self._problems = dict(problems)
        for sym, why in sorted(new.items()):
            self._events(EventLevel.WARNING, "universe", f"{sym} skipped: {why}")
        self._store.update(ScanResults, problems=tuple(sorted(problems.items())))
        self.bars_day = day
        self.scanner.set_bars(bars)
        self._journal_health.after_cache_write()

    async def _load_and_stream(self) -> None:
        bars, problems, day = await self._load_bars()
        await self._stream([s for s in bars.symbols if s not in problems])
        self._use_bars(bars, problems, day)

    async def boot(self) -> ScanReport | None:
        """Bars, lines, the first scan; then the live scanner runs (module doc)."""
        await self._load_and_stream()
        report = self.scanner.scan_now()
        if report is not None:
            signals = sum(1 for r in report.results if r.tradable)
            logger.info(
                "engine ready: {} symbols scanned, {} tradable signal(s)", report.symbols, signals
            )
        self._spawn(self.scanner.run(), "engine-scanner")
        return report

    async def reload_bars(self) -> None:
        """A new trading day (module doc)."""
        logger.info("a new day ({}): loading daily bars again", self._today())
        await self._load_and_stream()
        self.scanner.scan_now()

    def new_day(self) -> bool:
        """Whether the New York date moved past the loaded bars' day."""
        return self.bars_day is not None and self._today() != self.bars_day

    # ------------------------------------------------------------------ lines

    async def _stream(self, symbols: list[str]) -> None:
        """Qualify and stream the universe's underlyings (module doc)."""
        for attempt in range(QUALIFY_TRIES):
            wanted = [s for s in symbols if s not in self.stocks]
            if not wanted:
                break
            if attempt:
                await self._sleep(QUALIFY_RETRY_S)
            for i in range(0, len(wanted), QUALIFY_BATCH):
                chunk = wanted[i : i + QUALIFY_BATCH]
                for q in await self._qualify(chunk):
                    if q is not None and q.conId > 0:
                        self.stocks[q.symbol] = q
        missing = [s for s in symbols if s not in self.stocks]
        if missing:
            self._events(
                EventLevel.WARNING,
                "universe",
                f"no live prices for {', '.join(missing)}: IB did not qualify them",
            )
        for sym in symbols:
            c = self.stocks.get(sym)
            if c is not None:
                self._md.subscribe(c)
        self._on_streamed()

    async def _qualify(self, chunk: list[str]) -> list[Contract | None]:
        """One batch qualified; a connection lost meanwhile is waited out and the batch
        asked again (module doc) -- a drop is not IB's verdict on a symbol."""
        while True:
            await self._session.wait_ready(None)
            batch: list[Contract] = [Stock(s, "SMART", "USD") for s in chunk]
            try:
                return list(await self._ib.qualifyContractsAsync(*batch))
            except ConnectionError as exc:
                logger.warning(
                    "the connection dropped while qualifying the universe ({}): "
                    "asking again once connected",
                    exc,
                )
                await self._sleep(QUALIFY_RETRY_S)
            except Exception:
                logger.exception("qualifying the universe failed")
                return []

    def keep_streaming(self) -> None:
        """Re-request universe lines a chain evicted, while lines are free (module doc)."""
        budget = self._md.budget
        for c in self.stocks.values():
            if budget.active >= budget.max or budget.queued:
                return
            if self._md.ticker(c.conId) is None:
                self._md.subscribe(c)

    def stock_ids(self) -> set[int]:
        return {c.conId for c in self.stocks.values()}

    async def stock(self, symbol: str) -> Contract | None:
        """The qualified stock contract of ``symbol`` (asked of IB when not streamed)."""
        c = self.stocks.get(symbol)
        if c is not None:
            return c
        stock = Stock(symbol, "SMART", "USD")
        try:
            qualified = await self._ib.qualifyContractsAsync(stock)
        except Exception:
            logger.exception("qualifying {} failed", symbol)
            return None
        if not qualified or stock.conId <= 0:
            return None
        self.stocks[symbol] = stock
        return stock

    # ------------------------------------------------------------------ prices, scans

    def live_prices(self) -> LivePrices:
        last: dict[str, float] = {}
        volume: dict[str, float] = {}
        for sym, c in self.stocks.items():
            q = self._md.quote(c.conId)
            if math.isfinite(q.last) and q.last > 0:
                last[sym] = q.last
                t = self._md.ticker(c.conId)
                v = clean_price(t.volume) if t is not None else math.nan
                if math.isfinite(v):
                    volume[sym] = v
        return LivePrices(last, volume)

    def scan_row(self, symbol: str) -> SymbolScan | None:
        report = self.scanner.report
        if report is None:
            return None
        return next((r for r in report.results if r.symbol == symbol), None)

    def spot(self, symbol: str) -> float | None:
        """The underlying's price now: live mid, else live last, else the last scan's close."""
        c = self.stocks.get(symbol)
        if c is not None:
            p = spot_of(self._md.quote(c.conId))
            if math.isfinite(p) and p > 0:
                return p
        row = self.scan_row(symbol)
        return row.close if row is not None else None

    async def rescan(self) -> Outcome:
        if self.scanner.bars is None:
            return Outcome(False, "The daily bars are not loaded yet; the first scan follows.")
        report = self.scanner.scan_now()
        if report is None:
            return Outcome(False, self._store.get(ScanResults).error or "The scan failed.")
        signals = sum(1 for r in report.results if r.tradable)
        t = self.scanner.last_timing
        took = f" in {t.seconds * 1000:.0f} ms" if t is not None else ""
        return Outcome(
            True, f"Scanned {report.symbols} symbols{took}: {signals} tradable signal(s)."
        )
