"""The dashboard's one ticker prompt (issue 13): ``:`` (any symbol's chain) and ``+`` on
the Scanner (a symbol for the watchlist) open the same prompt with their own words; both
trim and upper-case what is typed, and refuse text that cannot be a ticker with the same
sentence, in place, so nothing reaches the chain or the watchlist's question."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Label

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.test_watchlist_keys import WatchlistEngine
from tui_trader.tui.app import TraderApp
from tui_trader.tui.screens.chain import ChainScreen
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.screens.ticker_prompt import (
    CHAIN,
    WATCHLIST,
    TickerPrompt,
    ticker_error,
)
from tui_trader.tui.screens.watchlist import SymbolPrompt

SnapCompare = Callable[..., bool]
NOT_A_TICKER = "'1x' is not a ticker (letters first, e.g. SPY)."
EMPTY = "Type a ticker, e.g. SPY, or esc to cancel."


def shown_error(app: TraderApp) -> str | None:
    """The refusal under the input, None while it is hidden."""
    label = app.screen.query_one("#ticker-error", Label)
    return str(label.render()) if label.has_class("-shown") else None


def test_the_sentences() -> None:
    assert ticker_error(" spy ") is None and ticker_error("brk b") is None
    assert ticker_error("1x") == NOT_A_TICKER
    assert ticker_error("   ") == EMPTY
    assert ticker_error("SP-Y") == "'SP-Y' is not a ticker (letters first, e.g. SPY)."


# Both keys, the same prompt and the same refusals: (key, prompt class, wording).
KEYS = [(":", "colon", TickerPrompt, CHAIN), ("+", "plus", SymbolPrompt, WATCHLIST)]


@pytest.mark.parametrize(("label", "key", "kind", "text"), KEYS, ids=["colon", "plus"])
async def test_both_prompts_refuse_a_non_ticker_in_place_with_one_sentence(
    make_app: AppFactory, label: str, key: str, kind: type[TickerPrompt], text: Any
) -> None:
    engine = WatchlistEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        prompt = app.screen
        assert type(prompt) is kind and prompt.text == text
        assert str(prompt.query_one("#ticker-title", Label).render()) == text.title
        assert shown_error(app) is None
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is prompt and shown_error(app) == EMPTY
        await pilot.press("1", "x", "enter")
        await pilot.pause()
        assert app.screen is prompt and shown_error(app) == NOT_A_TICKER
        await pilot.press("backspace")  # typing hides the refusal
        await pilot.pause()
        assert shown_error(app) is None
        assert engine.calls == [] and engine.watchlist.calls == []  # nothing went on
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ScannerScreen)


async def test_colon_opens_the_chain_of_the_cleaned_ticker(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("colon", "space", "b", "r", "k", "space", "space", "b", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ChainScreen)
        assert ("open_chain", ("BRK B",)) in engine.calls


async def test_plus_asks_about_the_cleaned_ticker(make_app: AppFactory) -> None:
    app = make_app(engine=WatchlistEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("plus", "space", "n", "v", "d", "a", "space", "enter")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ConfirmScreen) and modal.message == "Add NVDA to the universe."


def typed(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.pause()
        await pilot.pause()

    return run


def test_the_chain_prompt_refusing_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    assert snap_compare(app, terminal_size=(80, 24), run_before=typed("colon", "1", "x", "enter"))
