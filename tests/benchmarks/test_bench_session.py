"""Benchmark: how fast every market-data line is back after IB's restart.

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_bench_session.py -p no:cacheprovider -o addopts="" -s

Target (from the issue): after the gateway accepts connections again, all subscriptions are
restored within 2 s. Measured from the moment the gateway listens again to the first tick of
the last of 80 option lines on the new connection (loop time, real seconds, in-process
gateway streaming every 100 ms). The session's backoff sleep is replaced by 10 ms polling,
so the figure is the restoration itself, not where the 1-30 s backoff schedule happens to
land relative to the reopening; ib_insync's own request throttle (45 messages a second) is
left on, as in production: it dominates the figure (about 7 messages of ib_insync's
connect-time sync plus 80 reqMktData).
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from ib_insync import Contract, Ticker

from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.session import Session
from tui_trader.core.settings import ConnectionSettings
from tui_trader.sim.gateway import start_gateway

START = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)
LINES = 80
ROUNDS = 5


async def _poll(seconds: float) -> None:
    await asyncio.sleep(0.01)


async def test_restore_all_lines_after_restart() -> None:
    loop = asyncio.get_running_loop()
    gateway = await start_gateway(seed=7, start=START, symbols=("AAPL", "SPY", "MSFT"))
    t0 = loop.time()

    def clock() -> datetime:
        return START + timedelta(seconds=loop.time() - t0)

    session = Session(
        ConnectionSettings(port=gateway.port, client_id=7),
        clock=clock,
        sleep=_poll,
        health_interval_s=None,
        min_stable_s=0.0,
    )
    md = MarketData(session.ib, LineBudget(90), clock=clock)
    session.use_marketdata(md)
    accepted: list[float] = []
    listen = gateway._listen

    async def timed_listen(port: int) -> None:
        await listen(port)
        accepted.append(loop.time())

    gateway._listen = timed_listen  # type: ignore[method-assign]
    first_tick: dict[int, float] = {}

    def on_tickers(tickers: Iterable[Ticker]) -> None:
        if not accepted:
            return  # the old connection's last ticks
        now = loop.time()
        for t in tickers:
            c: Any = t.contract
            if c is not None and c.conId not in first_tick:
                first_tick[c.conId] = now

    try:
        assert await session.start()
        details = []
        for month in ("202612", "202701"):
            details += await session.ib.reqContractDetailsAsync(
                Contract(
                    secType="OPT",
                    symbol="AAPL",
                    lastTradeDateOrContractMonth=month,
                    right="C",
                    exchange="SMART",
                    currency="USD",
                )
            )
        contracts = [d.contract for d in details[:LINES]]
        assert len(contracts) == LINES
        for c in contracts:
            md.subscribe(c)
        keys = [c.conId for c in contracts]
        await _wait(lambda: all(md.last_tick(k) is not None for k in keys), 10.0)
        session.ib.pendingTickersEvent += on_tickers

        figures: list[float] = []
        for r in range(ROUNDS):
            first_tick.clear()
            accepted.clear()
            gateway.restart(0.5)
            await _wait(lambda r=r: session.reconnects == r + 1, 10.0)  # type: ignore[misc]
            await _wait(lambda: all(k in first_tick for k in keys) and bool(accepted), 10.0)
            figures.append(max(first_tick.values()) - accepted[0])
            assert md.budget.active == LINES
        print(
            f"\nrestore {LINES} lines after restart: median {statistics.median(figures):.3f} s, "
            f"max {max(figures):.3f} s over {ROUNDS} restarts "
            f"({', '.join(f'{f:.3f}' for f in figures)})"
        )
        assert max(figures) < 2.0
    finally:
        await session.stop()
        await gateway.stop()


async def _wait(predicate: Any, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        await asyncio.sleep(0.002)
