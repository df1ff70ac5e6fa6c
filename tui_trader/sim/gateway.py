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
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from loguru import logger

from tui_trader.sim import historical as hist
from tui_trader.sim import protocol as p
from tui_trader.sim.clock import SimClock, default_demo_start, et_date
from tui_trader.sim.exchange import Exchange, ExchangeError
from tui_trader.sim.faults import (
    ERR_READ_ONLY,
    TEXT_READ_ONLY,
    ControlServer,
    FaultState,
    market_data_answer,
    played_account,
)
from tui_trader.sim.lookup import chain_params, details, resolve, trading_hours
from tui_trader.sim.market import Market
from tui_trader.sim.subscriptions import (
    LegRef,
    LineBook,
    MarketLine,
    parse_generic_ticks,
    publish,
    render,
)
from tui_trader.sim.types import (
    AccountEvent,
    Action,
    ComboLeg,
    Contract,
    ExchangeEvent,
    Execution,
    FillEvent,
    OptionContract,
    OrderEvent,
    OrderRequest,
    OrderState,
    Position,
    PositionEvent,
    StockContract,
    WhatIf,
)

Phase = Literal["prefix", "version", "start", "ready", "closed"]

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


@dataclass(slots=True)
class _Pending:
    due: float
    request: p.Request


class ClientSession(asyncio.Protocol):
    """One API connection: handshake, framing, rate limit, delayed answers, subscriptions."""

    def __init__(self, gateway: SimGateway) -> None:
        self.gateway = gateway
        self.transport: asyncio.Transport | None = None
        self.phase: Phase = "prefix"
        self.client_id: int | None = None
        self.peer = ""
        self._prefix = b""
        self._frames = p.FrameBuffer()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._recent: deque[float] = deque()  # admitted in the last second (error text)
        self._tokens = float(gateway.limits.max_messages_per_second)
        self._tokens_at = 0.0
        self._pending: deque[_Pending] = deque()
        self._pending_timer: asyncio.TimerHandle | None = None
        # subscriptions
        self.lines: dict[int, MarketLine] = {}
        #: Snapshots not yet ended: reqId -> (line, when it ends); each holds a line.
        self.snapshots: dict[int, tuple[MarketLine, float]] = {}
        self.positions = False
        self.account_updates = False
        self.account_multi: set[int] = set()
        self.summaries: dict[int, frozenset[str] | None] = {}
        self.pnl: dict[int, bytes] = {}
        self.pnl_single: dict[int, tuple[int, bytes]] = {}
        self.market_data_type = 1

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.gateway._sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.phase = "closed"
        if self._pending_timer is not None:
            self._pending_timer.cancel()
            self._pending_timer = None
        for req in self._pending:
            if isinstance(req.request, p.ReqHistoricalData):
                self.gateway._pacing.done()
        self._pending.clear()
        self.gateway._forget(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._receive(data)
        except p.ProtocolError as exc:
            logger.warning("client {} ({}): {}; dropping it", self.client_id, self.peer, exc)
            self.close(abort=True)
        except Exception:
            logger.exception(
                "client {} ({}): unexpected error; dropping it", self.client_id, self.peer
            )
            self.close(abort=True)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    # --- output -------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        """Queue a message; everything queued in one loop iteration goes out in one write."""
        if self.phase == "closed":
            return
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if not self._out:
            return
        data = b"".join(self._out)
        self._out.clear()
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if t.get_write_buffer_size() > self.gateway.limits.max_write_buffer:
            logger.warning("client {} does not read its data; dropping it", self.client_id)
            self.close(abort=True)

    def close(self, abort: bool = False) -> None:
        """Close the connection (after sending what is queued, unless aborting)."""
        t = self.transport
        if t is None or t.is_closing():
            return
        if abort:
            self._out.clear()
            t.abort()
        else:
            self.flush()
            t.close()

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(p.error(req_id, code, text))

    # --- input --------------------------------------------------------------------------

    def _receive(self, data: bytes) -> None:
        if self.phase == "closed":
            return
        if self.phase == "prefix":
            self._prefix += data
            if not p.API_PREFIX.startswith(self._prefix[:4]):
                raise p.ProtocolError(f"not a TWS API client (starts {self._prefix[:8]!r})")
            if len(self._prefix) < 4:
                return
            data = self._prefix[4:]
            self._prefix = b""
            self.phase = "version"
        for payload in self._frames.feed(data):
            if self.transport is None or self.transport.is_closing():
                return
            self._on_payload(payload)

    def _on_payload(self, payload: bytes) -> None:
        if self.phase == "version":
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise p.ProtocolError("version announcement is not UTF-8") from exc
            lo, hi = p.parse_version_range(text)
            version = p.negotiate_version(lo, hi)
            if version is None:
                raise p.ProtocolError(
                    f"client speaks v{lo}..{hi}; this gateway speaks only {p.SERVER_VERSION}"
                )
            self.send(p.handshake_reply(version, self.gateway.clock.now()))
            self.phase = "start"
            return
        try:
            fields = p.split_fields(payload)
        except p.RequestError as exc:
            self.error(-1, exc.code, exc.message)
            return
        if not self._admit_rate():
            rec = len(self._recent) + 1
            self.error(p.request_id_of(fields), p.ERR_MAX_RATE, p.TEXT_MAX_RATE % rec)
            return
        try:
            request = p.decode_request(fields)
        except p.RequestError as exc:
            self.error(exc.req_id, exc.code, exc.message)
            return
        if isinstance(request, p.ReqHistoricalData):
            violation = self.gateway._admit_historical(request)
            if violation is not None:
                self.error(request.req_id, p.ERR_HISTORICAL, violation)
                return
        delay = self.gateway.faults.delay_ms / 1000.0
        if delay > 0 or self._pending:
            loop = asyncio.get_running_loop()
            self._pending.append(_Pending(loop.time() + delay, request))
            self._schedule_pending()
        else:
            self.gateway._handle(self, request)

    def _admit_rate(self) -> bool:
        """IB's 50 messages per second per client, as a token bucket (burst 50, refill 50/s).

        A sliding one-second window over *processing* times would punish a well-paced
        client whenever this server reads late (two of ib_insync's 45-message batches,
        sent 1.2 s apart, read 0.9 s apart, count as 90 in a second). The bucket holds the
        same average rate and still refuses a burst above 50, but tolerates the read jitter
        a real gateway does not have.
        """
        limit = self.gateway.limits.max_messages_per_second
        if limit <= 0:
            return True
        now = asyncio.get_running_loop().time()
        elapsed = now - self._tokens_at
        self._tokens = min(float(limit), self._tokens + elapsed * limit)
        self._tokens_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        self._recent.append(now)
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        return True

    def _schedule_pending(self) -> None:
        if self._pending_timer is not None or not self._pending:
            return
        loop = asyncio.get_running_loop()
        self._pending_timer = loop.call_at(self._pending[0].due, self._run_pending)

    def _run_pending(self) -> None:
        self._pending_timer = None
        now = asyncio.get_running_loop().time()
        while self._pending and self._pending[0].due <= now and self.phase != "closed":
            self.gateway._handle(self, self._pending.popleft().request)
        self._schedule_pending()


class SimGateway:
    """The TWS API server over a Market and an Exchange (module doc).

    ``tick_interval`` None disables the background streaming loop: the owner then calls
    :meth:`step` (or ``await pump()``) to move the market and publish, deterministically.
    """

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

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def account(self) -> str:
        return played_account(self.faults, self.exchange.account)  # the ``account`` play

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = a free port); returns the bound port."""
        self._host = host
        await self._listen(port)
        if self.tick_interval is not None and self._stream_task is None:
            self._stream_task = asyncio.create_task(self._stream(), name="sim-gateway-stream")
        logger.info("simulated IB gateway listening on {}:{}", host, self.port)
        return self.port

    async def _listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientSession(self), self._host, port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

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

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def clients(self) -> dict[int, ClientSession]:
        """Ready clients by clientId."""
        return dict(self._by_client_id)

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

    # --- faults -------------------------------------------------------------------------

    def drop(self) -> None:
        """Close every client socket at once, as a network loss would."""
        for s in list(self._sessions):
            s.close(abort=True)

    def refuse(self, seconds: float) -> None:
        """Stop listening for ``seconds``: new connections are refused, existing ones stay."""
        if self._reopen is not None:
            self._reopen.cancel()
        self._close_listener()
        loop = asyncio.get_running_loop()
        self._reopen = loop.call_later(max(0.0, seconds), self._start_reopen)

    def _start_reopen(self) -> None:
        self._reopen = None
        self._reopen_task = asyncio.get_running_loop().create_task(self._do_reopen())

    async def _do_reopen(self) -> None:
        for attempt in range(50):
            try:
                await self._listen(self.port)
                logger.info("simulated gateway accepting connections again on {}", self.port)
                return
            except OSError as exc:
                logger.warning("re-listening on {} failed ({}), retry {}", self.port, exc, attempt)
                await asyncio.sleep(0.1)

    def restart(self, seconds: float) -> None:
        """IB's restart: every API socket closes and nothing is accepted for ``seconds``."""
        self.refuse(seconds)
        for s in list(self._sessions):
            s.close()

    def send_error(self, code: int, text: str | None = None) -> None:
        """Send an IB error/notice with reqId -1 to every client; notices take effect."""
        message = text if text is not None else p.STANDARD_MESSAGES.get(code, f"Error {code}")
        restoration = self.faults.apply_notice(code)
        if restoration == "lost":
            for s in self._sessions:
                for line in list(s.lines.values()):
                    self._drop_line(s, line)
        elif restoration == "kept":
            self._resync = True
        msg = p.error(-1, code, message)
        for s in self._ready():
            s.send(msg)

    def reject_next(self, text: str | None = None) -> None:
        self.exchange.reject_next(text or DEFAULT_REJECT_TEXT)

    def freeze(self, symbol: str) -> None:
        self.market.freeze(symbol)

    def unfreeze(self, symbol: str) -> None:
        self.market.unfreeze(symbol)

    def delay(self, ms: float) -> None:
        self.faults.delay_ms = max(0.0, float(ms))

    # --- sessions -----------------------------------------------------------------------

    def _ready(self) -> list[ClientSession]:
        return [s for s in self._sessions if s.phase == "ready"]

    def _forget(self, s: ClientSession) -> None:
        self._sessions.discard(s)
        if s.client_id is not None and self._by_client_id.get(s.client_id) is s:
            del self._by_client_id[s.client_id]
        for line in list(s.lines.values()):
            self._drop_line(s, line)
        logger.info("client {} ({}) disconnected", s.client_id, s.peer)

    def _drop_line(self, s: ClientSession, line: MarketLine) -> None:
        s.lines.pop(line.req_id, None)
        for con_id in self._book.remove(line):
            c = self.market.contract(con_id)
            if isinstance(c, OptionContract):
                self.market.release_option(con_id)

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

    # --- request dispatch ---------------------------------------------------------------

    def _admit_historical(self, r: p.ReqHistoricalData) -> str | None:
        c = r.contract
        key = (
            str(c.con_id),
            c.symbol.upper(),
            c.sec_type,
            r.end_date_time,
            r.duration,
            r.bar_size,
            r.what_to_show,
            str(r.use_rth),
        )
        # IB's same-contract rule: contract, exchange and tick type
        series = (str(c.con_id), c.symbol.upper(), c.sec_type, c.exchange.upper(),
                  r.what_to_show.upper())  # fmt: skip
        return self._pacing.admit(key, r.bar_size, series)

    def _handle(self, s: ClientSession, req: p.Request) -> None:
        if s.phase == "closed":
            return
        try:
            if s.phase == "start":
                if isinstance(req, p.StartApi):
                    self._start_api(s, req)
                else:
                    s.error(_req_id(req), p.ERR_NOT_CONNECTED, "Not connected")
                return
            self._dispatch(s, req)
        except ExchangeError as exc:
            s.error(_req_id(req), exc.code, exc.message)
        except Exception as exc:
            logger.exception("client {}: handling {} failed", s.client_id, type(req).__name__)
            s.error(
                _req_id(req),
                p.ERR_VALIDATION,
                f"Error validating request: internal error in the simulated gateway "
                f"({type(exc).__name__}: {exc})",
            )
        finally:
            if isinstance(req, p.ReqHistoricalData):
                self._pacing.done()

    def _dispatch(self, s: ClientSession, req: p.Request) -> None:
        match req:
            case p.StartApi():
                s.error(-1, p.ERR_VALIDATION, "Error validating request: API already started")
            case p.ReqMktData():
                self._req_mkt_data(s, req)
            case p.CancelMktData():
                line = s.lines.get(req.req_id)
                if line is not None:
                    self._drop_line(s, line)
                elif not self._cancel_snapshot(s, req.req_id):
                    s.error(req.req_id, 300, f"Can't find EId with tickerId:{req.req_id}")
            case p.PlaceOrder():
                self._place_order(s, req)
            case p.CancelOrder():
                self._publish(self.exchange.cancel(_cid(s), req.order_id))
            case p.ReqGlobalCancel():
                self._publish(self.exchange.cancel_all())
            case p.ReqOpenOrders():
                self._send_open_orders(s, all_clients=_cid(s) == 0)
            case p.ReqAllOpenOrders():
                self._send_open_orders(s, all_clients=True)
            case p.ReqAutoOpenOrders():
                pass  # orders from other clients already reach clientId 0
            case p.ReqCompletedOrders():
                self._send_completed_orders(s)
            case p.ReqExecutions():
                self._req_executions(s, req)
            case p.ReqIds():
                s.send(p.next_valid_id(self._next_order_id))
            case p.ReqManagedAccts():
                s.send(p.managed_accounts([self.account]))
            case p.ReqCurrentTime():
                skew = self.faults.clock_skew_s  # the ``skew`` play
                s.send(p.current_time(int(self.clock.now().timestamp() + skew)))
            case p.ReqMarketDataType():
                if req.market_data_type not in (1, 2, 3, 4):
                    s.error(-1, p.ERR_VALIDATION, "Error validating request: bad market data type")
                else:
                    s.market_data_type = req.market_data_type
            case p.ReqContractDetails():
                self._req_contract_details(s, req)
            case p.ReqSecDefOptParams():
                self._req_sec_def_opt_params(s, req)
            case p.ReqHistoricalData():
                self._req_historical_data(s, req)
            case p.CancelHistoricalData():
                pass  # answers are immediate: nothing is left to cancel
            case p.ReqPositions():
                s.positions = True
                for pos in self.exchange.positions():
                    s.send(
                        p.position(
                            self.account,
                            _position_contract(pos.contract),
                            pos.quantity,
                            pos.avg_cost,
                        )
                    )
                s.send(p.position_end())
            case p.CancelPositions():
                s.positions = False
            case p.ReqAccountUpdates():
                self._req_account_updates(s, req)
            case p.ReqAccountUpdatesMulti():
                s.account_multi.add(req.req_id)
                for key, (value, cur) in self.exchange.account_values().items():
                    s.send(
                        p.account_update_multi(
                            req.req_id, self.account, req.model_code, key, value, cur
                        )
                    )
                s.send(p.account_update_multi_end(req.req_id))
            case p.CancelAccountUpdatesMulti():
                s.account_multi.discard(req.req_id)
            case p.ReqAccountSummary():
                tags = frozenset(t.strip() for t in req.tags.split(",") if t.strip()) or None
                s.summaries[req.req_id] = tags
                for key, (value, cur) in self.exchange.account_values().items():
                    if tags is None or key in tags:
                        s.send(p.account_summary(req.req_id, self.account, key, value, cur))
                s.send(p.account_summary_end(req.req_id))
            case p.CancelAccountSummary():
                s.summaries.pop(req.req_id, None)
            case p.ReqPnL():
                pnl = self.exchange.pnl()
                msg = p.pnl(req.req_id, pnl.daily, pnl.unrealized, pnl.realized)
                s.pnl[req.req_id] = msg
                s.send(msg)
            case p.CancelPnL():
                s.pnl.pop(req.req_id, None)
            case p.ReqPnLSingle():
                msg = self._pnl_single_msg(req.req_id, req.con_id)
                s.pnl_single[req.req_id] = (req.con_id, msg)
                s.send(msg)
            case p.CancelPnLSingle():
                s.pnl_single.pop(req.req_id, None)

    def _start_api(self, s: ClientSession, req: p.StartApi) -> None:
        other = self._by_client_id.get(req.client_id)
        if other is not None and other.phase != "closed":
            logger.warning("clientId {} already in use; refusing {}", req.client_id, s.peer)
            s.error(-1, p.ERR_CLIENT_ID_IN_USE, p.TEXT_CLIENT_ID_IN_USE)
            s.close()
            return
        s.client_id = req.client_id
        s.phase = "ready"
        self._by_client_id[req.client_id] = s
        s.send(p.next_valid_id(self._next_order_id))
        s.send(p.managed_accounts([self.account]))
        logger.info("client {} connected from {}", req.client_id, s.peer)

    # --- market data --------------------------------------------------------------------

    def _resolve_one(self, wc: p.WireContract) -> Contract | None:
        found = resolve(self.market, wc)
        return found[0] if len(found) == 1 else None

    def _req_mkt_data(self, s: ClientSession, req: p.ReqMktData) -> None:
        if req.req_id in s.lines or req.req_id in s.snapshots:
            s.error(
                req.req_id,
                322,
                f"Error processing request:-'bW' : cause - Duplicate ticker id {req.req_id}",
            )
            return
        if self.lines_in_use() >= self.limits.max_market_data_lines:
            s.error(req.req_id, p.ERR_MAX_TICKERS, p.TEXT_MAX_TICKERS)
            return
        line = self._make_line(s, req)
        if line is None:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        answer = market_data_answer(self.faults, line.kind != "STK", s.market_data_type)
        if answer.code:  # the ``market-data``/``options-data`` plays: 354 or 10167
            s.error(req.req_id, answer.code, answer.text)
        if answer.data_type is None:
            return
        s.send(p.tick_req_params(req.req_id, line.min_tick, "9c0001", 3))
        s.send(p.market_data_type(req.req_id, answer.data_type))
        if req.snapshot:
            self._start_snapshot(s, line)
            return
        s.lines[req.req_id] = line
        self._book.add(line)
        if not self.faults.market_data_paused:
            publish(line, self.market, full=True)

    # --- snapshots and the account's line count (issue 12) ------------------------------

    def lines_in_use(self) -> int:
        """Lines the account holds: every client's streaming lines and unfinished
        snapshots (IB counts lines per login, not per client)."""
        return sum(len(x.lines) + len(x.snapshots) for x in self._sessions if x.phase != "closed")

    def _start_snapshot(self, s: ClientSession, line: MarketLine) -> None:
        """One round of the line's ticks now; tickSnapshotEnd after ``snapshot_s``, and
        the line held until then."""
        for msg in render(line, self.market).values():
            s.send(msg)
        hold = self.limits.snapshot_s
        if hold > 0:
            s.snapshots[line.req_id] = (line, self._monotonic() + hold)
        else:
            self._finish_snapshot(s, line)

    def _finish_snapshot(self, s: ClientSession, line: MarketLine, *, end: bool = True) -> None:
        s.snapshots.pop(line.req_id, None)
        if end:
            s.send(p.tick_snapshot_end(line.req_id))
        if line.kind == "OPT" and line.con_id not in self._book.by_con:
            self.market.release_option(line.con_id)

    def _cancel_snapshot(self, s: ClientSession, req_id: int) -> bool:
        """cancelMktData of an unfinished snapshot: its line is free, no end follows."""
        held = s.snapshots.get(req_id)
        if held is None:
            return False
        self._finish_snapshot(s, held[0], end=False)
        return True

    def _end_snapshots(self) -> None:
        """End every snapshot whose hold has passed (called each step)."""
        now = self._monotonic()
        for s in list(self._sessions):
            for line, _due in [v for v in s.snapshots.values() if v[1] <= now]:
                self._finish_snapshot(s, line)

    def _make_line(self, s: ClientSession, req: p.ReqMktData) -> MarketLine | None:
        wc = req.contract
        if wc.sec_type.upper() == "BAG":
            legs: list[LegRef] = []
            for leg in wc.combo_legs:
                c = self.market.contract(leg.con_id)
                if c is None or leg.ratio <= 0 or leg.action.upper() not in ("BUY", "SELL"):
                    return None
                sign = 1 if leg.action.upper() == "BUY" else -1
                is_option = isinstance(c, OptionContract)
                legs.append(LegRef(c.con_id, c.symbol, is_option, leg.ratio, sign))
            if not legs:
                return None
            return MarketLine(s, req.req_id, "BAG", 0, wc.symbol.upper(), 0.01, tuple(legs))
        c = self._resolve_one(wc)
        if c is None:
            return None
        kind: Literal["STK", "OPT"] = "OPT" if isinstance(c, OptionContract) else "STK"
        generic = parse_generic_ticks(req.generic_ticks)  # 101: open interest
        return MarketLine(
            s, req.req_id, kind, c.con_id, c.symbol, c.min_tick, generic_ticks=generic
        )

    def _publish_pnl(self) -> None:
        for s in self._ready():
            if s.pnl:
                pnl = self.exchange.pnl()
                for req_id, last in list(s.pnl.items()):
                    msg = p.pnl(req_id, pnl.daily, pnl.unrealized, pnl.realized)
                    if msg != last:
                        s.pnl[req_id] = msg
                        s.send(msg)
            for req_id, (con_id, last) in list(s.pnl_single.items()):
                msg = self._pnl_single_msg(req_id, con_id)
                if msg != last:
                    s.pnl_single[req_id] = (con_id, msg)
                    s.send(msg)

    def _pnl_single_msg(self, req_id: int, con_id: int) -> bytes:
        got = self.exchange.pnl_single(con_id)
        if got is None:
            return p.pnl_single(req_id, 0.0, 0.0, 0.0, 0.0, 0.0)
        return p.pnl_single(req_id, *got)

    # --- contracts ----------------------------------------------------------------------

    def _trading_hours(self) -> tuple[str, str]:
        today = et_date(self.clock.now())
        if self._hours is None or self._hours[0] != today:
            self._hours = (today, trading_hours(today))
        return self._hours[1]

    def _req_contract_details(self, s: ClientSession, req: p.ReqContractDetails) -> None:
        found = resolve(self.market, req.contract)
        if not found:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        hours = self._trading_hours()
        exchange = req.contract.exchange or "SMART"
        for c in found:
            wc, info = details(self.market, c, hours, exchange)
            s.send(p.contract_data(req.req_id, wc, info))
        s.send(p.contract_data_end(req.req_id))

    def _req_sec_def_opt_params(self, s: ClientSession, req: p.ReqSecDefOptParams) -> None:
        stock: StockContract | None = None
        if req.underlying_con_id > 0:
            c = self.market.contract(req.underlying_con_id)
            stock = c if isinstance(c, StockContract) else None
        if stock is None and req.symbol:
            stock = self.market.stock(req.symbol.upper())
        params = None if stock is None else chain_params(self.market, stock.symbol)
        if stock is None or params is None:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        trading_class, multiplier, expirations, strikes = params
        s.send(
            p.sec_def_opt_params(
                req.req_id, "SMART", stock.con_id, trading_class, multiplier, expirations, strikes
            )
        )
        s.send(p.sec_def_opt_params_end(req.req_id))

    def _req_historical_data(self, s: ClientSession, req: p.ReqHistoricalData) -> None:
        if req.keep_up_to_date:
            s.error(
                req.req_id,
                p.ERR_VALIDATION,
                "Error validating request:-'bX' : cause - keepUpToDate is not supported "
                "by the simulated gateway",
            )
            return
        if self.faults.historical_broken:
            s.error(
                req.req_id,
                p.ERR_HISTORICAL,
                "Historical Market Data Service error "
                "message:HMDS data farm connection is broken:ushmds",
            )
            return
        what = req.what_to_show.upper()
        if what not in hist.WHAT_TO_SHOW:
            s.error(
                req.req_id,
                p.ERR_VALIDATION,
                f"Error validating request:-'bX' : cause - whatToShow {req.what_to_show!r} "
                "is not served by the simulated gateway (TRADES, MIDPOINT, ADJUSTED_LAST)",
            )
            return
        c = self._resolve_one(req.contract)
        if c is None:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        if not isinstance(c, StockContract):
            s.error(
                req.req_id,
                p.ERR_HISTORICAL,
                "Historical Market Data Service error message:HMDS query returned no data: "
                f"{c.symbol} {c.sec_type} (the simulator keeps stock history only)",
            )
            return
        now = self.clock.now()
        end_dt = p.parse_ib_datetime(req.end_date_time) or now
        try:
            bars = hist.select_bars(self.market.daily_bars(c.symbol), et_date(end_dt), req.duration)
            bars = hist.aggregate(bars, req.bar_size.strip())
        except hist.HistoricalRequestError as exc:
            s.error(req.req_id, exc.code, exc.message)
            return
        wire = hist.to_wire(bars, what)
        start = bars[0].day if bars else et_date(end_dt)
        start_text = p.fmt_ib_date(start) + " 00:00:00"
        end_text = p.fmt_ib_datetime(end_dt, with_zone=False)
        s.send(p.historical_data(req.req_id, start_text, end_text, wire))

    # --- orders -------------------------------------------------------------------------

    def _place_order(self, s: ClientSession, req: p.PlaceOrder) -> None:
        order_id = req.order_id
        o = req.order
        if self.faults.read_only:  # the ``readonly`` play: IB refuses what-ifs too
            s.error(order_id, ERR_READ_ONLY, TEXT_READ_ONLY)
            return
        reason = self._order_problem(req)
        if reason is not None:
            s.error(order_id, *reason)
            return
        request = self._order_request(s, req)
        if isinstance(request, tuple):
            s.error(order_id, *request)
            return
        if o.what_if:
            w = self.exchange.what_if(request)
            state = OrderState(
                request, perm_id=0, status="PreSubmitted", remaining=request.quantity
            )
            s.send(self._open_order_msg(state, what_if=w))
            return
        self._allocate_order_ids(order_id)
        self._publish(self.exchange.place(request))

    def _order_problem(self, req: p.PlaceOrder) -> tuple[int, str] | None:
        o = req.order

        def rejected(text: str) -> tuple[int, str]:
            return p.ERR_ORDER_REJECTED, f"Order rejected - reason:{text}"

        if o.order_type not in ("LMT", "MKT"):
            return 387, f"Unsupported order type {o.order_type!r}: the simulator takes LMT and MKT"
        if o.action not in ("BUY", "SELL"):
            return rejected(f"Invalid action {o.action!r}")
        if not (o.total_quantity > 0 and math.isfinite(o.total_quantity)):
            return rejected(f"Invalid order size {o.total_quantity!r}")
        if o.order_type == "LMT" and (o.lmt_price is None or not math.isfinite(o.lmt_price)):
            return rejected("A limit order needs a limit price")
        if o.account and o.account != self.account:
            return rejected(f"Account {o.account} is not managed by this gateway")
        if o.condition_count or o.algo_strategy or o.parent_id:
            return rejected("Conditions, algos and attached orders are not simulated")
        if req.contract.sec_type.upper() not in ("STK", "OPT", "BAG"):
            return p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY
        return None

    def _order_request(self, s: ClientSession, req: p.PlaceOrder) -> OrderRequest | tuple[int, str]:
        wc = req.contract
        o = req.order
        contract: Contract | None = None
        legs: tuple[ComboLeg, ...] = ()
        sec_type = wc.sec_type.upper()
        symbol = wc.symbol.upper()
        if sec_type == "BAG":
            if not wc.combo_legs:
                return p.ERR_ORDER_REJECTED, "Order rejected - reason:A combo needs legs"
            built: list[ComboLeg] = []
            for leg in wc.combo_legs:
                c = self.market.contract(leg.con_id)
                leg_side = leg.action.upper()
                if c is None:
                    return p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY
                if leg.ratio <= 0 or leg_side not in ("BUY", "SELL"):
                    return p.ERR_ORDER_REJECTED, "Order rejected - reason:Invalid combo leg"
                symbol = symbol or c.symbol
                leg_action: Action = "BUY" if leg_side == "BUY" else "SELL"
                built.append(ComboLeg(c.con_id, leg.ratio, leg_action, leg.exchange or "SMART"))
            legs = tuple(built)
        else:
            found = resolve(self.market, wc)
            if len(found) != 1:
                return p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY
            contract = found[0]
            symbol = contract.symbol
        action: Action = "BUY" if o.action == "BUY" else "SELL"
        return OrderRequest(
            order_id=req.order_id,
            client_id=_cid(s),
            sec_type="BAG" if sec_type == "BAG" else contract.sec_type if contract else "STK",
            symbol=symbol,
            contract=contract,
            legs=legs,
            action=action,
            quantity=o.total_quantity,
            order_type="LMT" if o.order_type == "LMT" else "MKT",
            limit_price=o.lmt_price if o.order_type == "LMT" else None,
            tif=o.tif or "DAY",
            order_ref=o.order_ref,
            account=o.account or self.account,
            what_if=o.what_if,
            transmit=o.transmit,
        )

    def _order_contract(self, r: OrderRequest) -> p.WireContract:
        if r.sec_type == "BAG" or r.contract is None:
            legs = [p.WireComboLeg(g.con_id, g.ratio, g.action, g.exchange) for g in r.legs]
            return p.wire_bag(r.symbol, legs)
        return p.wire_contract(r.contract)

    def _open_order_msg(self, state: OrderState, what_if: WhatIf | None = None) -> bytes:
        r = state.request
        order = p.WireOrder(
            action=r.action,
            total_quantity=r.quantity,
            order_type=r.order_type,
            lmt_price=r.limit_price,
            tif=r.tif,
            account=r.account or self.account,
            order_ref=r.order_ref,
            transmit=r.transmit,
            what_if=r.what_if,
        )
        return p.open_order(
            r.order_id,
            self._order_contract(r),
            order,
            client_id=r.client_id,
            perm_id=state.perm_id,
            status=state.status,
            what_if=what_if,
        )

    def _send_open_orders(self, s: ClientSession, all_clients: bool) -> None:
        for state in self.exchange.open_orders():
            if all_clients or state.request.client_id == s.client_id:
                s.send(self._open_order_msg(state))
                s.send(p.order_status_of(state))
        s.send(p.open_order_end())

    def _send_completed_orders(self, s: ClientSession) -> None:
        last_fill: dict[int, datetime] = {}
        for e in self.exchange.executions():
            if e.perm_id not in last_fill or e.time > last_fill[e.perm_id]:
                last_fill[e.perm_id] = e.time
        for state in self.exchange.completed_orders():
            r = state.request
            when = last_fill.get(state.perm_id)
            s.send(
                p.completed_order(
                    self._order_contract(r),
                    p.WireOrder(
                        action=r.action,
                        total_quantity=r.quantity,
                        order_type=r.order_type,
                        lmt_price=r.limit_price,
                        tif=r.tif,
                        account=r.account or self.account,
                        order_ref=r.order_ref,
                    ),
                    perm_id=state.perm_id,
                    status=state.status,
                    filled=state.filled,
                    completed_time=p.fmt_ib_datetime(when) if when else "",
                    completed_status=state.reject_reason or state.status,
                )
            )
        s.send(p.completed_orders_end())

    def _req_executions(self, s: ClientSession, f: p.ReqExecutions) -> None:
        since = p.parse_ib_datetime(f.time)
        side = {"BUY": "BOT", "SELL": "SLD"}.get(f.side.upper(), f.side.upper())
        matched: list[Execution] = []
        for e in self.exchange.executions():
            symbol = e.contract.symbol if e.contract is not None else e.bag_symbol
            sec_type = e.contract.sec_type if e.contract is not None else "BAG"
            if (
                (f.client_id and e.client_id != f.client_id)
                or (f.account and f.account != e.account)
                or (since is not None and e.time < since)
                or (f.symbol and f.symbol.upper() != symbol)
                or (f.sec_type and f.sec_type.upper() != sec_type)
                or (f.exchange and f.exchange.upper() not in ("SMART", e.exchange))
                or (side and side != e.side)
            ):
                continue
            matched.append(e)
        for e in matched:
            s.send(p.exec_details(f.req_id, self._exec_contract(e), e))
        for e in matched:
            s.send(p.commission_report(e))
        s.send(p.exec_details_end(f.req_id))

    def _exec_contract(self, e: Execution) -> p.WireContract:
        if e.contract is None:
            return p.wire_bag(e.bag_symbol, ())
        return p.wire_contract(e.contract, e.exchange)

    # --- account ------------------------------------------------------------------------

    def _req_account_updates(self, s: ClientSession, req: p.ReqAccountUpdates) -> None:
        s.account_updates = req.subscribe
        if not req.subscribe:
            return
        acct = self.account
        for key, (value, cur) in self.exchange.account_values().items():
            s.send(p.account_value(key, value, cur, acct))
        for pos in self.exchange.positions():
            s.send(p.portfolio_value(acct, _position_contract(pos.contract), pos))
        s.send(p.account_update_time(self.clock.now()))
        s.send(p.account_download_end(acct))

    # --- fan-out of exchange events -----------------------------------------------------

    def _publish(self, events: Iterable[ExchangeEvent]) -> None:
        reports: list[tuple[Execution, list[ClientSession]]] = []
        account_touched = False
        for ev in events:
            if isinstance(ev, OrderEvent):
                self._publish_order(ev)
            elif isinstance(ev, FillEvent):
                e = ev.execution
                recipients = self._order_recipients(e.client_id)
                msg = p.exec_details(-1, self._exec_contract(e), e)
                for s in recipients:
                    s.send(msg)
                reports.append((e, recipients))
            elif isinstance(ev, PositionEvent):
                self._publish_position(ev.position)
                account_touched = True
            elif isinstance(ev, AccountEvent):
                self._publish_account(ev.values)
                account_touched = True
        if account_touched:
            stamp = p.account_update_time(self.clock.now())
            for s in self._ready():
                if s.account_updates:
                    s.send(stamp)
        for e, recipients in reports:
            msg = p.commission_report(e)
            for s in recipients:
                s.send(msg)
        if reports:
            self._publish_pnl()

    def _publish_order(self, ev: OrderEvent) -> None:
        state = ev.order
        r = state.request
        self._allocate_order_ids(r.order_id)
        recipients = self._order_recipients(r.client_id)
        status_msg = p.order_status_of(state)
        open_msg = (
            None if state.status in ("Cancelled", "ApiCancelled") else (self._open_order_msg(state))
        )
        for s in recipients:
            if open_msg is not None:
                s.send(open_msg)
            s.send(status_msg)
        if ev.error_code is not None:
            owner = self._by_client_id.get(r.client_id)
            if owner is not None:
                owner.error(r.order_id, ev.error_code, ev.error_text)

    def _publish_position(self, pos: Position) -> None:
        wc = _position_contract(pos.contract)
        acct = self.account
        pos_msg = p.position(acct, wc, pos.quantity, pos.avg_cost)
        pf_msg = p.portfolio_value(acct, wc, pos)
        for s in self._ready():
            if s.positions:
                s.send(pos_msg)
            if s.account_updates:
                s.send(pf_msg)

    def _publish_account(self, values: dict[str, tuple[str, str]]) -> None:
        acct = self.account
        for s in self._ready():
            for key, (value, cur) in values.items():
                if s.account_updates:
                    s.send(p.account_value(key, value, cur, acct))
                for req_id in s.account_multi:
                    s.send(p.account_update_multi(req_id, acct, "", key, value, cur))
                for req_id, tags in s.summaries.items():
                    if tags is None or key in tags:
                        s.send(p.account_summary(req_id, acct, key, value, cur))

    # --- read-only statistics (the control port's ``lines``/``orders``/``executions``) ---

    def lines_held(self) -> dict[int, list[int]]:
        """The conId of every market data line each connected client holds, by clientId
        (what IB counts against the client's line limit)."""
        held: dict[int, list[int]] = {}
        for s in self._sessions:
            if s.client_id is not None and s.phase != "closed":
                held.setdefault(s.client_id, []).extend(line.con_id for line in s.lines.values())
        return held

    def line_limit(self) -> int:
        """How many market data lines one client may hold."""
        return self.limits.max_market_data_lines

    def orders_held(self) -> list[OrderState]:
        """Every order the exchange holds (working and completed), copies."""
        return self.exchange.open_orders() + self.exchange.completed_orders()

    def executions_held(self) -> list[Execution]:
        """The exchange's executions of the current session day, oldest first."""
        return self.exchange.executions()


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
