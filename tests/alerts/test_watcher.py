"""SPEC 13's events raise alerts with their severities and short complete texts: the
watcher reads the real store, the alerts go through the real outbox to a real webhook."""

from __future__ import annotations

from datetime import timedelta

from tests.alerts.conftest import Clock, Webhook
from tui_trader.alerts.center import AlertCenter
from tui_trader.alerts.channels import build_channels
from tui_trader.core.models import (
    ConnectionState,
    IntentStatus,
    OrderIntent,
    SpreadLeg,
    SpreadOrderSpec,
)
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import AlertSettings
from tui_trader.engine.alerting import AlertWatcher
from tui_trader.state.journal import Journal
from tui_trader.state.store import Health, Orders, ScanResults, Store


def _intent(iid: str, action: str, status: IntentStatus, clock: Clock, **kw: object) -> OrderIntent:
    legs = tuple(
        SpreadLeg(con_id=c, symbol="AAPL", expiry="20261218", strike=k, right="C", action=a)
        for c, k, a in ((11, 200.0, "BUY"), (12, 205.0, "SELL"))
    )
    spec = SpreadOrderSpec(
        underlying="AAPL", direction="LONG", legs=legs, action=action, quantity=2,
        order_type="LMT", limit_price=1.85, mode="paper",
    )  # fmt: skip
    return OrderIntent.model_validate(
        {"intent_id": iid, "created_at": clock.now, "updated_at": clock.now, "spec": spec,
         "status": status, "working_limit": 1.85, **kw}
    )  # fmt: skip


async def test_spec13_events_alert_with_their_severity_and_text(
    webhook: Webhook, journal: Journal, clock: Clock
) -> None:
    settings = AlertSettings.model_validate(
        {"urls": {"hook": webhook.url},
         "routes": {s: ["hook"] for s in ("info", "warning", "high", "critical")}}
    )  # fmt: skip
    store = Store()
    old_unknown = _intent("tt-00000000000a", "BUY", IntentStatus.UNKNOWN, clock)
    old_filled = _intent("tt-00000000000b", "BUY", IntentStatus.FILLED, clock, filled=2,
                         avg_fill_price=1.80, commission=2.0)  # fmt: skip
    store.set(Orders, Orders(intents=(old_unknown, old_filled)))  # as journaled earlier
    center = AlertCenter(settings, build_channels(settings), journal, store, clock)
    watcher = AlertWatcher(store, center, "paper", clock)
    watcher.attach()  # the earlier run's UNKNOWN order: CRITICAL; its FILLED one: no news

    close = _intent("tt-00000000000c", "SELL", IntentStatus.WORKING, clock)
    store.set(Orders, Orders(intents=(old_unknown, old_filled, close)))
    filled = close.model_copy(
        update={"status": IntentStatus.FILLED, "filled": 2, "avg_fill_price": 2.60,
                "commission": 2.0}
    )  # fmt: skip
    store.set(Orders, Orders(intents=(old_unknown, old_filled, filled)))
    rejected = _intent("tt-00000000000d", "BUY", IntentStatus.WORKING, clock)
    store.set(Orders, Orders(intents=(old_unknown, old_filled, filled, rejected)))
    rejected = rejected.model_copy(update={
        "status": IntentStatus.REJECTED, "last_error_code": 201,
        "last_error_text": "Order rejected - insufficient margin"})  # fmt: skip
    store.set(Orders, Orders(intents=(old_unknown, old_filled, filled, rejected)))

    store.set(BreakerState, BreakerState(breaker_code="DAILY_LOSS", breaker_reason="day P&L "
              "-1,200.00 below -1,000.00", breaker_since=clock.now))  # fmt: skip
    store.set(BreakerState, store.get(BreakerState).__class__(
        breaker_code="DAILY_LOSS", breaker_reason="x", breaker_since=clock.now,
        kill_switch=True, kill_switch_since=clock.now))  # fmt: skip

    store.set(
        Health,
        Health(
            state=ConnectionState.DOWN,
            since=clock.now,
            last_error_message="Connectivity between IB and TWS lost",
        ),
    )
    clock.advance(60)
    watcher.tick()  # 60 s: not over the limit yet
    clock.advance(1)
    watcher.tick()
    watcher.tick()  # once per outage
    await center.sender.pump()
    await watcher.stop()

    got = [(p["type"], p["title"], p["message"]) for p in webhook.posts]
    assert got == [
        ("failure", "[PAPER] CRITICAL: order outcome unknown AAPL",
         "BUY AAPL LONG 2x 20261218 200/205 C, 0 filled so far\n"
         "Check it in TWS: it is not resent.\nOrder tt-00000000000a."),
        # (2.60 - 1.80) * 2 * 100 - 2.00 closing - 2.00 opening commission = 156.00
        ("info", "[PAPER] INFO: position closed AAPL",
         "SELL AAPL LONG 2x 20261218 200/205 C at 2.60, P&L +156.00\nOrder tt-00000000000c."),
        ("warning", "[PAPER] WARNING: order rejected AAPL",
         "BUY AAPL LONG 2x 20261218 200/205 C limit 1.85\n"
         "Reason: Order rejected - insufficient margin (IB 201).\nOrder tt-00000000000d."),
        ("failure", "[PAPER] HIGH: circuit breaker DAILY_LOSS",
         "Reason: day P&L -1,200.00 below -1,000.00.\nNew entries halted; exits still allowed."),
        ("failure", "[PAPER] CRITICAL: kill switch engaged",
         "Entries halted and working orders cancelled until cleared."),
        ("failure", "[PAPER] HIGH: connection to IB lost",
         "DOWN for 61 s (limit 60 s).\nLast error: Connectivity between IB and TWS lost."),
    ]  # fmt: skip
    assert clock.now - timedelta(seconds=61) == store.get(Health).since


async def test_slow_acknowledgement_alerts_warning_then_high(
    webhook: Webhook, journal: Journal, clock: Clock
) -> None:
    settings = AlertSettings.model_validate(
        {"urls": {"hook": webhook.url}, "routes": {"warning": ["hook"], "high": ["hook"]}}
    )
    store = Store()
    center = AlertCenter(settings, build_channels(settings), journal, store, clock)
    watcher = AlertWatcher(store, center, "live", clock)  # an order says its own mode
    watcher.attach()
    intents: list[OrderIntent] = []
    for n, delay in ((1, 0.4), (2, 0.9), (3, 2.5)):  # limits: 0.5 s warning, 2.0 s high
        sent = _intent(f"tt-00000000001{n}", "BUY", IntentStatus.SENT, clock)
        intents.append(sent)
        store.set(Orders, Orders(intents=tuple(intents)))
        acked = sent.model_copy(
            update={"status": IntentStatus.WORKING,
                    "updated_at": sent.updated_at + timedelta(seconds=delay)}
        )  # fmt: skip
        intents[-1] = acked
        store.set(Orders, Orders(intents=tuple(intents)))
    await center.sender.pump()
    await watcher.stop()
    assert [(p["title"], p["message"]) for p in webhook.posts] == [
        ("[PAPER] WARNING: slow order AAPL",
         "BUY AAPL LONG 2x 20261218 200/205 C: IB acknowledged after 0.90 s (limit 0.5 s).\n"
         "Order tt-000000000012."),
        ("[PAPER] HIGH: slow order AAPL",
         "BUY AAPL LONG 2x 20261218 200/205 C: IB acknowledged after 2.50 s (limit 2 s).\n"
         "Order tt-000000000013."),
    ]  # fmt: skip


async def test_slow_scan_and_stale_quotes_alert_warning(
    webhook: Webhook, journal: Journal, clock: Clock
) -> None:
    settings = AlertSettings.model_validate(
        {"urls": {"hook": webhook.url}, "routes": {"warning": ["hook"]}}
    )
    store = Store()
    center = AlertCenter(settings, build_channels(settings), journal, store, clock)
    watcher = AlertWatcher(store, center, "paper", clock, stale_s=60.0)
    watcher.attach()
    store.set(ScanResults, ScanResults(duration_s=1.0, symbols_per_s=60.0))  # floor 50/s
    store.set(ScanResults, ScanResults(duration_s=2.5, symbols_per_s=24.0))
    store.set(Health, Health(state=ConnectionState.CONNECTED, oldest_quote_age_s=59.0))
    watcher.tick()
    store.set(Health, Health(state=ConnectionState.CONNECTED, oldest_quote_age_s=75.0))
    watcher.tick()
    watcher.tick()  # the same alert: once per dedupe_s
    await center.sender.pump()
    await watcher.stop()
    assert [(p["title"], p["message"]) for p in webhook.posts] == [
        ("[PAPER] WARNING: scan slow", "0 symbols at 24.0/s (floor 50/s) in 2.5 s."),
        ("[PAPER] WARNING: market data stale", "The oldest quote is 75 s old (limit 60 s)."),
    ]
