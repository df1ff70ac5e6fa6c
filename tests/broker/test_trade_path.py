"""The manual trade path end to end over real sockets: chain -> spread -> price -> what-if ->
gates -> transmit (journal first) -> fills -> one grouped spread -> close -> realized P&L."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from ib_insync import IB

from tests.broker.spreads_on_gateway import (
    READY,
    TestClock,
    best_bull_call,
    bull_call_spec,
    natural,
    orders_with_ref,
    priced,
    stream_calls,
)
from tests.sim.conftest import until
from tui_trader.broker.account import AccountView, closing_spec
from tui_trader.broker.orders import OrderManager
from tui_trader.core.models import IntentStatus, SpreadOrderSpec
from tui_trader.core.risk import GateCode, RiskInputs, check_entry
from tui_trader.core.settings import ExecutionSettings, RiskSettings, SelectionSettings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal
from tui_trader.state.store import Account, AccountMode, Orders, Positions, Store

PAPER = ExecutionSettings()
RISK = RiskSettings()
SELECTION = SelectionSettings()


@pytest.fixture
async def manager(ib: IB, journal: Journal) -> AsyncIterator[tuple[OrderManager, Store]]:
    store = Store()
    om = OrderManager(
        ib,
        journal,
        clock=TestClock(),
        store=store,
        execution=PAPER,
        risk=RISK,
        selection=SELECTION,
    )
    yield om, store
    await om.close()


async def test_scan_to_close(
    gateway: SimGateway,
    ib: IB,
    journal: Journal,
    manager: tuple[OrderManager, Store],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    om, store = manager
    clock = TestClock()
    account = AccountView(ib, journal, clock=clock, store=store, execution=PAPER)
    await account.refresh()
    assert store.get(Account).net_liquidation == 100_000.0
    assert store.get(Account).mode is AccountMode.PAPER
    assert store.get(Account).account_masked == "DU…456"
    assert account.mode_problem() is None

    # --- the chain and the spread (core.spreads on the gateway's live quotes) -------------
    chain = await stream_calls(ib, gateway)
    long_leg, short_leg, iv = best_bull_call(chain, SELECTION)
    assert long_leg.strike < short_leg.strike
    nat = natural(chain, long_leg, short_leg)
    long_bid, long_ask = chain.quote(long_leg.conId)
    short_bid, short_ask = chain.quote(short_leg.conId)
    assert nat.ask == pytest.approx(long_ask - short_bid, abs=1e-9)

    # --- paper pricing: marketable at the natural ask ---------------------------------------
    price = priced("BUY", nat, PAPER)
    assert price.limit == pytest.approx(nat.ask, abs=1e-9)
    debit = price.limit
    assert debit is not None

    # --- gates: size first, what-if for buying power, then all pass -------------------------
    inputs = RiskInputs(
        open_spreads=0,
        entries_today=0,
        net_liquidation=100_000.0,
        max_loss_per_contract=nat.ask * 100,
        limit_price=debit,
        multiplier=100,
        available_funds_after=None,
        underlying_iv=iv,
        underlying="AAPL",
        leg_quote_ages_s=(0.2, 0.2),
    )
    sized = check_entry(inputs, RISK)
    assert sized.reason_code is GateCode.WHATIF_PENDING
    qty = sized.contracts
    assert qty == min(10, int(2000 // (nat.ask * 100)))
    spec = bull_call_spec(long_leg, short_leg, quantity=qty, limit=debit)
    preview = await om.what_if(spec)
    assert preview.warning is None
    assert preview.init_margin_change == pytest.approx(debit * 100 * qty, abs=0.01)  # max loss
    assert preview.commission == pytest.approx(0.65 * 2 * qty)
    assert preview.available_funds_after == pytest.approx(
        100_000 - debit * 100 * qty - 0.65 * 2 * qty, abs=0.02
    )
    gate = check_entry(replace(inputs, available_funds_after=preview.available_funds_after), RISK)
    assert gate.ok and gate.contracts == qty
    assert gateway.exchange.open_orders() == [] and gateway.exchange.completed_orders() == []

    # --- transmit: the gateway sees an order whose intent is already on disk --------------
    reader = Journal(tmp_path / "journal.sqlite3")  # a second connection: committed data only
    arrivals: list[tuple[str, IntentStatus | None]] = []
    place = gateway._place_order

    def spy(session: Any, req: Any) -> None:
        found = reader.intent(req.order.order_ref)
        arrivals.append((req.order.order_ref, None if found is None else found.status))
        place(session, req)

    monkeypatch.setattr(gateway, "_place_order", spy)
    intent = await om.transmit(spec, gate=gate, context=READY)
    assert intent.status is IntentStatus.SENT and intent.order_id is not None
    iid = intent.intent_id

    def filled_with_commissions(ref: str) -> bool:
        it = journal.intent(ref)
        fills = journal.fills(ref)
        return (
            it is not None
            and it.status is IntentStatus.FILLED
            and len(fills) == 2
            and all(f.commission is not None for f in fills)
        )

    await until(lambda: filled_with_commissions(iid), what="fill and commissions")
    assert len(arrivals) == 1
    ref_at_gateway, status_at_arrival = arrivals[0]
    assert ref_at_gateway == iid
    assert status_at_arrival in (IntentStatus.PENDING_SEND, IntentStatus.SENT)
    (placed,) = orders_with_ref(gateway, iid)
    assert placed.request.action == "BUY"  # type: ignore[attr-defined]
    assert placed.request.limit_price == debit  # type: ignore[attr-defined]
    assert [(g.con_id, g.action) for g in placed.request.legs] == [  # type: ignore[attr-defined]
        (long_leg.conId, "BUY"),
        (short_leg.conId, "SELL"),
    ]

    done = journal.intent(iid)
    assert done is not None
    assert done.filled == qty
    assert done.avg_fill_price == pytest.approx(nat.ask, abs=1e-9)
    assert done.commission == pytest.approx(0.65 * 2 * qty)
    fills = {f.con_id: f for f in journal.fills(iid)}
    assert fills[long_leg.conId].side == "BOT" and fills[short_leg.conId].side == "SLD"
    assert fills[long_leg.conId].price == long_ask and fills[short_leg.conId].price == short_bid
    for f in fills.values():
        assert f.quantity == qty
        assert f.commission == pytest.approx(0.65 * qty)
        assert f.intent_id == iid
    assert [i.intent_id for i in store.get(Orders).intents] == [iid]

    # --- the position: one spread, ours, with its intent id --------------------------------
    await until(lambda: len(account.spreads) == 1 and account.spreads[0].quantity == qty)
    (spread,) = account.spreads
    assert spread.intent_id == iid and not spread.external
    assert spread.direction == "LONG" and spread.dte == 30
    assert [leg.con_id for leg in spread.legs] == [long_leg.conId, short_leg.conId]
    assert [leg.quantity for leg in spread.legs] == [qty, -qty]
    # IB's average costs include the commissions: debit * 100 + 2 x 0.65 per spread
    assert spread.cost == pytest.approx(qty * (debit * 100 + 1.30), abs=1e-6)
    mid = (long_bid + long_ask) / 2 - (short_bid + short_ask) / 2
    assert spread.mark == pytest.approx(mid, abs=1e-9)
    assert spread.pnl == pytest.approx(mid * 100 * qty - spread.cost, abs=1e-6)
    assert store.get(Positions).spreads == account.spreads

    # --- close it: SELL the same combo at the natural bid ----------------------------------
    quotes = {c: chain.quote(c) for c in (long_leg.conId, short_leg.conId)}
    close = closing_spec(spread, PAPER, quotes=quotes)
    assert isinstance(close, SpreadOrderSpec)
    assert close.action == "SELL" and close.quantity == qty
    assert close.limit_price == pytest.approx(nat.bid, abs=1e-9)
    assert [(leg.con_id, leg.action) for leg in close.legs] == [
        (long_leg.conId, "BUY"),
        (short_leg.conId, "SELL"),
    ]
    closing = await om.transmit(close, context=READY)
    cid = closing.intent_id
    await until(lambda: filled_with_commissions(cid), what="closing fill")
    await until(lambda: account.spreads == ())
    assert all(p.position == 0 for p in ib.positions()) or ib.positions() == []
    assert gateway.exchange.positions() == []
    assert [o.request.action for o in gateway.exchange.completed_orders()] == ["BUY", "SELL"]

    # realized P&L: (sold at the natural bid - bought at the natural ask) x 100 x qty, net of
    # four commissions per spread, and the same number IB booked
    await until(lambda: journal.get_kv(f"realized_pnl/{cid}") is not None)
    realized = journal.get_kv(f"realized_pnl/{cid}")
    assert realized == pytest.approx((nat.bid - nat.ask) * 100 * qty - 4 * 0.65 * qty, abs=1e-6)
    assert realized == pytest.approx(gateway.exchange.pnl().realized, abs=1e-6)
    assert any("realized P&L" in e.text for e in journal.events())
    reader.close()
