"""The Textual app: screens over the engine's store, keys calling the engine's actions.

Built by :func:`create_app` from what the caller owns -- settings, the store, a clock and
the engine (None: no trading connected) -- so the demo, the tests and real trading run the
same app. The app never talks to the broker and never computes a trading number: it reads
the store and calls :class:`~tui_trader.engine.actions.EngineActions`.

Decisions:

- **Coalesced redraws.** Store callbacks only record which slices changed; one redraw per
  ``refresh_interval`` (0.25 s: at most four a second) publishes the set of changed slices
  inside ``batch_update`` (:attr:`TraderApp.store_changed`) and the screens diff their
  tables. Toasts for fills, rejections, connection changes and breaker trips are raised at
  once, from the change itself, so none is lost to coalescing (the rules:
  :mod:`tui_trader.tui.toasts`).
- **One slow timer.** The footer's clock ticks once a second; nothing else polls, so an
  idle dashboard costs next to no CPU over SSH.
- **Garbage collection at quiet moments** (:mod:`tui_trader.tui.gcpacing`): the start-up
  heap is frozen after the first frame (and again once the engine is attached), and full
  collections run on the clock tick when no key came in for a second, not whenever the
  interpreter decides -- a full pass stalled keypresses by 20-120 ms (measured).
- **No engine, no crash.** Every key that would act shows "Trading is not connected" when
  ``engine`` is None; an engine call that raises becomes an error toast, never a crash.
- **First frame before the engine.** ``tui-trader`` builds the app with ``starting=True``,
  no engine and no clock, and attaches both with :meth:`TraderApp.attach_engine` once the
  first frame is on screen (:attr:`TraderApp.first_frame`; see
  :mod:`tui_trader.tui.launch`). Until then keys that act say "Starting, a moment" (the
  engine is on its way, not missing), the footer's connection says STARTING, and the
  footer shows no time at all: the app's clock is the engine's (in the demo, the simulated
  market's), so a wall-clock time shown first would jump once the engine is attached.
  What the engine publishes while it starts (the journal's orders, the first connection)
  is its initial state: drawn, not toasted.
- **Confirm what leaves.** Transmit, cancel, kill switch, and quitting with working orders
  each ask first (``y`` only). So does clearing the kill switch (``ctrl+u``, not a
  priority key, so a text box keeps it): the question says what it re-enables and what
  stays as it is; with nothing engaged the key only says so.
- **Arming the auto-trader asks** (``a``, :mod:`tui_trader.tui.screens.arm`): the question
  states the account mode, the ``[risk]`` limits and the universe, and offers arm or dry
  run; a LIVE (or not yet known) account arms only with ``LIVE`` typed. While it is armed
  (ARMED, DRY-RUN or HALTED) the same key asks to disarm. The state is in every footer and
  the day's candidates and exits on the Automation screen (``5``).
- Keys are the defaults of the dashboard issue; ``[ui] keys`` remaps them by binding id
  (:mod:`tui_trader.tui.keymap`), checked in :func:`create_app` (unknown id:
  :class:`~tui_trader.tui.keymap.KeymapError`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from loguru import logger
from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import Notification, Notify, SeverityLevel
from textual.screen import Screen
from textual.signal import Signal
from textual.theme import BUILTIN_THEMES, Theme
from textual.widget import AwaitMount

from tui_trader.core.auto import AutoMode
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import Settings
from tui_trader.engine.actions import EngineActions, Outcome
from tui_trader.state.store import (
    Account,
    Automation,
    Change,
    Orders,
    ScanResults,
    Store,
)
from tui_trader.tui.frame_rate import use_frame_rate
from tui_trader.tui.gcpacing import GcPacer
from tui_trader.tui.host import DailyBarsSource, TraderHost
from tui_trader.tui.keymap import binding_ids, effective_bindings, validate_keymap
from tui_trader.tui.screens.arm import LIVE_WORD, ArmAnswer, ArmScreen, arm_question
from tui_trader.tui.screens.automation import AutomationScreen
from tui_trader.tui.screens.backtest import BacktestScreen
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.chain import ChainScreen
from tui_trader.tui.screens.chart import ChartScreen, chart_symbol
from tui_trader.tui.screens.confirm import ConfirmScreen, clear_kill_switch_question
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.history import HistoryScreen
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.screens.ticker_prompt import TickerPrompt
from tui_trader.tui.themes import (
    DEFAULT_THEME,
    TRADING_VARIABLES,
    ThemeError,
    available_themes,
)
from tui_trader.tui.toasts import toasts_for
from tui_trader.tui.widgets.plot_theme import register_plot_themes

if TYPE_CHECKING:
    from tui_trader.core.bars import Bars

use_frame_rate()  # frames on a 120/s grid: a key's frame waits at most 8 ms (frame_rate.py)

#: Seconds between redraws from the store (at most four a second).
DEFAULT_REFRESH_S = 0.25
#: Seconds between footer clock ticks.
CLOCK_TICK_S = 1.0

#: Toasts on screen at once at most (the oldest goes first); each is also on a screen.
MAX_TOASTS = 4
#: A step (``+1``, ``-5``) or a spread number (``#3``) in an action's label.
_STEP = re.compile(r"(?<!\w)[+-]\d+|#\d+")

NOT_CONNECTED_TITLE = "Trading is not connected"
STARTING_TITLE = "Starting, a moment"


def notice_topic(label: str) -> str:
    """What a notice is about, so a newer one on it replaces the older: an action's label
    without its step or spread number (thirty ``[`` and ``]`` presses are one topic)."""
    return _STEP.sub("#", label)


class TraderApp(App[None]):
    """The dashboard. Build it with :func:`create_app`."""

    CSS_PATH = "app.tcss"
    TITLE = "tui-trader"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "scanner": ScannerScreen,
        "positions": PositionsScreen,
        "orders": OrdersScreen,
        "log": LogScreen,
        "automation": AutomationScreen,
        "backtest": BacktestScreen,
        "history": HistoryScreen,
    }
    DEFAULT_MODE = "scanner"
    # Screen.-narrow hides the payoff plot; Textual annotates this "ClassVar[...] | None".
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "goto('scanner')", "Scanner", id="scanner"),
        Binding("2", "goto('positions')", "Positions", id="positions"),
        Binding("3", "goto('orders')", "Orders", id="orders"),
        Binding("4", "goto('log')", "Log", id="log"),
        Binding("5", "goto('automation')", "Automation", id="automation"),
        Binding("6", "goto('backtest')", "Backtest", id="backtest"),
        Binding("7", "goto('history')", "History", id="history"),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("g", "chart", "Chart of the highlighted (Scanner) or previewed symbol", id="chart"),
        Binding("colon", "ticker", "Trade any symbol: type a ticker, open its chain", id="ticker"),
        Binding("q", "request_quit", "Quit (asks when orders are working)", id="quit"),
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True, id="quit_ctrl"),
        Binding(
            "ctrl+k",
            "kill_switch",
            "Kill switch: cancel all, halt entries",
            priority=True,
            id="kill_switch",
        ),
        Binding(
            "ctrl+u",
            "clear_kill_switch",
            "Clear the kill switch: allow new entries",
            id="clear_kill_switch",
        ),
        Binding(
            "a",
            "arm_auto",
            "Auto-trader: arm (asks, states mode and limits) or disarm",
            id="arm_auto",
        ),
    ]

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Callable[[], datetime | None] | None,
        engine: EngineActions | None,
        themes: dict[str, Theme],
        theme: str,
        refresh_interval: float = DEFAULT_REFRESH_S,
        bell: bool = False,
        keymap: Mapping[str, str] | None = None,
        starting: bool = False,
    ) -> None:
        super().__init__()
        if keymap:
            self.set_keymap(dict(keymap))
        self.settings = settings
        self.store = store
        self.engine = engine
        self._clock = clock
        #: True while an engine is on its way (until :meth:`attach_engine`).
        self.starting = starting and engine is None
        #: Set once the first frame has been drawn (the launcher starts the engine then).
        self.first_frame = asyncio.Event()
        self._refresh_interval = refresh_interval
        self._bell_on_alert = bell
        self.store_changed: Signal[frozenset[type[Any]]] = Signal(self, "store-changed")
        self.clock_ticked: Signal[datetime] = Signal(self, "clock-ticked")
        self._dirty: set[type[Any]] = set()
        self._flush_pending = False
        self._unsubscribe: Callable[[], None] | None = None
        #: How many coalesced redraws ran (tests and benchmarks read it).
        self.flush_count = 0
        self.gc_pacer = GcPacer()
        self._universe_settled = False
        self._changes: list[tuple[Change[Any], bool]] = []
        #: Input cursors blink unless switched off (snapshot tests need a still picture).
        self.cursor_blink = True
        #: Notice topics: pending (notification identity -> topic) and shown (topic -> it).
        self._topic_of: dict[str, str] = {}
        self._notice_on: dict[str, Notification] = {}
        #: Modes whose screen exists (see :meth:`switch_mode`); the default is composed first.
        self._modes_composed = {self.DEFAULT_MODE}
        self._instant_switch = False
        for t in themes.values():
            self.register_theme(t)
        self.theme = theme

    # -- time, store -------------------------------------------------------------------

    @property
    def keymap(self) -> dict[str, str]:
        """The remapped keys in effect (binding id -> comma-separated keys)."""
        return dict(self._keymap)

    def key_display(self, binding_id: str, bindings: Sequence[BindingType] | None = None) -> str:
        """The keys that run ``binding_id`` now, remapping applied, as Help shows them
        (``f1/h``); ``bindings`` is the list it is in (default: the app's own)."""
        group = self.BINDINGS if bindings is None else bindings
        found = effective_bindings(group, self._keymap)
        return "/".join(self.get_key_display(b) for b in found if b.id == binding_id)

    def now(self) -> datetime | None:
        """The injected clock (the engine's: the gateway's, the simulated market's in demo,
        fixed in tests); None until the engine that owns it is attached, and while that
        clock has no time yet (the engine has not reached its gateway)."""
        return self._clock() if self._clock is not None else None

    def attach_engine(self, engine: EngineActions, clock: Callable[[], datetime | None]) -> None:
        """Trade through ``engine`` and tell time by ``clock`` from now on (the launcher
        calls this once the engine has started, publishing into :attr:`store`).

        Safe from a task outside the app's context: the footer is redrawn through the
        app's message queue.
        """
        self.engine = engine
        self._clock = clock
        self.starting = False
        self.gc_pacer.freeze()  # the engine's modules and start-up state: here for good
        self.call_later(self._tick)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(TRADING_VARIABLES)

    def on_mount(self) -> None:
        self._unsubscribe = self.store.subscribe(None, self._on_store_change)
        self.set_interval(CLOCK_TICK_S, self._tick)

    def on_ready(self) -> None:
        # Ready comes with the first layout; the callback runs once the screen has been
        # painted and is idle, i.e. after the first frame was written to the terminal.
        self.call_after_refresh(self._first_frame_drawn)

    def _first_frame_drawn(self) -> None:
        self.gc_pacer.start()
        self.first_frame.set()
        # issue 13: 16-colour charts for ansi themes (imports plotext: after the first frame)
        register_plot_themes(self.available_themes.values(), self.screen_stack)

    def on_unmount(self) -> None:
        self.gc_pacer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.gc_pacer.key_pressed()
        await super().on_event(event)

    def _tick(self) -> None:
        self.gc_pacer.tick()
        now = self.now()
        if now is not None:
            self.clock_ticked.publish(now)

    def _on_store_change(self, change: Change[Any]) -> None:
        """Hand the change to the app's own message queue.

        The store calls subscribers from whichever task changed it: in the running app
        that is an engine task started before the app, outside Textual's context (no
        active app), where timers and notifications cannot be created. ``call_later``
        only posts a message, which is safe from any context, and keeps the order.

        The changes wait in a list drained by one such message: a message per change
        (with a 1,000-symbol rotation, dozens a second) cost Textual a fresh
        ``inspect.signature`` of the callback each, a callback with arguments being a new
        ``partial`` every time.

        Changes made while the engine is starting (the journal's orders, the first
        connection) are its initial state, not events: redrawn, never toasted.
        """
        self._changes.append((change, not self.starting))
        if len(self._changes) == 1:
            self.call_later(self._apply_changes)

    def _apply_changes(self) -> None:
        changes, self._changes = self._changes, []
        for change, alert in changes:
            self._apply_change(change, alert)

    def _apply_change(self, change: Change[Any], alert: bool = True) -> None:
        if change.slice is ScanResults and not self._universe_settled:
            self._settle_after_first_scan(change.value)
        try:
            if alert:
                self._alert(change)
        except Exception:  # a toast must never break the store's delivery
            logger.exception("toast for a {} change failed", change.slice.__name__)
        self._dirty.add(change.slice)
        if not self._flush_pending:
            self._flush_pending = True
            if self._refresh_interval > 0:
                self.set_timer(self._refresh_interval, self.flush)
            else:
                self.call_later(self.flush)

    def _settle_after_first_scan(self, scan: ScanResults) -> None:
        """The first complete scan (every symbol's bars loaded): the engine's one-off load
        is in, so the collector settles it (:meth:`GcPacer.settle`)."""
        if scan.report is not None and not scan.running and scan.bars_loaded >= scan.bars_total:
            self._universe_settled = True
            self.gc_pacer.settle()

    def flush(self) -> None:
        """Redraw what the changes since the last flush touched (one batched repaint)."""
        self._flush_pending = False
        dirty, self._dirty = frozenset(self._dirty), set()
        if not dirty:
            return
        self.flush_count += 1
        with self.batch_update():
            self.store_changed.publish(dirty)

    # -- toasts ------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
        topic: str | None = None,
    ) -> None:
        """Textual's notification, with two differences (issue 13: thirty key presses
        stacked thirty popups over the footer and the dialogs):

        - **A newer notice on the same topic replaces the older** instead of stacking.
          ``topic`` defaults to the title (or, untitled, the message), passed through
          :func:`notice_topic`; screens' own ``notify`` calls land here too.
        - **Plain text by default** (``markup`` False): IB's words and order texts may hold
          square brackets, which Textual would parse as markup.

        At most :data:`MAX_TOASTS` are shown; the oldest goes first (every notice is also
        on a screen: Orders, the footer, the Log). Thread-safe, as Textual's.
        """
        notification = Notification(
            message,
            title,
            severity,
            self.NOTIFICATION_TIMEOUT if timeout is None else timeout,
            markup=markup,
        )
        self._topic_of[notification.identity] = topic or notice_topic(title or message)
        self.post_message(Notify(notification))

    def _on_notify(self, event: Notify) -> None:
        # Runs before App._on_notify (Textual dispatches to each class of the MRO), which
        # adds the new notification and redraws the toasts.
        new = event.notification
        topic = self._topic_of.pop(new.identity, None)
        shown = self._notifications
        if topic is not None:
            old = self._notice_on.get(topic)
            if old is not None and old in shown:
                del shown[old]
            self._notice_on[topic] = new
        for stale in [t for t, n in self._notice_on.items() if n not in shown and n is not new]:
            del self._notice_on[stale]
        excess = len(shown) + 1 - MAX_TOASTS
        if excess > 0:
            for oldest in sorted(shown, key=lambda n: n.raised_at)[:excess]:
                del shown[oldest]

    def _alert(self, change: Change[Any]) -> None:
        """Show the toasts the change raises (:mod:`tui_trader.tui.toasts`); a bell for an
        error when ``[ui] bell`` is on."""
        for toast in toasts_for(change):
            self.notify(
                toast.message, title=toast.title, severity=toast.severity, topic=toast.topic or None
            )
            if toast.severity == "error" and self._bell_on_alert:
                self.bell()

    # -- the engine's daily bars (the Backtest screen) ------------------------------------

    def daily_bars(self) -> Bars | None:
        """The universe's daily bars the engine loaded (the scanner's; in the demo the
        simulated gateway's history); None without an engine or before they are loaded."""
        engine = self.engine
        return engine.daily_bars() if isinstance(engine, DailyBarsSource) else None

    # -- engine calls ------------------------------------------------------------------

    def call_engine(
        self,
        label: str,
        call: Callable[[EngineActions], Awaitable[Outcome]],
        then: Callable[[Outcome], None] | None = None,
        *,
        quiet: bool = False,
    ) -> bool:
        """Run an engine action in a worker and toast its outcome (``quiet``: failures
        only); False (and a toast) when trading is not connected or still starting.
        ``label`` completes "Cannot ..." (e.g. "rescan")."""
        engine = self.engine
        if engine is None and self.starting:
            self.notify(
                f"Cannot {label} yet: the engine is still starting.",
                title=STARTING_TITLE,
                severity="warning",
                topic=notice_topic(f"cannot {label}"),
            )
            return False
        if engine is None:
            self.notify(
                f"Cannot {label}: no engine is connected to this dashboard.",
                title=NOT_CONNECTED_TITLE,
                severity="warning",
                topic=notice_topic(f"cannot {label}"),
            )
            return False

        async def run() -> None:
            try:
                outcome = await call(engine)
            except Exception as exc:
                logger.exception("engine action {!r} failed", label)
                self.notify(
                    f"{label} failed: {exc}",
                    title="Error",
                    severity="error",
                    topic=notice_topic(label),
                )
                return
            if not (quiet and outcome.ok):
                self.notify(
                    outcome.message,
                    title=label[:1].upper() + label[1:],
                    severity="information" if outcome.ok else "warning",
                )
            if then is not None:
                then(outcome)

        self.run_worker(run(), group="engine", exit_on_error=False)
        return True

    # -- actions -----------------------------------------------------------------------

    def switch_mode(self, mode: str) -> AwaitMount:
        """Textual's, without its 50 ms hold on every update (``delay_update``) when the
        mode's screen exists already. The hold masks a new screen's first compose; a
        screen composed before has nothing to mask, and the hold alone made every switch
        to Positions take 54 ms on the 1,000-row benchmark (issue 12: keypress p99 under
        50 ms). A mode's first visit keeps it."""
        self._instant_switch = mode in self._modes_composed
        try:
            return super().switch_mode(mode)
        finally:
            self._instant_switch = False
            self._modes_composed.add(mode)

    def delay_update(self, delay: float = 0.05) -> None:
        if not self._instant_switch:
            super().delay_update(delay)

    async def action_goto(self, mode: str) -> None:
        """Show the main screen ``mode`` itself, from anywhere, every time.

        Each main screen is a Textual mode with its own screen stack, so whatever was
        pushed over it (a preview, help, a pending question) must not outlive the visit:
        a preview left on the Positions stack came back on the next ``2`` instead of
        Positions. So the stack being left is cut back to its main screen (a question
        left this way is answered by nobody: nothing is sent), and so is the one arrived
        at, should anything be on it.
        """
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        if self.current_mode != mode:
            await self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            await self.pop_screen()

    def action_ticker(self) -> None:
        """Ask for any ticker and open its option chain (issue 13)."""
        if not isinstance(self.screen, TickerPrompt):
            self.push_screen(TickerPrompt(), self._open_chain)

    async def _open_chain(self, symbol: str | None) -> None:
        """One chain at a time: an open chain screen shows the new symbol (whatever was
        pushed over it closes), else a chain screen is pushed."""
        if symbol is None:
            return
        chains = [s for s in self.screen_stack if isinstance(s, ChainScreen)]
        if chains:
            while self.screen is not chains[-1]:
                await self.pop_screen()
            chains[-1].open(symbol)
            return
        screen = ChainScreen(symbol)
        await self.push_screen(screen)
        screen.open(symbol)

    def action_chart(self) -> None:
        """Open the Chart of the Scanner's highlighted symbol or the preview's underlying
        (issue 13); elsewhere say where it works."""
        if isinstance(self.screen, ChartScreen):
            return
        symbol = chart_symbol(self.screen)
        if symbol is None:
            key = self.key_display("chart") or "g"
            self.notify(
                f"No symbol to chart here: press {key} on the Scanner or a spread preview.",
                title="Chart",
                severity="warning",
                topic="chart",
            )
            return
        self.push_screen(ChartScreen(symbol))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
        else:
            self.push_screen(HelpScreen())

    def action_request_quit(self) -> None:
        working = self.store.get(Orders).active
        if not working:
            self.exit()
            return
        n = len(working)
        self.push_screen(
            ConfirmScreen(
                "Quit?",
                f"{n} order{'s are' if n != 1 else ' is'} still working.",
                "Quitting does not cancel them: they stay at IB and can still fill.",
            ),
            self._quit_answer,
        )

    def _quit_answer(self, yes: bool | None) -> None:
        if yes:
            self.exit()

    def action_kill_switch(self) -> None:
        if self.engine is None:
            self.call_engine("engage the kill switch", lambda e: e.kill_switch())
            return
        self.push_screen(
            ConfirmScreen(
                "Kill switch",
                "Cancel every working order and halt new entries?",
                "Entries stay halted (also after a restart) until you clear the kill switch.",
            ),
            self._kill_answer,
        )

    def _kill_answer(self, yes: bool | None) -> None:
        if yes:
            self.call_engine("engage the kill switch", lambda e: e.kill_switch())

    def action_clear_kill_switch(self) -> None:
        if self.engine is None:
            self.call_engine("clear the kill switch", lambda e: e.clear_kill_switch())
            return
        state = self.store.get(BreakerState)
        if not state.kill_switch:
            self.notify("The kill switch is not engaged: nothing to clear.", title="Kill switch")
            return
        self.push_screen(ConfirmScreen(*clear_kill_switch_question(state)), self._clear_answer)

    def _clear_answer(self, yes: bool | None) -> None:
        if yes:
            self.call_engine("clear the kill switch", lambda e: e.clear_kill_switch())

    def action_arm_auto(self) -> None:
        """Arm the auto-trader after :class:`ArmScreen`, or, while it is armed in any form,
        ask to disarm it."""
        if self.engine is None:
            self.call_engine("arm the auto-trader", lambda e: e.arm_auto(False))
            return
        automation = self.store.get(Automation)
        if automation.mode != AutoMode.OFF:
            self.push_screen(
                ConfirmScreen(
                    "Disarm the auto-trader",
                    f"Turn the auto-trader off (now {automation.mode})? It sends no new "
                    "entries and no automatic exits.",
                    "Working orders stay working at IB and open spreads stay open.",
                ),
                self._disarm_answer,
            )
            return
        question = arm_question(
            self.store.get(Account),
            automation,
            self.settings.risk,
            automation.universe_size or len(self.settings.universe.symbols),
            key=self.key_display("arm_auto") or "a",
        )
        self.push_screen(ArmScreen(question), self._arm_answer)

    def _arm_answer(self, answer: ArmAnswer | None) -> None:
        if answer is ArmAnswer.ARM:
            self.call_engine("arm the auto-trader", lambda e: e.arm_auto(False))
        elif answer is ArmAnswer.DRY_RUN:
            self.call_engine("arm the auto-trader (dry run)", lambda e: e.arm_auto(True))
        elif answer is ArmAnswer.REFUSED:
            self.notify(
                f"Not armed: arming against a live account needs {LIVE_WORD} typed exactly.",
                title="Auto-trader",
                severity="warning",
            )

    def _disarm_answer(self, yes: bool | None) -> None:
        if yes:
            self.call_engine("disarm the auto-trader", lambda e: e.disarm_auto())

    # -- command palette ---------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every key's action is in the palette too: the current screen's, then the app's."""
        seen: set[str] = set()
        sources: list[tuple[Any, list[BindingType]]] = []
        if isinstance(screen, TraderScreen):
            sources.append((screen, list(type(screen).BINDINGS)))
        sources.append((self, list(self.BINDINGS)))
        for namespace, bindings in sources:
            for binding in effective_bindings(bindings, self._keymap):
                if not binding.description or binding.action in seen:
                    continue
                seen.add(binding.action)
                yield SystemCommand(
                    binding.description,
                    f"key: {self.get_key_display(binding)}",
                    partial(self.run_action, binding.action, namespace),
                )
        # issue 13: this project's themes only (Textual's "Theme" lists its twenty own), and
        # no second "Quit" (Textual's would not ask about working orders)
        for name in sorted(n for n in self.available_themes if n not in BUILTIN_THEMES):
            yield SystemCommand(
                f"Theme: {name}", "Switch to this theme", partial(setattr, self, "theme", name)
            )
        for command in super().get_system_commands(screen):
            if command.title not in ("Theme", "Quit"):
                yield command


def create_app(
    settings: Settings,
    store: Store,
    *,
    clock: Callable[[], datetime | None] | None,
    engine: EngineActions | None,
    theme: str | None = None,
    user_theme_dir: Path | None = None,
    refresh_interval: float = DEFAULT_REFRESH_S,
    bell: bool = False,
    starting: bool = False,
) -> TraderApp:
    """The dashboard over ``store``; ``engine`` None shows data without trading.

    ``starting`` (with ``engine`` and ``clock`` None): an engine will be attached with
    :meth:`TraderApp.attach_engine` after the first frame (module doc).

    ``theme`` is a theme file name (``dark``, ``light``, ``ansi`` or one of the user's) or a
    Textual built-in theme; an unknown name or a broken theme file raises
    :class:`~tui_trader.tui.themes.ThemeError` (one sentence for the user); an unknown
    binding id or an empty key in ``settings.ui.keys`` raises
    :class:`~tui_trader.tui.keymap.KeymapError`.
    """
    themes = available_themes(user_theme_dir)
    name = theme or DEFAULT_THEME
    if name not in themes and name not in BUILTIN_THEMES:
        raise ThemeError(f"unknown theme {name!r}; available: {', '.join(sorted(themes))}")
    if refresh_interval < 0:
        raise ValueError(f"refresh_interval must be >= 0, got {refresh_interval}")
    keymap = validate_keymap(settings.ui.keys, known_binding_ids())
    return TraderApp(
        settings,
        store,
        clock=clock,
        engine=engine,
        themes=themes,
        theme=name,
        refresh_interval=refresh_interval,
        bell=bell,
        keymap=keymap,
        starting=starting,
    )


def known_binding_ids() -> set[str]:
    """Every id ``[ui] keys`` may remap: the app's bindings and every screen's."""
    from tui_trader.tui.screens.order_detail import OrderDetailScreen  # opened from Orders
    from tui_trader.tui.screens.watchlist import SymbolPrompt  # opened from the Scanner

    return binding_ids(
        [
            TraderApp.BINDINGS,
            ScannerScreen.BINDINGS,
            PreviewScreen.BINDINGS,
            PositionsScreen.BINDINGS,
            OrdersScreen.BINDINGS,
            LogScreen.BINDINGS,
            AutomationScreen.BINDINGS,
            BacktestScreen.BINDINGS,
            ChartScreen.BINDINGS,
            ChainScreen.BINDINGS,
            TickerPrompt.BINDINGS,
            ConfirmScreen.BINDINGS,
            ArmScreen.BINDINGS,
            HelpScreen.BINDINGS,
            OrderDetailScreen.BINDINGS,
            SymbolPrompt.BINDINGS,
        ]
    )


def as_host(app: TraderApp) -> TraderHost:
    """The app as its screens see it (type-checked: :class:`TraderApp` implements the whole
    :class:`~tui_trader.tui.host.TraderHost` protocol)."""
    return app
