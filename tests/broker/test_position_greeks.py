"""Held legs carry IB's model greeks (tickOptionComputation from the simulated gateway),
and the engine's risk step turns them into the spread's greeks in contracts x 100."""

from __future__ import annotations

from typing import Any

import pytest
from ib_insync import IB, MarketOrder

from tests.broker.spreads_on_gateway import TestClock, stream_calls
from tests.sim.conftest import until
from tui_trader.broker.account import AccountView
from tui_trader.engine.positions_risk import with_risk
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal
from tui_trader.state.store import Positions, Store


async def test_held_legs_have_the_tickers_model_greeks(
    gateway: SimGateway, connect: Any, journal: Journal
) -> None:
    ib: IB = await connect(1)
    chain = await stream_calls(ib, gateway)
    lo, sh = chain.options[4], chain.options[6]
    store = Store()
    view = AccountView(ib, journal, clock=TestClock(), store=store)
    await view.refresh()
    buy = ib.placeOrder(lo, MarketOrder("BUY", 3, account="DU123456"))
    sell = ib.placeOrder(sh, MarketOrder("SELL", 3, account="DU123456"))
    await until(lambda: buy.isDone() and sell.isDone())
    await until(lambda: len(view.spreads) == 1 and view.spreads[0].quantity == 3)
    await until(lambda: all(leg.delta is not None for leg in view.spreads[0].legs))
    (sp,) = store.get(Positions).spreads
    tickers = {t.contract.conId: t for t in ib.tickers() if t.contract is not None}
    for leg in sp.legs:
        g = tickers[leg.con_id].modelGreeks
        assert g is not None
        assert (leg.delta, leg.gamma, leg.theta, leg.vega) == (g.delta, g.gamma, g.theta, g.vega)
    long_leg, short_leg = sp.legs
    assert long_leg.delta is not None and short_leg.delta is not None
    assert long_leg.delta > short_leg.delta > 0  # calls: lower strike, larger delta

    spot = gateway.market.mid("AAPL")
    (risky,) = with_risk([sp], {"AAPL": spot})
    risk = risky.risk
    assert risk is not None and risk.complete
    assert risk.delta == pytest.approx(300 * (long_leg.delta - short_leg.delta))
    assert risk.delta is not None
    assert risk.dollar_delta == pytest.approx(risk.delta * spot)
    # Bought by hand at the market: cost per share is the debit; max loss is the cost.
    assert sp.cost is not None
    assert risk.max_loss == pytest.approx(sp.cost)
    width = sh.strike - lo.strike
    assert risk.max_profit == pytest.approx(300 * width - sp.cost)
    assert risk.breakeven == pytest.approx(lo.strike + sp.cost / 300)
