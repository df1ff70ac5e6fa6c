"""The scripted trader of the soak test: the engine's own actions (``EngineActions``, the
dashboard's only door to trading) on a seeded schedule, until the auto-trader exists.

Every ``pause`` seconds it picks, by weight: an entry (preview a tradable symbol of the
latest scan, select one of its best spreads, half the time move the limit some ticks below
the natural price so the order rests and walks, transmit), a cancel of a working order, a
close of an open spread (preview_close + transmit) or a rescan. A transmit refused for a
passing state (a DEGRADED session, a stale leg quote) is pressed again, up to
:data:`RETRIES` times. Outcomes are tallied
(``enter:ok``, ``enter:refused``, ...): refusals are normal answers (a gate, a stale quote,
a dropped session); an exception is logged with its traceback, which the soak counts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from loguru import logger

from tui_trader.core.models import IntentStatus
from tui_trader.engine.actions import Outcome
from tui_trader.state.store import Orders, Positions, ScanResults

if TYPE_CHECKING:
    from tui_trader.engine.engine import Engine

WEIGHTS = {"enter": 6, "cancel": 2, "close": 2, "rescan": 1}
CANCELLABLE = (IntentStatus.WORKING, IntentStatus.PARTIALLY_FILLED, IntentStatus.SENT)
#: Refusals that pass by themselves, and how often transmit is pressed again for them.
PASSING = ("DEGRADED", "stale")
RETRIES = 3


class ScriptedActor:
    """Seeded entries, cancels and closes through the engine's actions (module doc)."""

    def __init__(
        self, engine: Engine, rng: random.Random, *, pause: tuple[float, float] = (0.5, 3.0)
    ) -> None:
        self.engine = engine
        self.rng = rng
        self.pause = pause
        self.tallies: dict[str, int] = {}
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        actions: dict[str, Callable[[], Awaitable[Outcome | None]]] = {
            "enter": self.enter,
            "cancel": self.cancel_one,
            "close": self.close_one,
            "rescan": self.engine.rescan,
        }
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        while not self._stopped.is_set():
            await asyncio.sleep(self.rng.uniform(*self.pause))
            if self._stopped.is_set() or not self.engine.session.is_ready:
                continue
            kind = self.rng.choices(kinds, weights)[0]
            try:
                outcome = await actions[kind]()
            except Exception:
                logger.exception("soak actor: {} raised", kind)
                self._tally(kind, "raised")
                continue
            if outcome is not None:
                self._tally(kind, "ok" if outcome.ok else "refused")
                logger.info("soak actor: {} -> {}", kind, outcome.message)

    def _tally(self, kind: str, result: str) -> None:
        key = f"{kind}:{result}"
        self.tallies[key] = self.tallies.get(key, 0) + 1

    async def enter(self) -> Outcome | None:
        report = self.engine.store.get(ScanResults).report
        rows = [] if report is None else [r for r in report.results if r.tradable]
        if not rows:
            return None
        row = self.rng.choice(rows)
        shown = await self.engine.preview(row.symbol)
        if not shown.ok:
            return shown
        chosen = await self.engine.select_spread(self.rng.randrange(3))
        if not chosen.ok:
            return chosen
        if self.rng.random() < 0.5:  # rest below the natural price: the order walks
            await self.engine.adjust_limit(-self.rng.randint(1, 15))
        return await self.transmit()

    async def transmit(self) -> Outcome:
        """Transmit, and press again (as a trader would) while the refusal is a passing
        state: a DEGRADED session or a leg quote that has not ticked lately."""
        outcome = await self.engine.transmit()
        for _ in range(RETRIES):
            if outcome.ok or not any(w in outcome.message for w in PASSING):
                break
            self._tally("transmit", "retried")
            await asyncio.sleep(self.rng.uniform(0.3, 0.8))
            outcome = await self.engine.transmit()
        return outcome

    async def cancel_one(self) -> Outcome | None:
        working = [i for i in self.engine.store.get(Orders).intents if i.status in CANCELLABLE]
        if not working:
            return None
        return await self.engine.cancel(self.rng.choice(working).intent_id)

    async def close_one(self) -> Outcome | None:
        spreads = [s for s in self.engine.store.get(Positions).spreads if s.intent_id]
        if not spreads:
            return None
        spread = self.rng.choice(spreads)
        shown = await self.engine.preview_close(spread.intent_id or "")
        if not shown.ok:
            return shown
        return await self.transmit()

    async def quiesce(self) -> int:
        """Stop acting and cancel every working order; how many cancels were requested."""
        self._stopped.set()
        sent = 0
        for intent in self.engine.store.get(Orders).intents:
            if intent.status in CANCELLABLE:
                try:
                    if (await self.engine.cancel(intent.intent_id)).ok:
                        sent += 1
                except Exception:
                    logger.exception("soak actor: cancelling {} raised", intent.intent_id)
        return sent
