"""Parameter sweeps of the back-test (SPEC 12): every set of a grid of config keys, on all
local cores (a process pool) or on a Dask cluster, with the same results wherever a set ran.

A set is a pure function of (bars, settings, days): each worker prepares the market once
(indicators, volatility) and keeps its last :class:`~tui_trader.core.backtest.Backtest`,
which :meth:`~tui_trader.core.backtest.Backtest.reuse` carries over to the next set, so sets
that differ only in exits or risk limits choose their spreads once per worker. Nothing a
set computes depends on which worker ran it or on what ran before (caches hold values that
are functions of the settings they are keyed on), so ranking is the same on one core, on
all cores and on a cluster.

Decisions (the README carries them):

- **A set runs the strategies together** (the ``ALL`` run, or the one strategy given): a
  sweep ranks configurations, not strategies.
- **``--split DATE``**: every set runs on the days before DATE and is ranked there; the
  best set then runs on the days from DATE on, starting afresh (initial equity, no open
  spreads; indicators still warm from all earlier bars): that is its out-of-sample report.
- **Grid order**: the cartesian product with the first ``--grid`` key varying slowest;
  equal metrics keep that order.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from tui_trader.core.backtest import ALL, Backtest, RunResult, RunSpec
from tui_trader.core.backtest_market import Market, prepare_market
from tui_trader.core.bars import Bars
from tui_trader.core.settings import Settings


@dataclass(frozen=True, slots=True)
class SetTask:
    """One set to run: its index in the grid, its settings, its days (inclusive indices
    into the market's days) and the strategies that fire."""

    index: int
    settings: Settings
    first_day: int
    last_day: int
    strategies: tuple[str, ...]
    #: The user strategies folder the workers import user strategies from (issue 15;
    #: None: the user config dir's).
    user_dir: str | None = None


def grid_sets(grid: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, str]]:
    """The cartesian product of ``(key, values)`` pairs, first key slowest."""
    keys = [k for k, _ in grid]
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in grid))
    ]


def bars_token(bars: Bars) -> str:
    """A content hash of the bars: which market a worker has prepared."""
    h = hashlib.sha256()
    h.update("\x00".join(bars.symbols).encode())
    for a in (bars.dates.astype("int64"), bars.open, bars.high, bars.low, bars.close, bars.volume):
        h.update(a.tobytes(order="F"))
    return h.hexdigest()


def release_memory() -> None:
    """Hand the heap that freed temporaries left behind back to the OS (glibc's
    ``malloc_trim``; elsewhere nothing). Reading a 1.3-million-row CSV leaves ~200 MB that
    glibc keeps for reuse: freed, but still counted in RSS for the whole sweep, in the
    parent and in every worker."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return


# -- in a worker ------------------------------------------------------------------------------

_lock = threading.Lock()
_markets: dict[str, Market] = {}
_local = threading.local()


def _market(token: str, bars: Bars | None) -> Market:
    with _lock:
        market = _markets.get(token)
        if market is None:
            if bars is None:
                raise RuntimeError("this worker was not given the bars")
            _markets.clear()  # one universe per worker at a time: memory stays bounded
            market = prepare_market(bars)
            _markets[token] = market
            release_memory()
        return market


def _init_worker(token: str, bars: Bars) -> None:
    _market(token, bars)


def run_set(task: SetTask, token: str, bars: Bars | None = None) -> RunResult:
    """Run one set in this worker (the process pool's and Dask's task function)."""
    market = _market(token, bars)
    last: Backtest | None = getattr(_local, "backtest", None)
    if (
        last is not None
        and last.market is market
        and (last.first_day, last.last_day) == (task.first_day, task.last_day)
    ):
        bt = last.reuse(task.settings)
    else:
        bt = Backtest(market, task.settings, task.first_day, task.last_day, _user(task))
    _local.backtest = bt
    return bt.run(set_run(task.strategies))


def _user(task: SetTask) -> tuple[Any, ...]:
    """The user strategies the set names (issue 15), imported in this worker: functions
    are loaded by name here rather than pickled, so a worker needs only the folder."""
    from pathlib import Path

    from tui_trader.core.backtest_market import STRATEGIES
    from tui_trader.engine.user_strategies import load_strategies

    names = [n for n in task.strategies if n not in STRATEGIES]
    if not names:
        return ()
    folder = Path(task.user_dir) if task.user_dir is not None else None
    return tuple(load_strategies(task.settings, names, folder))


def set_run(strategies: tuple[str, ...]) -> RunSpec:
    """The run a sweep set makes: the strategies together (module doc)."""
    return RunSpec(ALL if len(strategies) > 1 else strategies[0], strategies)


# -- where the sets run -----------------------------------------------------------------------

Progress = Callable[[int, int], None]


def run_local(
    bars: Bars,
    token: str,
    tasks: Sequence[SetTask],
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[RunResult]:
    """Every task on a pool of local processes (default: one per core); results in task
    order. One worker runs them in this process (no pool to start)."""
    n = workers or os.cpu_count() or 1
    if n <= 1 or len(tasks) <= 1:
        out = []
        for k, task in enumerate(tasks, 1):
            out.append(run_set(task, token, bars))
            if progress is not None:
                progress(k, len(tasks))
        return out
    # forkserver, not fork: forking a process that runs threads (a Dask client, numba's
    # pool, a test's LocalCluster) can deadlock the child on a lock held at fork time.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=min(n, len(tasks)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(token, bars),
    ) as pool:
        futures = {pool.submit(run_set, task, token): task.index for task in tasks}
        return _collect(futures, as_completed(futures), len(tasks), progress)


def run_dask(
    address: str,
    bars: Bars,
    token: str,
    tasks: Sequence[SetTask],
    progress: Progress | None = None,
    client: Any = None,
) -> list[RunResult]:
    """Every task on the Dask cluster at ``address`` (or an existing ``client``); the bars
    go to each worker once. Needs the ``cluster`` extra (dask[distributed])."""
    import distributed

    dask: Any = distributed  # untyped: its calls would each need an ignore
    own = client is None
    c = dask.Client(address) if own else client
    try:
        shared = c.scatter(bars, broadcast=True)
        futures = {c.submit(run_set, task, token, shared, pure=False): task.index for task in tasks}
        return _collect(futures, dask.as_completed(futures), len(tasks), progress)
    finally:
        if own:
            c.close()


def _collect(
    futures: dict[Any, int], done: Iterator[Any], total: int, progress: Progress | None
) -> list[RunResult]:
    results: dict[int, RunResult] = {}
    for k, fut in enumerate(done, 1):
        results[futures[fut]] = fut.result()
        if progress is not None:
            progress(k, total)
    return [results[i] for i in sorted(results)]


__all__ = [
    "SetTask",
    "bars_token",
    "grid_sets",
    "release_memory",
    "run_dask",
    "run_local",
    "run_set",
    "set_run",
]
