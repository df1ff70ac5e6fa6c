"""Watchlist editing through the dashboard on the simulated gateway (issue 13): ``+``,
a ticker, ``y`` -- the row appears and the config keeps its comments; ``-`` on a row --
it goes; a read-only config is a red error and the Scanner keeps its rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.conftest import (  # noqa: F401  (pytest finds fixtures by name)
    ENGINE_SYMBOLS,
    MakeEngine,
    make_engine,
)
from tests.engine.test_watchlist import CONFIG, EXTRA
from tests.sim.conftest import MakeGateway, fake_time, make_gateway  # noqa: F401
from tests.tui.test_flows_gateway import SIZE, dashboard, settle, wait_for
from tui_trader.config_edit import WatchlistFile
from tui_trader.sim.gateway import SimGateway
from tui_trader.tui.screens.confirm import ConfirmScreen
from tui_trader.tui.screens.scanner import ScannerScreen


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:  # noqa: F811
    return await make_gateway(symbols=(*ENGINE_SYMBOLS, EXTRA))


async def test_add_and_remove_from_the_scanner(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    engine.watchlist.target = WatchlistFile(path, "config")
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        scanner = app.screen
        assert isinstance(scanner, ScannerScreen)
        assert sorted(scanner.table.keys) == sorted(ENGINE_SYMBOLS)
        await pilot.press("plus", "q", "q", "q", "enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: EXTRA in scanner.table.keys, "the QQQ row")
        assert [n.message for n in app._notifications][-1].startswith(
            "QQQ added to the watchlist, streamed."
        )
        assert '"QQQ"' in path.read_text(encoding="utf-8")

        assert scanner.table.select_key("TLT")
        await pilot.press("minus", "y")
        await wait_for(pilot, lambda: "TLT" not in scanner.table.keys, "the TLT row gone")
        assert "TLT" not in path.read_text(encoding="utf-8")
        assert "# the names I trade" in path.read_text(encoding="utf-8")


async def test_a_read_only_config_is_a_red_error(
    make_engine: MakeEngine,  # noqa: F811
    engine_gateway: SimGateway,
    tmp_path: Path,
) -> None:
    engine = await make_engine()
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o444)
    engine.watchlist.target = WatchlistFile(path, "config")
    app = dashboard(engine, tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        scanner = app.screen
        assert isinstance(scanner, ScannerScreen)
        await pilot.press("plus", "q", "q", "q", "enter", "y")
        await settle(pilot)
        last = list(app._notifications)[-1]
        assert last.severity == "error"
        assert last.message == f"QQQ not added: cannot save the watchlist: {path} is read-only."
        assert sorted(scanner.table.keys) == sorted(ENGINE_SYMBOLS)
