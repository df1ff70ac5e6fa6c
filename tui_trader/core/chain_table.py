"""The option chain as a trader reads it (issue 13, "trade any symbol"): one expiry, one row
per strike, calls | strike | puts, and the vertical a trader picks from it.

Plain values and functions, no broker: the engine's chain desk fills :class:`ChainView`
from IB's quotes (NaN where IB sent nothing: a dash on screen, never a guess) and the
chain screen draws it; :func:`check_pick` is the one rule for which pairs of strikes make
a SPEC 5 vertical, so the screen and the engine refuse a wrong pick in the same words.

Only SPEC 5's two debit verticals are offered: LONG is a bull call (buy call K1, sell
call K2 > K1), SHORT a bear put (buy put K1, sell put K2 < K1). The preview, the risk gates
and the confirmation are the signal path's own (``PreviewDesk.preview_spread``).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

Direction = Literal["LONG", "SHORT"]

#: A ticker as typed: letters first, then letters, digits, a dot or a space (``BRK B``).
_TICKER = re.compile(r"^[A-Z][A-Z0-9. ]{0,11}$")

#: The names the screen shows for each direction (SPEC 5).
KIND: dict[Direction, str] = {"LONG": "bull call", "SHORT": "bear put"}


def clean_ticker(text: str) -> str | None:
    """The ticker ``text`` names (upper case, trimmed), or None when it cannot be one."""
    sym = " ".join(text.strip().upper().split())
    return sym if _TICKER.match(sym) else None


@dataclass(frozen=True, slots=True)
class OptionSide:
    """One contract's numbers in a chain row (NaN: IB sent none; ``con_id`` 0: the strike
    is not listed for this right)."""

    con_id: int = 0
    bid: float = math.nan
    ask: float = math.nan
    iv: float = math.nan
    delta: float = math.nan
    #: contracts, from IB's generic tick 101 (tick 27 for a call, 28 for a put)
    open_interest: float = math.nan


@dataclass(frozen=True, slots=True)
class ChainRow:
    """One strike of one expiry: the call and the put."""

    strike: float
    call: OptionSide = field(default_factory=OptionSide)
    put: OptionSide = field(default_factory=OptionSide)


@dataclass(frozen=True, slots=True)
class ChainView:
    """The chain screen's slice: ``symbol`` (empty: no chain open), the expiries IB lists
    and the one shown, its rows by strike ascending, the underlying's price, and ``error``
    (one sentence) when the chain could not be built."""

    symbol: str = ""
    spot: float = math.nan
    expiries: tuple[date, ...] = ()
    expiry_index: int = 0
    rows: tuple[ChainRow, ...] = ()
    loading: bool = False
    error: str | None = None
    updated_at: datetime | None = None

    @property
    def expiry(self) -> date | None:
        if 0 <= self.expiry_index < len(self.expiries):
            return self.expiries[self.expiry_index]
        return None


def nearest_index(strikes: Sequence[float], spot: float) -> int | None:
    """The index of the strike nearest ``spot`` in ascending ``strikes`` (the lower one on
    a tie); None when there is no strike or no price."""
    if not strikes or not (math.isfinite(spot) and spot > 0):
        return None
    i = bisect.bisect_left(strikes, spot)
    if i == 0:
        return 0
    if i == len(strikes):
        return len(strikes) - 1
    return i - 1 if spot - strikes[i - 1] <= strikes[i] - spot else i


def visible_strikes(grid: Sequence[float], spot: float, count: int, shift: int = 0) -> list[float]:
    """The ``count`` listed strikes centred on the one nearest ``spot``, moved ``shift``
    strikes higher (< 0: lower) and kept inside the grid (fewer when the grid is shorter):
    the only ones a chain screen streams, so a chain costs ``2 x count`` lines, not the
    whole listing."""
    strikes = sorted({float(k) for k in grid if math.isfinite(k) and k > 0})
    mid = nearest_index(strikes, spot)
    if mid is None or count <= 0:
        return []
    lo = max(0, min(mid - count // 2 + shift, len(strikes) - count))
    return strikes[lo : lo + count]


def clamp_shift(grid: Sequence[float], spot: float, count: int, shift: int) -> int:
    """``shift`` limited so the window of :func:`visible_strikes` stays inside the grid
    (0 without a price or when the grid is no longer than the window): a press back
    after hitting the edge moves at once."""
    strikes = sorted({float(k) for k in grid if math.isfinite(k) and k > 0})
    mid = nearest_index(strikes, spot)
    if mid is None or len(strikes) <= count:
        return 0
    base = mid - count // 2
    return min(max(shift, -base), len(strikes) - count - base)


def first_expiry_index(expiries: Sequence[date], today: date, min_dte: int) -> int:
    """The expiry a chain opens on: the first with at least ``min_dte`` days (SPEC 5's
    window), else the last listed."""
    for i, e in enumerate(expiries):
        if (e - today).days >= min_dte:
            return i
    return max(0, len(expiries) - 1)


def check_pick(
    direction: Direction, long_strike: float | None, short_strike: float | None
) -> str | None:
    """Why ``long``/``short`` strikes are not a SPEC 5 vertical of ``direction`` (one
    sentence), or None when they are."""
    kind = KIND[direction]
    if long_strike is None or short_strike is None:
        missing = "long" if long_strike is None else "short"
        return f"Pick the {missing} strike of the {kind} first."
    if long_strike == short_strike:
        return "The long and the short strike must differ."
    if direction == "LONG" and not long_strike < short_strike:
        return (
            f"A bull call buys the lower strike: long {long_strike:g} must be below "
            f"short {short_strike:g}."
        )
    if direction == "SHORT" and not long_strike > short_strike:
        return (
            f"A bear put buys the higher strike: long {long_strike:g} must be above "
            f"short {short_strike:g}."
        )
    return None


def side_of(row: ChainRow, direction: Direction) -> OptionSide:
    """The contract a ``direction`` vertical trades at this strike (calls for LONG)."""
    return row.call if direction == "LONG" else row.put
