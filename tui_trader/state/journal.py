"""The engine's SQLite journal: order intents (written *before* they are sent), fills, an
event log, the auto-trader's candidates, the alert outbox's table and a small key/value
store (breaker state, kill switch).

The rule it exists for: an order intent is committed to disk, with IB ``orderRef`` = intent
id, before ``placeOrder``; after any crash the intents are reconciled with IB by that ref
(:mod:`tui_trader.state.reconcile`) and an intent whose fate is unknown is shown, never
resent.

This module is the one name callers import (:class:`Journal` and its errors, constants and
helpers are all re-exported here); the code lives in modules named for what they hold:

- :mod:`~tui_trader.state.journal_open`: opening the file (ours only, whole, private; WAL
  with ``synchronous=FULL``: the durability decisions);
- :mod:`~tui_trader.state.journal_schema`: the schema scripts and their forward migrations;
- :mod:`~tui_trader.state.journal_errors`: the exceptions;
- :mod:`~tui_trader.state.journal_rows`: how records are stored in rows and read back;
- :mod:`~tui_trader.state.journal_base`: the connection, its transactions and storage
  failures, the event log and the key/value store;
- :mod:`~tui_trader.state.journal_intents`, :mod:`~tui_trader.state.journal_fills`,
  :mod:`~tui_trader.state.journal_candidates`: the records, as mixins combined below;
- :mod:`~tui_trader.state.journal_history`: the History's inputs, from any connection.

The daily bars are not here: they live in :mod:`tui_trader.state.bar_cache` (the user's
cache folder); schema version 4 dropped the journal's old ``bar_cache`` table.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from platformdirs import user_data_dir

from tui_trader.core.models import OrderIntent
from tui_trader.state.journal_base import PROBE_BYTES
from tui_trader.state.journal_candidates import CandidateJournal
from tui_trader.state.journal_errors import (
    JournalError,
    JournalVersionError,
    JournalWriteError,
    UnknownIntentError,
)
from tui_trader.state.journal_fills import FillJournal
from tui_trader.state.journal_history import HistoryInputs, read_history
from tui_trader.state.journal_intents import IntentJournal
from tui_trader.state.journal_open import _remove_created, _sidecars, _tables
from tui_trader.state.journal_rows import (
    _FILL_COLUMNS,
    _INTENT_COLUMNS,
    _candidate_from,
    _event_from,
    _fill_from,
    _intent_from,
)
from tui_trader.state.journal_schema import (
    APPLICATION_ID,
    MIGRATIONS,
    OUR_TABLES,
    SCHEMA_VERSION,
    migrate,
)
from tui_trader.state.reconcile import ReconcileResult

#: Every name importable from here, the private row decoders and file helpers included:
#: ``tui_trader.journal_report`` reads journals read-only with them.
__all__ = [
    "APPLICATION_ID",
    "APP_NAME",
    "MIGRATIONS",
    "OUR_TABLES",
    "PROBE_BYTES",
    "SCHEMA_VERSION",
    "_FILL_COLUMNS",
    "_INTENT_COLUMNS",
    "HistoryInputs",
    "Journal",
    "JournalError",
    "JournalVersionError",
    "JournalWriteError",
    "UnknownIntentError",
    "_candidate_from",
    "_event_from",
    "_fill_from",
    "_intent_from",
    "_remove_created",
    "_sidecars",
    "_tables",
    "default_journal_path",
    "migrate",
    "read_history",
]

APP_NAME = "tui-trader"


def default_journal_path() -> Path:
    """Where the app keeps its journal unless told otherwise (callers pass the path)."""
    return Path(user_data_dir(APP_NAME)) / "journal.sqlite3"


class Journal(IntentJournal, FillJournal, CandidateJournal):
    """The journal file: intents, fills, candidates, events and key/value (module doc).

    Not thread-safe: use it from the thread that opened it (the loop's). ``new_id`` makes
    intent ids (tests pass a deterministic one); ``busy_timeout_s`` bounds how long a call
    waits for another process's write lock before failing.
    """

    def apply_reconcile(self, result: ReconcileResult, now: datetime) -> list[OrderIntent]:
        """Apply a reconciliation in one transaction: updates, fills (ours and orphans) and
        the findings as events. Returns the intents that changed."""
        changed: list[OrderIntent] = []
        with self._tx() as c:
            for update in result.updates:
                before = self._load(c, update.intent_id)
                after = self._apply_in(c, update, now, log_changes=False)
                if after != before:
                    changed.append(after)
            for fill in (*result.fills, *result.orphan_fills):
                self._add_fill_in(c, fill, log=False)
            for finding in result.findings:
                self._insert_event(c, finding.to_event(now))
        return changed

    def history_inputs(self) -> HistoryInputs:
        """The History screen's inputs (:func:`read_history`)."""
        return read_history(self._conn)
