"""GatewayClock: the gateway's time between reqCurrentTime samples (whole seconds), its
rate measured for a fast simulated gateway and snapped to 1 within the resolution, never
backwards within a connection, the wall clock only before the first sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.broker.conftest import FakeMonotonic
from tui_trader.broker.session import GatewayClock

GW = datetime(2026, 11, 18, 19, 31, tzinfo=UTC)
WALL = datetime(2026, 11, 18, 14, 4, tzinfo=UTC)


def secs(a: datetime | None, b: datetime) -> float:
    assert a is not None
    return (a - b).total_seconds()


def test_no_time_before_the_first_sample_then_the_gateways() -> None:
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    assert clock.known() is None and not clock.synced
    assert clock() == WALL  # stamps need something: the fallback
    clock.sample(GW, mono.now, mono.now, new_connection=True)
    assert clock.synced and secs(clock(), GW) == 0.5  # whole seconds: the middle of one
    mono.advance(10.0)
    assert secs(clock.known(), GW) == pytest.approx(10.5)


def test_a_naive_answer_is_refused() -> None:
    clock = GatewayClock(lambda: WALL)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.sample(datetime(2026, 11, 18, 14, 31), 0.0, 0.0)


def test_the_round_trips_midpoint_is_the_samples_instant() -> None:
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    clock.sample(GW, mono.now - 0.4, mono.now, new_connection=True)  # answered 0.4 s later
    assert secs(clock(), GW) == pytest.approx(0.7)


def test_speed_60_is_measured_from_the_samples() -> None:
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    clock.sample(GW, mono.now, mono.now, new_connection=True)
    mono.advance(5.0)
    clock.sample(GW + timedelta(seconds=300), mono.now, mono.now)
    assert clock.rate == pytest.approx(60.0)
    mono.advance(5.0)
    assert secs(clock(), GW + timedelta(seconds=600)) == pytest.approx(0.5)


@given(
    true_rate=st.sampled_from([1.0, 1.0, 2.0, 10.0, 60.0]),
    offset=st.floats(0.0, 0.999),
    interval=st.floats(2.0, 10.0),
    samples=st.integers(2, 20),
)
def test_the_clock_stays_within_the_resolution_of_the_gateway(
    true_rate: float, offset: float, interval: float, samples: int
) -> None:
    """Whatever the sub-second phase, after each whole-second sample the clock is within
    about a second of the gateway's (the resolution plus the rate's own error until the
    next sample); against IB's real clock (rate 1) the rate is exactly 1."""
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    start = mono.now

    def gateway_now() -> datetime:
        return GW + timedelta(seconds=offset + (mono.now - start) * true_rate)

    held = 0.5  # how far ahead a clock held still (never backwards) may be at a sample
    for i in range(samples):
        answer = gateway_now().replace(microsecond=0)
        clock.sample(answer, mono.now, mono.now, new_connection=i == 0)
        assert -0.5 - 1e-6 <= secs(clock(), gateway_now()) <= held + 1e-6
        mono.advance(interval)
        # the rate's error is at most 1 s over the samples' span (at least 60 s once
        # the window is full); before a second sample the rate is taken as 1
        drift = interval / min(interval * i, 60.0) if i else (true_rate - 1.0) * interval
        held = 0.5 + drift
        assert abs(secs(clock(), gateway_now())) <= held + 1e-6
    if true_rate == 1.0:
        assert clock.rate == 1.0


def test_never_backwards_within_a_connection_but_a_new_one_may_be_earlier() -> None:
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    clock.sample(GW, mono.now, mono.now, new_connection=True)
    mono.advance(3.0)
    before = clock()
    clock.sample(GW + timedelta(seconds=2), mono.now, mono.now)  # 1 s behind our estimate
    assert clock() == before  # held still, not stepped back
    mono.advance(2.0)
    assert clock() > before
    earlier = GW - timedelta(hours=1)  # a restarted gateway with an earlier clock
    clock.sample(earlier, mono.now, mono.now, new_connection=True)
    assert secs(clock(), earlier) == 0.5


def test_a_new_connection_keeps_the_rate_until_it_is_measured_again() -> None:
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    clock.sample(GW, mono.now, mono.now, new_connection=True)
    mono.advance(10.0)
    clock.sample(GW + timedelta(seconds=600), mono.now, mono.now)
    mono.advance(2.0)
    clock.sample(GW + timedelta(seconds=720), mono.now, mono.now, new_connection=True)
    assert clock.rate == pytest.approx(60.0)
    mono.advance(1.0)
    assert secs(clock(), GW + timedelta(seconds=780)) == pytest.approx(0.5)
