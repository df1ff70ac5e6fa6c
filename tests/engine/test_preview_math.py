"""The numbers behind an order preview: the limit a trader may move (on the tick grid, never
past the natural side), the worst debit, net greeks and the risk gates' counts."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.models import IntentStatus, OrderIntent, SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import NaturalQuotes
from tui_trader.engine.preview import (
    busy_underlyings,
    clamp_limit,
    entries_on,
    limit_bounds,
    mid_of,
    net_greek,
    open_spread_count,
    step_limit,
    worst_debit,
)
from tui_trader.state.store import PositionLeg, PreviewLeg, SpreadPosition

TODAY = date(2026, 11, 18)
NOON_ET = datetime(2026, 11, 18, 17, 0, tzinfo=UTC)
LATE_YESTERDAY_ET = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)  # 22:00 ET on the 17th


def test_buy_limits_on_the_grid_between_one_tick_and_the_natural_ask() -> None:
    nat = NaturalQuotes(1.20, 1.85)
    assert limit_bounds("BUY", nat, 0.01) == (0.01, 1.85)
    assert clamp_limit("BUY", 2.00, nat, 0.01) == 1.85
    assert clamp_limit("BUY", 0.004, nat, 0.01) == 0.01
    assert clamp_limit("BUY", 1.503, nat, 0.01) == 1.50
    assert clamp_limit("BUY", 1.0, nat, 0.01) == 1.0  # below the bid is allowed: patient
    assert clamp_limit("BUY", 2.00, nat, 0.01, max_debit=1.70) == 1.70  # the cost cap
    assert limit_bounds("BUY", NaturalQuotes(1.20, 1.857), 0.05) == (0.05, 1.85)


def test_sell_limits_between_the_natural_bid_and_ask_never_negative() -> None:
    nat = NaturalQuotes(1.20, 1.85)
    assert limit_bounds("SELL", nat, 0.01) == (1.20, 1.85)
    assert clamp_limit("SELL", 1.00, nat, 0.01) == 1.20
    assert clamp_limit("SELL", 2.50, nat, 0.01) == 1.85
    assert limit_bounds("SELL", NaturalQuotes(-0.05, 0.10), 0.01) == (0.0, 0.10)
    assert limit_bounds("SELL", NaturalQuotes(1.203, 1.207), 0.01) == (1.21, 1.21)


def test_step_limit_and_worst_debit_are_exact() -> None:
    assert step_limit(1.85, -1, 0.01) == 1.84
    assert step_limit(0.1, 2, 0.05) == 0.2
    assert step_limit(1.85, -100, 0.01) == 0.85
    assert worst_debit(1.50, 1.85, 5.0) == 1.85  # may be walked to the natural ask
    assert worst_debit(1.90, 1.85, 5.0) == 1.90
    assert worst_debit(1.90, 1.85, 1.70) == 1.70
    assert worst_debit(None, 1.85, 5.0) == 1.85


@settings(max_examples=200, deadline=None)
@given(
    bid=st.floats(-2.0, 20.0, allow_nan=False),
    width=st.floats(0.0, 5.0, allow_nan=False),
    limit=st.floats(-5.0, 40.0, allow_nan=False),
    tick=st.sampled_from([0.01, 0.05, 0.1]),
    action=st.sampled_from(["BUY", "SELL"]),
)
def test_clamped_limits_stay_on_the_grid_and_inside_the_market(
    bid: float, width: float, limit: float, tick: float, action: str
) -> None:
    nat = NaturalQuotes(bid, bid + width)
    if action == "BUY" and nat.ask < tick:
        return  # no debit to buy: pricing refuses before a limit exists
    got = clamp_limit(action, limit, nat, tick)  # type: ignore[arg-type]
    ticks = Decimal(repr(got)) / Decimal(repr(tick))
    assert ticks == ticks.to_integral_value()  # exactly on the grid
    lo, hi = limit_bounds(action, nat, tick)  # type: ignore[arg-type]
    assert lo <= got <= hi
    if action == "BUY":
        assert tick <= got <= nat.ask + 1e-12
    else:
        assert got >= 0.0 and got >= nat.bid - 1e-12
        if got > lo:
            assert got <= nat.ask + 1e-12


def test_mid_and_net_greeks() -> None:
    assert mid_of(1.0, 1.2) == 1.1
    for bad in ((None, 1.0), (1.2, 1.0), (-0.1, 1.0), (0.5, 0.0), (math.nan, 1.0)):
        assert mid_of(*bad) is None
    long_leg = PreviewLeg(1, "BUY", "20261218", 200.0, "C", delta=0.45, theta=-0.08)
    short_leg = PreviewLeg(2, "SELL", "20261218", 205.0, "C", delta=0.30, theta=-0.06)
    assert net_greek((long_leg, short_leg), "delta") == 0.45 - 0.30
    assert net_greek((long_leg, short_leg), "theta") == -0.08 - -0.06
    assert net_greek((long_leg, short_leg), "vega") is None  # unknown stays unknown
    assert net_greek((long_leg,), "delta") is None


def spec(symbol: str, cons: tuple[int, int], action: str = "BUY") -> SpreadOrderSpec:
    legs = tuple(
        SpreadLeg(con_id=c, symbol=symbol, expiry="20261218", strike=k, right="C", action=a)
        for c, k, a in ((cons[0], 100.0, "BUY"), (cons[1], 105.0, "SELL"))
    )
    return SpreadOrderSpec(
        underlying=symbol, direction="LONG", legs=legs, action=action,  # type: ignore[arg-type]
        quantity=2, order_type="LMT", limit_price=1.5, mode="paper",
    )  # fmt: skip


def intent(n: int, s: SpreadOrderSpec, status: IntentStatus, *, filled: int = 0,
           at: datetime = NOON_ET) -> OrderIntent:  # fmt: skip
    return OrderIntent(
        intent_id=f"tt-{n:012x}", created_at=at, updated_at=at, spec=s, status=status,
        filled=filled,
    )  # fmt: skip


def position(symbol: str, cons: tuple[int, ...], sec_type: str = "OPT") -> SpreadPosition:
    legs = tuple(
        PositionLeg(c, symbol, "20261218", 100.0 + 5 * k, "C", 1.0 if k == 0 else -1.0, 150.0,
                    sec_type=sec_type)
        for k, c in enumerate(cons)
    )  # fmt: skip
    return SpreadPosition(underlying=symbol, legs=legs)


def test_gate_counts_from_positions_and_the_journal() -> None:
    spreads = (position("AAPL", (1, 2)), position("MSFT", (3, 4)), position("XOM", (9,), "STK"))
    intents = [
        intent(1, spec("AAPL", (1, 2)), IntentStatus.FILLED, filled=2),  # the AAPL position
        intent(2, spec("NVDA", (5, 6)), IntentStatus.WORKING),  # working, nothing filled
        intent(3, spec("AMD", (7, 8)), IntentStatus.REJECTED),
        intent(4, spec("AMD", (7, 8)), IntentStatus.CANCELLED),  # cancelled unfilled
        intent(5, spec("TSLA", (10, 11)), IntentStatus.CANCELLED, filled=1),
        intent(6, spec("MSFT", (3, 4), "SELL"), IntentStatus.UNKNOWN),  # a close, unknown
        intent(7, spec("META", (12, 13)), IntentStatus.FILLED, filled=2, at=LATE_YESTERDAY_ET),
    ]
    # AAPL and MSFT spreads + the working NVDA opening; the stock is not a spread
    assert open_spread_count(spreads, intents) == 3
    # today (New York): AAPL filled, NVDA working, TSLA partly filled; not the rejected,
    # not the unfilled cancel, not the close, not yesterday's META
    assert entries_on(intents, TODAY) == 3
    assert busy_underlyings(spreads, intents) == frozenset({"AAPL", "MSFT", "XOM", "NVDA"})
    working_filled = intents[1].model_copy(
        update={"status": IntentStatus.PARTIALLY_FILLED, "filled": 1}
    )
    assert open_spread_count(spreads, [working_filled]) == 2  # shown as a position then
