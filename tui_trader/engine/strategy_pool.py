"""Worker processes for traders' own strategies (issue 15).

Why a pool of processes and not the worker thread alone: a scan of 500 symbols x 500
days with two strategies of five pandas-ta indicators each measured 3.15 s best / 4.26 s
median in one thread (~6-8 ms per symbol, ~95 % of it inside pandas / pandas-ta, so not
something this project can make faster), against a target of 2 s; and pandas code holds
the GIL for most of that time, which is what the dashboard's keys wait on (loop lag p99
26 ms in the thread). Processes run the symbols in parallel on every core and leave the
UI process's GIL alone: with two workers the same scan measured 1.56 s best / 1.62 s
median on this shared 2-core box at load 0.9 (1.7-2.2 s at load 1.2-1.8; the thread
3.0 s in the same runs; ~3.1 CPU-s in the workers), the UI process spends ~0.03 CPU-s
per scan on it (sending the bars, merging the answers), and the dashboard's keypress
p99 while it runs was 31 ms (no scan: 28 ms; the thread: 120 ms). The workers lower
their own priority (``os.nice``) so that on a busy machine the UI wins the CPU.
``[strategies] workers = 0`` keeps the thread.

How: a :class:`concurrent.futures.ProcessPoolExecutor` with a ``forkserver`` context
(``spawn`` where there is none), started once per session in the background and warmed
(workers started, pandas-ta and the strategies' modules imported) so that the first scan
does not pay for it; the user strategies folder and the rest of the parent's
``sys.path`` are on the workers' path. A scan is cut into chunks of symbols
(:class:`~tui_trader.core.user_strategies.SymbolRows`, plain arrays) and every chunk runs
:func:`~tui_trader.core.user_strategies.evaluate_rows`, so the faults are the thread's:

- raises / wrong type or length: the fault of the first chunk (in symbol order) that saw
  one, the same sentence as in the thread;
- too slow: a strategy's calls in all workers add up, in shared memory as they run,
  against ``timeout_s``; the call that reaches it is interrupted in its worker
  (``SIGALRM`` raising :class:`~tui_trader.core.user_strategies.Overtime`) and no chunk
  starts another, so a slow strategy costs the scan about ``timeout_s`` as in the
  thread, not that per chunk;
- a call that does not stop even then (it blocks the signal, or sits in C code) or a
  worker that dies (``os._exit``, a crash): every worker says in shared memory which
  strategy it is running on which symbol and since when, so the parent kills a call
  that overran by :data:`HANG_GRACE_S` and blames the right strategy for a death. The
  pool is then replaced (in the background), the strategies whose chunks were lost give
  no signals in this scan (the built-ins' do), and the culprit is disabled.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np
from loguru import logger

from tui_trader.core.user_strategies import (
    BoolArray,
    BoundStrategy,
    Overtime,
    RowsResult,
    StrategyFault,
    SymbolRows,
    evaluate_rows,
    timeout_fault,
)

#: How much longer than its time a call may run before its worker is killed: the
#: worker's own alarm comes first; this is for a call that ignores it.
HANG_GRACE_S = 1.0
#: Chunks per worker in a scan: a few, so a slow chunk does not leave a worker idle.
CHUNKS_PER_WORKER = 2
#: The niceness workers add to their own: the UI process wins a busy CPU.
WORKER_NICE = 10
#: Scans in a row whose workers broke with no strategy to blame, after which the pool
#: gives up and the strategies run in the calling thread.
MAX_FAILURES = 3
#: Strategies whose time per scan the workers share (beyond: each chunk its own).
SHARED_STRATEGIES = 64
#: How often the parent looks for a call that overran while it waits for a scan.
POLL_S = 0.02

_FIELDS = 4  # per worker: task (-1 idle, -2 terminated), strategy, symbol, started
_IDLE = -1.0
_TERMINATED = -2.0

# --- the worker side -------------------------------------------------------------------

_slot = -1
_state: Any = None
_claim: Any = None
_spent: Any = None  # seconds each strategy of the running scan took, in all workers
_spent_lock: Any = None


def _init_worker(
    paths: list[str], nice: int, state: Any, pids: Any, claim: Any, spent: Any, lock: Any
) -> None:
    """Runs once in every worker: the parent's import path, a lower priority, a slot in
    shared memory, the alarm that interrupts an overrunning call, and pandas-ta loaded."""
    global _slot, _state, _claim, _spent, _spent_lock
    for entry in paths:
        if entry not in sys.path:
            sys.path.append(entry)
    with contextlib.suppress(OSError):
        os.nice(nice)
    with claim.get_lock():
        _slot = int(claim.value)
        claim.value += 1
    _state, _claim, _spent, _spent_lock = state, claim, spent, lock
    pids[_slot] = os.getpid()
    state[_slot * _FIELDS] = _IDLE
    signal.signal(signal.SIGALRM, _overtime)
    signal.signal(signal.SIGTERM, _terminated)
    with contextlib.suppress(ImportError):
        importlib.import_module("pandas_ta")


def _overtime(signum: int, frame: FrameType | None) -> None:
    raise Overtime


def _terminated(signum: int, frame: FrameType | None) -> None:
    # The pool ends its workers with SIGTERM when one died: marked here, the parent
    # tells them from the one that died by itself.
    _state[_slot * _FIELDS] = _TERMINATED
    os._exit(128 + signum)


@contextlib.contextmanager
def _guard(
    task: int, strategy: int, symbol: int, budget_s: float, timeout_s: float
) -> Iterator[None]:
    """One call: said in the worker's slot, its time added to the scan's total for the
    strategy, and interrupted when that total (all workers') reaches ``timeout_s``."""
    shared = strategy < SHARED_STRATEGIES
    if shared:
        budget_s = min(budget_s, timeout_s - _spent[strategy])
        if budget_s <= 0:  # other chunks used its time up: do not start
            raise Overtime
    base = _slot * _FIELDS
    started = time.monotonic()
    _state[base + 1] = strategy
    _state[base + 2] = symbol
    _state[base + 3] = started
    _state[base] = task
    if budget_s != float("inf"):
        signal.setitimer(signal.ITIMER_REAL, max(budget_s, 0.001))
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:  # the alarm may strike just before it is stopped: idle all the same
            _state[base] = _IDLE
            if shared:
                with _spent_lock:
                    _spent[strategy] += time.monotonic() - started


def _run_chunk(
    task: int, strategies: Sequence[BoundStrategy], part: SymbolRows, timeout_s: float
) -> RowsResult:
    """One chunk in a worker (module doc)."""

    def guard(
        strategy: int, symbol: int, budget_s: float
    ) -> contextlib.AbstractContextManager[None]:
        return _guard(task, strategy, symbol, budget_s, timeout_s)

    return evaluate_rows(strategies, part, timeout_s, guard=guard)


def _warm(modules: Sequence[str], workers: int, within_s: float = 30.0) -> list[str]:
    """Import the strategies' modules in a worker, then hold it until every worker has
    started (the pool starts a new worker only while the others are busy); the modules
    that do not import here."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    deadline = time.monotonic() + within_s
    while _claim.value < workers and time.monotonic() < deadline:
        time.sleep(0.005)
    return failed


# --- the parent side -------------------------------------------------------------------


@dataclass(eq=False)
class _Generation:
    """One executor and the shared memory its workers report in."""

    executor: ProcessPoolExecutor
    state: Any
    pids: Any
    claim: Any
    spent: Any
    ready: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True, slots=True)
class _Lost:
    """The pool broke during a scan: the strategy to blame (None: no call was running)."""

    culprit: int | None
    fault: StrategyFault | None


class StrategyPool:
    """Worker processes that evaluate user strategies (module doc); :meth:`evaluate` is an
    :data:`~tui_trader.core.user_strategies.Evaluator`, called from one thread at a time.
    """

    def __init__(
        self,
        workers: int,
        paths: Sequence[str] = (),
        modules: Sequence[str] = (),
        nice: int = WORKER_NICE,
        grace_s: float = HANG_GRACE_S,
    ) -> None:
        if workers < 1:
            raise ValueError("a strategy pool needs at least one worker")
        self.workers = workers
        self._paths = list(dict.fromkeys([*sys.path, *paths]))
        self._modules = list(modules)
        self._nice = nice
        self._grace_s = grace_s
        self._ctx = _context()
        self._lock = threading.Lock()
        self._gen: _Generation | None = None
        self._task = 0
        self._closed = False
        self._failures = 0  # scans in a row that lost their workers to no strategy
        #: Times the workers were replaced (one died or hung).
        self.replaced = 0
        #: Strategy names already reported as not sendable (they run in the thread).
        self._unsendable: set[str] = set()
        #: Modules that do not import in the workers (their strategies run in the thread).
        self._foreign: set[str] = set()

    # ---- life cycle

    def start(self) -> None:
        """Start (or restart) the workers in the background; :meth:`evaluate` waits for
        them when it comes first."""
        with self._lock:
            if self._closed:
                return
            gen = self._new_generation()
            self._gen = gen
        threading.Thread(target=self._warm, args=(gen,), name="strategy-pool", daemon=True).start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Whether the workers are started and warm (waiting up to ``timeout``)."""
        gen = self._gen
        return gen is not None and gen.ready.wait(timeout)

    def pids(self) -> list[int]:
        """The workers' process ids (those started)."""
        gen = self._gen
        if gen is None:
            return []
        return [int(p) for p in gen.pids[: self.workers] if p]

    def close(self) -> None:
        """Stop the workers (a running call is not waited for)."""
        with self._lock:
            self._closed = True
            gen, self._gen = self._gen, None
        if gen is not None:
            _shutdown(gen)

    def _new_generation(self) -> _Generation:
        state = self._ctx.RawArray("d", [_IDLE] * (self.workers * _FIELDS))
        pids = self._ctx.RawArray("q", self.workers)
        claim = self._ctx.Value("i", 0)
        spent = self._ctx.RawArray("d", SHARED_STRATEGIES)
        executor = ProcessPoolExecutor(
            self.workers,
            mp_context=self._ctx,
            initializer=_init_worker,
            initargs=(self._paths, self._nice, state, pids, claim, spent, self._ctx.Lock()),
        )
        return _Generation(executor, state, pids, claim, spent)

    def _warm(self, gen: _Generation) -> None:
        try:
            jobs = [
                gen.executor.submit(_warm, self._modules, self.workers) for _ in range(self.workers)
            ]
            for job in jobs:
                for name in job.result():
                    if name not in self._foreign:
                        self._foreign.add(name)
                        logger.warning("module {} does not import in a worker", name)
        except Exception:  # a broken start: the next evaluate() replaces it
            logger.opt(exception=True).warning("user strategy workers did not start")
        finally:
            gen.ready.set()

    # ---- a scan

    def evaluate(
        self, strategies: Sequence[BoundStrategy], part: SymbolRows, timeout_s: float
    ) -> RowsResult:
        """``evaluate_rows`` over ``part`` in the workers, chunk by chunk (module doc)."""
        gen = self._gen
        if gen is not None:
            gen.ready.wait()  # the warm-up says which modules the workers cannot import
        sendable, local = self._sendable(strategies)
        results = [self._in_workers(sendable, part, timeout_s)] if sendable else []
        if local:
            results.append(evaluate_rows(local, part, timeout_s))
        long: dict[str, BoolArray] = {}
        short: dict[str, BoolArray] = {}
        spent: dict[str, float] = {}
        faults: list[StrategyFault] = []
        for r in results:
            long.update(r.long)
            short.update(r.short)
            spent.update(r.spent)
            faults += r.faults
        order = {s.name: i for i, s in enumerate(strategies)}
        faults.sort(key=lambda f: order[f.name])
        return RowsResult(long, short, spent, tuple(faults))

    def _sendable(
        self, strategies: Sequence[BoundStrategy]
    ) -> tuple[list[BoundStrategy], list[BoundStrategy]]:
        """Strategies a worker can import (most), and those it cannot (a function made
        at run time): these run in the calling thread, as without a pool."""
        send: list[BoundStrategy] = []
        local: list[BoundStrategy] = []
        for s in strategies:
            try:
                if getattr(s.fn, "__module__", None) in self._foreign:
                    raise ImportError(s.fn.__module__)
                pickle.dumps(s)
            except Exception:
                local.append(s)
                if s.name not in self._unsendable:
                    self._unsendable.add(s.name)
                    logger.warning(
                        "strategy {} cannot be sent to a worker: runs in a thread", s.name
                    )
                continue
            send.append(s)
        return send, local

    def _in_workers(
        self, strategies: Sequence[BoundStrategy], part: SymbolRows, timeout_s: float
    ) -> RowsResult:
        gen = self._gen
        if gen is None:
            self.start()
            gen = self._gen
        if gen is None or self._failures >= MAX_FAILURES:
            # Closed, or workers that keep breaking (they cannot start here): the thread.
            return evaluate_rows(strategies, part, timeout_s)
        gen.ready.wait()
        for i in range(min(len(strategies), SHARED_STRATEGIES)):
            gen.spent[i] = 0.0  # no call runs between scans
        n = len(part)
        chunks = max(1, min(n, self.workers * CHUNKS_PER_WORKER))
        bounds = np.linspace(0, n, chunks + 1).round().astype(int).tolist()
        parts = [part.part(a, b) for a, b in itertools.pairwise(bounds)]
        done: dict[int, RowsResult] = {}
        lost: _Lost | None = None
        futures: dict[Future[RowsResult], tuple[int, int]] = {}  # -> (task id, chunk)
        pending: set[Future[RowsResult]] = set()
        try:
            for c, chunk in enumerate(parts):
                self._task += 1
                job = gen.executor.submit(_run_chunk, self._task, strategies, chunk, timeout_s)
                futures[job] = (self._task, c)
                pending.add(job)
            while pending and lost is None:
                finished, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for f in finished:
                    c = futures[f][1]
                    done[c] = self._answer(f, strategies, parts[c], timeout_s)
                if pending:
                    lost = self._hung(gen, strategies, _unanswered(futures, done), timeout_s)
        except BrokenProcessPool:
            lost = None
        tasks = _unanswered(futures, done)
        if lost is not None or len(done) < len(parts):
            lost = self._replace(gen, strategies, parts, tasks, lost)
            self._failures = 0 if lost.culprit is not None else self._failures + 1
            if self._failures == MAX_FAILURES:
                logger.error("user strategy workers keep failing: they run in a thread now")
        else:
            self._failures = 0
        return _merge(strategies, parts, done, timeout_s, lost)

    @staticmethod
    def _answer(
        job: Future[RowsResult],
        strategies: Sequence[BoundStrategy],
        part: SymbolRows,
        timeout_s: float,
    ) -> RowsResult:
        """A chunk's answer; when the worker could not run it at all (a strategy that
        does not import there, an answer that does not pickle), the chunk runs here."""
        try:
            return job.result()
        except BrokenProcessPool:
            raise
        except Exception:
            logger.opt(exception=True).warning("a worker could not run user strategies")
            return evaluate_rows(strategies, part, timeout_s)

    def _running(
        self, gen: _Generation, tasks: dict[int, int]
    ) -> Iterator[tuple[int, int, int, int, float]]:
        """(worker slot, chunk, strategy, symbol, started) of each call running now in
        ``tasks`` (task id -> chunk: the chunks not answered yet)."""
        for slot in range(self.workers):
            base = slot * _FIELDS
            task = int(gen.state[base])
            if task < 0 or task not in tasks:
                continue
            yield (
                slot,
                tasks[task],
                int(gen.state[base + 1]),
                int(gen.state[base + 2]),
                float(gen.state[base + 3]),
            )

    def _hung(
        self,
        gen: _Generation,
        strategies: Sequence[BoundStrategy],
        tasks: dict[int, int],
        timeout_s: float,
    ) -> _Lost | None:
        """A call that overran its time by the grace: its worker killed, its strategy
        blamed."""
        now = time.monotonic()
        for slot, _chunk, strategy, _symbol, started in self._running(gen, tasks):
            if now - started <= timeout_s + self._grace_s:
                continue
            name = strategies[strategy].name
            with contextlib.suppress(OSError):
                os.kill(int(gen.pids[slot]), signal.SIGKILL)
            return _Lost(strategy, timeout_fault(name, now - started, timeout_s))
        return None

    def _replace(
        self,
        gen: _Generation,
        strategies: Sequence[BoundStrategy],
        parts: Sequence[SymbolRows],
        tasks: dict[int, int],
        lost: _Lost | None,
    ) -> _Lost:
        """The pool broke: find the strategy whose call died with its worker (the others
        were ended by the pool, and said so), and start new workers."""
        running = list(self._running(gen, tasks))
        _settle(gen)
        if lost is None:
            lost = _Lost(None, None)
            for slot, chunk, strategy, symbol, _started in running:
                if gen.state[slot * _FIELDS] == _TERMINATED:
                    continue
                name = strategies[strategy].name
                where = parts[chunk].symbols[symbol]
                reason = f"{name} ended its worker process (on {where}); the worker was replaced"
                lost = _Lost(strategy, StrategyFault(name, reason, reason))
                break
        self.replaced += 1
        logger.warning(
            "user strategy workers replaced ({}); this scan has the built-in signals and "
            "those of the strategies that finished",
            lost.fault.reason if lost.fault else "a worker ended",
        )
        with self._lock:
            if self._gen is gen:
                self._gen = None
        self.start()
        return lost


def _unanswered(
    futures: dict[Future[RowsResult], tuple[int, int]], done: dict[int, RowsResult]
) -> dict[int, int]:
    """Task id -> chunk of the chunks without an answer."""
    return {task: c for task, c in futures.values() if c not in done}


def _merge(
    strategies: Sequence[BoundStrategy],
    parts: Sequence[SymbolRows],
    done: dict[int, RowsResult],
    timeout_s: float,
    lost: _Lost | None,
) -> RowsResult:
    """The chunks' answers as one: per strategy, the first chunk's fault, else the time
    over all chunks against ``timeout_s``, else its masks (absent if a chunk was lost)."""
    long: dict[str, BoolArray] = {}
    short: dict[str, BoolArray] = {}
    spent: dict[str, float] = {}
    faults: list[StrategyFault] = []
    complete = len(done) == len(parts)
    for i, s in enumerate(strategies):
        if lost is not None and lost.culprit == i and lost.fault is not None:
            faults.append(lost.fault)
            continue
        results = [done[c] for c in sorted(done)]
        fault = next((f for r in results for f in r.faults if f.name == s.name), None)
        total = sum(r.spent.get(s.name, 0.0) for r in results)
        spent[s.name] = total
        if (fault is None and total > timeout_s) or (fault is not None and fault.overtime):
            fault = timeout_fault(s.name, max(total, timeout_s), timeout_s)
        if fault is not None:
            faults.append(fault)
        elif complete:
            long[s.name] = np.concatenate([r.long[s.name] for r in results])
            short[s.name] = np.concatenate([r.short[s.name] for r in results])
    return RowsResult(long, short, spent, tuple(faults))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _settle(gen: _Generation, within_s: float = 1.0) -> None:
    """A broken generation's end: the pool ends its other workers (SIGTERM, which they
    mark); wait ``within_s`` for that, then kill whatever is left (a call that ignores
    SIGTERM must not hold the scan)."""
    deadline = time.monotonic() + within_s
    pids = [int(p) for p in gen.pids[:] if p]
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.01)
    _shutdown(gen)


def _shutdown(gen: _Generation) -> None:
    """End a generation's workers at once (a running call is not waited for)."""
    for pid in gen.pids[:]:
        if pid:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    gen.executor.shutdown(wait=False, cancel_futures=True)


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` (workers fork from a small server that has pandas loaded: fast to
    start, nothing of the UI process inherited), else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "pandas_ta"])
        return ctx
    return multiprocessing.get_context("spawn")


def pool_evaluator(pool: StrategyPool) -> Callable[..., RowsResult]:
    """``pool.evaluate`` as the core's evaluator (a name for readers of the engine)."""
    return pool.evaluate
