"""Vertical debit spreads (SPEC 5): build, filter, measure and rank a whole chain at once.

Every candidate pair of a chain is evaluated with numpy arrays; no Python object exists per
pair until a caller asks for :meth:`SpreadSelection.to_dict`. Many chains (one per
underlying) can be evaluated in one pass with :func:`select_spreads_batch`, which is what a
scanner with many signals should call; :func:`select_spreads_flat` takes the chains as
shared columns, each with its own day, for callers with many thousands of small chains
(the back-test), and can keep only each chain's head of the ranking (``top_only``).

Decisions the SPEC leaves open (the README should carry the same list):

- **Chain rows.** An :class:`OptionChain` holds one contract per (expiry, right, strike);
  duplicates are refused (two trading classes of one underlying must not be mixed). Rows are
  kept sorted by expiry, then right (puts before calls), then strike ascending;
  construction reorders all arrays together, so a row index means the same contract in
  every array (``con_id`` included).
- **Expiry** is ``datetime64[D]`` (a calendar date; integer input is refused because an
  int such as 20250117 would silently mean a day count since 1970).
- **Candidates** are counted for every structurally possible pair (same expiry and right,
  short leg 1..``max_strikes_apart`` listed strikes further OTM), whatever the DTE: an
  expiry outside the DTE window produces candidates that are rejected as ``DTE``.
  Candidate order (which ties in the ranking keep) is chain order of the long leg
  (expiry, then strike ascending), then strikes apart 1..n.
- **BAD_QUOTE**: bid or ask of either leg is NaN/inf, ``ask <= 0``, ``bid < 0``,
  ``bid > ask`` or IB's 1.7976931348623157e308; -1 and -2 are caught by the sign rules. A
  bid of exactly 0 is a valid quote (nobody bids), so the short leg can be sold for 0.
- **NO_GREEKS**: POP needs the IV of both legs and net delta needs the delta of both legs,
  so all four are required. An IV is usable when finite, > 0 and not the 1.797e308 marker
  (-1/-2 fail "> 0"). A delta is usable when finite and signed like its right: a call's in
  [0, 1], a put's in [-1, 0]. So IB's -2 marker fails for both rights, -1 fails for a call,
  and -1 is accepted as a deep in-the-money put's delta.
- **COST** also rejects a non-positive natural debit (D <= 0): at the natural prices that is
  a credit, not a debit spread, and the cost/max loss the SPEC defines would be <= 0.
- **Float noise.** D = long.ask - short.bid is a difference of decimal prices, so a spread
  exactly at a limit can land a few ulps on the wrong side (8.05 - 3.05 = 5.000000000000001,
  a cost of 500.0000000000001; D = 0.40 on a 1.00 width gives (1 - 0.4) / 0.4 =
  1.4999999999999998). The cost and reward/risk limits therefore allow
  1e-9 (dollars, resp. ratio units) of slack; all reported numbers are the unrounded floats.
- **POP** is P(S_T beyond breakeven) under the risk-neutral lognormal law with
  sigma = mean IV of the legs, r = ``risk_free_rate``, q = ``dividend_yield``,
  T = DTE / 365. At DTE 0 it is 1 when the spot is already strictly beyond the breakeven,
  else 0.
- **rejected** always holds every reason key (in check order), zeros included, so
  ``candidates == len(spreads) + sum(rejected.values())``.
- A spot that is not a positive finite number raises ``ValueError``: POP cannot be computed
  and the caller must say "no underlying price" rather than rank spreads without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Any, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from tui_trader.core.markers import IB_UNSET_DOUBLE as IB_UNSET_DOUBLE
from tui_trader.core.settings import PricingSettings, SelectionSettings

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
Direction = Literal["LONG", "SHORT"]


_DAYS_PER_YEAR = 365.0
#: Slack on the cost (dollars) and reward/risk (ratio) limits against float noise in D.
_LIMIT_SLACK = 1e-9


class Reason(IntEnum):
    """Why a candidate was rejected; the values are the check order (0 = kept)."""

    KEPT = 0
    BAD_QUOTE = 1
    NO_GREEKS = 2
    DTE = 3
    DELTA = 4
    COST = 5
    REWARD_RISK = 6


#: The rejection reasons in the order they are checked (the keys of ``rejected``).
REJECT_REASONS: tuple[str, ...] = tuple(r.name for r in Reason if r is not Reason.KEPT)
_REASON_NAMES = np.array([r.name for r in Reason])


def _readonly[T: np.generic](a: NDArray[T]) -> NDArray[T]:
    a.setflags(write=False)
    return a


def _float_column(name: str, values: ArrayLike | None, n: int) -> FloatArray:
    if values is None:
        return _readonly(np.full(n, np.nan))
    out = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    if out.shape != (n,):
        raise ValueError(f"OptionChain.{name} has {out.shape[0]} values, strike has {n}")
    return out


class OptionChain:
    """One underlying's options as parallel arrays (one row per contract).

    ``expiry`` is ``datetime64[D]`` (dates, ``datetime64`` values or ISO strings are accepted;
    integers are refused). ``is_call`` is True for calls. ``bid``/``ask``/``delta``/``iv``
    may hold NaN or IB markers: such rows are rejected by :func:`select_spreads`, never
    crashed on. ``con_id``/``gamma``/``vega``/``theta`` are optional (-1 / NaN when absent)
    and only carried along for callers. Strikes must be finite and positive and
    (expiry, right, strike) unique; construction raises ``ValueError`` otherwise.
    The arrays are read-only: the row order is validated once and reused by every selection.
    """

    __slots__ = (
        "ask",
        "bid",
        "con_id",
        "delta",
        "expiry",
        "gamma",
        "is_call",
        "iv",
        "strike",
        "theta",
        "vega",
    )

    expiry: NDArray[np.datetime64]
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    delta: FloatArray
    iv: FloatArray
    con_id: IntArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray

    def __init__(
        self,
        *,
        expiry: ArrayLike,
        strike: ArrayLike,
        is_call: ArrayLike,
        bid: ArrayLike,
        ask: ArrayLike,
        delta: ArrayLike,
        iv: ArrayLike,
        con_id: ArrayLike | None = None,
        gamma: ArrayLike | None = None,
        vega: ArrayLike | None = None,
        theta: ArrayLike | None = None,
    ) -> None:
        strike_a = np.array(strike, dtype=np.float64, copy=True).reshape(-1)
        n = strike_a.shape[0]
        raw_expiry = np.asarray(expiry)
        if raw_expiry.dtype.kind in "iuf":
            raise TypeError(
                "OptionChain.expiry must be dates (datetime64[D], datetime.date or ISO "
                "strings), not numbers: 20250117 would be read as a day count"
            )
        expiry_a = np.array(raw_expiry, dtype="datetime64[D]", copy=True).reshape(-1)
        call_raw = np.asarray(is_call)
        if call_raw.dtype != np.bool_:
            raise TypeError("OptionChain.is_call must be booleans (True = call)")
        call_a = np.array(call_raw, dtype=np.bool_, copy=True).reshape(-1)
        for name, arr in (("expiry", expiry_a), ("is_call", call_a)):
            if arr.shape != (n,):
                raise ValueError(f"OptionChain.{name} has {arr.shape[0]} values, strike has {n}")
        if np.isnat(expiry_a).any():
            raise ValueError("OptionChain.expiry holds a missing date (NaT)")
        if not np.all(np.isfinite(strike_a) & (strike_a > 0)):
            raise ValueError("OptionChain.strike must be finite and positive")
        columns = {
            "bid": _float_column("bid", bid, n),
            "ask": _float_column("ask", ask, n),
            "delta": _float_column("delta", delta, n),
            "iv": _float_column("iv", iv, n),
            "gamma": _float_column("gamma", gamma, n),
            "vega": _float_column("vega", vega, n),
            "theta": _float_column("theta", theta, n),
        }
        if con_id is None:
            con_a: IntArray = np.full(n, -1, dtype=np.int64)
        else:
            con_a = np.array(con_id, dtype=np.int64, copy=True).reshape(-1)
            if con_a.shape != (n,):
                raise ValueError(f"OptionChain.con_id has {con_a.shape[0]} values, strike has {n}")

        days = expiry_a.astype(np.int64)
        if n > 1 and not _is_sorted(days, call_a, strike_a):
            order = np.lexsort((strike_a, call_a, days))
            expiry_a, strike_a, call_a, con_a = (
                expiry_a[order], strike_a[order], call_a[order], con_a[order]
            )  # fmt: skip
            days = days[order]
            columns = {k: v[order] for k, v in columns.items()}
        if n > 1:
            same = (
                (days[1:] == days[:-1])
                & (call_a[1:] == call_a[:-1])
                & (strike_a[1:] == strike_a[:-1])
            )
            if same.any():
                i = int(np.flatnonzero(same)[0])
                raise ValueError(
                    "OptionChain holds two contracts for expiry "
                    f"{expiry_a[i]}, right {'C' if call_a[i] else 'P'}, strike {strike_a[i]:g}; "
                    "one chain must hold one contract per strike (pick one trading class)"
                )

        self.expiry = _readonly(expiry_a)
        self.strike = _readonly(strike_a)
        self.is_call = _readonly(call_a)
        self.con_id = _readonly(con_a)
        self.bid = _readonly(columns["bid"])
        self.ask = _readonly(columns["ask"])
        self.delta = _readonly(columns["delta"])
        self.iv = _readonly(columns["iv"])
        self.gamma = _readonly(columns["gamma"])
        self.vega = _readonly(columns["vega"])
        self.theta = _readonly(columns["theta"])

    def __len__(self) -> int:
        return int(self.strike.shape[0])

    def __repr__(self) -> str:
        return f"OptionChain({len(self)} rows, {np.unique(self.expiry).shape[0]} expiries)"

    @property
    def right(self) -> NDArray[np.str_]:
        """``'C'``/``'P'`` per row, as IB spells the right."""
        return np.where(self.is_call, "C", "P")


def _is_sorted(days: IntArray, is_call: BoolArray, strike: FloatArray) -> bool:
    d0, d1 = days[:-1], days[1:]
    c0, c1 = is_call[:-1], is_call[1:]
    ok = (d0 < d1) | ((d0 == d1) & ((c0 < c1) | ((c0 == c1) & (strike[:-1] <= strike[1:]))))
    return bool(ok.all())


@dataclass(frozen=True, slots=True, eq=False)
class SpreadSelection:
    """The outcome of one selection: counts, every candidate's verdict, the ranked spreads.

    Kept spreads are arrays in rank order (best first); money is per spread
    (``cost``, ``max_profit``, ``max_loss`` include the multiplier), prices are per share
    (``debit`` = natural debit D, ``mid_debit``, ``width``, ``breakeven``), deltas per share.
    ``long_row``/``short_row`` index the chain's rows (for con_id etc.); ``candidate``
    indexes the candidate arrays. ``candidate_long_row``/``candidate_short_row``/
    ``candidate_reason`` describe every candidate in candidate order (reason as
    :class:`Reason` codes, 0 = kept).
    """

    candidates: int
    rejected: dict[str, int]
    candidate_long_row: IntArray
    candidate_short_row: IntArray
    candidate_reason: NDArray[np.int8]
    expiry: NDArray[np.datetime64]
    dte: IntArray
    is_call: BoolArray
    long_strike: FloatArray
    short_strike: FloatArray
    debit: FloatArray
    mid_debit: FloatArray
    width: FloatArray
    cost: FloatArray
    max_profit: FloatArray
    max_loss: FloatArray
    reward_risk: FloatArray
    breakeven: FloatArray
    pop: FloatArray
    net_delta: FloatArray
    long_delta: FloatArray
    long_row: IntArray
    short_row: IntArray
    candidate: IntArray

    def __len__(self) -> int:
        return int(self.debit.shape[0])

    @property
    def candidate_reason_names(self) -> NDArray[np.str_]:
        """Per candidate: ``"KEPT"`` or the rejection reason's name."""
        out: NDArray[np.str_] = _REASON_NAMES[self.candidate_reason]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: full-precision floats, expiry ``"YYYYMMDD"``, right ``"C"``/``"P"``."""
        expiries = [str(e).replace("-", "") for e in self.expiry]
        spreads = [
            {
                "expiry": expiries[i],
                "right": "C" if self.is_call[i] else "P",
                "long_strike": float(self.long_strike[i]),
                "short_strike": float(self.short_strike[i]),
                "debit": float(self.debit[i]),
                "width": float(self.width[i]),
                "cost": float(self.cost[i]),
                "max_profit": float(self.max_profit[i]),
                "max_loss": float(self.max_loss[i]),
                "reward_risk": float(self.reward_risk[i]),
                "breakeven": float(self.breakeven[i]),
                "pop": float(self.pop[i]),
                "net_delta": float(self.net_delta[i]),
                "long_delta": float(self.long_delta[i]),
            }
            for i in range(len(self))
        ]
        return {
            "candidates": self.candidates,
            "rejected": dict(self.rejected),
            "spreads": spreads,
        }


class SpreadRequest(NamedTuple):
    """One underlying's input to :func:`select_spreads_batch`."""

    chain: OptionChain
    spot: float
    direction: Direction


def rank_order(reward_risk: FloatArray, pop: FloatArray, cost: FloatArray) -> IntArray:
    """Indices that rank spreads: reward/risk desc, then POP desc, then cost asc.

    Stable (``np.lexsort``): spreads equal on all three keys keep their input order. This is
    the order :func:`select_spreads_batch` applies within each underlying.
    """
    out: IntArray = np.lexsort((cost, -pop, -reward_risk)).astype(np.int64)
    return out


def select_spreads(
    chain: OptionChain,
    spot: float,
    direction: Direction,
    asof: date,
    selection: SelectionSettings,
    pricing: PricingSettings,
) -> SpreadSelection:
    """SPEC 5 for one underlying: LONG -> bull call debit, SHORT -> bear put debit."""
    (result,) = select_spreads_batch(
        [SpreadRequest(chain, spot, direction)], asof, selection, pricing
    )
    return result


def select_spreads_batch(
    requests: Sequence[SpreadRequest],
    asof: date,
    selection: SelectionSettings,
    pricing: PricingSettings,
) -> list[SpreadSelection]:
    """SPEC 5 for many underlyings in one vectorised pass; one result per request, in order.

    The results are identical to calling :func:`select_spreads` per request; batching only
    amortises numpy's per-call overhead over many small chains.
    """
    n_groups = len(requests)
    if n_groups == 0:
        return []
    spots = np.empty(n_groups)
    want_call = np.empty(n_groups, dtype=np.bool_)
    for g, req in enumerate(requests):
        if req.direction not in ("LONG", "SHORT"):
            raise ValueError(f"direction must be LONG or SHORT, got {req.direction!r}")
        spots[g] = float(req.spot)
        want_call[g] = req.direction == "LONG"

    chains = [req.chain for req in requests]
    sizes = np.array([len(c) for c in chains], dtype=np.int64)

    def cat(name: str) -> NDArray[Any]:
        if n_groups == 1:
            arr: NDArray[Any] = getattr(chains[0], name)
            return arr
        return np.concatenate([getattr(c, name) for c in chains])

    columns = ChainColumns(
        sizes=sizes,
        expiry=cat("expiry"),
        strike=cat("strike"),
        is_call=cat("is_call"),
        bid=cat("bid"),
        ask=cat("ask"),
        delta=cat("delta"),
        iv=cat("iv"),
    )
    asof_days = np.full(n_groups, np.datetime64(asof, "D"))
    flat = select_spreads_flat(columns, spots, want_call, asof_days, selection, pricing,
                               checked=True)  # fmt: skip
    offsets = flat.row_offsets
    results: list[SpreadSelection] = []
    for g in range(n_groups):
        c0, c1 = int(flat.candidate_bounds[g]), int(flat.candidate_bounds[g + 1])
        s = slice(int(flat.kept_bounds[g]), int(flat.kept_bounds[g + 1]))
        off = offsets[g]
        results.append(
            SpreadSelection(
                candidates=c1 - c0,
                rejected={r.name: int(flat.counts[g, r]) for r in Reason if r is not Reason.KEPT},
                candidate_long_row=flat.candidate_long_row[c0:c1] - off,
                candidate_short_row=flat.candidate_short_row[c0:c1] - off,
                candidate_reason=flat.candidate_reason[c0:c1],
                expiry=flat.expiry[s],
                dte=flat.dte[s],
                is_call=flat.is_call[s],
                long_strike=flat.long_strike[s],
                short_strike=flat.short_strike[s],
                debit=flat.debit[s],
                mid_debit=flat.mid_debit[s],
                width=flat.width[s],
                cost=flat.cost[s],
                max_profit=flat.max_profit[s],
                max_loss=flat.cost[s],
                reward_risk=flat.reward_risk[s],
                breakeven=flat.breakeven[s],
                pop=flat.pop[s],
                net_delta=flat.net_delta[s],
                long_delta=flat.long_delta[s],
                long_row=flat.long_row[s] - off,
                short_row=flat.short_row[s] - off,
                candidate=flat.candidate[s] - c0,
            )
        )
    return results


@dataclass(frozen=True, slots=True, eq=False)
class ChainColumns:
    """Many chains as one set of columns: ``sizes[g]`` rows of chain g, then chain g + 1.

    Within a chain the rows must be in :class:`OptionChain` order (expiry, puts before
    calls, strike ascending) and unique; :func:`select_spreads_flat` checks that once for
    all chains. This is the input for callers that make thousands of small chains at once
    (the backtester's synthetic chains), where an :class:`OptionChain` object per chain
    would cost more than the selection itself.
    """

    sizes: IntArray
    expiry: NDArray[np.datetime64]
    strike: FloatArray
    is_call: BoolArray
    bid: FloatArray
    ask: FloatArray
    delta: FloatArray
    iv: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class FlatSelection:
    """:func:`select_spreads_flat`'s result: every chain's outcome in shared arrays.

    Candidates are grouped by chain (``candidate_bounds[g]:candidate_bounds[g + 1]``), in
    candidate order; kept spreads are grouped by chain (``kept_bounds``) and ranked within
    each chain, best first, exactly as :class:`SpreadSelection` holds them. Row indices
    (``long_row``, ``short_row``, ``candidate_*_row``) index the flat columns; subtract
    ``row_offsets[g]`` for a row of chain g. ``counts[g, reason]`` counts chain g's
    candidates per :class:`Reason` (KEPT included). ``group`` is each kept spread's chain.
    """

    counts: IntArray
    row_offsets: IntArray
    candidate_bounds: IntArray
    kept_bounds: IntArray
    candidate_long_row: IntArray
    candidate_short_row: IntArray
    candidate_reason: NDArray[np.int8]
    group: IntArray
    expiry: NDArray[np.datetime64]
    dte: IntArray
    is_call: BoolArray
    long_strike: FloatArray
    short_strike: FloatArray
    debit: FloatArray
    mid_debit: FloatArray
    width: FloatArray
    cost: FloatArray
    max_profit: FloatArray
    reward_risk: FloatArray
    breakeven: FloatArray
    pop: FloatArray
    net_delta: FloatArray
    long_delta: FloatArray
    long_row: IntArray
    short_row: IntArray
    candidate: IntArray


def _check_columns(columns: ChainColumns, n_groups: int) -> IntArray:
    """The per-row chain index; ValueError for columns that break ChainColumns' contract."""
    sizes = np.asarray(columns.sizes, dtype=np.int64)
    if sizes.shape != (n_groups,) or (sizes < 0).any():
        raise ValueError("ChainColumns.sizes must hold one non-negative row count per chain")
    n = int(sizes.sum())
    for name in ("expiry", "strike", "is_call", "bid", "ask", "delta", "iv"):
        if np.shape(getattr(columns, name)) != (n,):
            raise ValueError(f"ChainColumns.{name} must hold {n} rows (the sum of sizes)")
    if columns.expiry.dtype != np.dtype("datetime64[D]") or columns.is_call.dtype != np.bool_:
        raise TypeError("ChainColumns.expiry must be datetime64[D] and is_call booleans")
    group = np.repeat(np.arange(n_groups, dtype=np.int64), sizes)
    if n > 1:
        days = columns.expiry.astype(np.int64)
        same = group[1:] == group[:-1]
        d0, d1 = days[:-1], days[1:]
        c0, c1 = columns.is_call[:-1], columns.is_call[1:]
        k0, k1 = columns.strike[:-1], columns.strike[1:]
        ordered = (d0 < d1) | ((d0 == d1) & ((c0 < c1) | ((c0 == c1) & (k0 < k1))))
        if not bool((ordered | ~same).all()):
            raise ValueError("ChainColumns rows must be in OptionChain order, unique per chain")
    return group


def select_spreads_flat(
    columns: ChainColumns,
    spots: FloatArray,
    want_call: BoolArray,
    asof: NDArray[np.datetime64],
    selection: SelectionSettings,
    pricing: PricingSettings,
    *,
    checked: bool = False,
    top_only: bool = False,
) -> FlatSelection:
    """SPEC 5 for many chains at once, each with its own spot, direction (``want_call``:
    LONG) and day (``asof``, the day DTE counts from): the same rules, candidates, reasons
    and ranking as :func:`select_spreads`, returned as shared arrays (:class:`FlatSelection`).

    ``checked``: the rows come from :class:`OptionChain` objects, whose order is already
    validated (only :func:`select_spreads_batch` passes it). ``top_only``: keep only each
    chain's spreads tied for first place (equal reward/risk, POP and cost), in candidate
    order -- the head of the full ranking, found without sorting (a caller that wants the
    best spread of 100,000 chains spent half its time in the sort).
    """
    n_groups = int(np.shape(spots)[0])
    spots = np.asarray(spots, dtype=np.float64)
    want_call = np.asarray(want_call, dtype=np.bool_)
    asof_days = np.asarray(asof, dtype="datetime64[D]").astype(np.int64)
    if want_call.shape != (n_groups,) or asof_days.shape != (n_groups,):
        raise ValueError("spots, want_call and asof must hold one value per chain")
    bad_spot = ~(np.isfinite(spots) & (spots > 0) & (spots < IB_UNSET_DOUBLE))
    if bad_spot.any():
        raise ValueError(
            f"spot must be a positive finite price, got {spots[np.argmax(bad_spot)]!r}"
        )
    if checked:
        group = np.repeat(np.arange(n_groups, dtype=np.int64), columns.sizes)
    else:
        group = _check_columns(columns, n_groups)
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(columns.sizes, out=offsets[1:])

    days = columns.expiry.astype(np.int64)
    strike = columns.strike
    is_call = columns.is_call
    bid, ask, delta, iv = columns.bid, columns.ask, columns.delta, columns.iv

    # Per-row verdicts first: there are ~max_strikes_apart times fewer rows than candidates.
    quote_ok = (bid >= 0.0) & (ask > 0.0) & (bid <= ask) & (ask < IB_UNSET_DOUBLE)
    delta_ok = np.where(is_call, (delta >= 0.0) & (delta <= 1.0), (delta >= -1.0) & (delta <= 0.0))
    greeks_ok = delta_ok & (iv > 0.0) & (iv < IB_UNSET_DOUBLE)
    dte = days - asof_days[group]
    dte_ok = (dte >= selection.min_dte) & (dte <= selection.max_dte)
    abs_delta = np.abs(delta)
    long_delta_ok = (abs_delta >= selection.min_delta) & (abs_delta <= selection.max_delta)

    # Candidate pairs. Rows of the wanted right, in chain order (expiry, strike ascending);
    # a block is one (underlying, expiry). The short leg is k listed strikes further OTM:
    # k rows later for calls (higher strike), k rows earlier for puts (lower strike).
    rows = np.flatnonzero(is_call == want_call[group])
    n_rows = rows.shape[0]
    m = selection.max_strikes_apart
    r_group, r_days = group[rows], days[rows]
    # Each row's room toward OTM inside its block: rows left to the block's end (calls)
    # or since its start (puts); candidate k (1..m) exists when k <= room.
    new_block = np.ones(n_rows, dtype=bool)
    if n_rows > 1:
        new_block[1:] = (r_group[1:] != r_group[:-1]) | (r_days[1:] != r_days[:-1])
    starts = np.flatnonzero(new_block)
    lengths = np.diff(np.append(starts, n_rows))
    pos = np.arange(n_rows, dtype=np.int64)
    block_start = np.repeat(starts, lengths)
    r_call = is_call[rows]
    room = np.where(r_call, block_start + np.repeat(lengths, lengths) - 1 - pos, pos - block_start)
    long_pos, k = np.nonzero(np.arange(1, m + 1, dtype=np.int64) <= room[:, None])
    lr = rows[long_pos]
    sr = rows[np.where(r_call[long_pos], long_pos + k + 1, long_pos - k - 1)]
    cand_group = group[lr]

    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        debit = ask[lr] - bid[sr]
        width = np.abs(strike[sr] - strike[lr])
        cost = debit * selection.multiplier
        reward_risk = (width - debit) / debit
    bad_quote = ~(quote_ok[lr] & quote_ok[sr])
    no_greeks = ~(greeks_ok[lr] & greeks_ok[sr])
    bad_dte = ~dte_ok[lr]
    bad_delta = ~long_delta_ok[lr]
    bad_cost = ~((debit > 0.0) & (cost <= selection.max_spread_cost + _LIMIT_SLACK))
    bad_rr = ~(reward_risk >= selection.min_reward_risk - _LIMIT_SLACK)

    reason = np.zeros(lr.shape[0], dtype=np.int8)
    for code, failed in (
        (Reason.REWARD_RISK, bad_rr),
        (Reason.COST, bad_cost),
        (Reason.DELTA, bad_delta),
        (Reason.DTE, bad_dte),
        (Reason.NO_GREEKS, no_greeks),
        (Reason.BAD_QUOTE, bad_quote),
    ):
        reason[failed] = code

    # Metrics of the kept spreads only.
    kept = np.flatnonzero(reason == 0)
    k_lr, k_sr = lr[kept], sr[kept]
    k_group = cand_group[kept]
    k_call = is_call[k_lr]
    k_debit = debit[kept]
    k_width = width[kept]
    k_long_strike = strike[k_lr]
    breakeven = np.where(k_call, k_long_strike + k_debit, k_long_strike - k_debit)
    k_dte = dte[k_lr]
    pop = _pop(
        spots[k_group], breakeven, k_dte / _DAYS_PER_YEAR, 0.5 * (iv[k_lr] + iv[k_sr]),
        pricing.risk_free_rate, pricing.dividend_yield, k_call,
    )  # fmt: skip
    k_rr = reward_risk[kept]
    k_cost = cost[kept]
    order = (
        _top_of_group(k_group, k_rr, pop, k_cost)
        if top_only
        else (np.lexsort((k_cost, -pop, -k_rr, k_group)))
    )
    kept = kept[order]
    k_lr, k_sr, k_group, k_call = k_lr[order], k_sr[order], k_group[order], k_call[order]
    k_debit, k_width, k_cost, k_rr = k_debit[order], k_width[order], k_cost[order], k_rr[order]
    breakeven, pop, k_dte = breakeven[order], pop[order], k_dte[order]
    mid_debit = 0.5 * (bid[k_lr] + ask[k_lr]) - 0.5 * (bid[k_sr] + ask[k_sr])
    long_delta = delta[k_lr]

    counts = np.bincount(
        cand_group * len(Reason) + reason, minlength=n_groups * len(Reason)
    ).reshape(n_groups, len(Reason))
    return FlatSelection(
        counts=counts,
        row_offsets=offsets[:-1],
        candidate_bounds=np.searchsorted(cand_group, np.arange(n_groups + 1)),
        kept_bounds=np.searchsorted(k_group, np.arange(n_groups + 1)),
        candidate_long_row=lr,
        candidate_short_row=sr,
        candidate_reason=reason,
        group=k_group,
        expiry=days[k_lr].astype("datetime64[D]"),
        dte=k_dte,
        is_call=k_call,
        long_strike=strike[k_lr],
        short_strike=strike[k_sr],
        debit=k_debit,
        mid_debit=mid_debit,
        width=k_width,
        cost=k_cost,
        max_profit=(k_width - k_debit) * selection.multiplier,
        reward_risk=k_rr,
        breakeven=breakeven,
        pop=pop,
        net_delta=long_delta - delta[k_sr],
        long_delta=long_delta,
        long_row=k_lr,
        short_row=k_sr,
        candidate=kept,
    )


def _top_of_group(
    group: IntArray, reward_risk: FloatArray, pop: FloatArray, cost: FloatArray
) -> IntArray:
    """Indices (ascending) of the spreads tied for first place in their group under
    :func:`rank_order`'s keys; ``group`` is sorted. Three masked per-group reductions;
    NaN ranks last as in the sort (a group of NaN only keeps them all)."""
    keep: IntArray = np.arange(group.shape[0], dtype=np.int64)
    for values in (reward_risk, pop, -cost):
        if keep.shape[0] == 0:
            break
        g = group[keep]
        v = values[keep]
        starts = np.flatnonzero(np.concatenate(([True], g[1:] != g[:-1])))
        counts = np.diff(np.append(starts, g.shape[0]))
        top = np.repeat(np.fmax.reduceat(v, starts), counts)
        keep = keep[(v == top) | np.isnan(top)]
    return keep


def _pop(
    spot: FloatArray, breakeven: FloatArray, t: FloatArray, sigma: FloatArray, r: float,
    q: float, is_call: BoolArray,
) -> FloatArray:  # fmt: skip
    """Risk-neutral P(S_T > BE) for calls, P(S_T < BE) for puts; the payoff's sign at T=0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d2 = (np.log(spot / breakeven) + (r - q - 0.5 * sigma * sigma) * t) / (sigma * np.sqrt(t))
        live = np.where(is_call, ndtr(d2), ndtr(-d2))
    expired = np.where(is_call, spot > breakeven, spot < breakeven).astype(np.float64)
    out: FloatArray = np.where(t > 0, live, expired)
    return out


def format_table(selection: SpreadSelection, limit: int = 20) -> str:
    """The CLI's plain-text view: the best ``limit`` spreads, then the candidate counts."""
    header = (
        f"{'#':>3} {'expiry':<8} {'R':<1} {'long':>8} {'short':>8} {'debit':>7} {'width':>7} "
        f"{'cost':>8} {'max_prof':>9} {'R/R':>6} {'BE':>9} {'POP':>6} {'net_d':>6} "
        f"{'long_d':>6}"
    )
    lines = [header]
    shown = min(len(selection), max(limit, 0))
    for i in range(shown):
        lines.append(
            f"{i + 1:>3} {str(selection.expiry[i]).replace('-', ''):<8} "
            f"{'C' if selection.is_call[i] else 'P':<1} "
            f"{selection.long_strike[i]:>8.2f} {selection.short_strike[i]:>8.2f} "
            f"{selection.debit[i]:>7.2f} {selection.width[i]:>7.2f} "
            f"{selection.cost[i]:>8.2f} {selection.max_profit[i]:>9.2f} "
            f"{selection.reward_risk[i]:>6.2f} {selection.breakeven[i]:>9.2f} "
            f"{selection.pop[i]:>6.1%} {selection.net_delta[i]:>6.3f} "
            f"{selection.long_delta[i]:>6.3f}"
        )
    if len(selection) == 0:
        lines = ["no spread passed the filters"]
    elif shown < len(selection):
        lines.append(f"... {len(selection) - shown} more not shown")
    rejected = ", ".join(f"{name} {count}" for name, count in selection.rejected.items())
    lines.append(f"{selection.candidates} candidates, {len(selection)} kept; rejected: {rejected}")
    return "\n".join(lines)
