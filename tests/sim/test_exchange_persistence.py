"""The exchange's account survives a restart; the ledger's bookkeeping invariants hold."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.sim.account import Ledger, margin_requirement
from tui_trader.sim.clock import SimClock
from tui_trader.sim.exchange import Exchange, _allocate
from tui_trader.sim.exchange_state import StateFileError
from tui_trader.sim.market import Market
from tui_trader.sim.types import ComboLeg, FillEvent, OptionContract, OrderRequest, StockContract

FRIDAY_1430 = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def new_market() -> Market:
    return Market(SimClock(FRIDAY_1430, 1.0, FakeMonotonic()), symbols=["SPY", "AAPL"])


def spread_order(market: Market, order_id: int, action: str, limit: float,
                 offset: int = 2) -> OrderRequest:  # fmt: skip
    expiry = date(2026, 12, 31)
    strikes = market.strikes("AAPL")
    i = min(range(len(strikes)), key=lambda j: abs(strikes[j] - market.mid("AAPL")))
    long = market.option("AAPL", expiry, strikes[i], "C")
    short = market.option("AAPL", expiry, strikes[i + offset], "C")
    assert long and short
    return OrderRequest(order_id, 3, "BAG", "AAPL", None,
                        (ComboLeg(long.con_id, 1, "BUY"), ComboLeg(short.con_id, 1, "SELL")),
                        action, 2, "LMT", limit, order_ref="ref-9")  # type: ignore[arg-type]  # fmt: skip


def natural_ask(market: Market, order: OrderRequest) -> float:
    long_q = market.option_quote(order.legs[0].con_id).quote
    short_q = market.option_quote(order.legs[1].con_id).quote
    return round(long_q.ask - short_q.bid, 2)


def test_a_new_exchange_on_the_same_state_file_sees_the_same_account(tmp_path: Path) -> None:
    path = tmp_path / "state" / "exchange.json"
    market = new_market()
    first = Exchange(market, state_path=path)
    probe = spread_order(market, 11, "BUY", 0.0)
    filled = spread_order(market, 11, "BUY", natural_ask(market, probe))
    events = first.place(filled)
    assert any(isinstance(e, FillEvent) for e in events)
    resting = spread_order(market, 12, "BUY", 0.05, offset=4)
    first.place(resting)
    assert path.exists()

    # a different Market instance (a restarted gateway) on the same file
    second = Exchange(new_market(), state_path=path)
    assert second.cash == first.cash
    assert second.positions() == first.positions()
    assert second.open_orders() == first.open_orders()
    assert second.completed_orders() == first.completed_orders()
    assert second.executions() == first.executions()
    assert second.account_values() == first.account_values()
    assert second.pnl() == first.pnl()
    # counters continue: no permId or execId is ever reused
    assert second.next_perm_id() == first.next_perm_id()
    events = second.cancel(3, 12)
    assert events[0].order.status == "Cancelled"  # type: ignore[union-attr]
    third = Exchange(new_market(), state_path=path)
    assert third.open_orders() == []
    market = new_market()
    long_q = market.option_quote(filled.legs[0].con_id).quote
    short_q = market.option_quote(filled.legs[1].con_id).quote
    bid = round(long_q.bid - short_q.ask, 2)
    closing = OrderRequest(13, 3, "BAG", "AAPL", None, filled.legs, "SELL", 2, "LMT", bid)
    third.place(closing)
    ids = [e.exec_id for e in third.executions()]
    assert len(ids) == len(set(ids)) == 6
    assert third.positions() == []
    assert Exchange(new_market(), state_path=path).positions() == []


def test_state_file_errors_are_explicit(tmp_path: Path) -> None:
    path = tmp_path / "exchange.json"
    path.write_text("{not json")
    with pytest.raises(StateFileError, match="cannot read"):
        Exchange(new_market(), state_path=path)
    Exchange(new_market(), state_path=tmp_path / "ok.json")
    with pytest.raises(StateFileError, match="DU123456"):
        Exchange(new_market(), account="DU555555", state_path=tmp_path / "ok.json")
    doc = json.loads((tmp_path / "ok.json").read_text())
    assert doc["format"] == 1 and doc["cash"] == 100_000.0
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write leaves no temp file


def test_unlisted_option_positions_stay_quotable_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "exchange.json"
    market = new_market()
    exchange = Exchange(market, state_path=path)
    option = market.options("AAPL", date(2026, 12, 31), "C")[25]
    ask = market.option_quote(option.con_id).quote.ask
    exchange.place(OrderRequest(1, 1, "OPT", "AAPL", option, (), "BUY", 1, "LMT", ask))
    # a later day's market lists other strikes and expiries
    later = Market(SimClock(datetime(2027, 1, 4, 19, 30, tzinfo=UTC), 1.0, FakeMonotonic()),
                   symbols=["SPY", "AAPL"])  # fmt: skip
    restarted = Exchange(later, state_path=path)
    assert later.contract(option.con_id) == option
    (pos,) = restarted.positions()
    assert pos.contract == option and pos.quantity == 1
    # it expired on 2026-12-31 while the gateway was down: the next look settles it
    restarted.on_market()
    assert restarted.positions() == []
    intrinsic = max(later.mid("AAPL") - option.strike, 0.0) * 100
    assert restarted.cash == pytest.approx(100_000 - ask * 100 - 0.65 + intrinsic)


# --- ledger invariants (hypothesis) ---------------------------------------------------

STOCK = StockContract(1, "SPY", "SPDR", "ETF", "ETF", "ARCA", 1e9, 1e6)
OPTION = OptionContract(2, "SPY", 1, date(2026, 12, 18), 600.0, "C")

fills = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.integers(1, 20),
        st.integers(1, 5000).map(lambda c: c / 100),
        st.integers(0, 500).map(lambda c: c / 100),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(fills=fills, option=st.booleans())
def test_cost_basis_plus_realised_accounts_for_every_dollar(
    fills: list[tuple[str, int, float, float]], option: bool
) -> None:
    contract = OPTION if option else STOCK
    ledger = Ledger(100_000.0)
    realized = 0.0
    for action, qty, price, commission in fills:
        result = ledger.apply_fill(contract, action, qty, price, commission)  # type: ignore[arg-type]
        realized += result.realized or 0.0
    held = ledger.holdings.get(contract.con_id)
    qty = 0.0 if held is None else held.quantity
    avg = 0.0 if held is None else held.avg_cost
    # what is still held is carried at cost; everything else has been realised
    assert ledger.cash + qty * avg - 100_000.0 == pytest.approx(realized, abs=1e-6)
    assert ledger.realized_today == pytest.approx(realized, abs=1e-6)
    expected_qty = sum(q if a == "BUY" else -q for a, q, _, _ in fills)
    assert qty == expected_qty


@settings(max_examples=200, deadline=None)
@given(
    natural=st.lists(st.integers(0, 3000).map(lambda c: c / 100), min_size=1, max_size=4),
    signs=st.lists(st.sampled_from([1, -1]), min_size=4, max_size=4),
    ratios=st.lists(st.integers(1, 3), min_size=4, max_size=4),
    diff=st.integers(-500, 500).map(lambda c: c / 100),
)
def test_combo_leg_prices_add_up_to_the_combo_price(
    natural: list[float], signs: list[int], ratios: list[int], diff: float
) -> None:
    legs = list(zip(ratios, signs, strict=False))[: len(natural)]
    natural_combo = sum(s * r * p for (r, s), p in zip(legs, natural, strict=True))
    prices = _allocate(natural, legs, natural_combo + diff, natural_combo)
    total = sum(s * r * p for (r, s), p in zip(legs, prices, strict=True))
    assert total == pytest.approx(natural_combo + diff, abs=1e-9)


def test_margin_model_on_hand_worked_positions() -> None:
    def opt(cid: int, strike: float, right: str) -> OptionContract:
        return OptionContract(cid, "SPY", 1, date(2026, 12, 18), strike, right)  # type: ignore[arg-type]

    long_c, short_c, short_p = opt(10, 600, "C"), opt(11, 610, "C"), opt(12, 550, "P")
    marks = {10: 12.0, 11: 7.5, 12: 4.0, 1: 600.0}
    spots = {"SPY": 600.0}
    # debit spread: margin = its value (4.50 * 100)
    assert margin_requirement([(long_c, 1), (short_c, -1)], marks, spots) == pytest.approx(450)
    # credit spread (short the 600, long the 610): width - credit = 1000 - 450
    assert margin_requirement([(long_c, -1), (short_c, 1)], marks, spots) == pytest.approx(550)
    # cash-secured naked put: strike * 100 - premium
    assert margin_requirement([(short_p, -1)], marks, spots) == pytest.approx(55_000 - 400)
    # long stock: 100 %; short stock: 50 %
    assert margin_requirement([(STOCK, 10)], marks, spots) == pytest.approx(6000)
    assert margin_requirement([(STOCK, -10)], marks, spots) == pytest.approx(3000)
