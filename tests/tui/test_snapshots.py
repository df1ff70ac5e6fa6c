"""Snapshot tests: every screen at 120x40, scanner, preview, automation and the footer at
80x24.

Deterministic: the store holds the seeded demo market's real scan and spreads
(tests/tui/demo_store.py), the clock is fixed at 14:30 ET, animations are off, no input
has a blinking cursor, workers are awaited and toasts cleared before the picture is taken.
Regenerate on purpose with ``pytest tests/tui --snapshot-update`` and read the SVG diff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import APP_NOW, Demo, demo_automation
from tui_trader.core.risk import BreakerState, engage_kill_switch
from tui_trader.state.store import (
    Account,
    AccountMode,
    Automation,
    ConnectionState,
    Health,
    Store,
)
from tui_trader.tui.screens.scanner import ScannerScreen

WIDE = (120, 40)
NARROW = (80, 24)
SnapCompare = Callable[..., bool]


def steps(*keys: str, select: str | None = None) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Press ``keys`` (after putting the scanner cursor on ``select``), wait for workers,
    clear toasts."""

    async def run(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await pilot.pause()
        if select is not None:
            screen = app.screen
            assert isinstance(screen, ScannerScreen)
            screen.table.select_key(select)
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            app.clear_notifications()
        await pilot.pause()

    return run


def test_scanner_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=steps(select="AMZN"))


def test_scanner_sorted_by_rsi_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=NARROW, run_before=steps("s", "s", "s", "s"))


def test_preview_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    assert snap_compare(app, terminal_size=WIDE, run_before=steps("enter", select="AMZN"))


def test_preview_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    assert snap_compare(app, terminal_size=NARROW, run_before=steps("enter", select="AMZN"))


def test_transmit_confirmation_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    assert snap_compare(app, terminal_size=WIDE, run_before=steps("enter", "t", select="AMZN"))


def test_positions_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=steps("2"))


def test_orders_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=steps("3"))


def test_log_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=steps("4"))


def test_help_120x40(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=steps("question_mark"))


def test_footer_alerts_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, slices: list[object]
) -> None:
    """LIVE, RECONNECTING, a full line budget, THROTTLED, HALTED and a day loss at once."""
    health = next(s for s in slices if isinstance(s, Health))
    account = next(s for s in slices if isinstance(s, Account))
    store = Store(slices)
    store.set(Health, replace(
        health, state=ConnectionState.RECONNECTING, since=APP_NOW - timedelta(seconds=8),
        lines_active=90, throttled=True, request_queue_depth=7, last_error_code=1100,
        last_error_time=APP_NOW - timedelta(seconds=8)))  # fmt: skip
    store.set(Account, replace(account, mode=AccountMode.LIVE, day_pnl=-1_042.5))
    store.set(BreakerState, engage_kill_switch(BreakerState(), APP_NOW))
    assert snap_compare(make_app(store_=store), terminal_size=NARROW, run_before=steps("3"))


def test_light_theme_orders_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(theme="light"), terminal_size=NARROW, run_before=steps("3"))


def test_ansi_theme_scanner_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    assert snap_compare(make_app(theme="ansi"), terminal_size=NARROW, run_before=steps())


def test_automation_120x40(
    snap_compare: SnapCompare, make_app: AppFactory, demo: Demo, store: Store
) -> None:
    """Candidates in every state, three exit orders, the limits line (armed, paper)."""
    store.set(Automation, demo_automation(demo))
    assert snap_compare(make_app(store_=store), terminal_size=WIDE, run_before=steps("5"))


def test_automation_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, demo: Demo, store: Store
) -> None:
    store.set(Automation, demo_automation(demo))
    assert snap_compare(make_app(store_=store), terminal_size=NARROW, run_before=steps("5"))


@pytest.mark.parametrize(
    ("mode", "entries"), [("OFF", 0), ("ARMED", 1), ("DRY-RUN", 0), ("HALTED", 2)]
)
def test_footer_auto_mode_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, store: Store, mode: str, entries: int
) -> None:
    store.set(Automation, Automation(mode=mode, entries_today=entries, max_daily_trades=3))
    assert snap_compare(make_app(store_=store), terminal_size=NARROW, run_before=steps("3"))


def test_arm_confirmation_paper_80x24(snap_compare: SnapCompare, make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    assert snap_compare(app, terminal_size=NARROW, run_before=steps("a"))


def test_arm_confirmation_live_120x40(
    snap_compare: SnapCompare, make_app: AppFactory, slices: list[object]
) -> None:
    """LIVE: the red frame and the box where LIVE must be typed."""
    store = Store(slices)
    store.set(Account, replace(store.get(Account), mode=AccountMode.LIVE))
    app = make_app(engine=RecordingEngine(), store_=store)
    assert snap_compare(app, terminal_size=WIDE, run_before=steps("a"))
