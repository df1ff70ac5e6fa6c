"""What a dashboard screen may use of the app hosting it: a small typed interface, so the
screens depend on this and not on :class:`tui_trader.tui.app.TraderApp` (which imports
every screen). The app implements it; a test checks that it does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from textual.binding import BindingType
from textual.signal import Signal

from tui_trader.core.settings import Settings
from tui_trader.engine.actions import EngineActions, Outcome
from tui_trader.state.store import Store

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui_trader.core.bars import Bars


@runtime_checkable
class DailyBarsSource(Protocol):
    """An engine that hands the dashboard the daily bars it loaded for the universe (the
    Backtest screen runs on them); :class:`tui_trader.engine.engine.Engine` is one."""

    def daily_bars(self) -> Bars | None: ...


class TraderHost(Protocol):
    """The app as its screens see it."""

    settings: Settings
    store: Store
    engine: EngineActions | None
    starting: bool
    cursor_blink: bool
    store_changed: Signal[frozenset[type[Any]]]
    clock_ticked: Signal[datetime]

    @property
    def keymap(self) -> dict[str, str]: ...

    def key_display(
        self, binding_id: str, bindings: Sequence[BindingType] | None = None
    ) -> str: ...

    def now(self) -> datetime | None: ...

    def call_engine(
        self,
        label: str,
        call: Callable[[EngineActions], Awaitable[Outcome]],
        then: Callable[[Outcome], None] | None = None,
        *,
        quiet: bool = False,
    ) -> bool: ...

    def push_screen(self, screen: Screen[Any], *args: Any, **kwargs: Any) -> Any: ...

    def daily_bars(self) -> Bars | None:
        """The universe's daily bars the engine loaded (None: no engine, or not yet)."""
        ...
