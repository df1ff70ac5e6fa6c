"""Crash safety over real sockets: the app SIGKILLed mid-order, and ten forced drops.

After every restart or reconnect, ``OrderManager.resync`` reconciles the journal with the
gateway by orderRef; the journal and the gateway must agree and no order may exist twice.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from ib_insync import IB

from tests.broker.spreads_on_gateway import (
    PASS,
    READY,
    Chain,
    ManualSleep,
    TestClock,
    bull_call_spec,
    natural,
    orders_with_ref,
    priced,
    stream_calls,
)
from tests.sim.conftest import until
from tui_trader.broker.orders import OrderManager, OrderRefused
from tui_trader.core.models import IntentStatus, SpreadOrderSpec
from tui_trader.core.settings import ExecutionSettings, RiskSettings, SelectionSettings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal

ROOT = Path(__file__).resolve().parents[2]
PAPER = ExecutionSettings()
CHILD_ID = 7


@pytest.fixture
async def chain(gateway: SimGateway, connect: Any) -> Chain:
    ib: IB = await connect(20)  # the test's own eyes on the market, not the app
    return await stream_calls(ib, gateway)


def spread_spec(chain: Chain, i: int, *, qty: int = 2, rest: bool = False) -> SpreadOrderSpec:
    lo, sh = chain.options[i], chain.options[i + 1]
    nat = natural(chain, lo, sh)
    limit = nat.bid if rest else priced("BUY", nat, PAPER).limit
    return bull_call_spec(lo, sh, quantity=qty, limit=limit)


def manager(ib: IB, journal: Journal) -> OrderManager:
    return OrderManager(
        ib,
        journal,
        clock=TestClock(),
        execution=PAPER,
        risk=RiskSettings(),
        selection=SelectionSettings(),
        sleep=ManualSleep(TestClock()),  # walks never step here
    )


async def run_child(
    gw: SimGateway, journal_path: Path, spec: SpreadOrderSpec, point: str
) -> asyncio.subprocess.Process:
    """Start the app process that will kill itself at ``point``."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.broker.crash_client",
        str(gw.port),
        str(CHILD_ID),
        str(journal_path),
        spec.model_dump_json(),
        point,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


@asynccontextmanager
async def restart(gw: SimGateway, journal_path: Path) -> AsyncIterator[tuple[IB, OrderManager]]:
    """The app after the restart: same clientId, same journal, a fresh OrderManager."""
    await until(lambda: CHILD_ID not in gw.clients, what="the gateway to see the kill")
    ib = IB()
    await ib.connectAsync("127.0.0.1", gw.port, clientId=CHILD_ID, timeout=5)
    journal = Journal(journal_path)
    om = manager(ib, journal)
    try:
        yield ib, om
    finally:
        await om.close()
        ib.disconnect()
        journal.close()


async def test_killed_after_journaling_before_place_order(
    gateway: SimGateway, chain: Chain, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    spec = spread_spec(chain, 4)
    child = await run_child(gateway, path, spec, "after_record")
    assert await asyncio.wait_for(child.wait(), 60) == -signal.SIGKILL

    with Journal(path) as before:
        (intent,) = before.intents()
        assert intent.status is IntentStatus.PENDING_SEND and intent.spec == spec
    iid = intent.intent_id
    async with restart(gateway, path) as (ib, om):
        result = await om.resync()
        journal = om._journal
        after = journal.intent(iid)
        assert after is not None and after.status is IntentStatus.UNKNOWN
        assert result.needs_user == (iid,)
        assert any("will NOT be resent" in f.text for f in result.findings)
        # nothing reached IB, and nothing is sent on its behalf, even on a second resync
        await gateway.pump()
        assert orders_with_ref(gateway, iid) == []
        await om.resync()
        assert journal.intent(iid).status is IntentStatus.UNKNOWN  # type: ignore[union-attr]
        assert gateway.exchange.open_orders() == [] and gateway.exchange.completed_orders() == []
        assert ib.openTrades() == []


async def killed_right_after_place_order(gw: SimGateway, path: Path, spec: SpreadOrderSpec) -> str:
    """The app places ``spec`` and is SIGKILLed once the order is at the gateway, before
    it marks the intent SENT; returns the intent id (PENDING_SEND in the journal)."""
    child = await run_child(gw, path, spec, "after_place")
    assert child.stdout is not None and child.stdin is not None
    line = (await asyncio.wait_for(child.stdout.readline(), 60)).decode().split()
    assert line[0] == "PLACED"
    iid = line[1]
    await until(lambda: len(orders_with_ref(gw, iid)) == 1, what="the order at the gateway")
    child.stdin.write(b"go\n")
    await child.stdin.drain()
    assert await asyncio.wait_for(child.wait(), 30) == -signal.SIGKILL
    with Journal(path) as before:
        assert before.intent(iid).status is IntentStatus.PENDING_SEND  # type: ignore[union-attr]
    return iid


async def test_killed_right_after_place_order(
    gateway: SimGateway, chain: Chain, tmp_path: Path
) -> None:
    path = tmp_path / "journal.sqlite3"
    spec = spread_spec(chain, 4, qty=2)
    nat = natural(chain, chain.options[4], chain.options[5])
    iid = await killed_right_after_place_order(gateway, path, spec)
    async with restart(gateway, path) as (_ib, om):
        await om.resync()
        journal = om._journal
        done = journal.intent(iid)
        assert done is not None and done.status is IntentStatus.FILLED
        assert done.filled == 2 and done.order_id is not None and done.perm_id is not None
        assert done.avg_fill_price == pytest.approx(nat.ask, abs=1e-9)
        fills = journal.fills(iid)
        assert sorted((f.con_id, f.side, f.quantity) for f in fills) == sorted(
            [(chain.options[4].conId, "BOT", 2.0), (chain.options[5].conId, "SLD", 2.0)]
        )
        assert all(f.commission == pytest.approx(1.30) for f in fills)
        assert done.commission == pytest.approx(2.60)
        await om.resync()  # again: idempotent, and still nothing sent twice
        await gateway.pump()
        assert len(orders_with_ref(gateway, iid)) == 1
        assert len(gateway.exchange.completed_orders()) == 1
        assert journal.intent(iid).status is IntentStatus.FILLED  # type: ignore[union-attr]


async def test_a_rejection_while_the_app_was_down_keeps_its_reason(
    gateway: SimGateway, chain: Chain, tmp_path: Path
) -> None:
    """IB rejects the order after the app died: the rejection reaches the restarted app
    only as a completed "Cancelled" order, whose completedStatus carries the reason."""
    path = tmp_path / "journal.sqlite3"
    gateway.exchange.reject_next("Insufficient margin for this order")
    iid = await killed_right_after_place_order(gateway, path, spread_spec(chain, 4))
    async with restart(gateway, path) as (_ib, om):
        result = await om.resync()
        done = om._journal.intent(iid)
        assert done is not None and done.status is IntentStatus.CANCELLED
        assert done.last_error_text == "Insufficient margin for this order"
        assert any("Insufficient margin for this order" in f.text for f in result.findings)
        await om.resync()  # idempotent
        assert om._journal.intent(iid) == done


_AGREE = {"Filled": IntentStatus.FILLED, "Submitted": IntentStatus.WORKING}


async def test_ten_forced_drops_leave_no_duplicate_and_agree(
    gateway: SimGateway, chain: Chain, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal.sqlite3")
    ib = IB()
    await ib.connectAsync("127.0.0.1", gateway.port, clientId=1, timeout=5)
    om = manager(ib, journal)
    sent: list[str] = []
    try:
        for i in range(10):
            spec = spread_spec(chain, i, qty=1, rest=i % 3 == 1)
            intent = await om.transmit(spec, gate=PASS, context=READY)
            sent.append(intent.intent_id)
            if i % 3 != 2:  # let the gateway take it; else drop before it reads the bytes
                iid = intent.intent_id
                await until(lambda iid=iid: len(orders_with_ref(gateway, iid)) == 1)
            gateway.drop()
            await until(lambda: not ib.isConnected(), what="the drop")
            with pytest.raises(OrderRefused, match="Not connected"):
                await om.transmit(spread_spec(chain, 11), gate=PASS, context=READY)
            await ib.connectAsync("127.0.0.1", gateway.port, clientId=1, timeout=5)
            await om.resync()
        await om.resync()
        await gateway.pump()

        assert len(journal.intents()) == 10
        for n, iid in enumerate(sent):
            at_ib = orders_with_ref(gateway, iid)
            assert len(at_ib) <= 1, f"order {n} exists {len(at_ib)} times"
            intent = journal.intent(iid)
            assert intent is not None
            if n % 3 == 2:  # dropped before the gateway read it: lost, outcome unknown
                assert at_ib == []
                assert intent.status is IntentStatus.UNKNOWN
                continue
            (order,) = at_ib
            assert intent.status is _AGREE[order.status], (n, order.status)  # type: ignore[attr-defined]
            assert intent.filled == order.filled  # type: ignore[attr-defined]
            assert intent.perm_id == order.perm_id  # type: ignore[attr-defined]
        counts = [o.request.order_ref for o in gateway.exchange.completed_orders()]
        counts += [o.request.order_ref for o in gateway.exchange.open_orders()]
        assert len(counts) == len(set(counts)) == 7  # 10 intents, 3 lost in the drop
        statuses = sorted(i.status.value for i in journal.intents())
        assert statuses == ["FILLED"] * 4 + ["UNKNOWN"] * 3 + ["WORKING"] * 3
    finally:
        await om.close()
        ib.disconnect()
        journal.close()
