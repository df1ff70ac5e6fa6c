"""Fixtures for the dashboard tests: a store filled from the seeded demo market, a fixed
clock, a recording implementation of the engine's actions, and an app factory.

``RecordingEngine`` is a test double of the UI's one dependency (the EngineActions
protocol): it records every call and answers with a fixed outcome. It is not a broker and
places nothing; the trading path itself is tested against the simulated gateway elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.tui.demo_store import APP_NOW, Demo, build_demo, demo_slices
from tui_trader.engine.actions import Outcome
from tui_trader.state.store import Store
from tui_trader.tui.app import TraderApp, create_app


class RecordingEngine:
    """Records each EngineActions call as ``(name, args)``; every call answers ``outcome``."""

    def __init__(self, outcome: Outcome | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.outcome = outcome or Outcome(True, "done")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def _record(self, name: str, *args: Any) -> Outcome:
        self.calls.append((name, args))
        return self.outcome

    async def rescan(self) -> Outcome:
        return await self._record("rescan")

    async def preview(self, symbol: str) -> Outcome:
        return await self._record("preview", symbol)

    async def select_spread(self, index: int) -> Outcome:
        return await self._record("select_spread", index)

    async def adjust_quantity(self, delta: int) -> Outcome:
        return await self._record("adjust_quantity", delta)

    async def adjust_limit(self, ticks: int) -> Outcome:
        return await self._record("adjust_limit", ticks)

    async def refresh_what_if(self) -> Outcome:
        return await self._record("refresh_what_if")

    async def transmit(self) -> Outcome:
        return await self._record("transmit")

    async def preview_close(self, spread_key: str) -> Outcome:
        return await self._record("preview_close", spread_key)

    async def cancel(self, intent_id: str) -> Outcome:
        return await self._record("cancel", intent_id)

    async def kill_switch(self) -> Outcome:
        return await self._record("kill_switch")

    async def clear_kill_switch(self) -> Outcome:
        return await self._record("clear_kill_switch")

    async def arm_auto(self, dry_run: bool) -> Outcome:
        return await self._record("arm_auto", dry_run)

    async def disarm_auto(self) -> Outcome:
        return await self._record("disarm_auto")

    async def open_chain(self, symbol: str) -> Outcome:
        return await self._record("open_chain", symbol)

    async def step_chain(self, expiries: int, strikes: int) -> Outcome:
        return await self._record("step_chain", expiries, strikes)

    async def close_chain(self) -> Outcome:
        return await self._record("close_chain")

    async def preview_chain_spread(
        self, direction: str, long_strike: float, short_strike: float
    ) -> Outcome:
        return await self._record("preview_chain_spread", direction, long_strike, short_strike)


@pytest.fixture(scope="session")
def demo() -> Demo:
    return build_demo()


@pytest.fixture(scope="session")
def slices(demo: Demo) -> list[object]:
    return demo_slices(demo)


@pytest.fixture
def store(slices: list[object]) -> Store:
    """A fresh store per test, holding the demo state (slice values are immutable)."""
    return Store(slices)


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def no_user_themes(tmp_path: Path) -> Path:
    """An empty user theme folder, so a developer's own themes never change a test."""
    folder = tmp_path / "user-themes"
    folder.mkdir()
    return folder


AppFactory = Callable[..., TraderApp]


@pytest.fixture
def make_app(demo: Demo, store: Store, no_user_themes: Path) -> AppFactory:
    """``make_app(engine=..., store=..., theme=..., clock=...)``: the dashboard over the demo
    store with a fixed clock and immediate (not time-throttled) redraws."""

    def make(
        *,
        engine: RecordingEngine | None = None,
        store_: Store | None = None,
        theme: str | None = None,
        clock: Callable[[], datetime] = lambda: APP_NOW,
        refresh_interval: float = 0.0,
    ) -> TraderApp:
        app = create_app(
            demo.settings,
            store_ if store_ is not None else store,
            clock=clock,
            engine=engine,
            theme=theme,
            user_theme_dir=no_user_themes,
            refresh_interval=refresh_interval,
        )
        app.animation_level = "none"
        return app

    return make
