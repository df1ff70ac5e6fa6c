"""Shared fixtures for the simulated gateway's tests.

Wire-level helpers use ib_insync's own serializer and decoder, so the tests check our
bytes against what a real TWS API client sends and understands, not against our reading
of the protocol.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from ib_insync import IB
from ib_insync.client import Client
from ib_insync.decoder import Decoder

from tui_trader.sim import protocol as p
from tui_trader.sim.gateway import SimGateway, start_gateway
from tui_trader.sim.protocol import (
    SERVER_VERSION,
    FrameBuffer,
    client_hello,
    client_start_api,
    frame,
    split_fields,
)


class RecordingWrapper:
    """Stands in for ib_insync's Wrapper: records every callback the Decoder makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.ib = None

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("__"):
            raise AttributeError(name)

        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def unframe(data: bytes) -> list[list[str]]:
    """Split a byte stream of framed messages into their field lists."""
    out: list[list[str]] = []
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        out.append(split_fields(data[pos + 4 : pos + 4 + n]))
        pos += 4 + n
    return out


def ib_decode(data: bytes) -> list[tuple[str, tuple[Any, ...]]]:
    """Feed framed server messages to ib_insync's Decoder (server version 176).

    Decoder.interpret swallows exceptions (it only logs them), exactly as in a live
    session, so a message with a wrong layout shows up here as a missing callback.
    """
    wrapper = RecordingWrapper()
    decoder = Decoder(wrapper, SERVER_VERSION)  # type: ignore[arg-type]
    for fields in unframe(data):
        decoder.interpret(fields)
    return wrapper.calls


def ib_encode(method: str, *args: Any) -> list[str]:
    """The fields ib_insync's Client sends for one request at server version 176."""
    sent: list[str] = []
    client = Client(RecordingWrapper())
    client.connState = Client.CONNECTED
    client._serverVersion = SERVER_VERSION
    client.sendMsg = sent.append  # type: ignore[method-assign]
    getattr(client, method)(*args)
    assert len(sent) == 1
    fields = sent[0].split("\0")
    assert fields.pop() == ""
    return fields


@pytest.fixture
def decode_server() -> Callable[[bytes], list[tuple[str, tuple[Any, ...]]]]:
    return ib_decode


@pytest.fixture
def encode_client() -> Callable[..., list[str]]:
    return ib_encode


# ------------------------------------------------------------------ live gateway fixtures

#: Wednesday 18 November 2026, 14:30 New York: a regular session with 90 minutes to go.
T_START = datetime(2026, 11, 18, 19, 30, tzinfo=UTC)
SYMBOLS = ("AAPL", "SPY", "MSFT")


class FakeMonotonic:
    """An injectable monotonic source tests advance by hand (market time follows it)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Until = Callable[..., Awaitable[None]]


async def until(predicate: Callable[[], object], timeout: float = 3.0, what: str = "") -> None:
    """Wait (a socket round-trip, not market time) until ``predicate()`` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.002)


@pytest.fixture
def fake_time() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def wait_until() -> Until:
    return until


MakeGateway = Callable[..., Awaitable[SimGateway]]


@pytest.fixture
def t_start() -> datetime:
    return T_START


@pytest.fixture
async def make_gateway(fake_time: FakeMonotonic) -> AsyncIterator[MakeGateway]:
    """Factory: start_gateway with the test clock (no background loop), stopped at teardown."""
    made: list[SimGateway] = []

    async def _make(**kwargs: Any) -> SimGateway:
        kwargs.setdefault("seed", 7)
        kwargs.setdefault("start", T_START)
        kwargs.setdefault("monotonic", fake_time)
        kwargs.setdefault("symbols", SYMBOLS)
        kwargs.setdefault("tick_interval", None)
        gw = await start_gateway(**kwargs)
        made.append(gw)
        return gw

    yield _make
    for gw in made:
        await gw.stop()


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> SimGateway:
    """A gateway on a free loopback port, no background loop: tests call ``pump()``."""
    return await make_gateway()


Connect = Callable[..., Awaitable[IB]]


@pytest.fixture
async def connect(gateway: SimGateway) -> AsyncIterator[Connect]:
    """Factory: an ib_insync IB connected to the gateway (or another one) with a clientId."""
    clients: list[IB] = []

    async def _connect(client_id: int = 1, gw: SimGateway | None = None) -> IB:
        ib = IB()
        clients.append(ib)
        await ib.connectAsync("127.0.0.1", (gw or gateway).port, clientId=client_id, timeout=5)
        return ib

    yield _connect
    for ib in clients:
        ib.disconnect()
    await asyncio.sleep(0)


class HistoricalSpy:
    """Counts reqHistoricalData on the gateway side."""

    def __init__(self, gateway: SimGateway) -> None:
        self.count = 0
        original = gateway._handle

        def handle(s: Any, req: p.Request) -> None:
            if isinstance(req, p.ReqHistoricalData):
                self.count += 1
            original(s, req)

        gateway._handle = handle  # type: ignore[method-assign]


class RawClient:
    """A TWS API client at the byte level, for what ib_insync would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._buf = FrameBuffer()
        self._queue: list[bytes] = []

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def handshake(self, client_id: int) -> list[list[str]]:
        """API prefix, version, startApi; returns the messages up to managedAccounts."""
        self.writer.write(client_hello())
        (version, _) = (await self.read(1))[0]
        assert version == str(SERVER_VERSION)
        self.writer.write(client_start_api(client_id))
        return await self.read(2)

    def send(self, fields: Sequence[object]) -> None:
        self.writer.write(frame(str(f) for f in fields))

    async def read(self, count: int, timeout: float = 3.0) -> list[list[str]]:
        """Exactly ``count`` messages (AssertionError on timeout or EOF)."""
        out: list[list[str]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(out) < count:
            if self._queue:
                out.append(split_fields(self._queue.pop(0)))
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"got {len(out)} of {count} messages: {out}")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                raise AssertionError(f"got {len(out)} of {count} messages: {out}") from None
            if not data:
                raise AssertionError(f"connection closed after {len(out)} messages: {out}")
            self._queue += self._buf.feed(data)
        return out

    async def closed_by_server(self, timeout: float = 3.0) -> bool:
        """True once the server closes the connection (reads EOF or a reset)."""
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
        except (ConnectionError, OSError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.writer.close()


RawConnect = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def raw_connect(gateway: SimGateway) -> AsyncIterator[RawConnect]:
    raws: list[RawClient] = []

    async def _open(port: int | None = None) -> RawClient:
        raw = await RawClient.open(port or gateway.port)
        raws.append(raw)
        return raw

    yield _open
    for raw in raws:
        raw.close()
