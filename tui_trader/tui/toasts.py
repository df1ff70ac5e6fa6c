"""Which store changes the trader must not miss: the toasts for connection changes, order
outcomes (rejected, filled, cancelled, unknown) and breaker trips.

Pure rules over one :class:`~tui_trader.state.store.Change` (its previous and new value), so
they are decided from the change itself, never from a coalesced redraw, and none is lost;
the app shows what they return (:meth:`TraderApp.notify`, one notice per ``topic``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tui_trader.core.models import IntentStatus, OrderIntent
from tui_trader.core.risk import BreakerState, BreakerStatus
from tui_trader.state.store import Change, ConnectionState, Health, Orders
from tui_trader.tui.screens.confirm import order_text

Severity = Literal["information", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Toast:
    """One notice; ``topic`` (empty: the title's) is what a newer notice replaces."""

    message: str
    title: str = ""
    severity: Severity = "information"
    topic: str = ""


def toasts_for(change: Change[Any]) -> list[Toast]:
    """The toasts ``change`` raises, in order (none for most changes)."""
    if change.slice is Health:
        old, new = change.previous.state, change.value.state
        if old == new:
            return []
        severity: Severity = (
            "information"
            if new is ConnectionState.CONNECTED
            else "error"
            if new is ConnectionState.DOWN
            else "warning"
        )
        return [Toast(f"{old.value} -> {new.value}", title="Connection", severity=severity)]
    if change.slice is Orders:
        before = {i.intent_id: i for i in change.previous.intents}
        found = (order_toast(before.get(i.intent_id), i) for i in change.value.intents)
        return [t for t in found if t is not None]
    if change.slice is BreakerState:
        was, now = change.previous.status, change.value.status
        if was is BreakerStatus.ACTIVE and now is BreakerStatus.HALTED:
            reason = change.value.reason or "a circuit breaker tripped"
            return [
                Toast(
                    f"New entries halted: {reason}.",
                    title="HALTED",
                    severity="error",
                    topic="breakers",
                )
            ]
        if was is BreakerStatus.HALTED and now is BreakerStatus.ACTIVE:
            return [Toast("New entries allowed again.", title="Breakers cleared", topic="breakers")]
    return []


def order_toast(old: OrderIntent | None, new: OrderIntent) -> Toast | None:
    """The toast for one order's change from ``old`` (None: new to the store) to ``new``."""
    if old is not None and old.status == new.status and old.filled == new.filled:
        return None
    what = order_text(new.spec)
    if new.status is IntentStatus.REJECTED and (old is None or not old.is_terminal):
        reason = new.last_error_text or (
            f"IB error {new.last_error_code}" if new.last_error_code else "no reason given"
        )
        return Toast(
            f"{what}: {reason}",
            title="Order rejected",
            severity="error",
            topic=f"{new.intent_id} rejected",
        )
    if new.filled > (old.filled if old else 0):
        avg = "" if new.avg_fill_price is None else f" avg {new.avg_fill_price:.2f}"
        title = "Filled" if new.status is IntentStatus.FILLED else "Partial fill"
        return Toast(
            f"{what}: {new.filled}/{new.spec.quantity}{avg}",
            title=title,
            topic=f"{new.intent_id} {title}",
        )
    if old is not None and new.status is IntentStatus.CANCELLED:
        return Toast(what, title="Order cancelled", topic=f"{new.intent_id} cancelled")
    if old is not None and new.status is IntentStatus.UNKNOWN:
        return Toast(
            f"{what}: outcome unknown, check TWS.",
            title="Order unknown",
            severity="warning",
            topic=f"{new.intent_id} unknown",
        )
    return None
