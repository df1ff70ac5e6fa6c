"""The live scanner task: today's provisional bar from live prices, scan timing, and the
schedule (after the interval, only when the bar moved; on demand restarts the interval).
Time is fake: a monotonic source and a sleep the test steps by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tui_trader.core.bars import Bars
from tui_trader.core.scanner import ScanReport
from tui_trader.core.settings import StrategySettings, UniverseSettings
from tui_trader.engine.scanner import LivePrices, LiveScanner, ScanTiming
from tui_trader.state.store import ScanResults, Store

TODAY = date(2026, 11, 18)
NOW = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)


def history(days: int = 260) -> Bars:
    """Two liquid symbols, weekdays up to yesterday: AAA trends up, BBB drifts down."""
    dates = pd.bdate_range(end=TODAY - timedelta(days=1), periods=days)
    rows = []
    for k, d in enumerate(dates):
        up = 50.0 + 0.2 * k + (k % 5) * 0.3
        down = 150.0 - 0.1 * k + (k % 3) * 0.4
        rows.append((d.date(), "AAA", up - 0.2, up + 0.5, up - 0.6, up, 2_000_000.0))
        rows.append((d.date(), "BBB", down + 0.1, down + 0.7, down - 0.5, down, 3_000_000.0))
    frame = pd.DataFrame(rows, columns=["date", "symbol", "open", "high", "low", "close", "volume"])
    return Bars.from_frame(frame)


class Mono:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StepSleep:
    """Each sleep advances the fake monotonic clock and waits for the test's ``step``."""

    def __init__(self, mono: Mono) -> None:
        self.mono = mono
        self.requests: list[float] = []
        self._gate: asyncio.Future[None] | None = None
        self._arrived = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.requests.append(seconds)
        self._gate = asyncio.get_running_loop().create_future()
        self._arrived.set()
        await self._gate
        self.mono.now += seconds

    async def parked(self) -> None:
        """Until the loop waits in a sleep."""
        await asyncio.wait_for(self._arrived.wait(), 1.0)

    async def step(self) -> None:
        """Let the pending sleep end; return once the loop sleeps again."""
        assert self._gate is not None
        self._arrived.clear()
        self._gate.set_result(None)
        await self.parked()


class Perf:
    """A perf counter that advances 0.25 s per reading."""

    def __init__(self) -> None:
        self.t = 10.0

    def __call__(self) -> float:
        self.t += 0.25
        return self.t


def make_scanner(
    prices: dict[str, float], mono: Mono, sleep: StepSleep | None = None, **kw: object
) -> tuple[LiveScanner, Store, list[tuple[ScanReport, ScanTiming]]]:
    store = Store()
    seen: list[tuple[ScanReport, ScanTiming]] = []
    scanner = LiveScanner(
        universe=UniverseSettings(),
        strategy=StrategySettings(),
        interval_s=30.0,
        live_prices=lambda: LivePrices(dict(prices), {s: 1_500_000.0 for s in prices}),
        today=lambda: TODAY,
        clock=lambda: NOW,
        store=store,
        on_scan=lambda r, t: seen.append((r, t)),
        monotonic=mono,
        sleep=sleep or StepSleep(mono),
        perf=Perf(),
        poll_s=1.0,
        **kw,  # type: ignore[arg-type]
    )
    scanner.set_bars(history())
    return scanner, store, seen


def test_scan_now_builds_todays_bar_from_the_live_price_and_times_it() -> None:
    prices = {"AAA": 123.0}
    scanner, store, seen = make_scanner(prices, Mono())
    report = scanner.scan_now()
    assert report is not None and report.asof == TODAY
    rows = {r.symbol: r for r in report.results}
    assert rows["AAA"].last_date == TODAY and rows["AAA"].close == 123.0
    assert rows["AAA"].hhv20 == 123.0  # the provisional bar's high is the live price
    assert rows["BBB"].last_date == TODAY - timedelta(days=1)  # no live price: not moved
    assert "stale" in rows["BBB"].reasons  # its last bar is older than the scan's date
    published = store.get(ScanResults)
    assert published.report is report and published.updated_at == NOW
    assert published.duration_s == 0.25 and published.symbols_per_s == 8.0  # 2 / 0.25 s
    ((got, timing),) = seen
    assert got is report and timing == ScanTiming(0.25, 2)
    assert scanner.bars is not None and scanner.bars.latest_date == TODAY - timedelta(days=1)


def test_a_failing_scan_keeps_the_last_report() -> None:
    prices = {"AAA": 123.0}
    scanner, store, _ = make_scanner(prices, Mono())
    good = scanner.scan_now()
    scanner._today = lambda: TODAY - timedelta(days=30)  # a wrong clock: before the history
    assert scanner.scan_now() is None
    failed = store.get(ScanResults)
    assert failed.report is good and failed.error is not None
    assert "older than its latest bar" in failed.error
    assert scanner.report is good and scanner.scans == 1


async def test_rescans_after_the_interval_only_when_the_bar_moved() -> None:
    mono = Mono()
    sleep = StepSleep(mono)
    prices = {"AAA": 100.0, "BBB": 130.0}
    scanner, _, seen = make_scanner(prices, mono, sleep)
    scanner.scan_now()  # t = 0
    task = asyncio.create_task(scanner.run())
    try:
        await sleep.parked()
        assert sleep.requests == [30.0]  # nothing before the interval
        prices["AAA"] = 100.5  # moves at t = 0: still waits for the interval
        await sleep.step()  # t = 30: due, moved -> scan
        assert len(seen) == 2 and sleep.requests == [30.0, 30.0]
        assert seen[-1][0].results[0].close == 100.5
        await sleep.step()  # t = 60: due, nothing moved -> poll
        await sleep.step()  # t = 61: still quiet
        assert len(seen) == 2 and sleep.requests[-2:] == [1.0, 1.0]
        prices["BBB"] = 129.0
        await sleep.step()  # t = 62: moved -> scan at once
        assert len(seen) == 3 and mono.now == 62.0
        assert sleep.requests[-1] == 30.0
        mono.now = 70.0
        scanner.scan_now()  # on demand at t = 70 restarts the interval
        await sleep.step()  # the loop wakes at t = 100 (70 + 30 after its sleep)
        assert len(seen) == 4  # only the on-demand scan: nothing moved since
        assert sleep.requests[-1] == pytest.approx(1.0)  # due (t >= 100): polls
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_live_prices_must_be_positive_and_interval_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        LiveScanner(
            universe=UniverseSettings(),
            strategy=StrategySettings(),
            interval_s=0.0,
            live_prices=lambda: LivePrices({}, {}),
            today=lambda: TODAY,
            clock=lambda: NOW,
        )
    prices = {"AAA": float("nan"), "BBB": -1.0}  # IB's markers never become a bar
    scanner, _, _ = make_scanner(prices, Mono())
    report = scanner.scan_now()
    assert report is not None
    assert all(r.last_date == TODAY - timedelta(days=1) for r in report.results)
    assert np.isfinite([r.close for r in report.results]).all()
