"""Closed trades from the journal's orders: what the History screen and ``tui-trader journal
--history`` show (issue 13, "What traders expect").

Pure: it takes the journal's intents, their fills (for the times) and the auto-trader's exit
rules, and returns rows; reading the file is :func:`tui_trader.state.journal.read_history`.

Decisions:

- **A spread is its two contracts**: an opening order (BUY of the combo) and a closing
  order (SELL of the same combo: the legs keep their "when bought" actions, so the long
  leg's and the short leg's conIds identify it) belong together whatever day each was sent,
  so a trade opened on Monday and closed on Thursday is one row.
- **FIFO by fill time**: a close takes contracts from the oldest open lot first. A partial
  close is a row for the contracts it closed; a close spanning two opening orders is two
  rows (each with its own entry). Only filled contracts count (``OrderIntent.filled``), so
  a cancelled order that filled 2 of 5 opened 2.
- **Prices are per share of the combo** (IB's average fill price of the combo order: the
  debit paid to open, the credit received to close); realised P&L is
  ``(exit - entry) x contracts x multiplier - commissions``. Commissions are each order's
  total prorated to the contracts of the row, so partial closes add up to the whole.
- **The rule that closed it** is the auto-trader's exit rule when its ``auto/exit/``
  record names the closing order, else ``manual`` (a close sent from Positions).
- **Closing contracts without a journaled opening** (a position opened before this journal,
  or outside tui-trader) make no row: their entry is unknown, so a P&L would be invented.
  They are counted in :attr:`History.unmatched` and said on screen.
- **Cumulative realised P&L** runs over the rows in exit-time order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo

from tui_trader.core.models import Fill, OrderIntent

#: Contract multiplier of the equity options the spreads are built from.
MULTIPLIER = 100.0
#: The rule of a close the auto-trader did not send.
MANUAL = "manual"


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """Contracts of one spread opened by one order and closed by another (module doc).

    ``entry_price``/``exit_price`` are per share of the combo; ``commission`` is both
    orders' commissions prorated to ``quantity``; ``pnl`` is realised, commissions
    included; ``cumulative`` is the running total up to and including this row.
    """

    symbol: str
    direction: str
    expiry: str
    right: str
    long_strike: float
    short_strike: float
    quantity: int
    entry_time: datetime
    entry_price: float
    exit_time: datetime
    exit_price: float
    commission: float
    pnl: float
    cumulative: float
    rule: str
    open_intent: str
    close_intent: str

    @property
    def gross(self) -> float:
        """P&L before commissions."""
        return self.pnl + self.commission

    @property
    def strikes(self) -> str:
        """``150/155 C``: long strike first."""
        return f"{self.long_strike:g}/{self.short_strike:g} {self.right}"


@dataclass(frozen=True, slots=True)
class History:
    """The closed trades (exit-time order) and the closing contracts with no journaled
    opening (module doc)."""

    trades: tuple[ClosedTrade, ...] = ()
    unmatched: int = 0

    @property
    def total(self) -> float:
        """Realised P&L of all rows (the last row's cumulative)."""
        return self.trades[-1].cumulative if self.trades else 0.0

    @property
    def wins(self) -> int:
        return sum(1 for t in self.trades if t.pnl > 0)


@dataclass(slots=True)
class _Lot:
    intent: OrderIntent
    time: datetime
    price: float
    left: int


def _key(intent: OrderIntent) -> tuple[str, int, int]:
    spec = intent.spec
    return (spec.underlying, spec.long_leg.con_id, spec.short_leg.con_id)


def _fill_time(intent: OrderIntent, times: Mapping[str, datetime]) -> datetime:
    """When the order last filled (its fills' latest time), else its last update."""
    return times.get(intent.intent_id, intent.updated_at)


def _price(intent: OrderIntent, fills: Iterable[Fill]) -> float | None:
    """The combo's average fill price per share; from the leg fills when IB's average is
    missing (BOT pays, SLD receives; a close's credit is what the SELL received)."""
    if intent.avg_fill_price is not None:
        return intent.avg_fill_price
    paid = sum(f.price * f.quantity * (1 if f.side == "BOT" else -1) for f in fills)
    if intent.filled <= 0:
        return None
    per = paid / intent.filled
    return per if intent.spec.action == "BUY" else -per


def closed_trades(
    intents: Iterable[OrderIntent],
    fills: Iterable[Fill] = (),
    exit_rules: Mapping[str, str] | None = None,
) -> History:
    """Pair the filled opening and closing orders of each spread (module doc).

    ``exit_rules`` maps a closing order's intent id to the auto-trader's rule that sent it.
    """
    rules = exit_rules or {}
    by_intent: dict[str, list[Fill]] = {}
    for f in fills:
        if f.intent_id is not None:
            by_intent.setdefault(f.intent_id, []).append(f)
    times = {iid: max(f.time for f in fs) for iid, fs in by_intent.items()}
    done: list[tuple[datetime, int, ClosedTrade]] = []
    filled = [i for i in intents if i.filled > 0]
    filled.sort(key=lambda i: (_fill_time(i, times), i.created_at))
    lots: dict[tuple[str, int, int], deque[_Lot]] = {}
    unmatched = 0
    for intent in filled:
        price = _price(intent, by_intent.get(intent.intent_id, ()))
        if price is None:
            continue
        when = _fill_time(intent, times)
        queue = lots.setdefault(_key(intent), deque())
        if intent.spec.action == "BUY":
            queue.append(_Lot(intent, when, price, intent.filled))
            continue
        to_close = intent.filled
        while to_close > 0 and queue:
            lot = queue[0]
            n = min(lot.left, to_close)
            done.append((when, len(done), _trade(lot, intent, price, when, n, rules)))
            lot.left -= n
            to_close -= n
            if lot.left == 0:
                queue.popleft()
        unmatched += to_close
    done.sort(key=lambda d: (d[0], d[1]))
    rows: list[ClosedTrade] = []
    running = 0.0
    for _, _, t in done:
        running += t.pnl
        rows.append(_with_cumulative(t, running))
    return History(tuple(rows), unmatched)


def _share(commission: float | None, n: int, of: int) -> float:
    return 0.0 if commission is None or of <= 0 else commission * n / of


def _trade(
    lot: _Lot,
    close: OrderIntent,
    exit_price: float,
    exit_time: datetime,
    n: int,
    rules: Mapping[str, str],
) -> ClosedTrade:
    spec = lot.intent.spec
    commission = _share(lot.intent.commission, n, lot.intent.filled) + _share(
        close.commission, n, close.filled
    )
    gross = (exit_price - lot.price) * n * MULTIPLIER
    return ClosedTrade(
        symbol=spec.underlying,
        direction=spec.direction,
        expiry=spec.long_leg.expiry,
        right=spec.long_leg.right,
        long_strike=spec.long_leg.strike,
        short_strike=spec.short_leg.strike,
        quantity=n,
        entry_time=lot.time,
        entry_price=lot.price,
        exit_time=exit_time,
        exit_price=exit_price,
        commission=commission,
        pnl=gross - commission,
        cumulative=0.0,
        rule=rules.get(close.intent_id, MANUAL),
        open_intent=lot.intent.intent_id,
        close_intent=close.intent_id,
    )


def _with_cumulative(t: ClosedTrade, cumulative: float) -> ClosedTrade:
    return replace(t, cumulative=cumulative)


def history_lines(history: History, *, tz: tzinfo | None = None) -> list[str]:
    """The text report of ``tui-trader journal --history``: one line a closed trade (times
    in ``tz``, a ``tzinfo``, when given) and a total."""
    if not history.trades:
        lines = ["No closed trades in the journal."]
    else:
        lines = [
            f"{'Exit':<16} {'Symbol':<6} {'Spread':<22} {'Qty':>3} {'Entry':>6} {'Exit':>6} "
            f"{'Comm':>6} {'P&L':>9} {'Cum P&L':>10}  Rule"
        ]
        for t in history.trades:
            when = t.exit_time if tz is None else t.exit_time.astimezone(tz)
            spread = f"{t.expiry} {t.strikes}"
            lines.append(
                f"{when:%Y-%m-%d %H:%M} {t.symbol:<6} {spread:<22} {t.quantity:>3} "
                f"{t.entry_price:>6.2f} {t.exit_price:>6.2f} {t.commission:>6.2f} "
                f"{t.pnl:>+9,.2f} {t.cumulative:>+10,.2f}  {t.rule}"
            )
        lines.append(
            f"{len(history.trades)} closed trades, {history.wins} won; "
            f"realised P&L {history.total:+,.2f} (commissions included)"
        )
    if history.unmatched:
        lines.append(
            f"{history.unmatched} closing contracts have no opening order in this journal "
            "(opened elsewhere): not counted."
        )
    return lines


def history_json(history: History) -> dict[str, object]:
    """``tui-trader journal --history --json``: the rows (times UTC ISO 8601), the total
    and the closing contracts without an opening."""
    return {
        "trades": [
            {
                "symbol": t.symbol,
                "direction": t.direction,
                "expiry": t.expiry,
                "right": t.right,
                "long_strike": t.long_strike,
                "short_strike": t.short_strike,
                "quantity": t.quantity,
                "entry_time": t.entry_time.isoformat(),
                "entry_price": t.entry_price,
                "exit_time": t.exit_time.isoformat(),
                "exit_price": t.exit_price,
                "commission": round(t.commission, 4),
                "pnl": round(t.pnl, 4),
                "cumulative": round(t.cumulative, 4),
                "rule": t.rule,
                "open_intent": t.open_intent,
                "close_intent": t.close_intent,
            }
            for t in history.trades
        ],
        "total": round(history.total, 4),
        "unmatched": history.unmatched,
    }
