"""Watchlist editing keys on the Scanner (issue 13): ``+`` prompts for a ticker and asks
before adding, ``-`` asks before removing the highlighted symbol, a refusal (open
position, working order) is said at once with its reason and nothing is asked; snapshots
of the prompt and the confirmation. The engine's side runs against the simulated gateway
in tests/engine/test_watchlist.py; here a recording editor stands for it (the UI's
dependency is the ``WatchlistEditor`` protocol)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from tests.tui.conftest import AppFactory, RecordingEngine
from tui_trader.engine.actions import Outcome
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.screens.watchlist import SymbolPrompt, WatchlistSource

SnapCompare = Callable[..., bool]
NARROW = (80, 24)
DESTINATION = "Saved to [universe] symbols in /home/trader/config.toml (comments and layout kept)."


class RecordingWatchlist:
    """Records the Scanner's calls; ``refuse`` maps a symbol to its removal refusal."""

    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse = refuse or {}

    def destination(self) -> str:
        return DESTINATION

    def add_refusal(self, raw: str) -> str | None:
        return "AAPL is already in the watchlist." if raw == "AAPL" else None

    def remove_refusal(self, symbol: str) -> str | None:
        return self.refuse.get(symbol)

    async def add(self, raw: str) -> Outcome:
        self.calls.append(("add", raw))
        return Outcome(True, f"{raw} added to the watchlist, streamed.")

    async def remove(self, symbol: str) -> Outcome:
        self.calls.append(("remove", symbol))
        return Outcome(True, f"{symbol} removed from the watchlist, its line released.")


class WatchlistEngine(RecordingEngine):
    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        super().__init__()
        self.watchlist = RecordingWatchlist(refuse)


def test_the_engine_double_is_a_watchlist_source() -> None:
    assert isinstance(WatchlistEngine(), WatchlistSource)
    assert not isinstance(RecordingEngine(), WatchlistSource)


async def test_plus_prompts_asks_then_adds(make_app: AppFactory) -> None:
    engine = WatchlistEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("plus")
        assert isinstance(app.screen, SymbolPrompt)
        await pilot.press("n", "v", "d", "a", "enter")
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        assert modal.message == "Add NVDA to the universe."
        assert modal.detail.endswith(DESTINATION)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert engine.watchlist.calls == [] and isinstance(app.screen, ScannerScreen)
        await pilot.press("plus", "n", "v", "d", "a", "enter", "y")
        await app.workers.wait_for_complete()
        assert engine.watchlist.calls == [("add", "NVDA")]
        await pilot.press("plus", "escape")
        assert isinstance(app.screen, ScannerScreen)


async def test_minus_asks_or_refuses_with_the_reason(make_app: AppFactory) -> None:
    engine = WatchlistEngine({"MSFT": "MSFT has a working order (tt-5): cancel it first."})
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        assert screen.table.select_key("MSFT")
        await pilot.press("minus")
        assert isinstance(app.screen, ScannerScreen)  # nothing asked
        assert [n.message for n in app._notifications] == [
            "MSFT has a working order (tt-5): cancel it first."
        ]
        assert screen.table.select_key("SPY")
        await pilot.press("minus")
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        assert modal.message == "Remove SPY from the universe."
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert engine.watchlist.calls == [("remove", "SPY")]


async def test_without_a_watchlist_engine_the_keys_say_so(make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("plus")
        assert isinstance(app.screen, ScannerScreen)
        assert [n.message for n in app._notifications] == [
            "Cannot edit the watchlist: no engine is attached yet."
        ]


async def test_help_lists_the_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        rows = dict(screen.sections())["Scanner"]
        assert ("+", "Add a symbol to the watchlist (asks)") in rows
        assert ("-", "Remove the highlighted symbol (asks)") in rows


def keys(*pressed: str, select: str | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        if select is not None:
            screen = pilot.app.screen
            assert isinstance(screen, ScannerScreen)
            screen.table.select_key(select)
        await pilot.press(*pressed)
        await pilot.pause()
        await pilot.pause()

    return run


def test_the_ticker_prompt_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=WatchlistEngine())
    assert snap_compare(app, terminal_size=NARROW, run_before=keys("plus", "n", "v", "d", "a"))


def test_the_add_confirmation_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=WatchlistEngine())
    run = keys("plus", "n", "v", "d", "a", "enter")
    assert snap_compare(app, terminal_size=NARROW, run_before=run)


def test_the_remove_confirmation_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=WatchlistEngine())
    run = keys("minus", select="SPY")
    assert snap_compare(app, terminal_size=NARROW, run_before=run)


async def test_help_lists_the_prompt_and_the_order_detail_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        sections = dict(screen.sections())
        assert sections["Adding a symbol (+ on the Scanner)"] == [
            ("enter", "Next: the confirmation (what happens, where it is saved)"),
            ("esc", "Cancel adding a symbol"),
        ]
        assert sections["Order details (d on Orders)"] == [
            ("esc", "Close the order details"),
            ("d", "Close the order details"),
        ]
