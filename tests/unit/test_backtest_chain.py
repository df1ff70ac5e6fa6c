"""SPEC 12's synthetic chain: expiries, strikes, the pruned chain's best spread against
SPEC 5 on the full chain, SPEC 12's tie-break, and the two core extensions it relies on
(select_spreads_flat's top_only, bs_price_delta)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.benchmarks.backtest_reference import choose
from tui_trader.core.backtest_chain import _pick, best_spreads, friday_expiries, strike_step
from tui_trader.core.options import bs_greeks, bs_price_delta
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import (
    ChainColumns,
    FlatSelection,
    OptionChain,
    select_spreads,
    select_spreads_flat,
)


def _day(d: date) -> int:
    return int(np.datetime64(d, "D").astype(np.int64))


def test_expiries_are_the_fridays_in_the_dte_window() -> None:
    monday = date(2024, 1, 29)
    owner, expiry = friday_expiries(np.array([_day(monday), _day(monday + timedelta(4))]), 30, 45)
    got = [(int(o), str(np.datetime64(int(e), "D"))) for o, e in zip(owner, expiry, strict=True)]
    # Monday: Fridays at DTE 32 and 39 (46 is out); the Friday itself: DTE 35 and 42.
    assert got == [(0, "2024-03-01"), (0, "2024-03-08"), (1, "2024-03-08"), (1, "2024-03-15")]
    _, none = friday_expiries(np.array([_day(monday)]), 31, 31)  # a Wednesday: no Friday
    assert none.shape == (0,)


def test_strike_steps() -> None:
    spots = np.array([20.0, 99.99, 100.0, 249.99, 250.0, 900.0])
    assert strike_step(spots).tolist() == [1.0, 1.0, 2.5, 2.5, 5.0, 5.0]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spot=st.floats(1.2, 1_500.0),
    sigma=st.sampled_from([0.05, 0.12, 0.25, 0.6, 1.0, 2.2, 3.0]),
    offset=st.integers(0, 6),
    long=st.booleans(),
    min_delta=st.sampled_from([0.0, 0.2, 0.3]),
    max_delta=st.sampled_from([0.4, 0.5, 0.8, 1.0]),
    apart=st.integers(1, 6),
    q=st.sampled_from([0.0, 0.03]),
    min_dte=st.sampled_from([0, 7, 30]),
)
def test_the_pruned_chain_picks_what_spec_5_picks_on_the_full_chain(
    spot: float,
    sigma: float,
    offset: int,
    long: bool,
    min_delta: float,
    max_delta: float,
    apart: int,
    q: float,
    min_dte: int,
) -> None:
    s = Settings()
    s.selection.min_delta, s.selection.max_delta = min_delta, max_delta
    s.selection.max_strikes_apart = apart
    s.selection.min_dte = min_dte
    s.pricing.dividend_yield = q
    day = date(2024, 3, 4) + timedelta(days=offset)
    got = best_spreads(
        np.array([_day(day)]), np.array([spot]), np.array([sigma]), np.array([long]), s
    )
    want = choose(day, spot, sigma, long, s)
    assert bool(got.found[0]) == (want is not None)
    if want is not None:
        assert str(np.datetime64(int(got.expiry[0]), "D")) == want.expiry.isoformat()
        assert (got.long_strike[0], got.short_strike[0]) == (want.k1, want.k2)
        assert got.debit[0] == pytest.approx(want.debit, rel=1e-12)


def _flat(expiry: list[str], long_k: list[float], width: list[float]) -> FlatSelection:
    n = len(expiry)
    f = np.full(n, 2.0)
    i = np.arange(n, dtype=np.int64)
    z = np.zeros(n, dtype=np.int64)
    return FlatSelection(
        counts=np.zeros((1, 7), dtype=np.int64),
        row_offsets=np.zeros(1, dtype=np.int64),
        candidate_bounds=np.array([0, n]),
        kept_bounds=np.array([0, n]),
        candidate_long_row=i,
        candidate_short_row=i,
        candidate_reason=np.zeros(n, np.int8),
        group=z,
        expiry=np.array(expiry, dtype="datetime64[D]"),
        dte=z,
        is_call=np.ones(n, dtype=bool),
        long_strike=np.array(long_k),
        short_strike=np.array(long_k) + np.array(width),
        debit=f,
        mid_debit=f,
        width=np.array(width),
        cost=f * 100,
        max_profit=f,
        reward_risk=f,
        breakeven=f,
        pop=np.full(n, 0.3),
        net_delta=f,
        long_delta=f,
        long_row=i,
        short_row=i,
        candidate=i,
    )


@pytest.mark.parametrize(
    ("expiry", "long_k", "width", "winner"),
    [
        (["2024-03-08", "2024-03-01"], [100.0, 105.0], [5.0, 5.0], 1),  # nearer expiry
        (["2024-03-01", "2024-03-01"], [104.0, 101.0], [5.0, 5.0], 1),  # strike nearer spot
        (["2024-03-01", "2024-03-01"], [101.0, 101.0], [5.0, 2.5], 1),  # narrower
        (["2024-03-01", "2024-03-01"], [102.0, 98.0], [5.0, 5.0], 1),  # equally near: lower
    ],
)
def test_ties_in_spec_5s_ranking(
    expiry: list[str], long_k: list[float], width: list[float], winner: int
) -> None:
    got = _pick(_flat(expiry, long_k, width), np.array([100.0]), 1)
    assert got.long_strike[0] == long_k[winner] and got.width[0] == width[winner]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_chains=st.integers(1, 6), long=st.booleans())
def test_top_only_is_the_head_of_the_full_ranking(seed: int, n_chains: int, long: bool) -> None:
    """Quotes on a coarse grid and an expiry on the day itself (POP 0 or 1 there), so
    that ties happen; every chain separately ranked in full."""
    rng = np.random.default_rng(seed)
    s = Settings()
    s.selection.min_delta, s.selection.max_delta = 0.0, 1.0
    s.selection.min_dte = 0
    day = date(2024, 3, 4)
    chains, cols = [], []
    for _ in range(n_chains):
        k = np.repeat(np.arange(90.0, 112.0, 2.0)[None, :], 2, axis=0).ravel()
        e = np.repeat(["2024-03-04", "2024-04-12"], 11)
        calls = np.full(k.shape, long)
        bid = rng.choice([0.0, 0.5, 1.0, 1.5, 2.0], k.shape)
        ask = bid + rng.choice([0.5, 1.0], k.shape)
        delta = np.where(calls, 0.4, -0.4)
        iv = rng.choice([0.2, 0.3], k.shape)
        chain = OptionChain(expiry=e, strike=k, is_call=calls, bid=bid, ask=ask, delta=delta, iv=iv)
        chains.append(chain)
        cols.append(chain)
    columns = ChainColumns(
        sizes=np.array([len(c) for c in cols]),
        **{
            n: np.concatenate([getattr(c, n) for c in cols])
            for n in ("expiry", "strike", "is_call", "bid", "ask", "delta", "iv")
        },
    )
    top = select_spreads_flat(
        columns,
        np.full(n_chains, 100.0),
        np.full(n_chains, long),
        np.full(n_chains, np.datetime64(day, "D")),
        s.selection,
        s.pricing,
        top_only=True,
    )
    for g, chain in enumerate(chains):
        full = select_spreads(
            chain, 100.0, "LONG" if long else "SHORT", day, s.selection, s.pricing
        )
        lo, hi = top.kept_bounds[g], top.kept_bounds[g + 1]
        n_top = hi - lo
        if len(full) == 0:
            assert n_top == 0
            continue
        lead = (
            (full.reward_risk == full.reward_risk[0])
            & (full.pop == full.pop[0])
            & (full.cost == full.cost[0])
        )
        assert n_top == (len(full) if lead.all() else int(np.argmin(lead)))
        assert n_top >= 1
        off = top.row_offsets[g]
        assert (top.long_row[lo:hi] - off).tolist() == full.long_row[:n_top].tolist()
        assert (top.short_row[lo:hi] - off).tolist() == full.short_row[:n_top].tolist()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_price_and_delta_alone_equal_bs_greeks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 200
    args = (
        rng.uniform(1, 500, n),
        rng.uniform(1, 500, n),
        rng.choice([0.0, 1e-4, 0.1, 1.0], n),
        rng.choice([0.0, 0.04]),
        rng.choice([0.0, 0.02], n),
        rng.choice([0.0, 0.05, 0.4, 3.0], n),
        rng.random(n) < 0.5,
    )
    g = bs_greeks(*args)
    price, delta = bs_price_delta(*args)
    np.testing.assert_array_equal(price, g.price)
    np.testing.assert_array_equal(delta, g.delta)
