"""A market day replayed at speed: the clock on trading time (nights, weekends and holidays
pass in an instant), the day's bar joining the history served over the socket, option
listings rolling, expired spreads settled at their expiry's close, and the day's P&L
measured from that close."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ib_insync import Stock

from tests.sim.conftest import Connect, FakeMonotonic, MakeGateway
from tui_trader.sim.clock import SimClock, parse_start, session_start, xnys_sessions
from tui_trader.sim.exchange import Exchange
from tui_trader.sim.market import Market
from tui_trader.sim.types import OptionContract, OrderRequest, PositionEvent, StockContract

ET_OFFSET = timedelta(hours=5)  # November: New York is UTC-5
FRIDAY_1430 = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
#: Friday 20 November 2026, 15:59 New York: one minute before the close.
FRIDAY_1559 = datetime(2026, 11, 20, 20, 59, tzinfo=UTC)
FRIDAY_CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
MONDAY_OPEN = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
#: Wednesday 25 November 2026, 15:59: Thanksgiving (Thursday) is a holiday.
WEDNESDAY_1559 = datetime(2026, 11, 25, 20, 59, tzinfo=UTC)
FRIDAY_AFTER_OPEN = datetime(2026, 11, 27, 14, 30, tzinfo=UTC)
#: Wednesday 18 November 2026, 14:45 New York: the entry window opens.
WINDOW_OPENS = datetime(2026, 11, 18, 19, 45, tzinfo=UTC)
THURSDAY_OPEN = datetime(2026, 11, 19, 14, 30, tzinfo=UTC)


def trading_clock(start: datetime, speed: float = 1.0) -> tuple[SimClock, FakeMonotonic]:
    mono = FakeMonotonic()
    return SimClock(start, speed, mono, skip_closed=True), mono


# --- the clock --------------------------------------------------------------------------


def test_the_close_is_followed_by_the_next_sessions_open() -> None:
    clock, mono = trading_clock(FRIDAY_1559)
    mono.advance(59.5)
    assert clock.now() == FRIDAY_CLOSE - timedelta(seconds=0.5)
    mono.advance(0.5)
    assert clock.now() == MONDAY_OPEN  # the weekend passed in an instant
    mono.advance(90.0)
    assert clock.now() == MONDAY_OPEN + timedelta(seconds=90)


def test_a_holiday_and_an_early_close_pass_in_an_instant() -> None:
    clock, mono = trading_clock(WEDNESDAY_1559)
    mono.advance(60.0)
    assert clock.now() == FRIDAY_AFTER_OPEN  # Thanksgiving skipped
    mono.advance(3.5 * 3600)  # Friday closes early, at 13:00
    assert clock.now() == datetime(2026, 11, 30, 14, 30, tzinfo=UTC)


def test_speed_30_plays_the_75_minute_entry_window_in_150_real_seconds() -> None:
    clock, mono = trading_clock(WINDOW_OPENS, speed=30.0)
    mono.advance(149.0)
    assert clock.now() == datetime(2026, 11, 18, 20, 59, 30, tzinfo=UTC)  # 15:59:30
    mono.advance(1.0)
    assert clock.now() == THURSDAY_OPEN
    mono.advance(10.0)
    assert clock.now() == THURSDAY_OPEN + timedelta(minutes=5)


def test_a_closed_start_or_jump_means_the_next_open_and_speed_changes_stay_continuous() -> None:
    saturday = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    clock, mono = trading_clock(saturday)
    assert clock.now() == MONDAY_OPEN
    mono.advance(60.0)
    clock.set_speed(10.0)
    assert clock.now() == MONDAY_OPEN + timedelta(minutes=1)
    mono.advance(6.0)
    assert clock.now() == MONDAY_OPEN + timedelta(minutes=2)
    clock.jump_to(datetime(2026, 11, 23, 23, 0, tzinfo=UTC))  # Monday 18:00: closed
    assert clock.now() == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="forwards"):
        clock.jump_to(MONDAY_OPEN)
    assert clock.skips_closed and not SimClock(saturday).skips_closed


@given(steps=st.lists(st.floats(0.0, 600.0), min_size=1, max_size=40),
       speed=st.sampled_from([1.0, 30.0, 600.0]))  # fmt: skip
def test_trading_time_is_monotonic_and_never_reads_a_closed_instant(
    steps: list[float], speed: float
) -> None:
    clock, mono = trading_clock(FRIDAY_1559, speed)
    sessions = xnys_sessions(date(2026, 11, 20))
    before = clock.now()
    traded = 0.0
    for step in steps:
        mono.advance(step)
        now = clock.now()
        assert now >= before
        i = sessions.index_on_or_after(now.astimezone(UTC).date() - timedelta(days=1))
        inside = any(
            sessions.opens[j] <= now.timestamp() < sessions.closes[j] for j in (i, i + 1, i + 2)
        )
        assert inside, f"{now} is outside regular hours"
        traded += step * speed
        before = now
    # the trading seconds elapsed are exactly the simulated ones: none lost at the jumps
    sessions_seen = [
        (float(o), float(c))
        for o, c in zip(sessions.opens, sessions.closes, strict=True)
        if c > FRIDAY_1559.timestamp() and o <= before.timestamp()
    ]
    counted = sum(
        min(c, before.timestamp()) - max(o, FRIDAY_1559.timestamp()) for o, c in sessions_seen
    )
    assert counted == pytest.approx(traded, abs=1e-3)


def test_parse_start_reads_new_york_time_and_moves_a_closed_one_to_the_next_open() -> None:
    assert parse_start("2026-11-20 14:30") == datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
    assert parse_start("2026-07-15 14:30") == datetime(2026, 7, 15, 18, 30, tzinfo=UTC)  # EDT
    assert parse_start("2026-11-21 10:00") == MONDAY_OPEN  # a Saturday
    assert parse_start("2026-11-20 16:00") == MONDAY_OPEN  # at the close
    assert parse_start("2026-11-26 11:00") == FRIDAY_AFTER_OPEN  # Thanksgiving
    assert parse_start("2026-11-20 08:00") == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert session_start(FRIDAY_1559) == FRIDAY_1559
    for bad, why in [
        ("2026-11-20", "YYYY-MM-DD HH:MM"),
        ("2026-13-01 10:00", "YYYY-MM-DD HH:MM"),
        ("20/11/2026 10:00", "YYYY-MM-DD HH:MM"),
        ("1999-06-01 10:00", "between the years 2000 and 2099"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_start(bad)


# --- the market across sessions ---------------------------------------------------------


def test_the_days_bar_is_final_at_the_close_and_the_listings_roll() -> None:
    clock, mono = trading_clock(FRIDAY_1559)
    market = Market(clock, symbols=["SPY", "AAPL"])
    expiries = market.expiries("SPY")
    assert expiries[0] == date(2026, 11, 20)  # Friday's weekly trades until the close
    strikes_friday = set(market.strikes("AAPL"))
    market.set_price("AAPL", market.mid("AAPL") * 1.3)  # far from Friday's strikes
    mono.advance(120.0)
    market.advance()
    assert market.time() == MONDAY_OPEN + timedelta(seconds=60)
    assert market.session_day() == date(2026, 11, 23)
    friday, monday = market.daily_bars("SPY")[-2:]
    assert (friday.day, monday.day) == (date(2026, 11, 20), date(2026, 11, 23))
    assert market.quote("SPY").close == friday.close  # the previous close is Friday's bar
    assert monday.open != friday.close  # Monday opened with a gap
    rolled = market.expiries("SPY")
    assert date(2026, 11, 20) not in rolled and rolled[0] == date(2026, 11, 27)
    assert rolled[1:] == [e for e in expiries if e > date(2026, 11, 27)][: len(rolled) - 1]
    assert market.option("SPY", date(2026, 11, 20), market.strikes("SPY")[10], "C") is None
    strikes_monday = set(market.strikes("AAPL"))
    assert strikes_friday < strikes_monday  # new strikes around the new price, old ones kept
    assert max(strikes_monday) > max(strikes_friday)


# --- expiry: an open spread settles at its expiry's close --------------------------------


def _closing(symbol: str, start: datetime) -> tuple[float, float]:
    """(mid, stock mark) of ``symbol`` at Friday's close, from a twin market started at
    ``start`` with the same seed on a linear clock (the same draws up to the close)."""
    mono = FakeMonotonic()
    twin = Market(SimClock(start, 1.0, mono), symbols=["SPY", "AAPL"])
    mono.advance((FRIDAY_CLOSE - start).total_seconds())
    twin.advance()
    assert twin.time() == FRIDAY_CLOSE
    q = twin.quote(symbol)
    return twin.mid(symbol), 0.5 * (q.bid + q.ask)


def _put_spread(market: Market, close: float) -> tuple[OptionContract, OptionContract]:
    """A bear put spread on Friday's weekly with SPY's close between its strikes: it settles
    at the close's distance below the long strike, so the settlement price shows in the
    cash. (SPY rallies into this seed's close: both puts are in the money at 14:30, so both
    legs have a market to trade at.)"""
    strikes = market.strikes("SPY")
    expiry = date(2026, 11, 20)
    long = market.option("SPY", expiry, min(k for k in strikes if k > close + 1), "P")
    short = market.option("SPY", expiry, max(k for k in strikes if k < close - 2), "P")
    assert long is not None and short is not None
    assert market.mid("SPY") < short.strike < close < long.strike
    return long, short


def test_an_open_spread_settles_at_intrinsic_value_against_its_expirys_close() -> None:
    clock, mono = trading_clock(FRIDAY_1430)
    market = Market(clock, symbols=["SPY", "AAPL"])
    exchange = Exchange(market)
    close_mid, _ = _closing("SPY", FRIDAY_1430)  # the test knows where SPY closes
    long, short = _put_spread(market, close_mid)
    for order_id, (leg, action) in enumerate(((long, "BUY"), (short, "SELL")), start=1):
        q = market.option_quote(leg.con_id).quote
        price = q.ask if action == "BUY" else q.bid
        exchange.place(OrderRequest(order_id, 1, "OPT", "SPY", leg, (), action, 2, "LMT", price))
    assert {p.contract.con_id: p.quantity for p in exchange.positions()} == {
        long.con_id: 2,
        short.con_id: -2,
    }
    cash_before = exchange.cash
    mono.advance(91 * 60.0)  # over the close, to Monday 09:31
    market.advance()
    events = exchange.on_market()
    settled = {e.position.contract.con_id: e.position.quantity
               for e in events if isinstance(e, PositionEvent)}  # fmt: skip
    assert settled[long.con_id] == 0 and settled[short.con_id] == 0
    assert exchange.positions() == []
    monday_mid = market.mid("SPY")
    assert abs(monday_mid - close_mid) > 0.05  # the weekend moved SPY: the test can tell
    value = (long.strike - close_mid) * 100 * 2  # the short put expired worthless
    assert exchange.cash == pytest.approx(cash_before + value)


def test_a_spread_expiring_later_is_still_quoted_and_held_after_the_roll() -> None:
    clock, mono = trading_clock(FRIDAY_1559)
    market = Market(clock, symbols=["SPY", "AAPL"])
    exchange = Exchange(market)
    strikes = market.strikes("SPY")
    long = market.option("SPY", date(2026, 11, 27), strikes[len(strikes) // 2], "C")
    assert long is not None
    ask = market.option_quote(long.con_id).quote.ask
    exchange.place(OrderRequest(1, 1, "OPT", "SPY", long, (), "BUY", 1, "LMT", ask))
    mono.advance(120.0)
    market.advance()
    exchange.on_market()
    (pos,) = exchange.positions()
    assert pos.contract == long and pos.quantity == 1
    assert market.contract(long.con_id) == long  # still listed, still tradable
    assert market.option_quote(long.con_id).quote.ask > 0


def test_the_days_pnl_counts_from_the_previous_close_across_the_jump() -> None:
    clock, mono = trading_clock(FRIDAY_1559)
    market = Market(clock, symbols=["SPY", "AAPL"])
    exchange = Exchange(market)
    spy = market.stock("SPY")
    assert isinstance(spy, StockContract)
    exchange.place(OrderRequest(1, 1, "STK", "SPY", spy, (), "BUY", 100, "LMT",
                                market.quote("SPY").ask))  # fmt: skip
    mono.advance(120.0)
    market.advance()
    exchange.on_market()
    _, close_mark = _closing("SPY", FRIDAY_1559)
    q = market.quote("SPY")
    monday_mark = 0.5 * (q.bid + q.ask)
    assert exchange.pnl().daily == pytest.approx(100 * (monday_mark - close_mark))
    assert abs(exchange.pnl().daily) > 1.0  # the overnight gap is in it


# --- over the socket ---------------------------------------------------------------------


async def test_friday_15_59_advanced_past_the_close_serves_fridays_bar_on_monday(
    make_gateway: MakeGateway, fake_time: FakeMonotonic, connect: Connect
) -> None:
    gateway = await make_gateway(start=FRIDAY_1559, skip_closed=True)
    ib = await connect(gw=gateway)
    spy = Stock("SPY", "SMART", "USD")
    await ib.qualifyContractsAsync(spy)
    before = await ib.reqHistoricalDataAsync(spy, "", "5 D", "1 day", "TRADES", True)
    assert str(before[-1].date) == "2026-11-20"  # Friday's provisional bar
    fake_time.advance(120.0)
    await gateway.pump()
    assert await ib.reqCurrentTimeAsync() == MONDAY_OPEN + timedelta(seconds=60)
    bars = await ib.reqHistoricalDataAsync(spy, "", "5 D", "1 day", "TRADES", True)
    assert [str(b.date) for b in bars[-2:]] == ["2026-11-20", "2026-11-23"]
    friday = bars[-2]
    final = gateway.market.daily_bars("SPY")[-2]
    assert (friday.open, friday.high, friday.low, friday.close, friday.volume) == (
        final.open,
        final.high,
        final.low,
        final.close,
        final.volume,
    )
    assert friday.volume > before[-1].volume  # the last minute's trading is in it
    assert gateway.market.quote("SPY").close == friday.close


async def test_speed_30_over_the_socket_reaches_the_next_open_in_150_seconds(
    make_gateway: MakeGateway, fake_time: FakeMonotonic
) -> None:
    gateway = await make_gateway(start=WINDOW_OPENS, speed=30.0, skip_closed=True)
    fake_time.advance(75.0)
    await gateway.pump()
    assert gateway.sim_time() == WINDOW_OPENS + timedelta(minutes=37, seconds=30)
    fake_time.advance(75.0)
    await gateway.pump()
    assert gateway.sim_time() == THURSDAY_OPEN
    wednesday, thursday = gateway.market.daily_bars("SPY")[-2:]
    assert wednesday.day == date(2026, 11, 18) and wednesday.volume > 0  # final
    assert thursday.day == date(2026, 11, 19) and thursday.volume == 0  # just opened
    fake_time.advance(2.0)  # one simulated minute of Thursday
    await gateway.pump()
    assert gateway.market.daily_bars("SPY")[-1].volume > 0
    assert gateway.market.daily_bars("SPY")[-2] == wednesday
