"""``tui-trader doctor`` as a user runs it: a config file, a simulated gateway in its own
thread whose clock is ours (no injected clock on this path), printed lines and exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tui_trader.cli import EXIT_FAILED, EXIT_OK, main
from tui_trader.sim.thread import GatewayThread


@pytest.fixture
def gateway_thread() -> Iterator[GatewayThread]:
    """A gateway whose simulated clock starts at our wall clock and runs at speed 1."""
    thread = GatewayThread(
        start=datetime.now(UTC), symbols=("MSFT", "AAPL"), tick_interval=None
    ).start()
    yield thread
    thread.stop()


def config(tmp_path: Path, port: int, mode: str = "paper") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[universe]\nsymbols = ["MSFT", "AAPL"]\n[execution]\nmode = "{mode}"\n'
        f"[connection]\nport = {port}\nclient_id = 5\n"
    )
    return path


def test_doctor_prints_a_tick_per_check_and_exits_0(
    gateway_thread: GatewayThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, gateway_thread.port)
    code = main(["doctor", "--config", str(cfg), "--journal", str(tmp_path / "j.sqlite3")])
    lines = capsys.readouterr().out.splitlines()
    assert code == EXIT_OK, lines
    assert len(lines) == 12 and all(line.startswith("✓ ") for line in lines)
    assert lines[0].startswith("✓ api: 127.0.0.1:") and "clientId 105" in lines[0]


def test_doctor_json_on_a_live_mode_config_exits_1(
    gateway_thread: GatewayThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, gateway_thread.port, mode="live")
    code = main(
        ["doctor", "--json", "--config", str(cfg), "--journal", str(tmp_path / "j.sqlite3")]
    )
    checks = json.loads(capsys.readouterr().out)
    assert code == EXIT_FAILED
    assert [c["name"] for c in checks if not c["ok"]] == ["account"]
    assert set(checks[0]) == {"name", "ok", "detail", "fix"}


def test_doctor_with_nothing_listening_names_the_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        [
            "doctor",
            "--config",
            str(config(tmp_path, port)),
            "--journal",
            str(tmp_path / "j.sqlite3"),
        ]
    )
    out = capsys.readouterr().out.splitlines()
    assert code == EXIT_FAILED
    assert out[0].startswith(f"✗ api: no TWS API on 127.0.0.1:{port}")
    assert "start TWS / IB Gateway" in out[0]
    assert out[-1].startswith("✓ journal: ")
