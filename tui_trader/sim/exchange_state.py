"""The exchange's persisted state: a JSON document, written atomically, read at start.

Why JSON and not SQLite: the state is small (one paper account, a day of orders and
executions), is always rewritten whole, and a human debugging a demo can read it. The
write goes to a temporary file in the same directory, is flushed and fsync'ed, then
``os.replace``d over the old file, so a gateway killed mid-write leaves either the old or
the new state, never half of one.

The format is versioned; a file that cannot be read raises ``StateFileError`` naming
the file and the problem instead of silently starting an empty account (which would make
positions "disappear").
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from tui_trader.sim.account import Holding
from tui_trader.sim.types import (
    ComboLeg,
    Contract,
    Execution,
    OptionContract,
    OrderRequest,
    OrderState,
    StockContract,
)

FORMAT_VERSION = 1


class StateFileError(ValueError):
    """The exchange state file exists but cannot be used."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(slots=True)
class ExchangeState:
    """Everything the exchange must keep across a restart."""

    account: str
    cash: float
    next_perm_id: int
    exec_seq: int
    holdings: list[Holding] = field(default_factory=list)
    orders: list[tuple[OrderState, date]] = field(default_factory=list)  # with its session
    executions: list[Execution] = field(default_factory=list)
    day: date | None = None
    day_start_net_liq: float = 0.0
    realized_today: float = 0.0
    day_base_value: dict[int, float] = field(default_factory=dict)
    day_flow: dict[int, float] = field(default_factory=dict)
    day_realized: dict[int, float] = field(default_factory=dict)


# --- encoding ---------------------------------------------------------------------------


def _contract_to_json(c: Contract | None) -> dict[str, Any] | None:
    if c is None:
        return None
    if isinstance(c, StockContract):
        return {
            "sec_type": "STK", "con_id": c.con_id, "symbol": c.symbol, "long_name": c.long_name,
            "sector": c.sector, "industry": c.industry, "primary_exchange": c.primary_exchange,
            "market_cap": c.market_cap, "avg_volume": c.avg_volume, "min_tick": c.min_tick,
            "currency": c.currency,
        }  # fmt: skip
    return {
        "sec_type": "OPT", "con_id": c.con_id, "symbol": c.symbol,
        "underlying_con_id": c.underlying_con_id, "expiry": c.expiry.isoformat(),
        "strike": c.strike, "right": c.right, "multiplier": c.multiplier,
        "trading_class": c.trading_class, "local_symbol": c.local_symbol,
        "min_tick": c.min_tick, "currency": c.currency,
    }  # fmt: skip


def _contract_from_json(d: dict[str, Any] | None) -> Contract | None:
    if d is None:
        return None
    d = dict(d)
    kind = d.pop("sec_type")
    if kind == "STK":
        return StockContract(**d)
    if kind == "OPT":
        d["expiry"] = date.fromisoformat(d["expiry"])
        return OptionContract(**d)
    raise ValueError(f"unknown sec_type {kind!r}")


def _request_to_json(r: OrderRequest) -> dict[str, Any]:
    return {
        "order_id": r.order_id, "client_id": r.client_id, "sec_type": r.sec_type,
        "symbol": r.symbol, "contract": _contract_to_json(r.contract),
        "legs": [[g.con_id, g.ratio, g.action, g.exchange] for g in r.legs],
        "action": r.action, "quantity": r.quantity, "order_type": r.order_type,
        "limit_price": r.limit_price, "tif": r.tif, "order_ref": r.order_ref,
        "account": r.account, "what_if": r.what_if, "transmit": r.transmit,
    }  # fmt: skip


def _request_from_json(d: dict[str, Any]) -> OrderRequest:
    d = dict(d)
    d["contract"] = _contract_from_json(d["contract"])
    d["legs"] = tuple(ComboLeg(int(c), int(r), a, e) for c, r, a, e in d["legs"])
    return OrderRequest(**d)


def _order_to_json(o: OrderState, session: date) -> dict[str, Any]:
    return {
        "request": _request_to_json(o.request), "perm_id": o.perm_id, "status": o.status,
        "filled": o.filled, "remaining": o.remaining, "avg_fill_price": o.avg_fill_price,
        "last_fill_price": o.last_fill_price, "commission": o.commission,
        "why_held": o.why_held, "reject_reason": o.reject_reason,
        "session": session.isoformat(),
    }  # fmt: skip


def _order_from_json(d: dict[str, Any]) -> tuple[OrderState, date]:
    d = dict(d)
    session = date.fromisoformat(d.pop("session"))
    d["request"] = _request_from_json(d["request"])
    return OrderState(**d), session


def _execution_to_json(e: Execution) -> dict[str, Any]:
    return {
        "exec_id": e.exec_id, "order_id": e.order_id, "client_id": e.client_id,
        "perm_id": e.perm_id, "contract": _contract_to_json(e.contract),
        "bag_symbol": e.bag_symbol, "time": e.time.isoformat(), "account": e.account,
        "exchange": e.exchange, "side": e.side, "shares": e.shares, "price": e.price,
        "cum_qty": e.cum_qty, "avg_price": e.avg_price, "order_ref": e.order_ref,
        "commission": e.commission, "realized_pnl": e.realized_pnl,
    }  # fmt: skip


def _execution_from_json(d: dict[str, Any]) -> Execution:
    d = dict(d)
    d["contract"] = _contract_from_json(d["contract"])
    d["time"] = datetime.fromisoformat(d["time"])
    return Execution(**d)


def _ids(d: dict[int, float]) -> dict[str, float]:
    return {str(k): v for k, v in d.items()}


def _from_ids(d: dict[str, float]) -> dict[int, float]:
    return {int(k): float(v) for k, v in d.items()}


def encode(state: ExchangeState) -> str:
    doc = {
        "format": FORMAT_VERSION,
        "account": state.account,
        "cash": state.cash,
        "next_perm_id": state.next_perm_id,
        "exec_seq": state.exec_seq,
        "holdings": [
            {
                "contract": _contract_to_json(h.contract),
                "quantity": h.quantity,
                "avg_cost": h.avg_cost,
                "realized": h.realized,
            }
            for h in state.holdings
        ],
        "orders": [_order_to_json(o, s) for o, s in state.orders],
        "executions": [_execution_to_json(e) for e in state.executions],
        "day": None if state.day is None else state.day.isoformat(),
        "day_start_net_liq": state.day_start_net_liq,
        "realized_today": state.realized_today,
        "day_base_value": _ids(state.day_base_value),
        "day_flow": _ids(state.day_flow),
        "day_realized": _ids(state.day_realized),
    }
    return json.dumps(doc, indent=1, allow_nan=True)


def decode(text: str, path: Path) -> ExchangeState:
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported format {doc.get('format')!r}")
        holdings = []
        for h in doc["holdings"]:
            contract = cast(Contract, _contract_from_json(h["contract"]))
            holdings.append(
                Holding(contract, float(h["quantity"]), float(h["avg_cost"]), float(h["realized"]))
            )
        day = doc["day"]
        return ExchangeState(
            account=str(doc["account"]),
            cash=float(doc["cash"]),
            next_perm_id=int(doc["next_perm_id"]),
            exec_seq=int(doc["exec_seq"]),
            holdings=holdings,
            orders=[_order_from_json(o) for o in doc["orders"]],
            executions=[_execution_from_json(e) for e in doc["executions"]],
            day=None if day is None else date.fromisoformat(day),
            day_start_net_liq=float(doc["day_start_net_liq"]),
            realized_today=float(doc["realized_today"]),
            day_base_value=_from_ids(doc["day_base_value"]),
            day_flow=_from_ids(doc["day_flow"]),
            day_realized=_from_ids(doc["day_realized"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateFileError(path, f"cannot read the exchange state: {exc!r}") from exc


def save(state: ExchangeState, path: Path) -> None:
    """Write atomically (module doc)."""
    text = encode(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path) -> ExchangeState | None:
    """The saved state, or None when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(path, f"cannot read: {exc.strerror}") from exc
    return decode(text, path)
