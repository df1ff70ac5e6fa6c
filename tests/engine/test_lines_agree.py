"""The app's market-data line count must be the gateway's, at every moment (issue 14).

The footer's ``lines N/90`` is the :class:`~tui_trader.broker.lines.LineBudget`'s count; IB
counts the lines it really holds for our clientId. When they disagree the app believes it
has room it does not have: IB refuses lines with error 101 and the budget shrinks for
lines nobody uses. These tests sample both counts (and the gateway's lines per conId: a
contract is never streamed twice) after every step of an engine's life: start with open
positions on the gateway, preview, a dropped connection, "data lost" (1101), a restart on
the same journal and gateway, and a gateway that grants fewer lines than the budget.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from tests.engine.conftest import MakeEngine
from tests.engine.test_engine_risk import open_position
from tests.sim.conftest import until
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Health, Positions

#: Barriers before a sample counts as settled: a 101 answered by a replay sends requests
#: after the barrier that saw the 101, so settling needs a round trip with nothing new.
MAX_BARRIERS = 20


def gateway_lines(gateway: SimGateway, engine: Engine) -> Counter[int]:
    """The lines IB holds for the engine's clientId, counted per conId."""
    cid = engine.session.client_id
    session = gateway.clients.get(cid) if cid is not None else None
    if session is None:
        return Counter()
    return Counter(line.con_id for line in session.lines.values())


def all_lines(gateway: SimGateway) -> int:
    """Every line the gateway holds, for any client."""
    return sum(len(s.lines) for s in gateway.clients.values())


async def settle(engine: Engine) -> None:
    """Round trips to the gateway until one sends nothing new: every request the app made
    has been handled by the gateway and every answer (101s included) has been handled."""
    md = engine.marketdata
    for _ in range(MAX_BARRIERS):
        before = (md.requests_sent, md.budget.snapshot())
        await engine.ib.reqCurrentTimeAsync()
        if (md.requests_sent, md.budget.snapshot()) == before:
            return
    raise AssertionError("the line requests never settled")


async def assert_agree(engine: Engine, gateway: SimGateway, moment: str) -> int:
    """The app's count (budget and footer) equals the gateway's; no conId twice."""
    await settle(engine)
    held = gateway_lines(gateway, engine)
    doubled = {con_id: n for con_id, n in held.items() if n > 1}
    assert doubled == {}, f"{moment}: conIds streamed more than once: {doubled}"
    budget = engine.marketdata.budget
    assert set(budget.active_keys()) == set(held), f"{moment}: different lines"
    assert budget.active == held.total(), f"{moment}: app {budget.active}, IB {held.total()}"
    assert engine.store.get(Health).lines_active == budget.active, f"{moment}: footer"
    return budget.active


async def reconnected(engine: Engine, count: int) -> None:
    await until(
        lambda: engine.session.reconnects >= count and engine.session.is_ready,
        timeout=10.0,
        what="the reconnect",
    )


async def test_the_line_count_agrees_with_the_gateway_through_an_engines_life(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    gw = engine_gateway
    engine = await make_engine()
    universe = await assert_agree(engine, gw, "start, flat")
    assert universe == 4  # MSFT AAPL SPY TLT

    await open_position(engine, "AAPL")
    await open_position(engine, "MSFT")
    await assert_agree(engine, gw, "two positions opened")
    legs = {leg.con_id for sp in engine.store.get(Positions).spreads for leg in sp.legs}
    assert len(legs) == 4

    # restart on the same journal and gateway: the positions' legs are pinned while the
    # session's ready hooks run, before the lines are restored
    await engine.stop()
    await until(lambda: all_lines(gw) == 0, what="IB dropping the stopped client's lines")
    engine = await make_engine()
    await until(lambda: len(engine.store.get(Positions).spreads) == 2, what="the positions")
    started = await assert_agree(engine, gw, "restart with two positions")
    assert started == 4 + 4  # the universe (which holds the underlyings) and the legs
    assert legs <= set(engine.marketdata.budget.active_keys())

    assert (await engine.preview("AAPL")).ok
    previewing = await assert_agree(engine, gw, "preview")
    assert previewing > started

    engine_gateway.drop()
    await reconnected(engine, 1)
    assert await assert_agree(engine, gw, "reconnect after a drop") == previewing

    gw.send_error(1101)  # restored, data lost: IB dropped every line
    await until(lambda: engine.marketdata.restores >= 3, what="the restore after 1101")
    assert await assert_agree(engine, gw, "after 1101") == previewing

    assert (await engine.preview("MSFT")).ok  # the AAPL chain is released
    await assert_agree(engine, gw, "second preview")

    await engine.stop()
    await until(lambda: all_lines(gw) == 0, what="IB dropping the stopped client's lines")
    engine = await make_engine()
    await until(lambda: len(engine.store.get(Positions).spreads) == 2, what="the positions")
    assert await assert_agree(engine, gw, "second restart") == started


async def test_lines_ib_refuses_shrink_the_budget_to_what_ib_granted(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    gw = engine_gateway
    engine = await make_engine()
    await open_position(engine, "AAPL")
    await engine.stop()
    await until(lambda: all_lines(gw) == 0, what="IB dropping the stopped client's lines")

    # another client holds lines: IB grants this one fewer than the budget's 90
    gw.limits = replace(gw.limits, max_market_data_lines=10)
    engine = await make_engine(chain_timeout_s=0.5)  # queued chain rows never tick
    await until(lambda: len(engine.store.get(Positions).spreads) == 1, what="the position")
    assert await assert_agree(engine, gw, "restart with one position") == 6

    legs = {leg.con_id for sp in engine.store.get(Positions).spreads for leg in sp.legs}
    out = await engine.preview("MSFT")  # 32 chain rows want lines: IB has 4 left
    assert not out.ok and "BAD_QUOTE" in out.message  # the queued rows never quoted
    assert await assert_agree(engine, gw, "preview beyond IB's limit") == 10
    budget = engine.marketdata.budget
    assert budget.max == 10 and budget.queued == 32 - 7
    # 4 rows took the free lines, 3 refused ones the unpinned underlyings (SPY TLT MSFT)
    assert budget.evictions == 3 and budget.snapshot().pinned_active == 10
    assert legs <= set(budget.active_keys())  # the position's legs kept their lines

    engine_gateway.drop()
    await reconnected(engine, 1)
    assert await assert_agree(engine, gw, "reconnect, still limited") == 10
    assert budget.max == 10
