"""Snapshot tests of the Backtest screen (``6``): before any run and after a finished run,
at 80x24 and 120x40, on the crafted universe of the back-test's unit tests.

Deterministic as the other snapshots (tests/tui/test_snapshots.py): the demo store, the
fixed clock, no animation, no blinking cursor (the focus is on the runs table), and the
worker awaited before the picture is taken; the screen shows no wall-clock time.
Regenerate on purpose with ``pytest tests/tui/test_backtest_snapshots.py --snapshot-update``
and read the SVG diff.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import AppFactory
from tests.tui.test_backtest_screen import BarsEngine, crafted_frame
from tui_trader.core.bars import Bars

WIDE = (120, 40)
NARROW = (80, 24)
SnapCompare = Callable[..., bool]


def backtest(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """Open the Backtest screen, press ``keys``, wait for the worker."""

    async def run(pilot: Pilot[Any]) -> None:
        await pilot.pause()
        for key in ("6", *keys):
            await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.pause()

    return run


@pytest.fixture(scope="module")
def bars() -> Bars:
    return Bars.from_frame(crafted_frame())


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "120x40"])
def test_backtest_before_a_run(
    snap_compare: SnapCompare, make_app: AppFactory, bars: Bars, size: tuple[int, int]
) -> None:
    app = make_app(engine=BarsEngine(bars))
    assert snap_compare(app, terminal_size=size, run_before=backtest())


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "120x40"])
def test_backtest_after_a_run(
    snap_compare: SnapCompare, make_app: AppFactory, bars: Bars, size: tuple[int, int]
) -> None:
    app = make_app(engine=BarsEngine(bars))
    assert snap_compare(app, terminal_size=size, run_before=backtest("r"))
