"""The reactive store: typed slices, change-only notification, versions, ordered delivery,
isolation of failing subscribers, the bounded event log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from loguru import logger

from tui_trader.core.models import EventLevel, JournalEvent
from tui_trader.core.risk import BreakerState, engage_kill_switch
from tui_trader.state.store import (
    SLICES,
    Account,
    AccountMode,
    Change,
    ConnectionState,
    EventLog,
    Health,
    Orders,
    Store,
)

T0 = datetime(2026, 3, 2, 20, 50, tzinfo=UTC)


def event(k: int) -> JournalEvent:
    return JournalEvent(
        time=T0 + timedelta(seconds=k), level=EventLevel.INFO, kind="test", text=f"e{k}"
    )


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR", format="{message}")
    yield lines
    logger.remove(sink)


def test_defaults_and_versions() -> None:
    store = Store()
    for cls in SLICES:
        assert store.get(cls) == cls()
        assert store.version(cls) == 0
    assert store.get(Health).state is ConnectionState.DOWN
    assert store.get(BreakerState).status.value == "ACTIVE"


def test_initial_values_replace_defaults() -> None:
    halted = engage_kill_switch(BreakerState(), T0)
    store = Store([halted, EventLog(max_events=3)])
    assert store.get(BreakerState) is halted
    assert store.get(EventLog).max_events == 3
    assert store.version(BreakerState) == 0


def test_set_notifies_only_on_change_and_bumps_version() -> None:
    store = Store()
    seen: list[Change[Health]] = []
    store.subscribe(Health, seen.append)
    up = Health(state=ConnectionState.CONNECTED, since=T0, lines_max=90)
    assert store.set(Health, up) is True
    assert (
        store.set(Health, Health(state=ConnectionState.CONNECTED, since=T0, lines_max=90)) is False
    )
    assert store.version(Health) == 1
    new = store.update(Health, lines_active=12)
    assert new.lines_active == 12 and new.lines_max == 90
    assert store.update(Health, lines_active=12) == new  # same value: no notification
    assert [(c.version, c.value.lines_active, c.previous.lines_active) for c in seen] == [
        (1, 0, 0),
        (2, 12, 0),
    ]
    assert seen[0].previous == Health() and seen[0].slice is Health
    assert store.version(Health) == 2 and store.version(Account) == 0


def test_type_checks() -> None:
    store = Store()
    with pytest.raises(TypeError, match="Health slice cannot hold a Account"):
        store.set(Health, Account())
    with pytest.raises(TypeError, match="no field"):
        store.update(Health, lines_activ=3)
    with pytest.raises(KeyError, match="not a store slice"):
        store.get(int)
    with pytest.raises(KeyError):
        store.subscribe(dict, lambda c: None)
    with pytest.raises(KeyError):
        Store([42])


def test_subscribers_run_in_subscription_order_slice_and_global() -> None:
    store = Store()
    calls: list[str] = []
    store.subscribe(None, lambda c: calls.append(f"all:{c.slice.__name__}"))
    store.subscribe(Account, lambda c: calls.append("account"))
    store.subscribe(Health, lambda c: calls.append("health"))
    store.update(Account, net_liquidation=100_000.0, mode=AccountMode.PAPER)
    store.update(Health, throttled=True)
    assert calls == ["all:Account", "account", "all:Health", "health"]


def test_failing_subscriber_is_logged_and_others_still_run(log_lines: list[str]) -> None:
    store = Store()
    calls: list[int] = []

    def boom(change: Change[Any]) -> None:
        raise RuntimeError("widget gone")

    store.subscribe(Account, lambda c: calls.append(1))
    store.subscribe(Account, boom)
    store.subscribe(Account, lambda c: calls.append(3))
    assert store.update(Account, day_pnl=-250.0).day_pnl == -250.0
    assert calls == [1, 3]
    assert len(log_lines) == 1
    assert "boom" in log_lines[0] and "Account" in log_lines[0] and "version 1" in log_lines[0]
    store.update(Account, day_pnl=-300.0)  # still subscribed, still isolated
    assert calls == [1, 3, 1, 3]


def test_unsubscribe_is_immediate_and_idempotent() -> None:
    store = Store()
    calls: list[str] = []
    unsub_b: list[Any] = []

    def a(change: Change[Any]) -> None:
        calls.append("a")
        unsub_b[0]()  # a removes b before b's turn for this very change

    store.subscribe(Health, a)
    unsub_b.append(store.subscribe(Health, lambda c: calls.append("b")))
    store.update(Health, lines_active=1)
    assert calls == ["a"]
    unsub_b[0]()  # twice is fine
    store.update(Health, lines_active=2)
    assert calls == ["a", "a"]


def test_changes_made_inside_callbacks_are_delivered_in_order() -> None:
    store = Store()
    seen: list[tuple[str, int, int]] = []

    def follow(change: Change[Health]) -> None:
        seen.append(("first", change.version, change.value.lines_active))
        if change.value.lines_active == 1:
            store.update(Health, lines_active=2)  # nested write

    store.subscribe(Health, follow)
    store.subscribe(Health, lambda c: seen.append(("second", c.version, c.value.lines_active)))
    store.update(Health, lines_active=1)
    # every subscriber sees version 1 before anyone sees version 2
    assert seen == [("first", 1, 1), ("second", 1, 1), ("first", 2, 2), ("second", 2, 2)]
    assert store.get(Health).lines_active == 2


def test_event_log_is_bounded() -> None:
    store = Store([EventLog(max_events=3)])
    versions: list[int] = []
    store.subscribe(EventLog, lambda c: versions.append(c.version))
    for k in range(5):
        store.add_event(event(k))
    assert [e.text for e in store.get(EventLog).items] == ["e2", "e3", "e4"]
    assert versions == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="max_events"):
        EventLog(max_events=0)
    assert len(EventLog(items=tuple(event(k) for k in range(300))).items) == 200


def test_slices_are_immutable() -> None:
    store = Store()
    with pytest.raises(AttributeError):
        store.get(Orders).intents = ()  # type: ignore[misc]
    assert store.get(Orders).active == ()
