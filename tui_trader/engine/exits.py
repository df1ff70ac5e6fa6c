"""The exit monitor's bookkeeping: entry snapshots in the journal, SPEC 9 levels on the
Positions slice, and which exit rule holds for each open spread.

Decisions:

- **The entry snapshot is taken at transmit** (the underlying's price then, and ATR14,
  HHV20, LLV20 of the latest scan) and stored in the journal's key/value table under
  ``entry/<intent id>``, committed right after the opening order is sent. SPEC 9 fixes the
  levels at entry, so they never drift with later volatility, and a restart reads them
  back. A spread opened by several orders on the same legs uses the first order's
  snapshot (its stop was set when the risk was first taken). External spreads (legs we
  did not place) have no snapshot and so no levels: nothing is guessed.
- **Published levels**: ``stop_level`` is the stop; ``target_level`` the *nearest* enabled
  target in the trade's direction (the lowest for LONG, the highest for SHORT): the first
  one the price would reach. Distances are ``(level - spot) / spot`` with spot the
  underlying's current price (live quote, else the last scan's close).
- ``exit_reason`` is :func:`tui_trader.core.exits.check_exit`'s verdict at that spot and
  the spread's DTE (stop, R, ATR, Fibonacci, then time). The engine publishes an event the
  first time a rule holds for a spread; it does not send an exit order (the auto-trader
  will).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from loguru import logger

from tui_trader.core.exits import EntrySnapshot, ExitLevels, check_exit, exit_levels
from tui_trader.core.settings import ExitSettings
from tui_trader.state.journal import Journal
from tui_trader.state.store import SpreadPosition

ENTRY_PREFIX = "entry/"


def entry_key(intent_id: str) -> str:
    return f"{ENTRY_PREFIX}{intent_id}"


def save_entry(journal: Journal, intent_id: str, snapshot: EntrySnapshot, symbol: str) -> None:
    journal.put_kv(
        entry_key(intent_id),
        {
            "symbol": symbol,
            "direction": snapshot.direction,
            "entry_price": snapshot.entry_price,
            "atr14": snapshot.atr14,
            "hhv20": snapshot.hhv20,
            "llv20": snapshot.llv20,
        },
    )


def snapshot_from_record(record: Any) -> EntrySnapshot | None:
    """The snapshot a journal record holds; None (logged) when it is missing or unusable."""
    if not isinstance(record, Mapping):
        return None
    try:
        return EntrySnapshot(
            direction=record["direction"],
            entry_price=float(record["entry_price"]),
            atr14=float(record["atr14"]),
            hhv20=float(record["hhv20"]),
            llv20=float(record["llv20"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("entry snapshot {!r} is unusable: {}", record, exc)
        return None


def load_entry(journal: Journal, intent_id: str) -> EntrySnapshot | None:
    return snapshot_from_record(journal.get_kv(entry_key(intent_id)))


def nearest_target(levels: ExitLevels) -> float | None:
    """The first enabled target the price reaches in the trade's direction."""
    targets = [t for t in (levels.r_target, levels.atr_target, levels.fibo_target) if t is not None]
    if not targets:
        return None
    return min(targets) if levels.direction == "LONG" else max(targets)


def _distance(level: float | None, spot: float | None) -> float | None:
    if level is None or spot is None or not (math.isfinite(spot) and spot > 0):
        return None
    return (level - spot) / spot


def with_exit_levels(
    spreads: Sequence[SpreadPosition],
    snapshots: Mapping[str, EntrySnapshot],
    spots: Mapping[str, float],
    exits: ExitSettings,
) -> tuple[SpreadPosition, ...]:
    """The spreads with stop/target levels, distances and the exit rule that holds.

    ``snapshots`` by opening intent id; ``spots`` the underlyings' current prices (a
    missing or unusable spot leaves distances None and skips the price rules).
    """
    out: list[SpreadPosition] = []
    for sp in spreads:
        ids = sp.intent_ids or ((sp.intent_id,) if sp.intent_id else ())
        snap = next((snapshots[i] for i in ids if i in snapshots), None)
        if snap is None:
            out.append(sp)
            continue
        levels = exit_levels(snap, exits)
        target = nearest_target(levels)
        spot = spots.get(sp.underlying)
        usable = spot is not None and math.isfinite(spot) and spot > 0
        decision = check_exit(levels, spot if usable and spot is not None else math.nan, sp.dte,
                              exits)  # fmt: skip
        out.append(
            replace(
                sp,
                stop_level=levels.stop,
                target_level=target,
                stop_distance=_distance(levels.stop, spot),
                target_distance=_distance(target, spot),
                exit_reason=None if decision is None else decision.reason.value,
            )
        )
    return tuple(out)


def exit_message(sp: SpreadPosition, snapshots: Mapping[str, EntrySnapshot],
                 spot: float | None, exits: ExitSettings) -> str | None:  # fmt: skip
    """The sentence of the rule that holds for ``sp`` (None: none does)."""
    ids = sp.intent_ids or ((sp.intent_id,) if sp.intent_id else ())
    snap = next((snapshots[i] for i in ids if i in snapshots), None)
    if snap is None:
        return None
    price = spot if spot is not None and math.isfinite(spot) and spot > 0 else math.nan
    decision = check_exit(exit_levels(snap, exits), price, sp.dte, exits)
    return None if decision is None else decision.message


def find_spread(spreads: Sequence[SpreadPosition], key: str) -> SpreadPosition | None:
    """The spread a UI key names: one of its intent ids, or ``legs:<conId>,<conId>``."""
    key = key.strip()
    for sp in spreads:
        if key and (key == sp.intent_id or key in sp.intent_ids):
            return sp
    if key.startswith("legs:"):
        try:
            wanted = [int(x) for x in key[5:].split(",") if x.strip()]
        except ValueError:
            return None
        for sp in spreads:
            if [leg.con_id for leg in sp.legs] == wanted:
                return sp
    return None
