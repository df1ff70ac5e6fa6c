"""One API connection of the simulated gateway: handshake, framing, IB's message rate,
delayed answers (the ``delay`` play) and the subscriptions the client holds.

Split out of ``gateway`` because a connection's byte-level life (what arrives, what is
queued, when it is written, when the client is dropped) is independent of what the
requests mean: the session decodes a request and hands it to the gateway's ``_handle``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from loguru import logger

from tui_trader.sim import protocol as p
from tui_trader.sim.subscriptions import MarketLine

if TYPE_CHECKING:
    from tui_trader.sim.gateway_dispatch import RequestDispatch


Phase = Literal["prefix", "version", "start", "ready", "closed"]


@dataclass(slots=True)
class _Pending:
    due: float
    request: p.Request


class ClientSession(asyncio.Protocol):
    """One API connection: handshake, framing, rate limit, delayed answers, subscriptions."""

    def __init__(self, gateway: RequestDispatch) -> None:
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
