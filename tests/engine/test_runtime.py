"""Building an engine from the configuration: demo wiring (in-process gateway, market
clock, throwaway journal) and everything stopped on exit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tui_trader.core.settings import Settings
from tui_trader.engine.runtime import (
    EngineStartError,
    MetricsPortError,
    mask_accounts,
    run_until_stopped,
    running_engine,
)
from tui_trader.state.store import ConnectionState, Health

#: Saturday 21 November 2026, 03:00 New York: no session today.
SATURDAY = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


async def test_demo_engine_trades_the_simulated_market_on_its_clock() -> None:
    async with running_engine(Settings(), demo=True, clock=lambda: SATURDAY) as engine:
        # 14:30 New York on Friday 20 November, the last session: the window lies ahead
        assert abs(engine.now() - datetime(2026, 11, 20, 19, 30, tzinfo=UTC)) < timedelta(seconds=5)
        assert engine.today().isoformat() == "2026-11-20"
        assert engine.settings.connection.host == "127.0.0.1"
        assert engine.settings.connection.port != Settings().connection.port
        assert engine.session.is_connected
        assert engine.store.get(Health).state is ConnectionState.CONNECTED
        journal = engine.journal.path
        assert journal.parent.name.startswith("tui-trader-demo-") and journal.exists()
    assert not journal.parent.exists()  # the demo journal is thrown away
    assert not engine.session.is_connected


async def test_a_taken_metrics_port_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(MetricsPortError, match=f"127.0.0.1:{port}"):
            async with running_engine(
                Settings(), demo=False, journal_path=tmp_path / "j.sqlite3", metrics_port=port
            ):
                pass


async def test_run_until_stopped_returns_zero_when_asked_to_stop(tmp_path: Path) -> None:
    stop = asyncio.Event()
    settings = Settings.model_validate({"connection": {"port": 9, "connect_timeout_s": 0.5}})
    task = asyncio.create_task(
        run_until_stopped(settings, demo=False, journal_path=tmp_path / "j.sqlite3", stop=stop)
    )
    await asyncio.sleep(0.2)  # nothing listens on port 9: the session keeps retrying
    stop.set()
    assert await asyncio.wait_for(task, 5.0) == 0


async def test_a_second_engine_on_the_same_journal_is_refused_with_one_sentence(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate({"connection": {"port": 9, "connect_timeout_s": 0.5}})
    journal = tmp_path / "j.sqlite3"
    async with running_engine(settings, demo=False, journal_path=journal):
        with pytest.raises(EngineStartError, match=r"^Another tui-trader engine \(pid \d+\) is"):
            async with running_engine(settings, demo=False, journal_path=journal):
                pass
    async with running_engine(settings, demo=False, journal_path=journal):  # free again
        pass


def test_account_ids_are_masked_in_log_lines() -> None:
    line = "placeOrder: Trade(order=Order(account='DU1234567', orderRef='tt-0123456789ab'))"
    masked = mask_accounts(line)
    assert "DU1234567" not in masked and "DU…567" in masked
    assert "tt-0123456789ab" in masked
    assert mask_accounts("U7654321 and F1234567") == "U7…321 and F1…567"
    assert mask_accounts("conId 265598 AAPL 20261218") == "conId 265598 AAPL 20261218"


def test_the_engine_implements_every_ui_action() -> None:
    import inspect

    from tui_trader.engine.actions import EngineActions
    from tui_trader.engine.engine import Engine

    names = [n for n, v in vars(EngineActions).items() if inspect.iscoroutinefunction(v)]
    assert len(names) == 17  # the kill switch, the auto-trader and the chain (issue 13)
    for name in names:
        assert inspect.iscoroutinefunction(getattr(Engine, name)), name
        ours = inspect.signature(getattr(Engine, name)).parameters
        theirs = inspect.signature(getattr(EngineActions, name)).parameters
        assert list(ours) == list(theirs), name
    assert inspect.iscoroutinefunction(Engine.clear_kill_switch)
