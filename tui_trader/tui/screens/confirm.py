"""The yes/no modal in front of every action that sends, cancels or stops something, and the
one-line order text it shows.

The modal states exactly what will happen (for an order: side, quantity, underlying,
expiry, strikes, right, price, type and account mode) and defaults to *no*: only ``y``
confirms; ``n``, ``escape`` and anything else leave the world untouched.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from tui_trader.core.models import SpreadOrderSpec
from tui_trader.core.risk import BreakerState


def order_text(spec: SpreadOrderSpec, *, with_mode: bool = True) -> str:
    """The order as the confirmation states it, e.g.
    ``BUY 2 AAPL 20261218 200/205 C @ 1.85 LMT, PAPER`` (long strike first; a market
    order reads ``@ MKT``). Everything shown comes from the spec that will be sent.
    ``with_mode`` False drops ", PAPER" (tables where the footer already says it)."""
    long_leg, short_leg = spec.long_leg, spec.short_leg
    if spec.order_type == "MKT" or spec.limit_price is None:
        price = "MKT"
    else:
        price = f"{spec.limit_price:.2f} LMT"
    text = (
        f"{spec.action} {spec.quantity} {spec.underlying} {long_leg.expiry} "
        f"{long_leg.strike:g}/{short_leg.strike:g} {long_leg.right} @ {price}"
    )
    return f"{text}, {spec.mode.upper()}" if with_mode else text


def clear_kill_switch_question(state: BreakerState) -> tuple[str, str, str]:
    """(title, message, detail) of the confirmation before clearing the kill switch: what
    it re-enables (new opening orders, each still gated), what it does not (a breaker that
    tripped today stays tripped; the auto-trader stays off; cancelled orders stay
    cancelled)."""
    if state.breaker_code is not None:
        why = f" ({state.breaker_reason})" if state.breaker_reason else ""
        breaker = (
            f"Circuit breaker {state.breaker_code} tripped today{why} and stays tripped "
            "until the next trading day: entries stay halted until then."
        )
    else:
        breaker = "No circuit breaker is tripped."
    return (
        "Clear the kill switch",
        "Allow new opening orders again? Each one still has to pass every risk gate.",
        f"{breaker} The auto-trader stays off. Orders the kill switch cancelled stay "
        "cancelled; nothing is re-sent.",
    )


class ConfirmScreen(ModalScreen[bool]):
    """Ask one question; dismisses with True only on ``y``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm_yes"),
        Binding("n", "answer(False)", "No", id="confirm_no"),
        Binding("escape", "answer(False)", "No", id="confirm_cancel"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        background: $background 60%;
    }
    ConfirmScreen > Vertical {
        width: 88;
        max-width: 95%;
        height: auto;
        padding: 1 2;
        border: thick $warning;
        background: $surface;
    }
    ConfirmScreen Label {
        width: 100%;
    }
    ConfirmScreen #confirm-title {
        text-style: bold;
        color: $warning;
        margin-bottom: 1;
    }
    ConfirmScreen #confirm-message {
        text-style: bold;
    }
    ConfirmScreen #confirm-detail {
        margin-top: 1;
        color: $text-muted;
    }
    ConfirmScreen #confirm-keys {
        margin-top: 1;
    }
    """

    def __init__(self, title: str, message: str, detail: str = "") -> None:
        super().__init__()
        self.confirm_title = title
        self.message = message
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.confirm_title, id="confirm-title", markup=False)
            yield Label(self.message, id="confirm-message", markup=False)
            if self.detail:
                yield Label(self.detail, id="confirm-detail", markup=False)
            yield Label("y = yes    n / esc = no", id="confirm-keys", markup=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
