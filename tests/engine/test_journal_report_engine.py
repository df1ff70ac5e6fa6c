"""``tui-trader journal`` beside a real running engine (lock held, journal open, orders
filling on the simulated gateway): the report is read in another process and sees the
engine's order and fills, and the engine keeps its lock and goes on writing."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.engine.conftest import engine_settings
from tests.engine.test_engine_risk import intent_status
from tests.sim.conftest import T_START, until
from tui_trader.core.calendar import ET
from tui_trader.core.models import EventLevel, IntentStatus
from tui_trader.engine.lock import EngineLockedError, engine_lock
from tui_trader.engine.runtime import running_engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Orders


async def journal_json(journal: Path, day: str) -> dict[str, object]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tui_trader.cli", "journal", "--day", day, "--json",
        "--journal", str(journal),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    data: dict[str, object] = json.loads(out)
    return data


async def test_the_report_reads_a_running_engines_journal(
    engine_gateway: SimGateway, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite3"
    day = T_START.astimezone(ET).date().isoformat()
    async with running_engine(engine_settings(engine_gateway.port), demo=False,
                              journal_path=journal) as engine:  # fmt: skip
        assert await engine.wait_booted(20.0), "the engine did not boot"
        assert (await engine.preview("MSFT")).ok
        sent = await engine.transmit()
        assert sent.ok, sent.message
        iid = engine.store.get(Orders).intents[-1].intent_id
        await until(lambda: intent_status(engine, iid) is IntentStatus.FILLED, what="the fill")
        data = await journal_json(journal, day)
        orders = data["orders"]
        assert isinstance(orders, list) and [o["intent_id"] for o in orders] == [iid]
        (order,) = orders
        assert order["order_ref"] == iid and order["symbol"] == "MSFT"
        assert order["status"] == "FILLED" and order["filled"] == order["quantity"]
        assert {f["con_id"] for f in order["fills"]} == {leg["con_id"] for leg in order["legs"]}
        with pytest.raises(EngineLockedError), engine_lock(journal):
            pass  # the engine still holds its journal
        engine.journal.log_event(EventLevel.INFO, "test", "after the report", T_START)
        assert engine.journal.events()[-1].text == "after the report"  # still writable
