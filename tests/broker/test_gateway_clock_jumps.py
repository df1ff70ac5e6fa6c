"""GatewayClock across a simulated gateway's night: a replayed market (``--speed``) jumps
from the close to the next session's open between two reqCurrentTime samples. The jump is
taken as a new anchor, not as a rate: the clock must not race ahead at 12 000x."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.broker.conftest import FakeMonotonic
from tui_trader.broker.session import GatewayClock

#: Friday 20 November 2026, 15:58 New York, and the next session's open (Monday 09:30).
FRIDAY_1558 = datetime(2026, 11, 20, 20, 58, tzinfo=UTC)
MONDAY_OPEN = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
WALL = datetime(2026, 11, 18, 14, 4, tzinfo=UTC)


def secs(a: datetime | None, b: datetime) -> float:
    assert a is not None
    return (a - b).total_seconds()


def test_a_jump_over_the_night_is_followed_and_the_rate_is_kept() -> None:
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    at = FRIDAY_1558
    clock.sample(at, mono.now, mono.now, new_connection=True)
    for _ in range(3):  # speed 30: 150 simulated seconds per 5 s sample
        mono.advance(5.0)
        at += timedelta(seconds=150)
        clock.sample(at, mono.now, mono.now)
    assert clock.rate == pytest.approx(30.0)
    # 16:05:30 would be past the close: the gateway reads Monday 09:30 + 30 s instead
    mono.advance(5.0)
    monday = MONDAY_OPEN + timedelta(seconds=30)
    clock.sample(monday, mono.now, mono.now)
    assert secs(clock(), monday) == pytest.approx(0.5)
    assert clock.rate == pytest.approx(30.0)  # not (17.5 h + 150 s) / 5 s
    mono.advance(5.0)
    assert secs(clock(), monday + timedelta(seconds=150)) == pytest.approx(0.5)
    # the next sample measures the rate from Monday's samples only
    clock.sample(monday + timedelta(seconds=150), mono.now, mono.now)
    assert clock.rate == pytest.approx(30.0)
    mono.advance(60.0)
    assert secs(clock(), monday + timedelta(seconds=150 + 1800)) == pytest.approx(0.5)


def test_a_speed_change_is_still_measured_after_one_sample() -> None:
    """A real rate change looks like a jump at first; the next sample measures it."""
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    at = FRIDAY_1558 - timedelta(hours=3)
    clock.sample(at, mono.now, mono.now, new_connection=True)
    for _ in range(3):
        mono.advance(5.0)
        at += timedelta(seconds=5)
        clock.sample(at, mono.now, mono.now)
    assert clock.rate == 1.0
    for _ in range(2):  # `speed 60` on the control port
        mono.advance(5.0)
        at += timedelta(seconds=300)
        clock.sample(at, mono.now, mono.now)
    assert clock.rate == pytest.approx(60.0)
    mono.advance(5.0)
    assert secs(clock(), at + timedelta(seconds=300)) == pytest.approx(0.5)


@given(
    rate=st.sampled_from([1.0, 2.0, 10.0, 30.0, 60.0, 300.0]),
    offset=st.floats(0.0, 0.999),
    interval=st.floats(2.0, 10.0),
    before=st.integers(2, 8),
    night_h=st.sampled_from([17.5, 20.5, 65.5, 89.5]),  # a night, after an early close, weekends
)
def test_after_a_jump_the_clock_keeps_within_the_resolution(
    rate: float, offset: float, interval: float, before: int, night_h: float
) -> None:
    """Whatever the rate and the length of the closed hours skipped, the clock follows the
    jump at the sample that sees it and then runs at the gateway's rate, not faster."""
    mono = FakeMonotonic()
    clock = GatewayClock(lambda: WALL, monotonic=mono)
    start = mono.now
    skipped = 0.0

    def gateway_now() -> datetime:
        return FRIDAY_1558 + timedelta(seconds=offset + (mono.now - start) * rate + skipped)

    for i in range(before):
        clock.sample(gateway_now().replace(microsecond=0), mono.now, mono.now,
                     new_connection=i == 0)  # fmt: skip
        mono.advance(interval)
    skipped = night_h * 3600.0
    for _ in range(3):
        clock.sample(gateway_now().replace(microsecond=0), mono.now, mono.now)
        # the resolution (0.5 s) plus the rate's error over a span of one interval (at
        # most 1 s: the rate is measured again from the samples after the jump)
        assert abs(secs(clock(), gateway_now())) <= 1.5 + 1e-6
        mono.advance(interval)
        assert abs(secs(clock(), gateway_now())) <= 1.5 + 1e-6
    assert clock.rate == pytest.approx(rate, rel=0.5)
