"""Request pacing: IB's historical-data rules and the general message-rate metric.

Time is a float in seconds from a monotonic clock, always passed in; nothing here sleeps.

Historical data (IB's "pacing violations", error 162 when broken):

- at most 50 historical requests open at once;
- no identical request within 15 s;
- at most 60 requests in any 10-minute window.

IB states the last two for bars of 30 s or less only; they are applied to *every* request
here, because a false pacing violation costs a 10-minute penalty box while waiting a few
seconds costs nothing. Boundaries are half-open: a request counts against a rule for exactly
15 s / 600 s after it was sent, so at +15.0 s an identical request is allowed again.
IB's "six or more requests for the same contract, exchange and tick type within two
seconds" rule is not modelled (it needs the contract part of a key; the 15 s rule already
spaces out the repeated requests this app makes).

The general limit of 50 messages a second is enforced by ib_insync itself (it throttles
and raises ``throttleStart`` / ``throttleEnd``); :class:`RequestRate` only measures, for
the health bar.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Hashable
from typing import Any

HIST_MAX_OPEN = 50
HIST_IDENTICAL_GAP_S = 15.0
HIST_WINDOW_S = 600.0
HIST_MAX_PER_WINDOW = 60

MSG_RATE_LIMIT = 50.0  # messages per second, IB's socket limit (error 100 beyond it)


class HistoricalPacer[K: Hashable]:
    """When a historical request may be sent. ``K`` is whatever identifies a request
    completely (contract, end time, duration, bar size, what-to-show, RTH flag): two equal
    keys are "identical requests" in IB's sense.

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
    ) -> None:
        if max_open < 1 or max_per_window < 1:
            raise ValueError("max_open and max_per_window must be >= 1")
        if not (identical_gap_s >= 0 and window_s > 0):
            raise ValueError("identical_gap_s must be >= 0 and window_s > 0")
        self._max_open = max_open
        self._gap = float(identical_gap_s)
        self._window = float(window_s)
        self._max_per_window = max_per_window
        self._open: Counter[K] = Counter()
        self._sent_times: list[float] = []  # sorted; pruned to the window
        self._last_sent: dict[K, float] = {}
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
        """Requests that still count against the 10-minute rule at ``now``."""
        self._prune(now)
        return len(self._sent_times)

    def can_send(self, key: K, now: float) -> float:
        """Seconds to wait before ``key`` may be sent: 0.0 = now; ``math.inf`` = only once
        an open request is :meth:`done` (the 50-open rule has no clock)."""
        if self._open.total() >= self._max_open:
            return math.inf
        return max(self._global_wait(now), self._identical_wait(key, now))

    def sent(self, key: K, now: float) -> None:
        """Record a request as sent (also when it was sent against the advice)."""
        self._prune(now)
        bisect.insort(self._sent_times, now)
        self._last_sent[key] = max(now, self._last_sent.get(key, -math.inf))
        self._open[key] += 1

    def done(self, key: K) -> None:
        """The request's answer (or error) arrived: it is no longer open. Unknown: ignored."""
        if self._open[key] > 0:
            self._open[key] -= 1
        if self._open[key] <= 0:
            del self._open[key]

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
        only by the 15 s identical rule lets later keys pass). The key leaves the queue and
        is recorded as sent at ``now``: do not call :meth:`sent` for it again."""
        if not self._queue or self._open.total() >= self._max_open:
            return None
        if self._global_wait(now) > 0:
            return None
        for key in self._queue:
            if self._identical_wait(key, now) <= 0:
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

    def _prune(self, now: float) -> None:
        cut = bisect.bisect_right(self._sent_times, now - self._window)
        if cut:
            del self._sent_times[:cut]
        stale = [k for k, t in self._last_sent.items() if t <= now - self._gap]
        for k in stale:
            del self._last_sent[k]

    def _global_wait(self, now: float) -> float:
        self._prune(now)
        n = len(self._sent_times)
        if n < self._max_per_window:
            return 0.0
        return max(0.0, self._sent_times[n - self._max_per_window] + self._window - now)

    def _identical_wait(self, key: K, now: float) -> float:
        last = self._last_sent.get(key)
        if last is None:
            return 0.0
        return max(0.0, last + self._gap - now)


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
