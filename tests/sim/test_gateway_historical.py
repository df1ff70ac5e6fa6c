"""Bar selection, aggregation and IB's pacing (small bars only, as IB) behind
reqHistoricalData; trading-hours strings."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ib_insync import Stock

from tests.sim.conftest import Connect, FakeMonotonic
from tui_trader.sim.gateway import SimGateway
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


def test_pacing_identical_rate_and_open_limits_for_small_bars() -> None:
    now = [0.0]
    tracker = PacingTracker(HistoricalPacing(), lambda: now[0])
    assert tracker.admit(("AAPL", "1800 S"), "30 secs") is None
    tracker.done()
    violation = tracker.admit(("AAPL", "1800 S"), "30 secs")
    assert violation is not None and "identical" in violation
    now[0] += 15.0
    assert tracker.admit(("AAPL", "1800 S"), "30 secs") is None
    tracker.done()

    # 60 in 10 minutes (2 already)
    for k in range(58):
        assert tracker.admit(("X", str(k)), "5 secs") is None
        tracker.done()
    violation = tracker.admit(("X", "one more"), "1 secs")
    assert violation is not None and "60 requests in 10 minutes" in violation
    assert tracker.admit(("X", "one more"), "1 min") is None  # over 30 s: not paced
    tracker.done()
    now[0] += 600.0
    assert tracker.admit(("X", "one more"), "1 secs") is None

    # more than 50 open at once (answers delayed), whatever the bar size
    busy = PacingTracker(HistoricalPacing(), lambda: now[0])
    for k in range(50):
        assert busy.admit(("Y", str(k)), "1 day") is None
    violation = busy.admit(("Y", "51"), "1 day")
    assert violation is not None and "50 open" in violation
    busy.done()
    assert busy.admit(("Y", "51"), "1 day") is None


def test_daily_bars_are_not_paced_by_default_as_at_ib() -> None:
    tracker = PacingTracker(HistoricalPacing(), lambda: 0.0)
    for _ in range(100):
        assert tracker.admit(("AAPL", "2 Y"), "1 day") is None  # identical, 100 at once
        tracker.done()
    for size in ("1 week", "1 month", "1W", "1M", "1 hour", "1 min", "2 mins"):
        assert tracker.admit(("AAPL", "2 Y", size), size) is None
        tracker.done()
    assert tracker.admit(("AAPL", "1 D"), "30 secs") is None  # the budget is intact
    tracker.done()
    assert tracker.admit(("AAPL", "1 D"), "30 secs") is not None


def test_pacing_every_bar_size_when_asked() -> None:
    now = [0.0]
    tracker = PacingTracker(HistoricalPacing(small_bars_only=False), lambda: now[0])
    assert tracker.admit(("AAPL", "1 Y"), "1 day") is None
    tracker.done()
    violation = tracker.admit(("AAPL", "1 Y"), "1 day")
    assert violation is not None and "identical" in violation
    for k in range(59):
        assert tracker.admit(("X", str(k)), "1 day") is None
        tracker.done()
    violation = tracker.admit(("X", "one more"), "1 week")
    assert violation is not None and "60 requests in 10 minutes" in violation


def test_six_small_requests_for_one_contract_within_two_seconds() -> None:
    now = [0.0]
    tracker = PacingTracker(HistoricalPacing(), lambda: now[0])
    series = ("265598", "SMART", "TRADES")
    for n in range(5):
        now[0] = 0.4 * n  # t = 0.0 .. 1.6
        assert tracker.admit(("AAPL", f"{60 + n} S"), "1 secs", series) is None
        tracker.done()
    violation = tracker.admit(("AAPL", "99 S"), "1 secs", series)
    assert violation is not None and "6 or more requests for the same contract" in violation
    other = ("265598", "SMART", "MIDPOINT")  # another tick type: its own count
    assert tracker.admit(("AAPL", "99 S", "MID"), "1 secs", other) is None
    tracker.done()
    assert tracker.admit(("AAPL", "99 S", "D"), "1 day", series) is None  # not small
    tracker.done()
    now[0] = 2.0  # the t=0 request left the two seconds
    assert tracker.admit(("AAPL", "99 S"), "1 secs", series) is None


async def test_gateway_refuses_no_daily_request_and_paces_small_ones(
    gateway: SimGateway, connect: Connect, fake_time: FakeMonotonic
) -> None:
    """Over the socket with the default (IB's) limits: 70 daily requests for one stock in
    the same instant, 5 of them identical, are all served; small bars still get error
    162 after 60 in ten minutes."""
    ib = await connect()
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, msg, contract: errors.append((code, msg))
    stock = Stock("AAPL", "SMART", "USD")
    await ib.qualifyContractsAsync(stock)
    durations = [f"{n} D" for n in range(1, 66)] + ["5 D"] * 5
    got = await asyncio.gather(
        *(ib.reqHistoricalDataAsync(stock, "", d, "1 day", "TRADES", True) for d in durations)
    )
    assert [len(b) for b in got] == [int(d.split()[0]) for d in durations]
    assert errors == []
    for n in range(61):  # the simulator serves no small bars (321), but IB's rules count them
        await ib.reqHistoricalDataAsync(stock, "", f"{60 + n} S", "30 secs", "TRADES", True)
        fake_time.advance(0.5)  # stay clear of the six-in-two-seconds rule
    assert [c for c, _ in errors] == [321] * 60 + [162]
    assert "60 requests in 10 minutes" in errors[-1][1]


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
