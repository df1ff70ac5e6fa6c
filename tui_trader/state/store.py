"""The reactive store: the one place the engine writes state and the TUI reads it.

Each *slice* is an immutable value (a frozen dataclass) identified by its class:
``store.get(Health)``, ``store.set(Health, Health(...))``, ``store.update(Health,
state=ConnectionState.DOWN)``. Decisions:

- **Replace, never mutate.** A slice value is frozen; writers build a new one. Readers can
  hold a value without it changing under them, and "did it change?" is plain ``==``. So
  use None, not NaN, for "unknown" in a slice (NaN != NaN would notify on every write).
- **Notify only on change**, with a per-slice ``version`` that grows by one per change, so a
  UI can skip redraws it has done already (remember the version it last rendered).
- **Delivery is synchronous and in order**: callbacks run in subscription order, on the
  caller's thread (the asyncio loop), before ``set`` returns. A change made *inside* a
  callback is queued and delivered after the current one has reached every subscriber, so
  every subscriber sees a slice's changes in the order they happened. A failing subscriber
  is logged and the others still run. Coalescing bursts into a few redraws a second is the
  UI's job, not the store's.
- No Textual import: the engine runs headless too.
- **Cheap to import.** The dashboard draws its first frame over a store before the engine
  exists, so this module imports only what the slices need at run time (their defaults);
  the types of their fields are imported for type checking only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from loguru import logger

from tui_trader.core.chain_table import ChainView as ChainView

# Re-exported: the UI and broker name these through the store, where they first lived.
from tui_trader.core.models import AccountMode as AccountMode
from tui_trader.core.models import ConnectionState as ConnectionState
from tui_trader.core.risk import BreakerState

if TYPE_CHECKING:
    # Field types only (annotations are strings here). core.scanner pulls numba and pandas,
    # core.spreads scipy: half a second the dashboard's first frame must not wait for.
    from tui_trader.core.models import JournalEvent, OrderIntent, SpreadOrderSpec
    from tui_trader.core.position_risk import SpreadRisk
    from tui_trader.core.pricing import OrderPrice, PriceRefusal
    from tui_trader.core.risk import GateResult
    from tui_trader.core.scanner import ScanReport
    from tui_trader.core.spreads import SpreadSelection


@dataclass(frozen=True, slots=True)
class Health:
    """Connection and market-data pacing. ``oldest_quote_age_s`` is seconds (None: no quotes)."""

    state: ConnectionState = ConnectionState.DOWN
    since: datetime | None = None
    last_error_code: int | None = None
    last_error_message: str | None = None
    last_error_time: datetime | None = None
    lines_active: int = 0
    lines_max: int = 0
    line_evictions: int = 0
    lines_queued: int = 0
    request_queue_depth: int = 0
    throttled: bool = False
    oldest_quote_age_s: float | None = None
    #: Where the session connects (``host:port``), and while its attempts fail why (IB's
    #: or the system's words) and what to check, these two None once connected (issue 13).
    endpoint: str | None = None
    connect_problem: str | None = None
    connect_hint: str | None = None
    #: Universe symbols whose daily bars are loaded (or failed) of those wanted, while a
    #: load runs: the footer's ``bars 312/500`` (issue 12; 0/0 before the first load).
    bars_loaded: int = 0
    bars_total: int = 0


@dataclass(frozen=True, slots=True)
class ScanResults:
    """The latest scan; ``running`` while one is under way, ``error`` when the last failed."""

    report: ScanReport | None = None
    updated_at: datetime | None = None
    running: bool = False
    error: str | None = None
    #: The last scan's duration (seconds: live prices applied + core scan) and rate.
    duration_s: float | None = None
    symbols_per_s: float | None = None
    #: Universe symbols left out of the scan and why (IB does not know them, no bars).
    problems: tuple[tuple[str, str], ...] = ()
    #: Seconds since each symbol's live price (None: none yet), refreshed every few
    #: seconds: a universe past the line budget is priced by rotating snapshots (issue 12).
    price_ages: tuple[tuple[str, float | None], ...] = ()
    #: The daily-bar load's progress, as in ``Health`` (the Scanner's title watches this
    #: slice only): ``report`` covers the loaded symbols while ``bars_loaded < bars_total``.
    bars_loaded: int = 0
    bars_total: int = 0


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """One signalled underlying's ranked spreads (``selection`` compares by identity)."""

    symbol: str
    direction: str
    spot: float
    selection: SpreadSelection


@dataclass(frozen=True, slots=True)
class Candidates:
    sets: tuple[CandidateSet, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PreviewLeg:
    """One leg of the previewed spread with its live quote and greeks (None: unknown).

    ``action`` is the leg's side when the combo is bought (BUY long, SELL short); greeks
    are per share in core.options' units (vega per vol point, theta per calendar day).
    """

    con_id: int
    action: str
    expiry: str
    strike: float
    right: str
    bid: float | None = None
    ask: float | None = None
    mid: float | None = None
    iv: float | None = None
    delta: float | None = None
    gamma: float | None = None
    vega: float | None = None
    theta: float | None = None
    quote_age_s: float | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """The order about to be confirmed: what would be sent, at what price, and the verdict
    of the risk gates (``gate`` None until they ran).

    Debits are per share of the combo; margins and commissions in account currency, from
    IB's what-if answer (None until it arrived, or where IB left a value unset).
    ``what_if_warning`` is IB's warning text or why no what-if answer is available.
    Net greeks are long leg minus short leg, per share.
    """

    spec: SpreadOrderSpec | None = None
    price: OrderPrice | PriceRefusal | None = None
    gate: GateResult | None = None
    max_loss: float | None = None
    updated_at: datetime | None = None
    legs: tuple[PreviewLeg, ...] = ()
    quantity: int | None = None
    natural_debit: float | None = None
    mid_debit: float | None = None
    limit_debit: float | None = None
    net_delta: float | None = None
    net_gamma: float | None = None
    net_vega: float | None = None
    net_theta: float | None = None
    init_margin_change: float | None = None
    maint_margin_change: float | None = None
    equity_with_loan_change: float | None = None
    commission: float | None = None
    min_commission: float | None = None
    max_commission: float | None = None
    what_if_warning: str | None = None
    what_if_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WalkInfo:
    """A working order being walked (SPEC 6): the step reached, of ``max_steps``, the limit
    now working (per share; None for MKT) and when the next step is due."""

    intent_id: str
    step: int
    max_steps: int
    limit: float | None
    next_at: datetime | None


@dataclass(frozen=True, slots=True)
class Orders:
    """Every journaled intent the UI shows, oldest first (``OrderIntent`` carries the
    filled quantity, average fill price, commission, walk step and working limit);
    ``walking`` the orders whose walk is running."""

    intents: tuple[OrderIntent, ...] = ()
    walking: tuple[WalkInfo, ...] = ()
    updated_at: datetime | None = None

    @property
    def active(self) -> tuple[OrderIntent, ...]:
        return tuple(i for i in self.intents if not i.is_terminal)


@dataclass(frozen=True, slots=True)
class PositionLeg:
    """One option position as IB reports it; ``quantity`` signed (short < 0).

    ``avg_cost`` is IB's: per contract, multiplier and commissions included. ``bid``/``ask``
    /``mid`` are the live quote (None without a usable one), ``market_price`` IB's mark;
    ``day_pnl`` is the position's day P&L from reqPnLSingle. A stock has ``sec_type`` STK,
    no expiry/right, strike 0 and multiplier 1.
    """

    con_id: int
    symbol: str
    expiry: str
    strike: float
    right: str
    quantity: float
    avg_cost: float
    market_price: float | None = None
    mid: float | None = None
    sec_type: str = "OPT"
    day_pnl: float | None = None
    multiplier: int = 100
    bid: float | None = None
    ask: float | None = None
    #: IB's model greeks per share for this leg's streamed ticker (None: none yet).
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None


@dataclass(frozen=True, slots=True)
class SpreadPosition:
    """Legs grouped into a spread (SPEC 10): by our journal (``intent_id``) or, for legs we
    did not place, by pairing (``external``). ``pnl`` in account currency from leg mids.

    ``legs`` hold this spread's share of each position (long first, quantity signed).
    ``quantity`` is spread units; ``cost`` the money paid to open them (IB's average costs,
    commissions included, account currency); ``mark`` the combo's value per share from leg
    mids; ``pnl_pct`` = pnl / cost; ``dte`` calendar days to expiry (New York date).
    ``direction`` is LONG (bull call) / SHORT (bear put) for a debit spread, None for a
    pair that is not one (a credit spread, a single leg). Stop/target levels are prices of
    the underlying set by the exits engine; distances are (level - spot) / spot.
    """

    underlying: str
    legs: tuple[PositionLeg, ...]
    intent_id: str | None = None
    external: bool = False
    pnl: float | None = None
    quantity: int = 0
    intent_ids: tuple[str, ...] = ()
    direction: str | None = None
    expiry: str | None = None
    cost: float | None = None
    mark: float | None = None
    pnl_pct: float | None = None
    day_pnl: float | None = None
    dte: int | None = None
    stop_level: float | None = None
    target_level: float | None = None
    stop_distance: float | None = None
    target_distance: float | None = None
    #: The SPEC 9 exit rule that holds now (ExitReason value), None while none does.
    exit_reason: str | None = None
    #: Greeks, delta in dollars, breakeven, max profit/loss (core.position_risk).
    risk: SpreadRisk | None = None


@dataclass(frozen=True, slots=True)
class Positions:
    spreads: tuple[SpreadPosition, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """Account values in account currency; ``account_masked`` only (never the full id).

    ``mode`` is what the account is (IB paper accounts start with "D"); ``mode_problem``
    says why the configured ``[execution] mode`` does not match it (trading is refused),
    None when it does.
    """

    net_liquidation: float | None = None
    available_funds: float | None = None
    buying_power: float | None = None
    day_pnl: float | None = None
    mode: AccountMode | None = None
    account_masked: str | None = None
    updated_at: datetime | None = None
    unrealized_pnl: float | None = None
    realized_pnl: float | None = None
    mode_problem: str | None = None


DEFAULT_MAX_EVENTS = 200


@dataclass(frozen=True, slots=True)
class AutoCandidateRow:
    """One auto-trader candidate as the Automation screen shows it (SPEC 11).

    ``state`` is a :class:`tui_trader.core.auto.CandidateState` value (QUEUED, SELECTING,
    SENT, FILLED, CANCELLED, REJECTED, SKIPPED, EXPIRED, DRY-RUN); ``spread`` e.g.
    ``"20261218 520/535 C"``; ``debit`` per share; times in the engine's clock."""

    key: str
    symbol: str
    direction: str
    strategy: str
    state: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    intent_id: str | None = None
    spread: str | None = None
    debit: float | None = None
    quantity: int | None = None


@dataclass(frozen=True, slots=True)
class AutoExitRow:
    """A closing order the auto-trader sent today for a spread whose exit rule held."""

    spread_key: str
    symbol: str
    rule: str
    state: str
    attempts: int
    updated_at: datetime
    intent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Automation:
    """The auto-trader (SPEC 11): its mode (OFF, ARMED, DRY-RUN, HALTED), today's
    candidates and exits, and how much of each limit is used."""

    mode: str = "OFF"
    live: bool = False
    entries_today: int = 0
    max_daily_trades: int = 0
    open_spreads: int = 0
    max_positions: int = 0
    universe_size: int = 0
    window: str | None = None
    candidates: tuple[AutoCandidateRow, ...] = ()
    exits: tuple[AutoExitRow, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EventLog:
    """The most recent events, oldest first, at most ``max_events`` (a bounded deque as an
    immutable value: :meth:`Store.add_event` makes the next one)."""

    items: tuple[JournalEvent, ...] = ()
    max_events: int = DEFAULT_MAX_EVENTS

    def __post_init__(self) -> None:
        if self.max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {self.max_events}")
        if len(self.items) > self.max_events:
            object.__setattr__(self, "items", self.items[-self.max_events :])

    def appended(self, event: JournalEvent) -> EventLog:
        return replace(self, items=(*self.items, event))


@dataclass(frozen=True, slots=True)
class Alerts:
    """SPEC 13's delivery, written only by ``tui_trader.alerts``: the channels whose last
    delivery failed, each with when its failing streak began (engine clock), oldest first;
    ``unsent`` alerts wait in the journal's outbox."""

    failing: tuple[tuple[str, datetime], ...] = ()
    unsent: int = 0


@dataclass(frozen=True, slots=True)
class Preflight:
    """``tui-trader doctor``'s checks as the dashboard runs them once at start (issue 11),
    written only by ``tui_trader.engine.doctor_start``: ``state`` is ``off`` (not run:
    ``[doctor] at_start = false``, or no engine yet), ``running``, ``done`` (``crosses``
    names the checks that failed, of ``checks``), ``skipped`` (no line for it, see that
    module) or ``failed`` (it could not run; the Log says why)."""

    state: Literal["off", "running", "done", "skipped", "failed"] = "off"
    crosses: tuple[str, ...] = ()
    checks: int = 0
    finished_at: datetime | None = None


#: The slices every store holds, with their defaults (BreakerState: the risk banner).
SLICES: tuple[type[Any], ...] = (
    Health,
    ScanResults,
    Candidates,
    Preview,
    Orders,
    Positions,
    Account,
    EventLog,
    BreakerState,
    Automation,
    Alerts,
    Preflight,
    ChainView,
)


@dataclass(frozen=True, slots=True)
class Change[T]:
    """What a subscriber receives: the slice, its new and previous value, its new version."""

    slice: type[T]
    value: T
    previous: T
    version: int


Callback = Callable[[Change[Any]], None]


@dataclass(eq=False, slots=True)
class _Subscription:
    slice: type[Any] | None
    callback: Callback
    active: bool = True


@dataclass(slots=True)
class _Entry:
    value: Any
    version: int = 0
    subscribers: list[_Subscription] = field(default_factory=list)


class Store:
    """Typed slices with change notification; see the module doc.

    ``initial`` values replace the defaults of their slices (e.g. a restored BreakerState or
    an EventLog with another ``max_events``).
    """

    def __init__(self, initial: Iterable[object] = ()) -> None:
        self._entries: dict[type[Any], _Entry] = {cls: _Entry(cls()) for cls in SLICES}
        for value in initial:
            self._entry(type(value)).value = value
        self._subscriptions: list[_Subscription] = []
        self._pending: deque[tuple[_Subscription, Change[Any]]] = deque()
        self._delivering = False

    def _entry(self, slice: type[Any]) -> _Entry:
        try:
            return self._entries[slice]
        except KeyError:
            raise KeyError(f"{slice!r} is not a store slice") from None

    def get[T](self, slice: type[T]) -> T:
        return cast(T, self._entry(slice).value)

    def version(self, slice: type[Any]) -> int:
        """How many times the slice has changed (0: still the initial value)."""
        return self._entry(slice).version

    def set[T](self, slice: type[T], value: T) -> bool:
        """Replace the slice's value; True (and subscribers notified) when it changed."""
        entry = self._entry(slice)
        if type(value) is not slice:
            raise TypeError(f"{slice.__name__} slice cannot hold a {type(value).__name__}")
        previous = entry.value
        if value == previous:
            return False
        entry.value = value
        entry.version += 1
        change = Change(slice, value, cast(T, previous), entry.version)
        for sub in self._subscriptions:
            if sub.slice is None or sub.slice is slice:
                self._pending.append((sub, change))
        self._deliver()
        return True

    def update[T](self, slice: type[T], **changes: Any) -> T:
        """Set the slice to a copy of its value with ``changes``; returns the new value.

        Unknown field names raise TypeError (a typo must not pass silently).
        """
        current = self.get(slice)
        names = {f.name for f in fields(cast(Any, current))}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise TypeError(f"{slice.__name__} has no field(s) {', '.join(unknown)}")
        new = cast(T, replace(cast(Any, current), **changes))
        self.set(slice, new)
        return new

    def add_event(self, event: JournalEvent) -> None:
        """Append to the bounded event log (the oldest drop off)."""
        self.set(EventLog, self.get(EventLog).appended(event))

    @overload
    def subscribe[T](
        self, slice: type[T], callback: Callable[[Change[T]], None]
    ) -> Callable[[], None]: ...
    @overload
    def subscribe(self, slice: None, callback: Callback) -> Callable[[], None]: ...
    def subscribe(self, slice: type[Any] | None, callback: Callback) -> Callable[[], None]:
        """Call ``callback`` on every change of ``slice`` (None: of every slice).

        Returns the unsubscribe function (idempotent; effective at once, also for changes
        already queued).
        """
        if slice is not None:
            self._entry(slice)
        sub = _Subscription(slice, callback)
        self._subscriptions.append(sub)

        def unsubscribe() -> None:
            if sub.active:
                sub.active = False
                self._subscriptions.remove(sub)

        return unsubscribe

    def _deliver(self) -> None:
        if self._delivering:
            return  # the outer call delivers what was just queued, in order
        self._delivering = True
        try:
            while self._pending:
                sub, change = self._pending.popleft()
                if not sub.active:
                    continue
                try:
                    sub.callback(change)
                except Exception:
                    logger.exception(
                        "store subscriber {!r} failed on a {} change (version {})",
                        getattr(sub.callback, "__qualname__", sub.callback),
                        change.slice.__name__,
                        change.version,
                    )
        finally:
            self._delivering = False
