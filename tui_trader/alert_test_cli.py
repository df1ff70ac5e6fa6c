"""``tui-trader alert-test [--channel NAME]`` (SPEC 13): a test alert on each ``[alerts]``
channel. Registered by :mod:`tui_trader.cli`; apprise is imported only when it runs.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from tui_trader.cli_common import EXIT_FAILED, EXIT_OK, UsageError
from tui_trader.core.settings import Settings


def add_alert_test_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``alert-test`` subcommand (``sub`` is cli's subparsers object)."""
    alert_test = sub.add_parser(  # SPEC 13
        "alert-test", parents=[common], help="send a test alert on each [alerts] channel"
    )
    alert_test.add_argument("--channel", metavar="NAME", help="only this channel")


def cmd_alert_test(args: argparse.Namespace, settings: Settings) -> int:
    """``alert-test [--channel NAME]``: a line per channel; exit 0 when every one worked,
    1 when one failed, 2 when no such channel is configured."""
    from tui_trader.alerts.channels import AlertConfigError
    from tui_trader.alerts.probe import send_test

    try:
        results = send_test(settings, datetime.now().astimezone(), args.channel)
    except AlertConfigError as exc:
        raise UsageError(str(exc)) from None
    for result in results:
        print(result.line())
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
