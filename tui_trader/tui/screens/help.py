"""The Help screen: every key binding, generated from the bindings themselves (with the
``[ui] keys`` remapping applied) so it can never fall out of date."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tui_trader.tui.keymap import effective_bindings
from tui_trader.tui.screens.arm import ArmScreen
from tui_trader.tui.screens.backtest import BacktestScreen
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.chain import ChainScreen
from tui_trader.tui.screens.chart import ChartScreen
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.screens.order_detail import OrderDetailScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.screens.ticker_prompt import TickerPrompt
from tui_trader.tui.screens.watchlist import SymbolPrompt

#: Keys that are not in a BINDINGS list of ours but work everywhere.
EXTRA_KEYS: tuple[tuple[str, str], ...] = (
    ("ctrl+p", "Command palette: every action by name"),
    ("up/down", "Move the cursor (choose a spread on the preview)"),
    ("pgup/pgdn", "Page through a table"),
    ("home/end", "First / last row of a table"),
    ("left/right", "Scroll a wide table sideways (narrow terminals)"),
)

#: The watchlist's ticker prompt: enter belongs to its input box, not to a binding.
PROMPT_ENTER = ("enter", "Next: the confirmation (what happens, where it is saved)")

#: The Backtest screen's keys that belong to its widgets, not to a binding of ours.
BACKTEST_KEYS: tuple[tuple[str, str], ...] = (
    ("tab", "Next box: a strategy (space toggles it), the from/to dates (YYYY-MM-DD)"),
    ("enter", "In a date box: run the back-test"),
)


class HelpScreen(TraderScreen):
    """Help: every binding, grouped by where it works."""

    TITLE = "Help"
    AUTO_FOCUS = "#help-scroll"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close help", id="close_help"),
    ]

    def compose_body(self) -> Iterable[Any]:
        with VerticalScroll(id="help-scroll"):
            yield Static(id="help-text")

    def sections(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """(heading, [(key, description)]) for every group of bindings, keys as remapped."""
        keymap = self.trader.keymap

        def rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
            out = []
            for b in effective_bindings(bindings, keymap):
                if b.description:
                    out.append((self.app.get_key_display(b), b.description))
            return out

        return [
            ("Everywhere", rows(type(self.app).BINDINGS) + list(EXTRA_KEYS)),
            ("Scanner", rows(ScannerScreen.BINDINGS)),
            ("Spread preview", rows(PreviewScreen.BINDINGS)),
            ("Chart", rows(ChartScreen.BINDINGS)),
            ("Option chain (any symbol)", rows(TickerPrompt.BINDINGS) + rows(ChainScreen.BINDINGS)),
            ("Positions", rows(PositionsScreen.BINDINGS)),
            ("Orders", rows(OrdersScreen.BINDINGS)),
            ("Order details (d on Orders)", rows(OrderDetailScreen.BINDINGS)),
            ("Log", rows(LogScreen.BINDINGS)),
            ("Backtest", rows(BacktestScreen.BINDINGS) + list(BACKTEST_KEYS)),
            ("Confirmation dialogs", rows(ConfirmScreen.BINDINGS)),
            ("Adding a symbol (+ on the Scanner)", [PROMPT_ENTER, *rows(SymbolPrompt.BINDINGS)]),
            ("Arming the auto-trader", rows(ArmScreen.BINDINGS)),
            ("Help", rows(HelpScreen.BINDINGS)),
        ]

    def render_body(self) -> None:
        lines: list[Content] = []
        for heading, rows in self.sections():
            lines.append(Content.styled(heading, "bold $accent"))
            for key, description in rows:
                lines.append(Content.assemble((f"  {key:<12}", "bold"), description))
            lines.append(Content(""))
        self.query_one("#help-text", Static).update(Content("\n").join(lines))
        close = self.trader.key_display("close_help", HelpScreen.BINDINGS)
        self.set_status(f"{close} or {self.trader.key_display('help')} to close")

    def action_close(self) -> None:
        self.dismiss()
