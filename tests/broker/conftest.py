"""Broker tests run the real ib_insync path against the simulated gateway (no mock broker).

The gateway fixtures are the simulated gateway's own (tests/sim/conftest.py): a gateway on a
free loopback port with an injected monotonic clock and no background loop (tests call
``gateway.pump()``), and ``connect`` for an ib_insync client. Here: a fresh ``journal``
(closed after the test) and ``ib``, an ib_insync client connected as clientId 1.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_insync import IB

from tests.sim.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    SYMBOLS,
    T_START,
    FakeMonotonic,
    connect,
    fake_time,
    gateway,
    make_gateway,
    t_start,
    until,
    wait_until,
)
from tui_trader.state.journal import Journal


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite3")
    yield j
    j.close()


@pytest.fixture
async def ib(connect: Any) -> IB:  # noqa: F811  (the fixture, by name)
    client: IB = await connect(1)
    return client
