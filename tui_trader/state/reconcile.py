"""Reconcile the journal's intents with what IB reports after a (re)connect.

A pure function: the caller fetches IB's open orders, completed orders and executions
(``broker/``), reads the intents (``Journal.intents()``), calls :func:`reconcile`, and applies
the result (``Journal.apply_reconcile``). Pass *all* intents IB could still report (at least
today's and every non-terminal one): an IB order whose ref is missing from ``intents`` is
reported as an orphan.

The rules, by orderRef (= intent id):

1. An intent with an IB order takes its status from IB (:func:`status_from_ib`), through the
   state machine: a terminal intent keeps its status, and a disagreement is a warning.
   Filled quantity = the largest of the journal's, IB's order status and what the intent's
   leg fills add up to; order id, perm id and average price come from IB. An order that
   ended unfilled brings IB's words (a completed order's ``completedStatus``: the reason of
   a rejection, which IB reports as "Cancelled") as the intent's error text when the
   journal has none, so a rejection that happened while the app was down still says why.
2. An intent with fills but no IB order: FILLED when every leg's fills add up to the whole
   quantity, else UNKNOWN (some filled, the rest's fate is not known).
3. An intent with neither, not terminal: UNKNOWN. A PENDING_SEND/SENT intent may or may not
   have reached IB; it is **never resent automatically** -- the user decides.
4. Fills carrying one of our refs attach to their intent; fills and orders with our prefix
   but no intent are orphans (reported, never touched); the rest are external (counted).

A rejection is not a discrepancy: IB reports a rejected order as "Cancelled" (with error 201
at the time), so a REJECTED intent whose order IB lists as Cancelled, unfilled, with the same
reason or none, agrees with IB.

Findings about a discrepancy that persists (IB disagreeing with a terminal intent, a status
we do not know, several orders with one ref, orphans, external orders) carry a ``key``: the
discrepancy's identity, so that the caller tells each one once, across reconnects and
restarts (:func:`untold`; the broker remembers told keys in the journal). Findings about a
change being applied have no key: applying it settles it, so they cannot repeat.

Several IB orders with one ref (open and completed lists both report it, or a re-placed
order): the most advanced report (terminal, then most filled) is used; distinct perm ids are
a warning, since one intent should never have become two orders.

Deterministic: the updates do not depend on the order of ``ib_orders`` or ``ib_fills``, and
reconciling the reconciled intents yields no update (idempotent). Nothing in the result can
send an order: it only holds status/quantity updates, fills to record and findings.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tui_trader.core.models import (
    EventLevel,
    Fill,
    IbOrderSnapshot,
    IntentStatus,
    IntentUpdate,
    JournalEvent,
    OrderIntent,
    SpreadOrderSpec,
    apply_update,
    is_our_ref,
    next_status,
    status_from_ib,
    usable_number,
    whole_units,
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One sentence for the user about what reconciliation saw.

    ``key``: which discrepancy this is (e.g. ``tt-…/ib-status/Filled``), the same on every
    reconciliation that sees it again; None for a change applied now (module doc).
    """

    level: EventLevel
    text: str
    intent_id: str | None = None
    key: str | None = None

    def to_event(self, now: datetime) -> JournalEvent:
        return JournalEvent(
            time=now, level=self.level, kind="reconcile", text=self.text, intent_id=self.intent_id
        )


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What to apply and what to tell the user.

    ``updates``: one per intent whose journal record changes, in ``intents`` order.
    ``fills``: every fill of ours with ``intent_id`` set, deduplicated by exec id (the journal
    ignores those it has). ``needs_user``: ids of intents that end UNKNOWN.
    """

    at: datetime
    updates: tuple[IntentUpdate, ...]
    fills: tuple[Fill, ...]
    orphan_orders: tuple[IbOrderSnapshot, ...]
    orphan_fills: tuple[Fill, ...]
    external_orders: int
    external_fills: int
    findings: tuple[Finding, ...]
    needs_user: tuple[str, ...]


def _dedup_fills(fills: Sequence[Fill]) -> list[Fill]:
    """One fill per exec id, in (time, exec id) order; a copy with a commission wins.

    Which copy is kept does not depend on the input order (ties broken on the whole record).
    """
    by_id: dict[str, Fill] = {}
    for f in sorted(fills, key=lambda f: (f.commission is None, f.model_dump_json())):
        by_id.setdefault(f.exec_id, f)
    return sorted(by_id.values(), key=lambda f: (f.time, f.exec_id))


def filled_from_fills(spec: SpreadOrderSpec, fills: Sequence[Fill]) -> int:
    """Whole combo units the leg fills account for: min over legs of leg quantity / ratio.

    Fills of other contracts (IB may report the BAG itself) are ignored. Fills must be
    deduplicated by exec id first.
    """
    units = []
    for leg in spec.legs:
        qty = sum(f.quantity for f in fills if f.con_id == leg.con_id)
        units.append(whole_units(qty / leg.ratio))
    return min(units) if units else 0


_RANK = {
    None: 0,
    IntentStatus.SENT: 1,
    IntentStatus.WORKING: 2,
    IntentStatus.PARTIALLY_FILLED: 3,
    IntentStatus.REJECTED: 4,
    IntentStatus.CANCELLED: 5,
    IntentStatus.FILLED: 6,
}


def _snapshot_key(s: IbOrderSnapshot) -> tuple[int, float, int, int, str, float, float, str]:
    filled = s.filled if usable_number(s.filled) else -1.0
    avg = s.avg_fill_price if usable_number(s.avg_fill_price) else 0.0
    rem = s.remaining if usable_number(s.remaining) else 0.0
    rank = _RANK.get(status_from_ib(s.status, s.filled), 0)
    return (rank, filled, s.perm_id, s.order_id, s.status, avg, rem, s.note or "")


def _pick(snaps: list[IbOrderSnapshot]) -> IbOrderSnapshot:
    """The most advanced report: terminal first, then the most filled.

    Deliberately blind to the ids the journal holds: those change when a result is applied,
    and a choice that depended on them would not be idempotent.
    """
    return max(snaps, key=_snapshot_key)


def _fill_words(n: int, spec: SpreadOrderSpec) -> str:
    return f"{n} of {spec.quantity} filled"


def _reason(it: OrderIntent, snap: IbOrderSnapshot, observed: IntentStatus | None) -> str | None:
    """IB's words for an order that ended unfilled (a completed order's ``note``), to keep
    as the intent's error text: a rejection that happened while the app was down arrives
    only this way. None when the journal already has a reason or IB said nothing more
    than the status."""
    note = (snap.note or "").strip()
    if not note or note == snap.status.strip() or it.last_error_text:
        return None
    return note if observed in (IntentStatus.CANCELLED, IntentStatus.REJECTED) else None


_REJECTION_PREFIX = re.compile(r"^\s*(order\s+)?rejected\s*(-\s*reason\s*)?[:-]?\s*", re.I)


def _reason_words(text: str | None) -> str:
    """A rejection's reason without IB's "Order rejected - reason:" / "Rejected:" prefix."""
    return _REJECTION_PREFIX.sub("", (text or "").strip()).strip().casefold()


def _rejection_as_ib_reports_it(it: OrderIntent, snap: IbOrderSnapshot, filled: float) -> bool:
    """A REJECTED intent whose order IB lists as Cancelled, unfilled, for the same reason
    (or IB gives none): how IB reports a rejection, not a disagreement."""
    if it.status is not IntentStatus.REJECTED or filled > 0:
        return False
    if status_from_ib(snap.status, filled) is not IntentStatus.CANCELLED:
        return False
    ours, theirs = _reason_words(it.last_error_text), _reason_words(snap.note)
    if not theirs or theirs == snap.status.strip().casefold() or not ours:
        return True
    return theirs in ours or ours in theirs


def _digest(parts: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(parts)).encode()).hexdigest()[:16]


def untold(result: ReconcileResult, told: Callable[[str], bool]) -> ReconcileResult:
    """``result`` without the findings whose discrepancy was already told (``told(key)``):
    reconciling again after a reconnect or a restart tells nothing twice."""
    kept = tuple(f for f in result.findings if f.key is None or not told(f.key))
    return result if len(kept) == len(result.findings) else replace(result, findings=kept)


def reconcile(
    intents: Sequence[OrderIntent],
    ib_orders: Sequence[IbOrderSnapshot],
    ib_fills: Sequence[Fill],
    now: datetime,
) -> ReconcileResult:
    """Match IB's orders and fills to the journal's intents by orderRef; see the module doc."""
    known: dict[str, OrderIntent] = {}
    for it in intents:
        if it.intent_id in known:
            raise ValueError(f"intent {it.intent_id} is given twice")
        known[it.intent_id] = it

    orders_by_ref: dict[str, list[IbOrderSnapshot]] = defaultdict(list)
    orphan_orders: list[IbOrderSnapshot] = []
    external_orders = 0
    for s in ib_orders:
        ref = (s.order_ref or "").strip()
        if ref in known:
            orders_by_ref[ref].append(s)
        elif is_our_ref(ref):
            orphan_orders.append(s)
        else:
            external_orders += 1

    fills_by_ref: dict[str, list[Fill]] = defaultdict(list)
    ours: list[Fill] = []
    orphan_fills: list[Fill] = []
    external_fills = 0
    for f in _dedup_fills(ib_fills):
        ref = (f.order_ref or f.intent_id or "").strip()
        if ref in known:
            attached = f if f.intent_id == ref else f.model_copy(update={"intent_id": ref})
            fills_by_ref[ref].append(attached)
            ours.append(attached)
        elif is_our_ref(ref):
            orphan_fills.append(f)
        else:
            external_fills += 1

    updates: list[IntentUpdate] = []
    findings: list[Finding] = []
    needs_user: list[str] = []
    for it in intents:
        iid = it.intent_id
        snaps = orders_by_ref.get(iid, [])
        fills = fills_by_ref.get(iid, [])
        from_fills = filled_from_fills(it.spec, fills)
        update: IntentUpdate
        why: str
        if snaps:
            snap = _pick(snaps)
            perms = sorted({s.perm_id for s in snaps if s.perm_id > 0})
            if len(perms) > 1:
                findings.append(
                    Finding(
                        EventLevel.WARNING,
                        f"{iid}: IB reports {len(perms)} orders with this ref (perm ids "
                        f"{', '.join(map(str, perms))}); using perm id {snap.perm_id}.",
                        iid,
                        key=f"{iid}/perm-ids/{','.join(map(str, perms))}",
                    )
                )
            ib_filled = snap.filled if usable_number(snap.filled) else 0.0
            filled = max(ib_filled, float(from_fills))
            observed = status_from_ib(snap.status, filled)
            if observed is None and it.status is IntentStatus.PENDING_SEND:
                observed = IntentStatus.SENT  # IB has it, so it was sent, whatever its state
            reason = _reason(it, snap, observed)
            update = IntentUpdate(
                iid,
                status=observed,
                order_id=snap.order_id,
                perm_id=snap.perm_id,
                filled=filled,
                avg_fill_price=snap.avg_fill_price,
                error_text=reason,
            )
            why = f"IB reports {snap.status!r}" + (f": {reason}" if reason else "")
            if status_from_ib(snap.status) is None:
                recorded = next_status(it.status, observed or it.status)
                findings.append(
                    Finding(
                        EventLevel.WARNING,
                        f"{iid}: IB order status {snap.status!r} is not one we know; "
                        f"the journal records it as {recorded.value}.",
                        iid,
                        key=f"{iid}/ib-status-unknown/{snap.status}",
                    )
                )
            elif (
                it.is_terminal
                and observed != it.status
                and not _rejection_as_ib_reports_it(it, snap, filled)
            ):
                findings.append(
                    Finding(
                        EventLevel.WARNING,
                        f"{iid}: IB reports {snap.status!r} but the journal has it "
                        f"{it.status.value}; kept {it.status.value}, please check in TWS.",
                        iid,
                        key=f"{iid}/ib-status/{snap.status}",
                    )
                )
        elif fills:
            complete = from_fills >= it.spec.quantity
            observed = IntentStatus.FILLED if complete else IntentStatus.UNKNOWN
            update = IntentUpdate(iid, status=observed, filled=float(from_fills))
            why = f"no IB order, fills show {_fill_words(from_fills, it.spec)}"
        elif not it.is_terminal:
            update = IntentUpdate(iid, status=IntentStatus.UNKNOWN)
            if it.status in (IntentStatus.PENDING_SEND, IntentStatus.SENT):
                why = (
                    "IB has no trace of it: it may never have been sent. It will NOT be "
                    "resent automatically; check TWS and dismiss it or place a new order"
                )
            else:
                why = "IB no longer reports this order or any fill for it; check TWS"
        else:
            continue

        after = apply_update(it, update, now)
        if after.status is IntentStatus.UNKNOWN:
            needs_user.append(iid)
        if after is it:
            continue
        updates.append(update)
        if after.status != it.status:
            level = EventLevel.WARNING if after.status is IntentStatus.UNKNOWN else EventLevel.INFO
            findings.append(
                Finding(level, f"{iid}: {it.status.value} -> {after.status.value} ({why}).", iid)
            )
        elif after.filled != it.filled:
            findings.append(
                Finding(
                    EventLevel.INFO,
                    f"{iid}: {_fill_words(after.filled, it.spec)} (was {it.filled}; {why}).",
                    iid,
                )
            )

    orphan_orders.sort(key=lambda s: (s.order_ref or "", s.perm_id, s.order_id, s.status))
    for s in orphan_orders:
        findings.append(
            Finding(
                EventLevel.WARNING,
                f"IB has order {s.order_ref} (order id {s.order_id}, perm id {s.perm_id}, "
                f"{s.status}) that the journal does not know; it is left alone.",
                key=f"orphan-order/{s.order_ref}/{s.perm_id or s.order_id}",
            )
        )
    if orphan_fills:
        refs = sorted({f.order_ref or f.intent_id or "" for f in orphan_fills})
        findings.append(
            Finding(
                EventLevel.WARNING,
                f"{len(orphan_fills)} fill(s) carry refs the journal does not know: "
                f"{', '.join(refs)}.",
                key=f"orphan-fills/{_digest([f.exec_id for f in orphan_fills])}",
            )
        )
    if external_orders or external_fills:
        findings.append(
            Finding(
                EventLevel.INFO,
                f"Ignored {external_orders} order(s) and {external_fills} fill(s) not placed "
                "by tui-trader.",
                key=f"external/{now:%Y-%m-%d}/{external_orders}/{external_fills}",
            )
        )
    return ReconcileResult(
        at=now,
        updates=tuple(updates),
        fills=tuple(ours),
        orphan_orders=tuple(orphan_orders),
        orphan_fills=tuple(orphan_fills),
        external_orders=external_orders,
        external_fills=external_fills,
        findings=tuple(findings),
        needs_user=tuple(needs_user),
    )


def apply_result(
    intents: Sequence[OrderIntent], result: ReconcileResult, now: datetime
) -> list[OrderIntent]:
    """The intents after ``result``'s updates, as the journal would store them (pure)."""
    by_id = {u.intent_id: u for u in result.updates}
    out = []
    for it in intents:
        u = by_id.get(it.intent_id)
        out.append(it if u is None else apply_update(it, u, now))
    return out
