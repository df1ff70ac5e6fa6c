"""The launcher hands the engine where watchlist edits are saved (issue 13): a removal
through the attached engine lands in that file. (``config_edit.watchlist_file`` decides the
file from ``--config`` and ``--demo``: tests/unit/test_config_edit.py.)"""

from __future__ import annotations

from pathlib import Path

from tests.sim.conftest import until
from tests.tui.test_launch import SATURDAY, SIZE, starting_app
from tui_trader.config import load_settings
from tui_trader.config_edit import WatchlistFile
from tui_trader.core.settings import Settings
from tui_trader.engine.engine import Engine
from tui_trader.state.store import Store
from tui_trader.tui.launch import EngineLauncher


async def test_the_launcher_sets_where_the_watchlist_is_saved(tmp_path: Path) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    settings = Settings.model_validate({"universe": {"symbols": ["AAPL", "MSFT", "SPY"]}})
    app = starting_app(settings, Store(), themes)
    target = WatchlistFile(tmp_path / "config.toml", "config")
    launcher = EngineLauncher(app, settings, demo=True, journal_path=tmp_path / "j.sqlite3",
                              clock=lambda: SATURDAY, watchlist_to=target)  # fmt: skip
    launcher.start()
    async with app.run_test(size=SIZE):
        await until(lambda: launcher.attached, timeout=30.0, what="the engine attached")
        engine = app.engine
        assert isinstance(engine, Engine) and engine.watchlist.target == target
        assert await engine.wait_booted(20.0)
        out = await engine.watchlist.remove("MSFT")
        assert out.ok, out.message
    await launcher.close()
    assert load_settings(target.path, env={}).universe.symbols == ["AAPL", "SPY"]
