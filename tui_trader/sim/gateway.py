"""The simulated IB gateway: a TWS API server on a local socket, backed by Market + Exchange.

Any TWS API client (ib_insync, the official ibapi) connects to it as to TWS / IB Gateway:
server version 176, several clients at once with their own clientIds, IB's pacing limits
and IB's error codes. It speaks bytes (``protocol``) and never imports a TWS client.

Time has two sources. Market time is the SimClock's (``clock.now()``), which tests drive
through an injected monotonic source; the streaming loop calls :meth:`SimGateway.step`
every ``tick_interval`` real seconds, and tests that disable the loop call ``step()`` /
``pump()`` themselves. Pacing runs on real seconds, never on market time, because IB
paces by wall time whatever the market does: the 50 messages/s limit on the event loop's
clock, historical pacing and P&L throttling on the injected monotonic source (real time
unless a test injects its own).

Who gets what, following IB: order events (openOrder, orderStatus, execDetails,
commissionReport, order errors) go to the client that placed the order and to clientId
0, the master client; positions go to every client that called reqPositions, portfolio
and account values to every client subscribed with reqAccountUpdates (and the multi /
summary variants). Account state lives in the Exchange, so it survives client
disconnects and, with a state file, a restart of the gateway.

One client's bad bytes or a bug triggered by its request never reach the server loop:
framing errors drop that client, malformed requests are answered with an IB error
(320/321), and every handler runs inside a guard that answers instead of raising.

The server is split by concern, each layer a class in its own module, stacked here:
``gateway_session`` (one connection's bytes), ``gateway_core`` (the state),
``gateway_lines`` (market data lines and snapshots), ``gateway_account`` (account and
P&L publication), ``gateway_orders`` (orders and the fan-out of exchange events),
``gateway_reference`` (contract details and historical data), ``gateway_dispatch``
(which handler answers a request), ``gateway_control`` (the listener and the fault
plays). This module keeps the lifecycle, the streaming step and the entry points.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from loguru import logger

from tui_trader.sim.clock import SimClock, default_demo_start
from tui_trader.sim.exchange import Exchange
from tui_trader.sim.faults import ControlServer
from tui_trader.sim.gateway_control import FaultControls
from tui_trader.sim.gateway_core import DEFAULT_REJECT_TEXT, GatewayCore, GatewayLimits
from tui_trader.sim.gateway_session import ClientSession, Phase
from tui_trader.sim.market import Market
from tui_trader.sim.subscriptions import publish

__all__ = [
    "DEFAULT_REJECT_TEXT",
    "ClientSession",
    "GatewayCore",
    "GatewayLimits",
    "Phase",
    "SimGateway",
    "serve",
    "start_gateway",
]


class SimGateway(FaultControls):
    """The TWS API server over a Market and an Exchange (module doc).

    ``tick_interval`` None disables the background streaming loop: the owner then calls
    :meth:`step` (or ``await pump()``) to move the market and publish, deterministically.
    """

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = a free port); returns the bound port."""
        self._host = host
        await self._listen(port)
        if self.tick_interval is not None and self._stream_task is None:
            self._stream_task = asyncio.create_task(self._stream(), name="sim-gateway-stream")
        logger.info("simulated IB gateway listening on {}:{}", host, self.port)
        return self.port

    async def start_control(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Serve the fault-injection control port; returns its bound port."""
        self._control = ControlServer(self)
        return await self._control.start(host, port)

    async def stop(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
            self._stream_task = None
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._reopen_task is not None:
            self._reopen_task.cancel()
            self._reopen_task = None
        if self._control is not None:
            await self._control.stop()
            self._control = None
        self._close_listener()
        for s in list(self._sessions):
            s.close()
        await asyncio.sleep(0)

    # --- time ---------------------------------------------------------------------------

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.tick_interval or 0.1
        while True:
            started = loop.time()
            try:
                self.step()
            except Exception:  # never let one bad round stop the stream
                logger.exception("streaming step failed")
            await asyncio.sleep(max(0.0, interval - (loop.time() - started)))

    def step(self) -> None:
        """Move the market to the clock's time, let resting orders fill, publish."""
        try:
            changed = self.market.advance()
        except Exception:
            logger.exception("market.advance failed")
            changed = set()
        try:
            self._publish(self.exchange.on_market())
        except Exception:
            logger.exception("exchange.on_market failed")
        self._end_snapshots()
        if not self.faults.market_data_paused:
            lines = self._book.moved_by(changed)
            if self._resync:
                self._resync = False
                lines = {line for s in self._sessions for line in s.lines.values()}
            for line in lines:
                try:
                    publish(line, self.market)
                except Exception:
                    logger.exception("publishing line {} failed", line.req_id)
        now = self._monotonic()
        if now - self._last_pnl >= self.pnl_interval:
            self._last_pnl = now
            try:
                self._publish_pnl()
            except Exception:
                logger.exception("publishing P&L failed")

    async def pump(self, rounds: int = 1) -> None:
        """``step()`` ``rounds`` times, letting the loop write to the sockets in between."""
        for _ in range(rounds):
            self.step()
            await asyncio.sleep(0)

    def sim_time(self) -> datetime:
        return self.clock.now()

    def set_speed(self, speed: float) -> None:
        self.clock.set_speed(speed)

    def set_price(self, symbol: str, price: float) -> None:
        """Test hook: put a stock's price at ``price`` now (publishes on the next step)."""
        self.market.set_price(symbol, price)


# --------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------


async def start_gateway(
    seed: int = 7,
    speed: float = 1.0,
    start: datetime | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    *,
    state: Path | None = None,
    symbols: Sequence[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    tick_interval: float | None = 0.1,
    limits: GatewayLimits | None = None,
    skip_closed: bool = False,
    account: str | None = None,
) -> SimGateway:
    """Build a clock, market and exchange and start a gateway on them (port 0: free port).
    ``skip_closed``: nights, weekends and holidays pass in an instant (SimClock);
    ``account``: the account id it reports (default a paper one, ``DU123456``; a live id
    such as ``U1234567`` lets live-mode paths run against it)."""
    clock = SimClock(start or default_demo_start(), speed, monotonic, skip_closed=skip_closed)
    market = Market(clock, seed, symbols)
    exchange = (
        Exchange(market, state_path=state)
        if account is None
        else Exchange(market, state_path=state, account=account)
    )
    gateway = SimGateway(
        market, exchange, tick_interval=tick_interval, limits=limits, monotonic=monotonic
    )
    await gateway.start(host, port)
    return gateway


async def serve(
    host: str = "127.0.0.1",
    port: int = 7497,
    seed: int = 7,
    speed: float = 1.0,
    state: Path | None = None,
    control_port: int | None = None,
    start: datetime | None = None,
    *,
    on_ready: Callable[[SimGateway], object] | None = None,
    skip_closed: bool = False,
    symbols: Sequence[str] | None = None,
    limits: GatewayLimits | None = None,
) -> None:
    """Run a simulated gateway (and its control port) until cancelled.

    ``on_ready`` is called with the running gateway once it listens (its ``port`` is the
    bound one, useful with port 0). ``symbols`` (default: the 60 table names) and
    ``limits`` (IB's defaults) are ``gateway --universe`` / ``--max-lines``'s (issue 12).
    """
    gateway = await start_gateway(seed, speed, start, state=state, host=host, port=port,
                                  skip_closed=skip_closed, symbols=symbols,
                                  limits=limits)  # fmt: skip
    try:
        if control_port is not None:
            await gateway.start_control("127.0.0.1", control_port)
        if on_ready is not None:
            on_ready(gateway)
        await asyncio.Event().wait()
    finally:
        await gateway.stop()
