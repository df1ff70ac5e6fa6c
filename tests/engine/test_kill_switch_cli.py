"""The kill switch set and cleared with ``tui-trader kill-switch`` while no engine runs: an
engine started after ``engage`` is HALTED and sends nothing new; one started after
``clear`` trades. And the CLI does not race a running engine: refused, state untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.engine.conftest import MakeEngine, engine_settings
from tests.engine.test_engine_risk import intent_status
from tests.sim.conftest import until
from tui_trader.core.models import IntentStatus
from tui_trader.core.risk import BreakerState, BreakerStatus, GateCode
from tui_trader.engine.runtime import running_engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Orders, Preview


def kill_switch(action: str, journal: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "kill-switch", action, "--journal", str(journal)],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_engine_started_after_clear_can_trade(
    make_engine: MakeEngine, engine_gateway: SimGateway, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite3"
    assert kill_switch("engage", journal).returncode == 0

    halted = await make_engine()
    assert halted.store.get(BreakerState).status is BreakerStatus.HALTED
    assert (await halted.preview("MSFT")).ok
    gate = halted.store.get(Preview).gate
    assert gate is not None and gate.reason_code is GateCode.HALTED
    refused = await halted.transmit()
    assert not refused.ok and "halted" in refused.message
    assert halted.journal.intents() == []
    await halted.stop()
    halted.journal.close()

    cleared = kill_switch("clear", journal)
    assert cleared.returncode == 0, cleared.stderr

    engine = await make_engine()
    assert engine.store.get(BreakerState).status is BreakerStatus.ACTIVE
    assert (await engine.preview("MSFT")).ok
    sent = await engine.transmit()
    assert sent.ok, sent.message
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.FILLED, what="the fill")


async def test_the_cli_does_not_race_a_running_engine(
    engine_gateway: SimGateway, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite3"
    settings = engine_settings(engine_gateway.port)
    async with running_engine(settings, demo=False, journal_path=journal) as engine:
        out = kill_switch("engage", journal)
        assert out.returncode == 2
        assert "is running on the journal" in out.stderr and "(ctrl+k)" in out.stderr
        assert engine.store.get(BreakerState).status is BreakerStatus.ACTIVE
        status = kill_switch("status", journal)
        assert status.returncode == 0 and "Kill switch: not engaged." in status.stdout
        await engine.kill_switch()
        status = kill_switch("status", journal)  # what the running engine persisted
        assert "Kill switch: ENGAGED since" in status.stdout
        out = kill_switch("clear", journal)
        assert out.returncode == 2 and "(ctrl+u)" in out.stderr
        assert engine.store.get(BreakerState).kill_switch
