"""Benchmarks of the simulated gateway, run in its own process as the app would see it.

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_bench_gateway.py -p no:cacheprovider -o addopts="" -s

Targets (from the issue): connect-to-ready (ib_insync connectAsync returning) < 100 ms;
a marketable combo order placeOrder -> Filled < 20 ms; 100 streaming option lines at
10 updates/s each for a few seconds at < 25 % of one core of the gateway process (its
user + system CPU time from /proc/<pid>/stat, so the client's own work is not counted).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from ib_insync import IB, ComboLeg, Contract, LimitOrder, Option, Ticker

#: Wednesday 18 November 2026, 14:30 New York: the market is open for 90 minutes.
START = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)

GATEWAY = textwrap.dedent(
    f"""
    import asyncio
    from datetime import datetime
    from tui_trader.sim.gateway import start_gateway

    async def main():
        gw = await start_gateway(seed=7, start=datetime.fromisoformat({START.isoformat()!r}))
        print(gw.port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


@pytest.fixture
async def gateway_process() -> AsyncIterator[tuple[int, int]]:
    """(pid, port) of a gateway running in a child process with the default universe."""
    proc = subprocess.Popen(
        [sys.executable, "-c", GATEWAY],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        yield proc.pid, int(line)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_gateway_benchmarks(gateway_process: tuple[int, int]) -> None:
    pid, port = gateway_process
    loop = asyncio.get_running_loop()

    # --- connect-to-ready -------------------------------------------------------------
    connects: list[float] = []
    for i in range(20):
        ib = IB()
        t0 = loop.time()
        await ib.connectAsync("127.0.0.1", port, clientId=100 + i)
        connects.append(loop.time() - t0)
        ib.disconnect()
        await asyncio.sleep(0.01)

    # --- marketable combo order -> Filled ---------------------------------------------
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=1)
    chain = (await ib.reqSecDefOptParamsAsync("SPY", "", "STK", 0))[0]
    spy = (await ib.reqTickersAsync(Contract(symbol="SPY", secType="STK", exchange="SMART",
                                             currency="USD")))[0]  # fmt: skip
    spot = spy.marketPrice()
    k1 = min(chain.strikes, key=lambda k: abs(k - spot))
    k2 = chain.strikes[chain.strikes.index(k1) + 5]
    expiry = chain.expirations[3]
    legs = [Option("SPY", expiry, k1, "C", "SMART"), Option("SPY", expiry, k2, "C", "SMART")]
    await ib.qualifyContractsAsync(*legs)
    bag = Contract(
        secType="BAG", symbol="SPY", exchange="SMART", currency="USD",
        comboLegs=[ComboLeg(conId=legs[0].conId, ratio=1, action="BUY", exchange="SMART"),
                   ComboLeg(conId=legs[1].conId, ratio=1, action="SELL", exchange="SMART")],
    )  # fmt: skip
    combo = (await ib.reqTickersAsync(bag))[0]
    fills: list[float] = []
    for n in range(20):
        buy = n % 2 == 0
        price = round(combo.ask + 0.20, 2) if buy else round(combo.bid - 0.20, 2)
        t0 = loop.time()
        trade = ib.placeOrder(bag, LimitOrder("BUY" if buy else "SELL", 1, price))
        await asyncio.wait_for(trade.filledEvent, 2)
        fills.append(loop.time() - t0)
        combo = (await ib.reqTickersAsync(bag))[0]

    # --- 100 streaming option lines ---------------------------------------------------
    options: list[Contract] = []
    for symbol in ("SPY", "QQQ", "AAPL", "MSFT"):
        p = (await ib.reqSecDefOptParamsAsync(symbol, "", "STK", 0))[0]
        stock = Contract(symbol=symbol, secType="STK", exchange="SMART", currency="USD")
        spot = (await ib.reqTickersAsync(stock))[0].marketPrice()
        listed = await ib.reqContractDetailsAsync(
            Option(symbol, p.expirations[2], exchange="SMART")
        )
        listed.sort(key=lambda d: abs(d.contract.strike - spot))  # type: ignore[union-attr]
        options += [d.contract for d in listed[:25] if d.contract is not None]
    assert len(options) == 100
    counts: dict[int, int] = {}

    def on_update(t: Ticker) -> None:
        counts[t.contract.conId] = counts.get(t.contract.conId, 0) + 1  # type: ignore[union-attr]

    for o in options:
        ib.reqMktData(o).updateEvent += on_update
    await asyncio.sleep(2.5)  # ib_insync paces its own requests at 45/s
    counts.clear()
    window = 4.0
    cpu0, t0 = cpu_seconds(pid), loop.time()
    await asyncio.sleep(window)
    cpu1, t1 = cpu_seconds(pid), loop.time()
    ib.disconnect()

    cpu_share = (cpu1 - cpu0) / (t1 - t0)
    rates = sorted(counts.get(o.conId, 0) / (t1 - t0) for o in options)
    print()
    print(f"connect-to-ready: median {statistics.median(connects) * 1e3:.1f} ms, "
          f"max {max(connects) * 1e3:.1f} ms (20 connects)")  # fmt: skip
    print(f"combo placeOrder -> Filled: median {statistics.median(fills) * 1e3:.2f} ms, "
          f"max {max(fills) * 1e3:.2f} ms (20 orders)")  # fmt: skip
    print(f"100 option lines: updates/s per line median {statistics.median(rates):.1f}, "
          f"min {rates[0]:.1f}; gateway CPU {cpu_share * 100:.1f} % of one core "
          f"over {t1 - t0:.1f} s")  # fmt: skip

    assert statistics.median(connects) < 0.100
    assert statistics.median(fills) < 0.020
    assert rates[0] >= 8.0  # every line ~10 updates/s (one per 100 ms tick)
    assert cpu_share < 0.25
