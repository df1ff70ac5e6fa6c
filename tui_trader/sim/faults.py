"""Fault injection: the state of injected faults and the ``--control-port`` line protocol.

The control port is plain TCP on loopback, one command per line, each answered with
exactly one line: ``ok`` (``ok <value>`` for queries) or ``error: <why>``. A malformed
command never closes the connection; a line longer than ``MAX_LINE`` does (the stream
can no longer be split into commands reliably).

Commands::

    drop                 close every client socket (as a network loss would)
    refuse SECONDS       stop accepting connections for that long (connects are refused)
    restart SECONDS      drop + refuse, like IB's daily restart
    error CODE [TEXT]    send an IB error/notice with reqId -1 to every client; TEXT
                         defaults to IB's standard text for 1100/1101/1102/2103/2104/...
    reject-next [TEXT]   the next order is rejected (error 201) with TEXT
    freeze SYMBOL        the symbol's quotes (and its options') stop moving
    unfreeze SYMBOL
    delay MS             answer every request MS milliseconds late (0 = no delay)
    speed X              run the simulated clock at X times real time (0 < X <= 10000,
                         as ``gateway --speed``: a stopped clock is not a speed)
    time                 ok <simulated time, ISO 8601>
    help                 ok <the command list>

Notices also change what the simulated connection does, as IB's do: 1100 (and 2110)
pause market data until 1101 (restored, data lost: every market data line is dropped and
clients must resubscribe) or 1102 (restored, data kept); 2103 pauses market data until
2104; 2105 fails historical requests (162) until 2106.

Read-only statistics (what the gateway holds, for the soak test to compare with the app;
each ``ok <JSON>``, see :func:`stats_reply`)::

    lines                market data lines held, per clientId
    orders               every order held: orderRef, status, filled
    executions           today's executions with their orderRef

Account and entitlement plays (what a misconfigured real account looks like, for
``tui-trader doctor``; see :func:`play_reply`)::

    readonly on|off              placeOrder (what-if included) refused with 321, read-only
    market-data live|delayed|none   stock and option subscriptions (354 / 10167)
    options-data on|off          off: no OPRA subscription, options delayed only
    skew SECONDS                 reqCurrentTime answers SECONDS late (negative: early)
    account paper|live           managed account DU... (paper) or U... (live)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from loguru import logger

from tui_trader.sim.protocol import STANDARD_MESSAGES
from tui_trader.sim.types import Execution, OrderState

MAX_LINE = 4096
MAX_SECONDS = 86_400.0
MAX_DELAY_MS = 60_000.0
MAX_SPEED = 10_000.0

Restoration = Literal["lost", "kept"]
MarketDataPlay = Literal["live", "delayed", "none"]


class FaultTarget(Protocol):
    """What the control port drives (SimGateway implements it)."""

    def drop(self) -> None: ...
    def refuse(self, seconds: float) -> None: ...
    def restart(self, seconds: float) -> None: ...
    def send_error(self, code: int, text: str | None = None) -> None: ...
    def reject_next(self, text: str | None = None) -> None: ...
    def freeze(self, symbol: str) -> None: ...
    def unfreeze(self, symbol: str) -> None: ...
    def delay(self, ms: float) -> None: ...
    def set_speed(self, speed: float) -> None: ...
    def sim_time(self) -> datetime: ...


@dataclass(slots=True)
class FaultState:
    """Which injected faults are active."""

    delay_ms: float = 0.0
    connectivity_lost: bool = False
    broken_farms: set[str] = field(default_factory=set)
    #: Account plays (module doc): the "Read-Only API" setting, the market data
    #: subscriptions, the clock's error and which kind of account is logged in.
    read_only: bool = False
    market_data: MarketDataPlay = "live"
    options_data: bool = True
    clock_skew_s: float = 0.0
    account_kind: Literal["paper", "live"] | None = None

    @property
    def market_data_paused(self) -> bool:
        return self.connectivity_lost or "usfarm" in self.broken_farms

    @property
    def historical_broken(self) -> bool:
        return self.connectivity_lost or "ushmds" in self.broken_farms

    def apply_notice(self, code: int) -> Restoration | None:
        """Update the state for an IB notice; says whether a restoration lost the data."""
        if code in (1100, 2110):
            self.connectivity_lost = True
        elif code == 1101:
            self.connectivity_lost = False
            return "lost"
        elif code == 1102:
            self.connectivity_lost = False
            return "kept"
        elif code in (2103, 2104, 2105, 2106, 2157, 2158):
            farm = {2103: "usfarm", 2104: "usfarm", 2105: "ushmds", 2106: "ushmds",
                    2157: "secdef", 2158: "secdef"}[code]  # fmt: skip
            if code in (2103, 2105, 2157):
                self.broken_farms.add(farm)
            else:
                self.broken_farms.discard(farm)
                return "kept"
        return None


class CommandError(Exception):
    """A control command that cannot be executed; the message is the reply's reason."""


def _number(text: str, what: str, upper: float) -> float:
    try:
        x = float(text)
    except ValueError:
        raise CommandError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(x) or x < 0 or x > upper:
        raise CommandError(f"{what} must be between 0 and {upper:g}, got {text!r}")
    return x


def _speed(text: str) -> float:
    """A clock speed: positive and finite, as ``gateway --speed`` requires (speed 0 would
    stop simulated time, which no command-line speed can do either)."""
    try:
        x = float(text)
    except ValueError:
        x = math.nan
    if not 0 < x <= MAX_SPEED:
        raise CommandError(f"X must be a positive number up to {MAX_SPEED:g}, got {text!r}")
    return x


HELP = (
    "commands: drop | refuse SECONDS | restart SECONDS | error CODE [TEXT] | "
    "reject-next [TEXT] | freeze SYMBOL | unfreeze SYMBOL | delay MS | speed X | time | help"
)


def execute(target: FaultTarget, line: str) -> str:
    """Run one control command; the one-line reply (never raises)."""
    try:
        return _execute(target, line.strip())
    except CommandError as exc:
        return f"error: {exc}"
    except Exception as exc:  # a bug must not take the control port down
        logger.exception("control command {!r} failed", line)
        return f"error: {type(exc).__name__}: {exc}".replace("\n", " ")


def _execute(target: FaultTarget, line: str) -> str:
    if not line:
        raise CommandError("empty command (try help)")
    parts = line.split(maxsplit=1)
    cmd = parts[0].lower()
    rest = parts[1].strip() if len(parts) > 1 else ""
    args = rest.split()

    def want(n: int, usage: str) -> None:
        if len(args) != n:
            raise CommandError(f"usage: {usage}")

    if cmd in STATS_COMMANDS:  # read-only statistics: the block at the end of this module
        return stats_reply(target, cmd, args)
    if cmd in PLAY_COMMANDS:  # account plays: the last block of this module
        return play_reply(target, cmd, args)
    if cmd == "drop":
        want(0, "drop")
        target.drop()
    elif cmd in ("refuse", "restart"):
        want(1, f"{cmd} SECONDS")
        seconds = _number(args[0], "SECONDS", MAX_SECONDS)
        (target.refuse if cmd == "refuse" else target.restart)(seconds)
    elif cmd == "error":
        if not args:
            raise CommandError("usage: error CODE [TEXT]")
        code_text, _, text = rest.partition(" ")
        try:
            code = int(code_text)
        except ValueError:
            raise CommandError(f"CODE must be an integer, got {code_text!r}") from None
        text = text.strip()
        if not text and code not in STANDARD_MESSAGES:
            known = ", ".join(str(c) for c in sorted(STANDARD_MESSAGES))
            raise CommandError(f"no standard text for {code} (known: {known}); give TEXT")
        target.send_error(code, text or None)
    elif cmd == "reject-next":
        target.reject_next(rest or None)
    elif cmd in ("freeze", "unfreeze"):
        want(1, f"{cmd} SYMBOL")
        try:
            (target.freeze if cmd == "freeze" else target.unfreeze)(args[0].upper())
        except KeyError:
            raise CommandError(f"unknown symbol {args[0]!r}") from None
    elif cmd == "delay":
        want(1, "delay MS")
        target.delay(_number(args[0], "MS", MAX_DELAY_MS))
    elif cmd == "speed":
        want(1, "speed X")
        target.set_speed(_speed(args[0]))
    elif cmd == "time":
        want(0, "time")
        return f"ok {target.sim_time().isoformat()}"
    elif cmd == "help":
        return f"ok {HELP} | {PLAY_HELP} | {STATS_HELP}"
    else:
        raise CommandError(f"unknown command {cmd!r} (try help)")
    return "ok"


class ControlServer:
    """The ``--control-port`` server: loopback TCP, one command per line."""

    def __init__(self, target: FaultTarget) -> None:
        self._target = target
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_LINE)
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("simulated gateway control port on {}:{}", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._conns):
                w.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._conns.add(writer)
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial.strip():
                        break
                    raw = exc.partial  # last command without a newline, then EOF
                except asyncio.LimitOverrunError:
                    writer.write(b"error: line too long\n")
                    await writer.drain()
                    break
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    reply = "error: not UTF-8"
                else:
                    reply = execute(self._target, line)
                writer.write(reply.replace("\n", " ").encode() + b"\n")
                await writer.drain()
                if not raw.endswith(b"\n"):
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away, or the control port is closing: end this connection
        finally:
            self._conns.discard(writer)
            writer.close()


# ======================================================================================
# Read-only statistics: what the gateway itself holds, for the soak test (tests/soak),
# which compares it with what the app believes (lines, orders by orderRef, executions).
# Kept apart from the fault commands above: these change nothing.
# ======================================================================================

STATS_HELP = "lines | orders | executions"
STATS_COMMANDS = frozenset({"lines", "orders", "executions"})


@runtime_checkable
class StatsSource(Protocol):
    """What the statistics commands read (SimGateway implements it)."""

    def lines_held(self) -> dict[int, list[int]]: ...
    def line_limit(self) -> int: ...
    def orders_held(self) -> list[OrderState]: ...
    def executions_held(self) -> list[Execution]: ...


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False)


def stats_reply(target: object, cmd: str, args: list[str]) -> str:
    """The one-line reply to a statistics command, ``ok <JSON>``:

    - ``lines``: ``{"max": limit per client, "clients": {clientId: {"lines": n,
      "con_ids": distinct conIds}}}`` -- a conId streamed twice shows as lines > con_ids;
    - ``orders``: ``[{"client_id", "order_id", "perm_id", "order_ref", "status",
      "quantity", "filled"}]``, every order held, working and completed;
    - ``executions``: ``[{"exec_id", "client_id", "order_id", "perm_id", "order_ref",
      "con_id" (null for a combo's own execution), "side", "shares", "price", "time"}]``,
      the current session day's, oldest first.
    """
    if args:
        raise CommandError(f"usage: {cmd}")
    if not isinstance(target, StatsSource):
        raise CommandError(f"{cmd}: this gateway keeps no statistics")
    if cmd == "lines":
        clients = {
            str(cid): {"lines": len(con_ids), "con_ids": len(set(con_ids))}
            for cid, con_ids in sorted(target.lines_held().items())
        }
        return f"ok {_json({'max': target.line_limit(), 'clients': clients})}"
    if cmd == "orders":
        orders = [
            {
                "client_id": o.request.client_id,
                "order_id": o.request.order_id,
                "perm_id": o.perm_id,
                "order_ref": o.request.order_ref,
                "status": o.status,
                "quantity": o.request.quantity,
                "filled": o.filled,
            }
            for o in target.orders_held()
        ]
        return f"ok {_json(orders)}"
    executions = [
        {
            "exec_id": e.exec_id,
            "client_id": e.client_id,
            "order_id": e.order_id,
            "perm_id": e.perm_id,
            "order_ref": e.order_ref,
            "con_id": None if e.contract is None else e.contract.con_id,
            "side": e.side,
            "shares": e.shares,
            "price": e.price,
            "time": e.time.isoformat(),
        }
        for e in target.executions_held()
    ]
    return f"ok {_json(executions)}"


# ======================================================================================
# Account plays: what a real account can get wrong before a trading day (issue 11), so
# that ``tui-trader doctor`` can be proven to name each one. Texts and codes are IB's.
# ======================================================================================

PLAY_HELP = (
    "readonly on|off | market-data live|delayed|none | options-data on|off | "
    "skew SECONDS | account paper|live"
)
PLAY_COMMANDS = frozenset({"readonly", "market-data", "options-data", "skew", "account"})

ERR_READ_ONLY = 321
TEXT_READ_ONLY = (
    "Error validating request.-'bN' : cause - The API interface is currently in Read-Only mode."
)
ERR_NOT_SUBSCRIBED = 354
TEXT_NOT_SUBSCRIBED = "Requested market data is not subscribed."
TEXT_NOT_SUBSCRIBED_DELAYED = (
    "Requested market data is not subscribed.Delayed market data is available."
)
WARN_DELAYED = 10167
TEXT_DELAYED = "Requested market data is not subscribed. Displaying delayed market data."
#: The account ids the ``account`` play reports (IB: paper ids start with D, live with U).
PLAYED_ACCOUNTS = {"paper": "DU7654321", "live": "U7654321"}


@dataclass(frozen=True, slots=True)
class MarketDataAnswer:
    """How the gateway answers one reqMktData under the plays: ``data_type`` is the
    marketDataType tick it streams with (None: nothing streams), ``code``/``text`` the
    error or notice sent first (code 0: none)."""

    data_type: int | None
    code: int = 0
    text: str = ""


def market_data_answer(state: FaultState, is_option: bool, requested: int) -> MarketDataAnswer:
    """IB's answer to a subscription: live when subscribed; without a subscription,
    delayed data (type 3, or 4 for delayed-frozen) with notice 10167 if the client asked
    for it (reqMarketDataType 3/4) and error 354 if it asked for live; error 354 when no
    data is available at all. No OPRA subscription makes options delayed."""
    play: MarketDataPlay = state.market_data
    if play == "live" and is_option and not state.options_data:
        play = "delayed"
    if play == "live":
        return MarketDataAnswer(1)
    if play == "none":
        return MarketDataAnswer(None, ERR_NOT_SUBSCRIBED, TEXT_NOT_SUBSCRIBED)
    if requested in (3, 4):
        return MarketDataAnswer(requested, WARN_DELAYED, TEXT_DELAYED)
    return MarketDataAnswer(None, ERR_NOT_SUBSCRIBED, TEXT_NOT_SUBSCRIBED_DELAYED)


def played_account(state: FaultState, own: str) -> str:
    """The managed account the gateway reports: the exchange's own unless played."""
    return own if state.account_kind is None else PLAYED_ACCOUNTS[state.account_kind]


def _switch(args: list[str], cmd: str, choices: tuple[str, ...]) -> str:
    if len(args) != 1 or args[0].lower() not in choices:
        raise CommandError(f"usage: {cmd} {'|'.join(choices)}")
    return args[0].lower()


def play_reply(target: object, cmd: str, args: list[str]) -> str:
    """Set one account play on the target's :class:`FaultState` (``target.faults``)."""
    state = getattr(target, "faults", None)
    if not isinstance(state, FaultState):
        raise CommandError(f"{cmd}: this gateway has no account to play with")
    if cmd == "readonly":
        state.read_only = _switch(args, cmd, ("on", "off")) == "on"
    elif cmd == "market-data":
        play = _switch(args, cmd, ("live", "delayed", "none"))
        state.market_data = "live" if play == "live" else "delayed" if play == "delayed" else "none"
    elif cmd == "options-data":
        state.options_data = _switch(args, cmd, ("on", "off")) == "on"
    elif cmd == "skew":
        if len(args) != 1:
            raise CommandError("usage: skew SECONDS")
        sign = -1.0 if args[0].startswith("-") else 1.0
        state.clock_skew_s = sign * _number(args[0].lstrip("-"), "SECONDS", MAX_SECONDS)
    else:
        kind = _switch(args, cmd, ("paper", "live"))
        state.account_kind = "paper" if kind == "paper" else "live"
    return "ok"
