"""Benchmark: the engine keeps up with 2,000 ticks/s using under 30 % of one core.

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_bench_engine.py -p no:cacheprovider -o addopts="" -s

Set-up: the simulated gateway runs in its own process (spawned), streaming the default
60-symbol universe plus one previewed option chain (90 lines, the configured budget) and
stepping its market every ``STEP_S`` seconds at ``SPEED`` x real time, so quotes move on
most lines every step. This process runs the whole engine (session, market data, orders,
account, live scanner, metrics) exactly as ``run --headless`` does.

Measured over ``WINDOW_S`` seconds after a warm-up:
- messages/s the engine decoded (``ib.client``'s counter: every tick price/size/greeks
  message; essentially all traffic is market data) -- must be >= 2,000;
- this process's CPU time (``time.process_time``) / wall time -- must be < 30 %;
- no backlog: the gateway counts what it wrote; at the end of the window the engine has
  read all but at most one step's worth, and the event loop's lag (a 20 ms timer's
  lateness) stays small, so ticks are handled as they come, not queued.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.state.journal import Journal
from tui_trader.state.store import Health

START = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)
SPEED = 20.0
STEP_S = 0.1
WARMUP_S = 2.0
WINDOW_S = 5.0


def _gateway_process(port_q: Any, sent: Any, running: Any, stop: Any) -> None:
    """The gateway's process: serve, step the market while ``running``, count messages."""
    from tui_trader.sim import gateway as g

    original = g.ClientSession.send

    def counting(self: Any, data: bytes) -> None:
        with sent.get_lock():
            sent.value += 1
        original(self, data)

    g.ClientSession.send = counting  # type: ignore[method-assign]

    async def main() -> None:
        gw = await g.start_gateway(seed=7, speed=SPEED, start=START, tick_interval=None)
        port_q.put(gw.port)
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t = loop.time()
            if running.is_set():
                gw.step()
            await asyncio.sleep(max(0.0, STEP_S - (loop.time() - t)))
        await gw.stop()

    asyncio.run(main())


async def test_engine_keeps_up_with_2000_ticks_per_second() -> None:
    ctx = mp.get_context("spawn")
    port_q = ctx.Queue()
    sent = ctx.Value("q", 0)
    running, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_gateway_process, args=(port_q, sent, running, stop), daemon=True)
    proc.start()
    tmp = tempfile.TemporaryDirectory()
    engine: Engine | None = None
    try:
        port = await asyncio.get_running_loop().run_in_executor(None, port_q.get, True, 30)
        t_anchor = time.monotonic()

        def clock() -> datetime:
            return START + timedelta(seconds=(time.monotonic() - t_anchor) * SPEED)

        settings = Settings.model_validate({"connection": {"port": port, "client_id": 3}})
        journal = Journal(Path(tmp.name) / "journal.sqlite3")
        engine = Engine(settings, journal, clock=clock)
        await engine.start()
        assert await engine.wait_booted(60.0)
        preview = await engine.preview("AAPL")
        assert preview.ok, preview.message
        lines = engine.store.get(Health).lines_active
        client = engine.ib.client

        running.set()
        await asyncio.sleep(WARMUP_S)

        lags: list[float] = []
        measuring = True

        async def lag_probe() -> None:
            loop = asyncio.get_running_loop()
            while measuring:
                t = loop.time()
                await asyncio.sleep(0.02)
                lags.append(loop.time() - t - 0.02)

        probe = asyncio.create_task(lag_probe())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        recv0, sent0 = client._numMsgRecv, sent.value
        await asyncio.sleep(WINDOW_S)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        recv1, sent1 = client._numMsgRecv, sent.value
        measuring = False
        await probe

        running.clear()  # stop the market; whatever is in flight must drain at once
        drained_at = None
        t_stop = time.perf_counter()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if client._numMsgRecv >= sent.value - 5:  # P&L/account pushes may still come
                drained_at = time.perf_counter() - t_stop
                break

        wall = wall1 - wall0
        rate = (recv1 - recv0) / wall
        sent_rate = (sent1 - sent0) / wall
        cpu = (cpu1 - cpu0) / wall
        gap = sent1 - recv1
        lag_p99 = statistics.quantiles(lags, n=100)[98] if len(lags) > 100 else max(lags)
        print(
            f"\nengine: {lines} lines, {rate:,.0f} messages/s decoded "
            f"(gateway wrote {sent_rate:,.0f}/s), CPU {cpu:.1%} of one core, "
            f"backlog at window end {gap} messages, drained in "
            f"{'-' if drained_at is None else f'{drained_at * 1000:.0f} ms'}, "
            f"loop lag p99 {lag_p99 * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms"
        )
        assert lines >= 80
        assert rate >= 2000.0
        assert cpu < 0.30
        assert gap <= sent_rate * STEP_S * 1.5 + 50  # at most about one step in flight
        assert drained_at is not None and drained_at < 0.5
        assert lag_p99 < 0.05
    finally:
        if engine is not None:
            await engine.stop()
            engine.journal.close()
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        tmp.cleanup()
