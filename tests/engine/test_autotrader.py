"""The auto-trader (SPEC 11) against the simulated gateway, time injected: candidates queued
before the window, sent when it opens through the same order desk as a key press, the
daily limit, dry-run, breakers, the kill switch, stale quotes and exits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.engine.conftest import MakeEngine, engine_settings
from tests.sim.conftest import FakeMonotonic, MakeGateway, until
from tui_trader.core.auto import CandidateState
from tui_trader.core.pricing import PriceRefusal, limit_price, natural_quotes
from tui_trader.core.risk import BreakerState, BreakerStatus
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Automation, Preview

#: Wednesday 2026-11-18, 11:15 New York: the window (14:45-15:58) opens 3 h 30 min later.
MORNING = datetime(2026, 11, 18, 16, 15, tzinfo=UTC)
#: All five signal at 11:15 and in the afternoon (seed 7; the market depends on the universe).
AUTO_SYMBOLS = ("AAPL", "AMZN", "AXP", "BA", "COP")
S = CandidateState


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:
    return await make_gateway(symbols=AUTO_SYMBOLS, start=MORNING)


def auto_settings(port: int, **sections: dict[str, Any]) -> Settings:
    base: dict[str, dict[str, Any]] = {
        "universe": {"symbols": list(AUTO_SYMBOLS)},
        "auto": {"enabled": True},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return engine_settings(port, **base)


def states(engine: Engine) -> dict[str, str]:
    return {c.symbol: c.state for c in engine.store.get(Automation).candidates}


async def to_window(engine: Engine, gw: SimGateway, fake_time: FakeMonotonic) -> None:
    """Move the market to 15:05 New York and let the engine notice the window."""
    fake_time.advance((datetime(2026, 11, 18, 20, 5, tzinfo=UTC) - MORNING).total_seconds())
    await gw.pump()
    engine.refresh()


def settled(engine: Engine) -> bool:
    return all(s not in (S.QUEUED, S.SELECTING) for s in states(engine).values()) and bool(
        states(engine)
    )


async def test_queued_before_the_window_sent_when_it_opens_until_the_daily_limit(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine(settings=auto_settings(engine_gateway.port))
    auto = engine.store.get(Automation)
    assert auto.mode == "ARMED"
    assert states(engine) == dict.fromkeys(AUTO_SYMBOLS, "QUEUED")  # 11:15: before the window
    assert engine_gateway.exchange.open_orders() == []

    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    got = {k: "SENT" if v == "FILLED" else v for k, v in states(engine).items()}
    assert sorted(got.values()) == ["SENT"] * 3 + ["SKIPPED"] * 2, got
    skipped = [c for c in engine.store.get(Automation).candidates if c.state == "SKIPPED"]
    assert {c.reason for c in skipped} == {"limit_reached"}  # the fourth and fifth of 3 a day
    assert all(c.spread is None for c in skipped)  # never priced: no slot was left
    sent = [c for c in engine.store.get(Automation).candidates if c.state in ("SENT", "FILLED")]
    assert all(c.spread is not None and c.debit is not None for c in sent)
    intents = {i.intent_id: i for i in engine.journal.intents()}
    assert len(intents) == 3
    for c in sent:
        it = intents[c.intent_id or ""]
        assert it.spec.action == "BUY" and it.spec.underlying == c.symbol
        assert it.spec.limit_price == c.debit  # paper: marketable at the natural ask
    await engine_gateway.pump(3)
    await until(
        lambda: all(s in ("FILLED", "SKIPPED") for s in states(engine).values()),
        timeout=10,
        what="fills",
    )
    # a later scan in the window: the limit still holds, nothing is sent twice
    engine.scanner.scan_now()
    await until(lambda: settled(engine), timeout=30, what="the second cycle")
    assert len(engine.journal.intents()) == 3
    auto = engine.store.get(Automation)
    assert (auto.entries_today, auto.max_daily_trades) == (3, 3)
    assert not any(c.state == "QUEUED" for c in auto.candidates)  # the queue is empty


async def test_live_orders_are_refused_on_a_paper_account(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(
        engine_gateway.port, execution={"mode": "live"}, risk={"max_daily_trades": 1}
    )
    engine = await make_engine(settings=settings)
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    cands = engine.store.get(Automation).candidates
    assert [c.state for c in cands].count("SENT") == 0
    (first, *_) = [c for c in cands if c.state == "SKIPPED" and c.reason != "limit_reached"]
    assert "paper account" in (first.reason or "")
    assert engine_gateway.exchange.open_orders() == []


async def test_live_orders_start_at_the_price_improvement_limit(
    make_gateway: MakeGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    live_gw = await make_gateway(symbols=AUTO_SYMBOLS, start=MORNING, account="U7654321")
    settings = auto_settings(live_gw.port, execution={"mode": "live"})
    engine = await make_engine(settings=settings)
    await to_window(engine, live_gw, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    sent = [i for i in engine.journal.intents() if i.spec.action == "BUY"]
    assert len(sent) == 3
    md = engine.marketdata
    live = settings.execution
    for it in sent:
        (lo, sh) = (md.quote(it.spec.long_leg.con_id), md.quote(it.spec.short_leg.con_id))
        nat = natural_quotes(lo.bid, lo.ask, sh.bid, sh.ask)
        assert not isinstance(nat, PriceRefusal)
        want = limit_price("BUY", nat.bid, nat.ask, live, max_debit=5.0)
        assert not isinstance(want, PriceRefusal)
        # natural bid + 40 % of the natural spread, on the tick: below the natural ask
        assert it.spec.limit_price == want.limit and want.limit is not None
        assert nat.bid < want.limit < nat.ask


async def test_dry_run_sends_nothing_and_journals_what_it_would_send(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(engine_gateway.port, auto={"enabled": True, "dry_run": True})
    engine = await make_engine(settings=settings)
    assert engine.store.get(Automation).mode == "DRY-RUN"
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    got = engine.journal.candidates()
    dry = [c for c in got if c.state is S.DRY_RUN]
    assert sorted(c.reason or "" for c in got if c.state is S.SKIPPED) == ["limit_reached"] * 2
    assert len(dry) == 3 and all((c.reason or "").startswith("would send BUY") for c in dry)
    assert all(c.detail["debit"] > 0 and c.detail["quantity"] >= 1 for c in dry)
    await engine_gateway.pump()
    assert engine.journal.intents() == [] and engine_gateway.exchange.open_orders() == []


async def test_breaker_and_kill_switch_stop_entries_and_a_key_is_tried_once(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine(settings=auto_settings(engine_gateway.port))
    out = await engine.kill_switch()
    assert out.ok
    auto = engine.store.get(Automation)
    assert auto.mode == "OFF"  # the kill switch disarms
    assert not (await engine.arm_auto(False)).ok  # and arming waits for it to be cleared
    await to_window(engine, engine_gateway, fake_time)
    assert states(engine) == dict.fromkeys(AUTO_SYMBOLS, "QUEUED")
    assert engine.journal.intents() == []
    assert (await engine.clear_kill_switch()).ok
    assert engine.store.get(Automation).mode == "OFF"  # clearing does not re-arm
    # the same keys are never journaled twice, whatever the scans
    engine.scanner.scan_now()
    assert len(engine.journal.candidates()) == len(AUTO_SYMBOLS)


async def test_a_frozen_quote_is_a_reason_never_an_order(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(engine_gateway.port, risk={"stale_quote_s": 0.5})
    engine = await make_engine(settings=settings)
    fake_time.advance((datetime(2026, 11, 18, 20, 5, tzinfo=UTC) - MORNING).total_seconds())
    await engine_gateway.pump()
    # the legs' quotes age past stale_quote_s while IB is asked for the what-if
    real = engine.orders.what_if

    async def slow_what_if(spec: Any) -> Any:
        fake_time.advance(2.0)
        return await real(spec)

    engine.orders.what_if = slow_what_if  # type: ignore[method-assign]
    for symbol in AUTO_SYMBOLS:
        engine_gateway.freeze(symbol)  # the feed stops: no tick refreshes the legs
    engine.refresh()
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    reasons = {c.reason for c in engine.store.get(Automation).candidates}
    assert reasons == {"gate:STALE_QUOTE"}, reasons
    assert engine.journal.intents() == [] and engine_gateway.exchange.open_orders() == []


async def test_state_and_candidates_survive_a_restart(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(engine_gateway.port)
    first = await make_engine(settings=settings)
    assert len(first.journal.candidates()) == len(AUTO_SYMBOLS)
    await first.stop()
    again = Settings.model_validate({**settings.model_dump(), "auto": {"enabled": False}})
    fake_time.advance(16.0)  # IB refuses an identical history request within 15 s
    second = await make_engine(settings=again, journal_name="other.sqlite3")  # a fresh one
    assert second.store.get(Automation).mode == "OFF"
    # same journal: armed state and the day's keys come back
    third = await make_engine(settings=again, journal_name="journal.sqlite3")
    assert third.store.get(Automation).mode == "ARMED"
    assert states(third) == dict.fromkeys(AUTO_SYMBOLS, "QUEUED")


async def test_exits_are_sent_once_for_spreads_we_opened_even_when_halted(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(
        engine_gateway.port, risk={"max_daily_trades": 1}, exits={"min_days_to_exit": 60}
    )
    engine = await make_engine(settings=settings)
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    await engine_gateway.pump(3)
    await until(lambda: "FILLED" in states(engine).values(), timeout=10, what="the fill")
    engine.breakers.engage_kill_switch()  # halted (the kill switch's own disarm is bypassed)
    assert engine.store.get(Automation).mode == "HALTED"
    # DTE <= 60 holds for every 30-45 DTE spread: TIME exit, checked every second (the
    # legs' lines move from the order's pins to the position's and tick again first)
    for _ in range(20):
        fake_time.advance(1.0)
        await engine_gateway.pump()
        engine.refresh()
        await asyncio.sleep(0.05)
        if any(i.spec.action == "SELL" for i in engine.journal.intents()):
            break
    (opened,) = [i for i in engine.journal.intents() if i.spec.action == "BUY"]
    record = engine.journal.get_kv(f"auto/exit/{opened.intent_id}")
    assert record["rule"] == "TIME" and record["attempts"] == 1
    sells = [i for i in engine.journal.intents() if i.spec.action == "SELL"]
    assert len(sells) == 1
    engine.refresh()
    engine.refresh()
    await engine_gateway.pump(3)
    assert len([i for i in engine.journal.intents() if i.spec.action == "SELL"]) == 1
    assert engine.store.get(Preview).spec is None  # the desk, not the preview, sent it
    assert engine.store.get(BreakerState).status is BreakerStatus.HALTED  # exits went out
    assert engine.store.get(Automation).mode == "HALTED"


async def test_metrics_follow_the_auto_trader(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine(settings=auto_settings(engine_gateway.port))
    text = engine.metrics.render().decode()
    assert "tui_trader_auto_state 1.0" in text  # armed
    assert 'tui_trader_auto_candidates{state="QUEUED"} 5.0' in text
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    text = engine.metrics.render().decode()
    assert 'tui_trader_auto_orders_total{kind="entry"} 3.0' in text
    assert 'tui_trader_auto_candidates{state="QUEUED"} 0.0' in text


async def test_arming_queues_the_current_scans_signals_at_once(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    settings = engine_settings(engine_gateway.port, universe={"symbols": list(AUTO_SYMBOLS)})
    engine = await make_engine(settings=settings)
    assert engine.store.get(Automation).mode == "OFF"
    assert engine.journal.candidates() == []  # off: nothing is queued
    assert (await engine.arm_auto(False)).ok
    assert states(engine) == dict.fromkeys(AUTO_SYMBOLS, "QUEUED")
    assert (await engine.disarm_auto()).ok
    assert engine.store.get(Automation).mode == "OFF"
    assert engine.journal.get_kv("auto/state") == {"armed": False, "dry_run": False}


async def test_a_rejected_entry_is_rejected_with_ibs_reason_and_never_resent(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    settings = auto_settings(engine_gateway.port, risk={"max_daily_trades": 1})
    engine = await make_engine(settings=settings)
    engine_gateway.reject_next("Insufficient margin for this order")
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    await until(lambda: "REJECTED" in states(engine).values(), timeout=10, what="the rejection")
    (rejected,) = [c for c in engine.store.get(Automation).candidates if c.state == "REJECTED"]
    assert "Insufficient margin" in (rejected.reason or "")
    # the next scan in the window: the rejected key is not tried again
    engine.scanner.scan_now()
    await until(lambda: settled(engine), timeout=30, what="the second cycle")
    opened = [i for i in engine.journal.intents() if i.spec.underlying == rejected.symbol]
    assert len(opened) == 1
