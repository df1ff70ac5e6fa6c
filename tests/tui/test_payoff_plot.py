"""The payoff plot's inputs (what the Preview screen hands the widget) and its two curves:
the expiry line from ``core.spreads``' numbers and the "today" curve from
``core.payoff.value_today`` with the legs' IVs, or the legend's "today: no IV"."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from textual.app import App, ComposeResult

from tests.tui.demo_store import Demo, price_spread
from tui_trader.core.settings import PricingSettings, Settings
from tui_trader.state.store import Preview
from tui_trader.tui.screens.preview import payoff_inputs, spread_rows
from tui_trader.tui.widgets.payoff import PayoffInputs, PayoffPlot, payoff_points, today_points

#: AMZN's best spread in the demo: 20261231 240/250 C, 41 DTE, natural debit 2.34.
CALL = PayoffInputs(
    long_strike=240.0, short_strike=250.0, is_call=True, max_profit=766.0, max_loss=234.0,
    breakeven=242.34, spot=222.74, debit=2.34, multiplier=100.0, iv_long=0.368,
    iv_short=0.362, t_years=41 / 365, rate=0.04, q=0.0,
)  # fmt: skip


def test_inputs_from_the_demo_preview_carry_the_legs_ivs_and_t(demo: Demo) -> None:
    preview = price_spread(demo, "AMZN").preview()
    lo, sh = preview.legs
    assert (lo.action, lo.strike, sh.action, sh.strike) == ("BUY", 240.0, "SELL", 250.0)
    row = spread_rows(demo.selection("AMZN"))[0]
    settings = Settings(pricing=PricingSettings(risk_free_rate=0.045, dividend_yield=0.01))
    p = payoff_inputs(row, 222.74, preview, settings)
    assert (p.long_strike, p.short_strike, p.is_call) == (240.0, 250.0, True)
    assert p.iv_long == lo.iv and p.iv_short == sh.iv
    assert round(p.iv_long or 0.0, 3) == 0.368 and round(p.iv_short or 0.0, 3) == 0.362
    assert p.t_years == pytest.approx(41 / 365)
    assert (p.rate, p.q, p.multiplier, p.spot) == (0.045, 0.01, 100.0, 222.74)
    assert round(p.debit or 0.0, 2) == 2.34 and round(p.max_loss, 2) == 234.0
    assert p.has_today


def test_a_row_that_is_not_the_previewed_order_has_no_ivs(demo: Demo) -> None:
    preview = price_spread(demo, "AMZN").preview()
    second = spread_rows(demo.selection("AMZN"))[1]
    p = payoff_inputs(second, 222.74, preview, Settings())
    assert (p.iv_long, p.iv_short) == (None, None)
    assert not p.has_today and today_points(p) is None
    nothing = payoff_inputs(second, None, Preview(), Settings())
    assert (nothing.iv_long, nothing.iv_short, nothing.spot) == (None, None, None)


@pytest.mark.parametrize("bad", [None, math.nan, -1.0, 0.0, 1.7976931348623157e308])
def test_an_unusable_iv_leaves_only_the_expiry_line(bad: float | None) -> None:
    for p in (dataclasses.replace(CALL, iv_long=bad), dataclasses.replace(CALL, iv_short=bad)):
        assert not p.has_today and today_points(p) is None


def test_today_spans_the_expiry_range_between_max_loss_and_max_profit() -> None:
    today = today_points(CALL)
    assert today is not None
    xs, ys = today
    expiry_xs, _ = payoff_points(CALL)
    assert len(xs) == 81 and (xs[0], xs[-1]) == (expiry_xs[0], expiry_xs[-1])
    # Near-equal vols: strictly inside the expiry bounds, rising with the price (bull call).
    assert all(-234.0 < y < 766.0 for y in ys)
    assert all(b > a for a, b in itertools.pairwise(ys))
    # At the spot the model prices the spread at the legs' mids, 5.05 - 2.79 = 2.26 (the
    # demo's quotes; IVs rounded to 0.1 pt): P&L (2.26 - 2.34) x 100 = -8 per spread.
    assert float(np.interp(222.74, xs, ys)) == pytest.approx(-8.0, abs=1.0)


def test_at_expiry_today_is_the_expiry_line() -> None:
    p = dataclasses.replace(CALL, t_years=0.0)
    today = today_points(p)
    assert today is not None
    for x, y in zip(*today, strict=True):
        expected = min(max(x - 240.0, 0.0), 10.0) * 100.0 - 234.0
        assert y == pytest.approx(expected, abs=1e-9)


class PlotApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PayoffPlot(id="payoff")


async def rendered(p: PayoffInputs) -> str:
    app = PlotApp()
    async with app.run_test(size=(60, 14)) as pilot:
        plot = app.query_one(PayoffPlot)
        plot.show(p)
        await pilot.pause()
        return str(plot.render())


async def test_the_legend_names_both_curves() -> None:
    text = await rendered(CALL)
    assert "expiry" in text and "today" in text and "no IV" not in text
    assert "BE 242.34 | spot 222.74" in text


async def test_without_ivs_the_legend_says_so() -> None:
    text = await rendered(dataclasses.replace(CALL, iv_short=math.nan))
    assert "expiry" in text and "today: no IV" in text
