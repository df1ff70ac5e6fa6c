"""Open interest (generic tick 101) from the simulated gateway, as ib_insync receives it.

IB sends an option's open interest as tickSize 27 (a call) or 28 (a put) when the request's
generic tick list holds 101; ib_insync files them under ``Ticker.callOpenInterest`` /
``putOpenInterest``. Without 101 nothing of the kind is sent.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

from ib_insync import IB, Option

from tui_trader.sim.chains import open_interest
from tui_trader.sim.gateway import SimGateway
from tui_trader.sim.market import Market
from tui_trader.sim.subscriptions import parse_generic_ticks

if TYPE_CHECKING:
    from conftest import Connect, FakeMonotonic, Until


def _strikes_around(market: Market, symbol: str, count: int) -> list[float]:
    spot = market.mid(symbol)
    strikes = sorted(market.strikes(symbol))
    mid = min(range(len(strikes)), key=lambda i: abs(strikes[i] - spot))
    return strikes[mid - count // 2 : mid - count // 2 + count]


async def _options(ib: IB, expiry: date, strike: float) -> tuple[Option, Option]:
    call = Option("AAPL", expiry.strftime("%Y%m%d"), strike, "C", "SMART")
    put = Option("AAPL", expiry.strftime("%Y%m%d"), strike, "P", "SMART")
    assert len(await ib.qualifyContractsAsync(call, put)) == 2
    return call, put


async def test_101_brings_the_models_open_interest_and_only_the_contracts_own_side(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, wait_until: Until
) -> None:
    market = gateway.market
    ib = await connect()
    expiry = market.expiries("AAPL")[1]
    (strike,) = _strikes_around(market, "AAPL", 1)
    call, put = await _options(ib, expiry, strike)
    c_ticker = ib.reqMktData(call, "101")
    p_ticker = ib.reqMktData(put, "101")
    await wait_until(
        lambda: (
            not math.isnan(c_ticker.callOpenInterest) and not math.isnan(p_ticker.putOpenInterest)
        ),
        what="open interest",
    )
    c_oi, p_oi = market.open_interest(call.conId), market.open_interest(put.conId)
    assert c_oi == ("C", c_ticker.callOpenInterest) and p_oi == ("P", p_ticker.putOpenInterest)
    assert c_oi[1] == int(c_oi[1]) and 1_000 < c_oi[1] < 200_000  # AAPL, at the money
    assert math.isnan(c_ticker.putOpenInterest) and math.isnan(p_ticker.callOpenInterest)

    # a day's number: the market moves, the open interest does not
    fake_time.advance(600)
    await gateway.pump(3)
    assert market.open_interest(call.conId) == c_oi
    ib.cancelMktData(call)
    again = await connect(2)
    (call2, _) = await _options(again, expiry, strike)
    t2 = again.reqMktData(call2, "100,101")
    await wait_until(lambda: not math.isnan(t2.callOpenInterest), what="the second request")
    assert t2.callOpenInterest == c_oi[1]


async def test_without_101_no_open_interest_is_sent(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic, wait_until: Until
) -> None:
    ib = await connect()
    expiry = gateway.market.expiries("AAPL")[0]
    (strike,) = _strikes_around(gateway.market, "AAPL", 1)
    call, put = await _options(ib, expiry, strike)
    tickers = [ib.reqMktData(call), ib.reqMktData(put, "236")]
    await wait_until(lambda: all(t.modelGreeks is not None for t in tickers), what="greeks")
    fake_time.advance(60)
    await gateway.pump(3)
    await ib.reqCurrentTimeAsync()  # a round trip: anything queued has arrived by its answer
    for t in tickers:
        assert math.isnan(t.callOpenInterest) and math.isnan(t.putOpenInterest)


def test_the_model_is_seeded_integer_larger_near_the_money_and_in_the_front_expiry(
    gateway: SimGateway,
) -> None:
    market = gateway.market
    expiries = market.expiries("AAPL")
    spot = market.mid("AAPL")
    strikes = sorted(market.strikes("AAPL"))

    def oi(expiry: date, k: float, right: str) -> int:
        contract = market.option("AAPL", expiry, k, right)  # type: ignore[arg-type]
        assert contract is not None
        r, value = market.open_interest(contract.con_id)
        assert r == right and isinstance(value, int) and value >= 0
        return value

    front = expiries[0]
    near = [k for k in strikes if abs(k / spot - 1) < 0.03]
    far = [k for k in strikes if abs(k / spot - 1) > 0.25]
    assert near and far
    near_oi = sum(oi(front, k, r) for k in near for r in "CP") / len(near)
    far_oi = sum(oi(front, k, r) for k in far for r in "CP") / len(far)
    assert near_oi > 5 * far_oi
    # a weekly a month or more out holds less than the front week, strike for strike
    later = next(e for e in expiries if (e - front).days >= 28 and not _monthly(e))
    assert sum(oi(front, k, r) for k in near for r in "CP") > 1.5 * sum(
        oi(later, k, r) for k in near for r in "CP"
    )
    # seeded: the same inputs give the same number, another seed another
    one = market.option("AAPL", front, near[0], "C")
    assert one is not None
    args = dict(con_id=one.con_id, strike=one.strike, ref_spot=spot, days=5,
                avg_volume=50e6, vol=0.3, right="C", monthly=False)  # fmt: skip
    assert open_interest(7, **args) == open_interest(7, **args)  # type: ignore[arg-type]
    assert open_interest(7, **args) != open_interest(8, **args)  # type: ignore[arg-type]


def _monthly(d: date) -> bool:
    return 15 <= d.day <= 21 and d.weekday() in (3, 4)


def test_generic_tick_lists_parse_like_ibs() -> None:
    assert parse_generic_ticks("") == frozenset()
    assert parse_generic_ticks("101") == frozenset({101})
    assert parse_generic_ticks("100, 101,106") == frozenset({100, 101, 106})
    assert parse_generic_ticks("mdoff,101,x") == frozenset({101})
