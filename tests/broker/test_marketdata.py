"""Market-data lines through the budget against the simulated gateway (real sockets), and
the price sanitiser every quote goes through."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ib_insync import IB, Contract, Stock, Ticker

from tests.broker.conftest import T_START, FakeMonotonic, until
from tests.sim.conftest import Connect, MakeGateway
from tui_trader.broker import marketdata as marketdata_module
from tui_trader.broker.lines import LineBudget, LineStatus
from tui_trader.broker.marketdata import (
    IB_UNSET_DOUBLE,
    MarketData,
    Quote,
    clean_number,
    clean_price,
    clean_quote,
)
from tui_trader.sim.gateway import GatewayLimits, SimGateway
from tui_trader.state.store import Health, Store

MARKERS = (-1.0, -2.0, IB_UNSET_DOUBLE, math.nan, math.inf, -math.inf)


def clock_of(fake_time: FakeMonotonic) -> Callable[[], datetime]:
    return lambda: T_START + timedelta(seconds=fake_time.now - 1000.0)


async def option_contracts(ib: IB, n: int) -> list[Contract]:
    """``n`` listed AAPL options (December and January, calls and puts)."""
    out: list[Contract] = []
    for month in ("202612", "202701"):
        for right in ("C", "P"):
            details = await ib.reqContractDetailsAsync(
                Contract(
                    secType="OPT",
                    symbol="AAPL",
                    lastTradeDateOrContractMonth=month,
                    right=right,
                    exchange="SMART",
                    currency="USD",
                )
            )
            out += [d.contract for d in details]
    assert len(out) >= n
    return out[:n]


def lines_on_gateway(gateway: SimGateway, client_id: int) -> int:
    client = gateway.clients.get(client_id)
    return 0 if client is None else len(client.lines)


# -- the sanitiser ---------------------------------------------------------------------------


def test_clean_price_markers_are_nan() -> None:
    for marker in MARKERS:
        assert math.isnan(clean_price(marker))
    for junk in (None, "1.5", True, -0.01, -100.0):
        assert math.isnan(clean_price(junk))
    assert clean_price(0.0) == 0.0
    assert clean_price(12.34) == 12.34
    assert clean_price(7) == 7.0


def test_clean_number_keeps_negative_model_values() -> None:
    assert clean_number(-1.0) == -1.0  # a deep in-the-money put's delta
    assert clean_number(-0.35) == -0.35
    for missing in (None, math.nan, math.inf, IB_UNSET_DOUBLE, -IB_UNSET_DOUBLE, "x"):
        assert math.isnan(clean_number(missing))


def test_clean_quote_no_value_ticker() -> None:
    t = Ticker(bid=-1.0, bidSize=0.0, ask=-1.0, askSize=0.0, last=math.nan)
    q = clean_quote(t)
    assert all(math.isnan(x) for x in q)
    assert math.isnan(q.mid) and not q.has_bid_ask


def test_clean_quote_zero_size_and_zero_prices() -> None:
    # IB's "no bid" can come as price 0 with size 0; a bid of 0 with size is a real bid
    assert math.isnan(clean_quote(Ticker(bid=0.0, bidSize=0.0, ask=0.05, askSize=10.0)).bid)
    q = clean_quote(Ticker(bid=0.0, bidSize=25.0, ask=0.05, askSize=10.0, last=0.0))
    assert q.bid == 0.0 and q.ask == 0.05 and math.isnan(q.last)
    assert q.mid == 0.025
    assert math.isnan(clean_quote(Ticker(bid=1.0, bidSize=5.0, ask=0.0, askSize=5.0)).ask)
    assert math.isnan(clean_quote(Ticker(bid=1.0, bidSize=5.0, ask=1.1, askSize=0.0)).ask)
    good = clean_quote(Ticker(bid=2.5, bidSize=3.0, ask=2.6, askSize=4.0, last=2.55))
    assert good == Quote(2.5, 2.6, 2.55)
    assert math.isclose(good.mid, 2.55)


prices = st.one_of(
    st.sampled_from(MARKERS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-5.0, max_value=5_000.0),
)
sizes = st.one_of(st.just(0.0), st.just(math.nan), st.floats(min_value=0.0, max_value=1e6))


@settings(max_examples=300, deadline=None)
@given(bid=prices, ask=prices, last=prices, bid_size=sizes, ask_size=sizes)
def test_no_marker_ever_comes_out_as_a_price(
    bid: float, ask: float, last: float, bid_size: float, ask_size: float
) -> None:
    q = clean_quote(Ticker(bid=bid, bidSize=bid_size, ask=ask, askSize=ask_size, last=last))
    for value, raw in ((q.bid, bid), (q.ask, ask), (q.last, last)):
        if not math.isnan(value):
            assert math.isfinite(value) and 0.0 <= value < IB_UNSET_DOUBLE
            assert value == raw  # a price is passed through, never altered
    if not math.isnan(q.ask):
        assert q.ask > 0.0 and ask_size != 0.0
    if not math.isnan(q.last):
        assert q.last > 0.0
    if not math.isnan(q.bid):
        assert bid_size != 0.0
    mid = q.mid
    assert math.isnan(mid) or (math.isfinite(mid) and mid >= 0.0)


# -- lines against the gateway ---------------------------------------------------------------


async def test_150_lines_with_a_budget_of_90(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway(limits=GatewayLimits(max_messages_per_second=0))
    ib = await connect(1, gateway)
    ib.client.MaxRequests = 0  # the budget is under test here, not ib_insync's throttle
    store = Store()
    md = MarketData(ib, LineBudget(90), clock=clock_of(fake_time), store=store)
    contracts = await option_contracts(ib, 150)
    pinned = contracts[:10]
    for c in pinned:
        assert md.subscribe(c, pin="position") is not None
    for c in contracts[10:]:
        fake_time.advance(0.01)  # distinct recency for LRU
        assert md.subscribe(c) is not None  # room by evicting unpinned lines

    assert md.budget.active == 90
    assert md.budget.evictions == 60
    assert all(md.budget.status(c.conId) is LineStatus.ACTIVE for c in pinned)
    # the 60 evicted are the oldest unpinned requests; the newest 80 stream
    assert all(md.ticker(c.conId) is None for c in contracts[10:70])
    assert all(md.ticker(c.conId) is not None for c in contracts[70:])
    await ib.reqCurrentTimeAsync()  # every request and cancel has reached the gateway
    assert lines_on_gateway(gateway, 1) == 90
    health = store.get(Health)
    assert (health.lines_active, health.lines_max, health.line_evictions) == (90, 90, 60)
    assert health.lines_queued == 0
    await until(
        lambda: all(md.last_tick(c.conId) is not None for c in contracts[70:] + pinned),
        what="every line ticking",
    )


async def test_everything_pinned_queues_visibly(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway()
    ib = await connect(2, gateway)
    store = Store()
    md = MarketData(ib, LineBudget(5), clock=clock_of(fake_time), store=store)
    contracts = await option_contracts(ib, 7)
    tickers = [md.subscribe(c, pin="working order") for c in contracts]
    assert all(t is not None for t in tickers[:5]) and tickers[5:] == [None, None]
    assert store.get(Health).lines_queued == 2
    assert md.budget.evictions == 0

    md.unpin(contracts[0].conId, "working order")  # the queue head takes its line
    assert md.ticker(contracts[0].conId) is None
    assert md.ticker(contracts[5].conId) is not None
    assert store.get(Health).lines_queued == 1
    assert not md.unsubscribe(contracts[1])  # pinned: someone still needs it
    assert md.ticker(contracts[1].conId) is not None and md.budget.queued == 1
    md.unpin(contracts[1].conId, "working order")  # the queue head takes its line
    assert md.ticker(contracts[6].conId) is not None
    assert md.unsubscribe(contracts[2]) is False
    md.unpin(contracts[2].conId, "working order")
    assert md.unsubscribe(contracts[2])  # unpinned, now it goes
    assert store.get(Health).lines_queued == 0
    await ib.reqCurrentTimeAsync()
    assert lines_on_gateway(gateway, 2) == 4 == md.budget.active


async def test_error_101_shrinks_the_budget(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway(limits=GatewayLimits(max_market_data_lines=20))
    ib = await connect(3, gateway)
    store = Store()
    md = MarketData(ib, LineBudget(30), clock=clock_of(fake_time), store=store)
    contracts = await option_contracts(ib, 25)
    for c in contracts:
        fake_time.advance(0.01)
        md.subscribe(c)
    await until(lambda: md.budget.max == 20, what="five 101s")
    await ib.reqCurrentTimeAsync()
    await ib.reqCurrentTimeAsync()
    assert md.budget.shrinks == 5
    # each refused line took the least recently used unpinned line, which IB did grant
    assert md.budget.active == 20 and md.budget.evictions == 5 and md.budget.queued == 0
    assert lines_on_gateway(gateway, 3) == 20
    assert all(md.ticker(c.conId) is not None for c in contracts[5:])
    health = store.get(Health)
    assert (health.lines_active, health.lines_max, health.lines_queued) == (20, 20, 0)


async def test_error_101_with_everything_pinned_queues_the_refused(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway(limits=GatewayLimits(max_market_data_lines=20))
    ib = await connect(4, gateway)
    store = Store()
    md = MarketData(ib, LineBudget(30), clock=clock_of(fake_time), store=store)
    contracts = await option_contracts(ib, 25)
    for c in contracts:
        md.subscribe(c, pin="preview:AAPL")
    await until(lambda: md.budget.queued == 5, what="five refused lines queued")
    assert md.budget.max == 20 and md.budget.active == 20
    assert set(md.budget.queued_keys) == {c.conId for c in contracts[20:]}
    assert store.get(Health).lines_queued == 5
    await ib.reqCurrentTimeAsync()
    assert lines_on_gateway(gateway, 4) == 20


async def test_unknown_contract_is_flagged_and_skipped(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(5)
    md = MarketData(ib, LineBudget(10), clock=clock_of(fake_time))
    ghost = Contract(
        conId=99_999_999, symbol="ZZZZ", secType="STK", exchange="SMART", currency="USD"
    )
    aapl = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(aapl)
    assert md.subscribe(ghost) is not None  # IB answers later
    md.subscribe(aapl)
    await until(lambda: 99_999_999 in md.unknown, what="error 200")
    assert md.unknown_symbols == {"ZZZZ"}
    assert md.budget.status(99_999_999) is LineStatus.NONE
    assert md.subscribe(ghost) is None  # skipped, not re-requested
    assert md.requests_sent == 2
    await until(lambda: md.last_tick(aapl.conId) is not None, what="the good line")
    assert md.budget.active == 1


async def test_unqualified_contract_is_refused(connect: Connect, fake_time: FakeMonotonic) -> None:
    ib = await connect(6)
    md = MarketData(ib, LineBudget(10), clock=clock_of(fake_time))
    try:
        md.subscribe(Stock("AAPL", "SMART", "USD"))
    except ValueError as exc:
        assert "qualify" in str(exc)
    else:
        raise AssertionError("an unqualified contract must be refused")


async def test_quote_age_follows_ticks_and_a_frozen_feed_ages(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(7)
    clock = clock_of(fake_time)
    md = MarketData(ib, LineBudget(10), clock=clock)
    spy, aapl = Stock("SPY", "SMART", "USD"), Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(spy, aapl)
    assert md.quote_age_s(aapl.conId, clock()) is None  # no line
    md.subscribe(aapl)
    md.subscribe(spy)
    await until(lambda: md.last_tick(aapl.conId) is not None, what="first tick")
    assert md.quote_age_s(aapl.conId, clock()) == 0.0
    q = md.quote(aapl.conId)
    assert q.has_bid_ask and q.bid < q.ask and q.last > 0

    gateway.freeze("AAPL")
    fake_time.advance(12.0)
    gateway.set_price("SPY", 600.0)
    await gateway.pump(3)
    await until(lambda: md.quote_age_s(spy.conId, clock()) == 0.0, what="SPY ticking")
    assert md.quote_age_s(aapl.conId, clock()) == 12.0
    assert md.oldest_quote_age_s(clock()) == 12.0
    assert md.oldest_quote_age_s(clock(), [spy.conId]) == 0.0
    assert md.health_fields(clock())["oldest_quote_age_s"] == 12.0


async def test_a_dead_connection_gives_no_quote(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(8)
    clock = clock_of(fake_time)
    md = MarketData(ib, LineBudget(10), clock=clock)
    aapl = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(aapl)
    ticker = md.subscribe(aapl)
    await until(lambda: md.quote(aapl.conId).has_bid_ask, what="a quote")
    gateway.drop()
    await until(lambda: not ib.isConnected(), what="the drop")
    assert ticker is not None and ticker.bid > 0  # ib_insync keeps the old numbers ...
    q = md.quote(aapl.conId)
    assert math.isnan(q.bid) and math.isnan(q.ask) and math.isnan(q.last)  # ... we do not
    fake_time.advance(3.0)
    assert md.quote_age_s(aapl.conId, clock()) == 3.0  # and it ages

    await ib.connectAsync("127.0.0.1", gateway.port, clientId=8, timeout=5)
    assert await md.restore_all() == 1
    await until(lambda: md.quote(aapl.conId).has_bid_ask, what="the quote back")
    assert md.ticker(aapl.conId) is ticker
    assert md.quote_age_s(aapl.conId, clock()) == 0.0


async def test_a_request_ib_drops_for_the_message_rate_is_retried(
    make_gateway: MakeGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway(limits=GatewayLimits(max_messages_per_second=8))
    ib = await connect(9, gateway)
    ib.client.MaxRequests = 0  # no client-side throttle: the gateway drops what is too much
    errors: list[int] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append(code)
    md = MarketData(ib, LineBudget(20), clock=clock_of(fake_time), rate_retry_s=0.3)
    contracts = await option_contracts(ib, 12)
    for c in contracts:
        md.subscribe(c)
    await until(lambda: 100 in errors, what="error 100")
    await until(lambda: lines_on_gateway(gateway, 9) == 12, timeout=5.0, what="every line retried")
    await until(lambda: all(md.quote(c.conId).has_bid_ask for c in contracts), what="every quote")
    assert md.requests_sent > 12


async def test_touch_keeps_a_line_from_eviction(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    ib = await connect(10)
    md = MarketData(ib, LineBudget(2), clock=clock_of(fake_time))
    a, b, c = await option_contracts(ib, 3)
    md.subscribe(a)
    fake_time.advance(1.0)
    md.subscribe(b)
    fake_time.advance(1.0)
    assert md.touch(a.conId)  # a is now the most recently used
    assert not md.touch(c.conId)  # touching never subscribes
    fake_time.advance(1.0)
    md.subscribe(c)
    assert md.ticker(b.conId) is None and md.ticker(a.conId) is not None
    assert md.budget.evictions == 1
    await ib.reqCurrentTimeAsync()
    assert lines_on_gateway(gateway, 10) == 2


async def test_a_burst_of_line_changes_is_one_store_update_with_the_last_count(
    make_gateway: MakeGateway,
    connect: Connect,
    fake_time: FakeMonotonic,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12: the snapshot rotation takes and gives back a line ~40 times a second;
    each wrote Health (and redrew the footer's ``lines N/M``). ``publish_soon`` gathers a
    burst into one update that says the count after it."""
    monkeypatch.setattr(marketdata_module, "PUBLISH_SOON_S", 0.0)  # next loop turn
    gateway = await make_gateway()
    ib = await connect(3, gateway)
    store = Store()
    md = MarketData(ib, LineBudget(10), clock=clock_of(fake_time), store=store)
    contracts = await option_contracts(ib, 6)
    updates: list[int] = []
    store.subscribe(Health, lambda change: updates.append(change.value.lines_active))
    for c in contracts:
        md.budget.request(c.conId, 0.0)  # a line taken, as Snapshots.request does
        md.publish_soon()
    md.budget.release(contracts[0].conId, 0.0)  # and one given back
    md.publish_soon()
    assert updates == []  # nothing yet: the burst is still coming
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert updates == [5]  # one update, the count after the burst
    md.publish_soon()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert updates == [5]  # nothing changed since: the store drops an equal update
