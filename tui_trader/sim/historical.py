"""Historical bars as reqHistoricalData serves them, and IB's historical pacing rules.

IB's duration units, as they behave for daily bars: ``N D`` is the last N sessions,
``N W`` / ``N M`` / ``N Y`` are calendar spans ending at the end date, ``N S`` is rounded
up to whole sessions. Bar sizes ``1 day``, ``1 week`` and ``1 month`` are served (weeks
and months aggregated from the sessions, dated by their first session, as IB does).

Pacing (error 162), as IB states it: more than 50 requests open at once, whatever the bar
size; and for bars of 30 seconds or less only, an identical request within 15 s, six or
more requests for the same contract, exchange and tick type within 2 s, or more than 60
requests in 10 minutes. Larger bars (all the simulator serves) neither break nor use up
the small-bar rules, so a client that loads a universe of daily bars meets no pacing but
the open-request cap and the message rate, as with IB. ``HistoricalPacing(
small_bars_only=False)`` applies the small-bar rules to every bar size: a stricter login
(IB keeps a "soft limit" on large amounts of data), so tests can exercise a client's own
pacing with daily bars. Small-bar requests are counted before their bar size is checked,
so they pace as at IB even though the simulator answers them with error 321. The windows
run on a monotonic source (real seconds, injectable), not on the simulated clock, because
IB paces by wall time whatever the market does.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from tui_trader.sim.protocol import WireBar, fmt_ib_date
from tui_trader.sim.types import DailyBar

_DURATION = re.compile(r"^\s*(\d+)\s*([SDWMY])\s*$", re.IGNORECASE)
BAR_SIZES = {"1 day": "D", "1 week": "W", "1 month": "M"}
#: What IB calls the kinds of bars the simulator can build from its daily OHLCV.
WHAT_TO_SHOW = {"TRADES", "MIDPOINT", "ADJUSTED_LAST"}


class HistoricalRequestError(Exception):
    """A request IB would reject with error 321/162; ``code`` says which."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_duration(text: str) -> tuple[int, str]:
    m = _DURATION.match(text)
    if m is None or int(m.group(1)) <= 0:
        raise HistoricalRequestError(
            321, f"Error validating request:-'bQ' : cause - Invalid duration {text!r}"
        )
    return int(m.group(1)), m.group(2).upper()


def _years_before(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # 29 February
        return d.replace(year=d.year - years, day=28)


def _months_before(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def select_bars(bars: Sequence[DailyBar], end: date, duration: str) -> list[DailyBar]:
    """The daily bars a request for ``duration`` ending on ``end`` (inclusive) covers."""
    n, unit = parse_duration(duration)
    upto = [b for b in bars if b.day <= end]
    if unit == "S":
        return upto[-max(1, math.ceil(n / 86400)) :]
    if unit == "D":
        return upto[-n:]
    if unit == "W":
        start = end - timedelta(days=7 * n)
    elif unit == "M":
        start = _months_before(end, n)
    else:
        start = _years_before(end, n)
    return [b for b in upto if b.day > start]


def aggregate(bars: Sequence[DailyBar], size: str) -> list[DailyBar]:
    """Daily bars rolled up into weeks (ISO) or months, dated by their first session."""
    unit = BAR_SIZES.get(size)
    if unit is None:
        raise HistoricalRequestError(
            321, f"Error validating request:-'bP' : cause - Historical data bar size "
            f"setting is invalid: {size!r} (the simulator serves 1 day, 1 week, 1 month)",
        )  # fmt: skip
    if unit == "D":
        return list(bars)
    groups: dict[tuple[int, int], list[DailyBar]] = {}
    for b in bars:
        key = (b.day.isocalendar()[0], b.day.isocalendar()[1]) if unit == "W" else (
            b.day.year, b.day.month)  # fmt: skip
        groups.setdefault(key, []).append(b)
    return [
        DailyBar(
            g[0].day,
            g[0].open,
            max(b.high for b in g),
            min(b.low for b in g),
            g[-1].close,
            sum(b.volume for b in g),
        )
        for g in groups.values()
    ]


def to_wire(bars: Sequence[DailyBar], what_to_show: str) -> list[WireBar]:
    """TRADES bars carry volume, a typical-price WAP and a trade count; MIDPOINT bars have
    none of them (IB sends -1)."""
    out: list[WireBar] = []
    for b in bars:
        if what_to_show == "MIDPOINT":
            out.append(WireBar(fmt_ib_date(b.day), b.open, b.high, b.low, b.close, -1, -1, -1))
        else:
            wap = round((b.high + b.low + b.close) / 3.0, 4)
            count = max(1, int(b.volume // 200)) if b.volume > 0 else 0
            out.append(
                WireBar(fmt_ib_date(b.day), b.open, b.high, b.low, b.close, b.volume, wap, count)
            )
    return out


_BAR_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$", re.IGNORECASE)
_UNIT_S = {"sec": 1, "secs": 1, "min": 60, "mins": 60, "hour": 3600, "hours": 3600,
           "day": 86400, "days": 86400, "d": 86400, "week": 604800, "weeks": 604800,
           "w": 604800, "month": 2592000, "months": 2592000, "m": 2592000}  # fmt: skip
SMALL_BAR_MAX_S = 30


def is_small_bar(bar_size: str) -> bool:
    """Bars of 30 s or less, the ones IB's pacing rules are about; a size that cannot be
    read counts as small (the strictest case)."""
    m = _BAR_SIZE.match(bar_size)
    unit = _UNIT_S.get(m.group(2).lower()) if m is not None else None
    return m is None or unit is None or int(m.group(1)) * unit <= SMALL_BAR_MAX_S


@dataclass(frozen=True, slots=True)
class HistoricalPacing:
    """IB's historical-data pacing limits (see module doc). ``burst_max`` requests for one
    contract, exchange and tick type are allowed in ``burst_window``; one more breaks it."""

    identical_window: float = 15.0
    max_requests: int = 60
    window: float = 600.0
    max_open: int = 50
    burst_max: int = 5
    burst_window: float = 2.0
    small_bars_only: bool = True


PACING_TEXT = (
    "Historical Market Data Service error message:Historical data request pacing violation"
)


@dataclass(slots=True)
class PacingTracker:
    """Counts historical requests against :class:`HistoricalPacing` (gateway-wide, as IB
    paces per login, not per API client)."""

    limits: HistoricalPacing
    monotonic: Callable[[], float]
    _times: deque[float] = field(default_factory=deque)
    _last_identical: dict[tuple[str, ...], float] = field(default_factory=dict)
    _series: dict[tuple[str, ...], deque[float]] = field(default_factory=dict)
    open: int = 0

    def admit(
        self, key: tuple[str, ...], bar_size: str, series: tuple[str, ...] | None = None
    ) -> str | None:
        """Record a new request; the violation text if IB would refuse it, else None.
        ``key`` identifies the request (equal keys are identical requests); ``series`` is
        its contract, exchange and tick type (None: the same-contract rule is not checked).
        """
        now = self.monotonic()
        lim = self.limits
        if self.open >= lim.max_open:
            return f"{PACING_TEXT} (more than {lim.max_open} open requests)"
        if lim.small_bars_only and not is_small_bar(bar_size):
            self.open += 1
            return None
        while self._times and now - self._times[0] >= lim.window:
            self._times.popleft()
        last = self._last_identical.get(key)
        if last is not None and now - last < lim.identical_window:
            return f"{PACING_TEXT} (identical request within {lim.identical_window:g} s)"
        recent = self._series.get(series) if series is not None else None
        if recent is not None:
            while recent and now - recent[0] >= lim.burst_window:
                recent.popleft()
            if len(recent) >= lim.burst_max:
                return (
                    f"{PACING_TEXT} ({lim.burst_max + 1} or more requests for the same "
                    f"contract, exchange and tick type within {lim.burst_window:g} s)"
                )
        if len(self._times) >= lim.max_requests:
            return (
                f"{PACING_TEXT} (more than {lim.max_requests} requests in "
                f"{lim.window / 60:g} minutes)"
            )
        self._times.append(now)
        self._last_identical[key] = now
        if series is not None:
            self._series.setdefault(series, deque()).append(now)
        if len(self._last_identical) > 4 * lim.max_requests:
            cutoff = now - lim.identical_window
            self._last_identical = {k: t for k, t in self._last_identical.items() if t >= cutoff}
            self._series = {
                k: q for k, q in self._series.items() if q and now - q[-1] < lim.burst_window
            }
        self.open += 1
        return None

    def done(self) -> None:
        """A previously admitted request was answered (or failed)."""
        self.open = max(0, self.open - 1)
