"""The app's flows with the pilot: screen switching, quitting, the kill switch, toasts on
store events, the footer following the Health slice, coalesced redraws, no-engine mode."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import APP_NOW
from tui_trader.core.models import IntentStatus
from tui_trader.core.risk import BreakerState, engage_kill_switch
from tui_trader.state.store import ConnectionState, Health, Orders, Store
from tui_trader.tui.app import MAX_TOASTS
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.footer import HealthFooter


def messages(app: object) -> list[str]:
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


def footer_text(app: object) -> str:
    return app.screen.query_one(HealthFooter).text  # type: ignore[attr-defined]


async def test_number_keys_switch_screens_and_titles_name_them(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, ScannerScreen) and "Scanner" in app.screen.title
        for key, cls, word in (
            ("2", PositionsScreen, "Positions"),
            ("3", OrdersScreen, "Orders"),
            ("4", LogScreen, "Log"),
            ("1", ScannerScreen, "Scanner"),
        ):
            await pilot.press(key)
            assert isinstance(app.screen, cls)
            assert word in app.screen.title
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen) and "Help" in app.screen.title
        await pilot.press("escape")
        assert isinstance(app.screen, ScannerScreen)


async def test_one_goes_back_to_the_scanner_from_a_preview(make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, PreviewScreen)
        assert app.screen.title.startswith("Spread preview")
        await pilot.press("1")
        assert isinstance(app.screen, ScannerScreen)


async def test_help_lists_every_binding_of_every_screen(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        listed = {(heading, d) for heading, rows in screen.sections() for _, d in rows}
        for heading, cls in (
            ("Scanner", ScannerScreen),
            ("Spread preview", PreviewScreen),
            ("Orders", OrdersScreen),
            ("Positions", PositionsScreen),
            ("Log", LogScreen),
        ):
            for b in cls.BINDINGS:
                assert (heading, b.description) in listed  # type: ignore[union-attr]
        everywhere = [d for h, rows in screen.sections() if h == "Everywhere" for _, d in rows]
        assert "Kill switch: cancel all, halt entries" in everywhere
        assert any(d.startswith("Command palette") for d in everywhere)


async def test_quit_asks_first_while_an_order_is_working(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        assert len(app.store.get(Orders).active) == 2  # WORKING and UNKNOWN in the demo
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.message == "2 orders are still working."
        await pilot.press("n")
        assert isinstance(app.screen, ScannerScreen)
        assert app.is_running
        await pilot.press("q")
        await pilot.press("y")
        await pilot.pause()
        assert not app.is_running


async def test_quit_without_working_orders_exits_at_once(make_app: AppFactory) -> None:
    store = Store()
    app = make_app(store_=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running


async def test_kill_switch_confirms_then_calls_the_engine(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+k")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert engine.calls == []
        await pilot.press("ctrl+k", "y")
        await app.workers.wait_for_complete()
        assert engine.calls == [("kill_switch", ())]


async def test_without_an_engine_every_action_says_trading_is_not_connected(
    make_app: AppFactory,
) -> None:
    app = make_app(engine=None)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("r")  # rescan
        await pilot.press("ctrl+k")  # kill switch: no modal without an engine
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("3", "c")  # cancel the working order
        await pilot.press("2", "c")  # preview the close of a position
        await pilot.press("1", "enter")  # preview a symbol: shows stored data read-only
        assert isinstance(app.screen, PreviewScreen)
        for key in ("plus", "minus", "left_square_bracket", "right_square_bracket", "w", "t"):
            await pilot.press(key)
        await pilot.pause()
        texts = messages(app)
        # issue 13 (a popup for every key): the same refusal replaces its predecessor and
        # at most MAX_TOASTS are shown, the newest
        assert len(texts) == MAX_TOASTS
        assert all(t.startswith("Cannot ") for t in texts)
        assert "Cannot move the limit +1 tick: no engine is connected to this dashboard." in texts
        assert "Cannot transmit: no engine is connected to this dashboard." in texts
        assert all(n.title == "Trading is not connected" for n in app._notifications)


async def test_footer_shows_reconnecting_then_connected(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        assert "CONNECTED since 14:27:55" in footer_text(app)
        since = APP_NOW - timedelta(seconds=3)
        app.store.update(Health, state=ConnectionState.RECONNECTING, since=since)
        await pilot.pause()
        assert "RECONNECTING since 14:29:57" in footer_text(app)
        label = app.screen.query_one("#footer-conn")
        assert label.has_class("-warn")
        app.store.update(Health, state=ConnectionState.CONNECTED, since=APP_NOW)
        await pilot.pause()
        assert "CONNECTED since 14:30:00" in footer_text(app)
        assert app.screen.query_one("#footer-conn").has_class("-ok")
        # issue 13: the newer connection notice replaces the older
        assert messages(app) == ["RECONNECTING -> CONNECTED"]


async def test_footer_is_compact_at_80_columns_and_stays_on_every_screen(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("1", "2", "3", "4", "5", "question_mark"):
            await pilot.press(key)
            footer = app.screen.query_one(HealthFooter)
            assert footer.region.y == 22 and footer.region.height == 2  # the last two rows
            assert footer_text(app) == (
                "PAPER  CONNECTED 2m  lines 37/90 ev2  queue 0  err 2104 3m\n"
                "14:30:00 ET  opens in 15m  P&L +123.45  auto OFF  quotes 1.2s"
            )


async def test_toasts_for_fills_rejections_and_breaker_trips(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        orders = app.store.get(Orders)
        working = orders.intents[-1]
        assert working.status is IntentStatus.WORKING and working.spec.quantity == 4
        partial = working.model_copy(
            update={"status": IntentStatus.PARTIALLY_FILLED, "filled": 1, "avg_fill_price": 4.8}
        )
        app.store.set(Orders, replace(orders, intents=(*orders.intents[:-1], partial)))
        rejected = partial.model_copy(
            update={
                "status": IntentStatus.REJECTED,
                "last_error_code": 201,
                "last_error_text": "Order rejected - reason: no trading permissions",
            }
        )
        app.store.set(Orders, replace(orders, intents=(*orders.intents[:-1], rejected)))
        app.store.set(BreakerState, engage_kill_switch(BreakerState(), APP_NOW))
        await pilot.pause()
        assert [(n.title, n.message, n.severity) for n in app._notifications] == [
            ("Partial fill", "BUY 4 MSFT 20261231 520/540 C @ 4.80 LMT, PAPER: 1/4 avg 4.80",
             "information"),
            ("Order rejected", "BUY 4 MSFT 20261231 520/540 C @ 4.80 LMT, PAPER: Order rejected"
             " - reason: no trading permissions", "error"),
            ("HALTED", "New entries halted: the kill switch is engaged.", "error"),
        ]  # fmt: skip
        assert "HALTED: the kill switch is engaged" in footer_text(app)


async def test_store_bursts_are_coalesced_into_one_redraw(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        before = app.flush_count
        for k in range(50):
            app.store.update(Health, oldest_quote_age_s=1.0 + k / 10)
        await pilot.pause()
        assert app.flush_count == before + 1
        assert "quotes 5.9s" in footer_text(app)


async def test_redraws_wait_for_the_refresh_interval(make_app: AppFactory) -> None:
    """With the default interval a change is not drawn at once but after the timer."""
    app = make_app(refresh_interval=0.25)
    async with app.run_test(size=(120, 40)) as pilot:
        app.store.update(Health, lines_active=55)
        await pilot.pause()
        assert "lines 37/90" in footer_text(app)
        await pilot.pause(0.3)
        assert "lines 55/90" in footer_text(app)
        assert app.flush_count == 1


async def test_command_palette_offers_every_action(make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in ("Scanner", "Positions", "Orders", "Log", "Help", "Rescan now",
                       "Filter rows", "Sort by the next column",
                       "Kill switch: cancel all, halt entries"):  # fmt: skip
            assert wanted in titles
        await pilot.press("enter")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Transmit the order (asks first)" in titles
        assert "Quantity +1" in titles


async def test_store_changes_from_a_task_started_before_the_app_reach_the_screen(
    make_app: AppFactory,
) -> None:
    """In the running dashboard the engine's tasks exist before the app (they start first)
    and change the store outside Textual's context; their changes must still be drawn
    through the throttled (timer) redraw path."""
    import asyncio

    go = asyncio.Event()
    app = make_app(refresh_interval=0.05)

    async def engine_task() -> None:
        await go.wait()
        app.store.update(Health, state=ConnectionState.RECONNECTING, since=APP_NOW)

    task = asyncio.create_task(engine_task())  # created outside the app's context
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        go.set()
        await task
        for _ in range(20):
            await pilot.pause(0.05)
            if "RECONNECTING" in footer_text(app):
                break
        assert "RECONNECTING since 14:30:00" in footer_text(app)
        assert messages(app) == ["CONNECTED -> RECONNECTING"]


def test_screens_do_not_import_the_app_module() -> None:
    """Screens type against tui.host.TraderHost: the app imports every screen, so a screen
    importing the app (even for typing) is an import circle."""
    import ast
    from pathlib import Path

    import tui_trader.tui.screens as screens

    for path in Path(screens.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "tui_trader.tui.app", path.name


async def test_the_palette_has_one_quit_and_only_the_projects_themes(
    make_app: AppFactory,
) -> None:
    """Issue 13 item 14: Textual's own "Theme" list (twenty non-project themes) and its
    second, unasked "Quit" are gone; each project theme is one command."""
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert [t for t in commands if t.startswith("Quit")] == [
            "Quit (asks when orders are working)"
        ]
        assert "Theme" not in commands
        themes = sorted(t for t in commands if t.startswith("Theme: "))
        assert themes == ["Theme: ansi", "Theme: dark", "Theme: light"]
        assert not any("textual" in t or "nord" in t or "gruvbox" in t for t in commands)
        commands["Theme: ansi"].callback()
        await pilot.pause()
        assert app.theme == "ansi"
