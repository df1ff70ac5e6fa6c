"""Domain models shared by ``broker/``, ``engine/`` and ``tui/``: order intents, fills, journal
events, IB order snapshots, and the order-intent state machine.

Why an *intent*: an order is written down (journaled) before it is sent, with IB's
``orderRef`` set to the intent id, so that whatever happens between "decided" and "IB
acknowledged" (a crash, a SIGKILL, a dropped socket) the app can find the order again by that
reference and never sends it twice. Conventions relied on by every layer:

- **Ids.** An intent id is ``"tt-"`` + 12 lowercase hex characters (48 random bits). The
  prefix is how reconciliation tells our orders from orders placed by hand in TWS.
- **Times** are timezone-aware datetimes (naive ones are refused: a journal read on another
  machine or after a DST change must not shift an order's time).
- **Quantities** of a combo order are whole contracts (``int``); IB reports them as floats,
  and :func:`apply_update` converts. Prices are per share of the combo, as in
  :mod:`tui_trader.core.pricing`.
- **IB's "no value" markers** (1.7976931348623157e308, NaN, and -1 for ids) reported in an
  update are ignored field by field, never stored as numbers.

The state machine (:data:`TRANSITIONS`, :func:`next_status`)::

    PENDING_SEND -> SENT -> WORKING -> PARTIALLY_FILLED -> FILLED
         |            |        |              |
         +------------+--------+--------------+--> CANCELLED | REJECTED | FILLED
         +------------+--------+--------------+--> UNKNOWN --> (any IB-observed state)

- Every non-terminal state may go to any terminal state (FILLED, CANCELLED, REJECTED): IB can
  fill, cancel or reject an order at any point, and a restart can reveal any of them.
- FILLED, CANCELLED and REJECTED are absorbing: a late or out-of-order report (a stale
  open-orders list, a status replayed after a reconnect) cannot revive an order. The fill
  *quantity* of a terminal intent may still grow (a late execution is a fact); its status not.
- Nothing ever goes back to PENDING_SEND, the only state in which the engine sends; SENT is
  entered from PENDING_SEND, or from UNKNOWN when IB shows the order as pending submission.
- PARTIALLY_FILLED never returns to WORKING or SENT (the filled quantity does not shrink).
- UNKNOWN ("outcome unknown after a restart/disconnect, needs the user") is reachable from
  every non-terminal state and left only on evidence from IB (an order or fills carrying the
  intent's orderRef) or by the user dismissing it.

A refused transition is not an error (stale IB messages are normal); :func:`next_status` keeps
the current state and callers that care (the journal) log what they ignored.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from tui_trader.core.markers import IB_UNSET_DOUBLE
from tui_trader.core.markers import usable_number as usable_number
from tui_trader.core.pricing import Action, Mode, OrderType

Right = Literal["C", "P"]
Direction = Literal["LONG", "SHORT"]
FillSide = Literal["BOT", "SLD"]

#: Every orderRef this app sets starts with this; reconciliation relies on it.
INTENT_PREFIX = "tt-"
_INTENT_ID = re.compile(r"^tt-[0-9a-f]{12}$")
_EXPIRY = re.compile(r"^\d{8}$")


def new_intent_id() -> str:
    """A fresh intent id, usable as IB ``orderRef``: ``"tt-"`` + 12 random hex characters."""
    return INTENT_PREFIX + secrets.token_hex(6)


def is_our_ref(order_ref: str | None) -> bool:
    """True when an IB orderRef was set by this app (whether or not the journal knows it)."""
    return bool(order_ref) and str(order_ref).startswith(INTENT_PREFIX)


class _Model(BaseModel):
    """Immutable, strict about unknown keys and non-finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _no_marker(name: str, x: float) -> float:
    if abs(x) >= IB_UNSET_DOUBLE:
        raise ValueError(f"{name} is IB's 'no value' marker, not a number")
    return x


class SpreadLeg(_Model):
    """One option of a combo. ``action`` is the leg's side *when the combo is bought*."""

    con_id: int = Field(gt=0)
    symbol: str = Field(min_length=1)
    expiry: str
    strike: float = Field(gt=0)
    right: Right
    action: Action
    ratio: int = Field(1, ge=1)

    @field_validator("expiry")
    @classmethod
    def _expiry_is_a_date(cls, v: str) -> str:
        if not _EXPIRY.match(v):
            raise ValueError(f"expiry must be YYYYMMDD, got {v!r}")
        date(int(v[:4]), int(v[4:6]), int(v[6:]))  # raises ValueError for 20250231
        return v

    @field_validator("strike")
    @classmethod
    def _strike_not_marker(cls, v: float) -> float:
        return _no_marker("strike", v)


class SpreadOrderSpec(_Model):
    """What to send: a vertical debit spread combo (SPEC 5/6), opened with BUY, closed with SELL.

    Validated so a malformed order cannot be journaled, let alone sent: exactly two legs of
    the underlying, same expiry and right, one BUY (the long leg) and one SELL (the short
    leg), distinct contracts and strikes; LONG is a bull call debit spread (long strike below
    the short), SHORT a bear put debit spread (long strike above). A LMT order carries a
    limit (positive for BUY: we never buy a combo for a credit; >= 0 for SELL, see
    :mod:`tui_trader.core.pricing`); a MKT order carries none.
    """

    underlying: str = Field(min_length=1)
    direction: Direction
    legs: tuple[SpreadLeg, ...]
    action: Action
    quantity: int = Field(ge=1)
    order_type: OrderType
    limit_price: float | None
    mode: Mode

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.legs) != 2:
            raise ValueError(f"a vertical spread has 2 legs, got {len(self.legs)}")
        a, b = self.legs
        if {a.action, b.action} != {"BUY", "SELL"}:
            raise ValueError("a vertical spread has one BUY (long) and one SELL (short) leg")
        if a.con_id == b.con_id or a.strike == b.strike:
            raise ValueError("the two legs must be different contracts with different strikes")
        for leg in self.legs:
            if leg.symbol != self.underlying:
                raise ValueError(f"leg symbol {leg.symbol!r} is not the underlying")
        if a.expiry != b.expiry or a.right != b.right:
            raise ValueError("both legs of a vertical spread share expiry and right")
        want_right = "C" if self.direction == "LONG" else "P"
        if a.right != want_right:
            raise ValueError(f"a {self.direction} debit spread uses {want_right} options")
        long_k, short_k = self.long_leg.strike, self.short_leg.strike
        if (long_k < short_k) != (self.direction == "LONG"):
            raise ValueError(
                f"long strike {long_k} / short strike {short_k} is not a {self.direction} "
                "debit spread"
            )
        if self.order_type == "MKT":
            if self.limit_price is not None:
                raise ValueError("a MKT order has no limit price")
        else:
            lim = self.limit_price
            if lim is None or not usable_number(lim):
                raise ValueError("a LMT order needs a limit price")
            if self.action == "BUY" and lim <= 0:
                raise ValueError(f"a BUY limit must be a positive debit, got {lim}")
            if lim < 0:
                raise ValueError(f"a SELL limit is never negative, got {lim}")
        return self

    @property
    def long_leg(self) -> SpreadLeg:
        return next(leg for leg in self.legs if leg.action == "BUY")

    @property
    def short_leg(self) -> SpreadLeg:
        return next(leg for leg in self.legs if leg.action == "SELL")

    def describe(self) -> str:
        """One line for logs and the event pane, e.g.
        ``BUY 2 AAPL 20250117 150/155 C LMT 2.10 (paper)`` (long strike first)."""
        lo, sh = self.long_leg, self.short_leg
        price = "MKT" if self.limit_price is None else f"LMT {self.limit_price:.2f}"
        return (
            f"{self.action} {self.quantity} {self.underlying} {lo.expiry} "
            f"{lo.strike:g}/{sh.strike:g} {lo.right} {price} ({self.mode})"
        )


class IntentStatus(StrEnum):
    """Where an order intent stands; see the module doc for the transitions."""

    PENDING_SEND = "PENDING_SEND"  # journaled; placeOrder not yet known to have happened
    SENT = "SENT"  # placeOrder called, no acknowledgement yet
    WORKING = "WORKING"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"  # outcome unknown after a restart/disconnect: needs the user

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES: frozenset[IntentStatus] = frozenset(
    {IntentStatus.FILLED, IntentStatus.CANCELLED, IntentStatus.REJECTED}
)
_TERMINAL = TERMINAL_STATUSES
_S = IntentStatus

#: Allowed status changes (a status may always "change" to itself). Anything else is refused.
TRANSITIONS: Mapping[IntentStatus, frozenset[IntentStatus]] = {
    _S.PENDING_SEND: frozenset({_S.SENT, _S.WORKING, _S.PARTIALLY_FILLED, _S.UNKNOWN} | _TERMINAL),
    _S.SENT: frozenset({_S.WORKING, _S.PARTIALLY_FILLED, _S.UNKNOWN} | _TERMINAL),
    _S.WORKING: frozenset({_S.PARTIALLY_FILLED, _S.UNKNOWN} | _TERMINAL),
    _S.PARTIALLY_FILLED: frozenset({_S.UNKNOWN} | _TERMINAL),
    _S.UNKNOWN: frozenset({_S.SENT, _S.WORKING, _S.PARTIALLY_FILLED} | _TERMINAL),
    _S.FILLED: frozenset(),
    _S.CANCELLED: frozenset(),
    _S.REJECTED: frozenset(),
}


def can_transition(current: IntentStatus, new: IntentStatus) -> bool:
    """Whether ``current -> new`` is allowed (staying put always is)."""
    return new == current or new in TRANSITIONS[current]


def next_status(current: IntentStatus, observed: IntentStatus) -> IntentStatus:
    """The status after observing ``observed``: ``observed`` when the transition is allowed,
    else ``current`` (a stale or out-of-order report is ignored, never applied)."""
    return observed if can_transition(current, observed) else current


#: IB order status strings (as ib_insync reports them) -> our status, before fills are looked
#: at. PendingSubmit/ApiPending: IB has it but has not accepted it. PendingCancel: still
#: working until IB confirms. Inactive: IB's "received but no longer active" (rejected, or
#: cancelled by the system), i.e. dead without our asking.
_IB_STATUS: Mapping[str, IntentStatus] = {
    "PendingSubmit": _S.SENT,
    "ApiPending": _S.SENT,
    "PreSubmitted": _S.WORKING,
    "Submitted": _S.WORKING,
    "PendingCancel": _S.WORKING,
    "Filled": _S.FILLED,
    "Cancelled": _S.CANCELLED,
    "ApiCancelled": _S.CANCELLED,
    "Inactive": _S.REJECTED,
}


def status_from_ib(ib_status: str, filled: float | None = None) -> IntentStatus | None:
    """Our status for an IB order status string; None for a string we do not know.

    A live order (sent/working) with a usable ``filled`` > 0 is PARTIALLY_FILLED; a dead one
    keeps its terminal status whatever it filled (the quantity says how much).
    """
    mapped = _IB_STATUS.get(ib_status.strip())
    if mapped is None:
        return None
    if mapped in (_S.SENT, _S.WORKING) and usable_number(filled) and (filled or 0) > 0:
        return _S.PARTIALLY_FILLED
    return mapped


class OrderIntent(_Model):
    """One order as the journal knows it.

    ``filled`` counts combo units (as IB's order status reports them), not leg contracts.
    ``avg_fill_price`` is per share of the combo (None until something filled).
    ``commission`` is the sum of the known commissions of this intent's fills (None until
    IB reported one). ``working_limit`` is the limit last sent to IB (the spec's limit until
    a walk step replaces it; None for MKT). ``walk_step`` is the last walk step journaled.
    """

    intent_id: str
    created_at: AwareDatetime
    spec: SpreadOrderSpec
    status: IntentStatus
    order_id: int | None = None
    perm_id: int | None = None
    filled: int = Field(0, ge=0)
    avg_fill_price: float | None = None
    commission: float | None = None
    last_error_code: int | None = None
    last_error_text: str | None = None
    walk_step: int = Field(0, ge=0)
    working_limit: float | None = None
    updated_at: AwareDatetime

    @field_validator("intent_id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _INTENT_ID.match(v):
            raise ValueError(f"intent id must be 'tt-' + 12 lowercase hex characters, got {v!r}")
        return v

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def remaining(self) -> int:
        """Contracts still to fill (0 once filled or over-filled)."""
        return max(0, self.spec.quantity - self.filled)


@dataclass(frozen=True, slots=True)
class IntentUpdate:
    """What IB says about one intent, as raw as IB reports it; see :func:`apply_update`.

    None means "not reported". Produced by the broker's event handlers and by
    :func:`tui_trader.state.reconcile.reconcile`; applied by the journal.
    """

    intent_id: str
    status: IntentStatus | None = None
    order_id: int | None = None
    perm_id: int | None = None
    filled: float | None = None
    avg_fill_price: float | None = None
    error_code: int | None = None
    error_text: str | None = None


def whole_units(x: float) -> int:
    """A reported fill quantity as whole combo units (1e-9 slack for 2.9999999999)."""
    return math.floor(x + 1e-9)


def apply_update(intent: OrderIntent, update: IntentUpdate, now: datetime) -> OrderIntent:
    """The intent after ``update``; the same object when nothing changes.

    Field rules: status through :func:`next_status`; ``filled`` only grows; the average fill
    price is taken when usable and something has filled; order and perm ids when positive
    (the latest wins: a reconnect with the same clientId reports the same ids); an error
    code/text when given. ``updated_at`` moves to ``now`` only on a real change, so applying
    the same update twice is a no-op.
    """
    if update.intent_id != intent.intent_id:
        raise ValueError(f"update for {update.intent_id} applied to {intent.intent_id}")
    changes: dict[str, object] = {}
    if update.status is not None:
        status = next_status(intent.status, update.status)
        if status != intent.status:
            changes["status"] = status
    filled = intent.filled
    if usable_number(update.filled) and update.filled is not None and update.filled >= 0:
        filled = max(filled, whole_units(update.filled))
        if filled != intent.filled:
            changes["filled"] = filled
    avg = update.avg_fill_price
    if filled > 0 and avg is not None and usable_number(avg) and avg != intent.avg_fill_price:
        changes["avg_fill_price"] = avg
    if update.order_id is not None and update.order_id > 0 and update.order_id != intent.order_id:
        changes["order_id"] = update.order_id
    if update.perm_id is not None and update.perm_id > 0 and update.perm_id != intent.perm_id:
        changes["perm_id"] = update.perm_id
    if update.error_code is not None and update.error_code != intent.last_error_code:
        changes["last_error_code"] = update.error_code
    if update.error_text is not None and update.error_text != intent.last_error_text:
        changes["last_error_text"] = update.error_text
    if not changes:
        return intent
    changes["updated_at"] = now
    return OrderIntent.model_validate({**intent.model_dump(), **changes})


class Fill(_Model):
    """One execution of one contract, as IB reports it (``side`` BOT/SLD, per-leg price).

    ``quantity`` is in that contract's units. ``commission`` is None until IB's commission
    report arrives (its 1.797e308 "not yet known" marker, NaN included, becomes None).
    ``intent_id`` is set once the fill is matched to an intent by ``order_ref``.
    """

    exec_id: str = Field(min_length=1)
    intent_id: str | None = None
    order_id: int
    perm_id: int
    con_id: int
    symbol: str
    side: FillSide
    quantity: float = Field(gt=0)
    price: float
    time: AwareDatetime
    commission: float | None = None
    order_ref: str | None = None

    @field_validator("commission", mode="before")
    @classmethod
    def _commission_marker(cls, v: object) -> object:
        if isinstance(v, int | float) and not usable_number(float(v)):
            return None
        return v

    @field_validator("order_ref", mode="before")
    @classmethod
    def _empty_ref(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("price")
    @classmethod
    def _price_not_marker(cls, v: float) -> float:
        return _no_marker("price", v)


@dataclass(frozen=True, slots=True)
class IbOrderSnapshot:
    """One order as IB reports it in open or completed orders, unvalidated on purpose.

    ``status`` is IB's string ("PendingSubmit", "PreSubmitted", "Submitted", "Filled",
    "Cancelled", "ApiCancelled", "Inactive", ...); numbers may carry IB's markers. Reading
    them is :func:`status_from_ib`'s and :func:`apply_update`'s job. ``note`` is IB's own
    words about a completed order (``completedStatus``: for a rejected order, the reason,
    since IB reports rejections as "Cancelled"); None for open orders or when IB gave none.
    """

    order_ref: str | None
    order_id: int
    perm_id: int
    status: str
    filled: float
    remaining: float
    avg_fill_price: float
    note: str | None = None


class EventLevel(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class JournalEvent(_Model):
    """A line in the journal's event log (and the TUI's event pane).

    ``kind`` is a short category ("order", "fill", "reconcile", "connection", "risk", ...);
    ``intent_id`` ties the event to an order when there is one.
    """

    time: AwareDatetime
    level: EventLevel
    kind: str = Field(min_length=1)
    text: str
    intent_id: str | None = None


class ConnectionState(StrEnum):
    """The link to IB as the status bar shows it.

    DEGRADED: connected but something is wrong (farm down, data throttled, errors);
    MAINTENANCE: IB's nightly/weekend reset window, reconnecting is expected to fail.
    """

    CONNECTED = "CONNECTED"
    DEGRADED = "DEGRADED"
    RECONNECTING = "RECONNECTING"
    DOWN = "DOWN"
    MAINTENANCE = "MAINTENANCE"


class AccountMode(StrEnum):
    """Which kind of IB account the session trades: IB paper accounts start with "D"."""

    PAPER = "PAPER"
    LIVE = "LIVE"
