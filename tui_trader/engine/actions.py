"""What the dashboard may ask of the engine: the one door from keys to trading.

The TUI reads everything it shows from the store and changes the world only through these
calls, so every order-touching decision (risk gates, journal-first placing, refusals) lives
in the engine and is the same with or without a screen. The engine (``tui_trader.engine``)
implements this protocol; the TUI depends on the protocol, never on broker code.

Every call returns a short outcome the UI can show (a toast); refusals are not exceptions,
because "the risk gate said no" is a normal answer a trader must read, not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of an action: ``ok`` and one sentence for the user."""

    ok: bool
    message: str


class EngineActions(Protocol):
    """The engine's actions, each safe to call at any time from the UI's event loop."""

    async def rescan(self) -> Outcome:
        """Scan the universe again now (``r`` on the scanner)."""
        ...

    async def preview(self, symbol: str) -> Outcome:
        """Fetch the chain for ``symbol`` and rank spreads into the Candidates/Preview slices."""
        ...

    async def select_spread(self, index: int) -> Outcome:
        """Choose the ``index``-th ranked spread of the current preview."""
        ...

    async def adjust_quantity(self, delta: int) -> Outcome:
        """Change the previewed order's quantity by ``delta`` contracts (gates re-checked)."""
        ...

    async def adjust_limit(self, ticks: int) -> Outcome:
        """Move the previewed order's limit by ``ticks`` combo ticks (never past natural)."""
        ...

    async def refresh_what_if(self) -> Outcome:
        """Ask IB for margin and commission of the previewed order."""
        ...

    async def transmit(self) -> Outcome:
        """Send the previewed order (after the UI's confirmation): journal first, then IB."""
        ...

    async def preview_close(self, spread_key: str) -> Outcome:
        """Preview the closing (SELL) order for an open spread."""
        ...

    async def cancel(self, intent_id: str) -> Outcome:
        """Cancel a working order."""
        ...

    async def kill_switch(self) -> Outcome:
        """Cancel every working order and halt new entries until the user clears it."""
        ...

    async def clear_kill_switch(self) -> Outcome:
        """The user's decision to allow new entries again (a tripped breaker still holds)."""
        ...

    async def arm_auto(self, dry_run: bool) -> Outcome:
        """Arm the auto-trader (SPEC 11); ``dry_run``: every step, nothing transmitted.
        The UI asks for the confirmation SPEC 11 describes first."""
        ...

    async def disarm_auto(self) -> Outcome:
        """Turn the auto-trader off (working orders stay; exits are no longer sent)."""
        ...

    async def open_chain(self, symbol: str) -> Outcome:
        """Open any symbol's option chain (``:`` then a ticker; issue 13), in the universe
        or not; an unknown ticker is the outcome's one sentence."""
        ...

    async def step_chain(self, expiries: int, strikes: int) -> Outcome:
        """Move the chain ``expiries`` expiries later (< 0: earlier) and its window of
        strikes ``strikes`` pages higher (< 0: lower)."""
        ...

    async def close_chain(self) -> Outcome:
        """Leave the chain: every line it streamed is given back."""
        ...

    async def preview_chain_spread(
        self, direction: str, long_strike: float, short_strike: float
    ) -> Outcome:
        """Preview the vertical picked on the chain (``direction`` LONG: bull call, SHORT:
        bear put) through the one preview, gates and confirmation a signal uses."""
        ...
