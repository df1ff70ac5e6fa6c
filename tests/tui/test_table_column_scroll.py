"""Issue 13 item 14: right-arrow scrolled a wide table (Orders) one character a press, so
the Intent column, cut at the right edge, took forty presses to read. Left/right now move
a whole column: each press brings the next column's left edge to the window's left edge,
and the last press shows the table's right end (the last column whole)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from tests.tui.conftest import AppFactory
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.widgets.tables import CELL_PADDING, DiffTable

COLUMNS = [(f"c{i}", f"Column {i}", "left") for i in range(6)]
WIDE = "x" * 18  # each column 18 + 2 padding = 20 cells: 120 in all, the window 50


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DiffTable(COLUMNS)  # type: ignore[arg-type]


async def test_left_and_right_move_a_whole_column() -> None:
    app = TableApp()
    async with app.run_test(size=(50, 8)) as pilot:
        table = app.query_one(DiffTable)
        table.sync([("r", tuple(Text(WIDE) for _ in COLUMNS))])
        table.focus()
        await pilot.pause()
        step = 18 + 2 * CELL_PADDING
        assert table.virtual_size.width == 6 * step
        seen = []
        for _ in range(6):
            await pilot.press("right")
            await pilot.pause()
            seen.append(int(table.scroll_x))
        end = 6 * step - table.scrollable_content_region.width
        assert seen == [step, 2 * step, 3 * step, min(4 * step, end), end, end][: len(seen)]
        assert seen[-1] == end  # the last column shown whole
        await pilot.press("left")
        await pilot.pause()
        assert int(table.scroll_x) == 3 * step  # back to a column's left edge
        await pilot.press("left", "left", "left", "left")
        await pilot.pause()
        assert int(table.scroll_x) == 0


async def test_the_orders_intent_column_is_read_in_a_few_presses(make_app: AppFactory) -> None:
    """At 80 columns the Orders table is wider than the screen and Intent, its last
    column, is cut: a few right presses show it whole (it took one a character). (At 120
    every column fits since issue 13: tests/tui/test_orders_fit.py.)"""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        table = screen.table
        assert table.virtual_size.width > table.scrollable_content_region.width
        intent = table.highlighted_key
        assert intent is not None
        presses = 0
        while table.scroll_x < table.max_scroll_x and presses < 20:
            await pilot.press("right")
            await pilot.pause()
            presses += 1
        assert presses <= 6  # one a column at most (nine columns, the first ones shown)
        line = "".join(s.text for s in table.render_line(1 + table.cursor_row))
        assert line.rstrip().endswith(intent)
