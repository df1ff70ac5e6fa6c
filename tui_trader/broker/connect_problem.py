"""Why a connection attempt to TWS / IB Gateway failed, in words a trader can act on.

Issue 13 ("no gateway, no hint"): without a gateway the footer said ``RECONNECTING`` and
the Log only ``IB connection DOWN -> RECONNECTING``, while the address and IB's own words
("Make sure API port on TWS/IBG is open") were in the log file only. The session now
publishes where it connects, the reason in IB's (or the operating system's) words and
what to check, and the footer and the Log show them.

Pure: an exception (or the client ids tried) in, two sentences out. The wording of the
refusal is ib_insync's own (``ib_insync.client.Client.connectAsync`` logs it for a
refused connection), so what the trader reads matches IB's documentation and forums.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

#: What ib_insync says (to its log only) when the API port refuses the connection.
IB_REFUSED = "Make sure API port on TWS/IBG is open"
#: The usual API ports, as TWS and IB Gateway ship.
_PORTS = "7497 TWS paper, 7496 TWS live, 4002 IB Gateway paper, 4001 IB Gateway live"


@dataclass(frozen=True, slots=True)
class ConnectProblem:
    """``reason``: why the attempt failed (short: the footer shows it); ``hint``: what to
    check (the Log shows it)."""

    reason: str
    hint: str


def describe_failure(exc: BaseException, host: str, port: int, timeout_s: float) -> ConnectProblem:
    """The problem behind a failed ``connectAsync`` to ``host:port``."""
    settings = "[connection] host/port in the config"
    # asyncio says "Multiple exceptions: [Errno 111] Connect call failed ..." (a plain
    # OSError) when a name like localhost resolves to more than one address
    if isinstance(exc, ConnectionRefusedError) or "Connect call failed" in str(exc):
        return ConnectProblem(
            f"connection refused: {IB_REFUSED}",
            f"Is TWS or IB Gateway running and logged in? Its API must be enabled (Configure >"
            f" API > Settings: Enable ActiveX and Socket Clients) with socket port {port}"
            f" ({_PORTS}); otherwise fix {settings}.",
        )
    if isinstance(exc, TimeoutError):
        return ConnectProblem(
            f"no API answer within {timeout_s:g} s",
            f"Something listens on {port} but does not answer as TWS/IB Gateway: check that "
            "it is TWS or IB Gateway, that no dialog waits in it (e.g. 'accept incoming "
            "connection'), and that its API settings trust this host (Trusted IPs, "
            "'Allow connections from localhost only').",
        )
    if isinstance(exc, socket.gaierror):
        return ConnectProblem(
            f"unknown host {host!r} ({exc.strerror or exc})",
            f"Check the host name in {settings}.",
        )
    words = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        words = exc.strerror
    return ConnectProblem(
        f"connection failed: {words}",
        f"Check that TWS or IB Gateway is reachable at {host}:{port} ({settings}) and that "
        "its API is enabled.",
    )


def client_ids_in_use(first: int, last: int) -> ConnectProblem:
    """Every client id tried was taken (IB error 326)."""
    return ConnectProblem(
        f"clientIds {first}..{last} are all in use",
        "Another program (or another tui-trader) holds them: close it, or set "
        "[connection] client_id to a free one.",
    )
