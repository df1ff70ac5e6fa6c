"""SimClock runs at speed x an injected monotonic source; the demo start is on XNYS."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import exchange_calendars as xcals
import pytest

from tui_trader.sim.clock import SimClock, default_demo_start, et_date, xnys_sessions

START = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_now_scales_elapsed_monotonic_time_by_speed() -> None:
    mono = FakeMonotonic()
    clock = SimClock(START, speed=60.0, monotonic=mono)
    assert clock.now() == START
    mono.t += 2.5
    assert clock.now() == START + timedelta(seconds=150)
    assert clock.now().tzinfo is not None


def test_set_speed_keeps_time_continuous() -> None:
    mono = FakeMonotonic()
    clock = SimClock(START, speed=10.0, monotonic=mono)
    mono.t += 3.0  # +30 s
    clock.set_speed(1.0)
    assert clock.now() == START + timedelta(seconds=30)
    mono.t += 4.0  # +4 s at the new speed
    assert clock.now() == START + timedelta(seconds=34)
    clock.set_speed(0.0)
    mono.t += 100.0
    assert clock.now() == START + timedelta(seconds=34)


def test_clock_rejects_naive_times_bad_speeds_and_rewinds() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2026, 11, 20, 14, 30))
    with pytest.raises(ValueError, match="speed"):
        SimClock(START, speed=-1.0)
    with pytest.raises(ValueError, match="speed"):
        SimClock(START, speed=float("nan"))
    mono = FakeMonotonic()
    clock = SimClock(START, monotonic=mono)
    clock.jump_to(START + timedelta(hours=1))
    assert clock.now() == START + timedelta(hours=1)
    mono.t += 1.0
    assert clock.now() == START + timedelta(hours=1, seconds=1)
    with pytest.raises(ValueError, match="forwards"):
        clock.jump_to(START)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday: Friday 14:30 EST (19:30 UTC)
        (datetime(2026, 11, 21, 17, 0, tzinfo=UTC), datetime(2026, 11, 20, 19, 30, tzinfo=UTC)),
        # Friday 10:00 EST, before 14:30: the previous session (Thursday)
        (datetime(2026, 11, 20, 15, 0, tzinfo=UTC), datetime(2026, 11, 19, 19, 30, tzinfo=UTC)),
        # Friday 15:00 EST, after 14:30: today
        (datetime(2026, 11, 20, 20, 0, tzinfo=UTC), datetime(2026, 11, 20, 19, 30, tzinfo=UTC)),
        # Thanksgiving (holiday): Wednesday
        (datetime(2026, 11, 26, 20, 0, tzinfo=UTC), datetime(2026, 11, 25, 19, 30, tzinfo=UTC)),
        # the Friday after Thanksgiving closes at 13:00 EST: start 11:30 EST = 16:30 UTC
        (datetime(2026, 11, 27, 21, 0, tzinfo=UTC), datetime(2026, 11, 27, 16, 30, tzinfo=UTC)),
        # summer (EDT): 14:30 EDT = 18:30 UTC
        (datetime(2026, 7, 15, 23, 0, tzinfo=UTC), datetime(2026, 7, 15, 18, 30, tzinfo=UTC)),
    ],
)
def test_default_demo_start(now: datetime, expected: datetime) -> None:
    assert default_demo_start(now) == expected


@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")
def test_sessions_match_exchange_calendars() -> None:
    sessions = xnys_sessions(date(2026, 11, 20))
    cal = xcals.get_calendar("XNYS", start="2025-01-01", end="2026-12-31")
    ours = [d for d in sessions.days if date(2025, 1, 1) <= d <= date(2026, 12, 31)]
    assert ours == [ts.date() for ts in cal.sessions]
    assert not sessions.is_session(date(2026, 11, 26))  # Thanksgiving
    assert sessions.close_of(date(2026, 11, 27)) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert sessions.close_of(date(2026, 11, 20)) == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an XNYS session"):
        sessions.close_of(date(2026, 11, 26))
    assert et_date(datetime(2026, 11, 21, 3, 0, tzinfo=UTC)) == date(2026, 11, 20)
