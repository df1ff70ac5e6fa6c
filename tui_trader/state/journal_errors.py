"""The journal's exceptions, apart from the code that raises them so that every journal
module (opening, schema, writes) and every caller can name them without importing the rest.

Each ``str()`` is the one sentence shown to the user: what happened and what to do.
"""

from __future__ import annotations


class JournalError(Exception):
    """The journal cannot be opened or used; ``str()`` is the sentence for the user."""


class JournalVersionError(JournalError):
    """The file was written by a newer tui-trader (a higher schema version)."""


class JournalWriteError(JournalError):
    """A write failed for lack of storage (disk full, I/O error, read-only); nothing of the
    call was written."""


class UnknownIntentError(JournalError, KeyError):
    """No intent with that id in the journal."""

    def __str__(self) -> str:
        return f"no order intent {self.args[0]!r} in the journal"
