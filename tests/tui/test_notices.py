"""Issue 13, defect 5: a popup for every key press.

Thirty ``[``/``+`` presses stacked thirty notifications over the footer and the dialogs.
Now a repeated notice replaces its predecessor (the same action's outcome, the same
order's news, the connection), routine successes that the screen shows anyway raise none,
and the toasts sit above the two-line footer.
"""

from __future__ import annotations

from dataclasses import replace

from tests.tui.conftest import AppFactory, RecordingEngine
from tui_trader.core.models import IntentStatus
from tui_trader.engine.actions import Outcome
from tui_trader.state.store import ConnectionState, Health, Orders
from tui_trader.tui.app import MAX_TOASTS, notice_topic
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.widgets.footer import HealthFooter


def shown(app: object) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]  # type: ignore[attr-defined]


async def test_thirty_limit_and_quantity_presses_leave_one_notice_each(
    make_app: AppFactory,
) -> None:
    engine = RecordingEngine(Outcome(False, "The limit 4.45 is already at the natural ask."))
    app = make_app(engine=engine)
    # Forty-five presses on a loaded machine can outlast Textual's 5 s toast timeout; what
    # is asserted is replacement, not expiry, so the notices stay until the end.
    app.NOTIFICATION_TIMEOUT = 600
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, PreviewScreen)
        for _ in range(15):
            await pilot.press("left_square_bracket", "right_square_bracket", "plus")
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert engine.names().count("adjust_limit") == 30
        assert engine.names().count("adjust_quantity") == 15
        # one notice for the limit (whichever way it moved), one for the quantity, and the
        # preview's own outcome (a refusal here: the fixed outcome is not ok)
        titles = [t for t, _ in shown(app)]
        assert sorted(titles) == [
            "Change the quantity by +1",
            "Move the limit +1 tick",
            "Preview AAPL",
        ]


async def test_a_routine_success_the_screen_shows_raises_no_popup(make_app: AppFactory) -> None:
    engine = RecordingEngine(Outcome(True, "Scan started."))
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        for _ in range(5):
            await pilot.press("r")
        await pilot.press("enter")  # preview: the preview screen itself is the answer
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert engine.names() == ["rescan"] * 5 + ["preview"]
        assert shown(app) == []


async def test_news_of_one_order_replaces_its_last_notice_of_the_same_kind(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        orders = app.store.get(Orders)
        working = orders.intents[-1]
        assert working.status is IntentStatus.WORKING and working.spec.quantity == 4
        for filled in (1, 2, 3):
            step = working.model_copy(
                update={
                    "status": IntentStatus.PARTIALLY_FILLED,
                    "filled": filled,
                    "avg_fill_price": 4.8,
                }
            )
            app.store.set(Orders, replace(orders, intents=(*orders.intents[:-1], step)))
        await pilot.pause()
        assert shown(app) == [
            ("Partial fill", "BUY 4 MSFT 20261231 520/540 C @ 4.80 LMT, PAPER: 3/4 avg 4.80")
        ]


async def test_connection_flapping_keeps_one_notice(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        for _ in range(10):
            app.store.update(Health, state=ConnectionState.RECONNECTING)
            app.store.update(Health, state=ConnectionState.CONNECTED)
        await pilot.pause()
        assert shown(app) == [("Connection", "RECONNECTING -> CONNECTED")]


async def test_distinct_notices_are_capped_and_sit_above_the_footer(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        for k in range(MAX_TOASTS + 3):
            app.notify(f"news {k}", title=f"topic {k}")
        await pilot.pause()
        assert [m for _, m in shown(app)] == [f"news {k}" for k in range(3, MAX_TOASTS + 3)]
        footer = app.screen.query_one(HealthFooter).region
        toasts = [w.region for w in app.screen.query("Toast")]
        assert toasts and all(r.bottom <= footer.y for r in toasts)


async def test_a_notice_with_brackets_is_shown_as_text(make_app: AppFactory) -> None:
    """IB's words may hold ``[...]``: shown as written, never parsed as markup."""
    app = make_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        app.notify("Order rejected: [b]margin[/b] [reason]", title="IB")
        await pilot.pause()
        toast = app.screen.query_one("Toast")
        assert "Order rejected: [b]margin[/b] [reason]" in str(toast.render())


def test_notice_topics_ignore_the_step_and_the_spread_number() -> None:
    assert notice_topic("Move the limit -1 tick") == notice_topic("Move the limit +1 tick")
    assert notice_topic("Select spread #2") == notice_topic("Select spread #7")
    assert notice_topic("Cancel tt-000000000001") != notice_topic("Cancel tt-000000000002")
