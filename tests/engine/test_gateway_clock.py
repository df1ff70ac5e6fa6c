"""The engine tells time by the gateway's clock (reqCurrentTime), not the wall clock: a
standalone simulated gateway at 14:31 ET while the wall clock says 09:04 must give the
engine 14:31, its entry window 14 minutes ahead, and no time at all before the first
connection. A gateway running faster than real time (``--speed``) is followed by the
measured rate; a reconnect re-syncs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.engine.conftest import engine_settings, short_sleep
from tests.sim.conftest import FakeMonotonic, MakeGateway, until
from tui_trader.broker.session import GatewayClock
from tui_trader.core.calendar import WindowState, window_status
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.engine.runtime import running_engine
from tui_trader.state.journal import Journal
from tui_trader.state.store import Account, Health
from tui_trader.tui.widgets.footer import CLOCK_PLACEHOLDER, footer_parts

#: Wednesday 18 November 2026, 14:31:00 New York: the simulated market's time.
MARKET = datetime(2026, 11, 18, 19, 31, tzinfo=UTC)
#: The same day, 09:04 New York: what the wall clock says meanwhile.
WALL = datetime(2026, 11, 18, 14, 4, tzinfo=UTC)


def off_by(a: datetime | None, b: datetime) -> float:
    assert a is not None, "the engine has no time"
    return abs((a - b).total_seconds())


async def test_the_engine_runs_on_the_standalone_gateways_clock_not_the_wall_clock(
    make_gateway: MakeGateway, tmp_path: Path
) -> None:
    gateway = await make_gateway(start=MARKET)
    settings = engine_settings(gateway.port)
    async with running_engine(
        settings, demo=False, journal_path=tmp_path / "j.sqlite3", clock=lambda: WALL
    ) as engine:
        assert engine.session.is_connected
        now = engine.now()
        assert off_by(now, MARKET) <= 1.5  # reqCurrentTime has a 1-second resolution
        assert now is not None and engine.today().isoformat() == "2026-11-18"
        status = window_status(now, settings.timing)
        assert status.state is WindowState.OPENS_IN
        assert timedelta(minutes=13) <= status.opens_in <= timedelta(minutes=14)
        parts = footer_parts(
            engine.store.get(Health),
            engine.store.get(Account),
            engine.store.get(BreakerState),
            now,
            settings.timing,
        )
        assert parts["clock"].text.startswith("14:3")
        assert "14m" in parts["window"].text or "13m" in parts["window"].text
        since = engine.store.get(Health).since  # "CONNECTED since" is market time too
        assert off_by(since, MARKET) <= 1.5


async def test_before_the_first_connection_the_engine_has_no_time(tmp_path: Path) -> None:
    settings = Settings.model_validate({"connection": {"port": 9, "connect_timeout_s": 0.5}})
    async with running_engine(
        settings, demo=False, journal_path=tmp_path / "j.sqlite3", clock=lambda: WALL
    ) as engine:
        assert not engine.session.is_connected
        assert engine.now() is None  # the footer shows no clock, never the wall's 09:04
        parts = footer_parts(
            engine.store.get(Health),
            engine.store.get(Account),
            engine.store.get(BreakerState),
            engine.now(),
            settings.timing,
        )
        assert parts["clock"].text == CLOCK_PLACEHOLDER


def gateway_engine(port: int, fake_time: FakeMonotonic, tmp_path: Path) -> Engine:
    """An engine on the gateway's clock, our monotonic source the test's (no timers)."""
    clock = GatewayClock(lambda: WALL, monotonic=fake_time)
    return Engine(
        engine_settings(port),
        Journal(tmp_path / "j.sqlite3"),
        clock=clock,
        monitor_interval_s=None,
        monotonic=fake_time,
        session_options={
            "health_interval_s": None,
            "clock_sync_s": None,
            "sleep": short_sleep,
            "rng": random.Random(5),
            "monotonic": fake_time,
        },
    )


async def test_a_gateway_at_speed_60_is_followed_by_its_measured_rate(
    make_gateway: MakeGateway, fake_time: FakeMonotonic, tmp_path: Path
) -> None:
    gateway = await make_gateway(start=MARKET, speed=60.0)
    engine = gateway_engine(gateway.port, fake_time, tmp_path)
    await engine.start()
    try:
        assert off_by(engine.now(), gateway.sim_time()) <= 1.0
        fake_time.advance(30.0)  # 30 real seconds: 30 simulated minutes
        assert await engine.session.sync_clock()
        assert off_by(engine.now(), gateway.sim_time()) <= 1.0
        fake_time.advance(20.0)  # no sample now: the measured rate carries the clock
        assert off_by(engine.now(), gateway.sim_time()) <= 2.0
        assert off_by(engine.now(), MARKET + timedelta(minutes=50)) <= 2.0
        assert engine.today().isoformat() == "2026-11-18"
    finally:
        await engine.stop()
        engine.journal.close()


async def test_a_reconnect_resyncs_the_clock(
    make_gateway: MakeGateway, fake_time: FakeMonotonic, tmp_path: Path
) -> None:
    gateway = await make_gateway(start=MARKET)
    engine = gateway_engine(gateway.port, fake_time, tmp_path)
    await engine.start()
    try:
        assert off_by(engine.now(), MARKET) <= 1.0
        later = MARKET + timedelta(hours=1)
        gateway.clock.jump_to(later)  # e.g. a gateway restarted with another clock
        assert off_by(engine.now(), MARKET) <= 1.0  # not asked yet: still the old offset
        reconnects = engine.session.reconnects
        gateway.drop()
        await until(
            lambda: engine.session.reconnects > reconnects and engine.session.is_ready,
            timeout=10.0,
            what="the reconnect",
        )
        assert off_by(engine.now(), later) <= 1.0
    finally:
        await engine.stop()
        engine.journal.close()
