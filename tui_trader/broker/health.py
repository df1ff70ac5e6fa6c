"""The connection's health: IB's notices classified into one state for the status bar.

Time is an injected, timezone-aware datetime (a naive one raises ValueError: IB's windows
are New York wall times and guessing the zone is how they end up an hour off).

States (:class:`~tui_trader.state.store.ConnectionState`), derived from the facts below
after every event, highest first:

- socket down: RECONNECTING while the session retries, else DOWN;
- socket up but something is wrong: DEGRADED. That is IB<->TWS connectivity lost (1100),
  the TWS<->server link broken (2110), a data farm broken (2103/2105/2157, remembered by
  farm name until its "OK" notice), or a silent feed during regular hours (no streaming
  line ticked within ``stale_quote_s``: one quiet line -- a far strike, a halted name --
  does not make the session DEGRADED; its legs' ages are checked per order);
- otherwise CONNECTED;
- any state but CONNECTED while ``now`` is inside one of IB's restart windows is shown as
  MAINTENANCE instead: expected, not alarming. The window is judged at each event's
  ``now`` (call :meth:`HealthTracker.refresh` on a timer), so a connection that is still
  down after the window has ended turns alarming again.

Other decisions:

- 2100-2199 are informational (ib_insync logs them as warnings) and never change the state,
  except the farm notices and 2110. A farm "OK" (2104/2106/2158) also clears 2110: a farm
  reconnecting means TWS reaches IB's servers again.
- 1101 (restored, data lost) asks for RESUBSCRIBE_ALL *and* RESYNC_ORDERS; 1102 (restored,
  data kept) for RESYNC_ORDERS: whatever IB kept, orders may have filled while we were
  blind, so both resynchronise orders and executions.
- Error 100 (more than 50 messages a second) sets ``throttled`` for
  :data:`THROTTLE_HOLD` after the last one; it does not make the state DEGRADED (quotes and
  orders still flow; ib_insync paces its own requests).
- 162 is IB's catch-all for historical-data errors; only a message that mentions pacing is
  HISTORICAL_PACING. 366 ("no historical data query found") means IB no longer has the
  request. Both end the request for the pacer.
- ``last_error`` keeps the latest notice that is not purely informational, so the status
  bar shows the last real problem. Not kept: farm "OK" and other 2100-2199 notices, 1102
  ("connectivity restored, data maintained": the end of a problem, not one) and 202 ("Order
  Canceled"), which is IB confirming a cancel. Only the order manager knows whether it asked
  for that cancel; for an order nobody here cancelled its owner keeps the notice with
  :meth:`HealthTracker.record_error`.
- Stale quotes: a quote is fresh while younger than ``stale_quote_s`` (SPEC 8: an age equal
  to it is stale), judged only while the market is open: outside the session no quote
  moves. An unknown age (NaN, IB's unset marker) counts as stale.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from tui_trader.broker.lines import LineStats
from tui_trader.broker.pacing import HistoricalPacer, RequestRate
from tui_trader.core.markers import IB_UNSET_DOUBLE
from tui_trader.core.models import ConnectionState

ET = ZoneInfo("America/New_York")

#: How long one error 100 keeps ``throttled`` set.
THROTTLE_HOLD = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A recurring restart window in New York wall time: starts at ``start`` on
    ``weekday`` (Monday = 0; None = every day) and lasts ``duration`` of wall time."""

    label: str
    start: time
    duration: timedelta
    weekday: int | None = None

    def contains(self, now: datetime) -> bool:
        local = _aware(now).astimezone(ET)
        days_back = self.duration.days + 1  # a window may have started on an earlier day
        for back in range(days_back + 1):
            day = local.date() - timedelta(days=back)
            if self.weekday is not None and day.weekday() != self.weekday:
                continue
            begin = datetime.combine(day, self.start, tzinfo=ET)
            if begin <= local < begin + self.duration:
                return True
        return False


#: IB's published schedule, approximate: IB moves these times now and then, and TWS /
#: IB Gateway's own daily auto-restart is set by the user (typically near 23:45 ET).
#: Pass your own windows to :class:`HealthTracker` to change them.
DAILY_RESET = MaintenanceWindow(
    "IB daily server reset / TWS auto-restart", time(23, 45), timedelta(hours=1)
)
WEEKEND_MAINTENANCE = MaintenanceWindow(
    "IB weekend maintenance", time(23, 0), timedelta(hours=4), weekday=4
)
DEFAULT_MAINTENANCE_WINDOWS: tuple[MaintenanceWindow, ...] = (DAILY_RESET, WEEKEND_MAINTENANCE)


def maintenance_window(
    now: datetime, windows: Sequence[MaintenanceWindow] = DEFAULT_MAINTENANCE_WINDOWS
) -> MaintenanceWindow | None:
    """The restart window ``now`` falls in (half-open: in at its start, out at its end)."""
    for w in windows:
        if w.contains(now):
            return w
    return None


class NoticeKind(StrEnum):
    CONNECTIVITY_LOST = "CONNECTIVITY_LOST"  # 1100
    RESTORED_DATA_LOST = "RESTORED_DATA_LOST"  # 1101
    RESTORED_DATA_KEPT = "RESTORED_DATA_KEPT"  # 1102
    SOCKET_PORT_RESET = "SOCKET_PORT_RESET"  # 1300: TWS drops this connection
    TWS_SERVER_BROKEN = "TWS_SERVER_BROKEN"  # 2110
    FARM_BROKEN = "FARM_BROKEN"  # 2103, 2105, 2157
    FARM_OK = "FARM_OK"  # 2104, 2106, 2158
    CLIENT_ID_IN_USE = "CLIENT_ID_IN_USE"  # 326
    THROTTLED = "THROTTLED"  # 100
    LINES_EXCEEDED = "LINES_EXCEEDED"  # 101
    HISTORICAL_PACING = "HISTORICAL_PACING"  # 162 "pacing violation"
    HISTORICAL_ERROR = "HISTORICAL_ERROR"  # 162 otherwise, 366
    BAD_CONTRACT = "BAD_CONTRACT"  # 200
    ORDER_REJECTED = "ORDER_REJECTED"  # 201
    ORDER_CANCELLED = "ORDER_CANCELLED"  # 202: IB confirms a cancel
    NOT_CONNECTED = "NOT_CONNECTED"  # 502, 504
    INFO = "INFO"  # other 2100-2199
    OTHER = "OTHER"


class SessionAction(StrEnum):
    """What the session must do about a notice."""

    RESUBSCRIBE_ALL = "RESUBSCRIBE_ALL"  # re-request every market-data line
    RESYNC_ORDERS = "RESYNC_ORDERS"  # reqOpenOrders + reqExecutions, reconcile
    TRY_NEXT_CLIENT_ID = "TRY_NEXT_CLIENT_ID"
    SHRINK_LINES = "SHRINK_LINES"  # LineBudget.on_error_101 for the req_id's key
    END_HISTORICAL_REQUEST = "END_HISTORICAL_REQUEST"  # HistoricalPacer.done for the req_id
    RETRY_HISTORICAL_LATER = "RETRY_HISTORICAL_LATER"  # re-enqueue it with the pacer


#: Notices that are never the status bar's "last IB error" (module doc).
_NOT_ERRORS = frozenset(
    {
        NoticeKind.INFO,
        NoticeKind.FARM_OK,
        NoticeKind.RESTORED_DATA_KEPT,
        NoticeKind.ORDER_CANCELLED,
    }
)

_FARM_BROKEN = {2103: "market data farm", 2105: "HMDS data farm", 2157: "sec-def data farm"}
_FARM_OK = {2104: 2103, 2106: 2105, 2158: 2157}  # OK code -> the broken code it clears


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    code: int
    message: str
    time: datetime


@dataclass(frozen=True, slots=True)
class HealthEffect:
    """The classification of one notice and the state after it."""

    code: int
    kind: NoticeKind
    actions: frozenset[SessionAction]
    state: ConnectionState
    state_changed: bool
    req_id: int = -1
    farm: str | None = None


def classify(code: int, message: str) -> tuple[NoticeKind, frozenset[SessionAction]]:
    """A notice's kind and the session actions it calls for, independent of state."""
    a = SessionAction
    match code:
        case 1100:
            return NoticeKind.CONNECTIVITY_LOST, frozenset()
        case 1101:
            return NoticeKind.RESTORED_DATA_LOST, frozenset({a.RESUBSCRIBE_ALL, a.RESYNC_ORDERS})
        case 1102:
            return NoticeKind.RESTORED_DATA_KEPT, frozenset({a.RESYNC_ORDERS})
        case 1300:
            return NoticeKind.SOCKET_PORT_RESET, frozenset()
        case 2110:
            return NoticeKind.TWS_SERVER_BROKEN, frozenset()
        case 326:
            return NoticeKind.CLIENT_ID_IN_USE, frozenset({a.TRY_NEXT_CLIENT_ID})
        case 100:
            return NoticeKind.THROTTLED, frozenset()
        case 101:
            return NoticeKind.LINES_EXCEEDED, frozenset({a.SHRINK_LINES})
        case 162 if "pacing" in message.lower():
            return NoticeKind.HISTORICAL_PACING, frozenset(
                {a.END_HISTORICAL_REQUEST, a.RETRY_HISTORICAL_LATER}
            )
        case 162 | 366:
            return NoticeKind.HISTORICAL_ERROR, frozenset({a.END_HISTORICAL_REQUEST})
        case 200:
            return NoticeKind.BAD_CONTRACT, frozenset()
        case 201:
            return NoticeKind.ORDER_REJECTED, frozenset()
        case 202:
            return NoticeKind.ORDER_CANCELLED, frozenset()
        case 502 | 504:
            return NoticeKind.NOT_CONNECTED, frozenset()
    if code in _FARM_BROKEN:
        return NoticeKind.FARM_BROKEN, frozenset()
    if code in _FARM_OK:
        return NoticeKind.FARM_OK, frozenset()
    if 2100 <= code <= 2199:
        return NoticeKind.INFO, frozenset()
    return NoticeKind.OTHER, frozenset()


def _farm_name(message: str) -> str | None:
    """IB appends the farm after a colon: "Market data farm connection is OK:usfarm"."""
    if ":" not in message:
        return None
    name = message.rsplit(":", 1)[1].strip()
    return name or None


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    return now


class HealthTracker:
    """Facts about the link, fed by the session; the state is derived from them."""

    def __init__(
        self, maintenance_windows: Sequence[MaintenanceWindow] = DEFAULT_MAINTENANCE_WINDOWS
    ) -> None:
        self._windows = tuple(maintenance_windows)
        self._socket_up = False
        self._reconnecting = False
        self._link_lost = False  # 1100
        self._server_broken = False  # 2110
        self._farms: dict[str, int] = {}  # broken farm -> the code that said so
        self._quotes_stale = False
        self._oldest_age: float | None = None
        self._throttle_until: datetime | None = None
        self._now: datetime | None = None
        self._state = ConnectionState.DOWN
        self._since: datetime | None = None
        self._last_error: ErrorRecord | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def since(self) -> datetime | None:
        """When the state last changed (None: never, still the initial DOWN)."""
        return self._since

    @property
    def last_error(self) -> ErrorRecord | None:
        return self._last_error

    @property
    def farms_broken(self) -> tuple[str, ...]:
        return tuple(sorted(self._farms))

    @property
    def throttled(self) -> bool:
        """An error 100 within :data:`THROTTLE_HOLD` of the latest event's time."""
        return (
            self._throttle_until is not None
            and self._now is not None
            and self._now < self._throttle_until
        )

    @property
    def maintenance(self) -> MaintenanceWindow | None:
        """The restart window the latest event's time falls in."""
        return None if self._now is None else maintenance_window(self._now, self._windows)

    @property
    def healthy(self) -> bool:
        """What SPEC 8's "connection healthy" gate asks."""
        return self._state is ConnectionState.CONNECTED

    def to_health_fields(self) -> dict[str, Any]:
        """The connection and error fields of the store's ``Health`` slice."""
        err = self._last_error
        return {
            "state": self._state,
            "since": self._since,
            "last_error_code": None if err is None else err.code,
            "last_error_message": None if err is None else err.message,
            "last_error_time": None if err is None else err.time,
            "throttled": self.throttled,
            "oldest_quote_age_s": self._oldest_age,
        }

    # -- events ----------------------------------------------------------------------------

    def on_connected(self, now: datetime) -> ConnectionState:
        """A fresh API connection is ready. TWS re-announces every farm on connect, and the
        lines are re-requested, so what we knew about farms, the link and quotes is reset."""
        self._socket_up = True
        self._reconnecting = False
        self._link_lost = False
        self._server_broken = False
        self._farms.clear()
        self._quotes_stale = False
        self._oldest_age = None
        return self._update(now)

    def on_disconnected(self, now: datetime, reconnecting: bool) -> ConnectionState:
        self._socket_up = False
        self._reconnecting = reconnecting
        return self._update(now)

    def on_error(self, code: int, message: str, now: datetime, req_id: int = -1) -> HealthEffect:
        """Classify one IB notice (ib_insync's ``errorEvent``), update the facts, say what
        the session must do."""
        message = message if isinstance(message, str) else str(message)
        kind, actions = classify(code, message)
        farm: str | None = None
        if kind is NoticeKind.CONNECTIVITY_LOST:
            self._link_lost = True
        elif kind in (NoticeKind.RESTORED_DATA_LOST, NoticeKind.RESTORED_DATA_KEPT):
            self._link_lost = False
            self._server_broken = False
        elif kind is NoticeKind.TWS_SERVER_BROKEN:
            self._server_broken = True
        elif kind is NoticeKind.FARM_BROKEN:
            farm = _farm_name(message) or _FARM_BROKEN[code]
            self._farms[farm] = code
        elif kind is NoticeKind.FARM_OK:
            farm = _farm_name(message)
            if farm is not None:
                self._farms.pop(farm, None)
            else:  # no name: every farm of that kind is back
                broken_code = _FARM_OK[code]
                for name in [n for n, c in self._farms.items() if c == broken_code]:
                    del self._farms[name]
            self._server_broken = False
        elif kind is NoticeKind.THROTTLED:
            self._throttle_until = _aware(now) + THROTTLE_HOLD
        elif kind is NoticeKind.NOT_CONNECTED:
            self._socket_up = False
        if kind not in _NOT_ERRORS:
            self._last_error = ErrorRecord(code, message, _aware(now))
        before = self._state
        state = self._update(now)
        return HealthEffect(code, kind, actions, state, state is not before, req_id, farm)

    def record_error(self, code: int, message: str, now: datetime) -> None:
        """Keep a notice :meth:`on_error` does not keep as the last error, because its
        sender knows it is a problem here: a 202 for an order nobody here cancelled."""
        message = message if isinstance(message, str) else str(message)
        self._last_error = ErrorRecord(code, message, _aware(now))

    def on_quote_ages(
        self,
        oldest_age_s: float | None,
        stale_quote_s: float,
        is_market_open: bool,
        now: datetime,
    ) -> ConnectionState:
        """The age of the oldest streaming quote (None: no quotes streaming), checked on the
        session's timer (``stale_quote_s``: ``[risk] stale_quote_s``)."""
        usable = (
            oldest_age_s is not None
            and math.isfinite(oldest_age_s)
            and abs(oldest_age_s) < IB_UNSET_DOUBLE
        )
        self._oldest_age = float(oldest_age_s) if usable and oldest_age_s is not None else None
        if not is_market_open or oldest_age_s is None:
            self._quotes_stale = False
        else:
            self._quotes_stale = not usable or oldest_age_s >= stale_quote_s
        return self._update(now)

    def refresh(self, now: datetime) -> ConnectionState:
        """Re-derive the state at ``now`` (restart windows open and close, error-100 holds
        expire without any event)."""
        return self._update(now)

    # -- internals -------------------------------------------------------------------------

    def _derive(self, now: datetime) -> ConnectionState:
        if not self._socket_up:
            state = ConnectionState.RECONNECTING if self._reconnecting else ConnectionState.DOWN
        elif self._link_lost or self._server_broken or self._farms or self._quotes_stale:
            state = ConnectionState.DEGRADED
        else:
            return ConnectionState.CONNECTED
        if maintenance_window(now, self._windows) is not None:
            return ConnectionState.MAINTENANCE
        return state

    def _update(self, now: datetime) -> ConnectionState:
        now = _aware(now)
        if self._now is None or now > self._now:
            self._now = now
        state = self._derive(now)
        if state is not self._state:
            self._state = state
            self._since = now
        return state


# -- reconnect backoff ---------------------------------------------------------------------

BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Seconds to wait before reconnect attempt ``attempt`` (0 = the first retry).

    Exponential with *equal jitter*: the ceiling doubles from 1 s (1, 2, 4, 8, 16, then
    capped at 30 s) and the delay is uniform in [max(1 s, ceiling / 2), ceiling). Equal
    rather than full jitter so the wait really grows while a gateway is down (full jitter
    can retry after 1 s on any attempt), with enough spread that several clients restarted
    by the same reset do not reconnect in lockstep. Always within [1 s, 30 s]; attempt 0
    is exactly 1 s.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    ceiling = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2.0 ** min(attempt, 16))
    low = max(BACKOFF_MIN_S, ceiling / 2.0)
    delay = low + (ceiling - low) * rng.random()
    return min(BACKOFF_MAX_S, max(BACKOFF_MIN_S, delay))


def reconnect_delays(rng: random.Random | int | None = None) -> Iterator[float]:
    """The delays before attempts 0, 1, 2, ... (endless); ``rng`` a Random or a seed."""
    r = rng if isinstance(rng, random.Random) else random.Random(rng)
    attempt = 0
    while True:
        yield backoff_delay(attempt, r)
        attempt += 1


def health_slice_fields(
    tracker: HealthTracker,
    lines: LineStats[Any],
    pacer: HistoricalPacer[Any],
    rate: RequestRate,
) -> dict[str, Any]:
    """Every field of the store's ``Health`` slice, from the four sources:
    ``store.update(Health, **health_slice_fields(...))``. ``throttled`` is set when either
    IB (error 100) or ib_insync's own pacing says so."""
    fields = tracker.to_health_fields()
    fields.update(lines.to_health_fields())
    fields.update(pacer.to_health_fields())
    fields["throttled"] = bool(fields["throttled"]) or rate.throttled
    return fields
