"""A straightforward implementation of SPEC 12, for checking and timing the product's.

It reads SPEC 12 literally and loops: per run, per day, per symbol. Indicators are plain
Python loops over each symbol's bars; each signal gets the full synthetic chain (every
Friday in the DTE window, every strike from 0.7 to 1.3 x spot, calls and puts) as an
:class:`~tui_trader.core.spreads.OptionChain` and SPEC 5's :func:`select_spreads` on it;
exits are SPEC 9 written out again; sizing is a float floor. It shares with the product
only SPEC 5's selection and the Black-Scholes formula (``bs_price`` / ``bs_greeks``),
which SPEC 12 names as its model -- so a disagreement in the signals, the chain's shape
or pruning, the tie-break, the book, the exits, the money or the metrics shows up.

Not part of the product: it lives with the benchmarks, and is ~100x slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from tui_trader.core.options import bs_greeks, bs_price
from tui_trader.core.settings import Settings
from tui_trader.core.spreads import OptionChain, select_spreads

TABLE = ("HIGH_BASE", "LOW_BASE", "BULL_PULLBACK", "BEAR_RALLY")
LONG_OF = {"HIGH_BASE": True, "LOW_BASE": False, "BULL_PULLBACK": True, "BEAR_RALLY": False}


@dataclass
class Series:
    """One symbol's valid bars and their indicators, index = the symbol's bar number."""

    dates: list[date]
    o: list[float]
    h: list[float]
    lo: list[float]
    c: list[float]
    v: list[float]
    at: dict[date, int] = field(default_factory=dict)
    sma50: list[float] = field(default_factory=list)
    sma200: list[float] = field(default_factory=list)
    rsi: list[float] = field(default_factory=list)
    atr: list[float] = field(default_factory=list)
    hhv: list[float] = field(default_factory=list)
    llv: list[float] = field(default_factory=list)
    avgvol: list[float] = field(default_factory=list)
    sigma_raw: list[float] = field(default_factory=list)


NAN = float("nan")


def _valid(o: float, h: float, lo: float, c: float, v: float) -> bool:
    prices = (o, h, lo, c)
    if not all(math.isfinite(p) and 0 < p < 1.7976931348623157e308 for p in prices):
        return False
    return h >= lo and math.isfinite(v) and 0 <= v < 1.7976931348623157e308


def _sma(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    total = 0.0
    for t in range(len(x)):
        total += x[t]
        if t >= n:
            total -= x[t - n]
        if t >= n - 1:
            out[t] = total / n
    return out


def _wilder_rsi(c: list[float]) -> list[float]:
    out = [NAN] * len(c)
    g = lo = 0.0
    for t in range(1, len(c)):
        d = c[t] - c[t - 1]
        gain, loss = (d if d > 0 else 0.0), (-d if d < 0 else 0.0)
        if t <= 14:
            g += gain
            lo += loss
            if t == 14:
                g, lo = g / 14, lo / 14
        else:
            g = (g * 13 + gain) / 14
            lo = (lo * 13 + loss) / 14
        if t >= 14:
            out[t] = 100.0 if g + lo == 0 else 100.0 * (g / (g + lo))
    return out


def _wilder_atr(h: list[float], lo: list[float], c: list[float]) -> list[float]:
    out = [NAN] * len(c)
    a = 0.0
    for t in range(1, len(c)):
        tr = max(h[t], c[t - 1]) - min(lo[t], c[t - 1])
        if t <= 14:
            a += tr
            if t == 14:
                a /= 14
        else:
            a = (a * 13 + tr) / 14
        if t >= 14:
            out[t] = a
    return out


def _window(x: list[float], n: int, pick: object) -> list[float]:
    return [pick(x[t - n + 1 : t + 1]) if t >= n - 1 else NAN for t in range(len(x))]  # type: ignore[operator]


def _sigma_raw(c: list[float]) -> list[float]:
    out = [NAN] * len(c)
    r = [NAN] + [math.log(c[t] / c[t - 1]) for t in range(1, len(c))]
    for t in range(20, len(c)):
        w = r[t - 19 : t + 1]
        total = 0.0
        for x in w:
            total += x
        mean = total / 20
        ss = 0.0
        for x in w:
            ss += (x - mean) * (x - mean)
        out[t] = math.sqrt(ss / 19) * math.sqrt(252.0)
    return out


def load(frame: pd.DataFrame) -> tuple[list[date], dict[str, Series]]:
    """Every input date, and each symbol's valid bars with indicators."""
    f = frame.copy()
    f["date"] = pd.to_datetime(f["date"]).dt.date
    days = sorted(set(f["date"]))
    out: dict[str, Series] = {}
    for sym, g in f.sort_values(["symbol", "date"]).groupby("symbol", sort=True):
        rows = [
            r for r in g.itertuples(index=False) if _valid(r.open, r.high, r.low, r.close, r.volume)
        ]
        s = Series(
            dates=[r.date for r in rows],
            o=[float(r.open) for r in rows],
            h=[float(r.high) for r in rows],
            lo=[float(r.low) for r in rows],
            c=[float(r.close) for r in rows],
            v=[float(r.volume) for r in rows],
        )
        s.at = {d: k for k, d in enumerate(s.dates)}
        s.sma50, s.sma200 = _sma(s.c, 50), _sma(s.c, 200)
        s.rsi = _wilder_rsi(s.c)
        s.atr = _wilder_atr(s.h, s.lo, s.c)
        s.hhv, s.llv = _window(s.h, 20, max), _window(s.lo, 20, min)
        s.avgvol = _sma(s.v, 20)
        s.sigma_raw = _sigma_raw(s.c)
        out[str(sym)] = s
    return days, out


def _fires(s: Series, t: int, name: str, st: Settings) -> bool:
    c, a, r = s.c[t], s.atr[t], s.rsi[t]
    x = st.strategy
    if name == "HIGH_BASE":
        return (
            a > 0 and (s.hhv[t] - c) / a <= x.high_base_max_atr_ratio and r >= x.high_base_min_rsi
        )
    if name == "LOW_BASE":
        return a > 0 and (c - s.llv[t]) / a <= x.low_base_min_atr_ratio and r <= x.low_base_max_rsi
    if t < 200 or t < 1:
        return False
    prev = s.rsi[t - 1]
    if name == "BULL_PULLBACK":
        th = x.bull_pullback_rsi_threshold
        return s.sma50[t] > s.sma200[t] and prev < th <= r
    th = x.bear_rally_rsi_threshold
    return s.sma50[t] < s.sma200[t] and prev > th >= r


def _sigma(s: Series, t: int, st: Settings) -> float:
    raw = s.sigma_raw[t]
    return NAN if math.isnan(raw) else min(max(raw * st.backtest.iv_multiplier, 0.05), 3.0)


def _quote(
    spot: float, k: float, dte: int, sig: float, call: bool, st: Settings
) -> tuple[float, float, float]:
    mid = float(
        bs_price(
            spot,
            k,
            max(dte, 0) / 365.0,
            st.pricing.risk_free_rate,
            st.pricing.dividend_yield,
            sig,
            call,
        )
    )
    h = max(st.backtest.min_half_spread, st.backtest.half_spread_pct * mid)
    return mid, max(0.0, mid - h), mid + h


@dataclass
class Spread:
    expiry: date
    call: bool
    k1: float
    k2: float
    debit: float
    width: float
    rr: float
    pop: float


def choose(day: date, spot: float, sig: float, long: bool, st: Settings) -> Spread | None:
    """The full synthetic chain (calls and puts) and SPEC 5, ties as SPEC 12 says."""
    s = 1.0 if spot < 100 else 2.5 if spot < 250 else 5.0
    ks = [k * s for k in range(math.floor(0.7 * spot / s), math.ceil(1.3 * spot / s) + 1) if k >= 1]
    fridays = [
        day + timedelta(days=n)
        for n in range(st.selection.min_dte, st.selection.max_dte + 1)
        if (day + timedelta(days=n)).weekday() == 4
    ]
    exp, strike, call, dte = [], [], [], []
    for e in fridays:
        for right in (False, True):
            for k in ks:
                exp.append(e)
                strike.append(k)
                call.append(right)
                dte.append((e - day).days)
    if not exp:
        return None
    g = bs_greeks(
        spot,
        np.array(strike),
        np.maximum(np.array(dte), 0) / 365.0,
        st.pricing.risk_free_rate,
        st.pricing.dividend_yield,
        sig,
        np.array(call),
    )
    h = np.maximum(st.backtest.min_half_spread, st.backtest.half_spread_pct * g.price)
    chain = OptionChain(
        expiry=exp,
        strike=strike,
        is_call=np.array(call),
        bid=np.maximum(0.0, g.price - h),
        ask=g.price + h,
        delta=g.delta,
        iv=np.full(len(exp), sig),
    )
    sel = select_spreads(chain, spot, "LONG" if long else "SHORT", day, st.selection, st.pricing)
    if len(sel) == 0:
        return None
    best = [
        i
        for i in range(len(sel))
        if sel.reward_risk[i] == sel.reward_risk[0]
        and sel.pop[i] == sel.pop[0]
        and sel.cost[i] == sel.cost[0]
    ]
    i = min(
        best,
        key=lambda i: (
            sel.expiry[i],
            abs(sel.long_strike[i] - spot),
            sel.width[i],
            sel.long_strike[i],
        ),
    )
    return Spread(
        sel.expiry[i].item(),
        bool(sel.is_call[i]),
        float(sel.long_strike[i]),
        float(sel.short_strike[i]),
        float(sel.debit[i]),
        float(sel.width[i]),
        float(sel.reward_risk[i]),
        float(sel.pop[i]),
    )


@dataclass
class Open:
    symbol: str
    strategy: str
    long: bool
    entry: date
    spread: Spread
    n: int
    stop: float
    targets: list[tuple[str, float]]
    mark: float
    value: float


@dataclass
class RefTrade:
    symbol: str
    strategy: str
    direction: str
    entry_date: str
    exit_date: str
    expiry: str
    right: str
    long_strike: float
    short_strike: float
    contracts: int
    entry_debit: float
    exit_value: float
    pnl: float
    exit_reason: str


def _levels(
    long: bool, c: float, atr: float, hhv: float, llv: float, st: Settings
) -> tuple[float, list[tuple[str, float]]]:
    e = st.exits
    sign = 1.0 if long else -1.0
    stop = c - sign * e.stop_loss_atr_mult * atr
    cands = []
    if e.use_r_multiple_target:
        cands.append(("TARGET_R", c + sign * e.r_multiple_target * abs(c - stop)))
    if e.use_atr_target:
        cands.append(("TARGET_ATR", c + sign * e.atr_target_multiple * atr))
    if e.use_fibo_targets:
        base = llv if long else hhv
        cands.append(("TARGET_FIBO", base + sign * e.fibo_target_level * (hhv - llv)))
    return stop, [(n, lv) for n, lv in cands if sign * (lv - c) > 0]


def run(
    days: list[date], data: dict[str, Series], st: Settings, strategies: tuple[str, ...]
) -> tuple[list[RefTrade], list[float]]:
    """One run over every day: its trades (in entry order) and its daily equity."""
    bt, risk, mult = st.backtest, st.risk, st.selection.multiplier
    comm = bt.commission_per_contract
    book: list[Open] = []
    trades: list[tuple[int, RefTrade]] = []
    seq: dict[int, int] = {}
    realised = 0.0
    equity: list[float] = []
    entered = 0

    def close(p: Open, d: date, value: float, reason: str) -> None:
        nonlocal realised
        pnl = (value - p.spread.debit) * mult * p.n - 4 * comm * p.n
        realised += pnl
        trades.append(
            (
                seq[id(p)],
                RefTrade(
                    p.symbol,
                    p.strategy,
                    "LONG" if p.long else "SHORT",
                    p.entry.isoformat(),
                    d.isoformat(),
                    p.spread.expiry.isoformat(),
                    "C" if p.long else "P",
                    p.spread.k1,
                    p.spread.k2,
                    p.n,
                    p.spread.debit,
                    value,
                    pnl,
                    reason,
                ),
            )
        )
        book.remove(p)

    for di, d in enumerate(days):
        # (1) value every open spread; exits for those opened before today
        for p in list(book):
            s = data[p.symbol]
            t = s.at.get(d)
            if t is None:
                continue
            c, sig = s.c[t], _sigma(s, t, st)
            dte = (p.spread.expiry - d).days
            m1, b1, _ = _quote(c, p.spread.k1, dte, sig, p.long, st)
            m2, _, a2 = _quote(c, p.spread.k2, dte, sig, p.long, st)
            p.mark = m1 - m2
            p.value = min(max(b1 - a2, 0.0), p.spread.width)
            if p.entry == d:
                continue
            sign = 1.0 if p.long else -1.0
            reason = None
            if sign * (c - p.stop) <= 0:
                reason = "STOP"
            else:
                for name, lv in p.targets:
                    if sign * (c - lv) >= 0:
                        reason = name
                        break
            if reason is None and dte <= st.exits.min_days_to_exit:
                reason = "TIME"
            if reason is not None:
                close(p, d, p.value, reason)
        # (2) entries
        cands = []
        for sym, s in data.items():
            t = s.at.get(d)
            if t is None or t < 20:
                continue
            fired = [n for n in TABLE if n in strategies and _fires(s, t, n, st)]
            longs = [n for n in fired if LONG_OF[n]]
            shorts = [n for n in fired if not LONG_OF[n]]
            if bool(longs) == bool(shorts):
                continue
            if not (s.c[t] >= st.universe.min_price and s.avgvol[t] >= st.universe.min_volume):
                continue
            sig = _sigma(s, t, st)
            if not sig <= risk.max_volatility_iv:
                continue
            long = bool(longs)
            spread = choose(d, s.c[t], sig, long, st)
            if spread is None:
                continue
            cands.append((-spread.rr, -spread.pop, sym, (longs or shorts)[0], long, spread, t))
        cands.sort(key=lambda x: (x[0], x[1], x[2]))
        today = 0
        for _, _, sym, strat, long, spread, t in cands:
            if len(book) >= risk.max_positions or today >= risk.max_daily_trades:
                break
            if any(p.symbol == sym for p in book):
                continue
            n = min(
                risk.max_contracts_per_trade,
                math.floor(
                    (bt.initial_equity + realised) * risk.risk_per_trade / (spread.debit * mult)
                ),
            )
            if n < 1:
                continue
            s = data[sym]
            stop, targets = _levels(long, s.c[t], s.atr[t], s.hhv[t], s.llv[t], st)
            dte = (spread.expiry - d).days
            sig = _sigma(s, t, st)
            m1, b1, _ = _quote(s.c[t], spread.k1, dte, sig, long, st)
            m2, _, a2 = _quote(s.c[t], spread.k2, dte, sig, long, st)
            p = Open(
                sym,
                strat,
                long,
                d,
                spread,
                n,
                stop,
                targets,
                m1 - m2,
                min(max(b1 - a2, 0.0), spread.width),
            )
            seq[id(p)] = entered
            entered += 1
            book.append(p)
            today += 1
        if di == len(days) - 1:
            for p in list(book):
                close(p, d, p.value, "END")
        held = sum((p.mark - p.spread.debit) * mult * p.n - 2 * comm * p.n for p in book)
        equity.append(bt.initial_equity + realised + held)
    return [t for _, t in sorted(trades, key=lambda x: x[0])], equity


def metrics(
    days: list[date], equity: list[float], trades: list[RefTrade]
) -> dict[str, float | int | None]:
    """SPEC 12's metrics, written from the formulas."""
    pnl = [t.pnl for t in trades]
    wins = [p for p in pnl if p > 0]
    losses = [p for p in pnl if p < 0]
    rets = [equity[k] / equity[k - 1] - 1 for k in range(1, len(equity))]
    sharpe = None
    if len(rets) >= 2:
        mu = sum(rets) / len(rets)
        sd = math.sqrt(sum((r - mu) ** 2 for r in rets) / (len(rets) - 1))
        sharpe = mu / sd * math.sqrt(252) if sd > 0 else None
    peak, dd = equity[0], 0.0
    for e in equity:
        peak = max(peak, e)
        dd = max(dd, (peak - e) / peak)
    span = (days[-1] - days[0]).days
    return {
        "trades": len(pnl),
        "win_rate": len(wins) / len(pnl) if pnl else None,
        "avg_win": sum(wins) / len(wins) if wins else None,
        "avg_loss": sum(losses) / len(losses) if losses else None,
        "profit_factor": sum(wins) / abs(sum(losses)) if losses else None,
        "net_profit": sum(pnl),
        "max_drawdown": dd,
        "sharpe": sharpe,
        "cagr": (equity[-1] / equity[0]) ** (365.25 / span) - 1 if span > 0 else None,
        "avg_days_held": (
            sum(
                (date.fromisoformat(t.exit_date) - date.fromisoformat(t.entry_date)).days
                for t in trades
            )
            / len(trades)
            if trades
            else None
        ),
    }
