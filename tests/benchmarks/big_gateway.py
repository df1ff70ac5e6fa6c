"""The simulated gateway of the big-universe benchmarks, in a process of its own.

Both big-universe benchmarks (the engine's first scan, test_big_universe_bench, and the
dashboard's 1,000 rows, test_bench_tui_big) run the gateway in a separate process so its
ticks and snapshots do not share the measured process's CPU and event loop: the account's
line limit is IB's standard 100, and a snapshot holds its line for ``SNAPSHOT_S`` before
tickSnapshotEnd (IB: well under a second for a liquid stock's snapshot, at most 11 s).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from tui_trader.sim.universe import universe_symbols

#: Wednesday 18 November 2026, 14:30 New York: inside the day's last 90 minutes.
START = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)
SNAPSHOT_S = 0.5


def gateway_process(port_q: Any, stop: Any, n: int) -> None:
    """Serve ``n`` seeded symbols until ``stop`` is set; the port goes to ``port_q``
    (a spawn-context process target, hence module level)."""
    from tui_trader.sim.gateway import GatewayLimits, start_gateway

    async def main() -> None:
        limits = GatewayLimits(max_market_data_lines=100, snapshot_s=SNAPSHOT_S)
        gw = await start_gateway(
            seed=7, start=START, symbols=universe_symbols(n), limits=limits, tick_interval=0.25
        )
        port_q.put(gw.port)
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await gw.stop()

    asyncio.run(main())
