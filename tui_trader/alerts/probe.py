"""``tui-trader alert-test [--channel NAME]``: one test message on each channel (or the
one named), sent directly rather than through the outbox (it is a check the user watches,
not an alert to keep), and a line per channel saying whether it worked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from tui_trader.alerts.channels import AlertConfigError, build_channels, deliver
from tui_trader.core.alerts import Severity, mode_label
from tui_trader.core.settings import Settings


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One channel's test: its name and whether apprise delivered the message."""

    channel: str
    ok: bool

    def line(self) -> str:
        if self.ok:
            return f"{self.channel}: sent"
        return f"{self.channel}: FAILED (apprise could not deliver; the log says why)"


def send_test(
    settings: Settings,
    now: datetime,
    channel: str | None = None,
    env: Mapping[str, str] | None = None,
) -> list[ProbeResult]:
    """Send the test message (module doc); raises :class:`AlertConfigError` when no
    channel is configured or ``channel`` is not one of them."""
    channels = build_channels(settings.alerts, env)
    if not channels:
        raise AlertConfigError("[alerts] urls defines no channel: there is nothing to test")
    if channel is not None:
        if channel not in channels:
            known = ", ".join(sorted(channels))
            raise AlertConfigError(f"no alert channel named {channel!r} (defined: {known})")
        channels = {channel: channels[channel]}
    mode = mode_label(settings.execution.mode)
    title = f"[{mode}] tui-trader test alert"
    results = []
    for name, ch in channels.items():
        body = f"A test message on the channel {name!r}, sent {now:%Y-%m-%d %H:%M %Z}."
        results.append(ProbeResult(name, deliver(ch, title, body, Severity.INFO)))
    return results
