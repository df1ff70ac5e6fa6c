"""SPEC 8: the risk gates before every opening order, and the circuit breakers.

Decisions, beyond SPEC 8's wording:

- Gate order: the breaker state comes first (a HALTED account opens nothing, whatever the
  order looks like), then SPEC 8's gates in the order written there. Only the first failure
  is reported.
- ``available_funds_after`` is None until the engine has run IB's what-if order (which needs
  the contract count this module computes). Then the buying-power gate is *deferred*: every
  later gate is still checked, and only when all of them pass is the result a refusal with
  code ``WHATIF_PENDING`` (``contracts`` filled in), so the engine can size, ask for the
  what-if and check again. ``ok`` is never True without a known buying power.
- Unknown or nonsense inputs (NaN, infinities, IB's 1.7976931348623157e308) fail the gate
  that needs them: an unknown IV fails the IV gate, an unknown quote age is stale.
- Sizing is done in decimal arithmetic, so 100,000 * 0.02 / 200 is exactly 10 contracts,
  not 9 after a float floor.
- Breaker halts latch: a day P&L that recovers does not reopen entries. The engine calls
  :func:`reset_breakers` when a new session starts (or the user clears the halt); the kill
  switch is only cleared by :func:`clear_kill_switch`. Rejections at or before the last
  reset are not counted again.
- "N rejections within 10 minutes" is any N rejections whose first and last are at most
  ``rejection_window_s`` apart (inclusive), judged on the timestamps themselves, so an
  update that runs late still sees a burst that happened earlier.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

from tui_trader.core.markers import usable_number
from tui_trader.core.settings import RiskSettings


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _money(x: float) -> str:
    return f"{x:,.2f}"


class GateCode(StrEnum):
    """Why an opening order was refused (the first failing gate)."""

    HALTED = "HALTED"
    MAX_POSITIONS = "MAX_POSITIONS"
    MAX_DAILY_TRADES = "MAX_DAILY_TRADES"
    BAD_INPUT = "BAD_INPUT"
    SIZE_ZERO = "SIZE_ZERO"
    ORDER_VALUE = "ORDER_VALUE"
    BUYING_POWER = "BUYING_POWER"
    IV = "IV"
    SAME_UNDERLYING = "SAME_UNDERLYING"
    CONNECTION = "CONNECTION"
    STALE_QUOTE = "STALE_QUOTE"
    WHATIF_PENDING = "WHATIF_PENDING"


class BreakerStatus(StrEnum):
    ACTIVE = "ACTIVE"
    HALTED = "HALTED"


@dataclass(frozen=True, slots=True)
class BreakerState:
    """Circuit breakers and kill switch. HALTED when either holds; exits are always allowed.

    ``breaker_code`` is "DAILY_LOSS" or "REJECTIONS" while a breaker holds.
    ``reset_at`` is the last :func:`reset_breakers`; rejections up to it no longer count.
    """

    breaker_code: str | None = None
    breaker_reason: str | None = None
    breaker_since: datetime | None = None
    kill_switch: bool = False
    kill_switch_since: datetime | None = None
    reset_at: datetime | None = None

    @property
    def status(self) -> BreakerStatus:
        halted = self.kill_switch or self.breaker_code is not None
        return BreakerStatus.HALTED if halted else BreakerStatus.ACTIVE

    @property
    def reason(self) -> str | None:
        """Why entries are blocked, the kill switch first; None when ACTIVE."""
        if self.kill_switch:
            return "the kill switch is engaged"
        return self.breaker_reason

    @property
    def since(self) -> datetime | None:
        times = [t for t in (self.kill_switch_since, self.breaker_since) if t is not None]
        return min(times) if times else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (datetimes as ISO 8601 strings with their offset)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "breaker_code": self.breaker_code,
            "breaker_reason": self.breaker_reason,
            "breaker_since": iso(self.breaker_since),
            "kill_switch": self.kill_switch,
            "kill_switch_since": iso(self.kill_switch_since),
            "reset_at": iso(self.reset_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BreakerState:
        """Inverse of :meth:`to_dict`; raises ValueError on anything malformed.

        A persisted state that cannot be read must not silently become ACTIVE: the caller
        should then treat the kill switch as engaged.
        """

        def opt_str(key: str) -> str | None:
            v = data.get(key)
            if v is None or isinstance(v, str):
                return v
            raise ValueError(f"breaker state: {key} must be a string or null, got {v!r}")

        def opt_time(key: str) -> datetime | None:
            v = opt_str(key)
            if v is None:
                return None
            t = datetime.fromisoformat(v)
            if t.tzinfo is None:
                raise ValueError(f"breaker state: {key} has no time zone: {v!r}")
            return t

        kill = data.get("kill_switch", False)
        if not isinstance(kill, bool):
            raise ValueError(f"breaker state: kill_switch must be true/false, got {kill!r}")
        return cls(
            breaker_code=opt_str("breaker_code"),
            breaker_reason=opt_str("breaker_reason"),
            breaker_since=opt_time("breaker_since"),
            kill_switch=kill,
            kill_switch_since=opt_time("kill_switch_since"),
            reset_at=opt_time("reset_at"),
        )


def exits_allowed(state: BreakerState) -> bool:
    """Always True: a halt stops new risk, never the closing of existing risk."""
    del state
    return True


def entries_allowed(state: BreakerState) -> bool:
    return state.status is BreakerStatus.ACTIVE


def _rejection_burst(
    times: Iterable[datetime], now: datetime, after: datetime | None, risk: RiskSettings
) -> bool:
    ts = sorted(t for t in times if t <= now and (after is None or t > after))
    n = risk.max_rejections
    return any(
        (ts[i + n - 1] - ts[i]).total_seconds() <= risk.rejection_window_s
        for i in range(len(ts) - n + 1)
    )


def update_breakers(
    state: BreakerState,
    day_pnl: float | None,
    rejection_times: Sequence[datetime],
    now: datetime,
    risk: RiskSettings,
) -> BreakerState:
    """Trip the breakers (SPEC 8): day P&L <= -max_daily_loss, or max_rejections rejected
    orders within rejection_window_s. An unknown day P&L (None, NaN, IB's unset value)
    trips nothing. An already tripped breaker keeps its first reason and time."""
    if state.breaker_code is not None:
        return state
    if usable_number(day_pnl) and day_pnl is not None and day_pnl <= -risk.max_daily_loss:
        reason = (
            f"day P&L {_money(day_pnl)} reached the daily loss limit of "
            f"-{_money(risk.max_daily_loss)}"
        )
        return replace(state, breaker_code="DAILY_LOSS", breaker_reason=reason, breaker_since=now)
    if _rejection_burst(rejection_times, now, state.reset_at, risk):
        minutes = risk.rejection_window_s / 60
        reason = f"{risk.max_rejections} orders were rejected within {minutes:g} minutes"
        return replace(state, breaker_code="REJECTIONS", breaker_reason=reason, breaker_since=now)
    return state


def reset_breakers(state: BreakerState, now: datetime) -> BreakerState:
    """Clear a tripped breaker (new session, or the user's decision); the kill switch stays."""
    return replace(state, breaker_code=None, breaker_reason=None, breaker_since=None, reset_at=now)


def engage_kill_switch(state: BreakerState, now: datetime) -> BreakerState:
    """HALTED until cleared by the user. Cancelling working orders is the engine's job."""
    if state.kill_switch:
        return state
    return replace(state, kill_switch=True, kill_switch_since=now)


def clear_kill_switch(state: BreakerState) -> BreakerState:
    """Release the kill switch; a tripped breaker, if any, still holds."""
    return replace(state, kill_switch=False, kill_switch_since=None)


@dataclass(frozen=True, slots=True)
class RiskInputs:
    """Everything the gates look at for one candidate, in account currency and seconds.

    ``open_spreads`` and ``busy_underlyings`` should include working opening orders, so two
    signals in one scan cannot both pass the position limit or the same-underlying gate;
    ``entries_today`` counts opening orders sent today (filled or working).

    ``max_loss_per_contract`` is in dollars (natural debit * multiplier, SPEC 5);
    ``limit_price`` is per share, the highest price the order may be worked to;
    ``available_funds_after`` is IB's what-if available funds (None: not asked yet);
    ``underlying_iv`` is annualised (0.35 = 35 %).
    """

    open_spreads: int
    entries_today: int
    net_liquidation: float
    max_loss_per_contract: float
    limit_price: float
    multiplier: int
    available_funds_after: float | None
    underlying_iv: float | None
    underlying: str
    busy_underlyings: frozenset[str] = field(default_factory=frozenset)
    connection_healthy: bool = True
    leg_quote_ages_s: tuple[float | None, ...] = ()
    breakers: BreakerState = field(default_factory=BreakerState)


@dataclass(frozen=True, slots=True)
class GateResult:
    """``ok`` with the contract count to send, or the first failure's code and sentence.

    ``contracts`` is the computed size whenever sizing was reached (also on later
    failures and on WHATIF_PENDING), else 0.
    """

    ok: bool
    contracts: int
    reason_code: GateCode | None
    message: str


def size_contracts(net_liquidation: float, max_loss_per_contract: float, risk: RiskSettings) -> int:
    """floor(net_liquidation * risk_per_trade / max_loss) capped at max_contracts_per_trade;
    0 for unusable inputs or a non-positive account."""
    if not (usable_number(net_liquidation) and usable_number(max_loss_per_contract)):
        return 0
    if max_loss_per_contract <= 0 or net_liquidation <= 0:
        return 0
    raw = _dec(net_liquidation) * _dec(risk.risk_per_trade) / _dec(max_loss_per_contract)
    n = int(raw.to_integral_value(rounding=ROUND_FLOOR))
    return max(0, min(n, risk.max_contracts_per_trade))


def _fail(code: GateCode, message: str, contracts: int = 0) -> GateResult:
    return GateResult(False, contracts, code, message)


def check_entry(inputs: RiskInputs, risk: RiskSettings) -> GateResult:
    """SPEC 8's gates for one opening order; the first failure, in SPEC order."""
    i = inputs
    if not entries_allowed(i.breakers):
        return _fail(GateCode.HALTED, f"Trading is halted: {i.breakers.reason}.")
    if i.open_spreads >= risk.max_positions:
        return _fail(
            GateCode.MAX_POSITIONS,
            f"{i.open_spreads} spreads are open, the maximum is {risk.max_positions}.",
        )
    if i.entries_today >= risk.max_daily_trades:
        return _fail(
            GateCode.MAX_DAILY_TRADES,
            f"{i.entries_today} entries today already, the daily maximum is "
            f"{risk.max_daily_trades}.",
        )

    # Sizing.
    if not usable_number(i.net_liquidation):
        return _fail(GateCode.BAD_INPUT, "Net liquidation value is unknown, so cannot size.")
    if not usable_number(i.max_loss_per_contract) or i.max_loss_per_contract <= 0:
        return _fail(
            GateCode.BAD_INPUT,
            f"Max loss per contract {i.max_loss_per_contract!r} is not a positive amount.",
        )
    if not usable_number(i.limit_price) or i.limit_price <= 0 or i.multiplier <= 0:
        return _fail(
            GateCode.BAD_INPUT,
            f"Limit {i.limit_price!r} x multiplier {i.multiplier} is not a positive debit.",
        )
    n = size_contracts(i.net_liquidation, i.max_loss_per_contract, risk)
    if n <= 0:
        return _fail(
            GateCode.SIZE_ZERO,
            f"{risk.risk_per_trade:.2%} of net liquidation {_money(i.net_liquidation)} is "
            f"less than one contract's max loss of {_money(i.max_loss_per_contract)}.",
        )

    value = float(n * _dec(i.limit_price) * i.multiplier)
    if value > risk.max_order_value:
        return _fail(
            GateCode.ORDER_VALUE,
            f"Order value {_money(value)} ({n} x {i.limit_price:.2f} x {i.multiplier}) exceeds "
            f"the maximum of {_money(risk.max_order_value)}.",
            n,
        )
    funds = i.available_funds_after
    if funds is not None and (not usable_number(funds) or funds < risk.min_buying_power):
        return _fail(
            GateCode.BUYING_POWER,
            f"Available funds after this order would be {_money(funds)}, below the minimum "
            f"of {_money(risk.min_buying_power)}.",
            n,
        )
    if not usable_number(i.underlying_iv) or i.underlying_iv is None or i.underlying_iv < 0:
        return _fail(GateCode.IV, f"The implied volatility of {i.underlying} is unknown.", n)
    if i.underlying_iv > risk.max_volatility_iv:
        return _fail(
            GateCode.IV,
            f"{i.underlying} implied volatility {i.underlying_iv:.0%} is above the maximum of "
            f"{risk.max_volatility_iv:.0%}.",
            n,
        )
    symbol = i.underlying.strip().upper()
    if symbol in {u.strip().upper() for u in i.busy_underlyings}:
        return _fail(
            GateCode.SAME_UNDERLYING,
            f"{symbol} already has an open spread or a working order.",
            n,
        )
    if not i.connection_healthy:
        return _fail(GateCode.CONNECTION, "The connection to IB is not healthy.", n)
    if not i.leg_quote_ages_s:
        return _fail(GateCode.STALE_QUOTE, "There are no leg quotes to check.", n)
    for age in i.leg_quote_ages_s:
        if not usable_number(age) or age is None or age >= risk.stale_quote_s:
            shown = "unknown" if not usable_number(age) or age is None else f"{age:.1f} s"
            return _fail(
                GateCode.STALE_QUOTE,
                f"A leg quote is {shown} old; quotes must be younger than "
                f"{risk.stale_quote_s:g} s.",
                n,
            )
    if funds is None:
        return _fail(
            GateCode.WHATIF_PENDING,
            f"All other gates pass for {n} contracts; buying power after the what-if margin "
            "check is not known yet.",
            n,
        )
    return GateResult(True, n, None, f"All risk gates pass: {n} contracts.")
