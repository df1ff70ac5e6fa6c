"""The one ticker prompt of the dashboard (issue 13): a line to type a symbol in.

Two keys open it, each with its own title and its own use of the answer:

- ``:`` anywhere (:data:`CHAIN`): any symbol, in the universe or not, whose option chain
  opens next (the app's ``_open_chain``);
- ``+`` on the Scanner (:class:`~tui_trader.tui.screens.watchlist.SymbolPrompt`, the
  watchlist's :data:`WATCHLIST` wording): the symbol to add, asked about next.

Why one prompt: both ask for the same thing, so they check it the same way. The text is
trimmed and upper-cased (:func:`~tui_trader.core.chain_table.clean_ticker`); text that
cannot be a ticker at all is refused here, in one sentence under the input
(:func:`ticker_error`), without leaving, so the trader corrects it in place. Whether the
ticker exists is IB's answer, given by whoever gets it (the chain screen, the watchlist's
confirmation). It dismisses with the ticker (``enter``) or None (``escape``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from tui_trader.core.chain_table import clean_ticker

#: The longest text the box takes (a ticker is at most 12 characters; room for spaces).
MAX_LENGTH = 16


@dataclass(frozen=True, slots=True)
class PromptText:
    """What a caller's prompt says: its title, the input's placeholder and the keys line."""

    title: str
    placeholder: str
    keys: str


#: ``:``: any symbol's option chain.
CHAIN = PromptText(
    "Option chain of which ticker?", "ticker, e.g. SPY", "enter = open its chain   esc = cancel"
)
#: ``+`` on the Scanner: a symbol to add to the universe.
WATCHLIST = PromptText(
    "Add a symbol to the watchlist", "ticker, e.g. NVDA", "enter = next (asks first)   esc = cancel"
)


def ticker_error(text: str) -> str | None:
    """The one sentence refusing ``text`` as a ticker; None when it can be one."""
    if clean_ticker(text) is not None:
        return None
    typed = text.strip()
    if not typed:
        return "Type a ticker, e.g. SPY, or esc to cancel."
    return f"{typed!r} is not a ticker (letters first, e.g. SPY)."


class TickerPrompt(ModalScreen[str | None]):
    """Ask for a ticker (module doc); ``text`` is the caller's wording."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="ticker_cancel"),
    ]

    DEFAULT_CSS = """
    TickerPrompt {
        align: center middle;
        background: $background 60%;
    }
    TickerPrompt > Vertical {
        width: 60;
        max-width: 95%;
        height: auto;
        padding: 1 2;
        border: thick $accent;
        background: $surface;
    }
    TickerPrompt #ticker-title {
        text-style: bold;
        color: $accent;
        margin-bottom: 1;
    }
    TickerPrompt #ticker-error {
        width: 1fr;
        color: $error;
        display: none;
    }
    TickerPrompt #ticker-error.-shown {
        display: block;
    }
    TickerPrompt #ticker-keys {
        margin-top: 1;
        color: $text-muted;
    }
    """

    def __init__(self, text: PromptText = CHAIN, cursor_blink: bool = True) -> None:
        super().__init__()
        self.text = text
        self._blink = cursor_blink

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.text.title, id="ticker-title")
            box = Input(placeholder=self.text.placeholder, id="ticker-input", max_length=MAX_LENGTH)
            box.cursor_blink = self._blink
            yield box
            yield Label("", id="ticker-error")
            yield Label(self.text.keys, id="ticker-keys")

    def on_mount(self) -> None:
        self.query_one("#ticker-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        error = ticker_error(event.value)
        if error is not None:
            label = self.query_one("#ticker-error", Label)
            label.update(error)
            label.add_class("-shown")
            return
        self.dismiss(clean_ticker(event.value))

    def on_input_changed(self, event: Input.Changed) -> None:
        # A refusal is about what was submitted: typing on hides it.
        self.query_one("#ticker-error", Label).remove_class("-shown")

    def action_cancel(self) -> None:
        self.dismiss(None)
