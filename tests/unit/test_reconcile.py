"""Reconciliation of journal intents with IB's orders and fills: every rule by hand, and
properties (no send, terminal stays terminal, idempotent, order-independent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.models import (
    TERMINAL_STATUSES,
    EventLevel,
    Fill,
    IbOrderSnapshot,
    IntentStatus,
    IntentUpdate,
    OrderIntent,
    SpreadLeg,
    SpreadOrderSpec,
    can_transition,
)
from tui_trader.state.reconcile import apply_result, filled_from_fills, reconcile, untold

S = IntentStatus
T0 = datetime(2026, 3, 2, 20, 50, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
MARKER = 1.7976931348623157e308

SPEC = SpreadOrderSpec(
    underlying="AAPL",
    direction="LONG",
    legs=(
        SpreadLeg(
            con_id=1001, symbol="AAPL", expiry="20260417", strike=200, right="C", action="BUY"
        ),
        SpreadLeg(
            con_id=1002, symbol="AAPL", expiry="20260417", strike=205, right="C", action="SELL"
        ),
    ),
    action="BUY",
    quantity=2,
    order_type="LMT",
    limit_price=2.10,
    mode="paper",
)


def iid(n: int) -> str:
    return f"tt-{n:012x}"


def intent(n: int, status: S, **changes: Any) -> OrderIntent:
    base: dict[str, Any] = {
        "intent_id": iid(n),
        "created_at": T0,
        "updated_at": T0,
        "spec": SPEC,
        "status": status,
        "working_limit": 2.10,
    }
    base.update(changes)
    return OrderIntent.model_validate(base)


def snap(ref: str | None, status: str, filled: float = 0.0, **kw: Any) -> IbOrderSnapshot:
    base: dict[str, Any] = {
        "order_id": 7,
        "perm_id": 900,
        "remaining": 2.0 - filled,
        "avg_fill_price": 2.08 if filled else 0.0,
    }
    base.update(kw)
    return IbOrderSnapshot(order_ref=ref, status=status, filled=filled, **base)


def fill(exec_id: str, ref: str | None, con_id: int, qty: float = 2.0, **kw: Any) -> Fill:
    base: dict[str, Any] = {
        "order_id": 7,
        "perm_id": 900,
        "symbol": "AAPL",
        "side": "BOT" if con_id == 1001 else "SLD",
        "price": 3.45 if con_id == 1001 else 1.37,
        "time": T0 + timedelta(seconds=30),
    }
    base.update(kw)
    return Fill(exec_id=exec_id, order_ref=ref, con_id=con_id, quantity=qty, **base)


def only_update(result: Any) -> IntentUpdate:
    assert len(result.updates) == 1, result.updates
    u: IntentUpdate = result.updates[0]
    return u


def after(intents: list[OrderIntent], result: Any) -> dict[str, OrderIntent]:
    return {i.intent_id: i for i in apply_result(intents, result, NOW)}


# -- rule 3: no trace at IB -----------------------------------------------------------------


@pytest.mark.parametrize("status", [S.PENDING_SEND, S.SENT, S.WORKING, S.PARTIALLY_FILLED])
def test_no_trace_at_ib_means_unknown_never_resend(status: S) -> None:
    filled = 1 if status is S.PARTIALLY_FILLED else 0
    intents = [intent(1, status, filled=filled)]
    result = reconcile(intents, [], [], NOW)
    new = after(intents, result)[iid(1)]
    assert new.status is S.UNKNOWN and new.filled == filled
    assert result.needs_user == (iid(1),)
    (finding,) = result.findings
    assert finding.level is EventLevel.WARNING and finding.intent_id == iid(1)
    assert f"{status.value} -> UNKNOWN" in finding.text
    if status in (S.PENDING_SEND, S.SENT):
        assert "NOT be resent" in finding.text


@pytest.mark.parametrize("status", [S.FILLED, S.CANCELLED, S.REJECTED])
def test_terminal_intents_without_trace_are_left_alone(status: S) -> None:
    result = reconcile([intent(1, status)], [], [], NOW)
    assert result.updates == () and result.findings == () and result.needs_user == ()


def test_unknown_stays_unknown_quietly() -> None:
    result = reconcile([intent(1, S.UNKNOWN)], [], [], NOW)
    assert result.updates == () and result.findings == ()
    assert result.needs_user == (iid(1),)


# -- rule 1: status from IB -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "ib_status", "ib_filled", "expected"),
    [
        (S.PENDING_SEND, "Submitted", 0.0, S.WORKING),  # crashed between placeOrder and mark
        (S.PENDING_SEND, "PendingSubmit", 0.0, S.SENT),
        (S.SENT, "PreSubmitted", 0.0, S.WORKING),
        (S.SENT, "Submitted", 1.0, S.PARTIALLY_FILLED),
        (S.WORKING, "Filled", 2.0, S.FILLED),
        (S.WORKING, "Cancelled", 1.0, S.CANCELLED),
        (S.WORKING, "ApiCancelled", 0.0, S.CANCELLED),
        (S.SENT, "Inactive", 0.0, S.REJECTED),
        (S.UNKNOWN, "Filled", 2.0, S.FILLED),
        (S.UNKNOWN, "Submitted", 0.0, S.WORKING),
        (S.PARTIALLY_FILLED, "Submitted", 1.0, S.PARTIALLY_FILLED),
    ],
)
def test_status_comes_from_ib(start: S, ib_status: str, ib_filled: float, expected: S) -> None:
    intents = [intent(1, start, filled=1 if start is S.PARTIALLY_FILLED else 0)]
    result = reconcile(intents, [snap(iid(1), ib_status, ib_filled)], [], NOW)
    new = after(intents, result)[iid(1)]
    assert new.status is expected
    assert new.filled == max(int(ib_filled), intents[0].filled)
    assert (new.order_id, new.perm_id) == (7, 900)
    if ib_filled:
        assert new.avg_fill_price == 2.08
    assert result.needs_user == ()


@pytest.mark.parametrize(
    ("start", "note", "last_error", "expected"),
    [
        (S.SENT, "Insufficient margin", None, "Insufficient margin"),  # rejected while down
        (S.WORKING, "Cancelled", None, None),  # IB said nothing more than the status
        (S.SENT, "  ", None, None),
        (S.SENT, None, None, None),
        (S.REJECTED, "Insufficient margin", "201 Order rejected", "201 Order rejected"),
    ],
)
def test_a_completed_orders_note_becomes_the_reason_when_the_journal_has_none(
    start: S, note: str | None, last_error: str | None, expected: str | None
) -> None:
    intents = [intent(1, start, last_error_text=last_error)]
    result = reconcile(intents, [snap(iid(1), "Cancelled", note=note)], [], NOW)
    new = after(intents, result)[iid(1)]
    assert new.status is (S.REJECTED if start is S.REJECTED else S.CANCELLED)
    assert new.last_error_text == expected
    assert reconcile([new], [snap(iid(1), "Cancelled", note=note)], [], NOW).updates == ()


def test_a_filled_orders_note_is_not_an_error() -> None:
    intents = [intent(1, S.WORKING)]
    result = reconcile(intents, [snap(iid(1), "Filled", 2.0, note="Filled Size: 2")], [], NOW)
    new = after(intents, result)[iid(1)]
    assert new.status is S.FILLED and new.last_error_text is None


def test_terminal_intent_disagreeing_with_ib_is_kept_and_flagged() -> None:
    intents = [intent(1, S.CANCELLED, order_id=7, perm_id=900)]
    result = reconcile(intents, [snap(iid(1), "Filled", 2.0)], [], NOW)
    new = after(intents, result)[iid(1)]
    assert new.status is S.CANCELLED  # never revived ...
    assert new.filled == 2  # ... but the filled quantity IB reports is recorded
    warnings = [f for f in result.findings if f.level is EventLevel.WARNING]
    assert any("'Filled'" in f.text and "kept CANCELLED" in f.text for f in warnings)


@pytest.mark.parametrize(
    ("ours", "note"),
    [
        ("Order rejected - reason:Insufficient margin", "Insufficient margin"),
        ("Order rejected - reason:Insufficient margin", "Rejected: insufficient margin"),
        ("Order rejected - reason:Insufficient margin", None),  # IB gives no reason
        ("Order rejected - reason:Insufficient margin", "Cancelled"),
        (None, "Insufficient margin"),  # nothing of ours to disagree with
    ],
)
def test_a_rejection_ib_lists_as_cancelled_is_no_discrepancy(
    ours: str | None, note: str | None
) -> None:
    """IB reports a rejected order as a completed "Cancelled" order: every reconnect sees
    it so, and none of them is a disagreement with the journal's REJECTED."""
    intents = [intent(1, S.REJECTED, order_id=7, perm_id=900, last_error_text=ours)]
    result = reconcile(intents, [snap(iid(1), "Cancelled", note=note)], [], NOW)
    assert result.findings == ()
    assert after(intents, result)[iid(1)].status is S.REJECTED


@pytest.mark.parametrize(
    ("snapshot", "status"),
    [
        (snap(iid(1), "Cancelled", note="Cancelled by the trader in TWS"), "'Cancelled'"),
        (snap(iid(1), "Cancelled", 1.0), "'Cancelled'"),  # a rejection fills nothing
        (snap(iid(1), "Filled", 2.0), "'Filled'"),
    ],
)
def test_a_rejected_intent_ib_reports_otherwise_is_flagged_once_per_kind(
    snapshot: IbOrderSnapshot, status: str
) -> None:
    reason = "Order rejected - reason:Insufficient margin"
    intents = [intent(1, S.REJECTED, order_id=7, perm_id=900, last_error_text=reason)]
    result = reconcile(intents, [snapshot], [], NOW)
    (warning,) = [f for f in result.findings if f.level is EventLevel.WARNING]
    assert status in warning.text and "kept REJECTED" in warning.text
    assert warning.key == f"{iid(1)}/ib-status/{snapshot.status}"
    told = {warning.key}
    # the next reconnect sees the same discrepancy: nothing left to tell
    again = reconcile(apply_result(intents, result, NOW), [snapshot], [], NOW)
    assert untold(again, told.__contains__).findings == ()
    # a different discrepancy of the same intent is told
    other = snap(iid(1), "Weird")
    fresh = untold(reconcile(intents, [other], [], NOW), told.__contains__).findings
    assert [f.key for f in fresh] == [f"{iid(1)}/ib-status-unknown/Weird"]


def test_untold_keeps_changes_and_new_discrepancies() -> None:
    intents = [intent(1, S.WORKING, order_id=7, perm_id=900)]
    orders = [
        snap(iid(1), "Filled", 2.0),
        snap(iid(99), "Submitted", order_id=40, perm_id=1234),
        snap("manual", "Submitted", order_id=0, perm_id=5557),
    ]
    result = reconcile(intents, orders, [], NOW)
    keys = [f.key for f in result.findings]
    assert keys == [None, f"orphan-order/{iid(99)}/1234", "external/2026-03-02/1/0"]
    assert untold(result, lambda key: False) is result
    kept = untold(result, lambda key: key.startswith("orphan-order/"))
    assert [f.key for f in kept.findings] == [None, "external/2026-03-02/1/0"]
    assert kept.updates == result.updates and kept.fills == result.fills


def test_unrecognised_ib_status() -> None:
    intents = [intent(1, S.PENDING_SEND), intent(2, S.WORKING, order_id=8, perm_id=901)]
    orders = [
        snap(iid(1), "Held", order_id=7, perm_id=900),
        snap(iid(2), "Held", order_id=8, perm_id=901),
    ]
    result = reconcile(intents, orders, [], NOW)
    new = after(intents, result)
    assert new[iid(1)].status is S.SENT  # IB has it, so it was sent
    assert new[iid(2)].status is S.WORKING
    assert sum("not one we know" in f.text for f in result.findings) == 2


def test_ib_markers_are_not_numbers() -> None:
    intents = [intent(1, S.SENT)]
    orders = [snap(iid(1), "Submitted", MARKER, remaining=MARKER, avg_fill_price=MARKER)]
    new = after(intents, reconcile(intents, orders, [], NOW))[iid(1)]
    assert (new.status, new.filled, new.avg_fill_price) == (S.WORKING, 0, None)


def test_duplicate_reports_pick_the_intents_order() -> None:
    # open orders still say Submitted, completed orders already say Filled: same perm id
    intents = [intent(1, S.WORKING, order_id=7, perm_id=900)]
    orders = [snap(iid(1), "Submitted"), snap(iid(1), "Filled", 2.0)]
    result = reconcile(intents, orders, [], NOW)
    assert after(intents, result)[iid(1)].status is S.FILLED
    assert not any("orders with this ref" in f.text for f in result.findings)
    # two distinct orders with one ref: the most advanced is used, with a warning
    other = snap(iid(1), "Filled", 2.0, order_id=12, perm_id=955)
    result = reconcile(intents, [snap(iid(1), "Submitted"), other], [], NOW)
    new = after(intents, result)[iid(1)]
    assert (new.status, new.order_id, new.perm_id) == (S.FILLED, 12, 955)
    assert any("2 orders with this ref" in f.text for f in result.findings)


# -- rule 2 and 4: fills ---------------------------------------------------------------------


def test_fills_attach_by_ref_and_are_deduplicated() -> None:
    intents = [intent(1, S.WORKING, order_id=7, perm_id=900)]
    f_long = fill("e1", iid(1), 1001)
    f_short = fill("e2", iid(1), 1002)
    f_short_again = f_short.model_copy(update={"commission": 1.10})
    bag = fill("e3", iid(1), 28812380, price=2.08)  # the combo itself: not a leg
    orders = [snap(iid(1), "Filled", 2.0)]
    result = reconcile(intents, orders, [f_short, f_long, f_short_again, bag], NOW)
    assert [(f.exec_id, f.intent_id) for f in result.fills] == [
        ("e1", iid(1)),
        ("e2", iid(1)),
        ("e3", iid(1)),
    ]
    assert result.fills[1].commission == 1.10  # the copy with the commission is kept
    assert after(intents, result)[iid(1)].status is S.FILLED


def test_fills_without_order_complete() -> None:
    intents = [intent(1, S.SENT)]
    fills = [fill("e1", iid(1), 1001, 2.0), fill("e2", iid(1), 1002, 2.0)]
    result = reconcile(intents, [], fills, NOW)
    new = after(intents, result)[iid(1)]
    assert (new.status, new.filled) == (S.FILLED, 2)


def test_fills_without_order_partial_is_unknown() -> None:
    intents = [intent(1, S.PENDING_SEND)]
    # both legs of one spread filled; the second spread's short leg never did
    fills = [fill("e1", iid(1), 1001, 2.0), fill("e2", iid(1), 1002, 1.0)]
    result = reconcile(intents, [], fills, NOW)
    new = after(intents, result)[iid(1)]
    assert (new.status, new.filled) == (S.UNKNOWN, 1)
    assert result.needs_user == (iid(1),)
    assert any("fills show 1 of 2 filled" in f.text for f in result.findings)


def test_leg_fills_raise_filled_above_ib_status() -> None:
    intents = [intent(1, S.WORKING)]
    fills = [fill("e1", iid(1), 1001, 1.0), fill("e2", iid(1), 1002, 1.0)]
    result = reconcile(intents, [snap(iid(1), "Submitted", 0.0)], fills, NOW)
    new = after(intents, result)[iid(1)]
    assert (new.status, new.filled) == (S.PARTIALLY_FILLED, 1)


def test_filled_from_fills_min_over_legs() -> None:
    fills = [
        fill("a", iid(1), 1001, 1.0),
        fill("b", iid(1), 1001, 2.0),
        fill("c", iid(1), 1002, 2.0),
    ]
    assert filled_from_fills(SPEC, fills) == 2
    assert filled_from_fills(SPEC, fills[:2]) == 0


def test_orphans_and_external() -> None:
    intents = [intent(1, S.FILLED, order_id=7, perm_id=900, filled=2, avg_fill_price=2.08)]
    orders = [
        snap(iid(1), "Filled", 2.0),
        snap(iid(99), "Submitted", order_id=40, perm_id=1234),
        snap("", "Submitted", order_id=0, perm_id=5555),
        snap(None, "Filled", order_id=0, perm_id=5556),
        snap("my manual order", "Submitted", order_id=0, perm_id=5557),
    ]
    fills = [
        fill("e1", iid(1), 1001),
        fill("o1", iid(99), 1001, order_id=40, perm_id=1234),
        fill("x1", None, 1001, order_id=0, perm_id=5555),
    ]
    result = reconcile(intents, orders, fills, NOW)
    assert result.updates == ()
    assert [s.order_ref for s in result.orphan_orders] == [iid(99)]
    assert [f.exec_id for f in result.orphan_fills] == ["o1"]
    assert (result.external_orders, result.external_fills) == (3, 1)
    texts = [f.text for f in result.findings]
    assert any(iid(99) in t and "does not know" in t for t in texts)
    assert any("Ignored 3 order(s) and 1 fill(s)" in t for t in texts)


def test_duplicate_intents_are_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        reconcile([intent(1, S.SENT), intent(1, S.SENT)], [], [], NOW)


# -- properties -----------------------------------------------------------------------------

IB_STATUSES = [
    "PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel", "Filled",
    "Cancelled", "ApiCancelled", "Inactive", "Weird",
]  # fmt: skip


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[OrderIntent], list[IbOrderSnapshot], list[Fill]]:
    n = draw(st.integers(1, 5))
    intents = []
    for k in range(1, n + 1):
        status = draw(st.sampled_from(list(S)))
        filled = draw(st.integers(0, 2)) if status is not S.PENDING_SEND else 0
        intents.append(
            intent(
                k,
                status,
                filled=filled,
                order_id=draw(st.one_of(st.none(), st.sampled_from([7, 8]))),
                perm_id=draw(st.one_of(st.none(), st.sampled_from([900, 901]))),
            )
        )
    refs = st.sampled_from([iid(k) for k in range(1, n + 2)] + ["", "manual"])
    orders = draw(
        st.lists(
            st.builds(
                lambda ref, status, filled, oid, pid, note: snap(
                    ref, status, filled, order_id=oid, perm_id=pid, note=note
                ),
                refs,
                st.sampled_from(IB_STATUSES),
                st.sampled_from([0.0, 1.0, 2.0, MARKER]),
                st.sampled_from([0, 7, 8]),
                st.sampled_from([0, 900, 901]),
                st.sampled_from([None, "Cancelled", "Insufficient margin", "Rejected: x"]),
            ),
            max_size=6,
        )
    )
    fills = draw(
        st.lists(
            st.builds(
                lambda e, ref, con, qty, com: fill(f"e{e}", ref, con, qty, commission=com),
                st.integers(0, 6),
                refs,
                st.sampled_from([1001, 1002, 28812380]),
                st.sampled_from([1.0, 2.0]),
                st.sampled_from([None, 1.1]),
            ),
            max_size=6,
        )
    )
    return intents, orders, fills


@settings(max_examples=150, deadline=None)
@given(worlds(), st.randoms(use_true_random=False))
def test_reconcile_properties(
    world: tuple[list[OrderIntent], list[IbOrderSnapshot], list[Fill]], rnd: Any
) -> None:
    intents, orders, fills = world
    result = reconcile(intents, orders, fills, NOW)
    new = apply_result(intents, result, NOW)
    with_trace = {s.order_ref for s in orders} | {f.order_ref for f in fills}
    for old, cur in zip(intents, new, strict=True):
        # every change is a legal transition, terminal intents keep their status
        assert can_transition(old.status, cur.status)
        if old.status in TERMINAL_STATUSES:
            assert cur.status == old.status
        # nothing is left (or put) in a state that would make the engine send it
        assert cur.status is not S.PENDING_SEND
        if cur.status is S.SENT:
            assert old.intent_id in with_trace
        # without any trace at IB, the only possible outcome is UNKNOWN (or unchanged)
        if old.intent_id not in with_trace:
            assert cur.status in (old.status, S.UNKNOWN)
        assert cur.filled >= old.filled
    assert all(u.status not in (S.PENDING_SEND,) for u in result.updates)
    # idempotent: reconciling the result again changes nothing
    again = reconcile(new, orders, fills, NOW + timedelta(minutes=1))
    assert again.updates == ()
    assert apply_result(new, again, NOW + timedelta(minutes=1)) == new
    # and it tells nothing new: every finding left is a discrepancy already told
    told = {f.key for f in result.findings if f.key is not None}
    assert untold(again, told.__contains__).findings == ()
    # deterministic: IB's lists in another order give the same updates and fills
    shuffled_orders, shuffled_fills = list(orders), list(fills)
    rnd.shuffle(shuffled_orders)
    rnd.shuffle(shuffled_fills)
    other = reconcile(intents, shuffled_orders, shuffled_fills, NOW)
    assert other.updates == result.updates
    assert other.fills == result.fills
    assert other.findings == result.findings
