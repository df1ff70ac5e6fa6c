"""SPEC 12's book: the gates per candidate (max positions, entries a day, one spread per
underlying, sizing), SPEC 11's order of attempts, and a slot freed by today's exit."""

from __future__ import annotations

import itertools
import math

import numpy as np

from tests.benchmarks.backtest_reference import choose
from tests.unit.backtest_data import ENTRY, atr14, bars, base_closes, business_days, sigma_at
from tui_trader.core.backtest import RunResult, RunSpec, run_backtest
from tui_trader.core.backtest_market import prepare_market
from tui_trader.core.settings import Settings

ALL = RunSpec("ALL", ("HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY"))
#: Same shape, different price levels (so different chains and reward/risk).
SCALES = {"AAA": 1.0, "BBB": 1.37, "CCC": 0.74, "DDD": 2.3, "EEE": 0.52}
N_BARS = ENTRY + 6


def closes(scale: float) -> list[float]:
    c = base_closes(scale, N_BARS)
    return c


def simulate(settings: Settings, series: dict[str, list[float | None]] | None = None) -> RunResult:
    data = series or {s: closes(k) for s, k in SCALES.items()}
    market = prepare_market(bars(data))
    (run,) = run_backtest(market, settings, 0, len(market.days) - 1, [ALL])
    return run


def attempt_order(day_index: int, settings: Settings) -> list[str]:
    """SPEC 11's order on a day, from SPEC 5 on the full chains: reward/risk desc, POP desc,
    symbol asc."""
    day = business_days(N_BARS)[day_index]
    keyed = []
    for sym, k in SCALES.items():
        c = closes(k)
        best = choose(day, c[day_index], sigma_at(c, day_index, settings), True, settings)
        assert best is not None
        keyed.append((-best.rr, -best.pop, sym))
    return [sym for *_, sym in sorted(keyed)]


def entered_on(run: RunResult, day_index: int) -> list[str]:
    day = business_days(N_BARS)[day_index].isoformat()
    return [t.symbol for t in run.trades if t.entry_date == day]


def test_max_positions_takes_the_best_candidates_in_spec_11_order() -> None:
    s = Settings()
    s.risk.max_positions = 2
    s.risk.max_daily_trades = 5
    run = simulate(s)
    order = attempt_order(ENTRY, s)
    assert len(set(order)) == 5 and order != sorted(order)  # the order is not alphabetical
    assert entered_on(run, ENTRY) == order[:2]
    assert run.exposed[ENTRY:-1].all() and not run.exposed[-1]  # END closes all


def test_daily_trades_limit_spreads_entries_over_days() -> None:
    s = Settings()
    s.risk.max_daily_trades = 1
    run = simulate(s)
    assert entered_on(run, ENTRY) == attempt_order(ENTRY, s)[:1]
    first = entered_on(run, ENTRY)[0]
    tomorrow = [sym for sym in attempt_order(ENTRY + 1, s) if sym != first]
    assert entered_on(run, ENTRY + 1) == tomorrow[:1]


def test_one_open_spread_per_underlying() -> None:
    s = Settings()
    run = simulate(s)
    assert sorted(entered_on(run, ENTRY)) == sorted(attempt_order(ENTRY, s)[:3])
    by_symbol: dict[str, list[tuple[str, str]]] = {}
    for t in run.trades:
        by_symbol.setdefault(t.symbol, []).append((t.entry_date, t.exit_date))
    for spans in by_symbol.values():  # the next entry never before the previous exit
        for (_, out), (back, _) in itertools.pairwise(spans):
            assert back >= out


def test_a_candidate_too_big_to_size_is_skipped_for_the_next() -> None:
    s = Settings()
    s.risk.max_positions = 1
    order = attempt_order(ENTRY, s)
    day = business_days(N_BARS)[ENTRY]
    debits = {}
    for sym in order:
        c = closes(SCALES[sym])
        best = choose(day, c[ENTRY], sigma_at(c, ENTRY, s), True, s)
        assert best is not None
        debits[sym] = best.debit
    # Risk just below one contract of the best candidate but enough for a later, cheaper one.
    top = order[0]
    cheaper = next(sym for sym in order[1:] if debits[sym] < debits[top])
    s.risk.risk_per_trade = (debits[top] * 100 - 1.0) / 100_000
    run = simulate(s)
    assert entered_on(run, ENTRY) == [cheaper]
    (t,) = [t for t in run.trades if t.entry_date == day.isoformat()]
    assert t.contracts == math.floor(100_000 * s.risk.risk_per_trade / (debits[cheaper] * 100))


def test_todays_exit_frees_its_slot_for_todays_entries() -> None:
    s = Settings()
    s.risk.max_positions = 1
    a = base_closes(1.0, ENTRY + 1)
    e, atr = a[ENTRY], atr14(a, ENTRY)
    b = base_closes(1.37, ENTRY + 2)  # BBB starts a day later: first tradable on ENTRY + 1
    series: dict[str, list[float | None]] = {
        "AAA": [*a, e - 2.5 * atr, e],  # stopped out on ENTRY + 1
        "BBB": [None, *b[: ENTRY + 1], b[ENTRY] * 1.02],
    }
    run = simulate(s, series)
    days = business_days(ENTRY + 3)
    first, second = run.trades[:2]
    assert (first.symbol, first.exit_reason, first.exit_date) == (
        "AAA",
        "STOP",
        days[ENTRY + 1].isoformat(),
    )
    assert (second.symbol, second.entry_date) == ("BBB", days[ENTRY + 1].isoformat())


def test_no_entry_at_all_when_no_position_may_open() -> None:
    s = Settings()
    s.risk.max_positions = 0
    run = simulate(s)
    assert run.trades == [] and not run.exposed.any()
    assert np.all(run.equity == 100_000)
    assert run.metrics["trades"] == 0 and run.metrics["win_rate"] is None
