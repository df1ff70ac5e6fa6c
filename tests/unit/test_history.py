"""Closed trades (issue 13, History): opening and closing orders of a spread paired FIFO across
days, realised P&L with commissions checked by hand, the exit rule from the auto-trader's
records, cumulative P&L; read from a real journal and printed by ``tui-trader journal
--history``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.cli import main
from tui_trader.core.history import MANUAL, closed_trades, history_lines
from tui_trader.core.models import Fill, IntentStatus, OrderIntent, SpreadLeg, SpreadOrderSpec
from tui_trader.state.journal import Journal

T0 = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # Monday 10:00 ET


def spec(
    action: str = "BUY",
    qty: int = 3,
    *,
    symbol: str = "AAPL",
    direction: str = "LONG",
    cons: tuple[int, int] = (11, 12),
) -> SpreadOrderSpec:
    """A 5-wide debit spread: 100/105 C (LONG) or 105/100 P (SHORT)."""
    right, strikes = ("C", (100.0, 105.0)) if direction == "LONG" else ("P", (105.0, 100.0))
    legs = tuple(
        SpreadLeg(con_id=c, symbol=symbol, expiry="20261218", strike=k, right=right, action=a)
        for c, k, a in ((cons[0], strikes[0], "BUY"), (cons[1], strikes[1], "SELL"))
    )
    return SpreadOrderSpec(
        underlying=symbol, direction=direction, legs=legs, action=action, quantity=qty,
        order_type="LMT", limit_price=1.0, mode="paper",
    )  # fmt: skip


_n = iter(range(1, 1_000_000))


def intent(
    s: SpreadOrderSpec,
    price: float,
    at: datetime,
    *,
    filled: int | None = None,
    commission: float | None = None,
    iid: str | None = None,
) -> OrderIntent:
    n = filled if filled is not None else s.quantity
    status = IntentStatus.FILLED if n == s.quantity else IntentStatus.CANCELLED
    return OrderIntent(
        intent_id=iid or f"tt-{next(_n):012x}", created_at=at, spec=s, status=status,
        filled=n, avg_fill_price=price, commission=commission, updated_at=at,
    )  # fmt: skip


def test_call_debit_spread_bought_210_sold_340_x3_makes_390_before_commissions() -> None:
    # by hand: (3.40 - 2.10) x 3 contracts x 100 = 390.00; commissions 0.65 a contract a
    # leg: 3 x 2 x 0.65 = 3.90 each way, 7.80 in all -> 382.20
    opening = intent(spec("BUY"), 2.10, T0, commission=3.90)
    closing = intent(spec("SELL"), 3.40, T0 + timedelta(days=3), commission=3.90)
    h = closed_trades([opening, closing])
    (t,) = h.trades
    assert t.quantity == 3
    assert t.gross == pytest.approx(390.0)
    assert t.commission == pytest.approx(7.80)
    assert t.pnl == pytest.approx(382.20)
    assert t.cumulative == pytest.approx(382.20)
    assert (t.entry_price, t.exit_price) == (2.10, 3.40)
    assert (t.entry_time, t.exit_time) == (T0, T0 + timedelta(days=3))
    assert t.rule == MANUAL and t.strikes == "100/105 C"
    assert h.unmatched == 0 and h.wins == 1


def test_put_debit_spread_sold_lower_loses() -> None:
    # a bear put spread bought at 2.00 x 2 and sold at 1.20: (1.20 - 2.00) x 2 x 100 = -160
    opening = intent(spec("BUY", 2, direction="SHORT"), 2.00, T0)
    closing = intent(spec("SELL", 2, direction="SHORT"), 1.20, T0 + timedelta(hours=2))
    (t,) = closed_trades([closing, opening]).trades  # input order does not matter
    assert t.pnl == pytest.approx(-160.0)
    assert t.direction == "SHORT" and t.strikes == "105/100 P"


def test_partial_closes_and_fifo_across_opening_orders() -> None:
    # open 2 @ 1.50 (Mon), open 3 @ 2.00 (Tue); close 3 @ 2.50 (Wed), close 2 @ 1.00 (Thu)
    a = intent(spec("BUY", 2), 1.50, T0, commission=2.60)
    b = intent(spec("BUY", 3), 2.00, T0 + timedelta(days=1), commission=3.90)
    c = intent(spec("SELL", 3), 2.50, T0 + timedelta(days=2), commission=3.90)
    d = intent(spec("SELL", 2), 1.00, T0 + timedelta(days=3), commission=2.60)
    h = closed_trades([a, b, c, d])
    rows = [(t.open_intent, t.close_intent, t.quantity) for t in h.trades]
    assert rows == [(a.intent_id, c.intent_id, 2), (b.intent_id, c.intent_id, 1),
                    (b.intent_id, d.intent_id, 2)]  # fmt: skip
    # by hand: 2 x (2.50-1.50) x 100 = 200 - (2.60 + 3.90*2/3=2.60) = 194.80
    #          1 x (2.50-2.00) x 100 =  50 - (3.90/3=1.30 + 3.90/3=1.30) = 47.40
    #          2 x (1.00-2.00) x 100 = -200 - (3.90*2/3=2.60 + 2.60) = -205.20
    assert [t.pnl for t in h.trades] == pytest.approx([194.80, 47.40, -205.20])
    assert [t.cumulative for t in h.trades] == pytest.approx([194.80, 242.20, 37.00])
    assert h.total == pytest.approx(37.00)


def test_partially_filled_orders_count_only_what_filled_and_spreads_stay_apart() -> None:
    opening = intent(spec("BUY", 5), 2.00, T0, filled=2)  # cancelled after 2 of 5
    other = intent(spec("BUY", 1, symbol="MSFT", cons=(21, 22)), 1.00, T0)
    closing = intent(spec("SELL", 2), 2.40, T0 + timedelta(days=1))
    h = closed_trades([opening, other, closing])
    (t,) = h.trades
    assert (t.symbol, t.quantity) == ("AAPL", 2)
    assert t.pnl == pytest.approx(80.0)  # 2 x (2.40 - 2.00) x 100


def test_a_close_without_a_journaled_opening_is_counted_not_invented() -> None:
    opening = intent(spec("BUY", 1), 2.00, T0)
    closing = intent(spec("SELL", 3), 2.50, T0 + timedelta(days=1))
    h = closed_trades([opening, closing])
    assert [t.quantity for t in h.trades] == [1] and h.unmatched == 2
    assert "2 closing contracts have no opening order" in history_lines(h)[-1]


def test_the_auto_traders_rule_names_its_close() -> None:
    opening = intent(spec("BUY", 1), 2.00, T0)
    closing = intent(spec("SELL", 1), 1.00, T0 + timedelta(days=1))
    (t,) = closed_trades([opening, closing], exit_rules={closing.intent_id: "STOP"}).trades
    assert t.rule == "STOP"


@st.composite
def order_flows(draw: st.DrawFn) -> list[OrderIntent]:
    """Opens and closes of one spread, never closing more than is open, all closed at the
    end; random prices, quantities, commissions and partial fills."""
    price = st.decimals(min_value="0.05", max_value="5.00", places=2).map(float)
    held, out, t = 0, [], T0
    for _ in range(draw(st.integers(1, 8))):
        t += timedelta(hours=draw(st.integers(1, 40)))
        if held == 0 or draw(st.booleans()):
            q = draw(st.integers(1, 6))
            f = draw(st.integers(1, q))
            held += f
            out.append(intent(spec("BUY", q), draw(price), t, filled=f,
                              commission=draw(st.sampled_from([None, 0.65 * f * 2]))))  # fmt: skip
        else:
            f = draw(st.integers(1, held))
            held -= f
            out.append(intent(spec("SELL", f), draw(price), t, commission=1.3 * f))
    if held:
        out.append(intent(spec("SELL", held), draw(price), t + timedelta(hours=1)))
    return out


@settings(max_examples=150, deadline=None)
@given(order_flows())
def test_cumulative_is_the_running_sum_and_the_total_is_cash_in_minus_cash_out(
    flow: list[OrderIntent],
) -> None:
    h = closed_trades(flow)
    running = 0.0
    for t in h.trades:
        running += t.pnl
        assert t.cumulative == pytest.approx(running, abs=1e-6)
        assert t.quantity > 0
        assert t.exit_time >= t.entry_time
        sign = (t.exit_price > t.entry_price) - (t.exit_price < t.entry_price)
        gross_sign = (t.gross > 1e-9) - (t.gross < -1e-9)
        assert gross_sign == sign  # higher close of a debit spread wins, lower loses
    # everything is closed: FIFO or not, realised = credits - debits - all commissions
    cash = sum(
        (i.avg_fill_price or 0) * i.filled * 100 * (1 if i.spec.action == "SELL" else -1)
        for i in flow
    )
    commissions = sum(i.commission or 0 for i in flow)
    assert h.total == pytest.approx(cash - commissions, abs=1e-6)
    opened = sum(i.filled for i in flow if i.spec.action == "BUY")
    assert sum(t.quantity for t in h.trades) == opened and h.unmatched == 0


def ids() -> Any:
    n = iter(range(1, 100))
    return lambda: f"tt-{next(n):012x}"


def fill(exec_id: str, con_id: int, side: str, price: float, t: datetime, ref: str) -> Fill:
    return Fill(
        exec_id=exec_id, order_id=7, perm_id=900, con_id=con_id, symbol="AAPL", side=side,
        quantity=3.0, price=price, time=t, commission=1.95, order_ref=ref,
    )  # fmt: skip


def build(path: Path) -> None:
    """Monday: BUY 3 AAPL 100/105 C at 2.10 (leg fills 5.30/3.20); Thursday: the
    auto-trader's TARGET exit sells them at 3.40 (7.00/3.60); commissions 1.95 a leg fill."""
    with Journal(path, new_id=ids()) as j:
        entry = j.record_intent(spec("BUY"), T0)
        for n, (con, side, p) in enumerate(((11, "BOT", 5.30), (12, "SLD", 3.20))):
            j.add_fill(fill(f"o{n}", con, side, p, T0 + timedelta(seconds=2 + n), entry.intent_id))
        j.update_from_ib(entry.intent_id, T0 + timedelta(seconds=5),
                         status=IntentStatus.FILLED, filled=3, avg_fill_price=2.10)  # fmt: skip
        t1 = T0 + timedelta(days=3)
        close = j.record_intent(spec("SELL"), t1)
        for n, (con, side, p) in enumerate(((11, "SLD", 7.00), (12, "BOT", 3.60))):
            j.add_fill(fill(f"c{n}", con, side, p, t1 + timedelta(seconds=1), close.intent_id))
        j.update_from_ib(close.intent_id, t1 + timedelta(seconds=4),
                         status=IntentStatus.FILLED, filled=3, avg_fill_price=3.40)  # fmt: skip
        j.put_kv(f"auto/exit/{entry.intent_id}", {
            "symbol": "AAPL", "rule": "TARGET", "attempts": 1, "intent_id": close.intent_id,
            "state": "SENT", "day": "2026-11-19",
        })  # fmt: skip
        j.record_intent(spec("BUY", 1), t1 + timedelta(hours=1))  # never filled: no row


def test_read_from_a_real_journal_across_days(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path)
    with Journal(path) as j:
        h = closed_trades(*j.history_inputs())
    (t,) = h.trades
    # 390 - 4 leg fills x 1.95 = 382.20; times are the fills', not the orders'
    assert t.pnl == pytest.approx(382.20) and t.commission == pytest.approx(7.80)
    assert t.rule == "TARGET"
    assert t.entry_time == T0 + timedelta(seconds=3)
    assert t.exit_time == T0 + timedelta(days=3, seconds=1)


def test_cli_journal_history_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "journal.sqlite3"
    build(path)
    before = path.read_bytes()
    assert main(["journal", "--history", "--journal", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2026-11-19 10:00 AAPL   20261218 100/105 C" in out  # exit time in New York
    assert "2.10   3.40   7.80   +382.20    +382.20  TARGET" in out
    assert "1 closed trades, 1 won; realised P&L +382.20" in out
    assert main(["journal", "--history", "--json", "--journal", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"] == pytest.approx(382.20) and data["unmatched"] == 0
    assert data["trades"][0]["rule"] == "TARGET" and data["trades"][0]["quantity"] == 3
    assert path.read_bytes() == before  # read-only


def test_cli_journal_history_refuses_a_day_and_a_missing_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["journal", "--history", "--day", "2026-11-18",
                 "--journal", str(tmp_path / "j.sqlite3")]) == 2  # fmt: skip
    assert "leave out --day" in capsys.readouterr().err
    assert main(["journal", "--history", "--journal", str(tmp_path / "none.sqlite3")]) == 2
    assert "there is no journal" in capsys.readouterr().err


def test_an_empty_journal_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    assert main(["journal", "--history", "--journal", str(path)]) == 0
    assert "No closed trades in the journal." in capsys.readouterr().out
