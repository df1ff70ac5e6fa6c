"""The live scanner: the universe re-scanned as today's provisional bar moves.

Decisions:

- **When.** A scan runs once the daily bars are loaded (:meth:`LiveScanner.scan_now`),
  again on demand (the same call, from the engine's ``rescan``) and otherwise as today's
  bar moves: after ``[scanner] interval_s`` has passed since the last scan, the live prices
  are compared with those the last scan used and a scan runs as soon as one differs
  (checked every ``poll_s``). So a quiet market costs no scans, and a busy one at most one
  per interval. An on-demand scan restarts the interval.
- **What moves the bar.** ``live_prices()`` gives the latest trade price (and today's
  cumulative volume when known) per symbol; :func:`tui_trader.broker.bars.apply_live_prices`
  turns them into today's provisional bar (SPEC 1) on a copy of the loaded bars, so the
  loaded history is never modified and every scan starts from the same base.
- **Measured.** The duration covers applying the live prices and the core scan (indicators,
  universe filter, strategies), on ``perf`` (a monotonic high-resolution clock); symbols/s
  is symbols scanned / that duration. Both go into the ``ScanResults`` slice and to the
  ``on_scan`` callback (the engine's metrics and exit checks).
- **Never fatal.** A scan that raises (a provisional bar older than the loaded history: a
  wrong clock) publishes ``error`` in the slice and keeps the last good report; the loop
  keeps running.
- **Partial scans while the bars load** (issue 12): :meth:`LiveScanner.scan_partial` scans
  the symbols loaded so far and publishes the report (the Scanner fills up as bars arrive),
  but calls no ``on_scan`` and keeps no base: exits, the auto-trader and ``rescan`` wait for
  the whole universe's first scan, so nothing trades on a universe it has half seen.
- Time is injected: ``monotonic`` (interval arithmetic), ``sleep`` (waiting) and ``perf``
  (durations) for the loop, ``clock``/``today`` for the slice's timestamp and the bar date.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from loguru import logger

from tui_trader.broker.bars import apply_live_prices
from tui_trader.core.bars import Bars
from tui_trader.core.scanner import ScanReport, scan
from tui_trader.core.settings import StrategySettings, UniverseSettings
from tui_trader.state.store import ScanResults, Store

Sleep = Callable[[float], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class LivePrices:
    """Last trade prices and today's cumulative volumes by symbol (absent: unknown)."""

    last: Mapping[str, float]
    volume: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class ScanTiming:
    """How long one scan took (seconds) and its rate (symbols per second)."""

    seconds: float
    symbols: int

    @property
    def symbols_per_s(self) -> float:
        return self.symbols / self.seconds if self.seconds > 0 else 0.0


OnScan = Callable[[ScanReport, ScanTiming], None]


class LiveScanner:
    """Scans the loaded bars with live prices applied (module doc)."""

    def __init__(
        self,
        *,
        universe: UniverseSettings,
        strategy: StrategySettings,
        interval_s: float,
        live_prices: Callable[[], LivePrices],
        today: Callable[[], date],
        clock: Callable[[], datetime],
        store: Store | None = None,
        on_scan: OnScan | None = None,
        market_caps: Mapping[str, float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        perf: Callable[[], float] = time.perf_counter,
        poll_s: float = 1.0,
    ) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        if not poll_s > 0:
            raise ValueError(f"poll_s must be > 0, got {poll_s!r}")
        self._universe = universe
        self._strategy = strategy
        self._interval_s = interval_s
        self._live_prices = live_prices
        self._today = today
        self._clock = clock
        self._store = store
        self._on_scan = on_scan
        self._caps = market_caps
        self._monotonic = monotonic
        self._sleep = sleep
        self._perf = perf
        self._poll_s = poll_s
        self._bars: Bars | None = None
        self._used: LivePrices | None = None
        self._last_scan_at: float | None = None
        #: The last good report (None before the first scan).
        self.report: ScanReport | None = None
        #: Scans completed.
        self.scans = 0
        self.last_timing: ScanTiming | None = None

    @property
    def bars(self) -> Bars | None:
        """The loaded bars (without live prices)."""
        return self._bars

    def set_bars(self, bars: Bars) -> None:
        """The base every scan applies live prices to (after a load or reload)."""
        self._bars = bars
        self._used = None

    def moved(self, prices: LivePrices | None = None) -> bool:
        """Whether the live prices differ from those the last scan used."""
        now = self._live_prices() if prices is None else prices
        return self._used is None or now.last != self._used.last

    def scan_now(self) -> ScanReport | None:
        """Scan now (bars loaded): apply live prices, scan, publish, call back. None when
        there are no bars yet or the scan failed (the slice says why)."""
        if self._bars is None:
            return None
        prices = self._live_prices()
        started = self._perf()
        try:
            bars = apply_live_prices(self._bars, prices.last, self._today(), prices.volume)
            report = scan(bars, self._universe, self._strategy, self._caps)
        except Exception as exc:
            logger.exception("scan failed")
            self._last_scan_at = self._monotonic()
            if self._store is not None:
                self._store.update(ScanResults, error=f"The scan failed: {exc}", running=False)
            return None
        timing = ScanTiming(max(0.0, self._perf() - started), report.symbols)
        self._used = prices
        self._last_scan_at = self._monotonic()
        self.report = report
        self.scans += 1
        self.last_timing = timing
        if self._store is not None:
            self._store.update(
                ScanResults,
                report=report,
                updated_at=self._clock(),
                running=False,
                error=None,
                duration_s=timing.seconds,
                symbols_per_s=timing.symbols_per_s,
            )
        if self._on_scan is not None:
            try:
                self._on_scan(report, timing)
            except Exception:
                logger.exception("scan callback failed")
        return report

    def scan_partial(self, bars: Bars) -> ScanReport | None:
        """Scan the bars loaded so far and publish the report only (module doc); None when
        the scan failed (logged; the next partial or the full scan follows)."""
        prices = self._live_prices()
        started = self._perf()
        try:
            moved = apply_live_prices(bars, prices.last, self._today(), prices.volume)
            report = scan(moved, self._universe, self._strategy, self._caps)
        except Exception:
            logger.exception("partial scan failed")
            return None
        timing = ScanTiming(max(0.0, self._perf() - started), report.symbols)
        self.report = report
        if self._store is not None:
            self._store.update(
                ScanResults,
                report=report,
                updated_at=self._clock(),
                error=None,
                duration_s=timing.seconds,
                symbols_per_s=timing.symbols_per_s,
            )
        return report

    def due_in(self) -> float:
        """Seconds until the interval since the last scan has passed (<= 0: due)."""
        if self._last_scan_at is None:
            return 0.0
        return self._last_scan_at + self._interval_s - self._monotonic()

    async def run(self) -> None:
        """Rescan as today's bar moves, at most once per interval, until cancelled."""
        while True:
            wait = self.due_in()
            if wait > 0:
                await self._sleep(wait)
                continue
            prices = self._live_prices()
            if self._bars is not None and self.moved(prices):
                self.scan_now()
            else:
                await self._sleep(self._poll_s)
