"""The market-data line budget: subscribe / LRU eviction / pins / FIFO queue / error 101,
hand-built sequences with exact states, and a hypothesis run of random operation sequences
that checks the invariants after every step."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.broker.lines import (
    LineAction,
    LineBudget,
    LineDecision,
    LineStats,
    LineStatus,
)
from tui_trader.state.store import Health

SUB = LineAction.SUBSCRIBE
EVICT = LineAction.EVICT_THEN_SUBSCRIBE
QUEUED = LineAction.QUEUED
ALREADY = LineAction.ALREADY


def full_budget(n: int, pinned: Collection[int] = ()) -> LineBudget[int]:
    """A budget of n lines holding keys 1..n, requested at t = 1..n (key 1 is the LRU)."""
    b: LineBudget[int] = LineBudget(n)
    for k in range(1, n + 1):
        d = b.request(k, float(k), pin="position" if k in pinned else None)
        assert d == LineDecision(SUB, k)
    return b


def test_rejects_a_budget_below_one_line() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_lines"):
            LineBudget(bad)


def test_subscribes_while_lines_are_free_then_evicts_the_least_recently_used() -> None:
    b = full_budget(3)
    assert (b.active, b.max, b.evictions, b.queued) == (3, 3, 0, 0)
    assert b.request(4, 4.0) == LineDecision(EVICT, 4, evicted=1)
    assert b.request(5, 5.0) == LineDecision(EVICT, 5, evicted=2)
    assert (b.active, b.evictions) == (3, 2)
    assert b.status(1) is LineStatus.NONE
    assert b.status(5) is LineStatus.ACTIVE


def test_touch_and_already_refresh_the_lru_position() -> None:
    b = full_budget(3)
    assert b.touch(1, 10.0) is True  # 1 is now the most recent; 2 the least
    assert b.request(4, 11.0) == LineDecision(EVICT, 4, evicted=2)
    assert b.request(3, 12.0) == LineDecision(ALREADY, 3)  # refreshes 3
    assert b.request(5, 13.0) == LineDecision(EVICT, 5, evicted=1)
    assert b.request(6, 14.0) == LineDecision(EVICT, 6, evicted=4)
    assert b.evictions == 3
    assert b.touch(99, 15.0) is False  # touching never subscribes
    assert b.status(99) is LineStatus.NONE
    assert b.idle_s(3, 20.0) == 8.0
    assert b.idle_s(99, 20.0) is None


def test_a_pinned_line_is_never_evicted() -> None:
    b = full_budget(3, pinned={1, 2})
    assert b.request(4, 4.0) == LineDecision(EVICT, 4, evicted=3)
    assert b.request(5, 5.0) == LineDecision(EVICT, 5, evicted=4)
    assert sorted(b.active_keys()) == [1, 2, 5]
    assert b.evictions == 2


def test_pins_are_counted_by_reason() -> None:
    b = full_budget(2)
    b.pin(1, "position")
    b.pin(1, "order")
    b.pin(1, "order")  # the same reason twice is one reason
    assert b.pin_reasons(1) == {"position", "order"}
    assert b.unpin(1, "order", 3.0) == []
    assert b.is_pinned(1)
    assert b.request(3, 4.0) == LineDecision(EVICT, 3, evicted=2)
    assert b.unpin(1, "nonsense", 5.0) == []
    assert b.is_pinned(1)
    assert b.unpin(1, "position", 6.0) == []
    assert not b.is_pinned(1)
    assert b.request(4, 7.0) == LineDecision(EVICT, 4, evicted=1)


def test_a_pin_set_before_the_request_holds_and_survives_a_release() -> None:
    b: LineBudget[int] = LineBudget(1)
    b.pin(7, "preview")
    assert b.request(7, 1.0) == LineDecision(SUB, 7)
    assert b.request(8, 2.0) == LineDecision(QUEUED, 8, queue_position=1)
    assert b.release(7, 3.0) == [8]
    assert b.is_pinned(7)  # the pin belongs to whoever set it
    assert b.request(7, 4.0) == LineDecision(EVICT, 7, evicted=8)


def test_everything_pinned_queues_fifo_and_a_freed_line_goes_to_the_head() -> None:
    b = full_budget(2, pinned={1, 2})
    assert b.request(10, 3.0) == LineDecision(QUEUED, 10, queue_position=1)
    assert b.request(11, 4.0, pin="order") == LineDecision(QUEUED, 11, queue_position=2)
    assert b.request(12, 5.0) == LineDecision(QUEUED, 12, queue_position=3)
    assert b.request(10, 6.0) == LineDecision(QUEUED, 10, queue_position=1)  # no duplicate
    assert (b.queued, b.queued_keys) == (3, (10, 11, 12))
    assert b.status(11) is LineStatus.QUEUED
    assert b.evictions == 0
    # Unpinning 1 while keys wait replays the queue as deferred requests: 10 takes 1's
    # line, then 11 (the next head) takes the LRU unpinned line, which is 10's. The
    # session is only told to cancel 1 and subscribe 11; 12 waits (1 and 11 are pinned).
    assert b.unpin(1, "position", 7.0) == [LineDecision(EVICT, 11, evicted=1)]
    assert b.queued_keys == (12,)
    assert (b.status(1), b.status(10), b.status(11)) == (
        LineStatus.NONE,
        LineStatus.NONE,
        LineStatus.ACTIVE,
    )
    assert b.evictions == 2  # 1 for 10, then 10 for 11
    assert b.release(2, 8.0) == [12]
    assert b.queued_keys == ()
    assert sorted(b.active_keys()) == [11, 12]
    assert b.evictions == 2


def test_unpin_while_keys_wait_returns_the_eviction_for_the_head() -> None:
    b = full_budget(2, pinned={1, 2})
    b.request(10, 3.0, pin="order")
    b.request(11, 4.0)
    assert b.unpin(2, "position", 5.0) == [LineDecision(EVICT, 10, evicted=2)]
    assert b.queued_keys == (11,)  # 1 and 10 are pinned: 11 keeps waiting
    assert b.evictions == 1


def test_a_replay_never_subscribes_a_key_only_to_cancel_it() -> None:
    b = full_budget(2, pinned={1, 2})
    for k in (10, 11, 12):
        b.request(k, float(k))
    # One freed line, three unpinned keys waiting: replaying them as requests, 11 would
    # evict 10 and 12 would evict 11; the session only has to subscribe 12.
    assert b.release(1, 20.0) == [12]
    assert b.queued_keys == ()
    assert b.evictions == 2
    assert sorted(b.active_keys()) == [2, 12]


def test_new_requests_do_not_jump_the_queue() -> None:
    b = full_budget(1, pinned={1})
    assert b.request(2, 2.0) == LineDecision(QUEUED, 2, queue_position=1)
    # pinned, but it still waits behind 2
    assert b.request(3, 3.0, pin="position") == LineDecision(QUEUED, 3, queue_position=2)
    # the freed line goes to 2, then 3 (a deferred request) evicts 2, the LRU unpinned
    # line: the session only subscribes 3
    assert b.release(1, 4.0) == [3]
    assert b.status(2) is LineStatus.NONE
    assert b.evictions == 1


def test_release_of_a_queued_or_unknown_key() -> None:
    b = full_budget(1, pinned={1})
    b.request(2, 2.0)
    b.request(3, 3.0)
    assert b.release(2, 4.0) == []
    assert b.queued_keys == (3,)
    assert b.release(42, 5.0) == []
    assert (b.active, b.queued) == (1, 1)


def test_error_101_shrinks_to_what_ib_granted_and_requeues_the_refused_key() -> None:
    b: LineBudget[int] = LineBudget(90)
    for k in range(1, 6):
        b.request(k, float(k))
    shrink = b.on_error_101(6.0, key=5)
    assert (shrink.previous_max, shrink.new_max, shrink.refused) == (90, 4, 5)
    assert shrink.starved is False
    # 5 was the most recent request: replayed, it evicts the LRU unpinned line (1), which
    # frees a line IB really granted, so the retry fits.
    assert shrink.decisions == (LineDecision(EVICT, 5, evicted=1),)
    assert (b.active, b.max, b.configured_max, b.shrinks, b.evictions) == (4, 4, 90, 1, 1)
    assert sorted(b.active_keys()) == [2, 3, 4, 5]
    # the shrink is remembered
    assert b.request(6, 7.0) == LineDecision(EVICT, 6, evicted=2)
    assert b.active == 4


def test_error_101_with_every_line_pinned_queues_the_refused_key() -> None:
    b: LineBudget[int] = LineBudget(90)
    for k in range(1, 5):
        b.request(k, float(k), pin="position")
    b.request(5, 5.0)
    shrink = b.on_error_101(6.0, key=5)
    assert shrink.new_max == 4
    assert shrink.decisions == ()
    assert b.queued_keys == (5,)
    assert b.evictions == 0
    assert b.restore_max(7.0) == [LineDecision(SUB, 5)]
    assert (b.active, b.max, b.queued) == (5, 90, 0)


def test_error_101_for_a_request_that_was_not_ours_caps_at_the_lines_we_hold() -> None:
    b: LineBudget[int] = LineBudget(90)
    for k in range(1, 4):
        b.request(k, float(k))
    shrink = b.on_error_101(4.0, key=None)
    assert (shrink.new_max, shrink.refused, shrink.decisions) == (3, None, ())
    assert (b.active, b.shrinks) == (3, 1)
    b.on_error_101(5.0, key=77)  # unknown key, already at the cap: nothing shrinks
    assert (b.max, b.shrinks) == (3, 1)


def test_error_101_with_no_line_granted_starves_until_restore() -> None:
    b: LineBudget[int] = LineBudget(90)
    b.request(1, 1.0)
    shrink = b.on_error_101(2.0, key=1)
    # never below one line, but nothing is resent into a line IB just refused
    assert (shrink.new_max, shrink.refused, shrink.starved, shrink.decisions) == (
        1,
        1,
        True,
        (),
    )
    assert b.request(2, 3.0) == LineDecision(QUEUED, 2, queue_position=2)
    assert b.release(2, 4.0) == []
    assert b.request(2, 5.0) == LineDecision(QUEUED, 2, queue_position=2)
    assert (b.active, b.queued) == (0, 2)
    assert b.restore_max(6.0) == [LineDecision(SUB, 1), LineDecision(SUB, 2)]
    assert (b.active, b.max, b.starved) == (2, 90, False)


def test_all_keys_and_active_keys_in_priority_order() -> None:
    b: LineBudget[int] = LineBudget(4)
    b.request(1, 1.0)
    b.request(2, 2.0, pin="position")
    b.request(3, 3.0)
    b.request(4, 4.0, pin="order")
    b.touch(1, 5.0)
    assert b.active_keys() == [4, 2, 1, 3]  # pinned (MRU first), then unpinned (MRU first)
    b.pin(1, "order")
    b.pin(3, "order")
    b.request(5, 6.0)
    b.request(6, 7.0, pin="preview")
    assert b.queued_keys == (5, 6)
    assert b.all_keys() == [1, 4, 3, 2, 6, 5]
    # replaying all_keys into a fresh budget of the same size gives the same lines and queue
    fresh: LineBudget[int] = LineBudget(4)
    for k in (1, 2, 3, 4, 6):
        fresh.pin(k, "x")
    for k in b.all_keys():
        fresh.request(k, 10.0)
    assert set(fresh.active_keys()) == set(b.active_keys())
    assert set(fresh.queued_keys) == set(b.queued_keys)


def test_snapshot_feeds_the_health_slice() -> None:
    b = full_budget(2, pinned={1})
    b.request(3, 3.0)
    stats = b.snapshot()
    assert stats == LineStats(
        active=2,
        max=2,
        configured_max=2,
        evictions=1,
        queued=0,
        queued_keys=(),
        pinned_active=1,
        shrinks=0,
        starved=False,
    )
    health_fields = stats.to_health_fields()
    assert health_fields == {
        "lines_active": 2,
        "lines_max": 2,
        "line_evictions": 1,
        "lines_queued": 0,
    }
    assert set(health_fields) <= {f.name for f in fields(Health)}
    assert Health(**health_fields).lines_active == 2


# -- random operation sequences --------------------------------------------------------------

KEYS = st.integers(min_value=0, max_value=5)
REASONS = st.sampled_from(["position", "order"])
OPS = st.one_of(
    st.tuples(st.just("request"), KEYS, st.one_of(st.none(), REASONS)),
    st.tuples(st.just("request"), KEYS, REASONS),  # pinned requests fill the lines faster
    st.tuples(st.just("touch"), KEYS, st.none()),
    st.tuples(st.just("pin"), KEYS, REASONS),
    st.tuples(st.just("unpin"), KEYS, REASONS),
    st.tuples(st.just("release"), KEYS, st.none()),
    st.tuples(st.just("e101"), st.one_of(st.none(), KEYS), st.none()),
    st.tuples(st.just("restore"), st.none(), st.none()),
)


@settings(max_examples=400, deadline=None)
@given(max_lines=st.integers(min_value=1, max_value=3), ops=st.lists(OPS, max_size=40))
def test_invariants_hold_for_any_sequence(
    max_lines: int, ops: list[tuple[str, int | None, str | None]]
) -> None:
    b: LineBudget[int] = LineBudget(max_lines)
    pins: dict[int, set[str]] = {}
    live: set[int] = set()  # the session's mirror: what it has subscribed at IB
    evictions = 0
    for step, (op, key, arg) in enumerate(ops):
        now = float(step)
        before_active = set(b.active_keys())
        before_queue = list(b.queued_keys)
        decisions: list[LineDecision[int]] = []
        released: int | None = None
        refused: int | None = None
        if op == "request":
            assert key is not None
            if arg is not None:
                pins.setdefault(key, set()).add(arg)
            decisions = [b.request(key, now, pin=arg)]
        elif op == "touch":
            assert key is not None
            assert b.touch(key, now) is (key in before_active)
        elif op == "pin":
            assert key is not None and arg is not None
            pins.setdefault(key, set()).add(arg)
            b.pin(key, arg)
        elif op == "unpin":
            assert key is not None and arg is not None
            pins.get(key, set()).discard(arg)
            decisions = b.unpin(key, arg, now)
        elif op == "release":
            assert key is not None
            released = key
            promoted = b.release(key, now)
            decisions = [LineDecision(SUB, k) for k in promoted]
            live.discard(key)
        elif op == "e101":
            shrink = b.on_error_101(now, key=key)
            refused = shrink.refused
            assert shrink.new_max == max(1, len(before_active) - (refused is not None))
            if refused is not None:
                live.discard(refused)
            decisions = list(shrink.decisions)
        else:
            decisions = b.restore_max(now)
            assert b.max == max_lines

        # the session applies the decisions; its mirror must match the budget exactly
        for d in decisions:
            if d.action is EVICT:
                assert d.evicted is not None
                assert d.evicted in live
                live.discard(d.evicted)
            if d.action in (SUB, EVICT):
                assert d.key not in live
                live.add(d.key)
        active = set(b.active_keys())
        queue = list(b.queued_keys)
        assert live == active

        # pins are reason-counted sets
        for k in range(6):
            assert b.is_pinned(k) == bool(pins.get(k))

        # active <= max; no key both active and queued; no duplicates in the queue
        assert b.active <= b.max
        assert not (active & set(queue))
        assert len(queue) == len(set(queue))
        # while keys wait, every line is taken and pinned (or the budget is starved)
        if queue and not b.starved:
            assert b.active == b.max
            assert all(b.is_pinned(k) for k in active)

        # evictions counted exactly; a pinned key is never evicted
        requested = {key} if op == "request" and key is not None else set()
        vanished = (before_active | set(before_queue) | requested) - active - set(queue)
        vanished -= {released} if released is not None else set()
        for k in vanished:
            assert not b.is_pinned(k)
        evictions += len(vanished)
        assert b.evictions == evictions

        # FIFO: those still waiting keep their order; those that left did so from the head
        old = [k for k in before_queue if k != released]
        kept = [k for k in old if k in queue]
        assert queue[: len(kept)] == kept
        gone = [k for k in old if k not in queue]
        assert old[: len(gone)] == gone

        assert b.snapshot().active == b.active
