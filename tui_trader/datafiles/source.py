"""Getting a user's file into memory in one read, whatever it is: a file, a pipe or stdin.

A reader that looks at the header first and then opens the file again loses whatever the
first look consumed when the "file" is a pipe (``cat bars.csv | tui-trader scan --bars
/dev/stdin`` once scanned 773 of 1,000 symbols without a word). So the CLI's readers take
the bytes once, here, and parse and re-parse them from memory. ``-`` means standard input.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tui_trader.datafiles import InputFileError

#: The file name that means standard input.
STDIN = "-"
STDIN_NAME = "standard input"
_BOM = b"\xef\xbb\xbf"


def source_name(path: str | Path) -> str:
    """What error messages call the source: its path, or ``standard input`` for ``-``."""
    return STDIN_NAME if str(path) == STDIN else str(path)


def read_source(path: str | Path) -> bytes:
    """Every byte of ``path`` (``-``: standard input), read once.

    Raises :class:`InputFileError` when it cannot be read (missing, a directory, no access).
    """
    try:
        if str(path) == STDIN:
            return sys.stdin.buffer.read()
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(source_name(path), f"cannot be read ({exc.strerror or exc}).") from exc


def decode_utf8(name: str, raw: bytes) -> str:
    """``raw`` as text, without a leading UTF-8 byte-order mark (spreadsheets write one).

    Raises :class:`InputFileError` naming the first byte that is not UTF-8 (offset in the file).
    """
    skip = len(_BOM) if raw.startswith(_BOM) else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(name, f"is not UTF-8 text (byte {skip + exc.start}).") from exc
