"""The simulated exchange: fills, commissions, positions, cash, P&L, margin, rejections."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tui_trader.sim.clock import SimClock
from tui_trader.sim.exchange import Exchange, ExchangeError
from tui_trader.sim.market import Market
from tui_trader.sim.types import (
    UNSET_DOUBLE,
    AccountEvent,
    ComboLeg,
    FillEvent,
    OptionContract,
    OrderEvent,
    OrderRequest,
    PositionEvent,
)

FRIDAY_1430 = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def market() -> Market:
    return Market(SimClock(FRIDAY_1430, 1.0, FakeMonotonic()), symbols=["SPY", "AAPL"])


@pytest.fixture
def exchange(market: Market) -> Exchange:
    return Exchange(market)


def stock_order(market: Market, order_id: int, action: str, qty: float, limit: float | None,
                order_type: str = "LMT", tif: str = "DAY") -> OrderRequest:  # fmt: skip
    return OrderRequest(
        order_id=order_id, client_id=1, sec_type="STK", symbol="SPY",
        contract=market.stock("SPY"), legs=(), action=action,  # type: ignore[arg-type]
        quantity=qty, order_type=order_type, limit_price=limit, tif=tif,  # type: ignore[arg-type]
        order_ref="test",
    )  # fmt: skip


def call_spread(market: Market) -> tuple[OptionContract, OptionContract]:
    """A bull call spread on AAPL 34 DTE: long the ATM call, short two strikes higher."""
    expiry = date(2026, 12, 24)
    strikes = market.strikes("AAPL")
    spot = market.mid("AAPL")
    i = min(range(len(strikes)), key=lambda j: abs(strikes[j] - spot))
    long = market.option("AAPL", expiry, strikes[i], "C")
    short = market.option("AAPL", expiry, strikes[i + 2], "C")
    assert long is not None and short is not None
    return long, short


def bag(long: OptionContract, short: OptionContract, order_id: int, action: str, qty: float,
        limit: float | None, order_type: str = "LMT") -> OrderRequest:  # fmt: skip
    return OrderRequest(
        order_id=order_id, client_id=1, sec_type="BAG", symbol="AAPL", contract=None,
        legs=(ComboLeg(long.con_id, 1, "BUY"), ComboLeg(short.con_id, 1, "SELL")),
        action=action, quantity=qty, order_type=order_type,  # type: ignore[arg-type]
        limit_price=limit, order_ref="spread-1",
    )  # fmt: skip


def quotes(market: Market, *contracts: OptionContract) -> list[tuple[float, float]]:
    return [
        (market.option_quote(c.con_id).quote.bid, market.option_quote(c.con_id).quote.ask)
        for c in contracts
    ]


def value(exchange: Exchange, key: str) -> float:
    return float(exchange.account_values()[key][0])


# --- stocks: fully hand-worked numbers ------------------------------------------------


def test_stock_round_trip_with_hand_worked_numbers(market: Market, exchange: Exchange) -> None:
    market.set_price("SPY", 600.004)  # book 600.00 x 600.01
    events = exchange.place(stock_order(market, 1, "BUY", 10, 600.01))
    fill = next(e.execution for e in events if isinstance(e, FillEvent))
    assert (fill.side, fill.shares, fill.price, fill.commission) == ("BOT", 10, 600.01, 1.00)
    assert fill.realized_pnl == UNSET_DOUBLE and fill.order_ref == "test"
    assert exchange.cash == pytest.approx(100_000 - 6000.10 - 1.00)  # 93,998.90
    (pos,) = exchange.positions()
    assert pos.quantity == 10 and pos.avg_cost == pytest.approx(600.11)  # commission included
    assert pos.market_price == pytest.approx(600.005)
    assert pos.unrealized_pnl == pytest.approx(6000.05 - 6001.10)
    assert value(exchange, "NetLiquidation") == pytest.approx(99_998.95)
    assert value(exchange, "AvailableFunds") == pytest.approx(93_998.90)

    market.set_price("SPY", 605.004)  # book 605.00 x 605.01
    events = exchange.place(stock_order(market, 2, "SELL", 10, 605.00))
    fill = next(e.execution for e in events if isinstance(e, FillEvent))
    assert (fill.side, fill.price, fill.commission) == ("SLD", 605.00, 1.00)
    assert fill.realized_pnl == pytest.approx(10 * (605.00 - 0.10 - 600.11))  # 47.90
    assert exchange.positions() == []
    assert exchange.cash == pytest.approx(100_047.90)
    assert exchange.pnl().realized == pytest.approx(47.90)
    assert value(exchange, "RealizedPnL") == pytest.approx(47.90)
    closed = [e.position for e in events if isinstance(e, PositionEvent)]
    assert closed[0].quantity == 0 and closed[0].realized_pnl == pytest.approx(47.90)


def test_resting_limit_fills_at_its_limit_when_the_market_moves_through(
    market: Market, exchange: Exchange
) -> None:
    market.set_price("SPY", 600.004)
    events = exchange.place(stock_order(market, 1, "BUY", 10, 599.50))
    assert [type(e) for e in events] == [OrderEvent]
    assert events[0].order.status == "Submitted"  # type: ignore[union-attr]
    assert not any(isinstance(e, FillEvent) for e in exchange.on_market())
    market.set_price("SPY", 599.404)  # ask 599.41, through the 599.50 bid
    events = exchange.on_market()
    fill = next(e.execution for e in events if isinstance(e, FillEvent))
    assert fill.price == 599.50  # the resting order gets its own price
    assert exchange.cash == pytest.approx(100_000 - 5995.00 - 1.00)
    done = [e.order for e in events if isinstance(e, OrderEvent)]
    assert done[-1].status == "Filled" and done[-1].avg_fill_price == 599.50
    assert any(isinstance(e, AccountEvent) for e in events)
    assert exchange.open_orders() == []


# --- the debit spread -----------------------------------------------------------------


def test_marketable_debit_spread_fills_at_the_natural_debit(
    market: Market, exchange: Exchange
) -> None:
    long, short = call_spread(market)
    (lb, la), (sb, sa) = quotes(market, long, short)
    natural = round(la - sb, 2)
    events = exchange.place(bag(long, short, 7, "BUY", 3, natural + 0.05))

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["OrderEvent", "FillEvent", "FillEvent", "FillEvent", "OrderEvent",
                     "PositionEvent", "PositionEvent", "AccountEvent"]  # fmt: skip
    leg1, leg2, combo = (e.execution for e in events if isinstance(e, FillEvent))
    assert (leg1.contract, leg1.side, leg1.shares, leg1.price) == (long, "BOT", 3, la)
    assert (leg2.contract, leg2.side, leg2.shares, leg2.price) == (short, "SLD", 3, sb)
    assert leg1.commission == leg2.commission == pytest.approx(0.65 * 3)
    assert combo.contract is None and combo.bag_symbol == "AAPL" and combo.side == "BOT"
    assert combo.price == pytest.approx(natural) and combo.commission == 0.0
    assert combo.shares == 3 and combo.cum_qty == 3
    assert len({leg1.exec_id, leg2.exec_id, combo.exec_id}) == 3
    assert all(e.perm_id == leg1.perm_id and e.order_ref == "spread-1" for e in (leg2, combo))

    final = events[4].order  # type: ignore[union-attr]
    assert final.status == "Filled" and final.filled == 3 and final.remaining == 0
    assert final.avg_fill_price == pytest.approx(natural)
    assert final.commission == pytest.approx(3.90)

    # cash: debit * 100 * qty plus 0.65 per contract per leg
    assert exchange.cash == pytest.approx(100_000 - natural * 100 * 3 - 2 * 0.65 * 3)
    positions = {p.contract.con_id: p for p in exchange.positions()}
    assert positions[long.con_id].quantity == 3
    assert positions[long.con_id].avg_cost == pytest.approx(la * 100 + 0.65)
    assert positions[short.con_id].quantity == -3
    assert positions[short.con_id].avg_cost == pytest.approx(sb * 100 - 0.65)
    mid_value = 3 * 100 * ((lb + la) / 2 - (sb + sa) / 2)
    assert value(exchange, "NetLiquidation") == pytest.approx(exchange.cash + mid_value)
    # a debit spread needs no margin beyond the debit paid: available funds = cash
    assert value(exchange, "InitMarginReq") == pytest.approx(mid_value)
    assert value(exchange, "AvailableFunds") == pytest.approx(exchange.cash)
    assert value(exchange, "BuyingPower") == pytest.approx(exchange.cash)
    pnl = exchange.pnl()
    assert pnl.daily == pytest.approx(mid_value - natural * 300 - 3.90)
    assert pnl.unrealized == pytest.approx(pnl.daily)


def test_what_if_margin_is_the_spreads_max_loss(market: Market, exchange: Exchange) -> None:
    long, short = call_spread(market)
    (_, la), (sb, _) = quotes(market, long, short)
    natural = round(la - sb, 2)
    w = exchange.what_if(bag(long, short, 9, "BUY", 4, natural))
    assert w.init_margin_before == 0.0 and w.equity_with_loan_before == pytest.approx(100_000)
    assert w.init_margin_change == pytest.approx(natural * 100 * 4)
    assert w.maint_margin_after == pytest.approx(natural * 100 * 4)
    assert w.commission == w.min_commission == w.max_commission == pytest.approx(5.20)
    assert w.equity_with_loan_change == pytest.approx(-5.20)
    assert w.warning == ""
    assert exchange.open_orders() == [] and exchange.cash == 100_000  # nothing happened
    # a resting (non-marketable) order is previewed at its limit
    w = exchange.what_if(bag(long, short, 10, "BUY", 1, natural - 0.20))
    assert w.init_margin_change == pytest.approx((natural - 0.20) * 100)
    with pytest.raises(ExchangeError) as err:
        exchange.what_if(
            OrderRequest(1, 1, "BAG", "AAPL", None, (ComboLeg(5, 1, "BUY"),), "BUY", 1, "LMT", 1.0)
        )
    assert err.value.code == 200


def test_closing_the_spread_realises_pnl_and_leaves_no_position(
    market: Market, exchange: Exchange
) -> None:
    long, short = call_spread(market)
    (_, la), (sb, _) = quotes(market, long, short)
    exchange.place(bag(long, short, 1, "BUY", 2, round(la - sb, 2)))
    (lb, _), (_, sa) = quotes(market, long, short)
    natural_bid = round(lb - sa, 2)
    events = exchange.place(bag(long, short, 2, "SELL", 2, natural_bid))
    legs = [e.execution for e in events if isinstance(e, FillEvent) and e.execution.contract]
    assert [(x.side, x.price) for x in legs] == [("SLD", lb), ("BOT", sa)]
    expected = 2 * 100 * (natural_bid - (la - sb)) - 4 * 0.65 * 2
    assert sum(x.realized_pnl for x in legs) == pytest.approx(expected)
    assert exchange.positions() == []
    zeros = [e.position for e in events if isinstance(e, PositionEvent)]
    assert [p.quantity for p in zeros] == [0, 0]
    assert exchange.cash == pytest.approx(100_000 + expected)
    assert exchange.pnl().realized == pytest.approx(expected)
    assert exchange.pnl().daily == pytest.approx(expected)
    assert value(exchange, "InitMarginReq") == 0.0
    single = exchange.pnl_single(long.con_id)
    assert single is not None and single[0] == 0 and single[4] == 0.0
    assert exchange.pnl_single(123) is None
    assert len(exchange.executions()) == 6


def test_resting_combo_fills_at_its_limit_with_legs_adding_up(
    market: Market, exchange: Exchange
) -> None:
    long, short = call_spread(market)
    (lb, la), (sb, sa) = quotes(market, long, short)
    limit = round((lb + la) / 2 - (sb + sa) / 2 - 0.30, 2)
    events = exchange.place(bag(long, short, 3, "BUY", 1, limit))
    assert events[0].order.status == "Submitted"  # type: ignore[union-attr]
    assert not any(isinstance(e, FillEvent) for e in exchange.on_market())
    market.set_price("AAPL", market.mid("AAPL") * 0.96)  # the call spread cheapens
    events = exchange.on_market()
    fills = [e.execution for e in events if isinstance(e, FillEvent)]
    assert len(fills) == 3
    leg_long, leg_short, combo = fills
    assert combo.price == limit
    assert leg_long.price - leg_short.price == pytest.approx(limit)
    assert leg_short.price == market.option_quote(short.con_id).quote.bid
    assert exchange.cash == pytest.approx(100_000 - limit * 100 - 1.30)


# --- order management -----------------------------------------------------------------


def test_cancel_and_cancel_errors(market: Market, exchange: Exchange) -> None:
    market.set_price("SPY", 600.004)
    exchange.place(stock_order(market, 4, "BUY", 1, 590.0))
    (event,) = exchange.cancel(1, 4)
    assert isinstance(event, OrderEvent)
    assert event.order.status == "Cancelled" and event.error_code == 202
    assert event.error_text == "Order Canceled - reason:"
    assert exchange.open_orders() == []
    assert [o.status for o in exchange.completed_orders()] == ["Cancelled"]
    with pytest.raises(ExchangeError) as err:
        exchange.cancel(1, 4)
    assert err.value.code == 10148
    with pytest.raises(ExchangeError) as err:
        exchange.cancel(1, 99)
    assert err.value.code == 10147
    assert "99" in err.value.message
    with pytest.raises(ExchangeError) as err:
        exchange.place(stock_order(market, 4, "BUY", 1, 590.0))
    assert err.value.code == 103


def test_modify_price_and_quantity_of_a_working_order(market: Market, exchange: Exchange) -> None:
    market.set_price("SPY", 600.004)
    first = exchange.place(stock_order(market, 5, "BUY", 5, 590.0))[0]
    perm = first.order.perm_id  # type: ignore[union-attr]
    events = exchange.place(stock_order(market, 5, "BUY", 8, 591.0))
    assert [type(e) for e in events] == [OrderEvent]
    (working,) = exchange.open_orders()
    assert working.perm_id == perm and working.remaining == 8
    assert working.request.limit_price == 591.0
    events = exchange.place(stock_order(market, 5, "BUY", 8, 600.50))  # now marketable
    fill = next(e.execution for e in events if isinstance(e, FillEvent))
    assert fill.price == 600.01 and fill.shares == 8  # crossing the spread takes the ask
    assert exchange.open_orders() == []


def test_partial_fills_split_an_order_into_thirds(market: Market) -> None:
    exchange = Exchange(market, partial_fills=True)
    market.set_price("SPY", 600.004)
    events = exchange.place(stock_order(market, 6, "BUY", 6, 600.01))
    states = [e.order for e in events if isinstance(e, OrderEvent)]
    assert states[-1].status == "Submitted" and states[-1].filled == 2
    events = exchange.on_market()
    fills = [e.execution for e in events if isinstance(e, FillEvent)]
    assert [f.shares for f in fills] == [2] and fills[0].cum_qty == 4
    events = exchange.on_market()
    state = [e.order for e in events if isinstance(e, OrderEvent)][-1]
    assert state.status == "Filled" and state.filled == 6 and state.remaining == 0
    assert exchange.positions()[0].quantity == 6
    assert [e.cum_qty for e in exchange.executions()] == [2, 4, 6]


def test_partial_fills_of_a_combo_keep_legs_and_bag_in_step(market: Market) -> None:
    exchange = Exchange(market, partial_fills=True)
    long, short = call_spread(market)
    (_, la), (sb, _) = quotes(market, long, short)
    exchange.place(bag(long, short, 8, "BUY", 3, round(la - sb, 2)))
    exchange.on_market()
    exchange.on_market()
    executions = exchange.executions()
    assert [(e.contract is None, e.cum_qty) for e in executions] == [
        (False, 1), (False, 1), (True, 1), (False, 2), (False, 2), (True, 2),
        (False, 3), (False, 3), (True, 3),
    ]  # fmt: skip
    assert exchange.order(1, 8).status == "Filled"  # type: ignore[union-attr]


# --- rejections -----------------------------------------------------------------------


def rejected(events: list[object]) -> OrderEvent:
    (event,) = events
    assert isinstance(event, OrderEvent)
    assert event.order.status == "Cancelled"
    return event


def test_reject_next_rejects_one_order(market: Market, exchange: Exchange) -> None:
    exchange.reject_next("simulated rejection")
    event = rejected(exchange.place(stock_order(market, 1, "BUY", 1, None, "MKT")))
    assert event.error_code == 201
    assert event.error_text == "Order rejected - reason:simulated rejection"
    assert event.order.reject_reason == "simulated rejection"
    assert exchange.cash == 100_000
    events = exchange.place(stock_order(market, 2, "BUY", 1, None, "MKT"))
    assert any(isinstance(e, FillEvent) for e in events)


def test_insufficient_funds_is_rejected(market: Market, exchange: Exchange) -> None:
    market.set_price("SPY", 600.004)
    event = rejected(exchange.place(stock_order(market, 1, "BUY", 200, 600.01)))
    assert event.error_code == 201
    assert "EQUITY WITH LOAN VALUE" in event.error_text
    assert exchange.cash == 100_000 and exchange.positions() == []
    assert exchange.completed_orders()[0].reject_reason.startswith("YOUR ORDER IS NOT ACCEPTED")


def test_price_sanity_rejections(market: Market, exchange: Exchange) -> None:
    long, short = call_spread(market)
    (_, la), (sb, _) = quotes(market, long, short)
    natural = la - sb
    event = rejected(exchange.place(bag(long, short, 1, "BUY", 1, round(natural * 2 + 1, 2))))
    assert event.error_code == 201 and "price too far" in event.error_text
    event = rejected(exchange.place(bag(long, short, 2, "BUY", 1, -0.50)))
    assert "debit" in event.error_text
    event = rejected(exchange.place(bag(long, short, 3, "BUY", 1.5, 1.0)))
    assert "whole number" in event.error_text
    event = rejected(exchange.place(bag(long, short, 4, "BUY", 1, None)))
    assert "limit price" in event.error_text
    unknown = OrderRequest(5, 1, "BAG", "AAPL", None, (ComboLeg(42, 1, "BUY"),), "BUY", 1,
                           "LMT", 1.0)  # fmt: skip
    event = rejected(exchange.place(unknown))
    assert event.error_code == 200
    wrong = OrderRequest(6, 1, "STK", "SPY", market.stock("SPY"), (), "BUY", 1, "LMT", 600.0,
                         account="DU999999")  # fmt: skip
    assert "account" in rejected(exchange.place(wrong)).error_text
    assert exchange.cash == 100_000
    with pytest.raises(ValueError, match="what_if"):
        exchange.place(OrderRequest(7, 1, "STK", "SPY", market.stock("SPY"), (), "BUY", 1,
                                    "MKT", None, what_if=True))  # fmt: skip


def test_a_modification_that_changes_the_contract_cancels_the_order(
    market: Market, exchange: Exchange
) -> None:
    long, short = call_spread(market)
    exchange.place(bag(long, short, 1, "BUY", 1, 0.05))
    swapped = bag(short, long, 1, "BUY", 1, 0.05)
    event = rejected(exchange.place(swapped))
    assert event.error_code == 201
    assert exchange.open_orders() == []


# --- sessions -------------------------------------------------------------------------


def test_day_orders_are_cancelled_at_the_close(market: Market, exchange: Exchange) -> None:
    market.set_price("SPY", 600.004)
    exchange.place(stock_order(market, 1, "BUY", 1, 550.0))
    exchange.place(stock_order(market, 2, "BUY", 1, 550.0, tif="GTC"))
    market.clock.jump_to(datetime(2026, 11, 20, 21, 0, 1, tzinfo=UTC))
    market.advance()
    events = exchange.on_market()
    cancelled = [e.order for e in events if isinstance(e, OrderEvent)]
    assert [(o.request.order_id, o.status) for o in cancelled] == [(1, "Cancelled")]
    assert [o.request.order_id for o in exchange.open_orders()] == [2]


def test_orders_wait_outside_regular_hours_then_fill_at_the_open() -> None:
    market = Market(SimClock(datetime(2026, 11, 20, 22, 0, tzinfo=UTC), 1.0, FakeMonotonic()),
                    symbols=["SPY"])  # fmt: skip
    exchange = Exchange(market)
    events = exchange.place(stock_order(market, 1, "BUY", 1, None, "MKT"))
    assert [e.order.status for e in events if isinstance(e, OrderEvent)] == ["PreSubmitted"]
    assert not any(isinstance(e, FillEvent) for e in exchange.on_market())
    assert exchange.open_orders()[0].status == "PreSubmitted"
    market.clock.jump_to(datetime(2026, 11, 23, 14, 31, tzinfo=UTC))  # Monday 09:31 EST
    market.advance()
    events = exchange.on_market()
    statuses = [e.order.status for e in events if isinstance(e, OrderEvent)]
    assert statuses == ["Submitted", "Filled"]
    fill = next(e.execution for e in events if isinstance(e, FillEvent))
    assert fill.price == market.quote("SPY").ask


def test_expired_options_are_settled_at_intrinsic_value(market: Market, exchange: Exchange) -> None:
    expiry = market.expiries("SPY")[0]
    assert expiry == date(2026, 11, 20)
    spot = market.mid("SPY")
    strike = max(k for k in market.strikes("SPY") if k < spot - 5)
    call = market.option("SPY", expiry, strike, "C")
    assert call is not None
    ask = market.option_quote(call.con_id).quote.ask
    exchange.place(OrderRequest(1, 1, "OPT", "SPY", call, (), "BUY", 1, "LMT", ask))
    market.clock.jump_to(datetime(2026, 11, 20, 21, 30, tzinfo=UTC))
    market.advance()
    close = market.mid("SPY")
    events = exchange.on_market()
    assert [p.position.quantity for p in events if isinstance(p, PositionEvent)] == [0]
    intrinsic = (close - strike) * 100
    assert exchange.positions() == []
    assert exchange.cash == pytest.approx(100_000 - ask * 100 - 0.65 + intrinsic)
    assert exchange.pnl().realized == pytest.approx(intrinsic - ask * 100 - 0.65)
