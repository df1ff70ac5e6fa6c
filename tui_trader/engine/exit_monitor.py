"""The exit monitor: positions with their SPEC 9 levels, and the exit signals.

The account view groups IB's positions into spreads in a private store; the monitor
republishes them in the shared store with each spread's stop and target levels and the
exit rule that holds, from the entry snapshot journaled when the spread was opened
(:func:`tui_trader.engine.exits.save_entry`), and its risk from the legs' model greeks
(greeks, breakeven, max profit/loss: ``engine.positions_risk``). An exit signal is an
event the first time it holds for a spread. Nothing is sent here: the auto-trader turns
verdicts into closing orders through the order desk; by hand the trader previews the close.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from loguru import logger

from tui_trader.core.exits import EntrySnapshot
from tui_trader.core.models import EventLevel, OrderIntent, SpreadOrderSpec
from tui_trader.core.scanner import SymbolScan
from tui_trader.core.settings import ExitSettings
from tui_trader.engine.events import EventSink
from tui_trader.engine.exits import exit_message, load_entry, save_entry, with_exit_levels
from tui_trader.engine.positions_risk import with_risk
from tui_trader.state.journal import Journal
from tui_trader.state.store import Positions, SpreadPosition, Store

#: What the trader should do about a position without levels (no exit will ever fire).
WATCH_IT = (
    "No exit will fire for it: watch it yourself, set a stop in TWS, or close it (c on Positions)."
)


class ExitMonitor:
    """Writes the Positions slice (module doc) with each spread's exit levels and risk
    (``engine.positions_risk``). ``raw`` is the account view's store."""

    def __init__(
        self,
        journal: Journal,
        store: Store,
        raw: Store,
        exits: ExitSettings,
        *,
        events: EventSink,
        spot: Callable[[str], float | None],
    ) -> None:
        self._journal = journal
        self._store = store
        self._raw = raw
        self._exits = exits
        self._events = events
        self._spot = spot
        self._snapshots: dict[str, EntrySnapshot | None] = {}
        self._fired: set[tuple[tuple[int, ...], str]] = set()

    def _snapshot(self, intent_id: str) -> EntrySnapshot | None:
        if intent_id not in self._snapshots:
            self._snapshots[intent_id] = load_entry(self._journal, intent_id)
        return self._snapshots[intent_id]

    def snapshots_for(self, spreads: tuple[SpreadPosition, ...]) -> dict[str, EntrySnapshot]:
        out: dict[str, EntrySnapshot] = {}
        for sp in spreads:
            for iid in sp.intent_ids or ((sp.intent_id,) if sp.intent_id else ()):
                snap = self._snapshot(iid)
                if snap is not None:
                    out[iid] = snap
        return out

    def _spots(self, spreads: tuple[SpreadPosition, ...]) -> dict[str, float]:
        out: dict[str, float] = {}
        for sp in spreads:
            s = self._spot(sp.underlying)
            if s is not None:
                out[sp.underlying] = s
        return out

    def republish(self) -> None:
        """The raw positions with their levels and exit rule, into the shared store."""
        raw = self._raw.get(Positions)
        spreads = raw.spreads
        spots = self._spots(spreads)
        enriched = with_risk(
            with_exit_levels(spreads, self.snapshots_for(spreads), spots, self._exits), spots
        )
        self._store.set(Positions, Positions(enriched, raw.updated_at))

    def signal_exits(self) -> list[SpreadPosition]:
        """An event for each spread whose exit rule holds for the first time; the spreads
        whose rule holds now."""
        spreads = self._store.get(Positions).spreads
        snaps = self.snapshots_for(spreads)
        holding: list[SpreadPosition] = []
        for sp in spreads:
            if sp.exit_reason is None:
                continue
            holding.append(sp)
            key = (tuple(leg.con_id for leg in sp.legs), sp.exit_reason)
            if key in self._fired:
                continue
            self._fired.add(key)
            message = exit_message(sp, snaps, self._spot(sp.underlying), self._exits)
            legs = "/".join(f"{leg.strike:g}" for leg in sp.legs)
            self._events(
                EventLevel.WARNING,
                "exit",
                f"{sp.underlying} {sp.expiry or ''} {legs}: exit {sp.exit_reason}: {message} "
                "Nothing was sent: preview the close (c on Positions).",
                sp.intent_id,
            )
        return holding

    def save_entry(self, intent: OrderIntent, spec: SpreadOrderSpec, row: SymbolScan | None,
                   price: float | None) -> None:  # fmt: skip
        """Journal the entry snapshot SPEC 9's levels come from (the scan row at entry and
        the underlying's price); said as an ERROR event when it cannot be saved."""
        try:
            if row is None or price is None:
                raise ValueError("no scan row or underlying price")
            snap = EntrySnapshot(
                direction=spec.direction,
                entry_price=float(price),
                atr14=float(row.atr14 if row.atr14 is not None else math.nan),
                hhv20=float(row.hhv20 if row.hhv20 is not None else math.nan),
                llv20=float(row.llv20 if row.llv20 is not None else math.nan),
            )
            save_entry(self._journal, intent.intent_id, snap, spec.underlying)
            self._snapshots[intent.intent_id] = snap
        except Exception as exc:
            logger.exception("entry snapshot of {} not saved", intent.intent_id)
            self._events(
                EventLevel.ERROR,
                "exit",
                f"No stop/target levels for {spec.describe()}: the entry snapshot could not "
                f"be saved ({exc}). {WATCH_IT}",
                intent.intent_id,
            )

    def no_levels(self, intent: OrderIntent, spec: SpreadOrderSpec, why: str) -> None:
        """Say (an ERROR event) that an entry has no SPEC 9 levels because ``why``."""
        logger.error("no entry snapshot for {}: {}", intent.intent_id, why)
        self._events(
            EventLevel.ERROR,
            "exit",
            f"No stop/target levels for {spec.describe()}: the entry snapshot could not be "
            f"made because {why}. {WATCH_IT}",
            intent.intent_id,
        )
