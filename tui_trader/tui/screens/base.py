"""What every dashboard screen shares: the title bar, the health footer, and redrawing from
the store.

The app coalesces store changes and publishes the set of changed slices a few times a
second (:attr:`TraderApp.store_changed`); a screen redraws its body only when one of the
slices it shows (:attr:`TraderScreen.WATCHES`) changed, and only while it is the screen on
top: a screen in the background is marked stale and redrawn when it comes back, so a busy
scanner costs nothing while the trader looks at his orders. The footer redraws on the
slices it shows and on the app's one-second clock tick (and once when the engine is
attached: until then the footer says STARTING and shows no time).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast

from loguru import logger
from textual.app import ComposeResult
from textual.screen import Screen

from tui_trader.core.risk import BreakerState
from tui_trader.state.store import Account, Alerts, Automation, Health, Preflight
from tui_trader.tui.widgets.cells import Palette
from tui_trader.tui.widgets.footer import HealthFooter
from tui_trader.tui.widgets.title import TitleBar

if TYPE_CHECKING:
    from tui_trader.tui.host import TraderHost

#: The slices the health footer shows.
FOOTER_SLICES: frozenset[type[Any]] = frozenset(
    {Health, Account, BreakerState, Automation, Alerts, Preflight}
)


class TraderScreen(Screen[None]):
    """A dashboard screen: ``TITLE`` in the title bar, :meth:`compose_body`, the footer."""

    TITLE: ClassVar[str] = ""
    #: Store slices whose change redraws the body.
    WATCHES: ClassVar[frozenset[type[Any]]] = frozenset()

    def __init__(self) -> None:
        super().__init__()
        self._stale = True
        self._palette: Palette | None = None

    @property
    def trader(self) -> TraderHost:
        """The hosting app through the small interface screens use (no import of the app
        module: it imports every screen)."""
        return cast("TraderHost", self.app)

    @property
    def palette(self) -> Palette:
        """The theme's trading colours for table cells; the same object until the theme
        changes (screens may key caches on it)."""
        if self._palette is None:
            self._palette = Palette.from_variables(self.app.theme_variables)
        return self._palette

    def compose(self) -> ComposeResult:
        yield TitleBar(self.TITLE, hint=f"{self.trader.key_display('help')} help")
        yield from self.compose_body()
        yield HealthFooter()

    def compose_body(self) -> Iterable[Any]:
        """The widgets between title bar and footer."""
        return ()

    def on_mount(self) -> None:
        # Subclasses' own on_mount handlers run too (Textual dispatches to every class of
        # the MRO); they must not call super().on_mount().
        self.trader.store_changed.subscribe(self, self._on_store_changed, immediate=True)
        self.trader.clock_ticked.subscribe(self, self._on_tick, immediate=True)
        self.app.theme_changed_signal.subscribe(self, self._on_theme, immediate=True)
        self.refresh_footer()
        self.redraw()

    def on_screen_resume(self) -> None:
        self.refresh_footer()
        if self._stale:
            self.redraw()

    def _on_store_changed(self, slices: frozenset[type[Any]]) -> None:
        try:
            self._apply_changes(slices)
        except Exception:  # Textual's Signal would swallow it: put it in our log
            logger.exception("{} failed to redraw after a store change", type(self).__name__)
            raise

    def _apply_changes(self, slices: frozenset[type[Any]]) -> None:
        if not self.is_current:
            if slices & self.WATCHES:
                self._stale = True
            return
        if slices & FOOTER_SLICES:
            self.refresh_footer()
        if slices & self.WATCHES:
            self.redraw()

    def _on_tick(self, now: datetime) -> None:
        if self.is_current:
            self.refresh_footer(now)

    def _on_theme(self, _theme: object) -> None:
        self._palette = None
        self._stale = True
        if self.is_current:
            self.redraw()

    def refresh_footer(self, now: datetime | None = None) -> None:
        trader = self.trader
        store = trader.store
        now = now or trader.now()
        failing = store.get(Alerts)
        if failing.failing and now is not None:  # SPEC 13: a channel that keeps failing
            from tui_trader.alerts.sender import failing_text

            alerts_failing = failing_text(failing, now)
        else:
            alerts_failing = None
        self.query_one(HealthFooter).show_state(
            store.get(Health),
            store.get(Account),
            store.get(BreakerState),
            now,
            trader.settings.timing,
            starting=trader.starting,
            automation=store.get(Automation),
            alerts_failing=alerts_failing,
            preflight=store.get(Preflight),
        )

    def redraw(self) -> None:
        """Render the body from the store (the title bar status included)."""
        self._stale = False
        self.render_body()

    def render_body(self) -> None:
        """Subclasses draw their body here; called from :meth:`redraw`."""

    def set_status(self, status: str) -> None:
        self.query_one(TitleBar).set_status(status)
