"""Editing the universe from the dashboard (issue 13: watchlist editing).

The Scanner adds a symbol (``+``, a ticker typed in) or removes the highlighted one
(``-``); this is the engine's side. Both apply live and are saved where the universe was
read (``tui_trader.config_edit``: the config's ``[universe] symbols`` with its comments
kept, or the ``[universe] symbols_file`` in its own format; the demo saves nothing).

- **Adding** asks IB first: the daily bars are loaded (a symbol IB does not know, error
  200, is refused with one sentence and nothing changes), the stock contract qualified.
  Then the file is saved, and only then the live universe changes: the bars are joined to
  the loaded ones, the underlying streams when the line budget has room (else the rotating
  snapshots price it, ``engine.rotation``), and the universe is scanned: its row appears.
- **Removing** is refused while the symbol has an open position or a working order (the
  exits and the walk need its underlying's price; close or cancel first) and for the last
  symbol (a universe has one at least). Otherwise the file is saved, then its line is
  released (a line a preview has pinned stays until the preview lets it go), its bars and
  scan row go.
- **A failed save changes nothing live** (decision): the file is written before the live
  universe is touched, so a read-only config leaves the universe as it was and says why
  (one sentence naming the file). What is scanned is then always what the next start
  scans.
- Edits are serialised (one at a time): two quick adds cannot both read the same list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import numpy as np
from ib_insync import Contract, Stock
from loguru import logger
from numpy.typing import NDArray

from tui_trader.broker.bars import is_unknown_symbol, load_daily_bars
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.session import Session
from tui_trader.config_edit import WatchlistFile, WatchlistSaveError, save_watchlist
from tui_trader.core.bars import Bars
from tui_trader.core.models import EventLevel
from tui_trader.core.settings import Settings, checked_symbols
from tui_trader.engine.actions import Outcome
from tui_trader.engine.events import EventSink
from tui_trader.engine.universe import Universe
from tui_trader.state.bar_cache import BarCache
from tui_trader.state.journal import Journal
from tui_trader.state.store import Orders, Positions, ScanResults, Store

Sleep = Callable[[float], Awaitable[object]]

#: What the confirmation says when nothing is saved (the demo).
NOT_SAVED = "Not saved: the demo saves no file; the change lasts until it ends."


def _pad_left(arr: NDArray[Any], n_days: int, fill: object) -> NDArray[Any]:
    """``arr`` (symbols x days) widened to ``n_days`` with ``fill`` on the left."""
    missing = n_days - arr.shape[1]
    if missing <= 0:
        return arr
    pad = np.full((arr.shape[0], missing), fill, dtype=arr.dtype)
    return np.concatenate([pad, arr], axis=1)


def join_bars(a: Bars, b: Bars) -> Bars:
    """``a``'s rows then ``b``'s, right-aligned to the longer history (``core.bars``)."""
    n = max(a.n_days, b.n_days)
    nat = np.datetime64("NaT", "D")

    def both(name: str, fill: object) -> NDArray[Any]:
        x, y = getattr(a, name), getattr(b, name)
        return np.asfortranarray(
            np.concatenate([_pad_left(x, n, fill), _pad_left(y, n, fill)], axis=0)
        )

    return Bars(
        symbols=[*a.symbols, *b.symbols],
        dates=both("dates", nat),
        open=both("open", np.nan),
        high=both("high", np.nan),
        low=both("low", np.nan),
        close=both("close", np.nan),
        volume=both("volume", np.nan),
        dropped={**a.dropped, **b.dropped},
        asof=a.asof,
    )


def bars_without(bars: Bars, symbol: str) -> Bars:
    """``bars`` less ``symbol``'s row (unchanged when it has none)."""
    if symbol not in bars:
        return bars
    keep = [i for i, s in enumerate(bars.symbols) if s != symbol]

    def rows(name: str) -> NDArray[Any]:
        return np.asfortranarray(getattr(bars, name)[keep, :])

    return Bars(
        symbols=[bars.symbols[i] for i in keep],
        dates=rows("dates"),
        open=rows("open"),
        high=rows("high"),
        low=rows("low"),
        close=rows("close"),
        volume=rows("volume"),
        dropped={s: d for s, d in bars.dropped.items() if s != symbol},
        asof=bars.asof,
    )


class Watchlist:
    """Adds and removes universe symbols, live and saved (module doc).

    ``target`` is where edits are saved (None: nowhere, the demo); the dashboard's launcher
    sets it from the config the app was started with (``config_edit.watchlist_file``)."""

    def __init__(
        self,
        settings: Settings,
        universe: Universe,
        store: Store,
        session: Session,
        marketdata: MarketData,
        journal: Journal,
        *,
        events: EventSink,
        pins_changed: Callable[[], None],
        today: Callable[[], date],
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        target: WatchlistFile | None = None,
    ) -> None:
        self._settings = settings
        self._universe = universe
        self._store = store
        self._session = session
        self._md = marketdata
        self._journal = journal
        self._events = events
        self._pins_changed = pins_changed
        self._today = today
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self.target = target

    @property
    def symbols(self) -> list[str]:
        """The universe's symbols now, in order."""
        return list(self._settings.universe.symbols)

    def destination(self) -> str:
        """Where an edit is saved, as the confirmation says it."""
        if self.target is None:
            return NOT_SAVED
        keeps = "its format" if self.target.kind == "symbols_file" else "comments and layout"
        return _with_note(f"Saved to {self.target.describe()} ({keeps} kept).", self.target)

    # ------------------------------------------------------------------ checks

    def add_refusal(self, raw: str) -> str | None:
        """Why ``raw`` cannot be added, before IB is asked; None: it may be."""
        try:
            (symbol,) = checked_symbols([raw.strip()])
        except ValueError as exc:
            return f"Not a ticker: {exc}."
        if symbol in self._settings.universe.symbols:
            return f"{symbol} is already in the watchlist."
        if symbol in self._universe.unknown:
            return f"IB does not know the symbol {symbol}: nothing added."
        return None

    def remove_refusal(self, symbol: str) -> str | None:
        """Why ``symbol`` cannot be removed (module doc); None: it may be."""
        if symbol not in self._settings.universe.symbols:
            return f"{symbol} is not in the watchlist."
        if len(self._settings.universe.symbols) == 1:
            return f"{symbol} is the last symbol of the universe: it needs one at least."
        if any(s.underlying == symbol for s in self._store.get(Positions).spreads):
            return (
                f"{symbol} has an open position: close it first (its exits need the "
                "underlying's price)."
            )
        working = [
            i.intent_id for i in self._store.get(Orders).active if i.spec.underlying == symbol
        ]
        if working:
            return f"{symbol} has a working order ({working[0]}): cancel it first."
        return None

    # ------------------------------------------------------------------ edits

    async def add(self, raw: str) -> Outcome:
        """Add a symbol: IB asked, the file saved, then the live universe (module doc)."""
        async with self._lock:
            refusal = self.add_refusal(raw)
            if refusal is not None:
                return Outcome(False, refusal)
            symbol = raw.strip().upper()
            base = self._universe.scanner.bars
            if base is None:
                return Outcome(
                    False, f"The universe is still loading: add {symbol} after the first scan."
                )
            if not self._session.is_ready:
                return Outcome(False, f"Not connected to IB: add {symbol} once connected.")
            try:
                got = await self._ask_ib(symbol)
            except ConnectionError:
                return Outcome(
                    False, f"The connection dropped while asking IB about {symbol}: nothing added."
                )
            if isinstance(got, str):
                return Outcome(False, got)
            bars, contract = got
            saved = self._save([*self.symbols, symbol])
            if saved is not None:
                return Outcome(False, f"{symbol} not added: {saved}")
            self._settings.universe.symbols = [*self.symbols, symbol]
            self._universe.stocks[symbol] = contract
            now = self._universe.scanner.bars or base  # a new day's reload may have run
            self._universe.scanner.set_bars(join_bars(bars_without(now, symbol), bars))
            self._universe.keep_streaming()
            self._pins_changed()
            self._universe.scanner.scan_now()
            self._universe.publish_price_ages()
            streams = self._md.ticker(contract.conId) is not None
            how = "streamed" if streams else "priced by rotating snapshots (no line free)"
            text = f"{symbol} added to the watchlist, {how}."
            self._events(EventLevel.INFO, "watchlist", text)
            return Outcome(True, f"{text} {self._saved_note()}")

    async def _ask_ib(self, symbol: str) -> tuple[Bars, Contract] | str:
        """The symbol's daily bars and qualified contract, or why there are none (its bars
        cached for the day in the universe's bar cache, as the universe's own are)."""
        with BarCache(self._universe.bar_cache_path) as cache:
            bars, problems = await load_daily_bars(
                self._session.ib,
                [symbol],
                cache,
                self._session.pacer,
                today=self._today(),
                monotonic=self._monotonic,
                sleep=self._sleep,
            )
        why = problems.get(symbol)
        if why is not None:
            if is_unknown_symbol(why):
                self._universe.unknown.setdefault(symbol, why)
                return f"IB does not know the symbol {symbol}: nothing added."
            return f"{symbol} not added: {why}."
        if symbol not in bars or bars.n_valid[bars.index(symbol)] == 0:
            return f"{symbol} not added: IB sent no daily bars for it."
        stock = Stock(symbol, "SMART", "USD")
        qualified = await self._session.ib.qualifyContractsAsync(stock)
        if not qualified or stock.conId <= 0:
            return f"{symbol} not added: IB did not qualify its stock contract."
        return bars, stock

    async def remove(self, symbol: str) -> Outcome:
        """Remove a symbol: refused with a position or a working order; else the file
        saved, then its line released and its row gone (module doc)."""
        async with self._lock:
            refusal = self.remove_refusal(symbol)
            if refusal is not None:
                return Outcome(False, refusal)
            rest = [s for s in self.symbols if s != symbol]
            saved = self._save(rest)
            if saved is not None:
                return Outcome(False, f"{symbol} not removed: {saved}")
            self._settings.universe.symbols = rest
            contract = self._universe.stocks.pop(symbol, None)
            if contract is not None:
                self._md.unsubscribe(contract.conId)
            self._universe.unknown.pop(symbol, None)
            bars = self._universe.scanner.bars
            if bars is not None:
                self._universe.scanner.set_bars(bars_without(bars, symbol))
            problems = self._store.get(ScanResults).problems
            self._store.update(ScanResults, problems=tuple(p for p in problems if p[0] != symbol))
            self._pins_changed()
            self._universe.keep_streaming()  # a freed line lets a rotated symbol stream
            self._universe.scanner.scan_now()
            self._universe.publish_price_ages()
            text = f"{symbol} removed from the watchlist, its line released."
            self._events(EventLevel.INFO, "watchlist", text)
            return Outcome(True, f"{text} {self._saved_note()}")

    def _save(self, symbols: list[str]) -> str | None:
        """Write ``symbols`` to the target; the sentence when that failed."""
        if self.target is None:
            return None
        try:
            save_watchlist(self.target, symbols)
        except WatchlistSaveError as exc:
            logger.warning("watchlist: {}", exc)
            self._events(EventLevel.ERROR, "watchlist", str(exc))
            return f"{exc}."
        logger.info("watchlist saved to {}: {} symbols", self.target.path, len(symbols))
        return None

    def _saved_note(self) -> str:
        if self.target is None:
            return "Not saved (the demo saves no file)."
        return _with_note(f"Saved to {self.target.describe()}.", self.target)


def _with_note(saved: str, target: WatchlistFile) -> str:
    """``saved``, then the override's warning when an environment variable would undo it."""
    note = target.override_note()
    return f"{saved} {note}" if note else saved
