"""The Spread preview: ranked spreads from the Candidates slice, the order from the Preview
slice, the confirmation's exact text, and that only ``y`` sends."""

from __future__ import annotations

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import Demo
from tui_trader.core.models import SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import PriceRefusal, RefusalCode
from tui_trader.core.risk import GateCode, GateResult
from tui_trader.state.store import Preview
from tui_trader.tui.app import TraderApp
from tui_trader.tui.screens.confirm import ConfirmScreen, order_text
from tui_trader.tui.screens.preview import PreviewScreen, gate_content, spread_rows
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.payoff import PayoffInputs, payoff_points

#: The demo's previewed order: AMZN's best bull call spread, paper limit at the natural ask,
#: sized by the risk gates on a 100,000 account.
AMZN_ORDER = "BUY 8 AMZN 20261231 240/250 C @ 2.34 LMT, PAPER"


def spec(action: str = "BUY", order_type: str = "LMT", limit: float | None = 1.85,
         mode: str = "paper", right: str = "C", strikes: tuple[float, float] = (200, 205),
         quantity: int = 2) -> SpreadOrderSpec:  # fmt: skip
    def leg(con_id: int, k: float, side: str) -> SpreadLeg:
        return SpreadLeg.model_validate(
            {"con_id": con_id, "symbol": "AAPL", "expiry": "20261218", "strike": k,
             "right": right, "action": side}
        )  # fmt: skip

    return SpreadOrderSpec.model_validate(
        {
            "underlying": "AAPL", "direction": "LONG" if right == "C" else "SHORT",
            "legs": (leg(1, strikes[0], "BUY"), leg(2, strikes[1], "SELL")), "action": action,
            "quantity": quantity, "order_type": order_type, "limit_price": limit, "mode": mode,
        }
    )  # fmt: skip


def test_order_text_is_the_issue_form() -> None:
    assert order_text(spec()) == "BUY 2 AAPL 20261218 200/205 C @ 1.85 LMT, PAPER"
    assert order_text(spec(right="P", strikes=(202.5, 197.5), limit=0.8)) == (
        "BUY 2 AAPL 20261218 202.5/197.5 P @ 0.80 LMT, PAPER"
    )
    assert order_text(spec(action="SELL", mode="live", limit=0.0, quantity=1)) == (
        "SELL 1 AAPL 20261218 200/205 C @ 0.00 LMT, LIVE"
    )
    assert order_text(spec(order_type="MKT", limit=None)) == (
        "BUY 2 AAPL 20261218 200/205 C @ MKT, PAPER"
    )
    assert order_text(spec(), with_mode=False) == "BUY 2 AAPL 20261218 200/205 C @ 1.85 LMT"


def test_the_order_line_says_whether_the_gates_apply() -> None:
    opening, closing = Preview(spec=spec()), Preview(spec=spec(action="SELL", limit=1.2))
    assert gate_content(opening).plain.endswith("   risk gates not checked yet")
    assert gate_content(closing).plain == (
        "Order SELL 2 AAPL 20261218 200/205 C @ 1.20 LMT, PAPER"
        "   closing order: the entry risk gates do not apply"
    )


def test_spread_rows_carry_the_selection_in_rank_order(demo: Demo) -> None:
    rows = spread_rows(demo.selection("AMZN"))
    assert len(rows) == 34
    best = rows[0]
    assert (best.expiry, best.right, best.long_strike, best.short_strike) == (
        "20261231", "C", 240.0, 250.0,
    )  # fmt: skip
    assert round(best.debit, 2) == 2.34 and round(best.max_profit, 2) == 766.0
    assert round(best.breakeven, 2) == 242.34 and round(best.reward_risk, 2) == 3.27
    assert [r.reward_risk for r in rows] == sorted((r.reward_risk for r in rows), reverse=True)


def test_payoff_points_are_the_spreads_corners() -> None:
    call = PayoffInputs(240, 250, True, 766.0, 234.0, 242.34, 222.74)
    xs, ys = payoff_points(call)
    assert xs[1:3] == [240, 250] and ys == [-234.0, -234.0, 766.0, 766.0]
    assert xs[0] < 222.74 and xs[-1] > 250
    put = PayoffInputs(230, 225, False, 295.0, 205.0, 227.95, None)
    xs, ys = payoff_points(put)
    assert xs[1:3] == [225, 230] and ys == [295.0, 295.0, -205.0, -205.0]


async def open_preview(app: TraderApp, pilot: object, symbol: str = "AMZN") -> PreviewScreen:
    screen = app.screen
    assert isinstance(screen, ScannerScreen)
    screen.table.select_key(symbol)
    await pilot.press("enter")  # type: ignore[attr-defined]
    await app.workers.wait_for_complete()
    assert isinstance(app.screen, PreviewScreen)
    return app.screen


async def test_preview_marks_the_ordered_spread_and_shows_its_numbers(
    make_app: AppFactory,
) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_preview(app, pilot)
        assert screen.title == "Spread preview · AMZN"
        assert screen.order_row() is not None and screen.order_row().index == 0  # type: ignore[union-attr]
        first = [c.plain for c in screen.table.cells(screen.table.keys[0])]
        assert first == ["▶1", "20261231", "41", "240/250 C", "2.34", "2.26", "234.00",
                         "766.00", "3.27", "242.34", "23.8%", "+0.109"]  # fmt: skip
        order_line = str(screen.query_one("#order-line").render())
        assert AMZN_ORDER in order_line and "Risk gates OK: 8 contracts" in order_line
        legs = screen.query_one("#legs-table")
        assert [c.plain for c in legs.cells(legs.keys[0])][:5] == [  # type: ignore[attr-defined]
            "BUY", "20261231 240 C", "5.00", "5.10", "5.05",
        ]  # fmt: skip
        panel = str(screen.query_one("#order-panel").render())
        assert "Qty 8  LMT 2.34 debit" in panel and "Max loss 1,872.00 profit 6,128.00" in panel
        assert "Natural 2.18/2.34 mid 2.26" in panel


async def test_t_states_the_exact_order_and_n_sends_nothing(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_preview(app, pilot)
        engine.calls.clear()
        for refuse in ("n", "escape"):
            await pilot.press("t")
            modal = app.screen
            assert isinstance(modal, ConfirmScreen)
            assert modal.message == AMZN_ORDER
            assert str(modal.query_one("#confirm-message").render()) == AMZN_ORDER
            await pilot.press(refuse)
            await app.workers.wait_for_complete()
            assert isinstance(app.screen, PreviewScreen)
            assert engine.calls == []
        await pilot.press("t", "x", "enter")  # other keys do not confirm either
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert engine.calls == [("transmit", ())]


async def test_t_refuses_an_order_the_gates_or_pricing_refused(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await open_preview(app, pilot)
        engine.calls.clear()
        refused = GateResult(False, 8, GateCode.BUYING_POWER, "Available funds after the "
                             "order would be 3,100.00, the minimum is 5,000.00.")  # fmt: skip
        app.store.update(Preview, gate=refused)
        await pilot.pause()
        await pilot.press("t")
        assert isinstance(app.screen, PreviewScreen)
        assert "Risk gate BUYING_POWER: Available funds" in str(
            app.screen.query_one("#order-line").render()
        )
        no_price = PriceRefusal(RefusalCode.BAD_QUOTE, "Cannot price the combo: long leg has "
                                "no usable quote (bid nan, ask 5.1).")  # fmt: skip
        app.store.update(Preview, price=no_price)
        await pilot.press("t")
        assert isinstance(app.screen, PreviewScreen)
        assert engine.calls == []
        assert [n.message for n in app._notifications][-2:] == [
            "BUYING_POWER: Available funds after the order would be 3,100.00, the minimum "
            "is 5,000.00.",
            no_price.message,
        ]
        assert "NO PRICE Cannot price the combo" in str(
            app.screen.query_one("#order-line").render()
        )


async def test_preview_keys_call_the_engine(make_app: AppFactory) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_preview(app, pilot)
        engine.calls.clear()
        await pilot.press("plus", "minus", "right_square_bracket", "left_square_bracket", "w")
        await pilot.press("down")  # the second-ranked spread
        await app.workers.wait_for_complete()
        assert engine.calls == [
            ("adjust_quantity", (1,)), ("adjust_quantity", (-1,)), ("adjust_limit", (1,)),
            ("adjust_limit", (-1,)), ("refresh_what_if", ()), ("select_spread", (1,)),
        ]  # fmt: skip
        assert "#2 20261224 237.5/247.5 C, 34 DTE" in str(
            screen.query_one("#spread-detail").render()
        )
        await pilot.press("escape")
        assert isinstance(app.screen, ScannerScreen)


async def test_a_symbol_without_candidates_says_so(make_app: AppFactory) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_preview(app, pilot, "ABBV")  # no signal, no spreads
        assert screen.table.keys == []
        assert "no candidate spreads for ABBV" in str(screen.query_one("#title-status").render())
        assert str(screen.query_one("#spread-detail").render()) == "No spread highlighted."


async def test_another_symbols_order_is_neither_marked_nor_sent_from_here(
    make_app: AppFactory,
) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        preview = app.store.get(Preview)
        assert preview.spec is not None and preview.spec.underlying == "AMZN"
        screen = await open_preview(app, pilot, "ADBE")
        assert screen.order_row() is None
        assert not screen.table.cells(screen.table.keys[0])[0].plain.startswith("▶")
        engine = app.engine
        assert isinstance(engine, RecordingEngine)
        engine.calls.clear()
        await pilot.press("t")  # the Preview slice still holds AMZN's order: not from here
        assert isinstance(app.screen, PreviewScreen)
        assert engine.calls == []
