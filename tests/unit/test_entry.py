"""core.entry: the one entry planner and closing planner every path calls (preview,
auto-trader, backtester), and the one pre-send check. Numbers worked by hand."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.core.entry import (
    AccountState,
    Book,
    ClosePlan,
    CloseRequest,
    EntryPlan,
    EntryRequest,
    LegQuote,
    Refusal,
    SendContext,
    WhatIf,
    plan_close,
    plan_entry,
    send_problem,
)
from tui_trader.core.pricing import RefusalCode
from tui_trader.core.risk import BreakerState, GateCode
from tui_trader.core.settings import Settings

PAPER = Settings()
LIVE = Settings.model_validate({"execution": {"mode": "live"}})
ACCOUNT = AccountState(net_liquidation=100_000.0)


def leg(con_id: int, strike: float, bid: float | None, ask: float | None, **kw: object) -> LegQuote:
    return LegQuote(
        con_id=con_id,
        expiry="20261218",
        strike=strike,
        right="C",
        bid=bid,
        ask=ask,
        iv=kw.get("iv", 0.30),  # type: ignore[arg-type]
        age_s=kw.get("age_s", 0.5),  # type: ignore[arg-type]
    )


LONG = leg(11, 100.0, 3.00, 3.20)
SHORT = leg(12, 105.0, 1.00, 1.10)
REQ = EntryRequest("MSFT", "LONG", LONG, SHORT)


def plan(req: EntryRequest = REQ, s: Settings = PAPER, **kw: object) -> EntryPlan:
    got = plan_entry(req, kw.get("book", Book()), kw.get("account", ACCOUNT), s,  # type: ignore[arg-type]
                     kw.get("what_if"))  # type: ignore[arg-type]  # fmt: skip
    assert isinstance(got, EntryPlan), got
    return got


def test_paper_entry_is_marketable_and_sized_on_the_worst_debit() -> None:
    p = plan()
    # natural bid 3.00 - 1.10 = 1.90, natural ask 3.20 - 1.00 = 2.20
    assert (p.natural.bid, p.natural.ask) == (1.90, 2.20)
    assert p.spec.limit_price == 2.20 and p.spec.action == "BUY"
    assert p.worst_debit == 2.20
    # floor(100,000 * 0.02 / 220) = 9 contracts
    assert p.spec.quantity == 9 and p.gate.contracts == 9
    assert p.max_loss == pytest.approx(2.20 * 100 * 9)
    assert p.mid_debit == pytest.approx(3.10 - 1.05)
    assert [(x.con_id, x.action) for x in p.spec.legs] == [(11, "BUY"), (12, "SELL")]
    # no what-if answer yet: every other gate passes, buying power is pending
    assert p.gate.reason_code is GateCode.WHATIF_PENDING and not p.ok


def test_live_entry_starts_at_the_price_improvement_limit() -> None:
    p = plan(s=LIVE)
    assert p.spec.limit_price == 2.02  # 1.90 + 0.30 * 0.4
    assert p.worst_debit == 2.20  # it may walk to the natural ask
    assert p.spec.quantity == 9


def test_what_if_counts_only_for_the_identical_order() -> None:
    first = plan()
    ok = plan(what_if=WhatIf(first.spec, 50_000.0))
    assert ok.ok and ok.gate.contracts == 9
    other = plan(req=EntryRequest("MSFT", "LONG", LONG, SHORT, quantity=3),
                 what_if=WhatIf(first.spec, 50_000.0))  # fmt: skip
    assert other.spec.quantity == 3
    assert other.gate.reason_code is GateCode.WHATIF_PENDING
    poor = plan(what_if=WhatIf(first.spec, 4_000.0))
    assert poor.gate.reason_code is GateCode.BUYING_POWER


def test_trader_quantity_may_lower_never_raise_the_size() -> None:
    assert plan(EntryRequest("MSFT", "LONG", LONG, SHORT, quantity=3)).spec.quantity == 3
    assert plan(EntryRequest("MSFT", "LONG", LONG, SHORT, quantity=40)).spec.quantity == 9
    assert plan(EntryRequest("MSFT", "LONG", LONG, SHORT, quantity=0)).spec.quantity == 1


def test_trader_limit_stays_on_the_grid_inside_the_market() -> None:
    above = plan(EntryRequest("MSFT", "LONG", LONG, SHORT, limit=2.57))
    assert above.spec.limit_price == 2.20
    low = plan(EntryRequest("MSFT", "LONG", LONG, SHORT, limit=2.004))
    assert low.spec.limit_price == 2.00
    assert low.worst_debit == 2.20


def test_cost_cap_bounds_the_limit_and_the_worst_debit() -> None:
    wide = EntryRequest("MSFT", "LONG", leg(11, 100.0, 6.00, 7.00), leg(12, 110.0, 0.90, 1.00))
    p = plan(wide)
    assert p.natural.ask == 6.10
    assert p.spec.limit_price == 5.00 and p.worst_debit == 5.00  # max_spread_cost 500 / 100
    assert p.spec.quantity == 4  # floor(2000 / 500)


def test_unpriceable_quotes_are_a_refusal_not_a_crash() -> None:
    for bad in (leg(11, 100.0, None, 3.2), leg(11, 100.0, float("nan"), 3.2),
                leg(11, 100.0, 3.3, 3.2), leg(11, 100.0, -1.0, 3.2)):  # fmt: skip
        got = plan_entry(EntryRequest("MSFT", "LONG", bad, SHORT), Book(), ACCOUNT, PAPER)
        assert isinstance(got, Refusal)
        assert got.price is not None and got.price.code is RefusalCode.BAD_QUOTE


def test_a_failing_gate_is_still_a_plan_with_its_reason() -> None:
    halted = AccountState(100_000.0, breakers=BreakerState(kill_switch=True))
    assert plan(account=halted).gate.reason_code is GateCode.HALTED
    full = plan(book=Book(open_spreads=5))
    assert full.gate.reason_code is GateCode.MAX_POSITIONS
    busy = plan(book=Book(busy_underlyings=frozenset({"msft"})))
    assert busy.gate.reason_code is GateCode.SAME_UNDERLYING
    stale = plan(EntryRequest("MSFT", "LONG", leg(11, 100.0, 3.0, 3.2, age_s=7.0), SHORT))
    assert stale.gate.reason_code is GateCode.STALE_QUOTE
    hot = plan(EntryRequest("MSFT", "LONG", leg(11, 100.0, 3.0, 3.2, iv=1.4), SHORT))
    assert hot.gate.reason_code is GateCode.IV


def close_req(**kw: object) -> CloseRequest:
    base: dict[str, object] = {"symbol": "MSFT", "direction": "LONG", "long": LONG,
                               "short": SHORT, "held": 4}  # fmt: skip
    base.update(kw)
    return CloseRequest(**base)  # type: ignore[arg-type]


def test_close_sells_the_same_legs_at_the_natural_bid_in_paper() -> None:
    got = plan_close(close_req(), PAPER)
    assert isinstance(got, ClosePlan)
    assert got.spec.action == "SELL" and got.spec.limit_price == 1.90
    assert got.spec.quantity == 4
    assert [(x.con_id, x.action) for x in got.spec.legs] == [(11, "BUY"), (12, "SELL")]
    live = plan_close(close_req(), LIVE)
    assert isinstance(live, ClosePlan) and live.spec.limit_price == 2.08  # 2.20 - 0.12


def test_close_keeps_quantity_and_limit_in_bounds() -> None:
    got = plan_close(close_req(quantity=10, limit=1.50), PAPER)
    assert isinstance(got, ClosePlan)
    assert got.spec.quantity == 4 and got.spec.limit_price == 1.90  # never below the bid
    assert isinstance(plan_close(close_req(held=0), PAPER), Refusal)
    assert isinstance(plan_close(close_req(long=leg(11, 100.0, None, None)), PAPER), Refusal)


CTX = SendContext(session_ok=True, session_state="CONNECTED", leg_ages_s=(0.5, 0.5),
                  stale_quote_s=5.0, breakers=BreakerState())  # fmt: skip


def test_send_problem_checks_everything_once_in_order() -> None:
    ok_plan = plan(what_if=WhatIf(plan().spec, 50_000.0))
    assert send_problem(ok_plan.spec, ok_plan.gate, CTX) is None
    pending = plan()
    assert "WHATIF_PENDING" in (send_problem(pending.spec, pending.gate, CTX) or "")
    now = datetime(2026, 12, 4, tzinfo=UTC)
    halted = BreakerState(kill_switch=True, kill_switch_since=now)
    cases = {
        "journal": replace(CTX, journal_problem="disk full"),
        "halted": replace(CTX, breakers=halted),
        "DEGRADED, not CONNECTED": replace(CTX, session_ok=False, session_state="DEGRADED"),
        "stale": replace(CTX, leg_ages_s=(0.5, None)),
        "mode": replace(CTX, mode_problem="mode mismatch"),
        "not tradable": replace(CTX, tradable=False, tradable_why="not tradable now"),
        "priced for paper": replace(CTX, execution_mode="live"),
        "O-7 on the same legs is WORKING": replace(CTX, same_legs_order=("O-7", "WORKING")),
        "above max_spread_cost 200.00": replace(CTX, max_spread_cost=200.0),
    }
    for word, ctx in cases.items():
        assert word in (send_problem(ok_plan.spec, ok_plan.gate, ctx) or ""), word
    bigger = ok_plan.spec.model_copy(update={"quantity": 10})
    assert "exceed the 9" in (send_problem(bigger, ok_plan.gate, CTX) or "")


def test_exits_pass_a_halt_but_not_a_stale_quote() -> None:
    close = plan_close(close_req(), PAPER)
    assert isinstance(close, ClosePlan)
    halted = replace(CTX, breakers=BreakerState(kill_switch=True))
    assert send_problem(close.spec, None, halted) is None
    stale = replace(CTX, leg_ages_s=(9.0, 0.1))
    assert "stale" in (send_problem(close.spec, None, stale) or "")


prices = st.decimals(min_value=Decimal("0.00"), max_value=Decimal("30.00"), places=2)


@settings(max_examples=300, deadline=None)
@given(lb=prices, lspread=prices, sb=prices, sspread=prices, live=st.booleans(),
       qty=st.none() | st.integers(0, 50), lim=st.none() | prices)  # fmt: skip
def test_entry_plan_properties(
    lb: Decimal,
    lspread: Decimal,
    sb: Decimal,
    sspread: Decimal,
    live: bool,
    qty: int | None,
    lim: Decimal | None,
) -> None:
    long = leg(11, 100.0, float(lb), float(lb + lspread))
    short = leg(12, 105.0, float(sb), float(sb + sspread))
    req = EntryRequest("MSFT", "LONG", long, short, quantity=qty,
                       limit=None if lim is None else float(lim))  # fmt: skip
    s = LIVE if live else PAPER
    got = plan_entry(req, Book(), ACCOUNT, s)
    if isinstance(got, Refusal):
        return
    limit = got.spec.limit_price
    assert limit is not None
    cap = s.selection.max_spread_cost / s.selection.multiplier
    assert 0.01 <= limit <= max(0.01, min(got.natural.ask, cap)) + 1e-9  # a debit, in the market
    assert Decimal(repr(limit)) % Decimal("0.01") == 0  # on the tick grid
    assert got.worst_debit >= limit - 1e-9 and got.worst_debit <= cap + 1e-9
    assert got.max_loss == pytest.approx(got.worst_debit * 100 * got.spec.quantity)
    assert got.spec.quantity >= 1
    if got.gate.contracts > 0:
        assert got.spec.quantity <= got.gate.contracts


@settings(max_examples=300, deadline=None)
@given(lb=prices, lspread=prices, sb=prices, sspread=prices, live=st.booleans(),
       held=st.integers(1, 20), qty=st.none() | st.integers(-3, 30),
       lim=st.none() | prices)  # fmt: skip
def test_close_plan_properties(lb: Decimal, lspread: Decimal, sb: Decimal, sspread: Decimal,
                               live: bool, held: int, qty: int | None,
                               lim: Decimal | None) -> None:  # fmt: skip
    req = close_req(long=leg(11, 100.0, float(lb), float(lb + lspread)),
                    short=leg(12, 105.0, float(sb), float(sb + sspread)), held=held,
                    quantity=qty, limit=None if lim is None else float(lim))  # fmt: skip
    got = plan_close(req, LIVE if live else PAPER)
    if isinstance(got, Refusal):
        return
    limit = got.spec.limit_price
    assert limit is not None and limit >= 0  # never paid to close a debit spread
    assert limit <= max(got.natural.ask, 0.0) + 1e-9
    assert 1 <= got.spec.quantity <= held
