"""SPEC 13's alerts as data: severities, the text of each alert, its de-duplication key,
the delivery backoff and the realised P&L a closed position reports. Pure (no I/O): the
journaled outbox, the apprise channels and the watching of the engine's state live in
``tui_trader.alerts``.

Why the text is built here: an alert must be short and complete on a phone's lock screen
-- what happened, the symbol, direction, quantity, price, P&L, reason and PAPER/LIVE --
and must never carry an account number; one place that builds every text is where that
is checked (tests/alerts/test_watcher.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from tui_trader.core.models import IntentStatus, OrderIntent, SpreadOrderSpec, usable_number


class Severity(StrEnum):
    """SPEC 13's severities; the value is the ``[alerts.routes]`` key."""

    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert before routing. ``key`` identifies "the same alert" for de-duplication
    (SPEC 13: at most once per ``dedupe_s``); ``title`` is one line, ``body`` a few."""

    severity: Severity
    key: str
    title: str
    body: str


def mode_label(mode: str | None) -> str:
    """``PAPER`` / ``LIVE`` as every alert states it (``?`` when unknown)."""
    return {"paper": "PAPER", "live": "LIVE"}.get((mode or "").lower(), "?")


def make_alert(severity: Severity, key: str, what: str, mode: str | None, *lines: str) -> Alert:
    """The alert with the title ``[PAPER] HIGH: what`` and the non-empty ``lines``."""
    title = f"[{mode_label(mode)}] {severity.value.upper()}: {what}"
    return Alert(severity, key, title, "\n".join(line for line in lines if line))


def spread_text(spec: SpreadOrderSpec, quantity: int | None = None) -> str:
    """``AAPL LONG 2x 20261218 150/155 C`` (long strike first)."""
    lo, sh = spec.long_leg, spec.short_leg
    qty = spec.quantity if quantity is None else quantity
    return (
        f"{spec.underlying} {spec.direction} {qty}x {lo.expiry} "
        f"{lo.strike:g}/{sh.strike:g} {lo.right}"
    )


def money(x: float | None) -> str:
    """A signed amount in account currency, ``+123.45`` / ``-7.00`` (``?``: unknown)."""
    return "?" if x is None or not usable_number(x) else f"{x:+,.2f}"


def price(x: float | None) -> str:
    return "?" if x is None or not usable_number(x) else f"{x:.2f}"


def realized_pnl(close: OrderIntent, opens: Iterable[OrderIntent], multiplier: int) -> float | None:
    """The P&L of a filled closing order (SELL) against the opening orders (BUY) of the
    same two contracts: (close price - average open price) * closed units * multiplier,
    less the closing commission and the opening commissions' share of the units closed.
    None when a price is unknown or nothing opened those contracts."""
    legs = {leg.con_id for leg in close.spec.legs}
    bought = [
        o
        for o in opens
        if o.spec.action == "BUY"
        and o.filled > 0
        and {leg.con_id for leg in o.spec.legs} == legs
        and o.avg_fill_price is not None
        and usable_number(o.avg_fill_price)
    ]
    units = sum(o.filled for o in bought)
    if (
        close.filled <= 0
        or units <= 0
        or close.avg_fill_price is None
        or not usable_number(close.avg_fill_price)
    ):
        return None
    avg_open = sum(o.filled * float(o.avg_fill_price or 0.0) for o in bought) / units
    open_commission = sum(o.commission or 0.0 for o in bought) * min(1.0, close.filled / units)
    gross = (close.avg_fill_price - avg_open) * close.filled * multiplier
    return gross - (close.commission or 0.0) - open_commission


def intent_alert(
    before: IntentStatus | None,
    intent: OrderIntent,
    opens: Iterable[OrderIntent] = (),
    multiplier: int = 100,
) -> Alert | None:
    """The alert an order's new status raises (None: none): FILLED is INFO (a closing
    order's says the position closed, with its P&L), REJECTED and CANCELLED are WARNING,
    UNKNOWN is CRITICAL (its outcome needs the trader)."""
    status = intent.status
    if status is before:
        return None
    spec, iid = intent.spec, intent.intent_id
    mode = spec.mode
    if status is IntentStatus.FILLED:
        at = f"at {price(intent.avg_fill_price)}"
        if spec.action == "SELL":
            pnl = realized_pnl(intent, opens, multiplier)
            return make_alert(
                Severity.INFO, f"closed:{iid}", f"position closed {spec.underlying}", mode,
                f"SELL {spread_text(spec, intent.filled)} {at}, P&L {money(pnl)}",
                f"Order {iid}.",
            )  # fmt: skip
        return make_alert(
            Severity.INFO, f"filled:{iid}", f"order filled {spec.underlying}", mode,
            f"BUY {spread_text(spec, intent.filled)} {at}", f"Order {iid}.",
        )  # fmt: skip
    if status in (IntentStatus.REJECTED, IntentStatus.CANCELLED):
        word = "rejected" if status is IntentStatus.REJECTED else "cancelled"
        reason = intent.last_error_text or "no reason given"
        code = f" (IB {intent.last_error_code})" if intent.last_error_code else ""
        filled = f", {intent.filled} of {spec.quantity} filled" if intent.filled else ""
        return make_alert(
            Severity.WARNING, f"{word}:{iid}", f"order {word} {spec.underlying}", mode,
            f"{spec.action} {spread_text(spec)} limit {price(intent.working_limit)}{filled}",
            f"Reason: {reason}{code}.", f"Order {iid}.",
        )  # fmt: skip
    if status is IntentStatus.UNKNOWN:
        return make_alert(
            Severity.CRITICAL, f"unknown:{iid}", f"order outcome unknown {spec.underlying}",
            mode, f"{spec.action} {spread_text(spec)}, {intent.filled} filled so far",
            "Check it in TWS: it is not resent.", f"Order {iid}.",
        )  # fmt: skip
    return None


def latency_alert(
    intent: OrderIntent, seconds: float, max_s: float, critical_s: float
) -> Alert | None:
    """SPEC 13: IB took ``seconds`` to acknowledge the order; WARNING over ``max_s``, HIGH
    over ``critical_s`` (None: within)."""
    if not math.isfinite(seconds) or seconds <= max_s:
        return None
    severity = Severity.HIGH if seconds > critical_s else Severity.WARNING
    limit = critical_s if severity is Severity.HIGH else max_s
    spec = intent.spec
    return make_alert(
        severity, f"latency:{intent.intent_id}", f"slow order {spec.underlying}", spec.mode,
        f"{spec.action} {spread_text(spec)}: IB acknowledged after {seconds:.2f} s "
        f"(limit {limit:g} s).", f"Order {intent.intent_id}.",
    )  # fmt: skip


def backoff_s(failures: int, initial_s: float, max_s: float) -> float:
    """Seconds before the next delivery attempt after ``failures`` failed ones in a row:
    ``initial_s`` doubled per failure, at most ``max_s`` (0 before any failure)."""
    if failures <= 0:
        return 0.0
    return min(max_s, initial_s * 2.0 ** min(failures - 1, 62))


_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_refs(text: str) -> list[str]:
    """The environment variable names ``text`` refers to as ``${NAME}``, in order."""
    return _REF.findall(text)


def expand_refs(text: str, env: Mapping[str, str]) -> str:
    """``text`` with each ``${NAME}`` replaced by the variable's value, inserted as it is;
    KeyError(NAME) for one that is not set."""
    return _REF.sub(lambda m: env[m.group(1)], text)
