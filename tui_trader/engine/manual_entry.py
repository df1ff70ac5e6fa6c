"""SPEC 9's entry numbers for a symbol the scanner has no row for (issue 13's "trade any
symbol": a vertical picked on the chain screen).

A signal's entry snapshot comes from the latest scan row (ATR14, HHV20, LLV20) and the
underlying's price. A manual entry outside the universe has no row, so one is made here
from the same inputs by the same code: the symbol's daily bars are loaded as the universe
loads them (:func:`tui_trader.broker.bars.load_daily_bars`, the day's bar cache
``state.bar_cache`` at the universe's path, the session's historical pacer), today's bar is
moved by the entry price as the live scanner moves it with live prices
(:func:`~tui_trader.broker.bars.apply_live_price`), and the row is the scanner's own
(:func:`tui_trader.core.scanner.scan`): no second copy of ATR/HHV/LLV exists.

The stock is qualified through :meth:`Universe.stock`, which keeps it among the universe's
streamed stocks (not among the scanner's symbols): the position's underlying is then pinned
and priced like any other, so the exit monitor has a spot to judge the stop and targets on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from datetime import date

from tui_trader.broker.bars import apply_live_price, load_daily_bars
from tui_trader.broker.session import Session
from tui_trader.core.chain_table import ChainView
from tui_trader.core.indicators import ATR_PERIOD, RANGE_PERIOD
from tui_trader.core.scanner import SymbolScan, scan
from tui_trader.core.settings import Settings
from tui_trader.engine.universe import Universe
from tui_trader.state.bar_cache import BarCache
from tui_trader.state.store import Store

#: How long one historical request may take before the entry goes without levels.
BARS_TIMEOUT_S = 20.0


class ManualEntry:
    """Scan rows and entry prices for symbols outside the scan (module doc)."""

    def __init__(
        self,
        settings: Settings,
        session: Session,
        universe: Universe,
        store: Store,
        *,
        today: Callable[[], date],
        sleep: Callable[[float], Awaitable[object]],
        monotonic: Callable[[], float] = time.monotonic,
        timeout_s: float = BARS_TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._session = session
        self._universe = universe
        self._store = store
        self._today = today
        self._sleep = sleep
        self._monotonic = monotonic
        self._timeout = timeout_s

    def chain_spot(self, symbol: str) -> float | None:
        """The open chain's underlying price when it is ``symbol``'s (None otherwise)."""
        view = self._store.get(ChainView)
        if view.symbol == symbol and math.isfinite(view.spot) and view.spot > 0:
            return float(view.spot)
        return None

    async def price(self, symbol: str, fallback: float | None) -> float | None:
        """The underlying's price at entry: the universe's (its line once qualified; the
        chain streams it while open), else ``fallback`` (the chain's last published)."""
        spot = self._universe.spot(symbol)
        if spot is None and await self._universe.stock(symbol) is not None:
            spot = self._universe.spot(symbol)
        return spot if spot is not None else fallback

    async def row(self, symbol: str, price: float) -> tuple[SymbolScan | None, str | None]:
        """The scanner's row for ``symbol`` with today's bar at ``price``; or None and why
        (words that follow "because")."""
        stock = await self._universe.stock(symbol)
        if stock is None:
            return None, f"IB did not qualify {symbol}'s stock"
        today = self._today()
        with BarCache(self._universe.bar_cache_path) as cache:
            try:
                bars, problems = await load_daily_bars(
                    self._session.ib,
                    [symbol],
                    cache,
                    self._session.pacer,
                    today=today,
                    monotonic=self._monotonic,
                    sleep=self._sleep,
                    request_timeout_s=self._timeout,
                    contracts={symbol: stock},
                )
            except Exception as exc:  # a dropped socket, a cache beyond use
                return None, f"its daily bars could not be loaded ({exc})"
        if symbol in problems or symbol not in bars:
            why = problems.get(symbol, "IB returned no daily bars")
            return None, f"its daily bars could not be loaded ({why})"
        report = scan(apply_live_price(bars, symbol, price, today),
                      self._settings.universe, self._settings.strategy)  # fmt: skip
        row = next((r for r in report.results if r.symbol == symbol), None)
        if row is None or row.atr14 is None or row.hhv20 is None or row.llv20 is None:
            n = int(bars.n_days)
            need = max(ATR_PERIOD + 1, RANGE_PERIOD)
            return None, (
                f"IB has only {n} daily bar(s) of {symbol}, fewer than the {need} ATR14 and "
                "HHV20/LLV20 need"
            )
        return row, None
