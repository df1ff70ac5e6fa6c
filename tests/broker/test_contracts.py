"""SPEC 6's combo contract and order as ib_insync objects: BAG legs, signs, tick grid."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.broker.contracts import (
    combo_contract,
    combo_limit,
    combo_order,
    leg_contract,
    on_tick,
)
from tui_trader.core.models import SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import OrderPrice, limit_price
from tui_trader.core.settings import ExecutionSettings

ACCOUNT = "DU123456"
REF = "tt-0123456789ab"


def spec(
    *,
    direction: str = "LONG",
    action: str = "BUY",
    limit: float | None = 2.48,
    quantity: int = 2,
    order_type: str = "LMT",
    long_k: float = 250.0,
    short_k: float = 260.0,
) -> SpreadOrderSpec:
    right = "C" if direction == "LONG" else "P"
    return SpreadOrderSpec(
        underlying="AAPL",
        direction=direction,  # type: ignore[arg-type]
        legs=(
            SpreadLeg(
                con_id=1001, symbol="AAPL", expiry="20261218", strike=long_k, right=right,
                action="BUY",
            ),
            SpreadLeg(
                con_id=1002, symbol="AAPL", expiry="20261218", strike=short_k, right=right,
                action="SELL",
            ),
        ),
        action=action,  # type: ignore[arg-type]
        quantity=quantity,
        order_type=order_type,  # type: ignore[arg-type]
        limit_price=limit,
        mode="paper",
    )  # fmt: skip


def test_bag_contract_buys_the_long_leg_and_sells_the_short_leg() -> None:
    c = combo_contract(spec())
    assert (c.secType, c.exchange, c.currency, c.symbol) == ("BAG", "SMART", "USD", "AAPL")
    legs = [(g.conId, g.ratio, g.action, g.exchange) for g in c.comboLegs]
    assert legs == [(1001, 1, "BUY", "SMART"), (1002, 1, "SELL", "SMART")]


def test_closing_uses_the_same_combo_with_a_sell() -> None:
    close = spec(action="SELL", limit=3.15)
    c = combo_contract(close)
    assert [(g.conId, g.action) for g in c.comboLegs] == [(1001, "BUY"), (1002, "SELL")]
    order = combo_order(close, account=ACCOUNT, order_ref=REF, combo_tick=0.01)
    assert (order.action, order.lmtPrice, order.totalQuantity) == ("SELL", 3.15, 2.0)


def test_bear_put_legs_keep_long_first() -> None:
    c = combo_contract(spec(direction="SHORT", long_k=240.0, short_k=230.0))
    assert [(g.conId, g.action) for g in c.comboLegs] == [(1001, "BUY"), (1002, "SELL")]


def test_opening_order_fields() -> None:
    order = combo_order(spec(), account=ACCOUNT, order_ref=REF, combo_tick=0.01)
    assert order.action == "BUY"
    assert order.orderType == "LMT"
    assert order.lmtPrice == 2.48
    assert order.totalQuantity == 2.0
    assert order.orderRef == REF
    assert order.tif == "DAY"
    assert order.transmit is True
    assert order.account == ACCOUNT
    assert order.whatIf is False


def test_market_order_has_no_limit() -> None:
    order = combo_order(
        spec(order_type="MKT", limit=None), account=ACCOUNT, order_ref=REF, combo_tick=0.01
    )
    assert order.orderType == "MKT"
    assert order.lmtPrice == 1.7976931348623157e308  # ib_insync's unset: not sent as a price


def test_an_order_without_account_is_refused() -> None:
    with pytest.raises(ValueError, match="account"):
        combo_order(spec(), account="", order_ref=REF, combo_tick=0.01)


def test_off_grid_limits_round_toward_our_side() -> None:
    assert on_tick(1.853, 0.01, "BUY") == 1.85
    assert on_tick(1.853, 0.01, "SELL") == 1.86
    assert on_tick(1.85, 0.01, "BUY") == 1.85  # on the grid: exactly the decimal
    assert on_tick(1.07, 0.05, "BUY") == 1.05
    assert on_tick(1.07, 0.05, "SELL") == 1.10


def test_a_buy_rounding_to_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="positive debit"):
        combo_limit(spec(limit=0.004), 0.004, 0.01)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1.7976931348623157e308, None])
def test_unusable_limits_are_refused(bad: float | None) -> None:
    s = spec()
    with pytest.raises(ValueError):
        combo_limit(s, bad, 0.01)


def test_leg_contract_is_identified_by_con_id() -> None:
    leg = spec().long_leg
    c = leg_contract(leg)
    assert (c.secType, c.conId, c.strike, c.right, c.exchange) == ("OPT", 1001, 250.0, "C", "SMART")
    assert c.lastTradeDateOrContractMonth == "20261218"


# --- properties -----------------------------------------------------------------------------

tick_choices = st.sampled_from([0.01, 0.05, 0.1])
cents = st.integers(min_value=-300, max_value=3000)


@settings(max_examples=200, deadline=None)
@given(
    long_bid=cents, long_spread=st.integers(0, 60), short_bid=cents,
    short_spread=st.integers(0, 60), tick=tick_choices, live=st.booleans(),
    qty=st.integers(1, 10),
)  # fmt: skip
def test_every_opening_order_is_a_positive_debit_on_the_grid(
    long_bid: int,
    long_spread: int,
    short_bid: int,
    short_spread: int,
    tick: float,
    live: bool,
    qty: int,
) -> None:
    """Price real leg quotes with core.pricing, build the order: BUY with lmtPrice > 0 on the
    tick grid, legs BUY long / SELL short; the SELL close mirrors it with a limit >= 0."""
    lb, la = long_bid / 100, (long_bid + long_spread) / 100
    sb, sa = short_bid / 100, (short_bid + short_spread) / 100
    ex = ExecutionSettings(mode="live" if live else "paper", combo_tick=tick)
    nb, na = round(lb - sa, 2), round(la - sb, 2)
    if lb < 0 or sb < 0 or la <= 0 or sa <= 0:
        return
    buy = limit_price("BUY", nb, na, ex)
    if not isinstance(buy, OrderPrice):
        return  # refused (no debit): nothing to build
    assert buy.limit is not None
    opening = spec(limit=buy.limit, quantity=qty)
    order = combo_order(opening, account=ACCOUNT, order_ref=REF, combo_tick=tick)
    assert order.action == "BUY"
    assert order.lmtPrice > 0  # never a credit
    assert (Decimal(repr(order.lmtPrice)) / Decimal(repr(tick))) % 1 == 0
    assert order.lmtPrice <= na + 1e-9  # never above the natural ask
    legs = combo_contract(opening).comboLegs
    assert [(g.conId, g.action, g.ratio) for g in legs] == [(1001, "BUY", 1), (1002, "SELL", 1)]

    sell = limit_price("SELL", nb, na, ex)
    assert isinstance(sell, OrderPrice) and sell.limit is not None
    closing = spec(action="SELL", limit=sell.limit, quantity=qty)
    close_order = combo_order(closing, account=ACCOUNT, order_ref=REF, combo_tick=tick)
    assert close_order.action == "SELL"
    assert close_order.lmtPrice >= 0
    assert (Decimal(repr(close_order.lmtPrice)) / Decimal(repr(tick))) % 1 == 0
    assert combo_contract(closing).comboLegs == legs  # the very same combo


@settings(max_examples=200, deadline=None)
@given(
    price=st.decimals(min_value="0.01", max_value="99.999", places=3),
    tick=tick_choices,
)
def test_rounding_never_pays_more_nor_accepts_less(price: Decimal, tick: float) -> None:
    p = float(price)
    t = Decimal(repr(tick))
    buy, sell = on_tick(p, tick, "BUY"), on_tick(p, tick, "SELL")
    assert Decimal(repr(buy)) % t == 0 and Decimal(repr(sell)) % t == 0
    assert Decimal(repr(buy)) <= price < Decimal(repr(buy)) + t
    assert Decimal(repr(sell)) - t < price <= Decimal(repr(sell))
    if price % t == 0:
        assert buy == sell == float(price)
