"""One entry cycle of the auto-trader while the world moves under it, time injected:

- the quotes tick while IB answers the what-if (every 0.1 s in the simulated market, every
  few milliseconds in a real one): the order sent is the one IB assessed, gated as things
  stand when it is sent; a tick never costs the key its day (``gate:WHATIF_PENDING``);
- the entry window closes in the middle of a cycle: what was still queued is EXPIRED and
  stays so, nothing is selected or sent after the close.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.engine.conftest import MakeEngine
from tests.engine.test_autotrader import (
    AUTO_SYMBOLS,
    MORNING,
    auto_settings,
    settled,
    states,
    to_window,
)
from tests.sim.conftest import FakeMonotonic, MakeGateway, until
from tui_trader.core.models import SpreadOrderSpec
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Automation

#: 15:59 New York: a minute after the window's close (15:58), the market still open.
AFTER_THE_WINDOW = datetime(2026, 11, 18, 20, 59, tzinfo=UTC)


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:
    return await make_gateway(symbols=AUTO_SYMBOLS, start=MORNING)


async def test_quotes_ticking_during_the_what_if_send_the_order_ib_assessed(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine(settings=auto_settings(engine_gateway.port))
    asked: list[SpreadOrderSpec] = []
    moved: list[bool] = []
    real = engine.orders.what_if

    async def what_if_while_the_market_moves(spec: SpreadOrderSpec) -> Any:
        before = [engine.marketdata.quote(leg.con_id) for leg in spec.legs]
        symbol = spec.underlying  # a tick of 0.3 % while IB answers: the legs' quotes move
        engine_gateway.set_price(symbol, engine_gateway.market.mid(symbol) * 1.003)
        fake_time.advance(0.2)
        await engine_gateway.pump()
        asked.append(spec)
        answer = await real(spec)  # the ticks reach the engine before IB's answer (TCP order)
        after = [engine.marketdata.quote(leg.con_id) for leg in spec.legs]
        moved.append([(q.bid, q.ask) for q in before] != [(q.bid, q.ask) for q in after])
        return answer

    engine.orders.what_if = what_if_while_the_market_moves  # type: ignore[method-assign]
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    assert len(moved) >= 3 and all(moved), moved  # the premise: every what-if saw a tick
    cands = engine.store.get(Automation).candidates
    skipped = sorted(c.reason or "" for c in cands if c.state == "SKIPPED")
    assert skipped == ["limit_reached"] * 2, skipped  # never gate:WHATIF_PENDING
    sent = [i for i in engine.journal.intents() if i.spec.action == "BUY"]
    assert len(sent) == 3
    assert all(it.spec in asked for it in sent)  # each exactly as IB assessed it


async def test_the_window_closing_mid_cycle_expires_the_rest_of_the_queue(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(engine_gateway.port, risk={"max_daily_trades": 5})
    engine = await make_engine(settings=settings)
    real = engine.orders.what_if
    at_close: list[dict[str, str]] = []

    async def what_if_as_the_window_closes(spec: SpreadOrderSpec) -> Any:
        if not at_close:  # the first attempt: the window closes while IB answers
            now = engine_gateway.sim_time()
            fake_time.advance((AFTER_THE_WINDOW - now).total_seconds())
            await engine_gateway.pump()
            engine.refresh()  # the periodic tick sees the close
            at_close.append(states(engine))
        return await real(spec)

    engine.orders.what_if = what_if_as_the_window_closes  # type: ignore[method-assign]
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: bool(at_close) and settled(engine), timeout=60, what="the cycle")
    selecting = [s for s, v in at_close[0].items() if v == "SELECTING"]
    assert len(selecting) == 1, at_close[0]  # only the one being tried
    first = selecting[0]
    rest = {s: v for s, v in at_close[0].items() if s != first}
    assert rest == dict.fromkeys(rest, "EXPIRED")  # the queue at the close
    assert {s: v for s, v in states(engine).items() if s != first} == rest  # and after it
    assert {i.spec.underlying for i in engine.journal.intents()} <= {first}
