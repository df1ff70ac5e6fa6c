"""The simulated market: a seeded universe with history, live intraday prices and options.

Time: the market's state is as of the last :meth:`Market.advance` (the constructor
advances to the clock's time). Reads (quotes, bars, option quotes) never move prices, so
everything the gateway sends within one tick is consistent, and an option quote is
recomputed at most once per underlying move.

Intraday model: during regular hours each symbol's mid follows a driftless GBM at its
current annualised volatility, in trading time: a step of ``dt`` simulated seconds has
variance ``sigma**2 * dt / (252 * 6.5 h)``, so moves scale with the clock's speed and the
elapsed time, and nothing moves outside regular hours, on weekends or holidays. Shocks are
correlated through a market factor (the ticker's ``market_corr``). Long steps are cut into
one-minute sub-steps so the day's high/low see the path. At each session's open the price
gaps (a quarter of a daily sigma plus rare jumps, as in the history) and the volatility
and regime take one daily step. Volume accrues along a U-shaped intraday profile (heavier
at the open and the close) around a lognormal day's target, more on bigger moves.

Stock quotes: one-cent spreads for liquid names (>= 15 M shares a day) or prices under
$100, otherwise about one cent per $250 of price (at most 6 cents); sizes in round lots.
``last`` is the last trade: at the ask after an up-move, at the bid after a down-move.

A frozen symbol neither moves nor gaps; its quotes and its options' quotes stay as they
were (the gateway uses this to simulate a stale feed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from tui_trader.core.settings import DEFAULT_SYMBOLS
from tui_trader.sim.chains import (
    Chain,
    PricedOptions,
    build_chain,
    epoch,
    expiry_close_epoch,
    is_monthly,
    list_expiries,
    make_option,
    open_interest,
    price_options,
    strike_grid,
    strike_key,
    symbol_code_of,
    years_to,
)
from tui_trader.sim.chains import assign_symbol_codes as _assign_codes
from tui_trader.sim.clock import ET, SimClock, et_date, xnys_sessions
from tui_trader.sim.history import (
    GAP_NOISE,
    JUMP_SIZE,
    LOGVOL_ETA,
    LOGVOL_PHI,
    LOGVOL_SD,
    REGIME_STAY,
    REGIME_VOL,
    TRADING_DAYS,
    generate_history,
    student_t,
)
from tui_trader.sim.types import (
    Contract,
    DailyBar,
    OptionContract,
    OptionGreeks,
    OptionQuote,
    Quote,
    Right,
    StockContract,
)
from tui_trader.sim.universe import TABLE_ORDER, TickerInfo, stock_con_id, ticker_info

FloatArray = NDArray[np.float64]

SESSION_SECONDS = 6.5 * 3600.0
YEAR_TRADING_SECONDS = TRADING_DAYS * SESSION_SECONDS
SUBSTEP_SECONDS = 60.0
MAX_SUBSTEPS = 500
LIQUID_VOLUME = 15e6
INTRADAY_STREAM = 7777


def _volume_profile(u: FloatArray) -> FloatArray:
    """Cumulative share of a day's volume traded by session fraction ``u`` (U-shaped rate
    1 + 1.5 * (2u - 1)**2, normalised)."""
    u = np.clip(u, 0.0, 1.0)
    out: FloatArray = (u + 0.25 * ((2.0 * u - 1.0) ** 3 + 1.0)) / 1.5
    return out


def _spread_ticks(info: TickerInfo) -> int:
    if info.avg_volume >= LIQUID_VOLUME or info.price < 100:
        return 1
    return int(min(6, max(1, round(info.price / 250.0))))


class Market:
    """Prices, history, option chains and quotes of the simulated market (module doc)."""

    def __init__(
        self,
        clock: SimClock,
        seed: int = 7,
        symbols: Sequence[str] | None = None,
        history_days: int = 520,
        rate: float = 0.04,
    ) -> None:
        names = list(dict.fromkeys(DEFAULT_SYMBOLS if symbols is None else symbols))
        if not names:
            raise ValueError("the simulated market needs at least one symbol")
        if history_days < 2:
            raise ValueError(f"history_days must be >= 2, got {history_days}")
        self.clock = clock
        self.rate = float(rate)
        self.seed = seed
        self._symbols = names
        self._infos = [ticker_info(s) for s in names]
        self._index = {s: i for i, s in enumerate(names)}
        n = len(names)

        self._stocks: dict[str, StockContract] = {}
        self._stock_by_id: dict[int, StockContract] = {}
        for info in self._infos:
            contract = StockContract(
                con_id=stock_con_id(info.symbol),
                symbol=info.symbol,
                long_name=info.long_name,
                sector=info.sector,
                industry=info.industry,
                primary_exchange=info.primary_exchange,
                market_cap=info.market_cap,
                avg_volume=info.avg_volume,
            )
            if contract.con_id in self._stock_by_id:
                other = self._stock_by_id[contract.con_id].symbol
                raise ValueError(f"conId collision between {other} and {info.symbol}")
            self._stocks[info.symbol] = contract
            self._stock_by_id[contract.con_id] = contract
        self._codes = _assign_codes(names, TABLE_ORDER)
        self._symbol_by_code = {c: s for s, c in self._codes.items()}

        now = clock.now()
        today = et_date(now)
        self._sessions = xnys_sessions(today)
        cur = self._sessions.index_on_or_after(today)
        if cur < history_days or cur >= len(self._sessions.days):
            raise ValueError(f"{today} is outside the exchange calendar built for it")
        hist = generate_history(self._infos, self._sessions.days[cur - history_days : cur], seed)
        self._days: list[date] = list(hist.days)
        self._cols: list[FloatArray] = []  # finished sessions after the history, (5, n) each
        self._hist = hist
        self._bar_cache: dict[str, tuple[DailyBar, ...]] = {}

        self._base_vol = np.array([i.vol for i in self._infos])
        self._corr = np.array([i.market_corr for i in self._infos])
        self._jump_p = np.array([0.003 if i.is_etf else 0.015 for i in self._infos])
        self._avg_volume = np.array([i.avg_volume for i in self._infos])
        self._spread = np.array([_spread_ticks(i) for i in self._infos], dtype=np.int64)
        self._index_opts = np.array([i.index_strikes for i in self._infos])
        self._logvol: FloatArray = hist.logvol.copy()
        self._regime = hist.regime.copy()
        self._sigma: FloatArray = hist.sigma(self._base_vol)
        self._rng = np.random.default_rng([seed, INTRADAY_STREAM])

        last_close = hist.close[:, -1].copy()
        self._price: FloatArray = last_close.copy()  # latent mid
        self._last: FloatArray = last_close.copy()
        self._prev_close: FloatArray = last_close.copy()
        self._prev_close_epoch = float(self._sessions.closes[cur - 1])
        self._last_size: FloatArray = np.full(n, 100.0)
        self._bid_size: FloatArray = np.full(n, 500.0)
        self._ask_size: FloatArray = np.full(n, 500.0)
        self._bar_open: FloatArray = np.full(n, np.nan)
        self._bar_high: FloatArray = np.full(n, np.nan)
        self._bar_low: FloatArray = np.full(n, np.nan)
        self._bar_volume: FloatArray = np.zeros(n)
        self._vol_target: FloatArray = self._avg_volume.copy()
        self._frozen = np.zeros(n, dtype=bool)
        self._version = np.zeros(n, dtype=np.int64)
        self._dirty = np.zeros(n, dtype=bool)
        self._cur = cur
        self._opened = False
        self._time = min(epoch(now), float(self._sessions.opens[cur]))
        # Up to the last whole minute first: the morning's path is then the same whether
        # the clock reads 14:30:00 or a few microseconds later (a gateway's clock has run
        # a little by now; a one-shot scan's has not), instead of depending on how the
        # elapsed time happened to be cut into one-minute sub-steps.
        self._move_to(math.floor(epoch(now) / 60.0) * 60.0)
        self._move_to(epoch(now))
        self._dirty[:] = False

        # option listings: rolled at each session change (_roll_listings), built lazily per
        # symbol around the reference spot
        self._ref_spot = self._price.copy()
        self._expiries = list_expiries(self._sessions.days[cur], now, self._sessions)
        self._expiry_close = {e: expiry_close_epoch(e, self._sessions) for e in self._expiries}
        self._old_strikes: dict[str, set[float]] = {}
        self._close_mids: dict[date, FloatArray] = {}  # sessions this market closed
        self._session_end: list[Callable[[], None]] = []
        self._chains: dict[str, Chain] = {}
        self._extra_options: dict[int, OptionContract] = {}
        self._active: dict[int, OptionContract] = {}
        self._oq_cache: dict[int, tuple[int, OptionQuote]] = {}

    # --- static data --------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def info(self, symbol: str) -> TickerInfo | None:
        """The static table row behind a symbol (None when the market does not carry it)."""
        i = self._index.get(symbol)
        return None if i is None else self._infos[i]

    def stocks(self) -> list[StockContract]:
        return [self._stocks[s] for s in self._symbols]

    def stock(self, symbol: str) -> StockContract | None:
        return self._stocks.get(symbol)

    def contract(self, con_id: int) -> Contract | None:
        """A stock or listed option by conId (options of unbuilt chains are built here)."""
        stock = self._stock_by_id.get(con_id)
        if stock is not None:
            return stock
        extra = self._extra_options.get(con_id)
        if extra is not None:
            return extra
        code = symbol_code_of(con_id)
        symbol = None if code is None else self._symbol_by_code.get(code)
        if symbol is None:
            return None
        return self._chain(symbol).by_con_id.get(con_id)

    # --- session state ------------------------------------------------------------------

    def time(self) -> datetime:
        """The instant the market state is as of (the last advance)."""
        return datetime.fromtimestamp(self._time, UTC)

    def session_day(self) -> date:
        """The current session: today's, or the next one on a non-trading day."""
        return self._sessions.days[self._cur]

    def session_open(self) -> datetime:
        return datetime.fromtimestamp(float(self._sessions.opens[self._cur]), UTC)

    def session_close(self) -> datetime:
        return datetime.fromtimestamp(float(self._sessions.closes[self._cur]), UTC)

    def next_session_day(self) -> date:
        """The session after the current one."""
        return self._sessions.days[min(self._cur + 1, len(self._sessions.days) - 1)]

    def close_of(self, day: date) -> datetime:
        """The close (UTC) of session ``day``; ValueError when it is not a session."""
        return self._sessions.close_of(day)

    def expiry_close(self, expiry: date) -> datetime:
        """When an option expiring on ``expiry`` stops trading (its session's close)."""
        return datetime.fromtimestamp(self._expiry_epoch(expiry), UTC)

    def is_open(self) -> bool:
        """Whether the market state is inside regular trading hours."""
        c = self._cur
        return bool(self._sessions.opens[c] <= self._time < self._sessions.closes[c])

    # --- stocks -------------------------------------------------------------------------

    def _i(self, symbol: str) -> int:
        i = self._index.get(symbol)
        if i is None:
            raise KeyError(f"the simulated market does not carry {symbol!r}")
        return i

    def quote(self, symbol: str) -> Quote:
        """Top of book; KeyError for a symbol the market does not carry."""
        i = self._i(symbol)
        ticks = int(self._spread[i])
        bid_c = math.floor(self._price[i] * 100.0 - (ticks - 1) / 2.0 + 1e-9)
        if self._opened:
            high, low, volume = self._bar_high[i], self._bar_low[i], self._bar_volume[i]
        else:
            high, low, volume = self._last_completed(i)
        return Quote(
            bid=bid_c / 100.0,
            ask=(bid_c + ticks) / 100.0,
            last=float(self._last[i]),
            bid_size=float(self._bid_size[i]),
            ask_size=float(self._ask_size[i]),
            last_size=float(self._last_size[i]),
            volume=float(round(volume / 100.0) * 100.0),
            high=float(high),
            low=float(low),
            close=float(self._prev_close[i]),
            time=self.time(),
        )

    def volatility(self, symbol: str) -> float:
        """The symbol's current annualised volatility (the intraday model's and the centre
        of its options' volatility surface)."""
        return float(self._sigma[self._i(symbol)])

    def long_run_volatility(self, symbol: str) -> float:
        return float(self._base_vol[self._i(symbol)])

    def mid(self, symbol: str) -> float:
        """The latent mid price (the option model's underlying price)."""
        return float(self._price[self._i(symbol)])

    def _last_completed(self, i: int) -> tuple[float, float, float]:
        if self._cols:
            col = self._cols[-1]
            return float(col[1, i]), float(col[2, i]), float(col[4, i])
        h = self._hist
        return float(h.high[i, -1]), float(h.low[i, -1]), float(h.volume[i, -1])

    def daily_bars(self, symbol: str) -> list[DailyBar]:
        """Completed sessions (oldest first), then today's provisional bar once it opened."""
        i = self._i(symbol)
        done = self._bar_cache.get(symbol)
        if done is None:
            h = self._hist
            bars = [
                DailyBar(d, float(o), float(hi), float(lo), float(c), float(v))
                for d, o, hi, lo, c, v in zip(
                    h.days, h.open[i], h.high[i], h.low[i], h.close[i], h.volume[i], strict=True
                )
            ]
            first_extra = len(h.days)
            for k, col in enumerate(self._cols):
                o, hi, lo, c, v = (float(x) for x in col[:, i])
                bars.append(DailyBar(self._days[first_extra + k], o, hi, lo, c, v))
            done = tuple(bars)
            self._bar_cache[symbol] = done
        out = list(done)
        if self._opened:
            out.append(
                DailyBar(
                    self.session_day(),
                    float(self._bar_open[i]),
                    float(self._bar_high[i]),
                    float(self._bar_low[i]),
                    float(self._last[i]),
                    float(round(self._bar_volume[i] / 100.0) * 100.0),
                )
            )
        return out

    # --- moving the market --------------------------------------------------------------

    def advance(self) -> set[int]:
        """Move prices to the clock's time; conIds whose quotes changed since the last call
        (stocks, and the options someone asked a quote for whose underlying moved)."""
        self._move_to(epoch(self.clock.now()))
        if not self._dirty.any():
            return set()
        changed: set[int] = set()
        dirty_symbols = {self._symbols[i] for i in np.flatnonzero(self._dirty)}
        for sym in dirty_symbols:
            changed.add(self._stocks[sym].con_id)
        for con_id, opt in self._active.items():
            if opt.symbol in dirty_symbols:
                changed.add(con_id)
        self._dirty[:] = False
        return changed

    def freeze(self, symbol: str) -> None:
        self._frozen[self._i(symbol)] = True

    def unfreeze(self, symbol: str) -> None:
        self._frozen[self._i(symbol)] = False

    def is_frozen(self, symbol: str) -> bool:
        return bool(self._frozen[self._i(symbol)])

    def set_price(self, symbol: str, price: float) -> None:
        """Put a symbol's mid at ``price`` now (fault injection and tests), as a trade: the
        last price and the day's high/low follow when the session is open."""
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"price must be a positive number, got {price!r}")
        i = self._i(symbol)
        self._price[i] = price
        self._last[i] = round(price, 2)
        if self._opened:
            self._bar_high[i] = max(self._bar_high[i], self._last[i])
            self._bar_low[i] = min(self._bar_low[i], self._last[i])
        self._version[i] += 1
        self._dirty[i] = True

    def _move_to(self, target: float) -> None:
        sessions = self._sessions
        while self._time < target:
            if self._cur >= len(sessions.days) - 1:
                self._time = target  # past the calendar: the market stands still
                break
            open_, close = float(sessions.opens[self._cur]), float(sessions.closes[self._cur])
            if not self._opened:
                if target < open_:
                    self._time = target
                    break
                self._time = max(self._time, open_)
                self._open_session()
            if self._time < close:
                end = min(target, close)
                self._diffuse(self._time, end, open_, close)
                self._time = end
                continue
            day = sessions.days[self._cur]
            midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), ET)
            if target >= midnight.timestamp():
                self._finish_session(close)
                self._time = midnight.timestamp()
            else:
                self._time = target

    def _open_session(self) -> None:
        n = len(self._symbols)
        live = ~self._frozen
        rng = self._rng
        switch = rng.random(n) > REGIME_STAY
        other = (self._regime + 1 + (rng.random(n) < 0.5).astype(np.int64)) % 3
        self._regime = np.where(live & switch, other, self._regime)
        shock = LOGVOL_PHI * self._logvol + LOGVOL_ETA * rng.standard_normal(n)
        self._logvol = np.where(live, shock, self._logvol)
        self._sigma = (
            self._base_vol * np.exp(self._logvol - 0.5 * LOGVOL_SD**2) * REGIME_VOL[self._regime]
        )
        sd = self._sigma / math.sqrt(TRADING_DAYS)
        jump = np.where(rng.random(n) < self._jump_p, JUMP_SIZE * sd * student_t(rng, n), 0.0)
        gap = GAP_NOISE * sd * rng.standard_normal(n) + jump
        self._price = np.where(live, self._price * np.exp(gap), self._price)
        self._prev_close = self._last.copy()
        self._last = np.round(self._price, 2)
        self._bar_open = self._last.copy()
        self._bar_high = self._last.copy()
        self._bar_low = self._last.copy()
        self._bar_volume = np.zeros(n)
        self._vol_target = self._avg_volume * np.exp(0.25 * rng.standard_normal(n) - 0.03125)
        self._opened = True
        self._version += live  # a frozen symbol's quotes (and options) stay as they were
        self._dirty |= live

    def _diffuse(self, t0: float, t1: float, open_: float, close: float) -> None:
        live = ~self._frozen
        if t1 <= t0 or not live.any():
            return
        n = len(self._symbols)
        steps = min(MAX_SUBSTEPS, max(1, math.ceil((t1 - t0) / SUBSTEP_SECONDS - 1e-9)))
        dt = (t1 - t0) / steps / YEAR_TRADING_SECONDS
        rng = self._rng
        market = rng.standard_normal((steps, 1))
        idio = rng.standard_normal((steps, n))
        z = self._corr * market + np.sqrt(1.0 - self._corr**2) * idio
        sig = self._sigma
        log_steps = sig * math.sqrt(dt) * z - 0.5 * sig * sig * dt
        path = self._price * np.exp(np.cumsum(log_steps, axis=0))
        new_price = path[-1]
        up = new_price >= self._price
        ticks = self._spread
        bid_c = np.floor(new_price * 100.0 - (ticks - 1) / 2.0 + 1e-9)
        trade = np.where(up, bid_c + ticks, bid_c) / 100.0
        hi = np.maximum(np.round(path.max(axis=0), 2), trade)
        lo = np.minimum(np.round(path.min(axis=0), 2), trade)

        length = max(close - open_, 1.0)
        share = _volume_profile(np.array((t1 - open_) / length)) - _volume_profile(
            np.array((t0 - open_) / length)
        )
        expected = np.maximum(sig * math.sqrt(dt * steps), 1e-12)
        move = np.abs(np.log(new_price / self._price)) / expected
        volume = self._vol_target * float(share) * (0.7 + 0.375 * np.minimum(move, 6.0))

        self._price = np.where(live, new_price, self._price)
        self._last = np.where(live, trade, self._last)
        self._bar_high = np.where(live, np.maximum(self._bar_high, hi), self._bar_high)
        self._bar_low = np.where(live, np.minimum(self._bar_low, lo), self._bar_low)
        self._bar_volume = np.where(live, self._bar_volume + volume, self._bar_volume)
        self._last_size = np.where(live, 100.0 * rng.integers(1, 11, n), self._last_size)
        self._bid_size = np.where(live, 100.0 * rng.integers(1, 31, n), self._bid_size)
        self._ask_size = np.where(live, 100.0 * rng.integers(1, 31, n), self._ask_size)
        self._version += live
        self._dirty |= live

    def _finish_session(self, close: float) -> None:
        """The session's bar joins the history, then the next session's listings roll.

        The listeners run first, with the market still at the close (the exchange settles
        the day's expiries and takes its closing marks there): with a clock that skips
        closed hours, nothing else ever looks at the market between the close and the
        next open."""
        day = self._sessions.days[self._cur]
        self._close_mids[day] = self._price.copy()
        for listener in list(self._session_end):
            listener()
        col = np.stack(
            [self._bar_open, self._bar_high, self._bar_low, self._last,
             np.round(self._bar_volume / 100.0) * 100.0]
        )  # fmt: skip
        self._cols.append(col)
        self._days.append(self._sessions.days[self._cur])
        self._bar_cache.clear()
        self._prev_close_epoch = close
        self._cur += 1
        self._opened = False
        self._dirty |= ~self._frozen
        self._roll_listings(close)

    def _roll_listings(self, close: float) -> None:
        """The listings of the new current session: expiries that closed are gone, new
        weeklies and monthlies appear, and new strikes around today's price are added to
        the ones already listed (a listed strike stays listed, as at a real exchange, so
        an open position's legs stay quotable and tradable until they expire)."""
        day = self._sessions.days[self._cur]
        self._expiries = list_expiries(day, datetime.fromtimestamp(close, UTC), self._sessions)
        for e in self._expiries:
            self._expiry_close.setdefault(e, expiry_close_epoch(e, self._sessions))
        for symbol, chain in self._chains.items():
            self._old_strikes.setdefault(symbol, set()).update(chain.strikes)
        self._chains.clear()
        self._ref_spot = self._price.copy()

    def on_session_end(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` at each session's end, with the market still at its close."""
        self._session_end.append(listener)

    def settlement_price(self, symbol: str, day: date) -> float:
        """The underlying's mid at the close of session ``day`` (what an option expiring
        that day settles against). For a day this market did not live through (it expired
        while a persisted gateway was down) or has not closed yet: the mid now."""
        i = self._i(symbol)
        closed = self._close_mids.get(day)
        return float(self._price[i] if closed is None else closed[i])

    # --- options ------------------------------------------------------------------------

    def _chain(self, symbol: str) -> Chain:
        chain = self._chains.get(symbol)
        if chain is None:
            i = self._i(symbol)
            strikes = strike_grid(float(self._ref_spot[i]), bool(self._index_opts[i]))
            kept = self._old_strikes.get(symbol)
            if kept:
                strikes = sorted(kept.union(strikes))
            chain = build_chain(symbol, self._stocks[symbol].con_id, self._codes[symbol],
                                self._expiries, strikes)  # fmt: skip
            self._chains[symbol] = chain
        return chain

    def expiries(self, symbol: str) -> list[date]:
        """Listed expiries (weeklies + monthlies to ~120 days), soonest first."""
        return list(self._chain(symbol).expiries) if symbol in self._index else []

    def strikes(self, symbol: str) -> list[float]:
        """All strikes listed for the symbol, ascending."""
        return list(self._chain(symbol).strikes) if symbol in self._index else []

    def option(
        self, symbol: str, expiry: date, strike: float, right: Right
    ) -> OptionContract | None:
        if symbol not in self._index:
            return None
        return self._chain(symbol).by_key.get((expiry, strike_key(strike), right))

    def options(
        self,
        symbol: str,
        expiry: date | None = None,
        right: Right | None = None,
        strike: float | None = None,
    ) -> list[OptionContract]:
        """Listed options matching every given filter (for reqContractDetails)."""
        if symbol not in self._index:
            return []
        chain = self._chain(symbol)
        if expiry is not None and right is not None and strike is not None:
            found = chain.by_key.get((expiry, strike_key(strike), right))
            return [] if found is None else [found]
        key = None if strike is None else strike_key(strike)
        return [
            c
            for c in chain.contracts
            if (expiry is None or c.expiry == expiry)
            and (right is None or c.right == right)
            and (key is None or strike_key(c.strike) == key)
        ]

    def register_option(self, contract: OptionContract) -> None:
        """Make an option that is no longer listed quotable again (a persisted position
        whose strike or expiry the day's listing does not carry)."""
        if contract.symbol not in self._index:
            raise KeyError(f"the simulated market does not carry {contract.symbol!r}")
        if self.contract(contract.con_id) is None:
            self._extra_options[contract.con_id] = contract
            if contract.expiry not in self._expiry_close and self._sessions.is_session(
                contract.expiry
            ):
                self._expiry_close[contract.expiry] = expiry_close_epoch(
                    contract.expiry, self._sessions
                )

    def option_contract(
        self, symbol: str, expiry: date, strike: float, right: Right
    ) -> OptionContract:
        """An option's contract whether listed or not (for tests and the exchange)."""
        found = self.option(symbol, expiry, strike, right)
        if found is not None:
            return found
        return make_option(symbol, self._stocks[symbol].con_id, self._codes[symbol], expiry,
                           strike, right)  # fmt: skip

    def release_option(self, con_id: int) -> None:
        """Stop tracking an option's quote (no one streams it any more)."""
        self._active.pop(con_id, None)
        self._oq_cache.pop(con_id, None)

    def option_quote(self, con_id: int) -> OptionQuote:
        """An option's quote and bid/ask/model greeks; KeyError for an unknown conId."""
        cached = self._oq_cache.get(con_id)
        if cached is not None:
            opt = self._active[con_id]
            if cached[0] == self._version[self._index[opt.symbol]]:
                return cached[1]
        contract = self._active.get(con_id) or self.contract(con_id)
        if not isinstance(contract, OptionContract):
            raise KeyError(f"no listed option with conId {con_id}")
        self._active[con_id] = contract
        self._reprice_stale()
        return self._oq_cache[con_id][1]

    def option_quotes(self, con_ids: Sequence[int]) -> list[OptionQuote]:
        """Quotes for many options at once, priced in one vectorised pass (a whole chain
        costs one Black-Scholes call instead of one per contract)."""
        for con_id in con_ids:
            if con_id not in self._active:
                contract = self.contract(con_id)
                if not isinstance(contract, OptionContract):
                    raise KeyError(f"no listed option with conId {con_id}")
                self._active[con_id] = contract
        self._reprice_stale()
        return [self._oq_cache[con_id][1] for con_id in con_ids]

    def open_interest(self, con_id: int) -> tuple[Right, int]:
        """An option's right and open interest in contracts (generic tick 101): the day's
        number, fixed for the session (``chains.open_interest``); KeyError for an unknown
        conId."""
        contract = self._active.get(con_id) or self.contract(con_id)
        if not isinstance(contract, OptionContract):
            raise KeyError(f"no listed option with conId {con_id}")
        i = self._index[contract.symbol]
        value = open_interest(
            self.seed, con_id, contract.strike, float(self._ref_spot[i]),
            (contract.expiry - self.session_day()).days, float(self._avg_volume[i]),
            float(self._base_vol[i]), contract.right, is_monthly(contract.expiry),
        )  # fmt: skip
        return contract.right, value

    def _expiry_epoch(self, expiry: date) -> float:
        found = self._expiry_close.get(expiry)
        if found is not None:
            return found
        # unlisted expiry (registered from a persisted position): 16:00 ET that day
        close = datetime.combine(expiry, datetime.min.time(), ET).replace(hour=16)
        return close.timestamp()

    def _reprice_stale(self) -> None:
        stale: list[OptionContract] = []
        for con_id, opt in self._active.items():
            cached = self._oq_cache.get(con_id)
            if cached is None or cached[0] != self._version[self._index[opt.symbol]]:
                stale.append(opt)
        if not stale:
            return
        idx = np.array([self._index[o.symbol] for o in stale])
        closes = np.array([self._expiry_epoch(o.expiry) for o in stale])
        priced = price_options(
            spot=self._price[idx],
            strike=np.array([o.strike for o in stale]),
            t=years_to(closes, self._time),
            is_call=np.array([o.right == "C" for o in stale]),
            sigma_now=self._sigma[idx],
            sigma_long=self._base_vol[idx],
            index=self._index_opts[idx],
            rate=self.rate,
            prev_spot=self._prev_close[idx],
            prev_t=years_to(closes, self._prev_close_epoch),
        )
        self._store_quotes(stale, idx, priced)

    def _store_quotes(self, stale: list[OptionContract], idx: NDArray[np.int64],
                      p: PricedOptions) -> None:  # fmt: skip
        now = self.time()
        session = self._sessions
        c = self._cur
        length = max(float(session.closes[c] - session.opens[c]), 1.0)
        day_share = float(np.clip((self._time - session.opens[c]) / length, 0.0, 1.0))
        if not self._opened:
            day_share = 0.0
        rows = {
            name: getattr(p, name).tolist() for name in ("iv", "delta", "gamma", "vega", "theta")
        }
        bid, ask, model, prev = p.bid.tolist(), p.ask.tolist(), p.model.tolist(), p.prev_close
        prev_list = np.round(prev, 2).tolist()
        z = p.z.tolist()
        spots = self._price[idx].tolist()
        for k, opt in enumerate(stale):
            i = int(idx[k])
            version = int(self._version[i])
            h = (opt.con_id * 2654435761 + version * 40503) & 0xFFFFFFFF
            depth = math.exp(-0.125 * z[k] * z[k])
            bid_size = float(1 + int(depth * (10 + h % 190)))
            ask_size = float(1 + int(depth * (10 + (h >> 8) % 190)))
            base_volume = self._avg_volume[i] / 5000.0 * math.exp(-0.5 * z[k] * z[k])
            volume = float(int(base_volume * (0.5 + (opt.con_id % 97) / 97.0) * day_share))
            greeks = [
                OptionGreeks(
                    implied_vol=rows["iv"][line][k],
                    delta=rows["delta"][line][k],
                    option_price=(bid[k], ask[k], model[k])[line],
                    pv_dividend=0.0,
                    gamma=rows["gamma"][line][k],
                    vega=rows["vega"][line][k],
                    theta=rows["theta"][line][k],
                    underlying_price=spots[k],
                )
                for line in range(3)
            ]
            quote = Quote(
                bid=bid[k],
                ask=ask[k],
                last=round(model[k], 2),
                bid_size=bid_size,
                ask_size=ask_size,
                last_size=float(1 + h % 10),
                volume=volume,
                high=math.nan,
                low=math.nan,
                close=prev_list[k],
                time=now,
            )
            self._oq_cache[opt.con_id] = (version, OptionQuote(quote, *greeks))
