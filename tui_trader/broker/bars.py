"""Daily bars for the universe from IB's historical data, cached for the day, paced.

Decisions:

- **Request**: daily ``TRADES`` bars, regular trading hours (``useRTH``), ``formatDate=1``,
  ending now (``endDateTime=""``), ``duration`` "2 Y" by default (about 500 sessions: the
  SMA200 needs 201 and the strategies look one bar back). Each stock is qualified first
  (``Stock(symbol, "SMART", "USD")``), ``QUALIFY_BATCH`` at a time, each batch's
  historical requests queued as soon as it is qualified (the first bars of a cold start of
  500 arrive in a second or two, not after 500 contract-details requests); one IB does not
  know (error 200) is reported in the problems and skipped, never fatal for the others.
- **Cache**: a :class:`BarStore` (the engine's is
  :class:`~tui_trader.state.bar_cache.BarCache`, in the user's cache folder) holds each
  symbol's bars with ``fetched_on = today``. A symbol cached today is not asked for again,
  so a restart the same day sends no historical request at all. A cache from an earlier
  day is stale and refetched. During the session IB's answer ends with today's partial
  bar; it is cached like the others and :func:`apply_live_price` moves it with live prices
  (SPEC 1), so a same-day restart keeps today's volume. Unknown symbols are not cached:
  they are re-qualified (one contract-details request, no historical one) on the next
  load. Contracts qualified for the load go into the caller's ``contracts`` dict (and a
  :class:`BarCache`'s contract table); those already in it are not qualified again (issue
  12's warm start). A cache that cannot be written (a full disk:
  :class:`~tui_trader.state.bar_cache.BarCacheError`, or a busy lock) loses nothing: the
  fetched bars are used from memory, the failure is logged once per load, no further
  symbol of that load is written, and the caller sees it in the cache's ``problem``.
  Throwing fetched bars away would only refetch them into IB's pacing limits (a ten-minute
  wait) and fail again.
- **Progress**: ``on_progress(rows, done, total)`` is called once the cached bars are read
  and after each symbol's request ends (bars or a problem), with every symbol's rows so far,
  so the caller can show ``bars 312/500`` and scan what has loaded.
- **Pacing**: every request goes through the caller's
  :class:`~tui_trader.broker.pacing.HistoricalPacer`, one per login, so pass the session's
  (``Session.pacer``). IB's 15 s / six-in-2 s / 60-in-10-minutes rules are for bars of
  30 s or less, so daily bars are held only by the 50-open limit and ib_insync's message
  throttle: 500 symbols load in seconds, and a day change reloads the universe without a
  ten-minute wait. No request repeats within a load (symbols are deduplicated, each key is
  one conId); a day reload repeats them, which IB allows for daily bars. Its queue is the
  visible "request queue depth". Waits come from the pacer; ``sleep`` and ``monotonic`` are
  injected so tests move time instead of waiting. An error 162 that still says "pacing
  violation" (another client of the same login used the budget, or IB's soft limit on
  large amounts of data) re-queues the symbol after a back-off of 15 s, doubled for each
  further retry, at most ``max_pacing_retries`` times. One loader at a time should drive
  the pacer's queue (a request of another caller that reaches the head is put back,
  already counted as sent: safe, only slower).
- The problems map is ``{symbol: sentence}``; bars IB sent that are invalid (SPEC 1) are not
  problems of the load: ``Bars.from_frame`` drops and reports them in ``Bars.dropped``.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import date, datetime
from typing import Any, Protocol

import pandas as pd
from ib_insync import IB, Contract, Stock
from loguru import logger

from tui_trader.broker.marketdata import clean_price
from tui_trader.broker.pacing import HistoricalKey, HistoricalPacer
from tui_trader.core.bars import BAR_COLUMNS, Bars
from tui_trader.state.bar_cache import BarCache, BarCacheError, BarRow

DEFAULT_DURATION = "2 Y"
BAR_SIZE = "1 day"
WHAT_TO_SHOW = "TRADES"
QUALIFY_BATCH = 50
#: Back-off before the first retry of a request IB paced anyway; doubled for each further one.
PACING_RETRY_S = 15.0

_ERR_NO_SECURITY = 200
_ERR_HISTORICAL = 162

#: How a problem says IB does not know the symbol (error 200): see :func:`is_unknown_symbol`.
UNKNOWN_SYMBOL = "unknown symbol"


def is_unknown_symbol(problem: str) -> bool:
    """Whether a load's problem is IB's "no security definition" for the symbol (not a
    passing failure such as a dropped connection): the caller need not ask again."""
    return problem.startswith(UNKNOWN_SYMBOL)


#: What identifies one historical request for IB's pacing rules.
BarKey = HistoricalKey

Sleep = Callable[[float], Awaitable[object]]
#: ``(rows so far by symbol, symbols done, symbols wanted)``: see the module doc.
OnProgress = Callable[[Mapping[str, Sequence[BarRow]], int, int], None]


class BarStore(Protocol):
    """Where a load keeps its bars for the day (module doc)."""

    def get_bars(self, symbol: str, fetched_on: date) -> list[BarRow] | None: ...

    def put_bars(self, symbol: str, rows: Sequence[BarRow], fetched_on: date) -> None: ...


def _bar_row(bar: Any) -> BarRow:
    day = bar.date
    if isinstance(day, datetime):
        day = day.date()
    elif not isinstance(day, date):
        day = datetime.strptime(str(day)[:8], "%Y%m%d").date()
    return BarRow(
        day,
        float(bar.open),
        float(bar.high),
        float(bar.low),
        float(bar.close),
        float(bar.volume),
    )


def _frame(rows: Mapping[str, Sequence[BarRow]]) -> pd.DataFrame:
    records = [
        (r.day, sym, r.open, r.high, r.low, r.close, r.volume)
        for sym, sym_rows in rows.items()
        for r in sym_rows
    ]
    return pd.DataFrame.from_records(records, columns=list(BAR_COLUMNS))


def bars_from_rows(rows: Mapping[str, Sequence[BarRow]], asof: date) -> Bars:
    """:class:`Bars` of the rows loaded so far (a partial scan while a load runs)."""
    return Bars.from_frame(_frame(rows), asof=asof)


class _Errors:
    """IB errors per contract object (ib_insync passes the request's contract along)."""

    def __init__(self, ib: IB) -> None:
        self._ib = ib
        self._watch: dict[int, tuple[int, str] | None] = {}

    def __enter__(self) -> _Errors:
        self._ib.errorEvent += self._on_error
        return self

    def __exit__(self, *exc: object) -> None:
        self._ib.errorEvent -= self._on_error

    def watch(self, contract: Contract) -> None:
        self._watch[id(contract)] = None

    def get(self, contract: Contract) -> tuple[int, str] | None:
        return self._watch.get(id(contract))

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if contract is not None and id(contract) in self._watch:
            self._watch[id(contract)] = (int(code), str(message))


async def load_daily_bars(
    ib: IB,
    symbols: Iterable[str],
    store: BarStore,
    pacer: HistoricalPacer[Any],
    *,
    today: date,
    duration: str = DEFAULT_DURATION,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    request_timeout_s: float = 60.0,
    max_pacing_retries: int = 3,
    contracts: MutableMapping[str, Contract] | None = None,
    on_progress: OnProgress | None = None,
) -> tuple[Bars, dict[str, str]]:
    """Bars for ``symbols`` as of ``today`` and ``{symbol: problem}`` for those left out
    (module doc)."""
    wanted = list(dict.fromkeys(s.strip() for s in symbols if s and s.strip()))
    rows: dict[str, list[BarRow]] = {}
    problems: dict[str, str] = {}
    if isinstance(store, BarCache):
        store.prune(today)
        held = store.get_many(wanted, today)
    else:
        held = {s: got for s in wanted if (got := store.get_bars(s, today))}
    to_fetch: list[str] = []
    for sym in wanted:
        cached = held.get(sym)
        if cached:
            rows[sym] = cached
        else:
            to_fetch.append(sym)
    known: MutableMapping[str, Contract] = {} if contracts is None else contracts
    if to_fetch and isinstance(store, BarCache):
        for sym, c in store.get_contracts(to_fetch, today).items():
            known.setdefault(sym, c)

    def progress() -> None:
        if on_progress is not None:
            on_progress(rows, len(rows) + len(problems), len(wanted))

    progress()
    if to_fetch:
        logger.info(
            "daily bars: {} cached today, {} to fetch", len(wanted) - len(to_fetch), len(to_fetch)
        )
        with _Errors(ib) as errors:
            fetched = await _fetch(
                ib,
                to_fetch,
                errors,
                pacer,
                store,
                problems,
                rows,
                known,
                today=today,
                duration=duration,
                monotonic=monotonic,
                sleep=sleep,
                request_timeout_s=request_timeout_s,
                max_pacing_retries=max_pacing_retries,
                progress=progress,
            )
        rows.update(fetched)
    ordered = {s: rows[s] for s in wanted if s in rows}
    for sym, why in problems.items():
        logger.warning("daily bars for {} skipped: {}", sym, why)
    return Bars.from_frame(_frame(ordered), asof=today), problems


async def _qualify(
    ib: IB,
    symbols: Sequence[str],
    errors: _Errors,
    problems: dict[str, str],
    known: Mapping[str, Contract],
) -> dict[str, Contract]:
    """The stock contract of each symbol: ``known``'s, else qualified by IB (batches)."""
    contracts: dict[str, Contract] = {}
    out: dict[str, Contract] = {s: known[s] for s in symbols if s in known}
    for sym in symbols:
        if sym in out:
            continue
        stock: Contract = Stock(sym, "SMART", "USD")
        errors.watch(stock)
        contracts[sym] = stock
    batch = list(contracts.values())
    qualified: set[int] = set()
    for i in range(0, len(batch), QUALIFY_BATCH):
        for q in await ib.qualifyContractsAsync(*batch[i : i + QUALIFY_BATCH]):
            qualified.add(id(q))
    for sym, c in contracts.items():
        if id(c) in qualified and c.conId > 0:
            out[sym] = c
            continue
        err = errors.get(c)
        if err is not None and err[0] == _ERR_NO_SECURITY:
            problems[sym] = f"{UNKNOWN_SYMBOL} (IB error {err[0]}: {err[1]})"
        elif err is not None:
            problems[sym] = f"could not be qualified (IB error {err[0]}: {err[1]})"
        else:
            problems[sym] = "could not be qualified (IB found no unique stock)"
    return out


async def _fetch(
    ib: IB,
    symbols: Sequence[str],
    errors: _Errors,
    pacer: HistoricalPacer[Any],
    store: BarStore,
    problems: dict[str, str],
    out: dict[str, list[BarRow]],
    known: MutableMapping[str, Contract],
    *,
    today: date,
    duration: str,
    monotonic: Callable[[], float],
    sleep: Sleep,
    request_timeout_s: float,
    max_pacing_retries: int,
    progress: Callable[[], None],
) -> dict[str, list[BarRow]]:
    contracts: dict[str, Contract] = {}
    by_key: dict[BarKey, str] = {}
    batches = [symbols[i : i + QUALIFY_BATCH] for i in range(0, len(symbols), QUALIFY_BATCH)]

    async def qualify(batch: Sequence[str]) -> None:
        """One batch qualified (or known), its historical requests queued at once: the
        first bars arrive while later batches are still being qualified."""
        got = await _qualify(ib, batch, errors, problems, known)
        fresh = {s: c for s, c in got.items() if s not in known}
        known.update(fresh)
        if fresh and isinstance(store, BarCache):
            store.put_contracts(fresh, today)
        for sym, c in got.items():
            contracts[sym] = c
            key = BarKey(c.conId, "", duration, BAR_SIZE, WHAT_TO_SHOW, True)
            by_key[key] = sym
            pacer.enqueue(key)
        if any(s in problems for s in batch):
            progress()

    retries: dict[str, int] = {}
    caching = True

    def cache(sym: str, sym_rows: list[BarRow]) -> None:
        nonlocal caching
        if not caching:
            return
        try:
            store.put_bars(sym, sym_rows, today)
        except (BarCacheError, sqlite3.Error) as exc:
            caching = False
            logger.error("daily bars used from memory, not cached: {}", exc)

    async def one(key: BarKey) -> None:
        await request(key)
        sym = by_key[key]
        if sym in out or sym in problems:
            progress()

    async def request(key: BarKey) -> None:
        sym = by_key[key]
        c = contracts[sym]
        errors.watch(c)
        try:
            bars = await ib.reqHistoricalDataAsync(
                c,
                "",
                duration,
                BAR_SIZE,
                WHAT_TO_SHOW,
                True,
                1,
                timeout=request_timeout_s,
            )
        except Exception as exc:  # RaiseRequestErrors, a dropped socket, ...
            pacer.done(key)
            problems[sym] = f"historical request failed: {exc}"
            return
        pacer.done(key)
        err = errors.get(c)
        if err is not None and err[0] == _ERR_HISTORICAL and "pacing" in err[1].lower():
            retries[sym] = retries.get(sym, 0) + 1
            if retries[sym] <= max_pacing_retries:
                back_off = PACING_RETRY_S * 2 ** (retries[sym] - 1)
                logger.warning(
                    "{}: IB paced the historical request; asking again in {:.0f} s", sym, back_off
                )
                pacer.hold(key, monotonic() + back_off)
                pacer.enqueue(key)
                return
        if not bars:
            problems[sym] = (
                f"no daily bars (IB error {err[0]}: {err[1]})"
                if err is not None
                else "IB returned no daily bars"
            )
            return
        sym_rows = _dedupe([_bar_row(b) for b in bars])
        out[sym] = sym_rows
        cache(sym, sym_rows)

    in_flight: set[asyncio.Task[None]] = set()
    qualifying: asyncio.Task[None] | None = None
    next_batch = 0
    try:
        while in_flight or next_batch < len(batches) or any(k in by_key for k in pacer.queued_keys):
            while (ready := pacer.next_ready(monotonic())) is not None:
                if ready not in by_key:  # another loader's request: back to the queue
                    pacer.enqueue(ready)
                    break
                in_flight.add(asyncio.create_task(one(ready)))
            if qualifying is None and next_batch < len(batches):  # one batch at a time,
                # asked after the bars already qualified (those come first)
                qualifying = asyncio.create_task(qualify(batches[next_batch]))
                in_flight.add(qualifying)
                next_batch += 1
            if in_flight:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    t.result()
                if qualifying in done:
                    qualifying = None
                continue
            wait = pacer.next_wait(monotonic())
            if wait is None or math.isinf(wait):
                break  # nothing waits, or only other callers' requests are open
            if wait > 0:
                logger.info("historical pacing: waiting {:.1f} s", wait)
                await sleep(wait)
    finally:
        for t in in_flight:
            t.cancel()
        for key in list(by_key):
            pacer.discard(key)
    return out


def _dedupe(rows: list[BarRow]) -> list[BarRow]:
    """One row per day (the last IB sent): the cache refuses duplicates, and IB does not
    send them for daily bars, but one bad answer must not lose the symbol."""
    by_day = {r.day: r for r in rows}
    return [by_day[d] for d in sorted(by_day)]


def apply_live_price(
    bars: Bars, symbol: str, last: float, today: date, *, volume: float | None = None
) -> Bars:
    """Today's provisional bar (SPEC 1) moved by a live last price: high/low extended by
    it, close = it (a new bar when ``symbol`` has none for today yet). A last that is not a
    price (NaN, IB's -1/-2/1.797e308, <= 0) means "no trade price yet": the bars come back
    unchanged, so nothing is invented and the dropped-bar report does not fill up tick by
    tick. ``volume`` is today's cumulative volume when known."""
    return apply_live_prices(
        bars, {symbol: last}, today, None if volume is None else {symbol: volume}
    )


def apply_live_prices(
    bars: Bars,
    last: Mapping[str, float],
    today: date,
    volume: Mapping[str, float] | None = None,
) -> Bars:
    """:func:`apply_live_price` for many symbols in one pass (one array copy)."""
    prices: dict[str, float] = {}
    for sym, px in last.items():
        p = clean_price(px)
        if sym in bars and p > 0.0:
            prices[sym] = p
    if not prices:
        return bars
    vols: dict[str, float] | None = None
    if volume is not None:
        vols = {}
        for sym in prices:
            v = clean_price(volume.get(sym, math.nan))
            if not math.isnan(v):
                vols[sym] = v
    return bars.with_provisional(today, prices, vols)
