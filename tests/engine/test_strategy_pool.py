"""The user strategies' worker processes (issue 15): the same answers and the same fault
sentences as the thread, a too-slow strategy stopped by its time over all chunks (shared
by the workers) or by the worker's alarm, and a worker that hangs or dies replaced while
the scan goes on.
Real processes throughout (a forkserver pool of two)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tui_trader.core.bars import Bars
from tui_trader.core.user_strategies import BoundStrategy, SymbolRows, evaluate_rows
from tui_trader.engine.strategy_pool import StrategyPool
from tui_trader.engine.user_strategies import load_strategy

MODULE = textwrap.dedent(
    '''
    import os
    import signal
    import time

    import pandas as pd


    def trend(df, params):
        """LONG after a rising close, SHORT after a falling one."""
        diff = df["close"].diff()
        out = pd.Series(None, index=df.index, dtype=object)
        out[diff > 0] = "LONG"
        out[diff < 0] = "SHORT"
        return out


    def boom(df, params):
        if df["close"].iloc[-1] > params["above"]:
            raise ValueError("too high")
        return pd.Series(None, index=df.index, dtype=object)


    def numbers(df, params):
        return df["close"].to_numpy()


    def short(df, params):
        return pd.Series(["LONG"], dtype=object)


    def sleepy(df, params):
        """Each call sleeps: fine per chunk, too slow over the whole scan."""
        time.sleep(params["s"])
        return pd.Series(None, index=df.index, dtype=object)


    def stubborn(df, params):
        """Ignores its alarm and the pool's SIGTERM: only a kill stops it."""
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})
        time.sleep(60)


    def dies(df, params):
        if df["close"].iloc[-1] > params["above"]:
            os._exit(3)
        return pd.Series(None, index=df.index, dtype=object)
    '''
)

START = date(2024, 1, 1)
SYMBOLS = [f"S{k}" for k in range(8)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("strategies")
    (path / "pool_strats.py").write_text(MODULE)
    return path


@pytest.fixture(scope="module")
def pool(folder: Path) -> Iterator[StrategyPool]:
    made = StrategyPool(2, paths=[str(folder)], modules=["pool_strats"], grace_s=0.3)
    made.start()
    assert made.wait_ready(60.0)
    yield made
    made.close()


def strategy(folder: Path, name: str, params: dict[str, float] | None = None) -> BoundStrategy:
    return load_strategy(name.upper(), f"pool_strats:{name}", folder).bind(params or {})


def took(reason: str, name: str, timeout_s: float) -> float:
    """The seconds in the thread's sentence for a strategy over its time."""
    found = re.fullmatch(
        rf"{name} took (\d+\.\d) s, more than \[strategies\] timeout_s = {timeout_s:g} s", reason
    )
    assert found, reason
    return float(found.group(1))


def symbols() -> SymbolRows:
    """Eight symbols of 30 days; S{k} closes at 100 + k and wiggles."""
    rows = []
    for k, sym in enumerate(SYMBOLS):
        close = 100.0 + k + np.sin(np.arange(30) * (k + 1) / 3.0)
        close[-1] = 100.0 + k
        for d, c in enumerate(close):
            rows.append((START + timedelta(days=d), sym, c, c * 1.01, c * 0.99, c, 1e6))
    cols = ["date", "symbol", "open", "high", "low", "close", "volume"]
    bars = Bars.from_frame(pd.DataFrame(rows, columns=cols))
    return SymbolRows.of(bars, range(bars.n_symbols))


def test_same_answers_and_fault_sentences_as_the_thread(pool: StrategyPool, folder: Path) -> None:
    part, replaced = symbols(), pool.replaced
    good = strategy(folder, "trend")
    bad = [
        strategy(folder, "boom", {"above": 104.5}),  # raises first on S5
        strategy(folder, "numbers"),
        strategy(folder, "short"),
    ]
    local = BoundStrategy("LOCAL", lambda df, p: pd.Series(None, index=df.index), {})
    here = evaluate_rows([good, *bad, local], part, 5.0)
    there = pool.evaluate([good, *bad, local], part, 5.0)
    reasons = {f.name: f.reason for f in there.faults}
    assert reasons == {f.name: f.reason for f in here.faults}
    assert reasons == {
        "BOOM": "BOOM raised ValueError: too high (on S5)",
        "NUMBERS": "NUMBERS returned ndarray, not a pandas Series for S0",
        "SHORT": "SHORT returned 1 values for 30 bars (one per bar is needed) for S0",
    }
    boom = next(f for f in there.faults if f.name == "BOOM")
    assert "Traceback" in boom.detail and "too high" in boom.detail
    assert set(there.long) == {"TREND", "LOCAL"}  # LOCAL (a lambda) ran in this thread
    np.testing.assert_array_equal(there.long["TREND"], here.long["TREND"])
    np.testing.assert_array_equal(there.short["TREND"], here.short["TREND"])
    assert there.long["TREND"].sum() > 50 and there.short["TREND"].sum() > 50
    assert pool.replaced == replaced


def test_too_slow_over_the_whole_scan_though_each_chunk_is_within_time(
    pool: StrategyPool, folder: Path
) -> None:
    # 8 symbols x 0.1 s = 0.8 s over 4 chunks of 0.2 s each; the limit is 0.5 s per scan.
    sleepy, replaced = strategy(folder, "sleepy", {"s": 0.1}), pool.replaced
    out = pool.evaluate([strategy(folder, "trend"), sleepy], symbols(), 0.5)
    (fault,) = out.faults
    assert 0.5 <= took(fault.reason, "SLEEPY", 0.5) < 1.2  # the sum, not one chunk's 0.2 s
    assert "TREND" in out.long
    assert pool.replaced == replaced


def test_the_workers_share_a_strategys_time_so_a_slow_one_stops_early(
    pool: StrategyPool, folder: Path
) -> None:
    # 0.3 s a call, 0.5 s allowed: two calls in parallel use it up, and no chunk starts
    # another. Were the time counted per chunk, each of the 4 chunks would spend 0.5 s.
    out = pool.evaluate([strategy(folder, "sleepy", {"s": 0.3})], symbols(), 0.5)
    (fault,) = out.faults
    assert 0.5 <= took(fault.reason, "SLEEPY", 0.5) < 1.2


def test_a_call_over_its_time_is_interrupted_in_the_worker(
    pool: StrategyPool, folder: Path
) -> None:
    replaced = pool.replaced
    out = pool.evaluate([strategy(folder, "sleepy", {"s": 30.0})], symbols(), 0.4)
    (fault,) = out.faults
    assert 0.4 <= took(fault.reason, "SLEEPY", 0.4) < 5.0  # not the 30 s it asked for
    assert pool.replaced == replaced  # the alarm stopped it: no worker was lost


def test_a_hung_worker_is_killed_and_replaced_and_the_next_scan_runs(
    pool: StrategyPool, folder: Path
) -> None:
    before, replaced = set(pool.pids()), pool.replaced
    trend = strategy(folder, "trend")
    out = pool.evaluate([trend, strategy(folder, "stubborn")], symbols(), 0.3)
    (fault,) = out.faults
    assert 0.6 <= took(fault.reason, "STUBBORN", 0.3) < 5.0  # its time and the grace
    assert pool.replaced == replaced + 1
    assert pool.wait_ready(60.0) and not before & set(pool.pids())
    again = pool.evaluate([trend], symbols(), 5.0)
    assert again.faults == () and again.long["TREND"].sum() > 50


def test_a_worker_that_dies_is_blamed_on_its_strategy_and_replaced(
    pool: StrategyPool, folder: Path
) -> None:
    replaced = pool.replaced
    trend = strategy(folder, "trend")
    out = pool.evaluate([trend, strategy(folder, "dies", {"above": 105.5})], symbols(), 5.0)
    (fault,) = out.faults
    assert fault.reason == "DIES ended its worker process (on S6); the worker was replaced"
    assert pool.replaced == replaced + 1
    again = pool.evaluate([trend], symbols(), 5.0)
    assert again.faults == () and again.long["TREND"].sum() > 50


def test_a_strategy_whose_module_does_not_import_in_the_workers_runs_here(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "elsewhere_strats.py").write_text(MODULE)
    # Started before the module's folder is on this process's path: not on the workers'.
    lonely = StrategyPool(1, modules=["elsewhere_strats"])
    lonely.start()
    try:
        assert lonely.wait_ready(60.0)
        trend = load_strategy("TREND", "elsewhere_strats:trend", elsewhere).bind({})
        out = lonely.evaluate([trend], symbols(), 5.0)
        here = evaluate_rows([trend], symbols(), 5.0)
        assert out.faults == () and lonely.replaced == 0
        np.testing.assert_array_equal(out.long["TREND"], here.long["TREND"])
    finally:
        lonely.close()
