"""Request dispatch: which handler answers each decoded request, the API start and a
client's departure.

Every handler runs inside ``_handle``'s guard, so an exchange refusal becomes the IB
error it stands for and an unexpected exception becomes error 321 to that client,
never a crash of the server loop.
"""

from __future__ import annotations

from loguru import logger

from tui_trader.sim import protocol as p
from tui_trader.sim.exchange import ExchangeError
from tui_trader.sim.gateway_core import _cid, _position_contract, _req_id
from tui_trader.sim.gateway_orders import OrderDesk
from tui_trader.sim.gateway_reference import ReferenceData
from tui_trader.sim.gateway_session import ClientSession


class RequestDispatch(OrderDesk, ReferenceData):
    """Routes each request to its layer (module doc)."""

    def _handle(self, s: ClientSession, req: p.Request) -> None:
        if s.phase == "closed":
            return
        try:
            if s.phase == "start":
                if isinstance(req, p.StartApi):
                    self._start_api(s, req)
                else:
                    s.error(_req_id(req), p.ERR_NOT_CONNECTED, "Not connected")
                return
            self._dispatch(s, req)
        except ExchangeError as exc:
            s.error(_req_id(req), exc.code, exc.message)
        except Exception as exc:
            logger.exception("client {}: handling {} failed", s.client_id, type(req).__name__)
            s.error(
                _req_id(req),
                p.ERR_VALIDATION,
                f"Error validating request: internal error in the simulated gateway "
                f"({type(exc).__name__}: {exc})",
            )
        finally:
            if isinstance(req, p.ReqHistoricalData):
                self._pacing.done()

    def _dispatch(self, s: ClientSession, req: p.Request) -> None:
        match req:
            case p.StartApi():
                s.error(-1, p.ERR_VALIDATION, "Error validating request: API already started")
            case p.ReqMktData():
                self._req_mkt_data(s, req)
            case p.CancelMktData():
                line = s.lines.get(req.req_id)
                if line is not None:
                    self._drop_line(s, line)
                elif not self._cancel_snapshot(s, req.req_id):
                    s.error(req.req_id, 300, f"Can't find EId with tickerId:{req.req_id}")
            case p.PlaceOrder():
                self._place_order(s, req)
            case p.CancelOrder():
                self._publish(self.exchange.cancel(_cid(s), req.order_id))
            case p.ReqGlobalCancel():
                self._publish(self.exchange.cancel_all())
            case p.ReqOpenOrders():
                self._send_open_orders(s, all_clients=_cid(s) == 0)
            case p.ReqAllOpenOrders():
                self._send_open_orders(s, all_clients=True)
            case p.ReqAutoOpenOrders():
                pass  # orders from other clients already reach clientId 0
            case p.ReqCompletedOrders():
                self._send_completed_orders(s)
            case p.ReqExecutions():
                self._req_executions(s, req)
            case p.ReqIds():
                s.send(p.next_valid_id(self._next_order_id))
            case p.ReqManagedAccts():
                s.send(p.managed_accounts([self.account]))
            case p.ReqCurrentTime():
                skew = self.faults.clock_skew_s  # the ``skew`` play
                s.send(p.current_time(int(self.clock.now().timestamp() + skew)))
            case p.ReqMarketDataType():
                if req.market_data_type not in (1, 2, 3, 4):
                    s.error(-1, p.ERR_VALIDATION, "Error validating request: bad market data type")
                else:
                    s.market_data_type = req.market_data_type
            case p.ReqContractDetails():
                self._req_contract_details(s, req)
            case p.ReqSecDefOptParams():
                self._req_sec_def_opt_params(s, req)
            case p.ReqHistoricalData():
                self._req_historical_data(s, req)
            case p.CancelHistoricalData():
                pass  # answers are immediate: nothing is left to cancel
            case p.ReqPositions():
                s.positions = True
                for pos in self.exchange.positions():
                    s.send(
                        p.position(
                            self.account,
                            _position_contract(pos.contract),
                            pos.quantity,
                            pos.avg_cost,
                        )
                    )
                s.send(p.position_end())
            case p.CancelPositions():
                s.positions = False
            case p.ReqAccountUpdates():
                self._req_account_updates(s, req)
            case p.ReqAccountUpdatesMulti():
                s.account_multi.add(req.req_id)
                for key, (value, cur) in self.exchange.account_values().items():
                    s.send(
                        p.account_update_multi(
                            req.req_id, self.account, req.model_code, key, value, cur
                        )
                    )
                s.send(p.account_update_multi_end(req.req_id))
            case p.CancelAccountUpdatesMulti():
                s.account_multi.discard(req.req_id)
            case p.ReqAccountSummary():
                tags = frozenset(t.strip() for t in req.tags.split(",") if t.strip()) or None
                s.summaries[req.req_id] = tags
                for key, (value, cur) in self.exchange.account_values().items():
                    if tags is None or key in tags:
                        s.send(p.account_summary(req.req_id, self.account, key, value, cur))
                s.send(p.account_summary_end(req.req_id))
            case p.CancelAccountSummary():
                s.summaries.pop(req.req_id, None)
            case p.ReqPnL():
                pnl = self.exchange.pnl()
                msg = p.pnl(req.req_id, pnl.daily, pnl.unrealized, pnl.realized)
                s.pnl[req.req_id] = msg
                s.send(msg)
            case p.CancelPnL():
                s.pnl.pop(req.req_id, None)
            case p.ReqPnLSingle():
                msg = self._pnl_single_msg(req.req_id, req.con_id)
                s.pnl_single[req.req_id] = (req.con_id, msg)
                s.send(msg)
            case p.CancelPnLSingle():
                s.pnl_single.pop(req.req_id, None)

    def _start_api(self, s: ClientSession, req: p.StartApi) -> None:
        other = self._by_client_id.get(req.client_id)
        if other is not None and other.phase != "closed":
            logger.warning("clientId {} already in use; refusing {}", req.client_id, s.peer)
            s.error(-1, p.ERR_CLIENT_ID_IN_USE, p.TEXT_CLIENT_ID_IN_USE)
            s.close()
            return
        s.client_id = req.client_id
        s.phase = "ready"
        self._by_client_id[req.client_id] = s
        s.send(p.next_valid_id(self._next_order_id))
        s.send(p.managed_accounts([self.account]))
        logger.info("client {} connected from {}", req.client_id, s.peer)

    def _forget(self, s: ClientSession) -> None:
        self._sessions.discard(s)
        if s.client_id is not None and self._by_client_id.get(s.client_id) is s:
            del self._by_client_id[s.client_id]
        for line in list(s.lines.values()):
            self._drop_line(s, line)
        logger.info("client {} ({}) disconnected", s.client_id, s.peer)
