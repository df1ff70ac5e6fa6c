"""Clearing the kill switch from the dashboard: ``ctrl+u`` (remappable as
``clear_kill_switch``) asks first, saying what it re-enables, then the real engine clears
it (persisted, footer no longer HALTED); it is in the command palette and on Help, and a
key press while nothing is engaged only says so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.engine.conftest import MakeEngine, engine_gateway, make_engine  # noqa: F401
from tests.sim.conftest import fake_time, make_gateway, until  # noqa: F401
from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import APP_NOW, Demo
from tests.tui.test_flows_gateway import SIZE, dashboard, settle, toasts
from tests.tui.test_keymap import remapped
from tui_trader.core.risk import BreakerState, BreakerStatus, engage_kill_switch
from tui_trader.engine.breakers import BREAKER_KEY
from tui_trader.state.store import Store
from tui_trader.tui.app import known_binding_ids
from tui_trader.tui.screens.confirm import ConfirmScreen, clear_kill_switch_question
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.widgets.footer import HealthFooter


def confirm_texts(screen: object) -> str:
    assert isinstance(screen, ConfirmScreen)
    return f"{screen.confirm_title}\n{screen.message}\n{screen.detail}"


async def test_engage_then_clear_the_kill_switch_from_the_dashboard(
    make_engine: MakeEngine,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+k", "y")
        await until(lambda: engine.store.get(BreakerState).kill_switch, what="engaged")
        await settle(pilot)
        assert "HALTED" in app.screen.query_one(HealthFooter).text

        await pilot.press("ctrl+u")
        text = confirm_texts(app.screen)
        assert "new opening orders" in text
        assert "No circuit breaker is tripped" in text
        assert "auto-trader stays off" in text
        await pilot.press("escape")  # no: nothing changes
        await settle(pilot)
        assert engine.store.get(BreakerState).kill_switch
        assert engine.journal.get_kv(BREAKER_KEY)["kill_switch"] is True

        await pilot.press("ctrl+u", "y")
        await until(lambda: not engine.store.get(BreakerState).kill_switch, what="cleared")
        await settle(pilot)
        assert engine.store.get(BreakerState).status is BreakerStatus.ACTIVE
        assert engine.journal.get_kv(BREAKER_KEY)["kill_switch"] is False
        assert "HALTED" not in app.screen.query_one(HealthFooter).text
        assert ("Breakers cleared", "New entries allowed again.") in toasts(app)
        assert any(m.startswith("Kill switch cleared.") for _, m in toasts(app))


def test_the_question_says_a_breaker_tripped_today_stays_tripped() -> None:
    state = engage_kill_switch(
        BreakerState(
            breaker_code="DAILY_LOSS",
            breaker_reason="day P&L -1,200.00 reached the daily loss limit of -1,000.00",
            breaker_since=APP_NOW - timedelta(minutes=20),
        ),
        APP_NOW,
    )
    title, message, detail = clear_kill_switch_question(state)
    assert title == "Clear the kill switch"
    assert "new opening orders" in message
    assert "DAILY_LOSS" in detail and "stays tripped until the next trading day" in detail
    assert "entries stay halted" in detail
    assert "auto-trader stays off" in detail


async def test_nothing_engaged_says_so_without_asking(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("ctrl+u")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert [n.message for n in app._notifications] == [
            "The kill switch is not engaged: nothing to clear."
        ]
        assert engine.calls == []


async def test_clear_is_remappable_listed_on_help_and_in_the_palette(
    demo: Demo, store: Store, no_user_themes: Path
) -> None:
    assert "clear_kill_switch" in known_binding_ids()
    store.set(BreakerState, engage_kill_switch(BreakerState(), APP_NOW))
    app = remapped(demo, store, no_user_themes, {"clear_kill_switch": "f9"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+u")  # the default key no longer clears
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("f9")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Clear the kill switch: allow new entries"] == "key: f9"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        (everywhere,) = [rows for head, rows in app.screen.sections() if head == "Everywhere"]
        assert ("f9", "Clear the kill switch: allow new entries") in everywhere
