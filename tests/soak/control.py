"""A client of the simulated gateway's control port (``gateway --control-port``): one
command a line, one reply a line. Both the soak driver (faults, the gateway's orders and
executions) and the engine child (the gateway's line count at a settled moment) use it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

#: Replies to ``orders``/``executions`` grow with the session (about 200 bytes an order).
READ_LIMIT = 64 * 1024 * 1024
TIMEOUT_S = 10.0


class ControlError(Exception):
    """The control port answered ``error: ...`` or could not be reached."""


class Control:
    """One connection to the control port, reopened when it was lost; calls are serialised
    (one command in flight), so concurrent tasks may share it."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    async def ask(self, command: str) -> str:
        """The reply's text after ``ok`` (``""`` for a bare ``ok``); raises ControlError."""
        async with self._lock:
            for attempt in (1, 2):  # a connection closed under us is reopened once
                try:
                    reply = await asyncio.wait_for(self._ask(command), TIMEOUT_S)
                    break
                except (OSError, EOFError, TimeoutError) as exc:
                    self._close()
                    if attempt == 2:
                        raise ControlError(f"control port {self.port}: {exc!r}") from exc
        if reply == "ok":
            return ""
        if reply.startswith("ok "):
            return reply[3:]
        raise ControlError(f"{command!r}: {reply}")

    async def ask_json(self, command: str) -> Any:
        return json.loads(await self.ask(command))

    async def _ask(self, command: str) -> str:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port, limit=READ_LIMIT)
        reader, writer = self._streams
        writer.write(command.encode() + b"\n")
        await writer.drain()
        line = await reader.readline()
        if not line.endswith(b"\n"):
            raise EOFError("the control port closed the connection")
        return line.decode().rstrip("\n")

    def _close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None

    async def close(self) -> None:
        async with self._lock:
            self._close()
