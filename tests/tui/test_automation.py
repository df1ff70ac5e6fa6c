"""The auto-trader on the dashboard (SPEC 11): its state in the footer, arming and
disarming with ``a`` (and the LIVE word), and the Automation screen on ``5``."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.style import Style
from textual.widgets import Input, Label

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import APP_NOW, Demo, demo_automation
from tests.tui.test_keymap import remapped
from tui_trader.core.risk import BreakerState, engage_kill_switch
from tui_trader.core.settings import RiskSettings, TimingSettings
from tui_trader.state.store import (
    Account,
    AccountMode,
    Automation,
    ConnectionState,
    Health,
    Store,
)
from tui_trader.tui.app import TraderApp, known_binding_ids
from tui_trader.tui.screens.arm import ArmScreen, arm_question
from tui_trader.tui.screens.automation import AutomationScreen, unique_keys
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.log import LogScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.widgets.footer import LINE2, HealthFooter, Part, auto_part, footer_parts

SIZE = (120, 40)


def messages(app: TraderApp) -> list[str]:
    return [n.message for n in app._notifications]


def with_mode(store: Store, mode: AccountMode | None) -> Store:
    store.set(Account, replace(store.get(Account), mode=mode))
    return store


def arm_texts(app: TraderApp) -> str:
    screen = app.screen
    assert isinstance(screen, ArmScreen)
    q = screen.question
    return "\n".join((q.title, q.message, q.limits, q.today))


# -- footer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "entries", "expected"),
    [
        ("OFF", 0, Part("auto OFF", "-muted")),
        ("ARMED", 1, Part("auto ARMED 1/3", "-ok")),
        ("DRY-RUN", 0, Part("auto DRY-RUN 0/3")),
        ("HALTED", 2, Part("auto HALTED", "-bad")),
        ("PAUSED", 0, Part("auto PAUSED", "-warn")),  # unknown to this UI: shown, amber
    ],
)
def test_footer_auto_part_per_mode(mode: str, entries: int, expected: Part) -> None:
    automation = Automation(mode=mode, entries_today=entries, max_daily_trades=3)
    assert auto_part(automation) == expected
    parts = footer_parts(
        Health(), Account(), BreakerState(), APP_NOW, TimingSettings(), automation=automation
    )
    assert parts["auto"] == expected


def test_footer_worst_case_at_80_columns_keeps_the_auto_state_on_screen() -> None:
    """Every compact line-2 part at its widest: the auto state still ends inside 80
    columns (the quote age, after it, is what gets clipped)."""
    health = Health(state=ConnectionState.CONNECTED, oldest_quote_age_s=7_500.0)
    account = Account(mode=AccountMode.LIVE, day_pnl=-10_042.5, mode_problem="config says paper")
    automation = Automation(mode="DRY-RUN", entries_today=10, max_daily_trades=10)
    morning = APP_NOW - timedelta(hours=5, minutes=30)  # 09:00 ET: window at 14:45
    parts = footer_parts(
        health, account, engage_kill_switch(BreakerState(), APP_NOW), morning,
        TimingSettings(), compact=True, automation=automation,
    )  # fmt: skip
    assert [parts[p].text for p in LINE2] == [
        "09:00:00 ET", "opens in 5h45m", "P&L -10,042.50", "MODE MISMATCH",
        "auto DRY-RUN 10/10", "quotes 2h05m",
    ]  # fmt: skip
    # padding-left 1, then each part followed by its 2-column margin
    end, ends = 1, {}
    for part_id in LINE2:
        if parts[part_id].text:
            end += cell_len(parts[part_id].text)
            ends[part_id] = end
            end += 2
    assert parts["auto"].text == "auto DRY-RUN 10/10"
    assert ends["auto"] <= 80
    assert LINE2.index("auto") < LINE2.index("quotes")


async def test_footer_follows_the_automation_slice_on_every_screen(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for key in ("1", "2", "3", "4", "5"):
            await pilot.press(key)
            footer = app.screen.query_one(HealthFooter)
            assert footer.parts["auto"] == Part("auto OFF", "-muted")
        app.store.set(Automation, Automation(mode="ARMED", entries_today=1, max_daily_trades=3))
        await pilot.pause()
        assert app.screen.query_one(HealthFooter).parts["auto"] == Part("auto ARMED 1/3", "-ok")
        label = app.screen.query_one("#footer-auto")
        assert label.region.right <= 80 and str(label.render()) == "auto ARMED 1/3"
        app.store.update(Automation, mode="HALTED")
        await pilot.pause()
        assert "auto HALTED" in app.screen.query_one(HealthFooter).text
        await pilot.press("2")  # a screen that was in the background shows it too
        assert app.screen.query_one(HealthFooter).parts["auto"] == Part("auto HALTED", "-bad")


async def test_a_new_count_of_the_same_width_repaints_without_a_layout_pass(
    make_app: AppFactory,
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        label = app.screen.query_one("#footer-auto", Label)
        layouts: list[bool] = []
        update = label.update

        def spy(content: str = "", *, layout: bool = True) -> None:
            layouts.append(layout)
            update(content, layout=layout)

        label.update = spy  # type: ignore[method-assign]
        app.store.set(Automation, Automation(mode="ARMED", entries_today=1, max_daily_trades=3))
        await pilot.pause()
        app.store.update(Automation, entries_today=2)
        await pilot.pause()
        app.store.update(Automation, mode="HALTED")
        await pilot.pause()
        assert layouts == [True, False, True]  # OFF -> ARMED 1/3 -> 2/3 -> HALTED
        assert str(label.render()) == "auto HALTED"


# -- arming -------------------------------------------------------------------------


def test_the_question_states_mode_limits_and_universe() -> None:
    risk = RiskSettings(max_positions=4, max_daily_trades=2, risk_per_trade=0.015)
    automation = Automation(entries_today=1, open_spreads=3)
    paper = arm_question(Account(mode=AccountMode.PAPER), automation, risk, 60)
    assert paper.title == "Arm the auto-trader (PAPER)" and not paper.live
    assert paper.limits == (
        "Limits: at most 4 open spreads, 2 entries a day, 1.5% of net liquidation at risk "
        "per trade. Universe: 60 symbols."
    )
    assert paper.today == "Today so far: 1 of 2 entries, 3 of 4 spreads open."
    live = arm_question(Account(mode=AccountMode.LIVE), automation, risk, 1, key="f8")
    assert live.title == "Arm the auto-trader (LIVE: real money)" and live.live
    assert "disarm it (f8)" in live.message
    assert "Universe: 1 symbol." in live.limits
    unknown = arm_question(Account(), automation, risk, 60)
    assert unknown.live and "treated as LIVE" in unknown.title


@pytest.mark.parametrize(("key", "dry_run"), [("y", False), ("d", True)])
async def test_a_then_y_arms_and_d_arms_a_dry_run_on_paper(
    make_app: AppFactory, key: str, dry_run: bool
) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        text = arm_texts(app)
        assert "(PAPER)" in text
        assert "at most 5 open spreads, 3 entries a day, 2.0% of net liquidation" in text
        assert "Universe: 60 symbols." in text
        assert not app.screen.query("#arm-live")  # paper: no word to type
        await pilot.press(key)
        await app.workers.wait_for_complete()
        assert engine.calls == [("arm_auto", (dry_run,))]
        assert not isinstance(app.screen, ArmScreen)


@pytest.mark.parametrize("key", ["n", "escape", "x"])
async def test_no_escape_and_other_keys_do_not_arm(make_app: AppFactory, key: str) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", key)
        await app.workers.wait_for_complete()
        assert engine.calls == []
        assert isinstance(app.screen, ArmScreen) is (key == "x")


@pytest.mark.parametrize("mode", [AccountMode.LIVE, None])
async def test_live_arms_only_with_live_typed(
    make_app: AppFactory, store: Store, mode: AccountMode | None
) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine, store_=with_mode(store, mode))
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, ArmScreen) and app.screen.question.live
        box = app.screen.query_one("#arm-live", Input)
        assert not box.has_focus
        await pilot.press("y")  # does not arm: puts the cursor in the box
        assert box.has_focus and engine.calls == []
        await pilot.press("l", "i", "v", "e", "enter")  # lower case: refused
        await app.workers.wait_for_complete()
        assert engine.calls == [] and not isinstance(app.screen, ArmScreen)
        assert messages(app) == [
            "Not armed: arming against a live account needs LIVE typed exactly."
        ]
        await pilot.press("a", "y", "enter")  # nothing typed: refused
        await app.workers.wait_for_complete()
        assert engine.calls == []
        await pilot.press("a", "y", "L", "escape")  # escape from the box: no
        await app.workers.wait_for_complete()
        assert engine.calls == [] and not isinstance(app.screen, ArmScreen)
        await pilot.press("a", "y", "L", "I", "V", "E", "enter")
        await app.workers.wait_for_complete()
        assert engine.calls == [("arm_auto", (False,))]


async def test_live_dry_run_needs_no_word(make_app: AppFactory, store: Store) -> None:
    engine = RecordingEngine()
    app = make_app(engine=engine, store_=with_mode(store, AccountMode.LIVE))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "d")
        await app.workers.wait_for_complete()
        assert engine.calls == [("arm_auto", (True,))]


@pytest.mark.parametrize("mode", ["ARMED", "DRY-RUN", "HALTED"])
async def test_a_while_armed_asks_to_disarm(make_app: AppFactory, store: Store, mode: str) -> None:
    store.set(Automation, Automation(mode=mode, max_daily_trades=3))
    engine = RecordingEngine()
    app = make_app(engine=engine, store_=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert screen.confirm_title == "Disarm the auto-trader"
        assert f"(now {mode})" in screen.message
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert engine.calls == []
        await pilot.press("a", "y")
        await app.workers.wait_for_complete()
        assert engine.calls == [("disarm_auto", ())]


async def test_a_without_an_engine_says_so(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("a")
        assert not isinstance(app.screen, ArmScreen)
        assert messages(app) == [
            "Cannot arm the auto-trader: no engine is connected to this dashboard."
        ]


async def test_arm_is_remappable_listed_on_help_and_in_the_palette(
    demo: Demo, store: Store, no_user_themes: Path
) -> None:
    assert {"arm_auto", "automation"} <= known_binding_ids()
    app = remapped(demo, store, no_user_themes, {"arm_auto": "f8", "automation": "A"})
    engine = app.engine
    assert isinstance(engine, RecordingEngine)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "5")
        assert isinstance(app.screen, ScannerScreen)
        await pilot.press("f8")
        assert isinstance(app.screen, ArmScreen)
        assert "disarm it (f8)" in app.screen.question.message
        await pilot.press("escape", "A")
        assert isinstance(app.screen, AutomationScreen)
        limits = str(app.screen.query_one("#auto-limits").render())
        assert limits.endswith("f8 arm")
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Auto-trader: arm (asks, states mode and limits) or disarm"] == "key: f8"
        assert commands["Automation"] == "key: A"
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        sections = dict(app.screen.sections())
        assert ("f8", "Auto-trader: arm (asks, states mode and limits) or disarm") in sections[
            "Everywhere"
        ]
        assert ("d", "Arm as a dry run: nothing is transmitted") in sections[
            "Arming the auto-trader"
        ]
    assert engine.calls == []


# -- the Automation screen ----------------------------------------------------------


async def test_five_shows_the_automation_screen_from_every_other_screen(
    make_app: AppFactory,
) -> None:
    app = make_app(engine=RecordingEngine())
    async with app.run_test(size=SIZE) as pilot:
        for keys, cls in (
            ((), ScannerScreen),
            (("2",), PositionsScreen),
            (("3",), OrdersScreen),
            (("4",), LogScreen),
            (("1", "enter"), PreviewScreen),
            (("question_mark",), HelpScreen),
            (("4", "question_mark"), HelpScreen),
            (("5", "question_mark"), HelpScreen),
        ):
            await pilot.press(*keys)
            await app.workers.wait_for_complete()
            assert isinstance(app.screen, cls), keys
            await pilot.press("5")
            assert isinstance(app.screen, AutomationScreen), keys
            assert "Automation" in app.screen.title
            await pilot.press("1")  # back to a main screen for the next start
            await pilot.press("1")  # and from a pushed one on it to the scanner itself
            assert isinstance(app.screen, ScannerScreen)


async def test_automation_screen_shows_candidates_exits_and_limits(
    make_app: AppFactory, demo: Demo, store: Store
) -> None:
    store.set(Automation, demo_automation(demo))
    app = make_app(store_=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, AutomationScreen)
        table = screen.candidates_table
        assert table.keys[:2] == ["2026-11-20 NVDA LONG", "2026-11-20 QQQ LONG"]
        assert [c.plain for c in table.cells("2026-11-20 NVDA LONG")] == [
            "NVDA", "LONG", "FILLED", "-", "20261231 187.5/197.5 C", "2.38", "8", "HIGH_BASE",
            "13:35:00", "13:47:00",
        ]  # fmt: skip
        assert [c.plain for c in table.cells("2026-11-20 ADBE LONG")][2:4] == [
            "SKIPPED", "gate:MAX_DAILY_TRADES"
        ]  # fmt: skip
        assert [c.plain for c in table.cells("2026-11-20 AAPL SHORT")][:6] == [
            "AAPL", "SHORT", "SELECTING", "-", "-", "-"
        ]  # fmt: skip
        palette = screen.palette

        def state_colour(key: str) -> object:
            return table.get_cell(key, "state").style

        assert state_colour("2026-11-20 NVDA LONG") == palette.up
        assert state_colour("2026-11-20 SPY LONG") == palette.down + Style(bold=True)
        assert state_colour("2026-11-20 QQQ LONG") == palette.down + Style(bold=True)
        assert state_colour("2026-11-20 COP LONG") == palette.paper
        assert state_colour("2026-11-20 BA LONG") == palette.muted
        assert state_colour("2026-11-20 CAT SHORT") == palette.muted
        sent = state_colour("2026-11-20 MSFT LONG")
        assert sent == state_colour("2026-11-20 AAPL SHORT")
        assert getattr(sent, "bold", False) and sent != palette.up
        assert state_colour("2026-11-20 COST LONG") == ""
        exits = [[c.plain for c in screen.exits_table.cells(k)] for k in screen.exits_table.keys]
        assert exits == [
            ["HD", "TARGET_R", "FILLED", "1", "14:10:00", "tt-0000000000b1"],
            ["DIS", "STOP", "REJECTED", "2", "14:24:00", "tt-0000000000b2"],
            ["WMT", "TIME", "WORKING", "1", "14:29:00", "tt-0000000000b3"],
        ]
        limits = str(screen.query_one("#auto-limits").render())
        assert limits == (
            "auto ARMED PAPER   entries today 3/3   open spreads 2/5   window opens in 15m"
            "   a disarm"
        )
        status = str(screen.query_one("#title-status").render())
        assert status.startswith("ARMED: 11 candidates today (1 CANCELLED, 1 DRY-RUN,")
        assert status.endswith(", 3 exits")

        app.store.update(Automation, mode="OFF", entries_today=0, candidates=(), exits=())
        await pilot.pause()
        assert table.row_count == 0 and screen.exits_table.row_count == 0
        assert str(screen.query_one("#auto-limits").render()).startswith(
            "auto OFF PAPER   entries today 0/3"
        )
        assert str(screen.query_one("#auto-limits").render()).endswith("a arm")


async def test_the_window_counts_down_with_the_clock(
    make_app: AppFactory, demo: Demo, store: Store
) -> None:
    now = [APP_NOW]
    store.set(Automation, demo_automation(demo))
    app = make_app(store_=store, clock=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, AutomationScreen)
        limits = screen.query_one("#auto-limits")
        assert "   window opens in 15m   " in str(limits.render())
        now[0] = APP_NOW + timedelta(minutes=30)  # 15:00 ET: the window is open
        app._tick()
        await pilot.pause()
        assert "   window OPEN 58m left   " in str(limits.render())


def test_repeated_row_keys_are_numbered_not_refused() -> None:
    assert unique_keys(["a", "b", "a", "a"]) == ["a", "b", "a#2", "a#3"]
