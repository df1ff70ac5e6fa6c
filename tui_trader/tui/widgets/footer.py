"""The health footer: two always-visible lines saying whether it is safe to trade right now.

Line 1 is the link to IB: account mode (PAPER, or LIVE shown reversed and bold in the
theme's ``$live`` colour), connection state and since when, market-data lines in use
against the limit with evictions, the request queue with THROTTLED, and the last IB error
code with its age, and while the daily bars load their progress (``bars 312/500``,
issue 12); while connection attempts fail, the host:port tried and why instead
of the lines, queue and error (issue 13); while a cross of the start-up preflight stands,
``doctor 2✗`` (issue 11, :func:`doctor_part`).
Line 2 is time and trading state: the New York clock, the entry window
(from ``core.calendar.window_status``), the day P&L, the circuit breakers when they halt
entries (or a paper/live mismatch that refuses trading), the auto-trader's state (SPEC 11,
from the ``Automation`` slice: ``auto OFF``, ``auto ARMED 1/3`` and ``auto DRY-RUN 0/3``
with today's entries against ``max_daily_trades``, ``auto HALTED`` in the alarm colour)
and the oldest quote's age.

Before the engine is attached (``starting``: the dashboard draws its first frame first) the
connection reads STARTING, and without a clock (``now`` None: the engine's clock, the
simulated market's in the demo, is not known yet) the clock and the entry window show
placeholders of the same width rather than a wall-clock time that would jump.

:func:`footer_parts` is pure (store values and ``now`` in, texts and classes out) so the
wording is tested without an app; :class:`HealthFooter` only puts the parts on screen.
The most important parts come first on each line, so a narrow terminal clips the least
important ones. Width budget at 80 columns (compact wording), line 2: clock 11, window up
to 14 ("opens in 2d22h"), P&L up to 14, breaker up to 13 ("MODE MISMATCH"), auto up to 16
("auto DRY-RUN 0/3"), quotes up to 12, plus a 2-column gap after each and 1 of padding:
93 at worst, 70 in the usual armed case. So the auto-trader comes *before* the quote age:
whether the dashboard trades by itself outranks how old the oldest quote is (the stale-quote
risk gate guards that one anyway), and when everything is at its widest the quote age is
what the terminal clips, never the auto state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label

from tui_trader.core.auto import AutoMode
from tui_trader.core.calendar import ET, WindowState, format_duration, window_status
from tui_trader.core.markers import usable_number
from tui_trader.core.risk import BreakerState, BreakerStatus
from tui_trader.state.store import (
    Account,
    AccountMode,
    Automation,
    ConnectionState,
    Health,
    Preflight,
)
from tui_trader.tui.widgets.cells import age, number, since

if TYPE_CHECKING:
    from tui_trader.core.settings import TimingSettings

#: Part ids of each line, in display order.
LINE1 = ("mode", "conn", "lines", "queue", "error", "doctor", "bars")
LINE2 = ("clock", "window", "pnl", "breaker", "auto", "quotes")
#: Below this many columns the footer uses :func:`footer_parts`' compact wording.
COMPACT_BELOW = 100
#: The clock part before the clock is known (as wide as "14:30:00 ET": nothing shifts).
CLOCK_PLACEHOLDER = "--:--:-- ET"

#: CSS class per connection state: ok (green), warn (amber), bad (red).
_CONN_CLASS: Mapping[ConnectionState, str] = {
    ConnectionState.CONNECTED: "-ok",
    ConnectionState.DEGRADED: "-warn",
    ConnectionState.RECONNECTING: "-warn",
    ConnectionState.MAINTENANCE: "-warn",
    ConnectionState.DOWN: "-bad",
}


@dataclass(frozen=True, slots=True)
class Part:
    """One footer item: its text and a CSS class ("" for none)."""

    text: str
    css: str = ""


#: Data-farm "connection is broken" notices: informational by number, alarming by meaning.
_FARM_BROKEN = frozenset({2103, 2105, 2157})


def window_part(now: datetime, timing: TimingSettings, compact: bool) -> Part:
    """The entry window (SPEC 7) at ``now``, as the footer and the Automation screen say it."""
    try:
        status = window_status(now, timing)
    except ValueError:  # a naive clock or a date outside the calendar: say so, never crash
        return Part("window ?", "-warn")
    opens = format_duration(status.opens_in)
    match status.state:
        case WindowState.OPEN:
            left = format_duration(status.closes_in) if status.closes_in is not None else "?"
            return Part(f"OPEN {left} left" if compact else f"window OPEN {left} left", "-ok")
        case WindowState.OPENS_IN:
            return Part(f"opens in {opens}" if compact else f"window opens in {opens}")
        case WindowState.CLOSED:
            return Part("CLOSED" if compact else f"window CLOSED, opens in {opens}", "-muted")
        case WindowState.HOLIDAY:
            return Part("HOLIDAY" if compact else f"HOLIDAY, opens in {opens}", "-muted")
        case _:
            return Part("WEEKEND" if compact else f"WEEKEND, opens in {opens}", "-muted")


def auto_part(automation: Automation) -> Part:
    """The auto-trader's state: ``auto OFF`` (muted), ``auto ARMED 1/3`` (entries today of
    ``max_daily_trades``; green), ``auto DRY-RUN 0/3`` (plain: it runs and sends nothing),
    ``auto HALTED`` (red: armed, but a breaker or the kill switch stops entries). A mode
    this dashboard does not know is shown as it is, in amber, never hidden."""
    used = f"{automation.entries_today}/{automation.max_daily_trades}"
    match automation.mode:
        case AutoMode.OFF:
            return Part("auto OFF", "-muted")
        case AutoMode.ARMED:
            return Part(f"auto ARMED {used}", "-ok")
        case AutoMode.DRY_RUN:
            return Part(f"auto DRY-RUN {used}")
        case AutoMode.HALTED:
            return Part("auto HALTED", "-bad")
        case other:
            return Part(f"auto {other}", "-warn")


#: The most characters of crossed check names the wide footer lists after the count.
DOCTOR_NAMES_MAX = 24


def doctor_part(preflight: Preflight | None, compact: bool) -> Part:
    """The start-up preflight (issue 11) while a cross stands: ``doctor 2✗`` in red
    (wide: the checks' names after it, as many as fit :data:`DOCTOR_NAMES_MAX`, then
    ``+N``); ``doctor ?`` in amber when it could not run (the Log says why); nothing while
    it runs, when all passed, or when it is off. Last on line 1 (the link to IB outranks
    it; the Log has every cross with its fix), 10 columns compact: the usual line 1 at 80
    columns is 55, so it fits beside a last error too."""
    if preflight is None:
        return Part("")
    if preflight.state == "failed":
        return Part("doctor ?", "-warn")
    if preflight.state != "done" or not preflight.crosses:
        return Part("")
    text = f"doctor {len(preflight.crosses)}✗"
    if not compact:
        shown: list[str] = []
        for name in preflight.crosses:
            if cell_len(", ".join([*shown, name])) > DOCTOR_NAMES_MAX:
                break
            shown.append(name)
        rest = len(preflight.crosses) - len(shown)
        text += " " + ", ".join(shown) if shown else ""
        text += f" +{rest}" if rest and shown else ""
    return Part(text, "-bad")


def bars_part(health: Health) -> Part:
    """The daily bars' load while it runs (issue 12): ``bars 312/500``, symbols loaded (or
    given up) of those wanted; nothing once every symbol is done. Last on line 1: a
    narrow terminal clips the progress before anything about the link's safety."""
    total, loaded = health.bars_total, health.bars_loaded
    if total <= 0 or loaded >= total:
        return Part("")
    return Part(f"bars {max(0, loaded)}/{total}")


def connect_problem_part(health: Health, compact: bool) -> Part | None:
    """Why the connection attempts fail (IB's or the system's words), while they fail:
    None when connected or when no attempt has failed. Compact: the words before IB's
    ``:`` explanation ("connection refused"); the Log has the whole of it and the hint."""
    reason = health.connect_problem
    if not reason or health.state is ConnectionState.CONNECTED:
        return None
    return Part(reason.split(":", 1)[0] if compact else reason, "-bad")


def footer_parts(
    health: Health,
    account: Account,
    breakers: BreakerState,
    now: datetime | None,
    timing: TimingSettings,
    *,
    compact: bool = False,
    starting: bool = False,
    automation: Automation | None = None,
    alerts_failing: str | None = None,
    preflight: Preflight | None = None,
) -> dict[str, Part]:
    """Every footer part by id (:data:`LINE1` + :data:`LINE2`), for the given state.

    ``compact`` (terminals narrower than :data:`COMPACT_BELOW` columns) says the same in
    fewer characters: durations instead of clock times, no "window"/"day" prefixes.
    ``now`` None: no clock yet; ``starting``: the engine is not attached yet (module doc).
    ``automation`` None: the auto-trader's default state (OFF). ``alerts_failing``: SPEC
    13's ``alerts: slack failing 3m``, shown where a halt would be when nothing is halted.
    ``preflight``: the start-up doctor's result (:func:`doctor_part`).
    """
    parts: dict[str, Part] = {}
    if account.mode is AccountMode.LIVE:
        parts["mode"] = Part(" LIVE ", "-live")
    elif account.mode is AccountMode.PAPER:
        parts["mode"] = Part("PAPER", "-paper")
    else:
        parts["mode"] = Part("account ?", "-muted")

    if starting:
        parts["conn"] = Part("STARTING", "-warn")
    else:
        conn = health.state.value
        if health.since is not None:
            if not compact:
                conn += f" since {health.since.astimezone(ET):%H:%M:%S}"
            elif now is not None:
                conn += f" {since(now, health.since)}"
        parts["conn"] = Part(conn, _CONN_CLASS.get(health.state, "-warn"))

    problem = None if starting else connect_problem_part(health, compact)

    lines = f"lines {health.lines_active}/{health.lines_max}"
    if health.line_evictions:
        lines += f" ev{health.line_evictions}" if compact else f" ev {health.line_evictions}"
    if health.lines_queued:
        lines += f" +{health.lines_queued}" if compact else f" +{health.lines_queued} waiting"
    full = health.lines_max > 0 and health.lines_active >= health.lines_max
    parts["lines"] = Part(lines, "-warn" if full else "")

    queue = f"queue {health.request_queue_depth}"
    if health.throttled:
        parts["queue"] = Part(queue + " THROTTLED", "-bad")
    else:
        parts["queue"] = Part(queue)

    if problem is not None:
        # issue 13: no gateway, no hint: where it connects and why it cannot, in place
        # of the lines and queue (nothing to count without a connection)
        if health.endpoint:
            parts["conn"] = Part(f"{parts['conn'].text} {health.endpoint}", parts["conn"].css)
        parts["lines"] = parts["queue"] = Part("")
        parts["error"] = problem
    elif health.last_error_code is None:
        parts["error"] = Part("no errors" if compact else "no IB errors", "-muted")
    else:
        text = f"err {health.last_error_code}"
        if health.last_error_time is not None and now is not None:
            text += f" {since(now, health.last_error_time)}" + ("" if compact else " ago")
        # IB's 21xx codes are notices (a farm is OK again, a warning) and 1102 means the link
        # came back with data kept: shown, but not in the colour that asks for attention.
        informational = 2100 <= health.last_error_code < 2200 or health.last_error_code == 1102
        alarming = health.last_error_code in _FARM_BROKEN
        parts["error"] = Part(text, "-bad" if alarming else "-muted" if informational else "-warn")
    parts["doctor"] = doctor_part(preflight, compact)
    parts["bars"] = bars_part(health)

    if now is None:
        parts["clock"] = Part(CLOCK_PLACEHOLDER, "-muted")
        parts["window"] = Part("window -", "-muted")
    else:
        clock = f"{now.astimezone(ET):%H:%M:%S} ET" if now.tzinfo else "--:--"
        parts["clock"] = Part(clock)
        parts["window"] = window_part(now, timing, compact)

    quote_age = health.oldest_quote_age_s
    if quote_age is None or not usable_number(quote_age):
        parts["quotes"] = Part("quotes -", "-muted")
    else:
        text = f"quotes {quote_age:.1f}s" if quote_age < 60 else f"quotes {age(quote_age)}"
        parts["quotes"] = Part(text)

    parts["auto"] = auto_part(automation or Automation())

    mode_problem = getattr(account, "mode_problem", None)
    if isinstance(mode_problem, str) and mode_problem:
        text = "MODE MISMATCH" if compact else "TRADING REFUSED: account mode mismatch"
        parts["breaker"] = Part(text, "-bad")
    elif breakers.status is BreakerStatus.HALTED:
        if compact:
            parts["breaker"] = Part("HALTED", "-bad")
        else:
            parts["breaker"] = Part(f"HALTED: {breakers.reason or 'entries blocked'}", "-bad")
    elif alerts_failing:
        parts["breaker"] = Part(alerts_failing, "-warn")
    else:
        parts["breaker"] = Part("")

    pnl = account.day_pnl
    label = "P&L" if compact else "day P&L"
    if pnl is None or not usable_number(pnl):
        parts["pnl"] = Part(f"{label} -", "-muted")
    else:
        css = "-up" if pnl > 0 else "-down" if pnl < 0 else ""
        parts["pnl"] = Part(f"{label} {number(pnl, sign=True)}", css)
    return parts


@dataclass(frozen=True, slots=True)
class _State:
    """What the footer last showed (re-rendered on a resize)."""

    health: Health
    account: Account
    breakers: BreakerState
    now: datetime | None
    timing: TimingSettings
    starting: bool
    automation: Automation | None
    alerts_failing: str | None = None
    preflight: Preflight | None = None


class HealthFooter(Widget):
    """Docked at the bottom of every screen; :meth:`show` puts :func:`footer_parts` on it."""

    DEFAULT_CSS = """
    HealthFooter {
        dock: bottom;
        height: 2;
        background: $panel;
        color: $foreground;
    }
    HealthFooter > Horizontal {
        height: 1;
        width: 1fr;
    }
    HealthFooter Label {
        margin-right: 2;
        width: auto;
    }
    HealthFooter #footer-line2 {
        padding-left: 1;
    }
    HealthFooter Label.-empty {
        display: none;
    }
    HealthFooter .-ok { color: $success; }
    HealthFooter .-warn { color: $warning; text-style: bold; }
    HealthFooter .-bad { color: $error; text-style: bold; }
    HealthFooter .-muted { color: $muted; }
    HealthFooter .-up { color: $pnl-up; }
    HealthFooter .-down { color: $pnl-down; }
    HealthFooter #footer-mode { padding: 0 1; }
    HealthFooter #footer-mode.-paper { color: $paper; text-style: bold; }
    HealthFooter #footer-mode.-live { color: $live; text-style: bold reverse; }
    """

    _CLASSES = ("-ok", "-warn", "-bad", "-muted", "-up", "-down", "-paper", "-live", "-empty")

    def __init__(self) -> None:
        super().__init__(id="health-footer")
        self.parts: dict[str, Part] = {}
        self._state: _State | None = None

    def compose(self) -> ComposeResult:
        for line, ids in (("footer-line1", LINE1), ("footer-line2", LINE2)):
            with Horizontal(id=line):
                for part_id in ids:
                    yield Label("", id=f"footer-{part_id}", markup=False)

    def show_state(
        self,
        health: Health,
        account: Account,
        breakers: BreakerState,
        now: datetime | None,
        timing: TimingSettings,
        *,
        starting: bool = False,
        automation: Automation | None = None,
        alerts_failing: str | None = None,
        preflight: Preflight | None = None,
    ) -> None:
        """Render the given state, compact when the footer is narrow; remembered so a
        resize can re-render it."""
        self._state = _State(
            health, account, breakers, now, timing, starting, automation, alerts_failing,
            preflight,
        )  # fmt: skip
        width = self.size.width or self.app.size.width
        self.show(
            footer_parts(
                health,
                account,
                breakers,
                now,
                timing,
                compact=width < COMPACT_BELOW,
                starting=starting,
                automation=automation,
                alerts_failing=alerts_failing,
                preflight=preflight,
            )
        )

    def on_resize(self) -> None:
        s = self._state
        if s is not None:
            self.show_state(
                s.health,
                s.account,
                s.breakers,
                s.now,
                s.timing,
                starting=s.starting,
                automation=s.automation,
                alerts_failing=s.alerts_failing,
                preflight=s.preflight,
            )

    def show(self, parts: Mapping[str, Part]) -> None:
        """Update only the labels whose text or class changed.

        A label is as wide as its text, so a new text of another width needs a layout pass;
        one of the same width (the clock every second, a quote age) is repainted in place:
        a layout pass repaints the whole screen, the 1,000-row scanner included."""
        for part_id, part in parts.items():
            old = self.parts.get(part_id)
            if old == part:
                continue
            label = self.query_one(f"#footer-{part_id}", Label)
            if old is None or old.text != part.text:
                same_width = old is not None and cell_len(old.text) == cell_len(part.text)
                label.update(part.text, layout=not same_width)
            css = part.css if part.text else "-empty"
            if old is None or (old.css if old.text else "-empty") != css:
                label.remove_class(*self._CLASSES)
                if css:
                    label.add_class(css)
        self.parts = dict(parts)

    @property
    def text(self) -> str:
        """Both lines as plain text (what a test or a screen reader reads)."""
        lines = []
        for ids in (LINE1, LINE2):
            lines.append(
                "  ".join(self.parts[i].text for i in ids if i in self.parts and self.parts[i].text)
            )
        return "\n".join(lines)
