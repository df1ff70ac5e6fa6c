"""Issue 12: the snapshot rotation of a big universe stays inside IB's 50 messages/s.

IB paces each API client by wall time: more than 50 messages in a second and it answers
error 100 (and disconnects a client that keeps at it). With a universe past the line
budget the rotation snapshots the rest over and over, so it is the app's main sender;
this test runs it against the simulated gateway and counts, on the gateway's side, every
message the client sends, per rolling second. 120 symbols on 90 lines (70 stream, 50
rotate, each due every 2 s: more than the rotation's 20 a second can serve, so it runs
flat out); a bigger universe only makes the boot longer, not the rate higher (the rate is
capped per second and per tick, whatever the number of symbols).

Set-up and why:
- The gateway runs on its own thread and loop (:class:`~tui_trader.sim.thread.GatewayThread`),
  so it reads the client's bytes as they arrive, not when the engine's loop lets it (a
  shared loop would bunch reads after a busy scan and count more than was sent).
- The boot (a contract-details and a daily-bar request per symbol) is not what is
  measured and would take seconds at IB's pace: it runs with the client's throttle and
  the gateway's rate limit off. Then the production settings are put back --
  ib_insync's throttle at ``CLIENT_MAX_REQUESTS`` per ``CLIENT_REQUESTS_INTERVAL_S``
  (broker.session), the snapshots' own ``MAX_PER_S`` -- and after 1.5 s (ib_insync's
  throttle window, 1.2 s, has forgotten the boot's requests by then) the rotation is
  counted for ``WINDOW_S`` seconds.
- Time is the wall clock there: the message rate IB enforces is wall time, and the two
  limiters that keep the app under it (ib_insync's throttle on the loop's clock and
  :class:`~tui_trader.broker.snapshots.Snapshots` on ``monotonic``) must be measured
  against the same clock the gateway counts with. The market clock is the gateway's.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import MakeEngine, engine_settings, short_sleep
from tests.sim.conftest import T_START, FakeMonotonic, MakeGateway, until
from tui_trader.broker.session import CLIENT_MAX_REQUESTS, CLIENT_REQUESTS_INTERVAL_S
from tui_trader.broker.snapshots import MAX_PER_S
from tui_trader.engine.engine import Engine
from tui_trader.engine.rotation import POLL_S
from tui_trader.sim import protocol as p
from tui_trader.sim.gateway import GatewayLimits, SimGateway
from tui_trader.sim.thread import GatewayThread
from tui_trader.sim.universe import universe_symbols
from tui_trader.state.journal import Journal

N = 120
LINES = 90
#: IB's limit per client.
IB_MAX_PER_S = 50
#: Seconds of rotation measured (each second: up to MAX_PER_S snapshots of 0.2 s).
WINDOW_S = 3.0
SNAPSHOT_S = 0.2


class InboundCounter:
    """Every message the gateway decodes from its client, with the gateway thread's
    monotonic time it arrived at (``_handle`` is called for each, as it is read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.times: list[float] = []
        self.snapshot_times: list[float] = []
        self.counting = False

    def on_request(self, request: Any) -> None:
        if not self.counting:
            return
        now = time.monotonic()
        with self._lock:
            self.times.append(now)
            if isinstance(request, p.ReqMktData) and request.snapshot:
                self.snapshot_times.append(now)


def peak_per_rolling_second(times: Iterable[float]) -> int:
    """The most messages inside any one-second window [t, t + 1)."""
    window: deque[float] = deque()
    peak = 0
    for t in sorted(times):
        window.append(t)
        while t - window[0] >= 1.0:
            window.popleft()
        peak = max(peak, len(window))
    return peak


def test_peak_per_rolling_second_counts_any_window() -> None:
    """The counter itself: 50 spread over a second, then 10 more 0.5 s later."""
    times = [i / 50 for i in range(50)] + [1.5 + i / 100 for i in range(10)]
    assert peak_per_rolling_second(times) == 50
    assert peak_per_rolling_second([*times, 0.999]) == 51
    assert peak_per_rolling_second([0.0, 1.0, 2.0]) == 1


@pytest.fixture
async def threaded_gateway() -> AsyncIterator[tuple[GatewayThread, InboundCounter]]:
    counter = InboundCounter()
    limits = GatewayLimits(
        max_market_data_lines=LINES + 10,  # the account's 100, the app keeps 90
        snapshot_s=SNAPSHOT_S,
        max_messages_per_second=0,  # counted here, not refused (the boot goes unthrottled)
    )
    thread = GatewayThread(
        seed=7, start=T_START, symbols=universe_symbols(N), limits=limits, tick_interval=0.25
    )
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, thread.start)
    gateway = thread._gateway
    assert gateway is not None
    original = gateway._handle

    def handle(session: Any, request: Any) -> None:
        counter.on_request(request)
        original(session, request)

    gateway._handle = handle  # type: ignore[method-assign]
    try:
        yield thread, counter
    finally:
        await loop.run_in_executor(None, thread.stop)


@pytest.mark.timeout(60)
async def test_the_rotation_of_a_big_universe_never_sends_more_than_50_messages_a_second(
    threaded_gateway: tuple[GatewayThread, InboundCounter], tmp_path: Path
) -> None:
    thread, counter = threaded_gateway
    settings = engine_settings(
        thread.port,
        universe={"symbols": list(universe_symbols(N))},
        connection={"max_lines": LINES},
        # 50 rotating symbols due every 2 s: more than 20 snapshots a second can serve
        scanner={"interval_s": 3600.0, "max_price_age_s": 4.0},
    )
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = Engine(
        settings,
        journal,
        clock=thread.sim_time,
        monitor_interval_s=None,
        session_options={
            "health_interval_s": None,
            "sleep": short_sleep,
            "rng": random.Random(5),
            "max_requests": 0,  # the boot only (module doc)
        },
    )
    try:
        t0 = time.perf_counter()
        await engine.start()
        assert await engine.wait_booted(40.0), "the engine did not boot"
        boot_s = time.perf_counter() - t0
        universe = engine.universe
        assert len(universe.stocks) == N
        client: Any = engine.session.ib.client
        client.MaxRequests = CLIENT_MAX_REQUESTS  # production pacing from here on
        client.RequestsInterval = CLIENT_REQUESTS_INTERVAL_S
        await asyncio.sleep(1.5)  # the boot's last unthrottled requests have left
        sent0 = universe.snapshots.sent
        counter.counting = True
        await asyncio.sleep(WINDOW_S)
        counter.counting = False
        sent = universe.snapshots.sent - sent0
        budget = engine.marketdata.budget
        active, budget_max = budget.active, budget.max
    finally:
        await engine.stop()
        journal.close()
    peak = peak_per_rolling_second(counter.times)
    peak_snapshots = peak_per_rolling_second(counter.snapshot_times)
    print(
        f"\n[pacing] {N} symbols, {LINES} lines: {len(counter.times)} messages in "
        f"{WINDOW_S:.0f} s ({sent} snapshots), peak {peak}/s (snapshots {peak_snapshots}/s), "
        f"lines {active}/{budget_max}; boot {boot_s:.1f} s"
    )
    # the rotation really ran at its pace: about MAX_PER_S snapshots a second
    assert sent >= 0.75 * MAX_PER_S * WINDOW_S, sent
    assert len(counter.snapshot_times) >= 0.75 * MAX_PER_S * WINDOW_S
    assert peak <= IB_MAX_PER_S


# ------------------------------------------------------------------ on injected time

SMALL = universe_symbols(40)
SMALL_LINES = 36  # 9 kept for snapshots (a quarter), 27 stream, 13 rotate


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:
    limits = GatewayLimits(
        max_market_data_lines=SMALL_LINES, snapshot_s=0.0, max_messages_per_second=0
    )  # a snapshot ends as it is answered: the lines never limit a tick here
    return await make_gateway(symbols=SMALL, limits=limits)


async def test_a_tick_starts_a_quarter_second_of_snapshots_not_a_seconds_burst(
    engine_gateway: SimGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    """Each 0.25 s tick starts at most MAX_PER_S / 4 snapshots (5), even with 9 lines free
    and no snapshot sent in the last second: the rate is spread, so jitter on the way to
    IB cannot pack two seconds' allowance into one (engine/rotation.py: before, a tick
    sent the second's 20 within 2 ms, and the next 20 came 1.01 s later)."""
    gateway = engine_gateway
    settings = engine_settings(
        gateway.port,
        universe={"symbols": list(SMALL)},
        connection={"max_lines": SMALL_LINES},
        scanner={"interval_s": 3600.0, "max_price_age_s": 4.0},
    )
    engine = await make_engine(settings=settings)
    engine.session.ib.client.MaxRequests = 0  # market time runs faster than the wall here
    for task in asyncio.all_tasks():  # the test ticks the rotation itself, on its clock
        if task.get_name() == "engine-rotation":
            task.cancel()
    await asyncio.sleep(0)
    rotation = engine.universe.rotation
    per_tick = rotation.max_per_tick
    assert per_tick == math.ceil(MAX_PER_S * POLL_S) == 5
    fake_time.advance(10.0)  # every rotating symbol is due; no snapshot in the last second
    await gateway.pump()
    await until(lambda: rotation.snapshots.in_flight == 0, what="snapshots ended")
    assert rotation.snapshots.room() >= 9  # a burst would start 9 at once
    started: list[int] = []
    for _ in range(24):  # 6 s of market time, a tick every 0.25 s
        started.append(rotation.tick())
        fake_time.advance(POLL_S)
        await gateway.pump()
        await until(lambda: rotation.snapshots.in_flight == 0, what="snapshots ended")
    print(f"\n[pacing] injected time, ticks started: {started}")
    assert max(started) == per_tick, started  # saturated, and never more
    per_second = [sum(started[i : i + 4]) for i in range(len(started) - 3)]
    assert max(per_second) <= MAX_PER_S, per_second
