"""The session supervisor: one ``ib_insync.IB`` kept connected for as long as the app runs.

What it does, and why this way:

- **Connect** with ``connectAsync`` and a timeout. A clientId already in use (error 326)
  is answered by IB with the error and a closed socket, while ib_insync's ``connectAsync``
  keeps waiting its whole timeout; so the attempt races ``connectAsync`` against
  ``errorEvent`` 326 (and ib_insync's ``apiError`` for a peer that closed) and moves on at
  once to ``client_id + 1``, ``+ 2``, ... (at most ``max_client_id_tries`` ids). Every
  reconnect starts again from the configured id, so ten drops in a row do not walk the id
  upwards.
- **Reconnect** on loss (``disconnectedEvent`` while connected): at once after a
  connection that held for ``min_stable_s`` (a network blip should cost no waiting), then
  with exponential backoff and equal jitter, 1 s .. 30 s
  (:func:`tui_trader.broker.health.backoff_delay`; the first retry waits 1 s) while
  attempts fail. A connection that drops within ``min_stable_s`` does not reset the
  backoff: a gateway that accepts and drops at once is not hammered. ``sleep`` is
  injectable so tests do not wait real seconds; ``monotonic`` measures the uptime.
- **After every (re)connect** the ready hooks run in registration order (the orders side
  re-syncs positions, open and completed orders and executions and reconciles them with
  the journal; market data re-requests its lines). A failing hook, or one that takes over
  ``hook_timeout_s``, is logged and the others still run: one broken resync must not leave
  every line dark. ``wait_ready`` returns once the hooks of the current connection have
  finished.
- **IB notices** go through :class:`~tui_trader.broker.health.HealthTracker`: 1101 (data
  lost) re-requests every market-data line and re-runs the resync hooks; 1102 (data kept)
  only re-runs the resync hooks (registered with ``resync=True``, the default): orders may
  have filled while IB was blind, the lines are still there.
- **Health** (state, since, last error, lines, throttling, request queue depth, where it
  connects and why the last attempt failed: :mod:`tui_trader.broker.connect_problem`) is
  published into the store's ``Health`` slice on every change. The request queue depth is
  what waits to go out: ib_insync's own outgoing queue (its throttle, below) plus the
  historical requests waiting in ``Session.pacer``. ``oldest_quote_age_s`` and
  the line counts come from :class:`~tui_trader.broker.marketdata.MarketData`.
- **Stale quotes** make the state DEGRADED while the regular session is open (XNYS,
  09:30 to the calendar's close). That needs a timer: :meth:`Session.refresh_health` is
  called every ``health_interval_s`` real seconds (None: never; the caller calls it).
- **Message rate**: IB allows 50 messages a second, counted where they arrive. ib_insync
  throttles to 45 per second but sends them in bursts: 45 at once, the next 45 exactly one
  second after the first. The receiving end stamps a burst as it reads it, so a first
  burst read late (a busy gateway) and a second read on time land in the same second:
  error 100, the request is dropped, and a dropped reqMktData is a line that never
  streams. The session therefore keeps the bursts of 45 but spaces them 1.2 s apart
  (37.5 messages a second sustained): 200 ms of slack for the receiver, while a reconnect
  still gets 45 requests out at once (80 lines are back in about 1.2 s). MarketData also
  re-requests a line IB dropped with error 100.
- **The gateway's clock** (:class:`GatewayClock`, when one is given): at every connect,
  before anything is stamped, and every ``clock_sync_s`` real seconds while connected,
  the session asks ``reqCurrentTime`` and hands the answer to the clock. The engine then
  tells time by the gateway (IB's, or a standalone simulated gateway's market time, which
  may run ``--speed`` times faster), not by this machine's wall clock. A failed or slow
  answer is logged and the clock keeps its last offset and rate.
- The account id is never logged (ib_insync's own log lines are its business).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dtime
from enum import StrEnum
from typing import Any

from ib_insync import IB
from loguru import logger

from tui_trader.broker.connect_problem import (
    ConnectProblem,
    client_ids_in_use,
    describe_failure,
)
from tui_trader.broker.events import Subscriptions
from tui_trader.broker.health import (
    DEFAULT_MAINTENANCE_WINDOWS,
    HealthEffect,
    HealthTracker,
    MaintenanceWindow,
    SessionAction,
    backoff_delay,
)
from tui_trader.broker.marketdata import MarketData
from tui_trader.broker.pacing import HistoricalPacer, RequestRate
from tui_trader.core.calendar import ET, session_close
from tui_trader.core.settings import ConnectionSettings, RiskSettings
from tui_trader.state.store import ConnectionState, Health, Store

ReadyHook = Callable[[], Awaitable[object]]
Sleep = Callable[[float], Awaitable[object]]
Clock = Callable[[], datetime]

_ERR_CLIENT_ID_IN_USE = 326
#: ib_insync's client throttle: at most this many messages per interval (module doc).
CLIENT_MAX_REQUESTS = 45
CLIENT_REQUESTS_INTERVAL_S = 1.2
_REGULAR_OPEN = dtime(9, 30)


#: Real seconds between reqCurrentTime samples while connected (:class:`GatewayClock`).
CLOCK_SYNC_S = 5.0
#: How long a reqCurrentTime answer may take before the sample is given up.
CLOCK_SYNC_TIMEOUT_S = 5.0


class GatewayClock:
    """The gateway's clock, kept in step between ``reqCurrentTime`` samples.

    ``now = anchor + (monotonic() - anchor_mono) * rate``, re-anchored at every sample.

    Decisions:

    - **1-second resolution.** IB answers reqCurrentTime in whole seconds (truncated), so a
      sample is taken as that second + 0.5 s at the midpoint of the request's round trip:
      the clock is right to about half a second, never better.
    - **Rate measured, not assumed**, because a simulated gateway at ``--speed X`` runs X
      simulated seconds per real second: the rate is the slope between the oldest and the
      newest sample of the current connection within ``window_s`` (a speed change is
      followed within that span). A slope within the samples' resolution of 1 (``1 /
      span``) is taken as exactly 1, so against IB's real clock the rate does not wobble.
      Until a connection has two samples, the previous connection's rate holds (1 at
      first).
    - **Never backwards within a connection**: a re-sample that lands up to a second
      earlier than the running estimate holds the clock still instead (quote ages and
      stamps never go negative). A new connection takes the gateway's answer as it is: a
      restarted gateway may well be earlier.
    - **No time before the first sample**: :meth:`known` is None then; calling the clock
      returns ``fallback()`` (the wall clock), since stamps must be something.
    - **Jumps are anchors, not rates.** A simulated gateway replaying days skips closed
      hours: between two samples its time leaps from the close to the next open (17.5
      hours and more). A sample further from the running estimate than
      ``max(JUMP_MIN_S, JUMP_SHARE * the time the rate predicts since the last sample)``
      re-anchors the clock there and restarts the rate's samples, keeping the measured
      rate; the next sample measures the rate again from the new samples only (so a real
      speed change is followed one sample later, not averaged over ``window_s``). Only
      a rate measured from two samples is checked: the first slope after a connect or a
      jump is taken as it comes.
    """

    #: Deviations a sample may show from the running estimate without being a jump: the
    #: whole-second resolution plus the rate's own error stay below these.
    JUMP_MIN_S = 3.0
    JUMP_SHARE = 0.25

    def __init__(
        self,
        fallback: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        window_s: float = 60.0,
    ) -> None:
        self._fallback = fallback
        self._monotonic = monotonic
        self._window_s = window_s
        self._samples: deque[tuple[float, datetime]] = deque()
        self._anchor: datetime | None = None
        self._anchor_mono = 0.0
        self._floor: datetime | None = None
        #: Gateway seconds per monotonic second (1 until measured).
        self.rate = 1.0
        #: Samples taken (all connections).
        self.samples = 0

    def __call__(self) -> datetime:
        known = self.known()
        return known if known is not None else self._fallback()

    @property
    def synced(self) -> bool:
        return self._anchor is not None

    def known(self) -> datetime | None:
        """The gateway's time now; None before the first sample."""
        if self._anchor is None:
            return None
        elapsed = (self._monotonic() - self._anchor_mono) * self.rate
        now = self._anchor + timedelta(seconds=elapsed)
        if self._floor is not None and now < self._floor:
            return self._floor
        self._floor = now
        return now

    def sample(
        self, answer: datetime, sent: float, received: float, *, new_connection: bool = False
    ) -> None:
        """Take the gateway's answer ``answer`` (whole seconds) to a request sent at
        monotonic ``sent`` and answered at ``received``."""
        if answer.tzinfo is None:
            raise ValueError(f"the gateway time must be timezone-aware, got {answer!r}")
        mono = (sent + received) / 2.0
        at = answer + timedelta(seconds=0.5)
        if new_connection:
            self._samples.clear()
            self._floor = None
        elif len(self._samples) > 1 and self._jumped(at, mono):
            self._samples.clear()  # the rate holds until the next sample measures it
        self._samples.append((mono, at))
        while len(self._samples) > 2 and mono - self._samples[1][0] >= self._window_s:
            self._samples.popleft()
        first_mono, first_at = self._samples[0]
        span = mono - first_mono
        if len(self._samples) > 1 and span > 0:
            rate = (at - first_at).total_seconds() / span
            self.rate = 1.0 if abs(rate - 1.0) <= 1.0 / span else max(rate, 0.0)
        self._anchor, self._anchor_mono = at, mono
        self.samples += 1

    def _jumped(self, at: datetime, mono: float) -> bool:
        """Whether the sample ``at`` (taken at ``mono``) left the running estimate by more
        than the resolution and the rate's error explain (class doc)."""
        assert self._anchor is not None
        expected = (mono - self._anchor_mono) * self.rate
        predicted = self._anchor + timedelta(seconds=expected)
        off = abs((at - predicted).total_seconds())
        return off > max(self.JUMP_MIN_S, self.JUMP_SHARE * expected)


class _Attempt(StrEnum):
    CONNECTED = "CONNECTED"
    ID_IN_USE = "ID_IN_USE"
    FAILED = "FAILED"


@dataclass(slots=True)
class _Hook:
    fn: ReadyHook
    resync: bool


async def _cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait for it to finish, without swallowing a cancellation of the
    task that waits (``stop()`` cancelling the supervisor must still stop it)."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
    except Exception as exc:  # the attempt being abandoned failed meanwhile: nothing to undo
        logger.debug("abandoned connection attempt ended with {!r}", exc)


def regular_session_open(now: datetime, calendar: str = "XNYS") -> bool:
    """Whether ``now`` is inside the exchange's regular session (09:30 ET to its close;
    XNYS opens at 09:30 on every session, early closes come from the calendar)."""
    close = session_close(now, calendar)
    if close is None:
        return False
    local = now.astimezone(ET)
    return local.time() >= _REGULAR_OPEN and local < close


class Session:
    """Owns one ``IB`` and keeps it connected (module doc)."""

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        clock: Clock,
        rng: random.Random | None = None,
        connect_timeout: float | None = None,
        store: Store | None = None,
        sleep: Sleep = asyncio.sleep,
        ib: IB | None = None,
        max_client_id_tries: int = 8,
        stale_quote_s: float | None = None,
        health_interval_s: float | None = 1.0,
        maintenance_windows: tuple[MaintenanceWindow, ...] = DEFAULT_MAINTENANCE_WINDOWS,
        market_open: Callable[[datetime], bool] = regular_session_open,
        monotonic: Callable[[], float] = time.monotonic,
        min_stable_s: float = 10.0,
        max_requests: int = CLIENT_MAX_REQUESTS,
        requests_interval_s: float = CLIENT_REQUESTS_INTERVAL_S,
        hook_timeout_s: float = 60.0,
        gateway_clock: GatewayClock | None = None,
        clock_sync_s: float | None = CLOCK_SYNC_S,
        clock_sync_timeout_s: float = CLOCK_SYNC_TIMEOUT_S,
    ) -> None:
        if max_client_id_tries < 1:
            raise ValueError("max_client_id_tries must be >= 1")
        self.settings = settings
        self.ib = ib if ib is not None else IB()  # type: ignore[no-untyped-call]
        self.ib.client.MaxRequests = max_requests
        self.ib.client.RequestsInterval = requests_interval_s  # type: ignore[assignment]
        self.tracker = HealthTracker(maintenance_windows)
        self.pacer: HistoricalPacer[Any] = HistoricalPacer()
        self.rate = RequestRate()
        self.marketdata: MarketData | None = None
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._timeout = (
            connect_timeout if connect_timeout is not None else (settings.connect_timeout_s)
        )
        self._store = store
        self._sleep = sleep
        self._max_tries = max_client_id_tries
        self._stale_s = stale_quote_s if stale_quote_s is not None else RiskSettings().stale_quote_s
        self._health_interval = health_interval_s
        self._market_open = market_open
        self._monotonic = monotonic
        self._min_stable_s = min_stable_s
        self._hook_timeout = hook_timeout_s
        #: The gateway's clock this session keeps in step (None: not asked).
        self.gateway_clock = gateway_clock
        self._clock_sync_s = clock_sync_s
        self._clock_sync_timeout = clock_sync_timeout_s
        self._clock_lock = asyncio.Lock()
        self._clock_timer: asyncio.Task[None] | None = None
        self._hooks: list[_Hook] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._connected = False
        self._stopping = False
        self._lost = asyncio.Event()
        self._ready = asyncio.Event()
        self._first_cycle = asyncio.Event()
        self._events = Subscriptions(
            [
                (self.ib.errorEvent, self._on_error),
                (self.ib.disconnectedEvent, self._on_disconnected),
                (self.ib.client.throttleStart, self._on_throttle_start),
                (self.ib.client.throttleEnd, self._on_throttle_end),
            ]
        )
        self._attempt = 0  # backoff attempts since the last connection that held
        self._ever_connected = False
        #: The clientId of the current (or last) connection.
        self.client_id = settings.client_id
        #: Successful connections after the first one.
        self.reconnects = 0
        #: Connection attempts that failed (refused, timed out, every id in use).
        self.failed_attempts = 0
        #: The backoff delays waited, in order (for the log and tests).
        self.backoff_history: list[float] = []
        #: Why the last connection attempt failed (None once connected): published with
        #: the health, so the footer and the Log say what to check (issue 13).
        self.connect_problem: ConnectProblem | None = None

    # -- wiring ----------------------------------------------------------------------------

    def add_ready_hook(self, fn: ReadyHook, *, resync: bool = True) -> None:
        """Run ``fn`` after every (re)connect, in registration order. ``resync``: also run
        it when IB reports a restored link (1101/1102), for order/position re-sync."""
        self._hooks.append(_Hook(fn, resync))

    def use_marketdata(self, marketdata: MarketData) -> None:
        """Restore ``marketdata``'s lines after every reconnect and on 1101, and publish its
        line statistics with the health. Call before :meth:`start`."""
        self.marketdata = marketdata
        self.add_ready_hook(marketdata.restore_all, resync=False)

    # -- reading ---------------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self._connected and self.ib.isConnected()

    @property
    def is_ready(self) -> bool:
        """Connected and the ready hooks of this connection have run."""
        return self._ready.is_set() and self.is_connected

    @property
    def state(self) -> ConnectionState:
        return self.tracker.state

    @property
    def request_queue_depth(self) -> int:
        """Messages ib_insync holds back (throttling) plus historical requests waiting."""
        queue = getattr(self.ib.client, "_msgQ", ())
        return len(queue) + self.pacer.queue_depth

    async def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait (up to ``timeout`` seconds) until connected with the ready hooks done."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return self.is_ready

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> bool:
        """Start the supervisor and wait for its first connection attempt (and, when it
        succeeds, the ready hooks). True when ready; False when the first attempt failed:
        the supervisor keeps retrying with backoff in the background."""
        if self._task is not None:
            raise RuntimeError("the session is already started")
        self._stopping = False
        self._first_cycle.clear()
        self._events.connect()
        self._task = asyncio.create_task(self._supervise(), name="ib-session-supervisor")
        if self._health_interval is not None:
            self._timer = asyncio.create_task(self._health_timer(), name="ib-session-health")
        if self.gateway_clock is not None and self._clock_sync_s is not None:
            self._clock_timer = asyncio.create_task(self._clock_timer_loop(), name="ib-clock")
        await self._first_cycle.wait()
        return self.is_ready

    async def stop(self) -> None:
        """Disconnect cleanly and stop retrying (DOWN). Idempotent."""
        self._stopping = True
        tasks = [
            t
            for t in (self._task, self._timer, self._clock_timer, *self._side_tasks)
            if t is not None
        ]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=self._timeout + 1.0)
        self._task = self._timer = self._clock_timer = None
        self._side_tasks.clear()
        self._connected = False
        self._ready.clear()
        self.ib.disconnect()  # type: ignore[no-untyped-call]
        self.tracker.on_disconnected(self._clock(), reconnecting=False)
        self._events.disconnect()
        self.publish_health()

    # -- supervisor ------------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Cycle until stopped; an unexpected error in one cycle is logged and backed off,
        never allowed to end the supervisor (no supervisor: no reconnect, ever)."""
        while not self._stopping:
            try:
                await self._cycle()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("session supervisor cycle failed; retrying")
                await self._backoff()

    async def _cycle(self) -> None:
        """Connect (or back off), run the ready hooks, wait for the loss."""
        self._lost.clear()
        if not await self._connect_once():
            self.failed_attempts += 1
            self.tracker.on_disconnected(self._clock(), reconnecting=True)
            self.publish_health()
            self._first_cycle.set()
            await self._backoff()
            return
        if self._ever_connected:
            self.reconnects += 1
        self._ever_connected = True
        up_since = self._monotonic()
        await self._run_hooks(resync_only=False)
        if self.is_connected and not self._lost.is_set():
            self._ready.set()
        self._first_cycle.set()
        await self._lost.wait()
        self._ready.clear()
        if self._stopping:
            return
        if self._monotonic() - up_since >= self._min_stable_s:
            self._attempt = 0  # a connection that held: reconnect at once
        else:  # a gateway that accepts and drops at once must not be hammered
            await self._backoff()

    async def _backoff(self) -> None:
        delay = backoff_delay(self._attempt, self._rng)
        self._attempt += 1
        self.backoff_history.append(delay)
        logger.info("reconnecting to IB in {:.1f} s (attempt {})", delay, self._attempt)
        await self._sleep(delay)

    async def _connect_once(self) -> bool:
        """One round over the client ids; True when connected."""
        base = self.settings.client_id
        for i in range(self._max_tries):
            cid = base + i
            outcome = await self._try_connect(cid)
            if outcome is _Attempt.CONNECTED:
                self.client_id = cid
                self._connected = True
                self.connect_problem = None
                await self.sync_clock(new_connection=True)  # before anything is stamped
                self.tracker.on_connected(self._clock())
                self.publish_health()
                logger.info(
                    "connected to IB at {}:{} as clientId {}",
                    self.settings.host,
                    self.settings.port,
                    cid,
                )
                return True
            if outcome is _Attempt.FAILED:
                return False
            logger.warning("clientId {} is in use; trying {}", cid, cid + 1)
        logger.error("clientIds {}..{} are all in use", base, base + self._max_tries - 1)
        self.connect_problem = client_ids_in_use(base, base + self._max_tries - 1)
        return False

    async def _try_connect(self, client_id: int) -> _Attempt:
        loop = asyncio.get_running_loop()
        verdict: asyncio.Future[_Attempt] = loop.create_future()

        def on_error(req_id: int, code: int, message: str, contract: object) -> None:
            if code == _ERR_CLIENT_ID_IN_USE and not verdict.done():
                verdict.set_result(_Attempt.ID_IN_USE)

        def on_api_error(message: str) -> None:
            if not verdict.done() and "already in use" in str(message):
                verdict.set_result(_Attempt.ID_IN_USE)

        self.ib.errorEvent += on_error
        self.ib.client.apiError += on_api_error
        connect = asyncio.ensure_future(
            self.ib.connectAsync(
                self.settings.host, self.settings.port, clientId=client_id, timeout=self._timeout
            )
        )
        try:
            await asyncio.wait({connect, verdict}, return_when=asyncio.FIRST_COMPLETED)
            if verdict.done():
                await _cancel_and_wait(connect)
                self.ib.disconnect()  # type: ignore[no-untyped-call]
                return verdict.result()
            try:
                connect.result()
            except (OSError, TimeoutError, ConnectionError) as exc:
                self._failed_because(exc)
                logger.info("IB connect failed: {!r}", exc)
                return _Attempt.FAILED
            except Exception as exc:
                self._failed_because(exc)
                logger.exception("IB connect failed unexpectedly")
                return _Attempt.FAILED
            if self.ib.isConnected():
                return _Attempt.CONNECTED
            self._failed_because(ConnectionError("the connection closed during the handshake"))
            return _Attempt.FAILED
        finally:
            self.ib.errorEvent -= on_error
            self.ib.client.apiError -= on_api_error
            if not connect.done():
                connect.cancel()

    def _failed_because(self, exc: BaseException) -> None:
        problem = describe_failure(exc, self.settings.host, self.settings.port, self._timeout)
        if problem != self.connect_problem:  # said once per problem, not per retry
            logger.warning(
                "cannot connect to IB at {}:{}: {}. {}",
                self.settings.host,
                self.settings.port,
                problem.reason,
                problem.hint,
            )
        self.connect_problem = problem

    async def _run_hooks(self, *, resync_only: bool) -> None:
        for hook in list(self._hooks):
            if resync_only and not hook.resync:
                continue
            if not self.is_connected:
                return
            try:
                await asyncio.wait_for(hook.fn(), self._hook_timeout)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                logger.error(
                    "ready hook {} took over {:g} s; moving on",
                    getattr(hook.fn, "__qualname__", repr(hook.fn)),
                    self._hook_timeout,
                )
            except ConnectionError as exc:  # the link dropped meanwhile: the next connect
                # runs every hook again, so this is a notice, not a failure
                logger.warning(
                    "ready hook {} stopped: the connection dropped ({}); it runs again on "
                    "the next connect",
                    getattr(hook.fn, "__qualname__", repr(hook.fn)),
                    exc,
                )
                return
            except Exception:
                logger.exception(
                    "ready hook {} failed", getattr(hook.fn, "__qualname__", repr(hook.fn))
                )
        self.publish_health()

    async def _after_notice(self, resubscribe: bool, resync: bool) -> None:
        if resubscribe and self.marketdata is not None and self.is_connected:
            try:
                await self.marketdata.restore_all()
            except Exception:
                logger.exception("restoring market data failed")
        if resync:
            await self._run_hooks(resync_only=True)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.ensure_future(run())
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def sync_clock(self, *, new_connection: bool = False) -> bool:
        """Ask the gateway its time (reqCurrentTime) and hand it to :attr:`gateway_clock`;
        True when a sample was taken (False: no clock, not connected, or no answer).
        ``new_connection``: the first sample of a connection (module doc)."""
        clock = self.gateway_clock
        if clock is None or not self.is_connected:
            return False
        async with self._clock_lock:
            sent = self._monotonic()
            try:
                answer = await asyncio.wait_for(
                    self.ib.reqCurrentTimeAsync(), self._clock_sync_timeout
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("asking IB for its time failed ({!r}); keeping the last", exc)
                return False
            clock.sample(answer, sent, self._monotonic(), new_connection=new_connection)
        if new_connection:
            logger.info("gateway time {:%Y-%m-%d %H:%M:%S} UTC", answer)
        return True

    async def _clock_timer_loop(self) -> None:
        assert self._clock_sync_s is not None
        while True:
            await asyncio.sleep(self._clock_sync_s)
            if self.is_ready:
                await self.sync_clock()

    async def _health_timer(self) -> None:
        assert self._health_interval is not None
        while True:
            await asyncio.sleep(self._health_interval)
            try:
                self.refresh_health()
            except Exception:
                logger.exception("health refresh failed")

    # -- events ----------------------------------------------------------------------------

    def _on_disconnected(self) -> None:
        if not self._connected:
            return  # a failed attempt's own cleanup
        self._connected = False
        self._ready.clear()
        if not self._stopping:
            logger.warning("IB connection lost; reconnecting")
            self.tracker.on_disconnected(self._clock(), reconnecting=True)
            self.publish_health()
        self._lost.set()

    def _on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        try:
            effect = self.tracker.on_error(code, str(message), self._clock(), req_id)
        except Exception:
            logger.exception("classifying IB error {} failed", code)
            return
        self._act(effect)
        self.publish_health()

    def _act(self, effect: HealthEffect) -> None:
        resubscribe = SessionAction.RESUBSCRIBE_ALL in effect.actions
        resync = SessionAction.RESYNC_ORDERS in effect.actions
        if (resubscribe or resync) and self._connected and not self._stopping:
            logger.info(
                "IB notice {}: {}{}",
                effect.code,
                "resubscribing market data, " if resubscribe else "",
                "re-syncing orders" if resync else "",
            )
            self._spawn(self._after_notice(resubscribe, resync))

    def _on_throttle_start(self) -> None:
        self.rate.throttle_start(self._monotonic())
        self.publish_health()

    def _on_throttle_end(self) -> None:
        self.rate.throttle_end(self._monotonic())
        self.publish_health()

    # -- health ----------------------------------------------------------------------------

    def refresh_health(self) -> ConnectionState:
        """Re-derive the state now: restart windows, error-100 holds, quote staleness."""
        now = self._clock()
        if self.marketdata is not None and self._connected:
            # the feed is dead when nothing ticks; one quiet line (a far strike, a halted
            # name) is the order's problem, judged per leg at the gates and at sending
            self.tracker.on_quote_ages(
                self.marketdata.freshest_quote_age_s(now),
                self._stale_s,
                self._market_open(now),
                now,
            )
        state = self.tracker.refresh(now)
        self.publish_health()
        return state

    def health_fields(self) -> dict[str, Any]:
        """Every field of the ``Health`` slice this session knows."""
        fields = self.tracker.to_health_fields()
        fields["throttled"] = bool(fields["throttled"]) or self.rate.throttled
        fields["request_queue_depth"] = self.request_queue_depth
        fields["endpoint"] = f"{self.settings.host}:{self.settings.port}"
        problem = self.connect_problem
        fields["connect_problem"] = problem.reason if problem is not None else None
        fields["connect_hint"] = problem.hint if problem is not None else None
        if self.marketdata is not None:
            fields.update(self.marketdata.health_fields(self._clock()))
        else:
            fields.pop("oldest_quote_age_s", None)
        return fields

    def publish_health(self) -> None:
        if self._store is not None:
            self._store.update(Health, **self.health_fields())
