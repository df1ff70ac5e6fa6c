"""Engine tests run the real engine (session, market data, orders, account, scanner) against
the simulated gateway over real sockets; there is no mock broker.

The gateway fixtures are the simulated gateway's own (tests/sim/conftest.py): a gateway on a
free loopback port with an injected monotonic clock and no background loop (tests call
``gateway.pump()``). The engine's clock is the gateway's simulated clock, so quote ages and
market time move together when a test advances ``fake_time``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sim.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    T_START,
    FakeMonotonic,
    HistoricalSpy,
    MakeGateway,
    fake_time,
    make_gateway,
    t_start,
    until,
    wait_until,
)
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal

#: With this universe (and order) the seeded market at T_START has AAPL SHORT (bear put)
#: and MSFT LONG (bull call) signals; SPY and TLT have none.
ENGINE_SYMBOLS = ("MSFT", "AAPL", "SPY", "TLT")


async def short_sleep(seconds: float) -> None:
    """The session's reconnect backoff, shortened: tests never wait real seconds."""
    await asyncio.sleep(min(seconds, 0.02))


def engine_settings(port: int, client_id: int = 21, **sections: dict[str, Any]) -> Settings:
    data: dict[str, Any] = {
        "universe": {"symbols": list(ENGINE_SYMBOLS)},
        "connection": {"port": port, "client_id": client_id, "connect_timeout_s": 3.0},
        "scanner": {"interval_s": 3600.0},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Settings.model_validate(data)


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:  # noqa: F811
    return await make_gateway(symbols=ENGINE_SYMBOLS)


MakeEngine = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def make_engine(
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[MakeEngine]:
    """Factory: a started, booted engine on ``engine_gateway`` (journal in tmp_path)."""
    made: list[tuple[Engine, Journal]] = []

    async def _make(
        *,
        journal_name: str = "journal.sqlite3",
        settings: Settings | None = None,
        boot: bool = True,
        **kwargs: Any,
    ) -> Engine:
        journal = Journal(tmp_path / journal_name)
        kwargs.setdefault("monitor_interval_s", None)
        kwargs.setdefault("monotonic", fake_time)
        kwargs.setdefault(
            "session_options",
            {
                "health_interval_s": None,
                "sleep": short_sleep,
                "rng": random.Random(5),
                "monotonic": fake_time,
            },
        )
        engine = Engine(
            settings or engine_settings(engine_gateway.port),
            journal,
            clock=engine_gateway.sim_time,
            **kwargs,
        )
        made.append((engine, journal))
        await engine.start()
        if boot:
            assert await engine.wait_booted(20.0), "the engine did not boot"
        return engine

    yield _make
    for engine, journal in made:
        await engine.stop()
        journal.close()
