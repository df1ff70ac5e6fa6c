"""``tui-trader run``: the headless engine as a user starts it (a subprocess with the demo
gateway in-process), its Prometheus metrics, and a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.environment import isolated_env
from tui_trader.cli import main
from tui_trader.engine.metrics import METRIC_NAMES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1.0) as r:
            return str(r.read().decode())
    except OSError:
        return None


def value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def test_run_headless_demo_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trader.cli", "run", "--headless", "--demo",
         "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=isolated_env(tmp_path),
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60.0
        text = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[0]
            text = scrape(port)
            if text is not None and (value(text, "tui_trader_scans_total") or 0) >= 1:
                break
            time.sleep(0.2)
        assert text is not None, "no metrics were served"
        for name in METRIC_NAMES:
            assert f"# TYPE {name} " in text, name
        assert value(text, "tui_trader_connected") == 1.0
        assert value(text, "tui_trader_market_data_lines_max") == 90.0
        assert (value(text, "tui_trader_market_data_lines_active") or 0) >= 50  # the universe
        assert (value(text, "tui_trader_scan_seconds") or 0) > 0
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10.0)
        assert proc.returncode == 0, out
        assert time.monotonic() - started < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert "engine ready" in out and "stopped" in out
    assert "DU123456" not in out  # the demo account id is never logged in full
    assert scrape(port) is None  # the metrics server is gone with the process


def test_run_without_headless_points_to_the_dashboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "--headless" in err and "`tui-trader --demo`" in err


def test_run_rejects_a_bad_metrics_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--headless", "--metrics-port", "70000"])
    assert exc.value.code == 2
    assert "not a TCP port" in capsys.readouterr().err
