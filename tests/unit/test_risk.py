"""SPEC 8: risk gates in order, sizing, circuit breakers and the kill switch."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.risk import (
    BreakerState,
    BreakerStatus,
    GateCode,
    RiskInputs,
    check_entry,
    clear_kill_switch,
    engage_kill_switch,
    entries_allowed,
    exits_allowed,
    reset_breakers,
    size_contracts,
    update_breakers,
)
from tui_trader.core.settings import RiskSettings

RISK = RiskSettings()
T0 = datetime(2026, 11, 20, 19, 50, tzinfo=UTC)


def good(**changes: Any) -> RiskInputs:
    """A candidate that passes every gate: 100k account, 1.50 debit (150 max loss)."""
    base = RiskInputs(
        open_spreads=2,
        entries_today=1,
        net_liquidation=100_000.0,
        max_loss_per_contract=150.0,
        limit_price=1.40,
        multiplier=100,
        available_funds_after=60_000.0,
        underlying_iv=0.35,
        underlying="AAPL",
        busy_underlyings=frozenset({"MSFT", "NVDA"}),
        connection_healthy=True,
        leg_quote_ages_s=(0.4, 1.2),
        breakers=BreakerState(),
    )
    return replace(base, **changes)


def test_all_gates_pass_with_hand_worked_size() -> None:
    # 100,000 * 0.02 / 150 = 13.33 -> 13 -> capped at 10
    r = check_entry(good(), RISK)
    assert (r.ok, r.contracts, r.reason_code) == (True, 10, None)
    assert r.message == "All risk gates pass: 10 contracts."


@pytest.mark.parametrize(
    ("nlv", "max_loss", "expected"),
    [
        (100_000, 150, 10),  # 13 -> cap 10
        (20_000, 150, 2),  # 400 / 150 = 2.67
        (100_000, 200, 10),  # exactly 10
        (45_000, 300, 3),  # exactly 3
        (7_000, 150, 0),  # 140 < 150
        (0, 150, 0),
        (-5_000, 150, 0),
        (math.nan, 150, 0),
        (1.7976931348623157e308, 150, 0),
        (100_000, 0, 0),
        (100_000, math.nan, 0),
    ],
)
def test_size_contracts(nlv: float, max_loss: float, expected: int) -> None:
    assert size_contracts(nlv, max_loss, RISK) == expected


def test_size_contracts_is_exact_decimal() -> None:
    # in floats 1500 * 0.29 / 145 = 2.9999999999999996 -> 2; the true answer is 3
    assert size_contracts(1500, 145, RiskSettings(risk_per_trade=0.29)) == 3
    assert size_contracts(1500, 435, RiskSettings(risk_per_trade=0.29)) == 1


HALTED = engage_kill_switch(BreakerState(), T0)

# Each case breaks one gate *and every gate after it*, so only order decides which is shown.
ORDERED_FAILURES: list[tuple[GateCode, dict[str, Any]]] = [
    (GateCode.HALTED, {"breakers": HALTED}),
    (GateCode.MAX_POSITIONS, {"open_spreads": 5}),
    (GateCode.MAX_DAILY_TRADES, {"entries_today": 3}),
    (GateCode.SIZE_ZERO, {"net_liquidation": 7_000.0}),
    (GateCode.ORDER_VALUE, {"limit_price": 10.01}),
    (GateCode.BUYING_POWER, {"available_funds_after": 4_999.99}),
    (GateCode.IV, {"underlying_iv": 1.01}),
    (GateCode.SAME_UNDERLYING, {"underlying": "MSFT"}),
    (GateCode.CONNECTION, {"connection_healthy": False}),
    (GateCode.STALE_QUOTE, {"leg_quote_ages_s": (0.4, 5.0)}),
]


@pytest.mark.parametrize("index", range(len(ORDERED_FAILURES)))
def test_first_failure_in_spec_order(index: int) -> None:
    changes: dict[str, Any] = {}
    for _, c in ORDERED_FAILURES[index:]:
        changes.update(c)
    r = check_entry(good(**changes), RISK)
    assert not r.ok
    assert r.reason_code is ORDERED_FAILURES[index][0], r.message
    assert r.message.endswith(".") and "\n" not in r.message


def test_failure_messages() -> None:
    def msg(**c: Any) -> tuple[GateCode | None, int, str]:
        r = check_entry(good(**c), RISK)
        return r.reason_code, r.contracts, r.message

    assert msg(breakers=HALTED) == (
        GateCode.HALTED,
        0,
        "Trading is halted: the kill switch is engaged.",
    )
    assert msg(open_spreads=5) == (
        GateCode.MAX_POSITIONS,
        0,
        "5 spreads are open, the maximum is 5.",
    )
    assert msg(entries_today=3)[2] == "3 entries today already, the daily maximum is 3."
    assert msg(net_liquidation=7_000.0)[2] == (
        "2.00% of net liquidation 7,000.00 is less than one contract's max loss of 150.00."
    )
    # 10 contracts x 10.01 x 100 = 10,010 > 10,000
    assert msg(limit_price=10.01) == (
        GateCode.ORDER_VALUE,
        10,
        "Order value 10,010.00 (10 x 10.01 x 100) exceeds the maximum of 10,000.00.",
    )
    assert msg(available_funds_after=4_999.99)[2] == (
        "Available funds after this order would be 4,999.99, below the minimum of 5,000.00."
    )
    assert msg(underlying_iv=1.25)[2] == (
        "AAPL implied volatility 125% is above the maximum of 100%."
    )
    assert msg(underlying="msft")[2] == "MSFT already has an open spread or a working order."
    assert msg(connection_healthy=False)[2] == "The connection to IB is not healthy."
    assert msg(leg_quote_ages_s=(0.4, 6.25))[2] == (
        "A leg quote is 6.2 s old; quotes must be younger than 5 s."
    )


def test_gate_boundaries() -> None:
    # at the limits: pass
    assert check_entry(good(open_spreads=4, entries_today=2), RISK).ok
    # 10 x 10.00 x 100 = 10,000 exactly: allowed
    assert check_entry(good(limit_price=10.0), RISK).ok
    assert check_entry(good(available_funds_after=5_000.0), RISK).ok
    assert check_entry(good(underlying_iv=1.0), RISK).ok
    assert check_entry(good(leg_quote_ages_s=(4.99, 0.0)), RISK).ok
    # ... and just past them
    assert check_entry(good(leg_quote_ages_s=(5.0,)), RISK).reason_code is GateCode.STALE_QUOTE


def test_order_value_uses_the_sized_contracts() -> None:
    # 20,000 * 0.02 / 150 = 2 contracts; 2 x 40.00 x 100 = 8,000 <= 10,000
    r = check_entry(good(net_liquidation=20_000.0, limit_price=40.0), RISK)
    assert (r.ok, r.contracts) == (True, 2)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"net_liquidation": math.nan}, GateCode.BAD_INPUT),
        ({"max_loss_per_contract": 0.0}, GateCode.BAD_INPUT),
        ({"max_loss_per_contract": -1.0}, GateCode.BAD_INPUT),
        ({"limit_price": math.nan}, GateCode.BAD_INPUT),
        ({"limit_price": 0.0}, GateCode.BAD_INPUT),
        ({"available_funds_after": math.nan}, GateCode.BUYING_POWER),
        ({"available_funds_after": 1.7976931348623157e308}, GateCode.BUYING_POWER),
        ({"underlying_iv": None}, GateCode.IV),
        ({"underlying_iv": math.nan}, GateCode.IV),
        ({"leg_quote_ages_s": ()}, GateCode.STALE_QUOTE),
        ({"leg_quote_ages_s": (0.1, None)}, GateCode.STALE_QUOTE),
        ({"leg_quote_ages_s": (math.nan, 0.1)}, GateCode.STALE_QUOTE),
    ],
)
def test_unknown_inputs_fail_closed(changes: dict[str, Any], code: GateCode) -> None:
    r = check_entry(good(**changes), RISK)
    assert not r.ok and r.reason_code is code


def test_unknown_buying_power_defers_to_the_end() -> None:
    r = check_entry(good(available_funds_after=None), RISK)
    assert (r.ok, r.contracts, r.reason_code) == (False, 10, GateCode.WHATIF_PENDING)
    # a later real failure still wins over the pending what-if
    r = check_entry(good(available_funds_after=None, underlying="NVDA"), RISK)
    assert r.reason_code is GateCode.SAME_UNDERLYING


@settings(max_examples=200, deadline=None)
@given(
    nlv=st.floats(min_value=-1e6, max_value=1e8, allow_nan=False),
    max_loss=st.floats(min_value=0.01, max_value=5_000),
    rpt=st.floats(min_value=0.001, max_value=1),
    cap=st.integers(min_value=1, max_value=50),
)
def test_size_never_risks_more_than_the_budget(
    nlv: float, max_loss: float, rpt: float, cap: int
) -> None:
    risk = RiskSettings(risk_per_trade=rpt, max_contracts_per_trade=cap)
    n = size_contracts(nlv, max_loss, risk)
    assert 0 <= n <= cap
    budget = nlv * rpt
    assert n * max_loss <= budget * (1 + 1e-12) or n == 0
    if n < cap and nlv > 0:
        assert (n + 1) * max_loss > budget * (1 - 1e-12)  # floor: one more would exceed


# --- circuit breakers ------------------------------------------------------------------------


def test_daily_loss_trips_exactly_at_the_limit() -> None:
    s = update_breakers(BreakerState(), -999.99, [], T0, RISK)
    assert s.status is BreakerStatus.ACTIVE and entries_allowed(s)
    s = update_breakers(BreakerState(), -1000.0, [], T0, RISK)
    assert s.status is BreakerStatus.HALTED and not entries_allowed(s)
    assert s.breaker_code == "DAILY_LOSS" and s.since == T0
    assert s.reason == "day P&L -1,000.00 reached the daily loss limit of -1,000.00"
    assert exits_allowed(s)


@pytest.mark.parametrize("pnl", [None, math.nan, 1.7976931348623157e308, -math.inf])
def test_unknown_day_pnl_trips_nothing(pnl: float | None) -> None:
    assert update_breakers(BreakerState(), pnl, [], T0, RISK).status is BreakerStatus.ACTIVE


def test_rejections_trip_within_ten_minutes_only() -> None:
    m = timedelta(minutes=1)
    in_10 = [T0, T0 + 4 * m, T0 + 10 * m]
    s = update_breakers(BreakerState(), 0.0, in_10, T0 + 10 * m, RISK)
    assert s.breaker_code == "REJECTIONS"
    assert s.reason == "3 orders were rejected within 10 minutes"
    over_11 = [T0, T0 + 5 * m, T0 + 11 * m]
    assert update_breakers(BreakerState(), 0.0, over_11, T0 + 11 * m, RISK).breaker_code is None
    two = [T0, T0 + m]
    assert update_breakers(BreakerState(), 0.0, two, T0 + m, RISK).breaker_code is None
    # a burst noticed late still trips; rejections in the future of `now` are not counted
    assert update_breakers(BreakerState(), 0.0, in_10, T0 + 60 * m, RISK).breaker_code == (
        "REJECTIONS"
    )
    assert update_breakers(BreakerState(), 0.0, in_10, T0 + 9 * m, RISK).breaker_code is None


def test_breakers_latch_and_reset_forgets_old_rejections() -> None:
    m = timedelta(minutes=1)
    s = update_breakers(BreakerState(), -1500.0, [], T0, RISK)
    s2 = update_breakers(s, 200.0, [], T0 + m, RISK)  # P&L recovered: still halted
    assert s2 == s
    r = reset_breakers(s2, T0 + 2 * m)
    assert r.status is BreakerStatus.ACTIVE and r.reset_at == T0 + 2 * m
    rejections = [T0, T0 + m, T0 + 2 * m]
    assert update_breakers(r, 0.0, rejections, T0 + 3 * m, RISK).status is BreakerStatus.ACTIVE
    more = [*rejections, T0 + 3 * m, T0 + 4 * m, T0 + 5 * m]
    assert update_breakers(r, 0.0, more, T0 + 5 * m, RISK).breaker_code == "REJECTIONS"


def test_kill_switch_halts_until_cleared_and_survives_a_restart() -> None:
    s = engage_kill_switch(BreakerState(), T0)
    assert s.status is BreakerStatus.HALTED and s.reason == "the kill switch is engaged"
    assert exits_allowed(s) and not entries_allowed(s)
    assert engage_kill_switch(s, T0 + timedelta(hours=1)).kill_switch_since == T0
    # a breaker reset does not clear the kill switch
    assert reset_breakers(s, T0).status is BreakerStatus.HALTED

    stored = json.dumps(s.to_dict())
    restored = BreakerState.from_dict(json.loads(stored))
    assert restored == s and restored.status is BreakerStatus.HALTED

    cleared = clear_kill_switch(restored)
    assert cleared.status is BreakerStatus.ACTIVE and cleared.reason is None
    assert BreakerState.from_dict(cleared.to_dict()) == cleared


def test_clearing_the_kill_switch_keeps_a_tripped_breaker() -> None:
    s = update_breakers(BreakerState(), -1000.0, [], T0, RISK)
    s = engage_kill_switch(s, T0 + timedelta(minutes=5))
    assert s.since == T0
    s = clear_kill_switch(s)
    assert s.status is BreakerStatus.HALTED and s.breaker_code == "DAILY_LOSS"
    assert BreakerState.from_dict(s.to_dict()) == s


@pytest.mark.parametrize(
    "data",
    [
        {"kill_switch": "yes"},
        {"kill_switch": True, "kill_switch_since": "not a time"},
        {"kill_switch": True, "kill_switch_since": "2026-11-20T14:50:00"},  # naive
        {"breaker_code": 3},
    ],
)
def test_malformed_breaker_state_is_an_error(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BreakerState.from_dict(data)
