"""The market-data line budget: which contracts hold one of IB's streaming lines.

IB grants 100 simultaneous market-data lines by default; one more is refused with error 101
("max number of tickers reached"). ``[connection] max_lines`` [90] leaves headroom for TWS
itself and for snapshots. This module only *decides*: the session turns each
:class:`LineDecision` into ``reqMktData`` / ``cancelMktData`` calls. Keys are opaque
hashables (conIds in practice).

Decisions:

- **Pins are counted by reason** ("leg of an open position", "working order", "preview"):
  a key is pinned while any reason holds, so two owners can pin the same leg and the first
  to unpin does not unpin it for the other. A pin may be set before the key is requested and
  survives a release: it belongs to whoever set it, who must lift it.
- **Eviction is least-recently-used among unpinned lines.** Recency is the order of
  :meth:`~LineBudget.request` / :meth:`~LineBudget.touch` calls (``now`` is recorded for
  :meth:`~LineBudget.idle_s`; with a monotonic clock the two orders are the same). A pinned
  key is never evicted.
- **The queue holds requests that found every line pinned.** A queued request is a deferred
  ``request()``: the moment one could succeed (a line released, a pin lifted, the budget
  restored) the queue is replayed head first, exactly as if each key were requested then,
  so a queued key may take a free line or evict the least-recently-used unpinned line. The
  invariant this keeps: *while the queue is not empty every line is taken and every taken
  line is pinned* (or the budget is starved, below). New requests never jump the queue.
- A replay never makes the session subscribe a key only to cancel it again: when a later
  queued key would evict one promoted earlier in the same replay, the earlier one is
  dropped without ever being subscribed (it still counts as an eviction) and the later one
  inherits its decision.
- **Error 101** means IB's real limit is below ours (other clients use lines too). The key
  IB refused leaves the lines, the budget shrinks to what IB did grant (``active - 1``,
  never below 1) and stays shrunk until :meth:`~LineBudget.restore_max`; the refused key
  joins the queue and is replayed like any other (possibly evicting an unpinned line, which
  frees a line IB really granted, so no retry loop). If IB granted no line at all the budget
  is *starved*: everything queues and nothing is replayed until ``restore_max`` (resending
  into a line IB just refused would loop request -> 101 -> request over the socket).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, KeysView
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class LineAction(StrEnum):
    SUBSCRIBE = "SUBSCRIBE"  # a free line: reqMktData(key)
    EVICT_THEN_SUBSCRIBE = "EVICT_THEN_SUBSCRIBE"  # cancelMktData(evicted); reqMktData(key)
    QUEUED = "QUEUED"  # every line is pinned: wait (visible) for one
    ALREADY = "ALREADY"  # already streaming: nothing to send


class LineStatus(StrEnum):
    ACTIVE = "ACTIVE"
    QUEUED = "QUEUED"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class LineDecision[K: Hashable]:
    """What the session must do for ``key``. ``queue_position`` is 1-based (1 = next),
    set only for QUEUED; ``evicted`` only for EVICT_THEN_SUBSCRIBE."""

    action: LineAction
    key: K
    evicted: K | None = None
    queue_position: int | None = None


@dataclass(frozen=True, slots=True)
class LineShrink[K: Hashable]:
    """The outcome of error 101.

    ``refused``: the key IB did not grant (removed from the lines and queued; None when the
    refused request was not one of ours). ``decisions``: the replay that followed (the
    refused key may take an unpinned line at once; carry out evictions as usual).
    """

    previous_max: int
    new_max: int
    refused: K | None
    starved: bool
    decisions: tuple[LineDecision[K], ...]


@dataclass(frozen=True, slots=True)
class LineStats[K: Hashable]:
    """A value for the store (compares by value, so an unchanged budget does not notify)."""

    active: int
    max: int
    configured_max: int
    evictions: int
    queued: int
    queued_keys: tuple[K, ...]
    pinned_active: int
    shrinks: int
    starved: bool

    def to_health_fields(self) -> dict[str, Any]:
        """The line fields of the store's ``Health`` slice."""
        return {
            "lines_active": self.active,
            "lines_max": self.max,
            "line_evictions": self.evictions,
            "lines_queued": self.queued,
        }


class LineBudget[K: Hashable]:
    """The line budget; see the module doc for the rules."""

    def __init__(self, max_lines: int) -> None:
        if isinstance(max_lines, bool) or not isinstance(max_lines, int) or max_lines < 1:
            raise ValueError(f"max_lines must be an integer >= 1, got {max_lines!r}")
        self._configured = max_lines
        self._max = max_lines
        self._active: OrderedDict[K, float] = OrderedDict()  # LRU first; value: last used
        self._queue: deque[K] = deque()
        self._pins: dict[K, set[str]] = {}
        self._evictions = 0
        self._shrinks = 0
        self._starved = False

    # -- reading ---------------------------------------------------------------------------

    @property
    def active(self) -> int:
        return len(self._active)

    @property
    def max(self) -> int:
        """The effective budget: ``max_lines``, or less after error 101."""
        return self._max

    @property
    def configured_max(self) -> int:
        return self._configured

    @property
    def evictions(self) -> int:
        return self._evictions

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def queued_keys(self) -> tuple[K, ...]:
        """FIFO order: the head gets the next line."""
        return tuple(self._queue)

    @property
    def starved(self) -> bool:
        return self._starved

    @property
    def shrinks(self) -> int:
        """How many times error 101 shrank the budget since construction."""
        return self._shrinks

    def status(self, key: K) -> LineStatus:
        if key in self._active:
            return LineStatus.ACTIVE
        if key in self._queue:
            return LineStatus.QUEUED
        return LineStatus.NONE

    def is_pinned(self, key: K) -> bool:
        return bool(self._pins.get(key))

    def pin_reasons(self, key: K) -> frozenset[str]:
        return frozenset(self._pins.get(key, ()))

    def idle_s(self, key: K, now: float) -> float | None:
        """Seconds since the key was last requested or touched (None: not active)."""
        last = self._active.get(key)
        return None if last is None else now - last

    def held_keys(self) -> KeysView[K]:
        """Every streaming key, in no particular order: for sums and ages over the lines,
        read on every snapshot's end (:meth:`active_keys` sorts by pin and use)."""
        return self._active.keys()

    def active_keys(self) -> list[K]:
        """Every streaming key, pinned first, then most recently used first: the order to
        re-request them in after IB lost the data (1101) while the budget stays as it is."""
        mru = list(reversed(self._active))
        return [k for k in mru if self.is_pinned(k)] + [k for k in mru if not self.is_pinned(k)]

    def all_keys(self) -> list[K]:
        """Every key that holds or waits for a line, in priority order: pinned before
        unpinned; within each, streaming (most recently used first) before queued (FIFO).
        Requesting them in this order into a fresh budget of the same size (with the same
        pins) gives the same lines and the same queued keys, the pinned ones now first."""
        mru = list(reversed(self._active))
        pinned = [k for k in mru if self.is_pinned(k)]
        pinned += [k for k in self._queue if self.is_pinned(k)]
        unpinned = [k for k in mru if not self.is_pinned(k)]
        unpinned += [k for k in self._queue if not self.is_pinned(k)]
        return pinned + unpinned

    def snapshot(self) -> LineStats[K]:
        return LineStats(
            active=len(self._active),
            max=self._max,
            configured_max=self._configured,
            evictions=self._evictions,
            queued=len(self._queue),
            queued_keys=tuple(self._queue),
            pinned_active=sum(1 for k in self._active if self.is_pinned(k)),
            shrinks=self._shrinks,
            starved=self._starved,
        )

    # -- changing --------------------------------------------------------------------------

    def request(self, key: K, now: float, *, pin: str | None = None) -> LineDecision[K]:
        """A consumer wants ``key`` streaming. ``pin``: a reason to pin it under first
        (the same as :meth:`pin`), so a must-have key can be requested in one call."""
        if pin is not None:
            self.pin(key, pin)
        if key in self._active:
            self._use(key, now)
            return LineDecision(LineAction.ALREADY, key)
        if key in self._queue:
            return self._queued(key)
        if self._queue or self._starved:
            self._queue.append(key)
            return self._queued(key)
        return self._place(key, now)

    def touch(self, key: K, now: float) -> bool:
        """A consumer looked at ``key``: it becomes the most recently used. False when the
        key holds no line (touching never subscribes)."""
        if key not in self._active:
            return False
        self._use(key, now)
        return True

    def pin(self, key: K, reason: str) -> None:
        self._pins.setdefault(key, set()).add(reason)

    def unpin(self, key: K, reason: str, now: float) -> list[LineDecision[K]]:
        """Lift one pin reason. When the key becomes unpinned while others wait, the queue
        is replayed (its line may go to the queue head): carry out the decisions."""
        reasons = self._pins.get(key)
        if reasons is None or reason not in reasons:
            return []
        reasons.discard(reason)
        if reasons:
            return []
        del self._pins[key]
        if key in self._active:
            return self._serve(now)
        return []

    def release(self, key: K, now: float) -> list[K]:
        """The consumer no longer wants ``key``: its line (or its queue place) is freed.

        Returns the keys promoted from the queue into the freed line (each to be
        subscribed). A freed line can only go to the queue head: every other line is
        pinned while keys wait, so a release never evicts anything the session must cancel.
        """
        if key in self._queue:
            self._queue.remove(key)
            return []
        if key not in self._active:
            return []
        del self._active[key]
        decisions = self._serve(now)
        assert all(d.action is LineAction.SUBSCRIBE for d in decisions)
        return [d.key for d in decisions]

    def on_error_101(self, now: float, key: K | None = None) -> LineShrink[K]:
        """IB refused a line ("max number of tickers reached") for ``key`` (find it from the
        error's reqId; None when unknown). See the module doc."""
        previous = self._max
        refused: K | None = None
        if key is not None and key in self._active:
            del self._active[key]
            refused = key
            granted = len(self._active)
        else:
            granted = len(self._active)  # the refused request was not ours: none to drop
        self._max = max(1, granted)
        if self._max < previous:
            self._shrinks += 1
        if granted == 0:
            self._starved = True
        if refused is not None:
            self._queue.append(refused)
        decisions = self._serve(now)
        return LineShrink(previous, self._max, refused, self._starved, tuple(decisions))

    def restore_max(self, now: float) -> list[LineDecision[K]]:
        """Back to ``max_lines`` after a shrink (after a reconnect, or when the user freed
        lines elsewhere); ends starvation and replays the queue into the regained room."""
        self._max = self._configured
        self._starved = False
        return self._serve(now)

    # -- internals -------------------------------------------------------------------------

    def _use(self, key: K, now: float) -> None:
        self._active[key] = now
        self._active.move_to_end(key)

    def _queued(self, key: K) -> LineDecision[K]:
        return LineDecision(LineAction.QUEUED, key, queue_position=self._queue.index(key) + 1)

    def _lru_unpinned(self) -> K | None:
        for k in self._active:
            if not self.is_pinned(k):
                return k
        return None

    def _place(self, key: K, now: float) -> LineDecision[K]:
        if len(self._active) < self._max:
            self._use(key, now)
            return LineDecision(LineAction.SUBSCRIBE, key)
        victim = self._lru_unpinned()
        if victim is None:
            self._queue.append(key)
            return self._queued(key)
        del self._active[victim]
        self._evictions += 1
        self._use(key, now)
        return LineDecision(LineAction.EVICT_THEN_SUBSCRIBE, key, evicted=victim)

    def _serve(self, now: float) -> list[LineDecision[K]]:
        """Replay the queue head first while a request could succeed (module doc)."""
        if self._starved:
            return []
        decisions: list[LineDecision[K] | None] = []
        promoted: dict[K, int] = {}  # promoted in this replay -> index in decisions
        while self._queue:
            head = self._queue[0]
            if len(self._active) < self._max:
                decision: LineDecision[K] = LineDecision(LineAction.SUBSCRIBE, head)
            else:
                victim = self._lru_unpinned()
                if victim is None:
                    break
                del self._active[victim]
                self._evictions += 1
                if victim in promoted:
                    index = promoted.pop(victim)
                    earlier = decisions[index]
                    assert earlier is not None
                    decisions[index] = None  # never subscribed: nothing for the session
                    decision = LineDecision(earlier.action, head, evicted=earlier.evicted)
                else:
                    decision = LineDecision(LineAction.EVICT_THEN_SUBSCRIBE, head, victim)
            self._queue.popleft()
            self._use(head, now)
            promoted[head] = len(decisions)
            decisions.append(decision)
        return [d for d in decisions if d is not None]
