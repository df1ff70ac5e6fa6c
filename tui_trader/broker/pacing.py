"""Request pacing: IB's historical-data rules and the general message-rate metric.

Time is a float in seconds from a monotonic clock, always passed in; nothing here sleeps.

Historical data, as IB states its limits (TWS API "Historical Data Limitations"; breaking
one is a "pacing violation", error 162):

- at most 50 historical requests open at once, whatever the bar size;
- for bars of 30 s or less ("small bars") only:

  - no identical request within 15 s;
  - no six or more requests for the same contract, exchange and tick type within 2 s;
  - at most 60 requests in any 10-minute window (a ``BID_ASK`` request counts twice).

Larger bars (the app's daily bars) are held by none of the small-bar rules: IB lifted
them for bars of 1 minute and more, so a universe of 500 symbols loads at the message rate
instead of one request every ten seconds. They are still limited by the 50 open requests
and by the general limit of 50 messages a second, which ib_insync enforces itself (it
throttles and raises ``throttleStart`` / ``throttleEnd``; the session sets its rate);
:class:`RequestRate` only measures it, for the health bar. Daily requests do not use the
small-bar budget either. ``small_bars_only=False`` applies the small-bar rules to every
request, for a login stricter than IB's documentation (IB keeps a "soft limit" on large
amounts of data) and for tests.

A request's bar size is known when its key is a :class:`HistoricalKey`; any other key is
treated as a small bar (the safe side: waiting costs seconds, a violation the request).
The same-contract rule needs the key's contract and tick type, so it only applies to
:class:`HistoricalKey` keys. Boundaries are half-open: a request counts against a rule
for exactly 15 s / 2 s / 600 s after it was sent, so at +15.0 s an identical request is
allowed again. :meth:`HistoricalPacer.hold` keeps a key back for a while (the back-off
after IB answered it with a pacing violation anyway).
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter, deque
from collections.abc import Hashable
from typing import Any, NamedTuple

HIST_MAX_OPEN = 50
HIST_IDENTICAL_GAP_S = 15.0
HIST_WINDOW_S = 600.0
HIST_MAX_PER_WINDOW = 60
HIST_BURST_S = 2.0
HIST_BURST_MAX = 5  # "six or more ... within two seconds" is the violation
SMALL_BAR_MAX_S = 30.0

MSG_RATE_LIMIT = 50.0  # messages per second, IB's socket limit (error 100 beyond it)

_BAR_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$", re.IGNORECASE)
_UNIT_S = {
    "sec": 1.0,
    "secs": 1.0,
    "min": 60.0,
    "mins": 60.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "day": 86400.0,
    "days": 86400.0,
    "d": 86400.0,
    "week": 7 * 86400.0,
    "weeks": 7 * 86400.0,
    "w": 7 * 86400.0,
    "month": 30 * 86400.0,
    "months": 30 * 86400.0,
    "m": 30 * 86400.0,  # IB's "1M" is a month; minutes are always "min(s)"
}


def bar_size_seconds(bar_size: str) -> float | None:
    """IB's bar size setting ("30 secs", "1 min", "1 day", "1W") in seconds; None when it
    is not one (a month counts as 30 days: only the comparison with 30 s matters)."""
    m = _BAR_SIZE.match(bar_size)
    if m is None:
        return None
    unit = _UNIT_S.get(m.group(2).lower())
    return None if unit is None else int(m.group(1)) * unit


def is_small_bar(bar_size: str) -> bool:
    """True for bars of 30 s or less, the ones IB's pacing rules are about (and for a bar
    size that cannot be read: better paced than refused)."""
    seconds = bar_size_seconds(bar_size)
    return seconds is None or seconds <= SMALL_BAR_MAX_S


class HistoricalKey(NamedTuple):
    """Everything that identifies a reqHistoricalData request: two equal keys are
    "identical requests" in IB's sense; ``(con_id, what_to_show)`` is the same-contract
    rule's series (the app routes through SMART, so the exchange does not vary)."""

    con_id: int
    end: str
    duration: str
    bar_size: str
    what_to_show: str
    use_rth: bool


class HistoricalPacer[K: Hashable]:
    """When a historical request may be sent (module doc). ``K`` identifies a request
    completely: two equal keys are identical requests. Use :class:`HistoricalKey` so the
    pacer knows the bar size and the contract.

    Two ways to use it: ask :meth:`can_send` and report :meth:`sent`, or :meth:`enqueue`
    and let :meth:`next_ready` hand out keys (it records them as sent). Either way report
    :meth:`done` when the answer (data or error) arrived.
    """

    def __init__(
        self,
        max_open: int = HIST_MAX_OPEN,
        identical_gap_s: float = HIST_IDENTICAL_GAP_S,
        window_s: float = HIST_WINDOW_S,
        max_per_window: int = HIST_MAX_PER_WINDOW,
        *,
        burst_s: float = HIST_BURST_S,
        burst_max: int = HIST_BURST_MAX,
        small_bars_only: bool = True,
    ) -> None:
        if max_open < 1 or max_per_window < 1 or burst_max < 1:
            raise ValueError("max_open, max_per_window and burst_max must be >= 1")
        if not (identical_gap_s >= 0 and window_s > 0 and burst_s >= 0):
            raise ValueError("identical_gap_s and burst_s must be >= 0, window_s > 0")
        self._max_open = max_open
        self._gap = float(identical_gap_s)
        self._window = float(window_s)
        self._max_per_window = max_per_window
        self._burst_s = float(burst_s)
        self._burst_max = burst_max
        self._small_only = small_bars_only
        self._open: Counter[K] = Counter()
        self._sent_times: list[float] = []  # paced requests (BID_ASK twice); sorted; pruned
        self._last_sent: dict[K, float] = {}  # paced requests, pruned to the 15 s gap
        self._series: dict[tuple[int, str], list[float]] = {}  # same-contract rule
        self._held: dict[K, float] = {}  # key -> not before
        self._queue: deque[K] = deque()

    @property
    def open_count(self) -> int:
        return self._open.total()

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def queued_keys(self) -> tuple[K, ...]:
        return tuple(self._queue)

    def sent_in_window(self, now: float) -> int:
        """Slots of the 10-minute rule in use at ``now`` (a small BID_ASK request uses
        two; requests the rule does not pace use none)."""
        self._prune(now)
        return len(self._sent_times)

    def paced(self, key: K) -> bool:
        """Whether the small-bar rules apply to ``key``."""
        if not self._small_only:
            return True
        return is_small_bar(key.bar_size) if isinstance(key, HistoricalKey) else True

    def can_send(self, key: K, now: float) -> float:
        """Seconds to wait before ``key`` may be sent: 0.0 = now; ``math.inf`` = only once
        an open request is :meth:`done` (the 50-open rule has no clock)."""
        if self._open.total() >= self._max_open:
            return math.inf
        return self._key_wait(key, now)

    def sent(self, key: K, now: float) -> None:
        """Record a request as sent (also when it was sent against the advice)."""
        self._prune(now)
        self._open[key] += 1
        if not self.paced(key):
            return
        for _ in range(self._weight(key)):
            bisect.insort(self._sent_times, now)
        self._last_sent[key] = max(now, self._last_sent.get(key, -math.inf))
        series = self._series_of(key)
        if series is not None:
            bisect.insort(self._series.setdefault(series, []), now)

    def done(self, key: K) -> None:
        """The request's answer (or error) arrived: it is no longer open. Unknown: ignored."""
        if self._open[key] > 0:
            self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

    def hold(self, key: K, until: float) -> None:
        """Send ``key`` no earlier than ``until`` (other keys are not held)."""
        self._held[key] = max(until, self._held.get(key, -math.inf))

    def enqueue(self, key: K) -> bool:
        """Wait for a slot. False when an identical request is already waiting."""
        if key in self._queue:
            return False
        self._queue.append(key)
        return True

    def discard(self, key: K) -> bool:
        """Withdraw a waiting request. False when it was not waiting."""
        try:
            self._queue.remove(key)
        except ValueError:
            return False
        return True

    def next_ready(self, now: float) -> K | None:
        """The first waiting key that may be sent now (FIFO, except that a key held back
        by a rule that does not hold the others lets later keys pass: a daily request does
        not wait behind a small one). The key leaves the queue and is recorded as sent at
        ``now``: do not call :meth:`sent` for it again."""
        if not self._queue or self._open.total() >= self._max_open:
            return None
        for key in self._queue:
            if self._key_wait(key, now) <= 0:
                self._queue.remove(key)
                self.sent(key, now)
                return key
        return None

    def next_wait(self, now: float) -> float | None:
        """Seconds until :meth:`next_ready` can return a key (None: nothing waits;
        ``math.inf``: 50 requests are open). For the session's timer."""
        if not self._queue:
            return None
        return min(self.can_send(k, now) for k in self._queue)

    def to_health_fields(self) -> dict[str, Any]:
        """The pacing field of the store's ``Health`` slice."""
        return {"request_queue_depth": len(self._queue)}

    def _weight(self, key: K) -> int:
        """IB counts a BID_ASK request twice against the 10-minute rule."""
        return 2 if isinstance(key, HistoricalKey) and key.what_to_show == "BID_ASK" else 1

    def _series_of(self, key: K) -> tuple[int, str] | None:
        return (key.con_id, key.what_to_show) if isinstance(key, HistoricalKey) else None

    def _prune(self, now: float) -> None:
        cut = bisect.bisect_right(self._sent_times, now - self._window)
        if cut:
            del self._sent_times[:cut]
        stale = [k for k, t in self._last_sent.items() if t <= now - self._gap]
        for k in stale:
            del self._last_sent[k]
        for series in [s for s, ts in self._series.items() if ts[-1] <= now - self._burst_s]:
            del self._series[series]
        for k in [k for k, t in self._held.items() if t <= now]:
            del self._held[k]

    def _key_wait(self, key: K, now: float) -> float:
        self._prune(now)
        held = max(0.0, self._held.get(key, now) - now)
        if not self.paced(key):
            return held
        return max(held, self._window_wait(key, now), self._identical_wait(key, now),
                   self._series_wait(key, now))  # fmt: skip

    def _window_wait(self, key: K, now: float) -> float:
        # room for this request's slots once the oldest ones have left the window (a
        # window smaller than the weight: as many slots as there are, or it never fits)
        n = len(self._sent_times)
        excess = n + min(self._weight(key), self._max_per_window) - self._max_per_window
        if excess <= 0:
            return 0.0
        return max(0.0, self._sent_times[excess - 1] + self._window - now)

    def _identical_wait(self, key: K, now: float) -> float:
        last = self._last_sent.get(key)
        if last is None:
            return 0.0
        return max(0.0, last + self._gap - now)

    def _series_wait(self, key: K, now: float) -> float:
        series = self._series_of(key)
        times = self._series.get(series) if series is not None else None
        if not times:
            return 0.0
        recent = times[bisect.bisect_right(times, now - self._burst_s) :]
        if len(recent) < self._burst_max:
            return 0.0
        return max(0.0, recent[len(recent) - self._burst_max] + self._burst_s - now)


class RequestRate:
    """Messages sent per second, over a sliding ``window_s``, and ib_insync's throttle state.

    The session calls :meth:`record` for each request it sends and wires
    ``ib.client.throttleStart`` / ``throttleEnd`` to :meth:`throttle_start` /
    :meth:`throttle_end`.
    """

    def __init__(self, window_s: float = 1.0, limit: float = MSG_RATE_LIMIT) -> None:
        if not (window_s > 0 and limit > 0):
            raise ValueError("window_s and limit must be > 0")
        self._window = float(window_s)
        self._limit = float(limit)
        self._times: list[float] = []
        self._peak = 0.0
        self._throttled_since: float | None = None
        self._throttle_starts = 0
        self._throttled_total_s = 0.0

    @property
    def limit(self) -> float:
        return self._limit

    @property
    def throttled(self) -> bool:
        return self._throttled_since is not None

    @property
    def throttled_since(self) -> float | None:
        return self._throttled_since

    @property
    def throttle_starts(self) -> int:
        return self._throttle_starts

    @property
    def peak_rate(self) -> float:
        """The highest rate seen at any :meth:`record`, messages per second."""
        return self._peak

    def record(self, now: float, count: int = 1) -> None:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        for _ in range(count):
            bisect.insort(self._times, now)
        self._peak = max(self._peak, self.rate(now))

    def rate(self, now: float) -> float:
        """Messages per second sent in the window ending at ``now`` (half-open: a message
        counts for exactly ``window_s``)."""
        cut = bisect.bisect_right(self._times, now - self._window)
        if cut:
            del self._times[:cut]
        return len(self._times) / self._window

    def utilisation(self, now: float) -> float:
        """rate / limit (1.0 = at IB's limit)."""
        return self.rate(now) / self._limit

    def throttle_start(self, now: float) -> None:
        if self._throttled_since is None:
            self._throttled_since = now
            self._throttle_starts += 1

    def throttle_end(self, now: float) -> None:
        if self._throttled_since is not None:
            self._throttled_total_s += max(0.0, now - self._throttled_since)
            self._throttled_since = None

    def throttled_total_s(self, now: float) -> float:
        """Seconds spent throttled so far, including a throttle still under way."""
        ongoing = 0.0 if self._throttled_since is None else max(0.0, now - self._throttled_since)
        return self._throttled_total_s + ongoing
