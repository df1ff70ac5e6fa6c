"""SPEC 7: the entry window on the exchange calendar (XNYS), in America/New_York time.

Nothing here reads the clock: ``now`` is always an argument and must be tz-aware (a naive
datetime raises ValueError, because guessing its zone is how windows end up an hour off).
Returned datetimes are in America/New_York; durations between them are absolute (elapsed)
time, so a countdown across a DST change is right.

Window arithmetic is done in UTC and converted back, so it would stay right even if a DST
change fell inside it. The window is half-open: open at its start, closed at its end
(close - 2 min, 15:58:00 on a normal day). Days the calendar does not list as sessions are
WEEKEND on Saturday/Sunday and HOLIDAY otherwise.

The calendar is built once per name for 2000-01-01..2040-12-31 (about half a second) and
cached. Regular holidays and early closes beyond the calendar package's release are
generated from its rules; unscheduled closures (a national day of mourning) are only known
once exchange_calendars ships them. Dates outside the span raise CalendarRangeError.

``exchange_calendars`` (with pandas behind it, ~60 ms) is imported by the first call that
needs a calendar, not by importing this module: the dashboard imports :data:`ET` for its
first frame, which needs neither.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tui_trader.core.settings import TimingSettings

ET = ZoneInfo("America/New_York")
_SPAN = ("2000-01-01", "2040-12-31")


class CalendarRangeError(ValueError):
    """A date outside the span the exchange calendar was built for."""


def _xcals() -> Any:
    """exchange_calendars (untyped), imported on first use (module doc)."""
    import exchange_calendars

    return exchange_calendars


@functools.cache
def _calendar(name: str) -> Any:
    """Built once per name. exchange_calendars trips a pandas 3 deprecation warning while
    building (``Series.values`` on tz-aware data); it is theirs to fix and says nothing
    about our inputs, so it is silenced here, for the build only."""
    xcals = _xcals()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r"Series\.values returning an ndarray",
                category=DeprecationWarning,
            )
            return xcals.get_calendar(name, start=_SPAN[0], end=_SPAN[1])
    except xcals.errors.InvalidCalendarName as exc:
        raise ValueError(f"unknown exchange calendar {name!r}") from exc


def _check_range(d: date) -> None:
    if not (date.fromisoformat(_SPAN[0]) <= d <= date.fromisoformat(_SPAN[1])):
        raise CalendarRangeError(f"{d} is outside the exchange calendar's span {_SPAN}")


def _et_date(now: datetime) -> date:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    return now.astimezone(ET).date()


#: The per-day look-ups below are pure (a calendar's sessions never change while the
#: process runs) and the footer asks for today's window on every redraw: each answer is
#: kept, so a redraw costs a dictionary look-up, not a pandas index search (~0.3 ms).
_day_cache = functools.lru_cache(maxsize=4096)


@_day_cache
def _is_session(d: date, calendar: str) -> bool:
    _check_range(d)
    return bool(_calendar(calendar).is_session(d.isoformat()))


@_day_cache
def _close_utc(d: date, calendar: str) -> datetime:
    close: datetime = _calendar(calendar).session_close(d.isoformat()).to_pydatetime()
    return close.astimezone(UTC)


@_day_cache
def _next_session(d: date, calendar: str) -> date:
    """The first session strictly after ``d``."""
    nxt = d + timedelta(days=1)
    _check_range(nxt)
    cal = _calendar(calendar)
    try:
        ts: Any = cal.date_to_session(nxt.isoformat(), direction="next")
    except _xcals().errors.DateOutOfBounds as exc:
        raise CalendarRangeError(f"no session after {d} within {_SPAN}") from exc
    session: date = ts.date()
    return session


def entry_window(session_date: date, timing: TimingSettings) -> tuple[datetime, datetime] | None:
    """(start, end) of the entry window in ET, or None when the exchange is closed that day.

    start = close - 75 min (``allow_late_day_entry``) or close - 60 min; end = close - 2 min.
    """
    if not _is_session(session_date, timing.calendar):
        return None
    close = _close_utc(session_date, timing.calendar)
    before = (
        timing.late_day_start_min_before_close
        if timing.allow_late_day_entry
        else timing.window_start_min_before_close
    )
    start = close - timedelta(minutes=before)
    end = close - timedelta(minutes=timing.window_end_min_before_close)
    return start.astimezone(ET), end.astimezone(ET)


def session_close(now: datetime, calendar: str = "XNYS") -> datetime | None:
    """The close (ET) of the session on ``now``'s New York date; None when there is none."""
    d = _et_date(now)
    if not _is_session(d, calendar):
        return None
    return _close_utc(d, calendar).astimezone(ET)


def market_open(now: datetime, calendar: str = "XNYS") -> bool:
    """Whether the regular session is open at ``now`` (open inclusive, close exclusive):
    when the auto-trader may send exits (SPEC 11)."""
    d = _et_date(now)
    if not _is_session(d, calendar):
        return False
    cal = _calendar(calendar)
    opened: datetime = cal.session_open(d.isoformat()).to_pydatetime().astimezone(UTC)
    at = now.astimezone(UTC)
    return opened <= at < _close_utc(d, calendar)


def last_trading_day(on_or_before: date, calendar: str = "XNYS") -> date:
    """The latest session on or before the given date."""
    _check_range(on_or_before)
    cal = _calendar(calendar)
    try:
        ts: Any = cal.date_to_session(on_or_before.isoformat(), direction="previous")
    except _xcals().errors.DateOutOfBounds as exc:
        raise CalendarRangeError(f"no session on or before {on_or_before}") from exc
    session: date = ts.date()
    return session


class WindowState(StrEnum):
    OPEN = "OPEN"
    OPENS_IN = "OPENS_IN"  # today's window has not opened yet
    CLOSED = "CLOSED"  # a session day, after today's window
    HOLIDAY = "HOLIDAY"  # a weekday without a session
    WEEKEND = "WEEKEND"


def format_duration(td: timedelta) -> str:
    """Compact countdown for the footer: "45m", "1h12m", "2d22h". Rounded up to the
    minute, so "opens in 0m" is never shown while the window is still shut."""
    minutes = max(0, -(-int(td.total_seconds()) // 60))
    days, rem = divmod(minutes, 24 * 60)
    hours, mins = divmod(rem, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{mins:02d}m"
    return f"{mins}m"


@dataclass(frozen=True, slots=True)
class WindowStatus:
    """Where ``now`` stands relative to the entry windows.

    ``window`` is today's (None on a closed day); ``next_open`` is the start of the next
    window that has not opened yet (today's when OPENS_IN, otherwise a later session's);
    ``opens_in`` = next_open - now (elapsed time); ``closes_in`` only while OPEN.
    """

    state: WindowState
    now: datetime
    window: tuple[datetime, datetime] | None
    next_open: datetime
    opens_in: timedelta
    closes_in: timedelta | None

    @property
    def label(self) -> str:
        """Footer text, e.g. "window open, closes in 47m" or "opens in 1h12m"."""
        if self.state is WindowState.OPEN and self.closes_in is not None:
            return f"window open, closes in {format_duration(self.closes_in)}"
        if self.state is WindowState.OPENS_IN:
            return f"opens in {format_duration(self.opens_in)}"
        when = self.next_open.strftime("%a %H:%M ET")
        prefix = {
            WindowState.CLOSED: "closed",
            WindowState.HOLIDAY: "holiday",
            WindowState.WEEKEND: "weekend",
        }.get(self.state, "closed")
        return f"{prefix}, opens {when} (in {format_duration(self.opens_in)})"

    @property
    def is_open(self) -> bool:
        return self.state is WindowState.OPEN


def _elapsed(later: datetime, earlier: datetime) -> timedelta:
    """Absolute time between two aware datetimes. Subtracting two datetimes that share a
    tzinfo gives the *wall-clock* difference, which is an hour off across a DST change."""
    return later.astimezone(UTC) - earlier.astimezone(UTC)


def window_status(now: datetime, timing: TimingSettings) -> WindowStatus:
    """The entry window's state at ``now`` (tz-aware, any zone)."""
    today = _et_date(now)
    window = entry_window(today, timing)
    if window is not None:
        start, end = window
        if _elapsed(start, now) > timedelta(0):
            return WindowStatus(
                WindowState.OPENS_IN, now, window, start, _elapsed(start, now), None
            )
        if _elapsed(end, now) > timedelta(0):
            nxt = entry_window(_next_session(today, timing.calendar), timing)
            assert nxt is not None  # a session always has a window
            return WindowStatus(
                WindowState.OPEN, now, window, nxt[0], _elapsed(nxt[0], now), _elapsed(end, now)
            )
        state = WindowState.CLOSED
    else:
        state = WindowState.WEEKEND if today.weekday() >= 5 else WindowState.HOLIDAY
    nxt = entry_window(_next_session(today, timing.calendar), timing)
    assert nxt is not None
    return WindowStatus(state, now, window, nxt[0], _elapsed(nxt[0], now), None)
