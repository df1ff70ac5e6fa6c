"""The simulated gateway against ib_insync over real loopback sockets.

Market time only moves when a test advances the injected monotonic source and pumps the
gateway; the short real waits are socket round-trips (``wait_until`` with a timeout).
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ib_insync import (
    IB,
    ComboLeg,
    Contract,
    ExecutionFilter,
    LimitOrder,
    MarketOrder,
    Option,
    Order,
    Stock,
)

from tui_trader.core.options import bs_greeks
from tui_trader.sim.gateway import GatewayLimits, SimGateway, serve
from tui_trader.sim.historical import HistoricalPacing
from tui_trader.sim.types import OptionContract

if TYPE_CHECKING:
    from conftest import Connect, FakeMonotonic, MakeGateway, RawConnect, Until

ACCOUNT = "DU123456"


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: seen.append((req_id, code, text))
    return seen


async def atm_call_spread(gw: SimGateway, ib: IB) -> tuple[Option, Option]:
    """A call debit spread around the money ~3-5 weeks out, both legs qualified."""
    spot = gw.market.mid("AAPL")
    today = gw.market.time().date()
    expiry = next(e for e in gw.market.expiries("AAPL") if (e - today).days >= 21)
    strikes = sorted(gw.market.strikes("AAPL"))
    k1 = min(strikes, key=lambda k: abs(k - spot))
    k2 = strikes[strikes.index(k1) + 1]
    long_leg = Option("AAPL", expiry.strftime("%Y%m%d"), k1, "C", "SMART")
    short_leg = Option("AAPL", expiry.strftime("%Y%m%d"), k2, "C", "SMART")
    assert len(await ib.qualifyContractsAsync(long_leg, short_leg)) == 2
    return long_leg, short_leg


def bag_of(long_leg: Option, short_leg: Option) -> Contract:
    return Contract(
        secType="BAG",
        symbol="AAPL",
        exchange="SMART",
        currency="USD",
        comboLegs=[
            ComboLeg(conId=long_leg.conId, ratio=1, action="BUY", exchange="SMART"),
            ComboLeg(conId=short_leg.conId, ratio=1, action="SELL", exchange="SMART"),
        ],
    )


def natural_debit(gw: SimGateway, long_leg: Option, short_leg: Option) -> float:
    ask = gw.market.option_quote(long_leg.conId).quote.ask
    bid = gw.market.option_quote(short_leg.conId).quote.bid
    return ask - bid


# ---------------------------------------------------------------------------- connect


async def test_ib_insync_connect_sequence_completes(
    gateway: SimGateway, connect: Connect, t_start: datetime
) -> None:
    ib = await connect(1)
    assert ib.isConnected()
    assert ib.managedAccounts() == [ACCOUNT]
    assert ib.positions() == []
    assert ib.openTrades() == []
    values = {v.tag: v.value for v in ib.accountValues() if v.currency in ("USD", "")}
    assert values["NetLiquidation"] == "100000.00"
    assert values["AccountCode"] == ACCOUNT
    assert gateway.clients.keys() == {1}
    now = await ib.reqCurrentTimeAsync()
    assert now == t_start.replace(microsecond=0) == gateway.sim_time().replace(microsecond=0)


async def test_next_valid_id_and_req_ids(connect: Connect) -> None:
    ib = await connect(3)
    first = ib.client.getReqId()
    assert first >= 1


# ------------------------------------------------------------------------- contracts


async def test_qualify_stock_and_option(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect()
    stock = Stock("AAPL", "SMART", "USD")
    assert await ib.qualifyContractsAsync(stock) == [stock]
    assert stock.conId == gateway.market.stock("AAPL").con_id  # type: ignore[union-attr]
    assert (stock.primaryExchange, stock.exchange) == ("NASDAQ", "SMART")
    details = await ib.reqContractDetailsAsync(stock)
    assert details[0].longName == "Apple Inc"
    assert details[0].stockType == "COMMON"
    assert "20261118:0930-20261118:1600" in details[0].liquidHours

    long_leg, _ = await atm_call_spread(gateway, ib)
    listed = gateway.market.contract(long_leg.conId)
    assert isinstance(listed, OptionContract)
    assert (long_leg.multiplier, long_leg.right, long_leg.strike) == ("100", "C", listed.strike)
    assert long_leg.localSymbol == listed.local_symbol


async def test_partial_option_description_returns_every_match(
    gateway: SimGateway, connect: Connect
) -> None:
    ib = await connect()
    expiry = gateway.market.expiries("AAPL")[1]
    calls = await ib.reqContractDetailsAsync(Option("AAPL", expiry.strftime("%Y%m%d"), right="C"))
    expected = gateway.market.options("AAPL", expiry, "C")
    assert len(calls) == len(expected) > 10
    assert {d.contract.conId for d in calls} == {o.con_id for o in expected}
    month = await ib.reqContractDetailsAsync(
        Option("AAPL", expiry.strftime("%Y%m"), expected[0].strike, "C")
    )
    in_month = [
        e for e in gateway.market.expiries("AAPL") if e.strftime("%Y%m") == expiry.strftime("%Y%m")
    ]
    assert len(month) == len(in_month)


async def test_unknown_contract_is_error_200(connect: Connect) -> None:
    ib = await connect()
    errors = errors_of(ib)
    assert await ib.reqContractDetailsAsync(Stock("NOPE", "SMART", "USD")) == []
    assert await ib.qualifyContractsAsync(Option("AAPL", "20261118", 1.0, "C", "SMART")) == []
    codes = [(code, text) for _, code, text in errors]
    assert codes == [(200, "No security definition has been found for the request")] * 2


async def test_sec_def_opt_params(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect()
    con_id = gateway.market.stock("AAPL").con_id  # type: ignore[union-attr]
    chains = await ib.reqSecDefOptParamsAsync("AAPL", "", "STK", con_id)
    assert len(chains) == 1
    chain = chains[0]
    assert (chain.exchange, chain.underlyingConId, chain.multiplier) == (
        "SMART",
        str(con_id),
        "100",
    )
    assert chain.expirations == [e.strftime("%Y%m%d") for e in gateway.market.expiries("AAPL")]
    assert chain.strikes == sorted(gateway.market.strikes("AAPL"))


# ----------------------------------------------------------------------- market data


async def test_streaming_option_quotes_with_greeks_matching_black_scholes(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, wait_until: Until
) -> None:
    ib = await connect()
    long_leg, _ = await atm_call_spread(gateway, ib)
    ticker = ib.reqMktData(long_leg)
    await wait_until(lambda: ticker.modelGreeks is not None and ticker.bidGreeks is not None)
    q = gateway.market.option_quote(long_leg.conId)
    assert (ticker.bid, ticker.ask) == (q.quote.bid, q.quote.ask)
    assert ticker.bidSize > 0 and ticker.askSize > 0
    assert ticker.minTick == 0.01

    # greeks as IB reports them: recomputing Black-Scholes at the reported IV, spot and
    # time to expiry gives the same numbers (to float rounding: the wire carries repr()).
    listed = gateway.market.contract(long_leg.conId)
    assert isinstance(listed, OptionContract)
    t = (gateway.market.expiry_close(listed.expiry) - gateway.market.time()).total_seconds()
    t /= 365.0 * 86400.0
    prices = {id(ticker.bidGreeks): q.quote.bid, id(ticker.askGreeks): q.quote.ask}
    for comp in (ticker.modelGreeks, ticker.bidGreeks, ticker.askGreeks):
        assert comp is not None and comp.impliedVol is not None
        g = bs_greeks(comp.undPrice, listed.strike, t, gateway.market.rate, 0.0,
                      comp.impliedVol, True)  # fmt: skip
        tol = 1e-9
        assert comp.delta == pytest.approx(float(g.delta), abs=tol)
        assert comp.gamma == pytest.approx(float(g.gamma), abs=tol)
        assert comp.vega == pytest.approx(float(g.vega), abs=tol)
        assert comp.theta == pytest.approx(float(g.theta), abs=tol)
        # the model line prices at its IV; bid/ask lines carry the quote and its implied vol
        expected_price = prices.get(id(comp), float(g.price))
        assert comp.optPrice == pytest.approx(expected_price, abs=1e-6)
    assert ticker.modelGreeks is not None
    assert 0.05 < ticker.modelGreeks.impliedVol < 1.5  # type: ignore[operator]

    # the market moves: the line streams the change
    before = (ticker.bid, ticker.ask, ticker.modelGreeks.undPrice)
    updates = 0

    def on_update(_: Any) -> None:
        nonlocal updates
        updates += 1

    ticker.updateEvent += on_update
    fake_time.advance(120)
    await gateway.pump()
    await wait_until(lambda: updates > 0)
    assert ticker.modelGreeks.undPrice != before[2]


async def test_streaming_stock_quote(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, wait_until: Until
) -> None:
    ib = await connect()
    stock = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    ticker = ib.reqMktData(stock)
    await wait_until(lambda: not math.isnan(ticker.close) and not math.isnan(ticker.volume))
    q = gateway.market.quote("SPY")
    assert (ticker.bid, ticker.ask, ticker.last, ticker.close) == (q.bid, q.ask, q.last, q.close)
    assert (ticker.high, ticker.low, ticker.volume) == (q.high, q.low, q.volume)
    assert ticker.bid < ticker.ask
    gateway.set_price("SPY", round(q.bid + 3.0, 2))
    await gateway.pump()
    await wait_until(lambda: ticker.bid > q.bid + 2.5)
    ib.cancelMktData(stock)
    await asyncio.sleep(0.01)
    assert not any(s.lines for s in gateway.clients.values())


async def test_snapshot_is_one_round_and_end(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect()
    stock = Stock("MSFT", "SMART", "USD")
    (ticker,) = await asyncio.wait_for(ib.reqTickersAsync(stock), 3)
    assert ticker.bid == gateway.market.quote("MSFT").bid
    assert not any(s.lines for s in gateway.clients.values())


async def test_combo_quote_is_the_natural_spread(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    long_leg, short_leg = await atm_call_spread(gateway, ib)
    ticker = ib.reqMktData(bag_of(long_leg, short_leg))
    await wait_until(lambda: not math.isnan(ticker.ask))
    q1 = gateway.market.option_quote(long_leg.conId).quote
    q2 = gateway.market.option_quote(short_leg.conId).quote
    assert ticker.ask == pytest.approx(q1.ask - q2.bid, abs=1e-9)
    assert ticker.bid == pytest.approx(q1.bid - q2.ask, abs=1e-9)


async def test_more_than_100_lines_is_error_101(
    make_gateway: MakeGateway, wait_until: Until
) -> None:
    gw = await make_gateway(limits=GatewayLimits(max_messages_per_second=0))
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1)
        ib.client.MaxRequests = 0  # no client-side throttle: 101 requests at once
        errors = errors_of(ib)
        options = gw.market.options("AAPL")[:101]
        assert len(options) == 101
        contracts = [Option(conId=o.con_id, exchange="SMART") for o in options]
        for c in contracts:
            ib.reqMktData(c)
        await wait_until(lambda: errors, what="error 101")
        assert [code for _, code, _ in errors] == [101]
        assert errors[0][2] == "Max number of tickers has been reached"
        assert len(gw.clients[1].lines) == 100
    finally:
        ib.disconnect()
        await gw.stop()


# --------------------------------------------------------------------------- orders


async def test_bag_debit_spread_fills_with_legs_commissions_and_positions(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    long_leg, short_leg = await atm_call_spread(gateway, ib)
    debit = natural_debit(gateway, long_leg, short_leg)
    ask1 = gateway.market.option_quote(long_leg.conId).quote.ask
    bid2 = gateway.market.option_quote(short_leg.conId).quote.bid

    sequence: list[str] = []
    ib.orderStatusEvent += lambda t: sequence.append(f"status:{t.orderStatus.status}")
    ib.execDetailsEvent += lambda t, f: sequence.append(f"exec:{f.contract.secType}")
    ib.positionEvent += lambda p: sequence.append("position")
    ib.updatePortfolioEvent += lambda p: sequence.append("portfolio")
    ib.commissionReportEvent += lambda t, f, r: sequence.append("commission")

    trade = ib.placeOrder(bag_of(long_leg, short_leg), LimitOrder("BUY", 2, round(debit + 0.05, 2)))
    await wait_until(lambda: sequence.count("commission") == 3, what="3 commission reports")
    assert trade.orderStatus.status == "Filled"
    assert trade.orderStatus.avgFillPrice == pytest.approx(debit, abs=1e-9)  # taker: natural
    assert trade.orderStatus.filled == 2

    legs = {f.contract.conId: f for f in trade.fills if f.contract.secType == "OPT"}
    assert set(legs) == {long_leg.conId, short_leg.conId}
    assert legs[long_leg.conId].execution.side == "BOT"
    assert legs[short_leg.conId].execution.side == "SLD"
    assert legs[long_leg.conId].execution.price == ask1
    assert legs[short_leg.conId].execution.price == bid2
    for f in legs.values():
        assert f.execution.shares == 2
        assert f.commissionReport.commission == pytest.approx(1.30)  # 0.65 x 2 contracts
    (bag_fill,) = [f for f in trade.fills if f.contract.secType == "BAG"]
    assert bag_fill.commissionReport.commission == 0.0
    assert bag_fill.execution.price == pytest.approx(debit, abs=1e-9)

    # IB's order: Submitted, fills (legs and the BAG), Filled, positions, commissions
    assert sequence.index("status:Submitted") < sequence.index("exec:OPT")
    assert sequence.index("exec:BAG") < sequence.index("status:Filled")
    assert sequence.index("status:Filled") < sequence.index("position")
    assert max(i for i, s in enumerate(sequence) if s in ("position", "portfolio")) < (
        sequence.index("commission")
    )

    positions = {p.contract.conId: p for p in ib.positions()}
    assert positions[long_leg.conId].position == 2
    assert positions[short_leg.conId].position == -2
    # IB's average cost: per contract, with the multiplier and the commission
    assert positions[long_leg.conId].avgCost == pytest.approx(ask1 * 100 + 0.65)
    assert positions[short_leg.conId].avgCost == pytest.approx(bid2 * 100 - 0.65)
    assert positions[long_leg.conId].contract.exchange == ""  # as IB reports option positions
    portfolio = {i.contract.conId: i for i in ib.portfolio()}
    assert portfolio[long_leg.conId].position == 2
    assert portfolio[short_leg.conId].position == -2


async def test_resting_order_fills_when_the_market_comes(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    stock = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    bid = gateway.market.quote("AAPL").bid
    limit = round(bid - 1.0, 2)
    trade = ib.placeOrder(stock, LimitOrder("BUY", 10, limit))
    await wait_until(lambda: trade.orderStatus.status == "Submitted")
    await gateway.pump()
    await asyncio.sleep(0.01)
    assert trade.orderStatus.status == "Submitted"
    assert [t.order.orderId for t in ib.openTrades()] == [trade.order.orderId]

    gateway.set_price("AAPL", limit - 0.40)
    await gateway.pump()
    await wait_until(lambda: trade.orderStatus.status == "Filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(limit, abs=1e-9)  # maker: its limit
    assert trade.fills[0].execution.shares == 10
    await wait_until(lambda: ib.positions())
    assert ib.positions()[0].position == 10


async def test_cancel_a_working_order(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    errors = errors_of(ib)
    stock = Stock("MSFT", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    limit = round(gateway.market.quote("MSFT").bid - 2.0, 2)
    trade = ib.placeOrder(stock, LimitOrder("BUY", 5, limit))
    await wait_until(lambda: trade.orderStatus.status == "Submitted")
    ib.cancelOrder(trade.order)
    await wait_until(lambda: trade.orderStatus.status == "Cancelled")
    await wait_until(lambda: errors)
    assert errors == [(trade.order.orderId, 202, "Order Canceled - reason:")]
    assert ib.openTrades() == []
    # cancelling it again: IB's "cannot be cancelled"
    ib.cancelOrder(trade.order)
    await wait_until(lambda: len(errors) == 2)
    assert errors[1][1] == 10148


async def test_modify_a_working_order_by_placing_it_again(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    stock = Stock("MSFT", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    ask = gateway.market.quote("MSFT").ask
    order = LimitOrder("BUY", 5, round(ask - 3.0, 2))
    trade = ib.placeOrder(stock, order)
    await wait_until(lambda: trade.orderStatus.status == "Submitted")
    order.lmtPrice = round(ask + 0.01, 2)  # now marketable
    ib.placeOrder(stock, order)
    await wait_until(lambda: trade.orderStatus.status == "Filled")
    assert trade.orderStatus.avgFillPrice == pytest.approx(ask, abs=1e-9)


async def test_what_if_margin_change_is_the_max_loss(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect()
    long_leg, short_leg = await atm_call_spread(gateway, ib)
    debit = round(natural_debit(gateway, long_leg, short_leg), 2)
    state = await asyncio.wait_for(
        ib.whatIfOrderAsync(bag_of(long_leg, short_leg), LimitOrder("BUY", 3, debit)), 3
    )
    # a debit spread can lose at most what was paid: debit x 100 x 3
    assert float(state.initMarginChange) == pytest.approx(debit * 100 * 3, abs=0.01)
    assert float(state.maintMarginChange) == pytest.approx(debit * 100 * 3, abs=0.01)
    assert float(state.initMarginBefore) == 0.0
    assert state.commission == pytest.approx(0.65 * 2 * 3)
    assert state.commissionCurrency == "USD"
    assert isinstance(state.initMarginChange, str)  # IB sends the margins as strings
    assert ib.openTrades() == [] and ib.positions() == []


async def test_order_errors_reach_the_client(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    errors = errors_of(ib)
    stock = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    ask = gateway.market.quote("AAPL").ask
    far = ib.placeOrder(stock, LimitOrder("BUY", 1, round(ask * 1.5, 2)))
    await wait_until(lambda: far.orderStatus.status == "Cancelled")
    stop = ib.placeOrder(stock, Order(orderType="STP", action="BUY", totalQuantity=1, auxPrice=ask))
    unknown = ib.placeOrder(Stock("NOPE", "SMART", "USD"), MarketOrder("BUY", 1))
    await wait_until(lambda: len(errors) == 3)
    by_order = {req_id: (code, text) for req_id, code, text in errors}
    assert by_order[far.order.orderId][0] == 201
    assert by_order[far.order.orderId][1].startswith("Order rejected - reason:price too far")
    assert by_order[stop.order.orderId][0] == 387
    assert by_order[unknown.order.orderId][0] == 200
    for t in (far, stop, unknown):
        assert t.orderStatus.status == "Cancelled"


async def test_single_option_orders_and_all_open_orders(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    a, b = await connect(1), await connect(2)
    long_leg, short_leg = await atm_call_spread(gateway, a)
    ask = gateway.market.option_quote(long_leg.conId).quote.ask
    bought = a.placeOrder(long_leg, MarketOrder("BUY", 2))
    await wait_until(lambda: bought.isDone() and len(bought.fills) == 1)
    assert bought.orderStatus.status == "Filled"
    assert bought.orderStatus.avgFillPrice == ask
    await wait_until(lambda: bought.fills[0].commissionReport.commission > 0)
    assert bought.fills[0].commissionReport.commission == pytest.approx(1.30)

    far_ask = round(gateway.market.option_quote(short_leg.conId).quote.ask + 1.0, 2)
    resting = a.placeOrder(short_leg, LimitOrder("SELL", 1, far_ask))
    await wait_until(lambda: resting.orderStatus.status == "Submitted")
    everyone = await b.reqAllOpenOrdersAsync()
    assert [(t.order.orderId, t.order.clientId) for t in everyone] == [(resting.order.orderId, 1)]
    assert everyone[0].order.lmtPrice == far_ask
    assert everyone[0].contract.conId == short_leg.conId
    assert await b.reqOpenOrdersAsync() == []  # client 2's own orders only


# -------------------------------------------------------------------------- account


async def test_two_clients_see_one_account(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    a = await connect(1)
    b = await connect(2)
    master = await connect(0)
    stock = Stock("AAPL", "SMART", "USD")
    await a.qualifyContractsAsync(stock)
    trade = a.placeOrder(stock, MarketOrder("BUY", 7))
    await wait_until(lambda: trade.orderStatus.status == "Filled")
    for ib in (a, b, master):
        await wait_until(lambda ib=ib: ib.positions() and ib.portfolio(), what="positions")
        (pos,) = ib.positions()
        assert (pos.account, pos.contract.conId, pos.position) == (ACCOUNT, stock.conId, 7)
        assert ib.portfolio()[0].position == 7
    # orders go to their owner and to the master client (0), not to client 2
    assert b.trades() == []
    await wait_until(lambda: master.trades())
    assert master.trades()[0].order.orderId == trade.order.orderId
    assert master.trades()[0].orderStatus.status == "Filled"
    # the account is the exchange's: a client connecting later sees the same state
    late = await connect(5)
    assert [p.position for p in late.positions()] == [7]
    fills = late.fills()
    assert [f.execution.orderId for f in fills] == [trade.order.orderId]


async def test_account_summary_pnl_and_executions_filter(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    ib = await connect()
    summary = await ib.accountSummaryAsync()
    tags = {v.tag: v.value for v in summary}
    assert tags["NetLiquidation"] == "100000.00"
    assert tags["AccountType"] == "INDIVIDUAL"

    long_leg, short_leg = await atm_call_spread(gateway, ib)
    stock = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    pnl = ib.reqPnL(ACCOUNT)
    await gateway.pump()
    await wait_until(lambda: not math.isnan(pnl.dailyPnL))
    assert (pnl.dailyPnL, pnl.unrealizedPnL, pnl.realizedPnL) == (0.0, 0.0, 0.0)

    debit = natural_debit(gateway, long_leg, short_leg)
    t1 = ib.placeOrder(bag_of(long_leg, short_leg), LimitOrder("BUY", 1, round(debit + 0.1, 2)))
    t2 = ib.placeOrder(stock, MarketOrder("BUY", 3))
    await wait_until(lambda: t1.isDone() and t2.isDone())
    assert t1.orderStatus.status == t2.orderStatus.status == "Filled"
    # paying the ask: marked at mid, the position is down by half the spreads + commissions
    await wait_until(lambda: pnl.unrealizedPnL < 0, what="pnl update")
    assert pnl.unrealizedPnL == pytest.approx(gateway.exchange.pnl().unrealized, abs=1e-6)
    single = ib.reqPnLSingle(ACCOUNT, "", stock.conId)
    await wait_until(lambda: single.position == 3)
    spy = gateway.market.quote("SPY")
    assert single.value == pytest.approx(3 * (spy.bid + spy.ask) / 2, abs=1e-6)  # marked at mid

    opt_fills = await ib.reqExecutionsAsync(ExecutionFilter(symbol="AAPL", secType="OPT"))
    assert sorted(f.contract.conId for f in opt_fills) == sorted([long_leg.conId, short_leg.conId])
    bought = await ib.reqExecutionsAsync(ExecutionFilter(side="BUY"))
    assert {f.contract.secType for f in bought} == {"OPT", "BAG", "STK"}
    assert len(bought) == 3  # long leg, the BAG itself, the stock
    later = (gateway.sim_time() + timedelta(hours=1)).strftime("%Y%m%d %H:%M:%S UTC")
    assert await ib.reqExecutionsAsync(ExecutionFilter(time=later)) == []

    completed = await ib.reqCompletedOrdersAsync(False)
    assert sorted(t.order.permId for t in completed) == sorted([t1.order.permId, t2.order.permId])
    assert {t.orderStatus.status for t in completed} == {"Filled"}


# ----------------------------------------------------------------------- historical


async def test_daily_bars_for_the_usual_durations(gateway: SimGateway, connect: Connect) -> None:
    ib = await connect()
    stock = Stock("AAPL", "SMART", "USD")
    bars_2y = await ib.reqHistoricalDataAsync(stock, "", "2 Y", "1 day", "TRADES", True)
    bars_1y = await ib.reqHistoricalDataAsync(stock, "", "1 Y", "1 day", "TRADES", True)
    bars_30 = await ib.reqHistoricalDataAsync(stock, "", "30 D", "1 day", "MIDPOINT", True)
    daily = gateway.market.daily_bars("AAPL")
    assert 495 <= len(bars_2y) <= 505 and 245 <= len(bars_1y) <= 255
    assert len(bars_30) == 30
    last = daily[-1]
    assert bars_2y[-1].date == last.day == gateway.sim_time().date()
    assert (bars_2y[-1].open, bars_2y[-1].high, bars_2y[-1].low, bars_2y[-1].close) == (
        last.open, last.high, last.low, last.close)  # fmt: skip
    assert bars_2y[-1].volume == last.volume
    assert bars_30[-1].volume == -1  # MIDPOINT bars carry no volume
    assert [b.date for b in bars_1y] == [b.day for b in daily[-len(bars_1y) :]]
    weekly = await ib.reqHistoricalDataAsync(stock, "20261113 16:00:00 US/Eastern", "4 W",
                                             "1 week", "TRADES", True)  # fmt: skip
    assert len(weekly) == 4
    assert weekly[-1].date.isoformat() == "2026-11-09"


async def test_historical_errors_and_pacing(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    # IB paces only bars of 30 s or less; this gateway paces every bar size, so the rules
    # show on the daily bars it serves (IB's default: tests/sim/test_gateway_historical.py).
    # The same-contract rule (6 in 2 s) is lifted: the 60-in-10-minutes one is tested below.
    strict = HistoricalPacing(small_bars_only=False, burst_max=100)
    gateway = await make_gateway(limits=GatewayLimits(historical=strict))
    ib = await connect(1, gateway)
    errors = errors_of(ib)
    stock = Stock("MSFT", "SMART", "USD")

    async def bars(
        contract: Contract, duration: str, size: str = "1 day", what: str = "TRADES"
    ) -> int:
        return len(await ib.reqHistoricalDataAsync(contract, "", duration, size, what, True))

    assert await bars(Stock("NOPE", "SMART", "USD"), "1 Y") == 0
    assert await bars(stock, "10 D") == 10
    assert await bars(stock, "10 D") == 0  # identical within 15 s
    fake_time.advance(16)
    assert await bars(stock, "10 D") == 10
    assert await bars(stock, "1 Y", size="1 min") == 0
    assert await bars(stock, "1 Y", what="BID_ASK") == 0
    live = await ib.reqHistoricalDataAsync(stock, "", "2 D", "1 day", "TRADES", True,
                                           keepUpToDate=True)  # fmt: skip
    assert len(live) == 0
    codes = [code for _, code, _ in errors]
    assert codes == [200, 162, 321, 321, 321]
    assert "keepUpToDate" in errors[-1][2]
    assert "pacing violation" in errors[1][2]

    # more than 60 requests in 10 minutes (6 of the 7 above counted: not the refused one)
    ib.client.MaxRequests = 0
    gateway.limits = GatewayLimits(max_messages_per_second=0)
    results = await asyncio.gather(*(bars(stock, f"{n} D") for n in range(20, 80)))
    assert results[:54] == list(range(20, 74))
    assert results[54:] == [0] * 6
    assert errors[-1][1] == 162 and "requests in 10 minutes" in errors[-1][2]
    fake_time.advance(601)
    assert await bars(stock, "3 D") == 3


# ------------------------------------------------------------- limits and robustness


async def test_duplicate_client_id_gets_326_and_is_closed(
    gateway: SimGateway, connect: Connect
) -> None:
    first = await connect(7)
    second = IB()
    errors = errors_of(second)
    with pytest.raises((TimeoutError, ConnectionError)):
        await second.connectAsync("127.0.0.1", gateway.port, clientId=7, timeout=1)
    assert [(code) for _, code, _ in errors] == [326]
    assert not second.isConnected()
    assert first.isConnected()
    assert await first.reqCurrentTimeAsync() == gateway.sim_time().replace(microsecond=0)


async def test_duplicate_client_id_raw(raw_connect: RawConnect) -> None:
    a = await raw_connect()
    assert [m[0] for m in await a.handshake(9)] == ["9", "15"]
    b = await raw_connect()
    b.writer.write(b"API\0" + b"\0\0\0\x09v157..176")
    await b.read(1)
    b.send(["71", "2", "9", ""])
    (err,) = await b.read(1)
    assert err[:4] == ["4", "2", "-1", "326"]
    assert await b.closed_by_server()


async def test_more_than_50_messages_a_second_is_error_100(raw_connect: RawConnect) -> None:
    raw = await raw_connect()
    await raw.handshake(11)
    for _ in range(60):
        raw.send(["49", "1"])  # reqCurrentTime
    msgs = await raw.read(60)
    # startApi was one of the 50 messages of this second
    assert sum(m[0] == "49" for m in msgs) == 49
    errs = [m for m in msgs if m[0] == "4"]
    assert len(errs) == 11
    assert errs[0][3] == "100"
    assert errs[0][4].startswith("Max rate of messages per second has been exceeded")
    raw.send(["8", "1", "1"])  # still connected, still answered once the second passes
    await asyncio.sleep(1.0)
    raw.send(["49", "1"])
    (*_, last) = await raw.read(2)
    assert last[0] == "49"


async def test_unsupported_request_is_answered_not_ignored(raw_connect: RawConnect) -> None:
    raw = await raw_connect()
    await raw.handshake(12)
    raw.send(["10", "5", "77", "0", "AAPL", "STK", "", "0", "", "", "SMART", "", "USD", "", "",
              "5", "0", ""])  # fmt: skip
    raw.send(["999", "1"])
    raw.send(["8", "1", "not-a-number"])
    msgs = await raw.read(3)
    assert [(m[0], m[2], m[3]) for m in msgs] == [("4", "77", "321"), ("4", "-1", "321"),
                                                   ("4", "-1", "320")]  # fmt: skip
    assert "unsupported message id 10" in msgs[0][4]


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # not a TWS client at all
        b"API\0\xff\xff\xff\xffxx",  # impossible length
        b"API\0\0\0\0\x09v157..176\0\0\0\0",  # zero length after the handshake
        b"API\0\0\0\0\x05v1..2",  # a version range without 176
    ],
)
async def test_garbage_clients_are_dropped_and_others_stay(
    garbage: bytes, gateway: SimGateway, connect: Connect, raw_connect: RawConnect
) -> None:
    ib = await connect(1)
    raw = await raw_connect()
    raw.writer.write(garbage)
    assert await raw.closed_by_server()
    assert ib.isConnected()
    assert await ib.reqCurrentTimeAsync() == gateway.sim_time().replace(microsecond=0)


async def test_non_utf8_and_truncated_messages(
    gateway: SimGateway, connect: Connect, raw_connect: RawConnect
) -> None:
    ib = await connect(1)
    raw = await raw_connect()
    await raw.handshake(13)
    raw.writer.write(b"\0\0\0\x04\xff\xfe\x80\0")  # well framed, not UTF-8
    (err,) = await raw.read(1)
    assert err[3] == "320"
    raw.writer.write(b"\0\0\0\x40" + b"3\0" + b"1" * 10)  # a truncated message, then gone
    raw.close()
    await asyncio.sleep(0.02)
    assert ib.isConnected()
    assert await ib.reqCurrentTimeAsync() == gateway.sim_time().replace(microsecond=0)
    assert set(gateway.clients) == {1}


# ------------------------------------------------------------------------ restarts


async def test_account_state_survives_a_gateway_restart(
    tmp_path: Path,
    make_gateway: MakeGateway,
    fake_time: FakeMonotonic,
    t_start: datetime,
    wait_until: Until,
) -> None:
    state = tmp_path / "account.json"
    gw = await make_gateway(state=state)
    ib = IB()
    try:
        await ib.connectAsync("127.0.0.1", gw.port, clientId=1)
        stock = Stock("AAPL", "SMART", "USD")
        await ib.qualifyContractsAsync(stock)
        filled = ib.placeOrder(stock, MarketOrder("BUY", 4))
        resting = ib.placeOrder(
            stock, LimitOrder("BUY", 2, round(gw.market.quote("AAPL").bid - 5, 2))
        )
        await wait_until(lambda: filled.isDone() and resting.orderStatus.status == "Submitted")
    finally:
        ib.disconnect()
        await gw.stop()
    cash = gw.exchange.cash

    fake_time.advance(30)
    gw2 = await make_gateway(start=t_start + timedelta(seconds=30), state=state)
    ib2 = IB()
    try:
        await ib2.connectAsync("127.0.0.1", gw2.port, clientId=1)
        assert [(p.contract.symbol, p.position) for p in ib2.positions()] == [("AAPL", 4)]
        assert [t.order.orderId for t in ib2.openTrades()] == [resting.order.orderId]
        assert [f.execution.orderId for f in ib2.fills()] == [filled.order.orderId]
        assert gw2.exchange.cash == cash
        # order ids keep increasing across the restart
        assert ib2.client.getReqId() > resting.order.orderId
    finally:
        ib2.disconnect()
        await gw2.stop()


async def test_serve_runs_until_cancelled(tmp_path: Path, t_start: datetime) -> None:
    ready: asyncio.Future[SimGateway] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(port=0, control_port=0, start=t_start, state=tmp_path / "s.json",
              on_ready=ready.set_result)
    )  # fmt: skip
    gw = await asyncio.wait_for(ready, 10)
    assert len(gw.market.symbols) >= 60  # the default universe
    ib = IB()
    await ib.connectAsync("127.0.0.1", gw.port, clientId=1)
    assert await ib.reqCurrentTimeAsync() >= t_start.replace(microsecond=0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (tmp_path / "s.json").exists()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", gw.port)
    ib.disconnect()
