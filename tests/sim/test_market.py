"""The simulated market: seeded history, strategies that fire, intraday moves, stock quotes."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from tui_trader.core.settings import DEFAULT_SYMBOLS, StrategySettings
from tui_trader.sim.clock import SimClock, xnys_sessions
from tui_trader.sim.market import YEAR_TRADING_SECONDS, Market
from tui_trader.sim.universe import TICKERS, stock_con_id, ticker_info

FRIDAY_1430 = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)  # 14:30 EST, a session
SATURDAY = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
FRIDAY_1700 = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # after the close


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make(start: datetime = FRIDAY_1430, speed: float = 1.0, seed: int = 7,
         symbols: list[str] | None = None) -> tuple[Market, FakeMonotonic]:  # fmt: skip
    mono = FakeMonotonic()
    return Market(SimClock(start, speed, mono), seed=seed, symbols=symbols), mono


@pytest.fixture(scope="module")
def market() -> Market:
    return make()[0]


def arrays(m: Market, completed_only: bool = False) -> dict[str, np.ndarray]:
    rows = []
    for sym in m.symbols:
        bars = m.daily_bars(sym)
        if completed_only and bars[-1].day == m.session_day():
            bars = bars[:-1]
        rows.append([(b.open, b.high, b.low, b.close, b.volume) for b in bars])
    a = np.array(rows, dtype=float)
    return {k: a[:, :, i] for i, k in enumerate(("open", "high", "low", "close", "volume"))}


# --- a tiny, independent implementation of SPEC sections 2 and 4 ------------------------


def _wilder(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    avg = x[:, 1 : n + 1].mean(axis=1)  # first value at t = n from x_1..x_n
    out[:, n] = avg
    for t in range(n + 1, x.shape[1]):
        avg = (avg * (n - 1) + x[:, t]) / n
        out[:, t] = avg
    return out


def _rsi(close: np.ndarray) -> np.ndarray:
    d = np.diff(close, axis=1, prepend=np.nan)
    gain = _wilder(np.where(d > 0, d, 0.0), 14)
    loss = _wilder(np.where(d < 0, -d, 0.0), 14)
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = 100.0 - 100.0 / (1.0 + gain / loss)
    return np.where(loss == 0, 100.0, rsi) + np.where(np.isnan(gain), np.nan, 0.0)


def _atr(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    prev = np.concatenate([np.full((close.shape[0], 1), np.nan), close[:, :-1]], axis=1)
    return _wilder(np.maximum(high, prev) - np.minimum(low, prev), 14)


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(n - 1, x.shape[1]):
        out[:, t] = x[:, t - n + 1 : t + 1].mean(axis=1)
    return out


def _rolling(x: np.ndarray, n: int, f: np.ufunc) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    for t in range(n - 1, x.shape[1]):
        out[:, t] = f.reduce(x[:, t - n + 1 : t + 1], axis=1)
    return out


def strategies(a: dict[str, np.ndarray], s: StrategySettings) -> dict[str, np.ndarray]:
    close, high, low = a["close"], a["high"], a["low"]
    rsi, atr = _rsi(close), _atr(high, low, close)
    rsi_prev = np.concatenate([np.full((close.shape[0], 1), np.nan), rsi[:, :-1]], axis=1)
    sma50, sma200 = _sma(close, 50), _sma(close, 200)
    hhv, llv = _rolling(high, 20, np.maximum), _rolling(low, 20, np.minimum)
    with np.errstate(invalid="ignore"):
        return {
            "HIGH_BASE": ((hhv - close) / atr <= s.high_base_max_atr_ratio)
            & (rsi >= s.high_base_min_rsi),
            "LOW_BASE": ((close - llv) / atr <= s.low_base_min_atr_ratio)
            & (rsi <= s.low_base_max_rsi),
            "BULL_PULLBACK": (sma50 > sma200)
            & (rsi_prev < s.bull_pullback_rsi_threshold)
            & (s.bull_pullback_rsi_threshold <= rsi),
            "BEAR_RALLY": (sma50 < sma200)
            & (rsi_prev > s.bear_rally_rsi_threshold)
            & (s.bear_rally_rsi_threshold >= rsi),
        }


def test_local_rsi_matches_a_hand_computed_series() -> None:
    # 15 closes: gains 1 on the 7 up days, losses 0.5 on the 7 down days -> RSI at t=14
    closes = [10.0]
    for i in range(14):
        closes.append(closes[-1] + (1.0 if i % 2 == 0 else -0.5))
    rsi = _rsi(np.array([closes]))
    assert math.isnan(rsi[0, 13])
    assert rsi[0, 14] == pytest.approx(100 - 100 / (1 + (7 / 14) / (3.5 / 14)))


# --- history --------------------------------------------------------------------------


def test_history_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    a, _ = make(seed=7)
    b, _ = make(seed=7)
    c, _ = make(seed=8)
    assert a.daily_bars("AAPL") == b.daily_bars("AAPL")
    assert a.quote("AAPL") == b.quote("AAPL")
    assert a.daily_bars("AAPL") != c.daily_bars("AAPL")


def test_a_symbols_history_does_not_depend_on_the_other_symbols(market: Market) -> None:
    small, _ = make(symbols=["AAPL", "SPY"])
    full = market.daily_bars("AAPL")
    assert small.daily_bars("AAPL")[:-1] == full[:-1]  # today's intraday path may differ


def test_history_sessions_come_from_xnys_and_end_before_today(market: Market) -> None:
    bars = market.daily_bars("SPY")
    sessions = xnys_sessions(date(2026, 11, 20))
    i = sessions.index_on_or_after(date(2026, 11, 20))
    completed = bars[:-1]
    assert len(completed) == 520
    assert [b.day for b in completed] == list(sessions.days[i - 520 : i])
    assert completed[-1].day == date(2026, 11, 19)
    assert date(2026, 11, 26) not in {b.day for b in bars}  # Thanksgiving 2025 is absent too
    assert date(2025, 11, 27) not in {b.day for b in bars}
    assert bars[-1].day == date(2026, 11, 20)  # today's provisional bar


def test_history_bars_are_valid_ohlc(market: Market) -> None:
    a = arrays(market)
    assert np.all(np.isfinite(a["close"]))
    assert np.all(a["low"] > 0)
    assert np.all(a["high"] >= np.maximum(a["open"], a["close"]))
    assert np.all(a["low"] <= np.minimum(a["open"], a["close"]))
    assert np.all(a["volume"][:, :-1] > 0)
    # prices are on the cent grid
    assert np.allclose(np.round(a["close"] * 100), a["close"] * 100)


def test_history_ends_near_the_tables_price_level_and_typical_volume(market: Market) -> None:
    a = arrays(market, completed_only=True)
    for i, sym in enumerate(market.symbols):
        info = TICKERS[sym]
        assert a["close"][i, -1] == pytest.approx(info.price, rel=0.15), sym
        median_volume = float(np.median(a["volume"][i]))
        assert 0.5 * info.avg_volume < median_volume < 1.5 * info.avg_volume, sym


def test_history_has_trends_gaps_and_volatility_clusters(market: Market) -> None:
    a = arrays(market, completed_only=True)
    log_ret = np.diff(np.log(a["close"]), axis=1)
    gaps = np.abs(np.log(a["open"][:, 1:] / a["close"][:, :-1]))
    daily_sd = log_ret.std(axis=1)
    # occasional overnight gaps of more than 3 daily sigmas exist
    assert np.sum(gaps > 3 * daily_sd[:, None]) > 20
    # volatility clusters: |returns| are autocorrelated
    absr = np.abs(log_ret)
    x = absr[:, 1:] - absr.mean(axis=1, keepdims=True)
    y = absr[:, :-1] - absr.mean(axis=1, keepdims=True)
    assert float(np.mean(np.sum(x * y, axis=1) / np.sum(x * x, axis=1))) > 0.02
    # annualised realised vol is in the neighbourhood of the table's vol
    realised = daily_sd * math.sqrt(252)
    table = np.array([TICKERS[s].vol for s in market.symbols])
    assert np.all((realised > 0.6 * table) & (realised < 1.8 * table))


def test_all_four_strategies_fire_and_the_last_bar_has_signals(market: Market) -> None:
    settings = StrategySettings()
    for completed_only in (True, False):
        fired = strategies(arrays(market, completed_only), settings)
        for name, mask in fired.items():
            assert mask.sum() >= 20, (name, completed_only)
        last = sum(int(mask[:, -1].sum()) for mask in fired.values())
        assert last >= 3, completed_only


def test_history_generation_is_fast() -> None:
    import time

    from tui_trader.sim.history import generate_history

    sessions = xnys_sessions(date(2026, 11, 20))
    days = sessions.days[-900:-380]
    infos = [ticker_info(s) for s in DEFAULT_SYMBOLS]
    started = time.perf_counter()
    hist = generate_history(infos, days, seed=3)
    assert time.perf_counter() - started < 0.5
    assert hist.close.shape == (60, 520)


def test_unknown_symbols_get_deterministic_synthetic_data() -> None:
    m, _ = make(symbols=["ZZZQ", "AAPL"])
    info = m.info("ZZZQ")
    assert info is not None and info.synthetic
    assert ticker_info("ZZZQ") == info
    stock = m.stock("ZZZQ")
    assert stock is not None and stock.con_id == stock_con_id("ZZZQ")
    assert len(m.daily_bars("ZZZQ")) == 521
    assert m.option_quote(m.options("ZZZQ")[0].con_id).quote.ask > 0


# --- today's bar and stock quotes ------------------------------------------------------


def test_provisional_bar_tracks_the_last_price(market: Market) -> None:
    bar = market.daily_bars("SPY")[-1]
    q = market.quote("SPY")
    assert bar.day == date(2026, 11, 20)
    assert bar.close == q.last
    assert bar.high == q.high and bar.low == q.low
    assert bar.low <= bar.open <= bar.high
    assert bar.volume == q.volume
    # by 14:30 most of a day's volume has traded (U-shaped profile: 62 % by 5/6 of the day)
    assert 0.3 * TICKERS["SPY"].avg_volume < bar.volume < 1.2 * TICKERS["SPY"].avg_volume
    assert q.close == market.daily_bars("SPY")[-2].close


def test_no_provisional_bar_on_a_weekend() -> None:
    m, _ = make(start=SATURDAY)
    bars = m.daily_bars("SPY")
    assert bars[-1].day == date(2026, 11, 20)
    assert len(bars) == 520
    assert m.session_day() == date(2026, 11, 23)
    assert not m.is_open()
    q = m.quote("SPY")
    assert q.close == bars[-1].close and q.high == bars[-1].high


def test_stock_quotes_have_believable_spreads_and_round_lot_sizes(market: Market) -> None:
    for sym in market.symbols:
        q = market.quote(sym)
        spread = round(q.ask - q.bid, 2)
        assert 0.01 <= spread <= 0.06, sym
        assert q.bid <= market.mid(sym) <= q.ask
        assert q.bid_size % 100 == 0 and q.ask_size % 100 == 0 and q.bid_size > 0
        assert q.time == FRIDAY_1430
    assert round(market.quote("SPY").ask - market.quote("SPY").bid, 2) == 0.01
    assert round(market.quote("COST").ask - market.quote("COST").bid, 2) == 0.04


# --- intraday moves -------------------------------------------------------------------


def test_moves_scale_with_speed_times_elapsed_time() -> None:
    fast, fast_mono = make(speed=10.0)
    slow, slow_mono = make(speed=1.0)
    fast_mono.t += 1.0
    slow_mono.t += 10.0
    fast.advance()
    slow.advance()
    assert fast.time() == slow.time() == FRIDAY_1430 + timedelta(seconds=10)
    for sym in ("SPY", "TSLA"):
        assert fast.quote(sym) == slow.quote(sym)
        assert fast.mid(sym) != make()[0].mid(sym)


def test_no_elapsed_time_means_no_move() -> None:
    m, _ = make()
    before = {s: m.quote(s) for s in m.symbols}
    assert m.advance() == set()
    assert {s: m.quote(s) for s in m.symbols} == before


def test_step_variance_matches_the_symbols_volatility() -> None:
    m, mono = make()
    steps, dt_s = 120, 30.0
    sq = np.zeros(len(m.symbols))
    expected = np.zeros(len(m.symbols))
    for _ in range(steps):
        before = np.array([m.mid(s) for s in m.symbols])
        vol = np.array([m.volatility(s) for s in m.symbols])
        mono.t += dt_s
        m.advance()
        after = np.array([m.mid(s) for s in m.symbols])
        sq += np.log(after / before) ** 2
        expected += vol**2 * dt_s / YEAR_TRADING_SECONDS
    ratio = sq.sum() / expected.sum()
    assert 0.85 < ratio < 1.15


def test_prices_do_not_move_outside_regular_hours() -> None:
    m, mono = make(start=FRIDAY_1700, speed=60.0)
    before = {s: m.quote(s) for s in m.symbols}
    mono.t += 60.0  # one simulated hour, still Friday evening
    assert m.advance() == set()
    assert {s: (m.quote(s).bid, m.quote(s).last) for s in m.symbols} == {
        s: (q.bid, q.last) for s, q in before.items()
    }


def test_frozen_symbol_neither_moves_nor_reports_changes() -> None:
    m, mono = make()
    m.freeze("AAPL")
    frozen_quote = m.quote("AAPL")
    opt = m.options("AAPL")[100]
    frozen_option = m.option_quote(opt.con_id)
    spy_opt = m.options("SPY")[100]
    m.option_quote(spy_opt.con_id)
    mono.t += 5.0
    changed = m.advance()
    assert m.stock("AAPL") is not None
    assert m.stock("AAPL").con_id not in changed  # type: ignore[union-attr]
    assert opt.con_id not in changed
    assert m.stock("SPY").con_id in changed  # type: ignore[union-attr]
    assert spy_opt.con_id in changed
    assert m.quote("AAPL").bid == frozen_quote.bid and m.quote("AAPL").last == frozen_quote.last
    assert m.option_quote(opt.con_id) == frozen_option
    assert m.is_frozen("AAPL")
    m.unfreeze("AAPL")
    mono.t += 5.0
    assert m.stock("AAPL").con_id in m.advance()  # type: ignore[union-attr]


def test_the_session_rolls_over_into_completed_history() -> None:
    m, _ = make(start=datetime(2026, 11, 20, 20, 50, tzinfo=UTC))  # 15:50 EST Friday
    clock = m.clock
    clock.jump_to(datetime(2026, 11, 20, 21, 30, tzinfo=UTC))  # after the close
    m.advance()
    friday = m.daily_bars("SPY")[-1]
    assert friday.day == date(2026, 11, 20) and not m.is_open()
    friday_close = m.quote("SPY").last
    assert friday.close == friday_close
    clock.jump_to(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))  # Monday 10:00 EST
    m.advance()
    bars = m.daily_bars("SPY")
    assert [b.day for b in bars[-2:]] == [date(2026, 11, 20), date(2026, 11, 23)]
    assert bars[-2].close == friday_close
    assert len(bars) == 522
    assert m.quote("SPY").close == friday_close
    assert m.is_open() and m.session_day() == date(2026, 11, 23)
    # only half an hour of Monday's volume so far
    assert bars[-1].volume < 0.4 * TICKERS["SPY"].avg_volume


def test_set_price_moves_the_mid_and_reports_the_change() -> None:
    m, _ = make()
    m.set_price("SPY", 600.004)
    q = m.quote("SPY")
    assert (q.bid, q.ask, q.last) == (600.0, 600.01, 600.0)
    assert m.stock("SPY").con_id in m.advance()  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        m.set_price("SPY", float("nan"))
    with pytest.raises(KeyError):
        m.quote("NOPE")


def test_static_data_is_complete_and_con_ids_are_stable_and_unique(market: Market) -> None:
    stocks = market.stocks()
    assert [s.symbol for s in stocks] == list(DEFAULT_SYMBOLS)
    assert len({s.con_id for s in stocks}) == 60
    for s in stocks:
        assert s.primary_exchange in ("NASDAQ", "NYSE", "ARCA")
        assert s.market_cap >= 10e9 and s.avg_volume >= 1e6 and s.long_name and s.sector
        assert market.contract(s.con_id) == s
    assert market.stock("AAPL").con_id == make(seed=99)[0].stock("AAPL").con_id  # type: ignore[union-attr]
    assert market.stock("SPY").primary_exchange == "ARCA"  # type: ignore[union-attr]


def test_the_state_at_start_does_not_depend_on_clock_speed() -> None:
    """A one-shot scan (speed 0) and a running gateway (speed 1, its clock a few
    microseconds on) must show the same market at the same moment."""
    from tui_trader.sim.clock import SimClock

    start = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)
    still = Market(SimClock(start, speed=0.0), seed=7, symbols=["AAPL", "SPY"])
    ticks = iter([0.0, 0.00025])
    running = Market(SimClock(start, 1.0, lambda: next(ticks, 0.00025)), seed=7,
                     symbols=["AAPL", "SPY"])  # fmt: skip
    for symbol in ("AAPL", "SPY"):
        a, b = still.quote(symbol), running.quote(symbol)
        assert abs(a.last - b.last) <= 0.02, symbol  # at most one sub-millisecond step apart
        assert still.daily_bars(symbol)[-1].high == pytest.approx(
            running.daily_bars(symbol)[-1].high, abs=0.02
        )
