"""The Positions screen's risk (issue 13): per spread and in total, delta, delta in
dollars, gamma, theta, vega, breakeven, max profit / max loss, at 80 and 120 columns.

The store holds the demo's two open spreads with the risk the engine computes
(``engine.positions_risk.with_risk``) from the demo market's model greeks for the NVDA
legs; the XOM pair (legs the demo market does not quote) has no greeks yet, so its
greeks are dashes and the total says it is partial.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import pytest

from tests.tui.conftest import AppFactory
from tests.tui.demo_store import Demo
from tests.tui.test_snapshots import NARROW, WIDE, SnapCompare, steps
from tui_trader.engine.positions_risk import with_risk
from tui_trader.state.store import PositionLeg, Positions, Store
from tui_trader.tui.screens.positions import RISK_NARROW, RISK_WIDE, PositionsScreen
from tui_trader.tui.widgets.tables import DiffTable

#: XOM's spot (the demo market does not list XOM; NVDA's is the market's mid).
XOM_SPOT = 116.2


def with_model_greeks(demo: Demo, leg: PositionLeg) -> PositionLeg:
    """``leg`` with the demo market's model greeks (as IB's tickOptionComputation sends
    them), unchanged for a contract the market does not quote."""
    try:
        g = demo.market.option_quote(leg.con_id).model_greeks
    except (KeyError, IndexError, ValueError):
        return leg
    return replace(leg, delta=g.delta, gamma=g.gamma, theta=g.theta, vega=g.vega)


def risk_store(demo: Demo, store: Store, edit: Callable[[PositionLeg], PositionLeg] | None = None
               ) -> Store:  # fmt: skip
    pos = store.get(Positions)
    spreads = [
        replace(sp, legs=tuple((edit or (lambda x: x))(with_model_greeks(demo, leg))
                               for leg in sp.legs))
        for sp in pos.spreads
    ]  # fmt: skip
    spots = {"NVDA": demo.market.mid("NVDA"), "XOM": XOM_SPOT}
    store.set(Positions, replace(pos, spreads=with_risk(spreads, spots)))
    return store


def texts(screen: PositionsScreen) -> list[list[str]]:
    table = screen.risk_table
    return [[c.plain for c in table.cells(k)] for k in table.keys]


def test_the_demo_legs_have_model_greeks(demo: Demo, store: Store) -> None:
    nvda, xom = risk_store(demo, store).get(Positions).spreads
    assert nvda.risk is not None and nvda.risk.complete
    lo, sh = nvda.legs
    assert lo.delta is not None and sh.delta is not None
    # 8 units x 100 x (long delta - short delta), in shares; dollars at the spot.
    assert nvda.risk.delta == pytest.approx(800 * (lo.delta - sh.delta))
    assert nvda.risk.delta is not None
    assert nvda.risk.dollar_delta == pytest.approx(nvda.risk.delta * demo.market.mid("NVDA"))
    # Cost 1,910.40 for 8 units: 2.388 a share: breakeven 187.5 + 2.388, max loss the cost.
    assert nvda.risk.breakeven == pytest.approx(189.888)
    assert nvda.risk.max_loss == pytest.approx(1910.4)
    assert nvda.risk.max_profit == pytest.approx(8 * 1000 - 1910.4)
    assert xom.risk is not None and xom.risk.delta is None and xom.risk.max_loss == 190.0


async def test_rows_and_the_partial_total_at_120_then_80(
    make_app: AppFactory, demo: Demo, store: Store
) -> None:
    app = make_app(store_=risk_store(demo, store))
    nvda = app.store.get(Positions).spreads[0].risk
    assert nvda is not None and nvda.delta is not None and nvda.dollar_delta is not None
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        assert screen.risk_table.id == "risk-wide"
        assert len(RISK_WIDE) == len(texts(screen)[0])
        assert texts(screen) == [
            ["NVDA 187.5/197.5 C", "8", f"{nvda.delta:+.1f}", f"{nvda.dollar_delta:+,.0f}",
             f"{nvda.gamma:+.2f}", f"{nvda.theta:+.2f}", f"{nvda.vega:+.2f}", "189.89",
             "6,089.60", "1,910.40"],
            ["XOM 115/120 C", "1", "-", "-", "-", "-", "-", "116.90", "310.00", "190.00"],
        ]  # fmt: skip
        total = str(screen.query_one("#risk-total").render())
        assert total.startswith(f"Total 2 spreads: Δ {nvda.delta:+.1f} sh")
        assert "Max profit 6,399.60  Max loss 2,100.40" in total
        assert "PARTIAL: 1 of 2 without greeks" in total
        # The position table is as before: money, DTE and the stop/target distances.
        cells = [c.plain for c in screen.table.cells(screen.table.keys[0])]
        assert cells[8:10] == ["171.52 (-7.1%)", "205.40 (+11.2%)"]

        await pilot.resize_terminal(*NARROW)
        await pilot.pause()
        assert screen.risk_table.id == "risk-narrow"
        assert screen.has_class("-risk-narrow")
        assert [len(r) for r in texts(screen)] == [len(RISK_NARROW)] * 2
        assert texts(screen)[1] == ["XOM 115/120 C", "-", "-", "-", "-", "116.90", "190.00"]
        assert screen.query_one("#risk-total").region.bottom <= 22  # above the footer


async def test_a_nan_greek_from_ib_is_a_dash_not_a_crash(
    make_app: AppFactory, demo: Demo, store: Store
) -> None:
    """IB sent NaN for the short NVDA leg's delta (no model yet): its delta and delta in
    dollars are dashes, its gamma/theta/vega still shown, the total partial."""

    def no_short_delta(leg: PositionLeg) -> PositionLeg:
        return replace(leg, delta=math.nan) if leg.quantity < 0 and leg.symbol == "NVDA" else leg

    app = make_app(store_=risk_store(demo, store, no_short_delta))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        row = texts(screen)[0]
        assert row[2:4] == ["-", "-"] and row[4] != "-" and row[9] == "1,910.40"
        total = str(screen.query_one("#risk-total").render())
        assert total.startswith("Total 2 spreads: Δ -  $Δ -  Γ +")
        assert "PARTIAL: 2 of 2 without greeks" in total


async def test_no_spreads_and_no_risk_yet(make_app: AppFactory, store: Store) -> None:
    """A Positions slice without risk (before the engine computed it): dashes; empty: said."""
    app = make_app(store_=store)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        assert texts(screen)[0][2:] == ["-"] * 8
        total = str(screen.query_one("#risk-total").render())
        assert total.startswith("Total 2 spreads: Δ -  $Δ -  Γ -  Θ -  Vega -")
        assert total.endswith("PARTIAL: risk of 2 of 2 not computed yet")
        app.store.set(Positions, Positions(spreads=(), updated_at=None))
        await pilot.pause()
        assert screen.risk_table.keys == []
        assert str(screen.query_one("#risk-total").render()) == "Total: no open spreads"


def test_positions_risk_120x40(
    snap_compare: SnapCompare, make_app: AppFactory, demo: Demo, store: Store
) -> None:
    app = make_app(store_=risk_store(demo, store))
    assert snap_compare(app, terminal_size=WIDE, run_before=steps("2"))


def test_positions_risk_80x24(
    snap_compare: SnapCompare, make_app: AppFactory, demo: Demo, store: Store
) -> None:
    app = make_app(store_=risk_store(demo, store))
    assert snap_compare(app, terminal_size=NARROW, run_before=steps("2"))


async def test_the_risk_row_of_the_selected_spread_stays_in_view(
    make_app: AppFactory, demo: Demo, store: Store
) -> None:
    """Twelve open spreads at 80x24: End on the positions scrolls the risk table too."""
    risky = risk_store(demo, store)
    nvda = risky.get(Positions).spreads[0]
    many = tuple(
        replace(nvda, intent_id=f"tt-{i:012d}", intent_ids=(f"tt-{i:012d}",)) for i in range(12)
    )
    risky.set(Positions, Positions(spreads=many, updated_at=None))
    app = make_app(store_=risky)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        risk = screen.risk_table
        assert risk.scroll_y == 0
        await pilot.press("end")
        await pilot.pause()
        assert screen.table.highlighted_key == "tt-000000000011"
        assert risk.highlighted_key == "tt-000000000011" and risk.scroll_y > 0
        total = str(screen.query_one("#risk-total").render())
        assert total.startswith("Total 12 spreads:")
        assert screen.query_one("#risk-total").region.bottom <= 22  # above the footer


def _cursor_rows(table: DiffTable) -> list[str]:
    """The keys of the rows ``table`` draws with its cursor style (what the eye sees)."""
    cursor_bg = table.get_component_rich_style("diff-table--cursor").bgcolor
    drawn = []
    for index, key in enumerate(table.keys):
        line = table.render_line(index + 1 - round(table.scroll_y))
        if any(seg.style is not None and seg.style.bgcolor == cursor_bg for seg in line):
            drawn.append(key)
    return drawn


@pytest.mark.parametrize("size", [WIDE, NARROW], ids=["120x40", "80x24"])
async def test_the_risk_row_of_the_selected_spread_is_highlighted(
    make_app: AppFactory, demo: Demo, store: Store, size: tuple[int, int]
) -> None:
    """Issue 13 defect: the positions cursor moved, the risk table showed no highlight.
    The risk row of the selected spread is drawn with the cursor bar, and only it; the
    risk table still takes no focus (the keys move the positions table)."""
    app = make_app(store_=risk_store(demo, store))
    async with app.run_test(size=size) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        risk = screen.risk_table
        first, second = screen.table.keys
        assert _cursor_rows(risk) == [first]
        await pilot.press("down")
        await pilot.pause()
        assert screen.table.highlighted_key == second
        assert _cursor_rows(risk) == [second]
        assert not risk.can_focus and app.focused is screen.table
        await pilot.press("up")
        await pilot.pause()
        assert _cursor_rows(risk) == [first]


async def test_a_click_on_a_risk_row_selects_its_spread(
    make_app: AppFactory, demo: Demo, store: Store
) -> None:
    """The two tables are one view: a click on the XOM risk row selects XOM in the
    positions table (``c`` would close it), and the risk table keeps no focus."""
    app = make_app(store_=risk_store(demo, store))
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PositionsScreen)
        first, second = screen.table.keys
        assert screen.table.highlighted_key == first
        risk = screen.risk_table
        await pilot.click(risk, offset=(2, 1 + 1 + 1))  # border line, header, 2nd row
        await pilot.pause()
        assert screen.table.highlighted_key == second
        assert _cursor_rows(risk) == [second] and app.focused is screen.table
        await pilot.click(risk, offset=(2, 1 + 1))  # the 1st row
        await pilot.pause()
        assert screen.table.highlighted_key == first and _cursor_rows(risk) == [first]
