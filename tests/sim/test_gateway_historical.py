"""Bar selection, aggregation and pacing behind reqHistoricalData; trading-hours strings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.sim.historical import (
    HistoricalPacing,
    HistoricalRequestError,
    PacingTracker,
    aggregate,
    parse_duration,
    select_bars,
    to_wire,
)
from tui_trader.sim.lookup import trading_hours
from tui_trader.sim.types import DailyBar


def weekdays(start: date, n: int) -> list[DailyBar]:
    out: list[DailyBar] = []
    d = start
    while len(out) < n:
        if d.weekday() < 5:
            k = len(out)
            out.append(DailyBar(d, 100.0 + k, 101.0 + k, 99.0 + k, 100.5 + k, 1000.0 * (k + 1)))
        d += timedelta(days=1)
    return out


BARS = weekdays(date(2024, 1, 1), 800)  # 2024-01-01 .. 2027-01-26
END = date(2026, 11, 18)


def test_durations() -> None:
    assert parse_duration("30 D") == (30, "D")
    assert parse_duration(" 2 y ") == (2, "Y")
    for bad in ("", "D", "0 D", "-1 D", "2 years", "1.5 Y"):
        with pytest.raises(HistoricalRequestError):
            parse_duration(bad)


def test_select_bars_by_unit() -> None:
    days = select_bars(BARS, END, "30 D")
    assert len(days) == 30 and days[-1].day == END  # sessions, ending on the end date
    year = select_bars(BARS, END, "1 Y")
    assert year[0].day == date(2025, 11, 19) and year[-1].day == END  # a calendar year
    two = select_bars(BARS, END, "2 Y")
    assert two[0].day == date(2024, 11, 19)
    weeks = select_bars(BARS, END, "2 W")
    assert weeks[0].day == date(2026, 11, 5)
    months = select_bars(BARS, date(2026, 3, 31), "1 M")
    assert months[0].day == date(2026, 3, 2)  # after 28 Feb 2026 (31 Feb clamps)
    assert len(select_bars(BARS, END, "86400 S")) == 1
    assert len(select_bars(BARS, END, "86401 S")) == 2


def test_weekly_and_monthly_bars_roll_up_ohlcv() -> None:
    days = select_bars(BARS, date(2026, 11, 13), "10 D")  # Mon 2 Nov .. Fri 13 Nov
    weeks = aggregate(days, "1 week")
    assert [w.day for w in weeks] == [date(2026, 11, 2), date(2026, 11, 9)]
    first = days[:5]
    assert weeks[0].open == first[0].open and weeks[0].close == first[-1].close
    assert weeks[0].high == max(b.high for b in first)
    assert weeks[0].low == min(b.low for b in first)
    assert weeks[0].volume == sum(b.volume for b in first)
    months = aggregate(select_bars(BARS, END, "3 M"), "1 month")
    assert [m.day.month for m in months] == [8, 9, 10, 11]
    with pytest.raises(HistoricalRequestError):
        aggregate(days, "5 mins")


def test_wire_bars_trades_and_midpoint() -> None:
    b = DailyBar(date(2026, 11, 18), 10.0, 12.0, 9.0, 11.0, 5000.0)
    (trades,) = to_wire([b], "TRADES")
    assert (trades.date, trades.volume, trades.wap, trades.count) == ("20261118", 5000.0,
                                                                      10.6667, 25)  # fmt: skip
    (mid,) = to_wire([b], "MIDPOINT")
    assert (mid.volume, mid.wap, mid.count) == (-1, -1, -1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 400), unit=st.sampled_from(["D", "W", "M", "Y"]))
def test_selected_bars_are_a_contiguous_tail_ending_at_the_end(n: int, unit: str) -> None:
    got = select_bars(BARS, END, f"{n} {unit}")
    upto = [b for b in BARS if b.day <= END]
    assert got == upto[len(upto) - len(got) :]
    assert got and got[-1].day == END


def test_pacing_identical_rate_and_open_limits() -> None:
    now = [0.0]
    tracker = PacingTracker(HistoricalPacing(), lambda: now[0])
    assert tracker.admit(("AAPL", "1 Y"), "1 day") is None
    tracker.done()
    violation = tracker.admit(("AAPL", "1 Y"), "1 day")
    assert violation is not None and "identical" in violation
    now[0] += 15.0
    assert tracker.admit(("AAPL", "1 Y"), "1 day") is None
    tracker.done()

    # 60 in 10 minutes (2 already)
    for k in range(58):
        assert tracker.admit(("X", str(k)), "1 day") is None
        tracker.done()
    violation = tracker.admit(("X", "one more"), "1 day")
    assert violation is not None and "60 requests in 10 minutes" in violation
    now[0] += 600.0
    assert tracker.admit(("X", "one more"), "1 day") is None

    # more than 50 open at once (answers delayed)
    busy = PacingTracker(HistoricalPacing(), lambda: now[0])
    for k in range(50):
        assert busy.admit(("Y", str(k)), "1 day") is None
    violation = busy.admit(("Y", "51"), "1 day")
    assert violation is not None and "50 open" in violation
    busy.done()
    assert busy.admit(("Y", "51"), "1 day") is None


def test_small_bars_only_pacing_is_ibs_leniency_for_daily_bars() -> None:
    tracker = PacingTracker(HistoricalPacing(small_bars_only=True), lambda: 0.0)
    for _ in range(100):
        assert tracker.admit(("AAPL", "1 Y"), "1 day") is None
        tracker.done()
    assert tracker.admit(("AAPL", "1 D"), "30 secs") is None
    assert tracker.admit(("AAPL", "1 D"), "30 secs") is not None


def test_trading_hours_follow_the_exchange_calendar() -> None:
    trading, liquid = trading_hours(date(2026, 11, 23))  # Thanksgiving week
    t = trading.split(";")
    lq = liquid.split(";")
    assert t[0] == "20261123:0400-20261123:2000"
    assert lq[0] == "20261123:0930-20261123:1600"
    assert lq[3] == "20261126:CLOSED"  # Thanksgiving
    assert lq[4] == "20261127:0930-20261127:1300"  # early close
    assert t[4] == "20261127:0400-20261127:1700"
    assert lq[5] == "20261128:CLOSED" and len(lq) == 7
