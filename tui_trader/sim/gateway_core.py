"""The simulated gateway's state and the small helpers every part of it uses.

``GatewayCore`` holds what the server knows (market, exchange, clock, limits, fault
state, sessions by clientId, the line book, the pacing tracker); the other ``gateway_*``
modules add behaviour on top of it as layers, and ``gateway.SimGateway`` stacks them.
Keeping the state in one ``__init__`` means there is one place to read what a gateway is.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from tui_trader.sim import historical as hist
from tui_trader.sim import protocol as p
from tui_trader.sim.clock import SimClock
from tui_trader.sim.exchange import Exchange
from tui_trader.sim.faults import ControlServer, FaultState, played_account
from tui_trader.sim.gateway_session import ClientSession
from tui_trader.sim.market import Market
from tui_trader.sim.subscriptions import LineBook
from tui_trader.sim.types import Contract, StockContract

DEFAULT_REJECT_TEXT = "Simulated rejection (reject-next)"


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    """IB's per-client limits (defaults are IB's) and the server's own safety limits."""

    max_messages_per_second: int = 50
    max_market_data_lines: int = 100
    #: How long a snapshot (reqMktData snapshot=True) holds a line before tickSnapshotEnd,
    #: on the injected monotonic clock (0: it ends at once; issue 12).
    snapshot_s: float = 0.0
    historical: hist.HistoricalPacing = field(default_factory=hist.HistoricalPacing)
    #: A client that lets this much unread output pile up is dropped (slow consumer).
    max_write_buffer: int = 32 * 1024 * 1024


class GatewayCore:
    """What the gateway holds; behaviour lives in the layers built on it (module doc)."""

    def __init__(
        self,
        market: Market,
        exchange: Exchange,
        *,
        tick_interval: float | None = 0.1,
        pnl_interval: float = 1.0,
        limits: GatewayLimits | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.market = market
        self.exchange = exchange
        self.clock: SimClock = market.clock
        self.tick_interval = tick_interval
        self.pnl_interval = pnl_interval
        self.limits = limits or GatewayLimits()
        self.faults = FaultState()
        self._monotonic = monotonic
        self._pacing = hist.PacingTracker(self.limits.historical, monotonic)
        self._sessions: set[ClientSession] = set()
        self._by_client_id: dict[int, ClientSession] = {}
        self._book = LineBook()
        self._server: asyncio.Server | None = None
        self._control: ControlServer | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._reopen: asyncio.TimerHandle | None = None
        self._reopen_task: asyncio.Task[None] | None = None
        self._host = "127.0.0.1"
        self.port = 0
        self._next_order_id = 1 + max(
            (o.request.order_id for o in exchange.open_orders() + exchange.completed_orders()),
            default=0,
        )
        self._last_pnl = -math.inf
        self._resync = False
        self._hours: tuple[date, tuple[str, str]] | None = None

    @property
    def account(self) -> str:
        return played_account(self.faults, self.exchange.account)  # the ``account`` play

    @property
    def clients(self) -> dict[int, ClientSession]:
        """Ready clients by clientId."""
        return dict(self._by_client_id)

    def _ready(self) -> list[ClientSession]:
        return [s for s in self._sessions if s.phase == "ready"]

    def _order_recipients(self, client_id: int) -> list[ClientSession]:
        out: list[ClientSession] = []
        owner = self._by_client_id.get(client_id)
        if owner is not None:
            out.append(owner)
        master = self._by_client_id.get(0)
        if master is not None and master is not owner:
            out.append(master)
        return out

    def _allocate_order_ids(self, order_id: int) -> None:
        self._next_order_id = max(self._next_order_id, order_id + 1)


def _cid(s: ClientSession) -> int:
    return s.client_id if s.client_id is not None else -1


def _req_id(req: p.Request) -> int:
    for name in ("req_id", "order_id"):
        value = getattr(req, name, None)
        if isinstance(value, int):
            return value
    return -1


def _position_contract(c: Contract) -> p.WireContract:
    """IB reports positions with the stock's primary exchange and no exchange for options
    (a client must set one, e.g. SMART, before ordering from a position's contract)."""
    if isinstance(c, StockContract):
        return p.wire_contract(c, c.primary_exchange)
    return p.wire_contract(c, "")
