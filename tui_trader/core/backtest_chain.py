"""SPEC 12's synthetic option market: chains, their best spread, and the legs' quotes later.

There is no historical option data, so every option is priced by Black-Scholes
(:func:`tui_trader.core.options.bs_price` / ``bs_greeks``, SPEC 5's model with the
``[pricing]`` rate and dividend yield) at the day's sigma, and quoted around that mid:
``bid = max(0, mid - h)``, ``ask = mid + h``, ``h = max(min_half_spread, half_spread_pct *
mid)``. The chosen spread is SPEC 5's selection on that chain
(:func:`tui_trader.core.spreads.select_spreads_flat`), for thousands of chains per call.

Decisions (the README carries them):

- **Expiries** are the Fridays whose calendar DTE lies in [min_dte, max_dte]; holidays are
  not moved (SPEC 12 says Fridays). **Strikes** are k * step for every integer k from
  floor(0.7 * spot / step) to ceil(1.3 * spot / step), k >= 1 (a strike of 0 is no option).
- **Only the rows selection can use are priced.** The chain holds the wanted right only
  (SPEC 5 pairs a LONG's calls, a SHORT's puts), and per expiry only the strikes whose
  long-leg delta can lie in [min_delta, max_delta] (found by inverting the delta formula,
  with a relative slack of 1e-7 against rounding), plus ``max_strikes_apart`` further
  out of the money. Delta falls monotonically with the strike, so every candidate pair with
  a delta-eligible long leg is in the pruned chain with the same "k listed strikes apart";
  the others are rejected by SPEC 5 anyway, and the exact delta check is SPEC 5's own.
  An expiry with DTE 0 (possible only when min_dte = 0) is priced whole.
- **Ties** in SPEC 5's ranking (equal reward/risk, POP and cost) go to the nearer expiry,
  then the long strike nearer the spot, then the narrower spread, then the lower long
  strike (two long strikes equally far from the spot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri

from tui_trader.core.options import bs_price, bs_price_delta
from tui_trader.core.settings import BacktestSettings, PricingSettings, Settings
from tui_trader.core.spreads import ChainColumns, FlatSelection, select_spreads_flat

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

DAYS_PER_YEAR = 365.0
_FRIDAY = 1  # 1970-01-02, day 1 of numpy's calendar, was a Friday
#: Relative widening of the inverted strike bounds against float noise: a strike that far
#: beyond a bound has a delta ~1e-6 outside the window, rounding errors are ~1e-15.
_SLACK = 1e-7


def strike_step(spot: FloatArray) -> FloatArray:
    """SPEC 12: 1.0 below 100, 2.5 below 250, else 5.0."""
    out: FloatArray = np.where(spot < 100.0, 1.0, np.where(spot < 250.0, 2.5, 5.0))
    return out


def friday_expiries(day: IntArray, min_dte: int, max_dte: int) -> tuple[IntArray, IntArray]:
    """Every Friday with calendar DTE in [min_dte, max_dte] for each day (numpy day
    numbers): (index of the day it belongs to, expiry day number), day-major, ascending."""
    first = day + min_dte
    first = first + (_FRIDAY - first) % 7
    count = np.maximum(0, (day + max_dte - first) // 7 + 1)
    owner = np.repeat(np.arange(day.shape[0], dtype=np.int64), count)
    starts = np.cumsum(count) - count
    nth = np.arange(owner.shape[0], dtype=np.int64) - starts[owner]
    return owner, first[owner] + 7 * nth


def quotes(
    spot: FloatArray,
    strike: FloatArray,
    dte: IntArray,
    sigma: FloatArray,
    is_call: BoolArray | bool,
    pricing: PricingSettings,
    bt: BacktestSettings,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mid, bid, ask) of synthetic options: BS at sigma, T = max(DTE, 0) / 365 (intrinsic
    value at T = 0), quoted ``h`` either side (module doc). No rounding."""
    t = np.maximum(dte, 0) / DAYS_PER_YEAR
    mid = bs_price(spot, strike, t, pricing.risk_free_rate, pricing.dividend_yield, sigma, is_call)
    return (mid, *_bid_ask(mid, bt))


def _bid_ask(mid: FloatArray, bt: BacktestSettings) -> tuple[FloatArray, FloatArray]:
    h = np.maximum(bt.min_half_spread, bt.half_spread_pct * mid)
    return np.maximum(0.0, mid - h), mid + h


@dataclass(frozen=True, slots=True, eq=False)
class BestSpreads:
    """The spread a back-test would open per request (``found`` False: no spread passed).

    Arrays per request; where ``found`` is False the other values are meaningless.
    ``expiry`` is a numpy day number; ``debit`` the natural debit D per share.
    """

    found: BoolArray
    expiry: IntArray
    long_strike: FloatArray
    short_strike: FloatArray
    debit: FloatArray
    width: FloatArray
    reward_risk: FloatArray
    pop: FloatArray


def _strike_window(
    spot: FloatArray, sigma: FloatArray, t: FloatArray, want_call: BoolArray, settings: Settings
) -> tuple[FloatArray, FloatArray]:
    """Strike bounds (K_lo, K_hi) where the long leg's |delta| can lie in the SPEC 5 window:
    call delta = e^-qT N(d1), put delta = -e^-qT N(-d1), d1 = (ln(S/K) + (r - q + s^2/2)T)
    / (s sqrt T), solved for K. Infinite bounds where the window is open on a side."""
    r, q = settings.pricing.risk_free_rate, settings.pricing.dividend_yield
    sel = settings.selection
    grow = np.exp(q * t)
    lo_p = np.minimum(sel.min_delta * grow, 1.0)
    hi_p = np.minimum(sel.max_delta * grow, 1.0)
    # N(d1) bounds: calls [lo_p, hi_p]; puts [1 - hi_p, 1 - lo_p].
    n_lo = np.where(want_call, lo_p, 1.0 - hi_p)
    n_hi = np.where(want_call, hi_p, 1.0 - lo_p)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d1_lo, d1_hi = ndtri(n_lo), ndtri(n_hi)
        vst = sigma * np.sqrt(t)
        drift = (r - q + 0.5 * sigma * sigma) * t
        k_lo = spot * np.exp(drift - d1_hi * vst)
        k_hi = spot * np.exp(drift - d1_lo * vst)
    return np.nan_to_num(k_lo, nan=0.0, posinf=np.inf), np.nan_to_num(k_hi, nan=np.inf)


def best_spreads(
    day: IntArray,
    spot: FloatArray,
    sigma: FloatArray,
    want_call: BoolArray,
    settings: Settings,
) -> BestSpreads:
    """SPEC 12's chosen spread for each request (numpy day number, spot, sigma, LONG?):
    SPEC 5 on the synthetic chain, best-ranked, ties as in the module doc."""
    n = int(day.shape[0])
    sel, bt, pricing = settings.selection, settings.backtest, settings.pricing
    owner, expiry = friday_expiries(day, sel.min_dte, sel.max_dte)
    e_spot, e_sigma, e_call = spot[owner], sigma[owner], want_call[owner]
    e_dte = expiry - day[owner]
    e_t = e_dte / DAYS_PER_YEAR
    step = strike_step(e_spot)
    k_first = np.maximum(1, np.floor(0.7 * e_spot / step)).astype(np.int64)
    k_last = np.ceil(1.3 * e_spot / step).astype(np.int64)

    k_lo_price, k_hi_price = _strike_window(e_spot, e_sigma, e_t, e_call, settings)
    with np.errstate(invalid="ignore", over="ignore"):
        lo = np.clip(np.ceil(k_lo_price * (1.0 - _SLACK) / step), k_first, k_last + 1)
        hi = np.clip(np.floor(k_hi_price * (1.0 + _SLACK) / step), k_first - 1, k_last)
    m = sel.max_strikes_apart
    lo = np.where(e_call, lo, lo - m).astype(np.int64)
    hi = np.where(e_call, hi + m, hi).astype(np.int64)
    whole = e_dte <= 0
    lo = np.where(whole, k_first, np.maximum(lo, k_first))
    hi = np.where(whole, k_last, np.minimum(hi, k_last))
    rows_per = np.maximum(0, hi - lo + 1)

    # Rows: per (request, expiry), strikes lo..hi ascending; chains are request-major.
    e_of_row = np.repeat(np.arange(owner.shape[0], dtype=np.int64), rows_per)
    starts = np.cumsum(rows_per) - rows_per
    k = lo[e_of_row] + (np.arange(e_of_row.shape[0], dtype=np.int64) - starts[e_of_row])
    strike = k * step[e_of_row]
    r_spot, r_sigma, r_call = e_spot[e_of_row], e_sigma[e_of_row], e_call[e_of_row]
    r_dte = e_dte[e_of_row]
    price, delta = bs_price_delta(
        r_spot,
        strike,
        np.maximum(r_dte, 0) / DAYS_PER_YEAR,
        pricing.risk_free_rate,
        pricing.dividend_yield,
        r_sigma,
        r_call,
    )
    bid, ask = _bid_ask(price, bt)
    sizes = np.bincount(owner[e_of_row], minlength=n).astype(np.int64)
    columns = ChainColumns(
        sizes=sizes,
        expiry=expiry[e_of_row].astype("datetime64[D]"),
        strike=strike,
        is_call=r_call,
        bid=bid,
        ask=ask,
        delta=delta,
        iv=r_sigma,
    )
    flat = select_spreads_flat(
        columns, spot, want_call, day.astype("datetime64[D]"), sel, pricing, top_only=True
    )
    return _pick(flat, spot, n)


def _pick(flat: FlatSelection, spot: FloatArray, n: int) -> BestSpreads:
    """The best-ranked spread per chain, ties broken as the module doc says."""
    bounds = flat.kept_bounds
    found = bounds[1:] > bounds[:-1]
    first = np.minimum(bounds[:-1], max(flat.group.shape[0] - 1, 0))
    chosen = first.copy()
    if flat.group.shape[0]:
        grp = flat.group
        f = first[grp]
        tied = (
            (flat.reward_risk == flat.reward_risk[f])
            & (flat.pop == flat.pop[f])
            & (flat.cost == flat.cost[f])
        )
        idx = np.flatnonzero(tied)
        if idx.shape[0] > int(found.sum()):  # some chain has a tie to break
            dist = np.abs(flat.long_strike[idx] - spot[grp[idx]])
            order = np.lexsort(
                (
                    flat.long_strike[idx],
                    flat.width[idx],
                    dist,
                    flat.expiry[idx].astype(np.int64),
                    grp[idx],
                )
            )
            idx = idx[order]
            g_sorted = grp[idx]
            lead = np.ones(idx.shape[0], dtype=bool)
            lead[1:] = g_sorted[1:] != g_sorted[:-1]
            chosen[g_sorted[lead]] = idx[lead]
    pick = np.where(found, chosen, 0)
    if flat.group.shape[0] == 0:
        nan = np.full(n, np.nan)
        return BestSpreads(found, np.zeros(n, np.int64), nan, nan, nan, nan, nan, nan)
    return BestSpreads(
        found=found,
        expiry=flat.expiry[pick].astype(np.int64),
        long_strike=flat.long_strike[pick],
        short_strike=flat.short_strike[pick],
        debit=flat.debit[pick],
        width=flat.width[pick],
        reward_risk=flat.reward_risk[pick],
        pop=flat.pop[pick],
    )
