"""Historical-data pacing (50 open, identical within 15 s, 60 per 10 minutes) and the
message-rate metric, with injected time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.broker.pacing import HistoricalPacer, RequestRate


def test_identical_request_waits_15_s() -> None:
    p: HistoricalPacer[str] = HistoricalPacer()
    assert p.can_send("AAPL", 100.0) == 0.0
    p.sent("AAPL", 100.0)
    assert p.can_send("AAPL", 105.0) == 10.0
    assert p.can_send("MSFT", 105.0) == 0.0  # a different request is not held back
    assert p.can_send("AAPL", 114.5) == 0.5
    assert p.can_send("AAPL", 115.0) == 0.0  # half-open: allowed again at exactly +15 s


def test_sixty_requests_in_ten_minutes() -> None:
    p: HistoricalPacer[int] = HistoricalPacer()
    for i in range(60):
        p.sent(i, float(i))  # one a second, t = 0..59
        p.done(i)
    assert p.sent_in_window(59.0) == 60
    assert p.can_send(1000, 59.0) == 541.0  # the first (t=0) stops counting at t=600
    assert p.can_send(1000, 599.0) == 1.0
    assert p.can_send(1000, 600.0) == 0.0
    assert p.sent_in_window(600.0) == 59
    p.sent(1000, 600.0)
    assert p.can_send(1001, 600.0) == 1.0  # the t=1 request leaves the window at 601


def test_fifty_open_requests_block_until_one_is_done() -> None:
    p: HistoricalPacer[int] = HistoricalPacer()
    for i in range(50):
        assert p.can_send(i, 0.0) == 0.0
        p.sent(i, 0.0)
    assert p.open_count == 50
    assert p.can_send(99, 0.0) == math.inf
    p.done(7)
    assert (p.open_count, p.can_send(99, 0.0)) == (49, 0.0)
    p.done(7)  # already done: ignored
    p.done(12345)  # unknown: ignored
    assert p.open_count == 49


def test_an_identical_request_may_be_open_twice() -> None:
    p: HistoricalPacer[str] = HistoricalPacer()
    p.sent("SPY", 0.0)
    p.sent("SPY", 20.0)  # e.g. a refresh while the first is still loading
    assert p.open_count == 2
    p.done("SPY")
    assert p.open_count == 1
    p.done("SPY")
    assert p.open_count == 0


def test_the_longest_wait_of_all_rules_applies() -> None:
    p: HistoricalPacer[int] = HistoricalPacer(max_per_window=3)
    p.sent(1, 0.0)
    p.sent(2, 1.0)
    p.sent(3, 2.0)
    assert p.can_send(3, 5.0) == 595.0  # window (595 s) beats identical (12 s)
    q: HistoricalPacer[int] = HistoricalPacer(max_per_window=3)
    q.sent(1, 0.0)
    assert q.can_send(1, 5.0) == 10.0


def test_queue_hands_out_keys_in_order_and_records_them() -> None:
    p: HistoricalPacer[str] = HistoricalPacer()
    assert p.next_ready(0.0) is None
    assert p.next_wait(0.0) is None
    assert p.enqueue("A") and p.enqueue("B") and p.enqueue("C")
    assert p.enqueue("B") is False  # already waiting
    assert p.queue_depth == 3
    assert p.next_ready(0.0) == "A"
    assert (p.open_count, p.queue_depth, p.sent_in_window(0.0)) == (1, 2, 1)
    assert p.next_ready(0.0) == "B"
    assert p.discard("C") and not p.discard("C")
    assert p.next_ready(0.0) is None
    # "A" again: held by the identical rule, so a later key passes it
    p.enqueue("A")
    p.enqueue("D")
    assert p.next_wait(1.0) == 0.0
    assert p.next_ready(1.0) == "D"
    assert p.next_ready(1.0) is None
    assert p.next_wait(1.0) == 14.0
    assert p.next_ready(15.0) == "A"
    assert p.queued_keys == ()


def test_queue_respects_the_window_and_the_open_limit() -> None:
    p: HistoricalPacer[int] = HistoricalPacer(max_open=2, max_per_window=3)
    for k in (1, 2, 3, 4):
        p.enqueue(k)
    assert p.next_ready(0.0) == 1
    assert p.next_ready(0.0) == 2
    assert p.next_ready(0.0) is None  # two open
    assert p.next_wait(0.0) == math.inf
    p.done(1)
    assert p.next_ready(1.0) == 3
    p.done(2)
    p.done(3)
    assert p.next_ready(2.0) is None  # three in the window
    assert p.next_wait(2.0) == 598.0
    assert p.next_ready(600.0) == 4
    assert p.to_health_fields() == {"request_queue_depth": 0}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        HistoricalPacer(max_open=0)
    with pytest.raises(ValueError):
        HistoricalPacer(window_s=0)
    with pytest.raises(ValueError):
        RequestRate(window_s=0)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            # time advance in quarter seconds: exact in binary, so the boundary checks
            # below do the same arithmetic as the pacer
            st.integers(min_value=0, max_value=120).map(lambda q: q / 4),
            st.integers(min_value=0, max_value=4),  # key
            st.booleans(),  # finish the oldest open request
        ),
        max_size=120,
    )
)
def test_following_the_pacer_never_breaks_ibs_rules(
    steps: list[tuple[float, int, bool]],
) -> None:
    p: HistoricalPacer[int] = HistoricalPacer(max_open=3, max_per_window=6, window_s=60.0)
    now = 0.0
    sends: list[tuple[float, int]] = []
    open_keys: list[int] = []
    for dt, key, finish in steps:
        now += dt
        if finish and open_keys:
            p.done(open_keys.pop(0))
        p.enqueue(key)
        while (k := p.next_ready(now)) is not None:
            sends.append((now, k))
            open_keys.append(k)
            assert len(open_keys) <= 3
        wait = p.next_wait(now)
        assert wait is None or wait > 0
    for i, (t, k) in enumerate(sends):
        # no identical request within 15 s
        assert all(t2 - t >= 15.0 for t2, k2 in sends[i + 1 :] if k2 == k)
        # at most 6 in any 60 s window (half-open)
        assert sum(1 for t2, _ in sends if t <= t2 < t + 60.0) <= 6


def test_request_rate_over_a_sliding_second() -> None:
    r = RequestRate()
    for i in range(50):
        r.record(i * 0.02)  # 50 messages in t = 0.00..0.98
    assert r.rate(0.99) == 50.0
    assert r.utilisation(0.99) == 1.0
    assert r.rate(1.0) == 49.0  # the t=0 message stops counting after exactly 1 s
    assert r.rate(2.0) == 0.0
    assert r.peak_rate == 50.0
    r.record(3.0, count=5)
    assert r.rate(3.0) == 5.0
    with pytest.raises(ValueError):
        r.record(3.0, count=-1)


def test_throttle_start_and_end() -> None:
    r = RequestRate()
    assert (r.throttled, r.throttle_starts, r.throttled_since) == (False, 0, None)
    r.throttle_start(10.0)
    r.throttle_start(10.5)  # already throttled: the same episode
    assert (r.throttled, r.throttle_starts, r.throttled_since) == (True, 1, 10.0)
    assert r.throttled_total_s(12.0) == 2.0
    r.throttle_end(13.0)
    r.throttle_end(14.0)  # not throttled: ignored
    assert (r.throttled, r.throttled_total_s(20.0)) == (False, 3.0)
    r.throttle_start(30.0)
    assert (r.throttle_starts, r.throttled_total_s(31.5)) == (2, 4.5)
