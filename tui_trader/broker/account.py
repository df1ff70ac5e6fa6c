"""The account as the dashboard shows it: positions grouped into spreads, P&L, funds, mode.

Grouping (SPEC 10), decided here:

- **Ours first.** Every intent with a fill contributes to the spread of its two legs: a BUY
  adds its filled units, a SELL (a close) removes them. Each spread the journal says is
  still open takes ``min(open units, long position, short position)`` units from IB's
  positions, in the order the spreads were opened. IB's positions are the truth for what
  is held; the journal only says how the legs belong together, so a leg closed by hand in
  TWS shrinks the spread instead of showing a position that no longer exists.
- **Then the rest.** Leftover option legs are paired by underlying, expiry and right with
  an opposite-signed leg, nearest strike first (lower strike on a tie), and marked
  ``external``. What still cannot be paired (a lone option, a stock) is shown as an
  external single leg: nothing held is ever hidden.
- **Money.** ``cost`` is what was paid to open the spread's units from IB's average costs
  (per contract, multiplier and commissions included, as IB reports them); the mark is
  the combo's mid (long mid - short mid) from live quotes when both sides are usable,
  else IB's portfolio mark. ``pnl = mark * multiplier * units - cost``. Day P&L per leg
  comes from reqPnLSingle and is shared between spreads in proportion to their units.
- **Account.** NetLiquidation / AvailableFunds / BuyingPower come from IB's account values
  (USD, else BASE); day, unrealized and realized P&L from reqPnL. Only a masked account id
  ever reaches the store. A login with several accounts is refused for trading: which one
  an order would hit must never be a guess.
- **Realized P&L of a close** (:func:`realized_pnl`) comes from the journal's fills:
  per leg, (sell price - buy price) * units * multiplier, minus the closing commissions
  and the opening commissions prorated to the closed units. It equals IB's realized P&L
  (net of both commissions) when one opening order is closed in full.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ib_insync import IB, PnL, PortfolioItem, Position, Ticker

from tui_trader.broker.events import Subscriptions
from tui_trader.broker.marketdata import ib_number
from tui_trader.core.models import (
    Fill,
    OrderIntent,
    SpreadLeg,
    SpreadOrderSpec,
    usable_number,
)
from tui_trader.core.pricing import (
    Mode,
    PriceRefusal,
    check_account_mode,
    limit_price,
    mask_account_id,
    natural_quotes,
)
from tui_trader.core.settings import ExecutionSettings
from tui_trader.state.journal import Journal
from tui_trader.state.store import (
    Account,
    AccountMode,
    PositionLeg,
    Positions,
    SpreadPosition,
    Store,
)

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT_OPTION_MULTIPLIER = 100
_FUND_CURRENCIES = ("USD", "BASE")


# --------------------------------------------------------------------------- the account


def trading_account(ib: IB) -> str | None:
    """The one account this login manages; None when IB reported none or several."""
    accounts = [a for a in ib.managedAccounts() if a]
    return accounts[0] if len(accounts) == 1 else None


def account_mode_problem(ib: IB, mode: Mode) -> str | None:
    """Why trading must be refused for this login and configured ``mode``, or None."""
    accounts = [a for a in ib.managedAccounts() if a]
    if len(accounts) > 1:
        shown = ", ".join(mask_account_id(a) for a in accounts)
        return (
            f"IB reports {len(accounts)} accounts ({shown}); tui-trader trades exactly one "
            "account, so it cannot tell which one an order would go to: refusing to trade."
        )
    return check_account_mode(mode, accounts[0] if accounts else None)


def account_mode(account_id: str | None) -> AccountMode | None:
    """PAPER for IB's paper accounts (they start with "D"), LIVE otherwise."""
    s = (account_id or "").strip()
    if not s:
        return None
    return AccountMode.PAPER if s.upper().startswith("D") else AccountMode.LIVE


# --------------------------------------------------------------------------- quotes


def quote_mid(bid: float | None, ask: float | None) -> float | None:
    """The mid of a usable two-sided quote (bid >= 0, ask > 0, bid <= ask), else None."""
    if bid is None or ask is None or not (usable_number(bid) and usable_number(ask)):
        return None
    if bid < 0 or ask <= 0 or bid > ask:
        return None
    return (bid + ask) / 2


def ticker_quotes(tickers: Iterable[Ticker]) -> dict[int, tuple[float, float]]:
    """conId -> (bid, ask) of every ticker with a usable two-sided quote."""
    out: dict[int, tuple[float, float]] = {}
    for t in tickers:
        con_id = t.contract.conId if t.contract is not None else 0
        if con_id and quote_mid(t.bid, t.ask) is not None:
            out[con_id] = (float(t.bid), float(t.ask))
    return out


def ticker_greeks(tickers: Iterable[Ticker]) -> dict[int, dict[str, float]]:
    """conId -> IB's model greeks per share (delta, gamma, theta, vega) of every option
    ticker that has them; a greek IB left unset is absent (core.position_risk judges)."""
    out: dict[int, dict[str, float]] = {}
    for t in tickers:
        con_id = t.contract.conId if t.contract is not None else 0
        g = t.modelGreeks
        if not con_id or g is None:
            continue
        values = {k: ib_number(getattr(g, k)) for k in ("delta", "gamma", "theta", "vega")}
        out[con_id] = {k: v for k, v in values.items() if v is not None}
    return out


# --------------------------------------------------------------------------- grouping


def _multiplier(leg: PositionLeg) -> int:
    return leg.multiplier if leg.multiplier > 0 else 1


def _dte(expiry: str, today: date) -> int | None:
    try:
        day = date(int(expiry[:4]), int(expiry[4:6]), int(expiry[6:8]))
    except (ValueError, IndexError):
        return None
    return (day - today).days


def _direction(long_leg: PositionLeg, short_leg: PositionLeg) -> str | None:
    if long_leg.right == "C" and long_leg.strike < short_leg.strike:
        return "LONG"
    if long_leg.right == "P" and long_leg.strike > short_leg.strike:
        return "SHORT"
    return None


def _share(leg: PositionLeg, quantity: float) -> PositionLeg:
    """This spread's part of a position: ``quantity`` (signed) and its part of the day P&L."""
    day = None
    if leg.day_pnl is not None and leg.quantity != 0:
        day = leg.day_pnl * abs(quantity / leg.quantity)
    return replace(leg, quantity=quantity, day_pnl=day)


def _leg_mark(leg: PositionLeg) -> float | None:
    if leg.mid is not None:
        return leg.mid
    return leg.market_price


def _spread(
    legs: Sequence[PositionLeg],
    units: float,
    today: date,
    *,
    intent_ids: tuple[str, ...] = (),
    external: bool,
) -> SpreadPosition:
    """A spread (two legs, long first) or a single leg holding ``units``."""
    signed = [_share(leg, units if leg.quantity > 0 else -units) for leg in legs]
    cost = sum(leg.quantity * leg.avg_cost for leg in signed)
    marks = [_leg_mark(leg) for leg in signed]
    mark: float | None = None
    pnl: float | None = None
    if all(m is not None for m in marks):
        per_unit = [m for m in marks if m is not None]
        mark = per_unit[0] - per_unit[1] if len(signed) == 2 else per_unit[0]
        value = sum(
            leg.quantity * m * _multiplier(leg) for leg, m in zip(signed, per_unit, strict=True)
        )
        pnl = value - cost
    pnl_pct = pnl / cost if pnl is not None and cost > 0 else None
    days = [leg.day_pnl for leg in signed]
    day_pnl = sum(d for d in days if d is not None) if all(d is not None for d in days) else None
    first = signed[0]
    direction = _direction(signed[0], signed[1]) if len(signed) == 2 else None
    return SpreadPosition(
        underlying=first.symbol,
        legs=tuple(signed),
        intent_id=intent_ids[0] if intent_ids else None,
        external=external,
        pnl=pnl,
        quantity=math.floor(units + 1e-9),
        intent_ids=intent_ids,
        direction=direction,
        expiry=first.expiry or None,
        cost=cost,
        mark=mark,
        pnl_pct=pnl_pct,
        day_pnl=day_pnl,
        dte=_dte(first.expiry, today) if first.expiry else None,
    )


@dataclass
class _Journaled:
    long_con: int
    short_con: int
    units: int
    opens: list[str]


def _journal_spreads(intents: Sequence[OrderIntent]) -> list[_Journaled]:
    """Open units per (long, short) leg pair from the journal's fills, in opening order."""
    by_key: dict[tuple[int, int], _Journaled] = {}
    for it in intents:
        if it.filled <= 0:
            continue
        key = (it.spec.long_leg.con_id, it.spec.short_leg.con_id)
        entry = by_key.get(key)
        if entry is None:
            entry = by_key[key] = _Journaled(key[0], key[1], 0, [])
        if it.spec.action == "BUY":
            if entry.units <= 0:
                entry.opens = []
                entry.units = 0
            entry.units += it.filled
            entry.opens.append(it.intent_id)
        else:
            entry.units -= it.filled
    return [e for e in by_key.values() if e.units > 0]


def group_positions(
    legs: Sequence[PositionLeg], intents: Sequence[OrderIntent], today: date
) -> list[SpreadPosition]:
    """SPEC 10: our spreads (from the journal) first, then external pairs, then singles.

    ``legs`` are IB's positions (quantity signed, zero quantities ignored); ``intents`` the
    journal's. See the module doc for the rules.
    """
    held = {leg.con_id: leg for leg in legs if leg.quantity != 0}
    left = {cid: leg.quantity for cid, leg in held.items()}
    out: list[SpreadPosition] = []
    for entry in _journal_spreads(intents):
        lo, sh = held.get(entry.long_con), held.get(entry.short_con)
        if lo is None or sh is None:
            continue
        units = min(float(entry.units), max(0.0, left[lo.con_id]), max(0.0, -left[sh.con_id]))
        if units <= 0:
            continue
        left[lo.con_id] -= units
        left[sh.con_id] += units
        out.append(_spread((lo, sh), units, today, intent_ids=tuple(entry.opens), external=False))

    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    singles: list[int] = []
    for cid, leg in held.items():
        if left[cid] == 0:
            continue
        if leg.sec_type == "OPT" and leg.right in ("C", "P") and leg.expiry:
            groups[(leg.symbol, leg.expiry, leg.right)].append(cid)
        else:
            singles.append(cid)
    for key in sorted(groups):
        cids = groups[key]
        longs = sorted((c for c in cids if left[c] > 0), key=lambda c: held[c].strike)
        shorts = sorted((c for c in cids if left[c] < 0), key=lambda c: held[c].strike)
        for lc in longs:
            while left[lc] > 0:
                open_shorts = [s for s in shorts if left[s] < 0]
                if not open_shorts:
                    break
                k = held[lc].strike
                sc = min(open_shorts, key=lambda s: (abs(held[s].strike - k), held[s].strike))
                units = min(left[lc], -left[sc])
                left[lc] -= units
                left[sc] += units
                out.append(_spread((held[lc], held[sc]), units, today, external=True))
        singles.extend(c for c in cids if left[c] != 0)
    for cid in sorted(singles, key=lambda c: (held[c].symbol, held[c].expiry, held[c].strike)):
        units = abs(left[cid])
        out.append(_spread((held[cid],), units, today, external=True))
    return out


# --------------------------------------------------------------------------- closing


def closing_spec(
    spread: SpreadPosition,
    execution: ExecutionSettings,
    *,
    quotes: Mapping[int, tuple[float, float]] | None = None,
    quantity: int | None = None,
) -> SpreadOrderSpec | PriceRefusal:
    """The SELL order that closes ``spread`` (or ``quantity`` of its units), priced as in
    SPEC 6 from the legs' quotes (``quotes`` conId -> (bid, ask), else the legs' own).

    Same legs as the opening combo (BUY long, SELL short) and action SELL. A pricing
    problem (no usable quote) is returned as a :class:`PriceRefusal`; a position that is not
    a closable debit spread, or a quantity beyond what is held, raises ValueError.
    """
    if len(spread.legs) != 2 or spread.direction not in ("LONG", "SHORT"):
        raise ValueError(
            f"{spread.underlying}: only a vertical debit spread can be closed as a combo here; "
            "close other positions in TWS."
        )
    lo, sh = spread.legs
    units = spread.quantity if quantity is None else quantity
    if units < 1 or units > spread.quantity:
        raise ValueError(f"cannot close {units} of {spread.quantity} spread(s)")
    got = dict(quotes or {})

    def quote(leg: PositionLeg) -> tuple[float, float]:
        q = got.get(leg.con_id)
        if q is not None:
            return q
        return (
            math.nan if leg.bid is None else leg.bid,
            math.nan if leg.ask is None else leg.ask,
        )

    natural = natural_quotes(*quote(lo), *quote(sh))
    if isinstance(natural, PriceRefusal):
        return natural
    price = limit_price("SELL", natural.bid, natural.ask, execution)
    if isinstance(price, PriceRefusal):
        return price
    return SpreadOrderSpec(
        underlying=spread.underlying,
        direction="LONG" if spread.direction == "LONG" else "SHORT",
        legs=(
            SpreadLeg(
                con_id=lo.con_id, symbol=lo.symbol, expiry=lo.expiry, strike=lo.strike,
                right="C" if lo.right == "C" else "P", action="BUY",
            ),
            SpreadLeg(
                con_id=sh.con_id, symbol=sh.symbol, expiry=sh.expiry, strike=sh.strike,
                right="C" if sh.right == "C" else "P", action="SELL",
            ),
        ),
        action="SELL",
        quantity=units,
        order_type=price.order_type,
        limit_price=price.limit,
        mode=execution.mode,
    )  # fmt: skip


# --------------------------------------------------------------------------- realized P&L


def _avg(fills: Iterable[Fill], con_id: int, side: str) -> tuple[float, float]:
    """(quantity, average price) of the fills of one contract on one side."""
    qty = total = 0.0
    for f in fills:
        if f.con_id == con_id and f.side == side:
            qty += f.quantity
            total += f.quantity * f.price
    return qty, (total / qty if qty else math.nan)


def realized_pnl(
    journal: Journal, closing: OrderIntent, multiplier: int = DEFAULT_OPTION_MULTIPLIER
) -> float | None:
    """Realized P&L (account currency, net of commissions) of a filled closing SELL intent.

    The opening side is every BUY intent of the same legs journaled before it; None when
    the fills or commissions needed are not all known yet (see the module doc).
    """
    spec = closing.spec
    if spec.action != "SELL" or closing.filled <= 0:
        return None
    lo, sh = spec.long_leg.con_id, spec.short_leg.con_id
    opens = [
        it
        for it in journal.intents()
        if it.spec.action == "BUY"
        and it.filled > 0
        and (it.spec.long_leg.con_id, it.spec.short_leg.con_id) == (lo, sh)
        and it.created_at <= closing.created_at
    ]
    open_fills = [f for it in opens for f in journal.fills(it.intent_id)]
    close_fills = journal.fills(closing.intent_id)
    units = float(closing.filled)
    open_units = float(sum(it.filled for it in opens))
    if open_units <= 0:
        return None
    q_lb, p_lb = _avg(open_fills, lo, "BOT")
    q_ss, p_ss = _avg(open_fills, sh, "SLD")
    q_ls, p_ls = _avg(close_fills, lo, "SLD")
    q_sb, p_sb = _avg(close_fills, sh, "BOT")
    if min(q_lb, q_ss) < open_units - 1e-9 or min(q_ls, q_sb) < units - 1e-9:
        return None
    if any(f.commission is None for f in (*open_fills, *close_fills)):
        return None
    gross = ((p_ls - p_lb) + (p_ss - p_sb)) * units * multiplier
    open_comm = sum(f.commission or 0.0 for f in open_fills)
    close_comm = sum(f.commission or 0.0 for f in close_fills)
    return gross - close_comm - open_comm * min(1.0, units / open_units)


# --------------------------------------------------------------------------- the view


def _position_leg(
    p: Position, portfolio: Mapping[int, PortfolioItem], quotes: Mapping[int, tuple[float, float]],
    day_pnl: Mapping[int, float], greeks: Mapping[int, Mapping[str, float]] | None = None,
) -> PositionLeg:  # fmt: skip
    c = p.contract
    sec_type = c.secType or "OPT"
    mult = ib_number(c.multiplier) if c.multiplier else None
    multiplier = int(mult) if mult else (DEFAULT_OPTION_MULTIPLIER if sec_type == "OPT" else 1)
    item = portfolio.get(c.conId)
    market_price = ib_number(item.marketPrice) if item is not None else None
    bid_ask = quotes.get(c.conId)
    bid, ask = bid_ask if bid_ask is not None else (None, None)
    expiry = (c.lastTradeDateOrContractMonth or "").split()[0] if sec_type == "OPT" else ""
    g = (greeks or {}).get(c.conId, {})
    return PositionLeg(
        con_id=c.conId,
        symbol=c.symbol,
        expiry=expiry,
        strike=float(c.strike) if sec_type == "OPT" else 0.0,
        right=c.right if sec_type == "OPT" else "",
        quantity=float(p.position),
        avg_cost=float(p.avgCost) if usable_number(p.avgCost) else 0.0,
        market_price=market_price,
        mid=quote_mid(bid, ask),
        sec_type=sec_type,
        day_pnl=day_pnl.get(c.conId),
        multiplier=multiplier,
        bid=bid,
        ask=ask,
        delta=g.get("delta"),
        gamma=g.get("gamma"),
        theta=g.get("theta"),
        vega=g.get("vega"),
    )


class AccountView:
    """Keeps the store's Positions and Account slices in step with IB (see module doc).

    Call :meth:`refresh` after every (re)connect: it re-requests positions and the P&L
    subscriptions (ib_insync forgets them on a disconnect). Between refreshes IB's pushed
    updates (positions, portfolio, account values, P&L, quotes) recompute the slices,
    coalesced to once per event-loop pass.
    """

    def __init__(
        self,
        ib: IB,
        journal: Journal,
        *,
        clock: Callable[[], datetime],
        store: Store | None = None,
        execution: ExecutionSettings | None = None,
    ) -> None:
        self._ib = ib
        self._journal = journal
        self._clock = clock
        self._store = store
        self._execution = execution or ExecutionSettings()
        self._intents: list[OrderIntent] | None = None
        self._scheduled = False
        self._spreads: tuple[SpreadPosition, ...] = ()
        #: conIds of the legs held at the last recompute (see :meth:`_on_tickers`).
        self._leg_ids: frozenset[int] = frozenset()
        self._events = Subscriptions(
            [
                (ib.positionEvent, self._on_positions),
                (ib.updatePortfolioEvent, self._on_positions),
                (ib.execDetailsEvent, self._on_journal_change),
                (ib.orderStatusEvent, self._on_journal_change),
                (ib.accountValueEvent, self._on_update),
                (ib.pnlEvent, self._on_update),
                (ib.pnlSingleEvent, self._on_update),
                (ib.pendingTickersEvent, self._on_tickers),
            ]
        )
        self.start()

    # -- wiring ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen to IB's pushed updates (idempotent)."""
        self._events.connect()

    def close(self) -> None:
        """Stop listening (the P&L subscriptions end with the connection)."""
        self._events.disconnect()

    def _on_positions(self, *_: Any) -> None:
        self._intents = None  # a position change may be a fill the journal just recorded
        self._schedule()

    def _on_journal_change(self, *_: Any) -> None:
        self._intents = None
        self._schedule()

    def _on_update(self, *_: Any) -> None:
        self._schedule()

    def _on_tickers(self, tickers: Iterable[Ticker]) -> None:
        """A quote moves the marks only when it is a held leg's: the universe's lines and
        its rotating snapshots (dozens of ticker batches a second with 1,000 symbols)
        recomputed every position and account figure for nothing (issue 12's idle CPU).
        The account's own values and P&L come with their own events."""
        legs = self._leg_ids
        if legs and any(t.contract is not None and t.contract.conId in legs for t in tickers):
            self._schedule()

    def _schedule(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.recompute()
            return
        self._scheduled = True
        loop.call_soon(self._run_scheduled)

    def _run_scheduled(self) -> None:
        self._scheduled = False
        self.recompute()

    # -- requests -------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-request positions and P&L subscriptions, then recompute (after a connect)."""
        ib = self._ib
        if not ib.isConnected():
            self.recompute()
            return
        await ib.reqPositionsAsync()
        self._ensure_pnl()
        self._intents = None
        self.recompute()

    def _ensure_pnl(self) -> None:
        ib = self._ib
        account = trading_account(ib)
        if account is None or not ib.isConnected():
            return
        if not ib.pnl(account):
            ib.reqPnL(account)
        held = {p.contract.conId for p in ib.positions(account) if p.position != 0}
        subscribed = {s.conId for s in ib.pnlSingle(account)}
        for con_id in sorted(held - subscribed):
            ib.reqPnLSingle(account, "", con_id)
        for con_id in sorted(subscribed - held):
            ib.cancelPnLSingle(account, "", con_id)

    # -- reading --------------------------------------------------------------------------

    def mode_problem(self) -> str | None:
        """Why trading is refused for this login (paper/live mismatch, no or several
        accounts), None when the configured mode matches the account."""
        return account_mode_problem(self._ib, self._execution.mode)

    @property
    def spreads(self) -> tuple[SpreadPosition, ...]:
        """The positions grouped into spreads as of the last recompute."""
        return self._spreads

    def _today(self) -> date:
        return self._clock().astimezone(NEW_YORK).date()

    def recompute(self) -> tuple[SpreadPosition, ...]:
        """Group the positions and refresh the store's Positions and Account slices.

        While disconnected nothing changes: ib_insync forgets positions and account values
        on a disconnect, and an empty list would read as "no positions".
        """
        ib = self._ib
        if not ib.isConnected():
            return self._spreads
        account = trading_account(ib)
        positions = ib.positions(account) if account else []
        portfolio = {i.contract.conId: i for i in (ib.portfolio(account) if account else [])}
        tickers = ib.tickers()
        quotes = ticker_quotes(tickers)
        day: dict[int, float] = {}
        if account:
            for s in ib.pnlSingle(account):
                v = ib_number(s.dailyPnL)
                if v is not None:
                    day[s.conId] = v
        greeks = ticker_greeks(tickers)
        legs = [
            _position_leg(p, portfolio, quotes, day, greeks) for p in positions if p.position != 0
        ]
        self._leg_ids = frozenset(p.contract.conId for p in positions if p.position != 0)
        if self._intents is None:
            self._intents = self._journal.intents()
        self._spreads = tuple(group_positions(legs, self._intents, self._today()))
        if self._store is not None:
            now = self._clock()
            current = self._store.get(Positions)
            if current.spreads != self._spreads:
                self._store.set(Positions, Positions(self._spreads, now))
            self._store.set(Account, self._account_slice(account, now))
        if positions:
            self._ensure_pnl()
        return self._spreads

    def _account_slice(self, account: str | None, now: datetime) -> Account:
        values: dict[str, float] = {}
        if account:
            for cur in reversed(_FUND_CURRENCIES):  # USD wins over BASE
                for v in self._ib.accountValues(account):
                    if v.currency == cur and v.tag in (
                        "NetLiquidation", "AvailableFunds", "BuyingPower"
                    ):  # fmt: skip
                        n = ib_number(v.value)
                        if n is not None:
                            values[v.tag] = n
        pnl: PnL | None = None
        if account:
            found = self._ib.pnl(account)
            pnl = found[0] if found else None
        new = Account(
            net_liquidation=values.get("NetLiquidation"),
            available_funds=values.get("AvailableFunds"),
            buying_power=values.get("BuyingPower"),
            day_pnl=ib_number(pnl.dailyPnL) if pnl is not None else None,
            mode=account_mode(account),
            account_masked=mask_account_id(account) if account else None,
            updated_at=None,
            unrealized_pnl=ib_number(pnl.unrealizedPnL) if pnl is not None else None,
            realized_pnl=ib_number(pnl.realizedPnL) if pnl is not None else None,
            mode_problem=self.mode_problem(),
        )
        if self._store is not None:
            old = self._store.get(Account)
            if replace(old, updated_at=None) == new:
                return old
        return replace(new, updated_at=now)
