"""The Orders screen: every journaled order intent, newest first.

Working, filled, cancelled, rejected and unknown-outcome intents from the ``Orders`` slice,
each with its status, fills against the quantity, average fill price, the limit working at
IB, the walking step (step/max and when the next is due while the engine walks it; "not
walking" for a working order the engine does not walk), and IB's last error. ``c`` cancels
the highlighted intent after a confirmation; an intent that is already final cannot be
cancelled and says so.

Widths (issue 13): at 120 columns every column fits. The Order column is the order in
short (``BUY 4 MSFT 261231 520/540 C``: expiry as YYMMDD, no limit: the Limit column shows
the one working at IB), Created is the time alone for today's orders, and IB's last error
is cut to :data:`ERROR_WIDTH` characters (its code first) -- ``d`` shows the order's full
details, the whole error text and the entry limit included. At 80 columns Created to Limit
show; Walk, IB error and Intent are a few right-arrow presses away (a column a press), and
``d`` has them all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType

from tui_trader.core.calendar import ET
from tui_trader.core.models import IntentStatus, OrderIntent, SpreadOrderSpec
from tui_trader.state.store import Orders
from tui_trader.tui.screens.base import TraderScreen
from tui_trader.tui.screens.confirm import ConfirmScreen, order_text
from tui_trader.tui.widgets.cells import MISSING, Palette, left, number, right
from tui_trader.tui.widgets.tables import DiffTable, Justify

COLUMNS: tuple[tuple[str, str, Justify], ...] = (
    ("time", "Created", "left"),
    ("status", "Status", "left"),
    ("order", "Order", "left"),
    ("filled", "Fill", "right"),
    ("avg", "Avg", "right"),
    ("limit", "Limit", "right"),
    ("step", "Walk", "right"),
    ("error", "IB error", "left"),
    ("id", "Intent", "left"),
)
#: The IB error cell's width: the code and the start of IB's words (module doc).
ERROR_WIDTH = 10


def short_order(spec: SpreadOrderSpec) -> str:
    """The order in the table's words: ``BUY 4 MSFT 261231 520/540 C`` (module doc)."""
    long_leg, short_leg = spec.long_leg, spec.short_leg
    expiry = long_leg.expiry[2:] if len(long_leg.expiry) == 8 else long_leg.expiry
    return (
        f"{spec.action} {spec.quantity} {spec.underlying} {expiry} "
        f"{long_leg.strike:g}/{short_leg.strike:g} {long_leg.right}"
    )


def error_cell(intent: OrderIntent) -> str:
    """IB's last error cut to :data:`ERROR_WIDTH` (an ellipsis says it was cut)."""
    if intent.last_error_code is None and not intent.last_error_text:
        return MISSING
    code = f"{intent.last_error_code} " if intent.last_error_code is not None else ""
    text = f"{code}{intent.last_error_text or ''}".strip()
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"


def status_style(status: IntentStatus, palette: Palette) -> Style:
    """Bold for live orders, the loss colour for rejected/unknown, muted for cancelled."""
    if status in (IntentStatus.REJECTED, IntentStatus.UNKNOWN):
        return palette.down + Style(bold=True)
    if status is IntentStatus.FILLED:
        return palette.up
    if status is IntentStatus.CANCELLED:
        return palette.muted
    return Style(bold=True)


#: Statuses the engine walks (SPEC 6); one of these without a walk is said to be so.
WALKED = frozenset({IntentStatus.WORKING, IntentStatus.PARTIALLY_FILLED})


def walk_text(intent: OrderIntent, walk: object | None) -> str:
    """The walking step: ``2/5 14:30:20`` (step of max, next step due, ET) while the engine
    walks the order (``Orders.walking``), else the journaled step; a working order that is
    not walked says so (``2 not walking``: IB lists it under another clientId, or its walk
    stopped, see the Log), so a stalled walk cannot pass for one that is waiting."""
    if walk is None:
        if intent.status in WALKED:
            return f"{intent.walk_step} not walking"
        return str(intent.walk_step)
    step, max_steps = getattr(walk, "step", intent.walk_step), getattr(walk, "max_steps", None)
    text = f"{step}/{max_steps}" if max_steps is not None else str(step)
    next_at = getattr(walk, "next_at", None)
    if isinstance(next_at, datetime):
        text += f" {next_at.astimezone(ET):%H:%M:%S}"
    return text


def intent_cells(
    intent: OrderIntent, palette: Palette, walk: object | None = None, today: date | None = None
) -> tuple[Text, ...]:
    """One row; ``today`` (ET) shortens Created to the time for that day's orders."""
    spec = intent.spec
    error = error_cell(intent)
    avg = intent.avg_fill_price
    created = intent.created_at.astimezone(ET)
    when = f"{created:%H:%M:%S}" if created.date() == today else f"{created:%m-%d %H:%M}"
    return (
        left(when),
        left(intent.status.value, status_style(intent.status, palette)),
        left(short_order(spec)),
        right(f"{intent.filled}/{spec.quantity}"),
        right(number(avg) if avg is not None else MISSING),
        right(number(intent.working_limit) if intent.working_limit is not None else MISSING),
        right(walk_text(intent, walk)),
        left(error, palette.down if error != MISSING else palette.muted),
        left(intent.intent_id, palette.muted),
    )


class OrdersScreen(TraderScreen):
    """Orders: the journal's intents."""

    TITLE = "Orders"
    AUTO_FOCUS = "#orders-table"
    WATCHES = frozenset({Orders})
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "cancel_order", "Cancel the selected order (asks first)", id="cancel_order"),
        Binding(
            "d", "order_details", "Details: fills, commission, TIF, permId", id="order_details"
        ),
    ]

    def compose_body(self) -> Iterable[Any]:
        yield DiffTable(COLUMNS, id="orders-table")

    @property
    def table(self) -> DiffTable:
        return self.query_one("#orders-table", DiffTable)

    def render_body(self) -> None:
        orders = self.trader.store.get(Orders)
        palette = self.palette
        intents = list(reversed(orders.intents))
        walks = {getattr(w, "intent_id", None): w for w in getattr(orders, "walking", ())}
        now = self.trader.now()
        today = now.astimezone(ET).date() if now is not None else None
        self.table.sync(
            [
                (i.intent_id, intent_cells(i, palette, walks.get(i.intent_id), today))
                for i in intents
            ]
        )
        counts: dict[str, int] = {}
        for i in orders.intents:
            counts[i.status.value] = counts.get(i.status.value, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        self.set_status(
            f"{len(orders.active)} active of {len(orders.intents)}"
            + (f" ({summary})" if summary else "")
        )

    def selected_intent(self) -> OrderIntent | None:
        key = self.table.highlighted_key
        return next((i for i in self.trader.store.get(Orders).intents if i.intent_id == key), None)

    def action_order_details(self) -> None:
        """The highlighted order's details (:mod:`tui_trader.tui.screens.order_detail`)."""
        from tui_trader.tui.screens.order_detail import OrderDetailScreen, read_fills

        intent = self.selected_intent()
        if intent is None:
            self.notify("No order selected.", severity="warning")
            return
        fills = read_fills(self.trader.engine, intent.intent_id)
        self.app.push_screen(OrderDetailScreen(intent, fills))

    def action_cancel_order(self) -> None:
        intent = self.selected_intent()
        if intent is None:
            self.notify("No order selected.", severity="warning")
            return
        if intent.is_terminal:
            self.notify(
                f"{intent.intent_id} is {intent.status.value}: nothing to cancel.",
                severity="warning",
            )
            return
        if self.trader.engine is None:
            self.trader.call_engine("cancel", lambda e: e.cancel(intent.intent_id))
            return
        self.app.push_screen(
            ConfirmScreen(
                "Cancel order?",
                order_text(intent.spec),
                f"{intent.intent_id}: {intent.status.value}, "
                f"{intent.filled}/{intent.spec.quantity} filled.",
            ),
            lambda yes: self._cancel_answer(intent.intent_id, yes),
        )

    def _cancel_answer(self, intent_id: str, yes: bool | None) -> None:
        if yes:
            self.trader.call_engine(f"cancel {intent_id}", lambda e: e.cancel(intent_id))
