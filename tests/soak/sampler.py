"""What the engine child measures about itself, as JSON lines for the soak driver.

Records (one JSON object a line, each with ``kind`` and ``t``, wall time in seconds):

- ``ready`` / ``unready``: the session became ready (connected, ready hooks done) or
  stopped being so, checked every ``probe_s``; outages are the gaps between them.
- ``sample`` every ``interval_s``: RSS (``/proc/self/statm``), the event-loop lags since
  the last sample (ms), reconnects, the line budget, the actor's tallies and, when the
  lines could be compared, both views of the line count at one settled moment.
- ``quiesced`` when the actor stopped and cancelled its working orders; ``final`` at the
  end, with the intents the engine's Orders slice shows as UNKNOWN.

Lines are compared here, not in the driver, because only the app knows when its requests
have all been answered: the count is settled by round trips (contract details) until one
changes nothing, the gateway is asked (``lines`` on its control port), and a last round
trip proves nothing moved meanwhile -- no request sent, no restore, no reconnect, no IB
error. A 1101 or a drop that lands in between shows as a changed state, and the sample
is taken again (at most ``COMPARE_TRIES`` times; otherwise it is counted as unsettled).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import IO, TYPE_CHECKING, Any

from ib_insync import Stock

from tests.soak.control import Control, ControlError
from tui_trader.core.models import IntentStatus
from tui_trader.state.store import Health, Orders

if TYPE_CHECKING:
    from tui_trader.engine.engine import Engine

MAX_BARRIERS = 20
COMPARE_TRIES = 3
BARRIER_TIMEOUT_S = 5.0
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class Sampler:
    """Loop-lag probe, readiness transitions and periodic samples (module doc)."""

    def __init__(
        self,
        engine: Engine,
        control: Control,
        out: IO[str],
        *,
        tallies: dict[str, int],
        interval_s: float = 2.0,
        probe_s: float = 0.05,
    ) -> None:
        self.engine = engine
        self.control = control
        self.out = out
        self.tallies = tallies
        self.interval_s = interval_s
        self.probe_s = probe_s
        self._lags_ms: list[float] = []
        self._ready = False
        self._probe_contract = Stock(engine.settings.universe.symbols[0], "SMART", "USD")

    def emit(self, kind: str, **fields: Any) -> None:
        self.out.write(json.dumps({"kind": kind, "t": time.time(), **fields}) + "\n")
        self.out.flush()

    # -- the probe ---------------------------------------------------------------------------

    async def probe(self) -> None:
        """Sleep ``probe_s`` over and over; how late each wake-up is, is the loop's lag."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(self.probe_s)
            self._lags_ms.append(max(0.0, (loop.time() - t0 - self.probe_s) * 1000.0))
            ready = self.engine.session.is_ready
            if ready != self._ready:
                self._ready = ready
                reconnects = self.engine.session.reconnects
                self.emit("ready" if ready else "unready", reconnects=reconnects)

    # -- samples -----------------------------------------------------------------------------

    async def samples(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.sample()

    async def sample(self) -> None:
        engine = self.engine
        budget = engine.marketdata.budget
        lags, self._lags_ms = self._lags_ms, []
        lines = await self.compare_lines()
        self.emit(
            "sample",
            rss=rss_bytes(),
            lags_ms=[round(x, 2) for x in lags],
            ready=engine.session.is_ready,
            booted=engine.booted,
            reconnects=engine.session.reconnects,
            client_id=engine.session.client_id,
            budget_active=budget.active,
            budget_max=budget.max,
            budget_configured=budget.snapshot().configured_max,
            budget_queued=budget.queued,
            evictions=budget.evictions,
            intents=len(engine.store.get(Orders).intents),
            tallies=dict(self.tallies),
            **lines,
        )

    def _state(self) -> tuple[object, ...]:
        """Everything whose change means the line count may have moved."""
        e = self.engine
        md = e.marketdata
        health = e.store.get(Health)
        return (
            md.requests_sent,
            md.restores,
            e.session.reconnects,
            e.session.client_id,
            e.session.is_ready,
            md.budget.snapshot(),
            tuple(sorted(md.budget.active_keys())),
            health.last_error_code,
            health.last_error_time,
        )

    async def _barrier(self) -> bool:
        """One round trip to the gateway: every earlier request has been answered.

        A contract-details request, not reqCurrentTime: ib_insync keeps one future for
        every reqCurrentTime in flight, so a barrier would steal the answer of the
        session's own clock sample (which then times out)."""
        if not self.engine.session.is_ready:
            return False
        ask = self.engine.ib.reqContractDetailsAsync(self._probe_contract)
        try:
            await asyncio.wait_for(ask, BARRIER_TIMEOUT_S)
        except (TimeoutError, ConnectionError, OSError):
            return False
        return True

    async def _settled(self) -> bool:
        for _ in range(MAX_BARRIERS):
            before = self._state()
            if not await self._barrier():
                return False
            if self._state() == before:
                return True
        return False

    async def compare_lines(self) -> dict[str, Any]:
        """Both views of the line count at one settled moment, or why there is none."""
        why = "not ready"
        for _ in range(COMPARE_TRIES):
            if not self.engine.session.is_ready:
                return {"compared": False, "why": "not ready"}
            if not await self._settled():
                why = "unsettled"
                continue
            state = self._state()
            app = self.engine.marketdata.budget.active
            try:
                gateway = await self.control.ask_json("lines")
            except ControlError as exc:
                return {"compared": False, "why": f"control port: {exc}"}
            if not await self._barrier() or self._state() != state:
                why = "moved"
                continue
            mine = gateway["clients"].get(str(self.engine.session.client_id), {})
            return {
                "compared": True,
                "app_lines": app,
                "gw_lines": int(mine.get("lines", 0)),
                "gw_con_ids": int(mine.get("con_ids", 0)),
                "gw_max": int(gateway["max"]),
            }
        return {"compared": False, "why": why}

    def final(self) -> None:
        shown = [
            i.intent_id
            for i in self.engine.store.get(Orders).intents
            if i.status is IntentStatus.UNKNOWN
        ]
        with contextlib.suppress(OSError):
            self.emit("final", rss=rss_bytes(), unknown_shown=shown, tallies=dict(self.tallies))
