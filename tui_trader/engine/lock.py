"""One engine per journal: a second ``tui-trader`` on the same journal refuses to start.

Two engines on one journal would each reconcile the other's intents as their own and could
both act on them -- the duplicate order after a restart that the journal exists to prevent
-- and a trader who opens a second terminal over SSH and types ``tui-trader`` does exactly
that. So the engine takes an exclusive lock on ``<journal>.lock`` before it opens the
journal, and a second engine fails with one sentence naming the other's process id.

Decisions:

- ``flock`` on an open file, not "the lock file exists": the kernel drops the lock when the
  process dies however it dies (``kill -9``, a power cut), so there is never a stale lock to
  delete by hand.
- The lock is named from the *resolved* journal path (symlinks followed, ``..`` removed):
  a symlink to the journal, or to its folder, is the same journal and must find the same
  lock. (A hard link is not recognised; nothing in the app makes one.)
- The file holds the owner's pid, for the message only; it is left in place on exit
  (removing it would race a newcomer that has just opened it).
- Readers are not locked out: a second :class:`~tui_trader.state.journal.Journal`
  connection (tests, a future read-only viewer) still works, WAL mode is made for that.
- The lock is POSIX-only (``fcntl``), as is the app's terminal handling.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class EngineLockedError(Exception):
    """Another engine holds the journal; the message is the sentence for the user."""


def lock_path(journal_path: Path) -> Path:
    """``<journal>.lock`` next to the file the path resolves to (module doc)."""
    real = Path(journal_path).resolve()
    return real.with_name(real.name + ".lock")


def _owner(fd: int) -> str:
    """`` (pid N)`` of the holder, for the message only; empty when the file cannot be read
    or holds no pid yet (the holder is writing it): the refusal stands either way."""
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        return f" (pid {int(os.read(fd, 32).decode().strip())})"
    return ""


@contextlib.contextmanager
def engine_lock(journal_path: Path) -> Iterator[Path]:
    """Hold the journal's engine lock for the ``with`` block; yields the lock file's path.

    Raises :class:`EngineLockedError` at once (no waiting) when another engine holds it,
    and ``OSError`` when the lock file cannot be created at all.
    """
    path = lock_path(journal_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EngineLockedError(
                f"Another tui-trader engine{_owner(fd)} is using the journal {journal_path}: "
                "stop it first (two engines on one journal could send an order twice)."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
