"""The engine as ``run`` starts it sends SPEC 13's alerts in the background: the kill
switch reaches a real webhook as CRITICAL, without a gateway (alerting needs none)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from tests.alerts.conftest import Webhook
from tui_trader.core.settings import Settings
from tui_trader.engine.runtime import running_engine
from tui_trader.state.store import Alerts

WALL = datetime(2026, 11, 18, 15, 4, tzinfo=UTC)


async def test_kill_switch_alert_reaches_the_webhook(webhook: Webhook, tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "connection": {"port": 9, "connect_timeout_s": 0.5},
            "alerts": {"urls": {"hook": webhook.url}, "routes": {"critical": ["hook"]}},
        }
    )
    async with running_engine(
        settings, demo=False, journal_path=tmp_path / "j.sqlite3", clock=lambda: WALL
    ) as engine:
        await engine.kill_switch()
        for _ in range(300):
            if webhook.posts:
                break
            await asyncio.sleep(0.01)
        assert engine.store.get(Alerts) == Alerts(failing=(), unsent=0)
    assert webhook.titles() == ["[PAPER] CRITICAL: kill switch engaged"]
    assert webhook.posts[0]["type"] == "failure"
