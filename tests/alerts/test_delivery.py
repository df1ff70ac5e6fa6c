"""SPEC 13's delivery over real loopback transports: apprise sends real SMTP and real
HTTP; the outbox is the real journal; time is the injected clock."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.alerts.conftest import Clock, SmtpServer, Webhook
from tui_trader.alerts.center import AlertCenter
from tui_trader.alerts.channels import build_channels
from tui_trader.alerts.sender import failing_text
from tui_trader.core.alerts import Severity, make_alert
from tui_trader.core.settings import AlertSettings
from tui_trader.state.journal import Journal
from tui_trader.state.store import Alerts, Store


def _settings(**urls: str) -> AlertSettings:
    routes = {"info": ["email"], "warning": ["email", "hook"], "high": ["hook"]}
    return AlertSettings.model_validate(
        {
            "urls": urls,
            "routes": {k: [c for c in v if c in urls] for k, v in routes.items()},
            "retry_initial_s": 5,
            "retry_max_s": 60,
        }
    )


def _center(settings: AlertSettings, journal: Journal, store: Store, clock: Clock) -> AlertCenter:
    channels = build_channels(settings)
    for channel in channels.values():
        for plugin in channel.service:  # apprise spaces a plugin's messages 5.5 s apart
            plugin.request_rate_per_sec = 0  # (providers' rate limits); tests don't wait
    return AlertCenter(settings, channels, journal, store, clock)


def _alert(n: int, severity: Severity = Severity.WARNING) -> object:
    return make_alert(
        severity, f"rejected:I{n}", f"order rejected AAPL #{n}", "paper",
        f"BUY AAPL LONG 2x 20261218 150/155 C limit 2.1{n}", "Reason: margin (IB 201).",
    )  # fmt: skip


async def test_email_and_webhook_receive_what_apprise_sends(
    smtp: SmtpServer, webhook: Webhook, journal: Journal, clock: Clock
) -> None:
    settings = _settings(email=smtp.url, hook=webhook.url)
    store = Store()
    center = _center(settings, journal, store, clock)
    assert center.raise_alert(_alert(1))  # WARNING: email and hook
    assert center.raise_alert(_alert(2, Severity.INFO))  # INFO: email only
    assert await center.sender.pump() == 3
    assert smtp.subjects() == [
        "[PAPER] WARNING: order rejected AAPL #1",
        "[PAPER] INFO: order rejected AAPL #2",
    ]
    assert smtp.mailbox.rcpt == [["trader@example.com"], ["trader@example.com"]]
    body = smtp.mailbox.messages[0].get_payload()[0].get_payload(decode=True).decode()
    assert "BUY AAPL LONG 2x 20261218 150/155 C limit 2.11" in body
    assert webhook.posts == [
        {
            "version": "1.0",
            "title": "[PAPER] WARNING: order rejected AAPL #1",
            "message": "BUY AAPL LONG 2x 20261218 150/155 C limit 2.11\nReason: margin (IB 201).",
            "attachments": [],
            "type": "warning",
        }
    ]
    assert await center.sender.pump() == 0  # nothing twice
    assert store.get(Alerts) == Alerts(failing=(), unsent=0)


async def test_same_alert_not_repeated_within_dedupe_s(
    webhook: Webhook, journal: Journal, clock: Clock
) -> None:
    settings = _settings(hook=webhook.url).model_copy(update={"dedupe_s": 300.0})
    center = _center(settings, journal, Store(), clock)
    assert center.raise_alert(_alert(1, Severity.HIGH))
    clock.advance(299)
    assert not center.raise_alert(_alert(1, Severity.HIGH))  # same key: once per 300 s
    assert center.raise_alert(_alert(2, Severity.HIGH))  # another key goes
    clock.advance(2)  # 301 s after the first
    assert center.raise_alert(_alert(1, Severity.HIGH))
    await center.sender.pump()
    assert webhook.titles() == [
        "[PAPER] HIGH: order rejected AAPL #1",
        "[PAPER] HIGH: order rejected AAPL #2",
        "[PAPER] HIGH: order rejected AAPL #1",
    ]


def _attempts(path: Path) -> list[int]:
    with sqlite3.connect(path) as c:
        return [r[0] for r in c.execute("SELECT attempts FROM alert_outbox ORDER BY id")]


async def test_webhook_down_then_back_every_alert_arrives_once(
    webhook: Webhook, journal: Journal, journal_path: Path, clock: Clock
) -> None:
    settings = _settings(hook=webhook.url)  # backoff 5 s doubling, at most 60 s
    store = Store()
    center = _center(settings, journal, store, clock)
    webhook.stop()
    start = clock.now
    for n in range(1, 4):
        center.raise_alert(_alert(n, Severity.HIGH))
    assert await center.sender.pump() == 0
    assert store.get(Alerts) == Alerts(failing=(("hook", start),), unsent=3)
    assert _attempts(journal_path) == [1, 0, 0]  # the oldest tried, the rest wait behind it

    clock.advance(4.9)  # within the first backoff (5 s): not tried
    assert await center.sender.pump() == 0
    assert _attempts(journal_path) == [1, 0, 0]
    clock.advance(0.1)  # 5 s: tried, fails, next wait 10 s
    assert await center.sender.pump() == 0
    clock.advance(9.9)
    assert await center.sender.pump() == 0
    assert _attempts(journal_path) == [2, 0, 0]
    clock.advance(0.1)  # 15 s: third failure, next wait 20 s
    await center.sender.pump()
    assert _attempts(journal_path) == [3, 0, 0]
    assert store.get(Alerts).failing == (("hook", start),)
    assert failing_text(store.get(Alerts), clock.now) == "alerts: hook failing 15s"
    assert failing_text(store.get(Alerts), start + timedelta(minutes=3)) == (
        "alerts: hook failing 3m"
    )

    center.raise_alert(_alert(4, Severity.HIGH))  # raised during the outage
    webhook.start()
    clock.advance(19.9)
    assert await center.sender.pump() == 0  # back, but its backoff still runs
    clock.advance(0.1)
    assert await center.sender.pump() == 4
    assert webhook.titles() == [f"[PAPER] HIGH: order rejected AAPL #{n}" for n in range(1, 5)]
    assert store.get(Alerts) == Alerts(failing=(), unsent=0)
    assert failing_text(store.get(Alerts), clock.now) is None
    clock.advance(3600)
    assert await center.sender.pump() == 0
    assert len(webhook.posts) == 4  # none lost, none twice


async def test_unsent_alerts_go_out_after_a_restart_marked_late(
    webhook: Webhook, journal_path: Path, clock: Clock
) -> None:
    settings = _settings(hook=webhook.url)
    webhook.stop()
    with Journal(journal_path) as first:
        center = _center(settings, first, Store(), clock)
        center.raise_alert(_alert(7, Severity.HIGH))
        await center.sender.pump()  # fails: the process stops with it unsent
    webhook.start()
    clock.advance(600)
    with Journal(journal_path) as second:
        center = _center(settings, second, Store(), clock)
        center.start()  # marks it late, then sends in the background
        try:
            for _ in range(200):
                if webhook.posts:
                    break
                await asyncio.sleep(0.01)
        finally:
            await center.stop()
        center.raise_alert(_alert(8, Severity.HIGH))  # this run's own: not late
        await center.sender.pump()
    assert webhook.titles() == [
        "[PAPER] HIGH: order rejected AAPL #7 [late, raised 15:00 UTC]",
        "[PAPER] HIGH: order rejected AAPL #8",
    ]


def test_footer_shows_a_failing_channel_where_no_halt_is() -> None:
    from tui_trader.core.risk import BreakerState
    from tui_trader.core.settings import TimingSettings
    from tui_trader.state.store import Account, Health
    from tui_trader.tui.widgets.footer import footer_parts

    now = datetime(2026, 12, 4, 15, 3, tzinfo=UTC)
    text = failing_text(Alerts(failing=(("slack", now - timedelta(minutes=3)),)), now)
    parts = footer_parts(
        Health(), Account(), BreakerState(), now, TimingSettings(), alerts_failing=text
    )
    assert (parts["breaker"].text, parts["breaker"].css) == ("alerts: slack failing 3m", "-warn")
    halted = footer_parts(
        Health(), Account(), BreakerState(kill_switch=True), now, TimingSettings(),
        alerts_failing=text,
    )  # fmt: skip
    assert halted["breaker"].text.startswith("HALTED")  # a halt says more
