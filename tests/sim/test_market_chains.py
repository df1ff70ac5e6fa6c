"""Option listings and option quotes of the simulated market."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.options import bs_greeks, bs_price
from tui_trader.sim.chains import (
    bid_ask,
    option_con_id,
    option_tick,
    strike_grid,
    strike_increments,
    symbol_code_of,
)
from tui_trader.sim.clock import SimClock
from tui_trader.sim.market import Market
from tui_trader.sim.types import OptionContract

FRIDAY_1430 = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(start: datetime = FRIDAY_1430, seed: int = 7,
         symbols: list[str] | None = None) -> tuple[Market, FakeMonotonic]:  # fmt: skip
    mono = FakeMonotonic()
    return Market(SimClock(start, 1.0, mono), seed=seed, symbols=symbols), mono


@pytest.fixture(scope="module")
def market() -> Market:
    return make(symbols=["SPY", "AAPL", "TSLA", "PFE", "COST"])[0]


def years(m: Market, expiry: date) -> float:
    return (m.expiry_close(expiry) - m.time()).total_seconds() / (365 * 86400)


# --- listing --------------------------------------------------------------------------


def test_expiries_are_weeklies_and_monthlies_with_holiday_thursdays(market: Market) -> None:
    assert market.expiries("SPY") == [
        date(2026, 11, 20),  # today, a monthly, still trading at 14:30
        date(2026, 11, 27),
        date(2026, 12, 4),
        date(2026, 12, 11),
        date(2026, 12, 18),
        date(2026, 12, 24),  # Christmas Friday -> Thursday (an early close)
        date(2026, 12, 31),  # New Year's Day Friday -> Thursday
        date(2027, 1, 15),  # monthlies: third Fridays out to 120 days
        date(2027, 2, 19),
        date(2027, 3, 19),
    ]
    assert market.expiry_close(date(2026, 12, 24)) == datetime(2026, 12, 24, 18, 0, tzinfo=UTC)


def test_juneteenth_moves_the_june_monthly_to_thursday() -> None:
    m, _ = make(start=datetime(2026, 6, 1, 18, 30, tzinfo=UTC), symbols=["SPY"])
    expiries = m.expiries("SPY")
    assert date(2026, 6, 18) in expiries and date(2026, 6, 19) not in expiries
    assert date(2026, 7, 17) in expiries and date(2026, 9, 18) in expiries
    assert all(e.weekday() in (3, 4) for e in expiries)


def test_an_expiry_that_closed_is_not_listed() -> None:
    m, _ = make(start=datetime(2026, 11, 20, 22, 0, tzinfo=UTC), symbols=["SPY"])
    assert m.expiries("SPY")[0] == date(2026, 11, 27)


@pytest.mark.parametrize(
    ("spot", "index", "expected"),
    [(600.0, True, (1.0, 5.0)), (20.0, False, (0.5, 1.0)), (70.0, False, (1.0, 2.5)),
     (230.0, False, (2.5, 5.0)), (480.0, False, (5.0, 10.0)), (1200.0, False, (10.0, 20.0))],
)  # fmt: skip
def test_strike_increments(spot: float, index: bool, expected: tuple[float, float]) -> None:
    assert strike_increments(spot, index) == expected


def test_strike_grid_is_fine_near_the_money_and_coarse_far_out() -> None:
    grid = strike_grid(600.0, index_strikes=True)
    assert grid[0] == 420.0 and grid[-1] == 780.0
    near = [k for k in grid if 540 <= k <= 660]
    assert near == [float(k) for k in range(540, 661)]
    far = [k for k in grid if k < 540]
    assert np.all(np.diff(far) == 5.0)
    aapl = strike_grid(230.0, index_strikes=False)
    assert aapl[0] == 150.0 and aapl[-1] == 310.0
    assert [k for k in aapl if 200 <= k <= 210] == [200.0, 202.5, 205.0, 207.5, 210.0]
    assert [k for k in aapl if 160 <= k <= 175] == [160.0, 165.0, 170.0, 175.0]


def test_strikes_are_fixed_for_the_day_and_count_is_reasonable(market: Market) -> None:
    strikes = market.strikes("SPY")
    assert len(market.options("SPY")) == 2 * len(strikes) * len(market.expiries("SPY"))
    assert len(market.options("SPY")) < 4000
    spot = market.mid("SPY")
    assert strikes[0] < 0.75 * spot and strikes[-1] > 1.25 * spot
    assert all(len(market.options(s)) < 4000 for s in ("AAPL", "TSLA", "PFE", "COST"))


def test_option_lookups_and_con_ids_round_trip(market: Market) -> None:
    expiry = market.expiries("AAPL")[5]
    strike = market.strikes("AAPL")[20]
    call = market.option("AAPL", expiry, strike, "C")
    assert call is not None
    assert market.option("AAPL", expiry, strike + 1e-9, "C") == call
    assert market.contract(call.con_id) == call
    assert call.underlying_con_id == market.stock("AAPL").con_id  # type: ignore[union-attr]
    assert call.multiplier == 100 and call.trading_class == "AAPL"
    assert call.local_symbol == f"AAPL  {expiry:%y%m%d}C{round(strike * 1000):08d}"
    assert market.options("AAPL", expiry, "C", strike) == [call]
    assert len(market.options("AAPL", expiry)) == 2 * len(market.strikes("AAPL"))
    assert market.option("AAPL", expiry, strike + 0.3, "C") is None
    assert market.option("NOPE", expiry, strike, "C") is None
    assert market.contract(123) is None
    # conIds are independent of the seed and resolvable before the chain was looked at
    other, _ = make(seed=1, symbols=["SPY", "AAPL"])
    assert other.contract(call.con_id) == call
    ids = [o.con_id for s in ("SPY", "AAPL", "TSLA") for o in market.options(s)]
    assert len(set(ids)) == len(ids)
    assert all(2**30 <= i < 2**31 for i in ids)
    assert symbol_code_of(call.con_id) == 10  # AAPL's row in the table
    assert option_con_id(10, expiry, strike, "P") != call.con_id


# --- quotes ---------------------------------------------------------------------------


def _chain_quotes(m: Market, symbol: str, expiry: date) -> list[tuple[OptionContract, object]]:
    return [(o, m.option_quote(o.con_id)) for o in m.options(symbol, expiry)]


@pytest.mark.parametrize("symbol", ["SPY", "AAPL", "TSLA", "PFE"])
def test_mid_is_the_black_scholes_price_at_the_skewed_vol(market: Market, symbol: str) -> None:
    expiry = market.expiries(symbol)[7]
    t = years(market, expiry)
    spot = market.mid(symbol)
    for o in market.options(symbol, expiry):
        q = market.option_quote(o.con_id)
        model = q.model_greeks
        assert model.underlying_price == spot
        assert model.option_price == pytest.approx(
            float(bs_price(spot, o.strike, t, market.rate, 0.0, model.implied_vol, o.right == "C")),
            abs=1e-12,
        )
        tick = float(option_tick(np.array(model.option_price), np.array(symbol == "SPY")))
        b, a = q.quote.bid, q.quote.ask
        assert 0.0 <= b < a
        if b > 0:
            assert abs((b + a) / 2 - model.option_price) <= tick / 2 + 1e-9
            assert round(b / tick, 6) % 1 == 0 and round(a / tick, 6) % 1 == 0


def test_greeks_match_black_scholes_at_the_reported_implied_vols(market: Market) -> None:
    expiry = market.expiries("AAPL")[7]
    t = years(market, expiry)
    spot = market.mid("AAPL")
    checked = 0
    for o in market.options("AAPL", expiry):
        q = market.option_quote(o.con_id)
        for line, price in ((q.bid_greeks, q.quote.bid), (q.ask_greeks, q.quote.ask),
                            (q.model_greeks, q.model_greeks.option_price)):  # fmt: skip
            assert line.option_price == price
            if np.isnan(line.implied_vol):
                assert np.isnan(line.delta) and np.isnan(line.gamma)
                continue
            g = bs_greeks(spot, o.strike, t, market.rate, 0.0, line.implied_vol, o.right == "C")
            assert float(g.price) == pytest.approx(price, abs=1e-6)
            assert line.delta == pytest.approx(float(g.delta), abs=1e-12)
            assert line.gamma == pytest.approx(float(g.gamma), abs=1e-12)
            assert line.vega == pytest.approx(float(g.vega), abs=1e-12)
            assert line.theta == pytest.approx(float(g.theta), abs=1e-12)
            checked += 1
    assert checked > 100
    zero_bid = [o for o in market.options("SPY", market.expiries("SPY")[1])
                if market.option_quote(o.con_id).quote.bid == 0.0]  # fmt: skip
    assert zero_bid, "deep out-of-the-money options quote a zero bid"
    assert np.isnan(market.option_quote(zero_bid[0].con_id).bid_greeks.implied_vol)


def test_skew_makes_puts_richer_and_spreads_widen_out_of_the_money(market: Market) -> None:
    expiry = market.expiries("SPY")[8]
    spot = market.mid("SPY")
    atm = min(market.strikes("SPY"), key=lambda k: abs(k - spot))
    down = min(market.strikes("SPY"), key=lambda k: abs(k - 0.9 * spot))
    up = min(market.strikes("SPY"), key=lambda k: abs(k - spot * spot / down))

    def q(k: float, right: str) -> object:
        o = market.option("SPY", expiry, k, right)  # type: ignore[arg-type]
        assert o is not None
        return market.option_quote(o.con_id)

    atm_iv = q(atm, "C").model_greeks.implied_vol  # type: ignore[attr-defined]
    put_iv = q(down, "P").model_greeks.implied_vol  # type: ignore[attr-defined]
    call_iv = q(up, "C").model_greeks.implied_vol  # type: ignore[attr-defined]
    assert put_iv > atm_iv > call_iv

    def rel_width(k: float, right: str) -> float:
        quote = q(k, right).quote  # type: ignore[attr-defined]
        return (quote.ask - quote.bid) / ((quote.ask + quote.bid) / 2)

    assert rel_width(down, "P") > rel_width(atm, "P")
    assert rel_width(up, "C") > rel_width(atm, "C")


def test_option_quotes_are_cached_until_the_underlying_moves() -> None:
    m, mono = make(symbols=["SPY", "AAPL"])
    o = m.options("AAPL", m.expiries("AAPL")[6])[30]
    first = m.option_quote(o.con_id)
    assert m.option_quote(o.con_id) is first
    mono.t += 2.0
    changed = m.advance()
    assert o.con_id in changed
    second = m.option_quote(o.con_id)
    assert second is not first
    assert second.model_greeks.underlying_price == m.mid("AAPL")
    m.release_option(o.con_id)
    mono.t += 2.0
    assert o.con_id not in m.advance()


def test_100_streaming_option_lines_are_cheap() -> None:
    m, mono = make()
    lines = [o.con_id for s in m.symbols[:10] for o in m.options(s, m.expiries(s)[6])[40:50]]
    assert len(lines) == 100
    for cid in lines:
        m.option_quote(cid)
    started = time.perf_counter()
    for _ in range(20):  # 2 s of streaming at 10 updates/s
        mono.t += 0.1
        changed = m.advance()
        for cid in lines:
            assert cid in changed
            m.option_quote(cid)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0  # measured ~0.1 s: under 5 % of a core


@settings(max_examples=300, deadline=None)
@given(
    model=st.floats(0.0, 400.0, allow_nan=False),
    intrinsic_share=st.floats(0.0, 1.0),
    z=st.floats(-4.0, 4.0),
    index=st.booleans(),
)
def test_bid_ask_properties(model: float, intrinsic_share: float, z: float, index: bool) -> None:
    intrinsic = model * intrinsic_share
    bid, ask = bid_ask(np.array([model]), np.array([intrinsic]), np.array([z]), np.array([index]))
    b, a = float(bid[0]), float(ask[0])
    assert 0.0 <= b < a
    tick = float(option_tick(np.array(model), np.array(index)))
    if b > 0:
        assert abs((a + b) / 2 - model) <= tick / 2 + 1e-9
        assert abs(b / tick - round(b / tick)) < 1e-6
    else:
        assert a >= model


def test_batch_option_quotes_equal_one_by_one_quotes() -> None:
    batch_market, _ = make(symbols=["AAPL", "SPY"])
    single_market, _ = make(symbols=["AAPL", "SPY"])
    expiry = batch_market.expiries("AAPL")[3]
    ids = [c.con_id for c in batch_market.options("AAPL", expiry=expiry)][:40]
    ids += [c.con_id for c in batch_market.options("SPY", expiry=expiry)][:40]
    batch = batch_market.option_quotes(ids)
    singles = [single_market.option_quote(con_id) for con_id in ids]
    assert len(batch) == 80
    for a, b in zip(batch, singles, strict=True):
        assert a.quote.bid == b.quote.bid and a.quote.ask == b.quote.ask
        np.testing.assert_allclose(a.model_greeks.delta, b.model_greeks.delta, rtol=1e-12)
    with pytest.raises(KeyError):
        batch_market.option_quotes([123])
