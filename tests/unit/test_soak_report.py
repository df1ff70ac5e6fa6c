"""The soak test's checks and fault script (tests/soak), on hand-made data: a check that
cannot see a duplicate, a lost execution or an unresolved unknown outcome would let the
soak pass on exactly the defects it exists to catch."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.soak.report import (
    Collected,
    Intent,
    Outage,
    Run,
    duplicate_orders,
    evaluate,
    lines,
    lost_executions,
    memory,
    outages,
    percentile,
    phantom_fills,
    status_mismatches,
    unknown_outcomes,
)
from tests.soak.schedule import KILLS, fault_schedule


def order(ref: str, status: str = "Filled", filled: float = 1.0, oid: int = 1) -> dict[str, Any]:
    return {"client_id": 7, "order_id": oid, "perm_id": 100 + oid, "order_ref": ref,
            "status": status, "quantity": 1.0, "filled": filled}  # fmt: skip


def execution(exec_id: str, con_id: int | None, ref: str = "tt-a") -> dict[str, Any]:
    return {"exec_id": exec_id, "con_id": con_id, "order_ref": ref}


def sample(t: float, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "sample", "t": t, "rss": 100, "lags_ms": [1.0], "ready": True, "booted": True,
        "reconnects": 0, "budget_active": 10, "budget_max": 90, "budget_configured": 90,
        "compared": True, "app_lines": 10, "gw_lines": 10, "gw_con_ids": 10, "gw_max": 100,
        "tallies": {},
    }  # fmt: skip
    base.update(kw)
    return base


def test_duplicates_are_refs_twice_at_the_gateway_or_without_an_intent() -> None:
    orders = [order("tt-a", oid=1), order("tt-a", oid=2), order("tt-b", oid=3), order("x", oid=4)]
    doubled, orphans = duplicate_orders(orders, {"tt-a", "tt-b"})
    assert doubled == {"tt-a": 2}
    assert orphans == ["x"]
    assert duplicate_orders([order("tt-a")], {"tt-a"}) == ({}, [])


def test_lost_executions_are_leg_executions_without_a_journaled_fill() -> None:
    execs = [execution("e1", 11), execution("e2", 12), execution("e3", None)]
    assert lost_executions(execs, {"e1": "tt-a"}) == ["e2"]  # the combo's own e3 is not lost
    assert lost_executions(execs, {"e1": "tt-a", "e2": "tt-a"}) == []
    assert phantom_fills(execs, {"e1": "tt-a", "e9": "tt-a"}) == ["e9"]


def test_status_mismatches_compare_status_and_filled_quantity() -> None:
    intents = {
        "tt-a": Intent("tt-a", "FILLED", 1),
        "tt-b": Intent("tt-b", "WORKING", 0),
        "tt-c": Intent("tt-c", "FILLED", 2),
        "tt-d": Intent("tt-d", "REJECTED", 0),
        "tt-e": Intent("tt-e", "FILLED", 1),
        "tt-f": Intent("tt-f", "UNKNOWN", 0),
    }
    orders = [order("tt-a"), order("tt-b", "Filled", oid=2), order("tt-c", oid=3),
              order("tt-d", "Cancelled", 0.0, oid=4)]  # fmt: skip
    assert status_mismatches(orders, intents) == [
        "tt-b is WORKING in the journal, Filled at IB",
        "tt-c filled 2 in the journal, 1.0 at IB",
        "tt-e is FILLED but IB never had its order",
    ]


def test_unknown_outcomes_must_be_resolved_or_shown_unknown() -> None:
    intents = {
        "tt-a": Intent("tt-a", "FILLED", 1),  # in flight at a kill, resolved
        "tt-b": Intent("tt-b", "PENDING_SEND", 0),  # in flight, never resolved
        "tt-c": Intent("tt-c", "UNKNOWN", 0),  # shown: fine
        "tt-d": Intent("tt-d", "UNKNOWN", 0),  # not shown
        "tt-e": Intent("tt-e", "UNKNOWN", 0),  # shown, but IB has it
    }
    outcomes, problems = unknown_outcomes(
        {"tt-a", "tt-b", "tt-z"}, intents, {"tt-c", "tt-e"}, [order("tt-a"), order("tt-e")]
    )
    assert outcomes == {"tt-a", "tt-b", "tt-c", "tt-d", "tt-e", "tt-z"}
    assert problems == [
        "tt-b is still PENDING_SEND: neither resolved nor UNKNOWN",
        "tt-d is UNKNOWN in the journal but not shown as UNKNOWN",
        "tt-e is UNKNOWN although IB holds its order (not reconciled)",
        "tt-z vanished from the journal",
    ]


def test_outages_span_drops_and_kills_until_the_next_ready() -> None:
    first = Run(0, [{"kind": "ready", "t": 10.0}, {"kind": "unready", "t": 20.0},
                    {"kind": "ready", "t": 23.0}], killed_at=30.0)  # fmt: skip
    second = Run(1, [{"kind": "ready", "t": 36.5}, {"kind": "unready", "t": 50.0}])
    assert outages([first, second], ended_at=60.0) == [
        Outage(3.0, "connection"),
        Outage(6.5, "engine restart"),
        Outage(10.0, "connection (open)"),
    ]
    down_at_kill = Run(0, [{"kind": "ready", "t": 1.0}, {"kind": "unready", "t": 5.0}], 8.0)
    back = Run(1, [{"kind": "ready", "t": 12.0}])
    assert outages([down_at_kill, back], ended_at=20.0) == [Outage(7.0, "engine restart")]


def test_memory_is_measured_on_the_longest_lived_engine_after_warm_up() -> None:
    short = Run(0, [sample(0.0), sample(31.0, rss=100), sample(40.0, rss=500)])
    long = Run(1, [sample(100.0, booted=False), sample(102.0, rss=50), sample(140.0, rss=200),
                   sample(200.0, rss=230)])  # fmt: skip
    m = memory([short, long], warmup_s=30.0)
    assert m is not None and m.run == 1
    assert (m.warm_rss, m.end_rss, m.span_s) == (200, 230, 60.0)
    assert m.growth == pytest.approx(0.15)
    assert memory([Run(0, [sample(0.0), sample(10.0)])], warmup_s=30.0) is None


def test_lines_flag_apart_doubled_and_above_budget_samples() -> None:
    run = Run(0, [
        sample(1.0),
        sample(2.0, app_lines=12, gw_lines=11, gw_con_ids=11),
        sample(3.0, gw_lines=10, gw_con_ids=9, app_lines=10),
        sample(4.0, budget_active=91, budget_max=90),
        sample(5.0, compared=False, why="unsettled"),
        sample(6.0, compared=False, why="not ready", ready=False),
    ])  # fmt: skip
    ln = lines([run])
    assert (ln.samples, ln.ready, ln.compared, ln.most) == (6, 5, 4, 12)
    assert ln.apart == ["run 0 t=2.0: app 12, gateway 11"]
    assert ln.doubled == ["run 0 t=3.0: 10 lines for 9 conIds"]
    assert ln.above == ["run 0 t=4.0: app 91/90 (configured 90)"]
    assert ln.unsettled == Counter({"unsettled": 1})


def test_percentile_by_nearest_rank() -> None:
    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([7.0], 0.99) == 7.0


def clean() -> Collected:
    final = {"kind": "final", "t": 80.0, "unknown_shown": ["tt-u"], "tallies": {"enter:ok": 2}}
    samples = [sample(float(t)) for t in range(0, 80, 2)]
    runs = [Run(0, [{"kind": "ready", "t": 0.0}, *samples, final])]
    return Collected(
        runs=runs,
        gateway_orders=[order("tt-a")],
        gateway_executions=[execution("e1", 11), execution("e2", None)],
        intents={"tt-a": Intent("tt-a", "FILLED", 1), "tt-u": Intent("tt-u", "UNKNOWN", 0)},
        fills={"e1": "tt-a"},
        in_flight_at_kills={"tt-u"},
        tracebacks=[],
        faults=Counter({"drop": 1}),
        ended_at=80.0,
    )


def test_a_clean_soak_passes_every_check() -> None:
    report = evaluate(clean())
    assert report.failures == []
    table = report.table()
    assert "ok    lost executions" in table and "FAIL" not in table


def test_each_defect_fails_the_soak_with_its_own_sentence() -> None:
    c = clean()
    c.gateway_orders.append(order("tt-a", oid=2))
    c.gateway_executions.append(execution("e3", 12))
    c.tracebacks.append("engine-0.log: boom")
    c.runs[0].records.append(sample(90.0, rss=1000))
    failures = evaluate(c).failures
    assert [f.split(":")[0] for f in failures] == [
        "duplicate orders (same orderRef)",
        "lost executions",
        "engine RSS growth",
        "tracebacks",
    ]
    assert "tt-a x2" in failures[0] and "e3" in failures[1]


def test_the_fault_script_is_seeded_bounded_and_ends_every_state() -> None:
    symbols = ("AAPL", "SPY")
    a = fault_schedule(3, 600.0, symbols)
    assert a == fault_schedule(3, 600.0, symbols) != fault_schedule(4, 600.0, symbols)
    assert [f.at for f in a] == sorted(f.at for f in a)
    kills = [f for f in a if f.command.startswith("kill")]
    assert kills and all(f.at <= 300.0 for f in kills)
    assert {f.command for f in kills} <= set(KILLS)
    assert sum(f.command == "start" for f in a) == len(kills)
    assert all(f.at < 600.0 for f in a)
    starts = [f for f in a if f.command.split()[0] in ("drop", "restart", "refuse", "kill")]
    assert all(f.at < 600.0 - 45.0 for f in starts)
    commands = [f.command for f in a]
    assert commands.count("delay 0") == sum(c.startswith("delay ") for c in commands) / 2
    frozen = Counter(c.split()[1] for c in commands if c.startswith("freeze "))
    assert frozen == Counter(c.split()[1] for c in commands if c.startswith("unfreeze "))
    broken = sum(c in ("error 1100", "error 2110", "error 2103", "error 2105", "error 2157")
                 for c in commands)  # fmt: skip
    assert broken == sum(c in ("error 1101", "error 1102", "error 2104", "error 2106",
                               "error 2158") for c in commands)  # fmt: skip
    assert {c.split()[0] for c in commands} >= {"drop", "error", "kill", "start", "reject-next"}
    short = [f.command for f in fault_schedule(3, 60.0, symbols)]  # too short for a kill
    assert short.count("kill in-flight placed") == short.count("kill in-flight unplaced") == 1
    assert short.count("start") == 2
