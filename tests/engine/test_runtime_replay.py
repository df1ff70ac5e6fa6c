"""The demo's market clock from ``--start`` and ``--speed``: the in-process gateway starts
where it is told (a closed time: the next open) and the engine's clock is that market's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tui_trader.core.settings import Settings
from tui_trader.engine.runtime import running_engine
from tui_trader.sim.clock import parse_start

#: Wednesday 18 November 2026, 09:04 New York: the wall clock, which must not matter.
WALL = datetime(2026, 11, 18, 14, 4, tzinfo=UTC)


async def test_the_demo_starts_at_start_on_trading_time() -> None:
    start = parse_start("2026-11-21 10:00")  # a Saturday: Monday's open
    async with running_engine(
        Settings(), demo=True, clock=lambda: WALL, start=start, speed=2.0
    ) as engine:
        now = engine.now()
        assert now is not None
        monday_open = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
        assert monday_open <= now < monday_open + timedelta(seconds=30)
        assert engine.today() == date(2026, 11, 23)
