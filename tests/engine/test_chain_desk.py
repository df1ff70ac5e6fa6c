"""Any symbol's option chain through the real engine and the simulated gateway (issue 13):
the chain's rows and numbers, the lines it holds and gives back, an unknown ticker, and the
vertical picked from it previewed and sent through the signal path's own desk."""

from __future__ import annotations

from tests.engine.conftest import ENGINE_SYMBOLS, MakeEngine, engine_settings
from tests.engine.test_lines_agree import assert_agree, reconnected
from tests.sim.conftest import until
from tui_trader.core.chain_table import ChainView, nearest_index
from tui_trader.core.models import IntentStatus
from tui_trader.core.risk import GateCode
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Orders, Preview


async def test_a_symbol_outside_the_universe_opens_streams_and_gives_its_lines_back(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    outside = [s for s in ENGINE_SYMBOLS if s != "SPY"]
    engine = await make_engine(
        settings=engine_settings(engine_gateway.port, universe={"symbols": outside})
    )
    before = await assert_agree(engine, engine_gateway, "before the chain")
    out = await engine.open_chain("spy")
    assert out.ok, out.message
    view = engine.store.get(ChainView)
    assert view.symbol == "SPY" and view.error is None
    assert len(view.rows) == 10 and view.expiry is not None
    assert (view.expiry - engine.today()).days >= engine.settings.selection.min_dte
    strikes = [r.strike for r in view.rows]
    assert strikes == sorted(strikes)
    mid = nearest_index(strikes, view.spot)
    assert mid is not None and 3 <= mid <= 6  # the strikes are centred on the spot
    atm = view.rows[mid]
    for side in (atm.call, atm.put):
        assert side.con_id > 0 and 0 < side.bid < side.ask
        assert 0.05 < side.iv < 2.0
    assert 0.2 < atm.call.delta < 0.8 and -0.8 < atm.put.delta < -0.2
    streaming = await assert_agree(engine, engine_gateway, "chain open")
    assert_open_interest(engine, engine_gateway)
    assert streaming == before + 1 + 20  # the stock and 10 strikes x 2 rights

    first = view.expiry
    out = await engine.step_chain(1, 0)
    assert out.ok, out.message
    assert engine.store.get(ChainView).expiry > first  # type: ignore[operator]
    assert await assert_agree(engine, engine_gateway, "next expiry") == streaming
    assert_open_interest(engine, engine_gateway)

    shown = [r.strike for r in engine.store.get(ChainView).rows]
    assert (await engine.step_chain(0, 1)).ok  # half a window higher
    higher = [r.strike for r in engine.store.get(ChainView).rows]
    assert len(higher) == 10 and higher[:5] == shown[5:] and higher[0] > shown[0]
    assert await assert_agree(engine, engine_gateway, "higher strikes") == streaming
    assert (await engine.step_chain(0, -1)).ok
    assert [r.strike for r in engine.store.get(ChainView).rows] == shown
    last = await engine.step_chain(-99, 0)
    assert last.ok and engine.store.get(ChainView).expiry_index == 0
    first = await engine.step_chain(-1, 0)
    assert not first.ok and first.message == "This is the first expiry IB lists."

    await engine.close_chain()
    assert engine.store.get(ChainView).symbol == ""
    assert await assert_agree(engine, engine_gateway, "chain closed") == before


def assert_open_interest(engine: Engine, gateway: SimGateway) -> None:
    """Every shown contract carries the simulated market's open interest (generic tick
    101, asked for on the chain's option lines only) once the desk republishes."""
    engine.chain_desk.refresh()
    view = engine.store.get(ChainView)
    sides = [s for r in view.rows for s in (r.call, r.put)]
    assert len(sides) == 20 and all(s.con_id > 0 for s in sides)
    for side in sides:
        assert side.open_interest == gateway.market.open_interest(side.con_id)[1], side
    atm = view.rows[nearest_index([r.strike for r in view.rows], view.spot) or 0]
    assert atm.call.open_interest > 1_000 and atm.put.open_interest > 1_000
    session = gateway.clients[engine.session.client_id or 0]
    ticks = {line.con_id: line.generic_ticks for line in session.lines.values()}
    options = {s.con_id for s in sides}
    assert {ticks[c] for c in options} == {frozenset({101})}
    assert all(not t for c, t in ticks.items() if c not in options)  # stocks: no 101


async def test_the_chains_lines_ask_for_open_interest_again_after_a_drop_and_1101(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    assert (await engine.open_chain("AAPL")).ok
    streaming = await assert_agree(engine, engine_gateway, "chain open")
    assert_open_interest(engine, engine_gateway)
    engine_gateway.drop()
    await reconnected(engine, 1)
    assert await assert_agree(engine, engine_gateway, "reconnect after a drop") == streaming
    assert_open_interest(engine, engine_gateway)
    restores = engine.marketdata.restores
    engine_gateway.send_error(1101)  # restored, data lost: IB dropped every line
    await until(lambda: engine.marketdata.restores > restores, what="the restore after 1101")
    assert await assert_agree(engine, engine_gateway, "after 1101") == streaming
    assert_open_interest(engine, engine_gateway)
    shown = engine.store.get(ChainView).rows[0].call.con_id
    assert engine.marketdata.generic_ticks(shown) == "101"
    await engine.close_chain()
    assert engine.marketdata.generic_ticks(shown) == ""  # nothing kept for lines given back


async def test_an_unknown_ticker_is_one_sentence(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    before = await assert_agree(engine, engine_gateway, "before")
    out = await engine.open_chain("ZZZQ")
    assert not out.ok
    assert out.message == "Unknown ticker ZZZQ: IB does not know it."
    assert engine.store.get(ChainView).error == out.message
    bad = await engine.open_chain("12$")
    assert not bad.ok and bad.message == "'12$' is not a ticker symbol."
    assert await assert_agree(engine, engine_gateway, "after") == before


async def test_a_picked_bull_call_is_previewed_gated_and_sent_like_a_signal(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    assert (await engine.open_chain("SPY")).ok
    view = engine.store.get(ChainView)
    mid = nearest_index([r.strike for r in view.rows], view.spot)
    assert mid is not None
    lo, hi = view.rows[mid].strike, view.rows[mid + 1].strike

    wrong = await engine.preview_chain_spread("LONG", hi, lo)
    assert not wrong.ok and "must be below" in wrong.message

    out = await engine.preview_chain_spread("LONG", lo, hi)
    assert out.ok, out.message
    preview = engine.store.get(Preview)
    spec = preview.spec
    assert spec is not None and spec.underlying == "SPY" and spec.direction == "LONG"
    assert (spec.long_leg.strike, spec.short_leg.strike) == (lo, hi)
    assert spec.long_leg.con_id == view.rows[mid].call.con_id
    assert preview.gate is not None and preview.gate.ok, preview.gate

    # SPY has no signal: the send does not ask for one, every other check still holds
    sent = await engine.transmit()
    assert sent.ok, sent.message
    intents = engine.store.get(Orders).intents
    assert [i.spec.underlying for i in intents] == ["SPY"]
    assert intents[0].status is not IntentStatus.REJECTED

    # the same gate as a signal's: one spread per underlying (SAME_UNDERLYING)
    again = await engine.preview_chain_spread("LONG", lo, hi)
    gate = engine.store.get(Preview).gate
    assert gate is not None and not gate.ok and gate.reason_code is GateCode.SAME_UNDERLYING
    assert "SAME_UNDERLYING" in again.message
    refused = await engine.transmit()
    assert not refused.ok
    assert len(engine.store.get(Orders).intents) == 1
    await engine.close_chain()
