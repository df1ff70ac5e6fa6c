"""The listening socket and the fault plays the control port drives (drop, refuse,
restart, IB notices, rejections, frozen prices, delays).

They sit together because refusing and restarting are about the listener: closing it,
and opening it again on the same port after the outage.
"""

from __future__ import annotations

import asyncio

from loguru import logger

from tui_trader.sim import protocol as p
from tui_trader.sim.gateway_core import DEFAULT_REJECT_TEXT
from tui_trader.sim.gateway_dispatch import RequestDispatch
from tui_trader.sim.gateway_session import ClientSession


class FaultControls(RequestDispatch):
    """The listener and the ``faults.FaultTarget`` plays (module doc)."""

    async def _listen(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientSession(self), self._host, port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

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
