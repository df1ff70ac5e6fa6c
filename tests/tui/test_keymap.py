"""``[ui] keys``: every binding has an id, the config remaps it, Help lists the effective
keys, and an unknown id or an empty key is refused at start with one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tui.conftest import AppFactory, RecordingEngine
from tests.tui.demo_store import APP_NOW, Demo
from tui_trader.core.settings import Settings
from tui_trader.state.store import Preview, Store
from tui_trader.tui.app import TraderApp, create_app, known_binding_ids
from tui_trader.tui.keymap import KeymapError, validate_keymap
from tui_trader.tui.screens.chart import ChartScreen
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.help import HelpScreen
from tui_trader.tui.screens.order_detail import OrderDetailScreen
from tui_trader.tui.screens.orders import OrdersScreen
from tui_trader.tui.screens.positions import PositionsScreen
from tui_trader.tui.screens.preview import PreviewScreen
from tui_trader.tui.screens.scanner import ScannerScreen
from tui_trader.tui.screens.watchlist import SymbolPrompt


def remapped(demo: Demo, store: Store, folder: Path, keys: dict[str, str]) -> TraderApp:
    settings = demo.settings.model_copy(
        update={"ui": demo.settings.ui.model_copy(update={"keys": keys})}
    )
    app = create_app(settings, store, clock=lambda: APP_NOW, engine=RecordingEngine(),
                     user_theme_dir=folder, refresh_interval=0.0)  # fmt: skip
    app.animation_level = "none"
    return app


def test_every_binding_has_a_unique_id() -> None:
    ids = known_binding_ids()
    assert {"scanner", "positions", "orders", "log", "help", "quit", "kill_switch", "preview",
            "filter", "sort", "rescan", "quantity_up", "quantity_down", "limit_up", "limit_down",
            "what_if", "transmit", "back", "close_position", "cancel_order", "confirm_yes",
            "confirm_no", "confirm_cancel", "close_help"} <= ids  # fmt: skip
    from tui_trader.tui.screens.arm import ArmScreen
    from tui_trader.tui.screens.automation import AutomationScreen
    from tui_trader.tui.screens.backtest import BacktestScreen
    from tui_trader.tui.screens.chain import ChainScreen
    from tui_trader.tui.screens.log import LogScreen
    from tui_trader.tui.screens.ticker_prompt import TickerPrompt

    assert {"automation", "arm_auto", "arm_yes", "arm_dry_run", "arm_no", "arm_cancel"} <= ids
    assert {"backtest", "backtest_run", "backtest_cancel", "backtest_metric"} <= ids
    groups = [TraderApp.BINDINGS, ScannerScreen.BINDINGS, PreviewScreen.BINDINGS,
              PositionsScreen.BINDINGS, OrdersScreen.BINDINGS, LogScreen.BINDINGS,
              AutomationScreen.BINDINGS, BacktestScreen.BINDINGS, ConfirmScreen.BINDINGS,
              ArmScreen.BINDINGS, HelpScreen.BINDINGS, OrderDetailScreen.BINDINGS,
              SymbolPrompt.BINDINGS, ChartScreen.BINDINGS, ChainScreen.BINDINGS,
              TickerPrompt.BINDINGS]  # fmt: skip
    all_ids = [b.id for g in groups for b in g]  # type: ignore[union-attr]
    assert None not in all_ids and len(all_ids) == len(set(all_ids)) == len(ids)


def test_unknown_ids_and_empty_keys_are_refused_in_one_sentence() -> None:
    known = known_binding_ids()
    with pytest.raises(KeymapError, match=r"^unknown key binding id 'transmitt' in \[ui\] keys"):
        validate_keymap({"transmitt": "T"}, known)
    with pytest.raises(KeymapError, match="ids 'a', 'b' in"):
        validate_keymap({"b": "x", "a": "y", "help": "h"}, known)
    with pytest.raises(KeymapError, match=r"'kill_switch' = 'ctrl\+k,' has an empty key"):
        validate_keymap({"kill_switch": "ctrl+k,"}, known)
    assert issubclass(KeymapError, ValueError)
    assert validate_keymap({"help": "?, f1", "transmit": "T"}, known) == {
        "help": "question_mark,f1",
        "transmit": "T",
    }


def test_create_app_checks_the_configured_keys(
    demo: Demo, store: Store, no_user_themes: Path
) -> None:
    with pytest.raises(KeymapError, match="'nope'"):
        remapped(demo, store, no_user_themes, {"nope": "x"})
    assert Settings().ui.keys == {}


async def test_remapped_keys_work_the_old_ones_do_not_and_help_lists_them(
    demo: Demo, store: Store, no_user_themes: Path
) -> None:
    app = remapped(demo, store, no_user_themes,
                   {"positions": "p", "help": "f1,h", "transmit": "T", "preview": "o"})  # fmt: skip
    engine = app.engine
    assert isinstance(engine, RecordingEngine)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        assert isinstance(app.screen, ScannerScreen)  # the default key is gone
        await pilot.press("p")
        assert isinstance(app.screen, PositionsScreen)
        await pilot.press("1")
        scanner = app.screen
        assert isinstance(scanner, ScannerScreen)
        spec = app.store.get(Preview).spec
        assert spec is not None and scanner.table.select_key(spec.underlying)
        await pilot.press("enter")  # preview moved to "o": enter is free, nothing happens
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, ScannerScreen) and engine.names() == []
        await pilot.press("o")
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, PreviewScreen)
        assert engine.names() == ["preview"]
        await pilot.press("t")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("T")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.press("h")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        assert str(screen.query_one("#title-status").render()) == "esc or f1/h to close"
        assert str(screen.query_one("#title-hint").render()) == "f1/h help"
        rows = dict(screen.sections())
        everywhere = rows["Everywhere"]
        assert ("p", "Positions") in everywhere and ("2", "Positions") not in everywhere
        assert ("f1", "Help") in everywhere and ("h", "Help") in everywhere
        assert ("1", "Scanner") in everywhere  # not remapped: the default
        assert ("T", "Transmit the order (asks first)") in rows["Spread preview"]
        assert ("o", "Preview spreads for the highlighted symbol") in rows["Scanner"]
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert titles["Positions"] == "key: p"
        await pilot.press("escape")
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


async def test_default_keys_unchanged_without_a_keymap(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.keymap == {}
        assert str(app.screen.query_one("#title-hint").render()) == "? help"
        await pilot.press("2")
        assert isinstance(app.screen, PositionsScreen)
