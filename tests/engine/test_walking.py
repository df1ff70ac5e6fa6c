"""SPEC 6 walking through the real engine against the simulated gateway (issue 13: a limit
order placed away from the market never walked: no step in the Log, no cancel).

The engine's clock is the gateway's simulated clock and its ``sleep`` waits for the fake
monotonic clock (:class:`ClockSleep`), so a test moves market time by 20 s and the walk takes
exactly one step; the waits are socket round-trips. The market does not move unless a test
pumps the gateway, so the simulated exchange leaves a limit below the natural ask working
(a resting limit fills only when the market moves through it). Every expected limit is
computed here from the engine's live leg quotes, in decimal ticks (:func:`expected_limit`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from itertools import pairwise
from typing import Any

import pytest

from tests.engine.conftest import MakeEngine, engine_settings
from tests.sim.conftest import FakeMonotonic, until
from tui_trader.core.calendar import ET
from tui_trader.core.models import IntentStatus, OrderIntent, SpreadOrderSpec
from tui_trader.engine.engine import Engine
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.store import EventLog, Orders, Positions, Preview
from tui_trader.tui.screens.orders import walk_text

TICK = Decimal("0.01")
WALK_STEP = Decimal("0.1")  # the default [execution] walk_step
INTERVAL = 20.0  # the default walk_interval_s
MAX_STEPS = 5  # the default walk_max_steps


class ClockSleep:
    """The engine's ``sleep`` on the test's clock: returns once ``fake_time`` has moved by
    the seconds asked (polling the loop, never sleeping real seconds for them)."""

    def __init__(self, fake_time: FakeMonotonic) -> None:
        self.fake_time = fake_time

    async def __call__(self, seconds: float) -> None:
        end = self.fake_time.now + seconds
        while self.fake_time.now < end - 1e-9:
            await asyncio.sleep(0.001)


@dataclass(frozen=True)
class Natural:
    bid: Decimal
    ask: Decimal


def dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def natural(engine: Engine, spec: SpreadOrderSpec) -> Natural:
    """The combo's natural market from the engine's live leg quotes."""
    lo = engine.marketdata.quote(spec.long_leg.con_id)
    sh = engine.marketdata.quote(spec.short_leg.con_id)
    return Natural(dec(lo.bid) - dec(sh.ask), dec(lo.ask) - dec(sh.bid))


def expected_limit(
    action: str, placed: Decimal, at_start: Natural, now: Natural, step: int, cap: Decimal
) -> float:
    """SPEC 6 for an order placed at a limit of its own: the same place in the current
    natural market, ``step * walk_step`` of the current spread nearer the far side, on the
    tick grid (nearest, ties toward our side), never past the far side nor (BUY) the cap."""
    spread = now.ask - now.bid
    if action == "BUY":
        away = (placed - at_start.bid) / (at_start.ask - at_start.bid)
        x = now.bid + spread * away + spread * step * WALK_STEP
        n = ((x / TICK) - Decimal("0.5")).to_integral_value(rounding=ROUND_CEILING)
        n = min(n, (now.ask / TICK).to_integral_value(rounding=ROUND_FLOOR))
        n = min(n, (cap / TICK).to_integral_value(rounding=ROUND_FLOOR))
    else:
        away = (at_start.ask - placed) / (at_start.ask - at_start.bid)
        x = now.ask - spread * away - spread * step * WALK_STEP
        n = ((x / TICK) + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)
        n = max(n, (now.bid / TICK).to_integral_value(rounding=ROUND_CEILING), Decimal(0))
    return float(n * TICK)


def intent_of(engine: Engine, iid: str) -> OrderIntent:
    it = engine.journal.intent(iid)
    assert it is not None
    return it


def texts(engine: Engine, iid: str) -> list[str]:
    return [e.text for e in engine.store.get(EventLog).items if e.intent_id == iid]


def walk_info(engine: Engine, iid: str) -> Any:
    return next((w for w in engine.store.get(Orders).walking if w.intent_id == iid), None)


async def take_step(engine: Engine, fake_time: FakeMonotonic, iid: str, step: int) -> None:
    """Move market time by one walk interval; wait until the journal has step ``step``."""
    fake_time.advance(INTERVAL)
    await until(lambda: intent_of(engine, iid).walk_step == step, what=f"walk step {step}")


def working_at_ib(gw: SimGateway, iid: str) -> float | None:
    orders = [o for o in gw.exchange.open_orders() if o.request.order_ref == iid]
    return orders[0].request.limit_price if len(orders) == 1 else None


async def at_ib(gw: SimGateway, iid: str, limit: float | None) -> None:
    await until(lambda: working_at_ib(gw, iid) == limit, what=f"{limit} working at IB")


async def place_below(engine: Engine, symbol: str, ticks: int) -> tuple[OrderIntent, Natural]:
    """Preview ``symbol``, move the BUY limit ``ticks`` below the natural ask (held at the
    natural bid at most), transmit."""
    assert (await engine.preview(symbol)).ok
    assert (await engine.adjust_limit(-ticks)).ok
    assert (await engine.refresh_what_if()).ok
    spec = engine.store.get(Preview).spec
    assert spec is not None
    at_start = natural(engine, spec)
    sent = await engine.transmit()
    assert sent.ok, sent.message
    (intent,) = [i for i in engine.store.get(Orders).intents if i.spec.action == "BUY"]
    await until(lambda: intent_of(engine, intent.intent_id).status is IntentStatus.WORKING)
    return intent, at_start


@pytest.fixture
def walk_sleep(fake_time: FakeMonotonic) -> ClockSleep:
    return ClockSleep(fake_time)


async def test_a_buy_below_the_bid_walks_each_step_up_to_its_bound_then_cancels(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
    walk_sleep: ClockSleep,
) -> None:
    engine = await make_engine(sleep=walk_sleep)
    intent, at_start = await place_below(engine, "MSFT", 150)
    iid, spec = intent.intent_id, intent.spec
    placed = dec(intent.working_limit)
    # The preview holds a limit inside the natural market (issue 13, defect 9): 150 ticks
    # down stop at the natural bid, the lowest a BUY can start from and still walk up.
    assert placed == at_start.bid
    cap = at_start.ask  # the worst debit the preview sized: max(limit, natural ask)
    info = walk_info(engine, iid)
    assert info is not None and (info.step, info.max_steps) == (0, MAX_STEPS)

    limits = [float(placed)]
    for step in (1, 2):
        await take_step(engine, fake_time, iid, step)
        want = expected_limit("BUY", placed, at_start, natural(engine, spec), step, cap)
        assert intent_of(engine, iid).working_limit == want
        await at_ib(engine_gateway, iid, want)
        info = walk_info(engine, iid)
        assert (info.step, info.limit) == (step, want)
        limits.append(want)
    # the Orders screen: the step of five, the limit working and when the next step is due
    (shown,) = [i for i in engine.store.get(Orders).intents if i.intent_id == iid]
    due = engine.now() + timedelta(seconds=INTERVAL)
    at = f"{due.astimezone(ET):%H:%M:%S}"  # New York time: 14:31:00 on the seeded market
    assert (shown.working_limit, walk_text(shown, info)) == (limits[2], f"2/5 {at}")
    assert info.next_at == due
    tenth = float(WALK_STEP * (at_start.ask - at_start.bid))
    for a, b in pairwise(limits):  # a tenth of the spread, to the tick
        assert b - a == pytest.approx(tenth, abs=0.005 + 1e-9)
    name = f"BUY MSFT {spec.long_leg.expiry} {spec.long_leg.strike:g}/{spec.short_leg.strike:g} C"
    assert [t for t in texts(engine, iid) if t.startswith("walk")] == [
        f"walk 1/5 {name}: {limits[0]:.2f} -> {limits[1]:.2f}",
        f"walk 2/5 {name}: {limits[1]:.2f} -> {limits[2]:.2f}",
    ]

    # the market rallies: step 3 re-measures in the new market, bounded by the sized debit
    engine_gateway.set_price("MSFT", engine_gateway.market.mid("MSFT") * 1.03)
    await engine_gateway.pump()
    await until(lambda: natural(engine, spec).ask > at_start.ask + 1, what="the rally")
    now = natural(engine, spec)
    for step in (3, 4, 5):
        await take_step(engine, fake_time, iid, step)
        want = expected_limit("BUY", placed, at_start, now, step, cap)
        assert intent_of(engine, iid).working_limit == want
        limits.append(want)
    assert limits[-1] == float(cap) < float(now.ask)  # held at the bound, not the new ask
    assert limits == sorted(limits)  # only ever toward the far side
    assert intent_of(engine, iid).status is IntentStatus.WORKING

    # one interval after the last step: cancelled, with the walk's reason in the Log
    fake_time.advance(INTERVAL)
    await until(lambda: intent_of(engine, iid).status is IntentStatus.CANCELLED, what="cancel")
    assert working_at_ib(engine_gateway, iid) is None
    assert texts(engine, iid)[-2:] == [
        f"cancel requested: walk 5/5 {name} ended: {spec.quantity} of {spec.quantity} still "
        "unfilled after 5 walk steps",
        "WORKING -> CANCELLED",
    ]
    assert walk_info(engine, iid) is None
    (shown,) = [i for i in engine.store.get(Orders).intents if i.intent_id == iid]
    assert walk_text(shown, None) == "5"


async def test_a_sell_to_close_walks_down_from_the_ask_and_cancels(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
    walk_sleep: ClockSleep,
) -> None:
    engine = await make_engine(sleep=walk_sleep)
    assert (await engine.preview("MSFT")).ok
    assert (await engine.transmit()).ok  # paper: marketable, filled at once
    await until(lambda: len(engine.store.get(Positions).spreads) == 1, what="the position")
    (sp,) = engine.store.get(Positions).spreads
    assert (await engine.preview_close(sp.intent_id)).ok
    assert (await engine.adjust_limit(500)).ok  # held at the natural ask, our side
    spec = engine.store.get(Preview).spec
    assert spec is not None and spec.action == "SELL"
    at_start = natural(engine, spec)
    assert spec.limit_price == float(at_start.ask)
    assert (await engine.transmit()).ok
    (intent,) = [i for i in engine.store.get(Orders).intents if i.spec.action == "SELL"]
    iid = intent.intent_id
    await until(lambda: intent_of(engine, iid).status is IntentStatus.WORKING)
    placed = at_start.ask
    limits = [float(placed)]
    for step in range(1, MAX_STEPS + 1):
        await take_step(engine, fake_time, iid, step)
        want = expected_limit("SELL", placed, at_start, natural(engine, spec), step, placed)
        assert intent_of(engine, iid).working_limit == want
        limits.append(want)
    spread = float(at_start.ask - at_start.bid)
    assert limits == sorted(limits, reverse=True) and limits[-1] > float(at_start.bid)
    assert limits[0] - limits[-1] == pytest.approx(0.5 * spread, abs=0.011)
    assert sum(t.startswith("walk ") and " -> " in t for t in texts(engine, iid)) == MAX_STEPS
    fake_time.advance(INTERVAL)
    await until(lambda: intent_of(engine, iid).status is IntentStatus.CANCELLED, what="cancel")
    assert engine_gateway.exchange.positions() != []  # nothing sold: the spread is still held


async def test_a_reconnect_mid_walk_resumes_at_the_journaled_step(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
    walk_sleep: ClockSleep,
) -> None:
    engine = await make_engine(sleep=walk_sleep)
    intent, at_start = await place_below(engine, "MSFT", 150)
    iid, spec = intent.intent_id, intent.spec
    placed, cap = dec(intent.working_limit), at_start.ask
    for step in (1, 2):
        await take_step(engine, fake_time, iid, step)

    reconnects = engine.session.reconnects
    engine_gateway.restart(0.5)  # every socket closes; nothing is accepted for 0.5 s
    await until(lambda: not engine.ib.isConnected(), what="the drop")
    fake_time.advance(INTERVAL)  # due while disconnected: no step is used up
    await asyncio.sleep(0.05)
    assert not engine.ib.isConnected() and intent_of(engine, iid).walk_step == 2
    await until(
        lambda: engine.session.reconnects > reconnects and engine.session.is_ready,
        timeout=10.0,
        what="the reconnect",
    )
    await until(lambda: engine._two_sided(spec.short_leg.con_id) is not None, what="quotes")
    await until(lambda: engine.orders.walking().get(iid) is not None)

    await take_step(engine, fake_time, iid, 3)
    want = expected_limit("BUY", placed, at_start, natural(engine, spec), 3, cap)
    assert intent_of(engine, iid).working_limit == want
    await at_ib(engine_gateway, iid, want)
    assert any(
        t.startswith("walk 3/5 ") and t.endswith(f"-> {want:.2f}") for t in texts(engine, iid)
    )


async def test_a_new_engine_on_the_journal_resumes_the_walk(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
    walk_sleep: ClockSleep,
) -> None:
    first = await make_engine(sleep=walk_sleep)
    intent, at_start = await place_below(first, "MSFT", 150)
    iid, spec = intent.intent_id, intent.spec
    placed, cap = dec(intent.working_limit), at_start.ask
    for step in (1, 2):
        await take_step(first, fake_time, iid, step)
    stepped = intent_of(first, iid).working_limit
    await at_ib(engine_gateway, iid, stepped)
    await first.stop()  # the order stays working at IB
    await asyncio.sleep(0.05)
    assert working_at_ib(engine_gateway, iid) == stepped

    second = await make_engine(sleep=walk_sleep)
    await until(lambda: second.orders.walking().get(iid) is not None, what="the resumed walk")
    assert second.orders.walking()[iid].step == 2
    name = f"BUY MSFT {spec.long_leg.expiry} {spec.long_leg.strike:g}/{spec.short_leg.strike:g} C"
    assert f"walk 2/5 {name}: resumed at {stepped:.2f}" in texts(second, iid)
    await until(lambda: second._two_sided(spec.short_leg.con_id) is not None, what="quotes")
    for step in (3, 4, 5):
        await take_step(second, fake_time, iid, step)
        want = expected_limit("BUY", placed, at_start, natural(second, spec), step, cap)
        assert intent_of(second, iid).working_limit == want
    fake_time.advance(INTERVAL)
    await until(lambda: intent_of(second, iid).status is IntentStatus.CANCELLED, what="cancel")


async def test_an_order_of_another_client_id_is_said_not_walked(
    make_engine: MakeEngine,
    engine_gateway: SimGateway,
    fake_time: FakeMonotonic,
    walk_sleep: ClockSleep,
) -> None:
    first = await make_engine(sleep=walk_sleep)
    intent, _ = await place_below(first, "MSFT", 150)
    iid = intent.intent_id
    await first.stop()
    # the next engine gets another clientId (e.g. 21 still held by a half-open socket):
    # IB does not let it change the order, and the user is told instead of a silent stall
    other = engine_settings(engine_gateway.port, client_id=22)
    second = await make_engine(sleep=walk_sleep, settings=other)
    await until(lambda: any("not walked" in t for t in texts(second, iid)), what="the notice")
    (notice,) = [t for t in texts(second, iid) if "not walked" in t]
    assert notice == (
        f"not walked: {iid} was placed by clientId 21; this session is clientId 22, which IB "
        "does not let change it. Use TWS."
    )
    assert second.orders.walking() == {}
    (shown,) = [i for i in second.store.get(Orders).intents if i.intent_id == iid]
    assert walk_text(shown, walk_info(second, iid)) == "0 not walking"
    fake_time.advance(INTERVAL)
    await asyncio.sleep(0.05)
    assert intent_of(second, iid).status is IntentStatus.WORKING  # left alone at IB
