"""Throughput of SPEC 5 spread selection: candidate pairs evaluated per second.

A synthetic market of many underlyings, each with several expiries of ~80 strikes per right,
quoted from Black-Scholes with a volatility skew (and a sprinkling of IB "no value"
markers), goes through the real ranking code: :func:`select_spreads_batch` for the whole
market in one call (what the scanner does) and :func:`select_spreads` per chain. The figure
is candidates / median wall time over repeats, measured with ``perf_counter``.

Run: ``python -m pytest tests/benchmarks/test_bench_spreads.py -p no:cacheprovider -o addopts=""``
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np

from tui_trader.core.options import bs_greeks
from tui_trader.core.settings import PricingSettings, SelectionSettings
from tui_trader.core.spreads import (
    Direction,
    OptionChain,
    SpreadRequest,
    select_spreads,
    select_spreads_batch,
)

ASOF = date(2025, 1, 2)
N_UNDERLYINGS = 200
EXPIRY_DTES = (9, 16, 23, 30, 37, 44, 58, 86)
N_STRIKES = 80
TARGET_PER_S = 5_000_000


def _chain(rng: np.random.Generator, spot: float) -> OptionChain:
    """Strikes spaced ~1 % of spot; IV = base + put skew + smile; 0.01-tick quotes."""
    step = max(0.5, round(spot * 0.01 * 2) / 2)
    strikes = np.round(spot / step) * step + step * np.arange(-N_STRIKES // 2, N_STRIKES // 2)
    strikes = strikes[strikes > 0]
    dtes = np.array(EXPIRY_DTES)
    base = rng.uniform(0.15, 0.6)
    k, d, c = np.meshgrid(strikes, dtes, np.array([False, True]), indexing="ij")
    k, d, c = k.ravel(), d.ravel(), c.ravel()
    m = np.log(k / spot)
    iv = np.clip(base - 0.3 * m + 0.8 * m * m, 0.05, 3.0)
    g = bs_greeks(spot, k, d / 365.0, 0.04, 0.0, iv, c)
    half = np.maximum(0.01, 0.02 * g.price)
    bid = np.maximum(np.round(g.price - half, 2), 0.0)
    ask = np.maximum(np.round(g.price + half, 2), 0.01)
    marker = rng.random(k.shape[0])
    bid = np.where(marker < 0.01, -1.0, bid)
    ask = np.where((marker >= 0.01) & (marker < 0.015), 1.7976931348623157e308, ask)
    delta = np.where(marker > 0.995, -2.0, g.delta)
    expiry = np.datetime64(ASOF, "D") + d.astype("timedelta64[D]")
    return OptionChain(expiry=expiry, strike=k, is_call=c, bid=bid, ask=ask, delta=delta, iv=iv)


def _market() -> list[SpreadRequest]:
    rng = np.random.default_rng(20250102)
    requests = []
    for i in range(N_UNDERLYINGS):
        spot = float(rng.uniform(20.0, 600.0))
        direction: Direction = "LONG" if i % 2 == 0 else "SHORT"
        requests.append(SpreadRequest(_chain(rng, spot), spot, direction))
    return requests


def _median_seconds(run: Callable[[], object], repeats: int = 7) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_batch_selection_throughput() -> None:
    requests = _market()
    selection, pricing = SelectionSettings(), PricingSettings()
    results = select_spreads_batch(requests, ASOF, selection, pricing)
    candidates = sum(r.candidates for r in results)
    kept = sum(len(r) for r in results)
    # Sanity: the market is realistic enough that every filter fires and some spreads survive.
    assert kept > 0
    assert all(sum(r.rejected[k] for r in results) > 0 for k in results[0].rejected)

    seconds = _median_seconds(lambda: select_spreads_batch(requests, ASOF, selection, pricing))
    per_s = candidates / seconds
    print(
        f"\nselect_spreads_batch: {N_UNDERLYINGS} chains, {candidates:,} candidates, "
        f"{kept:,} kept, median {seconds * 1e3:.1f} ms -> {per_s / 1e6:.1f} M candidates/s"
    )
    assert per_s >= TARGET_PER_S


def test_per_chain_selection_throughput() -> None:
    """One call per underlying: the figure the CLI's single-chain path achieves."""
    requests = _market()[:50]
    selection, pricing = SelectionSettings(), PricingSettings()
    candidates = sum(
        select_spreads(r.chain, r.spot, r.direction, ASOF, selection, pricing).candidates
        for r in requests
    )

    def run() -> None:
        for r in requests:
            select_spreads(r.chain, r.spot, r.direction, ASOF, selection, pricing)

    seconds = _median_seconds(run)
    per_s = candidates / seconds
    print(
        f"\nselect_spreads per chain: {len(requests)} chains, {candidates:,} candidates, "
        f"median {seconds * 1e3:.1f} ms -> {per_s / 1e6:.1f} M candidates/s"
    )
    # Per-call numpy overhead dominates small chains; the batch API is the fast path.
    assert per_s >= TARGET_PER_S / 2
