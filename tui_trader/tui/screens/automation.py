"""The Automation screen (``5``): what the auto-trader (SPEC 11) did today and may still do.

From the ``Automation`` slice, as the engine's auto-trader published it:

- a limits line: the mode (OFF, ARMED, DRY-RUN, HALTED) and the account mode it trades,
  entries today against ``max_daily_trades``, open spreads against ``max_positions``, the
  entry window (from the app's clock, so it counts down with the footer; the slice's own
  text until a clock is known) and the key that arms or disarms;
- the day's candidates, in the order they were queued: symbol, direction, state, reason,
  the chosen spread, its debit per share and quantity, the strategy that signalled, and
  when the candidate was created and last moved (ET). The columns a trader acts on come
  first, so an 80-column terminal shows them and scrolls sideways for the rest;
- the closing orders sent today: symbol, the exit rule that held, the order's state and
  how many times it was sent.

States are coloured by what they ask of the trader: FILLED in the gain colour, REJECTED
and CANCELLED in the loss colour, SKIPPED and EXPIRED muted (nothing more happens to
them today), SENT and SELECTING bold in the theme's warning colour (in flight: watch
them), DRY-RUN in the paper colour (journaled, never sent), QUEUED plain. The screen
computes nothing about trading: every number is the engine's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import BindingType
from textual.color import Color, ColorParseError
from textual.content import Content
from textual.widgets import Label, Static

from tui_trader.core.auto import AutoMode, CandidateState
from tui_trader.core.calendar import ET
from tui_trader.core.models import IntentStatus
from tui_trader.state.store import Account, AccountMode, AutoCandidateRow, AutoExitRow, Automation
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.widgets.cells import MISSING, Palette, left, number, right
from tui_trader.tui.widgets.footer import Part, window_part
from tui_trader.tui.widgets.tables import DiffTable, Justify

CANDIDATE_COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("symbol", "Symbol", "left"),
    ("dir", "Dir", "left"),
    ("state", "State", "left"),
    ("reason", "Reason", "left"),
    ("spread", "Spread", "left"),
    ("debit", "Debit", "right"),
    ("qty", "Qty", "right"),
    ("strategy", "Strategy", "left"),
    ("created", "Created", "left"),
    ("updated", "Updated", "left"),
)

EXIT_COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("symbol", "Symbol", "left"),
    ("rule", "Exit rule", "left"),
    ("state", "State", "left"),
    ("attempts", "Sent", "right"),
    ("updated", "Updated", "left"),
    ("intent", "Intent", "left"),
)

#: CSS-like style per auto-trader mode on the limits line (as the footer colours it).
_MODE_STYLE: Mapping[str, str] = {
    AutoMode.OFF: "$muted",
    AutoMode.ARMED: "$success bold",
    AutoMode.DRY_RUN: "bold",
    AutoMode.HALTED: "$error bold",
}


#: The footer's part classes as content styles (the window keeps its footer colour).
_PART_STYLE: Mapping[str, str] = {
    "-ok": "$success",
    "-warn": "$warning bold",
    "-bad": "$error bold",
    "-muted": "$muted",
}


def highlight_style(variables: Mapping[str, str]) -> Style:
    """Bold in the theme's warning colour (bold alone when the theme has none usable)."""
    try:
        return Style(bold=True, color=Color.parse(variables["warning"]).rich_color)
    except (KeyError, ColorParseError):
        return Style(bold=True)


def state_style(state: str, palette: Palette, highlight: Style) -> Style | str:
    """The colour of a candidate's or exit order's state (module doc)."""
    match state:
        case CandidateState.FILLED:
            return palette.up
        case CandidateState.REJECTED | CandidateState.CANCELLED:
            return palette.down + Style(bold=True)
        case CandidateState.SKIPPED | CandidateState.EXPIRED:
            return palette.muted
        case (
            CandidateState.SENT
            | CandidateState.SELECTING
            | IntentStatus.PENDING_SEND
            | IntentStatus.WORKING
            | IntentStatus.PARTIALLY_FILLED
        ):
            return highlight
        case CandidateState.DRY_RUN:
            return palette.paper
        case IntentStatus.UNKNOWN:
            return palette.down + Style(bold=True)
        case _:
            return ""


def unique_keys(keys: Iterable[str]) -> list[str]:
    """Row keys as given, a repeated one numbered (``key#2``): the table refuses duplicate
    keys, and a slice with one must still be shown, not crash the screen."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        n = seen.get(key, 0) + 1
        seen[key] = n
        out.append(key if n == 1 else f"{key}#{n}")
    return out


def _time(at: datetime) -> str:
    return f"{at.astimezone(ET):%H:%M:%S}"


def candidate_cells(row: AutoCandidateRow, palette: Palette, highlight: Style) -> tuple[Text, ...]:
    """One candidate as its table row (``-`` for what the engine has not chosen yet)."""
    final = row.state in (CandidateState.SKIPPED, CandidateState.EXPIRED)
    return (
        left(row.symbol),
        left(row.direction, palette.direction(row.direction)),
        left(row.state, state_style(row.state, palette, highlight)),
        left(row.reason or MISSING, palette.muted if final or not row.reason else ""),
        left(row.spread or MISSING),
        right(number(row.debit) if row.debit is not None else MISSING),
        right(str(row.quantity) if row.quantity is not None else MISSING),
        left(row.strategy),
        left(_time(row.created_at)),
        left(_time(row.updated_at)),
    )


def exit_cells(row: AutoExitRow, palette: Palette, highlight: Style) -> tuple[Text, ...]:
    return (
        left(row.symbol),
        left(row.rule),
        left(row.state, state_style(row.state, palette, highlight)),
        right(str(row.attempts)),
        left(_time(row.updated_at)),
        left(row.intent_id or MISSING, palette.muted),
    )


def limits_content(automation: Automation, account: Account, window: Part, key: str) -> Content:
    """The limits line: mode and account mode, today's entries and open spreads against
    their limits, the entry window (the footer's part, e.g. "window opens in 15m", in the
    footer's colour), and what ``key`` does now."""
    if account.mode is AccountMode.LIVE:
        trades: tuple[str, str] = (" LIVE ", "$live bold reverse")
    elif account.mode is AccountMode.PAPER:
        trades = ("PAPER", "$paper bold")
    else:
        trades = ("account ?", "$muted")
    action = "arm" if automation.mode == AutoMode.OFF else "disarm"
    return Content.assemble(
        "auto ",
        (automation.mode, _MODE_STYLE.get(automation.mode, "$warning bold")),
        " ",
        trades,
        f"   entries today {automation.entries_today}/{automation.max_daily_trades}",
        f"   open spreads {automation.open_spreads}/{automation.max_positions}",
        "   ",
        (window.text, _PART_STYLE.get(window.css, "")),
        (f"   {key} {action}", "$muted"),
    )


class AutomationScreen(TraderScreen):
    """Automation: the auto-trader's mode, limits, candidates and exits today."""

    TITLE = "Automation"
    AUTO_FOCUS = "#auto-candidates"
    WATCHES = frozenset({Automation, Account})
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(self) -> None:
        super().__init__()
        #: What the limits line shows now: redrawn (a layout pass) only when it changes,
        #: not on every clock tick.
        self._limits: tuple[object, ...] | None = None

    def compose_body(self) -> Iterable[Any]:
        yield Static(id="auto-limits")
        yield DiffTable(CANDIDATE_COLUMNS, id="auto-candidates")
        yield Label("Exit orders sent today", id="auto-exits-title")
        yield DiffTable(EXIT_COLUMNS, id="auto-exits")

    @property
    def candidates_table(self) -> DiffTable:
        return self.query_one("#auto-candidates", DiffTable)

    @property
    def exits_table(self) -> DiffTable:
        return self.query_one("#auto-exits", DiffTable)

    def _window(self, automation: Automation, now: datetime | None) -> Part:
        """The entry window as the footer words it, from the app's clock; without one
        (not attached yet), the text the engine published with the slice."""
        if now is not None:
            return window_part(now, self.trader.settings.timing, compact=False)
        text = automation.window or MISSING
        return Part(text if text.startswith("window") else f"window {text}", "-muted")

    def _show_limits(self, now: datetime | None) -> None:
        store = self.trader.store
        automation, account = store.get(Automation), store.get(Account)
        window = self._window(automation, now)
        key = self.trader.key_display("arm_auto")
        shown = (
            automation.mode,
            automation.entries_today,
            automation.max_daily_trades,
            automation.open_spreads,
            automation.max_positions,
            account.mode,
            window,
            key,
        )
        if shown == self._limits:
            return
        self._limits = shown
        content = limits_content(automation, account, window, key)
        self.query_one("#auto-limits", Static).update(content)

    def _on_tick(self, now: datetime) -> None:
        super()._on_tick(now)
        if self.is_current:
            self._show_limits(now)

    def render_body(self) -> None:
        automation = self.trader.store.get(Automation)
        palette = self.palette
        highlight = highlight_style(self.app.theme_variables)
        self._limits = None  # a theme change redraws too: the line is rebuilt with the body
        self._show_limits(self.trader.now())
        rows = automation.candidates
        self.candidates_table.sync(
            list(
                zip(
                    unique_keys(c.key for c in rows),
                    (candidate_cells(c, palette, highlight) for c in rows),
                    strict=True,
                )
            )
        )
        exits = automation.exits
        self.exits_table.sync(
            list(
                zip(
                    unique_keys(e.spread_key for e in exits),
                    (exit_cells(e, palette, highlight) for e in exits),
                    strict=True,
                )
            )
        )
        counts: dict[str, int] = {}
        for c in automation.candidates:
            counts[c.state] = counts.get(c.state, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        n = len(automation.candidates)
        self.set_status(
            f"{automation.mode}: {n} candidate{'s' if n != 1 else ''} today"
            + (f" ({summary})" if summary else "")
            + f", {len(automation.exits)} exit{'s' if len(automation.exits) != 1 else ''}"
        )
