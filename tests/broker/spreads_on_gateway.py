"""Picking and pricing real spreads from the simulated gateway, for the order tests.

Everything goes through ib_insync (reqSecDefOptParams, qualify, reqMktData) and the core
(OptionChain, select_spreads, natural_quotes, limit_price), as the app does.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import numpy as np
from ib_insync import IB, Option, Stock, Ticker

from tests.sim.conftest import T_START, until
from tui_trader.core.entry import SendContext
from tui_trader.core.models import SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import NaturalQuotes, OrderPrice, limit_price, natural_quotes
from tui_trader.core.risk import GateResult
from tui_trader.core.settings import ExecutionSettings, PricingSettings, SelectionSettings
from tui_trader.core.spreads import OptionChain, select_spreads
from tui_trader.sim.gateway import SimGateway

#: The gateway's start (Wed 2026-11-18 14:30 New York) is the tests' fixed "now".
TODAY = date(2026, 11, 18)
#: A passed risk gate for 10 contracts, for tests that transmit without the engine.
PASS = GateResult(True, 10, None, "All risk gates pass: 10 contracts.")
#: The engine's view of the moment of sending (core.entry.SendContext): all well; the
#: session down; a leg quote too old. The order manager adds the broker's own facts.
READY = SendContext(session_ok=True, session_state="CONNECTED", leg_ages_s=(0.1, 0.1),
                    stale_quote_s=5.0)  # fmt: skip
NOT_CONNECTED = replace(READY, session_ok=False, session_state="RECONNECTING")
STALE = replace(READY, leg_ages_s=(0.1, 7.5))


class TestClock:
    """An injectable UTC clock the tests move by hand."""

    __test__ = False  # not a test class

    def __init__(self, start: datetime = T_START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class ManualSleep:
    """An injectable ``sleep``: each call waits until the test releases it, then moves the
    test clock by the requested seconds (market time stays the gateway's)."""

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.requests: list[float] = []
        self._waiting: list[asyncio.Future[None]] = []

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiting if not f.done())

    async def __call__(self, seconds: float) -> None:
        self.requests.append(seconds)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        await fut
        self.clock.advance(seconds)

    def release(self) -> None:
        for f in self._waiting:
            if not f.done():
                f.set_result(None)
        self._waiting = [f for f in self._waiting if not f.done()]


@dataclass
class Chain:
    """One expiry's calls with live tickers, as the app would stream them."""

    expiry: str
    spot: float
    options: list[Option]
    tickers: dict[int, Ticker]

    def quote(self, con_id: int) -> tuple[float, float]:
        t = self.tickers[con_id]
        return float(t.bid), float(t.ask)


async def stream_calls(ib: IB, gw: SimGateway, symbol: str = "AAPL", n: int = 14) -> Chain:
    """The first expiry 30-45 days out, ``n`` call strikes from just below spot upward,
    qualified and streaming with greeks."""
    stock = Stock(symbol, "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    (params,) = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId)
    expiry = next(
        e
        for e in sorted(params.expirations)
        if 30 <= (datetime.strptime(e, "%Y%m%d").date() - TODAY).days <= 45
    )
    spot = gw.market.mid(symbol)
    strikes = sorted(params.strikes)
    first = max(i for i, k in enumerate(strikes) if k <= spot * 0.97)
    chosen = strikes[first : first + n]
    options = [Option(symbol, expiry, k, "C", "SMART") for k in chosen]
    assert len(await ib.qualifyContractsAsync(*options)) == len(options)
    tickers = {o.conId: ib.reqMktData(o) for o in options}
    await gw.pump()
    await until(
        lambda: all(
            t.modelGreeks is not None and not math.isnan(t.ask) and not math.isnan(t.bid)
            for t in tickers.values()
        ),
        what="option quotes with greeks",
    )
    return Chain(expiry, spot, options, tickers)


def best_bull_call(chain: Chain, selection: SelectionSettings) -> tuple[Option, Option, float]:
    """The top-ranked bull call spread of the chain (core.spreads), and the long leg's IV."""
    ts = list(chain.tickers.values())
    day = datetime.strptime(chain.expiry, "%Y%m%d").date()
    oc = OptionChain(
        expiry=[day] * len(ts),
        strike=[t.contract.strike for t in ts],
        is_call=np.ones(len(ts), dtype=np.bool_),
        bid=[t.bid for t in ts],
        ask=[t.ask for t in ts],
        delta=[t.modelGreeks.delta for t in ts],
        iv=[t.modelGreeks.impliedVol for t in ts],
        con_id=[t.contract.conId for t in ts],
    )
    sel = select_spreads(oc, chain.spot, "LONG", TODAY, selection, PricingSettings())
    assert len(sel) > 0, sel.rejected
    by_con = {o.conId: o for o in chain.options}
    long_leg = by_con[int(oc.con_id[sel.long_row[0]])]
    short_leg = by_con[int(oc.con_id[sel.short_row[0]])]
    iv = float(chain.tickers[long_leg.conId].modelGreeks.impliedVol)
    return long_leg, short_leg, iv


def natural(chain: Chain, long_leg: Option, short_leg: Option) -> NaturalQuotes:
    nat = natural_quotes(*chain.quote(long_leg.conId), *chain.quote(short_leg.conId))
    assert isinstance(nat, NaturalQuotes), nat
    return nat


def bull_call_spec(
    long_leg: Option,
    short_leg: Option,
    *,
    quantity: int,
    limit: float | None,
    action: str = "BUY",
    mode: str = "paper",
    order_type: str = "LMT",
) -> SpreadOrderSpec:
    def leg(o: Option, side: str) -> SpreadLeg:
        return SpreadLeg(
            con_id=o.conId,
            symbol=o.symbol,
            expiry=o.lastTradeDateOrContractMonth,
            strike=o.strike,
            right="C",
            action=side,  # type: ignore[arg-type]
        )

    return SpreadOrderSpec(
        underlying=long_leg.symbol,
        direction="LONG",
        legs=(leg(long_leg, "BUY"), leg(short_leg, "SELL")),
        action=action,  # type: ignore[arg-type]
        quantity=quantity,
        order_type=order_type,  # type: ignore[arg-type]
        limit_price=limit,
        mode=mode,  # type: ignore[arg-type]
    )


def priced(action: str, nat: NaturalQuotes, execution: ExecutionSettings) -> OrderPrice:
    price = limit_price(action, nat.bid, nat.ask, execution)  # type: ignore[arg-type]
    assert isinstance(price, OrderPrice), price
    return price


def orders_with_ref(gw: SimGateway, ref: str) -> list[object]:
    """Every order the simulated exchange holds (open or done) with this orderRef."""
    ex = gw.exchange
    return [o for o in ex.open_orders() + ex.completed_orders() if o.request.order_ref == ref]
