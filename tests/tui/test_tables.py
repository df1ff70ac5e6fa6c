"""DiffTable (in-place cell updates, rebuild only on reorder, cursor kept by key) and the
cell formatting rules (never ``nan``, never an IB marker as a number)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from tui_trader.tui.widgets.cells import age, field_number, number, percent, strike
from tui_trader.tui.widgets.tables import DiffTable, same_cell

IB_UNSET = 1.7976931348623157e308


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DiffTable([("sym", "Sym", "left"), ("px", "Px", "right")])


def rows(*items: tuple[str, str]) -> list[tuple[str, tuple[Text, ...]]]:
    return [(k, (Text(k), Text(v, justify="right"))) for k, v in items]


async def test_sync_updates_changed_cells_only_and_keeps_the_cursor() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)):
        table = app.query_one(DiffTable)
        table.sync(rows(("A", "1"), ("B", "2"), ("C", "3")))
        table.select_key("B")
        table.sync(rows(("A", "1"), ("B", "2.5"), ("C", "3")))
        assert table.cells_updated == 1 and table.reorders == 0
        assert table.get_cell("B", "px").plain == "2.5"
        table.sync(rows(("A", "1"), ("B", "2.5"), ("C", "3"), ("D", "4")))  # append
        assert table.reorders == 0 and table.keys == ["A", "B", "C", "D"]
        table.sync(rows(("B", "2.5"), ("C", "3"), ("D", "4")))  # A removed above the cursor
        assert table.reorders == 0
        assert table.highlighted_key == "B" and table.cursor_row == 0
        table.sync(rows(("D", "4"), ("C", "3"), ("B", "2.5")))  # reordered
        assert table.reorders == 1 and table.keys == ["D", "C", "B"]
        assert table.highlighted_key == "B" and table.cursor_row == 2
        table.sync(rows(("D", "4"), ("C", "3")))  # the cursor's row is gone: stays in range
        assert table.highlighted_key in ("D", "C")


async def test_reorder_with_a_shared_cell_object_still_orders_rows() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)):
        table = app.query_one(DiffTable)
        shared = Text("same")
        table.sync([("A", (shared, Text("1"))), ("B", (shared, Text("2")))])
        table.sync([("B", (shared, Text("2"))), ("A", (shared, Text("1")))])
        assert table.keys == ["B", "A"] and table.reorders == 1


async def test_sync_refuses_duplicate_keys_and_wrong_widths() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 10)):
        table = app.query_one(DiffTable)
        with pytest.raises(ValueError, match="unique"):
            table.sync(rows(("A", "1"), ("A", "2")))
        with pytest.raises(ValueError, match="2 columns"):
            table.sync([("A", (Text("A"),))])


def test_same_cell_sees_style_and_justification() -> None:
    assert same_cell(Text("1", style="red"), Text("1", style="red"))
    assert not same_cell(Text("1", style="red"), Text("1", style="green"))
    assert not same_cell(Text("1", justify="left"), Text("1", justify="right"))


@pytest.mark.parametrize(
    ("value", "digits", "sign", "expected"),
    [
        (1234.5, 2, False, "1,234.50"),
        (-0.125, 3, True, "-0.125"),
        (0.5, 2, True, "+0.50"),
        (None, 2, False, "-"),
        (float("nan"), 2, False, "-"),
        (float("inf"), 2, False, "-"),
        (IB_UNSET, 2, False, "-"),
    ],
)
def test_number(value: float | None, digits: int, sign: bool, expected: str) -> None:
    assert number(value, digits, sign=sign) == expected


def test_percent_strike_age_and_optional_fields() -> None:
    assert percent(0.2375) == "23.8%" and percent(-0.0712, sign=True) == "-7.1%"
    assert percent(float("nan")) == "-"
    assert strike(202.5) == "202.5" and strike(200.0) == "200"
    assert [age(s) for s in (5, 75, 3700, 200_000)] == ["5s", "1m", "1h01m", "2d"]

    class Thing:
        good = 1.5
        flag = True
        marker = IB_UNSET

    assert field_number(Thing(), "good") == 1.5
    assert field_number(Thing(), "flag") is None  # a bool is not a number
    assert field_number(Thing(), "marker") is None
    assert field_number(Thing(), "absent") is None


# -- drawing, widths, cursor, repaint ------------------------------------------------------


class CountingTable(DiffTable):
    """Counts the lines it is asked to draw (the compositor asks only for dirty lines)."""

    drawn: list[int]

    def render_line(self, y: int) -> Strip:
        self.drawn.append(y)
        return super().render_line(y)


class CountingApp(App[None]):
    def compose(self) -> ComposeResult:
        table = CountingTable([("sym", "Sym", "left"), ("px", "Px", "right")])
        table.drawn = []
        yield table


def numbered(n: int, px: str = "1.00") -> list[tuple[str, tuple[Text, ...]]]:
    return [(f"S{i:04d}", (Text(f"S{i:04d}"), Text(px, justify="right"))) for i in range(n)]


def screen_text(table: DiffTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


async def test_lines_are_padded_and_justified_and_columns_follow_the_widest_value() -> None:
    app = TableApp()
    async with app.run_test(size=(30, 6)) as pilot:
        table = app.query_one(DiffTable)
        table.sync(rows(("AAPL", "1.5"), ("C", "22.75")))
        await pilot.pause()
        assert screen_text(table)[:3] == [" Sym      Px", " AAPL    1.5", " C     22.75"]
        table.sync(rows(("AAPL", "1,234.50"), ("C", "22.75")))  # Px grows at once
        await pilot.pause()
        assert screen_text(table)[1:3] == [" AAPL  1,234.50", " C        22.75"]
        table.sync(rows(("C", "22.75")))  # the wide rows are gone: the columns shrink back
        await pilot.pause()
        assert screen_text(table)[:2] == [" Sym     Px", " C    22.75"]


async def test_cursor_keys_scroll_a_long_table_and_keep_the_cursor_on_screen() -> None:
    app = TableApp()
    async with app.run_test(size=(30, 10)) as pilot:
        table = app.query_one(DiffTable)
        table.sync(numbered(1_000))
        table.focus()
        await pilot.press("end")
        assert table.highlighted_key == "S0999"
        assert screen_text(table)[-1].startswith(" S0999")  # the last row is on screen
        await pilot.press("pageup")
        assert table.cursor_row == 999 - 8  # a page: the visible rows less one
        await pilot.press("home", "down", "down")
        assert table.highlighted_key == "S0002" and screen_text(table)[1].startswith(" S0000")
        await pilot.press("up", "up", "up")  # stops at the first row
        assert table.cursor_row == 0


async def test_row_highlighted_is_posted_when_the_key_under_the_cursor_changes() -> None:
    seen: list[str | None] = []

    class Listening(TableApp):
        def on_diff_table_row_highlighted(self, event: DiffTable.RowHighlighted) -> None:
            seen.append(event.key)

    app = Listening()
    async with app.run_test(size=(30, 8)) as pilot:
        table = app.query_one(DiffTable)
        table.sync(rows(("A", "1"), ("B", "2")))
        await pilot.pause()
        table.sync(rows(("A", "1.5"), ("B", "2")))  # same row under the cursor: nothing
        table.focus()
        await pilot.press("down")
        table.sync(rows(("A", "1.5")))  # the cursor's row went away: A is highlighted now
        table.sync([])
        await pilot.pause()
        assert seen == ["A", "B", "A", None]


async def test_a_one_cell_change_repaints_one_line_not_the_table() -> None:
    app = CountingApp()
    async with app.run_test(size=(30, 12)) as pilot:
        table = app.query_one(CountingTable)
        table.sync(numbered(100))
        await pilot.pause()
        table.drawn.clear()
        changed = numbered(100)
        changed[3] = ("S0003", (Text("S0003"), Text("9.99", justify="right")))
        changed[50] = ("S0050", (Text("S0050"), Text("9.99", justify="right")))  # off screen
        table.sync(changed)
        await pilot.pause()
        assert table.drawn == [4]  # header is line 0: row 3 is line 4
        assert table.cells_updated == 2
        table.focus()
        await pilot.pause()
        table.drawn.clear()
        await pilot.press("down")  # cursor 0 -> 1: two lines
        assert sorted(table.drawn) == [1, 2]


async def test_click_moves_the_cursor_and_a_read_only_table_has_none() -> None:
    class Both(App[None]):
        def compose(self) -> ComposeResult:
            yield DiffTable([("sym", "Sym", "left")], id="rw")
            yield DiffTable([("sym", "Sym", "left")], id="ro", cursor=False)

    app = Both()
    async with app.run_test(size=(30, 12)) as pilot:
        rw, ro = app.query_one("#rw", DiffTable), app.query_one("#ro", DiffTable)
        for table in (rw, ro):
            table.sync([(k, (Text(k),)) for k in ("A", "B", "C")])
        await pilot.pause()
        await pilot.click("#rw", offset=(2, 3))  # line 3 under the header: row C
        assert rw.highlighted_key == "C"
        assert not ro.can_focus and not ro.show_cursor
        cursor_line, other = ro.render_line(1), ro.render_line(2)
        assert cursor_line.text == other.text.replace("B", "A")
        assert [s.style for s in cursor_line] == [s.style for s in other]  # no cursor bar


async def test_a_new_row_count_repaints_the_table_without_laying_out_the_screen() -> None:
    """A filter letter changes the row count: the table's scrollbar and scroll position
    follow, but the screen is not arranged again (that pass repainted every widget)."""
    app = TableApp()
    async with app.run_test(size=(30, 10)) as pilot:
        table = app.query_one(DiffTable)
        table.sync(numbered(200))
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        assert table.show_vertical_scrollbar and table.scroll_y == 201 - 10
        layouts: list[bool] = []
        screen = app.screen
        arrange = screen._refresh_layout

        def counting(*args: object, **kwargs: object) -> None:
            layouts.append(True)
            arrange(*args, **kwargs)  # type: ignore[arg-type]

        screen._refresh_layout = counting  # type: ignore[method-assign]
        table.sync(numbered(30))  # fewer rows: the scroll position comes back in range
        await pilot.pause()
        assert layouts == []
        assert table.virtual_size.height == 31 and table.scroll_y == 31 - 10
        assert table.vertical_scrollbar.window_virtual_size == 31
        assert screen_text(table)[-1].startswith(" S0029")
        table.sync(numbered(5))  # no scrollbar any more: that one is a layout change
        await pilot.pause()
        assert not table.show_vertical_scrollbar and table.scroll_y == 0
        assert screen_text(table)[1:6] == [f" S000{i}  1.00" for i in range(5)]
        table.sync(numbered(300))
        await pilot.pause()
        assert table.show_vertical_scrollbar and table.virtual_size.height == 301


async def test_columns_measured_after_a_removal_use_each_rows_current_cells() -> None:
    """Each row's widths are kept with its cells (a filter letter measures from them):
    a cell that changed narrower counts at its new width when rows go away."""
    app = TableApp()
    async with app.run_test(size=(30, 6)) as pilot:
        table = app.query_one(DiffTable)
        table.sync(rows(("AAPL", "1,234.50"), ("C", "1")))
        table.sync(rows(("AAPL", "2"), ("C", "1")))  # narrower: the column keeps its width
        await pilot.pause()
        assert screen_text(table)[1] == " AAPL         2"
        table.sync(rows(("AAPL", "2")))  # a row removed: measured again, from AAPL's "2"
        await pilot.pause()
        assert screen_text(table)[:2] == [" Sym   Px", " AAPL   2"]
