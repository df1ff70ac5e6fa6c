"""core.payoff: the expiry line is intrinsic minus debit with the spread's max profit and
loss; today's Black-Scholes curve lies between them and converges to expiry as t -> 0."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.payoff import payoff_at_expiry, value_today

GRID = np.array([150.0, 195.0, 200.0, 201.85, 203.0, 205.0, 260.0])


def test_bull_call_at_expiry_is_intrinsic_difference_minus_debit() -> None:
    # BUY 2 AAPL 200/205 C @ 1.85: max loss 2 x 185 = 370, max profit 2 x 315 = 630
    pnl = payoff_at_expiry(GRID, 200.0, 205.0, True, 1.85, 100.0, 2)
    assert pnl.tolist() == pytest.approx(
        [-370.0, -370.0, -370.0, 0.0, 230.0, 630.0, 630.0], abs=1e-9
    )


def test_bear_put_at_expiry() -> None:
    # BUY 1 210/200 P @ 3.10: max loss 310 above 210, max profit 690 below 200, BE 206.90
    grid = np.array([150.0, 200.0, 206.9, 210.0, 300.0])
    pnl = payoff_at_expiry(grid, 210.0, 200.0, False, 3.10, 100.0, 1)
    assert pnl.tolist() == pytest.approx([690.0, 690.0, 0.0, -310.0, -310.0], abs=1e-9)


def test_nan_prices_give_nan_not_a_crash() -> None:
    out = value_today([np.nan, 200.0], 200.0, 205.0, True, 0.3, 0.3, 0.1, 0.04, 0.0, 1.85, 100, 1)
    assert np.isnan(out[0]) and np.isfinite(out[1])


def test_today_at_the_money_known_value() -> None:
    # BSM call values (S=200, T=30/365, r=4 %, q=0, vol 30 %), from the closed form with
    # math.erf: C(200) = 7.1822, C(205) = 4.9844
    (pnl,) = value_today([200.0], 200.0, 205.0, True, 0.30, 0.30, 30 / 365, 0.04, 0.0, 1.85, 100, 1)
    assert pnl == pytest.approx((7.1822 - 4.9844 - 1.85) * 100, abs=0.01)


@settings(max_examples=60, deadline=None)
@given(
    k=st.floats(50.0, 400.0),
    width=st.sampled_from([1.0, 2.5, 5.0, 10.0]),
    is_call=st.booleans(),
    debit_share=st.floats(0.05, 0.95),
    vol=st.floats(0.05, 1.5),
    t=st.floats(1 / 365, 1.0),
    rate=st.floats(0.0, 0.08),
    qty=st.integers(1, 10),
)
def test_today_between_max_loss_and_max_profit_and_converges_to_expiry(
    k: float, width: float, is_call: bool, debit_share: float, vol: float, t: float,
    rate: float, qty: int,
) -> None:  # fmt: skip
    long_k, short_k = (k, k + width) if is_call else (k + width, k)
    debit = width * debit_share
    grid = np.linspace(k * 0.5, k * 1.5, 41)
    max_loss, max_profit = debit * 100 * qty, (width - debit) * 100 * qty
    expiry = payoff_at_expiry(grid, long_k, short_k, is_call, debit, 100.0, qty)
    assert expiry.min() == pytest.approx(-max_loss) and expiry.max() == pytest.approx(max_profit)
    today = value_today(grid, long_k, short_k, is_call, vol, vol, t, rate, 0.0, debit, 100.0, qty)
    assert np.all(today >= -max_loss - 1e-6) and np.all(today <= max_profit + 1e-6)
    # time value vanishes like S * vol * sqrt(t) (at the money, 0.4 S vol sqrt(t) per share)
    tiny = 1e-10
    near = value_today(grid, long_k, short_k, is_call, vol, vol, tiny, rate, 0.0, debit, 100.0, qty)
    bound = 0.5 * grid.max() * vol * tiny**0.5 * 100 * qty + 1e-6
    assert np.max(np.abs(near - expiry)) <= bound
    at = value_today(grid, long_k, short_k, is_call, vol, vol, 0.0, rate, 0.0, debit, 100.0, qty)
    assert np.array_equal(at, expiry)
