"""Order details (``d`` on Orders): IB's order id and permId, time in force, the order's
commission and each leg fill with time, side, quantity, price and commission, read from a
real journal; escape closes; without a journal the dialog says the fills cannot be read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Label

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.test_history_screen import JournalEngine
from tui_trader.core.models import Fill, IntentStatus, OrderIntent, SpreadLeg, SpreadOrderSpec
from tui_trader.state.journal import Journal
from tui_trader.state.store import Orders, Store
from tui_trader.tui.screens.order_detail import (
    NO_FILLS_SOURCE,
    OrderDetailScreen,
    detail_lines,
)
from tui_trader.tui.screens.orders import OrdersScreen

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # 10:00 ET
NARROW = (80, 24)
SnapCompare = Callable[..., bool]


def spec() -> SpreadOrderSpec:
    legs = tuple(
        SpreadLeg(con_id=c, symbol="AAPL", expiry="20261218", strike=k, right="C", action=a)
        for c, k, a in ((11, 100.0, "BUY"), (12, 105.0, "SELL"))
    )
    return SpreadOrderSpec(
        underlying="AAPL", direction="LONG", legs=legs, action="BUY", quantity=3,
        order_type="LMT", limit_price=2.12, mode="paper",
    )  # fmt: skip


def build(j: Journal) -> OrderIntent:
    """BUY 3 AAPL 100/105 C: order id 7, permId 900123; the long leg at 5.30 and the short at
    3.20 (debit 2.10), 1.95 commission a leg fill (3.90 the order)."""
    it = j.record_intent(spec(), T0)
    j.mark_sent(it.intent_id, 7, T0 + timedelta(seconds=1))
    for n, (con, side, price) in enumerate(((11, "BOT", 5.30), (12, "SLD", 3.20))):
        j.add_fill(Fill(
            exec_id=f"0001.{n}", order_id=7, perm_id=900123, con_id=con, symbol="AAPL",
            side=side, quantity=3.0, price=price, time=T0 + timedelta(seconds=2 + n),
            commission=1.95, order_ref=it.intent_id,
        ))  # fmt: skip
    return j.update_from_ib(it.intent_id, T0 + timedelta(seconds=4), status=IntentStatus.FILLED,
                            perm_id=900123, filled=3, avg_fill_price=2.10)  # fmt: skip


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.sqlite3", new_id=lambda: "tt-00000000000a") as j:
        yield j


def test_detail_lines_by_hand(journal: Journal) -> None:
    intent = build(journal)
    lines = detail_lines(intent, journal.fills(intent.intent_id))
    assert lines[0] == "BUY 3 AAPL 20261218 100/105 C @ 2.12 LMT, PAPER"
    assert lines[1].startswith("Status FILLED, filled 3/3, avg 2.10")
    assert lines[2] == ("Time in force DAY · IB order id 7 · permId 900123 · "
                        "orderRef tt-00000000000a")  # fmt: skip
    assert lines[3] == "Commission of the order 3.90"
    assert lines[-3] == "Fills (2):"
    assert lines[-2] == "  11-16 10:00:02  100 C     BOT 3 @ 5.30  comm 1.95  exec 0001.0"
    assert lines[-1] == "  11-16 10:00:03  105 C     SLD 3 @ 3.20  comm 1.95  exec 0001.1"
    assert detail_lines(intent, None)[-1] == NO_FILLS_SOURCE


def orders_store(store: Store, intent: OrderIntent) -> Store:
    store.set(Orders, Orders((intent,), (), T0))
    return store


def text(app: Any) -> str:
    return str(app.screen.query_one("#order-detail-text", Label).render())


async def test_d_opens_the_details_and_escape_closes_them(
    make_app: AppFactory, journal: Journal, store: Store
) -> None:
    intent = build(journal)
    app = make_app(engine=JournalEngine(journal), store_=orders_store(store, intent))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("3", "d")
        await pilot.pause()
        assert isinstance(app.screen, OrderDetailScreen)
        shown = text(app)
        assert "permId 900123" in shown and "Time in force DAY" in shown
        assert "BOT 3 @ 5.30  comm 1.95" in shown and "Commission of the order 3.90" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, OrdersScreen)


async def test_without_a_journal_the_details_say_the_fills_cannot_be_read(
    make_app: AppFactory, journal: Journal, store: Store
) -> None:
    intent = build(journal)
    app = make_app(engine=RecordingEngine(), store_=orders_store(store, intent))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("3", "d")
        await pilot.pause()
        assert text(app).endswith(NO_FILLS_SOURCE) and "permId 900123" in text(app)


def details() -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press("3", "d")
        await pilot.pause()
        await pilot.pause()

    return run


def test_order_details_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, journal: Journal, store: Store
) -> None:
    intent = build(journal)
    app = make_app(engine=JournalEngine(journal), store_=orders_store(store, intent))
    assert snap_compare(app, terminal_size=NARROW, run_before=details())
