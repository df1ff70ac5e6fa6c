"""The P&L of a vertical debit spread over a grid of underlying prices: at expiry and today.

Conventions (the same as ``core.spreads``): strikes and ``debit`` are per share; money out
is in account currency for ``qty`` spreads of ``multiplier`` shares each (P&L = (spread
value - debit) x multiplier x qty). The long leg is the one bought: a bull call has
``long_strike < short_strike``, a bear put ``long_strike > short_strike``; the function does
not assume either, it values "long one ``long_strike`` option, short one ``short_strike``".

"Today" is the Black-Scholes-Merton value of each leg (``core.options.bs_price``) with the
leg's own implied vol, ``t_years`` to expiry, continuous ``rate`` and dividend yield ``q``;
it ignores bid/ask (the closing cost) on purpose: it is the model's fair value curve the
payoff plot draws next to the expiry line. With one vol for both legs it lies between the
spread's max loss and max profit; with skewed vols it is whatever the model says (not
clipped). At ``t_years <= 0`` bs_price returns intrinsic value, so today == at expiry.

Pure and vectorised: ``spot_grid`` is any array of prices; NaN prices give NaN P&L.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tui_trader.core.options import bs_price

FloatArray = NDArray[np.float64]


def _scale(value: FloatArray, debit: float, multiplier: float, qty: int) -> FloatArray:
    out: FloatArray = (value - debit) * multiplier * qty
    return out


def payoff_at_expiry(
    spot_grid: ArrayLike,
    long_strike: float,
    short_strike: float,
    is_call: bool,
    debit: float,
    multiplier: float,
    qty: int,
) -> FloatArray:
    """P&L at expiry per grid price: intrinsic(long) - intrinsic(short) - debit, scaled."""
    s = np.asarray(spot_grid, dtype=np.float64)
    if is_call:
        value = np.maximum(s - long_strike, 0.0) - np.maximum(s - short_strike, 0.0)
    else:
        value = np.maximum(long_strike - s, 0.0) - np.maximum(short_strike - s, 0.0)
    return _scale(value, debit, multiplier, qty)


def value_today(
    spot_grid: ArrayLike,
    long_strike: float,
    short_strike: float,
    is_call: bool,
    iv_long: float,
    iv_short: float,
    t_years: float,
    rate: float,
    q: float,
    debit: float,
    multiplier: float,
    qty: int,
) -> FloatArray:
    """P&L now per grid price: BSM(long) - BSM(short) - debit, scaled (see module doc)."""
    s = np.asarray(spot_grid, dtype=np.float64)
    t = max(float(t_years), 0.0)
    long_value = bs_price(s, long_strike, t, rate, q, iv_long, is_call)
    short_value = bs_price(s, short_strike, t, rate, q, iv_short, is_call)
    return _scale(long_value - short_value, debit, multiplier, qty)
