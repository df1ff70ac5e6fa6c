"""The health footer's wording, from store values and a clock (no app needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tui_trader.core.risk import BreakerState, engage_kill_switch
from tui_trader.core.settings import TimingSettings
from tui_trader.state.store import Account, AccountMode, ConnectionState, Health
from tui_trader.tui.widgets.footer import Part, footer_parts

NOW = datetime(2026, 11, 20, 19, 30, tzinfo=UTC)  # Friday 14:30 ET
TIMING = TimingSettings()


def parts(
    health: Health | None = None,
    account: Account | None = None,
    breakers: BreakerState | None = None,
    now: datetime = NOW,
) -> dict[str, Part]:
    return footer_parts(
        health or Health(), account or Account(), breakers or BreakerState(), now, TIMING
    )


def test_connection_lines_queue_and_error() -> None:
    health = Health(
        state=ConnectionState.DEGRADED,
        since=NOW - timedelta(minutes=5),
        last_error_code=1100,
        last_error_time=NOW - timedelta(seconds=75),
        lines_active=90,
        lines_max=90,
        line_evictions=4,
        lines_queued=3,
        request_queue_depth=12,
        throttled=True,
        oldest_quote_age_s=0.25,
    )
    p = parts(health)
    assert p["conn"] == Part("DEGRADED since 14:25:00", "-warn")
    assert p["lines"] == Part("lines 90/90 ev 4 +3 waiting", "-warn")
    assert p["queue"] == Part("queue 12 THROTTLED", "-bad")
    assert p["error"] == Part("err 1100 1m ago", "-warn")
    assert p["quotes"] == Part("quotes 0.2s")
    assert p["clock"] == Part("14:30:00 ET")
    assert p["auto"] == Part("auto OFF", "-muted")


def test_defaults_before_anything_is_known() -> None:
    p = parts()
    assert p["mode"] == Part("account ?", "-muted")
    assert p["conn"] == Part("DOWN", "-bad")
    assert p["lines"] == Part("lines 0/0")
    assert p["error"] == Part("no IB errors", "-muted")
    assert p["quotes"] == Part("quotes -", "-muted")
    assert p["pnl"] == Part("day P&L -", "-muted")
    assert p["breaker"] == Part("")


def test_live_is_unmistakable_and_paper_is_not() -> None:
    assert parts(account=Account(mode=AccountMode.LIVE))["mode"] == Part(" LIVE ", "-live")
    assert parts(account=Account(mode=AccountMode.PAPER))["mode"] == Part("PAPER", "-paper")


@pytest.mark.parametrize(
    ("pnl", "expected"),
    [
        (1234.5, Part("day P&L +1,234.50", "-up")),
        (-87.25, Part("day P&L -87.25", "-down")),
        (0.0, Part("day P&L +0.00")),
        (float("nan"), Part("day P&L -", "-muted")),
        (1.7976931348623157e308, Part("day P&L -", "-muted")),
    ],
)
def test_day_pnl_colour_and_bad_values(pnl: float, expected: Part) -> None:
    assert parts(account=Account(day_pnl=pnl))["pnl"] == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW, Part("window opens in 15m")),  # 14:30 ET, window from 14:45 (late entry)
        (datetime(2026, 11, 20, 20, 0, tzinfo=UTC), Part("window OPEN 58m left", "-ok")),
        # 16:30 ET Friday: next window Monday 14:45 ET.
        (datetime(2026, 11, 20, 21, 30, tzinfo=UTC),
         Part("window CLOSED, opens in 2d22h", "-muted")),
        (datetime(2026, 11, 26, 17, 0, tzinfo=UTC),  # Thanksgiving
         Part("HOLIDAY, opens in 23h45m", "-muted")),  # Fri 27th: early close 13:00
        (datetime(2026, 11, 21, 17, 0, tzinfo=UTC), Part("WEEKEND, opens in 2d2h", "-muted")),
    ],
)  # fmt: skip
def test_entry_window(now: datetime, expected: Part) -> None:
    assert parts(now=now)["window"] == expected


def test_a_naive_or_out_of_range_clock_does_not_crash() -> None:
    assert parts(now=datetime(2050, 1, 3, 17, 0, tzinfo=UTC))["window"] == Part("window ?", "-warn")


def test_halted_and_mode_mismatch() -> None:
    halted = engage_kill_switch(BreakerState(), NOW)
    assert parts(breakers=halted)["breaker"] == Part("HALTED: the kill switch is engaged", "-bad")
    mismatch = Account(mode=AccountMode.PAPER, mode_problem="config says live")
    assert parts(account=mismatch)["breaker"] == Part(
        "TRADING REFUSED: account mode mismatch", "-bad"
    )


def test_compact_wording_for_narrow_terminals() -> None:
    health = Health(
        state=ConnectionState.RECONNECTING,
        since=NOW - timedelta(seconds=8),
        last_error_code=1100,
        last_error_time=NOW - timedelta(seconds=8),
        lines_active=37,
        lines_max=90,
        line_evictions=2,
        lines_queued=1,
    )
    account = Account(mode=AccountMode.LIVE, day_pnl=-1042.5)
    halted = engage_kill_switch(BreakerState(), NOW)
    p = footer_parts(health, account, halted, NOW, TIMING, compact=True)
    assert [p[k].text for k in ("mode", "conn", "lines", "error", "window", "pnl", "breaker")] == [
        " LIVE ", "RECONNECTING 8s", "lines 37/90 ev2 +1", "err 1100 8s", "opens in 15m",
        "P&L -1,042.50", "HALTED",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "style"),
    [
        (2104, "-muted"),  # market data farm connection is OK: a notice, not an alarm
        (2158, "-muted"),  # sec-def farm OK
        (1102, "-muted"),  # connectivity restored, data maintained
        (2103, "-bad"),  # market data farm connection is broken
        (1100, "-warn"),  # connectivity between IB and TWS lost
        (201, "-warn"),  # order rejected
    ],
)
def test_last_error_colour_follows_what_the_code_means(code: int, style: str) -> None:
    health = Health(last_error_code=code, last_error_time=NOW - timedelta(seconds=5))
    assert parts(health)["error"].css == style


@pytest.mark.parametrize("compact", [False, True])
def test_before_the_engine_is_attached_starting_and_no_clock(compact: bool) -> None:
    """No clock yet (the engine's, the market's in the demo): placeholders as wide as the
    real parts, no window computed (no exchange calendar before the first frame)."""
    health = Health(
        state=ConnectionState.CONNECTED,  # already published while the engine started
        since=NOW - timedelta(seconds=8),
        last_error_code=2104,
        last_error_time=NOW - timedelta(seconds=8),
    )
    p = footer_parts(
        health, Account(), BreakerState(), None, TIMING, compact=compact, starting=True
    )
    assert p["conn"] == Part("STARTING", "-warn")
    assert p["clock"] == Part("--:--:-- ET", "-muted")
    assert len(p["clock"].text) == len(parts()["clock"].text)  # "14:30:00 ET": nothing shifts
    assert p["window"] == Part("window -", "-muted")
    assert p["error"] == Part("err 2104", "-muted")  # no age without a clock
    assert p["mode"] == Part("account ?", "-muted")


def test_without_a_clock_but_attached_the_connection_shows_without_an_age() -> None:
    health = Health(state=ConnectionState.RECONNECTING, since=NOW - timedelta(seconds=8))
    full = footer_parts(health, Account(), BreakerState(), None, TIMING)
    compact = footer_parts(health, Account(), BreakerState(), None, TIMING, compact=True)
    assert full["conn"] == Part("RECONNECTING since 14:29:52", "-warn")
    assert compact["conn"] == Part("RECONNECTING", "-warn")
