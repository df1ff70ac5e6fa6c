"""Vectorised Black-Scholes-Merton: prices, greeks and implied volatility.

Every function broadcasts over numpy arrays, so a whole option chain (or a whole simulated
market) is priced in one call. Inputs: spot ``s``, strike ``k``, time to expiry ``t`` in
years, continuously compounded rate ``r`` and dividend yield ``q``, volatility ``vol``
(0.25 = 25 %), and ``is_call`` (bool array or scalar).

Units are the ones a trader reads off a screen, not the textbook's:
- ``vega`` per one volatility *point* (the price change for vol 0.25 -> 0.26);
- ``theta`` per *calendar day* (the annual figure / 365);
- ``rho`` per one percentage point of rate.
At ``t <= 0`` the price is intrinsic value and the greeks are those of the payoff (delta 0
or +/-1, other greeks 0), so expiring contracts never produce NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]

_SQRT_2PI = np.sqrt(2.0 * np.pi)
_DAYS_PER_YEAR = 365.0


def _pdf(x: FloatArray) -> FloatArray:
    out: FloatArray = np.exp(-0.5 * x * x) / _SQRT_2PI
    return out


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and greeks of an option (or arrays of them), in trader units (see module doc)."""

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray
    rho: FloatArray


def _prepare(
    s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike, vol: ArrayLike,
    is_call: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray,
           NDArray[np.bool_]]:  # fmt: skip
    arrays = np.broadcast_arrays(
        np.asarray(s, dtype=np.float64),
        np.asarray(k, dtype=np.float64),
        np.asarray(t, dtype=np.float64),
        np.asarray(r, dtype=np.float64),
        np.asarray(q, dtype=np.float64),
        np.asarray(vol, dtype=np.float64),
        np.asarray(is_call, dtype=bool),
    )
    s_, k_, t_, r_, q_, v_, c_ = arrays
    return s_, k_, t_, r_, q_, v_, c_.astype(bool)


def _d1_d2(
    s: FloatArray, k: FloatArray, t: FloatArray, r: FloatArray, q: FloatArray, vol: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        sqrt_t = np.sqrt(np.maximum(t, 0.0))
        vst = vol * sqrt_t
        d1 = (np.log(s / k) + (r - q + 0.5 * vol * vol) * t) / vst
        d2 = d1 - vst
    return d1, d2, sqrt_t


def bs_price(
    s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike, vol: ArrayLike,
    is_call: ArrayLike,
) -> FloatArray:  # fmt: skip
    """Black-Scholes-Merton price; intrinsic value at or after expiry."""
    s_, k_, t_, r_, q_, v_, c_ = _prepare(s, k, t, r, q, vol, is_call)
    d1, d2, _ = _d1_d2(s_, k_, t_, r_, q_, v_)
    df_q = np.exp(-q_ * t_)
    df_r = np.exp(-r_ * t_)
    call = s_ * df_q * ndtr(d1) - k_ * df_r * ndtr(d2)
    put = k_ * df_r * ndtr(-d2) - s_ * df_q * ndtr(-d1)
    price = np.where(c_, call, put)
    intrinsic = np.where(c_, np.maximum(s_ - k_, 0.0), np.maximum(k_ - s_, 0.0))
    expired = (t_ <= 0) | (v_ <= 0)
    out: FloatArray = np.where(expired, intrinsic, price)
    return out


def bs_price_delta(
    s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike, vol: ArrayLike,
    is_call: ArrayLike,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Price and delta alone, the same numbers as :func:`bs_greeks` gives, at about half
    its cost: what a synthetic quote needs (the back-test prices millions of them)."""
    s_, k_, t_, r_, q_, v_, c_ = _prepare(s, k, t, r, q, vol, is_call)
    d1, d2, _ = _d1_d2(s_, k_, t_, r_, q_, v_)
    df_q = np.exp(-q_ * t_)
    df_r = np.exp(-r_ * t_)
    nd1 = ndtr(d1)
    with np.errstate(invalid="ignore"):
        price = np.where(
            c_,
            s_ * df_q * nd1 - k_ * df_r * ndtr(d2),
            k_ * df_r * ndtr(-d2) - s_ * df_q * ndtr(-d1),
        )
        delta = np.where(c_, df_q * nd1, df_q * (nd1 - 1.0))
    expired = (t_ <= 0) | (v_ <= 0)
    if np.any(expired):
        itm = np.where(c_, s_ > k_, s_ < k_)
        intrinsic = np.where(c_, np.maximum(s_ - k_, 0.0), np.maximum(k_ - s_, 0.0))
        price = np.where(expired, intrinsic, price)
        delta = np.where(expired, np.where(itm, np.where(c_, 1.0, -1.0), 0.0), delta)
    return np.asarray(price, dtype=np.float64), np.asarray(delta, dtype=np.float64)


def bs_greeks(
    s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike, vol: ArrayLike,
    is_call: ArrayLike,
) -> Greeks:  # fmt: skip
    """Price, delta, gamma, vega (per vol point), theta (per day) and rho (per 1 % rate)."""
    s_, k_, t_, r_, q_, v_, c_ = _prepare(s, k, t, r, q, vol, is_call)
    d1, d2, sqrt_t = _d1_d2(s_, k_, t_, r_, q_, v_)
    df_q = np.exp(-q_ * t_)
    df_r = np.exp(-r_ * t_)
    pdf_d1 = _pdf(d1)
    nd1, nd2 = ndtr(d1), ndtr(d2)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(
            c_, s_ * df_q * nd1 - k_ * df_r * nd2, k_ * df_r * ndtr(-d2) - s_ * df_q * ndtr(-d1)
        )
        delta = np.where(c_, df_q * nd1, df_q * (nd1 - 1.0))
        gamma = df_q * pdf_d1 / (s_ * v_ * sqrt_t)
        vega = s_ * df_q * pdf_d1 * sqrt_t
        common = -s_ * df_q * pdf_d1 * v_ / (2.0 * sqrt_t)
        theta_call = common - r_ * k_ * df_r * nd2 + q_ * s_ * df_q * nd1
        theta_put = common + r_ * k_ * df_r * ndtr(-d2) - q_ * s_ * df_q * ndtr(-d1)
        theta = np.where(c_, theta_call, theta_put)
        rho = np.where(c_, k_ * t_ * df_r * nd2, -k_ * t_ * df_r * ndtr(-d2))

    expired = (t_ <= 0) | (v_ <= 0)
    if np.any(expired):
        itm = np.where(c_, s_ > k_, s_ < k_)
        intrinsic = np.where(c_, np.maximum(s_ - k_, 0.0), np.maximum(k_ - s_, 0.0))
        price = np.where(expired, intrinsic, price)
        delta = np.where(expired, np.where(itm, np.where(c_, 1.0, -1.0), 0.0), delta)
        zero = np.zeros_like(s_)
        gamma = np.where(expired, zero, gamma)
        vega = np.where(expired, zero, vega)
        theta = np.where(expired, zero, theta)
        rho = np.where(expired, zero, rho)

    return Greeks(
        price=np.asarray(price, dtype=np.float64),
        delta=np.asarray(delta, dtype=np.float64),
        gamma=np.asarray(gamma, dtype=np.float64),
        vega=np.asarray(vega / 100.0, dtype=np.float64),
        theta=np.asarray(theta / _DAYS_PER_YEAR, dtype=np.float64),
        rho=np.asarray(rho / 100.0, dtype=np.float64),
    )


def implied_vol(
    price: ArrayLike, s: ArrayLike, k: ArrayLike, t: ArrayLike, r: ArrayLike, q: ArrayLike,
    is_call: ArrayLike, *, low: float = 1e-4, high: float = 5.0, tol: float = 1e-10,
    max_iter: int = 100,
) -> FloatArray:  # fmt: skip
    """Implied volatility by vectorised bisection safeguarded Newton steps.

    Returns NaN where no volatility in [low, high] reproduces the price (below the European
    no-arbitrage floor, above the upper bound, expired, or a non-finite input): a quote that
    cannot be explained is reported as unknown rather than clipped to a plausible-looking
    number. The floor is intrinsic value when r = q = 0; with r > 0 a deep in-the-money
    European put is worth less than intrinsic, and such a price does get a volatility.
    """
    # The price rides in _prepare's vol slot so that it broadcasts with the other inputs.
    s_, k_, t_, r_, q_, p, c_ = _prepare(s, k, t, r, q, price, is_call)
    lo = np.full(s_.shape, low)
    hi = np.full(s_.shape, high)
    p_lo = bs_price(s_, k_, t_, r_, q_, lo, c_)
    p_hi = bs_price(s_, k_, t_, r_, q_, hi, c_)
    valid = np.isfinite(p) & (t_ > 0) & (p >= p_lo - tol) & (p <= p_hi + tol) & (p > 0)
    vol = np.full(s_.shape, 0.3)
    for _ in range(max_iter):
        g = bs_greeks(s_, k_, t_, r_, q_, vol, c_)
        diff = g.price - p
        hi = np.where(diff > 0, vol, hi)
        lo = np.where(diff <= 0, vol, lo)
        vega = g.vega * 100.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = vol - diff / vega
        bisect = 0.5 * (lo + hi)
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        # A vol that already reproduces the price stays put: the next step may be a
        # bisection far away where the price is flat in vol (deep in the money).
        done = np.abs(diff) < tol
        vol = np.where(done, vol, np.where(inside, newton, bisect))
        if np.all(~valid | done | (hi - lo < tol)):
            break
    out: FloatArray = np.where(valid, vol, np.nan)
    return out
