"""Benchmark: intent -> placeOrder bytes on the wire, what-if excluded (target < 10 ms).

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_bench_orders.py -p no:cacheprovider -o addopts="" -s

Each order goes through ``OrderManager.transmit``: the refusal checks, building the BAG,
committing the intent to the SQLite journal (WAL, synchronous=FULL: an fsync) and
``placeOrder``. Two figures per order, from the moment ``transmit`` is called:

- *wire*: ib_insync's connection has handed the placeOrder message to the socket
  (``transport.write`` returned with nothing left buffered);
- *arrival*: the in-process simulated gateway has decoded that placeOrder (this also
  includes ``mark_sent``'s commit, which runs before the loop lets the gateway read).

30 orders, one after the other (each waits for its fill, as the same legs cannot have two
working orders), on a connection that sends nothing else: the quotes come through a second
client. ib_insync throttles a client to 45 messages per second and queues the excess in
memory; staying under it measures our path, not the throttle (the app sends a handful of
orders a day).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from ib_insync import IB

from tests.broker.spreads_on_gateway import READY, TestClock, bull_call_spec, natural, stream_calls
from tests.sim.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    connect,
    fake_time,
    gateway,
    make_gateway,
    until,
)
from tui_trader.broker.orders import OrderManager
from tui_trader.core.models import IntentStatus
from tui_trader.core.risk import GateResult
from tui_trader.core.settings import ExecutionSettings, RiskSettings, SelectionSettings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal

ORDERS = 30
TARGET_MS = 10.0


async def test_intent_to_wire_under_10_ms(
    gateway: SimGateway,  # noqa: F811
    connect: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    chain = await stream_calls(await connect(2), gateway)
    ib: IB = await connect(1)
    lo, sh = chain.options[4], chain.options[6]
    nat = natural(chain, lo, sh)
    spec = bull_call_spec(lo, sh, quantity=1, limit=nat.ask)
    journal = Journal(tmp_path / "journal.sqlite3")
    om = OrderManager(
        ib,
        journal,
        clock=TestClock(),
        execution=ExecutionSettings(),
        risk=RiskSettings(),
        selection=SelectionSettings(),
    )
    gate = GateResult(True, 1, None, "All risk gates pass: 1 contracts.")

    wire: list[float] = []
    arrival: list[float] = []
    conn = ib.client.conn
    send = conn.sendMsg

    def timed_send(msg: bytes) -> None:
        send(msg)
        if msg[4:6] == b"3\x00":  # placeOrder
            assert conn.transport is not None
            assert conn.transport.get_write_buffer_size() == 0
            wire.append(time.perf_counter())

    conn.sendMsg = timed_send  # type: ignore[method-assign]
    place = gateway._place_order

    def timed_place(session: Any, req: Any) -> None:
        arrival.append(time.perf_counter())
        place(session, req)

    gateway._place_order = timed_place  # type: ignore[method-assign]

    starts: list[float] = []
    try:
        for _ in range(ORDERS):
            starts.append(time.perf_counter())
            intent = await om.transmit(spec, gate=gate, context=READY)
            await until(
                lambda iid=intent.intent_id: (
                    journal.intent(iid).status is IntentStatus.FILLED  # type: ignore[union-attr]
                ),
                what="fill",
            )
    finally:
        await om.close()
        journal.close()

    assert len(wire) == len(arrival) == ORDERS
    to_wire = sorted((w - s) * 1000 for w, s in zip(wire, starts, strict=True))
    to_gateway = sorted((a - s) * 1000 for a, s in zip(arrival, starts, strict=True))
    med_wire, med_gw = statistics.median(to_wire), statistics.median(to_gateway)
    p90 = int(0.9 * ORDERS) - 1
    print(
        f"\nintent -> placeOrder on the wire: median {med_wire:.2f} ms, p90 {to_wire[p90]:.2f} ms, "
        f"max {to_wire[-1]:.2f} ms over {ORDERS} orders"
        f"\nintent -> placeOrder decoded by the gateway: median {med_gw:.2f} ms, "
        f"p90 {to_gateway[p90]:.2f} ms, max {to_gateway[-1]:.2f} ms"
    )
    assert med_wire < TARGET_MS
    assert med_gw < TARGET_MS
