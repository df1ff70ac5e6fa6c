"""Issue 13, defects 3, 4 and 9: the spread preview's numbers from one snapshot of quotes,
the closing preview, and a limit that cannot leave the natural market.

The engine half runs the real engine against the simulated gateway over real sockets (the
fixtures of tests/engine); the screen half runs the dashboard over the demo store."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    MakeEngine,
    engine_gateway,
    make_engine,
)
from tests.sim.conftest import (  # noqa: F401
    FakeMonotonic,
    fake_time,
    make_gateway,
    t_start,
    until,
)
from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import Demo
from tests.tui.test_preview import open_preview
from tui_trader.core.models import SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import OrderPrice
from tui_trader.engine.actions import Outcome
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import (
    CandidateSet,
    Positions,
    Preview,
    PreviewLeg,
    SpreadPosition,
    Store,
)
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.preview import PreviewScreen, detail_content, spread_rows
from tui_trader.tui.screens.preview_order import (
    confirm_detail,
    is_stale,
    legs_natural,
    order_content,
)

TICK = 0.01


def _ceil_tick(x: float) -> float:
    return round(-(-round(x, 9) // TICK) * TICK, 2)


async def test_the_limit_is_held_inside_the_natural_market(
    make_engine: MakeEngine,  # noqa: F811
) -> None:
    """Defect 9: `[` pressed 150 times stops at the natural bid, and says so."""
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    pv = engine.store.get(Preview)
    nat = legs_natural(pv)
    assert nat is not None and pv.spec is not None
    assert pv.spec.limit_price == pytest.approx(nat.ask)  # paper: at the natural ask
    down = await engine.adjust_limit(-150)
    assert down.ok, down.message
    bid = _ceil_tick(nat.bid)
    assert f"Limit {bid:.2f} (held at the natural bid {bid:.2f})" in down.message
    spec = engine.store.get(Preview).spec
    assert spec is not None and spec.limit_price == bid
    again = await engine.adjust_limit(-1)
    assert not again.ok and f"already at the natural bid {bid:.2f}" in again.message
    # the order box shows the distance from the mid and the ask
    box = order_content(engine.store.get(Preview), 100.0).plain
    assert f"lim {bid - nat.mid:+,.2f} vs mid, {bid - nat.ask:+,.2f} vs ask" in box


async def _moved(engine: Engine, gw: SimGateway, factor: float) -> None:
    """Move MSFT by ``factor`` and wait until the previewed legs' quotes follow."""
    before = legs_natural(engine.store.get(Preview))
    gw.set_price("MSFT", gw.market.mid("MSFT") * factor)
    await gw.pump()

    def followed() -> bool:
        engine.refresh()
        now = legs_natural(engine.store.get(Preview))
        return now is not None and before is not None and now.ask < before.ask - 0.1

    await until(followed, what="the legs' quotes to move")


async def test_a_moved_market_is_shown_stale_and_repriced_before_sending(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
) -> None:
    """Defect 3: the natural shown is the legs' combination; a moved market is marked
    STALE, `w`/`t` re-prices; the money lines follow the limit."""
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    first = engine.store.get(Preview)
    assert first.spec is not None and not is_stale(first)
    priced = first.spec.limit_price
    assert priced is not None
    await _moved(engine, engine_gateway, 0.99)
    pv = engine.store.get(Preview)
    nat = legs_natural(pv)
    assert nat is not None and pv.spec == first.spec  # refresh never re-plans
    lo, sh = pv.legs
    assert nat.bid == pytest.approx(lo.bid - sh.ask) and nat.ask == pytest.approx(lo.ask - sh.bid)  # type: ignore[operator]
    box = order_content(pv, 100.0).plain
    assert f"Natural {nat.bid:,.2f}/{nat.ask:,.2f}" in box
    assert is_stale(pv) and "STALE priced at" in box and "t re-prices first" in box
    # re-pricing (what `t` does when stale) plans from the quotes shown
    assert (await engine.refresh_what_if()).ok
    pv = engine.store.get(Preview)
    assert not is_stale(pv) and pv.spec is not None
    repriced = pv.spec.limit_price
    assert repriced is not None and repriced == pytest.approx(nat.ask) and repriced < priced - 0.1
    # `[` three times: breakeven, max profit and the confirmation's max loss follow it
    assert (await engine.adjust_limit(-3)).ok
    pv = engine.store.get(Preview)
    spec = pv.spec
    assert spec is not None and spec.limit_price is not None
    limit, qty = spec.limit_price, spec.quantity
    assert limit == pytest.approx(nat.ask - 0.03)
    k, width = spec.long_leg.strike, spec.short_leg.strike - spec.long_leg.strike
    box = order_content(pv, 100.0).plain
    profit = (width - limit) * 100 * qty
    assert f"Max loss {qty * limit * 100:,.2f} profit {profit:,.2f}" in box
    assert f"BE {k + limit:,.2f} at the limit" in box
    text = confirm_detail(pv, 100.0)
    assert text.startswith(f"Max loss {qty * limit * 100:,.2f} ({qty} x {limit:.2f} x 100).")
    assert f"raise the limit to {nat.ask:,.2f} (max loss {qty * nat.ask * 100:,.2f})" in text


async def test_stale_t_reprices_instead_of_confirming(make_app: AppFactory) -> None:
    """Defect 3 on screen: with the legs moved, `t` re-prices first (no confirmation)."""
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_preview(app, pilot)
        pv = app.store.get(Preview)
        lo, sh = pv.legs
        moved = (
            PreviewLeg(lo.con_id, lo.action, lo.expiry, lo.strike, lo.right, 4.95, 5.05),
            sh,
        )
        app.store.update(Preview, legs=moved)
        await pilot.pause()
        box = str(app.screen.query_one("#order-panel").render())
        assert "Natural 2.13/2.29" in box and "STALE priced at 2.18/2.34" in box
        engine.calls.clear()
        await pilot.press("t")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, PreviewScreen)
        assert engine.calls == [("refresh_what_if", ())]
        app.store.update(Preview, legs=(lo, sh))  # re-priced: the same market again
        await pilot.pause()
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.detail.startswith("Max loss 1,872.00 (8 x 2.34 x 100).")


async def test_a_cents_flicker_is_not_stale_and_t_confirms(make_app: AppFactory) -> None:
    """Priced at 2.18/2.34 (width 0.16): a move of 0.02 or 0.04 is the same market (quotes
    flicker by cents all the time; "any move" left `t` re-pricing forever in the demo),
    0.05 is STALE. The threshold is a nickel or a quarter of the width if wider."""
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_preview(app, pilot)
        pv = app.store.get(Preview)
        lo, sh = pv.legs
        assert lo.bid is not None and lo.ask is not None

        def long_leg_at(bid: float, ask: float) -> tuple[PreviewLeg, PreviewLeg]:
            return (PreviewLeg(lo.con_id, lo.action, lo.expiry, lo.strike, lo.right, bid, ask), sh)

        for move, stale in ((0.02, False), (-0.04, False), (0.05, True), (-0.05, True)):
            moved = dataclasses.replace(pv, legs=long_leg_at(lo.bid + move, lo.ask + move))
            assert is_stale(moved) is stale, move
        assert isinstance(pv.price, OrderPrice)
        wide = dataclasses.replace(
            pv, price=dataclasses.replace(pv.price, natural_ask=2.62)
        )  # priced 2.18/2.62, width 0.44: a quarter is 0.11
        assert not is_stale(dataclasses.replace(wide, legs=long_leg_at(lo.bid, lo.ask + 0.38)))
        assert is_stale(dataclasses.replace(wide, legs=long_leg_at(lo.bid, lo.ask + 0.39)))
        app.store.update(Preview, legs=long_leg_at(lo.bid + 0.02, lo.ask + 0.02))
        await pilot.pause()
        box = str(app.screen.query_one("#order-panel").render())
        assert "Natural 2.20/2.36" in box and "STALE" not in box
        engine.calls.clear()
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        assert engine.calls == []


def test_the_ordered_spreads_detail_follows_the_limit(demo: Demo) -> None:
    """Defect 3: the ordered row's breakeven and money lines are at the order's limit."""
    row = spread_rows(demo.selection("AMZN"))[0]
    cset = CandidateSet("AMZN", "LONG", 222.74, demo.selection("AMZN"))
    text = detail_content(row, cset, 2.30, 100.0).plain
    assert "Lim 2.30 (nat 2.34, mid 2.26)" in text
    assert "Max profit 770.00  Max loss 230.00 /ct" in text and "BE 242.30" in text


def closing_preview(store: Store) -> tuple[Preview, SpreadPosition]:
    """The Preview slice the engine publishes for closing the demo's NVDA spread: SELL at
    2.40, the legs at 4.30/4.40 and 1.85/1.95 (natural 2.35/2.55)."""
    sp = store.get(Positions).spreads[0]
    lo, sh = sp.legs
    legs = tuple(
        SpreadLeg(con_id=p.con_id, symbol=p.symbol, expiry=p.expiry, strike=p.strike,
                  right=p.right, action=a)
        for p, a in ((lo, "BUY"), (sh, "SELL"))
    )  # fmt: skip
    spec = SpreadOrderSpec(
        underlying=sp.underlying, direction="LONG", legs=legs, action="SELL",
        quantity=sp.quantity, order_type="LMT", limit_price=2.40, mode="paper",
    )  # fmt: skip
    preview = Preview(
        spec=spec,
        price=OrderPrice("SELL", "LMT", 2.40, 2.35, 2.55),
        legs=(
            PreviewLeg(lo.con_id, "BUY", lo.expiry, lo.strike, lo.right, 4.30, 4.40, 4.35),
            PreviewLeg(sh.con_id, "SELL", sh.expiry, sh.strike, sh.right, 1.85, 1.95, 1.90),
        ),
    )
    return preview, sp


async def test_the_closing_preview_speaks_of_selling(make_app: AppFactory) -> None:
    """Defect 4: the position's legs with closing actions, credit, proceeds and realised
    P&L at the limit; no entry candidates and Down selects nothing."""
    engine = RecordingEngine()
    app = make_app(engine=engine)
    closing, sp = closing_preview(app.store)
    lo, _ = sp.legs
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "c")
        await app.workers.wait_for_complete()
        screen = app.screen
        assert isinstance(screen, PreviewScreen) and screen.closing
        app.store.set(Preview, closing)
        await pilot.pause()
        table = screen.query_one("#legs-table")
        actions = [table.cells(k)[0].plain for k in table.keys]  # type: ignore[attr-defined]
        assert actions == ["SELL", "BUY"]
        assert not screen.table.display
        box = str(screen.query_one("#order-panel").render())
        qty = sp.quantity
        proceeds = 2.40 * 100 * qty
        assert f"Qty {qty} of {qty}  LMT 2.40 credit" in box and "debit" not in box.lower()
        assert (
            f"Proceeds {proceeds:,.2f}\nRealised P&L {proceeds - 1_910.4:+,.2f} at the limit" in box
        )
        assert "Natural 2.35/2.55 mid 2.45" in box and "lim -0.05 vs mid, +0.05 vs bid" in box
        detail = str(screen.query_one("#spread-detail").render())
        assert detail.startswith(f"Closing {lo.expiry}") and f"Held {qty}, closing {qty}" in detail
        engine.calls.clear()
        await pilot.press("down")
        await app.workers.wait_for_complete()
        assert engine.calls == []
        assert str(screen.query_one("#spread-detail").render()) == detail
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.detail.startswith(
            f"Credit 2.40: proceeds {proceeds:,.2f}, realised P&L {proceeds - 1_910.4:+,.2f}."
        )
        await pilot.press("escape")
        # Once the what-if says the close's commission, the realised P&L is net of it (the
        # cost holds the entry's): the number History will book.
        app.store.set(Preview, dataclasses.replace(closing, commission=5.2))
        await pilot.pause()
        box = str(screen.query_one("#order-panel").render())
        net = proceeds - 1_910.4 - 5.2
        assert f"Realised P&L {net:+,.2f} net at the limit" in box
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.detail.startswith(
            f"Credit 2.40: proceeds {proceeds:,.2f}, realised P&L {net:+,.2f} net."
        )


def test_closing_preview_120x40(snap_compare: Any, make_app: AppFactory) -> None:
    """The closing preview as a trader sees it: no candidates, closing actions, credit."""
    app = make_app(engine=RecordingEngine())

    async def run(pilot: Pilot[Any]) -> None:
        await pilot.press("2", "c")
        await app.workers.wait_for_complete()
        app.store.set(Preview, closing_preview(app.store)[0])
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run)


async def test_a_limit_held_at_the_market_edge_is_said(make_app: AppFactory) -> None:
    """Defect 9 on screen: a move the engine held at the natural bid is a visible notice."""
    held = "Limit 2.18 (held at the natural bid 2.18). BUY 8 AMZN ...: risk gates pass."
    app = make_app(engine=RecordingEngine(Outcome(True, held)))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_preview(app, pilot)
        app.clear_notifications()
        await pilot.press("left_square_bracket")
        await app.workers.wait_for_complete()
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert messages == ["Limit 2.18 (held at the natural bid 2.18)."]
