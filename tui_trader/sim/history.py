"""The generator of the simulated market's daily history.

The model, per symbol, one step per session:
- a drift regime (bull / bear / sideways, drifting +1.0 / -1.0 / +0.2 long-run vols a
  year, so a quiet ETF trends gently and a volatile stock hard), a Markov chain that stays put with
  probability ``REGIME_STAY`` a day (regimes last ~50 sessions), so trends long enough for
  SMA50 to cross SMA200 form and reverse, and all four SPEC strategies find setups;
- stochastic volatility: the log of the volatility multiplier is an Ornstein-Uhlenbeck
  process around the symbol's long-run vol (bear regimes add 30 %);
- daily shocks are Student-t (5 degrees of freedom, unit variance: fat tails) and
  correlated with one market factor through the ticker's ``market_corr``; the factor's
  draws are demeaned, so an unlucky seed cannot crash the whole market over two years;
- overnight gaps: a quarter of a day's sigma of noise at the open, plus rare jumps
  (earnings-like, 1.5 % of days for stocks, 0.3 % for ETFs) of about 3 daily sigmas;
- OHLC: high/low extend beyond max/min(open, close) by half-normal excursions, so
  high >= max(open, close) and low <= min(open, close) by construction;
- volume: lognormal noise around the typical volume, higher on big moves and in
  high-volatility spells.
The log-price path is shifted so the last close lands within a few percent of the
ticker's table price (today's believable level), whatever the path did before.

Random numbers come from one stream per symbol (seeded by the seed and the symbol) plus
one for the market factor, so a symbol's history does not depend on which other symbols
are simulated, and the whole universe is generated with numpy over symbols: the only
Python loop runs over the sessions for the two recursions (regime chain and log-vol).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray

from tui_trader.sim.universe import TickerInfo

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

TRADING_DAYS = 252.0
BULL, BEAR, SIDEWAYS = 0, 1, 2
REGIME_DRIFT = np.array([1.0, -1.0, 0.2])  # annualised log drift per regime, in base vols
REGIME_VOL = np.array([0.9, 1.3, 1.0])  # volatility multiplier per regime
REGIME_STAY = 0.98
LOGVOL_PHI = 0.97  # daily persistence of the log-vol deviation
LOGVOL_ETA = 0.07  # daily shock to the log-vol deviation
LOGVOL_SD = LOGVOL_ETA / np.sqrt(1.0 - LOGVOL_PHI**2)  # its stationary spread
T_DOF = 5.0
GAP_NOISE = 0.25  # overnight noise, in daily sigmas
JUMP_SIZE = 3.0  # jump sd, in daily sigmas
INTRADAY_SHARE = 0.9  # intraday sigma / daily sigma, for the high/low excursions
ANCHOR_SD = 0.03  # spread of the last close around the table price


@dataclass(frozen=True, slots=True)
class History:
    """Daily bars (symbols x sessions) and the model state after the last session."""

    symbols: tuple[str, ...]
    days: tuple[date, ...]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    logvol: FloatArray  # per symbol: log-vol deviation after the last session
    regime: IntArray  # per symbol: regime after the last session

    def sigma(self, base_vol: FloatArray) -> FloatArray:
        """Annualised volatility each symbol is in after the last session."""
        out: FloatArray = (
            base_vol * np.exp(self.logvol - 0.5 * LOGVOL_SD**2) * REGIME_VOL[self.regime]
        )
        return out


def symbol_rng(seed: int, symbol: str, stream: int) -> np.random.Generator:
    """A random stream owned by one symbol (``stream`` separates uses: history, intraday)."""
    return np.random.default_rng([seed, zlib.crc32(symbol.encode()), stream])


def student_t(rng: np.random.Generator, size: int | tuple[int, ...]) -> FloatArray:
    """Student-t draws scaled to unit variance."""
    out: FloatArray = rng.standard_t(T_DOF, size) / np.sqrt(T_DOF / (T_DOF - 2.0))
    return out


def generate_history(infos: Sequence[TickerInfo], days: Sequence[date], seed: int) -> History:
    """Daily OHLCV for ``infos`` on ``days`` (oldest first), deterministic for ``seed``."""
    n, t = len(infos), len(days)
    if t < 2:
        raise ValueError(f"need at least 2 sessions of history, got {t}")
    draws = np.empty((8, n, t))
    first = np.empty((3, n))
    for i, info in enumerate(infos):
        rng = symbol_rng(seed, info.symbol, 0)
        draws[0, i] = rng.random(t)  # regime switch
        draws[1, i] = rng.random(t)  # regime target
        draws[2, i] = rng.standard_normal(t)  # log-vol shock
        draws[3, i] = student_t(rng, t)  # idiosyncratic return shock
        draws[4, i] = rng.standard_normal(t)  # overnight noise
        draws[5, i] = rng.random(t)  # jump occurrence
        draws[6, i] = rng.standard_normal(t)  # jump size
        draws[7, i] = rng.standard_normal(t)  # volume noise
        first[:, i] = rng.random(), rng.standard_normal(), rng.standard_normal()
    excursions = np.abs(np.stack([symbol_rng(seed, s.symbol, 1).standard_normal((2, t))
                                  for s in infos], axis=1))  # fmt: skip
    market = student_t(np.random.default_rng([seed, 0]), t)
    market -= market.mean()  # the common factor carries no net trend: regimes make trends

    base_vol = np.array([info.vol for info in infos])
    corr = np.array([info.market_corr for info in infos])
    jump_p = np.array([0.003 if info.is_etf else 0.015 for info in infos])

    regime = np.empty((n, t), dtype=np.int64)
    logvol = np.empty((n, t))
    state = np.minimum((first[0] * 3).astype(np.int64), 2)
    x = first[1] * LOGVOL_SD
    for j in range(t):
        switch = draws[0, :, j] > REGIME_STAY
        # move to one of the two other regimes with equal probability
        other = (state + 1 + (draws[1, :, j] < 0.5).astype(np.int64)) % 3
        state = np.where(switch, other, state)
        x = LOGVOL_PHI * x + LOGVOL_ETA * draws[2, :, j]
        regime[:, j] = state
        logvol[:, j] = x

    sigma = base_vol[:, None] * np.exp(logvol - 0.5 * LOGVOL_SD**2) * REGIME_VOL[regime]
    sd = sigma / np.sqrt(TRADING_DAYS)
    shock = corr[:, None] * market[None, :] + np.sqrt(1.0 - corr**2)[:, None] * draws[3]
    drift = REGIME_DRIFT[regime] * base_vol[:, None] / TRADING_DAYS
    jump = np.where(draws[5] < jump_p[:, None], JUMP_SIZE * sd * draws[6], 0.0)
    ret = drift + sd * shock + jump
    gap = GAP_NOISE * sd * draws[4] + jump

    log_close = np.cumsum(ret, axis=1)
    anchor = np.log([info.price for info in infos]) + ANCHOR_SD * first[2]
    log_close += (anchor - log_close[:, -1])[:, None]
    log_prev = np.concatenate([log_close[:, :1] - ret[:, :1], log_close[:, :-1]], axis=1)
    log_open = log_prev + gap

    close = np.exp(log_close)
    open_ = np.exp(log_open)
    intraday = INTRADAY_SHARE * sd
    high = np.maximum(open_, close) * np.exp(0.5 * intraday * excursions[0])
    low = np.minimum(open_, close) * np.exp(-0.5 * intraday * excursions[1])

    avg_volume = np.array([info.avg_volume for info in infos])
    move = np.abs(ret) / np.maximum(sd, 1e-12)
    volume = (
        avg_volume[:, None]
        * np.exp(0.25 * draws[7] - 0.5 * 0.25**2)
        * (0.7 + 0.375 * np.minimum(move, 6.0))
        * np.sqrt(sigma / (base_vol[:, None] * REGIME_VOL[regime]))
    )
    volume = np.round(volume / 100.0) * 100.0

    return History(
        symbols=tuple(info.symbol for info in infos),
        days=tuple(days),
        open=np.round(open_, 2),
        high=np.round(high, 2),
        low=np.round(low, 2),
        close=np.round(close, 2),
        volume=volume,
        logvol=logvol[:, -1].copy(),
        regime=regime[:, -1].copy(),
    )
