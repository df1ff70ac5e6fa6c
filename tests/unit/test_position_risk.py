"""Held spreads' risk (core.position_risk, engine.positions_risk): greeks per position in
contracts x multiplier, delta in dollars, breakeven and max profit / loss from the
preview's payoff code, totals, and missing greeks that never crash.

Leg greeks in the properties come from ``core.options.bs_greeks`` (the model the simulated
gateway quotes with), so the signs are the market's, not chosen by the test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tui_trader.core.options import bs_greeks
from tui_trader.core.payoff import payoff_at_expiry
from tui_trader.core.position_risk import (
    LegExposure,
    SpreadRisk,
    clean_greek,
    position_greek,
    spread_risk,
    total_risk,
    vertical_bounds,
)
from tui_trader.engine.positions_risk import with_risk
from tui_trader.state.store import PositionLeg, SpreadPosition

FAST = settings(max_examples=60, deadline=None)


def model_leg(spot: float, strike: float, is_call: bool, vol: float, t: float,
              quantity: float) -> LegExposure:  # fmt: skip
    g = bs_greeks(spot, strike, t, 0.04, 0.0, vol, is_call)
    return LegExposure(quantity, 100.0, float(g.delta), float(g.gamma), float(g.theta),
                       float(g.vega))  # fmt: skip


@st.composite
def verticals(draw: st.DrawFn) -> tuple[float, float, float, float, float, int]:
    """(spot, lower strike, upper strike, vol, t, units) near the money."""
    spot = draw(st.floats(20.0, 500.0))
    lo = spot * draw(st.floats(0.85, 1.1))
    hi = lo + spot * draw(st.floats(0.01, 0.15))
    vol = draw(st.floats(0.1, 1.0))
    t = draw(st.floats(7 / 365, 1.0))
    units = draw(st.integers(1, 50))
    return spot, lo, hi, vol, t, units


@FAST
@given(verticals())
def test_a_bull_calls_delta_is_positive_and_a_bear_puts_negative(
    v: tuple[float, float, float, float, float, int],
) -> None:
    spot, lo, hi, vol, t, units = v
    bull = [model_leg(spot, lo, True, vol, t, units), model_leg(spot, hi, True, vol, t, -units)]
    bear = [model_leg(spot, hi, False, vol, t, units), model_leg(spot, lo, False, vol, t, -units)]
    # Deep in or out of the money both legs' deltas round to the same number: no sign.
    assume(abs((bull[0].delta or 0.0) - (bull[1].delta or 0.0)) > 1e-9)
    call, put = spread_risk(bull, spot), spread_risk(bear, spot)
    assert call.delta is not None and call.delta > 0
    assert put.delta is not None and put.delta < 0
    # Delta in dollars is delta x spot, with the delta's sign.
    assert call.dollar_delta == pytest.approx(call.delta * spot)
    assert put.dollar_delta == pytest.approx(put.delta * spot)


@FAST
@given(verticals(), st.integers(2, 20))
def test_greeks_scale_with_quantity_and_flip_with_the_side(
    v: tuple[float, float, float, float, float, int], n: int
) -> None:
    spot, lo, hi, vol, t, units = v
    one = [model_leg(spot, lo, True, vol, t, units), model_leg(spot, hi, True, vol, t, -units)]
    many = [LegExposure(x.quantity * n, x.multiplier, x.delta, x.gamma, x.theta, x.vega)
            for x in one]  # fmt: skip
    sold = [LegExposure(-x.quantity, x.multiplier, x.delta, x.gamma, x.theta, x.vega)
            for x in one]  # fmt: skip
    base, scaled, flipped = spread_risk(one, spot), spread_risk(many, spot), spread_risk(sold, spot)
    for name in ("delta", "gamma", "theta", "vega", "dollar_delta"):
        b = getattr(base, name)
        assert getattr(scaled, name) == pytest.approx(b * n, rel=1e-9, abs=1e-9)
        assert getattr(flipped, name) == pytest.approx(-b, rel=1e-12, abs=1e-12)


row_values = st.one_of(st.none(), st.floats(-1e5, 1e5))


@FAST
@given(st.lists(st.one_of(st.none(), st.builds(
    SpreadRisk, delta=row_values, gamma=row_values, theta=row_values, vega=row_values,
    dollar_delta=row_values, max_profit=row_values, max_loss=row_values)), max_size=8))  # fmt: skip
def test_totals_are_the_sum_of_the_rows_and_count_the_partial_ones(
    rows: list[SpreadRisk | None],
) -> None:
    total = total_risk(rows)
    known = [r for r in rows if r is not None]
    for name in ("delta", "gamma", "theta", "vega", "dollar_delta", "max_profit", "max_loss"):
        values = [getattr(r, name) for r in known if getattr(r, name) is not None]
        if values:
            assert getattr(total, name) == pytest.approx(math.fsum(values), abs=1e-6)
        else:
            assert getattr(total, name) is None  # nothing known: no sum, not a zero
    assert total.spreads == len(rows) and total.unknown == rows.count(None)
    assert total.partial == sum(1 for r in known if not r.complete)
    assert total.unbounded == sum(1 for r in known if r.max_loss is None)


def test_a_five_lot_bull_call_in_contracts_times_100() -> None:
    legs = [LegExposure(5, 100, 0.60, 0.030, -0.05, 0.20),
            LegExposure(-5, 100, 0.40, 0.025, -0.04, 0.18)]  # fmt: skip
    r = spread_risk(legs, 250.0)
    assert r.delta == pytest.approx(100.0)  # 5 x 100 x (0.60 - 0.40): +100 shares
    assert r.gamma == pytest.approx(2.5)  # 5 x 100 x 0.005
    assert r.theta == pytest.approx(-5.0)  # 5 x 100 x -0.01 per day
    assert r.vega == pytest.approx(10.0)  # 5 x 100 x 0.02 per vol point
    assert r.dollar_delta == pytest.approx(25_000.0)  # 100 shares x 250
    assert r.complete


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, 1.7976931348623157e308, -2.0])
def test_a_leg_without_a_usable_delta_leaves_the_spread_delta_unknown(bad: float | None) -> None:
    legs = [LegExposure(1, 100, bad, 0.03, -0.05, 0.2), LegExposure(-1, 100, 0.4, 0.02, -0.04, 0.1)]
    r = spread_risk(legs, 100.0)
    assert r.delta is None and r.dollar_delta is None and not r.complete
    assert r.gamma == pytest.approx(1.0) and r.vega == pytest.approx(10.0)
    total = total_risk([r, spread_risk([LegExposure(2, 100, 0.5, 0.01, -0.02, 0.1)], 100.0)])
    assert total.partial == 1 and total.delta == pytest.approx(100.0)


def test_marker_values_of_other_greeks() -> None:
    assert clean_greek("gamma", -1.0) is None and clean_greek("vega", -2.0) is None
    assert clean_greek("theta", -2.0) == -2.0  # a real theta can be -2 per day
    assert clean_greek("delta", -1.0) == -1.0  # a deep in-the-money put
    assert position_greek([], "delta") is None
    assert spread_risk([LegExposure(1, 100, 0.5)], None).dollar_delta is None


def test_bounds_of_a_debit_call_and_put_with_real_numbers() -> None:
    # AMZN 240/250 C bought at 2.34, 3 units: loss 702, profit 2,298, breakeven 242.34.
    call = vertical_bounds(240.0, 250.0, True, 2.34, 100.0, 3)
    assert call is not None
    assert (round(call.max_loss, 6), round(call.max_profit, 6)) == (702.0, 2298.0)
    assert call.breakeven == pytest.approx(242.34)
    # A 250/240 P bear put at 3.10, 2 units: loss 620, profit 1,380, breakeven 246.90.
    put = vertical_bounds(250.0, 240.0, False, 3.10, 100.0, 2)
    assert put is not None
    assert (round(put.max_loss, 6), round(put.max_profit, 6)) == (620.0, 1380.0)
    assert put.breakeven == pytest.approx(246.90)
    # Paid more than the width: never profitable, no breakeven.
    over = vertical_bounds(240.0, 250.0, True, 10.5, 100.0, 1)
    assert over is not None and over.breakeven is None and over.max_loss == pytest.approx(1050.0)
    assert vertical_bounds(240.0, 240.0, True, 1.0, 100.0, 1) is None
    assert vertical_bounds(240.0, 250.0, True, math.nan, 100.0, 1) is None


@FAST
@given(verticals(), st.floats(0.01, 0.99), st.booleans())
def test_bounds_agree_with_the_payoff_line(
    v: tuple[float, float, float, float, float, int], frac: float, is_call: bool
) -> None:
    _, lo, hi, _, _, units = v
    long_k, short_k = (lo, hi) if is_call else (hi, lo)
    debit = frac * (hi - lo)
    b = vertical_bounds(long_k, short_k, is_call, debit, 100.0, units)
    assert b is not None and b.breakeven is not None
    assert b.max_loss == pytest.approx(debit * 100 * units)
    assert b.max_profit == pytest.approx((hi - lo - debit) * 100 * units)
    assert b.breakeven == pytest.approx(long_k + debit if is_call else long_k - debit)
    at_be = payoff_at_expiry([b.breakeven], long_k, short_k, is_call, debit, 100.0, units)
    assert float(at_be[0]) == pytest.approx(0.0, abs=1e-6 * (1 + b.max_loss))
    grid = np.linspace(min(lo, hi) - 50, max(lo, hi) + 50, 201)
    line = payoff_at_expiry(grid, long_k, short_k, is_call, debit, 100.0, units)
    assert float(line.min()) == pytest.approx(-b.max_loss)
    assert float(line.max()) == pytest.approx(b.max_profit)


def test_with_risk_on_held_spreads() -> None:
    """The engine's step: a journal bull call with greeks, an external pair whose short
    leg has no model yet, and a lone stock (delta 1 a share)."""
    ours = SpreadPosition(
        "AMZN",
        (PositionLeg(1, "AMZN", "20261231", 240.0, "C", 3.0, 505.65, delta=0.31, gamma=0.017,
                     theta=-0.09, vega=0.27),
         PositionLeg(2, "AMZN", "20261231", 250.0, "C", -3.0, -278.65, delta=0.19, gamma=0.013,
                     theta=-0.07, vega=0.21)),
        intent_id="tt-000000000001", quantity=3, direction="LONG", cost=681.0,
    )  # fmt: skip
    pair = SpreadPosition(
        "XOM",
        (PositionLeg(9, "XOM", "20261218", 115.0, "C", 1.0, 310.0, delta=0.55, gamma=0.04,
                     theta=-0.03, vega=0.12),
         PositionLeg(10, "XOM", "20261218", 120.0, "C", -1.0, 120.0)),
        external=True, quantity=1, direction="LONG", cost=190.0,
    )  # fmt: skip
    stock = SpreadPosition(
        "SPY", (PositionLeg(7, "SPY", "", 0.0, "", 10.0, 500.0, sec_type="STK", multiplier=1),),
        external=True, quantity=10,
    )  # fmt: skip
    a, b, c = with_risk([ours, pair, stock], {"AMZN": 222.74, "XOM": 116.0, "SPY": 600.0})
    assert a.risk is not None and b.risk is not None and c.risk is not None
    assert a.risk.delta == pytest.approx(36.0)  # 3 x 100 x (0.31 - 0.19)
    assert a.risk.dollar_delta == pytest.approx(36.0 * 222.74)
    assert a.risk.theta == pytest.approx(-6.0) and a.risk.vega == pytest.approx(18.0)
    # Cost 681 for 3 units: 2.27 a share; max loss the cost, breakeven 242.27.
    assert a.risk.max_loss == pytest.approx(681.0)
    assert a.risk.max_profit == pytest.approx(3000.0 - 681.0)
    assert a.risk.breakeven == pytest.approx(242.27)
    assert b.risk.delta is None and not b.risk.complete and b.risk.max_loss == pytest.approx(190.0)
    assert (c.risk.delta, c.risk.dollar_delta, c.risk.max_loss) == (10.0, 6000.0, None)
    total = total_risk(sp.risk for sp in (a, b, c))
    assert total.delta == pytest.approx(46.0) and (total.partial, total.unbounded) == (1, 1)
    assert total.max_loss == pytest.approx(871.0)
