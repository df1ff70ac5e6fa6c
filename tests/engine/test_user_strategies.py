"""Traders' own strategies in the running engine (issue 15): loaded from the user
strategies folder, evaluated after each scan in a worker thread (``workers = 0``) or in
the worker processes (the default), their signals in the Scanner's report beside the
built-in ones (CONFLICT over all), taken by the auto-trader, and a faulting one disabled
for the session with one line while the built-ins go on."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from loguru import logger

from tests.engine.conftest import MakeEngine, engine_settings
from tests.sim.conftest import until
from tui_trader.engine.user_strategies import strategies_dir
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Automation, EventLog, ScanResults

MODULE = '''
import threading
import pandas as pd

THREADS = []


def every_day(df, params):
    """LONG on every bar (the symbol's close above params' floor)."""
    THREADS.append(threading.current_thread().name)
    return (df["close"] > params["floor"]).map({True: "LONG", False: None})


def broken(df, params):
    return 1 / 0
'''


@pytest.fixture
def user_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> str:
    """A user config dir whose strategies folder holds a module named for this test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = strategies_dir()
    folder.mkdir(parents=True)
    name = f"mine_{request.node.name.replace('[', '_').replace(']', '')}"
    (folder / f"{name}.py").write_text(MODULE)
    return name


async def test_user_signals_join_the_scan_off_the_loop_and_the_auto_trader_takes_them(
    make_engine: MakeEngine, engine_gateway: SimGateway, user_dir: str
) -> None:
    settings = engine_settings(
        engine_gateway.port,
        strategies={
            "workers": 0,
            "every_day": {"function": f"{user_dir}:every_day", "params": {"floor": 1.0}},
        },
    )
    engine = await make_engine(settings=settings)
    assert engine.user_pass.pool is None
    await until(lambda: engine.user_pass.passes >= 1, 10.0, "the user strategies' pass")
    report = engine.store.get(ScanResults).report
    assert report is not None and engine.universe.scanner.report is report
    rows = {r.symbol: r for r in report.results}
    # Seeded market (conftest): MSFT LONG, AAPL SHORT, SPY and TLT nothing built-in.
    assert rows["MSFT"].signals[-1] == "EVERY_DAY" and rows["MSFT"].direction == "LONG"
    assert "EVERY_DAY" in rows["AAPL"].signals and rows["AAPL"].direction == "CONFLICT"
    for sym in ("SPY", "TLT"):
        assert rows[sym].signals == ("EVERY_DAY",) and rows[sym].direction == "LONG"
    module = __import__(user_dir)
    assert module.THREADS and threading.main_thread().name not in module.THREADS
    assert engine.user_pass.session.disabled == {}

    assert (await engine.arm_auto(True)).ok  # dry run: candidates, never an order
    cands = {c.symbol: c for c in engine.store.get(Automation).candidates}
    assert set(cands) == {"MSFT", "SPY", "TLT"}  # AAPL is CONFLICT: never a candidate
    assert cands["SPY"].strategy == "EVERY_DAY" and cands["SPY"].direction == "LONG"
    assert cands["MSFT"].strategy != "EVERY_DAY"  # the built-in fired first


async def test_a_faulting_strategy_is_disabled_with_one_line_and_built_ins_go_on(
    make_engine: MakeEngine, engine_gateway: SimGateway, user_dir: str
) -> None:
    logged: list[str] = []
    sink = logger.add(logged.append, level="ERROR")
    try:
        settings = engine_settings(
            engine_gateway.port,
            strategies={"broken": {"function": f"{user_dir}:broken"}},
        )
        engine = await make_engine(settings=settings)
        await until(lambda: engine.user_pass.passes >= 1, 10.0, "the user strategies' pass")
    finally:
        logger.remove(sink)
    # The bars hold symbols alphabetically: AAPL (eligible) is the first run.
    reason = "BROKEN raised ZeroDivisionError: division by zero (on AAPL)"
    assert engine.user_pass.session.disabled == {"BROKEN": reason}
    lines = [e.text for e in engine.store.get(EventLog).items if e.kind == "strategy"]
    assert lines == [f"Strategy BROKEN disabled for this session: {reason}"]
    assert any("Traceback" in m and "1 / 0" in m for m in logged)
    rows = {r.symbol: r for r in engine.store.get(ScanResults).report.results}  # type: ignore[union-attr]
    assert rows["MSFT"].direction == "LONG" and rows["AAPL"].direction == "SHORT"
    assert not engine.user_pass.wanted
    assert engine.user_pass.pool is not None and engine.user_pass.pool.pids() == []
    # The next scan runs the built-ins alone and hands them straight to the auto-trader.
    before = engine.user_pass.passes
    engine.scanner.scan_now()
    assert engine.user_pass.passes == before
    assert engine.store.get(ScanResults).report is engine.scanner.report


async def test_worker_processes_give_the_same_signals_at_a_lower_priority(
    make_engine: MakeEngine, engine_gateway: SimGateway, user_dir: str
) -> None:
    settings = engine_settings(
        engine_gateway.port,
        strategies={
            "workers": 2,
            "every_day": {"function": f"{user_dir}:every_day", "params": {"floor": 1.0}},
        },
    )
    engine = await make_engine(settings=settings)
    pool = engine.user_pass.pool
    assert pool is not None
    await until(lambda: engine.user_pass.passes >= 1, 20.0, "the user strategies' pass")
    rows = {r.symbol: r for r in engine.store.get(ScanResults).report.results}  # type: ignore[union-attr]
    assert rows["MSFT"].signals[-1] == "EVERY_DAY" and rows["MSFT"].direction == "LONG"
    assert rows["AAPL"].direction == "CONFLICT"
    assert rows["SPY"].signals == ("EVERY_DAY",) and rows["TLT"].direction == "LONG"
    assert __import__(user_dir).THREADS == []  # it ran in the workers, not here
    pids = pool.pids()
    assert len(pids) == 2 and os.getpid() not in pids
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(os.getpriority(os.PRIO_PROCESS, p) == min(mine + 10, 19) for p in pids)
    await engine.stop()
    assert pool.pids() == []
