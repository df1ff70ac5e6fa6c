"""The universe: its daily bars, its underlyings' live lines and the live scanner.

- **Boot** (:meth:`Universe.boot`): once connected, the universe's daily bars are loaded
  (cached per symbol and day in ``state.bar_cache``, the user's cache folder; a cache that
  cannot be opened or written is one WARNING event and the bars live in memory), the
  underlyings are qualified and streamed, the first scan is published and the live
  scanner starts. If the connection drops while bars load, they are loaded again on the
  next connection.
- **While the bars load** (issue 12) the load's progress goes to ``Health`` and
  ``ScanResults`` (``bars 312/500``), and what has loaded is scanned (a partial scan,
  ``LiveScanner.scan_partial``) every ``PARTIAL_EVERY`` symbols (a tenth of a bigger
  universe) or ``PARTIAL_S`` seconds: cached bars are on screen at once, fetched ones as
  they arrive. A later load (a new day) keeps showing the last whole scan instead.
- **Qualified contracts are cached for the day** with the bars: a warm start qualifies
  nothing it already knows (issue 12: 500 contract-details requests were a warm start's
  15.9 s).
- **A new trading day** (:meth:`Universe.reload_bars`): yesterday's bar is final now, so
  the history is loaded again and scanned.
- **Underlyings stream unpinned**: a chain preview may evict the least recently used;
  :meth:`Universe.keep_streaming` brings them back while lines are free (never evicting
  for them: a chain being read needs its lines more than the scanner). A universe bigger
  than the budget streams what fits, a reserve left for snapshots, and the rest is
  refreshed by rotating snapshots (``engine.rotation``, issue 12).
- **Market caps** come from ``[universe] market_caps_file`` (read when the engine is built;
  the CLI has already refused a bad file with exit 2); without one every cap is unknown and
  SPEC 3 lets the symbol through, flagged.
- **A symbol IB does not know** (error 200 while its bars load) is reported once (a
  WARNING event) and dropped: later loads (a new day, a reconnect) leave it out, so it
  costs no request and no new report until the engine restarts (issue 12).
- A contract IB did not qualify is asked again up to ``QUALIFY_TRIES`` times, a second
  apart: error 100 (message rate) drops a request without the symbol being unknown. A
  batch cut short by a lost connection is asked again once connected (a warning, not an
  error: the soak's drops showed it as a traceback and the symbols left unstreamed).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any

from ib_insync import Contract, Stock
from loguru import logger

from tui_trader.broker.bars import bars_from_rows, is_unknown_symbol, load_daily_bars
from tui_trader.broker.chains import spot_of
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.session import Session
from tui_trader.broker.snapshots import Snapshots
from tui_trader.core.bars import Bars
from tui_trader.core.models import EventLevel
from tui_trader.core.scanner import ScanReport, SymbolScan
from tui_trader.core.settings import Settings
from tui_trader.datafiles.market_caps import universe_market_caps
from tui_trader.engine.actions import Outcome
from tui_trader.engine.events import EventSink, JournalHealth
from tui_trader.engine.rotation import Rotation, universe_stream_room
from tui_trader.engine.scanner import LivePrices, LiveScanner, ScanTiming
from tui_trader.state.bar_cache import BarCache, BarRow, default_cache_path
from tui_trader.state.journal import Journal, JournalError
from tui_trader.state.store import Health, ScanResults, Store

Sleep = Callable[[float], Awaitable[object]]
Spawn = Callable[[Coroutine[Any, Any, None], str], None]

QUALIFY_BATCH = 40
QUALIFY_TRIES = 3
QUALIFY_RETRY_S = 1.5
#: A partial scan while bars load: after this many more symbols (a tenth of a bigger
#: universe: each costs a Bars build of what has loaded), or this many seconds with at
#: least one more (module doc).
PARTIAL_EVERY = 50
PARTIAL_S = 3.0


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
        bar_cache_path: Path | None = None,
    ) -> None:
        self._settings = settings
        #: Where the bars and contracts are cached (opened for each load and write).
        self.bar_cache_path = default_cache_path() if bar_cache_path is None else bar_cache_path
        self._cache_problem: str | None = None
        self._cache_said: set[str] = set()
        #: Qualified stock contracts by symbol for ``_known_day`` (cache + IB).
        self._known: dict[str, Contract] = {}
        self._known_day: date | None = None
        self._partial_n = 0
        self._partial_at: float | None = None
        #: Partial scans published while bars loaded (issue 12).
        self.partial_scans = 0
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
        self._clock = clock
        self.stocks: dict[str, Contract] = {}
        self._problems: dict[str, str] = {}
        #: Symbols IB does not know (error 200): reported once, never asked for again.
        self.unknown: dict[str, str] = {}
        self.bars_day: date | None = None
        self.market_caps = universe_market_caps(settings.universe)
        self._log_caps()
        self.scanner = LiveScanner(
            universe=settings.universe,
            strategy=settings.strategy,
            interval_s=settings.scanner.interval_s,
            live_prices=self.live_prices,
            today=today,
            clock=clock,
            store=store,
            on_scan=on_scan,
            market_caps=self.market_caps,
            monotonic=monotonic,
            sleep=sleep,
            perf=perf,
            poll_s=scanner_poll_s,
        )
        self.snapshots = Snapshots(marketdata, clock=clock, monotonic=monotonic)
        self.rotation = Rotation(
            marketdata,
            self.snapshots,
            stocks=lambda: self.stocks,
            clock=clock,
            max_age_s=settings.scanner.max_price_age_s,
            sleep=sleep,
            on_ages=self.publish_price_ages,
        )

    def _log_caps(self) -> None:
        """Say once which universe symbols the market caps file leaves unknown."""
        if self.market_caps is None:
            return
        unknown = [s for s in self._settings.universe.symbols if s not in self.market_caps]
        known = len(self._settings.universe.symbols) - len(unknown)
        logger.info(
            "market caps: {} of {} universe symbols known from {}{}",
            known,
            len(self._settings.universe.symbols),
            self._settings.universe.market_caps_file,
            f" (unknown, eligible and flagged: {', '.join(unknown)})" if unknown else "",
        )

    # ------------------------------------------------------------------ bars

    async def _load_bars(self) -> tuple[Bars, dict[str, str], date]:
        """The universe's daily bars as of today (cached per day), once connected; loads
        again when the connection dropped while loading."""
        while True:
            await self._session.wait_ready(None)
            day = self._today()
            self._store.update(ScanResults, running=True)
            if self._known_day != day:
                self._known, self._known_day = {}, day
            wanted = [s for s in self._settings.universe.symbols if s not in self.unknown]
            self._partial_n, self._partial_at = 0, self._monotonic()
            try:
                with BarCache(self.bar_cache_path) as cache:
                    self._known.update(
                        cache.get_contracts([s for s in wanted if s not in self._known], day)
                    )
                    try:
                        bars, problems = await load_daily_bars(
                            self._ib,
                            wanted,
                            cache,
                            self._session.pacer,
                            today=day,
                            monotonic=self._monotonic,
                            sleep=self._sleep,
                            contracts=self._known,
                            on_progress=partial(self._progress, day=day),
                        )
                    finally:
                        self._say_cache_problem(cache)
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
            return bars, self._drop_unknown(problems), day

    def _say_cache_problem(self, cache: BarCache) -> None:
        """One WARNING event per distinct cache problem or set-aside file (the log has it
        too); ``_cache_problem`` is the last load's problem (None: the cache worked)."""
        self._cache_problem = cache.problem
        for text, then in (
            (cache.notice, "the bars are fetched again."),
            (cache.problem, "the bars are kept in memory and fetched again after a restart."),
        ):
            if text is None or text in self._cache_said:
                continue
            self._cache_said.add(text)
            self._events(EventLevel.WARNING, "bars", f"{text[0].upper()}{text[1:]}: {then}")

    def _progress(
        self, rows: Mapping[str, Sequence[BarRow]], done: int, total: int, day: date
    ) -> None:
        """The load's progress into the store (each 1% of the universe: every store change
        is a redraw), a partial scan when due (module doc)."""
        now = self._monotonic()
        late = self._partial_at is not None and now - self._partial_at >= PARTIAL_S
        scan = (
            done < total
            and len(rows) > self._partial_n
            and self.scanner.bars is None  # a reload keeps showing the last whole scan
            and (len(rows) - self._partial_n >= max(PARTIAL_EVERY, total // 10) or late)
        )
        shown = self._store.get(Health)
        moved = done - shown.bars_loaded
        if scan or done >= total or shown.bars_total != total or not 0 <= moved < total // 100:
            self._store.update(Health, bars_loaded=done, bars_total=total)
            self._store.update(ScanResults, bars_loaded=done, bars_total=total)
        if not scan:
            return
        order = {s: i for i, s in enumerate(self._settings.universe.symbols)}
        loaded = {s: rows[s] for s in sorted(rows, key=lambda s: order.get(s, len(order)))}
        self._partial_n, self._partial_at = len(rows), now
        try:
            bars = bars_from_rows(loaded, day)
        except Exception:
            logger.exception("the bars loaded so far cannot be scanned")
            return
        if self.scanner.scan_partial(bars) is not None:
            self.partial_scans += 1

    def _cache_contracts(self, contracts: Mapping[str, Contract]) -> None:
        """Keep newly qualified contracts for the day (a warm start asks IB for none)."""
        if not contracts or self._known_day is None:
            return
        with BarCache(self.bar_cache_path) as cache:
            cache.put_contracts(contracts, self._known_day)
            self._say_cache_problem(cache)

    def _drop_unknown(self, problems: dict[str, str]) -> dict[str, str]:
        """Remember the symbols IB does not know, so no later load asks for them again;
        the problems with theirs kept (shown, and so reported only once)."""
        for sym, why in problems.items():
            if is_unknown_symbol(why):
                self.unknown.setdefault(sym, why)
        return {**self.unknown, **problems}

    def _use_bars(self, bars: Bars, problems: dict[str, str], day: date) -> None:
        new = {s: w for s, w in problems.items() if self._problems.get(s) != w}
        self._problems = dict(problems)
        for sym, why in sorted(new.items()):
            self._events(EventLevel.WARNING, "universe", f"{sym} skipped: {why}")
        self._store.update(ScanResults, problems=tuple(sorted(problems.items())))
        self.bars_day = day
        self.scanner.set_bars(bars)
        if self._cache_problem is not None and self._journal.write_error is None:
            # The bar cache failed (a full disk?) and the journal has not written since:
            # prove it takes a write now, and say it once if not (issue 14 item 6: no order
            # until it can). Not on every load: the probe's pages stay in the file.
            try:
                self._journal.check_writable()
            except (JournalError, sqlite3.Error) as exc:
                logger.warning("the journal could not be checked after loading bars: {}", exc)
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
        self._spawn(self.rotation.run(), "engine-rotation")
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
        for s in symbols:
            known = self._known.get(s)
            if s not in self.stocks and known is not None and known.conId > 0:
                self.stocks[s] = known
        fresh: dict[str, Contract] = {}
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
                        fresh[q.symbol] = q
        self._known.update(fresh)
        self._cache_contracts(fresh)
        missing = [s for s in symbols if s not in self.stocks]
        if missing:
            self._events(
                EventLevel.WARNING,
                "universe",
                f"no live prices for {', '.join(missing)}: IB did not qualify them",
            )
        self._stream_room()
        self._on_streamed()

    def _stream_room(self) -> None:
        """Stream universe symbols into the lines there is room for (issue 12: past the
        budget the rest is refreshed by snapshots, ``engine.rotation``), in universe order."""
        size = len(self.stocks)
        for c in list(self.stocks.values()):
            if self._md.ticker(c.conId) is not None:
                continue
            if universe_stream_room(self._md.budget, size) < 1:
                return
            self._md.subscribe(c)

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
        self._stream_room()

    def stock_ids(self) -> set[int]:
        return {c.conId for c in self.stocks.values()}

    async def stock(self, symbol: str) -> Contract | None:
        """The qualified stock contract of ``symbol`` (asked of IB when not streamed)."""
        c = self.stocks.get(symbol)
        if c is not None:
            return c
        if symbol in self.unknown:
            return None
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
        """Each symbol's price: its line's, else its latest snapshot's (engine.rotation)."""
        last: dict[str, float] = {}
        volume: dict[str, float] = {}
        for sym in self.stocks:
            got = self.rotation.price(sym)
            if got is None:
                continue
            px, vol, _ = got
            if math.isfinite(px) and px > 0:
                last[sym] = px
                if math.isfinite(vol):
                    volume[sym] = vol
        return LivePrices(last, volume)

    def price_ages(self) -> dict[str, float | None]:
        """Seconds since each symbol's price (None: none yet), for the Scanner's rows."""
        now = self._clock()
        return {sym: self.rotation.price_age_s(sym, now) for sym in self.stocks}

    def publish_price_ages(self) -> None:
        """The ages into ``ScanResults.price_ages``, in whole seconds (the Scanner's column
        shows no finer, and equal values leave its cells alone)."""
        ages = tuple(
            (sym, None if age is None else float(round(age)))
            for sym, age in self.price_ages().items()
        )
        self._store.update(ScanResults, price_ages=ages)

    def price_problem(self, symbol: str) -> str | None:
        """Why the symbol's price is too old to open a trade on (``[scanner]
        max_price_age_s``, issue 12), in words that follow "AAPL is"; None when it is young
        enough. Only universe symbols are checked: another underlying has no scan row."""
        if symbol not in self.stocks:
            return None
        limit = self._settings.scanner.max_price_age_s
        age = self.rotation.price_age_s(symbol)
        if age is not None and age > limit:  # None: its line has not ticked yet (SPEC 8's
            # leg quote ages still guard the order)
            return f"on a price {age:.0f} s old (older than [scanner] max_price_age_s {limit:g} s)"
        return None

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
