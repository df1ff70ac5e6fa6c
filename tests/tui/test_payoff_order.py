"""Issue 13: "the chart is for one contract while the order is for several". The preview's
payoff chart is the whole order's P&L: scaled by the order's quantity, the axis in money
of the order, the legend ``x8``, and it follows a quantity change.

Real numbers from the demo: AMZN 20261231 240/250 C, 8 contracts at a 2.34 limit: max loss
8 x 2.34 x 100 = 1,872, max profit 8 x (10 - 2.34) x 100 = 6,128 (the order box's).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import Demo, price_spread
from tests.tui.test_snapshots import steps
from tui_trader.core.payoff import payoff_at_expiry
from tui_trader.core.settings import Settings
from tui_trader.state.store import Preview
from tui_trader.tui.screens.preview import PreviewScreen, payoff_inputs, spread_rows
from tui_trader.tui.screens.preview_order import width_of
from tui_trader.tui.widgets.payoff import (
    PayoffInputs,
    PayoffPlot,
    payoff_points,
    today_points,
    y_ticks,
)


def order_inputs(demo: Demo, quantity: int | None = None) -> tuple[Preview, float, float]:
    """The demo's AMZN order (optionally at another quantity), its max loss and profit as
    the order box states them (quantity x limit x 100, quantity x (width - limit) x 100)."""
    preview = price_spread(demo, "AMZN").preview()
    spec = preview.spec
    assert spec is not None and spec.limit_price is not None
    if quantity is not None:
        spec = spec.model_copy(update={"quantity": quantity})
        preview = dataclasses.replace(preview, spec=spec, quantity=quantity)
    qty, limit = spec.quantity, spec.limit_price
    assert limit is not None
    return preview, qty * limit * 100, qty * (width_of(spec) - limit) * 100


def test_the_plotted_max_loss_is_quantity_times_limit_times_100(demo: Demo) -> None:
    preview, loss, profit = order_inputs(demo)
    spec = preview.spec
    assert spec is not None and (spec.quantity, spec.limit_price) == (8, 2.34)
    assert (round(loss, 6), round(profit, 6)) == (1872.0, 6128.0)
    row = spread_rows(demo.selection("AMZN"))[0]
    p = payoff_inputs(row, 222.74, preview, Settings())
    assert (p.quantity, p.label) == (8, "x8")
    _, ys = payoff_points(p)
    assert min(ys) == pytest.approx(-1872.0) and max(ys) == pytest.approx(6128.0)
    ticks, labels = y_ticks(p)
    assert ticks == pytest.approx([-1872.0, -936.0, 0.0, 3064.0, 6128.0])
    assert labels == ["-1,872", "-936", "0", "3,064", "6,128"]
    # The "today" curve is the same order: 8 spreads, inside the expiry bounds ...
    today = today_points(p)
    assert today is not None and all(-1872.0 < y < 6128.0 for y in today[1])
    # ... and at expiry it is core.payoff's line for 8 spreads at the limit.
    at_expiry = today_points(dataclasses.replace(p, t_years=0.0))
    assert at_expiry is not None
    line = payoff_at_expiry(np.array(at_expiry[0]), 240.0, 250.0, True, 2.34, 100.0, 8)
    assert at_expiry[1] == pytest.approx(list(line), abs=1e-9)


def test_another_spread_than_the_orders_stays_per_contract(demo: Demo) -> None:
    preview, _, _ = order_inputs(demo)
    second = spread_rows(demo.selection("AMZN"))[1]
    p = payoff_inputs(second, 222.74, preview, Settings())
    assert (p.quantity, p.label) == (1, "/ct")
    _, ys = payoff_points(p)
    assert min(ys) == pytest.approx(-second.max_loss)


def test_a_bear_put_scales_the_same_way() -> None:
    put = PayoffInputs(230.0, 225.0, False, 295.0, 205.0, 227.95, None, 2.05, quantity=3)
    xs, ys = payoff_points(put)
    assert ys == [885.0, 885.0, -615.0, -615.0] and xs[1:3] == [225.0, 230.0]


async def test_the_chart_follows_the_orders_quantity(make_app: AppFactory, demo: Demo) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await steps("enter", select="AMZN")(pilot)
        screen = app.screen
        assert isinstance(screen, PreviewScreen)
        plot = screen.query_one(PayoffPlot)
        text = str(plot.render())
        assert "expiry x8" in text and "-1,872" in text and "6,128" in text
        # The engine answers "+"/"-" with a new Preview slice: five contracts now.
        preview, loss, profit = order_inputs(demo, 5)
        assert (round(loss, 6), round(profit, 6)) == (1170.0, 3830.0)
        app.store.set(Preview, preview)
        await pilot.pause()
        text = str(plot.render())
        assert "expiry x5" in text and "-1,170" in text and "3,830" in text
        assert "x8" not in text
