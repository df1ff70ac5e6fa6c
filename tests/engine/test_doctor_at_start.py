"""The dashboard's preflight at start (issue 11) beside a running engine: crosses on the
Log and in the :class:`Preflight` slice, the engine's line count still IB's, no order of
the doctor's in the engine's book, skipped without line headroom, and a failure inside
the doctor a Log line. Real engine, real simulated gateway, real sockets."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.engine.conftest import MakeEngine, engine_settings
from tests.engine.test_doctor import control
from tests.engine.test_lines_agree import all_lines, assert_agree, gateway_lines
from tests.sim.conftest import until
from tui_trader.core.models import EventLevel
from tui_trader.engine.doctor import CLIENT_ID_OFFSET
from tui_trader.engine.doctor_start import preflight_at_start, run_at_start
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import EventLog, Orders, Preflight


def doctor_events(engine: Engine) -> list[tuple[EventLevel, str]]:
    return [(e.level, e.text) for e in engine.store.get(EventLog).items if e.kind == "doctor"]


async def test_a_healthy_gateway_no_cross_and_the_lines_stay_agreed(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    gw = engine_gateway
    engine = await make_engine()
    before = await assert_agree(engine, gw, "booted")
    assert before == 4
    orders = engine.store.get(Orders)
    doctor_id = engine.settings.connection.client_id + CLIENT_ID_OFFSET
    held: list[tuple[int, int]] = []  # (the doctor's lines, every line) at each loop turn

    async def sample() -> None:
        while True:
            session = gw.clients.get(doctor_id)
            held.append((len(session.lines) if session else 0, all_lines(gw)))
            await asyncio.sleep(0)

    sampler = asyncio.create_task(sample())
    checks = await run_at_start(engine, now=gw.sim_time, timeout=3.0)
    sampler.cancel()

    # one line at a time, from IB's headroom: never more than the engine's 4 + 1 in all
    assert max(d for d, _ in held) == 1 and max(a for _, a in held) == before + 1

    assert checks is not None and [c.name for c in checks if not c.ok] == []
    assert len(checks) == 11  # no journal check: the engine holds its lock
    pre = engine.store.get(Preflight)
    assert (pre.state, pre.crosses, pre.checks) == ("done", (), 11)
    assert doctor_events(engine) == [(EventLevel.INFO, "preflight: all 11 checks pass")]
    # the doctor's lines are gone with its connection; the engine's are as they were
    await until(lambda: doctor_id not in gw.clients, what="the doctor's disconnect")
    assert await assert_agree(engine, gw, "after the preflight") == before
    assert all_lines(gw) == gateway_lines(gw, engine).total() == before
    budget = engine.marketdata.budget
    assert (budget.max, budget.shrinks, budget.evictions) == (90, 0, 0)
    assert engine.store.get(Orders) == orders  # its what-ifs never reach the engine's book


async def test_read_only_and_no_market_data_are_crosses_on_the_log(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    gw = engine_gateway
    engine = await make_engine()
    port = await gw.start_control()
    assert await control(port, "readonly on") == "ok"
    assert await control(port, "market-data none") == "ok"

    await run_at_start(engine, now=gw.sim_time, timeout=3.0)

    pre = engine.store.get(Preflight)
    assert pre.state == "done" and pre.checks == 11
    assert pre.crosses == ("read-only", "stock-data", "option-data", "greeks", "what-if")
    events = doctor_events(engine)
    assert [lv for lv, _ in events] == [EventLevel.WARNING] * 5
    assert events[0][1].startswith("read-only: orders refused (IB 321")
    assert 'untick "Read-Only API"' in events[0][1]
    assert events[1][1].startswith("stock-data: no stock market data (IB 354")
    await assert_agree(engine, gw, "after a preflight with crosses")


async def test_no_line_headroom_skips_the_socket_checks(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    """max_lines at IB's 100: a line of the doctor's could make IB refuse the engine's
    next one, so nothing connects; above 100 the line budget itself is the cross."""
    gw = engine_gateway
    for max_lines, state, crosses in ((100, "skipped", ()), (150, "done", ("market-data-lines",))):
        settings = engine_settings(gw.port, connection={"max_lines": max_lines})
        engine = await make_engine(settings=settings, journal_name=f"j{max_lines}.sqlite3")
        assert await run_at_start(engine, now=gw.sim_time, timeout=3.0) is None
        pre = engine.store.get(Preflight)
        assert (pre.state, pre.crosses) == (state, crosses)
        events = doctor_events(engine)
        assert events[0][0] is EventLevel.WARNING
        assert events[0][1].startswith(
            f"preflight at start skipped: [connection] max_lines {max_lines} leaves no "
            "market-data line of IB's 100"
        )
        assert [t.split(":")[0] for _, t in events[1:]] == list(crosses)
        doctor_id = engine.settings.connection.client_id + CLIENT_ID_OFFSET
        assert doctor_id not in gw.clients  # never connected
        await engine.stop()


async def test_a_failure_inside_the_doctor_is_a_log_line(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()

    def naive() -> datetime:  # a clock without a time zone: the clock check raises
        return datetime(2026, 11, 20, 15, 0)

    assert await run_at_start(engine, now=naive, timeout=3.0) is None
    assert engine.store.get(Preflight).state == "failed"
    [(level, text)] = doctor_events(engine)
    assert level is EventLevel.WARNING
    assert text.startswith("preflight at start could not run: TypeError(")
    assert engine.session.is_ready  # the engine goes on


async def test_off_runs_nothing_and_leaving_cancels_a_run(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine(boot=False)
    async with preflight_at_start(engine, enabled=False, now=engine_gateway.sim_time) as task:
        assert task is None
    assert engine.store.get(Preflight).state == "off"
    # left while still waiting for the boot: cancelled, nothing reported
    async with preflight_at_start(
        engine, enabled=True, now=engine_gateway.sim_time, boot_wait_s=30.0
    ) as task:
        assert task is not None
        await until(lambda: engine.store.get(Preflight).state == "running", what="running")
    assert task.cancelled()
    assert doctor_events(engine) == []
