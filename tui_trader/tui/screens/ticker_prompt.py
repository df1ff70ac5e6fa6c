"""The ticker prompt (``:`` anywhere; issue 13, "trade any symbol"): one line to type a
symbol, in the universe or not, whose option chain opens next.

It dismisses with the ticker as typed, upper-cased (``enter``), or None (``escape``).
Whether the ticker exists is IB's answer, shown on the chain screen in one sentence; only
text that cannot be a ticker at all is refused here, under the input, without leaving.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from tui_trader.core.chain_table import clean_ticker


class TickerPrompt(ModalScreen[str | None]):
    """Ask for a ticker (module doc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="ticker_cancel"),
    ]

    DEFAULT_CSS = """
    TickerPrompt {
        align: center middle;
        background: $background 60%;
    }
    TickerPrompt > Vertical {
        width: 56;
        max-width: 95%;
        height: auto;
        padding: 1 2;
        border: thick $accent;
        background: $surface;
    }
    TickerPrompt Label {
        width: 1fr;
    }
    TickerPrompt #ticker-error {
        color: $error;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Option chain of which ticker? enter opens, esc cancels")
            yield Input(placeholder="e.g. SPY", id="ticker-input")
            yield Label("", id="ticker-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        symbol = clean_ticker(event.value)
        if symbol is None:
            typed = event.value.strip()
            self.query_one("#ticker-error", Label).update(
                f"{typed!r} is not a ticker (letters first, e.g. SPY)."
                if typed
                else "Type a ticker, e.g. SPY, or esc to cancel."
            )
            return
        self.dismiss(symbol)

    def action_cancel(self) -> None:
        self.dismiss(None)
