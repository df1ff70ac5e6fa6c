"""The History screen (``7``): every closed trade in the journal, newest first, with entry,
exit, realised P&L (commissions included), the rule that closed it and the cumulative
realised P&L (issue 13; the pairing is :mod:`tui_trader.core.history`).

The journal, not the store, is the source: the ``Orders`` slice keeps only the recent
finished orders, while a trade opened last week and closed today is one row here. It is
read from the engine's own :class:`~tui_trader.state.journal.Journal` (a few small queries)
when the screen is shown and when the orders change (a close that fills changes them), so
nothing is read while another screen is on top. Without an engine (or one without a
journal) the screen says where the history is instead: ``tui-trader journal --history``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from rich.text import Text
from textual.widgets import Static

from tui_trader.core.calendar import ET
from tui_trader.core.history import ClosedTrade, History, closed_trades
from tui_trader.state.journal import Journal
from tui_trader.state.store import Orders
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.widgets.cells import Palette, left, number, right
from tui_trader.tui.widgets.tables import DiffTable, Justify

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("exit_time", "Closed (ET)", "left"),
    ("symbol", "Sym", "left"),
    ("spread", "Spread", "left"),
    ("qty", "Qty", "right"),
    ("entry", "Entry", "right"),
    ("exit", "Exit", "right"),
    ("pnl", "P&L", "right"),
    ("cum", "Cum P&L", "right"),
    ("rule", "Rule", "left"),
    ("opened", "Opened (ET)", "left"),
    ("comm", "Comm", "right"),
    ("expiry", "Expiry", "left"),
)

NO_JOURNAL = (
    "No journal here: the History needs the engine's journal. "
    "tui-trader journal --history prints it from the file."
)


@runtime_checkable
class JournalSource(Protocol):
    """An engine that owns the journal (:class:`tui_trader.engine.engine.Engine` does)."""

    journal: Journal


def trade_key(t: ClosedTrade) -> str:
    """Unique and stable: one opening order's contracts closed by one closing order."""
    return f"{t.open_intent}>{t.close_intent}"


def trade_cells(t: ClosedTrade, palette: Palette) -> tuple[Text, ...]:
    return (
        left(f"{t.exit_time.astimezone(ET):%m-%d %H:%M}"),
        left(t.symbol),
        left(t.strikes),
        right(str(t.quantity)),
        right(number(t.entry_price)),
        right(number(t.exit_price)),
        right(number(t.pnl, sign=True), palette.signed(t.pnl)),
        right(number(t.cumulative, sign=True), palette.signed(t.cumulative)),
        left(t.rule),
        left(f"{t.entry_time.astimezone(ET):%m-%d %H:%M}"),
        right(number(t.commission)),
        left(t.expiry),
    )


def summary(history: History) -> str:
    """The status line: how many trades, how many won, the realised total."""
    n = len(history.trades)
    text = (
        f"{n} closed, {history.wins} won · realised {number(history.total, sign=True)} "
        "after commissions"
    )
    if history.unmatched:
        text += f" · {history.unmatched} closed contracts had no journaled opening"
    return text


class HistoryScreen(TraderScreen):
    """History: closed trades with realised and cumulative P&L."""

    TITLE = "History"
    AUTO_FOCUS = "#history-table"
    DEFAULT_CSS = """
    HistoryScreen #history-note {
        padding: 0 1;
    }
    """
    WATCHES = frozenset({Orders})

    def compose_body(self) -> Iterable[Any]:
        yield DiffTable(COLUMNS, id="history-table")
        yield Static(id="history-note")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#history-table", DiffTable)

    def on_screen_resume(self) -> None:
        # the journal is not in the store: read it again each time the screen is shown
        # (the base class's handler runs after this one and redraws a stale screen)
        self._stale = True

    def read(self) -> History | str:
        """The journal's closed trades, or the sentence saying why there are none to read."""
        engine = self.trader.engine
        if not isinstance(engine, JournalSource):
            return NO_JOURNAL
        try:
            return closed_trades(*engine.journal.history_inputs())
        except (sqlite3.Error, ValueError) as exc:
            return f"Cannot read the journal's history: {exc}"

    def render_body(self) -> None:
        history = self.read()
        note = self.query_one("#history-note", Static)
        if isinstance(history, str):
            self.table.sync([])
            note.update(history)
            note.display = True
            self.set_status("no history")
            return
        palette = self.palette
        rows = [(trade_key(t), trade_cells(t, palette)) for t in reversed(history.trades)]
        self.table.sync(rows)
        note.update("No closed trades in the journal yet.")
        note.display = not history.trades
        self.set_status(summary(history))
