"""Historical-data pacing (50 open; for bars of 30 s or less: identical within 15 s, six
for one contract in 2 s, 60 per 10 minutes) and the message-rate metric, injected time."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tui_trader.broker.pacing import (
    HistoricalKey,
    HistoricalPacer,
    RequestRate,
    bar_size_seconds,
    is_small_bar,
)


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


# ------------------------------------------------------- IB's rules by bar size


def hk(
    con_id: int, bar_size: str = "1 day", what: str = "TRADES", duration: str = "2 Y"
) -> HistoricalKey:
    return HistoricalKey(con_id, "", duration, bar_size, what, True)


def test_bar_sizes_in_seconds() -> None:
    assert bar_size_seconds("1 secs") == 1.0
    assert bar_size_seconds("30 secs") == 30.0
    assert bar_size_seconds("1 min") == 60.0 and bar_size_seconds("2 mins") == 120.0
    assert bar_size_seconds("1 hour") == 3600.0 and bar_size_seconds("8 hours") == 28800.0
    assert bar_size_seconds("1 day") == 86400.0
    assert bar_size_seconds("1 week") == bar_size_seconds("1W") == 7 * 86400.0
    assert bar_size_seconds("1 month") == bar_size_seconds("1M") == 30 * 86400.0
    assert bar_size_seconds("fortnightly") is None
    sizes = ("1 secs", "30 secs", "1 min", "1 day", "??")
    # an unknown size is paced, to be safe
    assert [is_small_bar(s) for s in sizes] == [True, True, False, False, True]


def test_daily_bars_are_held_by_neither_the_window_nor_the_identical_rule() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer()
    for i in range(500):
        assert p.can_send(hk(i), 0.0) == 0.0
        p.sent(hk(i), 0.0)
        p.done(hk(i))
    assert p.can_send(hk(0), 0.0) == 0.0  # identical, same instant: IB does not mind
    assert p.sent_in_window(0.0) == 0  # daily requests do not use the small-bar budget
    assert p.can_send(hk(1, "30 secs"), 0.0) == 0.0
    # but at most 50 open at once, whatever the bar size
    for i in range(50):
        p.sent(hk(i), 1.0)
    assert p.can_send(hk(999), 1.0) == math.inf


def test_small_bars_still_respect_sixty_in_ten_minutes() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer()
    for i in range(60):
        key = hk(i, "30 secs", duration="1800 S")
        assert p.can_send(key, float(i)) == 0.0
        p.sent(key, float(i))
        p.done(key)
    assert p.sent_in_window(59.0) == 60
    assert p.can_send(hk(100, "5 secs", duration="1800 S"), 59.0) == 541.0
    assert p.can_send(hk(0, "30 secs", duration="1800 S"), 10.0) == 590.0  # both rules
    assert p.can_send(hk(100, "1 min", duration="1 D"), 59.0) == 0.0  # > 30 s: not small
    assert p.can_send(hk(100, "1 day"), 59.0) == 0.0
    assert p.can_send(hk(100, "30 secs", duration="1800 S"), 600.0) == 0.0


def test_small_identical_request_waits_15_s_daily_does_not() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer()
    small = hk(1, "10 secs", duration="3600 S")
    p.sent(small, 0.0)
    p.sent(hk(1), 0.0)
    assert p.can_send(small, 5.0) == 10.0
    assert p.can_send(hk(1), 5.0) == 0.0


def test_six_small_requests_for_one_contract_within_two_seconds() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer()
    for n in range(5):  # five different requests (durations) for the same contract
        key = hk(7, "1 secs", duration=f"{60 + n} S")
        assert p.can_send(key, 0.5 * n) == 0.0
        p.sent(key, 0.5 * n)  # t = 0.0, 0.5, 1.0, 1.5, 2.0
    sixth = hk(7, "1 secs", duration="99 S")
    assert p.can_send(sixth, 2.0) == 0.0  # the t=0 one left the two seconds at t=2
    p.sent(sixth, 2.0)
    assert p.can_send(hk(7, "1 secs", duration="98 S"), 2.0) == 0.5
    assert p.can_send(hk(7, "1 secs", duration="98 S", what="MIDPOINT"), 2.0) == 0.0
    assert p.can_send(hk(8, "1 secs", duration="98 S"), 2.0) == 0.0


def test_small_bid_ask_requests_count_twice() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer()
    for i in range(29):
        p.sent(hk(i, "30 secs", what="BID_ASK", duration="1800 S"), float(i))
    assert p.sent_in_window(29.0) == 58
    p.sent(hk(99, "30 secs", duration="1800 S"), 29.0)
    assert p.sent_in_window(29.0) == 59
    assert p.can_send(hk(100, "30 secs", duration="1800 S"), 29.0) == 0.0  # one slot left
    # a BID_ASK needs two: it waits until the t=0 request (two slots) leaves the window
    assert p.can_send(hk(100, "30 secs", what="BID_ASK", duration="1800 S"), 29.0) == 571.0


def test_pacing_every_bar_size_on_request() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer(small_bars_only=False)
    for i in range(60):
        p.sent(hk(i), float(i))
        p.done(hk(i))
    assert p.can_send(hk(100), 59.0) == 541.0
    assert p.can_send(hk(59), 60.0) == 540.0  # window 540 s beats identical 14 s


def test_a_held_key_waits_others_pass() -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer()
    p.enqueue(hk(1))
    p.enqueue(hk(2))
    p.hold(hk(1), 30.0)  # e.g. IB answered it with a pacing violation
    assert p.can_send(hk(1), 10.0) == 20.0
    assert p.next_ready(10.0) == hk(2)
    assert p.next_ready(10.0) is None
    assert p.next_wait(10.0) == 20.0
    assert p.next_ready(30.0) == hk(1)
    p.hold(hk(3), 5.0)  # a hold that has passed
    assert p.can_send(hk(3), 6.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            # time advance in eighths of a second (exact in binary), often none at all
            st.one_of(st.just(0.0), st.integers(min_value=0, max_value=40).map(lambda q: q / 8)),
            st.integers(min_value=0, max_value=1),  # contract
            st.sampled_from(["1 secs", "30 secs", "1 min", "1 day"]),
            st.sampled_from(["TRADES", "TRADES", "BID_ASK"]),
            st.integers(min_value=0, max_value=4),  # duration
            st.integers(min_value=0, max_value=3),  # finish this many of the oldest open
        ),
        max_size=150,
    )
)
# six small requests for one contract at once: the same-contract rule must space them
@example(steps=[(0.0, 0, "1 secs", "TRADES", d, 0) for d in range(5)]
         + [(0.0, 0, "30 secs", "TRADES", 0, 0)])  # fmt: skip
def test_following_the_pacer_never_breaks_ibs_small_bar_rules(
    steps: list[tuple[float, int, str, str, int, int]],
) -> None:
    p: HistoricalPacer[HistoricalKey] = HistoricalPacer(
        max_open=8, max_per_window=12, window_s=60.0
    )
    now = 0.0
    sends: list[tuple[float, HistoricalKey]] = []
    open_keys: list[HistoricalKey] = []
    for dt, con_id, size, what, dur, finish in steps:
        now += dt
        for _ in range(min(finish, len(open_keys))):
            p.done(open_keys.pop(0))
        p.enqueue(hk(con_id, size, what, f"{dur + 1} D"))
        while (k := p.next_ready(now)) is not None:
            sends.append((now, k))
            open_keys.append(k)
            assert len(open_keys) <= 8
        wait = p.next_wait(now)
        assert wait is None or wait > 0
    small = [(t, k) for t, k in sends if is_small_bar(k.bar_size)]
    for i, (t, k) in enumerate(small):
        assert all(t2 - t >= 15.0 for t2, k2 in small[i + 1 :] if k2 == k)
        weight = sum(
            2 if k2.what_to_show == "BID_ASK" else 1 for t2, k2 in small if t <= t2 < t + 60.0
        )
        assert weight <= 12
        same = [
            t2 for t2, k2 in small if (k2.con_id, k2.what_to_show) == (k.con_id, k.what_to_show)
        ]
        assert sum(1 for t2 in same if t <= t2 < t + 2.0) <= 5
