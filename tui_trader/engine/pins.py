"""Market-data pins: the lines that must keep streaming whatever a chain preview needs.

Legs of open positions (and their underlyings) and legs of working orders stream pinned
(``position`` / ``order``), so a preview never evicts the quotes an exit or a walk needs.
:meth:`Pins.sync` makes the pins follow the positions and orders: new legs are pinned and
subscribed, legs that are gone are unpinned, and unsubscribed unless another owner (a pin
of the other kind, the universe's own line) still needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from ib_insync import Contract, Stock
from loguru import logger

from tui_trader.broker.marketdata import MarketData
from tui_trader.state.store import Orders, PositionLeg, Positions

PIN_POSITION = "position"
PIN_ORDER = "order"


def leg_contract(con_id: int, symbol: str, expiry: str, strike: float, right: str,
                 multiplier: int = 100) -> Contract:  # fmt: skip
    """A contract for a known conId, routable for market data (positions come back from
    IB without an exchange)."""
    return Contract(
        conId=con_id,
        secType="OPT",
        symbol=symbol,
        lastTradeDateOrContractMonth=expiry,
        strike=strike,
        right=right,
        exchange="SMART",
        currency="USD",
        multiplier=str(multiplier),
    )


class Pins:
    """Keeps the position and order legs pinned (module doc).

    ``positions``/``orders`` give the current slices (the raw positions as IB reports
    them); ``stock`` a streamed underlying's contract; ``universe_ids`` the conIds the
    universe streams (never unsubscribed here)."""

    def __init__(
        self,
        marketdata: MarketData,
        *,
        positions: Callable[[], Positions],
        orders: Callable[[], Orders],
        stock: Callable[[str], Contract | None],
        universe_ids: Callable[[], Collection[int]],
        multiplier: int,
    ) -> None:
        self._md = marketdata
        self._positions = positions
        self._orders = orders
        self._stock = stock
        self._universe_ids = universe_ids
        self._multiplier = multiplier
        self._held: dict[str, set[int]] = {PIN_POSITION: set(), PIN_ORDER: set()}

    def wanted(self) -> dict[str, dict[int, Contract]]:
        """conId -> contract to pin, per reason."""
        want: dict[str, dict[int, Contract]] = {PIN_POSITION: {}, PIN_ORDER: {}}
        for sp in self._positions().spreads:
            for leg in sp.legs:
                if leg.con_id <= 0:
                    continue
                if leg.sec_type == "OPT":
                    want[PIN_POSITION][leg.con_id] = self._position_contract(leg)
                elif leg.sec_type == "STK":
                    want[PIN_POSITION][leg.con_id] = Stock(
                        leg.symbol, "SMART", "USD", conId=leg.con_id
                    )
            stock = self._stock(sp.underlying)
            if stock is not None:
                want[PIN_POSITION][stock.conId] = stock
        for it in self._orders().intents:
            if it.is_terminal:
                continue
            for sl in it.spec.legs:
                want[PIN_ORDER][sl.con_id] = leg_contract(
                    sl.con_id, sl.symbol, sl.expiry, sl.strike, sl.right, self._multiplier
                )
        return want

    def sync(self) -> None:
        """Pin and stream what is wanted; lift the pins of what is gone (module doc)."""
        md = self._md
        for reason, contracts in self.wanted().items():
            held = self._held[reason]
            for con_id, contract in contracts.items():
                if con_id not in held:
                    held.add(con_id)
                    try:
                        md.subscribe(contract, pin=reason)
                    except ValueError:
                        logger.warning("cannot stream conId {}", con_id)
            for con_id in sorted(held - set(contracts)):
                held.discard(con_id)
                md.unpin(con_id, reason)
                if not md.budget.is_pinned(con_id) and con_id not in self._universe_ids():
                    md.unsubscribe(con_id)

    def _position_contract(self, leg: PositionLeg) -> Contract:
        known = self._md.contract(leg.con_id)
        if known is not None:
            return known
        return leg_contract(
            leg.con_id, leg.symbol, leg.expiry, leg.strike, leg.right, leg.multiplier or 100
        )
