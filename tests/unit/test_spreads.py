"""SPEC 5 spread selection (core/spreads.py): hand-worked chains, every reason, properties."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from tui_trader.core.options import bs_greeks
from tui_trader.core.settings import PricingSettings, SelectionSettings
from tui_trader.core.spreads import (
    REJECT_REASONS,
    OptionChain,
    Reason,
    SpreadRequest,
    SpreadSelection,
    format_table,
    rank_order,
    select_spreads,
    select_spreads_batch,
)

ASOF = date(2025, 1, 2)
EXPIRY = date(2025, 2, 7)  # 36 calendar days after ASOF
SPOT = 100.0
SEL = SelectionSettings()  # SPEC defaults: DTE 30..45, |delta| .30..50, cost <= 500, R/R >= 1.5
PRICING = PricingSettings()  # r = 0.04, q = 0
MARKER = 1.7976931348623157e308
NAN = math.nan


def chain_of(
    strikes: list[float],
    bid: list[float],
    ask: list[float],
    delta: list[float],
    iv: list[float],
    *,
    calls: bool = True,
    expiry: date | list[date] = EXPIRY,
) -> OptionChain:
    n = len(strikes)
    expiries = expiry if isinstance(expiry, list) else [expiry] * n
    return OptionChain(
        expiry=np.array(expiries, dtype="datetime64[D]"),
        strike=strikes,
        is_call=np.full(n, calls),
        bid=bid,
        ask=ask,
        delta=delta,
        iv=iv,
    )


# The worked LONG chain: calls, spot 100, 36 DTE.
#   K     bid   ask   delta  iv
#   95    7.40  7.60  0.70   0.25   long |delta| > 0.50 -> DELTA
#   100   4.40  4.60  0.52   0.25   long |delta| > 0.50 -> DELTA
#   105   2.30  2.50  0.45   0.24   long leg ok
#   110   1.00  1.10  0.30   0.23   long leg ok (0.30 is inside [0.30, 0.50])
#   115   0.40  0.45  0.15   0.22   long |delta| < 0.30 -> DELTA
#   120   0.10  0.15  0.06   0.22   (no further strike: never a long leg)
# Candidates (short 1..4 listed strikes higher): 4 + 4 + 3 + 2 + 1 + 0 = 14.
# DELTA: 4 (K95) + 4 (K100) + 1 (K115) = 9. Kept 5:
#   105/110: D = 2.50 - 1.00 = 1.50, W = 5,  R/R = 3.50/1.50 = 2.3333
#   105/115: D = 2.50 - 0.40 = 2.10, W = 10, R/R = 7.90/2.10 = 3.7619
#   105/120: D = 2.50 - 0.10 = 2.40, W = 15, R/R = 12.60/2.40 = 5.25
#   110/115: D = 1.10 - 0.40 = 0.70, W = 5,  R/R = 4.30/0.70 = 6.1429
#   110/120: D = 1.10 - 0.10 = 1.00, W = 10, R/R = 9.00/1.00 = 9.00
LONG_STRIKES = [95.0, 100.0, 105.0, 110.0, 115.0, 120.0]
LONG_BID = [7.40, 4.40, 2.30, 1.00, 0.40, 0.10]
LONG_ASK = [7.60, 4.60, 2.50, 1.10, 0.45, 0.15]
LONG_DELTA = [0.70, 0.52, 0.45, 0.30, 0.15, 0.06]
LONG_IV = [0.25, 0.25, 0.24, 0.23, 0.22, 0.22]


def worked_long_chain() -> OptionChain:
    return chain_of(LONG_STRIKES, LONG_BID, LONG_ASK, LONG_DELTA, LONG_IV)


def worked_short_chain() -> OptionChain:
    """The LONG chain mirrored around 100: put K = 200 - call K, same quotes, delta negated."""
    return chain_of(
        [200.0 - k for k in LONG_STRIKES],
        LONG_BID,
        LONG_ASK,
        [-d for d in LONG_DELTA],
        LONG_IV,
        calls=False,
    )


def pop_by_hand(spot: float, be: float, sigma: float, dte: int, call: bool) -> float:
    t = dte / 365
    d2 = (math.log(spot / be) + (0.04 - 0.5 * sigma**2) * t) / (sigma * math.sqrt(t))
    return float(norm.cdf(d2) if call else norm.cdf(-d2))


def test_worked_long_chain() -> None:
    sel = select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, SEL, PRICING)
    assert sel.candidates == 14
    assert sel.rejected == {
        "BAD_QUOTE": 0, "NO_GREEKS": 0, "DTE": 0, "DELTA": 9, "COST": 0, "REWARD_RISK": 0,
    }  # fmt: skip
    # Ranked by R/R: 9.00, 6.14, 5.25, 3.76, 2.33.
    assert sel.long_strike.tolist() == [110.0, 110.0, 105.0, 105.0, 105.0]
    assert sel.short_strike.tolist() == [120.0, 115.0, 120.0, 115.0, 110.0]
    np.testing.assert_allclose(sel.debit, [1.00, 0.70, 2.40, 2.10, 1.50], atol=1e-12)
    np.testing.assert_allclose(sel.width, [10.0, 5.0, 15.0, 10.0, 5.0])
    np.testing.assert_allclose(sel.reward_risk, [9.0, 4.3 / 0.7, 5.25, 7.9 / 2.1, 3.5 / 1.5])
    assert (sel.dte == 36).all()
    assert sel.is_call.all()

    # The 105/110 spread worked in full:
    #   natural debit D = 2.50 - 1.00 = 1.50; mid = (2.30+2.50)/2 - (1.00+1.10)/2 = 1.35
    #   width 5; cost = max loss = 150; max profit = (5 - 1.50) * 100 = 350; R/R = 2.3333
    #   breakeven = 105 + 1.50 = 106.50; sigma = (0.24 + 0.23)/2 = 0.235; T = 36/365
    #   d2 = (ln(100/106.5) + (0.04 - 0.235^2/2) * T) / (0.235 * sqrt(T))
    #      = (-0.0629748 + 0.0012218) / 0.0738027 = -0.83673;  POP = N(d2) = 0.20137
    #   net delta = 0.45 - 0.30 = 0.15
    i = 4
    assert sel.debit[i] == pytest.approx(1.50)
    assert sel.mid_debit[i] == pytest.approx(1.35)
    assert sel.cost[i] == pytest.approx(150.0)
    assert sel.max_loss[i] == pytest.approx(150.0)
    assert sel.max_profit[i] == pytest.approx(350.0)
    assert sel.reward_risk[i] == pytest.approx(2.333333333333)
    assert sel.breakeven[i] == pytest.approx(106.50)
    assert sel.pop[i] == pytest.approx(0.20137, abs=1e-5)
    assert sel.pop[i] == pytest.approx(pop_by_hand(100, 106.5, 0.235, 36, True), rel=1e-12)
    assert sel.net_delta[i] == pytest.approx(0.15)
    assert sel.long_delta[i] == pytest.approx(0.45)
    # The 110/120 spread: BE = 111.00, sigma = (0.23 + 0.22)/2 = 0.225, net delta 0.24.
    assert sel.breakeven[0] == pytest.approx(111.0)
    assert sel.pop[0] == pytest.approx(pop_by_hand(100, 111.0, 0.225, 36, True), rel=1e-12)
    assert sel.net_delta[0] == pytest.approx(0.24)
    # Rows point back into the chain.
    chain = worked_long_chain()
    assert chain.strike[sel.long_row].tolist() == sel.long_strike.tolist()
    assert chain.strike[sel.short_row].tolist() == sel.short_strike.tolist()


def test_short_put_case_mirrors_the_long_call_case() -> None:
    long = select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, SEL, PRICING)
    short = select_spreads(worked_short_chain(), SPOT, "SHORT", ASOF, SEL, PRICING)
    assert short.candidates == long.candidates == 14
    assert short.rejected == long.rejected
    assert not short.is_call.any()
    # Same money, mirrored strikes: buy put 90 (mirror of call 110), sell put 80, etc.
    np.testing.assert_allclose(short.long_strike, 200.0 - long.long_strike)
    np.testing.assert_allclose(short.short_strike, 200.0 - long.short_strike)
    for name in ("debit", "mid_debit", "width", "cost", "max_profit", "max_loss", "reward_risk"):
        np.testing.assert_allclose(getattr(short, name), getattr(long, name), rtol=1e-12)
    # Breakeven put = K1 - D = 200 - (call K1 + D); the put 95/90 (mirror of 105/110):
    # BE = 95 - 1.50 = 93.50, POP = P(S_T < 93.5) = N(-d2) -- not the call's POP, the
    # lognormal law is not symmetric.
    np.testing.assert_allclose(short.breakeven, 200.0 - long.breakeven)
    assert short.breakeven[4] == pytest.approx(93.5)
    assert short.pop[4] == pytest.approx(pop_by_hand(100, 93.5, 0.235, 36, False), rel=1e-12)
    # d2 = (ln(100/93.5) + 0.0012218) / 0.0738028 = (0.0672087 + 0.0012218) / 0.0738028
    #    = 0.92721;  POP = N(-0.92721) = 0.17691
    assert short.pop[4] == pytest.approx(0.17691, abs=1e-5)
    np.testing.assert_allclose(short.net_delta, -long.net_delta, atol=1e-12)
    np.testing.assert_allclose(short.long_delta, -long.long_delta)


def test_long_ignores_puts_and_short_ignores_calls() -> None:
    calls = worked_long_chain()
    puts = worked_short_chain()
    both = OptionChain(
        expiry=np.concatenate([calls.expiry, puts.expiry]),
        strike=np.concatenate([calls.strike, puts.strike]),
        is_call=np.concatenate([calls.is_call, puts.is_call]),
        bid=np.concatenate([calls.bid, puts.bid]),
        ask=np.concatenate([calls.ask, puts.ask]),
        delta=np.concatenate([calls.delta, puts.delta]),
        iv=np.concatenate([calls.iv, puts.iv]),
    )
    for direction, alone in (("LONG", calls), ("SHORT", puts)):
        mixed = select_spreads(both, SPOT, direction, ASOF, SEL, PRICING)
        single = select_spreads(alone, SPOT, direction, ASOF, SEL, PRICING)
        assert mixed.to_dict() == single.to_dict()


# --- one candidate per chain, one reason at a time ---------------------------------------
# Base: call 100 (2.00/2.10, delta 0.40, iv 0.25) and call 105 (0.50/0.60, 0.20, 0.24).
# D = 2.10 - 0.50 = 1.60, W = 5, cost 160, R/R = 3.40/1.60 = 2.125: kept.
BASE: dict[str, Any] = {
    "strikes": [100.0, 105.0],
    "bid": [2.00, 0.50],
    "ask": [2.10, 0.60],
    "delta": [0.40, 0.20],
    "iv": [0.25, 0.24],
}


def one_pair(
    settings_: SelectionSettings = SEL, expiry: date = EXPIRY, **changes: tuple[float, float]
) -> str:
    fields = {k: list(v) for k, v in BASE.items()} | {k: list(v) for k, v in changes.items()}
    chain = chain_of(
        fields["strikes"], fields["bid"], fields["ask"], fields["delta"], fields["iv"],
        expiry=expiry,
    )  # fmt: skip
    sel = select_spreads(chain, SPOT, "LONG", ASOF, settings_, PRICING)
    assert sel.candidates == 1
    assert sum(sel.rejected.values()) + len(sel) == 1
    (name,) = sel.candidate_reason_names.tolist()
    if name != "KEPT":
        assert sel.rejected[name] == 1
    return str(name)


def test_base_pair_is_kept() -> None:
    assert one_pair() == "KEPT"


@pytest.mark.parametrize(
    "changes",
    [
        {"ask": (NAN, 0.60)},
        {"bid": (2.00, NAN)},
        {"ask": (0.0, 0.60), "bid": (0.0, 0.50)},  # ask <= 0
        {"bid": (2.00, -0.05)},  # bid < 0
        {"bid": (2.20, 0.50)},  # bid > ask
        {"bid": (-1.0, 0.50)},  # IB marker -1
        {"ask": (2.10, -2.0)},  # IB marker -2
        {"ask": (MARKER, 0.60)},  # IB "no value" double
        {"bid": (MARKER, 0.50), "ask": (MARKER, 0.60)},  # both sides unset
        {"ask": (math.inf, 0.60)},
    ],
)
def test_bad_quote(changes: dict[str, tuple[float, float]]) -> None:
    assert one_pair(**changes) == "BAD_QUOTE"


@pytest.mark.parametrize(
    "changes",
    [
        {"delta": (NAN, 0.20)},
        {"delta": (0.40, NAN)},  # net delta needs the short leg's delta too
        {"iv": (NAN, 0.24)},
        {"iv": (0.25, NAN)},  # POP needs both IVs
        {"iv": (-1.0, 0.24)},  # IB marker
        {"iv": (0.25, MARKER)},
        {"iv": (0.0, 0.24)},
        {"delta": (-2.0, 0.20)},  # IB greeks marker
        {"delta": (0.40, MARKER)},
        {"delta": (-0.40, 0.20)},  # a call with a put's sign: unusable
        {"delta": (0.40, -1.0)},  # -1 is not a call delta
    ],
)
def test_no_greeks(changes: dict[str, tuple[float, float]]) -> None:
    assert one_pair(**changes) == "NO_GREEKS"


@pytest.mark.parametrize(("days", "reason"), [
    (29, "DTE"), (30, "KEPT"), (45, "KEPT"), (46, "DTE"), (0, "DTE"), (-3, "DTE"),
])  # fmt: skip
def test_dte_window_is_inclusive(days: int, reason: str) -> None:
    assert one_pair(expiry=ASOF + timedelta(days=days)) == reason


@pytest.mark.parametrize(("long_delta", "reason"), [
    (0.29, "DELTA"), (0.30, "KEPT"), (0.50, "KEPT"), (0.51, "DELTA"), (1.0, "DELTA"),
    (0.0, "DELTA"),
])  # fmt: skip
def test_long_delta_window_is_inclusive(long_delta: float, reason: str) -> None:
    # the short leg's delta does not matter, only that it is usable
    assert one_pair(delta=(long_delta, 0.05 if long_delta < 0.1 else 0.2)) == reason


def test_cost_limit() -> None:
    assert one_pair(SelectionSettings(max_spread_cost=160.0)) == "KEPT"
    assert one_pair(SelectionSettings(max_spread_cost=159.99)) == "COST"


@pytest.mark.parametrize(
    "changes",
    [
        {"ask": (0.50, 0.60), "bid": (0.40, 0.50)},  # D = 0.50 - 0.50 = 0: not a debit
        {"ask": (0.45, 0.60), "bid": (0.40, 0.50)},  # D = -0.05: a credit at natural
    ],
)
def test_non_positive_natural_debit_is_cost(changes: dict[str, tuple[float, float]]) -> None:
    assert one_pair(**changes) == "COST"


def test_reward_risk_limit() -> None:
    # D = 2.10 - 0.10 = 2.00 -> R/R = 3/2 = 1.5 exactly: kept.
    assert one_pair(bid=(2.00, 0.10), ask=(2.10, 0.20)) == "KEPT"
    # D = 2.10 - 0.05 = 2.05 -> R/R = 2.95/2.05 = 1.439: rejected.
    assert one_pair(bid=(2.00, 0.05), ask=(2.10, 0.20)) == "REWARD_RISK"
    assert one_pair(SelectionSettings(min_reward_risk=2.126)) == "REWARD_RISK"
    assert one_pair(SelectionSettings(min_reward_risk=2.125)) == "KEPT"


def test_limits_are_not_defeated_by_float_noise() -> None:
    # 0.50 - 0.10 = 0.4 but (1 - 0.4) / 0.4 = 1.4999999999999998 in floats: still R/R 1.5.
    assert one_pair(strikes=(100.0, 101.0), bid=(0.45, 0.10), ask=(0.50, 0.15)) == "KEPT"
    # 8.05 - 3.05 = 5.000000000000001, cost 500.0000000000001: still within 500.
    assert one_pair(
        strikes=(100.0, 115.0), bid=(8.00, 3.05), ask=(8.05, 3.10), delta=(0.45, 0.2)
    ) == "KEPT"  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expiry", "reason"),
    [
        # bad quote + no greeks + DTE + DELTA -> BAD_QUOTE
        ({"ask": (NAN, 0.60), "iv": (NAN, 0.24), "delta": (0.9, 0.2)}, 60, "BAD_QUOTE"),
        # no greeks (short iv) + DTE -> NO_GREEKS
        ({"iv": (0.25, NAN)}, 60, "NO_GREEKS"),
        # DTE + DELTA + R/R -> DTE
        ({"delta": (0.9, 0.2), "bid": (2.00, 0.0)}, 10, "DTE"),
        # DELTA + COST -> DELTA
        ({"delta": (0.9, 0.2), "ask": (9.0, 0.60), "bid": (8.9, 0.50)}, 36, "DELTA"),
        # COST (credit) + R/R (negative) -> COST
        ({"ask": (0.45, 0.60), "bid": (0.40, 0.50)}, 36, "COST"),
    ],
)
def test_first_failing_check_wins(
    changes: dict[str, tuple[float, float]], expiry: int, reason: str
) -> None:
    assert one_pair(expiry=ASOF + timedelta(days=expiry), **changes) == reason


# --- candidates ----------------------------------------------------------------------------


@pytest.mark.parametrize(("apart", "expected"), [(1, 5), (2, 9), (4, 14), (5, 15), (20, 15)])
def test_candidate_count_follows_max_strikes_apart(apart: int, expected: int) -> None:
    # 6 listed strikes: long i pairs with min(apart, 5 - i) higher strikes.
    s = SelectionSettings(max_strikes_apart=apart)
    assert (
        select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, s, PRICING).candidates == expected
    )


def test_candidates_use_listed_strikes_of_their_own_expiry() -> None:
    # Expiry A lists 100/105/110; expiry B lists 100/102.5/105. One strike apart:
    # A: 100/105, 105/110; B: 100/102.5, 102.5/105. Never across expiries.
    a, b = date(2025, 2, 7), date(2025, 2, 14)
    chain = chain_of(
        [100.0, 105.0, 110.0, 100.0, 102.5, 105.0],
        [2.0, 1.0, 0.3, 2.2, 1.6, 1.1],
        [2.1, 1.1, 0.4, 2.3, 1.7, 1.2],
        [0.5, 0.3, 0.1, 0.5, 0.4, 0.3],
        [0.25] * 6,
        expiry=[a, a, a, b, b, b],
    )
    sel = select_spreads(chain, SPOT, "LONG", ASOF, SelectionSettings(max_strikes_apart=1), PRICING)
    pairs = list(
        zip(
            chain.expiry[sel.candidate_long_row].astype(str).tolist(),
            chain.strike[sel.candidate_long_row].tolist(),
            chain.strike[sel.candidate_short_row].tolist(),
            strict=True,
        )
    )
    assert pairs == [
        ("2025-02-07", 100.0, 105.0),
        ("2025-02-07", 105.0, 110.0),
        ("2025-02-14", 100.0, 102.5),
        ("2025-02-14", 102.5, 105.0),
    ]


def test_put_candidates_go_down_in_strike() -> None:
    sel = select_spreads(
        worked_short_chain(), SPOT, "SHORT", ASOF, SelectionSettings(max_strikes_apart=2), PRICING
    )
    chain = worked_short_chain()
    longs = chain.strike[sel.candidate_long_row]
    shorts = chain.strike[sel.candidate_short_row]
    assert (shorts < longs).all()
    assert list(zip(longs.tolist(), shorts.tolist(), strict=True)) == [
        (85.0, 80.0), (90.0, 85.0), (90.0, 80.0), (95.0, 90.0), (95.0, 85.0),
        (100.0, 95.0), (100.0, 90.0), (105.0, 100.0), (105.0, 95.0),
    ]  # fmt: skip


def test_empty_chain_and_chain_without_the_wanted_right() -> None:
    empty = chain_of([], [], [], [], [])
    sel = select_spreads(empty, SPOT, "LONG", ASOF, SEL, PRICING)
    assert sel.candidates == 0 and len(sel) == 0
    assert sel.rejected == dict.fromkeys(REJECT_REASONS, 0)
    assert select_spreads(worked_long_chain(), SPOT, "SHORT", ASOF, SEL, PRICING).candidates == 0


# --- ranking -------------------------------------------------------------------------------


def test_ties_keep_candidate_order() -> None:
    # DTE 0 (allowed by min_dte = 0): POP is 1 or 0 (spot beyond breakeven or not), so
    # spreads with equal debit and width tie on all three keys.
    chain = chain_of(
        [100.0, 105.0, 110.0, 115.0],
        [1.40, 1.40, 1.40, 0.00],
        [1.50, 1.50, 1.50, 0.05],
        [0.45, 0.40, 0.35, 0.05],
        [0.3] * 4,
        expiry=ASOF,
    )
    s = SelectionSettings(min_dte=0, max_dte=45, max_strikes_apart=1)
    sel = select_spreads(chain, SPOT, "LONG", ASOF, s, PRICING)
    # One strike apart: 100/105 D = 1.50 - 1.40 = 0.10, W = 5, R/R 49, cost 10, BE 100.10,
    # POP 0; 105/110 exactly the same numbers (BE 105.10, POP 0): a full tie, kept in
    # candidate order; 110/115 D = 1.50 - 0.00 = 1.50, R/R 2.33 last.
    assert sel.long_strike.tolist() == [100.0, 105.0, 110.0]
    assert sel.pop.tolist() == [0.0, 0.0, 0.0]
    assert sel.candidate.tolist() == [0, 1, 2]
    assert sel.reward_risk[0] == sel.reward_risk[1]


def test_pop_breaks_reward_risk_ties_then_cost() -> None:
    # Two expiries, the same quotes: equal R/R and cost; the longer one has the higher POP
    # (more time for an OTM breakeven), so it ranks first although it comes later.
    near, far = date(2025, 2, 3), date(2025, 2, 14)  # 32 and 43 DTE
    chain = chain_of(
        [105.0, 110.0, 105.0, 110.0],
        [2.30, 1.00, 2.30, 1.00],
        [2.50, 1.10, 2.50, 1.10],
        [0.45, 0.30, 0.45, 0.30],
        [0.24, 0.23, 0.24, 0.23],
        expiry=[near, near, far, far],
    )
    sel = select_spreads(chain, SPOT, "LONG", ASOF, SEL, PRICING)
    assert sel.dte.tolist() == [43, 32]
    assert sel.pop[0] > sel.pop[1]
    assert sel.candidate.tolist() == [1, 0]


def test_rank_order_sorts_by_cost_last() -> None:
    rr = np.array([2.0, 2.0, 3.0, 2.0])
    pop = np.array([0.3, 0.3, 0.1, 0.4])
    cost = np.array([200.0, 100.0, 500.0, 300.0])
    assert rank_order(rr, pop, cost).tolist() == [2, 3, 1, 0]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([1.5, 2.0, 3.0]),
            st.sampled_from([0.1, 0.2]),
            st.sampled_from([100.0, 200.0]),
        ),
        max_size=30,
    )
)
def test_rank_order_is_lexicographic_and_stable(rows: list[tuple[float, float, float]]) -> None:
    rr, pop, cost = (np.array(c, dtype=float) for c in zip(*rows, strict=True)) if rows else (
        np.array([]), np.array([]), np.array([])
    )  # fmt: skip
    expected = sorted(range(len(rows)), key=lambda i: (-rows[i][0], -rows[i][1], rows[i][2], i))
    assert rank_order(rr, pop, cost).tolist() == expected


# --- properties over messy chains ----------------------------------------------------------

MARKERS = [NAN, -1.0, -2.0, MARKER, math.inf]


@st.composite
def messy_chains(draw: st.DrawFn) -> tuple[OptionChain, float, str, SelectionSettings]:
    """Black-Scholes-shaped quotes (so that spreads survive), then corrupted at random.

    Each row: price from bs_price at its own vol, bid/ask around it on a 5-cent grid (many
    exact ties), delta from bs_greeks; about one row in six gets a marker, NaN or a wrong
    value in one of its fields.
    """
    spot = draw(st.floats(60.0, 110.0))
    n_strikes = draw(st.integers(1, 9))
    strikes = sorted(draw(st.sets(st.integers(24, 48), min_size=n_strikes, max_size=n_strikes)))
    dtes = draw(st.lists(st.sampled_from([0, 20, 30, 36, 45, 60]), min_size=1, max_size=3,
                         unique=True))  # fmt: skip
    rows = [(d, s * 2.5, c) for d in dtes for s in strikes for c in (True, False)]
    n = len(rows)
    dte = np.array([d for d, _, _ in rows], dtype=float)
    strike = np.array([k for _, k, _ in rows])
    is_call = np.array([c for _, _, c in rows])
    iv = np.array(draw(st.lists(st.sampled_from([0.2, 0.3, 0.5, 0.8]), min_size=n, max_size=n)))
    g = bs_greeks(spot, strike, dte / 365, 0.04, 0.0, iv, is_call)
    half = np.array(draw(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.25]), min_size=n,
                                  max_size=n)))  # fmt: skip
    bid = np.maximum(np.round((g.price - half) / 0.05) * 0.05, 0.0)
    ask = np.round((g.price + half) / 0.05) * 0.05 + 0.05
    delta = g.delta.copy()
    flaws = draw(st.lists(st.tuples(st.integers(0, 23), st.sampled_from(MARKERS), st.floats(-1, 1)),
                          min_size=n, max_size=n))  # fmt: skip
    for i, (flaw, marker, junk) in enumerate(flaws):
        if flaw == 0:
            bid[i] = marker
        elif flaw == 1:
            ask[i] = marker
        elif flaw == 2:
            delta[i] = marker if marker != -1.0 else -2.0
        elif flaw == 3:
            iv[i] = marker if marker != -2.0 else 0.0
        elif flaw == 4:
            bid[i], ask[i] = ask[i] + 0.05, bid[i]  # crossed
        elif flaw == 5:
            delta[i] = junk  # any sign
    chain = OptionChain(
        expiry=[ASOF + timedelta(days=int(d)) for d in dte],
        strike=strike, is_call=is_call, bid=bid, ask=ask, delta=delta, iv=iv,
    )  # fmt: skip
    direction = draw(st.sampled_from(["LONG", "SHORT"]))
    s = SelectionSettings(
        min_dte=draw(st.sampled_from([0, 30])),
        max_dte=draw(st.sampled_from([45, 90])),
        max_strikes_apart=draw(st.integers(1, 5)),
        min_delta=draw(st.sampled_from([0.0, 0.3])),
        max_delta=draw(st.sampled_from([0.5, 1.0])),
        max_spread_cost=draw(st.sampled_from([300.0, 500.0, 5000.0])),
        min_reward_risk=draw(st.sampled_from([0.0, 0.5, 1.5])),
    )
    return chain, spot, direction, s


def reference_reasons(
    chain: OptionChain, direction: str, s: SelectionSettings
) -> dict[tuple[int, int], str]:
    """SPEC 5's checks written pair by pair, the slow obvious way."""
    call = direction == "LONG"

    def quote_ok(i: int) -> bool:
        b, a = float(chain.bid[i]), float(chain.ask[i])
        if not (math.isfinite(b) and math.isfinite(a)) or MARKER in (b, a):
            return False
        return a > 0 and b >= 0 and b <= a

    def greeks_ok(i: int) -> bool:
        d, v = float(chain.delta[i]), float(chain.iv[i])
        d_ok = (0 <= d <= 1) if call else (-1 <= d <= 0)
        return d_ok and math.isfinite(v) and v > 0 and v != MARKER

    out: dict[tuple[int, int], str] = {}
    expiries = chain.expiry.tolist()
    for expiry in sorted(set(expiries)):
        rows = [i for i in range(len(chain)) if expiries[i] == expiry and chain.is_call[i] == call]
        rows.sort(key=lambda i: float(chain.strike[i]), reverse=not call)  # OTM direction
        for a, li in enumerate(rows):
            for si in rows[a + 1 : a + 1 + s.max_strikes_apart]:
                dte = (expiry - ASOF).days
                d = float(chain.ask[li]) - float(chain.bid[si])
                w = abs(float(chain.strike[si]) - float(chain.strike[li]))
                if not (quote_ok(li) and quote_ok(si)):
                    r = "BAD_QUOTE"
                elif not (greeks_ok(li) and greeks_ok(si)):
                    r = "NO_GREEKS"
                elif not s.min_dte <= dte <= s.max_dte:
                    r = "DTE"
                elif not s.min_delta <= abs(float(chain.delta[li])) <= s.max_delta:
                    r = "DELTA"
                elif d <= 0 or d * s.multiplier > s.max_spread_cost + 1e-9:
                    r = "COST"
                elif (w - d) / d < s.min_reward_risk - 1e-9:
                    r = "REWARD_RISK"
                else:
                    r = "KEPT"
                out[(li, si)] = r
    return out


@settings(max_examples=150, deadline=None)
@given(messy_chains())
def test_messy_chains_never_crash_and_obey_the_invariants(
    case: tuple[OptionChain, float, str, SelectionSettings],
) -> None:
    chain, spot, direction, s = case
    sel = select_spreads(chain, spot, direction, ASOF, s, PRICING)

    # every candidate has exactly the reason the pair-by-pair reference gives
    got = dict(
        zip(
            zip(sel.candidate_long_row.tolist(), sel.candidate_short_row.tolist(), strict=True),
            sel.candidate_reason_names.tolist(),
            strict=True,
        )
    )
    assert got == reference_reasons(chain, direction, s)
    assert sel.candidates == len(got)
    assert list(sel.rejected) == list(REJECT_REASONS)
    assert sel.rejected == {r: sum(v == r for v in got.values()) for r in REJECT_REASONS}
    assert sel.candidates == len(sel) + sum(sel.rejected.values())

    # kept spreads: finite, consistent money, POP a probability
    d = sel.to_dict()
    json.dumps(d, allow_nan=False)
    for name in ("debit", "mid_debit", "width", "cost", "max_profit", "max_loss",
                 "reward_risk", "breakeven", "pop", "net_delta", "long_delta"):  # fmt: skip
        assert np.isfinite(getattr(sel, name)).all(), name
    np.testing.assert_allclose(
        sel.max_profit + sel.max_loss, sel.width * s.multiplier, rtol=1e-12, atol=1e-9
    )
    assert ((sel.pop >= 0) & (sel.pop <= 1)).all()
    assert (sel.debit > 0).all()
    assert (sel.cost <= s.max_spread_cost + 1e-9).all()
    assert (sel.is_call == (direction == "LONG")).all()
    np.testing.assert_allclose(
        sel.breakeven,
        np.where(sel.is_call, sel.long_strike + sel.debit, sel.long_strike - sel.debit),
    )

    # ranking: lexicographic (R/R desc, POP desc, cost asc), ties in candidate order
    keys = list(zip((-sel.reward_risk).tolist(), (-sel.pop).tolist(), sel.cost.tolist(),
                    sel.candidate.tolist(), strict=True))  # fmt: skip
    assert keys == sorted(keys)
    assert (sel.candidate_reason[sel.candidate] == Reason.KEPT).all()


@settings(max_examples=40, deadline=None)
@given(st.lists(messy_chains(), min_size=1, max_size=4))
def test_batch_equals_one_call_per_chain(
    cases: list[tuple[OptionChain, float, str, SelectionSettings]],
) -> None:
    s = cases[0][3]
    requests = [SpreadRequest(c, spot, d) for c, spot, d, _ in cases]
    batch = select_spreads_batch(requests, ASOF, s, PRICING)
    assert len(batch) == len(requests)
    for got, req in zip(batch, requests, strict=True):
        one = select_spreads(req.chain, req.spot, req.direction, ASOF, s, PRICING)
        assert got.to_dict() == one.to_dict()
        np.testing.assert_array_equal(got.candidate_reason, one.candidate_reason)
        np.testing.assert_array_equal(got.candidate_long_row, one.candidate_long_row)
        np.testing.assert_array_equal(got.long_row, one.long_row)


# --- output ----------------------------------------------------------------------------------


def test_to_dict_shape() -> None:
    sel = select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, SEL, PRICING)
    d = sel.to_dict()
    assert list(d) == ["candidates", "rejected", "spreads"]
    assert d["candidates"] == 14
    assert d["rejected"] == {
        "BAD_QUOTE": 0, "NO_GREEKS": 0, "DTE": 0, "DELTA": 9, "COST": 0, "REWARD_RISK": 0,
    }  # fmt: skip
    last = d["spreads"][4]
    assert list(last) == [
        "expiry", "right", "long_strike", "short_strike", "debit", "width", "cost",
        "max_profit", "max_loss", "reward_risk", "breakeven", "pop", "net_delta", "long_delta",
    ]  # fmt: skip
    assert last["expiry"] == "20250207"
    assert last["right"] == "C"
    assert last["long_strike"] == 105.0 and last["short_strike"] == 110.0
    assert last["reward_risk"] == 3.5 / 1.5  # full precision, not rounded for display
    assert all(type(v) is float for k, v in last.items() if k not in ("expiry", "right"))
    assert all(type(k) is str for k in d["rejected"])
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    short = select_spreads(worked_short_chain(), SPOT, "SHORT", ASOF, SEL, PRICING).to_dict()
    assert short["spreads"][0]["right"] == "P"


def test_format_table() -> None:
    sel = select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, SEL, PRICING)
    text = format_table(sel)
    lines = text.splitlines()
    assert len(lines) == 1 + 5 + 1
    assert "R/R" in lines[0] and "POP" in lines[0]
    assert lines[1].split()[:10] == [
        "1", "20250207", "C", "110.00", "120.00", "1.00", "10.00", "100.00", "900.00", "9.00",
    ]  # fmt: skip
    assert lines[5].split()[-4:] == ["106.50", "20.1%", "0.150", "0.450"]
    assert lines[-1] == (
        "14 candidates, 5 kept; rejected: BAD_QUOTE 0, NO_GREEKS 0, DTE 0, DELTA 9, COST 0, "
        "REWARD_RISK 0"
    )
    short = format_table(sel, limit=2).splitlines()
    assert len(short) == 1 + 2 + 2
    assert short[3] == "... 3 more not shown"


def test_format_table_without_spreads() -> None:
    sel = select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, SelectionSettings(
        min_dte=40, max_dte=45), PRICING)  # fmt: skip
    assert format_table(sel).splitlines() == [
        "no spread passed the filters",
        "14 candidates, 0 kept; rejected: BAD_QUOTE 0, NO_GREEKS 0, DTE 14, DELTA 0, COST 0, "
        "REWARD_RISK 0",
    ]


# --- inputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spot", [NAN, 0.0, -5.0, math.inf, MARKER])
def test_unusable_spot_is_refused(spot: float) -> None:
    with pytest.raises(ValueError, match="spot"):
        select_spreads(worked_long_chain(), spot, "LONG", ASOF, SEL, PRICING)


def test_unknown_direction_is_refused() -> None:
    with pytest.raises(ValueError, match="direction"):
        select_spreads(worked_long_chain(), SPOT, "BULL", ASOF, SEL, PRICING)


def test_chain_sorts_rows_and_keeps_them_together() -> None:
    chain = OptionChain(
        expiry=np.array(["2025-02-14", "2025-02-07", "2025-02-07", "2025-02-07"], "datetime64[D]"),
        strike=[100.0, 105.0, 100.0, 100.0],
        is_call=np.array([True, True, True, False]),
        bid=[1.0, 2.0, 3.0, 4.0],
        ask=[1.1, 2.1, 3.1, 4.1],
        delta=[0.5, 0.4, 0.6, -0.4],
        iv=[0.2, 0.3, 0.4, 0.5],
        con_id=[11, 22, 33, 44],
    )
    assert chain.con_id.tolist() == [44, 33, 22, 11]  # puts before calls, strike ascending
    assert chain.bid.tolist() == [4.0, 3.0, 2.0, 1.0]
    assert chain.right.tolist() == ["P", "C", "C", "C"]
    assert np.isnan(chain.gamma).all()
    with pytest.raises(ValueError):
        chain.bid[0] = 9.0  # read-only: the validated order cannot be broken


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"strike": [100.0, 100.0]}, ValueError),  # duplicate contract
        ({"strike": [100.0, NAN]}, ValueError),
        ({"strike": [100.0, 0.0]}, ValueError),
        ({"bid": [1.0]}, ValueError),  # wrong length
        ({"expiry": [20250207, 20250207]}, TypeError),  # ints are not dates
        ({"expiry": np.array(["2025-02-07", "NaT"], "datetime64[D]")}, ValueError),
        ({"is_call": ["C", "C"]}, TypeError),
    ],
)
def test_chain_refuses_malformed_arrays(kwargs: dict[str, Any], error: type[Exception]) -> None:
    good: dict[str, Any] = {
        "expiry": np.array(["2025-02-07"] * 2, "datetime64[D]"),
        "strike": [100.0, 105.0],
        "is_call": np.array([True, True]),
        "bid": [1.0, 0.5],
        "ask": [1.1, 0.6],
        "delta": [0.4, 0.2],
        "iv": [0.3, 0.3],
    }
    with pytest.raises(error):
        OptionChain(**(good | kwargs))


def test_selection_type_is_exported() -> None:
    sel = select_spreads(worked_long_chain(), SPOT, "LONG", ASOF, SEL, PRICING)
    assert isinstance(sel, SpreadSelection)
    assert len(sel) == 5
