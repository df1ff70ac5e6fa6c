"""The History screen (``7``): closed trades read from a real journal (built with the real
Journal API), newest first, with realised and cumulative P&L; refreshed when the orders
change and when the screen is shown again; a clear sentence without a journal; snapshots at
80x24 (deterministic: fixed journal times, the demo store and the fixed clock)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.tui.conftest import AppFactory, RecordingEngine
from tui_trader.core.models import Fill, IntentStatus, SpreadLeg, SpreadOrderSpec
from tui_trader.state.journal import Journal
from tui_trader.state.store import Orders, Store
from tui_trader.tui.screens.history import NO_JOURNAL, HistoryScreen
from tui_trader.tui.widgets.tables import DiffTable
from tui_trader.tui.widgets.title import TitleBar

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 10:00 ET
NARROW = (80, 24)
SnapCompare = Callable[..., bool]


class JournalEngine(RecordingEngine):
    """The recording engine with the engine's journal, as the real engine has."""

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self.journal = journal


def spec(symbol: str, action: str, qty: int, cons: tuple[int, int], short: bool = False) -> Any:
    right, (k1, k2) = ("P", (105.0, 100.0)) if short else ("C", (100.0, 105.0))
    legs = tuple(
        SpreadLeg(con_id=c, symbol=symbol, expiry="20261218", strike=k, right=right, action=a)
        for c, k, a in ((cons[0], k1, "BUY"), (cons[1], k2, "SELL"))
    )
    return SpreadOrderSpec(
        underlying=symbol, direction="SHORT" if short else "LONG", legs=legs, action=action,
        quantity=qty, order_type="LMT", limit_price=1.0, mode="paper",
    )  # fmt: skip


def trade(j: Journal, s: SpreadOrderSpec, price: float, at: datetime, fee: float) -> str:
    """One order through the journal: recorded, one fill per leg (commission ``fee``
    each), filled at ``price``."""
    it = j.record_intent(s, at)
    for n, leg in enumerate(s.legs):
        side = "BOT" if (leg.action == "BUY") == (s.action == "BUY") else "SLD"
        j.add_fill(Fill(
            exec_id=f"{it.intent_id}-{n}", order_id=1, perm_id=2, con_id=leg.con_id,
            symbol=s.underlying, side=side, quantity=float(s.quantity), price=1.0,
            time=at + timedelta(seconds=1), commission=fee, order_ref=it.intent_id,
        ))  # fmt: skip
    j.update_from_ib(it.intent_id, at + timedelta(seconds=2), status=IntentStatus.FILLED,
                     filled=s.quantity, avg_fill_price=price)  # fmt: skip
    return it.intent_id


def build(j: Journal) -> None:
    """AAPL 100/105 C x3 2.10 -> 3.40 (TARGET, Thu): +390 - 7.80 = +382.20;
    MSFT 105/100 P x2 2.00 -> 1.20 (manual, Tue): -160 - 5.20 = -165.20;
    SPY 100/105 C x4 1.50, half closed at 2.25 (Wed, manual): +150 - 2.60 - 2.60 = +144.80."""
    aapl = trade(j, spec("AAPL", "BUY", 3, (11, 12)), 2.10, T0, 1.95)
    trade(j, spec("MSFT", "BUY", 2, (21, 22), short=True), 2.00, T0, 1.30)
    trade(j, spec("SPY", "BUY", 4, (31, 32)), 1.50, T0, 2.60)
    trade(j, spec("MSFT", "SELL", 2, (21, 22), short=True), 1.20, T0 + timedelta(days=1), 1.30)
    trade(j, spec("SPY", "SELL", 2, (31, 32)), 2.25, T0 + timedelta(days=2), 1.30)
    close = trade(j, spec("AAPL", "SELL", 3, (11, 12)), 3.40, T0 + timedelta(days=3), 1.95)
    record = {"symbol": "AAPL", "rule": "TARGET", "attempts": 1, "intent_id": close,
              "state": "SENT", "day": "2026-11-19"}  # fmt: skip
    j.put_kv(f"auto/exit/{aapl}", record)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    n = iter(range(1, 1000))
    with Journal(tmp_path / "journal.sqlite3", new_id=lambda: f"tt-{next(n):012x}") as j:
        build(j)
        yield j


def cells(table: DiffTable) -> list[list[str]]:
    return [[c.plain for c in table.cells(key)] for key in table.keys]


def status(app: Any) -> str:
    return str(app.screen.query_one(TitleBar)._status)


async def test_seven_shows_closed_trades_newest_first_with_cumulative_pnl(
    make_app: AppFactory, journal: Journal
) -> None:
    app = make_app(engine=JournalEngine(journal))
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert isinstance(app.screen, HistoryScreen)
        rows = cells(app.screen.query_one("#history-table", DiffTable))
        got = [(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]
        assert got == [
            ("AAPL", "100/105 C", "3", "2.10", "3.40", "+382.20", "+361.80", "TARGET"),
            ("SPY", "100/105 C", "2", "1.50", "2.25", "+144.80", "-20.40", "manual"),
            ("MSFT", "105/100 P", "2", "2.00", "1.20", "-165.20", "-165.20", "manual"),
        ]
        assert rows[0][0] == "11-19 10:00"  # the exit fill's time in New York
        assert "3 closed, 2 won" in status(app) and "realised +361.80" in status(app)


async def test_a_new_close_appears_when_the_orders_change(
    make_app: AppFactory, journal: Journal, store: Store
) -> None:
    app = make_app(engine=JournalEngine(journal))
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        table = app.screen.query_one("#history-table", DiffTable)
        assert len(cells(table)) == 3
        # the other half of SPY is sold on Friday at 1.00: 2 x (1.00 - 1.50) x 100 = -100,
        # commissions 2 legs x 1.30 + half of the opening's 2 legs x 2.60 = 5.20 -> -105.20
        trade(journal, spec("SPY", "SELL", 2, (31, 32)), 1.00, T0 + timedelta(days=4), 1.30)
        store.set(Orders, replace(store.get(Orders), updated_at=T0 + timedelta(days=4)))
        await pilot.pause()
        await pilot.pause()
        top = cells(table)[0]
        assert (top[1], top[3], top[6], top[7]) == ("SPY", "2", "-105.20", "+256.60")
        # and a trade journaled while another screen is shown is there on coming back
        await pilot.press("1")
        trade(journal, spec("QQQ", "BUY", 1, (41, 42)), 1.00, T0 + timedelta(days=5), 0.0)
        trade(journal, spec("QQQ", "SELL", 1, (41, 42)), 1.10, T0 + timedelta(days=5), 0.0)
        await pilot.press("7")
        await pilot.pause()
        top = cells(app.screen.query_one("#history-table", DiffTable))[0]
        assert (top[1], top[6], top[7]) == ("QQQ", "+10.00", "+266.60")


async def test_without_a_journal_the_screen_says_where_the_history_is(
    make_app: AppFactory,
) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("7")
        await pilot.pause()
        note = app.screen.query_one("#history-note", Static)
        assert note.display and str(note.render()) == NO_JOURNAL
        assert cells(app.screen.query_one("#history-table", DiffTable)) == []


def history() -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        await pilot.press("7")
        await pilot.pause()
        await pilot.pause()

    return run


def test_history_80x24(snap_compare: SnapCompare, make_app: AppFactory, journal: Journal) -> None:
    app = make_app(engine=JournalEngine(journal))
    assert snap_compare(app, terminal_size=NARROW, run_before=history())


def test_history_empty_journal_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, tmp_path: Path
) -> None:
    with Journal(tmp_path / "empty.sqlite3") as j:
        app = make_app(engine=JournalEngine(j))
        assert snap_compare(app, terminal_size=NARROW, run_before=history())
