"""The auto-trader's bad days (issue 9, "bad input and faults"): a chain with no valid
spread and a connection lost in the middle of the window give a clear reason on the
candidate, never a crash, never a key tried twice, never an order on a dead line."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import MakeEngine
from tests.engine.test_autotrader import (
    AUTO_SYMBOLS,
    MORNING,
    auto_settings,
    settled,
    states,
    to_window,
)
from tests.sim.conftest import FakeMonotonic, MakeGateway, until
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import Automation


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:
    """The auto-trader tests' market: five signals at 11:15 New York."""
    return await make_gateway(symbols=AUTO_SYMBOLS, start=MORNING)


async def test_no_valid_spread_is_skipped_with_the_rejection_counts(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
) -> None:
    # reward/risk 50: no vertical in any chain qualifies (SPEC 5)
    settings = auto_settings(engine_gateway.port, selection={"min_reward_risk": 50.0})
    engine = await make_engine(settings=settings)
    await to_window(engine, engine_gateway, fake_time)
    await until(lambda: settled(engine), timeout=60, what="the cycle")
    candidates = engine.store.get(Automation).candidates
    assert {c.state for c in candidates} == {"SKIPPED"}
    for c in candidates:
        assert c.reason.startswith("no_spread"), c.reason
        assert "REWARD_RISK" in c.reason, c.reason  # the counts say why
    assert engine.journal.intents() == [] and engine_gateway.exchange.open_orders() == []


async def test_a_drop_in_the_middle_of_the_window_sends_each_key_at_most_once(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
) -> None:
    engine = await make_engine(settings=auto_settings(engine_gateway.port))
    real = engine.orders.what_if
    asked: list[str] = []

    async def what_if_then_drop(spec: Any) -> Any:
        # the network goes while IB is asked about the first candidate's order
        asked.append(spec.underlying)
        if len(asked) == 1:
            engine_gateway.drop()
        return await real(spec)

    engine.orders.what_if = what_if_then_drop  # type: ignore[method-assign]
    await to_window(engine, engine_gateway, fake_time)
    # the cycle ends: the one being asked about has its reason, the rest wait queued
    await until(
        lambda: asked and not engine.auto._cycling and "SELECTING" not in states(engine).values(),
        timeout=60,
        what="the cycle cut short",
    )
    await until(lambda: engine.session.is_ready, timeout=20, what="the reconnection")
    # later scans in the window resume the queue until nothing is queued
    for _ in range(3):
        engine.scanner.scan_now()
        await until(lambda: not engine.auto._cycling, timeout=60, what="a later cycle")
        if settled(engine):
            break
    got = {c.symbol: c for c in engine.store.get(Automation).candidates}
    assert set(got) == set(AUTO_SYMBOLS)
    first = got[asked[0]]
    assert (first.state, first.reason) == ("SKIPPED", "gate:CONNECTION")
    # every key at most once at the gateway, and only the sent ones carry an order
    ex = engine_gateway.exchange
    refs = [o.request.order_ref for o in ex.open_orders() + ex.completed_orders()]
    assert len(refs) == len(set(refs))
    sent = [c for c in got.values() if c.state in ("SENT", "FILLED")]
    assert len(engine.journal.intents()) == len(sent) <= 3
    assert asked[0] not in {c.symbol for c in sent}
    assert all(s != "QUEUED" for s in states(engine).values())
