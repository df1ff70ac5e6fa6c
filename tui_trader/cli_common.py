"""What the ``tui-trader`` subcommand modules share: exit codes, :class:`UsageError`, the
one-line argparse, argument types, the demo market clock options and the output helpers.

Kept apart from :mod:`tui_trader.cli` so each ``*_cli`` module can import it without a
cycle; nothing heavy is imported at module level, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:  # a type only: core.bars pulls pandas, which --help and config need not
    from tui_trader.core.bars import DroppedBar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad input the user can fix; the message is printed as one sentence."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit code 2 (its default code, kept)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"tui-trader: {message}\n")


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (0-65535)")
    return value


def _count(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not between {low} and {high}")
        return value

    return parse


# --- the simulated market's clock: --speed / --start (dashboard, run, gateway) ----------


def _speed(text: str) -> float:
    """``gateway --speed``: the same range the control port's ``speed X`` accepts."""
    from tui_trader.sim.faults import MAX_SPEED

    value = _positive_float(text)
    if value > MAX_SPEED:
        raise argparse.ArgumentTypeError(f"{text!r} is more than {MAX_SPEED:g}")
    return value


def _start(text: str) -> str:
    """``--start "YYYY-MM-DD HH:MM"`` (New York time), checked here, resolved by
    :func:`_replay_start` (a closed time moves to the next session's open)."""
    from tui_trader.sim.clock import parse_start

    try:
        parse_start(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


SPEED_HELP = (
    "simulated seconds per real second (0 < X <= 10000; default 1); nights, weekends and "
    "holidays pass in an instant"
)
START_HELP = (
    "where the simulated market starts, New York time (default: 14:30 of the last trading "
    "day); outside regular hours: the next session's open"
)


def _replay_start(text: str | None) -> datetime | None:
    """``--start`` as the market's start (None: the default, 14:30 ET of the last trading
    day). A time outside regular hours moves to the next session's open, and stderr says
    so (for the dashboard that line shows once the app has quit; its log has it too)."""
    if text is None:
        return None
    from tui_trader.core.calendar import ET
    from tui_trader.sim.clock import parse_start

    start = parse_start(text)
    asked = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=ET)
    if start != asked:
        opens = f"{start.astimezone(ET):%Y-%m-%d %H:%M}"
        print(
            f"tui-trader: {text.strip()} ET is outside regular trading hours: the simulated "
            f"market starts at the next session's open, {opens} ET.",
            file=sys.stderr,
        )
    return start


def _demo_clock(args: argparse.Namespace, demo: bool) -> tuple[float, datetime | None]:
    """(speed, start) of the demo's market clock; ``--speed``/``--start`` without
    ``--demo`` are a usage error (a real TWS keeps its own time)."""
    speed: float | None = getattr(args, "speed", None)
    start: str | None = getattr(args, "start", None)
    if not demo and (speed is not None or start is not None):
        given = "--speed" if speed is not None else "--start"
        raise UsageError(f"{given} sets the simulated market's clock: add --demo")
    return (1.0 if speed is None else speed), _replay_start(start)


# --- output ------------------------------------------------------------------------------


def _print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, allow_nan=False) + "\n")


#: Dropped bars listed per symbol before the rest is summarised as a count.
DROPPED_SHOWN = 3


def _report_dropped(dropped: Mapping[str, Sequence[DroppedBar]]) -> None:
    """SPEC 1: invalid bars are dropped per symbol *and reported*; stderr keeps the JSON intact."""
    for symbol, bars in sorted(dropped.items()):
        if not bars:
            continue
        shown = ", ".join(f"{b.date} {b.reason}" for b in bars[:DROPPED_SHOWN])
        more = f" and {len(bars) - DROPPED_SHOWN} more" if len(bars) > DROPPED_SHOWN else ""
        print(f"tui-trader: dropped {len(bars)} bar(s) of {symbol}: {shown}{more}", file=sys.stderr)
