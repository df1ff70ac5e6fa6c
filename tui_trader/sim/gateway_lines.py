"""Market data lines and snapshots: reqMktData / cancelMktData and IB's line limit.

A line is a subscription a client holds (``subscriptions.MarketLine``); the ``LineBook``
knows which lines a price move touches. Snapshots (issue 12) hold a line for
``GatewayLimits.snapshot_s`` before tickSnapshotEnd, and count against the account's
line limit while they do, as at IB.
"""

from __future__ import annotations

from typing import Literal

from tui_trader.sim import protocol as p
from tui_trader.sim.faults import market_data_answer
from tui_trader.sim.gateway_core import GatewayCore
from tui_trader.sim.gateway_session import ClientSession
from tui_trader.sim.lookup import resolve
from tui_trader.sim.subscriptions import LegRef, MarketLine, parse_generic_ticks, publish, render
from tui_trader.sim.types import Contract, OptionContract


class MarketDataLines(GatewayCore):
    """Streaming lines, snapshots and the line count (module doc)."""

    def _resolve_one(self, wc: p.WireContract) -> Contract | None:
        found = resolve(self.market, wc)
        return found[0] if len(found) == 1 else None

    def _req_mkt_data(self, s: ClientSession, req: p.ReqMktData) -> None:
        if req.req_id in s.lines or req.req_id in s.snapshots:
            s.error(
                req.req_id,
                322,
                f"Error processing request:-'bW' : cause - Duplicate ticker id {req.req_id}",
            )
            return
        if self.lines_in_use() >= self.limits.max_market_data_lines:
            s.error(req.req_id, p.ERR_MAX_TICKERS, p.TEXT_MAX_TICKERS)
            return
        line = self._make_line(s, req)
        if line is None:
            s.error(req.req_id, p.ERR_NO_SECURITY, p.TEXT_NO_SECURITY)
            return
        answer = market_data_answer(self.faults, line.kind != "STK", s.market_data_type)
        if answer.code:  # the ``market-data``/``options-data`` plays: 354 or 10167
            s.error(req.req_id, answer.code, answer.text)
        if answer.data_type is None:
            return
        s.send(p.tick_req_params(req.req_id, line.min_tick, "9c0001", 3))
        s.send(p.market_data_type(req.req_id, answer.data_type))
        if req.snapshot:
            self._start_snapshot(s, line)
            return
        s.lines[req.req_id] = line
        self._book.add(line)
        if not self.faults.market_data_paused:
            publish(line, self.market, full=True)

    # --- snapshots and the account's line count (issue 12) ------------------------------

    def lines_in_use(self) -> int:
        """Lines the account holds: every client's streaming lines and unfinished
        snapshots (IB counts lines per login, not per client)."""
        return sum(len(x.lines) + len(x.snapshots) for x in self._sessions if x.phase != "closed")

    def _start_snapshot(self, s: ClientSession, line: MarketLine) -> None:
        """One round of the line's ticks now; tickSnapshotEnd after ``snapshot_s``, and
        the line held until then."""
        for msg in render(line, self.market).values():
            s.send(msg)
        hold = self.limits.snapshot_s
        if hold > 0:
            s.snapshots[line.req_id] = (line, self._monotonic() + hold)
        else:
            self._finish_snapshot(s, line)

    def _finish_snapshot(self, s: ClientSession, line: MarketLine, *, end: bool = True) -> None:
        s.snapshots.pop(line.req_id, None)
        if end:
            s.send(p.tick_snapshot_end(line.req_id))
        if line.kind == "OPT" and line.con_id not in self._book.by_con:
            self.market.release_option(line.con_id)

    def _cancel_snapshot(self, s: ClientSession, req_id: int) -> bool:
        """cancelMktData of an unfinished snapshot: its line is free, no end follows."""
        held = s.snapshots.get(req_id)
        if held is None:
            return False
        self._finish_snapshot(s, held[0], end=False)
        return True

    def _end_snapshots(self) -> None:
        """End every snapshot whose hold has passed (called each step)."""
        now = self._monotonic()
        for s in list(self._sessions):
            for line, _due in [v for v in s.snapshots.values() if v[1] <= now]:
                self._finish_snapshot(s, line)

    def _make_line(self, s: ClientSession, req: p.ReqMktData) -> MarketLine | None:
        wc = req.contract
        if wc.sec_type.upper() == "BAG":
            legs: list[LegRef] = []
            for leg in wc.combo_legs:
                c = self.market.contract(leg.con_id)
                if c is None or leg.ratio <= 0 or leg.action.upper() not in ("BUY", "SELL"):
                    return None
                sign = 1 if leg.action.upper() == "BUY" else -1
                is_option = isinstance(c, OptionContract)
                legs.append(LegRef(c.con_id, c.symbol, is_option, leg.ratio, sign))
            if not legs:
                return None
            return MarketLine(s, req.req_id, "BAG", 0, wc.symbol.upper(), 0.01, tuple(legs))
        c = self._resolve_one(wc)
        if c is None:
            return None
        kind: Literal["STK", "OPT"] = "OPT" if isinstance(c, OptionContract) else "STK"
        generic = parse_generic_ticks(req.generic_ticks)  # 101: open interest
        return MarketLine(
            s, req.req_id, kind, c.con_id, c.symbol, c.min_tick, generic_ticks=generic
        )

    def _drop_line(self, s: ClientSession, line: MarketLine) -> None:
        s.lines.pop(line.req_id, None)
        for con_id in self._book.remove(line):
            c = self.market.contract(con_id)
            if isinstance(c, OptionContract):
                self.market.release_option(con_id)

    # --- read-only statistics (the control port's ``lines``) ------------------------------

    def lines_held(self) -> dict[int, list[int]]:
        """The conId of every market data line each connected client holds, by clientId
        (what IB counts against the client's line limit)."""
        held: dict[int, list[int]] = {}
        for s in self._sessions:
            if s.client_id is not None and s.phase != "closed":
                held.setdefault(s.client_id, []).extend(line.con_id for line in s.lines.values())
        return held

    def line_limit(self) -> int:
        """How many market data lines one client may hold."""
        return self.limits.max_market_data_lines
