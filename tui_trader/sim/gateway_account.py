"""Account, portfolio and P&L publication to the clients that subscribed to them.

Account state lives in the Exchange; this layer only renders it for reqAccountUpdates,
reqAccountUpdatesMulti, reqAccountSummary, reqPnL and reqPnLSingle subscribers, and
publishes P&L only when the message would change (IB throttles it too).
"""

from __future__ import annotations

from tui_trader.sim import protocol as p
from tui_trader.sim.gateway_core import GatewayCore, _position_contract
from tui_trader.sim.gateway_session import ClientSession
from tui_trader.sim.types import Position


class AccountPublisher(GatewayCore):
    """Account values, portfolio, positions and P&L to their subscribers (module doc)."""

    def _req_account_updates(self, s: ClientSession, req: p.ReqAccountUpdates) -> None:
        s.account_updates = req.subscribe
        if not req.subscribe:
            return
        acct = self.account
        for key, (value, cur) in self.exchange.account_values().items():
            s.send(p.account_value(key, value, cur, acct))
        for pos in self.exchange.positions():
            s.send(p.portfolio_value(acct, _position_contract(pos.contract), pos))
        s.send(p.account_update_time(self.clock.now()))
        s.send(p.account_download_end(acct))

    def _publish_position(self, pos: Position) -> None:
        wc = _position_contract(pos.contract)
        acct = self.account
        pos_msg = p.position(acct, wc, pos.quantity, pos.avg_cost)
        pf_msg = p.portfolio_value(acct, wc, pos)
        for s in self._ready():
            if s.positions:
                s.send(pos_msg)
            if s.account_updates:
                s.send(pf_msg)

    def _publish_account(self, values: dict[str, tuple[str, str]]) -> None:
        acct = self.account
        for s in self._ready():
            for key, (value, cur) in values.items():
                if s.account_updates:
                    s.send(p.account_value(key, value, cur, acct))
                for req_id in s.account_multi:
                    s.send(p.account_update_multi(req_id, acct, "", key, value, cur))
                for req_id, tags in s.summaries.items():
                    if tags is None or key in tags:
                        s.send(p.account_summary(req_id, acct, key, value, cur))

    def _publish_pnl(self) -> None:
        for s in self._ready():
            if s.pnl:
                pnl = self.exchange.pnl()
                for req_id, last in list(s.pnl.items()):
                    msg = p.pnl(req_id, pnl.daily, pnl.unrealized, pnl.realized)
                    if msg != last:
                        s.pnl[req_id] = msg
                        s.send(msg)
            for req_id, (con_id, last) in list(s.pnl_single.items()):
                msg = self._pnl_single_msg(req_id, con_id)
                if msg != last:
                    s.pnl_single[req_id] = (con_id, msg)
                    s.send(msg)

    def _pnl_single_msg(self, req_id: int, con_id: int) -> bytes:
        got = self.exchange.pnl_single(con_id)
        if got is None:
            return p.pnl_single(req_id, 0.0, 0.0, 0.0, 0.0, 0.0)
        return p.pnl_single(req_id, *got)
