"""Benchmark (issue 12): a 500-symbol universe on 90 market-data lines, at real IB pacing.

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_big_universe_bench.py -p no:cacheprovider \
        -o addopts="" -s

Set-up: the simulated gateway runs in its own process (spawned) with ``--universe 500``'s
names, IB's default limits (50 messages a second, 100 lines for the account, historical
pacing) and snapshots that hold their line for ``SNAPSHOT_S`` before tickSnapshotEnd, its
market stepping on real time. This process runs the whole engine as ``run --headless``
does, with ``[connection] max_lines`` 90 and ``[scanner] max_price_age_s`` 60.

Measured and required:
- cold start (empty bar cache -- ``state.bar_cache`` in ``$XDG_CACHE_HOME``, a temporary
  folder per test, tests/conftest.py): seconds until the first scan holds every
  symbol -- under 60 s; and until every symbol has a live price (line or snapshot);
- ``WINDOW_S`` seconds after that: the oldest price of any symbol, sampled every second
  -- never over 60 s; the lines in use (the budget's, snapshots included) -- never over
  90, and the footer's ``lines N/M`` the same;
- no error 100 (message rate), 101 (lines), 162 (historical pacing) or 420 from IB;
- warm start (a second engine on the same journal and bar cache, the bars and qualified
  contracts cached today: no historical or contract-details request): first full scan
  under 10 s.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.benchmarks.big_gateway import START, gateway_process
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.sim.universe import universe_symbols
from tui_trader.state.journal import Journal
from tui_trader.state.store import Health, ScanResults

N = 500
MAX_LINES = 90
MAX_AGE_S = 60.0
WINDOW_S = 75.0
COLD_BUDGET_S = 60.0
WARM_BUDGET_S = 10.0
BAD_CODES = frozenset({100, 101, 162, 420})


def _settings(port: int) -> Settings:
    return Settings.model_validate(
        {
            "universe": {"symbols": list(universe_symbols(N))},
            "connection": {"port": port, "client_id": 5, "max_lines": MAX_LINES},
            "scanner": {"max_price_age_s": MAX_AGE_S},
        }
    )


async def _until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``check`` holds (polled every 50 ms), None after ``timeout``."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if check():
            return time.perf_counter() - t0
        await asyncio.sleep(0.05)
    return None


def _full_scan(engine: Engine) -> bool:
    report = engine.store.get(ScanResults).report
    return report is not None and report.symbols == N


@pytest.mark.timeout(600)  # a cold start, a warm start and a 75 s window: minutes
async def test_a_500_symbol_universe_within_90_lines() -> None:
    ctx = mp.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=gateway_process, args=(port_q, stop, N), daemon=True)
    proc.start()
    tmp = tempfile.TemporaryDirectory()
    engines: list[tuple[Engine, Journal]] = []
    errors: list[tuple[int, str]] = []
    try:
        port = await asyncio.get_running_loop().run_in_executor(None, port_q.get, True, 60)
        t_anchor = time.monotonic()

        def clock() -> datetime:
            return START + timedelta(seconds=time.monotonic() - t_anchor)

        async def start() -> Engine:
            journal = Journal(Path(tmp.name) / "journal.sqlite3")
            engine = Engine(_settings(port), journal, clock=clock)
            engines.append((engine, journal))
            engine.session.ib.errorEvent += lambda r, code, msg, c: errors.append((code, msg))
            await engine.start()
            return engine

        # -- cold ------------------------------------------------------------------------
        t0 = time.perf_counter()
        engine = await start()
        partial: list[float] = []  # when the first (partial) scan reached the Scanner

        def full_or_first(engine: Engine) -> bool:
            if not partial and engine.store.get(ScanResults).report is not None:
                partial.append(time.perf_counter() - t0)
            return _full_scan(engine)

        cold_scan = await _until(lambda: full_or_first(engine), 180.0)
        assert cold_scan is not None, "no full scan in 180 s"
        universe = engine.universe
        priced = await _until(
            lambda: all(a is not None for a in universe.price_ages().values()), 120.0
        )
        cold_priced = time.perf_counter() - t0

        # -- the window ------------------------------------------------------------------
        oldest: list[float] = []
        lines: list[int] = []
        footer: list[tuple[int, int]] = []
        budget = engine.marketdata.budget
        t_window = time.perf_counter()
        while time.perf_counter() - t_window < WINDOW_S:
            ages = universe.price_ages().values()
            oldest.append(max(a if a is not None else float("inf") for a in ages))
            lines.append(budget.active)
            h = engine.store.get(Health)
            footer.append((h.lines_active, h.lines_max))
            await asyncio.sleep(1.0)
        streaming = sum(1 for c in universe.stocks.values() if engine.marketdata.ticker(c.conId))
        sent, refused = universe.snapshots.sent, universe.snapshots.refused
        await engine.stop()
        engines[-1][1].close()
        engines.pop()

        # -- warm ------------------------------------------------------------------------
        engine = await start()
        warm_scan = await _until(lambda: _full_scan(engine), 60.0)

        bad = [(c, m) for c, m in errors if c in BAD_CODES]
        print(
            f"\nbig universe: {N} symbols, {MAX_LINES} lines ({streaming} streaming, the rest "
            f"by {sent} snapshots, {refused} refused); cold: first full scan "
            f"{cold_scan:.1f} s (first partial scan {partial[0] if partial else -1:.1f} s, "
            f"{universe.partial_scans} partial scans), every symbol priced {cold_priced:.1f} s "
            f"(priced wait {'-' if priced is None else f'{priced:.1f} s'}); window "
            f"{WINDOW_S:.0f} s: oldest price max {max(oldest):.1f} s, lines max {max(lines)}, "
            f"footer max {max(n for n, _ in footer)}/{max(m for _, m in footer)}; warm: first "
            f"full scan {'-' if warm_scan is None else f'{warm_scan:.1f} s'}; IB errors "
            f"{sorted({c for c, _ in errors})}"
        )
        assert cold_scan <= COLD_BUDGET_S
        assert priced is not None
        assert max(oldest) <= MAX_AGE_S
        assert max(lines) <= MAX_LINES
        assert all(n <= m <= MAX_LINES for n, m in footer)
        assert not bad, bad[:5]
        assert warm_scan is not None and warm_scan <= WARM_BUDGET_S
    finally:
        for engine, journal in engines:
            await engine.stop()
            journal.close()
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
        tmp.cleanup()
