"""Benchmarks: the auto-trader (SPEC 11) at the window's opening and in the event loop.

Run with (-s shows the figures):
    python -m pytest tests/benchmarks/test_bench_auto.py -p no:cacheprovider -o addopts="" -s

1. **Window opening, 10 queued candidates: first order on the wire within 3 s, all 10
   decided within 30 s, at IB's real request pacing.** The simulated gateway runs in this
   process with market time injected (``fake_time``); the engine's session keeps its
   production throttle (ib_insync's bursts of 45 messages, 1.2 s apart -- real seconds,
   nothing injected there) and the gateway its 50 messages/s limit. ``BENCH_SYMBOLS`` at
   14:44 New York gives exactly ten signals that still hold at 14:45:30 (the market
   depends on the universe's composition; probed). The engine boots at 14:44 with the
   auto-trader armed and ``max_daily_trades`` / ``max_positions`` at 10, so all ten are
   QUEUED before the window and each can be tried. Market time then moves to 14:45:30
   (the window opened at 14:45) and the clock starts at the engine's ``refresh()`` that
   sees it. Measured, on ``perf_counter``: window open -> the first real ``placeOrder``
   decoded by the gateway (a what-if is not an order), and -> the last candidate leaving
   QUEUED/SELECTING. Where the time goes is printed too: each chain's qualification
   (reqSecDefOptParams + one reqContractDetails per contract) and quotes (reqMktData until
   every row has both sides and greeks), the what-ifs, and the requests the gateway saw.
   The window opens only once the engine has been quiet for ``QUIET_S``: whatever the
   engine does with queued candidates before the window (preparing their chains), it has
   the time for in real use, where candidates queue from the morning on.
   The first-order target is asserted last, on its own line, so the printed breakdown
   and the 30 s target are there even when it fails.

2. **One automation cycle (scan of 60 symbols -> candidates -> decisions) adds under
   5 ms of event-loop lag p99.** The dashboard shares its loop with the engine, so the
   loop's lag is what a key press or a redraw waits. The gateway runs in its own process
   (the default 60-symbol market at real speed, streaming every 100 ms, so its work is
   not on our loop); the engine runs here exactly as ``run --headless`` does, scanning
   every ``SCAN_INTERVAL_S`` inside the entry window, with IB's real pacing. Lag is
   sampled by a task sleeping 1 ms in a loop (each sample: how late it woke). Phase OFF:
   ``BASELINE_S`` with the auto-trader off. Phase ARMED: from arming (its cycle scans,
   queues every signal, checks, fetches chains, asks what-ifs, sends up to today's limit)
   until every candidate is decided, then ``AFTER_CYCLE_S`` more (later scans' cycles).
   p50/p99/max of both are printed and ARMED's p99 minus OFF's must be under 5 ms. Since
   a p99 of 1 ms samples hardly sees a rare long stall, the print also says what held
   the loop: stalls of 5 ms or more and the work they overlapped (synchronous spans:
   scans, the auto-trader's journal writes and publishing, spread selection and
   planning, each read from IB's socket with its handlers, full garbage collections),
   the lag while a chain was being fetched, and stack samples of the loop thread taken
   while it was held for 20 ms or more.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.auto_trace import (
    CHAIN_CALLS,
    WAITING,
    LagProbe,
    Span,
    StallSampler,
    Trace,
    mean_s,
    percentile,
    stalls,
    worst_stalls,
)
from tests.engine.conftest import MakeEngine, engine_settings, make_engine  # noqa: F401
from tests.sim.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    FakeMonotonic,
    MakeGateway,
    fake_time,
    make_gateway,
    until,
)
from tui_trader.core.settings import Settings
from tui_trader.engine import autotrader
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal
from tui_trader.state.store import Automation

#: Wednesday 2026-11-18, 14:44 New York: the entry window (75 min before the close) opens
#: at 14:45.
BEFORE_WINDOW = datetime(2026, 11, 18, 19, 44, tzinfo=UTC)
IN_WINDOW = datetime(2026, 11, 18, 19, 45, 30, tzinfo=UTC)
#: Ten of these signal at 14:44 and still at 14:45:30 (seed 7; probed).
BENCH_SYMBOLS = (
    "AAPL", "ADBE", "AMZN", "AXP", "BA", "CAT", "COP",
    "COST", "CSCO", "CVX", "DIA", "DIS", "GOOGL", "JNJ",
)  # fmt: skip
CANDIDATES = 10
FIRST_ORDER_LIMIT_S = 3.0
ALL_DECIDED_LIMIT_S = 30.0
#: No request for this long (real seconds; ib_insync's bursts are 1.2 s apart): quiet.
QUIET_S = 3.0
CHAIN_KINDS = tuple(CHAIN_CALLS.values())


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:  # noqa: F811
    return await make_gateway(symbols=BENCH_SYMBOLS, start=BEFORE_WINDOW)


def _states(engine: Engine) -> dict[str, str]:
    return {c.symbol: c.state for c in engine.store.get(Automation).candidates}


@pytest.mark.timeout(180)
async def test_window_opening_first_order_within_3_s_all_ten_decided_within_30_s(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = engine_settings(
        engine_gateway.port,
        universe={"symbols": list(BENCH_SYMBOLS)},
        auto={"enabled": True},
        risk={"max_daily_trades": CANDIDATES, "max_positions": CANDIDATES},
    )
    trace = Trace()
    trace.watch_chains(monkeypatch)
    trace.watch_gateway(engine_gateway, monkeypatch)
    booting = time.perf_counter()
    engine = await make_engine(settings=settings)
    queued = _states(engine)
    assert list(queued.values()) == ["QUEUED"] * CANDIDATES, queued  # before the window
    assert engine_gateway.exchange.open_orders() == []
    trace.watch_engine(engine, monkeypatch)
    # whatever the engine does with queued candidates before the window, it has the time:
    # the window opens once the gateway has heard nothing for QUIET_S
    await until(
        lambda: time.perf_counter() - (trace.last_request_at() or booting) > QUIET_S,
        timeout=120,
        what="the engine to be quiet before the window",
    )
    assert _states(engine) == queued

    fake_time.advance((IN_WINDOW - BEFORE_WINDOW).total_seconds())
    await engine_gateway.pump()
    opened = time.perf_counter()
    engine.refresh()  # sees the window open: the entry cycle starts
    await until(
        lambda: all(s not in WAITING for s in _states(engine).values()),
        timeout=120,
        what="every candidate decided",
    )
    report = _Report(trace, booting, opened)
    print(report.text)

    assert report.decided is not None
    assert report.decided - opened < ALL_DECIDED_LIMIT_S
    assert report.first_order is not None, "no order was sent at all"
    first_s = report.first_order - opened
    assert first_s < FIRST_ORDER_LIMIT_S, (
        f"TARGET MISSED: the first order reached the gateway {first_s:.1f} s after the "
        f"window opened (target {FIRST_ORDER_LIMIT_S:.0f} s), {report.chain_before_first:.1f} "
        "s of it fetching option chains at IB's request pacing; see the printed breakdown"
    )


class _Report:
    """The figures of one window opening, and their text."""

    def __init__(self, trace: Trace, booting: float, opened: float) -> None:
        self.first_order = trace.first_request("PlaceOrder", opened)
        self.first_what_if = trace.first_request("WhatIf", opened)
        self.decided = trace.last_decided(opened)
        end = self.decided if self.decided is not None else time.perf_counter()
        first = self.first_order if self.first_order is not None else end
        chains = [sp for sp in trace.spans if sp.what in CHAIN_KINDS]
        before = [sp for sp in chains if booting <= sp.start < opened]
        chain = [sp for sp in chains if sp.start >= opened]
        to_first = [
            sp for sp in trace.spans if sp.what in (*CHAIN_KINDS, "what-if")
            and opened <= sp.start < first
        ]  # fmt: skip
        #: seconds of chain work (qualify / quotes / whole chains) before the first order
        self.chain_before_first = _busy([sp for sp in to_first if sp.what in CHAIN_KINDS])
        counts = trace.request_counts(opened, end)
        sent = sum(counts.values())
        outcome: dict[str, int] = {}
        for state in trace.decisions(opened).values():
            outcome[state] = outcome.get(state, 0) + 1

        def at(t: float | None) -> str:
            return "-" if t is None else f"{t - opened:6.2f} s"

        self.text = "\n".join(
            [
                "",
                f"before the window: {_span_summary(before)}; "
                f"{sum(trace.request_counts(booting, opened).values())} requests at the "
                "gateway since boot",
                f"window open -> first placeOrder at gateway {at(self.first_order)}"
                f"  (target {FIRST_ORDER_LIMIT_S:.0f} s); before it: {_span_summary(to_first)}",
                f"window open -> first what-if at gateway    {at(self.first_what_if)}",
                f"window open -> all decided                 {at(self.decided)}"
                f"  (target {ALL_DECIDED_LIMIT_S:.0f} s)",
                f"in the window: {_span_summary(chain)}; "
                f"what-ifs: {_span_summary(trace.spans_of('what-if', opened))}",
                f"outcomes: {dict(sorted(outcome.items()))}",
                f"requests at the gateway in the window: {sent} in {end - opened:.1f} s "
                f"({sent / max(end - opened, 1e-9):.1f}/s): {dict(counts.most_common())}",
            ]
        )


def _busy(spans: list[Span]) -> float:
    """Seconds covered by the union of ``spans``."""
    total, reach = 0.0, -math.inf
    for sp in sorted(spans, key=lambda x: x.start):
        start = max(sp.start, reach)
        if sp.end > start:
            total += sp.end - start
        reach = max(reach, sp.end)
    return total


def _span_summary(spans: list[Span]) -> str:
    """How many of each kind, their mean length and the time they spread over (calls
    still running at the end are counted apart)."""
    done = [sp for sp in spans if math.isfinite(sp.end)]
    running = len(spans) - len(done)
    if not done:
        return f"{running} still running" if running else "none"
    kinds: dict[str, list[Span]] = {}
    for sp in done:
        kinds.setdefault(sp.what, []).append(sp)
    busy = max(sp.end for sp in done) - min(sp.start for sp in done)
    parts = [f"{len(v)} x {k} (mean {mean_s(v):.2f} s)" for k, v in sorted(kinds.items())]
    tail = f", {running} still running" if running else ""
    return ", ".join(parts) + f" over {busy:.1f} s{tail}"


# ------------------------------------------------------------------ 2. event-loop lag

LAG_START = datetime(2026, 11, 18, 19, 50, tzinfo=UTC)  # 14:50 New York: in the window
SCAN_INTERVAL_S = 5.0
WARMUP_S = 3.0
BASELINE_S = 20.0
AFTER_CYCLE_S = 15.0
ADDED_P99_LIMIT_MS = 5.0
STALL_S = 0.005
SYNC_KINDS = (
    "scan", "auto.on_scan", "auto.publish", "candidate write", "select_spreads", "plan_entry",
    "ib read", "gc2",
)  # fmt: skip


def _gateway_process(port_q: Any, stop: Any) -> None:
    """The gateway's own process: the default 60-symbol market at real speed, streaming."""
    from tui_trader.sim import gateway as g

    async def main() -> None:
        gw = await g.start_gateway(seed=7, speed=1.0, start=LAG_START, tick_interval=0.1)
        port_q.put(gw.port)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await gw.stop()

    asyncio.run(main())


@dataclass(frozen=True, slots=True)
class _Phase:
    name: str
    samples: list[tuple[float, float]]
    scans: int

    @property
    def lags_ms(self) -> list[float]:
        return [lag * 1000 for _, lag in self.samples]

    def line(self) -> str:
        lags = self.lags_ms
        seconds = self.samples[-1][0] - self.samples[0][0] if self.samples else 0.0
        held = [x for x in lags if x >= STALL_S * 1000]
        return (
            f"{self.name}: loop lag p50 {percentile(lags, 50):.2f} ms, "
            f"p99 {percentile(lags, 99):.2f} ms, max {max(lags):.1f} ms "
            f"({len(lags)} samples over {seconds:.1f} s, {self.scans} scans; "
            f"{len(held)} stalls >= {STALL_S * 1000:.0f} ms holding the loop "
            f"{sum(held):.0f} ms in all)"
        )


@pytest.mark.timeout(420)
async def test_an_automation_cycle_adds_under_5_ms_of_loop_lag_p99(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ctx = mp.get_context("spawn")
    port_q, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_gateway_process, args=(port_q, stop), daemon=True)
    proc.start()
    engine: Engine | None = None
    sampler: StallSampler | None = None
    try:
        port = await asyncio.get_running_loop().run_in_executor(None, port_q.get, True, 60)
        anchor = time.monotonic()

        def clock() -> datetime:
            return LAG_START + timedelta(seconds=time.monotonic() - anchor)

        settings = Settings.model_validate(
            {
                "connection": {"port": port, "client_id": 4},
                "scanner": {"interval_s": SCAN_INTERVAL_S},
            }
        )
        trace = Trace()
        trace.watch_chains(monkeypatch)
        engine = Engine(settings, Journal(tmp_path / "journal.sqlite3"), clock=clock)
        await engine.start()
        assert await engine.wait_booted(90.0), "the engine did not boot"
        assert engine.store.get(Automation).mode == "OFF"
        trace.watch_engine(engine, monkeypatch)
        trace.time_calls(engine.auto, "on_scan", "auto.on_scan", monkeypatch)
        trace.time_calls(engine.auto, "publish", "auto.publish", monkeypatch)
        trace.time_calls(engine.scanner, "scan_now", "scan", monkeypatch)
        trace.watch_ib_reads(engine, monkeypatch)
        trace.watch_gc(monkeypatch)
        for name in ("select_spreads", "plan_entry"):  # the cycle's own computing
            trace.time_calls(autotrader, name, name, monkeypatch)
        await asyncio.sleep(WARMUP_S)

        probe = LagProbe()
        sampler = StallSampler(probe)
        sampler.start()
        scans0 = engine.scanner.scans
        probe.start()
        await asyncio.sleep(BASELINE_S)
        off = _Phase("auto-trader OFF  ", await probe.stop(), engine.scanner.scans - scans0)

        scans0 = engine.scanner.scans
        probe.start()
        armed_at = time.perf_counter()
        out = await engine.arm_auto(False)
        assert out.ok, out.message
        await until(
            lambda: (
                bool(_states(engine)) and all(s not in WAITING for s in _states(engine).values())
            ),
            timeout=300,
            what="the first automation cycle",
        )
        cycle_s = time.perf_counter() - armed_at
        await asyncio.sleep(AFTER_CYCLE_S)
        armed = _Phase("auto-trader ARMED", await probe.stop(), engine.scanner.scans - scans0)
        sampler.stop()

        print(_lag_report(engine, trace, off, armed, armed_at, cycle_s))
        for phase in (off, armed):
            held = sampler.where(phase.samples[0][0], phase.samples[-1][0])
            print(
                f"{phase.name} loop held >= 20 ms, {sampler.every_s * 1000:.0f} ms stack samples "
                f"by innermost frame: " + ", ".join(f"{w} {n}" for w, n in held.most_common(8))
            )
        added = percentile(armed.lags_ms, 99) - percentile(off.lags_ms, 99)
        assert off.scans >= 2 and armed.scans >= 2  # scans ran in both phases
        assert added < ADDED_P99_LIMIT_MS
    finally:
        if sampler is not None:
            sampler.stop()
        if engine is not None:
            await engine.stop()
            engine.journal.close()
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.kill()


def _lag_report(
    engine: Engine, trace: Trace, off: _Phase, armed: _Phase, armed_at: float, cycle_s: float
) -> str:
    """The two phases' figures, and what held the loop while armed."""
    spans = [sp for sp in trace.spans if sp.start >= armed_at]
    chain_spans = [sp for sp in spans if sp.what in CHAIN_KINDS]
    in_chains = [
        lag * 1000
        for end, lag in armed.samples
        if any(sp.start <= end <= sp.end for sp in chain_spans)
    ]
    # a stall is put down to synchronous work first, to an awaited call only failing that
    sync_first = sorted(spans, key=lambda sp: sp.what in (*CHAIN_KINDS, "what-if"))
    held = stalls(armed.samples, sync_first, STALL_S)
    outcome: dict[str, int] = {}
    for c in engine.store.get(Automation).candidates:
        why = f" {(c.reason or '').split(' (')[0].split(':')[0]}" if c.reason else ""
        outcome[c.state + why] = outcome.get(c.state + why, 0) + 1
    baseline = [sp for sp in trace.spans if off.samples[0][0] <= sp.start < armed_at]
    added = percentile(armed.lags_ms, 99) - percentile(off.lags_ms, 99)
    return "\n".join(
        [
            "",
            off.line(),
            armed.line(),
            f"first cycle (arm -> every candidate decided) {cycle_s:.1f} s; "
            f"{sum(outcome.values())} candidates: {dict(sorted(outcome.items()))}",
            f"while armed: {_span_summary(chain_spans)}; "
            f"what-ifs: {_span_summary([sp for sp in spans if sp.what == 'what-if'])}",
            f"loop lag while a chain was being fetched: p50 {percentile(in_chains, 50):.2f} ms, "
            f"p99 {percentile(in_chains, 99):.2f} ms, max {max(in_chains, default=0.0):.1f} ms "
            f"({len(in_chains)} samples)",
            f"stalls >= {STALL_S * 1000:.0f} ms while armed, by what ran: "
            + ", ".join(f"{k} {n} ({t * 1000:.0f} ms)" for k, (n, t) in sorted(held.items())),
            f"synchronous work while OFF:   {_work(baseline)}",
            f"synchronous work while ARMED: {_work(spans)}",
            "worst stalls while armed: "
            + "; ".join(
                f"{lag * 1000:.0f} ms ({' + '.join(k) or 'other'})"
                for lag, k in worst_stalls(armed.samples, spans, 5)
            ),
            f"added p99: {added:+.2f} ms (target < {ADDED_P99_LIMIT_MS:.0f} ms)",
        ]
    )


def _work(spans: list[Span]) -> str:
    """Count, longest and total of each kind of synchronous work among ``spans``."""
    kinds: dict[str, list[Span]] = {}
    for sp in spans:
        if sp.what in SYNC_KINDS:
            kinds.setdefault(sp.what, []).append(sp)
    return ", ".join(
        f"{k} {len(v)} x (max {max(sp.seconds for sp in v) * 1000:.1f} ms, "
        f"total {sum(sp.seconds for sp in v) * 1000:.0f} ms)"
        for k, v in sorted(kinds.items())
    )
