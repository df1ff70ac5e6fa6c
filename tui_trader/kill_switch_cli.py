"""``tui-trader kill-switch status|engage|clear [--journal FILE]``: the persisted kill switch,
while no engine runs (see :func:`cmd_kill_switch`).

Registered by :mod:`tui_trader.cli`; the journal and engine modules are imported only when
it runs.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime
from pathlib import Path
from typing import Any

from tui_trader.cli_common import EXIT_OK, UsageError
from tui_trader.core.settings import Settings


def add_kill_switch_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``kill-switch`` subcommand (``sub`` is cli's subparsers object)."""
    kill = sub.add_parser(
        "kill-switch", parents=[common],
        help="show, engage or clear the persisted kill switch (while no engine runs)",
    )  # fmt: skip
    kill.add_argument(
        "action",
        choices=["status", "engage", "clear"],
        help="status: print it; engage: the next engine starts HALTED; clear: allow entries",
    )
    kill.add_argument(
        "--journal",
        type=Path,
        metavar="FILE",
        help="the engine's journal (default: the one tui-trader uses)",
    )


def _when(t: datetime | None) -> str:
    """A journal time as the trader reads it: New York time, UTC in brackets."""
    from datetime import UTC

    from tui_trader.core.calendar import ET

    if t is None:
        return "an unknown time"
    return f"{t.astimezone(ET):%Y-%m-%d %H:%M:%S} ET ({t.astimezone(UTC):%H:%M:%S} UTC)"


def _breaker_line(state: Any, today: date) -> str:
    """The circuit-breaker line of ``kill-switch status`` (``state``: a BreakerState)."""
    from tui_trader.core.calendar import ET

    if state.breaker_code is None:
        return "Circuit breaker: none tripped."
    since = state.breaker_since
    why = f" ({state.breaker_reason})" if state.breaker_reason else ""
    if since is not None and since.astimezone(ET).date() < today:
        until = "tripped on an earlier day: reset when an engine next starts"
    else:
        until = "holds until the next trading day"
    return f"Circuit breaker: {state.breaker_code} since {_when(since)}{why}; {until}."


def _kill_switch_status(path: Path, today: date) -> int:
    """Print the persisted state without writing (safe while an engine runs)."""
    from tui_trader.core.risk import BreakerState
    from tui_trader.engine.breakers import BREAKER_KEY
    from tui_trader.state.journal import Journal

    if not path.exists():
        print(f"Journal: {path}\nNo journal yet: the kill switch is not engaged.")
        return EXIT_OK
    with Journal(path) as journal:
        record = journal.get_kv(BREAKER_KEY)
    print(f"Journal: {path}")
    try:
        state = BreakerState.from_dict(record) if record is not None else BreakerState()
    except (ValueError, TypeError, AttributeError) as exc:
        print(f"Kill switch: the saved state cannot be read ({exc}); an engine treats it as "
              "ENGAGED.")  # fmt: skip
        print("Entries: HALTED.")
        return EXIT_OK
    if state.kill_switch:
        print(f"Kill switch: ENGAGED since {_when(state.kill_switch_since)}.")
    else:
        print("Kill switch: not engaged.")
    print(_breaker_line(state, today))
    print(f"Entries: {'HALTED' if state.status.value == 'HALTED' else 'ALLOWED'}.")
    return EXIT_OK


def _engine_running(path: Path, action: str, settings: Settings) -> UsageError:
    """The refusal while an engine holds the journal (README: the CLI never races it)."""
    import contextlib

    from tui_trader.engine.lock import lock_path

    binding = "kill_switch" if action == "engage" else "clear_kill_switch"
    key = settings.ui.keys.get(binding, "ctrl+k" if action == "engage" else "ctrl+u")
    pid = ""
    with contextlib.suppress(OSError, ValueError):  # the pid is for the message only
        pid = f" (pid {int(lock_path(path).read_text().strip())})"
    return UsageError(
        f"a tui-trader engine{pid} is running on the journal {path}: {action} the kill "
        f"switch there with the dashboard's key ({key}), or stop that engine first (it "
        "holds the kill switch in memory and would not see a change made here)"
    )


def _kill_switch_write(path: Path, action: str, settings: Settings, now: datetime) -> str:
    """Engage or clear the kill switch in the journal (the caller holds the engine lock);
    the sentence to print."""
    from tui_trader.core.models import EventLevel
    from tui_trader.engine.breakers import BreakerKeeper
    from tui_trader.state.journal import Journal
    from tui_trader.state.store import Store

    notes: list[str] = []

    def note(level: EventLevel, text: str) -> None:
        if level is EventLevel.ERROR:  # an unreadable record, restored as engaged
            notes.append(f"Note: {text}\n")

    with Journal(path) as journal:
        keeper = BreakerKeeper(journal, Store(), clock=lambda: now, risk=settings.risk, event=note)
        before = keeper.restore()
        head = "".join(notes)
        if action == "engage":
            if before.kill_switch and not notes:
                since = _when(before.kill_switch_since)
                return f"The kill switch is already engaged (since {since}); nothing changed."
            keeper.engage_kill_switch()
            journal.log_event(EventLevel.WARNING, "risk",
                              "Kill switch engaged from the command line.", now)  # fmt: skip
            return (
                f"{head}Kill switch engaged: an engine started on this journal starts HALTED "
                "(no new opening orders) until you clear it. Orders already at IB were not "
                "cancelled: cancel them in TWS or the dashboard."
            )
        after = keeper.clear_kill_switch()
        if after is None:
            return "The kill switch is not engaged; nothing changed."
        journal.log_event(EventLevel.WARNING, "risk",
                          "Kill switch cleared from the command line.", now)  # fmt: skip
    if after.breaker_code is not None:
        return (
            f"{head}Kill switch cleared, but entries are still halted: circuit breaker "
            f"{after.breaker_code} ({after.breaker_reason}) holds until the next trading "
            "day. The auto-trader stays off."
        )
    return (
        f"{head}Kill switch cleared: an engine started on this journal may send new "
        "opening orders again. The auto-trader stays off."
    )


def cmd_kill_switch(args: argparse.Namespace, settings: Settings) -> int:
    """``kill-switch status|engage|clear``: the breaker record in the journal, written
    directly through :class:`~tui_trader.engine.breakers.BreakerKeeper` (the engine's own
    rules: an unreadable record counts as engaged, a breaker from an earlier day resets).

    Decision: ``engage`` and ``clear`` hold the engine lock while they write, so no engine
    can start meanwhile; while an engine runs they are refused with one sentence (exit 2)
    pointing at the dashboard's key, because the running engine keeps the state in memory
    and would neither see nor keep the change. ``status`` only reads (WAL: safe beside a
    running engine). ``engage`` cannot cancel orders at IB (there is no connection here):
    an engine started on the journal starts HALTED.
    """
    import sqlite3
    from datetime import UTC

    from tui_trader.core.calendar import ET
    from tui_trader.engine.lock import EngineLockedError, engine_lock
    from tui_trader.state.journal import JournalError, default_journal_path

    path: Path = args.journal if args.journal is not None else default_journal_path()
    now = datetime.now(UTC)
    try:
        if args.action == "status":
            return _kill_switch_status(path, now.astimezone(ET).date())
        if args.action == "clear" and not path.exists():
            print(f"No journal at {path}: the kill switch is not engaged; nothing changed.")
            return EXIT_OK
        with engine_lock(path):
            print(_kill_switch_write(path, args.action, settings, now))
        return EXIT_OK
    except EngineLockedError:
        raise _engine_running(path, args.action, settings) from None
    except JournalError as exc:
        raise UsageError(str(exc).rstrip(".")) from None
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot open the journal {path}: {reason}") from None
