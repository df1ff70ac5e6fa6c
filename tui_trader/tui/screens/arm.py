"""The confirmation before the auto-trader is armed (SPEC 11), and the question's wording.

Arming lets the dashboard send orders with no key pressed, so the question states what it
will trade with: the account mode (PAPER or LIVE, from the ``Account`` slice), the
``[risk]`` limits it stays inside (open spreads, entries a day, risk per trade), the
universe it picks from, and how much of today's limits is already used. Decisions:

- **Three answers, no default.** ``y`` arms, ``d`` arms as a dry run (every step, nothing
  transmitted), ``n`` / ``escape`` leave it off. Nothing else answers.
- **LIVE needs the word.** When the account is LIVE -- or its mode is not known yet, which
  is treated as LIVE: money is never assumed to be pretend -- ``y`` does not arm. It puts
  the cursor in a text box, and only ``LIVE`` typed there, then ``enter``, arms. Anything
  else refuses (:attr:`ArmAnswer.REFUSED`, the dialog closes and says why): a confirmation
  for real money that was mistyped is started over, not corrected in place. A dry run
  sends nothing, so ``d`` needs no word, in either mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from tui_trader.core.settings import RiskSettings
from tui_trader.state.store import Account, AccountMode, Automation

#: What must be typed to arm against a live account.
LIVE_WORD = "LIVE"


class ArmAnswer(StrEnum):
    """How the arm confirmation was answered (None from the dialog: no)."""

    ARM = "arm"
    DRY_RUN = "dry_run"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ArmQuestion:
    """The arm confirmation's lines; ``live`` asks for :data:`LIVE_WORD` to be typed."""

    title: str
    message: str
    limits: str
    today: str
    live: bool


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def arm_question(
    account: Account,
    automation: Automation,
    risk: RiskSettings,
    universe_size: int,
    *,
    key: str = "a",
) -> ArmQuestion:
    """The question for the current state: mode, ``[risk]`` limits, universe, today's use;
    ``key`` is the key that disarms (``[ui] keys`` may have moved it)."""
    if account.mode is AccountMode.PAPER:
        mode, live = "PAPER", False
    elif account.mode is AccountMode.LIVE:
        mode, live = "LIVE: real money", True
    else:
        mode, live = "not known yet, treated as LIVE", True
    return ArmQuestion(
        title=f"Arm the auto-trader ({mode})",
        message=(
            "It will open spreads on its own in the entry window and close them when an "
            f"exit rule holds, until you disarm it ({key}) or the kill switch stops it."
        ),
        limits=(
            f"Limits: at most {_plural(risk.max_positions, 'open spread')}, "
            f"{_plural(risk.max_daily_trades, 'entry', 'entries')} a day, "
            f"{risk.risk_per_trade * 100:.1f}% of net liquidation at risk per trade. "
            f"Universe: {_plural(universe_size, 'symbol')}."
        ),
        today=(
            f"Today so far: {automation.entries_today} of {risk.max_daily_trades} entries, "
            f"{automation.open_spreads} of {risk.max_positions} spreads open."
        ),
        live=live,
    )


class ArmScreen(ModalScreen[ArmAnswer | None]):
    """Ask before arming; dismisses with an :class:`ArmAnswer`, or None for no."""

    AUTO_FOCUS = ""  # no auto focus: the LIVE box takes the cursor only after ``y``
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "arm", "Arm (live: then type LIVE and enter)", id="arm_yes"),
        Binding("d", "dry_run", "Arm as a dry run: nothing is transmitted", id="arm_dry_run"),
        Binding("n", "no", "No", id="arm_no"),
        Binding("escape", "no", "No", id="arm_cancel"),
    ]

    DEFAULT_CSS = """
    ArmScreen {
        align: center middle;
        background: $background 60%;
    }
    ArmScreen > Vertical {
        width: 88;
        max-width: 95%;
        height: auto;
        padding: 1 2;
        border: thick $warning;
        background: $surface;
    }
    ArmScreen.-live > Vertical {
        border: thick $live;
    }
    ArmScreen Label {
        width: 100%;
    }
    ArmScreen #arm-title {
        text-style: bold;
        color: $warning;
        margin-bottom: 1;
    }
    ArmScreen.-live #arm-title {
        color: $live;
    }
    ArmScreen #arm-message {
        text-style: bold;
    }
    ArmScreen #arm-limits {
        margin-top: 1;
    }
    ArmScreen #arm-today {
        color: $text-muted;
    }
    ArmScreen #arm-keys {
        margin-top: 1;
    }
    ArmScreen #arm-live {
        width: 24;
        margin-top: 1;
    }
    """

    def __init__(self, question: ArmQuestion) -> None:
        super().__init__(classes="-live" if question.live else "")
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical():
            yield Label(q.title, id="arm-title", markup=False)
            yield Label(q.message, id="arm-message", markup=False)
            yield Label(q.limits, id="arm-limits", markup=False)
            yield Label(q.today, id="arm-today", markup=False)
            if q.live:
                box = Input(placeholder=f"type {LIVE_WORD}", id="arm-live", max_length=16)
                box.cursor_blink = getattr(self.app, "cursor_blink", True)  # still snapshots
                yield box
                keys = (
                    f"y, then type {LIVE_WORD} + enter = arm    d = dry run (nothing sent)"
                    "    n / esc = no"
                )
            else:
                keys = "y = arm    d = dry run (nothing sent)    n / esc = no"
            yield Label(keys, id="arm-keys", markup=False)

    def action_arm(self) -> None:
        if not self.question.live:
            self.dismiss(ArmAnswer.ARM)
            return
        self.query_one("#arm-live", Input).focus()

    def action_dry_run(self) -> None:
        self.dismiss(ArmAnswer.DRY_RUN)

    def action_no(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(ArmAnswer.ARM if event.value == LIVE_WORD else ArmAnswer.REFUSED)
