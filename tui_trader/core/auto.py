"""SPEC 11's auto-trader as pure decisions: which scan rows become candidates, which
states a candidate may move through, in which order queued candidates are tried inside
the entry window, and how many may still be sent today.

The engine's auto-trader component (I/O: chains, the order desk, the journal) calls these;
nothing here fetches or sends. The entry itself (price, size, gates) is
:func:`tui_trader.core.entry.plan_entry`, the same function as a key press.

Decisions (the README carries them):

- **A key is (New York trading day, symbol, direction)** and is journaled before anything
  is sent, so one key is tried at most once a day whatever happens, restarts included.
- **Terminal states** are FILLED, CANCELLED, REJECTED, EXPIRED, DRY_RUN and SKIPPED with a
  final reason. ``SKIPPED limit_reached`` is *not* final: SPEC 11 keeps such a candidate
  for the next scan in the window (a position may close, a slot may free), so it goes
  back to QUEUED then. Every other SKIPPED reason (``signal_gone``, ``no_spread``,
  ``gate:<CODE>``, ``stale``, ``not_eligible``) is final for the day: trying again would
  make "at most once a day" a lie.
- **Ordering inside the window**: by the best spread's reward/risk desc, then POP desc,
  then symbol asc (SPEC 11); a candidate whose chain gave no spread sorts last and is
  skipped ``no_spread`` when its turn comes.
- **Slots**: ``min(max_daily_trades - entries_today, max_positions - open_spreads)``,
  never negative; SENT candidates count as open (their order is working).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from tui_trader.core.settings import RiskSettings

if TYPE_CHECKING:  # a type only: core.scanner pulls numba and pandas (the journal needs
    # this module, and the dashboard's first frame must not wait for those)
    from tui_trader.core.scanner import SymbolScan

Direction = Literal["LONG", "SHORT"]


class AutoMode(StrEnum):
    """The auto-trader's state in the footer (SPEC 11). HALTED: armed, but a breaker or the
    kill switch stops entries (exits go on)."""

    OFF = "OFF"
    ARMED = "ARMED"
    DRY_RUN = "DRY-RUN"
    HALTED = "HALTED"


class CandidateState(StrEnum):
    QUEUED = "QUEUED"
    SELECTING = "SELECTING"
    SENT = "SENT"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    SKIPPED = "SKIPPED"
    EXPIRED = "EXPIRED"
    DRY_RUN = "DRY-RUN"


LIMIT_REACHED = "limit_reached"

#: Where each state may go next (SPEC 11's chart, plus SKIPPED limit_reached -> QUEUED).
_NEXT: dict[CandidateState, frozenset[CandidateState]] = {
    CandidateState.QUEUED: frozenset(
        {CandidateState.SELECTING, CandidateState.SKIPPED, CandidateState.EXPIRED}
    ),
    CandidateState.SELECTING: frozenset(
        {
            CandidateState.SENT,
            CandidateState.SKIPPED,
            CandidateState.DRY_RUN,
            CandidateState.QUEUED,  # a drop while selecting: try again at the next scan
        }
    ),
    CandidateState.SENT: frozenset(
        {CandidateState.FILLED, CandidateState.CANCELLED, CandidateState.REJECTED}
    ),
    CandidateState.SKIPPED: frozenset({CandidateState.QUEUED, CandidateState.EXPIRED}),
}


@dataclass(frozen=True, slots=True, order=True)
class CandidateKey:
    day: date
    symbol: str
    direction: Direction

    def __str__(self) -> str:
        return f"{self.day.isoformat()} {self.symbol} {self.direction}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (day, symbol, direction) and what became of it. ``reason`` says why it is in
    its state (SKIPPED's reason, a rejection's text); ``intent_id`` the order sent."""

    key: CandidateKey
    strategy: str
    state: CandidateState
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    intent_id: str | None = None
    #: The chosen spread and order, for the Automation screen and ``tui-trader journal``:
    #: expiry, right, long_strike, short_strike, debit, quantity, reward_risk, pop.
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_final(self) -> bool:
        if self.state is CandidateState.SKIPPED:
            return self.reason != LIMIT_REACHED
        return self.state not in _NEXT

    def moved(self, state: CandidateState, now: datetime, reason: str | None = None,
              intent_id: str | None = None,
              detail: Mapping[str, Any] | None = None) -> Candidate:  # fmt: skip
        """This candidate in ``state``; ValueError for a move SPEC 11 does not allow."""
        if state not in _NEXT.get(self.state, frozenset()) or (
            self.state is CandidateState.SKIPPED and self.reason != LIMIT_REACHED
        ):
            raise ValueError(f"{self.key}: {self.state.value} cannot become {state.value}")
        return replace(
            self,
            state=state,
            updated_at=now,
            reason=reason,
            intent_id=intent_id if intent_id is not None else self.intent_id,
            detail=dict(detail) if detail is not None else self.detail,
        )


def candidates_from_scan(
    rows: Iterable[SymbolScan], day: date, known: Iterable[CandidateKey], now: datetime
) -> list[Candidate]:
    """New QUEUED candidates: every tradable row (eligible, LONG or SHORT, never CONFLICT)
    whose key is not known yet today. The strategy is the first signal for the direction
    (SPEC 12: the first of SPEC 4's table that fired)."""
    seen = set(known)
    out: list[Candidate] = []
    for row in rows:
        if not row.tradable or row.direction not in ("LONG", "SHORT"):
            continue
        key = CandidateKey(day, row.symbol, row.direction)
        if key in seen:
            continue
        seen.add(key)
        strategy = row.signals[0] if row.signals else "?"
        out.append(Candidate(key, strategy, CandidateState.QUEUED, now, now))
    return out


def still_signals(row: SymbolScan | None, direction: Direction) -> bool:
    """The re-check at the window with fresh data: the symbol is still tradable in the
    same direction."""
    return row is not None and row.tradable and row.direction == direction


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its best spread's reward/risk and POP (None: no spread)."""

    candidate: Candidate
    reward_risk: float | None
    pop: float | None


def attempt_key(
    reward_risk: float | None, pop: float | None, symbol: str
) -> tuple[int, float, float, str]:
    """The sort key of SPEC 11's order of attempts (module doc), for callers that rank
    something other than :class:`Ranked` (the backtester's candidates, SPEC 12)."""
    if reward_risk is None:
        return (1, 0.0, 0.0, symbol)
    return (0, -reward_risk, -(pop or 0.0), symbol)


def attempt_order(items: Sequence[Ranked]) -> list[Ranked]:
    """SPEC 11's order of attempts (module doc)."""
    return sorted(items, key=lambda r: attempt_key(r.reward_risk, r.pop, r.candidate.key.symbol))


def slots_left(entries_today: int, open_spreads: int, risk: RiskSettings) -> int:
    """How many more entries today's limits allow (module doc)."""
    return max(0, min(risk.max_daily_trades - entries_today, risk.max_positions - open_spreads))
