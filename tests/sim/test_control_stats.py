"""The control port's read-only statistics (``lines``, ``orders``, ``executions``): the
gateway's own view, which the soak test (tests/soak) compares with the app's."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ib_insync import ComboLeg, Contract, LimitOrder, Stock

from tests.broker.spreads_on_gateway import natural, stream_calls
from tests.sim.test_faults import FakeTarget, LineClient
from tui_trader.sim.faults import STATS_HELP, execute
from tui_trader.sim.gateway import SimGateway

if TYPE_CHECKING:
    from conftest import Connect, Until


async def control(gateway: SimGateway) -> LineClient:
    port = await gateway.start_control()
    return LineClient(*await asyncio.open_connection("127.0.0.1", port, limit=1 << 20))


async def ask_json(c: LineClient, command: str) -> Any:
    reply = await c.ask(command)
    assert reply.startswith("ok "), reply
    return json.loads(reply[3:])


async def test_lines_counts_each_clients_lines_and_distinct_con_ids(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    c = await control(gateway)
    assert await ask_json(c, "lines") == {"max": 100, "clients": {}}
    a, b = await connect(1), await connect(2)
    stocks = [Stock(s, "SMART", "USD") for s in ("AAPL", "SPY", "MSFT")]
    await a.qualifyContractsAsync(*stocks)
    tickers = [a.reqMktData(s) for s in stocks]
    a.reqMktData(stocks[0], "100")  # the same conId on a second line: IB counts both
    b.reqMktData(stocks[1])
    await wait_until(lambda: sum(len(s.lines) for s in gateway.clients.values()) == 5)
    assert await ask_json(c, "lines") == {
        "max": 100,
        "clients": {"1": {"lines": 4, "con_ids": 3}, "2": {"lines": 1, "con_ids": 1}},
    }
    a.cancelMktData(tickers[2].contract)
    b.disconnect()
    await wait_until(lambda: 2 not in gateway.clients and len(gateway.clients[1].lines) == 3)
    assert await ask_json(c, "lines") == {
        "max": 100,
        "clients": {"1": {"lines": 3, "con_ids": 2}},
    }


async def test_orders_lists_every_order_with_its_ref_status_and_fill(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    c = await control(gateway)
    assert await ask_json(c, "orders") == []
    ib = await connect(3)
    stock = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    quote = gateway.market.quote("AAPL")
    filled = ib.placeOrder(stock, LimitOrder("BUY", 5, quote.ask, orderRef="ref-filled"))
    resting = ib.placeOrder(
        stock, LimitOrder("BUY", 2, round(quote.bid * 0.9, 2), orderRef="ref-resting")
    )
    assert await c.ask("reject-next Too risky") == "ok"
    rejected = ib.placeOrder(stock, LimitOrder("BUY", 1, quote.ask, orderRef="ref-rejected"))
    trades = (filled, resting, rejected)
    want = ("Filled", "Submitted", "Cancelled")
    await wait_until(
        lambda: tuple(t.orderStatus.status for t in trades) == want, what="the three orders"
    )
    perm = {t.order.orderId: gateway.exchange.order(3, t.order.orderId).perm_id for t in trades}
    assert len(set(perm.values())) == 3 and filled.order.permId == perm[filled.order.orderId]

    orders = sorted(await ask_json(c, "orders"), key=lambda o: o["order_id"])
    assert orders == [
        {"client_id": 3, "order_id": t.order.orderId, "perm_id": perm[t.order.orderId],
         "order_ref": ref, "status": status, "quantity": qty, "filled": done}
        for t, ref, status, qty, done in (
            (filled, "ref-filled", "Filled", 5.0, 5.0),
            (resting, "ref-resting", "Submitted", 2.0, 0.0),
            (rejected, "ref-rejected", "Cancelled", 1.0, 0.0),
        )
    ]  # fmt: skip

    ib.cancelOrder(resting.order)
    await wait_until(lambda: resting.orderStatus.status == "Cancelled")
    statuses = {o["order_ref"]: o["status"] for o in await ask_json(c, "orders")}
    assert statuses == {"ref-filled": "Filled", "ref-resting": "Cancelled",
                        "ref-rejected": "Cancelled"}  # fmt: skip


async def test_executions_carry_the_order_ref_and_each_legs_con_id(
    gateway: SimGateway, connect: Connect, wait_until: Until
) -> None:
    c = await control(gateway)
    assert await ask_json(c, "executions") == []
    ib = await connect(4)
    chain = await stream_calls(ib, gateway)
    long_leg, short_leg = chain.options[4], chain.options[5]
    nat = natural(chain, long_leg, short_leg)
    bag = Contract(
        secType="BAG",
        symbol="AAPL",
        exchange="SMART",
        currency="USD",
        comboLegs=[
            ComboLeg(conId=long_leg.conId, ratio=1, action="BUY", exchange="SMART"),
            ComboLeg(conId=short_leg.conId, ratio=1, action="SELL", exchange="SMART"),
        ],
    )
    trade = ib.placeOrder(bag, LimitOrder("BUY", 2, nat.ask, orderRef="ref-spread"))
    await wait_until(lambda: trade.orderStatus.status == "Filled", what="the spread's fill")
    await wait_until(lambda: len(ib.fills()) == 3, what="three executions")

    execs = await ask_json(c, "executions")
    seen = {f.execution.execId: f for f in ib.fills()}
    assert sorted(e["exec_id"] for e in execs) == sorted(seen)
    for e in execs:
        f = seen[e["exec_id"]]
        assert e == {
            "exec_id": f.execution.execId,
            "client_id": 4,
            "order_id": trade.order.orderId,
            "perm_id": trade.order.permId,
            "order_ref": "ref-spread",
            "con_id": None if f.contract.secType == "BAG" else f.contract.conId,
            "side": f.execution.side,
            "shares": 2.0,
            "price": f.execution.price,
            "time": e["time"],
        }
        assert datetime.fromisoformat(e["time"]) == f.execution.time
    legs = {e["con_id"]: e["side"] for e in execs}
    assert legs == {long_leg.conId: "BOT", short_leg.conId: "SLD", None: "BOT"}


async def test_stats_commands_take_no_arguments_and_are_listed_in_help(
    gateway: SimGateway,
) -> None:
    c = await control(gateway)
    assert await c.ask("lines 7") == "error: usage: lines"
    assert await c.ask("ORDERS x") == "error: usage: orders"
    assert (await c.ask("help")).endswith(f" | {STATS_HELP}")
    assert STATS_HELP == "lines | orders | executions"


def test_a_target_without_statistics_answers_an_error() -> None:
    assert execute(FakeTarget(), "lines") == "error: lines: this gateway keeps no statistics"
    assert execute(FakeTarget(), "executions") == (
        "error: executions: this gateway keeps no statistics"
    )
