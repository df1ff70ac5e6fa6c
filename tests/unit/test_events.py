"""Subscriptions: one list for connecting and disconnecting, both idempotent."""

from __future__ import annotations

from eventkit import Event

from tui_trader.broker.events import Subscriptions


def test_connect_and_disconnect_walk_one_list_once() -> None:
    first, second = Event("first"), Event("second")
    seen: list[tuple[str, int]] = []
    subs = Subscriptions([(first, lambda x: seen.append(("a", x))),
                          (second, lambda x: seen.append(("b", x)))])  # fmt: skip
    subs.connect()
    subs.connect()  # twice: still one handler each
    first.emit(1)
    second.emit(2)
    assert seen == [("a", 1), ("b", 2)] and subs.connected
    subs.disconnect()
    subs.disconnect()
    first.emit(3)
    second.emit(4)
    assert seen == [("a", 1), ("b", 2)] and not subs.connected
    assert len(first) == len(second) == 0
