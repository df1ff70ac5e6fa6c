"""SPEC 10: positions grouped into spreads, P&L, account values and the paper/live check."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import pytest
from ib_insync import IB, MarketOrder

from tests.broker.spreads_on_gateway import TestClock, stream_calls
from tests.sim.conftest import until
from tui_trader.broker.account import (
    AccountView,
    account_mode_problem,
    closing_spec,
    group_positions,
    realized_pnl,
)
from tui_trader.core.models import Fill, IntentStatus, IntentUpdate, SpreadLeg, SpreadOrderSpec
from tui_trader.core.pricing import PriceRefusal, RefusalCode
from tui_trader.core.settings import ExecutionSettings
from tui_trader.sim.gateway import SimGateway
from tui_trader.state.journal import Journal
from tui_trader.state.store import Account, AccountMode, PositionLeg, Positions, Store

TODAY = date(2026, 11, 18)
NOW = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)
EXP = "20261218"


def leg(
    con_id: int, strike: float, qty: float, avg: float, *, right: str = "C", mid: float = 1.0,
    symbol: str = "AAPL", expiry: str = EXP, day: float | None = None,
) -> PositionLeg:  # fmt: skip
    return PositionLeg(
        con_id=con_id, symbol=symbol, expiry=expiry, strike=strike, right=right, quantity=qty,
        avg_cost=avg, mid=mid, bid=mid - 0.05, ask=mid + 0.05, day_pnl=day,
    )  # fmt: skip


def spec(
    long_id: int, short_id: int, long_k: float, short_k: float, *, action: str = "BUY",
    qty: int = 2, limit: float = 2.0,
) -> SpreadOrderSpec:  # fmt: skip
    return SpreadOrderSpec(
        underlying="AAPL", direction="LONG",
        legs=(
            SpreadLeg(con_id=long_id, symbol="AAPL", expiry=EXP, strike=long_k, right="C",
                      action="BUY"),
            SpreadLeg(con_id=short_id, symbol="AAPL", expiry=EXP, strike=short_k, right="C",
                      action="SELL"),
        ),
        action=action, quantity=qty, order_type="LMT", limit_price=limit, mode="paper",
    )  # fmt: skip


def filled(journal: Journal, s: SpreadOrderSpec, qty: int) -> str:
    intent = journal.record_intent(s, NOW)
    journal.apply_update(
        IntentUpdate(intent.intent_id, status=IntentStatus.FILLED, order_id=1, filled=qty), NOW
    )
    return intent.intent_id


# --------------------------------------------------------------------------- grouping


def test_our_spread_is_grouped_by_the_journal_and_the_rest_paired(journal: Journal) -> None:
    ours = filled(journal, spec(11, 12, 250, 260, qty=2), 2)
    legs = [
        leg(11, 250, 3, 480.65, mid=5.0),  # 2 ours + 1 bought by hand
        leg(12, 260, -2, 229.35, mid=2.0),
        leg(21, 255, -1, 350.0, mid=3.40),  # by hand: pairs with the leftover 250 call
        leg(31, 240, 1, 300.0, right="P", mid=2.5),  # a lone put
    ]
    spreads = group_positions(legs, journal.intents(), TODAY)
    assert [(s.intent_id, s.external, s.quantity) for s in spreads] == [
        (ours, False, 2),
        (None, True, 1),
        (None, True, 1),
    ]
    mine, pair, single = spreads
    assert [(lg.con_id, lg.quantity) for lg in mine.legs] == [(11, 2), (12, -2)]
    assert mine.direction == "LONG" and mine.dte == 30 and mine.expiry == EXP
    assert mine.cost == pytest.approx(2 * 480.65 - 2 * 229.35)  # 502.60
    assert mine.mark == pytest.approx(3.0)
    assert mine.pnl == pytest.approx(2 * 3.0 * 100 - 502.60)
    assert mine.pnl_pct == pytest.approx(97.40 / 502.60)
    assert [(lg.con_id, lg.quantity) for lg in pair.legs] == [(11, 1), (21, -1)]
    assert pair.direction == "LONG"
    assert pair.pnl == pytest.approx((5.0 - 3.40) * 100 - (480.65 - 350.0))
    assert [lg.con_id for lg in single.legs] == [31] and single.direction is None
    assert single.pnl == pytest.approx(2.5 * 100 - 300.0)


def test_a_leg_closed_by_hand_shrinks_our_spread(journal: Journal) -> None:
    ours = filled(journal, spec(11, 12, 250, 260, qty=3), 3)
    legs = [leg(11, 250, 3, 480.0), leg(12, 260, -1, 230.0)]  # 2 short calls bought back in TWS
    mine, rest = group_positions(legs, journal.intents(), TODAY)
    assert (mine.intent_id, mine.quantity) == (ours, 1)
    assert rest.external and [(lg.con_id, lg.quantity) for lg in rest.legs] == [(11, 2)]


def test_closed_spreads_are_gone_and_reopened_ones_take_the_new_intent(journal: Journal) -> None:
    filled(journal, spec(11, 12, 250, 260, qty=2), 2)
    filled(journal, spec(11, 12, 250, 260, action="SELL", qty=2, limit=3.0), 2)
    assert group_positions([], journal.intents(), TODAY) == []
    again = filled(journal, spec(11, 12, 250, 260, qty=1), 1)
    (s,) = group_positions(
        [leg(11, 250, 1, 480.0), leg(12, 260, -1, 230.0)], journal.intents(), TODAY
    )
    assert s.intent_id == again and s.intent_ids == (again,) and s.quantity == 1


def test_day_pnl_is_shared_by_units(journal: Journal) -> None:
    filled(journal, spec(11, 12, 250, 260, qty=1), 1)
    legs = [leg(11, 250, 2, 480.0, day=40.0), leg(12, 260, -1, 230.0, day=-10.0),
            leg(13, 270, -1, 100.0, day=-6.0)]  # fmt: skip
    mine, other = group_positions(legs, journal.intents(), TODAY)
    assert mine.day_pnl == pytest.approx(20.0 - 10.0)
    assert other.day_pnl == pytest.approx(20.0 - 6.0)


def test_bear_put_and_credit_pairs() -> None:
    legs = [leg(1, 240, 1, 400, right="P"), leg(2, 230, -1, 150, right="P"),
            leg(3, 250, -1, 500), leg(4, 260, 1, 200)]  # fmt: skip
    spreads = group_positions(legs, [], TODAY)
    by_first = {s.legs[0].con_id: s for s in spreads}
    assert by_first[1].direction == "SHORT"  # long put above the short: a debit spread
    assert by_first[4].direction is None  # long call above the short call: a credit spread
    with pytest.raises(ValueError, match="only a vertical debit spread"):
        closing_spec(by_first[4], ExecutionSettings())


def test_closing_spec_prices_a_sell_or_refuses() -> None:
    (s,) = group_positions([leg(1, 250, 2, 480), leg(2, 260, -2, 230)], [], TODAY)
    close = closing_spec(s, ExecutionSettings(), quotes={1: (4.90, 5.10), 2: (1.95, 2.05)})
    assert isinstance(close, SpreadOrderSpec)
    assert (close.action, close.quantity, close.limit_price) == ("SELL", 2, 2.85)
    assert [(lg.con_id, lg.action) for lg in close.legs] == [(1, "BUY"), (2, "SELL")]
    one = closing_spec(s, ExecutionSettings(mode="live"), quantity=1)  # the legs' own quotes
    assert isinstance(one, SpreadOrderSpec) and one.quantity == 1 and one.mode == "live"
    bad = closing_spec(s, ExecutionSettings(), quotes={1: (float("nan"), 5.1), 2: (1.95, 2.05)})
    assert isinstance(bad, PriceRefusal) and bad.code is RefusalCode.BAD_QUOTE
    with pytest.raises(ValueError, match="cannot close 3 of 2"):
        closing_spec(s, ExecutionSettings(), quantity=3)


def test_realized_pnl_from_the_journals_fills(journal: Journal) -> None:
    opened = filled(journal, spec(11, 12, 250, 260, qty=2), 2)
    closed_id = filled(journal, spec(11, 12, 250, 260, action="SELL", qty=2, limit=3.0), 2)

    def fill(n: int, iid: str, con: int, side: str, price: float) -> None:
        journal.add_fill(
            Fill(exec_id=f"e{n}", intent_id=iid, order_id=1, perm_id=1, con_id=con,
                 symbol="AAPL", side=side, quantity=2, price=price, time=NOW, commission=1.30)
        )  # fmt: skip

    fill(1, opened, 11, "BOT", 4.80)
    fill(2, opened, 12, "SLD", 2.30)
    closing = journal.intent(closed_id)
    assert closing is not None
    assert realized_pnl(journal, closing) is None  # the close's fills are not in yet
    fill(3, closed_id, 11, "SLD", 6.10)
    fill(4, closed_id, 12, "BOT", 2.90)
    # (6.10 - 4.80 + 2.30 - 2.90) x 2 x 100 - 4 x 1.30
    assert realized_pnl(journal, closing) == pytest.approx(140.0 - 5.20)


class Logins:
    def __init__(self, *accounts: str) -> None:
        self.accounts = list(accounts)

    def managedAccounts(self) -> list[str]:  # ib_insync's name
        return self.accounts


def test_mode_problems() -> None:
    assert account_mode_problem(Logins("DU123456"), "paper") is None  # type: ignore[arg-type]
    assert account_mode_problem(Logins("U7654321"), "live") is None  # type: ignore[arg-type]
    live_on_paper = account_mode_problem(Logins("DU123456"), "live")  # type: ignore[arg-type]
    assert live_on_paper is not None and "paper account DU…456" in live_on_paper
    paper_on_live = account_mode_problem(Logins("U7654321"), "paper")  # type: ignore[arg-type]
    assert paper_on_live is not None and "live account U7…321" in paper_on_live
    none = account_mode_problem(Logins(), "paper")  # type: ignore[arg-type]
    assert none is not None and "no account id" in none
    two = account_mode_problem(Logins("DU1111111", "DU2222222"), "paper")  # type: ignore[arg-type]
    assert two == (
        "IB reports 2 accounts (DU…111, DU…222); tui-trader trades exactly one account, so it "
        "cannot tell which one an order would go to: refusing to trade."
    )


# --------------------------------------------------------------------------- against IB


async def test_legs_bought_by_hand_show_as_one_external_spread(
    gateway: SimGateway, connect: Any, journal: Journal
) -> None:
    ib: IB = await connect(1)
    chain = await stream_calls(ib, gateway)
    lo, sh = chain.options[4], chain.options[6]
    store = Store()
    view = AccountView(ib, journal, clock=TestClock(), store=store)
    await view.refresh()
    assert store.get(Positions).spreads == ()
    buy = ib.placeOrder(lo, MarketOrder("BUY", 2, account="DU123456"))
    sell = ib.placeOrder(sh, MarketOrder("SELL", 2, account="DU123456"))
    await until(lambda: buy.isDone() and sell.isDone())
    await until(lambda: len(view.spreads) == 1 and view.spreads[0].quantity == 2)
    (s,) = view.spreads
    assert s.external and s.intent_id is None and s.direction == "LONG"
    long_bid, long_ask = chain.quote(lo.conId)
    short_bid, short_ask = chain.quote(sh.conId)
    assert s.cost == pytest.approx(2 * (long_ask * 100 + 0.65) - 2 * (short_bid * 100 - 0.65))
    mark = (long_bid + long_ask) / 2 - (short_bid + short_ask) / 2
    assert s.mark == pytest.approx(mark, abs=1e-9)
    assert s.pnl == pytest.approx(mark * 200 - s.cost, abs=1e-6)
    assert store.get(Positions).spreads == (s,)

    # day P&L from reqPnL / reqPnLSingle, funds from the account values
    await gateway.pump()
    await until(lambda: store.get(Account).day_pnl is not None)
    await until(lambda: all(lg.day_pnl is not None for lg in view.spreads[0].legs))
    acct = store.get(Account)
    assert acct.day_pnl == pytest.approx(gateway.exchange.pnl().daily, abs=1e-6)
    singles = {cid: gateway.exchange.pnl_single(cid) for cid in (lo.conId, sh.conId)}
    assert view.spreads[0].day_pnl == pytest.approx(
        sum(v[1] for v in singles.values() if v is not None), abs=1e-6
    )
    values = gateway.exchange.account_values()
    await until(lambda: store.get(Account).net_liquidation == float(values["NetLiquidation"][0]))
    acct = store.get(Account)
    assert acct.available_funds == float(values["AvailableFunds"][0])
    assert acct.buying_power == float(values["BuyingPower"][0])
    assert (acct.mode, acct.account_masked, acct.mode_problem) == (
        AccountMode.PAPER,
        "DU…456",
        None,
    )


async def test_only_a_held_legs_quote_recomputes_the_positions(
    gateway: SimGateway, connect: Any, journal: Journal
) -> None:
    """Issue 12: with 1,000 symbols, the universe's lines and rotating snapshots bring
    dozens of ticker batches a second; each recomputed every position and the account.
    A batch recomputes only when it holds a held leg's quote (the mark moves)."""
    ib: IB = await connect(1)
    chain = await stream_calls(ib, gateway)
    lo, sh, other = chain.options[4], chain.options[6], chain.options[0]
    view = AccountView(ib, journal, clock=TestClock(), store=Store())
    await view.refresh()
    await asyncio.sleep(0.2)  # the P&L and account answers to refresh() are in (no pump:
    runs: list[int] = []  # the simulated market stands still, nothing else arrives)
    original = view.recompute

    def counted() -> Any:
        runs.append(1)
        return original()

    view.recompute = counted  # type: ignore[method-assign]

    async def batch(*contracts: Any) -> int:
        before = len(runs)
        ib.pendingTickersEvent.emit({ib.ticker(c) for c in contracts})
        await asyncio.sleep(0.01)  # a scheduled recompute runs on the next loop turn
        return len(runs) - before

    assert await batch(lo, other) == 0  # nothing held: no quote moves a mark
    buy = ib.placeOrder(lo, MarketOrder("BUY", 2, account="DU123456"))
    sell = ib.placeOrder(sh, MarketOrder("SELL", 2, account="DU123456"))
    await until(lambda: buy.isDone() and sell.isDone())
    await until(lambda: len(view.spreads) == 1 and view.spreads[0].quantity == 2)
    await asyncio.sleep(0.2)  # the fills' position, portfolio and P&L updates are in
    assert await batch(other) == 0  # not a leg
    assert await batch(other, sh) == 1  # a leg: one recompute for the batch
    assert await batch(lo) == 1


async def test_live_configuration_on_a_paper_account_is_flagged(
    connect: Any, journal: Journal
) -> None:
    ib: IB = await connect(1)
    store = Store()
    view = AccountView(
        ib, journal, clock=TestClock(), store=store, execution=ExecutionSettings(mode="live")
    )
    await view.refresh()
    problem = view.mode_problem()
    assert problem is not None and problem.startswith("Configured for live trading")
    assert store.get(Account).mode_problem == problem
    assert store.get(Account).mode is AccountMode.PAPER
