"""DiffTable (in-place cell updates, rebuild only on reorder, cursor kept by key) and the
cell formatting rules (never ``nan``, never an IB marker as a number)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

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
