"""Historical bars as reqHistoricalData serves them, and IB's historical pacing rules.

IB's duration units, as they behave for daily bars: ``N D`` is the last N sessions,
``N W`` / ``N M`` / ``N Y`` are calendar spans ending at the end date, ``N S`` is rounded
up to whole sessions. Bar sizes ``1 day``, ``1 week`` and ``1 month`` are served (weeks
and months aggregated from the sessions, dated by their first session, as IB does).

Pacing (error 162): an identical request within 15 s, more than 60 requests in 10
minutes, or more than 50 requests open at once. IB applies the first two only to bars of
30 seconds or less; the simulator applies them to every bar size by default
(``HistoricalPacing.small_bars_only`` restores IB's leniency), so a client's own pacing
is exercised with the daily bars the simulator serves. The windows run on a monotonic
source (real seconds, injectable), not on the simulated clock, because IB paces by wall
time whatever the market does.
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


@dataclass(frozen=True, slots=True)
class HistoricalPacing:
    """IB's historical-data pacing limits (see module doc)."""

    identical_window: float = 15.0
    max_requests: int = 60
    window: float = 600.0
    max_open: int = 50
    small_bars_only: bool = False


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
    open: int = 0

    def admit(self, key: tuple[str, ...], bar_size: str) -> str | None:
        """Record a new request; the violation text if IB would refuse it, else None."""
        now = self.monotonic()
        lim = self.limits
        if self.open >= lim.max_open:
            return f"{PACING_TEXT} (more than {lim.max_open} open requests)"
        small = bar_size.split()[-1].lower().startswith(("sec", "secs")) if bar_size else False
        if lim.small_bars_only and not small:
            self.open += 1
            return None
        while self._times and now - self._times[0] >= lim.window:
            self._times.popleft()
        last = self._last_identical.get(key)
        if last is not None and now - last < lim.identical_window:
            return f"{PACING_TEXT} (identical request within {lim.identical_window:g} s)"
        if len(self._times) >= lim.max_requests:
            return (
                f"{PACING_TEXT} (more than {lim.max_requests} requests in "
                f"{lim.window / 60:g} minutes)"
            )
        self._times.append(now)
        self._last_identical[key] = now
        if len(self._last_identical) > 4 * lim.max_requests:
            cutoff = now - lim.identical_window
            self._last_identical = {k: t for k, t in self._last_identical.items() if t >= cutoff}
        self.open += 1
        return None

    def done(self) -> None:
        """A previously admitted request was answered (or failed)."""
        self.open = max(0, self.open - 1)
