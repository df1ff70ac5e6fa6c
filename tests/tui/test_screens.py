"""Orders, Positions and Log screens: what they show and their keys."""

from __future__ import annotations

from tests.tui.conftest import AppFactory, RecordingEngine
from tui_trader.state.store import Account
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen


async def test_orders_show_status_fills_and_walking(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        table = screen.table
        assert table.keys[0] == "tt-000000000005"  # newest first
        working = [c.plain for c in table.cells("tt-000000000005")]
        assert working == ["14:15:00", "WORKING", "BUY 4 MSFT 261231 520/540 C",
                           "0/4", "-", "4.80", "2/5 14:30:12", "-", "tt-000000000005"]  # fmt: skip
        filled = [c.plain for c in table.cells("tt-000000000001")]
        assert filled[1:6] == ["FILLED", "BUY 8 NVDA 261231 187.5/197.5 C", "8/8",
                               "2.38", "2.38"]  # fmt: skip
        rejected = [c.plain for c in table.cells("tt-000000000003")]
        assert rejected[7] == "201 Order…"  # whole on the detail screen (test_orders_fit)


async def test_c_cancels_a_working_order_only_after_yes(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        await pilot.press("c")
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        assert modal.message == "BUY 4 MSFT 20261231 520/540 C @ 4.80 LMT, PAPER"
        assert modal.detail == "tt-000000000005: WORKING, 0/4 filled."
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert engine.calls == []
        await pilot.press("c", "y")
        await app.workers.wait_for_complete()
        assert engine.calls == [("cancel", ("tt-000000000005",))]


async def test_c_on_a_final_order_says_there_is_nothing_to_cancel(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, OrdersScreen)
        screen.table.select_key("tt-000000000001")
        await pilot.press("c")
        assert isinstance(app.screen, OrdersScreen)
        assert [n.message for n in app._notifications] == [
            "tt-000000000001 is FILLED: nothing to cancel."
        ]
        assert engine.calls == []


async def test_positions_show_spreads_and_the_account(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        rows = [[c.plain for c in screen.table.cells(k)] for k in screen.table.keys]
        assert rows == [
            ["NVDA", "20261231 187.5/197.5 C", "8", "1,910.40", "2.44", "+42.00", "+2.2%", "41",
             "171.52 (-7.1%)", "205.40 (+11.2%)", "journal"],
            ["XOM", "20261218 115/120 C", "1", "190.00", "1.75", "-15.00", "-7.9%", "28", "-",
             "-", "external"],
        ]  # fmt: skip
        account = str(screen.query_one("#account-line").render())
        assert account.startswith(
            "NetLiq 100,000.00  Available 92,500.00  Buying power 370,000.00  Day P&L +123.45"
        )
        app.store.update(Account, mode_problem="config says live, the account is paper")
        await pilot.pause()
        account = str(screen.query_one("#account-line").render())
        assert "TRADING REFUSED: config says live, the account is paper" in account


async def test_c_on_a_position_previews_its_closing_order(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "c")
        await app.workers.wait_for_complete()
        assert engine.calls == [("preview_close", ("tt-000000000001",))]
        screen = app.screen
        assert isinstance(screen, PreviewScreen) and screen.closing
        assert screen.title == "Spread preview · NVDA · closing order"
        await pilot.press("escape", "down", "c")
        await app.workers.wait_for_complete()
        assert engine.calls[-1] == ("preview_close", ("legs:9001,9002",))  # external: by legs


async def test_log_filters_by_level(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, LogScreen)

        def texts() -> list[str]:
            return [screen.table.cells(k)[3].plain for k in screen.table.keys]

        assert texts()[0] == "Working MSFT, walk step 2"  # newest first
        assert len(texts()) == 6
        await pilot.press("l")
        assert texts() == [
            "Rejected SPY: insufficient margin",
            "2104 Market data farm connection is OK:usfarm",
        ]
        await pilot.press("l")
        assert texts() == ["Rejected SPY: insufficient margin"]
        await pilot.press("l")
        assert len(texts()) == 6
