"""SPEC 7: the entry window on the XNYS calendar, in New York time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tui_trader.core.calendar import (
    ET,
    CalendarRangeError,
    WindowState,
    entry_window,
    format_duration,
    last_trading_day,
    session_close,
    window_status,
)
from tui_trader.core.settings import TimingSettings

TIMING = TimingSettings()
STRICT = TimingSettings(allow_late_day_entry=False)


def et(d: str, hhmm: str) -> datetime:
    return datetime.combine(date.fromisoformat(d), time.fromisoformat(hhmm), tzinfo=ET)


def et_times(window: tuple[datetime, datetime] | None) -> tuple[str, str]:
    assert window is not None
    return window[0].strftime("%H:%M"), window[1].strftime("%H:%M")


def utc_times(window: tuple[datetime, datetime] | None) -> tuple[str, str]:
    assert window is not None
    return tuple(w.astimezone(UTC).strftime("%H:%M") for w in window)  # type: ignore[return-value]


def test_normal_day() -> None:
    w = entry_window(date(2026, 11, 20), TIMING)
    assert w == (et("2026-11-20", "14:45"), et("2026-11-20", "15:58"))
    assert w is not None and all(x.tzinfo is not None for x in w)
    assert utc_times(w) == ("19:45", "20:58")


def test_without_late_day_entry_the_window_opens_at_15_00() -> None:
    assert et_times(entry_window(date(2026, 11, 20), STRICT)) == ("15:00", "15:58")
    assert et_times(entry_window(date(2026, 11, 27), STRICT)) == ("12:00", "12:58")


def test_early_close_day_after_thanksgiving() -> None:
    assert session_close(et("2026-11-27", "09:00")) == et("2026-11-27", "13:00")
    assert et_times(entry_window(date(2026, 11, 27), TIMING)) == ("11:45", "12:58")
    # Christmas Eve 2026 (Thursday) also closes at 13:00
    assert et_times(entry_window(date(2026, 12, 24), TIMING)) == ("11:45", "12:58")


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 11, 26),  # Thanksgiving
        date(2026, 12, 25),  # Christmas
        date(2026, 7, 3),  # Independence Day observed (4 July is a Saturday)
        date(2026, 11, 28),  # Saturday
        date(2026, 11, 29),  # Sunday
    ],
)
def test_no_window_on_holidays_and_weekends(day: date) -> None:
    assert entry_window(day, TIMING) is None


@pytest.mark.parametrize(
    ("day", "utc"),
    [
        (date(2026, 3, 6), ("19:45", "20:58")),  # Friday before DST starts (8 March): EST
        (date(2026, 3, 9), ("18:45", "19:58")),  # Monday after: EDT
        (date(2026, 10, 30), ("18:45", "19:58")),  # Friday before DST ends (1 November): EDT
        (date(2026, 11, 2), ("19:45", "20:58")),  # Monday after: EST
    ],
)
def test_dst_keeps_new_york_times_while_utc_shifts(day: date, utc: tuple[str, str]) -> None:
    w = entry_window(day, TIMING)
    assert et_times(w) == ("14:45", "15:58")
    assert utc_times(w) == utc


def test_opens_in_before_the_window() -> None:
    s = window_status(et("2026-11-20", "13:33"), TIMING)
    assert s.state is WindowState.OPENS_IN
    assert s.opens_in == timedelta(hours=1, minutes=12)
    assert s.next_open == et("2026-11-20", "14:45")
    assert s.label == "opens in 1h12m"
    assert s.closes_in is None and not s.is_open


def test_opens_in_counts_up_to_the_minute() -> None:
    s = window_status(et("2026-11-20", "14:44:30"), TIMING)
    assert s.state is WindowState.OPENS_IN and s.opens_in == timedelta(seconds=30)
    assert s.label == "opens in 1m"
    s = window_status(et("2026-11-20", "04:00"), TIMING)  # early morning, same session
    assert s.state is WindowState.OPENS_IN and s.label == "opens in 10h45m"


def test_open_is_half_open_interval() -> None:
    s = window_status(et("2026-11-20", "14:45"), TIMING)
    assert s.state is WindowState.OPEN and s.is_open
    assert s.closes_in == timedelta(hours=1, minutes=13)
    assert s.label == "window open, closes in 1h13m"
    s = window_status(et("2026-11-20", "15:57:59"), TIMING)
    assert s.state is WindowState.OPEN and s.closes_in == timedelta(seconds=1)
    s = window_status(et("2026-11-20", "15:58"), TIMING)
    assert s.state is WindowState.CLOSED


def test_closed_after_the_window_points_at_the_next_session() -> None:
    # Wednesday after the window -> Thanksgiving is closed -> Friday's early-close window
    s = window_status(et("2026-11-25", "16:30"), TIMING)
    assert s.state is WindowState.CLOSED
    assert s.next_open == et("2026-11-27", "11:45")
    assert s.opens_in == timedelta(days=1, hours=19, minutes=15)
    assert s.label == "closed, opens Fri 11:45 ET (in 1d19h)"


def test_holiday_and_weekend() -> None:
    s = window_status(et("2026-11-26", "15:00"), TIMING)
    assert s.state is WindowState.HOLIDAY and s.window is None
    assert s.next_open == et("2026-11-27", "11:45")
    assert s.opens_in == timedelta(hours=20, minutes=45)
    s = window_status(et("2026-11-28", "10:00"), TIMING)
    assert s.state is WindowState.WEEKEND
    assert s.next_open == et("2026-11-30", "14:45")
    assert s.label == "weekend, opens Mon 14:45 ET (in 2d4h)"


def test_countdown_across_dst_is_elapsed_time() -> None:
    # Friday 30 Oct 2026 17:00 EDT -> Monday 2 Nov 14:45 EST: 2 days 21h45m on the wall
    # clock, but the clocks went back an hour, so 2 days 22h45m elapse.
    s = window_status(et("2026-10-30", "17:00"), TIMING)
    assert s.state is WindowState.CLOSED
    assert s.next_open == et("2026-11-02", "14:45")
    assert s.opens_in == timedelta(days=2, hours=22, minutes=45)
    # March: Friday 6 Mar 17:00 EST -> Monday 9 Mar 14:45 EDT is an hour shorter
    s = window_status(et("2026-03-06", "17:00"), TIMING)
    assert s.opens_in == timedelta(days=2, hours=20, minutes=45)


def test_now_in_another_zone_uses_the_new_york_date() -> None:
    # 01:30 UTC on Saturday 21 Nov is still Friday 20:30 in New York: after Friday's window
    s = window_status(datetime(2026, 11, 21, 1, 30, tzinfo=UTC), TIMING)
    assert s.state is WindowState.CLOSED
    assert s.window == entry_window(date(2026, 11, 20), TIMING)
    # 19:50 UTC on a November Friday = 14:50 EST: open
    assert window_status(datetime(2026, 11, 20, 19, 50, tzinfo=UTC), TIMING).is_open
    tokyo = datetime(2026, 11, 21, 4, 50, tzinfo=ZoneInfo("Asia/Tokyo"))  # 14:50 ET Friday
    assert window_status(tokyo, TIMING).is_open
    fixed = datetime(2026, 11, 20, 14, 50, tzinfo=timezone(timedelta(hours=-5)))
    assert window_status(fixed, TIMING).is_open


def test_strict_window_status() -> None:
    s = window_status(et("2026-11-20", "14:50"), STRICT)
    assert s.state is WindowState.OPENS_IN and s.opens_in == timedelta(minutes=10)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_status(datetime(2026, 11, 20, 14, 50), TIMING)
    with pytest.raises(ValueError, match="timezone-aware"):
        session_close(datetime(2026, 11, 20, 14, 50))


def test_session_close_and_last_trading_day() -> None:
    assert session_close(et("2026-11-20", "10:00")) == et("2026-11-20", "16:00")
    assert session_close(et("2026-11-26", "10:00")) is None
    assert session_close(et("2026-11-28", "10:00")) is None
    assert last_trading_day(date(2026, 11, 20)) == date(2026, 11, 20)
    assert last_trading_day(date(2026, 11, 29)) == date(2026, 11, 27)  # Sunday -> Friday
    assert last_trading_day(date(2026, 11, 26)) == date(2026, 11, 25)  # Thanksgiving
    assert last_trading_day(date(2027, 1, 1)) == date(2026, 12, 31)


def test_outside_the_calendar_span() -> None:
    with pytest.raises(CalendarRangeError):
        entry_window(date(2041, 1, 2), TIMING)
    with pytest.raises(CalendarRangeError):
        last_trading_day(date(1999, 6, 1))


def test_unknown_calendar_name() -> None:
    with pytest.raises(ValueError, match="unknown exchange calendar"):
        entry_window(date(2026, 11, 20), TimingSettings(calendar="NOPE"))


@pytest.mark.parametrize(
    ("td", "text"),
    [
        (timedelta(0), "0m"),
        (timedelta(seconds=-5), "0m"),
        (timedelta(seconds=1), "1m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=1, minutes=5), "1h05m"),
        (timedelta(hours=1, minutes=12), "1h12m"),
        (timedelta(days=2, hours=22, minutes=45), "2d22h"),
    ],
)
def test_format_duration(td: timedelta, text: str) -> None:
    assert format_duration(td) == text


def test_market_open_follows_the_regular_session() -> None:
    from tui_trader.core.calendar import market_open

    et = ZoneInfo("America/New_York")
    assert market_open(datetime(2026, 12, 3, 9, 30, tzinfo=et))
    assert market_open(datetime(2026, 12, 3, 15, 59, tzinfo=et))
    assert not market_open(datetime(2026, 12, 3, 16, 0, tzinfo=et))
    assert not market_open(datetime(2026, 12, 3, 9, 29, tzinfo=et))
    assert not market_open(datetime(2026, 12, 5, 12, 0, tzinfo=et))  # Saturday
    assert not market_open(datetime(2026, 11, 26, 12, 0, tzinfo=et))  # Thanksgiving
    assert market_open(datetime(2026, 11, 27, 12, 59, tzinfo=et))  # early close at 13:00
    assert not market_open(datetime(2026, 11, 27, 13, 0, tzinfo=et))


def test_the_footers_every_second_question_is_answered_without_the_calendar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The footer asks for the window on every redraw: after the first answer for a day
    the exchange calendar (a pandas index search each time) is not consulted again."""
    import tui_trader.core.calendar as cal

    first = window_status(et("2026-03-10", "14:00"), TIMING)
    asked: list[str] = []
    real = cal._calendar

    def counting(name: str) -> object:
        asked.append(name)
        return real(name)

    monkeypatch.setattr(cal, "_calendar", counting)
    later = window_status(et("2026-03-10", "14:00:07"), TIMING)
    assert asked == []
    assert later.window == first.window and later.next_open == first.next_open
    assert (first.opens_in - later.opens_in) == timedelta(seconds=7)
