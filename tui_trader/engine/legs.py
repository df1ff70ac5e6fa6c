"""A spread's legs as the engine sees them: live quote, greeks and quote age from our
market-data lines, falling back to the chain's snapshot where no fresh quote has arrived.
The preview desk and the auto-trader read legs the same way, so both plan from the same
numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ib_insync import Ticker

from tui_trader.broker.marketdata import MarketData, clean_number
from tui_trader.core.entry import LegQuote
from tui_trader.core.limits import mid_of
from tui_trader.core.spreads import OptionChain
from tui_trader.state.store import PreviewLeg


def _opt(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def leg_quote(leg: PreviewLeg) -> LegQuote:
    """The planner's view of a leg (core.entry)."""
    return LegQuote(
        con_id=leg.con_id,
        expiry=leg.expiry,
        strike=leg.strike,
        right="C" if leg.right == "C" else "P",
        bid=leg.bid,
        ask=leg.ask,
        iv=leg.iv,
        age_s=leg.quote_age_s,
    )


class LegReader:
    """Reads legs from the market-data lines (module doc)."""

    def __init__(self, marketdata: MarketData, quote_age: Callable[[int], float | None]) -> None:
        self._md = marketdata
        self._age = quote_age

    def leg(self, con_id: int, action: str, expiry: str, strike: float, right: str,
             fallback: Mapping[str, float] | None = None) -> PreviewLeg:  # fmt: skip
        """A leg with its live quote and greeks (the chain snapshot when no fresh quote)."""
        md = self._md
        fb = fallback or {}
        q = md.quote(con_id)
        bid, ask = (q.bid, q.ask) if q.has_bid_ask else (fb.get("bid"), fb.get("ask"))
        greeks: dict[str, float | None] = {
            k: _opt(fb[k]) if k in fb else None for k in ("iv", "delta", "gamma", "vega", "theta")
        }
        t: Ticker | None = md.ticker(con_id)
        g: Any = t.modelGreeks if t is not None else None
        if g is not None:
            live = {
                "iv": clean_number(g.impliedVol),
                "delta": clean_number(g.delta),
                "gamma": clean_number(g.gamma),
                "vega": clean_number(g.vega),
                "theta": clean_number(g.theta),
            }
            for k, v in live.items():
                if math.isfinite(v):
                    greeks[k] = v
        b = _opt(bid) if bid is not None else None
        a = _opt(ask) if ask is not None else None
        return PreviewLeg(
            con_id=con_id,
            action=action,
            expiry=expiry,
            strike=strike,
            right=right,
            bid=b,
            ask=a,
            mid=mid_of(b, a),
            iv=greeks["iv"],
            delta=greeks["delta"],
            gamma=greeks["gamma"],
            vega=greeks["vega"],
            theta=greeks["theta"],
            quote_age_s=self._age(con_id),
        )

    def chain_leg(self, chain: OptionChain, row: int, action: str) -> PreviewLeg:
        expiry = str(chain.expiry[row]).replace("-", "")
        snapshot = {
            "bid": float(chain.bid[row]),
            "ask": float(chain.ask[row]),
            "iv": float(chain.iv[row]),
            "delta": float(chain.delta[row]),
            "gamma": float(chain.gamma[row]),
            "vega": float(chain.vega[row]),
            "theta": float(chain.theta[row]),
        }
        return self.leg(
            int(chain.con_id[row]),
            action,
            expiry,
            float(chain.strike[row]),
            "C" if bool(chain.is_call[row]) else "P",
            snapshot,
        )
