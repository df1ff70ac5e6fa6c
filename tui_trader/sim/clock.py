"""The simulated market's wall clock, and the XNYS sessions it walks through.

The clock is a linear map from an injected monotonic source to UTC: ``now = anchor +
(monotonic() - anchor_mono) * speed``. Tests inject a fake source and advance it by hand,
so nothing in the simulator ever sleeps and a test decides exactly how much simulated
time passes. Changing the speed re-anchors at the current instant, so simulated time is
continuous across speed changes (it never jumps backwards).

With ``skip_closed`` the clock runs on trading time instead: the same linear map counts
only seconds inside XNYS regular sessions, so when a session's close is reached the
clock reads the next session's open (nights, weekends and holidays pass in an instant),
and an instant outside regular hours (a start on a Saturday, at 08:00 or at 17:00) reads
as the next open. ``now()`` stays a pure, monotonic function of the monotonic source
(the demo reads it from another thread). This is how the demo and ``tui-trader gateway``
replay days at ``--speed X``: at speed 30 the 75-minute entry window takes 150 real
seconds, and the night after it none.

Sessions come from exchange_calendars' XNYS calendar (holidays and early closes
included). A calendar covering a few years around a date is built once per span and
cached: building one takes a few tenths of a second.
"""

from __future__ import annotations

import bisect
import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
from numpy.typing import NDArray

ET = ZoneInfo("America/New_York")

#: How long before the close the demo starts: 14:30 ET on a normal day (16:00 close), so
#: the SPEC's entry window (from 14:45) opens a quarter of an hour into the demo.
DEMO_START_BEFORE_CLOSE = timedelta(minutes=90)


def _require_aware(when: datetime, what: str) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {when!r}")


class SimClock:
    """Simulated wall clock running at ``speed`` x the injected monotonic source; with
    ``skip_closed``, on XNYS trading time (module doc)."""

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        *,
        skip_closed: bool = False,
    ) -> None:
        _require_aware(start, "start")
        if not speed >= 0.0:  # also rejects NaN
            raise ValueError(f"speed must be >= 0, got {speed!r}")
        self._monotonic = monotonic
        self._trading = _TradingTime(xnys_sessions(et_date(start))) if skip_closed else None
        self._anchor = start.astimezone(UTC)  # linear: the anchor instant
        self._anchor_pos = self._position(self._anchor)  # trading time: its position
        self._anchor_mono = monotonic()
        self.speed = float(speed)

    @property
    def skips_closed(self) -> bool:
        """Whether closed hours pass in an instant (module doc)."""
        return self._trading is not None

    def _position(self, when: datetime) -> float:
        """Trading seconds before ``when`` (0.0 for a linear clock, which does not use it)."""
        return 0.0 if self._trading is None else self._trading.position(when.timestamp())

    def now(self) -> datetime:
        """The simulated time, tz-aware UTC."""
        elapsed = (self._monotonic() - self._anchor_mono) * self.speed
        if self._trading is None:
            return self._anchor + timedelta(seconds=elapsed)
        return datetime.fromtimestamp(self._trading.instant(self._anchor_pos + elapsed), UTC)

    def monotonic(self) -> float:
        """The injected monotonic source (real seconds), for throttles that must not scale
        with the simulation speed."""
        return self._monotonic()

    def set_speed(self, speed: float) -> None:
        """Change the speed from now on; simulated time stays continuous."""
        if not speed >= 0.0:
            raise ValueError(f"speed must be >= 0, got {speed!r}")
        mono = self._monotonic()
        elapsed = (mono - self._anchor_mono) * self.speed
        self._anchor = self.now()
        self._anchor_pos += elapsed
        self._anchor_mono = mono
        self.speed = float(speed)

    def jump_to(self, when: datetime) -> None:
        """Move simulated time to ``when`` (forwards only: the market never rewinds); with
        ``skip_closed`` a closed instant means the next session's open."""
        _require_aware(when, "when")
        target = when.astimezone(UTC)
        if target < self.now():
            raise ValueError(f"the clock only moves forwards: {target} is before {self.now()}")
        self._anchor = target
        self._anchor_pos = self._position(target)
        self._anchor_mono = self._monotonic()


class _TradingTime:
    """The map between instants and trading seconds: the regular-session seconds of the
    calendar before an instant. Closed instants map to the next open; past the calendar's
    last close the clock runs on linearly (the market stands still there anyway)."""

    def __init__(self, sessions: Sessions) -> None:
        self._opens = [float(x) for x in sessions.opens]
        self._closes = [float(x) for x in sessions.closes]
        self._cum = [0.0]
        for o, c in zip(self._opens, self._closes, strict=True):
            self._cum.append(self._cum[-1] + (c - o))

    def position(self, t: float) -> float:
        i = bisect.bisect_right(self._closes, t)  # the first session not closed at t
        if i == len(self._closes):
            return self._cum[-1] + (t - self._closes[-1])
        return self._cum[i] + max(0.0, t - self._opens[i])

    def instant(self, pos: float) -> float:
        i = bisect.bisect_right(self._cum, pos) - 1  # cum[i] <= pos < cum[i + 1]
        if i >= len(self._opens):
            return self._closes[-1] + (pos - self._cum[-1])
        return self._opens[max(i, 0)] + (pos - self._cum[max(i, 0)])


@functools.cache
def _xnys(first_year: int, last_year: int) -> Any:
    with warnings.catch_warnings():
        # exchange_calendars itself reads tz-aware Series.values, which pandas deprecates
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar("XNYS", start=f"{first_year}-01-01", end=f"{last_year}-12-31")


@dataclass(frozen=True, slots=True)
class Sessions:
    """XNYS sessions as parallel arrays: dates, and open/close as UTC epoch seconds."""

    days: tuple[date, ...]
    opens: NDArray[np.float64]
    closes: NDArray[np.float64]

    def index_on_or_after(self, day: date) -> int:
        """Index of the first session on or after ``day`` (len(days) if none)."""
        lo, hi = 0, len(self.days)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.days[mid] < day:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def is_session(self, day: date) -> bool:
        i = self.index_on_or_after(day)
        return i < len(self.days) and self.days[i] == day

    def close_of(self, day: date) -> datetime:
        """The close of session ``day`` (UTC); ValueError when ``day`` is not a session."""
        i = self.index_on_or_after(day)
        if i >= len(self.days) or self.days[i] != day:
            raise ValueError(f"{day} is not an XNYS session")
        return datetime.fromtimestamp(float(self.closes[i]), UTC)


def xnys_sessions(around: date, years_before: int = 4, years_after: int = 2) -> Sessions:
    """XNYS sessions from ``years_before`` whole years before ``around`` to ``years_after``
    whole years after it (enough for 520 sessions of history and the option expiries)."""
    return _sessions(around.year - years_before, around.year + years_after)


@functools.cache
def _sessions(first_year: int, last_year: int) -> Sessions:
    cal = _xnys(first_year, last_year)
    days = tuple(ts.date() for ts in cal.sessions)
    return Sessions(days, _epoch_seconds(cal.opens), _epoch_seconds(cal.closes))


def _epoch_seconds(stamps: Any) -> NDArray[np.float64]:
    """UTC epoch seconds of a tz-aware pandas Series of timestamps."""
    naive = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    out: NDArray[np.float64] = naive.astype("datetime64[ns]").astype(np.int64) / 1e9
    return out


def et_date(when: datetime) -> date:
    """The America/New_York calendar date of a tz-aware instant."""
    _require_aware(when, "when")
    return when.astimezone(ET).date()


def default_demo_start(now: datetime | None = None) -> datetime:
    """The demo's start: 90 minutes before the close (14:30 ET on a normal day) of the
    last XNYS session that has already reached that time, returned as UTC.

    On a session day before that time, and on weekends and holidays, that is the previous
    session, so the demo never starts in the future. Early-close days start 90 minutes
    before their early close, so the entry window still lies ahead.
    """
    current = datetime.now(UTC) if now is None else now
    _require_aware(current, "now")
    sessions = xnys_sessions(et_date(current))
    i = sessions.index_on_or_after(et_date(current) + timedelta(days=1)) - 1
    while i >= 0:
        start = datetime.fromtimestamp(float(sessions.closes[i]), UTC) - DEMO_START_BEFORE_CLOSE
        if start <= current:
            return start
        i -= 1
    raise ValueError(f"no XNYS session before {current}")  # pragma: no cover - 4 years back


#: ``--start``'s format (New York time) and the years it may name (the calendar is built
#: four years before the start, for the history, and two after, for the expiries).
START_FORMAT = "%Y-%m-%d %H:%M"
START_YEARS = (2000, 2099)


def session_start(when: datetime) -> datetime:
    """``when`` (UTC) if it lies inside an XNYS regular session, otherwise the next
    session's open: a replay starts trading at once, never on a closed market."""
    _require_aware(when, "when")
    t = when.astimezone(UTC)
    sessions = xnys_sessions(et_date(t))
    i = sessions.index_on_or_after(et_date(t))
    while i < len(sessions.days):
        if t < datetime.fromtimestamp(float(sessions.closes[i]), UTC):
            return max(t, datetime.fromtimestamp(float(sessions.opens[i]), UTC))
        i += 1
    raise ValueError(f"no XNYS session after {t}")  # pragma: no cover - 2 years ahead


def parse_start(text: str) -> datetime:
    """``--start "YYYY-MM-DD HH:MM"`` (New York time) as the simulated market's start (UTC).

    A time outside regular hours -- a weekend, a holiday, before the open or after the
    close -- moves to the next session's open (:func:`session_start`). ValueError with the
    sentence for the user when the text is not such a time or its year is out of range.
    """
    try:
        local = datetime.strptime(text.strip(), START_FORMAT)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time of the form YYYY-MM-DD HH:MM (New York time)"
        ) from None
    first, last = START_YEARS
    if not first <= local.year <= last:
        raise ValueError(f"{text!r} is not between the years {first} and {last}")
    return session_start(local.replace(tzinfo=ET))
