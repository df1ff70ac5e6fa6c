"""MarketData's line count against the gateway's over a connection's events (issue 14).

A line requested after a connection came up but before :meth:`MarketData.restore_all` ran
(the engine pins positions' legs in an earlier ready hook) must not be requested a second
time: IB would hold two lines for one contract and the budget would count one. After IB
refused lines (101) and the connection was lost, the lines IB had granted are asked for
first, the refused ones stay queued, and the counts still agree.
"""

from __future__ import annotations

from collections import Counter

from ib_insync import IB, Stock

from tests.broker.test_marketdata import clock_of, option_contracts
from tests.sim.conftest import Connect, FakeMonotonic, MakeGateway, until
from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData
from tui_trader.sim.gateway import GatewayLimits, SimGateway

PIN = "position"


def held(gateway: SimGateway, client_id: int) -> Counter[int]:
    """The lines the gateway holds for ``client_id``, counted per conId."""
    client = gateway.clients.get(client_id)
    return Counter() if client is None else Counter(x.con_id for x in client.lines.values())


async def settle(ib: IB, md: MarketData) -> None:
    """Round trips until one brings nothing new (a 101's replay sends after the barrier
    that delivered the 101)."""
    for _ in range(20):
        before = (md.requests_sent, md.budget.snapshot())
        await ib.reqCurrentTimeAsync()
        if (md.requests_sent, md.budget.snapshot()) == before:
            return
    raise AssertionError("the line requests never settled")


async def assert_agree(ib: IB, md: MarketData, gateway: SimGateway, client_id: int) -> None:
    await settle(ib, md)
    lines = held(gateway, client_id)
    assert {k: n for k, n in lines.items() if n > 1} == {}
    assert set(lines) == set(md.budget.active_keys())
    assert lines.total() == md.budget.active


async def test_a_line_requested_before_restore_all_is_not_requested_again(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(31)
    md = MarketData(ib, LineBudget(10), clock=clock_of(fake_time))
    aapl, spy = Stock("AAPL", "SMART", "USD"), Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(aapl, spy)
    md.subscribe(aapl, pin=PIN)  # a ready hook before restore_all pins a position's leg
    assert await md.restore_all() == 0
    assert md.requests_sent == 1
    await assert_agree(ib, md, gateway, 31)
    assert held(gateway, 31) == {aapl.conId: 1}

    gateway.send_error(1101)  # restored, data lost: IB dropped the line
    await until(lambda: not md.is_live(aapl.conId), what="the 1101")
    assert held(gateway, 31) == {}
    md.subscribe(spy)  # asked for between the 1101 and the restore: goes out once
    assert await md.restore_all() == 1  # AAPL only
    assert await md.restore_all() == 0  # idempotent
    assert md.requests_sent == 3
    await assert_agree(ib, md, gateway, 31)
    assert held(gateway, 31) == {aapl.conId: 1, spy.conId: 1}
    await until(lambda: md.quote(aapl.conId).has_bid_ask, what="AAPL streaming again")


async def test_after_a_shrink_a_reconnect_asks_for_the_granted_lines_first(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway(limits=GatewayLimits(max_market_data_lines=8))
    ib = await connect(32, gateway)
    md = MarketData(ib, LineBudget(12), clock=clock_of(fake_time))
    contracts = await option_contracts(ib, 12)
    for c in contracts:
        fake_time.advance(0.01)
        md.subscribe(c, pin=PIN)
    await until(lambda: md.budget.queued == 4, what="four 101s")
    await assert_agree(ib, md, gateway, 32)
    granted = {c.conId for c in contracts[:8]}
    refused = {c.conId for c in contracts[8:]}
    assert set(held(gateway, 32)) == granted and md.budget.max == 8

    gateway.drop()
    await until(lambda: not ib.isConnected(), what="the drop")
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=32, timeout=5)
    await md.restore_all()  # the budget is back at 12: the refused lines are asked again
    await assert_agree(ib, md, gateway, 32)
    assert set(held(gateway, 32)) == granted  # IB refused the queue again, not the legs
    assert set(md.budget.queued_keys) == refused
    assert md.budget.max == 8 and md.budget.active == 8
    assert md.requests_sent == 12 + 8 + 4  # first connection, granted again, queue again
