"""Broker tests run the real ib_insync path against the simulated gateway (no mock broker).

The gateway fixtures are the simulated gateway's own (tests/sim/conftest.py): a gateway on a
free loopback port with an injected monotonic clock and no background loop (tests call
``gateway.pump()``), and ``connect`` for an ib_insync client.
"""

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
