"""The engine publishes each held spread's risk on the Positions slice (issue 13): after a
real fill on the simulated gateway, the spread's greeks are its legs' model greeks in
contracts x 100, the delta in dollars is at the engine's spot, and the max loss is what
was paid."""

from __future__ import annotations

import pytest

from tests.engine.conftest import MakeEngine
from tests.sim.conftest import until
from tui_trader.core.models import IntentStatus
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Orders, Positions, Preview


async def test_a_filled_spread_carries_its_risk(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    store = engine.store
    assert (await engine.preview("MSFT")).ok
    spec = store.get(Preview).spec
    assert spec is not None
    assert (await engine.transmit()).ok
    await until(lambda: store.get(Orders).intents[0].status is IntentStatus.FILLED, what="the fill")
    await until(
        lambda: (
            len(store.get(Positions).spreads) == 1
            and (r := store.get(Positions).spreads[0].risk) is not None
            and r.complete
        ),
        what="the position with its greeks",
    )
    engine.exit_monitor.republish()
    (sp,) = store.get(Positions).spreads
    risk = sp.risk
    assert risk is not None and sp.cost is not None
    lo, sh = sp.legs
    assert lo.delta is not None and sh.delta is not None
    qty = spec.quantity
    assert risk.delta == pytest.approx(qty * 100 * (lo.delta - sh.delta))
    assert risk.delta is not None and risk.delta > 0  # a bull call
    spot = engine.spot("MSFT")
    assert spot is not None and risk.spot == spot
    assert risk.dollar_delta == pytest.approx(risk.delta * spot)
    assert risk.max_loss == pytest.approx(sp.cost)
    assert risk.max_profit == pytest.approx(qty * 100 * (sh.strike - lo.strike) - sp.cost)
    assert risk.breakeven == pytest.approx(lo.strike + sp.cost / (qty * 100))
