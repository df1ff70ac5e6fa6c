"""History against the simulated gateway (real sockets, real journal): a spread bought and
sold through the engine is one closed trade whose prices, commissions and realised P&L are
those IB reported, with the closing combo's average price a positive credit."""

from __future__ import annotations

import pytest

from tests.engine.conftest import MakeEngine
from tests.sim.conftest import until
from tui_trader.core.history import MANUAL, closed_trades
from tui_trader.core.models import IntentStatus
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Orders, Positions, Preview


async def test_a_round_trip_through_the_engine_is_one_closed_trade(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    store = engine.store
    assert (await engine.preview("MSFT")).ok
    assert (await engine.transmit()).ok
    await until(
        lambda: store.get(Orders).intents[0].status is IntentStatus.FILLED, what="the entry"
    )
    await until(lambda: len(store.get(Positions).spreads) == 1, what="the position")
    (sp,) = store.get(Positions).spreads
    assert (await engine.preview_close(str(sp.intent_id))).ok
    lo, sh = store.get(Preview).legs
    credit = lo.bid - sh.ask  # type: ignore[operator]
    assert (await engine.transmit()).ok
    await until(lambda: store.get(Positions).spreads == (), what="flat")

    def both_commissions() -> bool:
        its = engine.journal.intents()
        return len(its) == 2 and all(i.commission is not None for i in its)

    await until(both_commissions, what="the commission reports")
    opening, closing = engine.journal.intents()
    qty = opening.filled
    assert closing.spec.action == "SELL" and closing.filled == qty
    (t,) = closed_trades(*engine.journal.history_inputs()).trades
    assert (t.symbol, t.quantity, t.rule) == ("MSFT", qty, MANUAL)
    assert t.entry_price == opening.avg_fill_price and t.entry_price > 0
    assert t.exit_price == pytest.approx(credit, abs=1e-9) and t.exit_price > 0
    # IB's 0.65 a contract a leg, both orders: 4 leg fills of qty contracts
    assert t.commission == pytest.approx(0.65 * 4 * qty)
    assert t.pnl == pytest.approx((credit - t.entry_price) * qty * 100 - 0.65 * 4 * qty)
    assert t.cumulative == t.pnl
