"""Black-Scholes-Merton (core/options.py) against textbook values and its own calculus.

Textbook rows are copied as literals from Haug, "The Complete Guide to Option Pricing
Formulas" (2nd ed.; prices table 1-1/1-2 and the greeks examples) and Hull's examples
17.1-17.7 as checked by py_vollib's doctests. Haug quotes vega per 1.00 of volatility,
theta per year and rho per 1.00 of rate; our module reports vega per vol point (/100),
theta per calendar day (/365) and rho per 1 % (/100), so the tests convert ours back.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.options import bs_greeks, bs_price, implied_vol

TOL = 1e-4

# type, strike, spot, q, r, t, vol, value  (Haug)
HAUG_PRICES = [
    ("call", 65.00, 60.00, 0.00, 0.08, 0.25, 0.30, 2.1334),
    ("put", 95.00, 100.00, 0.05, 0.10, 0.50, 0.20, 2.4648),
    ("put", 19.00, 19.00, 0.10, 0.10, 0.75, 0.28, 1.7011),
    ("call", 19.00, 19.00, 0.10, 0.10, 0.75, 0.28, 1.7011),
    ("call", 1.60, 1.56, 0.08, 0.06, 0.50, 0.12, 0.0291),
    ("put", 70.00, 75.00, 0.05, 0.10, 0.50, 0.35, 4.0870),
    ("call", 100.00, 90.00, 0.10, 0.10, 0.10, 0.15, 0.0205),
    ("call", 100.00, 100.00, 0.10, 0.10, 0.10, 0.15, 1.8734),
    ("call", 100.00, 110.00, 0.10, 0.10, 0.10, 0.15, 9.9413),
    ("call", 100.00, 90.00, 0.10, 0.10, 0.10, 0.25, 0.3150),
    ("call", 100.00, 100.00, 0.10, 0.10, 0.10, 0.25, 3.1217),
    ("call", 100.00, 110.00, 0.10, 0.10, 0.10, 0.25, 10.3556),
    ("call", 100.00, 90.00, 0.10, 0.10, 0.10, 0.35, 0.9474),
    ("call", 100.00, 100.00, 0.10, 0.10, 0.10, 0.35, 4.3693),
    ("call", 100.00, 110.00, 0.10, 0.10, 0.10, 0.35, 11.1381),
    ("call", 100.00, 90.00, 0.10, 0.10, 0.50, 0.15, 0.8069),
    ("call", 100.00, 100.00, 0.10, 0.10, 0.50, 0.15, 4.0232),
    ("call", 100.00, 110.00, 0.10, 0.10, 0.50, 0.15, 10.5769),
    ("call", 100.00, 90.00, 0.10, 0.10, 0.50, 0.25, 2.7026),
    ("call", 100.00, 100.00, 0.10, 0.10, 0.50, 0.25, 6.6997),
    ("call", 100.00, 110.00, 0.10, 0.10, 0.50, 0.25, 12.7857),
    ("call", 100.00, 90.00, 0.10, 0.10, 0.50, 0.35, 4.9329),
    ("call", 100.00, 100.00, 0.10, 0.10, 0.50, 0.35, 9.3679),
    ("call", 100.00, 110.00, 0.10, 0.10, 0.50, 0.35, 15.3086),
    ("put", 100.00, 90.00, 0.10, 0.10, 0.10, 0.15, 9.9210),
    ("put", 100.00, 100.00, 0.10, 0.10, 0.10, 0.15, 1.8734),
    ("put", 100.00, 110.00, 0.10, 0.10, 0.10, 0.15, 0.0408),
    ("put", 100.00, 90.00, 0.10, 0.10, 0.10, 0.25, 10.2155),
    ("put", 100.00, 100.00, 0.10, 0.10, 0.10, 0.25, 3.1217),
    ("put", 100.00, 110.00, 0.10, 0.10, 0.10, 0.25, 0.4551),
    ("put", 100.00, 90.00, 0.10, 0.10, 0.10, 0.35, 10.8479),
    ("put", 100.00, 100.00, 0.10, 0.10, 0.10, 0.35, 4.3693),
    ("put", 100.00, 110.00, 0.10, 0.10, 0.10, 0.35, 1.2376),
    ("put", 100.00, 90.00, 0.10, 0.10, 0.50, 0.15, 10.3192),
    ("put", 100.00, 100.00, 0.10, 0.10, 0.50, 0.15, 4.0232),
    ("put", 100.00, 110.00, 0.10, 0.10, 0.50, 0.15, 1.0646),
    ("put", 100.00, 90.00, 0.10, 0.10, 0.50, 0.25, 12.2149),
    ("put", 100.00, 100.00, 0.10, 0.10, 0.50, 0.25, 6.6997),
    ("put", 100.00, 110.00, 0.10, 0.10, 0.50, 0.25, 3.2734),
    ("put", 100.00, 90.00, 0.10, 0.10, 0.50, 0.35, 14.4452),
    ("put", 100.00, 100.00, 0.10, 0.10, 0.50, 0.35, 9.3679),
    ("put", 100.00, 110.00, 0.10, 0.10, 0.50, 0.35, 5.7963),
    ("call", 40.00, 42.00, 0.08, 0.04, 0.75, 0.35, 5.0975),
]


@pytest.mark.parametrize(("kind", "k", "s", "q", "r", "t", "vol", "value"), HAUG_PRICES)
def test_price_matches_haug(
    kind: str, k: float, s: float, q: float, r: float, t: float, vol: float, value: float
) -> None:
    price = float(bs_price(s, k, t, r, q, vol, kind == "call"))
    assert price == pytest.approx(value, abs=TOL)
    # bs_greeks prices with its own formula: it must agree with bs_price.
    assert float(bs_greeks(s, k, t, r, q, vol, kind == "call").price) == pytest.approx(
        price, abs=1e-12
    )


def test_price_vectorises_over_the_whole_table() -> None:
    kind, k, s, q, r, t, vol, value = (np.array(c) for c in zip(*HAUG_PRICES, strict=True))
    prices = bs_price(s, k, t, r, q, vol, kind == "call")
    assert prices.shape == (len(HAUG_PRICES),)
    np.testing.assert_allclose(prices, value.astype(float), atol=TOL, rtol=0)


# Haug greeks: greek, type, strike, spot, q, r, t, vol, value (textbook units).
def test_delta_matches_haug() -> None:
    call = bs_greeks(105.0, 100.0, 0.5, 0.10, 0.10, 0.36, True)
    put = bs_greeks(105.0, 100.0, 0.5, 0.10, 0.10, 0.36, False)
    assert float(call.delta) == pytest.approx(0.5946, abs=TOL)
    assert float(put.delta) == pytest.approx(-0.3566, abs=TOL)
    # Elasticity (not computed by the module) = delta * S / price: Haug -4.8775.
    assert float(put.delta * 105.0 / put.price) == pytest.approx(-4.8775, abs=TOL)


@pytest.mark.parametrize("is_call", [True, False])
def test_gamma_and_vega_match_haug(is_call: bool) -> None:
    g = bs_greeks(55.0, 60.0, 0.75, 0.10, 0.0, 0.30, is_call)
    assert float(g.gamma) == pytest.approx(0.0278, abs=TOL)
    assert float(g.vega) * 100 == pytest.approx(18.9358, abs=TOL)  # ours is per vol point


def test_theta_matches_haug_per_year_and_per_day() -> None:
    g = bs_greeks(430.0, 405.0, 0.0833333333333333, 0.07, 0.05, 0.20, False)
    assert float(g.theta) * 365 == pytest.approx(-31.1924, abs=TOL)  # ours is per day
    assert float(g.theta) == pytest.approx(-0.0855, abs=TOL)  # Haug's thetaPerDay


def test_rho_matches_haug() -> None:
    g = bs_greeks(72.0, 75.0, 1.0, 0.09, 0.0, 0.19, True)
    assert float(g.rho) * 100 == pytest.approx(38.7325, abs=TOL)  # ours is per 1 %


def test_dividend_rho_matches_haug_by_finite_difference() -> None:
    # The module has no dividend rho; dP/dq by central difference of bs_price: Haug 42.2254.
    h = 1e-6
    up = float(bs_price(500.0, 490.0, 0.25, 0.08, 0.05 + h, 0.15, False))
    down = float(bs_price(500.0, 490.0, 0.25, 0.08, 0.05 - h, 0.15, False))
    assert (up - down) / (2 * h) == pytest.approx(42.2254, abs=TOL)


# Hull examples 17.1-17.7 (S=49, K=50, t=0.3846, r=0.05, sigma=0.2), py_vollib's values.
HULL = {"s": 49.0, "k": 50.0, "t": 0.3846, "r": 0.05, "q": 0.0, "vol": 0.2}


def test_hull_call_greeks() -> None:
    g = bs_greeks(is_call=True, **HULL)
    assert float(g.delta) == pytest.approx(0.521601633972, abs=TOL)
    assert float(g.theta) * 365 == pytest.approx(-4.30538996455, abs=TOL)
    assert float(g.gamma) == pytest.approx(0.0655453772525, abs=TOL)
    assert float(g.vega) == pytest.approx(0.121052427542, abs=TOL)
    assert float(g.rho) == pytest.approx(0.089065740988, abs=TOL)
    # Hull's printed (rounded) textbook figures.
    assert float(g.delta) == pytest.approx(0.522, abs=5e-4)
    assert float(g.theta) * 365 == pytest.approx(-4.31, abs=5e-3)


def test_hull_put_theta() -> None:
    g = bs_greeks(is_call=False, **HULL)
    assert float(g.theta) * 365 == pytest.approx(-1.8530056722, abs=TOL)


# ---------------------------------------------------------------------------------------
# Properties over a sensible market domain.

spots = st.floats(20.0, 500.0)
moneyness = st.floats(0.7, 1.3)
times = st.floats(0.05, 2.0)
vols = st.floats(0.08, 1.0)
rates = st.floats(0.0, 0.10)
divs = st.floats(0.0, 0.06)
PROPS = settings(max_examples=150, deadline=None)


@PROPS
@given(s=spots, m=moneyness, t=times, r=rates, q=divs, vol=vols)
def test_put_call_parity_with_dividend_yield(
    s: float, m: float, t: float, r: float, q: float, vol: float
) -> None:
    k = s * m
    call = float(bs_price(s, k, t, r, q, vol, True))
    put = float(bs_price(s, k, t, r, q, vol, False))
    forward_value = s * math.exp(-q * t) - k * math.exp(-r * t)
    assert call - put == pytest.approx(forward_value, abs=1e-9 * s)


@PROPS
@given(s=spots, m=moneyness, t=times, r=rates, q=divs, vol=vols, is_call=st.booleans())
def test_greeks_equal_central_finite_differences(
    s: float, m: float, t: float, r: float, q: float, vol: float, is_call: bool
) -> None:
    k = s * m

    def p(**bump: float) -> float:
        args = {"s": s, "k": k, "t": t, "r": r, "q": q, "vol": vol} | bump
        return float(bs_price(is_call=is_call, **args))

    g = bs_greeks(s, k, t, r, q, vol, is_call)
    spread = s * vol * math.sqrt(t)  # the scale on which the price curves in s
    hs = 1e-4 * spread
    delta = (p(s=s + hs) - p(s=s - hs)) / (2 * hs)
    hg = 1e-3 * spread
    gamma = (p(s=s + hg) - 2 * p() + p(s=s - hg)) / (hg * hg)
    hv = 1e-5
    vega = (p(vol=vol + hv) - p(vol=vol - hv)) / (2 * hv)
    ht = 1e-5
    theta = -(p(t=t + ht) - p(t=t - ht)) / (2 * ht)  # time passing shortens t
    hr = 1e-5
    rho = (p(r=r + hr) - p(r=r - hr)) / (2 * hr)

    assert float(g.delta) == pytest.approx(delta, rel=1e-5, abs=1e-7)
    assert float(g.gamma) == pytest.approx(gamma, rel=1e-3, abs=1e-6)
    assert float(g.vega) == pytest.approx(vega / 100, rel=1e-5, abs=1e-7)
    assert float(g.theta) == pytest.approx(theta / 365, rel=1e-5, abs=1e-7)
    assert float(g.rho) == pytest.approx(rho / 100, rel=1e-5, abs=1e-7)


@PROPS
@given(
    s=spots,
    m=st.floats(0.6, 1.5),
    t=st.floats(7 / 365, 2.0),
    r=rates,
    q=divs,
    vol=st.floats(0.05, 2.0),
    is_call=st.booleans(),
)
def test_implied_vol_round_trips_bs_price(
    s: float, m: float, t: float, r: float, q: float, vol: float, is_call: bool
) -> None:
    k = s * m
    price = float(bs_price(s, k, t, r, q, vol, is_call))
    iv = float(implied_vol(price, s, k, t, r, q, is_call))
    if price == 0.0:  # far out of the money, underflowed: a zero price says nothing of vol
        assert math.isnan(iv)
        return
    assert math.isfinite(iv)
    assert float(bs_price(s, k, t, r, q, iv, is_call)) == pytest.approx(price, abs=1e-6)
    # Where the price is informative about vol (vega >= 0.01 per 1.00 of vol), the
    # volatility itself comes back.
    if float(bs_greeks(s, k, t, r, q, vol, is_call).vega) * 100 >= 1e-2:
        assert iv == pytest.approx(vol, abs=1e-6)


def test_implied_vol_round_trips_a_whole_array() -> None:
    k = np.array([80.0, 95.0, 100.0, 105.0, 120.0, 90.0])
    vol = np.array([0.45, 0.3, 0.25, 0.22, 0.2, 0.6])
    is_call = np.array([False, False, True, True, True, False])
    price = bs_price(100.0, k, 0.25, 0.04, 0.01, vol, is_call)
    np.testing.assert_allclose(
        implied_vol(price, 100.0, k, 0.25, 0.04, 0.01, is_call), vol, atol=1e-8
    )


@PROPS
@given(
    s=spots, m=st.floats(0.5, 1.5), t=times, vol=vols, is_call=st.booleans(),
    shortfall=st.floats(1e-6, 0.5),
)  # fmt: skip
def test_implied_vol_is_nan_below_intrinsic_without_carry(
    s: float, m: float, t: float, vol: float, is_call: bool, shortfall: float
) -> None:
    # With r = q = 0 the no-arbitrage floor is exactly intrinsic value.
    k = s * m
    intrinsic = max(s - k, 0.0) if is_call else max(k - s, 0.0)
    assert math.isnan(float(implied_vol(intrinsic - shortfall, s, k, t, 0.0, 0.0, is_call)))


@PROPS
@given(
    s=spots, m=st.floats(0.5, 1.5), t=times, r=rates, q=divs, is_call=st.booleans(),
    shortfall=st.floats(1e-6, 0.5),
)  # fmt: skip
def test_implied_vol_is_nan_below_the_no_arbitrage_floor(
    s: float, m: float, t: float, r: float, q: float, is_call: bool, shortfall: float
) -> None:
    # European floor: max(S e^-qT - K e^-rT, 0) for a call, max(K e^-rT - S e^-qT, 0) put.
    k = s * m
    fwd = s * math.exp(-q * t) - k * math.exp(-r * t)
    floor = max(fwd, 0.0) if is_call else max(-fwd, 0.0)
    assert math.isnan(float(implied_vol(floor - shortfall, s, k, t, r, q, is_call)))
    if is_call:  # and a call is never worth more than the (dividend-discounted) stock
        ceiling = s * math.exp(-q * t)
        assert math.isnan(float(implied_vol(ceiling + shortfall, s, k, t, r, q, True)))


def test_implied_vol_of_a_european_deep_itm_put_below_intrinsic_is_finite() -> None:
    # Decision recorded: the module is European. With r > 0 a deep ITM European put is worth
    # less than intrinsic (K e^-rT - S < K - S), and that price has an implied vol. Intrinsic
    # here is 50.00; the European floor is 100 e^-0.05 - 50 = 45.12.
    price = float(bs_price(50.0, 100.0, 1.0, 0.05, 0.0, 0.2, False))
    assert price < 50.0
    assert float(implied_vol(price, 50.0, 100.0, 1.0, 0.05, 0.0, False)) == pytest.approx(
        0.2, abs=1e-6
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 0.0, -1.0, -2.0])
def test_implied_vol_is_nan_for_non_finite_or_non_positive_prices(bad: float) -> None:
    assert math.isnan(float(implied_vol(bad, 100.0, 100.0, 0.25, 0.04, 0.0, True)))


def test_implied_vol_is_nan_for_non_finite_inputs_and_expired_options() -> None:
    assert math.isnan(float(implied_vol(2.0, math.nan, 100.0, 0.25, 0.04, 0.0, True)))
    assert math.isnan(float(implied_vol(2.0, 100.0, math.nan, 0.25, 0.04, 0.0, True)))
    assert math.isnan(float(implied_vol(2.0, 100.0, 100.0, 0.0, 0.04, 0.0, True)))
    assert math.isnan(float(implied_vol(2.0, 100.0, 100.0, -0.1, 0.04, 0.0, True)))
    # NaN in one element does not spoil its neighbours.
    out = implied_vol([math.nan, 4.0], 100.0, 100.0, 0.25, 0.04, 0.0, True)
    assert math.isnan(out[0])
    assert float(bs_price(100.0, 100.0, 0.25, 0.04, 0.0, out[1], True)) == pytest.approx(4.0)


@PROPS
@given(
    s=spots, m=st.floats(0.5, 1.5), t=st.sampled_from([0.0, -1e-9, -0.5]), r=rates, q=divs,
    vol=vols, is_call=st.booleans(),
)  # fmt: skip
def test_expired_option_is_worth_intrinsic_with_payoff_greeks(
    s: float, m: float, t: float, r: float, q: float, vol: float, is_call: bool
) -> None:
    k = s * m
    intrinsic = max(s - k, 0.0) if is_call else max(k - s, 0.0)
    assert float(bs_price(s, k, t, r, q, vol, is_call)) == intrinsic
    g = bs_greeks(s, k, t, r, q, vol, is_call)
    assert float(g.price) == intrinsic
    itm = s > k if is_call else s < k
    assert float(g.delta) == ((1.0 if is_call else -1.0) if itm else 0.0)
    for greek in (g.gamma, g.vega, g.theta, g.rho):
        assert float(greek) == 0.0


def test_expired_and_live_options_mix_in_one_array() -> None:
    t = np.array([0.0, 0.5, -1.0])
    prices = bs_price(110.0, 100.0, t, 0.05, 0.0, 0.3, True)
    assert prices[0] == 10.0
    assert prices[2] == 10.0
    assert prices[1] == pytest.approx(float(bs_price(110.0, 100.0, 0.5, 0.05, 0.0, 0.3, True)))
    assert prices[1] > 10.0
    g = bs_greeks(110.0, 100.0, t, 0.05, 0.0, 0.3, True)
    assert np.all(np.isfinite(g.gamma)) and g.gamma[0] == 0.0 and g.gamma[1] > 0.0
