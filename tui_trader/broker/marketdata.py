"""Streaming market data through the line budget: which contracts hold one of IB's lines,
their tickers, how old their quotes are, and the one sanitiser every price goes through.

Decisions:

- **Keys are conIds.** A contract must be qualified (``conId > 0``) before it is
  subscribed; an unqualified one raises ``ValueError`` (a programming error, not market
  data). :class:`~tui_trader.broker.lines.LineBudget` decides; this class carries its
  decisions out as ``reqMktData`` / ``cancelMktData``.
- **One Ticker per conId for the life of the object.** ib_insync forgets every ticker on a
  disconnect and makes a new one when a contract is requested again. Before re-requesting,
  the old Ticker is handed back to ib_insync (``Wrapper.tickers`` is keyed by
  ``id(contract)`` in ib_insync 0.9.86), so a Ticker a caller holds keeps updating after a
  reconnect or a 1101. :meth:`MarketData.ticker` always returns the live one anyway.
- **Quote age** is measured on the injected clock from the last tick that reached the
  ticker (ib_insync's ``pendingTickersEvent``): a frozen feed, a dead line or a lost
  connection all age, and a reconnect does not make an old quote young; only a tick does.
  :meth:`MarketData.quote_age_s` is None for a line that has never ticked (no quote is not
  a young quote: a caller gating on freshness must treat None as stale).
  :meth:`MarketData.oldest_quote_age_s` counts such a line from when it was requested, so
  a line that never delivers shows up as ageing in the health bar.
- **Sanitising.** :func:`clean_price` is the one function that turns an IB number into a
  price: NaN for anything that is not a finite number >= 0, for IB's "no value" markers
  (-1, -2, 1.7976931348623157e308) and for every other negative number. :func:`clean_quote`
  applies it to a ticker's bid/ask/last and also blanks a bid or ask whose size is exactly
  0 (IB's "no bid"/"no ask" comes as price -1 or 0 with size 0), an ask <= 0 and a last
  <= 0. A bid of 0 with a size is kept: somebody really bids nothing (SPEC 5 lets the short
  leg be sold for 0). A NaN size (not yet received) does not blank the price. Combo (BAG)
  quotes can be legitimately negative; they are blanked too, which is the safe side: price
  combos from their legs' quotes (SPEC 6).
- **Errors** for our own lines are matched by reqId. 100 (IB dropped the request: more
  than 50 messages a second) re-requests the line after ``rate_retry_s`` (1.2 s). 101 shrinks the
  budget (the refused line leaves ib_insync's books quietly: cancelling a line IB never
  opened would only earn an error 300). 200 marks the conId and its symbol unknown and
  frees the line; later subscriptions of that conId are skipped (None) instead of failing
  again.
- **Pins outrank unsubscribing**: :meth:`MarketData.unsubscribe` leaves a pinned line
  alone, since another owner still needs it (pins are per reason, subscriptions are not
  counted).
- **A contract is requested at most once per connection.** Which lines IB holds is known
  exactly: a request marks its key live, a cancel, a refusal (100/101/200), a disconnect
  or 1101 ("data lost": IB dropped every line) unmarks it, and :meth:`MarketData._start`
  never sends a second ``reqMktData`` for a live key. Otherwise ib_insync would map the
  ticker to the newer reqId only, the older line could never be cancelled and IB would
  count it against the 100 for the rest of the connection while the budget does not.
- **Generic ticks per line**: ``generic_ticks`` (the constructor's) go with every request;
  :meth:`MarketData.subscribe` can add more for one contract (the chain desk asks for 101,
  open interest, on its option lines only: IB sends it as ticks 27/28, ib_insync's
  ``callOpenInterest``/``putOpenInterest``). A key's list only grows (a union of every
  subscriber's) and is kept while the key streams or waits, so a re-request after a
  reconnect asks for the same ticks. A line already live without them keeps its request
  until IB drops it (never a second ``reqMktData``, see below): it shows no open interest
  until then.
- :meth:`MarketData.restore_all` is for "IB has lost every line" (a new connection, 1101):
  it re-requests every active line that is not live on this connection, pinned first then
  most recently used, then lets the queue into any room a reconnect regained
  (``LineBudget.restore_max``): lines IB granted before keep priority over ones it refused.
  Lines requested since the connection came up (positions' legs pinned by an earlier
  ready hook) are already live and are not asked for again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from ib_insync import IB, Contract, Ticker
from loguru import logger

from tui_trader.broker.events import Subscriptions
from tui_trader.broker.lines import LineAction, LineBudget, LineDecision, LineStatus
from tui_trader.core.markers import IB_UNSET_DOUBLE as IB_UNSET_DOUBLE
from tui_trader.core.markers import usable_number
from tui_trader.state.store import Health, Store

_ERR_MAX_RATE = 100
_ERR_MAX_TICKERS = 101
#: Seconds before re-requesting a line IB dropped for the message rate (error 100).
RATE_RETRY_S = 1.2
#: How long :meth:`MarketData.publish_soon` gathers line changes into one store update:
#: the footer's ``lines N/M`` follows the snapshot rotation once a second (issue 12).
PUBLISH_SOON_S = 1.0
_ERR_NO_SECURITY = 200
_DATA_LOST = 1101  # reqId -1: connectivity restored, IB dropped every market-data line


class Quote(NamedTuple):
    """A sanitised top of book: NaN wherever there is no usable value."""

    bid: float
    ask: float
    last: float

    @property
    def mid(self) -> float:
        """(bid + ask) / 2, NaN unless both sides are usable."""
        return 0.5 * (self.bid + self.ask) if self.has_bid_ask else math.nan

    @property
    def has_bid_ask(self) -> bool:
        return not (math.isnan(self.bid) or math.isnan(self.ask)) and self.bid <= self.ask


def clean_price(value: object) -> float:
    """The price IB sent, or NaN when it is not one (module doc): non-numbers, NaN, inf,
    IB's markers (-1, -2, 1.797e308) and any other negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    x = float(value)
    if not math.isfinite(x) or x >= IB_UNSET_DOUBLE or x < 0.0:
        return math.nan
    return x


def clean_number(value: object) -> float:
    """A model number (greek, IV) as IB sent it, NaN when absent: None, non-numbers, NaN,
    inf and the 1.797e308 marker. -1/-2 are kept because -1 is a real put delta; whether
    such a value is usable is for core (``select_spreads`` rejects it as NO_GREEKS)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    x = float(value)
    if not math.isfinite(x) or abs(x) >= IB_UNSET_DOUBLE:
        return math.nan
    return x


def ib_number(x: object) -> float | None:
    """A number from an IB field (float or numeric string); None for IB's unset marker,
    NaN, infinities, empty strings and anything unparsable."""
    if x is None or (isinstance(x, str) and not x.strip()):
        return None
    try:
        v = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if usable_number(v) else None


def _zero_size(size: object) -> bool:
    return isinstance(size, int | float) and not isinstance(size, bool) and size == 0


def clean_quote(ticker: Ticker) -> Quote:
    """A ticker's (bid, ask, last) through :func:`clean_price` (module doc for the rules)."""
    bid = clean_price(ticker.bid)
    if _zero_size(ticker.bidSize):
        bid = math.nan
    ask = clean_price(ticker.ask)
    if ask <= 0.0 or _zero_size(ticker.askSize):
        ask = math.nan
    last = clean_price(ticker.last)
    if last <= 0.0:
        last = math.nan
    return Quote(bid, ask, last)


@dataclass(frozen=True, slots=True)
class UnknownContract:
    """A contract IB answered with error 200 ("no security definition")."""

    con_id: int
    symbol: str
    message: str


Clock = Callable[[], datetime]


class MarketData:
    """Market-data lines for one ``IB`` (module doc). Use from the event loop's thread."""

    #: The sanitiser, reachable from the object too (it is the module function).
    clean_quote = staticmethod(clean_quote)

    def __init__(
        self,
        ib: IB,
        budget: LineBudget[int],
        *,
        clock: Clock,
        store: Store | None = None,
        generic_ticks: str = "",
        rate_retry_s: float = RATE_RETRY_S,
    ) -> None:
        self._ib = ib
        self.budget = budget
        self._clock = clock
        self._store = store
        self._generic_ticks = generic_ticks
        self._rate_retry_s = rate_retry_s
        self._contracts: dict[int, Contract] = {}  # every key the budget holds or queues
        self._tickers: dict[int, Ticker] = {}  # kept across reconnects (module doc)
        self._live: set[int] = set()  # keys with a request on the current connection
        self._fresh: set[int] = set()  # live keys that ticked since they were requested
        self._req_ids: dict[int, int] = {}  # reqId -> key, current connection only
        self._requested_at: dict[int, datetime] = {}
        self._last_tick: dict[int, datetime] = {}
        self._unknown: dict[int, UnknownContract] = {}
        self._extra_ticks: dict[int, str] = {}  # per-key generic ticks (module doc)
        self._publish_pending = False
        self._retries: dict[int, asyncio.TimerHandle] = {}
        self.requests_sent = 0
        self.restores = 0
        self._events = Subscriptions(
            [
                (ib.pendingTickersEvent, self._on_tickers),
                (ib.errorEvent, self._on_error),
                (ib.disconnectedEvent, self._on_disconnected),
            ]
        )
        self._events.connect()

    def close(self) -> None:
        """Stop listening to the IB object's events (lines are left as they are)."""
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        self._events.disconnect()

    # -- reading ---------------------------------------------------------------------------

    @property
    def ib(self) -> IB:
        return self._ib

    def ticker(self, con_id: int) -> Ticker | None:
        """The streaming ticker of an active line (None: queued, evicted or never asked)."""
        if self.budget.status(con_id) is not LineStatus.ACTIVE:
            return None
        return self._tickers.get(con_id)

    def contract(self, con_id: int) -> Contract | None:
        return self._contracts.get(con_id)

    def has_ticked(self, con_id: int) -> bool:
        """Whether the line ticked since it was last requested: only then are its
        ticker's numbers a quote (ib_insync hands a re-requested contract its old Ticker,
        old numbers included)."""
        return con_id in self._fresh

    def quote(self, con_id: int) -> Quote:
        """The sanitised quote of a line that has ticked since it was last requested; all
        NaN otherwise (after a drop, and after a re-request until the first tick, the ticker
        still holds the old numbers: they are not a quote, and :meth:`quote_age_s` says how
        old they are)."""
        t = self.ticker(con_id)
        if t is None or con_id not in self._fresh:
            return Quote(math.nan, math.nan, math.nan)
        return clean_quote(t)

    def generic_ticks(self, con_id: int) -> str:
        """The generic tick list a request for ``con_id`` carries (module doc)."""
        return merge_generic_ticks(self._generic_ticks, self._extra_ticks.get(con_id, ""))

    def is_live(self, con_id: int) -> bool:
        """Requested on the current connection (a reconnect or 1101 clears this until
        :meth:`restore_all` runs)."""
        return con_id in self._live

    def last_tick(self, con_id: int) -> datetime | None:
        return self._last_tick.get(con_id)

    def quote_age_s(self, con_id: int, now: datetime) -> float | None:
        """Seconds since the line's last tick; None when it holds no line or never ticked."""
        if con_id not in self._contracts or self.ticker(con_id) is None:
            return None
        t = self._last_tick.get(con_id)
        return None if t is None else (now - t).total_seconds()

    def oldest_quote_age_s(
        self, now: datetime, con_ids: Iterable[int] | None = None
    ) -> float | None:
        """The oldest age among active lines (or among ``con_ids`` that are active); a
        line that never ticked counts from when it was requested. None: no such line."""
        held = self.budget.held_keys()
        keys = held if con_ids is None else held & set(con_ids)
        oldest: float | None = None
        for k in keys:
            t = self._last_tick.get(k) or self._requested_at.get(k)
            if t is None:
                continue
            age = (now - t).total_seconds()
            oldest = age if oldest is None or age > oldest else oldest
        return oldest

    def freshest_quote_age_s(self, now: datetime) -> float | None:
        """The youngest age among active lines (a line that never ticked counts from when
        it was requested): how long the whole feed has been silent. None: no line."""
        freshest: float | None = None
        for k in self.budget.held_keys():
            t = self._last_tick.get(k) or self._requested_at.get(k)
            if t is None:
                continue
            age = (now - t).total_seconds()
            freshest = age if freshest is None or age < freshest else freshest
        return freshest

    @property
    def unknown(self) -> dict[int, UnknownContract]:
        """Contracts IB does not know (error 200), by conId."""
        return dict(self._unknown)

    @property
    def unknown_symbols(self) -> frozenset[str]:
        return frozenset(u.symbol for u in self._unknown.values())

    def health_fields(self, now: datetime) -> dict[str, Any]:
        """The market-data fields of the store's ``Health`` slice."""
        fields = self.budget.snapshot().to_health_fields()
        age = self.oldest_quote_age_s(now)
        fields["oldest_quote_age_s"] = None if age is None else round(age, 1)
        return fields

    def publish(self) -> None:
        """Write :meth:`health_fields` into the store (a no-op without one)."""
        if self._store is not None:
            self._store.update(Health, **self.health_fields(self._clock()))

    def publish_soon(self) -> None:
        """:meth:`publish` once for a burst of line changes, ``PUBLISH_SOON_S`` from the
        first (at once outside a running loop). The snapshot rotation takes and gives
        back a line about 40 times a second with a 1,000-symbol universe, so the count of
        lines in use (snapshots included) moves by one or two all the time: one store
        update a second shows the same footer and costs a fortieth (issue 12's idle CPU;
        at 0.1 s, phases where the count kept moving redrew the footer three times a
        second and cost the dashboard ~1 % of a core). The budget itself is exact at every
        moment (it is what decides a request); only its display waits. Everything else
        that changes the budget (a stream asked for or given back, a refusal that shrinks
        it) still publishes at once."""
        if self._store is None or self._publish_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.publish()
            return
        self._publish_pending = True
        loop.call_later(PUBLISH_SOON_S, self._publish_later)

    def _publish_later(self) -> None:
        self._publish_pending = False
        self.publish()

    # -- changing --------------------------------------------------------------------------

    def subscribe(
        self, contract: Contract, *, pin: str | None = None, generic_ticks: str = ""
    ) -> Ticker | None:
        """Ask for a line: the ticker when it streams, None when it waits in the queue (it
        starts by itself once a line frees; see :meth:`ticker`) or IB does not know it.
        ``generic_ticks`` ("101") are asked for this contract too (module doc)."""
        con_id = _con_id(contract)
        if con_id in self._unknown:
            return None
        self._contracts.setdefault(con_id, contract)
        if generic_ticks:
            self._extra_ticks[con_id] = merge_generic_ticks(
                self._extra_ticks.get(con_id, ""), generic_ticks
            )
        decision = self.budget.request(con_id, self._now_s(), pin=pin)
        self._apply(decision)
        self.publish()
        return self.ticker(con_id)

    def unsubscribe(self, contract_or_con_id: Contract | int) -> bool:
        """Give the line (or the queue place) back; a queued key may take it.

        A pinned key keeps its line (False): a pin says someone else still needs it (an
        open position's leg that is also in a previewed chain). Unpin first; a line nobody
        wants but nobody releases is simply evicted when its line is needed.
        """
        key = _key(contract_or_con_id)
        if self.budget.is_pinned(key):
            return False
        self._give_back(key)
        return True

    def pin(self, con_id: int, reason: str) -> None:
        """Keep ``con_id`` from eviction while ``reason`` holds (pins are per reason)."""
        self.budget.pin(con_id, reason)
        self.publish()

    def unpin(self, con_id: int, reason: str) -> None:
        for d in self.budget.unpin(con_id, reason, self._now_s()):
            self._apply(d)
        self.publish()

    def touch(self, con_id: int) -> bool:
        """The line was looked at: it becomes the most recently used."""
        return self.budget.touch(con_id, self._now_s())

    async def restore_all(self) -> int:
        """Re-request every line IB does not hold after it lost them (module doc); returns
        how many requests went out. Lines IB refuses again (101) shrink the budget as
        usual. Idempotent: a line already requested on this connection is left alone."""
        sent = 0
        if self._ib.isConnected():
            for key in self.budget.active_keys():
                if self._start(key):
                    sent += 1
        before = self.requests_sent
        for d in self.budget.restore_max(self._now_s()):
            self._apply(d)
        sent += self.requests_sent - before
        self.restores += 1
        self.publish()
        logger.info("market data restored: {} line(s) re-requested", sent)
        return sent

    def apply_all(self, decisions: Iterable[LineDecision[int]]) -> None:
        """Carry out budget decisions taken outside this class (snapshots: issue 12)."""
        for d in decisions:
            self._apply(d)

    def start_promoted(self, keys: Iterable[int]) -> None:
        """Subscribe the keys a release outside this class promoted from the queue."""
        for k in keys:
            self._start(k)

    # -- internals -------------------------------------------------------------------------

    def _now_s(self) -> float:
        return self._clock().timestamp()

    def _apply(self, d: LineDecision[int]) -> None:
        if d.action is LineAction.SUBSCRIBE:
            self._start(d.key)
        elif d.action is LineAction.EVICT_THEN_SUBSCRIBE:
            if d.evicted is not None:
                self._stop(d.evicted)
                self._forget_if_unused(d.evicted)
            self._start(d.key)

    def _start(self, key: int) -> bool:
        """reqMktData for ``key`` when connected (else :meth:`restore_all` will) and not
        already requested on this connection (module doc: never twice)."""
        contract = self._contracts.get(key)
        if contract is None or key in self._live or not self._ib.isConnected():
            return False
        old = self._tickers.get(key)
        books = getattr(self._ib.wrapper, "tickers", None)
        if old is not None and isinstance(books, dict) and id(contract) not in books:
            books[id(contract)] = old  # keep the caller's Ticker object (module doc)
        ticker = self._ib.reqMktData(contract, self.generic_ticks(key))
        self._tickers[key] = ticker
        self._live.add(key)
        self._fresh.discard(key)
        self._requested_at[key] = self._clock()
        self.requests_sent += 1
        req_id = self._ib.wrapper.ticker2ReqId.get("mktData", {}).get(ticker)
        if isinstance(req_id, int):
            self._req_ids[req_id] = key
        return True

    def _give_back(self, key: int) -> None:
        """Free ``key``'s line: stop its stream, forget it unless still wanted, start the
        requests the freed line lets through, and publish."""
        promoted = self.budget.release(key, self._now_s())
        self._stop(key)
        self._forget_if_unused(key)
        for k in promoted:
            self._start(k)
        self.publish()

    def _stop(self, key: int) -> None:
        """cancelMktData for a live line; its ticker is no longer ours to update."""
        contract = self._contracts.get(key)
        if key in self._live and contract is not None and self._ib.isConnected():
            self._ib.cancelMktData(contract)
        self._end_quietly(key)
        self._live.discard(key)
        self._fresh.discard(key)
        self._last_tick.pop(key, None)
        self._requested_at.pop(key, None)

    def _end_quietly(self, key: int) -> None:
        for req_id in [r for r, k in self._req_ids.items() if k == key]:
            del self._req_ids[req_id]

    def _forget_if_unused(self, key: int) -> None:
        """Drop what we hold for a key that neither streams nor waits."""
        if self.budget.status(key) is not LineStatus.NONE:
            return
        self._contracts.pop(key, None)
        self._tickers.pop(key, None)
        self._extra_ticks.pop(key, None)

    def _on_tickers(self, tickers: Iterable[Ticker]) -> None:
        now: datetime | None = None
        for t in tickers:
            c = t.contract
            key = c.conId if c is not None else 0
            if key in self._live and self._tickers.get(key) is t:
                if now is None:
                    now = self._clock()
                self._last_tick[key] = now
                self._fresh.add(key)

    def _on_disconnected(self) -> None:
        self._lost_all()

    def _cancel_live(self) -> None:
        """Before re-requesting after 1101, cancel every line we asked for: IB dropped the
        ones it had, but a request still on its way (in ib_insync's paced send queue, or on
        the wire) would open a line after the drop that the re-request then doubles, under
        a reqId nobody could cancel any more. A cancel goes out behind its own request, so
        it closes exactly that line; for the dropped ones IB answers a harmless 300."""
        if not self._ib.isConnected():
            return
        for key in list(self._live):
            contract = self._contracts.get(key)
            if contract is not None:
                self._ib.cancelMktData(contract)

    def _lost_all(self) -> None:
        """IB holds none of our lines any more (a closed connection, 1101): every active
        line is to be requested again by :meth:`restore_all`."""
        self._live.clear()
        self._fresh.clear()
        self._req_ids.clear()

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        if code == _DATA_LOST and req_id == -1:
            self._cancel_live()
            self._lost_all()
            return
        key = self._req_ids.get(req_id)
        if key is None:
            return
        try:
            if code == _ERR_MAX_RATE:
                self._on_100(key)
            elif code == _ERR_MAX_TICKERS:
                self._on_101(key)
            elif code == _ERR_NO_SECURITY:
                self._on_200(key, message)
        except Exception:  # an event handler must never take the session down
            logger.exception("handling IB error {} for line {} failed", code, key)

    def _on_100(self, key: int) -> None:
        """IB dropped the request (more than 50 messages a second): ask again later."""
        self._end_quietly(key)
        self._live.discard(key)
        self._fresh.discard(key)
        logger.warning("IB dropped the request for line {} (message rate); retrying", key)
        if key not in self._retries:
            loop = asyncio.get_running_loop()
            self._retries[key] = loop.call_later(self._rate_retry_s, self._retry, key)

    def _retry(self, key: int) -> None:
        self._retries.pop(key, None)
        if self.budget.status(key) is LineStatus.ACTIVE and key not in self._live:
            self._start(key)

    def _on_101(self, key: int) -> None:
        ticker = self._tickers.get(key)
        if ticker is not None:
            self._ib.wrapper.endTicker(ticker, "mktData")
        self._end_quietly(key)
        self._live.discard(key)
        self._fresh.discard(key)
        self._requested_at.pop(key, None)
        shrink = self.budget.on_error_101(self._now_s(), key)
        logger.warning(
            "IB refused a market data line (101): budget {} -> {} lines, {} queued",
            shrink.previous_max,
            shrink.new_max,
            self.budget.queued,
        )
        for d in shrink.decisions:
            self._apply(d)
        self.publish()

    def _on_200(self, key: int, message: str) -> None:
        contract = self._contracts.get(key)
        symbol = contract.symbol if contract is not None else ""
        self._unknown[key] = UnknownContract(key, symbol, message)
        logger.warning("IB does not know {} (conId {}): {}; skipped", symbol, key, message)
        ticker = self._tickers.get(key)
        if ticker is not None:
            self._ib.wrapper.endTicker(ticker, "mktData")
        self._live.discard(key)
        self._give_back(key)


def merge_generic_ticks(*lists: str) -> str:
    """Comma-separated generic tick lists joined, each tick once, in order of appearance
    ("100", "101,100" -> "100,101")."""
    seen: dict[str, None] = {}
    for text in lists:
        for part in text.split(","):
            if part.strip():
                seen.setdefault(part.strip(), None)
    return ",".join(seen)


def _con_id(contract: Contract) -> int:
    con_id = contract.conId
    if not isinstance(con_id, int) or con_id <= 0:
        raise ValueError(f"qualify {contract!r} first: a market-data line is keyed by conId")
    return con_id


def _key(contract_or_con_id: Contract | int) -> int:
    if isinstance(contract_or_con_id, int):
        return contract_or_con_id
    return _con_id(contract_or_con_id)
