"""Readers for the files a trader hands the CLI (daily bars, option chains).

They live outside ``core/`` because they do I/O; they turn a file into the plain arrays
``core/`` works on, or raise :class:`InputFileError` naming the file, line and problem.
"""

from __future__ import annotations

from pathlib import Path


class InputFileError(Exception):
    """A user-supplied file that cannot be used; the message is one sentence for the user."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line is not None else self.path
        super().__init__(f"{where}: {problem}")
