"""Issue 13, defect 7: the cursor follows its key, not its row index.

- A new order appears at the top of Orders: the cursor stays on the order it was on (so
  ``c`` cancels that one), whether Orders is on screen or comes back to it later.
- ``/`` filtering: the highlighted symbol keeps the cursor while it matches; when the
  filter hides it the cursor goes to the nearest row that followed it (not whatever now
  sits at the old index), and clearing the filter brings it back to the chosen symbol.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from rich.text import Text
from textual.app import App, ComposeResult

from tests.tui.conftest import AppFactory, RecordingEngine
from tui_trader.state.store import Orders
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.tables import DiffTable


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DiffTable([("sym", "Sym", "left")])


def rows(*keys: str) -> list[tuple[str, tuple[Text, ...]]]:
    return [(k, (Text(k),)) for k in keys]


def add_newest_order(app: object, intent_id: str) -> None:
    store = app.store  # type: ignore[attr-defined]
    orders = store.get(Orders)
    newest = orders.intents[-1]
    new = newest.model_copy(
        update={"intent_id": intent_id, "created_at": newest.created_at + timedelta(minutes=1)}
    )
    store.set(Orders, replace(orders, intents=(*orders.intents, new)))


async def test_c_cancels_the_order_under_the_cursor_after_a_new_one_arrives(
    make_app: AppFactory,
) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        working = [i.intent_id for i in app.store.get(Orders).active]
        target = working[-1]
        assert screen.table.select_key(target)
        row = screen.table.cursor_row
        add_newest_order(app, "tt-00000000aaaa")  # on screen
        await pilot.pause()
        assert screen.table.keys[0] == "tt-00000000aaaa"
        assert screen.table.highlighted_key == target and screen.table.cursor_row == row + 1
        await pilot.press("1")
        add_newest_order(app, "tt-00000000bbbb")  # while Orders is in the background
        await pilot.press("3")
        assert screen.table.keys[0] == "tt-00000000bbbb"
        assert screen.table.highlighted_key == target and screen.table.cursor_row == row + 2
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert engine.calls == [("cancel", (target,))]


async def test_filtering_moves_to_the_next_match_and_clearing_returns_to_the_symbol(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, ScannerScreen)
        table = screen.table
        order = table.keys
        chosen = order[3]
        await pilot.press("down", "down", "down")
        assert table.highlighted_key == chosen
        # a filter that keeps the chosen symbol keeps the cursor on it
        await pilot.press("slash", *chosen[:2].lower())
        assert chosen in table.keys and table.highlighted_key == chosen
        # one that hides it: the first later symbol (in the unfiltered order) that matches
        await pilot.press("backspace", "backspace", "m", "s")
        shown = table.keys
        assert chosen not in shown
        expected = next(k for k in order[4:] if k in shown)
        assert table.highlighted_key == expected
        # cleared: back on the symbol the trader chose
        await pilot.press("escape")
        assert table.keys == order and table.highlighted_key == chosen


async def test_a_move_while_filtered_chooses_the_new_symbol() -> None:
    app = TableApp()
    async with app.run_test(size=(30, 10)) as pilot:
        table = app.query_one(DiffTable)
        table.sync(rows("A", "B", "C", "D", "E"))
        table.select_key("B")
        table.sync(rows("C", "D", "E"))  # B hidden: the next row that followed it
        assert table.highlighted_key == "C"
        table.sync(rows("A", "B", "C", "D", "E"))  # B back: the cursor too
        assert table.highlighted_key == "B"
        table.sync(rows("D", "E"))
        assert table.highlighted_key == "D"
        table.focus()
        await pilot.press("down")  # the trader picks E: E is now the chosen row
        table.sync(rows("A", "B", "C", "D", "E"))
        assert table.highlighted_key == "E"
        table.sync(rows("A", "B", "C"))  # nothing after E is left: the row before it
        assert table.highlighted_key == "C"
        table.sync(rows("X", "Y"))  # nothing it knew is left: the first row
        assert table.highlighted_key == "X" and table.cursor_row == 0
