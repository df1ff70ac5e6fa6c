"""Daily bars from the simulated gateway: cached per day, paced, unknown symbols skipped."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ib_insync import Stock

from tests.broker.conftest import FakeMonotonic
from tests.sim.conftest import Connect, HistoricalSpy, MakeGateway
from tui_trader.broker.bars import apply_live_price, apply_live_prices, load_daily_bars
from tui_trader.broker.marketdata import IB_UNSET_DOUBLE
from tui_trader.broker.pacing import HistoricalPacer
from tui_trader.core.bars import Bars
from tui_trader.sim.gateway import GatewayLimits, SimGateway
from tui_trader.sim.historical import HistoricalPacing
from tui_trader.state.bar_cache import BarCache

TODAY = date(2026, 11, 18)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[BarCache]:
    """The loader's day cache: the engine's own kind (the journal keeps no bars)."""
    with BarCache(tmp_path / "bars.sqlite3") as c:
        yield c


class FakeSleep:
    """Waits the pacer asks for pass on the fake monotonic clock (which paces the gateway
    too), not in real time."""

    def __init__(self, fake_time: FakeMonotonic) -> None:
        self.fake_time = fake_time
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.fake_time.advance(seconds)


async def test_bars_load_then_same_day_restart_reads_the_cache(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, tmp_path: Path
) -> None:
    spy = HistoricalSpy(gateway)
    path = tmp_path / "bars.sqlite3"
    ib = await connect(1)
    with BarCache(path) as cache:
        bars, problems = await load_daily_bars(
            ib, ["AAPL", "SPY", "MSFT"], cache, HistoricalPacer(), today=TODAY,
            monotonic=fake_time,
        )  # fmt: skip
    assert problems == {}
    assert spy.count == 3
    assert bars.symbols == ["AAPL", "MSFT", "SPY"]
    assert (bars.n_valid > 400).all()  # two years of sessions
    assert bars.latest_date == TODAY  # today's partial bar (the market is open)
    assert bars.last_date("AAPL") == TODAY
    ib.disconnect()

    # a restart the same day: a new connection, a new cache object on the same file
    fake_time.advance(20.0)
    ib2 = await connect(2)
    with BarCache(path) as cache:
        again, problems2 = await load_daily_bars(
            ib2, ["AAPL", "SPY", "MSFT"], cache, HistoricalPacer(), today=TODAY,
            monotonic=fake_time,
        )  # fmt: skip
    assert spy.count == 3  # zero historical requests the second time
    assert problems2 == {}
    assert again.symbols == bars.symbols
    np.testing.assert_array_equal(again.close, bars.close)
    np.testing.assert_array_equal(again.volume, bars.volume)
    np.testing.assert_array_equal(again.dates, bars.dates)

    # the next day the cache is stale and is refetched
    fake_time.advance(20.0)
    with BarCache(path) as cache:
        await load_daily_bars(
            ib2, ["AAPL"], cache, HistoricalPacer(), today=date(2026, 11, 19),
            monotonic=fake_time,
        )  # fmt: skip
    assert spy.count == 4


async def test_unknown_symbol_is_flagged_and_skipped(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, cache: BarCache
) -> None:
    spy = HistoricalSpy(gateway)
    ib = await connect(3)
    bars, problems = await load_daily_bars(
        ib, ["AAPL", "ZZZZ", "SPY", "AAPL"], cache, HistoricalPacer(), today=TODAY,
        monotonic=fake_time,
    )  # fmt: skip
    assert bars.symbols == ["AAPL", "SPY"]
    assert set(problems) == {"ZZZZ"}
    assert "unknown symbol" in problems["ZZZZ"] and "200" in problems["ZZZZ"]
    assert spy.count == 2  # nothing asked for the unknown one; the duplicate asked once
    assert cache.get_bars("ZZZZ", TODAY) is None


async def test_pacing_waits_instead_of_violating(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic, cache: BarCache
) -> None:
    symbols = ("AAPL", "SPY", "MSFT", "QQQ", "IWM")
    # IB paces only small bars; both sides here pace every bar size (a stricter login,
    # e.g. IB's "soft limit"), so daily bars exercise the loader's waiting
    limits = GatewayLimits(
        historical=HistoricalPacing(max_requests=3, window=600.0, small_bars_only=False)
    )
    gateway = await make_gateway(symbols=symbols, limits=limits)
    spy = HistoricalSpy(gateway)
    ib = await connect(4, gateway)
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    sleep = FakeSleep(fake_time)
    pacer: HistoricalPacer[Any] = HistoricalPacer(
        max_per_window=3, window_s=600.0, small_bars_only=False
    )
    bars, problems = await load_daily_bars(
        ib, symbols, cache, pacer, today=TODAY, monotonic=fake_time, sleep=sleep
    )
    assert problems == {}
    assert sorted(bars.symbols) == sorted(symbols)
    assert spy.count == 5
    assert 162 not in errors  # the gateway enforces the window: we never broke it
    assert sleep.waits == [600.0]  # three, then the 10-minute window, then two
    assert pacer.queue_depth == 0 and pacer.open_count == 0


async def test_pacing_violation_from_ib_is_retried(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic, cache: BarCache
) -> None:
    # the gateway paces daily bars too (IB's default does not): a way to get error 162
    limits = GatewayLimits(
        historical=HistoricalPacing(max_requests=2, window=600.0, small_bars_only=False)
    )
    gateway = await make_gateway(limits=limits)
    ib = await connect(5, gateway)
    # someone else on the login used the window: our pacer does not know about it
    other = await connect(6, gateway)
    spy_stock = Stock("SPY", "SMART", "USD")
    await other.qualifyContractsAsync(spy_stock)
    await other.reqHistoricalDataAsync(spy_stock, "", "5 D", "1 day", "TRADES", True)
    await other.reqHistoricalDataAsync(spy_stock, "", "10 D", "1 day", "TRADES", True)
    waits: list[float] = []

    async def oversleep(seconds: float) -> None:
        waits.append(seconds)
        fake_time.advance(600.0)  # a sleep may last longer: IB's window passes meanwhile

    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    bars, problems = await load_daily_bars(
        ib, ["AAPL"], cache, HistoricalPacer(), today=TODAY, monotonic=fake_time,
        sleep=oversleep,
    )  # fmt: skip
    assert errors == [162]  # IB's pacing violation, answered by waiting and asking again
    assert problems == {}
    assert bars.symbols == ["AAPL"]
    assert waits == [15.0]  # the back-off before the retry (PACING_RETRY_S)


async def test_pacing_retries_back_off_longer_each_time(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic, cache: BarCache
) -> None:
    limits = GatewayLimits(
        historical=HistoricalPacing(max_requests=1, window=600.0, small_bars_only=False)
    )
    gateway = await make_gateway(limits=limits)
    ib = await connect(5, gateway)
    other = await connect(6, gateway)
    spy_stock = Stock("SPY", "SMART", "USD")
    await other.qualifyContractsAsync(spy_stock)
    await other.reqHistoricalDataAsync(spy_stock, "", "5 D", "1 day", "TRADES", True)
    sleep = FakeSleep(fake_time)  # the gateway's window outlasts every back-off
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    bars, problems = await load_daily_bars(
        ib, ["AAPL"], cache, HistoricalPacer(), today=TODAY, monotonic=fake_time,
        sleep=sleep, max_pacing_retries=3,
    )  # fmt: skip
    assert errors == [162] * 4  # the first answer and three retries
    assert sleep.waits == [15.0, 30.0, 60.0]
    assert bars.symbols == [] and "pacing" in problems["AAPL"]


async def test_a_day_reload_of_60_symbols_never_waits(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic, cache: BarCache
) -> None:
    """IB paces only bars of 30 s or less: 60 daily requests, then the same 60 again at
    once (the replayed market crossed into a new day), go out without any wait and IB's
    default limits (the gateway's) refuse none of them."""
    symbols = [f"U{i:03d}" for i in range(60)]
    gateway = await make_gateway(symbols=symbols)
    spy = HistoricalSpy(gateway)
    ib = await connect(7, gateway)
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    sleep = FakeSleep(fake_time)
    pacer: HistoricalPacer[Any] = HistoricalPacer()
    day1, problems1 = await load_daily_bars(
        ib, symbols, cache, pacer, today=TODAY, monotonic=fake_time, sleep=sleep
    )
    day2, problems2 = await load_daily_bars(
        ib, symbols, cache, pacer, today=date(2026, 11, 19), monotonic=fake_time, sleep=sleep
    )
    assert problems1 == problems2 == {}
    assert len(day1.symbols) == len(day2.symbols) == 60
    assert spy.count == 120  # the stale cache was refetched in full
    assert sleep.waits == []  # no pacing wait at all
    assert 162 not in errors
    assert fake_time.now == 1000.0  # not a second of (fake) time passed
    assert pacer.queue_depth == 0 and pacer.open_count == 0
    assert pacer.sent_in_window(fake_time()) == 0  # the small-bar budget is untouched


def _bars(last_day: date) -> Bars:
    days = pd.bdate_range(end=pd.Timestamp(last_day), periods=3)
    frame = pd.DataFrame(
        {
            "date": days,
            "symbol": "AAPL",
            "open": [10.0, 11.0, 12.0],
            "high": [11.0, 12.0, 13.0],
            "low": [9.5, 10.5, 11.5],
            "close": [10.5, 11.5, 12.5],
            "volume": [1e6, 1.1e6, 1.2e6],
        }
    )
    return Bars.from_frame(frame)


def test_apply_live_price_moves_todays_bar() -> None:
    bars = _bars(TODAY)  # today's partial bar is already there
    up = apply_live_price(bars, "AAPL", 13.4, TODAY)
    assert up.high[0, -1] == 13.4 and up.low[0, -1] == 11.5 and up.close[0, -1] == 13.4
    assert up.open[0, -1] == 12.0 and up.volume[0, -1] == 1.2e6
    down = apply_live_price(up, "AAPL", 11.0, TODAY, volume=1.5e6)
    assert (down.high[0, -1], down.low[0, -1], down.close[0, -1]) == (13.4, 11.0, 11.0)
    assert down.volume[0, -1] == 1.5e6
    assert down.n_days == bars.n_days


def test_apply_live_price_opens_a_provisional_bar() -> None:
    bars = _bars(date(2026, 11, 17))
    today = apply_live_price(bars, "AAPL", 12.9, TODAY)
    assert today.last_date("AAPL") == TODAY
    assert today.n_days == bars.n_days + 1
    assert today.open[0, -1] == today.high[0, -1] == today.low[0, -1] == 12.9
    assert math.isnan(today.volume[0, -1])


def test_no_value_last_price_changes_nothing() -> None:
    bars = _bars(TODAY)
    for bad in (math.nan, -1.0, -2.0, IB_UNSET_DOUBLE, 0.0, math.inf):
        assert apply_live_price(bars, "AAPL", bad, TODAY) is bars
    assert apply_live_prices(bars, {"MSFT": 400.0}, TODAY) is bars  # not held
    assert bars.dropped == {}
