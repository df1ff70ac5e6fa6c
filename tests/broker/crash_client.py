"""The app process killed mid-order, for tests/broker/test_crash.py.

    python -m tests.broker.crash_client PORT CLIENT_ID JOURNAL SPEC_JSON POINT

Connects to the gateway, transmits SPEC_JSON through the real OrderManager and SIGKILLs
itself at POINT:

- ``after_record``: right after the intent is committed to the journal, before placeOrder;
- ``after_place``: right after placeOrder wrote its bytes to the socket, before the intent
  is marked SENT. The process first prints ``PLACED <intent id>`` and blocks on stdin, so
  the parent can see the order reach the gateway before the kill (no timing guesswork).

Exit code 3 means the kill point was never reached (the test must fail).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from ib_insync import IB

from tui_trader.broker.orders import OrderManager
from tui_trader.core.entry import SendContext
from tui_trader.core.models import OrderIntent, SpreadOrderSpec
from tui_trader.core.risk import GateResult
from tui_trader.core.settings import ExecutionSettings, RiskSettings, SelectionSettings
from tui_trader.state.journal import Journal


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillingJournal(Journal):
    """A journal that kills the process at the chosen point of ``transmit``."""

    def __init__(self, path: Path, point: str, ib: IB) -> None:
        super().__init__(path)
        self.point = point
        self.ib = ib

    def record_intent(self, spec: SpreadOrderSpec, now: datetime) -> OrderIntent:
        intent = super().record_intent(spec, now)
        if self.point == "after_record":
            die()
        return intent

    def mark_sent(self, intent_id: str, order_id: int, now: datetime) -> OrderIntent:
        if self.point == "after_place":
            transport = self.ib.client.conn.transport
            queued = self.ib.client._msgQ  # ib_insync's throttle queue
            if transport is None or transport.get_write_buffer_size() != 0 or queued:
                print("placeOrder bytes were not written", flush=True)
                sys.exit(3)
            print(f"PLACED {intent_id}", flush=True)
            sys.stdin.readline()  # the parent has seen the order at the gateway
            die()
        return super().mark_sent(intent_id, order_id, now)


async def main(port: int, client_id: int, journal_path: Path, spec_json: str, point: str) -> int:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=10)
    journal = KillingJournal(journal_path, point, ib)
    om = OrderManager(
        ib,
        journal,
        clock=lambda: datetime.now(UTC),
        execution=ExecutionSettings(),
        risk=RiskSettings(),
        selection=SelectionSettings(),
    )
    spec = SpreadOrderSpec.model_validate_json(spec_json)
    gate = GateResult(True, spec.quantity, None, "passed by the test")
    ready = SendContext(
        session_ok=True, session_state="CONNECTED", leg_ages_s=(0.1, 0.1), stale_quote_s=5.0
    )
    await om.transmit(spec, gate=gate, context=ready)
    return 3


if __name__ == "__main__":
    port, client_id, path, spec_json, point = sys.argv[1:6]
    sys.exit(asyncio.run(main(int(port), int(client_id), Path(path), spec_json, point)))
