"""Watchlist editing on the Scanner (issue 13): the ticker prompt and the questions.

``+`` on the Scanner opens :class:`SymbolPrompt` (the dashboard's one ticker prompt, in
the watchlist's words; it refuses text that cannot be a ticker in place); enter asks a
confirmation that states what happens (IB asked, bars loaded, streamed or rotated,
scanned) and where it is saved (``config_edit``; the demo saves nothing). ``-`` asks to
remove the highlighted symbol; a symbol with an open position or a working order is
refused at once with the reason, no question asked. The engine does the work
(``engine.watchlist``); this module only asks and shows its one-sentence answer.

The engine is reached through :class:`WatchlistSource` (an engine with a ``watchlist``),
so the screens import nothing of the engine before the first frame.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

from loguru import logger
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel

from tui_trader.engine.actions import Outcome
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.ticker_prompt import WATCHLIST, TickerPrompt

if TYPE_CHECKING:
    from tui_trader.tui.screens.base import TraderScreen

#: What the Scanner says when no engine edits a watchlist (starting, or none attached).
NO_EDITOR = "Cannot edit the watchlist: no engine is attached yet."


class WatchlistEditor(Protocol):
    """What the Scanner asks of ``engine.watchlist`` (``tui_trader.engine.watchlist``)."""

    def destination(self) -> str: ...

    def add_refusal(self, raw: str) -> str | None: ...

    def remove_refusal(self, symbol: str) -> str | None: ...

    async def add(self, raw: str) -> Outcome: ...

    async def remove(self, symbol: str) -> Outcome: ...


@runtime_checkable
class WatchlistSource(Protocol):
    """An engine that edits its universe (``tui_trader.engine.engine.Engine`` is one)."""

    watchlist: WatchlistEditor


def add_question(symbol: str, destination: str) -> tuple[str, str, str]:
    """(title, message, detail) of the confirmation before adding ``symbol``."""
    return (
        "Add to the watchlist?",
        f"Add {symbol} to the universe.",
        f"IB is asked for {symbol} and its daily bars (an unknown symbol is refused); it "
        "streams when a line is free, else rotating snapshots price it, and it is scanned. "
        + destination,
    )


def remove_question(symbol: str, destination: str) -> tuple[str, str, str]:
    """(title, message, detail) of the confirmation before removing ``symbol``."""
    return (
        "Remove from the watchlist?",
        f"Remove {symbol} from the universe.",
        f"Its market-data line is released and its row leaves the Scanner. {destination}",
    )


class SymbolPrompt(TickerPrompt, inherit_bindings=False):
    """The ticker prompt (:mod:`~tui_trader.tui.screens.ticker_prompt`) in the watchlist's
    words. A class of its own only for its escape's binding id: ``[ui] keys`` remaps
    ``watch_add_cancel`` apart from the chain prompt's ``ticker_cancel``, as before."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel adding a symbol", id="watch_add_cancel"),
    ]

    def __init__(self, cursor_blink: bool = True) -> None:
        super().__init__(WATCHLIST, cursor_blink)


def _editor(screen: TraderScreen) -> WatchlistEditor | None:
    engine = screen.trader.engine
    if isinstance(engine, WatchlistSource):
        return engine.watchlist
    screen.notify(NO_EDITOR, severity="warning")
    return None


def ask_add(screen: TraderScreen) -> None:
    """``+``: the ticker prompt, then the confirmation, then the engine (module doc)."""
    editor = _editor(screen)
    if editor is None:
        return

    def typed(symbol: str | None) -> None:
        if not symbol:
            return
        refusal = editor.add_refusal(symbol)
        if refusal is not None:
            screen.notify(refusal, severity="warning")
            return
        screen.app.push_screen(
            ConfirmScreen(*add_question(symbol, editor.destination())),
            lambda yes: _added(screen, editor, symbol) if yes else None,
        )

    screen.app.push_screen(SymbolPrompt(screen.trader.cursor_blink), typed)


def _added(screen: TraderScreen, editor: WatchlistEditor, symbol: str) -> None:
    _run(screen, f"add {symbol}", lambda: editor.add(symbol))


#: How ``config_edit.WatchlistSaveError`` sentences begin: a failed save is an error (red),
#: another refusal (unknown ticker, open position) a warning.
SAVE_FAILED = "cannot save the watchlist"


def _run(screen: TraderScreen, label: str, call: Callable[[], Awaitable[Outcome]]) -> None:
    """Run the engine's edit in a worker and show its one sentence (module doc)."""

    async def run() -> None:
        try:
            out = await call()
        except Exception as exc:  # a bug, not a refusal: the log has the traceback
            logger.exception("watchlist edit {!r} failed", label)
            screen.notify(f"{label} failed: {exc}", title="Error", severity="error")
            return
        if out.ok:
            severity: SeverityLevel = "information"
        else:
            severity = "error" if SAVE_FAILED in out.message else "warning"
        screen.notify(out.message, title=label[:1].upper() + label[1:], severity=severity)

    screen.app.run_worker(run(), group="engine", exit_on_error=False)


def ask_remove(screen: TraderScreen, symbol: str | None) -> None:
    """``-``: refused at once with the reason, else asked, then the engine (module doc)."""
    if symbol is None:
        screen.notify("No symbol to remove.", severity="warning")
        return
    editor = _editor(screen)
    if editor is None:
        return
    refusal = editor.remove_refusal(symbol)
    if refusal is not None:
        screen.notify(refusal, title="Not removed", severity="warning")
        return

    def answered(yes: bool | None) -> None:
        if yes:
            _run(screen, f"remove {symbol}", lambda: editor.remove(symbol))

    screen.app.push_screen(ConfirmScreen(*remove_question(symbol, editor.destination())), answered)
