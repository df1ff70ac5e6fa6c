"""OrderManager against the simulated gateway: what-if, refusals, rejections, partial fills,
cancel/modify, walking, and the clientId guard."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from ib_insync import IB, Option
from ib_insync import OrderState as IbOrderState

from tests.broker.spreads_on_gateway import (
    NOT_CONNECTED,
    PASS,
    READY,
    STALE,
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
from tui_trader.broker.contracts import combo_contract, combo_order
from tui_trader.broker.marketdata import ib_number
from tui_trader.broker.order_reports import preview_from_state
from tui_trader.broker.orders import OrderManager, OrderRefused
from tui_trader.core.models import EventLevel, IntentStatus, JournalEvent, SpreadOrderSpec
from tui_trader.core.pricing import walk_price
from tui_trader.core.risk import GateCode, GateResult
from tui_trader.core.settings import ExecutionSettings, RiskSettings, SelectionSettings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal
from tui_trader.state.store import EventLog, Orders, Preview, Store

PAPER = ExecutionSettings()
LIVE = ExecutionSettings(mode="live", walk_step=0.3)
RISK = RiskSettings()
SELECTION = SelectionSettings()
UNSET = 1.7976931348623157e308

MakeManager = Callable[..., OrderManager]


@pytest.fixture
async def chain(gateway: SimGateway, ib: IB) -> Chain:
    return await stream_calls(ib, gateway)


@pytest.fixture
async def make_manager(ib: IB, journal: Journal) -> AsyncIterator[MakeManager]:
    made: list[OrderManager] = []

    def make(**kwargs: Any) -> OrderManager:
        kwargs.setdefault("clock", TestClock())
        kwargs.setdefault("execution", PAPER)
        kwargs.setdefault("risk", RISK)
        kwargs.setdefault("selection", SELECTION)
        om = OrderManager(kwargs.pop("ib", ib), journal, **kwargs)
        made.append(om)
        return om

    yield make
    for om in made:
        await om.close()


def legs(chain: Chain, i: int = 4, width: int = 2) -> tuple[Option, Option]:
    """A call spread of the streamed chain: strike i and i + width."""
    return chain.options[i], chain.options[i + width]


def marketable(chain: Chain, qty: int = 1, i: int = 4, mode: str = "paper") -> SpreadOrderSpec:
    lo, sh = legs(chain, i)
    price = priced("BUY", natural(chain, lo, sh), PAPER)
    return bull_call_spec(lo, sh, quantity=qty, limit=price.limit, mode=mode)


def resting(chain: Chain, qty: int = 1, i: int = 4, mode: str = "paper") -> SpreadOrderSpec:
    """A BUY at the natural bid: it rests (the market has to come to it)."""
    lo, sh = legs(chain, i)
    return bull_call_spec(lo, sh, quantity=qty, limit=natural(chain, lo, sh).bid, mode=mode)


def no_orders(gw: SimGateway) -> bool:
    return gw.exchange.open_orders() == [] and gw.exchange.completed_orders() == []


async def status_is(journal: Journal, iid: str, status: IntentStatus) -> None:
    await until(
        lambda: (it := journal.intent(iid)) is not None and it.status is status, what=status
    )


# --------------------------------------------------------------------------- what-if


def test_what_if_unset_values_become_none() -> None:
    state = IbOrderState(
        status="PreSubmitted",
        initMarginBefore=str(UNSET),
        initMarginChange="1.7976931348623157E308",
        initMarginAfter="",
        maintMarginChange="-250.5",
        equityWithLoanAfter="nan",
        commission=UNSET,
        minCommission=math.nan,
        maxCommission=2.6,
        commissionCurrency="USD",
        warningText="  ",
    )
    p = preview_from_state(state)
    assert p.init_margin_before is None and p.init_margin_change is None
    assert p.init_margin_after is None and p.equity_with_loan_after is None
    assert p.maint_margin_change == -250.5  # negative changes are real (closing frees margin)
    assert (p.commission, p.min_commission, p.max_commission) == (None, None, 2.6)
    assert p.warning is None and not p.ok and p.available_funds_after is None


@pytest.mark.parametrize(
    ("raw", "value"),
    [("12.5", 12.5), (12.5, 12.5), ("", None), ("abc", None), (None, None), (math.inf, None),
     (-UNSET, None), ("1.7976931348623157e+308", None)],
)  # fmt: skip
def test_ib_number(raw: object, value: float | None) -> None:
    assert ib_number(raw) == value


async def test_what_if_answers_margin_and_commission_and_writes_no_slice(
    chain: Chain, make_manager: MakeManager
) -> None:
    store = Store()
    om = make_manager(store=store)
    spec = marketable(chain, qty=3)
    store.update(Preview, spec=spec)
    before = store.version(Preview)
    preview = await om.what_if(spec)
    assert spec.limit_price is not None
    assert preview.init_margin_change == pytest.approx(spec.limit_price * 100 * 3, abs=0.01)
    assert preview.commission == pytest.approx(0.65 * 2 * 3)
    assert store.version(Preview) == before  # the preview desk's slice, not the broker's


async def test_what_if_that_never_answers_is_a_warning(
    gateway: SimGateway, chain: Chain, make_manager: MakeManager
) -> None:
    om = make_manager(what_if_timeout_s=0.1)
    gateway.delay(2000)
    preview = await om.what_if(marketable(chain))
    assert preview.init_margin_change is None and not preview.ok
    assert preview.warning == "IB did not answer the what-if within 0.1 s."


async def test_what_if_error_carries_ibs_text(chain: Chain, make_manager: MakeManager) -> None:
    om = make_manager()
    spec = marketable(chain)
    bogus = spec.model_copy(
        update={"legs": (spec.legs[0].model_copy(update={"con_id": 999_999_999}), spec.legs[1])}
    )
    preview = await om.what_if(bogus)
    assert not preview.ok
    assert preview.warning is not None and preview.warning.startswith("IB error 200")


async def test_what_if_when_disconnected(ib: IB, chain: Chain, make_manager: MakeManager) -> None:
    om = make_manager()
    spec = marketable(chain)
    ib.disconnect()
    preview = await om.what_if(spec)
    assert preview.warning == "Not connected to IB: no what-if preview."


# --------------------------------------------------------------------------- refusals


async def test_nothing_is_sent_when_not_connected(
    gateway: SimGateway, ib: IB, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    om = make_manager()
    spec = marketable(chain)
    with pytest.raises(OrderRefused, match="Not connected"):
        await om.transmit(spec, gate=PASS, context=NOT_CONNECTED)
    ib.disconnect()
    with pytest.raises(OrderRefused, match="Not connected"):
        await om.transmit(spec, gate=PASS, context=READY)
    await gateway.pump()
    assert journal.intents() == []
    assert no_orders(gateway)


async def test_nothing_is_sent_with_a_stale_quote(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    store = Store()
    om = make_manager(store=store)
    with pytest.raises(OrderRefused, match="stale") as err:
        await om.transmit(marketable(chain), gate=PASS, context=STALE)
    assert err.value.reason == (
        "A leg quote is stale (ages 0.1 s, 7.5 s; they must be younger than 5 s): nothing was sent."
    )
    assert journal.intents() == [] and no_orders(gateway)
    (event,) = store.get(EventLog).items
    assert event.level is EventLevel.WARNING and "stale" in event.text


async def test_live_mode_against_a_paper_account_is_refused(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    om = make_manager(execution=ExecutionSettings(mode="live"))
    with pytest.raises(OrderRefused) as err:
        await om.transmit(marketable(chain, mode="live"), gate=PASS, context=READY)
    assert err.value.reason == (
        "Configured for live trading but connected to paper account DU…456: refusing to "
        'trade; set [execution] mode = "paper" or connect the live account.'
    )
    # a spec priced for paper cannot slip through a live configuration either
    with pytest.raises(OrderRefused, match="priced for paper"):
        await om.transmit(marketable(chain), gate=PASS, context=READY)
    await gateway.pump()
    assert journal.intents() == [] and no_orders(gateway)


async def test_opening_orders_need_passed_gates(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    om = make_manager()
    spec = marketable(chain, qty=3)
    with pytest.raises(OrderRefused, match="have not been checked"):
        await om.transmit(spec, context=READY)
    failed = GateResult(False, 0, GateCode.HALTED, "Trading is halted: the kill switch is engaged.")
    with pytest.raises(OrderRefused) as err:
        await om.transmit(spec, gate=failed, context=READY)
    assert err.value.reason == "Risk gate HALTED: Trading is halted: the kill switch is engaged."
    small = GateResult(True, 2, None, "All risk gates pass: 2 contracts.")
    with pytest.raises(OrderRefused, match="3 contracts exceed the 2"):
        await om.transmit(spec, gate=small, context=READY)
    lo, sh = legs(chain)
    dear = bull_call_spec(lo, sh, quantity=1, limit=5.01)
    with pytest.raises(OrderRefused, match=r"above max_spread_cost 500\.00"):
        await om.transmit(dear, gate=PASS, context=READY)
    assert journal.intents() == [] and no_orders(gateway)


async def test_a_second_order_on_working_legs_is_refused(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    om = make_manager(sleep=ManualSleep(TestClock()))
    first = await om.transmit(resting(chain), gate=PASS, context=READY)
    await status_is(journal, first.intent_id, IntentStatus.WORKING)
    with pytest.raises(OrderRefused, match=f"Order {first.intent_id} on the same legs"):
        await om.transmit(marketable(chain), gate=PASS, context=READY)
    assert len(journal.intents()) == 1 and len(gateway.exchange.open_orders()) == 1


# --------------------------------------------------------------------------- IB's answers


async def test_rejection_is_recorded_with_ibs_reason(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    store = Store()
    om = make_manager(store=store)
    gateway.reject_next("insufficient funds")
    intent = await om.transmit(marketable(chain), gate=PASS, context=READY)
    await status_is(journal, intent.intent_id, IntentStatus.REJECTED)
    rejected = journal.intent(intent.intent_id)
    assert rejected is not None
    assert rejected.last_error_code == 201
    assert rejected.last_error_text == "Order rejected - reason:insufficient funds"
    assert rejected.filled == 0 and journal.fills(intent.intent_id) == []
    (order,) = orders_with_ref(gateway, intent.intent_id)
    assert order.status == "Cancelled"  # type: ignore[attr-defined]
    assert any(
        e.level is EventLevel.WARNING and "REJECTED" in e.text and "insufficient funds" in e.text
        for e in store.get(EventLog).items
    )
    assert store.get(Orders).intents[0].status is IntentStatus.REJECTED


async def test_a_discrepancy_with_ib_is_told_once_across_resyncs_and_a_restart(
    gateway: SimGateway, connect: Any, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    clock = TestClock()
    spec = marketable(chain)
    iid = journal.record_intent(spec, clock()).intent_id  # journaled; the app died before sending
    store = Store()
    om = make_manager(store=store, clock=clock)
    await om.resync()
    assert journal.intent(iid).status is IntentStatus.UNKNOWN  # type: ignore[union-attr]
    journal.dismiss_unknown(iid, "not in TWS", clock())
    # ... and yet an order with that ref fills at IB (placed by hand from TWS, say)
    hand = await connect(2)
    order = combo_order(spec, account=gateway.exchange.account, order_ref=iid, combo_tick=0.01)
    hand.placeOrder(combo_contract(spec), order)
    await until(lambda: [o.status for o in orders_with_ref(gateway, iid)] == ["Filled"])  # type: ignore[attr-defined]

    def told(events: Sequence[JournalEvent]) -> list[JournalEvent]:
        return [e for e in events if e.kind == "reconcile" and "but the journal has" in e.text]

    for _ in range(3):  # three reconnects
        clock.advance(60.0)
        await om.resync()
    await om.close()
    restarted_store = Store()
    restarted = make_manager(store=restarted_store, clock=clock)
    clock.advance(60.0)
    await restarted.resync()
    (warning,) = told(journal.events(1000))
    assert warning.level is EventLevel.WARNING and warning.intent_id == iid
    assert "kept CANCELLED" in warning.text
    assert len(told(store.get(EventLog).items)) == 1
    assert told(restarted_store.get(EventLog).items) == []
    assert journal.intent(iid).status is IntentStatus.CANCELLED  # type: ignore[union-attr]


async def test_partial_fills_are_tracked(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    gateway.exchange.partial_fills = True  # at most ceil(qty / 3) per fill step
    om = make_manager(sleep=ManualSleep(TestClock()))
    spec = marketable(chain, qty=3)
    intent = await om.transmit(spec, gate=PASS, context=READY)
    iid = intent.intent_id
    await status_is(journal, iid, IntentStatus.PARTIALLY_FILLED)
    assert journal.intent(iid).filled == 1  # type: ignore[union-attr]
    await gateway.pump()
    await until(lambda: journal.intent(iid).filled == 2)  # type: ignore[union-attr]
    assert journal.intent(iid).status is IntentStatus.PARTIALLY_FILLED  # type: ignore[union-attr]
    await gateway.pump()
    await status_is(journal, iid, IntentStatus.FILLED)
    await until(lambda: all(f.commission is not None for f in journal.fills(iid)))
    fills = journal.fills(iid)
    assert len(fills) == 6  # three pieces x two legs
    assert sum(f.quantity for f in fills if f.side == "BOT") == 3
    assert sum(f.quantity for f in fills if f.side == "SLD") == 3
    done = journal.intent(iid)
    assert done is not None and done.commission == pytest.approx(0.65 * 2 * 3)
    assert len(orders_with_ref(gateway, iid)) == 1


async def test_cancel_and_modify_a_working_order(
    gateway: SimGateway, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    om = make_manager(sleep=ManualSleep(TestClock()), reject_grace_s=30.0)
    spec = resting(chain)
    intent = await om.transmit(spec, gate=PASS, context=READY)
    iid = intent.intent_id
    await status_is(journal, iid, IntentStatus.WORKING)
    assert spec.limit_price is not None
    new_limit = round(spec.limit_price + 0.05, 2)
    assert iid in om.walking()
    modified = await om.modify(iid, new_limit + 0.004)  # put on the grid, BUY rounds down
    assert modified.working_limit == new_limit
    assert om.walking() == {}  # the user took the price over: no more walking
    await until(lambda: gateway.exchange.open_orders()[0].request.limit_price == new_limit)
    with pytest.raises(OrderRefused, match="above max_spread_cost"):
        await om.modify(iid, 6.0)
    # a cancel we asked for is applied at once (no wait for an explaining error)
    await om.cancel(iid)
    await status_is(journal, iid, IntentStatus.CANCELLED)
    assert gateway.exchange.open_orders() == []
    assert len(orders_with_ref(gateway, iid)) == 1  # modified in place, never re-placed


async def test_orders_of_another_client_are_left_alone(
    gateway: SimGateway, connect: Any, chain: Chain, journal: Journal, make_manager: MakeManager
) -> None:
    om = make_manager(sleep=ManualSleep(TestClock()))
    intent = await om.transmit(resting(chain), gate=PASS, context=READY)
    await status_is(journal, intent.intent_id, IntentStatus.WORKING)
    other_ib = await connect(2)
    other = make_manager(ib=other_ib, sleep=ManualSleep(TestClock()))
    await other.resync()
    with pytest.raises(OrderRefused, match="placed by clientId 1; this session is clientId 2"):
        await other.cancel(intent.intent_id)
    with pytest.raises(OrderRefused, match="placed by clientId 1"):
        await other.modify(intent.intent_id, 1.0)
    assert len(gateway.exchange.open_orders()) == 1
    assert journal.intent(intent.intent_id).status is IntentStatus.WORKING  # type: ignore[union-attr]


# --------------------------------------------------------------------------- walking


async def walk_once(om: OrderManager, sleep: ManualSleep, iid: str) -> None:
    """Let the walk of ``iid`` take one step: release its sleep, wait until it sleeps again
    (or has ended)."""
    await until(lambda: sleep.waiting == 1, what="the walk to wait")
    sleep.release()
    await until(lambda: sleep.waiting == 1 or iid not in om.walking(), what="the step")


@pytest.fixture
async def live_gateway(make_gateway: Callable[..., Awaitable[SimGateway]]) -> SimGateway:
    gw = await make_gateway()
    gw.exchange.account = "U7654321"  # a live account: live mode may trade it
    return gw


async def test_live_walk_reaches_the_far_side_and_fills(
    live_gateway: SimGateway, connect: Any, journal: Journal, make_manager: MakeManager
) -> None:
    gw = live_gateway
    ib = await connect(1, gw)
    chain = await stream_calls(ib, gw)
    clock = TestClock()
    sleep = ManualSleep(clock)
    om = make_manager(ib=ib, clock=clock, sleep=sleep, execution=LIVE)
    lo, sh = legs(chain)
    nat = natural(chain, lo, sh)
    first = priced("BUY", nat, LIVE)
    assert first.limit is not None and first.limit < nat.ask  # live: starts inside the market
    spec = bull_call_spec(lo, sh, quantity=2, limit=first.limit, mode="live")
    intent = await om.transmit(spec, gate=PASS, context=READY)
    iid = intent.intent_id
    await status_is(journal, iid, IntentStatus.WORKING)

    # step 1: 0.4 + 0.3 of the natural spread from the bid, journaled, then modified at IB
    step1 = walk_price("BUY", nat.bid, nat.ask, 1, LIVE)
    assert step1 is not None and not hasattr(step1, "code") and step1.limit < nat.ask  # type: ignore[union-attr]
    await walk_once(om, sleep, iid)
    await until(lambda: journal.intent(iid).walk_step == 1)  # type: ignore[union-attr]
    assert journal.intent(iid).working_limit == step1.limit  # type: ignore[union-attr]
    await until(lambda: gw.exchange.open_orders()[0].request.limit_price == step1.limit)
    assert sleep.requests[0] == LIVE.walk_interval_s

    # step 2 reaches the natural ask: marketable, filled at the natural price
    await walk_once(om, sleep, iid)
    await status_is(journal, iid, IntentStatus.FILLED)
    done = journal.intent(iid)
    assert done is not None and done.walk_step == 2 and done.working_limit == nat.ask
    assert done.avg_fill_price == pytest.approx(nat.ask, abs=1e-9)
    assert len(orders_with_ref(gw, iid)) == 1  # one order, modified twice
    await until(lambda: om.walking() == {})


async def test_walk_replaces_only_the_unfilled_quantity(
    live_gateway: SimGateway, connect: Any, journal: Journal, make_manager: MakeManager
) -> None:
    gw = live_gateway
    gw.exchange.partial_fills = True
    ib = await connect(1, gw)
    chain = await stream_calls(ib, gw)
    clock = TestClock()
    sleep = ManualSleep(clock)
    om = make_manager(ib=ib, clock=clock, sleep=sleep, execution=LIVE)
    lo, sh = legs(chain)
    nat = natural(chain, lo, sh)
    spec = bull_call_spec(lo, sh, quantity=3, limit=priced("BUY", nat, LIVE).limit, mode="live")
    intent = await om.transmit(spec, gate=PASS, context=READY)
    iid = intent.intent_id
    await status_is(journal, iid, IntentStatus.WORKING)
    await walk_once(om, sleep, iid)
    await walk_once(om, sleep, iid)  # at the far side: one unit of three fills on arrival
    await status_is(journal, iid, IntentStatus.PARTIALLY_FILLED)
    (order,) = gw.exchange.open_orders()
    assert (order.filled, order.remaining, order.request.quantity) == (1, 2, 3)
    await walk_once(
        om, sleep, iid
    )  # step 3: price unchanged, nothing re-sent, the rest keeps working
    assert journal.intent(iid).walk_step == 3  # type: ignore[union-attr]
    await gw.pump(2)
    await status_is(journal, iid, IntentStatus.FILLED)
    assert journal.intent(iid).filled == 3  # type: ignore[union-attr]
    assert len(orders_with_ref(gw, iid)) == 1
    assert sum(f.quantity for f in journal.fills(iid) if f.con_id == lo.conId) == 3


async def test_walk_cancels_after_the_last_step(
    live_gateway: SimGateway, connect: Any, journal: Journal, make_manager: MakeManager
) -> None:
    gw = live_gateway
    ib = await connect(1, gw)
    chain = await stream_calls(ib, gw)
    clock = TestClock()
    sleep = ManualSleep(clock)
    ex = ExecutionSettings(mode="live", walk_step=0.1, walk_max_steps=1)
    om = make_manager(ib=ib, clock=clock, sleep=sleep, execution=ex)
    lo, sh = legs(chain)
    nat = natural(chain, lo, sh)
    spec = bull_call_spec(lo, sh, quantity=1, limit=priced("BUY", nat, ex).limit, mode="live")
    intent = await om.transmit(spec, gate=PASS, context=READY)
    iid = intent.intent_id
    await status_is(journal, iid, IntentStatus.WORKING)
    await walk_once(om, sleep, iid)
    await until(lambda: journal.intent(iid).walk_step == 1)  # type: ignore[union-attr]
    await walk_once(om, sleep, iid)
    await status_is(journal, iid, IntentStatus.CANCELLED)
    assert gw.exchange.open_orders() == []
    assert any("still unfilled after 1 walk steps" in e.text for e in journal.events())
