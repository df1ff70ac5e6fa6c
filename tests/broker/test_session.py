"""The session supervisor against the simulated gateway over real sockets: connect, drops,
refused connects with backoff, clientId fallback, and IB's 1100/1101/1102 notices."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from ib_insync import Contract, Stock

from tests.broker.conftest import T_START, FakeMonotonic, until
from tui_trader.broker.health import backoff_delay
from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.session import Session, regular_session_open
from tui_trader.core.settings import ConnectionSettings
from tui_trader.sim import protocol as p
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Change, ConnectionState, Health, Store


class FastSleep:
    """The supervisor's backoff sleep: records the delay, yields once, waits no time."""

    def __init__(self, on_sleep: Callable[[int], None] | None = None) -> None:
        self.delays: list[float] = []
        self._on_sleep = on_sleep

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self._on_sleep is not None:
            self._on_sleep(len(self.delays))
        await asyncio.sleep(0)


def clock_of(fake_time: FakeMonotonic) -> Callable[[], datetime]:
    """UTC time that moves with the gateway's fake monotonic source."""
    return lambda: T_START + timedelta(seconds=fake_time.now - 1000.0)


class RequestSpy:
    """Counts requests the gateway receives, by request type (the gateway side)."""

    def __init__(self, gateway: SimGateway) -> None:
        self.counts: dict[type[Any], int] = {}
        original = gateway._handle

        def handle(s: Any, req: p.Request) -> None:
            self.counts[type(req)] = self.counts.get(type(req), 0) + 1
            original(s, req)

        gateway._handle = handle  # type: ignore[method-assign]

    def __getitem__(self, kind: type[Any]) -> int:
        return self.counts.get(kind, 0)


MakeSession = Callable[..., Awaitable[Session]]


@pytest.fixture
async def make_session(gateway: SimGateway, fake_time: FakeMonotonic) -> AsyncIterator[MakeSession]:
    made: list[Session] = []

    async def _make(
        client_id: int = 11, *, start: bool = True, gw: SimGateway | None = None, **kw: Any
    ) -> Session:
        kw.setdefault("clock", clock_of(fake_time))
        kw.setdefault("sleep", FastSleep())
        kw.setdefault("health_interval_s", None)
        kw.setdefault("connect_timeout", 3.0)
        kw.setdefault("rng", random.Random(3))
        settings = ConnectionSettings(port=(gw or gateway).port, client_id=client_id)
        session = Session(settings, **kw)
        made.append(session)
        if start:
            assert await session.start()
        return session

    yield _make
    for s in made:
        await s.stop()


async def stocks(session: Session) -> list[Contract]:
    contracts: list[Contract] = [Stock(s, "SMART", "USD") for s in ("AAPL", "SPY", "MSFT")]
    assert len(await session.ib.qualifyContractsAsync(*contracts)) == 3
    return contracts


async def options(session: Session, n: int) -> list[Contract]:
    details = await session.ib.reqContractDetailsAsync(
        Contract(
            secType="OPT",
            symbol="AAPL",
            lastTradeDateOrContractMonth="202612",
            right="C",
            exchange="SMART",
            currency="USD",
        )
    )
    assert len(details) >= n
    return [d.contract for d in details[:n]]


def gateway_lines(gateway: SimGateway, client_id: int) -> int:
    client = gateway.clients.get(client_id)
    return 0 if client is None else len(client.lines)


async def test_connect_ready_and_stop(make_session: MakeSession, gateway: SimGateway) -> None:
    store = Store()
    session = await make_session(11, store=store)
    assert session.is_connected and session.is_ready
    assert session.client_id == 11 and 11 in gateway.clients
    health = store.get(Health)
    assert health.state is ConnectionState.CONNECTED
    assert health.since == T_START
    assert await session.wait_ready(1.0)

    await session.stop()
    assert store.get(Health).state is ConnectionState.DOWN
    assert not session.is_connected
    await until(lambda: 11 not in gateway.clients, what="the gateway to see the disconnect")


async def test_ready_hooks_run_in_order_after_every_connect(
    make_session: MakeSession, gateway: SimGateway
) -> None:
    calls: list[str] = []
    session = await make_session(12, start=False)

    async def first() -> None:
        calls.append("first")

    async def broken() -> None:
        calls.append("broken")
        raise RuntimeError("a resync that fails must not stop the others")

    async def last() -> None:
        calls.append("last")

    for hook in (first, broken, last):
        session.add_ready_hook(hook)
    assert await session.start()
    assert calls == ["first", "broken", "last"]

    gateway.drop()
    await until(lambda: session.reconnects == 1 and session.is_ready, what="reconnect")
    assert calls == ["first", "broken", "last"] * 2


async def test_ten_drops_restore_every_line(
    make_session: MakeSession, gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    store = Store()
    states: list[ConnectionState] = []

    def on_health(change: Change[Health]) -> None:
        if not states or states[-1] is not change.value.state:
            states.append(change.value.state)

    store.subscribe(Health, on_health)
    sleep = FastSleep()
    session = await make_session(13, start=False, store=store, sleep=sleep)
    md = MarketData(session.ib, LineBudget(90), clock=clock_of(fake_time), store=store)
    session.use_marketdata(md)
    assert await session.start()
    contracts = await stocks(session) + await options(session, 7)
    for c in contracts:
        assert md.subscribe(c) is not None
    keys = [c.conId for c in contracts]
    await until(lambda: all(md.last_tick(k) is not None for k in keys), what="first ticks")
    tickers = {k: md.ticker(k) for k in keys}

    for i in range(10):
        fake_time.advance(2.0)
        dropped_at = clock_of(fake_time)()
        gateway.drop()
        await until(
            lambda i=i: session.reconnects == i + 1 and session.is_ready,  # type: ignore[misc]
            what=f"reconnect {i + 1}",
        )
        await until(
            lambda t=dropped_at: all(  # type: ignore[misc]
                (md.last_tick(k) or T_START) >= t for k in keys
            ),
            what=f"every line ticking again after drop {i + 1}",
        )
        assert gateway_lines(gateway, session.client_id) == len(keys)
        assert all(md.is_live(k) for k in keys)

    assert session.reconnects == 10
    assert session.client_id == 13  # every reconnect starts from the configured id
    # the caller's Ticker objects are the ones that keep updating
    assert all(md.ticker(k) is tickers[k] for k in keys)
    assert md.budget.active == len(keys) and md.budget.evictions == 0
    assert states[0] is ConnectionState.CONNECTED
    assert states[1:] == [ConnectionState.RECONNECTING, ConnectionState.CONNECTED] * 10
    # a connection that drops within min_stable_s backs off before the next attempt
    assert sleep.delays and all(1.0 <= d <= 30.0 for d in sleep.delays)


async def test_refused_connects_back_off_then_reconnect(
    make_session: MakeSession, gateway: SimGateway
) -> None:
    def reopen_after_three(n: int) -> None:
        if n == 3:
            gateway.refuse(0.0)  # the listener comes back right away

    sleep = FastSleep(reopen_after_three)
    store = Store()
    session = await make_session(14, store=store, sleep=sleep, min_stable_s=0.0)
    seen: list[ConnectionState] = []
    store.subscribe(Health, lambda ch: seen.append(ch.value.state))

    gateway.restart(3600.0)  # every socket closed, nothing accepted for an hour
    await until(lambda: session.reconnects == 1 and session.is_ready, what="reconnect")

    assert len(sleep.delays) >= 3
    rng = random.Random(3)
    expected = [backoff_delay(a, rng) for a in range(len(sleep.delays))]
    assert sleep.delays == expected
    assert sleep.delays[0] == 1.0
    assert 1.0 <= sleep.delays[1] < 2.0 and 2.0 <= sleep.delays[2] < 4.0
    assert session.failed_attempts == len(sleep.delays)
    assert ConnectionState.RECONNECTING in seen
    assert store.get(Health).state is ConnectionState.CONNECTED


async def test_client_id_in_use_falls_back_to_next(
    make_session: MakeSession, gateway: SimGateway
) -> None:
    first = await make_session(21)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    store = Store()
    second = await make_session(21, store=store, connect_timeout=5.0)
    assert loop.time() - t0 < 2.0  # did not sit out connectAsync's 5 s timeout
    assert first.client_id == 21 and second.client_id == 22
    assert {21, 22} <= set(gateway.clients)
    assert store.get(Health).last_error_code == 326
    assert store.get(Health).state is ConnectionState.CONNECTED


async def test_every_client_id_in_use_keeps_retrying(
    make_session: MakeSession, gateway: SimGateway
) -> None:
    await make_session(31)
    await make_session(32)
    sleep = FastSleep()
    blocked = await make_session(31, start=False, max_client_id_tries=2, sleep=sleep)
    assert not await blocked.start()
    assert blocked.state is ConnectionState.RECONNECTING
    await until(lambda: len(sleep.delays) >= 2, what="a second round of attempts")
    assert not blocked.is_connected


async def test_1100_degrades_1101_resubscribes_1102_keeps_lines(
    make_session: MakeSession, gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    spy = RequestSpy(gateway)
    store = Store()
    session = await make_session(41, start=False, store=store)
    md = MarketData(session.ib, LineBudget(90), clock=clock_of(fake_time), store=store)
    session.use_marketdata(md)
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    session.add_ready_hook(resync)
    assert await session.start()
    contracts = await stocks(session)
    for c in contracts:
        md.subscribe(c)
    keys = [c.conId for c in contracts]
    await until(lambda: all(md.last_tick(k) is not None for k in keys), what="first ticks")
    assert spy[p.ReqMktData] == 3 and resyncs == [1]

    # 1100: connectivity lost, socket up -> DEGRADED, market data paused
    gateway.send_error(1100)
    await until(lambda: session.state is ConnectionState.DEGRADED, what="DEGRADED")
    assert store.get(Health).state is ConnectionState.DEGRADED
    assert store.get(Health).last_error_code == 1100

    # 1101: restored, data lost -> the gateway dropped every line; we resubscribe all
    fake_time.advance(5.0)
    restored_at = clock_of(fake_time)()
    gateway.send_error(1101)
    await until(lambda: spy[p.ReqMktData] == 6, what="three new reqMktData")
    await until(lambda: gateway_lines(gateway, 41) == 3, what="lines back on the gateway")
    await until(lambda: len(resyncs) == 2, what="order resync after 1101")
    assert session.state is ConnectionState.CONNECTED
    fake_time.advance(30.0)  # the market moves; quotes must flow on the new lines
    await gateway.pump(3)
    await until(
        lambda: all((md.last_tick(k) or T_START) > restored_at for k in keys),
        what="quotes flowing after 1101",
    )

    # 1102: restored, data kept -> no new reqMktData, lines stay, orders re-synced
    gateway.send_error(1100)
    await until(lambda: session.state is ConnectionState.DEGRADED, what="DEGRADED again")
    gateway.send_error(1102)
    await until(lambda: len(resyncs) == 3, what="order resync after 1102")
    await session.ib.reqCurrentTimeAsync()  # a round trip: anything sent has arrived
    assert spy[p.ReqMktData] == 6
    assert gateway_lines(gateway, 41) == 3
    assert session.state is ConnectionState.CONNECTED
    fake_time.advance(5.0)
    kept_at = clock_of(fake_time)()
    await gateway.pump(2)
    await until(
        lambda: all((md.last_tick(k) or T_START) >= kept_at for k in keys),
        what="the kept lines stream again",
    )


async def test_stale_quotes_degrade_during_the_session(
    make_session: MakeSession, gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    store = Store()
    session = await make_session(51, start=False, store=store, stale_quote_s=5.0)
    md = MarketData(session.ib, LineBudget(90), clock=clock_of(fake_time), store=store)
    session.use_marketdata(md)
    assert await session.start()
    (aapl, *_) = await stocks(session)
    md.subscribe(aapl)
    await until(lambda: md.last_tick(aapl.conId) is not None, what="first tick")
    assert session.refresh_health() is ConnectionState.CONNECTED

    spy = next(c for c in await stocks(session) if c.symbol == "SPY")
    md.subscribe(spy)
    await until(lambda: md.last_tick(spy.conId) is not None, what="SPY's first tick")
    gateway.freeze("AAPL")  # one quiet line while another ticks: the feed is alive
    fake_time.advance(6.0)
    gateway.set_price("SPY", 600.0)
    await gateway.pump(2)
    await until(lambda: md.quote_age_s(spy.conId, clock_of(fake_time)()) == 0.0, what="SPY ticks")
    assert session.refresh_health() is ConnectionState.CONNECTED
    assert store.get(Health).oldest_quote_age_s == 6.0  # the footer still shows the oldest

    gateway.freeze("SPY")  # now nothing ticks: the feed is silent
    fake_time.advance(6.0)
    await gateway.pump(2)
    assert session.refresh_health() is ConnectionState.DEGRADED

    gateway.unfreeze("AAPL")
    fake_time.advance(1.0)
    gateway.set_price("AAPL", 250.0)
    await gateway.pump(2)
    await until(
        lambda: md.quote_age_s(aapl.conId, clock_of(fake_time)()) == 0.0, what="a fresh tick"
    )
    assert session.refresh_health() is ConnectionState.CONNECTED


def test_regular_session_open() -> None:
    assert regular_session_open(T_START)  # Wednesday 14:30 ET
    assert not regular_session_open(T_START.replace(hour=21, minute=1))  # 16:01 ET
    assert not regular_session_open(T_START.replace(hour=14, minute=29))  # 09:29 ET
    assert regular_session_open(T_START.replace(hour=14, minute=30))  # 09:30 ET
    assert not regular_session_open(T_START.replace(day=21))  # Saturday


async def test_throttling_and_request_queue_are_published(
    make_session: MakeSession, gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    store = Store()
    session = await make_session(61, start=False, store=store)
    md = MarketData(session.ib, LineBudget(90), clock=clock_of(fake_time), store=store)
    session.use_marketdata(md)
    assert await session.start()
    seen: list[tuple[bool, int]] = []
    store.subscribe(
        Health, lambda ch: seen.append((ch.value.throttled, ch.value.request_queue_depth))
    )
    for c in await options(session, 60):
        md.subscribe(c)  # 60 requests: more than ib_insync sends in one burst
    assert session.request_queue_depth > 0
    await until(lambda: not store.get(Health).throttled, timeout=5.0, what="throttle end")
    assert any(throttled and depth > 0 for throttled, depth in seen)
    assert store.get(Health).request_queue_depth == 0
    assert session.rate.throttle_starts >= 1
    await until(lambda: gateway_lines(gateway, 61) == 60, what="every line on the gateway")


async def test_down_inside_the_nightly_reset_is_maintenance(
    make_session: MakeSession, gateway: SimGateway
) -> None:
    # 23:50 New York on Wednesday: inside IB's daily reset window
    night = datetime(2026, 11, 19, 4, 50, tzinfo=T_START.tzinfo)
    store = Store()
    session = await make_session(71, store=store, clock=lambda: night)
    assert store.get(Health).state is ConnectionState.CONNECTED
    gateway.restart(3600.0)
    await until(lambda: session.failed_attempts >= 1, what="a refused reconnect")
    assert store.get(Health).state is ConnectionState.MAINTENANCE
    assert session.state is ConnectionState.MAINTENANCE
