"""core.auto: SPEC 11's candidates, their states, the order of attempts and the slots."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui_trader.core.auto import (
    LIMIT_REACHED,
    Candidate,
    CandidateKey,
    CandidateState,
    Ranked,
    attempt_order,
    candidates_from_scan,
    slots_left,
    still_signals,
)
from tui_trader.core.scanner import SymbolScan
from tui_trader.core.settings import RiskSettings

DAY = date(2026, 12, 3)
T0 = datetime(2026, 12, 3, 16, 15, tzinfo=UTC)  # 11:15 ET
S = CandidateState


def row(symbol: str, direction: str | None, eligible: bool = True,
        signals: tuple[str, ...] = ("HIGH_BASE",)) -> SymbolScan:  # fmt: skip
    return SymbolScan(
        symbol=symbol, last_date=DAY, close=100.0, rsi14=60.0, atr14=2.0, sma50=None,
        sma200=None, hhv20=101.0, llv20=90.0, avgvol20=2e6, eligible=eligible,
        reasons=(), signals=signals, direction=direction,  # type: ignore[arg-type]
    )  # fmt: skip


def test_every_tradable_row_becomes_one_queued_candidate_a_day() -> None:
    rows = [
        row("MSFT", "LONG", signals=("HIGH_BASE", "BULL_PULLBACK")),
        row("AAPL", "SHORT", signals=("LOW_BASE",)),
        row("TSLA", "CONFLICT"),
        row("PENNY", "LONG", eligible=False),
        row("SPY", None, signals=()),
    ]
    got = candidates_from_scan(rows, DAY, (), T0)
    assert [(str(c.key), c.strategy, c.state) for c in got] == [
        ("2026-12-03 MSFT LONG", "HIGH_BASE", S.QUEUED),
        ("2026-12-03 AAPL SHORT", "LOW_BASE", S.QUEUED),
    ]
    again = candidates_from_scan(rows, DAY, [c.key for c in got], T0)
    assert again == []  # tried at most once a day
    tomorrow = candidates_from_scan(rows, date(2026, 12, 4), [c.key for c in got], T0)
    assert len(tomorrow) == 2


def test_states_move_as_spec_11_draws_them() -> None:
    c = candidates_from_scan([row("MSFT", "LONG")], DAY, (), T0)[0]
    sel = c.moved(S.SELECTING, T0)
    sent = sel.moved(S.SENT, T0, intent_id="I-1")
    assert sent.moved(S.FILLED, T0).intent_id == "I-1"
    assert sent.moved(S.FILLED, T0).is_final
    with pytest.raises(ValueError, match="QUEUED cannot become SENT"):
        c.moved(S.SENT, T0)
    with pytest.raises(ValueError):
        sent.moved(S.QUEUED, T0)  # never sent twice
    gone = c.moved(S.SKIPPED, T0, "signal_gone")
    assert gone.is_final
    with pytest.raises(ValueError):
        gone.moved(S.QUEUED, T0)
    full = sel.moved(S.SKIPPED, T0, LIMIT_REACHED)
    assert not full.is_final  # kept for the next scan in the window
    assert full.moved(S.QUEUED, T0).state is S.QUEUED
    assert full.moved(S.EXPIRED, T0).is_final
    assert sel.moved(S.DRY_RUN, T0).is_final


def test_still_signals_needs_the_same_direction() -> None:
    assert still_signals(row("MSFT", "LONG"), "LONG")
    assert not still_signals(row("MSFT", "SHORT"), "LONG")
    assert not still_signals(row("MSFT", "CONFLICT"), "LONG")
    assert not still_signals(None, "LONG")


def ranked(symbol: str, rr: float | None, pop: float | None = 0.4) -> Ranked:
    key = CandidateKey(DAY, symbol, "LONG")
    return Ranked(Candidate(key, "HIGH_BASE", S.SELECTING, T0, T0), rr, pop)


def test_attempts_by_reward_risk_then_pop_then_symbol() -> None:
    items = [ranked("ZZZ", 2.0, 0.3), ranked("AAA", 2.0, 0.3), ranked("MMM", 2.0, 0.5),
             ranked("BIG", 3.1, 0.1), ranked("NONE", None)]  # fmt: skip
    assert [r.candidate.key.symbol for r in attempt_order(items)] == [
        "BIG", "MMM", "AAA", "ZZZ", "NONE",
    ]  # fmt: skip


def test_slots_are_the_tighter_limit_and_never_negative() -> None:
    risk = RiskSettings()  # 3 trades a day, 5 positions
    assert slots_left(0, 0, risk) == 3
    assert slots_left(2, 0, risk) == 1
    assert slots_left(0, 4, risk) == 1
    assert slots_left(3, 0, risk) == 0
    assert slots_left(5, 9, risk) == 0


@given(st.lists(st.tuples(st.sampled_from("ABCDEF"), st.none() | st.floats(0, 9),
                          st.floats(0, 1)), max_size=12))  # fmt: skip
def test_attempt_order_is_a_permutation_sorted_by_the_rule(
    items: list[tuple[str, float | None, float]],
) -> None:
    rs = [ranked(s, rr, pop) for s, rr, pop in items]
    out = attempt_order(rs)
    assert sorted(map(id, out)) == sorted(map(id, rs))
    with_spread = [r.reward_risk for r in out if r.reward_risk is not None]
    assert with_spread == sorted(with_spread, reverse=True)
    firsts_none = [i for i, r in enumerate(out) if r.reward_risk is None]
    assert all(i >= len(with_spread) for i in firsts_none)
