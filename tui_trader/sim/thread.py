"""The simulated gateway on a thread of its own, for the demo.

A real TWS or IB Gateway is another process: it reads each client's messages as they arrive,
whatever the client is busy with. An in-process gateway on the app's event loop does not:
while the dashboard renders or the engine scans, the gateway's reads wait, then arrive in
one burst, and its 50-messages-per-second check sees two of ib_insync's paced batches as
one (error 100) although the client paced them correctly. Running it on its own thread with
its own event loop restores the timing a real gateway has, at no cost to the test suite
(tests drive ``SimGateway`` directly on their loop, with an injected clock).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from datetime import datetime
from typing import Any

from tui_trader.sim.gateway import SimGateway, start_gateway


class GatewayThread:
    """``start_gateway(**kwargs)`` served from a daemon thread until :meth:`stop`.

    Only thread-safe reads cross threads: :attr:`port` and :meth:`sim_time` (the simulated
    clock is a pure function of the monotonic clock).
    """

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gateway: SimGateway | None = None
        self._stop: asyncio.Event | None = None
        self._ready: concurrent.futures.Future[SimGateway] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name="sim-gateway", daemon=True)

    @property
    def port(self) -> int:
        if self._gateway is None:
            raise RuntimeError("the gateway thread is not started")
        return self._gateway.port

    def sim_time(self) -> datetime:
        if self._gateway is None:
            raise RuntimeError("the gateway thread is not started")
        return self._gateway.sim_time()

    def start(self, timeout: float = 30.0) -> GatewayThread:
        """Start the thread and wait until the gateway listens (re-raising its error)."""
        self._thread.start()
        self._gateway = self._ready.result(timeout)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the gateway (closing every client) and join the thread."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and loop.is_running():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            gateway = await start_gateway(**self._kwargs)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(gateway)
        try:
            await self._stop.wait()
        finally:
            await gateway.stop()
