"""The dashboard's flows through the real engine against the simulated gateway.

No test double: the app is built as ``run_dashboard`` builds it (``create_app`` over the
engine's store, the engine's clock, ``as_actions(engine)``), the engine talks to the seeded
simulated gateway over a real loopback socket, and the keys are pressed with Textual's
pilot. Market time only moves through the fake monotonic clock (it does not here: the
seeded market at 14:30 ET already has MSFT LONG with a tradable bull call spread); the
waits are socket round-trips (``until``) and the app's own message queue (``settle``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from tests.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    MakeEngine,
    engine_gateway,
    make_engine,
)
from tests.sim.conftest import fake_time, make_gateway, until  # noqa: F401
from tui_trader.core.models import IntentStatus
from tui_trader.engine.engine import Engine, as_actions
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Orders, Positions, Preview
from tui_trader.tui.app import TraderApp, create_app
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.footer import HealthFooter

SIZE = (120, 40)
#: The confirmation's order line, the issue's form: ``BUY 2 AAPL 20261218 200/205 C @ 1.85
#: LMT, PAPER`` (groups: side, quantity, symbol, expiry, long, short, right, limit).
ORDER_LINE = re.compile(
    r"^(BUY|SELL) (\d+) ([A-Z]+) (\d{8}) (\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) ([CP]) "
    r"@ (\d+\.\d\d) LMT, PAPER$"
)


def dashboard(engine: Engine, tmp_path: Path) -> TraderApp:
    """The app over the engine's store, clock and actions, as ``run_dashboard`` ends up
    once its launcher has attached the engine (immediate redraws, no user themes); the
    attach itself is tested in ``test_launch.py``."""
    themes = tmp_path / "user-themes"
    themes.mkdir(exist_ok=True)
    app = create_app(
        engine.settings,
        engine.store,
        clock=engine.now,
        engine=as_actions(engine),
        user_theme_dir=themes,
        refresh_interval=0.0,
    )
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot[None]) -> None:
    """Let engine workers finish and the app draw what they changed."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def wait_for(pilot: Pilot[None], predicate: Callable[[], object], what: str) -> None:
    """Socket round-trips (engine <-> gateway), then the app's redraw."""
    await until(predicate, timeout=5.0, what=what)
    await settle(pilot)


def toasts(app: TraderApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


def row_text(cells: tuple[object, ...]) -> list[str]:
    return [str(c) for c in cells]


async def open_msft_preview(pilot: Pilot[None], engine: Engine) -> PreviewScreen:
    app = pilot.app
    scanner = app.screen
    assert isinstance(scanner, ScannerScreen)
    assert scanner.table.select_key("MSFT")
    await pilot.press("enter")
    await wait_for(
        pilot,
        lambda: (s := engine.store.get(Preview).spec) is not None and s.underlying == "MSFT",
        "the MSFT preview",
    )
    screen = app.screen
    assert isinstance(screen, PreviewScreen) and screen.symbol == "MSFT"
    return screen


async def test_scan_preview_transmit_confirm_position_close_flat(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        scanner = app.screen
        assert isinstance(scanner, ScannerScreen)
        assert sorted(scanner.table.keys) == ["AAPL", "MSFT", "SPY", "TLT"]
        assert "LONG" in row_text(scanner.table.cells("MSFT"))

        preview = await open_msft_preview(pilot, engine)
        spec = engine.store.get(Preview).spec
        assert spec is not None and spec.action == "BUY" and spec.limit_price is not None
        assert preview.table.keys  # the ranked spreads are drawn
        assert preview.order_row() is not None and preview.order_row().index == 0  # type: ignore[union-attr]

        # --- t: the modal states the exact order; nothing has left yet -------------------
        await pilot.press("t")
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        m = ORDER_LINE.match(modal.message)
        assert m is not None, modal.message
        side, qty, sym, expiry, lo, sh, right, limit = m.groups()
        assert (side, int(qty), sym, right) == ("BUY", spec.quantity, "MSFT", "C")
        assert expiry == spec.long_leg.expiry == spec.short_leg.expiry
        assert (float(lo), float(sh)) == (spec.long_leg.strike, spec.short_leg.strike)
        assert float(lo) < float(sh)  # a bull call: long the lower strike
        assert float(limit) == round(spec.limit_price, 2)
        assert engine_gateway.exchange.open_orders() == []
        assert engine_gateway.exchange.completed_orders() == []

        # --- y: sent, filled, one spread in Positions ---------------------------------
        await pilot.press("y")
        await wait_for(pilot, lambda: len(engine.store.get(Positions).spreads) == 1, "the position")
        (placed,) = engine_gateway.exchange.completed_orders()
        assert placed.status == "Filled" and placed.request.sec_type == "BAG"
        assert placed.request.action == "BUY" and placed.request.quantity == spec.quantity
        assert placed.request.limit_price == spec.limit_price
        assert ("Filled", f"{modal.message}: {qty}/{qty} avg {placed.avg_fill_price:.2f}") in (
            toasts(app)
        )

        await pilot.press("2")
        positions = app.screen
        assert isinstance(positions, PositionsScreen)
        await settle(pilot)
        (key,) = positions.table.keys
        cells = row_text(positions.table.cells(key))
        assert cells[0] == "MSFT"
        assert cells[1] == f"{expiry} {lo}/{sh} C"
        assert cells[2] == qty

        # --- c: the closing order's preview, t, y: flat ---------------------------------
        await pilot.press("c")
        await wait_for(
            pilot,
            lambda: (s := engine.store.get(Preview).spec) is not None and s.action == "SELL",
            "the closing preview",
        )
        closing = app.screen
        assert isinstance(closing, PreviewScreen) and closing.closing
        cspec = engine.store.get(Preview).spec
        assert cspec is not None and cspec.limit_price is not None
        await pilot.press("t")
        modal = app.screen
        assert isinstance(modal, ConfirmScreen)
        assert modal.message == (
            f"SELL {qty} MSFT {expiry} {lo}/{sh} C @ {cspec.limit_price:.2f} LMT, PAPER"
        )
        await pilot.press("y")
        await wait_for(pilot, lambda: engine.store.get(Positions).spreads == (), "flat")
        assert engine_gateway.exchange.positions() == []

        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, PositionsScreen) and app.screen.table.keys == []
        await pilot.press("3")
        orders = app.screen
        assert isinstance(orders, OrdersScreen)
        await settle(pilot)
        rows = [row_text(orders.table.cells(k)) for k in orders.table.keys]
        short = f"MSFT {expiry[2:]} {lo}/{sh} C"  # the Orders table's expiry is YYMMDD
        assert [(r[1], r[2], r[3]) for r in rows] == [  # newest first
            ("FILLED", f"SELL {qty} {short}", f"{qty}/{qty}"),
            ("FILLED", f"BUY {qty} {short}", f"{qty}/{qty}"),
        ]
        assert [i.status for i in engine.store.get(Orders).intents] == [IntentStatus.FILLED] * 2


async def test_refusing_the_confirmation_sends_nothing(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await open_msft_preview(pilot, engine)
        for refusal in ("n", "escape"):
            await pilot.press("t")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(refusal)
            await settle(pilot)
            assert isinstance(app.screen, PreviewScreen)
        # a round-trip later: still nothing at the exchange, nothing journaled
        await engine.refresh_what_if()
        assert engine_gateway.exchange.open_orders() == []
        assert engine_gateway.exchange.completed_orders() == []
        assert engine.journal.intents() == [] and engine.store.get(Orders).intents == ()
        assert engine.store.get(Preview).spec is not None  # still there to send later
        assert not [t for t in toasts(app) if t[0] in ("Transmit", "Filled")]


async def test_a_rejected_order_shows_its_reason_in_a_toast_and_the_orders_row(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await open_msft_preview(pilot, engine)
        engine_gateway.reject_next("insufficient funds")
        await pilot.press("t")
        assert isinstance(app.screen, ConfirmScreen)
        order = app.screen.message
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: [i.status for i in engine.store.get(Orders).intents] == [IntentStatus.REJECTED],
            "REJECTED",
        )
        (rejected,) = [t for t in toasts(app) if t[0] == "Order rejected"]
        assert rejected[1].startswith(f"{order}: ")
        assert "insufficient funds" in rejected[1]
        (placed,) = engine_gateway.exchange.completed_orders()
        assert placed.status == "Cancelled" and placed.reject_reason == "insufficient funds"

        await pilot.press("3")
        orders = app.screen
        assert isinstance(orders, OrdersScreen)
        await settle(pilot)
        (key,) = orders.table.keys
        cells = row_text(orders.table.cells(key))
        assert cells[1] == "REJECTED" and cells[3] == f"0/{order.split()[1]}"
        assert cells[7].startswith("201 ")  # cut to fit; whole on the detail screen
        (intent,) = engine.store.get(Orders).intents
        assert intent.last_error_code == 201
        assert "insufficient funds" in (intent.last_error_text or "")


async def test_a_connection_drop_shows_reconnecting_then_connected_in_the_footer(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)

    def footer() -> str:
        return app.screen.query_one(HealthFooter).text

    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert "CONNECTED since" in footer() and "RECONNECTING" not in footer()
        # What the footer draws, in order: redraws are coalesced, so only a recording of
        # every drawn state (not a look at one moment) tells that RECONNECTING was shown.
        drawn: list[str] = []

        async def record() -> None:
            while True:
                state = footer().split("since")[0].split()[-1]
                if not drawn or drawn[-1] != state:
                    drawn.append(state)
                await asyncio.sleep(0.002)

        recorder = asyncio.create_task(record())
        engine_gateway.refuse(2.0)  # the way back stays closed for two (real) seconds
        engine_gateway.drop()
        await until(lambda: "RECONNECTING" in drawn, timeout=5.0, what="RECONNECTING drawn")
        assert app.screen.query_one("#footer-conn").has_class("-warn")
        await wait_for(pilot, lambda: engine.session.is_ready, "reconnected")
        await until(lambda: drawn[-1] == "CONNECTED", timeout=5.0, what="CONNECTED drawn")
        recorder.cancel()
        assert drawn[drawn.index("RECONNECTING") :] == ["RECONNECTING", "CONNECTED"]
        assert app.screen.query_one("#footer-conn").has_class("-ok")
        connection = [m for title, m in toasts(app) if title == "Connection"]
        # issue 13: the newer connection notice replaces the older
        assert connection == ["RECONNECTING -> CONNECTED"]
