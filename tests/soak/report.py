"""The soak's figures and checks, computed from what the driver collected.

Pure functions over plain data (the engine child's JSON records, the gateway's ``orders``
and ``executions`` replies, the journal's rows), so each check is unit-tested on its own
(tests/unit/test_soak_report.py) and the soak prints every figure before it asserts.

What each check means (issue 14):

- **lines**: at every sample where both counts could be taken at one settled moment
  (tests/soak/sampler.py), the app's line count equals the gateway's for its clientId, no
  conId is streamed twice, and neither is above its budget (the app's live maximum, its
  configured one, the gateway's per-client limit). At least half of the samples taken
  while the engine was ready must be comparable, or the check compared too little.
- **duplicates**: two gateway orders with the same orderRef, or a gateway order whose
  orderRef has no intent in the journal.
- **lost**: a gateway leg execution with no journaled fill once the engine has been up and
  reconciled (the driver waits for that in its end phase). The combo's own execution
  (no conId) is not journaled by design. A journaled fill the gateway never executed is a
  phantom.
- **unknown outcomes**: intents in flight (PENDING_SEND, SENT) when the engine was killed,
  and intents UNKNOWN at the end. Each must be resolved (a status the gateway agrees with)
  or UNKNOWN *and* shown as UNKNOWN by the engine; an UNKNOWN intent whose order the
  gateway holds was never reconciled.
- **agreement**: each intent's final status and filled quantity match the gateway's order
  of the same orderRef; an intent the gateway never saw is UNKNOWN, CANCELLED or REJECTED.
- **memory**: RSS at the end within 20 % of RSS after warm-up, on the longest-lived engine.
- **loop lag**: p99 of the probe's lateness once the engine has booted.
- **tracebacks**: none in any log.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

WARMUP_S = 30.0
MAX_RSS_GROWTH = 0.20
MAX_LAG_P99_MS = 250.0
MIN_COMPARED_SHARE = 0.5

Record = Mapping[str, Any]
WORKING_AT_IB = frozenset({"PendingSubmit", "PreSubmitted", "Submitted"})
DONE_AT_IB = frozenset({"Cancelled", "ApiCancelled", "Inactive"})
IN_FLIGHT = frozenset({"PENDING_SEND", "SENT"})


@dataclass
class Run:
    """One engine child: its records, and when the driver killed it (wall time)."""

    index: int
    records: list[Record]
    killed_at: float | None = None

    def of(self, kind: str) -> list[Record]:
        return [r for r in self.records if r["kind"] == kind]


@dataclass(frozen=True, slots=True)
class Intent:
    intent_id: str
    status: str
    filled: int


@dataclass
class Collected:
    """Everything the driver gathered; the figures are computed from this alone."""

    runs: list[Run]
    gateway_orders: list[Record]
    gateway_executions: list[Record]
    intents: dict[str, Intent]
    fills: dict[str, str | None]  # exec_id -> intent_id
    in_flight_at_kills: set[str]
    tracebacks: list[str]
    faults: Counter[str]
    harness_problems: list[str] = field(default_factory=list)
    ended_at: float = 0.0


# -------------------------------------------------------------------- the single checks


def duplicate_orders(
    orders: Iterable[Record], intent_ids: set[str]
) -> tuple[dict[str, int], list[str]]:
    """orderRefs held by more than one gateway order, and gateway orders without intent."""
    refs = Counter(str(o["order_ref"]) for o in orders)
    doubled = {ref: n for ref, n in sorted(refs.items()) if n > 1}
    orphans = sorted(ref for ref in refs if ref not in intent_ids)
    return doubled, orphans


def lost_executions(executions: Iterable[Record], fills: Mapping[str, object]) -> list[str]:
    """Gateway leg executions with no journaled fill."""
    return sorted(
        str(e["exec_id"])
        for e in executions
        if e["con_id"] is not None and e["exec_id"] not in fills
    )


def phantom_fills(executions: Iterable[Record], fills: Mapping[str, object]) -> list[str]:
    """Journaled fills the gateway never executed."""
    known = {str(e["exec_id"]) for e in executions}
    return sorted(exec_id for exec_id in fills if exec_id not in known)


def status_mismatches(orders: Iterable[Record], intents: Mapping[str, Intent]) -> list[str]:
    """Intents whose final status or filled quantity the gateway contradicts."""
    by_ref: dict[str, Record] = {}
    for o in orders:
        by_ref.setdefault(str(o["order_ref"]), o)
    problems: list[str] = []
    for iid, intent in sorted(intents.items()):
        order = by_ref.get(iid)
        if order is None:
            if intent.status not in ("UNKNOWN", "CANCELLED", "REJECTED"):
                problems.append(f"{iid} is {intent.status} but IB never had its order")
            continue
        status = str(order["status"])
        if status == "Filled":
            wanted: tuple[str, ...] = ("FILLED",)
        elif status in DONE_AT_IB:
            wanted = ("CANCELLED", "REJECTED")
        else:
            wanted = ("WORKING", "PARTIALLY_FILLED", "SENT")
        if intent.status not in wanted:
            problems.append(f"{iid} is {intent.status} in the journal, {status} at IB")
        elif intent.filled != round(float(order["filled"])):
            problems.append(f"{iid} filled {intent.filled} in the journal, {order['filled']} at IB")
    return problems


def unknown_outcomes(
    in_flight: set[str],
    intents: Mapping[str, Intent],
    shown_unknown: set[str],
    orders: Iterable[Record],
) -> tuple[set[str], list[str]]:
    """The unknown outcomes (in flight at a kill, or UNKNOWN at the end) and the problems:
    unresolved and not shown, or UNKNOWN although the gateway holds the order."""
    at_ib = {str(o["order_ref"]) for o in orders}
    unknown = {iid for iid, i in intents.items() if i.status == "UNKNOWN"}
    outcomes = set(in_flight) | unknown
    problems: list[str] = []
    for iid in sorted(outcomes):
        intent = intents.get(iid)
        if intent is None:
            problems.append(f"{iid} vanished from the journal")
        elif intent.status in IN_FLIGHT:
            problems.append(f"{iid} is still {intent.status}: neither resolved nor UNKNOWN")
        elif intent.status == "UNKNOWN" and iid not in shown_unknown:
            problems.append(f"{iid} is UNKNOWN in the journal but not shown as UNKNOWN")
        elif intent.status == "UNKNOWN" and iid in at_ib:
            problems.append(f"{iid} is UNKNOWN although IB holds its order (not reconciled)")
    return outcomes, problems


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def booted_lags(run: Run) -> list[float]:
    """Loop lags (ms) measured after the run's engine booted (the first scan is done)."""
    lags: list[float] = []
    booted = False
    for r in run.of("sample"):
        if booted:
            lags += r["lags_ms"]
        booted = booted or bool(r["booted"])
    return lags


@dataclass(frozen=True, slots=True)
class Outage:
    seconds: float
    kind: str  # "connection" or "engine restart"; open outages have kind "... (open)"


def outages(runs: Sequence[Run], ended_at: float) -> list[Outage]:
    """Every stretch without a ready session after the first engine was first ready: a
    connection that dropped, or an engine killed until its successor was ready."""
    found: list[Outage] = []
    down_since: float | None = None
    kind = "connection"
    seen_ready = False
    for run in runs:
        for r in run.records:
            if r["kind"] == "ready":
                if down_since is not None:
                    found.append(Outage(r["t"] - down_since, kind))
                down_since, kind, seen_ready = None, "connection", True
            elif r["kind"] == "unready" and seen_ready and down_since is None:
                down_since = r["t"]
        if run.killed_at is not None and seen_ready:
            if down_since is None:
                down_since = run.killed_at
            kind = "engine restart"
    if down_since is not None:
        found.append(Outage(ended_at - down_since, f"{kind} (open)"))
    return found


@dataclass(frozen=True, slots=True)
class Memory:
    run: int
    warm_rss: int
    end_rss: int
    span_s: float

    @property
    def growth(self) -> float:
        return self.end_rss / self.warm_rss - 1.0


def memory(runs: Sequence[Run], warmup_s: float = WARMUP_S) -> Memory | None:
    """RSS after warm-up vs at the end, for the engine that lived longest after warm-up."""
    best: Memory | None = None
    for run in runs:
        samples = run.of("sample")
        boot = next((r["t"] for r in samples if r["booted"]), None)
        if boot is None:
            continue
        warm = next((r for r in samples if r["t"] >= boot + warmup_s), None)
        if warm is None or warm is samples[-1]:
            continue
        end = samples[-1]
        m = Memory(run.index, int(warm["rss"]), int(end["rss"]), end["t"] - warm["t"])
        if best is None or m.span_s > best.span_s:
            best = m
    return best


@dataclass(frozen=True, slots=True)
class Lines:
    samples: int
    ready: int
    compared: int
    apart: list[str]
    doubled: list[str]
    above: list[str]
    most: int
    unsettled: Counter[str]


def lines(runs: Sequence[Run]) -> Lines:
    samples = [(run.index, r) for run in runs for r in run.of("sample")]
    apart: list[str] = []
    doubled: list[str] = []
    above: list[str] = []
    unsettled: Counter[str] = Counter()
    compared = most = 0
    for i, r in samples:
        where = f"run {i} t={r['t']:.1f}"
        if r["budget_active"] > r["budget_max"] or r["budget_max"] > r["budget_configured"]:
            above.append(f"{where}: app {r['budget_active']}/{r['budget_max']} "
                         f"(configured {r['budget_configured']})")  # fmt: skip
        if not r["compared"]:
            if r["ready"]:
                unsettled[str(r["why"])] += 1
            continue
        compared += 1
        most = max(most, r["app_lines"], r["gw_lines"])
        if r["app_lines"] != r["gw_lines"]:
            apart.append(f"{where}: app {r['app_lines']}, gateway {r['gw_lines']}")
        if r["gw_lines"] != r["gw_con_ids"]:
            doubled.append(f"{where}: {r['gw_lines']} lines for {r['gw_con_ids']} conIds")
        if r["gw_lines"] > r["gw_max"]:
            above.append(f"{where}: gateway {r['gw_lines']} > its limit {r['gw_max']}")
    ready = sum(1 for _, r in samples if r["ready"])
    return Lines(len(samples), ready, compared, apart, doubled, above, most, unsettled)


# -------------------------------------------------------------------- the whole report


@dataclass
class Report:
    rows: list[tuple[str, str, bool | None]]  # figure, value, check (None: shown only)
    failures: list[str]

    def table(self) -> str:
        width = max(len(name) for name, _, _ in self.rows)
        out = []
        for name, value, ok in self.rows:
            mark = "" if ok is None else ("ok  " if ok else "FAIL")
            out.append(f"  {mark:4}  {name:<{width}}  {value}")
        return "\n".join(out)


def _examples(items: Sequence[str], n: int = 3) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return "; ".join(items[:n]) + more


def evaluate(c: Collected) -> Report:
    """Every figure, and a failure sentence for every check that did not hold."""
    rows: list[tuple[str, str, bool | None]] = []
    failures: list[str] = []

    def check(name: str, value: str, ok: bool, why: str = "") -> None:
        rows.append((name, value, ok))
        if not ok:
            failures.append(f"{name}: {why or value}")

    def show(name: str, value: str) -> None:
        rows.append((name, value, None))

    show("faults played", ", ".join(f"{k} {n}" for k, n in sorted(c.faults.items())) or "none")
    show("engine runs (kill -9 + restart)", f"{len(c.runs)} ({len(c.runs) - 1} restarts)")
    tallies: Counter[str] = Counter()
    for run in c.runs:
        last = run.of("final") or run.of("sample")
        if last:
            tallies.update(last[-1]["tallies"])
    show("actor", ", ".join(f"{k} {n}" for k, n in sorted(tallies.items())) or "nothing")

    reconnects = sum(max((r.get("reconnects", 0) for r in run.records), default=0)
                     for run in c.runs)  # fmt: skip
    show("reconnects (session)", str(reconnects))
    outs = outages(c.runs, c.ended_at)
    longest = max(outs, key=lambda o: o.seconds, default=None)
    kinds = Counter(o.kind for o in outs)
    show("outages", f"{len(outs)} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})")
    check(
        "longest outage",
        "none" if longest is None else f"{longest.seconds:.1f} s ({longest.kind})",
        not any(o.kind.endswith("(open)") for o in outs),
        "the engine was not ready at the end",
    )

    ln = lines(c.runs)
    share = ln.compared / ln.ready if ln.ready else 0.0
    unsettled = ", ".join(f"{k} {n}" for k, n in sorted(ln.unsettled.items()))
    check(
        "lines compared (settled samples)",
        f"{ln.compared} of {ln.ready} ready samples ({share:.0%}); not: {unsettled or 'none'}",
        ln.compared > 0 and share >= MIN_COMPARED_SHARE,
        f"only {ln.compared} of {ln.ready} ready samples could compare the line counts",
    )
    check("lines app vs gateway apart", f"{len(ln.apart)} (most lines {ln.most})",
          not ln.apart, _examples(ln.apart))  # fmt: skip
    check("lines conId streamed twice", str(len(ln.doubled)), not ln.doubled, _examples(ln.doubled))
    check("lines above budget", str(len(ln.above)), not ln.above, _examples(ln.above))

    doubled, orphans = duplicate_orders(c.gateway_orders, set(c.intents))
    check(
        "orders at gateway vs intents",
        f"{len(c.gateway_orders)} orders, {len(c.intents)} intents",
        len(c.gateway_orders) > 0,
        "no order reached the gateway: the soak exercised nothing",
    )
    check("duplicate orders (same orderRef)", str(len(doubled)), not doubled,
          _examples([f"{k} x{n}" for k, n in doubled.items()]))  # fmt: skip
    check("gateway orders without intent", str(len(orphans)), not orphans, _examples(orphans))

    legs = [e for e in c.gateway_executions if e["con_id"] is not None]
    lost = lost_executions(c.gateway_executions, c.fills)
    phantom = phantom_fills(c.gateway_executions, c.fills)
    show("executions at gateway vs fills", f"{len(legs)} leg executions, {len(c.fills)} fills")
    check("lost executions", str(len(lost)), not lost, _examples(lost))
    check("phantom fills", str(len(phantom)), not phantom, _examples(phantom))

    final = [r for run in c.runs[-1:] for r in run.of("final")]
    shown = set(final[-1]["unknown_shown"]) if final else set()
    if not final:
        failures.append("the last engine wrote no final record (it did not stop cleanly)")
    outcomes, problems = unknown_outcomes(c.in_flight_at_kills, c.intents, shown, c.gateway_orders)
    still_unknown = sum(1 for i in c.intents.values() if i.status == "UNKNOWN")
    check(
        "unknown outcomes",
        f"{len(outcomes)} ({len(c.in_flight_at_kills)} in flight at kills, "
        f"{still_unknown} UNKNOWN at the end)",
        not problems,
        _examples(problems),
    )
    mismatches = status_mismatches(c.gateway_orders, c.intents)
    check("journal vs gateway status", f"{len(mismatches)} mismatches", not mismatches,
          _examples(mismatches))  # fmt: skip

    mem = memory(c.runs)
    if mem is None:
        check("engine RSS growth", "not measured", False,
              f"no engine lived {WARMUP_S:.0f} s past its boot")  # fmt: skip
    else:
        check(
            "engine RSS growth",
            f"{mem.warm_rss / 2**20:.1f} -> {mem.end_rss / 2**20:.1f} MiB "
            f"({mem.growth:+.1%} over {mem.span_s:.0f} s, run {mem.run})",
            mem.growth <= MAX_RSS_GROWTH,
        )
    lags = [x for run in c.runs for x in booted_lags(run)]
    p50, p99 = percentile(lags, 0.50), percentile(lags, 0.99)
    check(
        "event-loop lag p99",
        f"{p99:.1f} ms (p50 {p50:.1f}, max {max(lags, default=math.nan):.1f}, n {len(lags)})",
        bool(lags) and p99 <= MAX_LAG_P99_MS,
        f"p99 {p99:.1f} ms > {MAX_LAG_P99_MS:g} ms" if lags else "no lag measured",
    )
    check("tracebacks", str(len(c.tracebacks)), not c.tracebacks, _examples(c.tracebacks))
    check("harness", "ok" if not c.harness_problems else f"{len(c.harness_problems)} problems",
          not c.harness_problems, _examples(c.harness_problems))  # fmt: skip
    return Report(rows, failures)
