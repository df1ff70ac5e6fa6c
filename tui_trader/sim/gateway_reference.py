"""Reference and historical data: contract details, option chain parameters and
historical bars, with IB's historical pacing rules.

These requests answer from the Market at once and hold no subscription, so they need
nothing from the other layers but contract resolution.
"""

from __future__ import annotations

from tui_trader.sim import historical as hist
from tui_trader.sim import protocol as p
from tui_trader.sim.clock import et_date
from tui_trader.sim.gateway_lines import MarketDataLines
from tui_trader.sim.gateway_session import ClientSession
from tui_trader.sim.lookup import chain_params, details, resolve, trading_hours
from tui_trader.sim.types import StockContract


class ReferenceData(MarketDataLines):
    """contractDetails, secDefOptParams and historicalData (module doc)."""

    def _trading_hours(self) -> tuple[str, str]:
        today = et_date(self.clock.now())
        if self._hours is None or self._hours[0] != today:
            self._hours = (today, trading_hours(today))
        return self._hours[1]

    def _req_contract_details(self, s: ClientSession, req: p.ReqContractDetails) -> None:
        found = resolve(self.market, req.contract)
        if not found:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        hours = self._trading_hours()
        exchange = req.contract.exchange or "SMART"
        for c in found:
            wc, info = details(self.market, c, hours, exchange)
            s.send(p.contract_data(req.req_id, wc, info))
        s.send(p.contract_data_end(req.req_id))

    def _req_sec_def_opt_params(self, s: ClientSession, req: p.ReqSecDefOptParams) -> None:
        stock: StockContract | None = None
        if req.underlying_con_id > 0:
            c = self.market.contract(req.underlying_con_id)
            stock = c if isinstance(c, StockContract) else None
        if stock is None and req.symbol:
            stock = self.market.stock(req.symbol.upper())
        params = None if stock is None else chain_params(self.market, stock.symbol)
        if stock is None or params is None:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        trading_class, multiplier, expirations, strikes = params
        s.send(
            p.sec_def_opt_params(
                req.req_id, "SMART", stock.con_id, trading_class, multiplier, expirations, strikes
            )
        )
        s.send(p.sec_def_opt_params_end(req.req_id))

    def _req_historical_data(self, s: ClientSession, req: p.ReqHistoricalData) -> None:
        if req.keep_up_to_date:
            s.error(
                req.req_id,
                p.ERR_VALIDATION,
                "Error validating request:-'bX' : cause - keepUpToDate is not supported "
                "by the simulated gateway",
            )
            return
        if self.faults.historical_broken:
            s.error(
                req.req_id,
                p.ERR_HISTORICAL,
                "Historical Market Data Service error "
                "message:HMDS data farm connection is broken:ushmds",
            )
            return
        what = req.what_to_show.upper()
        if what not in hist.WHAT_TO_SHOW:
            s.error(
                req.req_id,
                p.ERR_VALIDATION,
                f"Error validating request:-'bX' : cause - whatToShow {req.what_to_show!r} "
                "is not served by the simulated gateway (TRADES, MIDPOINT, ADJUSTED_LAST)",
            )
            return
        c = self._resolve_one(req.contract)
        if c is None:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        if not isinstance(c, StockContract):
            s.error(
                req.req_id,
                p.ERR_HISTORICAL,
                "Historical Market Data Service error message:HMDS query returned no data: "
                f"{c.symbol} {c.sec_type} (the simulator keeps stock history only)",
            )
            return
        now = self.clock.now()
        end_dt = p.parse_ib_datetime(req.end_date_time) or now
        try:
            bars = hist.select_bars(self.market.daily_bars(c.symbol), et_date(end_dt), req.duration)
            bars = hist.aggregate(bars, req.bar_size.strip())
        except hist.HistoricalRequestError as exc:
            s.error(req.req_id, exc.code, exc.message)
            return
        wire = hist.to_wire(bars, what)
        start = bars[0].day if bars else et_date(end_dt)
        start_text = p.fmt_ib_date(start) + " 00:00:00"
        end_text = p.fmt_ib_datetime(end_dt, with_zone=False)
        s.send(p.historical_data(req.req_id, start_text, end_text, wire))

    def _admit_historical(self, r: p.ReqHistoricalData) -> str | None:
        c = r.contract
        key = (
            str(c.con_id),
            c.symbol.upper(),
            c.sec_type,
            r.end_date_time,
            r.duration,
            r.bar_size,
            r.what_to_show,
            str(r.use_rth),
        )
        # IB's same-contract rule: contract, exchange and tick type
        series = (str(c.con_id), c.symbol.upper(), c.sec_type, c.exchange.upper(),
                  r.what_to_show.upper())  # fmt: skip
        return self._pacing.admit(key, r.bar_size, series)
