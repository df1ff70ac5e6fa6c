"""Issue 13, defect 10: no gateway, no hint.

Without a gateway the footer said ``RECONNECTING`` and the Log only ``IB connection DOWN
-> RECONNECTING``; the host:port and IB's own words were in the log file only. Now the
session publishes where it connects, why the attempts fail and what to check (the Health
slice), and the footer shows the first two (the engine's Log line carries the hint).
Real sockets: a closed port on this host, and the simulated gateway refusing.
"""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime

from tests.broker.conftest import FakeMonotonic, until
from tests.broker.test_session import FastSleep, MakeSession, clock_of
from tests.broker.test_session import make_session as make_session  # the fixture
from tui_trader.broker.connect_problem import IB_REFUSED, describe_failure
from tui_trader.broker.session import Session
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import ConnectionSettings, TimingSettings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Account, ConnectionState, Health, Store
from tui_trader.tui.widgets.footer import footer_parts


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_no_gateway_publishes_where_why_and_what_to_check(
    fake_time: FakeMonotonic,
) -> None:
    port = closed_port()
    store = Store()
    sleep = FastSleep()
    session = Session(
        ConnectionSettings(port=port, client_id=41),
        store=store,
        clock=clock_of(fake_time),
        sleep=sleep,
        health_interval_s=None,
        connect_timeout=2.0,
        rng=random.Random(3),
    )
    try:
        assert not await session.start()
        health = store.get(Health)
        assert health.endpoint == f"127.0.0.1:{port}"
        assert health.connect_problem == f"connection refused: {IB_REFUSED}"
        assert health.connect_hint is not None
        assert f"socket port {port}" in health.connect_hint
        assert "Enable ActiveX and Socket Clients" in health.connect_hint
    finally:
        await session.stop()


async def test_the_problem_clears_once_the_gateway_answers(
    make_session: MakeSession, gateway: SimGateway
) -> None:
    def reopen_after_two(n: int) -> None:
        if n == 2:
            gateway.refuse(0.0)

    store = Store()
    session = await make_session(
        42, store=store, sleep=FastSleep(reopen_after_two), min_stable_s=0.0
    )
    problems: list[str | None] = []
    store.subscribe(Health, lambda ch: problems.append(ch.value.connect_problem))
    gateway.restart(3600.0)
    await until(lambda: session.reconnects == 1 and session.is_ready, what="reconnect")
    assert f"connection refused: {IB_REFUSED}" in problems
    health = store.get(Health)
    assert health.state is ConnectionState.CONNECTED
    assert health.connect_problem is None and health.connect_hint is None
    assert health.endpoint == f"127.0.0.1:{gateway.port}"


def test_a_timeout_and_an_unknown_host_say_what_to_check() -> None:
    timeout = describe_failure(TimeoutError(), "127.0.0.1", 7497, 4.0)
    assert timeout.reason == "no API answer within 4 s"
    assert "Trusted IPs" in timeout.hint
    unknown = describe_failure(
        socket.gaierror(-2, "Name or service not known"), "ib-gw.lan", 4002, 4.0
    )
    assert unknown.reason == "unknown host 'ib-gw.lan' (Name or service not known)"
    assert "host name" in unknown.hint


NOW = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)


def test_the_footer_says_where_it_connects_and_why_it_cannot() -> None:
    health = Health(
        state=ConnectionState.RECONNECTING,
        endpoint="127.0.0.1:7497",
        connect_problem=f"connection refused: {IB_REFUSED}",
        connect_hint="Is TWS or IB Gateway running and logged in?",
    )
    args = (health, Account(), BreakerState(), NOW, TimingSettings())
    wide = footer_parts(*args)
    assert wide["conn"].text == "RECONNECTING 127.0.0.1:7497"
    assert wide["error"].text == f"connection refused: {IB_REFUSED}"
    assert wide["error"].css == "-bad"
    assert wide["lines"].text == "" and wide["queue"].text == ""
    compact = footer_parts(*args, compact=True)
    assert compact["conn"].text == "RECONNECTING 127.0.0.1:7497"
    assert compact["error"].text == "connection refused"
    # connected: the usual footer, no stale problem
    ok = footer_parts(Health(state=ConnectionState.CONNECTED, endpoint="127.0.0.1:7497"), *args[1:])
    assert ok["conn"].text == "CONNECTED" and ok["error"].text == "no IB errors"
    assert ok["lines"].text.startswith("lines ")
