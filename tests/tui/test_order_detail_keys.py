"""The order-detail dialog's keys are remappable like every other (issue 13): ``[ui] keys``
accepts their ids, and a remapped close key closes the dialog while the default one no
longer does."""

from __future__ import annotations

from pathlib import Path

from tests.tui.conftest import RecordingEngine
from tests.tui.demo_store import APP_NOW, Demo
from tests.tui.test_order_detail import build, orders_store
from tui_trader.state.journal import Journal
from tui_trader.state.store import Store
from tui_trader.tui.app import create_app, known_binding_ids
from tui_trader.tui.keymap import validate_keymap
from tui_trader.tui.screens.order_detail import OrderDetailScreen
from tui_trader.tui.screens.orders import OrdersScreen


def test_the_order_detail_ids_are_known() -> None:
    ids = {b.id for b in OrderDetailScreen.BINDINGS}  # type: ignore[union-attr]
    assert ids == {"close_order_detail", "close_order_detail_d"}
    assert ids <= known_binding_ids()
    assert validate_keymap({"close_order_detail": "q"}, known_binding_ids()) == {
        "close_order_detail": "q"
    }


async def test_a_remapped_close_key_closes_the_details(
    demo: Demo, store: Store, no_user_themes: Path, tmp_path: Path
) -> None:
    keys = {"close_order_detail": "x", "close_order_detail_d": "z"}
    settings = demo.settings.model_copy(
        update={"ui": demo.settings.ui.model_copy(update={"keys": keys})}
    )
    with Journal(tmp_path / "journal.sqlite3", new_id=lambda: "tt-00000000000a") as journal:
        intent = build(journal)
    app = create_app(settings, orders_store(store, intent), clock=lambda: APP_NOW,
                     engine=RecordingEngine(), user_theme_dir=no_user_themes,
                     refresh_interval=0.0)  # fmt: skip
    app.animation_level = "none"
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("3", "d")
        await pilot.pause()
        assert isinstance(app.screen, OrderDetailScreen)
        await pilot.press("escape", "d")  # the defaults are gone
        await pilot.pause()
        assert isinstance(app.screen, OrderDetailScreen)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, OrdersScreen)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, OrderDetailScreen)
        await pilot.press("z")
        await pilot.pause()
        assert isinstance(app.screen, OrdersScreen)
