"""Round trips of the TWS wire format against ib_insync's own serializer and decoder.

Server messages: encoded by tui_trader.sim.protocol, decoded by ib_insync's Decoder at
server version 176 (which drops messages with a wrong field count without raising, so
every test asserts the callback arrived with the right values). Client messages:
serialized by ib_insync's Client, parsed by our decoder in strict mode (every field
consumed, nothing left over).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_insync import (
    ComboLeg,
    Contract,
    ExecutionFilter,
    LimitOrder,
    MarketOrder,
    Option,
    Order,
    PriceCondition,
    Stock,
    TagValue,
)

from tui_trader.sim import protocol as p
from tui_trader.sim.types import (
    UNSET_DOUBLE,
    Execution,
    OptionContract,
    OptionGreeks,
    OrderRequest,
    OrderState,
    Position,
    StockContract,
    WhatIf,
)

Decode = Callable[[bytes], list[tuple[str, tuple[Any, ...]]]]
Encode = Callable[..., list[str]]

AAPL = StockContract(
    con_id=265598,
    symbol="AAPL",
    long_name="Apple Inc",
    sector="Technology",
    industry="Consumer Electronics",
    primary_exchange="NASDAQ",
    market_cap=3.5e12,
    avg_volume=55e6,
)
AAPL_C200 = OptionContract(
    con_id=700001,
    symbol="AAPL",
    underlying_con_id=265598,
    expiry=date(2026, 12, 18),
    strike=200.0,
    right="C",
    trading_class="AAPL",
    local_symbol="AAPL  261218C00200000",
)
AAPL_C210 = OptionContract(
    con_id=700002,
    symbol="AAPL",
    underlying_con_id=265598,
    expiry=date(2026, 12, 18),
    strike=210.0,
    right="C",
    trading_class="AAPL",
    local_symbol="AAPL  261218C00210000",
)
T0 = datetime(2026, 11, 20, 19, 30, 5, tzinfo=UTC)  # 14:30:05 New York


def only(calls: list[tuple[str, tuple[Any, ...]]], name: str) -> tuple[Any, ...]:
    matching = [args for n, args in calls if n == name]
    assert len(matching) == 1, calls
    return matching[0]


# ---------------------------------------------------------------------------- framing


def test_frame_buffer_reassembles_messages_split_anywhere() -> None:
    data = p.frame(["1", "2", "abc"]) + p.frame(["9", "1", "42"])
    for cut in range(len(data) + 1):
        buf = p.FrameBuffer()
        got = buf.feed(data[:cut]) + buf.feed(data[cut:])
        assert [p.split_fields(m) for m in got] == [["1", "2", "abc"], ["9", "1", "42"]]
        assert buf.pending == 0


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0",
           blacklist_categories=("Cs",)), max_size=12), min_size=1, max_size=6),
           min_size=1, max_size=8),
    chunk=st.integers(min_value=1, max_value=17),
)  # fmt: skip
def test_frame_buffer_round_trips_any_text_in_any_chunking(
    messages: list[list[str]], chunk: int
) -> None:
    data = b"".join(p.frame(m) for m in messages)
    buf = p.FrameBuffer()
    got: list[bytes] = []
    for i in range(0, len(data), chunk):
        got += buf.feed(data[i : i + chunk])
    assert [p.split_fields(m) for m in got] == messages


@pytest.mark.parametrize("length", [0, p.MAX_MESSAGE_SIZE + 1, 0xFFFFFFFF])
def test_impossible_lengths_break_the_framing(length: int) -> None:
    buf = p.FrameBuffer()
    with pytest.raises(p.ProtocolError):
        buf.feed(length.to_bytes(4, "big") + b"xx")


def test_non_utf8_payload_is_a_request_error_not_a_crash() -> None:
    with pytest.raises(p.RequestError) as exc:
        p.split_fields(b"\xff\xfe\x00")
    assert exc.value.code == 320


@pytest.mark.parametrize(
    ("text", "expected"),
    [("v157..176", (157, 176)), ("v157..178 +PACEAPI", (157, 178)), ("v176", (176, 176))],
)
def test_version_announcements(text: str, expected: tuple[int, int]) -> None:
    assert p.parse_version_range(text) == expected
    assert p.negotiate_version(*expected) == 176


def test_clients_that_cannot_speak_176_are_refused() -> None:
    assert p.negotiate_version(100, 175) is None
    assert p.negotiate_version(177, 187) is None
    for bad in ("157..176", "vX..Y", "v176..157", ""):
        with pytest.raises(p.ProtocolError):
            p.parse_version_range(bad)


def test_handshake_reply_is_exactly_two_fields_with_eastern_time() -> None:
    fields = p.split_fields(p.handshake_reply(176, T0)[4:])
    assert fields == ["176", "20261120 14:30:05 EST"]


# --------------------------------------------------------------- field formatting


@settings(max_examples=80, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_exactly(x: float) -> None:
    assert float(p.fmt_float(x)) == x


def test_unset_and_nan_formatting() -> None:
    assert p.fmt_float(None) == ""
    assert p.fmt_float(math.nan) == ""
    assert p.fmt_float(UNSET_DOUBLE) == str(UNSET_DOUBLE)  # what ib_insync compares with
    assert p.fmt_size(100.0) == "100"
    assert p.fmt_size(0.5) == "0.5"
    assert p.fmt_size(math.nan) == ""


# ------------------------------------------------------- server -> client, decoded


def test_connect_messages(decode_server: Decode) -> None:
    calls = decode_server(p.next_valid_id(17) + p.managed_accounts(["DU123456"]))
    assert calls == [("nextValidId", (17,)), ("managedAccounts", ("DU123456",))]


def test_error_message_carries_advanced_json_field(decode_server: Decode) -> None:
    calls = decode_server(p.error(-1, 1100, p.STANDARD_MESSAGES[1100]))
    assert calls == [("error", (-1, 1100, p.STANDARD_MESSAGES[1100], ""))]


def test_ticks(decode_server: Decode) -> None:
    data = (
        p.tick_price(5, 1, 189.52, 300)
        + p.tick_price(5, 2, -1.0, 0)
        + p.tick_size(5, 8, 1234500)
        + p.tick_req_params(5, 0.01, "a60001", 3)
        + p.market_data_type(5, 1)
        + p.tick_snapshot_end(5)
    )
    calls = decode_server(data)
    assert calls == [
        ("priceSizeTick", (5, 1, 189.52, 300.0)),
        ("priceSizeTick", (5, 2, -1.0, 0.0)),
        ("tickSize", (5, 8, 1234500.0)),
        ("tickReqParams", (5, 0.01, "a60001", 3)),
        ("marketDataType", (5, 1)),
        ("tickSnapshotEnd", (5,)),
    ]
    assert len(p.split_fields(p.tick_price(5, 1, 189.52, 300)[4:])) == 7


def test_option_computation_with_no_value_markers(decode_server: Decode) -> None:
    g = OptionGreeks(0.2512, 0.5321, 7.45, 0.0, 0.0213, 0.412, -0.0734, 201.3)
    none = OptionGreeks(*(math.nan,) * 8)
    calls = decode_server(
        p.tick_option_computation(3, 13, g) + p.tick_option_computation(3, 10, none)
    )
    assert calls[0] == (
        "tickOptionComputation",
        (3, 13, 0, 0.2512, 0.5321, 7.45, 0.0, 0.0213, 0.412, -0.0734, 201.3),
    )
    # IB's markers: impliedVol/optPrice/pvDividend/undPrice -1, delta/gamma/vega/theta -2
    assert calls[1] == (
        "tickOptionComputation",
        (3, 10, 0, -1.0, -2.0, -1.0, -1.0, -2.0, -2.0, -2.0, -1.0),
    )
    assert len(p.split_fields(p.tick_option_computation(3, 13, g)[4:])) == 12


def _stock_details() -> p.ContractDetailsInfo:
    return p.ContractDetailsInfo(
        market_name="NMS",
        min_tick=0.01,
        order_types="LMT,MKT",
        valid_exchanges="SMART,NASDAQ",
        long_name="Apple Inc",
        industry="Technology",
        category="Consumer Electronics",
        trading_hours="20261120:0400-20261120:2000",
        liquid_hours="20261120:0930-20261120:1600",
        stock_type="COMMON",
        suggested_size_increment=100,
    )


def test_contract_data_for_a_stock(decode_server: Decode) -> None:
    wc = p.wire_contract(AAPL)
    data = p.contract_data(7, wc, _stock_details()) + p.contract_data_end(7)
    assert len(p.split_fields(p.contract_data(7, wc, _stock_details())[4:])) == 40
    calls = decode_server(data)
    req_id, cd = only(calls, "contractDetails")
    assert req_id == 7
    c = cd.contract
    assert (c.conId, c.symbol, c.secType, c.exchange, c.primaryExchange, c.currency) == (
        265598, "AAPL", "STK", "SMART", "NASDAQ", "USD")  # fmt: skip
    assert cd.longName == "Apple Inc"
    assert cd.minTick == 0.01
    assert cd.stockType == "COMMON"
    assert cd.liquidHours == "20261120:0930-20261120:1600"
    assert calls[-1] == ("contractDetailsEnd", (7,))


def test_contract_data_for_an_option(decode_server: Decode) -> None:
    wc = p.wire_contract(AAPL_C200)
    info = p.ContractDetailsInfo(
        market_name="AAPL",
        min_tick=0.01,
        order_types="LMT,MKT",
        valid_exchanges="SMART,CBOE",
        long_name="Apple Inc",
        contract_month="202612",
        under_con_id=265598,
        under_symbol="AAPL",
        under_sec_type="STK",
        real_expiration_date="20261218",
    )
    _, cd = only(decode_server(p.contract_data(9, wc, info)), "contractDetails")
    c = cd.contract
    assert (c.conId, c.secType, c.lastTradeDateOrContractMonth, c.strike, c.right) == (
        700001, "OPT", "20261218", 200.0, "C")  # fmt: skip
    assert (c.multiplier, c.localSymbol, c.tradingClass) == ("100", "AAPL  261218C00200000", "AAPL")
    assert (cd.underConId, cd.underSymbol, cd.contractMonth) == (265598, "AAPL", "202612")


def test_sec_def_opt_params(decode_server: Decode) -> None:
    data = p.sec_def_opt_params(4, "SMART", 265598, "AAPL", "100", ["20261218", "20270115"],
                                [195.0, 200.0, 202.5]) + p.sec_def_opt_params_end(4)  # fmt: skip
    calls = decode_server(data)
    assert calls[0] == (
        "securityDefinitionOptionParameter",
        (4, "SMART", "265598", "AAPL", "100", ["20261218", "20270115"], [195.0, 200.0, 202.5]),
    )
    assert calls[1] == ("securityDefinitionOptionParameterEnd", (4,))


def test_historical_bars(decode_server: Decode) -> None:
    bars = [
        p.WireBar("20261118", 100.0, 102.5, 99.5, 101.25, 1_200_000, 101.0, 5000),
        p.WireBar("20261119", 101.25, 103.0, 100.0, 102.0, -1, -1, -1),
    ]
    calls = decode_server(p.historical_data(11, "20241120 14:30:05", "20261120 14:30:05", bars))
    bar_calls = [a for n, a in calls if n == "historicalData"]
    assert len(bar_calls) == 2
    b0 = bar_calls[0][1]
    assert (b0.date, b0.open, b0.high, b0.low, b0.close, b0.volume, b0.average, b0.barCount) == (
        "20261118", 100.0, 102.5, 99.5, 101.25, 1_200_000.0, 101.0, 5000)  # fmt: skip
    assert bar_calls[1][1].volume == -1.0
    assert calls[-1] == ("historicalDataEnd", (11, "20241120 14:30:05", "20261120 14:30:05"))


def _execution(contract: StockContract | OptionContract | None, exec_id: str) -> Execution:
    return Execution(
        exec_id=exec_id,
        order_id=12,
        client_id=3,
        perm_id=900001,
        contract=contract,
        bag_symbol="AAPL",
        time=T0,
        account="DU123456",
        exchange="CBOE",
        side="BOT",
        shares=2.0,
        price=7.45,
        cum_qty=2.0,
        avg_price=7.45,
        order_ref="spread-1",
        commission=1.3,
        realized_pnl=UNSET_DOUBLE,
    )


def test_exec_details_and_commission(decode_server: Decode) -> None:
    e = _execution(AAPL_C200, "0001f4e8.6740a1b2.01.01")
    data = p.exec_details(-1, p.wire_contract(AAPL_C200), e) + p.commission_report(e)
    assert len(p.split_fields(p.exec_details(-1, p.wire_contract(AAPL_C200), e)[4:])) == 31
    assert len(p.split_fields(p.commission_report(e)[4:])) == 8
    calls = decode_server(data)
    req_id, c, ex = only(calls, "execDetails")
    assert req_id == -1
    assert (c.conId, c.secType, c.strike, c.right) == (700001, "OPT", 200.0, "C")
    assert (ex.execId, ex.orderId, ex.clientId, ex.permId, ex.side, ex.shares, ex.price) == (
        "0001f4e8.6740a1b2.01.01", 12, 3, 900001, "BOT", 2.0, 7.45)  # fmt: skip
    assert ex.time == T0
    assert (ex.cumQty, ex.avgPrice, ex.orderRef, ex.acctNumber) == (
        2.0,
        7.45,
        "spread-1",
        "DU123456",
    )
    (report,) = only(calls, "commissionReport")
    assert (report.execId, report.commission, report.currency) == (
        "0001f4e8.6740a1b2.01.01",
        1.3,
        "USD",
    )
    assert report.realizedPNL == UNSET_DOUBLE  # ib_insync's wrapper turns this into 0


def test_position_and_portfolio(decode_server: Decode) -> None:
    pos = Position(AAPL_C200, 2.0, 745.0, 7.9, 1580.0, 90.0, 0.0)
    wc = p.wire_contract(AAPL_C200)
    data = (
        p.position("DU123456", wc, pos.quantity, pos.avg_cost)
        + p.position_end()
        + p.portfolio_value("DU123456", wc, pos)
    )
    assert len(p.split_fields(p.position("DU123456", wc, 2, 745.0)[4:])) == 16
    assert len(p.split_fields(p.portfolio_value("DU123456", wc, pos)[4:])) == 20
    calls = decode_server(data)
    account, c, qty, avg = only(calls, "position")
    assert (account, c.conId, qty, avg) == ("DU123456", 700001, 2.0, 745.0)
    assert ("positionEnd", ()) in calls
    args = only(calls, "updatePortfolio")
    assert args[0].conId == 700001
    assert args[1:] == (2.0, 7.9, 1580.0, 745.0, 90.0, 0.0, "DU123456")


def test_account_messages(decode_server: Decode) -> None:
    data = (
        p.account_value("NetLiquidation", "100000.00", "USD", "DU123456")
        + p.account_update_time(T0)
        + p.account_download_end("DU123456")
        + p.account_update_multi(4, "DU123456", "", "NetLiquidation", "100000.00", "USD")
        + p.account_update_multi_end(4)
        + p.account_summary(5, "DU123456", "BuyingPower", "400000.00", "USD")
        + p.account_summary_end(5)
        + p.pnl(6, -12.5, 30.0, 0.0)
        + p.pnl_single(7, 2, -12.5, 30.0, 0.0, 1580.0)
        + p.current_time(1795721405)
        + p.position_end()
        + p.open_order_end()
        + p.completed_orders_end()
        + p.exec_details_end(8)
    )
    assert decode_server(data) == [
        ("updateAccountValue", ("NetLiquidation", "100000.00", "USD", "DU123456")),
        ("updateAccountTime", ("14:30",)),
        ("accountDownloadEnd", ("DU123456",)),
        ("accountUpdateMulti", (4, "DU123456", "", "NetLiquidation", "100000.00", "USD")),
        ("accountUpdateMultiEnd", (4,)),
        ("accountSummary", (5, "DU123456", "BuyingPower", "400000.00", "USD")),
        ("accountSummaryEnd", (5,)),
        ("pnl", (6, -12.5, 30.0, 0.0)),
        ("pnlSingle", (7, 2.0, -12.5, 30.0, 0.0, 1580.0)),
        ("currentTime", (1795721405,)),
        ("positionEnd", ()),
        ("openOrderEnd", ()),
        ("completedOrdersEnd", ()),
        ("execDetailsEnd", (8,)),
    ]


def _bag_legs() -> list[p.WireComboLeg]:
    return [p.WireComboLeg(700001, 1, "BUY", "SMART"), p.WireComboLeg(700002, 1, "SELL", "SMART")]


def test_open_order_and_status_for_a_bag(decode_server: Decode) -> None:
    bag = p.wire_bag("AAPL", _bag_legs())
    order = p.WireOrder(action="BUY", total_quantity=2, order_type="LMT", lmt_price=3.2,
                        tif="DAY", account="DU123456", order_ref="spread-1")  # fmt: skip
    msg = p.open_order(12, bag, order, client_id=3, perm_id=900001, status="Submitted")
    assert len(p.split_fields(msg[4:])) == 128 + 8 * 2
    calls = decode_server(msg + p.order_status(12, "Submitted", 0, 2, 0.0, 900001, 0, 0.0, 3))
    order_id, c, o, state = only(calls, "openOrder")
    assert order_id == 12
    assert (c.conId, c.symbol, c.secType, c.comboLegsDescrip) == (
        p.BAG_CON_ID, "AAPL", "BAG", "700001|1,700002|1")  # fmt: skip
    assert [(leg.conId, leg.ratio, leg.action) for leg in c.comboLegs] == [
        (700001, 1, "BUY"), (700002, 1, "SELL")]  # fmt: skip
    assert (o.orderId, o.clientId, o.permId, o.action, o.totalQuantity, o.orderType) == (
        12, 3, 900001, "BUY", 2.0, "LMT")  # fmt: skip
    assert (o.lmtPrice, o.auxPrice, o.tif, o.orderRef, o.whatIf) == (
        3.2, UNSET_DOUBLE, "DAY", "spread-1", False)  # fmt: skip
    assert state.status == "Submitted"
    status = only(calls, "orderStatus")
    assert status == (12, "Submitted", 0.0, 2.0, 0.0, 900001, 0, 0.0, 3, "", 0.0)


def test_what_if_answer_keeps_margins_as_strings(decode_server: Decode) -> None:
    w = WhatIf(
        init_margin_before=0.0,
        maint_margin_before=0.0,
        equity_with_loan_before=100000.0,
        init_margin_change=640.0,
        maint_margin_change=640.0,
        equity_with_loan_change=-1.3,
        init_margin_after=640.0,
        maint_margin_after=640.0,
        equity_with_loan_after=99998.7,
        commission=UNSET_DOUBLE,
        min_commission=1.3,
        max_commission=1.3,
    )
    order = p.WireOrder(action="BUY", total_quantity=2, order_type="LMT", lmt_price=3.2)
    msg = p.open_order(
        15, p.wire_bag("AAPL", _bag_legs()), order, client_id=3, perm_id=0,
        status="PreSubmitted", what_if=w,
    )  # fmt: skip
    _, _, o, state = only(decode_server(msg), "openOrder")
    assert o.whatIf is True
    assert state.initMarginChange == "640.0"
    assert state.equityWithLoanChange == "-1.3"
    assert state.equityWithLoanAfter == "99998.7"
    assert state.commission == UNSET_DOUBLE
    assert (state.minCommission, state.maxCommission, state.commissionCurrency) == (1.3, 1.3, "USD")


def test_completed_order(decode_server: Decode) -> None:
    order = p.WireOrder(action="SELL", total_quantity=100, order_type="MKT", account="DU123456")
    msg = p.completed_order(
        p.wire_contract(AAPL), order, perm_id=900002, status="Filled", filled=100,
        completed_time="20261120 14:31:00 America/New_York", completed_status="Filled",
    )  # fmt: skip
    assert len(p.split_fields(msg[4:])) == 97
    c, o, state = only(decode_server(msg), "completedOrder")
    assert (c.conId, c.symbol, c.secType) == (265598, "AAPL", "STK")
    assert (o.action, o.totalQuantity, o.orderType, o.permId, o.filledQuantity) == (
        "SELL", 100.0, "MKT", 900002, 100.0)  # fmt: skip
    assert (state.status, state.completedStatus) == ("Filled", "Filled")


def test_order_status_of_state(decode_server: Decode) -> None:
    req = OrderRequest(
        order_id=21, client_id=4, sec_type="STK", symbol="AAPL", contract=AAPL, legs=(),
        action="BUY", quantity=10, order_type="LMT", limit_price=190.0,
    )  # fmt: skip
    state = OrderState(req, perm_id=77, status="Filled", filled=10, remaining=0,
                       avg_fill_price=189.99, last_fill_price=189.99)  # fmt: skip
    status = only(decode_server(p.order_status_of(state)), "orderStatus")
    assert status == (21, "Filled", 10.0, 0.0, 189.99, 77, 0, 189.99, 4, "", 0.0)


# --------------------------------------------------- client -> server, parsed by us


def test_start_api_and_simple_requests(encode_client: Encode) -> None:
    client_fields = p.split_fields(p.client_start_api(7)[4:])
    assert p.decode_request(client_fields, strict=True) == p.StartApi(7, "")
    cases: list[tuple[tuple[Any, ...], p.Request]] = [
        (("reqIds", 1), p.ReqIds(1)),
        (("reqCurrentTime",), p.ReqCurrentTime()),
        (("reqPositions",), p.ReqPositions()),
        (("cancelPositions",), p.CancelPositions()),
        (("reqOpenOrders",), p.ReqOpenOrders()),
        (("reqAllOpenOrders",), p.ReqAllOpenOrders()),
        (("reqAutoOpenOrders", True), p.ReqAutoOpenOrders(True)),
        (("reqCompletedOrders", False), p.ReqCompletedOrders(False)),
        (("reqManagedAccts",), p.ReqManagedAccts()),
        (("reqGlobalCancel",), p.ReqGlobalCancel()),
        (("reqMarketDataType", 3), p.ReqMarketDataType(3)),
        (("reqAccountUpdates", True, "DU123456"), p.ReqAccountUpdates(True, "DU123456")),
        (("reqAccountUpdatesMulti", 4, "DU123456", "", False),
         p.ReqAccountUpdatesMulti(4, "DU123456", "", False)),
        (("cancelAccountUpdatesMulti", 4), p.CancelAccountUpdatesMulti(4)),
        (("reqAccountSummary", 5, "All", "NetLiquidation,BuyingPower"),
         p.ReqAccountSummary(5, "All", "NetLiquidation,BuyingPower")),
        (("cancelAccountSummary", 5), p.CancelAccountSummary(5)),
        (("reqSecDefOptParams", 6, "AAPL", "", "STK", 265598),
         p.ReqSecDefOptParams(6, "AAPL", "", "STK", 265598)),
        (("reqPnL", 7, "DU123456", ""), p.ReqPnL(7, "DU123456", "")),
        (("cancelPnL", 7), p.CancelPnL(7)),
        (("reqPnLSingle", 8, "DU123456", "", 700001), p.ReqPnLSingle(8, "DU123456", "", 700001)),
        (("cancelPnLSingle", 8), p.CancelPnLSingle(8)),
        (("cancelMktData", 9), p.CancelMktData(9)),
        (("cancelOrder", 10), p.CancelOrder(10, "")),
        (("cancelHistoricalData", 11), p.CancelHistoricalData(11)),
    ]  # fmt: skip
    for call, expected in cases:
        assert p.decode_request(encode_client(*call), strict=True) == expected, call


def test_req_executions_with_a_filter(encode_client: Encode) -> None:
    f = ExecutionFilter(clientId=3, acctCode="DU123456", time="20261120 09:30:00",
                        symbol="AAPL", secType="OPT", exchange="SMART", side="BUY")  # fmt: skip
    req = p.decode_request(encode_client("reqExecutions", 12, f), strict=True)
    assert req == p.ReqExecutions(12, 3, "DU123456", "20261120 09:30:00", "AAPL", "OPT",
                                  "SMART", "BUY")  # fmt: skip


def test_req_contract_details_for_an_option(encode_client: Encode) -> None:
    opt = Option("AAPL", "20261218", 200, "C", "SMART")
    req = p.decode_request(encode_client("reqContractDetails", 3, opt), strict=True)
    assert isinstance(req, p.ReqContractDetails)
    assert req.req_id == 3
    c = req.contract
    assert (c.symbol, c.sec_type, c.last_trade_date, c.strike, c.right, c.exchange) == (
        "AAPL", "OPT", "20261218", 200.0, "C", "SMART")  # fmt: skip


def test_req_mkt_data_for_stock_and_bag(encode_client: Encode) -> None:
    req = p.decode_request(
        encode_client("reqMktData", 4, Stock("AAPL", "SMART", "USD"), "233", True, False, []),
        strict=True,
    )
    assert req == p.ReqMktData(
        4, p.WireContract(0, "AAPL", "STK", "", 0.0, "", "", "SMART", "", "USD", "", ""),
        "233", True, False,
    )  # fmt: skip
    req = p.decode_request(
        encode_client("reqMktData", 5, _bag_contract(), "", False, False, []), strict=True
    )
    assert isinstance(req, p.ReqMktData)
    assert [(leg.con_id, leg.ratio, leg.action) for leg in req.contract.combo_legs] == [
        (700001, 1, "BUY"), (700002, 1, "SELL")]  # fmt: skip


def test_req_historical_data(encode_client: Encode) -> None:
    fields = encode_client("reqHistoricalData", 13, Stock("SPY", "SMART", "USD"), "", "2 Y",
                           "1 day", "TRADES", True, 1, False, [])  # fmt: skip
    req = p.decode_request(fields, strict=True)
    assert isinstance(req, p.ReqHistoricalData)
    assert (req.req_id, req.contract.symbol, req.end_date_time, req.duration, req.bar_size) == (
        13, "SPY", "", "2 Y", "1 day")  # fmt: skip
    assert (req.what_to_show, req.use_rth, req.format_date, req.keep_up_to_date) == (
        "TRADES", True, 1, False)  # fmt: skip


def _bag_contract() -> Contract:
    return Contract(
        secType="BAG", symbol="AAPL", exchange="SMART", currency="USD",
        comboLegs=[ComboLeg(conId=700001, ratio=1, action="BUY", exchange="SMART"),
                   ComboLeg(conId=700002, ratio=1, action="SELL", exchange="SMART")],
    )  # fmt: skip


def test_place_order_for_a_two_leg_bag_with_what_if(encode_client: Encode) -> None:
    order = LimitOrder("BUY", 2, 3.2, orderRef="spread-1", tif="DAY", whatIf=True)
    fields = encode_client("placeOrder", 15, _bag_contract(), order)
    assert len(fields) == 134
    assert fields[35] == "2"  # combo legs start at index 35
    req = p.decode_request(fields, strict=True)
    assert isinstance(req, p.PlaceOrder)
    assert req.order_id == 15
    assert req.contract.sec_type == "BAG"
    assert req.contract.combo_legs == (
        p.WireComboLeg(700001, 1, "BUY", "SMART", 0, 0, "", -1),
        p.WireComboLeg(700002, 1, "SELL", "SMART", 0, 0, "", -1),
    )
    o = req.order
    assert (o.action, o.total_quantity, o.order_type, o.lmt_price, o.aux_price) == (
        "BUY", 2.0, "LMT", 3.2, None)  # fmt: skip
    assert (o.tif, o.order_ref, o.what_if, o.transmit) == ("DAY", "spread-1", True, True)


def test_place_order_simple_stock_and_option(encode_client: Encode) -> None:
    fields = encode_client(
        "placeOrder", 16, Stock("AAPL", "SMART", "USD"), MarketOrder("SELL", 100)
    )
    assert len(fields) == 115
    req = p.decode_request(fields, strict=True)
    assert isinstance(req, p.PlaceOrder)
    assert (req.order.action, req.order.total_quantity, req.order.order_type) == (
        "SELL",
        100.0,
        "MKT",
    )
    assert req.order.lmt_price is None and req.order.what_if is False
    opt = Option("AAPL", "20261218", 200, "C", "SMART", conId=700001)
    req = p.decode_request(
        encode_client("placeOrder", 17, opt, LimitOrder("BUY", 1, 7.5)), strict=True
    )
    assert isinstance(req, p.PlaceOrder)
    assert (req.contract.con_id, req.contract.strike, req.order.lmt_price) == (700001, 200.0, 7.5)


def test_place_order_stays_aligned_through_optional_blocks(encode_client: Encode) -> None:
    """Algo params, conditions, delta-neutral, scale and hedge blocks change the field count;
    the parser must land exactly on the last field and still read whatIf correctly."""
    order = LimitOrder(
        "BUY", 3, 1.05, whatIf=True,
        algoStrategy="Adaptive", algoParams=[TagValue("adaptivePriority", "Normal")],
        conditions=[PriceCondition(price=190.0, conId=265598, exch="SMART")],
        deltaNeutralOrderType="LMT", scalePriceIncrement=0.05, hedgeType="D", hedgeParam="0.5",
        orderComboLegs=[], smartComboRoutingParams=[TagValue("NonGuaranteed", "1")],
    )  # fmt: skip
    req = p.decode_request(encode_client("placeOrder", 18, _bag_contract(), order), strict=True)
    assert isinstance(req, p.PlaceOrder)
    assert req.order.what_if is True
    assert req.order.algo_strategy == "Adaptive"
    assert req.order.condition_count == 1
    assert req.order.smart_combo_routing_params == (("NonGuaranteed", "1"),)
    peg_mid = Order(orderType="PEG MID", action="BUY", totalQuantity=1, lmtPrice=1.0,
                    midOffsetAtWhole=0.01, midOffsetAtHalf=0.005)  # fmt: skip
    req = p.decode_request(encode_client("placeOrder", 19, Stock("AAPL", "SMART", "USD"), peg_mid),
                           strict=True)  # fmt: skip
    assert isinstance(req, p.PlaceOrder) and req.order.order_type == "PEG MID"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    qty=st.integers(min_value=1, max_value=10_000),
    price=st.floats(min_value=0.01, max_value=10_000, allow_nan=False).map(lambda x: round(x, 2)),
    action=st.sampled_from(["BUY", "SELL"]),
    what_if=st.booleans(),
    ref=st.text(alphabet="abcXYZ-_09 ", max_size=12),
)
def test_place_order_prices_and_quantities_survive_the_wire(
    encode_client: Encode, qty: int, price: float, action: str, what_if: bool, ref: str
) -> None:
    order = LimitOrder(action, qty, price, whatIf=what_if, orderRef=ref)
    req = p.decode_request(encode_client("placeOrder", 20, _bag_contract(), order), strict=True)
    assert isinstance(req, p.PlaceOrder)
    assert req.order.total_quantity == qty
    assert req.order.lmt_price == price
    assert (req.order.action, req.order.what_if, req.order.order_ref) == (action, what_if, ref)


# ------------------------------------------------------------------ malformed input


def test_truncated_place_order_names_the_order(encode_client: Encode) -> None:
    fields = encode_client("placeOrder", 21, _bag_contract(), LimitOrder("BUY", 1, 1.0))
    with pytest.raises(p.RequestError) as exc:
        p.decode_request(fields[:60])
    assert (exc.value.code, exc.value.req_id) == (320, 21)


def test_unsupported_and_garbage_message_ids() -> None:
    with pytest.raises(p.RequestError) as exc:
        p.decode_request(["10", "5", "42", "0", "AAPL"])  # reqMktDepth
    assert (exc.value.code, exc.value.req_id) == (321, 42)
    assert "unsupported message id 10" in exc.value.message
    with pytest.raises(p.RequestError) as exc:
        p.decode_request(["999"])
    assert (exc.value.code, exc.value.req_id) == (321, -1)
    with pytest.raises(p.RequestError) as exc:
        p.decode_request(["hello", "1"])
    assert exc.value.code == 320
    with pytest.raises(p.RequestError) as exc:
        p.decode_request(["8", "1", "many"])
    assert exc.value.code == 320


def test_parse_ib_datetime_forms() -> None:
    assert p.parse_ib_datetime("") is None
    assert p.parse_ib_datetime("20261120-19:30:05") == T0
    assert p.parse_ib_datetime("20261120 14:30:05 US/Eastern") == T0
    assert p.parse_ib_datetime("20261120 14:30:05") == T0
    with pytest.raises(p.RequestError):
        p.parse_ib_datetime("yesterday")
