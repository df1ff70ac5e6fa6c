"""The health tracker: IB notices -> one state, farms, stale quotes, IB's restart windows,
the Health slice fields, and the reconnect backoff."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from dataclasses import fields
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui_trader.broker.health import (
    DAILY_RESET,
    ET,
    WEEKEND_MAINTENANCE,
    ErrorRecord,
    HealthTracker,
    MaintenanceWindow,
    NoticeKind,
    SessionAction,
    backoff_delay,
    classify,
    health_slice_fields,
    maintenance_window,
    reconnect_delays,
)
from tui_trader.broker.lines import LineBudget
from tui_trader.broker.pacing import HistoricalPacer, RequestRate
from tui_trader.core.risk import BreakerState
from tui_trader.core.settings import TimingSettings
from tui_trader.state.store import Account, ConnectionState, Health
from tui_trader.tui.widgets.footer import Part, footer_parts

CONNECTED = ConnectionState.CONNECTED
DEGRADED = ConnectionState.DEGRADED
RECONNECTING = ConnectionState.RECONNECTING
DOWN = ConnectionState.DOWN
MAINTENANCE = ConnectionState.MAINTENANCE

# Wednesday 4 March 2026, 12:00 New York time: regular hours, no restart window.
T0 = datetime(2026, 3, 4, 12, 0, tzinfo=ET)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def connected() -> HealthTracker:
    h = HealthTracker()
    assert h.on_connected(T0) is CONNECTED
    return h


def test_the_fixture_date_is_a_wednesday() -> None:
    assert T0.weekday() == 2


def test_starts_down_and_connects() -> None:
    h = HealthTracker()
    assert (h.state, h.since, h.last_error, h.farms_broken) == (DOWN, None, None, ())
    assert h.on_connected(at(1)) is CONNECTED
    assert h.since == at(1)
    assert h.healthy


def test_1100_degrades_1102_restores_and_asks_for_an_order_resync() -> None:
    h = connected()
    e = h.on_error(1100, "Connectivity between IB and TWS has been lost.", at(5))
    assert (e.kind, e.actions, e.state, e.state_changed) == (
        NoticeKind.CONNECTIVITY_LOST,
        frozenset(),
        DEGRADED,
        True,
    )
    assert h.since == at(5)
    assert h.last_error == ErrorRecord(
        1100, "Connectivity between IB and TWS has been lost.", at(5)
    )
    e = h.on_error(
        1102, "Connectivity between IB and TWS has been restored - data maintained.", at(9)
    )
    assert (e.kind, e.state, e.state_changed) == (NoticeKind.RESTORED_DATA_KEPT, CONNECTED, True)
    assert e.actions == {SessionAction.RESYNC_ORDERS}
    assert h.since == at(9)
    # the restore is the end of a problem, not one: the last error is still the 1100
    assert h.last_error == ErrorRecord(
        1100, "Connectivity between IB and TWS has been lost.", at(5)
    )


def footer_error(h: HealthTracker) -> Part:
    """The footer's error part for what ``h`` publishes."""
    health = Health(**h.to_health_fields())
    return footer_parts(health, Account(), BreakerState(), at(60), TimingSettings())["error"]


def test_1102_and_202_are_notices_the_footer_shows_no_error_for() -> None:
    h = connected()
    e = h.on_error(
        1102, "Connectivity between IB and TWS has been restored - data maintained.", at(1)
    )
    assert e.kind is NoticeKind.RESTORED_DATA_KEPT
    e = h.on_error(202, "Order Canceled - reason:", at(2), req_id=87)
    assert (e.kind, e.actions, e.state, e.req_id) == (
        NoticeKind.ORDER_CANCELLED,
        frozenset(),
        CONNECTED,
        87,
    )
    assert classify(202, "Order Canceled - reason:") == (NoticeKind.ORDER_CANCELLED, frozenset())
    assert h.last_error is None
    assert h.to_health_fields()["last_error_code"] is None
    assert footer_error(h) == Part("no IB errors", "-muted")


def test_a_202_nobody_here_asked_for_is_kept_by_its_owner() -> None:
    h = connected()
    h.on_error(202, "Order Canceled - reason:by the exchange", at(3), req_id=88)
    assert h.last_error is None  # the tracker cannot know who cancelled
    h.record_error(202, "Order Canceled - reason:by the exchange", at(3))
    assert h.last_error == ErrorRecord(202, "Order Canceled - reason:by the exchange", at(3))
    assert footer_error(h) == Part("err 202 57s ago", "-warn")
    with pytest.raises(ValueError, match="timezone-aware"):
        h.record_error(202, "x", datetime(2026, 3, 4, 12, 0))
    h.on_error(1102, "Connectivity between IB and TWS has been restored - data maintained.", at(4))
    assert h.last_error is not None and h.last_error.code == 202  # a restore hides nothing


def test_1101_restores_and_asks_to_resubscribe_everything() -> None:
    h = connected()
    h.on_error(1100, "lost", at(5))
    e = h.on_error(1101, "Connectivity between IB and TWS has been restored - data lost.", at(7))
    assert e.state is CONNECTED
    assert e.actions == {SessionAction.RESUBSCRIBE_ALL, SessionAction.RESYNC_ORDERS}


def test_farms_are_remembered_by_name_until_their_ok_notice() -> None:
    h = connected()
    e = h.on_error(2103, "Market data farm connection is broken:usfarm", at(1))
    assert (e.kind, e.farm, e.state) == (NoticeKind.FARM_BROKEN, "usfarm", DEGRADED)
    h.on_error(2105, "HMDS data farm connection is broken:ushmds", at(2))
    assert h.farms_broken == ("usfarm", "ushmds")
    assert h.since == at(1)  # still DEGRADED: unchanged
    e = h.on_error(2104, "Market data farm connection is OK:usfarm", at(3))
    assert (e.kind, e.farm, e.state, e.state_changed) == (
        NoticeKind.FARM_OK,
        "usfarm",
        DEGRADED,
        False,
    )
    assert h.farms_broken == ("ushmds",)
    # a farm "OK" is informational: the last error is still the HMDS farm
    assert h.last_error == ErrorRecord(2105, "HMDS data farm connection is broken:ushmds", at(2))
    e = h.on_error(2106, "HMDS data farm connection is OK:ushmds", at(4))
    assert (e.state, h.farms_broken, h.since) == (CONNECTED, (), at(4))


def test_sec_def_farm_and_a_farm_notice_without_a_name() -> None:
    h = connected()
    h.on_error(2157, "Sec-def data farm connection is broken:secdefnj", at(1))
    h.on_error(2103, "Market data farm connection is broken", at(2))  # no name given
    assert h.farms_broken == ("market data farm", "secdefnj")
    assert h.on_error(2158, "Sec-def data farm connection is OK:secdefnj", at(3)).state is DEGRADED
    # an unnamed OK clears every farm of its kind
    assert h.on_error(2104, "Market data farm connection is OK", at(4)).state is CONNECTED


def test_2110_degrades_until_restored() -> None:
    h = connected()
    msg = "Connectivity between TWS and server is broken. It will be restored automatically."
    assert h.on_error(2110, msg, at(1)).state is DEGRADED
    assert h.on_error(2104, "Market data farm connection is OK:usfarm", at(2)).state is CONNECTED
    h.on_error(2110, msg, at(3))
    assert h.on_error(1102, "restored - data maintained", at(4)).state is CONNECTED


def test_other_2100_to_2199_notices_never_alarm() -> None:
    h = connected()
    h.on_error(200, "No security definition has been found for the request", at(1))
    for code in range(2100, 2200):
        if code in (2103, 2105, 2157, 2110, 2104, 2106, 2158):
            continue
        e = h.on_error(code, f"notice {code}", at(2))
        assert e.kind is NoticeKind.INFO, code
        assert e.state is CONNECTED, code
    assert h.since == T0
    assert h.last_error is not None and h.last_error.code == 200


@pytest.mark.parametrize(
    ("code", "message", "kind", "actions"),
    [
        (
            326,
            "Unable to connect as the client id is already in use.",
            NoticeKind.CLIENT_ID_IN_USE,
            {SessionAction.TRY_NEXT_CLIENT_ID},
        ),
        (
            101,
            "Max number of tickers has been reached.",
            NoticeKind.LINES_EXCEEDED,
            {SessionAction.SHRINK_LINES},
        ),
        (
            162,
            "Historical Market Data Service error message:Historical data request pacing violation",
            NoticeKind.HISTORICAL_PACING,
            {SessionAction.END_HISTORICAL_REQUEST, SessionAction.RETRY_HISTORICAL_LATER},
        ),
        (
            162,
            "Historical Market Data Service error message:HMDS query returned no data",
            NoticeKind.HISTORICAL_ERROR,
            {SessionAction.END_HISTORICAL_REQUEST},
        ),
        (
            366,
            "No historical data query found for ticker id:12",
            NoticeKind.HISTORICAL_ERROR,
            {SessionAction.END_HISTORICAL_REQUEST},
        ),
        (
            200,
            "No security definition has been found for the request",
            NoticeKind.BAD_CONTRACT,
            set(),
        ),
        (201, "Order rejected - reason:", NoticeKind.ORDER_REJECTED, set()),
        (100, "Max rate of messages per second has been exceeded.", NoticeKind.THROTTLED, set()),
        (10167, "Displaying delayed market data.", NoticeKind.OTHER, set()),
    ],
)
def test_request_level_errors_are_not_health_problems(
    code: int, message: str, kind: NoticeKind, actions: set[SessionAction]
) -> None:
    h = connected()
    e = h.on_error(code, message, at(3), req_id=42)
    assert (e.code, e.kind, e.actions, e.req_id) == (code, kind, actions, 42)
    assert (e.state, e.state_changed, h.since) == (CONNECTED, False, T0)
    assert h.last_error == ErrorRecord(code, message, at(3))
    assert classify(code, message) == (kind, actions)


def test_error_100_sets_throttled_for_ten_seconds() -> None:
    h = connected()
    assert h.throttled is False
    h.on_error(100, "Max rate of messages per second has been exceeded.", at(10))
    assert h.throttled is True
    assert h.state is CONNECTED
    h.refresh(at(19.999))
    assert h.throttled is True
    h.refresh(at(20))
    assert h.throttled is False
    assert h.to_health_fields()["throttled"] is False


def test_not_connected_and_disconnects() -> None:
    h = connected()
    e = h.on_error(504, "Not connected", at(1))
    assert (e.kind, e.state) == (NoticeKind.NOT_CONNECTED, DOWN)
    assert h.on_connected(at(2)) is CONNECTED
    assert h.on_disconnected(at(3), reconnecting=True) is RECONNECTING
    assert h.since == at(3)
    # a failed attempt while the session retries is still RECONNECTING
    e = h.on_error(502, "Couldn't connect to TWS.", at(4))
    assert (e.state, e.state_changed, h.since) == (RECONNECTING, False, at(3))
    assert h.on_disconnected(at(5), reconnecting=True) is RECONNECTING
    assert h.on_disconnected(at(6), reconnecting=False) is DOWN
    assert h.since == at(6)


def test_326_leaves_the_state_to_the_disconnect_that_follows() -> None:
    h = HealthTracker()
    h.on_disconnected(at(0), reconnecting=True)
    e = h.on_error(326, "client id is already in use", at(1))
    assert (e.state, e.actions) == (RECONNECTING, {SessionAction.TRY_NEXT_CLIENT_ID})


def test_reconnect_clears_farms_and_link_facts() -> None:
    h = connected()
    h.on_error(1100, "lost", at(1))
    h.on_error(2103, "Market data farm connection is broken:usfarm", at(2))
    h.on_disconnected(at(3), reconnecting=True)
    assert h.on_connected(at(4)) is CONNECTED
    assert h.farms_broken == ()


def test_stale_quotes_degrade_only_while_the_market_is_open() -> None:
    h = connected()
    assert h.on_quote_ages(4.9, 5.0, True, at(1)) is CONNECTED
    assert h.on_quote_ages(5.0, 5.0, True, at(2)) is DEGRADED  # "younger than" 5 s: 5.0 is stale
    assert h.since == at(2)
    assert h.to_health_fields()["oldest_quote_age_s"] == 5.0
    assert h.on_quote_ages(120.0, 5.0, False, at(3)) is CONNECTED  # market closed
    assert h.on_quote_ages(None, 5.0, True, at(4)) is CONNECTED  # nothing streaming
    assert h.to_health_fields()["oldest_quote_age_s"] is None
    assert h.on_quote_ages(math.nan, 5.0, True, at(5)) is DEGRADED  # unknown age: stale
    assert h.to_health_fields()["oldest_quote_age_s"] is None  # never NaN in the store
    assert h.on_quote_ages(1.7976931348623157e308, 5.0, True, at(6)) is DEGRADED
    assert h.on_quote_ages(0.2, 5.0, True, at(7)) is CONNECTED


def test_naive_times_are_refused() -> None:
    h = HealthTracker()
    with pytest.raises(ValueError, match="timezone-aware"):
        h.on_connected(datetime(2026, 3, 4, 12, 0))


# -- IB's restart windows --------------------------------------------------------------------


def et(y: int, mo: int, d: int, h: int, mi: int, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ET)


@pytest.mark.parametrize(
    ("when", "window"),
    [
        (et(2026, 3, 4, 23, 44, 59), None),
        (et(2026, 3, 4, 23, 45), DAILY_RESET),
        (et(2026, 3, 5, 0, 44, 59), DAILY_RESET),
        (et(2026, 3, 5, 0, 45), None),
        (et(2026, 3, 6, 22, 59, 59), None),  # Friday
        (et(2026, 3, 6, 23, 0), WEEKEND_MAINTENANCE),
        (et(2026, 3, 7, 2, 59, 59), WEEKEND_MAINTENANCE),  # Saturday
        (et(2026, 3, 7, 3, 0), None),
        (et(2026, 3, 5, 23, 0), None),  # a Thursday at 23:00 is not the weekend window
        # New York wall time on both sides of DST: 23:50 EST is 04:50 UTC, 23:50 EDT 03:50 UTC
        (datetime(2026, 1, 14, 4, 50, tzinfo=UTC), DAILY_RESET),
        (datetime(2026, 7, 15, 3, 50, tzinfo=UTC), DAILY_RESET),
        (datetime(2026, 7, 15, 4, 50, tzinfo=UTC), None),  # 00:50 EDT
    ],
)
def test_maintenance_windows(when: datetime, window: MaintenanceWindow | None) -> None:
    assert maintenance_window(when) == window


def test_a_lost_connection_inside_the_daily_reset_is_maintenance_until_it_ends() -> None:
    h = HealthTracker()
    h.on_connected(et(2026, 3, 4, 23, 30))
    assert h.on_disconnected(et(2026, 3, 4, 23, 50), reconnecting=True) is MAINTENANCE
    assert h.maintenance is DAILY_RESET
    assert h.refresh(et(2026, 3, 5, 0, 44, 59)) is MAINTENANCE
    # still down once the window is over: alarming again
    assert h.refresh(et(2026, 3, 5, 0, 45)) is RECONNECTING
    assert h.since == et(2026, 3, 5, 0, 45)
    assert h.maintenance is None


def test_1100_during_the_reset_is_maintenance_and_connected_stays_connected() -> None:
    h = HealthTracker()
    assert h.on_connected(et(2026, 3, 4, 23, 50)) is CONNECTED
    assert h.on_error(1100, "lost", et(2026, 3, 4, 23, 51)).state is MAINTENANCE
    assert h.on_error(1101, "restored - data lost", et(2026, 3, 4, 23, 58)).state is CONNECTED


def test_weekend_maintenance_and_custom_windows() -> None:
    h = HealthTracker()
    assert h.on_disconnected(et(2026, 3, 7, 1, 0), reconnecting=True) is MAINTENANCE
    own = MaintenanceWindow("my gateway restart", time(23, 0), timedelta(minutes=10))
    h2 = HealthTracker(maintenance_windows=[own])
    assert h2.on_disconnected(et(2026, 3, 4, 23, 5), reconnecting=True) is MAINTENANCE
    assert h2.on_disconnected(et(2026, 3, 4, 23, 50), reconnecting=True) is RECONNECTING


# -- the Health slice ------------------------------------------------------------------------


def test_to_health_fields() -> None:
    h = connected()
    h.on_error(2103, "Market data farm connection is broken:usfarm", at(1))
    assert h.to_health_fields() == {
        "state": DEGRADED,
        "since": at(1),
        "last_error_code": 2103,
        "last_error_message": "Market data farm connection is broken:usfarm",
        "last_error_time": at(1),
        "throttled": False,
        "oldest_quote_age_s": None,
    }


def test_the_four_sources_fill_every_health_field_exactly() -> None:
    h = connected()
    budget: LineBudget[int] = LineBudget(90)
    budget.request(1, 0.0)
    pacer: HistoricalPacer[str] = HistoricalPacer()
    pacer.enqueue("AAPL 1 D")
    rate = RequestRate()
    rate.throttle_start(0.0)
    merged = health_slice_fields(h, budget.snapshot(), pacer, rate)
    # Where the session connects and why it fails are the session's own (issue 13, defect
    # 10: ``IBSession.health_fields``); the four sources fill every other field.
    session_own = {"endpoint", "connect_problem", "connect_hint"}
    universe_own = {"bars_loaded", "bars_total"}  # the daily bars' load (issue 12)
    assert set(merged) == {f.name for f in fields(Health)} - session_own - universe_own
    health = Health(**merged)
    assert health == Health(
        state=CONNECTED,
        since=T0,
        lines_active=1,
        lines_max=90,
        request_queue_depth=1,
        throttled=True,  # ib_insync's own pacing, or'ed with error 100
    )


# -- reconnect backoff -----------------------------------------------------------------------


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [
        (0, 1.0, 1.0),
        (1, 1.0, 2.0),
        (2, 2.0, 4.0),
        (3, 4.0, 8.0),
        (4, 8.0, 16.0),
        (5, 15.0, 30.0),
        (6, 15.0, 30.0),
        (1000, 15.0, 30.0),
    ],
)
def test_backoff_doubles_with_equal_jitter_and_caps_at_30_s(
    attempt: int, low: float, high: float
) -> None:
    assert backoff_delay(attempt, FixedRandom(0.0)) == low
    assert backoff_delay(attempt, FixedRandom(0.5)) == (low + high) / 2
    assert backoff_delay(attempt, FixedRandom(1.0)) == high


def test_backoff_refuses_a_negative_attempt() -> None:
    with pytest.raises(ValueError):
        backoff_delay(-1, random.Random(1))


@settings(max_examples=200, deadline=None)
@given(attempt=st.integers(min_value=0, max_value=10_000), seed=st.integers(0, 2**32))
def test_backoff_is_always_between_1_and_30_s(attempt: int, seed: int) -> None:
    d = backoff_delay(attempt, random.Random(seed))
    assert 1.0 <= d <= 30.0


def test_reconnect_delays_are_reproducible_from_a_seed() -> None:
    first = [d for _, d in zip(range(12), reconnect_delays(7), strict=False)]
    again = [d for _, d in zip(range(12), reconnect_delays(random.Random(7)), strict=False)]
    assert first == again
    assert first[0] == 1.0
    assert 1.0 <= first[1] < 2.0 and 2.0 <= first[2] < 4.0 and 4.0 <= first[3] < 8.0
    assert all(15.0 <= d < 30.0 for d in first[5:])


def test_the_pure_broker_modules_never_load_ib_insync() -> None:
    code = (
        "import sys\n"
        "import tui_trader.broker.health, tui_trader.broker.lines, tui_trader.broker.pacing\n"
        "print(sorted(m for m in ('ib_insync', 'textual') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
