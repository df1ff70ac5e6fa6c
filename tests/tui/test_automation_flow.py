"""Arming and disarming the auto-trader from the dashboard through the real engine against
the simulated gateway: ``a`` -> the confirmation -> ``arm_auto`` -> the engine's
``Automation`` slice -> the footer and the Automation screen; then ``a`` -> disarm."""

from __future__ import annotations

from pathlib import Path

from tests.engine.conftest import MakeEngine, engine_gateway, make_engine  # noqa: F401
from tests.sim.conftest import fake_time, make_gateway, until  # noqa: F401
from tests.tui.test_flows_gateway import SIZE, dashboard, settle, toasts
from tui_trader.state.store import Automation
from tui_trader.tui.screens.arm import ArmScreen
from tui_trader.tui.screens.automation import AutomationScreen
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.widgets.footer import HealthFooter, Part


async def test_arm_dry_run_then_disarm_from_the_dashboard(
    make_engine: MakeEngine,  # noqa: F811
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        footer = app.screen.query_one(HealthFooter)
        assert footer.parts["auto"] == Part("auto OFF", "-muted")

        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, ArmScreen)
        assert screen.question.title == "Arm the auto-trader (PAPER)"
        await pilot.press("d")
        await until(lambda: engine.store.get(Automation).mode == "DRY-RUN", what="armed")
        await settle(pilot)
        assert app.screen.query_one(HealthFooter).parts["auto"].text == "auto DRY-RUN 0/3"
        assert any(m.startswith("Auto-trader armed: DRY-RUN") for _, m in toasts(app))

        await pilot.press("5")
        assert isinstance(app.screen, AutomationScreen)
        limits = str(app.screen.query_one("#auto-limits").render())
        assert limits.startswith("auto DRY-RUN PAPER   entries today 0/3   open spreads")

        await pilot.press("a")
        modal = app.screen
        assert isinstance(modal, ConfirmScreen) and "(now DRY-RUN)" in modal.message
        await pilot.press("y")
        await until(lambda: engine.store.get(Automation).mode == "OFF", what="disarmed")
        await settle(pilot)
        assert app.screen.query_one(HealthFooter).parts["auto"] == Part("auto OFF", "-muted")
        assert str(app.screen.query_one("#auto-limits").render()).startswith("auto OFF PAPER")
