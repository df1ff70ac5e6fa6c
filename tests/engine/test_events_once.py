"""Events happen once: a reconnect or a restart re-reads IB's orders and executions, and
what was already told must not be told again.

- A rejected order (IB reports it "Cancelled" with error 201) is no discrepancy on the
  reconnects that follow: one warning, the rejection itself, however often the link drops.
- A fill is an event when it happens, not when it is loaded: a restart on the same journal
  shows no old fill again; an execution that happened while the engine was down is shown
  once, stamped with its own execution time, and says it was received late.
- IB's 202 "Order Canceled" after a cancel we asked for is a confirmation, not the footer's
  last IB error; for an order nobody here cancelled it is a warning and the footer's error.
"""

from __future__ import annotations

from datetime import timedelta

from ib_insync import IB

from tests.engine.conftest import MakeEngine
from tests.engine.test_engine_risk import intent_status, open_position
from tests.engine.test_engine_trade import events
from tests.sim.conftest import FakeMonotonic, until
from tui_trader.core.models import EventLevel, IntentStatus
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Health, Orders

RECONNECTS = 8


async def reconnected(engine: Engine, count: int) -> None:
    """The ``count``-th reconnect is done, its ready hooks (the order resync) included."""
    await until(
        lambda: engine.session.reconnects >= count and engine.session.is_ready,
        timeout=10.0,
        what=f"reconnect {count}",
    )


async def test_a_rejected_order_warns_once_across_reconnects_and_restarts(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    engine_gateway.reject_next("Simulated: not enough margin for this order")
    assert (await engine.transmit()).ok
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.REJECTED, what="REJECTED")

    for n in range(1, RECONNECTS + 1):
        engine_gateway.drop()
        await reconnected(engine, n)

    warnings = [e for e in events(engine) if e.intent_id == iid and e.level is EventLevel.WARNING]
    assert len(warnings) == 1, [e.text for e in warnings]
    assert "REJECTED" in warnings[0].text and "not enough margin" in warnings[0].text
    assert [e for e in events(engine, "reconcile") if e.intent_id == iid] == []
    journaled = [e for e in engine.journal.events(1000) if e.intent_id == iid]
    assert [e for e in journaled if e.kind == "reconcile"] == []

    # a restart on the same journal reconciles the same completed order: still nothing new
    await engine.stop()
    again = await make_engine()
    assert intent_status(again, iid) is IntentStatus.REJECTED
    assert [e for e in events(again) if e.intent_id == iid] == []
    assert [e for e in again.journal.events(1000) if e.intent_id == iid] == journaled


async def test_a_restart_shows_no_old_fill_again(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    iid = await open_position(engine, "MSFT")
    await until(lambda: len(engine.journal.fills(iid)) == 2, what="both leg fills")
    qty = engine.store.get(Orders).intents[-1].spec.quantity
    shown = [e for e in events(engine, "fill") if e.intent_id == iid]
    assert len(shown) == 1 and f"filled {qty} of {qty}" in shown[0].text
    journaled = engine.journal.events(1000)

    await engine.stop()
    again = await make_engine()
    await until(lambda: intent_status(again, iid) is IntentStatus.FILLED, what="the resync")
    assert any(i.intent_id == iid for i in again.store.get(Orders).intents)  # shown, as an order
    assert events(again, "fill") == []
    assert [e for e in again.journal.events(1000) if e.kind == "fill"] == [
        e for e in journaled if e.kind == "fill"
    ]
    engine_gateway.drop()  # a reconnect re-reads the executions too
    await reconnected(again, 1)
    assert events(again, "fill") == []


async def test_an_execution_while_the_engine_was_down_is_shown_once_at_its_own_time(
    make_engine: MakeEngine, engine_gateway: SimGateway, fake_time: FakeMonotonic
) -> None:
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    assert (await engine.adjust_limit(-100)).ok  # a dollar under the market: it rests
    assert (await engine.transmit()).ok
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.WORKING, what="WORKING")
    await engine.stop()

    # while nobody watches, MSFT falls and the resting bull call spread fills
    spot = engine_gateway.market.mid("MSFT")
    engine_gateway.set_price("MSFT", spot * 0.8)
    fake_time.advance(1.0)
    await engine_gateway.pump()
    ours = [x for x in engine_gateway.exchange.executions() if x.order_ref == iid]
    assert ours, "the resting order did not fill at the gateway"
    executed = max(x.time for x in ours)
    fake_time.advance(600.0)  # the restart comes ten minutes later
    await engine_gateway.pump()

    again = await make_engine()
    await until(lambda: intent_status(again, iid) is IntentStatus.FILLED, what="the late fill")
    restarted = again.now()
    assert restarted is not None and restarted - executed >= timedelta(minutes=9)
    (shown,) = [e for e in events(again, "fill") if e.intent_id == iid]
    assert abs(shown.time - executed) < timedelta(seconds=1)
    qty = again.store.get(Orders).intents[-1].spec.quantity
    assert f"filled {qty} of {qty}" in shown.text and "received late" in shown.text
    # and only once: a reconnect re-reads the same executions
    engine_gateway.drop()
    await reconnected(again, 1)
    assert len([e for e in events(again, "fill") if e.intent_id == iid]) == 1
    journaled = [e for e in again.journal.events(1000) if e.kind == "fill" and e.intent_id == iid]
    assert len(journaled) == 1 and journaled[0].time == shown.time


async def test_our_own_cancel_leaves_no_ib_error_in_the_footer(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    assert engine.store.get(Health).last_error_code is None
    assert (await engine.preview("MSFT")).ok
    assert (await engine.adjust_limit(-100)).ok
    assert (await engine.transmit()).ok
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.WORKING, what="WORKING")
    assert (await engine.cancel(iid)).ok
    await until(lambda: intent_status(engine, iid) is IntentStatus.CANCELLED, what="CANCELLED")
    # IB confirms with 202 "Order Canceled" after the status: wait until it has been seen
    await until(lambda: "202" in _ib_error_counts(engine), what="the 202")
    assert engine.store.get(Health).last_error_code is None
    cancelled = engine.journal.intent(iid)
    assert cancelled is not None and cancelled.last_error_code is None
    assert not any(e.level is not EventLevel.INFO for e in events(engine) if e.intent_id == iid)


async def test_a_cancel_nobody_here_asked_for_is_a_warning_and_the_footers_error(
    make_engine: MakeEngine, engine_gateway: SimGateway
) -> None:
    engine = await make_engine()
    assert (await engine.preview("MSFT")).ok
    assert (await engine.adjust_limit(-100)).ok
    assert (await engine.transmit()).ok
    iid = engine.store.get(Orders).intents[-1].intent_id
    await until(lambda: intent_status(engine, iid) is IntentStatus.WORKING, what="WORKING")
    other = IB()  # e.g. TWS or another API client: a global cancel reaches our order too
    await other.connectAsync("127.0.0.1", engine_gateway.port, clientId=77, timeout=5)
    try:
        other.reqGlobalCancel()
        await until(lambda: intent_status(engine, iid) is IntentStatus.CANCELLED, what="cancel")
        await until(lambda: engine.store.get(Health).last_error_code == 202, what="err 202")
    finally:
        other.disconnect()
    cancelled = engine.journal.intent(iid)
    assert cancelled is not None and cancelled.last_error_code == 202
    warned = [e for e in events(engine) if e.intent_id == iid and e.level is EventLevel.WARNING]
    assert len(warned) == 1 and "did not" in warned[0].text and "202" in warned[0].text


def _ib_error_counts(engine: Engine) -> str:
    return "".join(
        row
        for row in engine.metrics.render().decode().splitlines()
        if row.startswith("tui_trader_ib_errors_total{")
    )
