"""Issue 12 (c): a universe bigger than the line budget. What fits streams, the rest is
refreshed by rotating snapshots, every price stays younger than ``max_price_age_s`` and the
gateway never counts more lines than the budget (nor refuses one: no error 101)."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

import pytest

from tests.engine.conftest import MakeEngine, engine_settings
from tests.sim.conftest import FakeMonotonic, MakeGateway
from tui_trader.core.models import SpreadLeg, SpreadOrderSpec
from tui_trader.engine.engine import Engine
from tui_trader.engine.rotation import snapshot_reserve
from tui_trader.sim.gateway import GatewayLimits, SimGateway
from tui_trader.sim.universe import universe_symbols
from tui_trader.state.store import Health, ScanResults

SYMBOLS = universe_symbols(40)
LINES = 12
MAX_AGE_S = 10.0


@pytest.fixture
async def engine_gateway(make_gateway: MakeGateway) -> SimGateway:
    """The account has LINES lines and a snapshot holds one for 0.5 s. Market time runs
    about 20 times faster than the wall here, so IB's message rate (wall time, measured by
    the benchmark) is off on both sides: this test is about lines and ages."""
    limits = GatewayLimits(max_market_data_lines=LINES, snapshot_s=0.5, max_messages_per_second=0)
    return await make_gateway(symbols=SYMBOLS, limits=limits)


async def _rotating_engine(gateway: SimGateway, make_engine: MakeEngine) -> Engine:
    """An engine on ``gateway`` with the 40 symbols, LINES lines and MAX_AGE_S (no scans)."""
    settings = engine_settings(
        gateway.port,
        universe={"symbols": list(SYMBOLS)},
        connection={"max_lines": LINES},
        scanner={"interval_s": 3600.0, "max_price_age_s": MAX_AGE_S},
    )
    return await make_engine(settings=settings)


async def test_rotation_keeps_every_price_young_within_the_line_budget(
    engine_gateway: SimGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    gateway = engine_gateway
    errors: list[int] = []
    original = gateway._handle

    def watch(s: Any, req: Any) -> None:
        original(s, req)
        assert gateway.lines_in_use() <= LINES

    gateway._handle = watch  # type: ignore[method-assign]
    engine = await _rotating_engine(gateway, make_engine)
    engine.session.ib.errorEvent += lambda r, code, m, c: errors.append(code)
    engine.session.ib.client.MaxRequests = 0  # see engine_gateway
    universe = engine.universe
    reserve = snapshot_reserve(LINES, len(SYMBOLS))
    assert reserve == 3
    streaming = [s for s, c in universe.stocks.items() if engine.marketdata.ticker(c.conId)]
    assert len(streaming) == LINES - reserve  # what fits streams, 3 lines kept for snapshots

    ages: list[float] = []
    lines: list[int] = []
    for step in range(300):  # 30 s of market time, 0.1 s a step
        fake_time.advance(0.1)
        await gateway.pump()
        await asyncio.sleep(0.004)  # the snapshots' round trips
        universe.rotation.tick()
        lines.append(gateway.lines_in_use())
        assert engine.marketdata.budget.active <= LINES
        if step >= 100:  # after the first rotation: every symbol has had a price
            got = universe.price_ages()
            assert all(a is not None for a in got.values()), got
            ages.append(max(a for a in got.values() if a is not None))
    assert max(lines) <= LINES and max(lines) >= LINES - 1  # the snapshots used their lines
    assert max(ages) <= MAX_AGE_S, max(ages)
    assert universe.snapshots.sent > len(SYMBOLS)  # rotated, more than once each
    assert not [c for c in errors if c in (100, 101, 162, 420)], errors
    prices = universe.live_prices()
    assert set(prices.last) == set(SYMBOLS)
    universe.publish_price_ages()  # the Scanner's age column, whole seconds
    shown = dict(engine.store.get(ScanResults).price_ages)
    assert set(shown) == set(SYMBOLS)
    assert all(a is not None and a == int(a) and 0 <= a <= MAX_AGE_S for a in shown.values())
    for sym in SYMBOLS[-3:]:
        assert abs(prices.last[sym] / gateway.market.quote(sym).last - 1) < 0.05


async def test_a_price_older_than_max_price_age_blocks_an_entry_with_that_reason(
    engine_gateway: SimGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    """SPEC 8 with issue 12: an underlying priced longer ago than ``max_price_age_s`` is no
    price to open a trade on; the refusal says how old it is and which key limits it."""
    gateway = engine_gateway
    engine = await _rotating_engine(gateway, make_engine)
    engine.session.ib.client.MaxRequests = 0  # see engine_gateway
    universe = engine.universe
    tradable = [r for r in universe.scanner.report.results if r.tradable]  # type: ignore[union-attr]
    assert tradable, "the seeded market has signals"
    row = tradable[0]
    right = "C" if row.direction == "LONG" else "P"
    legs = tuple(
        SpreadLeg(con_id=c, symbol=row.symbol, expiry="20261218", strike=k, right=right, action=a)
        for c, k, a in ((11, 100.0, "BUY"), (12, 105.0, "SELL"))
    )
    if row.direction == "SHORT":
        legs = (
            legs[0].model_copy(update={"strike": 105.0}),
            legs[1].model_copy(update={"strike": 100.0}),
        )
    spec = SpreadOrderSpec(
        underlying=row.symbol, direction=row.direction, legs=legs, action="BUY", quantity=1,
        order_type="LMT", limit_price=1.5, mode="paper",
    )  # fmt: skip
    for _ in range(20):
        fake_time.advance(0.1)
        await gateway.pump()
        await asyncio.sleep(0.004)
        universe.rotation.tick()
    age = universe.rotation.price_age_s(row.symbol)
    assert age is not None and age < MAX_AGE_S
    assert engine.desk.context(spec).tradable
    gateway.faults.broken_farms.add("usfarm")  # nothing new: the price only ages
    universe.rotation.snapshots._max_per_s = 0  # and no snapshot refreshes it
    fake_time.advance(MAX_AGE_S + 5)
    await gateway.pump()
    ctx = engine.desk.context(spec)
    assert not ctx.tradable
    assert re.fullmatch(
        r"on a price 1[5-9] s old \(older than \[scanner\] max_price_age_s 10 s\)", ctx.tradable_why
    ), ctx.tradable_why


async def test_when_the_gateway_refuses_lines_the_app_backs_off_to_what_it_was_given(
    make_gateway: MakeGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    """The account has 8 lines while ``max_lines`` says 12: IB refuses the ninth (101),
    the budget shrinks to 8, the universe gives lines back to the rotation and no request
    goes past 8 again; every price still stays young."""
    granted, max_age = 8, 20.0
    limits = GatewayLimits(max_market_data_lines=granted, snapshot_s=0.5, max_messages_per_second=0)
    gateway = await make_gateway(symbols=SYMBOLS, limits=limits)
    original = gateway._handle
    over: list[int] = []

    def watch(s: Any, req: Any) -> None:
        original(s, req)
        if gateway.lines_in_use() > granted:
            over.append(gateway.lines_in_use())

    gateway._handle = watch  # type: ignore[method-assign]
    settings = engine_settings(
        gateway.port,
        universe={"symbols": list(SYMBOLS)},
        connection={"max_lines": LINES},
        scanner={"interval_s": 3600.0, "max_price_age_s": max_age},
    )
    engine = await make_engine(settings=settings)
    refusals: list[int] = []
    engine.session.ib.errorEvent += lambda r, code, m, c: refusals.append(code)
    engine.session.ib.client.MaxRequests = 0
    universe, budget = engine.universe, engine.marketdata.budget
    ages: list[float] = []
    footer: list[tuple[int, int]] = []
    for step in range(300):
        fake_time.advance(0.1)
        await gateway.pump()
        await asyncio.sleep(0.004)
        universe.rotation.tick()
        health = engine.store.get(Health)
        footer.append((health.lines_active, health.lines_max))
        if step == 100:
            refusals_then = refusals.count(101)
        if step >= 150:
            got = universe.price_ages()
            assert all(a is not None for a in got.values()), got
            ages.append(max(a for a in got.values() if a is not None))
    assert not over, over  # the gateway never held more than it granted
    assert budget.max == granted and budget.shrinks >= 1  # backed off to what IB gave
    # One burst while the first 101 is on its way back (at most the lines asked past the
    # grant: the ninth stream and the snapshot reserve), then never again.
    assert 1 <= refusals.count(101) == refusals_then <= 1 + snapshot_reserve(LINES, len(SYMBOLS))
    assert all(n <= m <= LINES for n, m in footer[100:]) and footer[-1][1] == granted
    assert max(ages) <= max_age, max(ages)
    assert universe.snapshots.sent > len(SYMBOLS)


async def test_a_symbol_is_never_snapshotted_twice_at_once(
    engine_gateway: SimGateway, make_engine: MakeEngine, fake_time: FakeMonotonic
) -> None:
    """A snapshot holds its line for 0.5 s and the rotation ticks every 0.1 s here: a
    symbol whose snapshot is still running is not due again (its price is old only until
    the running one ends). Before, each tick asked again for the same oldest symbols, so
    with IB's 0.5-0.75 s snapshots two of every three requests were repeats and the
    500-symbol benchmark refreshed each price every 64 s instead of every ~30 s."""
    gateway = engine_gateway
    engine = await _rotating_engine(gateway, make_engine)
    engine.session.ib.client.MaxRequests = 0  # see engine_gateway
    universe = engine.universe
    repeats: list[str] = []
    rotation = universe.rotation
    first = rotation.due()
    assert all(rotation.price_age_s(sym) is None for sym in first)  # none priced yet:
    assert first == sorted(first) and len(first) > len(SYMBOLS) - 2 * LINES  # by symbol
    passes: list[int] = []
    full_pass = rotation.due

    def counted(now: Any = None) -> list[str]:
        passes.append(1)
        return full_pass(now)

    rotation.due = counted  # type: ignore[method-assign]
    for _ in range(100):  # 10 s of market time, 0.1 s a step
        fake_time.advance(0.1)
        await gateway.pump()
        await asyncio.sleep(0.004)
        due = full_pass()
        ages = [rotation.price_age_s(sym) for sym in due]
        assert ages == sorted(ages, key=lambda a: -math.inf if a is None else -a)  # oldest first
        assert all(a is None or a >= MAX_AGE_S / 2 for a in ages)
        if rotation.tick():  # it took the most urgent
            assert universe.snapshots.running(universe.stocks[due[0]].conId)
        await asyncio.sleep(0.004)  # the requests reach the gateway
        held = [line.symbol for s in gateway._sessions for line, _ in s.snapshots.values()]
        repeats += sorted({sym for sym in held if held.count(sym) > 1})
    assert universe.snapshots.sent > len(SYMBOLS) - LINES  # it did rotate
    assert not repeats, repeats
    # the ticks reused their list of due symbols: one pass over the universe a second
    # (a tenth of max_price_age_s), not one a tick
    assert 9 <= len(passes) <= 11, len(passes)
