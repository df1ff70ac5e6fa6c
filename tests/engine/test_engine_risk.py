"""Risk on the engine against the simulated gateway: the kill switch (cancels, halts,
persists across a restart; exits still allowed), a corrupt breaker record, refusals when
the session is not CONNECTED or a leg quote is stale, and a rejected order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.engine.conftest import HistoricalSpy, MakeEngine, engine_settings
from tests.engine.test_engine_trade import events, metric
from tests.sim.conftest import FakeMonotonic, until
from tui_trader.core.models import EventLevel, IntentStatus
from tui_trader.core.risk import BreakerState, BreakerStatus, GateCode
from tui_trader.engine.breakers import BREAKER_KEY
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal
from tui_trader.state.store import Account, ConnectionState, Orders, Positions, Preview


def intent_status(engine: Engine, intent_id: str) -> IntentStatus | None:
    found = engine.journal.intent(intent_id)
    return None if found is None else found.status


async def open_position(engine: Engine, symbol: str) -> str:
    assert (await engine.preview(symbol)).ok
    sent = await engine.transmit()
    assert sent.ok, sent.message
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.FILLED, what="fill")
    await until(
        lambda: any(sp.intent_id == iid for sp in engine.store.get(Positions).spreads),
        what="the position",
    )
    return iid


async def test_kill_switch_halts_persists_and_leaves_exits_open(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    held = await open_position(engine, "AAPL")

    # a working order: a BUY a dollar under the natural ask rests at the exchange
    assert (await engine.preview("MSFT")).ok
    lowered = await engine.adjust_limit(-100)
    assert lowered.ok, lowered.message
    assert (await engine.transmit()).ok
    working = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, working) is IntentStatus.WORKING, what="WORKING")
    assert len(engine_gateway.exchange.open_orders()) == 1

    out = await engine.kill_switch()
    assert out.ok and "1 working order" in out.message and "halted" in out.message
    state = engine.store.get(BreakerState)
    assert state.status is BreakerStatus.HALTED and state.kill_switch
    assert engine.journal.get_kv(BREAKER_KEY)["kill_switch"] is True
    await until(lambda: intent_status(engine, working) is IntentStatus.CANCELLED, what="cancel")
    assert engine_gateway.exchange.open_orders() == []
    assert any(e.kind == "risk" and "Kill switch engaged" in e.text for e in events(engine))

    # --- restart on the same journal: still halted, bars from today's cache --------------
    await engine.stop()
    spy = HistoricalSpy(engine_gateway)
    again = await make_engine()
    assert spy.count == 0  # same-day restart: no historical request at all
    restored = again.store.get(BreakerState)
    assert restored.kill_switch and restored.status is BreakerStatus.HALTED
    assert any("still engaged" in e.text for e in events(again, "risk"))

    # entries are refused, the order never leaves
    assert (await again.preview("MSFT")).ok
    gate = again.store.get(Preview).gate
    assert gate is not None and gate.reason_code is GateCode.HALTED
    refused = await again.transmit()
    assert not refused.ok and "halted" in refused.message
    assert len(again.journal.intents()) == 2  # AAPL open, MSFT cancelled, nothing new

    # exits are allowed: close the AAPL spread
    await until(lambda: len(again.store.get(Positions).spreads) == 1, what="the position")
    closing = await again.preview_close(held)
    assert closing.ok, closing.message
    done = await again.transmit()
    assert done.ok, done.message
    await until(lambda: again.store.get(Positions).spreads == (), what="flat")
    assert engine_gateway.exchange.positions() == []

    # the user clears it: entries allowed again, persisted
    cleared = await again.clear_kill_switch()
    assert cleared.ok and "allowed again" in cleared.message
    assert again.store.get(BreakerState).status is BreakerStatus.ACTIVE
    assert again.journal.get_kv(BREAKER_KEY)["kill_switch"] is False


@pytest.mark.parametrize(
    "corrupt",
    [
        "json-text",
        {"kill_switch": "maybe"},
        [1, 2, 3],
        {"kill_switch": False, "breaker_since": "yesterday"},
    ],
)
async def test_an_unreadable_breaker_record_means_halted(
    make_engine: MakeEngine, tmp_path: Path, corrupt: object
) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        journal.put_kv(BREAKER_KEY, {"kill_switch": False})
    if corrupt == "json-text":
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE kv SET value = '{not json' WHERE key = ?", (BREAKER_KEY,))
    else:
        with Journal(path) as journal:
            journal.put_kv(BREAKER_KEY, corrupt)
    engine = await make_engine(boot=False)
    state = engine.store.get(BreakerState)
    assert state.kill_switch and state.status is BreakerStatus.HALTED
    (event,) = [e for e in events(engine, "risk") if "cannot be read" in e.text]
    assert event.level is EventLevel.ERROR
    assert engine.journal.get_kv(BREAKER_KEY)["kill_switch"] is True  # rewritten readable


async def test_transmit_refused_when_the_session_is_not_connected(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    assert engine.store.get(Preview).gate.ok  # type: ignore[union-attr]
    engine_gateway.refuse(0.5)
    engine_gateway.drop()
    await until(lambda: engine.session.state is ConnectionState.RECONNECTING, what="RECONNECTING")
    out = await engine.transmit()
    assert not out.ok and "RECONNECTING" in out.message and "not CONNECTED" in out.message
    assert engine.journal.intents() == []
    assert engine_gateway.exchange.open_orders() == []
    assert engine_gateway.exchange.completed_orders() == []
    changes = [e.text for e in events(engine, "connection")]
    assert changes[-1] == "IB connection CONNECTED -> RECONNECTING"
    assert metric(engine, "tui_trader_connected") == 0.0

    # the gateway takes connections again: lines restored, the same order can go now
    await until(lambda: engine.session.is_ready, timeout=5.0, what="reconnected")
    spec = engine.store.get(Preview).spec
    assert spec is not None

    def fresh() -> bool:
        ages = [engine.marketdata.quote_age_s(leg.con_id, engine.now()) for leg in spec.legs]
        return all(a is not None and a < 5.0 for a in ages)

    await until(fresh, what="fresh leg quotes")
    assert metric(engine, "tui_trader_connected") == 1.0
    assert metric(engine, "tui_trader_reconnects_total") == 1.0
    sent = await engine.transmit()
    assert sent.ok, sent.message
    assert len(engine.journal.intents()) == 1


async def test_transmit_refused_when_a_leg_quote_is_stale(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine()
    assert (await engine.preview("AAPL")).ok
    spec = engine.store.get(Preview).spec
    assert spec is not None
    engine_gateway.freeze("AAPL")
    fake_time.advance(6.0)  # > stale_quote_s (5 s); the other symbols keep ticking
    await engine_gateway.pump()
    ages = [engine.marketdata.quote_age_s(leg.con_id, engine.now()) for leg in spec.legs]
    assert ages == [6.0, 6.0]
    engine.refresh()
    gate = engine.store.get(Preview).gate
    assert gate is not None and gate.reason_code is GateCode.STALE_QUOTE
    out = await engine.transmit()
    assert not out.ok and "stale" in out.message and "6.0 s" in out.message
    assert engine.journal.intents() == []
    assert engine_gateway.exchange.open_orders() == []


async def test_a_rejected_order_shows_ibs_reason_and_trips_the_breaker(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    settings = engine_settings(engine_gateway.port, risk={"max_rejections": 1})
    engine = await make_engine(settings=settings)
    assert (await engine.preview("MSFT")).ok
    engine_gateway.reject_next("Simulated: not enough margin for this order")
    sent = await engine.transmit()
    assert sent.ok, sent.message
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.REJECTED, what="REJECTED")
    (intent,) = engine.store.get(Orders).intents
    assert intent.status is IntentStatus.REJECTED and intent.last_error_code == 201
    assert intent.last_error_text is not None
    assert "not enough margin" in intent.last_error_text
    shown = [e for e in events(engine) if e.intent_id == iid and "REJECTED" in e.text]
    assert shown and "not enough margin" in shown[-1].text
    assert shown[-1].level is EventLevel.WARNING
    # one rejection within 10 minutes is the configured limit: halted, and said so
    state = engine.store.get(BreakerState)
    assert state.breaker_code == "REJECTIONS" and state.status is BreakerStatus.HALTED
    assert any("Circuit breaker REJECTIONS" in e.text for e in events(engine, "risk"))
    assert engine.journal.get_kv(BREAKER_KEY)["breaker_code"] == "REJECTIONS"
    assert metric(engine, 'tui_trader_orders_total{status="REJECTED"}') == 1.0
    assert (metric(engine, 'tui_trader_ib_errors_total{code="201"}') or 0) >= 1.0


async def test_a_day_loss_beyond_the_limit_trips_the_breaker_exits_still_allowed(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine()
    held = await open_position(engine, "AAPL")  # a bear put spread, about $2,000 at risk
    engine_gateway.set_price("AAPL", 300.0)  # far above both puts: nearly all of it lost
    fake_time.advance(2.0)  # the gateway pushes P&L once a second
    await engine_gateway.pump()

    def tripped() -> bool:
        return engine.store.get(BreakerState).breaker_code == "DAILY_LOSS"

    await until(tripped, what="the daily-loss breaker")
    state = engine.store.get(BreakerState)
    day_pnl = engine.store.get(Account).day_pnl
    assert day_pnl is not None and day_pnl <= -1000.0
    assert state.status is BreakerStatus.HALTED
    assert "reached the daily loss limit of -1,000.00" in (state.breaker_reason or "")
    assert engine.journal.get_kv(BREAKER_KEY)["breaker_code"] == "DAILY_LOSS"
    assert any("Circuit breaker DAILY_LOSS" in e.text for e in events(engine, "risk"))
    # the bear put's stop (entry + 2 ATR) is far below 300: the exit rule holds, and the
    # rescan says so once (an event, not an order)
    await until(lambda: abs((engine.spot("AAPL") or 0.0) - 300.0) < 1.0, what="AAPL at 300")
    assert (await engine.rescan()).ok
    assert (await engine.rescan()).ok
    (sp,) = engine.store.get(Positions).spreads
    entry = engine.journal.get_kv(f"entry/{held}")
    assert sp.exit_reason == "STOP"
    assert sp.stop_level == pytest.approx(entry["entry_price"] + 2.0 * entry["atr14"])
    spot = engine.spot("AAPL")
    assert spot is not None
    assert sp.stop_distance == pytest.approx((sp.stop_level - spot) / spot)
    (exit_event,) = events(engine, "exit")
    assert "STOP" in exit_event.text and "Nothing was sent" in exit_event.text
    assert exit_event.intent_id == held
    assert [i.spec.action for i in engine.store.get(Orders).intents] == ["BUY"]
    closing = await engine.preview_close(held)  # exits are allowed
    assert closing.ok, closing.message
    assert (await engine.transmit()).ok
    await until(lambda: engine.store.get(Positions).spreads == (), what="flat")


async def test_a_breaker_from_an_earlier_day_resets_the_kill_switch_does_not(
    make_engine: MakeEngine, tmp_path: Path
) -> None:
    yesterday = "2026-11-17T20:00:00+00:00"
    with Journal(tmp_path / "journal.sqlite3") as journal:
        journal.put_kv(
            BREAKER_KEY,
            {"breaker_code": "DAILY_LOSS", "breaker_reason": "day P&L -1,200.00",
             "breaker_since": yesterday, "kill_switch": True, "kill_switch_since": yesterday,
             "reset_at": None},
        )  # fmt: skip
    engine = await make_engine(boot=False)
    state = engine.store.get(BreakerState)
    assert state.breaker_code is None and state.reset_at == engine.now()
    assert state.kill_switch and state.status is BreakerStatus.HALTED
    assert engine.journal.get_kv(BREAKER_KEY)["breaker_code"] is None
    assert any("new trading day" in e.text for e in events(engine, "risk"))


async def test_cancel_a_working_order(make_engine: MakeEngine, engine_gateway: SimGateway) -> None:
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    assert (await engine.adjust_limit(-100)).ok  # a dollar under the market: it rests
    assert (await engine.transmit()).ok
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.WORKING, what="WORKING")
    # its legs stream pinned while it works
    intent = engine.store.get(Orders).intents[-1]
    budget = engine.marketdata.budget
    assert all(budget.is_pinned(leg.con_id) for leg in intent.spec.legs)
    out = await engine.cancel(iid)
    assert out.ok and iid in out.message
    await until(lambda: intent_status(engine, iid) is IntentStatus.CANCELLED, what="CANCELLED")
    assert engine_gateway.exchange.open_orders() == []
    await until(lambda: not any(budget.is_pinned(leg.con_id) for leg in intent.spec.legs))
    again = await engine.cancel(iid)
    assert not again.ok and "CANCELLED" in again.message
    unknown = await engine.cancel("tt-00000000dead")
    assert not unknown.ok and "No order" in unknown.message
    assert engine.store.get(BreakerState).status is BreakerStatus.ACTIVE  # a cancel is no reject
