"""Issue 13, defect 6: each number key shows its own main screen, from anywhere, every time.

Each main screen is a Textual mode with its own screen stack, so a preview pushed from
Positions (``c``) stayed on the Positions stack: pressing ``2`` later from Orders brought
the closing preview back instead of Positions, and ``1`` a spread preview instead of the
Scanner.
"""

from __future__ import annotations

import pytest
from textual.app import App

from tests.tui.conftest import AppFactory, RecordingEngine
from tui_trader.tui.screens.automation import AutomationScreen
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen

MAIN = {
    "1": ScannerScreen,
    "2": PositionsScreen,
    "3": OrdersScreen,
    "4": LogScreen,
    "5": AutomationScreen,
}


async def test_two_from_orders_shows_positions_not_the_closing_preview(
    make_app: AppFactory,
) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "c")  # the closing preview, pushed over Positions
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, PreviewScreen) and app.screen.closing
        await pilot.press("3")
        assert isinstance(app.screen, OrdersScreen)
        await pilot.press("2")
        assert type(app.screen) is PositionsScreen
        assert len(app.screen_stack) == 1


async def test_one_from_orders_shows_the_scanner_not_the_last_preview(
    make_app: AppFactory,
) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")  # a spread preview over the Scanner
        assert isinstance(app.screen, PreviewScreen)
        await pilot.press("3", "1")
        assert type(app.screen) is ScannerScreen
        assert len(app.screen_stack) == 1


@pytest.mark.parametrize("start", ["enter", "question_mark"])
async def test_every_number_key_reaches_its_screen_from_any_state(
    make_app: AppFactory, start: str
) -> None:
    """From a preview or help (over a preview, over a closing preview), each of 1..5 shows
    its screen, and a second round gives the same answer (no screen left behind on any
    stack)."""
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(2):
            for key, cls in MAIN.items():
                await pilot.press("1", "enter")  # a preview over the Scanner
                if start != "enter":
                    await pilot.press(start)  # help over the preview
                await pilot.press("2", "c", key)
                await app.workers.wait_for_complete()
                assert type(app.screen) is cls, (start, key)
                assert len(app.screen_stack) == 1


async def test_a_question_is_answered_before_a_number_key_moves_on(
    make_app: AppFactory,
) -> None:
    """A confirmation is modal: a number key neither leaves it nor answers it; after
    ``escape`` (no) the number keys work again and nothing was sent."""
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3", "c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("1")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape", "1", "3")
        assert type(app.screen) is OrdersScreen and len(app.screen_stack) == 1
        await app.workers.wait_for_complete()
        assert engine.calls == []


async def test_help_from_a_number_key_screen_still_toggles(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("4")
        assert type(app.screen) is LogScreen and len(app.screen_stack) == 1


async def test_a_screen_shown_before_comes_back_without_textuals_50_ms_hold(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 (keypress p99 under 50 ms with 1,000 rows): Textual's ``switch_mode``
    holds every update for 50 ms (``delay_update``) to mask a new screen's compose, so
    each ``2`` took 54 ms. Only a mode's first visit, which composes its screen, holds."""
    held: list[float] = []
    original = App.delay_update

    def spy(self: App[None], delay: float = 0.05) -> None:
        held.append(delay)
        original(self, delay)

    monkeypatch.setattr(App, "delay_update", spy)
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # Positions composed: held once
        assert type(app.screen) is PositionsScreen and held == [0.05]
        await pilot.press("1", "2", "1", "3")  # Scanner and Positions exist: no hold
        assert type(app.screen) is OrdersScreen and held == [0.05, 0.05]  # Orders' first
        await pilot.press("2", "3", "1")
        assert type(app.screen) is ScannerScreen and held == [0.05, 0.05]
        assert app._batch_count == 0  # nothing left holding the screen's updates
