"""What the History screen's closed trades are built from, read from any connection to a
journal: the engine's own, or the read-only one of ``tui-trader journal``. A free function
rather than a :class:`Journal` method because the report must not open a ``Journal`` (its
constructor writes: WAL pragma, migrations).

The pairing itself is :func:`tui_trader.core.history.closed_trades`; this only reads.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import suppress
from typing import NamedTuple

from tui_trader.core.models import Fill, OrderIntent
from tui_trader.state.journal_rows import _FILL_COLUMNS, _INTENT_COLUMNS, _fill_from, _intent_from


class HistoryInputs(NamedTuple):
    """What :func:`tui_trader.core.history.closed_trades` pairs: the filled intents, their
    fills, and closing intent id -> the auto-trader's exit rule (its ``auto/exit/`` records)."""

    intents: list[OrderIntent]
    fills: list[Fill]
    exit_rules: dict[str, str]


def read_history(conn: sqlite3.Connection) -> HistoryInputs:
    """Read the History's inputs on any connection to a journal (the engine's, or the
    read-only one of ``tui-trader journal``); only filled intents and their fills."""
    conn.row_factory = sqlite3.Row
    intents = [
        _intent_from(r)
        for r in conn.execute(
            f"SELECT {_INTENT_COLUMNS} FROM intents WHERE filled > 0 ORDER BY rowid"
        )
    ]
    fills = [
        _fill_from(r)
        for r in conn.execute(
            f"SELECT {_FILL_COLUMNS} FROM fills WHERE intent_id IN "
            "(SELECT intent_id FROM intents WHERE filled > 0) ORDER BY time, rowid"
        )
    ]
    rules: dict[str, str] = {}
    for r in conn.execute("SELECT value FROM kv WHERE key LIKE 'auto/exit/%'"):
        with suppress(ValueError, TypeError, AttributeError):
            record = json.loads(r["value"])
            if record.get("intent_id") and record.get("rule"):
                rules[str(record["intent_id"])] = str(record["rule"])
    return HistoryInputs(intents, fills, rules)
