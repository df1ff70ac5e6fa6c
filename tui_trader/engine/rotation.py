"""Live prices past the line budget: the universe's symbols without a streaming line are
refreshed by rotating snapshots (issue 12).

- **Who streams.** What must stream (legs of positions and working orders, a previewed
  chain) pins or takes its lines first (``LineBudget``: a pinned key is never evicted, and
  a preview evicts universe lines). The universe streams into what is left, keeping
  ``snapshot_lines`` of the budget free for snapshots when it has more symbols than lines
  (:func:`universe_stream_room`). Every other symbol is refreshed here.
- **Order.** Each :meth:`Rotation.tick` snapshots, oldest price first (a symbol never
  priced first of all), every symbol whose price is older than half of
  ``[scanner] max_price_age_s``, as far as :class:`~tui_trader.broker.snapshots.Snapshots`
  has lines and rate. Half the limit leaves a whole cycle of margin: with 20 snapshots a
  second, 430 rotating symbols are each refreshed about every 22 s.
- **Spread, not bursts.** A tick starts at most ``MAX_PER_S * poll_s`` snapshots (5 of the
  20 a second every 0.25 s), not the second's whole allowance at once. IB counts messages
  by when they arrive: with whole-second bursts the client sent 20 requests within 2 ms,
  then the next 20 about 1.01 s later, so 10 ms of jitter on the way puts 40 in one of
  IB's seconds (tests/engine/test_rotation_pacing.py measured a 40/s peak at the
  simulated gateway once). Spread out, a second holds 20, and 0.25 s of jitter adds 5.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from ib_insync import Contract
from loguru import logger

from tui_trader.broker.lines import LineBudget
from tui_trader.broker.marketdata import MarketData, clean_price
from tui_trader.broker.snapshots import MAX_PER_S, Snapshots

Sleep = Callable[[float], Awaitable[object]]

#: Lines of the budget kept for snapshots when the universe has more symbols than lines.
SNAPSHOT_LINES = 20
POLL_S = 0.25
#: How often the price ages are published (``ScanResults.price_ages``), clock seconds.
AGES_EVERY_S = 5.0
#: How long :meth:`Rotation.tick` reuses its list of due symbols, clock seconds (at most).
DUE_REUSE_S = 2.0


def snapshot_reserve(max_lines: int, universe_size: int) -> int:
    """Lines kept free for snapshots: none when the whole universe streams with a tenth
    of the budget to spare, else ``SNAPSHOT_LINES`` (at most a quarter of the budget)."""
    if universe_size + max_lines // 10 <= max_lines:
        return 0
    return max(1, min(SNAPSHOT_LINES, max_lines // 4))


def universe_stream_room(budget: LineBudget[int], universe_size: int) -> int:
    """How many more universe lines may stream now without evicting or queueing."""
    if budget.queued or budget.starved:
        return 0
    reserve = snapshot_reserve(budget.max, universe_size)
    return max(0, budget.max - reserve - budget.active)


class Rotation:
    """Refreshes the non-streaming universe by snapshots (module doc)."""

    def __init__(
        self,
        marketdata: MarketData,
        snapshots: Snapshots,
        *,
        stocks: Callable[[], Mapping[str, Contract]],
        clock: Callable[[], datetime],
        max_age_s: float,
        sleep: Sleep = asyncio.sleep,
        poll_s: float = POLL_S,
        on_ages: Callable[[], object] | None = None,
        max_per_tick: int | None = None,
    ) -> None:
        self._md = marketdata
        #: Snapshots one tick may start (module doc: spread, not bursts).
        self.max_per_tick = (
            max_per_tick if max_per_tick is not None else max(1, math.ceil(MAX_PER_S * poll_s))
        )
        self.snapshots = snapshots
        self._stocks = stocks
        self._clock = clock
        self._max_age_s = max_age_s
        self._sleep = sleep
        self._poll_s = poll_s
        self._on_ages = on_ages
        self._ages_at: datetime | None = None
        self._due: deque[str] = deque()
        self._due_at: datetime | None = None

    def _streaming(self, con_id: int) -> bool:
        return self._md.ticker(con_id) is not None and self._md.is_live(con_id)

    def price(self, symbol: str) -> tuple[float, float, datetime] | None:
        """(last, volume, when) of the symbol's price: its line's once it ticked, else
        its latest snapshot's; None without one. ``last`` falls back to the mid."""
        c = self._stocks().get(symbol)
        if c is None:
            return None
        md = self._md
        if self._streaming(c.conId) and md.has_ticked(c.conId):
            q = md.quote(c.conId)
            t = md.last_tick(c.conId)
            last = q.last if math.isfinite(q.last) else q.mid
            ticker = md.ticker(c.conId)
            volume = clean_price(ticker.volume) if ticker is not None else math.nan
            if t is not None and math.isfinite(last):
                return last, volume, t
        return self._snapshot_price(c.conId)

    def _snapshot_price(self, con_id: int) -> tuple[float, float, datetime] | None:
        snap = self.snapshots.prices.get(con_id)
        if snap is None:
            return None
        last = snap.last if math.isfinite(snap.last) else 0.5 * (snap.bid + snap.ask)
        return (last, snap.volume, snap.at) if math.isfinite(last) else None

    def price_age_s(self, symbol: str, now: datetime | None = None) -> float | None:
        """Seconds since the symbol's price (module doc); None: no price yet."""
        got = self.price(symbol)
        if got is None:
            return None
        return ((now or self._clock()) - got[2]).total_seconds()

    def _due_age(self, con_id: int, now: datetime, half: float) -> float | None:
        """The price's age when the symbol is due (``inf``: no price), else None."""
        if self._streaming(con_id):  # its line prices it (a snapshot would double it)
            return None
        if self.snapshots.running(con_id):  # its price is on its way
            return None
        got = self._snapshot_price(con_id)  # no line: its snapshot alone prices it
        if got is None:
            return math.inf
        age = (now - got[2]).total_seconds()
        return age if age >= half else None

    def due(self, now: datetime | None = None) -> list[str]:
        """Symbols to snapshot, most urgent first: no line streaming for them, no snapshot
        of them running, and no price or one older than half the allowed age."""
        now = now or self._clock()
        half = 0.5 * self._max_age_s
        aged: list[tuple[float, str]] = []
        for sym, c in self._stocks().items():
            age = self._due_age(c.conId, now, half)
            if age is not None:
                aged.append((age, sym))
        aged.sort(key=lambda a: (-a[0], a[1]))
        return [sym for _, sym in aged]

    def trim(self) -> int:
        """Give back universe lines past what the budget leaves them; returns how many.

        After error 101 the budget shrinks to the lines IB granted and the refused universe
        line waits in the queue: a queue blocks every snapshot (``Snapshots.free_lines``),
        so the rotation would stop. The universe's queued keys leave the queue, and its
        unpinned streaming lines beyond ``max - reserve`` are cancelled (least recently
        used first); their symbols rotate through snapshots like the rest (issue 12: backing off
        to the budget IB actually gave)."""
        md, budget = self._md, self._md.budget
        stocks = self._stocks()
        keep = budget.max - snapshot_reserve(budget.max, len(stocks))
        # snapshots' keys are < 0
        excess = sum(1 for k in budget.held_keys() if k >= 0) - keep
        if not budget.queued and excess <= 0:  # every tick: the usual case, no sorting
            return 0
        streaming = [k for k in budget.active_keys() if k >= 0]
        ids = {c.conId for c in stocks.values()}
        dropped = 0
        for key in budget.queued_keys:
            if key in ids and md.unsubscribe(key):
                dropped += 1
        if excess > 0:
            for key in reversed(streaming):  # least recently used first
                if excess <= 0:
                    break
                if key in ids and not budget.is_pinned(key) and md.unsubscribe(key):
                    dropped += 1
                    excess -= 1
        if dropped:
            logger.info("universe: {} line(s) handed to the snapshot rotation", dropped)
        return dropped

    def tick(self) -> int:
        """Start the snapshots there is room for now, at most :attr:`max_per_tick`;
        returns how many started.

        The tick takes them from :meth:`due`'s list, computed over the whole universe
        every ``DUE_REUSE_S`` (a tenth of ``max_age_s`` when that is less), not every
        tick: four passes a second over 1,000 symbols were the idle dashboard's largest
        cost. Each is checked again before it is asked for, so a symbol priced or
        streaming since is skipped. A symbol that falls due in between waits that much
        more, at most a fifth of the half-age margin."""
        self.trim()
        room = min(self.snapshots.room(), self.max_per_tick)
        if room < 1:
            return 0
        now = self._clock()
        reuse_s = min(DUE_REUSE_S, 0.1 * self._max_age_s)
        if self._due_at is None or (now - self._due_at).total_seconds() >= reuse_s:
            self._due, self._due_at = deque(self.due(now)), now
        stocks = self._stocks()
        half = 0.5 * self._max_age_s
        started = 0
        while self._due and started < room:
            c = stocks.get(self._due[0])
            if c is None or self._due_age(c.conId, now, half) is None:
                self._due.popleft()  # gone from the universe, priced or streaming since
                continue
            if not self.snapshots.request(c):
                break  # no line or rate after all: it stays first in line
            self._due.popleft()
            started += 1
        return started

    def ages_due(self) -> bool:
        """Whether ``on_ages`` is due: every ``AGES_EVERY_S`` of the clock (the Scanner's
        age column; oftener would redraw every row for a second's change)."""
        now = self._clock()
        if self._ages_at is not None and (now - self._ages_at).total_seconds() < AGES_EVERY_S:
            return False
        self._ages_at = now
        return True

    async def run(self) -> None:
        """:meth:`tick` every ``poll_s`` until cancelled (never fatal); ``on_ages`` every
        ``AGES_EVERY_S``."""
        while True:
            try:
                self.tick()
                if self._on_ages is not None and self.ages_due():
                    self._on_ages()
            except Exception:
                logger.exception("snapshot rotation failed")
            await self._sleep(self._poll_s)
