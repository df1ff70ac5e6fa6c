"""Listed options of the simulated market: expiries, strikes, conIds and quotes.

Listing rules (fixed when the market is built, never re-listed intraday):
- Expiries: every Friday within ``WEEKLY_DAYS`` (42) calendar days of the current session,
  plus the monthly (third Friday) expiries within ``MONTHLY_DAYS`` (120) days. When the
  Friday is an exchange holiday (Good Friday, Juneteenth or Christmas on a Friday) the
  expiry is the Thursday before, as the OCC does. An expiry whose close has passed when the
  market is built is not listed.
- Strikes: one grid per underlying, shared by all its expiries, around the spot at build
  time: ``near`` increments within +/-15 % of spot, ``far`` increments out to +/-35 %
  (the index ETFs: $1 within +/-10 %, $5 to +/-30 %). ``strike_increments`` holds the table.
- conIds encode (underlying, expiry week, right, strike) in 30 bits above 2**30, so they
  are stable across runs and seeds, below 2**31 (a Java ``int`` in the official API), and
  any option conId can be decoded back to its symbol without a lookup table. That space
  holds 128 symbol codes (124 usable: the table's rows and 64 slots for other names); a
  bigger universe (``--universe`` up to 1,000) takes *extended* codes, encoded below 2**30
  (above every stock conId) with the expiry week mod 64 instead of 512: 64 weeks is still
  far longer than an option lives (4 months), and the first 124 names keep their conIds.

Quotes (``price_options``):
- Volatility surface around the symbol's current volatility: ATM term structure reverting
  from the current to the long-run vol with a 3-month time constant, times a 10 % implied
  premium, then a skew/smile in standardised moneyness z = ln(K/S) / (atm_vol * sqrt(T)):
  vol = atm * (1 + skew * z + smile * z**2), z clipped to +/-4, the factor to [0.5, 3].
  Negative skew makes puts and the downside richer (index ETFs -0.20, stocks -0.12).
  ``T`` under the square root is floored at 7 days so 0DTE wings stay sane.
- Black-Scholes (core.options) at that vol, rate ``Market.rate``, no dividends (q = 0 for
  every symbol, SPY included: ``[pricing] dividend_yield`` defaults to 0, and the app's
  own Black-Scholes must see the same model the market quotes).
- Ticks: the index ETFs quote in pennies at every price; other names follow IB's old
  penny-pilot rule: 0.01 below $3, 0.05 from $3.
- Width: ``rel`` (0.4 % index ETFs, 1.2 % stocks) of the time value plus 5 % of the
  intrinsic value (deep in-the-money options are not quoted a percentage of their whole
  price wide), times (1 + 0.6 * |z|) so it widens in relative terms away from the money,
  at least ``MIN_WIDTH_TICKS`` ticks, rounded up to the tick. The bid is the model price
  minus half the width rounded to the tick, so the mid is within half a tick of the
  model price. When that bid would be <= 0 the bid is 0.0 and the ask the smallest cent
  price >= model + half width.
- Greeks: at the model vol for the model line; at the implied vol of the bid / ask for the
  bid / ask lines (NaN when the price has no implied vol: a zero bid, below intrinsic).
- high/low of the day are not tracked for options (NaN); close is the model price at the
  previous session's close.

Open interest (``open_interest``; sent for generic tick 101 as tick 27 for a call, 28 for
a put): a day's number, as at IB (the OCC publishes it once a night), so it is fixed for a
session and depends only on the session's listing spot, the days to expiry and the seed:
``OI_PER_SHARE`` (1/2000) of the underlying's average daily share volume at the money of an
expiry due now, falling off in standardised moneyness (a normal curve of width
``OI_MONEYNESS_SD`` = 1.5 in z at the long-run vol, T floored at 7 days), in-the-money
strikes holding ``OI_ITM_SHARE`` (60 %) of the out-of-the-money ones, decaying with the
days to expiry (``exp(-days / 45)``), doubled for a monthly expiry, times a seeded
log-normal factor per contract (sd ``OI_NOISE`` = 0.35, clipped at 2.5 sd). An integer
number of contracts, >= 0.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.options import bs_greeks, bs_price, implied_vol
from tui_trader.sim.clock import Sessions
from tui_trader.sim.types import OptionContract, Right

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

WEEKLY_DAYS = 42
MONTHLY_DAYS = 120
SECONDS_PER_YEAR = 365.0 * 86400.0

_CON_ID_BASE = 1 << 30
_STRIKE_UNITS = 2  # strikes are multiples of $0.50
_STRIKE_BITS = 13  # strikes up to $4095.50
_WEEK_BITS = 9  # weeks mod 512 (~9.8 years; options live 4 months)
_SYMBOL_CODES = 128
#: Extended codes (``_SYMBOL_CODES`` and up) live in [2**27, 2**30): 2**20 conIds each.
_EXT_BASE = 1 << 27
_EXT_WEEK_BITS = 6
_EXT_CODES = (_CON_ID_BASE - _EXT_BASE) >> (_EXT_WEEK_BITS + 1 + _STRIKE_BITS)
#: Every symbol code there is: the first 60 of the 128 are the table's rows.
MAX_SYMBOL_CODES = _SYMBOL_CODES + _EXT_CODES
_WEEK_EPOCH = date(2021, 1, 1)  # a Friday

TERM_TAU = 0.25  # years: how fast the ATM vol reverts from current to long-run
VOL_PREMIUM = 1.10  # implied over realised
SKEW_INDEX, SKEW_STOCK = -0.20, -0.12
SMILE_INDEX, SMILE_STOCK = 0.03, 0.05
REL_WIDTH_INDEX, REL_WIDTH_STOCK = 0.004, 0.012
MIN_WIDTH_TICKS_INDEX, MIN_WIDTH_TICKS_STOCK = 1, 2
INTRINSIC_WIDTH_SHARE = 0.05
IV_TOL = 1e-8
OI_PER_SHARE = 1.0 / 2000.0
OI_MONEYNESS_SD = 1.5
OI_ITM_SHARE = 0.6
OI_TERM_DAYS = 45.0
OI_MONTHLY = 2.0
OI_NOISE = 0.35


# --- expiries ---------------------------------------------------------------------------


def expiry_of_week(friday: date, sessions: Sessions) -> date | None:
    """The expiry for the week ending ``friday``: the Friday, or the Thursday before when
    the Friday is a holiday (None when both are closed)."""
    if sessions.is_session(friday):
        return friday
    thursday = friday - timedelta(days=1)
    return thursday if sessions.is_session(thursday) else None


def _third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def list_expiries(session_day: date, now: datetime, sessions: Sessions) -> list[date]:
    """Weekly and monthly expiries listed on ``session_day`` that have not closed by ``now``."""
    fridays: set[date] = set()
    friday = session_day + timedelta(days=(4 - session_day.weekday()) % 7)
    while (friday - session_day).days <= WEEKLY_DAYS:
        fridays.add(friday)
        friday += timedelta(days=7)
    year, month = session_day.year, session_day.month
    while True:
        third = _third_friday(year, month)
        if (third - session_day).days > MONTHLY_DAYS:
            break
        if third >= session_day:
            fridays.add(third)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    out: list[date] = []
    for f in sorted(fridays):
        expiry = expiry_of_week(f, sessions)
        if expiry is not None and expiry >= session_day and sessions.close_of(expiry) > now:
            out.append(expiry)
    return out


# --- strikes ----------------------------------------------------------------------------


def strike_increments(spot: float, index_strikes: bool) -> tuple[float, float]:
    """(near, far) strike increments for an underlying at ``spot``."""
    if index_strikes:
        return 1.0, 5.0
    if spot < 25:
        return 0.5, 1.0
    if spot < 100:
        return 1.0, 2.5
    if spot < 300:
        return 2.5, 5.0
    if spot < 1000:
        return 5.0, 10.0
    return 10.0, 20.0


def strike_grid(spot: float, index_strikes: bool) -> list[float]:
    """Listed strikes around ``spot`` (see the module doc)."""
    near, far = strike_increments(spot, index_strikes)
    near_band, far_band = (0.10, 0.30) if index_strikes else (0.15, 0.35)
    strikes: set[float] = set()
    for inc, band in ((near, near_band), (far, far_band)):
        lo = math.ceil(spot * (1.0 - band) / inc)
        hi = math.floor(spot * (1.0 + band) / inc)
        strikes.update(round(k * inc, 2) for k in range(max(lo, 1), hi + 1))
    limit = ((1 << _STRIKE_BITS) - 1) / _STRIKE_UNITS
    return sorted(k for k in strikes if 0 < k <= limit)


# --- conIds -----------------------------------------------------------------------------


def _week(expiry: date) -> int:
    friday = expiry + timedelta(days=(4 - expiry.weekday()) % 7)
    return ((friday - _WEEK_EPOCH).days // 7) % (1 << _WEEK_BITS)


def option_con_id(symbol_code: int, expiry: date, strike: float, right: Right) -> int:
    """A stable conId for an option (module doc); ValueError for an unencodable strike."""
    units = round(strike * _STRIKE_UNITS)
    if abs(units - strike * _STRIKE_UNITS) > 1e-9 or not 0 < units < (1 << _STRIKE_BITS):
        raise ValueError(f"strike {strike} cannot be listed (multiples of 0.5 up to 4095.5)")
    if not 0 <= symbol_code < MAX_SYMBOL_CODES:
        raise ValueError(f"symbol code {symbol_code} out of range")
    if symbol_code < _SYMBOL_CODES:
        value = (symbol_code << _WEEK_BITS) | _week(expiry)
        base = _CON_ID_BASE
    else:
        week = _week(expiry) % (1 << _EXT_WEEK_BITS)
        value = ((symbol_code - _SYMBOL_CODES) << _EXT_WEEK_BITS) | week
        base = _EXT_BASE
    value = (value << 1) | (1 if right == "C" else 0)
    value = (value << _STRIKE_BITS) | units
    return base + value


def symbol_code_of(con_id: int) -> int | None:
    """The symbol code inside an option conId (None when it is not an option conId)."""
    if _CON_ID_BASE <= con_id < 2 * _CON_ID_BASE:
        return (con_id - _CON_ID_BASE) >> (_STRIKE_BITS + 1 + _WEEK_BITS)
    if _EXT_BASE <= con_id < _CON_ID_BASE:
        return _SYMBOL_CODES + ((con_id - _EXT_BASE) >> (_STRIKE_BITS + 1 + _EXT_WEEK_BITS))
    return None


def assign_symbol_codes(symbols: Sequence[str], table_order: Sequence[str]) -> dict[str, int]:
    """Symbol codes: the table position for table symbols; for others a CRC32 slot in the
    upper half, probing linearly in sorted order on collisions (so a code only depends on
    the set of non-table symbols, and only when two of them collide). Once the upper half
    is full, the same in the extended codes (module doc)."""
    codes = {s: i for i, s in enumerate(table_order) if s in set(symbols)}
    used = set(range(len(table_order)))
    half = _SYMBOL_CODES // 2
    if len(table_order) > half:
        raise ValueError("the ticker table outgrew the option conId scheme")
    regions = ((half, half), (_SYMBOL_CODES, _EXT_CODES))
    for sym in sorted(s for s in set(symbols) if s not in codes):
        slot = _free_slot(zlib.crc32(sym.encode()), regions, used)
        if slot is None:
            raise ValueError(f"more than {half + _EXT_CODES} symbols outside the ticker table")
        codes[sym] = slot
        used.add(slot)
    return codes


def _free_slot(crc: int, regions: Sequence[tuple[int, int]], used: set[int]) -> int | None:
    """The first free code probing from ``crc`` in each (start, size) region in turn."""
    for start, size in regions:
        slot = start + crc % size
        for _ in range(size):
            if slot not in used:
                return slot
            slot = start + (slot - start + 1) % size
    return None


def is_monthly(expiry: date) -> bool:
    """A standard monthly expiry: the third Friday, or the Thursday before it on a holiday."""
    third = _third_friday(expiry.year, expiry.month)
    return expiry in (third, third - timedelta(days=1))


def occ_symbol(symbol: str, expiry: date, strike: float, right: Right) -> str:
    """OCC-style local symbol, e.g. ``AAPL  261218C00200000``."""
    return f"{symbol:<6}{expiry:%y%m%d}{right}{round(strike * 1000):08d}"


# --- the chain --------------------------------------------------------------------------


@dataclass(slots=True)
class Chain:
    """One underlying's listed options, with O(1) lookups."""

    symbol: str
    expiries: list[date]
    strikes: list[float]
    contracts: list[OptionContract] = field(default_factory=list)
    by_key: dict[tuple[date, int, str], OptionContract] = field(default_factory=dict)
    by_con_id: dict[int, OptionContract] = field(default_factory=dict)

    def add(self, contract: OptionContract) -> None:
        self.contracts.append(contract)
        self.by_key[(contract.expiry, strike_key(contract.strike), contract.right)] = contract
        self.by_con_id[contract.con_id] = contract


def strike_key(strike: float) -> int:
    """Dict key for a strike (tenths of a cent), so 232.5 and 232.50000001 match."""
    return round(strike * 1000)


def build_chain(symbol: str, underlying_con_id: int, symbol_code: int, expiries: list[date],
                strikes: list[float]) -> Chain:  # fmt: skip
    chain = Chain(symbol, list(expiries), list(strikes))
    for expiry in expiries:
        for right in ("C", "P"):
            for strike in strikes:
                chain.add(make_option(symbol, underlying_con_id, symbol_code, expiry, strike,
                                      right))  # fmt: skip
    return chain


def make_option(symbol: str, underlying_con_id: int, symbol_code: int, expiry: date,
                strike: float, right: Right) -> OptionContract:  # fmt: skip
    return OptionContract(
        con_id=option_con_id(symbol_code, expiry, strike, right),
        symbol=symbol,
        underlying_con_id=underlying_con_id,
        expiry=expiry,
        strike=strike,
        right=right,
        multiplier=100,
        trading_class=symbol,
        local_symbol=occ_symbol(symbol, expiry, strike, right),
    )


# --- pricing ----------------------------------------------------------------------------


def years_to(close: FloatArray, now_epoch: float) -> FloatArray:
    """Calendar years from ``now`` to each expiry's close (0 once it has passed)."""
    out: FloatArray = np.maximum(close - now_epoch, 0.0) / SECONDS_PER_YEAR
    return out


def surface_vol(
    spot: FloatArray, strike: FloatArray, t: FloatArray, sigma_now: FloatArray,
    sigma_long: FloatArray, index: BoolArray,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """(vol, z): the skewed volatility for each option and its standardised moneyness."""
    atm = VOL_PREMIUM * (sigma_long + (sigma_now - sigma_long) * np.exp(-t / TERM_TAU))
    t_eff = np.maximum(t, 7.0 / 365.0)
    z = np.clip(np.log(strike / spot) / (atm * np.sqrt(t_eff)), -4.0, 4.0)
    skew = np.where(index, SKEW_INDEX, SKEW_STOCK)
    smile = np.where(index, SMILE_INDEX, SMILE_STOCK)
    factor = np.clip(1.0 + skew * z + smile * z * z, 0.5, 3.0)
    vol: FloatArray = atm * factor
    return vol, z


def option_tick(price: FloatArray, index: BoolArray) -> FloatArray:
    """IB's old penny-pilot tick: 0.01 below $3 (and always for the index ETFs), else 0.05."""
    out: FloatArray = np.where(index | (price < 3.0), 0.01, 0.05)
    return out


def bid_ask(model: FloatArray, intrinsic: FloatArray, z: FloatArray,
            index: BoolArray) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Bid and ask around the model price (module doc); bid >= 0, ask > bid."""
    tick = option_tick(model, index)
    rel = np.where(index, REL_WIDTH_INDEX, REL_WIDTH_STOCK)
    min_ticks = np.where(index, MIN_WIDTH_TICKS_INDEX, MIN_WIDTH_TICKS_STOCK)
    basis = np.maximum(model - intrinsic, 0.0) + INTRINSIC_WIDTH_SHARE * intrinsic
    raw = np.maximum(min_ticks * tick, rel * basis * (1.0 + 0.6 * np.abs(z)))
    width = np.ceil(raw / tick - 1e-9) * tick
    bid_ticks = np.round((model - 0.5 * width) / tick)
    bid = bid_ticks * tick
    ask = bid + width
    zero_bid = bid_ticks <= 0
    ask_if_zero = np.maximum(np.ceil((model + 0.5 * width) / 0.01 - 1e-9) * 0.01, 0.01)
    ask = np.where(zero_bid, ask_if_zero, ask)
    bid = np.where(zero_bid, 0.0, bid)
    return np.round(bid, 2), np.round(ask, 2)


@dataclass(frozen=True, slots=True)
class PricedOptions:
    """Vectorised quote data for a batch of options (one entry per option)."""

    bid: FloatArray
    ask: FloatArray
    model: FloatArray
    prev_close: FloatArray
    model_vol: FloatArray
    z: FloatArray
    # rows: 0 bid, 1 ask, 2 model; columns per option
    iv: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def price_options(spot: FloatArray, strike: FloatArray, t: FloatArray, is_call: BoolArray,
                  sigma_now: FloatArray, sigma_long: FloatArray, index: BoolArray, rate: float,
                  prev_spot: FloatArray, prev_t: FloatArray) -> PricedOptions:  # fmt: skip
    """Quotes and bid/ask/model greeks for a batch of options (module doc)."""
    vol, z = surface_vol(spot, strike, t, sigma_now, sigma_long, index)
    model = bs_price(spot, strike, t, rate, 0.0, vol, is_call)
    intrinsic = np.where(is_call, np.maximum(spot - strike, 0.0), np.maximum(strike - spot, 0.0))
    bid, ask = bid_ask(model, intrinsic, z, index)
    prev_vol, _ = surface_vol(prev_spot, strike, prev_t, sigma_now, sigma_long, index)
    prev_close = bs_price(prev_spot, strike, prev_t, rate, 0.0, prev_vol, is_call)

    n = spot.shape[0]
    two = np.concatenate
    quote_price = two([bid, ask])
    with np.errstate(over="ignore"):  # Newton steps on deep options' tiny vegas overflow
        quote_iv = implied_vol(quote_price, two([spot, spot]), two([strike, strike]), two([t, t]),
                               rate, 0.0, two([is_call, is_call]), tol=IV_TOL)  # fmt: skip
    quote_iv = np.where(quote_price > 0, quote_iv, np.nan)
    all_vol = two([quote_iv, vol])
    g = bs_greeks(two([spot] * 3), two([strike] * 3), two([t] * 3), rate, 0.0, all_vol,
                  two([is_call] * 3))  # fmt: skip
    unknown = ~np.isfinite(all_vol) | (two([t] * 3) <= 0)

    def rows(x: FloatArray) -> FloatArray:
        out: FloatArray = np.where(unknown, np.nan, x).reshape(3, n)
        return out

    return PricedOptions(
        bid=bid,
        ask=ask,
        model=model,
        prev_close=prev_close,
        model_vol=vol,
        z=z,
        iv=rows(all_vol),
        delta=rows(g.delta),
        gamma=rows(g.gamma),
        vega=rows(g.vega),
        theta=rows(g.theta),
    )


# --- open interest ----------------------------------------------------------------------


def _seeded_normal(seed: int, con_id: int) -> float:
    """A standard normal draw fixed by (seed, conId), clipped to +/-2.5: Box-Muller on two
    uniforms from a hash, so no generator state is shared with the price paths."""
    digest = hashlib.blake2b(f"oi:{seed}:{con_id}".encode(), digest_size=8).digest()
    u1 = (int.from_bytes(digest[:4], "big") + 0.5) / 2**32
    u2 = int.from_bytes(digest[4:], "big") / 2**32
    z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
    return max(-2.5, min(2.5, z))


def open_interest(seed: int, con_id: int, strike: float, ref_spot: float, days: int,
                  avg_volume: float, vol: float, right: Right,
                  monthly: bool) -> int:  # fmt: skip
    """One option's open interest in contracts (module doc): ``days`` to expiry from the
    session, ``ref_spot`` the session's listing spot, ``vol`` the long-run volatility."""
    if not (ref_spot > 0 and strike > 0 and vol > 0 and avg_volume > 0):
        return 0
    t = max(days, 7) / 365.0
    z = math.log(strike / ref_spot) / (vol * math.sqrt(t))
    in_the_money = z < 0 if right == "C" else z > 0
    shape = math.exp(-0.5 * (z / OI_MONEYNESS_SD) ** 2)
    shape *= OI_ITM_SHARE if in_the_money else 1.0
    term = math.exp(-max(days, 0) / OI_TERM_DAYS) * (OI_MONTHLY if monthly else 1.0)
    noise = math.exp(OI_NOISE * _seeded_normal(seed, con_id))
    return round(avg_volume * OI_PER_SHARE * shape * term * noise)


def expiry_close_epoch(expiry: date, sessions: Sessions) -> float:
    """UTC epoch seconds of the expiry day's close (early closes respected)."""
    return sessions.close_of(expiry).timestamp()


def epoch(when: datetime) -> float:
    return when.astimezone(UTC).timestamp()
