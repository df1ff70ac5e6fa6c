"""Spies for the auto-trader benchmarks (test_bench_auto.py): when each candidate moved,
when each chain (or its two halves, qualify and quotes) was fetched, when each what-if
ran, when each request reached the simulated gateway, how long synchronous work held the
event loop, and how late the loop woke -- all on ``time.perf_counter``, so a benchmark
can say where the time goes, not only how long it took.

The spies wrap the real objects (instance attributes, or the chain functions in both the
chains module and the auto-trader's namespace, whichever exist: the benchmark measures
whatever design is in place); nothing is replaced by a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import statistics
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import pytest

from tui_trader.broker import chains
from tui_trader.engine import autotrader
from tui_trader.engine.engine import Engine
from tui_trader.sim import protocol as p
from tui_trader.sim.gateway import SimGateway

#: The states a candidate is "decided" after (anything but QUEUED / SELECTING).
WAITING = ("QUEUED", "SELECTING")
#: The chain functions timed, by name: a whole chain, or its qualify / quote halves.
CHAIN_CALLS = {"fetch_chain": "chain", "qualify_chain": "qualify", "quote_chain": "quotes"}


@dataclass(slots=True)
class Span:
    """One awaited call: what, for which symbol, from when to when (perf_counter)."""

    what: str
    symbol: str
    start: float
    end: float = float("nan")

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(slots=True)
class Trace:
    """What happened during an entry cycle, in perf_counter seconds."""

    moves: list[tuple[float, str, str]] = field(default_factory=list)  # (t, symbol, state)
    spans: list[Span] = field(default_factory=list)
    requests: list[tuple[float, str]] = field(default_factory=list)  # (t, request kind)

    # ------------------------------------------------------------------ install

    def watch_chains(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every chain fetch (or its halves), wherever the auto-trader finds the functions
        (install before the engine boots: chains may be fetched before the window)."""
        for module in (chains, autotrader):
            for name, what in CHAIN_CALLS.items():
                fn = getattr(module, name, None)
                if fn is not None:
                    monkeypatch.setattr(module, name, self._timed(what, fn))

    def watch_engine(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        """Candidate moves and the what-ifs of ``engine``."""
        auto: Any = engine.auto
        move = auto._move

        def timed_move(c: Any, state: Any, *args: Any, **kwargs: Any) -> Any:
            span = Span("candidate write", c.key.symbol, time.perf_counter())
            self.moves.append((span.start, c.key.symbol, state.value))
            try:
                return move(c, state, *args, **kwargs)
            finally:
                span.end = time.perf_counter()
                self.spans.append(span)

        monkeypatch.setattr(auto, "_move", timed_move)
        what_if = engine.orders.what_if

        async def timed_what_if(spec: Any) -> Any:
            span = Span("what-if", spec.underlying, time.perf_counter())
            self.spans.append(span)
            try:
                return await what_if(spec)
            finally:
                span.end = time.perf_counter()

        monkeypatch.setattr(engine.orders, "what_if", timed_what_if)

    def time_calls(self, obj: Any, name: str, what: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Time every (synchronous) call of ``obj.name`` as a span ``what``."""
        fn = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            span = Span(what, "", time.perf_counter())
            try:
                return fn(*args, **kwargs)
            finally:
                span.end = time.perf_counter()
                self.spans.append(span)

        monkeypatch.setattr(obj, name, timed)

    def watch_ib_reads(self, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each read from IB's socket -- ib_insync's decoding and every handler of what it
        brought, ours included -- as a span "ib read" labelled with its size."""
        conn = engine.ib.client.conn
        received: Callable[[bytes], None] = conn.data_received

        def timed(data: bytes) -> None:
            span = Span("ib read", f"{len(data) // 1024} KiB", time.perf_counter())
            try:
                received(data)
            finally:
                span.end = time.perf_counter()
                self.spans.append(span)

        monkeypatch.setattr(conn, "data_received", timed)

    def watch_gc(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each garbage collection of the oldest generation as a span "gc2" (a full
        collection walks every object: in this process, the engine's and the test's)."""
        started: list[float] = []

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if info.get("generation") != 2:
                return
            if phase == "start":
                started.append(time.perf_counter())
            elif started:
                self.spans.append(Span("gc2", "", started.pop(), time.perf_counter()))

        monkeypatch.setattr(gc, "callbacks", [*gc.callbacks, on_gc])

    def _timed(
        self, what: str, fn: Callable[..., Coroutine[Any, Any, Any]]
    ) -> Callable[..., Coroutine[Any, Any, Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            symbol = next((a for a in args if isinstance(a, str)), "?")  # the first str
            span = Span(what, symbol, time.perf_counter())
            self.spans.append(span)
            try:
                return await fn(*args, **kwargs)
            finally:
                span.end = time.perf_counter()

        return timed

    def watch_gateway(self, gateway: SimGateway, monkeypatch: pytest.MonkeyPatch) -> None:
        """Every request the in-process gateway decodes (a what-if apart from an order)."""
        handle = gateway._handle

        def timed_handle(s: Any, req: p.Request) -> None:
            kind = type(req).__name__
            if isinstance(req, p.PlaceOrder):
                kind = "WhatIf" if req.order.what_if else "PlaceOrder"
            self.requests.append((time.perf_counter(), kind))
            handle(s, req)

        monkeypatch.setattr(gateway, "_handle", timed_handle)

    # ------------------------------------------------------------------ read

    def last_request_at(self) -> float | None:
        return self.requests[-1][0] if self.requests else None

    def first_request(self, kind: str, after: float) -> float | None:
        return next((t for t, k in self.requests if k == kind and t >= after), None)

    def request_counts(self, after: float, before: float) -> Counter[str]:
        return Counter(k for t, k in self.requests if after <= t <= before)

    def last_decided(self, after: float) -> float | None:
        """When the last candidate left QUEUED/SELECTING (None: none moved on)."""
        done = [t for t, _, state in self.moves if t >= after and state not in WAITING]
        return max(done) if done else None

    def decisions(self, after: float) -> dict[str, str]:
        """Each candidate's last state since ``after``."""
        out: dict[str, str] = {}
        for t, symbol, state in self.moves:
            if t >= after:
                out[symbol] = state
        return out

    def spans_of(self, what: str, after: float, before: float = math.inf) -> list[Span]:
        return [s for s in self.spans if s.what == what and after <= s.start < before]


def mean_s(spans: list[Span]) -> float:
    return statistics.fmean(s.seconds for s in spans) if spans else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank (enough samples for p99 here)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))
    return ordered[k]


class LagProbe:
    """The event loop's lag as the dashboard would feel it: a task that sleeps 1 ms in a
    loop and records by how much each sleep overshot (perf_counter seconds)."""

    def __init__(self, interval_s: float = 0.001) -> None:
        self.interval_s = interval_s
        #: (when the sleep ended, overshoot) per sample
        self.samples: list[tuple[float, float]] = []
        #: when the probe last woke (perf_counter), for :class:`StallSampler`
        self.heartbeat = time.perf_counter()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.samples = []
        self.heartbeat = time.perf_counter()
        self._task = asyncio.create_task(self._run(), name="lag-probe")

    async def stop(self) -> list[tuple[float, float]]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        return self.samples

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.interval_s)
            now = time.perf_counter()
            self.heartbeat = now
            self.samples.append((now, max(0.0, now - t - self.interval_s)))


def stalls(
    samples: list[tuple[float, float]], spans: list[Span], at_least_s: float
) -> dict[str, tuple[int, float]]:
    """The samples whose overshoot is at least ``at_least_s``, by what was running while
    the loop was held (the first kind of span overlapping it, else "other"): count and
    total seconds per kind."""
    out: dict[str, tuple[int, float]] = {}
    for end, lag in samples:
        if lag < at_least_s:
            continue
        start = end - lag
        kind = next((sp.what for sp in spans if sp.start < end and sp.end > start), "other")
        n, total = out.get(kind, (0, 0.0))
        out[kind] = (n + 1, total + lag)
    return out


def worst_stalls(
    samples: list[tuple[float, float]], spans: list[Span], count: int
) -> list[tuple[float, list[str]]]:
    """The ``count`` longest overshoots (seconds), each with every kind of span that
    overlapped it (what was running, or awaited, while the loop was held)."""
    out: list[tuple[float, list[str]]] = []
    for end, lag in sorted(samples, key=lambda s: -s[1])[:count]:
        start = end - lag
        kinds = sorted(
            {
                sp.what + (f" {sp.symbol}" if sp.what == "ib read" else "")
                for sp in spans
                if sp.start < end and sp.end > start
            }
        )
        out.append((lag, kinds))
    return out


class StallSampler:
    """Where the loop is held: a thread that, while the lag probe has not woken for more
    than ``after_s``, samples the loop thread's stack every ``every_s`` and keeps the
    innermost frame of our code (else of ib_insync, else the innermost of all), so each
    sample stands for about ``every_s`` of a stall. Stop it before the loop ends."""

    def __init__(self, probe: LagProbe, after_s: float = 0.02, every_s: float = 0.005) -> None:
        self._probe = probe
        self._after_s = after_s
        self.every_s = every_s
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: (when, "file:function") per sample
        self.samples: list[tuple[float, str]] = []

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stall-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            now = time.perf_counter()
            if now - self._probe.heartbeat < self._after_s:
                continue
            frame = sys._current_frames().get(self._loop_thread)
            if frame is not None:
                self.samples.append((now, _where(frame)))

    def where(self, after: float, before: float) -> Counter[str]:
        return Counter(w for t, w in self.samples if after <= t < before)


def _where(frame: FrameType, depth: int = 3) -> str:
    """The innermost ``depth`` frames of our code, innermost first ("module:function <
    caller < ..."); else of ib_insync; else the innermost frame of all."""
    stack = traceback.extract_stack(frame)
    for marker in ("/tui_trader/", "/ib_insync/"):
        ours = [fs for fs in reversed(stack) if marker in fs.filename][:depth]
        if ours:
            return " < ".join(
                f"{fs.filename.split(marker)[-1].removesuffix('.py')}:{fs.name}" for fs in ours
            )
    fs = stack[-1]
    return f"{fs.filename.rsplit('/', 1)[-1]}:{fs.name}"
