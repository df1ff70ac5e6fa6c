"""Issue 13: the Orders table fits 120 columns (Intent, its last column, on screen without
scrolling); IB's error is cut in the table and whole on the detail screen (``d``)."""

from __future__ import annotations

from textual.widgets import Label

from tests.tui.conftest import AppFactory
from tui_trader.tui.screens.order_detail import OrderDetailScreen
from tui_trader.tui.screens.orders import ERROR_WIDTH, OrdersScreen

REJECTED = "tt-000000000003"
ERROR = "201 Order rejected - reason: insufficient margin"


async def test_every_column_fits_at_120_and_d_shows_the_whole_error(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        table = screen.table
        assert table.virtual_size.width <= table.scrollable_content_region.width - 2
        assert table.max_scroll_x == 0
        line = "".join(s.text for s in table.render_line(1)).rstrip()
        assert line.endswith("tt-000000000005")  # the newest order's Intent, whole
        cells = [c.plain for c in table.cells(REJECTED)]
        assert cells[2] == "BUY 10 SPY 261231 640/644 C"
        assert cells[7] == "201 Order…" and len(cells[7]) == ERROR_WIDTH
        assert cells[0] == "14:01:00"  # today's order: the time alone
        assert table.select_key(REJECTED)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, OrderDetailScreen)
        shown = str(app.screen.query_one("#order-detail-text", Label).render())
        assert f"Last IB error {ERROR}" in shown
        assert "BUY 10 SPY 20261231 640/644 C @ 1.31 LMT" in shown  # the entry limit


async def test_at_80_columns_created_to_limit_show(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        line = "".join(s.text for s in screen.table.render_line(0))
        assert line.split() == ["Created", "Status", "Order", "Fill", "Avg", "Limit"]
