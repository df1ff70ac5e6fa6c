"""Order details (issue 13, "What traders expect"): the dialog ``d`` opens on the Orders
screen for the highlighted order -- what TWS's order ticket shows and the Orders table has
no room for: IB's order id and permId, the time in force, the commission of the order, and
each leg fill with its time, side, quantity, price and commission.

The fills come from the engine's journal (the ``Orders`` slice carries the intents, not
their fills); without one the dialog says so and shows the rest. Read-only: ``escape`` (or
``d`` again) closes it and nothing is sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tui_trader.core.calendar import ET
from tui_trader.core.models import Fill, OrderIntent
from tui_trader.tui.screens.confirm import order_text
from tui_trader.tui.screens.history import JournalSource
from tui_trader.tui.widgets.cells import MISSING, number

NO_FILLS_SOURCE = "Fills: no journal here to read them from."


def _time(t: datetime) -> str:
    return f"{t.astimezone(ET):%Y-%m-%d %H:%M:%S} ET"


def detail_lines(intent: OrderIntent, fills: Sequence[Fill] | None) -> list[str]:
    """The dialog's text, one line each; ``fills`` None: no journal to read them from."""
    # broker.contracts pulls ib_insync: not at import (Help lists this dialog's keys before
    # the first frame, which needs none of the engine's heavy imports)
    from tui_trader.broker.contracts import ORDER_TIF

    spec = intent.spec
    ib_id = MISSING if intent.order_id is None else str(intent.order_id)
    perm = MISSING if intent.perm_id is None else str(intent.perm_id)
    lines = [
        order_text(spec),
        f"Status {intent.status.value}, filled {intent.filled}/{spec.quantity}, "
        f"avg {number(intent.avg_fill_price)}, working limit {number(intent.working_limit)}, "
        f"walk step {intent.walk_step}",
        f"Time in force {ORDER_TIF} · IB order id {ib_id} · permId {perm} · "
        f"orderRef {intent.intent_id}",
        f"Commission of the order {number(intent.commission)}",
        f"Created {_time(intent.created_at)} · updated {_time(intent.updated_at)}",
    ]
    if intent.last_error_code is not None or intent.last_error_text:
        code = "" if intent.last_error_code is None else f"{intent.last_error_code} "
        lines.append(f"Last IB error {code}{intent.last_error_text or ''}".rstrip())
    if fills is None:
        lines.append(NO_FILLS_SOURCE)
        return lines
    if not fills:
        lines.append("Fills: none yet.")
        return lines
    legs = {leg.con_id: f"{leg.strike:g} {leg.right}" for leg in spec.legs}
    lines.append(f"Fills ({len(fills)}):")
    for f in fills:
        leg = legs.get(f.con_id, f"conId {f.con_id}")
        lines.append(
            f"  {f.time.astimezone(ET):%m-%d %H:%M:%S}  {leg:<9} {f.side} {f.quantity:g} "
            f"@ {f.price:.2f}  comm {number(f.commission)}  exec {f.exec_id}"
        )
    return lines


def read_fills(engine: object, intent_id: str) -> list[Fill] | None:
    """The intent's fills from the engine's journal; None without a journal to read."""
    if not isinstance(engine, JournalSource):
        return None
    try:
        return engine.journal.fills(intent_id)
    except sqlite3.Error:
        return None


class OrderDetailScreen(ModalScreen[None]):
    """One order's details (module doc)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close the order details", id="close_order_detail"),
        Binding("d", "close", "Close the order details", show=False, id="close_order_detail_d"),
    ]

    DEFAULT_CSS = """
    OrderDetailScreen {
        align: center middle;
        background: $background 60%;
    }
    OrderDetailScreen > Vertical {
        width: 100;
        max-width: 98%;
        height: auto;
        max-height: 95%;
        padding: 0 1;
        border: thick $accent;
        background: $surface;
    }
    OrderDetailScreen Label {
        width: 100%;
    }
    OrderDetailScreen #order-detail-title {
        text-style: bold;
        color: $accent;
    }
    OrderDetailScreen #order-detail-keys {
        color: $text-muted;
    }
    """

    def __init__(self, intent: OrderIntent, fills: Sequence[Fill] | None) -> None:
        super().__init__()
        self.intent = intent
        self.lines = detail_lines(intent, fills)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Order {self.intent.intent_id}", id="order-detail-title", markup=False)
            yield Label("\n".join(self.lines), id="order-detail-text", markup=False)
            yield Label("esc = close", id="order-detail-keys", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
