"""Benchmark: daily bars for a 500-symbol universe from the simulated gateway, at real pacing.

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_bench_bars.py -p no:cacheprovider -o addopts="" -s

The gateway runs in its own process with IB's default limits (historical pacing for bars
of 30 s or less only, 50 messages a second) on real time; the client is ib_insync with the
session's throttle (``CLIENT_MAX_REQUESTS`` per ``CLIENT_REQUESTS_INTERVAL_S``) and one
:class:`HistoricalPacer`, as the engine loads bars.

The simulated market holds at most 124 stocks (its 60-ticker table and 64 made-up ones:
the option conId scheme in ``sim/chains.py`` has 128 symbol codes), so a 500-symbol
universe is loaded as its request volume: the 124 symbols into four fresh bar caches one
after the other, 496 qualifications and 496 historical requests, the later rounds
identical to the first (which IB allows for daily bars, and which is stricter than 500
different contracts). Then a day reload: the same four caches a day later (the caches
are stale), 496 historical requests again right after the first 496. Neither may wait for
pacing or get error 162. For comparison, those ~1,000 requests under the 60-per-10-minutes
rule the app used to apply to daily bars would have waited (1000 / 60 - 1) windows of
600 s.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from ib_insync import IB

from tui_trader.broker.bars import load_daily_bars
from tui_trader.broker.pacing import HIST_MAX_PER_WINDOW, HIST_WINDOW_S, HistoricalPacer
from tui_trader.broker.session import CLIENT_MAX_REQUESTS, CLIENT_REQUESTS_INTERVAL_S
from tui_trader.sim.universe import TICKERS
from tui_trader.state.bar_cache import BarCache

#: Wednesday 18 November 2026, 14:30 New York: the market is open for 90 minutes.
START = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)
TODAY = date(2026, 11, 18)
SYMBOLS = [*TICKERS, *(f"Z{i:02d}" for i in range(64))]  # the most the simulator holds
ROUNDS = 4  # 4 x 124 = 496 symbol loads: a 500-symbol universe's requests
#: Generous: the figure on a shared 2-core machine is about a tenth of this.
BUDGET_S = 120.0

GATEWAY = textwrap.dedent(
    f"""
    import asyncio
    from datetime import datetime
    from tui_trader.sim.gateway import start_gateway

    async def main():
        gw = await start_gateway(seed=7, start=datetime.fromisoformat({START.isoformat()!r}),
                                 symbols={SYMBOLS!r}, tick_interval=None)
        print(gw.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


@pytest.fixture
async def gateway_port() -> AsyncIterator[int]:
    """Port of a gateway running in a child process with the 500-symbol universe."""
    proc = subprocess.Popen(
        [sys.executable, "-c", GATEWAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 120)
        yield int(line)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_500_symbols_daily_bars_load_and_day_reload(
    gateway_port: int, tmp_path: Path
) -> None:
    ib = IB()
    ib.client.MaxRequests = CLIENT_MAX_REQUESTS
    ib.client.RequestsInterval = CLIENT_REQUESTS_INTERVAL_S  # type: ignore[assignment]
    await ib.connectAsync("127.0.0.1", gateway_port, clientId=1, timeout=30)
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    pacer: HistoricalPacer[object] = HistoricalPacer()
    figures: list[tuple[str, float, int]] = []
    try:
        for label, day in (("first load", TODAY), ("day reload", date(2026, 11, 19))):
            loaded = 0
            t0 = time.perf_counter()
            for r in range(ROUNDS):
                with BarCache(tmp_path / f"bars{r}.sqlite3") as cache:
                    bars, problems = await load_daily_bars(
                        ib, SYMBOLS, cache, pacer, today=day, sleep=sleep
                    )
                assert problems == {}
                assert len(bars.symbols) == len(SYMBOLS)
                loaded += len(bars.symbols)
            figures.append((label, time.perf_counter() - t0, loaded))
    finally:
        ib.disconnect()

    requests = sum(n for _, _, n in figures)
    old_windows = math.ceil(requests / HIST_MAX_PER_WINDOW) - 1
    print()
    for label, elapsed, n in figures:
        print(f"{label}: {n} symbols' daily bars in {elapsed:.1f} s ({n / elapsed:.0f} /s)")
    print(f"pacing waits: {waits}; error 162: {errors.count(162)}")
    print(
        f"the old 60-per-10-minutes rule on these {requests} daily requests: "
        f">= {old_windows * HIST_WINDOW_S:.0f} s of waiting"
    )
    assert waits == []
    assert 162 not in errors
    for label, elapsed, _ in figures:
        assert elapsed < BUDGET_S, f"{label} took {elapsed:.1f} s"
