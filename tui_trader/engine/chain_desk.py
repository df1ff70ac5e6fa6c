"""The chain desk: any symbol's option chain on screen, and the vertical a trader picks from
it sent to the one preview (issue 13, "trade any symbol").

- **Any symbol**, in the universe or not: the stock is qualified here (an unknown ticker is
  one sentence in :class:`~tui_trader.core.chain_table.ChainView`), never added to the
  scanner's symbols (they stay the configured ones). A vertical bought from it keeps the
  stock among the universe's priced stocks (``engine.manual_entry``) so its exits have a
  spot to judge.
- **Lines**: the underlying and the *visible* strikes of one expiry stream under the pin
  ``chain:<symbol>`` (``VISIBLE_STRIKES`` strikes, calls and puts: 2 x 10 + 1 lines), through
  :class:`~tui_trader.broker.marketdata.MarketData`'s budget like every other line, so
  the footer's count stays IB's. Changing expiry gives the old expiry's lines back first;
  leaving the screen (:meth:`ChainDesk.close`) gives every line back. A contract that was
  streaming before the chain asked for it (a universe stock, an open position's leg) keeps
  its line: only our pin is lifted.
- **Numbers**: bid/ask, the model greeks' IV and delta, and open interest: the option
  lines ask for generic tick 101 (``OPEN_INTEREST_TICKS``; the underlying's line does not
  need it), which IB answers with tick 27 for a call, 28 for a put (ib_insync's
  ``callOpenInterest``/``putOpenInterest``), the simulated gateway too. NaN where IB sent
  none, a dash on screen: also for a contract that was streaming before the chain asked
  for it (a position's leg), whose request carries no 101 until it is next re-requested.
- **The order** is not built here: :meth:`ChainDesk.preview` hands the two chosen contracts
  to :meth:`PreviewDesk.preview_spread`, the signal path's own preview, gates and
  confirmation.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from ib_insync import Contract, Option, Stock, Ticker
from loguru import logger

from tui_trader.broker.chains import spot_of
from tui_trader.broker.lines import LineStatus
from tui_trader.broker.marketdata import MarketData, clean_number, clean_quote
from tui_trader.broker.session import Session
from tui_trader.core.chain_table import (
    ChainRow,
    ChainView,
    Direction,
    OptionSide,
    check_pick,
    clamp_shift,
    clean_ticker,
    first_expiry_index,
    visible_strikes,
)
from tui_trader.core.settings import Settings
from tui_trader.engine.actions import Outcome
from tui_trader.engine.preview_desk import PreviewDesk
from tui_trader.state.store import Store

#: Strikes shown (and streamed) per expiry, centred on the spot.
VISIBLE_STRIKES = 10
#: The generic tick the chain's option lines ask for: open interest (ticks 27/28).
OPEN_INTEREST_TICKS = "101"


def chain_pin(symbol: str) -> str:
    return f"chain:{symbol}"


class ChainDesk:
    """The open chain and its lines (module doc). The only writer of ``ChainView``."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        session: Session,
        marketdata: MarketData,
        preview_desk: PreviewDesk,
        *,
        clock: Callable[[], datetime],
        today: Callable[[], date],
        quote_timeout_s: float = 2.0,
        visible: int = VISIBLE_STRIKES,
    ) -> None:
        self._settings = settings
        self._store = store
        self._session = session
        self._md = marketdata
        self._preview = preview_desk
        self._clock = clock
        self._today = today
        self._timeout = quote_timeout_s
        self._visible = visible
        self._lock = asyncio.Lock()
        self._symbol = ""
        self._stock: Contract | None = None
        self._trading_class = ""
        self._multiplier = "100"
        self._grid: list[float] = []
        self._expiries: tuple[date, ...] = ()
        self._index = 0
        self._shift = 0  # strikes the window is moved from the money
        #: strike -> (call, put) qualified contracts of the shown expiry
        self._contracts: dict[float, tuple[Contract | None, Contract | None]] = {}
        #: conIds we pinned, and whether each was streaming before we asked (keep it then)
        self._held: dict[int, bool] = {}

    # ------------------------------------------------------------------ lines

    def _hold(self, contract: Contract, generic_ticks: str = "") -> None:
        con_id = int(contract.conId)
        if con_id <= 0 or con_id in self._held:
            return
        self._held[con_id] = self._md.budget.status(con_id) is not LineStatus.NONE
        self._md.subscribe(contract, pin=chain_pin(self._symbol), generic_ticks=generic_ticks)

    def _let_go(self, con_id: int) -> None:
        had_line = self._held.pop(con_id, True)
        self._md.unpin(con_id, chain_pin(self._symbol))
        if not had_line and self._md.budget.status(con_id) is not LineStatus.NONE:
            self._md.unsubscribe(con_id)  # a no-op while another owner pins it

    def _release_options(self) -> None:
        stock_id = int(self._stock.conId) if self._stock is not None else 0
        for con_id in [c for c in self._held if c != stock_id]:
            self._let_go(con_id)
        self._contracts = {}

    async def close(self) -> Outcome:
        """Leave the chain (the screen was left): every line it streamed is given back."""
        async with self._lock:
            self._close()
        return Outcome(True, "Option chain closed.")

    def _close(self) -> None:
        for con_id in list(self._held):
            self._let_go(con_id)
        self._contracts, self._stock, self._symbol = {}, None, ""
        self._store.set(ChainView, ChainView(updated_at=self._clock()))

    # ------------------------------------------------------------------ reading

    def _spot(self) -> float:
        if self._stock is None:
            return math.nan
        return spot_of(self._md.quote(int(self._stock.conId)))

    def _side(self, contract: Contract | None, right: str) -> OptionSide:
        if contract is None:
            return OptionSide()
        con_id = int(contract.conId)
        t: Ticker | None = self._md.ticker(con_id) if self._md.has_ticked(con_id) else None
        if t is None:
            return OptionSide(con_id)
        q = clean_quote(t)
        g: Any = t.modelGreeks
        oi = t.callOpenInterest if right == "C" else t.putOpenInterest
        return OptionSide(
            con_id,
            q.bid,
            q.ask,
            clean_number(g.impliedVol) if g is not None else math.nan,
            clean_number(g.delta) if g is not None else math.nan,
            clean_number(oi),
        )

    def _publish(self, *, loading: bool = False, error: str | None = None) -> None:
        rows = tuple(
            ChainRow(k, self._side(c, "C"), self._side(p, "P"))
            for k, (c, p) in sorted(self._contracts.items())
        )
        self._store.set(
            ChainView,
            ChainView(
                self._symbol, self._spot(), self._expiries, self._index, rows,
                loading, error, self._clock(),
            ),
        )  # fmt: skip

    def refresh(self) -> None:
        """Republish the open chain with the quotes now (the engine's periodic refresh)."""
        if self._symbol and not self._lock.locked():
            self._publish()

    async def _wait_quotes(self) -> None:
        """Until every held line has ticked (or ``quote_timeout_s``): a chain drawn at once
        would be all dashes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        ib = self._md.ib
        while True:
            waiting = [
                c for c in self._held
                if not self._md.has_ticked(c) and c not in self._md.unknown
            ]  # fmt: skip
            remaining = deadline - loop.time()
            if not waiting or remaining <= 0:
                return
            event = asyncio.Event()

            def ticked(_: object, event: asyncio.Event = event) -> None:
                event.set()

            ib.pendingTickersEvent += ticked
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                ib.pendingTickersEvent -= ticked

    # ------------------------------------------------------------------ actions

    async def open(self, text: str) -> Outcome:
        """Open ``text``'s chain on the first expiry of SPEC 5's DTE window."""
        symbol = clean_ticker(text)
        async with self._lock:
            self._close()
            if symbol is None:
                return self._fail(text.strip(), f"{text.strip()!r} is not a ticker symbol.")
            if not self._session.is_connected:
                return self._fail(symbol, "Not connected to IB: cannot fetch the option chain.")
            self._symbol = symbol
            self._publish(loading=True)
            ib = self._session.ib
            stock = Stock(symbol, "SMART", "USD")
            try:
                qualified = await ib.qualifyContractsAsync(stock)
            except (ConnectionError, TimeoutError) as exc:
                return self._fail(symbol, f"{symbol}: IB did not answer ({exc or 'timeout'}).")
            if not qualified or stock.conId <= 0:
                return self._fail(symbol, f"Unknown ticker {symbol}: IB does not know it.")
            self._stock = stock
            self._hold(stock)
            params = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId)
            smart = [p for p in params or [] if p.exchange == "SMART"]
            if not smart:
                return self._fail(symbol, f"{symbol}: IB lists no option chain for it.")
            own = [p for p in smart if p.tradingClass == symbol]
            chosen = own[0] if own else max(smart, key=lambda p: len(p.expirations))
            today = self._today()
            self._expiries = tuple(
                sorted(d for d in (_parse(e) for e in chosen.expirations) if d and d >= today)
            )
            self._grid = sorted({float(k) for k in chosen.strikes if k > 0})
            self._trading_class, self._multiplier = chosen.tradingClass, chosen.multiplier
            if not self._expiries or not self._grid:
                return self._fail(symbol, f"{symbol}: IB lists no expiry or strike to trade.")
            self._shift = 0
            self._index = first_expiry_index(
                self._expiries, today, self._settings.selection.min_dte
            )
            await self._wait_quotes()  # the spot centres the strikes
            return await self._load()

    def _fail(self, symbol: str, message: str) -> Outcome:
        for con_id in list(self._held):
            self._let_go(con_id)
        self._symbol, self._stock, self._contracts = "", None, {}
        self._store.set(ChainView, ChainView(symbol, error=message, updated_at=self._clock()))
        return Outcome(False, message)

    async def _load(self) -> Outcome:
        """Qualify and stream the visible strikes of the shown expiry."""
        self._release_options()
        expiry = self._expiries[self._index]
        spot = self._spot()
        if not (math.isfinite(spot) and spot > 0):
            return self._fail(self._symbol, f"{self._symbol}: no underlying price, so no chain.")
        strikes = visible_strikes(self._grid, spot, self._visible, self._shift)
        wanted = [
            Option(
                self._symbol, expiry.strftime("%Y%m%d"), k, right, "SMART",
                multiplier=self._multiplier, currency="USD", tradingClass=self._trading_class,
            )
            for k in strikes
            for right in ("C", "P")
        ]  # fmt: skip
        qualified = await self._session.ib.qualifyContractsAsync(*wanted)
        found: dict[tuple[float, str], Contract] = {
            (float(c.strike), c.right[:1].upper()): c for c in qualified if c.conId > 0
        }
        self._contracts = {k: (found.get((k, "C")), found.get((k, "P"))) for k in strikes}
        for c in found.values():
            self._hold(c, OPEN_INTEREST_TICKS)
        self._publish(loading=True)
        await self._wait_quotes()
        self._publish()
        logger.info("{} chain {}: {} contracts streaming", self._symbol, expiry, len(found))
        n = len(self._expiries)
        return Outcome(
            bool(found),
            f"{self._symbol} {expiry:%Y-%m-%d} ({self._index + 1}/{n}): {len(strikes)} strikes"
            if found else f"{self._symbol}: no contract of {expiry:%Y-%m-%d} qualified.",
        )  # fmt: skip

    async def step(self, expiries: int, strikes: int) -> Outcome:
        """Show another expiry (``expiries`` later, < 0 earlier) and/or move the window of
        strikes ``strikes`` half-windows higher (< 0 lower); the lines follow."""
        async with self._lock:
            if not self._symbol or not self._expiries:
                return Outcome(False, "No option chain is open.")
            index = min(max(self._index + expiries, 0), len(self._expiries) - 1)
            wanted = self._shift + strikes * max(1, self._visible // 2)
            shift = clamp_shift(self._grid, self._spot(), self._visible, wanted)
            if index == self._index and shift == self._shift:
                if expiries:
                    end = "last" if expiries > 0 else "first"
                    return Outcome(False, f"This is the {end} expiry IB lists.")
                end = "highest" if strikes > 0 else "lowest"
                return Outcome(False, f"These are the {end} strikes IB lists.")
            self._index, self._shift = index, shift
            return await self._load()

    async def preview(
        self, direction: Direction, long_strike: float | None, short_strike: float | None
    ) -> Outcome:
        """Open the preview of the picked vertical (the signal path's: module doc)."""
        problem = check_pick(direction, long_strike, short_strike)
        if problem is not None:
            return Outcome(False, problem)
        assert long_strike is not None and short_strike is not None
        async with self._lock:
            pick = [self._contracts.get(k, (None, None)) for k in (long_strike, short_strike)]
            legs = [c if direction == "LONG" else p for c, p in pick]
            if not self._symbol or legs[0] is None or legs[1] is None:
                return Outcome(False, f"{long_strike:g}/{short_strike:g} is not in the chain.")
            symbol, spot = self._symbol, self._spot()
        return await self._preview.preview_spread(symbol, direction, spot, legs[0], legs[1])


def _parse(text: str) -> date | None:
    try:
        return datetime.strptime(text.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
