"""SPEC 6: combo order pricing, walking and the account-mode check."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.pricing import (
    IB_UNSET_DOUBLE,
    Action,
    NaturalQuotes,
    OrderPrice,
    PriceRefusal,
    RefusalCode,
    WalkKind,
    WalkState,
    check_account_mode,
    limit_price,
    mask_account_id,
    natural_quotes,
    next_walk_action,
    start_walk,
    walk_price,
    walk_start,
)
from tui_trader.core.settings import ExecutionSettings

PAPER = ExecutionSettings()
PAPER_MKT = ExecutionSettings(paper_order_type="MKT")
LIVE = ExecutionSettings(mode="live")
T0 = datetime(2026, 11, 20, 19, 50, tzinfo=UTC)


def price(result: OrderPrice | PriceRefusal | None) -> float | None:
    assert isinstance(result, OrderPrice), result
    return result.limit


def refusal(result: OrderPrice | PriceRefusal | None) -> RefusalCode:
    assert isinstance(result, PriceRefusal), result
    return result.code


# --- natural quotes ------------------------------------------------------------------------


def test_natural_quotes_from_legs() -> None:
    # long call 2.10 x 2.30, short call 0.80 x 0.95
    q = natural_quotes(2.10, 2.30, 0.80, 0.95)
    assert q == NaturalQuotes(bid=1.15, ask=1.50)
    assert isinstance(q, NaturalQuotes)
    assert q.spread == pytest.approx(0.35)


def test_natural_quotes_short_leg_bid_zero_is_valid() -> None:
    assert natural_quotes(0.40, 0.45, 0.0, 0.05) == NaturalQuotes(bid=0.35, ask=0.45)


@pytest.mark.parametrize(
    "legs",
    [
        (math.nan, 2.30, 0.80, 0.95),
        (2.10, -1.0, 0.80, 0.95),
        (2.10, 2.30, -2.0, 0.95),
        (2.10, 2.30, 0.80, IB_UNSET_DOUBLE),
        (2.10, 2.30, 0.80, math.inf),
        (2.10, 0.0, 0.0, 0.95),  # long leg: no offer
        (2.40, 2.30, 0.80, 0.95),  # long leg crossed
        (2.10, 2.30, -0.05, 0.95),  # negative bid
    ],
)
def test_natural_quotes_refuse_bad_legs(legs: tuple[float, float, float, float]) -> None:
    assert refusal(natural_quotes(*legs)) is RefusalCode.BAD_QUOTE


# --- first limit ---------------------------------------------------------------------------


def test_paper_lmt_is_marketable_at_the_far_side() -> None:
    buy = limit_price("BUY", 1.15, 1.50, PAPER)
    sell = limit_price("SELL", 1.15, 1.50, PAPER)
    assert buy == OrderPrice("BUY", "LMT", 1.50, 1.15, 1.50)
    assert sell == OrderPrice("SELL", "LMT", 1.15, 1.15, 1.50)


def test_paper_mkt_has_no_limit() -> None:
    assert limit_price("BUY", 1.15, 1.50, PAPER_MKT) == OrderPrice("BUY", "MKT", None, 1.15, 1.50)
    assert limit_price("SELL", 1.15, 1.50, PAPER_MKT) == OrderPrice("SELL", "MKT", None, 1.15, 1.50)


def test_paper_mkt_still_refuses_a_credit_and_a_debit_over_the_cap() -> None:
    assert refusal(limit_price("BUY", -0.20, 0.0, PAPER_MKT)) is RefusalCode.NO_DEBIT
    assert refusal(limit_price("BUY", 1.15, 1.50, PAPER_MKT, max_debit=1.20)) is (
        RefusalCode.MAX_COST
    )


def test_live_prices_improve_on_the_natural_by_the_factor() -> None:
    # spread 0.35, factor 0.4 -> 0.14 from our side
    assert price(limit_price("BUY", 1.15, 1.50, LIVE)) == 1.29
    assert price(limit_price("SELL", 1.15, 1.50, LIVE)) == 1.36


def test_live_ties_round_toward_our_side() -> None:
    half = ExecutionSettings(mode="live", price_improvement_factor=0.5)
    # 1.00 .. 1.05 midpoint 1.025: BUY rounds down, SELL rounds up
    assert price(limit_price("BUY", 1.00, 1.05, half)) == 1.02
    assert price(limit_price("SELL", 1.00, 1.05, half)) == 1.03
    # factor 0.4: BUY 1.02, SELL 1.03 (exact, no tie)
    assert price(limit_price("BUY", 1.00, 1.05, LIVE)) == 1.02
    assert price(limit_price("SELL", 1.00, 1.05, LIVE)) == 1.03


def test_no_float_artefacts() -> None:
    half = ExecutionSettings(mode="live", price_improvement_factor=0.5)
    p = price(limit_price("BUY", 1.7, 2.0, half))
    assert p == 1.85
    assert repr(p) == "1.85"
    # 0.1 + 0.2 style inputs
    p2 = price(limit_price("BUY", 0.1 + 0.2, 0.7, LIVE))  # 0.30000000000000004 -> 0.46
    assert repr(p2) == "0.46"


def test_coarser_combo_tick() -> None:
    nickel = ExecutionSettings(mode="live", combo_tick=0.05)
    # BUY 1.00 + 0.30*0.4 = 1.12 -> nearest nickel 1.10; SELL 1.30 - 0.12 = 1.18 -> 1.20
    assert price(limit_price("BUY", 1.00, 1.30, nickel)) == 1.10
    assert price(limit_price("SELL", 1.00, 1.30, nickel)) == 1.20


def test_off_grid_market_inside_one_tick_falls_back_to_the_passive_side() -> None:
    nickel = ExecutionSettings(mode="live", combo_tick=0.05)
    # no nickel inside [1.01, 1.04]: BUY must not pay above 1.04, SELL not sell below 1.01
    assert price(limit_price("BUY", 1.01, 1.04, nickel)) == 1.00
    assert price(limit_price("SELL", 1.01, 1.04, nickel)) == 1.05
    # paper BUY at a natural ask of 1.04 rounds down onto the grid, never up
    assert price(limit_price("BUY", 0.90, 1.04, ExecutionSettings(combo_tick=0.05))) == 1.00


def test_buy_is_always_a_positive_debit() -> None:
    # a wide market with a negative natural bid: raw live BUY -0.30 + 0.50*0.4 = -0.10
    assert price(limit_price("BUY", -0.30, 0.20, LIVE)) == 0.01
    assert refusal(limit_price("BUY", -0.30, 0.0, LIVE)) is RefusalCode.NO_DEBIT
    assert refusal(limit_price("BUY", -0.30, -0.10, PAPER)) is RefusalCode.NO_DEBIT
    assert refusal(limit_price("BUY", 0.0, 0.004, LIVE)) is RefusalCode.NO_DEBIT  # < 1 tick


def test_sell_never_pays_to_close() -> None:
    assert price(limit_price("SELL", -0.30, 0.20, PAPER)) == 0.0
    assert price(limit_price("SELL", -0.30, 0.20, LIVE)) == 0.0  # 0.20 - 0.20 = 0.00
    assert price(limit_price("SELL", -0.30, 0.60, LIVE)) == 0.24


def test_debit_cap() -> None:
    assert price(limit_price("BUY", 1.15, 1.50, LIVE, max_debit=1.20)) == 1.20
    assert price(limit_price("BUY", 1.15, 1.50, PAPER, max_debit=5.0)) == 1.50
    assert price(limit_price("SELL", 1.15, 1.50, LIVE, max_debit=0.5)) == 1.36  # SELL: no cap
    assert price(limit_price("SELL", 1.15, 1.50, LIVE, max_debit=math.nan)) == 1.36
    assert limit_price("SELL", 1.15, 1.50, PAPER_MKT, max_debit=0.5) == OrderPrice(
        "SELL", "MKT", None, 1.15, 1.50
    )
    assert refusal(limit_price("BUY", 1.15, 1.50, LIVE, max_debit=0.004)) is RefusalCode.MAX_COST
    assert refusal(limit_price("BUY", 1.15, 1.50, LIVE, max_debit=math.nan)) is (
        RefusalCode.MAX_COST
    )


@pytest.mark.parametrize(
    ("nb", "na"),
    [
        (math.nan, 1.50),
        (1.15, math.nan),
        (-1.0, 1.50),
        (-2.0, 1.50),
        (1.15, IB_UNSET_DOUBLE),
        (1.15, math.inf),
        (-math.inf, 1.50),
        (1.60, 1.50),  # crossed
    ],
)
@pytest.mark.parametrize("execution", [PAPER, PAPER_MKT, LIVE])
@pytest.mark.parametrize("action", ["BUY", "SELL"])
def test_unusable_natural_quotes_are_refused(
    nb: float, na: float, execution: ExecutionSettings, action: str
) -> None:
    result = limit_price("BUY" if action == "BUY" else "SELL", nb, na, execution)
    assert refusal(result) is RefusalCode.BAD_QUOTE
    assert isinstance(result, PriceRefusal) and result.message.endswith(".")


# --- properties ----------------------------------------------------------------------------

ticks = st.integers(min_value=-50, max_value=2000)
widths = st.integers(min_value=0, max_value=300)
factors = st.floats(min_value=0, max_value=1)
steps_ = st.floats(min_value=0.01, max_value=1)


def on_grid(x: float, tick: str = "0.01") -> bool:
    return Decimal(repr(x)) % Decimal(tick) == 0


@settings(max_examples=300, deadline=None)
@given(ticks, widths, factors)
def test_live_limits_stay_inside_the_natural_market(bid_t: int, width: int, f: float) -> None:
    nb, na = bid_t / 100, (bid_t + width) / 100
    ex = ExecutionSettings(mode="live", price_improvement_factor=f)
    buy = limit_price("BUY", nb, na, ex)
    if na <= 0:
        assert refusal(buy) is RefusalCode.NO_DEBIT
    else:
        b = price(buy)
        assert b is not None and b > 0 and nb <= b <= na and on_grid(b)
    s = price(limit_price("SELL", nb, na, ex))
    assert s is not None and s >= 0 and s >= nb and on_grid(s)
    if na >= 0:
        assert s <= na


@settings(max_examples=300, deadline=None)
@given(
    st.floats(min_value=-5, max_value=50, allow_nan=False),
    st.floats(min_value=0, max_value=10, allow_nan=False),
    factors,
    st.sampled_from([0.01, 0.05, 0.1]),
)
def test_off_grid_quotes_never_cross_the_far_side(
    nb: float, width: float, f: float, tick: float
) -> None:
    na = nb + width
    ex = ExecutionSettings(mode="live", price_improvement_factor=f, combo_tick=tick)
    buy = limit_price("BUY", nb, na, ex)
    if {nb, na} & {-1.0, -2.0}:  # IB's no-value markers are refused even if they might be real
        assert refusal(buy) is RefusalCode.BAD_QUOTE
        assert refusal(limit_price("SELL", nb, na, ex)) is RefusalCode.BAD_QUOTE
        return
    if isinstance(buy, OrderPrice):
        assert buy.limit is not None and tick <= buy.limit <= na
        assert on_grid(buy.limit, repr(tick))
    else:
        assert buy.code is RefusalCode.NO_DEBIT and na < tick
    sell = price(limit_price("SELL", nb, na, ex))
    assert sell is not None and sell >= nb and sell >= 0 and on_grid(sell, repr(tick))


@settings(max_examples=200, deadline=None)
@given(
    ticks,
    widths,
    factors,
    steps_,
    st.integers(min_value=0, max_value=10),
    st.one_of(st.none(), st.integers(min_value=1, max_value=1000)),
)
def test_walking_never_crosses_the_far_side_nor_the_cap(
    bid_t: int, width: int, f: float, step: float, max_steps: int, cap_t: int | None
) -> None:
    nb, na = bid_t / 100, (bid_t + width) / 100
    cap = None if cap_t is None else cap_t / 100
    ex = ExecutionSettings(
        mode="live", price_improvement_factor=f, walk_step=step, walk_max_steps=max_steps
    )
    prev_buy, prev_sell = -math.inf, math.inf
    for k in range(max_steps + 1):
        buy = walk_price("BUY", nb, na, k, ex, max_debit=cap)
        if na > 0:
            b = price(buy)
            assert b is not None and 0 < b <= na
            if cap is not None:
                assert b <= cap
            assert b >= prev_buy  # walking only moves toward the far side
            prev_buy = b
        sell = price(walk_price("SELL", nb, na, k, ex))
        assert sell is not None and max(nb, 0) <= sell <= max(na, 0)
        assert sell <= prev_sell
        prev_sell = sell
    assert walk_price("BUY", nb, na, max_steps + 1, ex, max_debit=cap) is None
    assert walk_price("SELL", nb, na, max_steps + 1, ex) is None


def test_walk_schedule_default_settings() -> None:
    # natural 1.00 x 2.00: 0.4 of the spread, then +0.1 per step, cancel after 5 steps
    got = [price(walk_price("BUY", 1.00, 2.00, k, LIVE)) for k in range(6)]
    assert got == [1.40, 1.50, 1.60, 1.70, 1.80, 1.90]
    got_sell = [price(walk_price("SELL", 1.00, 2.00, k, LIVE)) for k in range(6)]
    assert got_sell == [1.60, 1.50, 1.40, 1.30, 1.20, 1.10]
    assert walk_price("BUY", 1.00, 2.00, 6, LIVE) is None
    capped = [price(walk_price("BUY", 1.00, 2.00, k, LIVE, max_debit=1.75)) for k in range(6)]
    assert capped == [1.40, 1.50, 1.60, 1.70, 1.75, 1.75]
    far = ExecutionSettings(mode="live", walk_step=0.3)
    assert [price(walk_price("BUY", 1.00, 2.00, k, far)) for k in range(4)] == [
        1.40,
        1.70,
        2.00,
        2.00,
    ]
    with pytest.raises(ValueError):
        walk_price("BUY", 1.00, 2.00, -1, LIVE)


# --- the walk state machine ----------------------------------------------------------------


def test_walk_state_machine_replaces_only_the_unfilled_quantity_then_cancels() -> None:
    first = limit_price("BUY", 1.00, 2.00, LIVE)
    assert isinstance(first, OrderPrice) and first.limit == 1.40
    state = start_walk(first, 5, T0)

    a = next_walk_action(state, T0 + timedelta(seconds=19.9), 1.00, 2.00, 0, LIVE)
    assert a.kind is WalkKind.WAIT and a.due == T0 + timedelta(seconds=20) and a.state == state

    a = next_walk_action(state, T0 + timedelta(seconds=20), 1.00, 2.00, 2, LIVE)
    assert (a.kind, a.limit, a.quantity) == (WalkKind.REPLACE, 1.50, 3)
    assert a.state.step == 1 and a.state.limit == 1.50
    state = a.state

    # quotes moved up: step 2 re-prices from the current natural, 1.20 + 0.6 * 1.00
    t = T0 + timedelta(seconds=40)
    a = next_walk_action(state, t, 1.20, 2.20, 2, LIVE)
    assert (a.kind, a.limit, a.quantity) == (WalkKind.REPLACE, 1.80, 3)
    state = a.state

    # bad quotes: the step is used up, the working order stays
    t += timedelta(seconds=20)
    a = next_walk_action(state, t, math.nan, 2.20, 3, LIVE)
    assert a.kind is WalkKind.WAIT and a.state.step == 3 and a.state.limit == 1.80
    assert "kept the working order" in a.reason and a.quantity == 2
    state = a.state

    for expected in (1.96, 2.08):  # steps 4 and 5 on 1.00 x 2.20: 1.00 + 0.8 / 0.9 * 1.20
        t += timedelta(seconds=20)
        a = next_walk_action(state, t, 1.00, 2.20, 3, LIVE)
        assert (a.kind, a.limit, a.quantity) == (WalkKind.REPLACE, expected, 2)
        state = a.state
    assert state.step == 5

    a = next_walk_action(state, t + timedelta(seconds=19), 1.00, 2.20, 3, LIVE)
    assert a.kind is WalkKind.WAIT
    a = next_walk_action(state, t + timedelta(seconds=20), 1.00, 2.20, 3, LIVE)
    assert a.kind is WalkKind.CANCEL and a.quantity == 2
    assert a.reason == "2 of 5 still unfilled after 5 walk steps"


def test_walk_done_when_filled_and_unchanged_price_is_not_replaced() -> None:
    first = limit_price("BUY", 1.00, 2.00, LIVE, max_debit=1.40)
    assert isinstance(first, OrderPrice)
    state = start_walk(first, 3, T0)
    a = next_walk_action(state, T0 + timedelta(seconds=20), 1.00, 2.00, 0, LIVE, max_debit=1.40)
    assert a.kind is WalkKind.WAIT and a.reason == "price unchanged" and a.state.step == 1
    a = next_walk_action(a.state, T0 + timedelta(seconds=21), 1.00, 2.00, 3, LIVE)
    assert a.kind is WalkKind.DONE
    assert next_walk_action(state, T0, 1.00, 2.00, 7, LIVE).kind is WalkKind.DONE


def test_walk_with_zero_steps_cancels_at_the_first_interval() -> None:
    ex = ExecutionSettings(mode="live", walk_max_steps=0)
    state = start_walk(OrderPrice("BUY", "LMT", 1.4, 1.0, 2.0), 4, T0)
    a = next_walk_action(state, T0 + timedelta(seconds=20), 1.0, 2.0, 1, ex)
    assert a.kind is WalkKind.CANCEL and a.quantity == 3


def test_paper_walks_re_peg_to_the_far_side_and_mkt_is_never_replaced() -> None:
    state = start_walk(OrderPrice("BUY", "LMT", 1.50, 1.15, 1.50), 2, T0)
    a = next_walk_action(state, T0 + timedelta(seconds=20), 1.20, 1.55, 0, PAPER)
    assert (a.kind, a.limit, a.quantity) == (WalkKind.REPLACE, 1.55, 2)
    mkt = start_walk(OrderPrice("BUY", "MKT", None, 1.15, 1.50), 2, T0)
    t = T0
    for _ in range(PAPER_MKT.walk_max_steps):
        t += timedelta(seconds=20)
        a = next_walk_action(mkt, t, 1.15, 1.50, 0, PAPER_MKT)
        assert a.kind is WalkKind.WAIT
        mkt = a.state
    a = next_walk_action(mkt, t + timedelta(seconds=20), 1.15, 1.50, 0, PAPER_MKT)
    assert a.kind is WalkKind.CANCEL


def test_start_walk_rejects_empty_orders() -> None:
    with pytest.raises(ValueError):
        start_walk(OrderPrice("BUY", "LMT", 1.4, 1.0, 2.0), 0, T0)


@settings(max_examples=100, deadline=None)
@given(
    total=st.integers(min_value=1, max_value=10),
    events=st.lists(
        st.tuples(st.floats(min_value=0, max_value=40), st.integers(min_value=0, max_value=3)),
        min_size=1,
        max_size=30,
    ),
)
def test_walk_machine_properties(total: int, events: list[tuple[float, int]]) -> None:
    first = limit_price("BUY", 1.00, 2.00, LIVE)
    assert isinstance(first, OrderPrice)
    state = start_walk(first, total, T0)
    now, filled, last_sent, cancelled = T0, 0, T0, False
    for dt, fills in events:
        now += timedelta(seconds=dt)
        filled = min(total, filled + fills)
        a = next_walk_action(state, now, 1.00, 2.00, filled, LIVE)
        if a.kind is WalkKind.DONE:
            assert filled == total
            break
        assert a.quantity == total - filled
        if a.kind is WalkKind.REPLACE:
            assert now - last_sent >= timedelta(seconds=LIVE.walk_interval_s)
            assert a.limit is not None and 1.00 <= a.limit <= 2.00
            last_sent = now
        if a.kind is WalkKind.CANCEL:
            assert state.step == LIVE.walk_max_steps
            cancelled = True
            break
        assert a.state.step <= LIVE.walk_max_steps
        state = a.state
    if not cancelled:
        assert state.step <= LIVE.walk_max_steps


# --- orders placed at a limit of their own (issue 13: a limit below the bid never walked) -


def walk_limits(
    state: WalkState,
    quotes: list[tuple[float, float]],
    ex: ExecutionSettings,
    max_debit: float | None = None,
) -> list[float | None]:
    """The working limit after each due step, one step per (bid, ask) in ``quotes``."""
    got: list[float | None] = []
    t = state.last_step_at
    for nb, na in quotes:
        t += timedelta(seconds=ex.walk_interval_s)
        a = next_walk_action(state, t, nb, na, 0, ex, max_debit=max_debit)
        assert a.kind in (WalkKind.REPLACE, WalkKind.WAIT), a
        state = a.state
        got.append(state.limit)
    return got


def test_a_paper_buy_below_the_bid_walks_a_tenth_of_the_spread_per_step() -> None:
    # the user's order: 3.10 with the natural market at 4.20 x 4.40 (spread 0.20)
    placed = OrderPrice("BUY", "LMT", 3.10, 4.20, 4.40)
    assert walk_start(placed, PAPER) == (Decimal("-1.10"), Decimal("0.20"))
    state = start_walk(placed, 5, T0, execution=PAPER)
    assert walk_limits(state, [(4.20, 4.40)] * 5, PAPER) == [3.12, 3.14, 3.16, 3.18, 3.20]
    # the market moves up 0.50 and widens to 0.40: the same place in today's market
    # (5.5 spreads below the bid), plus the steps: 4.70 - 5.5 * 0.40 + k * 0.04
    assert walk_limits(state, [(4.70, 5.10)] * 2, PAPER) == [2.54, 2.58]


def test_a_sell_above_the_ask_walks_down_and_never_below_the_bid() -> None:
    placed = OrderPrice("SELL", "LMT", 2.50, 1.00, 2.00)
    state = start_walk(placed, 3, T0, execution=PAPER)
    assert state.start == (Decimal("-0.50"), Decimal("1.00"))
    ex = ExecutionSettings(walk_step=0.3, walk_max_steps=8)
    assert walk_limits(state, [(1.00, 2.00)] * 8, ex) == [
        2.20, 1.90, 1.60, 1.30, 1.00, 1.00, 1.00, 1.00
    ]  # fmt: skip


def test_a_hand_raised_live_buy_walks_up_from_its_limit_not_down_to_the_schedule() -> None:
    placed = OrderPrice("BUY", "LMT", 1.90, 1.00, 2.00)  # the schedule's step 0 is 1.40
    state = start_walk(placed, 1, T0, execution=LIVE)
    assert walk_limits(state, [(1.00, 2.00)] * 3, LIVE) == [2.00, 2.00, 2.00]
    capped = walk_limits(state, [(1.00, 2.00)], LIVE, max_debit=1.95)
    assert capped == [1.95]


def test_walk_start_is_none_where_the_schedule_applies() -> None:
    assert walk_start(OrderPrice("BUY", "LMT", 1.40, 1.00, 2.00), LIVE) is None
    assert walk_start(OrderPrice("SELL", "LMT", 1.60, 1.00, 2.00), LIVE) is None
    assert walk_start(OrderPrice("BUY", "LMT", 2.00, 1.00, 2.00), PAPER) is None
    # at the cap the position was sized for: still the schedule's price
    assert walk_start(OrderPrice("BUY", "LMT", 1.75, 1.00, 2.00), PAPER, max_debit=1.75) is None
    assert walk_start(OrderPrice("BUY", "MKT", None, 1.00, 2.00), PAPER_MKT) is None
    # quotes that cannot place it
    assert walk_start(OrderPrice("BUY", "LMT", 1.40, math.nan, 2.00), LIVE) is None
    assert walk_start(OrderPrice("BUY", "LMT", 1.40, 2.10, 2.00), LIVE) is None
    # a locked market: the distance in price units, so the order stays 0.10 below the bid
    locked = start_walk(OrderPrice("BUY", "LMT", 1.40, 1.50, 1.50), 1, T0, execution=LIVE)
    assert locked.start == (Decimal("-0.10"), Decimal("0"))
    assert walk_limits(locked, [(1.50, 1.50), (1.50, 1.70)], LIVE) == [1.40, 1.44]  # + 2 * 0.02
    # a default order keeps the schedule exactly, with or without execution given
    first = limit_price("BUY", 1.00, 2.00, LIVE)
    assert isinstance(first, OrderPrice)
    assert start_walk(first, 2, T0, execution=LIVE) == start_walk(first, 2, T0)


prices_t = st.integers(min_value=1, max_value=1500)


@settings(max_examples=400, deadline=None)
@given(
    action=st.sampled_from(["BUY", "SELL"]),
    bid_t=st.integers(min_value=-30, max_value=1000),
    width=st.integers(min_value=0, max_value=200),
    limit_t=prices_t,
    step=st.sampled_from([0.05, 0.1, 0.25, 0.3, 1.0]),
    mode=st.sampled_from(["paper", "live"]),
    cap_t=st.one_of(st.none(), st.integers(min_value=1, max_value=1500)),
    moves=st.lists(
        st.tuples(st.integers(min_value=-40, max_value=40), st.integers(min_value=0, max_value=60)),
        min_size=1,
        max_size=12,
    ),
)
def test_walk_steps_move_toward_the_far_side_never_past_it_nor_the_cap(
    action: str,
    bid_t: int,
    width: int,
    limit_t: int,
    step: float,
    mode: str,
    cap_t: int | None,
    moves: list[tuple[int, int]],
) -> None:
    side: Action = "BUY" if action == "BUY" else "SELL"
    ex = ExecutionSettings(mode=mode, walk_step=step, walk_max_steps=len(moves))  # type: ignore[arg-type]
    nb, na = bid_t / 100, (bid_t + width) / 100
    cap = None if cap_t is None or side == "SELL" else cap_t / 100
    limit = limit_t / 100
    if side == "BUY":
        limit = min(limit, na if cap is None else min(na, cap))
        if limit <= 0:
            return  # nothing to buy: limit_price refuses it before anything is placed
    else:
        limit = max(limit, math.ceil(max(nb, 0) * 100) / 100)  # a lower SELL fills at once
    state = start_walk(OrderPrice(side, "LMT", limit, nb, na), 3, T0, execution=ex, max_debit=cap)
    t = T0
    # fixed quotes: each step moves toward the far side by at most walk_step of the spread
    # (plus one tick of rounding), never back, never past the far side nor the cap
    fixed = state
    most = step * (na - nb) + 0.01 + 1e-9
    for _ in moves:
        t += timedelta(seconds=ex.walk_interval_s)
        a = next_walk_action(fixed, t, nb, na, 0, ex, max_debit=cap)
        assert a.kind in (WalkKind.REPLACE, WalkKind.WAIT)
        new, old = a.state.limit, fixed.limit
        assert new is not None and old is not None and on_grid(new)
        if side == "BUY":
            assert old - 1e-9 <= new <= old + most
            assert 0 < new <= na + 1e-9 and (cap is None or new <= cap + 1e-9)
        else:
            assert old - most <= new <= old + 1e-9
            assert new >= max(nb, 0) - 1e-9
        fixed = a.state
    # moving quotes: never past the far side nor the cap, always on the grid
    moving, t = state, T0
    for shift, w in moves:
        t += timedelta(seconds=ex.walk_interval_s)
        qb = (bid_t + shift) / 100
        qa = qb + w / 100
        a = next_walk_action(moving, t, qb, qa, 0, ex, max_debit=cap)
        moving = a.state
        lim = moving.limit
        assert lim is not None and on_grid(lim)
        if a.kind is WalkKind.REPLACE:
            if side == "BUY":
                assert 0 < lim <= max(qa, 0.01) and (cap is None or lim <= cap)
            else:
                assert lim >= max(qb, 0) - 1e-9


# --- account mode --------------------------------------------------------------------------


def test_account_mode_matches() -> None:
    assert check_account_mode("paper", "DU1234567") is None
    assert check_account_mode("paper", " du1234567 ") is None
    assert check_account_mode("live", "U1234567") is None


def test_account_mode_mismatch_is_refused_and_masked() -> None:
    msg = check_account_mode("paper", "U7654321")
    assert msg == (
        "Configured for paper trading but connected to live account U7…321 (paper accounts "
        'start with "D"): refusing to trade.'
    )
    msg = check_account_mode("live", "DU1234567")
    assert msg is not None and "DU…567" in msg and "DU1234567" not in msg
    assert msg.startswith("Configured for live trading but connected to paper account")


@pytest.mark.parametrize("account", [None, "", "   "])
def test_unknown_account_is_refused(account: str | None) -> None:
    msg = check_account_mode("paper", account)
    assert msg is not None and "no account id" in msg


def test_mask_account_id() -> None:
    assert mask_account_id("DU1234567") == "DU…567"
    assert mask_account_id("U1234567") == "U1…567"
    assert mask_account_id("U12345") == "U…"
    assert mask_account_id("X") == "…"
