"""Domain models: validation of order specs and fills, the intent state machine, IB status
mapping and how IB's reports are applied to an intent."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tui_trader.core.models import (
    TERMINAL_STATUSES,
    TRANSITIONS,
    Fill,
    IntentStatus,
    IntentUpdate,
    OrderIntent,
    SpreadLeg,
    SpreadOrderSpec,
    apply_update,
    can_transition,
    is_our_ref,
    new_intent_id,
    next_status,
    status_from_ib,
)

S = IntentStatus
T0 = datetime(2026, 3, 2, 20, 50, tzinfo=UTC)
MARKER = 1.7976931348623157e308


def leg(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "con_id": 1001,
        "symbol": "AAPL",
        "expiry": "20260417",
        "strike": 200.0,
        "right": "C",
        "action": "BUY",
        "ratio": 1,
    }
    base.update(changes)
    return base


def spec_dict(**changes: Any) -> dict[str, Any]:
    """A bull call debit spread: buy the 200 call, sell the 205 call, 2 lots at 2.10."""
    base: dict[str, Any] = {
        "underlying": "AAPL",
        "direction": "LONG",
        "legs": (leg(), leg(con_id=1002, strike=205.0, action="SELL")),
        "action": "BUY",
        "quantity": 2,
        "order_type": "LMT",
        "limit_price": 2.10,
        "mode": "paper",
    }
    base.update(changes)
    return base


def make_spec(**changes: Any) -> SpreadOrderSpec:
    return SpreadOrderSpec.model_validate(spec_dict(**changes))


def make_intent(**changes: Any) -> OrderIntent:
    base: dict[str, Any] = {
        "intent_id": "tt-00000000000a",
        "created_at": T0,
        "updated_at": T0,
        "spec": make_spec(),
        "status": S.PENDING_SEND,
        "working_limit": 2.10,
    }
    base.update(changes)
    return OrderIntent.model_validate(base)


# -- specs --------------------------------------------------------------------------------


def test_valid_long_and_short_spreads() -> None:
    long = make_spec()
    assert long.long_leg.strike == 200.0 and long.short_leg.strike == 205.0
    assert long.describe() == "BUY 2 AAPL 20260417 200/205 C LMT 2.10 (paper)"
    short = make_spec(
        direction="SHORT",
        legs=(
            leg(right="P", strike=200.0),
            leg(con_id=1002, right="P", strike=195.0, action="SELL"),
        ),
        action="SELL",
        limit_price=0.0,
        mode="live",
    )
    assert short.describe() == "SELL 2 AAPL 20260417 200/195 P LMT 0.00 (live)"
    mkt = make_spec(order_type="MKT", limit_price=None)
    assert mkt.describe().endswith("C MKT (paper)")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"legs": (leg(),)}, "2 legs"),
        ({"legs": (leg(), leg(con_id=1002, strike=205.0))}, "one BUY"),
        ({"legs": (leg(), leg(strike=205.0, action="SELL"))}, "different contracts"),
        ({"legs": (leg(), leg(con_id=1002, action="SELL"))}, "different contracts"),
        (
            {"legs": (leg(), leg(con_id=1002, strike=205.0, action="SELL", symbol="MSFT"))},
            "not the underlying",
        ),
        (
            {"legs": (leg(), leg(con_id=1002, strike=205.0, action="SELL", expiry="20260515"))},
            "share expiry",
        ),
        (
            {"legs": (leg(right="P"), leg(con_id=1002, strike=205.0, action="SELL", right="P"))},
            "uses C options",
        ),
        # a bear call spread is a credit spread: not ours
        ({"legs": (leg(strike=205.0), leg(con_id=1002, strike=200.0, action="SELL"))}, "LONG"),
        ({"order_type": "MKT", "limit_price": 2.10}, "no limit"),
        ({"limit_price": None}, "needs a limit"),
        ({"limit_price": 0.0}, "positive debit"),
        ({"limit_price": -0.05, "action": "SELL"}, "never negative"),
        ({"limit_price": MARKER}, "needs a limit"),
        ({"limit_price": math.nan}, "finite"),
        ({"quantity": 0}, "greater than or equal to 1"),
        ({"mode": "demo"}, "paper"),
    ],
)
def test_malformed_specs_are_refused(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        make_spec(**changes)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"expiry": "2026-04-17"}, "YYYYMMDD"),
        ({"expiry": "20260231"}, "day is out of range"),
        ({"strike": 0.0}, "greater than 0"),
        ({"strike": MARKER}, "no value"),
        ({"con_id": 0}, "greater than 0"),
        ({"right": "CALL"}, "'C' or 'P'"),
        ({"ratio": 0}, "greater than or equal to 1"),
    ],
)
def test_malformed_legs_are_refused(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        SpreadLeg.model_validate(leg(**changes))


def test_spec_json_round_trip_and_immutability() -> None:
    spec = make_spec()
    again = SpreadOrderSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    with pytest.raises(ValidationError):
        spec.quantity = 3  # type: ignore[misc]


# -- ids ----------------------------------------------------------------------------------


def test_intent_ids() -> None:
    ids = {new_intent_id() for _ in range(2000)}
    assert len(ids) == 2000
    for i in list(ids)[:20]:
        assert len(i) == 15 and i.startswith("tt-") and int(i[3:], 16) >= 0
        assert is_our_ref(i)
    assert not is_our_ref("") and not is_our_ref(None) and not is_our_ref("manual-1")
    with pytest.raises(ValidationError, match="12 lowercase hex"):
        make_intent(intent_id="tt-XYZ")


def test_intent_remaining() -> None:
    assert make_intent().remaining == 2
    assert make_intent(filled=1, status=S.PARTIALLY_FILLED).remaining == 1
    assert make_intent(filled=3, status=S.FILLED).remaining == 0
    with pytest.raises(ValidationError, match="timezone"):
        make_intent(created_at=datetime(2026, 3, 2, 15, 50))


# -- state machine ------------------------------------------------------------------------

EXPECTED_ALLOWED = {
    S.PENDING_SEND: {
        S.SENT, S.WORKING, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.UNKNOWN,
    },
    S.SENT: {S.WORKING, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.UNKNOWN},
    S.WORKING: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.UNKNOWN},
    S.PARTIALLY_FILLED: {S.FILLED, S.CANCELLED, S.REJECTED, S.UNKNOWN},
    S.UNKNOWN: {S.SENT, S.WORKING, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED},
    S.FILLED: set(),
    S.CANCELLED: set(),
    S.REJECTED: set(),
}  # fmt: skip


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert {k: set(v) for k, v in TRANSITIONS.items()} == EXPECTED_ALLOWED
    for current in S:
        for new in S:
            allowed = new == current or new in EXPECTED_ALLOWED[current]
            assert can_transition(current, new) is allowed
            assert next_status(current, new) == (new if allowed else current)


@pytest.mark.parametrize(
    ("current", "observed", "expected"),
    [
        (S.FILLED, S.WORKING, S.FILLED),  # a late "Submitted" after "Filled"
        (S.CANCELLED, S.FILLED, S.CANCELLED),
        (S.REJECTED, S.SENT, S.REJECTED),
        (S.PARTIALLY_FILLED, S.WORKING, S.PARTIALLY_FILLED),
        (S.WORKING, S.SENT, S.WORKING),
        (S.UNKNOWN, S.PENDING_SEND, S.UNKNOWN),
        (S.SENT, S.PENDING_SEND, S.SENT),
        (S.SENT, S.WORKING, S.WORKING),
        (S.WORKING, S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
        (S.PARTIALLY_FILLED, S.FILLED, S.FILLED),
        (S.UNKNOWN, S.FILLED, S.FILLED),
    ],
)
def test_next_status_examples(current: S, observed: S, expected: S) -> None:
    assert next_status(current, observed) == expected


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(S)), st.lists(st.sampled_from(list(S)), max_size=12))
def test_terminal_is_absorbing_and_pending_send_never_reentered(
    start: S, observed: list[S]
) -> None:
    status = start
    for obs in observed:
        new = next_status(status, obs)
        if status in TERMINAL_STATUSES:
            assert new == status
        if new is S.PENDING_SEND:
            assert status is S.PENDING_SEND
        status = new


@pytest.mark.parametrize(
    ("ib", "filled", "expected"),
    [
        ("PendingSubmit", 0.0, S.SENT),
        ("ApiPending", 0.0, S.SENT),
        ("PreSubmitted", 0.0, S.WORKING),
        ("Submitted", 0.0, S.WORKING),
        ("Submitted", 1.0, S.PARTIALLY_FILLED),
        ("PendingCancel", 1.0, S.PARTIALLY_FILLED),
        ("Submitted", MARKER, S.WORKING),
        ("Submitted", math.nan, S.WORKING),
        ("Filled", 2.0, S.FILLED),
        ("Cancelled", 1.0, S.CANCELLED),
        ("ApiCancelled", 0.0, S.CANCELLED),
        ("Inactive", 0.0, S.REJECTED),
        ("Bogus", 0.0, None),
        ("", 0.0, None),
    ],
)
def test_status_from_ib(ib: str, filled: float, expected: S | None) -> None:
    assert status_from_ib(ib, filled) == expected


# -- applying IB reports ------------------------------------------------------------------


def test_apply_update_takes_ib_values() -> None:
    t1 = T0 + timedelta(seconds=5)
    it = make_intent(status=S.SENT, order_id=7)
    new = apply_update(
        it,
        IntentUpdate(
            it.intent_id,
            status=S.PARTIALLY_FILLED,
            perm_id=123456,
            filled=1.0,
            avg_fill_price=2.07,
        ),
        t1,
    )
    assert (new.status, new.filled, new.avg_fill_price, new.perm_id, new.order_id) == (
        S.PARTIALLY_FILLED,
        1,
        2.07,
        123456,
        7,
    )
    assert new.updated_at == t1 and new.created_at == T0


def test_apply_update_ignores_markers_and_never_shrinks_fills() -> None:
    it = make_intent(status=S.PARTIALLY_FILLED, filled=1, avg_fill_price=2.07, perm_id=55)
    update = IntentUpdate(
        it.intent_id,
        status=S.WORKING,  # stale: refused
        filled=0.0,  # smaller: ignored
        avg_fill_price=MARKER,
        perm_id=0,
        order_id=-1,
    )
    assert apply_update(it, update, T0 + timedelta(1)) is it
    nan_update = IntentUpdate(it.intent_id, filled=math.nan, avg_fill_price=math.nan)
    assert apply_update(it, nan_update, T0 + timedelta(1)) is it


def test_apply_update_no_price_before_a_fill_and_whole_units() -> None:
    it = make_intent(status=S.WORKING)
    same = apply_update(it, IntentUpdate(it.intent_id, filled=0.0, avg_fill_price=0.0), T0)
    assert same is it and same.avg_fill_price is None
    filled = apply_update(
        it, IntentUpdate(it.intent_id, status=S.FILLED, filled=1.9999999999, avg_fill_price=0.0), T0
    )
    assert filled.filled == 2 and filled.avg_fill_price == 0.0  # a 0.00 combo fill is real


def test_apply_update_errors_and_terminal_quantities() -> None:
    it = make_intent(status=S.CANCELLED, filled=0)
    new = apply_update(
        it,
        IntentUpdate(it.intent_id, status=S.FILLED, filled=1.0, error_code=202, error_text="x"),
        T0,
    )
    assert new.status is S.CANCELLED  # terminal status kept ...
    assert new.filled == 1  # ... but a late fill quantity is a fact
    assert (new.last_error_code, new.last_error_text) == (202, "x")
    with pytest.raises(ValueError, match="applied to"):
        apply_update(it, IntentUpdate("tt-00000000000b", status=S.FILLED), T0)


def test_apply_update_twice_is_a_no_op() -> None:
    it = make_intent(status=S.SENT)
    u = IntentUpdate(it.intent_id, status=S.WORKING, perm_id=9, order_id=7)
    once = apply_update(it, u, T0 + timedelta(seconds=1))
    assert apply_update(once, u, T0 + timedelta(seconds=2)) is once


# -- fills --------------------------------------------------------------------------------


def fill_dict(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "exec_id": "0000e1a7.65f1.01.01",
        "order_id": 7,
        "perm_id": 123456,
        "con_id": 1001,
        "symbol": "AAPL",
        "side": "BOT",
        "quantity": 2.0,
        "price": 3.45,
        "time": T0,
        "commission": None,
        "order_ref": "tt-00000000000a",
    }
    base.update(changes)
    return base


@pytest.mark.parametrize("raw", [MARKER, math.nan, math.inf, None])
def test_fill_commission_not_yet_known_is_none(raw: float | None) -> None:
    assert Fill.model_validate(fill_dict(commission=raw)).commission is None


def test_fill_values() -> None:
    f = Fill.model_validate(fill_dict(commission=1.32, order_ref=""))
    assert f.commission == 1.32 and f.order_ref is None and f.intent_id is None
    for bad, fragment in (
        ({"price": MARKER}, "no value"),
        ({"price": math.nan}, "finite"),
        ({"quantity": 0.0}, "greater than 0"),
        ({"side": "BUY"}, "'BOT' or 'SLD'"),
        ({"time": datetime(2026, 3, 2, 15, 50)}, "timezone"),
    ):
        with pytest.raises(ValidationError, match=fragment):
            Fill.model_validate(fill_dict(**bad))
