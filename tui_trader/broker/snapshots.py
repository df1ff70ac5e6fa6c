"""Snapshot quotes inside the line budget: prices for stocks that hold no streaming line.

IB counts a snapshot (``reqMktData`` with ``snapshot=True``) against the account's lines
until it ends with ``tickSnapshotEnd``, so a snapshot takes a line of the budget too:

- **Each snapshot holds a budget key while it runs**: a negative key per request, pinned
  (``snapshot``) so nothing evicts it (IB would still hold the line), released at its end.
  The footer's ``lines N/M`` (the budget's) therefore counts snapshots, and a snapshot is
  only sent into a line that is free now: never by evicting, never past the budget, never
  while requests wait in the queue (what must stream goes first).
- **Rate**: at most ``max_per_s`` requests a second (default 20 of IB's 50 messages/s,
  leaving the rest to orders, previews and the streaming lines), on the injected clock.
- **End**: ``tickSnapshotEnd`` ends it, and so does an error for its reqId; one that has
  not ended after ``timeout_s`` (IB ends every snapshot within 11 s) is cancelled. Error
  101 (IB has fewer lines than the budget thinks) releases the line first and then shrinks
  the budget to the lines IB did grant (``LineBudget.on_error_101`` with no key), so the
  next snapshot waits for a line that really is free: backing off, not retrying into 101.
- **One at a time per contract**: a contract whose snapshot is still running is not asked
  for again (:meth:`running`): its price is old only until that one ends, and a repeat
  would spend a line and a message on the same answer (issue 12's benchmark refreshed each
  price every 64 s instead of ~30 s while two of three requests were repeats).
- **Tickers**: each request uses its own contract copy and ticker, taken out of
  ib_insync's books at the end (ib_insync keys tickers by ``id(contract)``: a streaming
  line's Ticker must never receive a snapshot's ticks, and a recycled id must not find a
  finished snapshot's old Ticker).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ib_insync import Contract, Ticker
from loguru import logger

from tui_trader.broker.marketdata import MarketData, clean_price, clean_quote

PIN_SNAPSHOT = "snapshot"
_ERR_MAX_TICKERS = 101
SNAPSHOT_TIMEOUT_S = 12.0
MAX_PER_S = 20.0


@dataclass(frozen=True, slots=True)
class SnapshotPrice:
    """One snapshot's sanitised numbers (NaN: not in it) and when it ended."""

    last: float
    bid: float
    ask: float
    volume: float
    at: datetime


class Snapshots:
    """Snapshot requests inside ``marketdata``'s line budget (module doc)."""

    def __init__(
        self,
        marketdata: MarketData,
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        timeout_s: float = SNAPSHOT_TIMEOUT_S,
        max_per_s: float = MAX_PER_S,
        on_price: Callable[[int, SnapshotPrice], None] | None = None,
    ) -> None:
        self._md = marketdata
        self._clock = clock
        self._monotonic = monotonic
        self._timeout_s = timeout_s
        self._max_per_s = max_per_s
        self._on_price = on_price
        self._next_key = -1
        self._running: dict[int, int] = {}  # reqId -> budget key
        self._running_ids: set[int] = set()  # conIds with a snapshot running
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent: list[float] = []  # monotonic times of the last second's requests
        self.prices: dict[int, SnapshotPrice] = {}  # conId -> the latest
        self.sent = 0
        self.refused = 0

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def running(self, con_id: int) -> bool:
        """Whether a snapshot of ``con_id`` is running now (module doc)."""
        return con_id in self._running_ids

    def free_lines(self) -> int:
        """Lines a snapshot may take now: free in the budget, nothing queued or starved."""
        budget = self._md.budget
        if budget.queued or budget.starved:
            return 0
        return max(0, budget.max - budget.active)

    def _rate_room(self) -> int:
        now = self._monotonic()
        self._sent = [t for t in self._sent if now - t < 1.0]
        return max(0, math.floor(self._max_per_s) - len(self._sent))

    def room(self) -> int:
        """How many snapshots may start now (lines and rate)."""
        if not self._md.ib.isConnected():
            return 0
        return min(self.free_lines(), self._rate_room())

    def request(self, contract: Contract) -> bool:
        """Start one snapshot of ``contract`` (qualified) if a line and the rate allow and
        none of it is running already."""
        if self.room() < 1 or contract.conId in self._running_ids:
            return False
        key = self._next_key
        self._next_key -= 1
        self._md.budget.request(key, self._now_s(), pin=PIN_SNAPSHOT)
        self._sent.append(self._monotonic())
        self.sent += 1
        self._running_ids.add(contract.conId)
        task = asyncio.ensure_future(self._one(key, contract))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._md.publish_soon()
        return True

    async def _one(self, key: int, contract: Contract) -> None:
        ib = self._md.ib
        copy = Contract(
            conId=contract.conId,
            secType=contract.secType,
            symbol=contract.symbol,
            exchange=contract.exchange or "SMART",
            currency=contract.currency or "USD",
        )
        wrapper: Any = ib.wrapper
        client: Any = ib.client  # the raw requests (ib_insync's are untyped)
        req_id = int(client.getReqId())
        errors: list[int] = []

        def on_error(rid: int, code: int, message: str, c: Any) -> None:
            if rid == req_id:
                errors.append(int(code))

        self._running[req_id] = key
        ib.errorEvent += on_error
        future = wrapper.startReq(req_id, copy)
        ticker: Ticker = wrapper.startTicker(req_id, copy, "snapshot")
        ended = False
        try:
            client.reqMktData(req_id, copy, "", True, False, [])
            await asyncio.wait_for(future, self._timeout_s)
            ended = not errors
        except TimeoutError:
            logger.warning("snapshot of {} did not end in {:.0f} s", copy.symbol, self._timeout_s)
            with contextlib.suppress(Exception):
                if ib.isConnected():
                    client.cancelMktData(req_id)
        except ConnectionError:
            pass
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                if ib.isConnected():
                    client.cancelMktData(req_id)
            raise
        finally:
            ib.errorEvent -= on_error
            wrapper.endTicker(ticker, "snapshot")
            wrapper.tickers.pop(id(copy), None)
            wrapper.reqId2Ticker.pop(req_id, None)
            self._running.pop(req_id, None)
            self._running_ids.discard(contract.conId)
            self._release(key, refused=_ERR_MAX_TICKERS in errors)
        if ended:
            self._keep(contract.conId, ticker)

    def _keep(self, con_id: int, ticker: Ticker) -> None:
        q = clean_quote(ticker)
        price = SnapshotPrice(q.last, q.bid, q.ask, clean_price(ticker.volume), self._clock())
        if math.isnan(q.last) and math.isnan(q.bid):
            return  # no number at all: not a price, and not a young one
        self.prices[con_id] = price
        if self._on_price is not None:
            self._on_price(con_id, price)

    def _release(self, key: int, *, refused: bool) -> None:
        budget = self._md.budget
        now = self._now_s()
        self._md.apply_all(budget.unpin(key, PIN_SNAPSHOT, now))
        promoted = budget.release(key, now)
        self._md.start_promoted(promoted)
        if refused:
            self.refused += 1
            shrink = budget.on_error_101(now)
            logger.warning(
                "IB refused a snapshot's line (101): budget {} -> {} lines",
                shrink.previous_max,
                shrink.new_max,
            )
            self._md.apply_all(shrink.decisions)
            self._md.publish()  # a smaller budget is news: the footer says it at once
        else:
            self._md.publish_soon()

    def _now_s(self) -> float:
        return self._clock().timestamp()

    async def close(self) -> None:
        """Cancel the running snapshots (their lines are released)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
