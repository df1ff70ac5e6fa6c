"""The CLI's stable contracts: JSON shapes, filters, exit codes and one-line errors."""

from __future__ import annotations

import argparse
import json
import math
import signal
import socket
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from tui_trader.cli import build_parser, main

SCAN_KEYS = {
    "symbol", "close", "rsi14", "atr14", "sma50", "sma200", "hhv20", "llv20", "avgvol20",
    "eligible", "reasons", "signals", "direction",
}  # fmt: skip
SPREAD_KEYS = {
    "expiry", "right", "long_strike", "short_strike", "debit", "width", "cost", "max_profit",
    "max_loss", "reward_risk", "breakeven", "pop", "net_delta", "long_delta",
}  # fmt: skip


def write_bars(path: Path, days: int = 260) -> None:
    """Three symbols: UP trends into a high base, CHEAP is under $20, SHORTY has 30 bars."""
    start = date(2025, 1, 1)
    lines = ["date,symbol,open,high,low,close,volume"]
    rng = np.random.default_rng(3)
    for symbol, base, drift, n, vol in (
        ("UP", 100.0, 0.004, days, 5e6),
        ("CHEAP", 10.0, 0.0, days, 5e6),
        ("SHORTY", 50.0, 0.0, 30, 5e6),
    ):
        close = base * np.exp(np.cumsum(drift + 0.01 * rng.standard_normal(n)))
        for i in range(n):
            c = close[i]
            day = start + timedelta(days=days - n + i)
            lines.append(f"{day},{symbol},{c:.4f},{c * 1.01:.4f},{c * 0.99:.4f},{c:.4f},{vol:.0f}")
    rows = lines[1:]
    rng.shuffle(rows)  # the reader must not depend on row order
    path.write_text("\n".join([lines[0], *rows]) + "\n")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_scan_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = tmp_path / "bars.csv"
    write_bars(bars)
    code, out, err = run(["scan", "--bars", str(bars), "--all", "--json"], capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload) == {"asof", "symbols", "elapsed_ms", "results"}
    assert payload["symbols"] == 3
    assert payload["asof"] == str(date(2025, 1, 1) + timedelta(days=259))
    assert payload["elapsed_ms"] >= 0
    by_symbol = {r["symbol"]: r for r in payload["results"]}
    assert set(by_symbol) == {"UP", "CHEAP", "SHORTY"}
    for result in payload["results"]:
        assert set(result) == SCAN_KEYS
    assert by_symbol["CHEAP"]["eligible"] is False
    assert any("price" in r for r in by_symbol["CHEAP"]["reasons"])
    assert "insufficient_history" in by_symbol["SHORTY"]["reasons"]
    assert by_symbol["SHORTY"]["sma200"] is None  # unknown is null, never NaN
    assert by_symbol["UP"]["sma200"] is not None and math.isfinite(by_symbol["UP"]["sma200"])


def test_scan_without_all_lists_only_signals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = tmp_path / "bars.csv"
    write_bars(bars)
    _, out_all, _ = run(["scan", "--bars", str(bars), "--all", "--json"], capsys)
    _, out_sig, _ = run(["scan", "--bars", str(bars), "--json"], capsys)
    every = json.loads(out_all)["results"]
    signals = json.loads(out_sig)["results"]
    assert signals == [r for r in every if r["signals"]]


def test_scan_asof_cuts_later_bars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = tmp_path / "bars.csv"
    write_bars(bars)
    code, out, _ = run(
        ["scan", "--bars", str(bars), "--asof", "2025-06-30", "--all", "--json"], capsys
    )
    assert code == 0
    assert json.loads(out)["asof"] == "2025-06-30"


def test_scan_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = tmp_path / "bars.csv"
    write_bars(bars)
    code, out, _ = run(["scan", "--bars", str(bars), "--all"], capsys)
    assert code == 0
    assert "3 symbols scanned" in out
    assert "SYMBOL" in out and "CHEAP" in out


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "line 1"),
        ("date,symbol,open,high,low,close\n2025-01-02,A,1,1,1,1\n", "volume"),
        ("date,symbol,open,high,low,close,volume\n2025-01-02,A,1,1,1,1,100\n"
         "2025-01-03,A,1,x1,1,1,100\n", "line 3"),
    ],
)  # fmt: skip
def test_scan_bad_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    bars = tmp_path / "bad.csv"
    bars.write_text(content)
    code, out, err = run(["scan", "--bars", str(bars)], capsys)
    assert code == 2
    assert out == ""
    assert str(bars) in err and expected in err
    assert err.count("\n") == 1 and "Traceback" not in err


def write_chain(path: Path) -> None:
    """Calls 95..110 on one expiry 35 days out; long 100 (delta .45) is the natural pick."""
    rows = [
        ("95", "6.10", "6.30", "0.70", "0.25"),
        ("100", "2.90", "3.00", "0.45", "0.24"),
        ("105", "1.00", "1.10", "0.22", "0.23"),
        ("110", "0.30", "0.35", "0.08", "0.23"),
    ]
    lines = ["expiry,strike,right,bid,ask,delta,iv"]
    lines += [f"20260305,{k},C,{b},{a},{d},{iv}" for k, b, a, d, iv in rows]
    path.write_text("\n".join(lines) + "\n")


def test_spreads_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = tmp_path / "chain.csv"
    write_chain(chain)
    argv = ["spreads", "--chain", str(chain), "--spot", "100", "--direction", "LONG",
            "--asof", "2026-01-29", "--json"]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload) == {"candidates", "rejected", "spreads"}
    assert payload["candidates"] == 6  # 95->(100,105,110), 100->(105,110), 105->(110)
    best, second = payload["spreads"]
    assert set(best) == SPREAD_KEYS
    # Long 95 (delta .70) and long 105 (delta .22) fail DELTA: 3 + 1 rejected candidates.
    assert payload["rejected"]["DELTA"] == 4
    # 100/110: long ask 3.00 - short bid 0.30 = debit 2.70, width 10, R/R 7.30/2.70 = 2.70
    assert (best["long_strike"], best["short_strike"]) == (100, 110)
    assert best["debit"] == pytest.approx(2.70)
    assert best["cost"] == pytest.approx(270.0)
    assert best["max_loss"] == pytest.approx(270.0)
    assert best["max_profit"] == pytest.approx(730.0)
    assert best["reward_risk"] == pytest.approx(7.30 / 2.70)
    assert best["breakeven"] == pytest.approx(102.70)
    assert best["net_delta"] == pytest.approx(0.45 - 0.08)
    assert best["expiry"] == "20260305" and best["right"] == "C"
    # 100/105: debit 3.00 - 1.00 = 2.00, width 5, R/R 3/2 = 1.5 exactly: kept, ranked second
    assert (second["long_strike"], second["short_strike"]) == (100, 105)
    assert second["reward_risk"] == pytest.approx(1.5)
    assert second["max_profit"] == pytest.approx(300.0)
    assert sum(payload["rejected"].values()) + len(payload["spreads"]) == 6


def test_spreads_bad_spot_and_direction(tmp_path: Path) -> None:
    chain = tmp_path / "chain.csv"
    write_chain(chain)
    with pytest.raises(SystemExit) as info:
        main(["spreads", "--chain", str(chain), "--spot", "-3", "--direction", "LONG"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["spreads", "--chain", str(chain), "--spot", "100", "--direction", "UP"])
    assert info.value.code == 2


def test_config_show_and_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text("[risk]\nmax_positions = 2\n")
    code, out, _ = run(["config", "--show", "--config", str(good)], capsys)
    assert code == 0
    assert "[risk]" in out and "max_positions = 2" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("[execution]\nprice_improvement_factor = 2\n")
    code, out, err = run(["config", "--show", "--config", str(bad)], capsys)
    assert code == 2 and out == ""
    assert "price_improvement_factor" in err and "less than or equal to 1" in err


def test_bad_config_refuses_every_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[selection]\nmin_delta = 0.9\n")
    chain = tmp_path / "chain.csv"
    write_chain(chain)
    code, _, err = run(
        ["spreads", "--chain", str(chain), "--spot", "100", "--direction", "LONG",
         "--config", str(bad)],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert "min_delta" in err


def test_console_script_exit_code_without_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", "scan", "--bars", str(missing)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(missing) in proc.stderr


def test_scan_reports_dropped_bars_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = tmp_path / "bars.csv"
    write_bars(bars)
    with bars.open("a") as f:
        f.write("2024-12-30,UP,10,9,11,10,1000\n")  # high < low
        f.write("2024-12-31,UP,-1,-1,-1,-1,1000\n")  # IB's "no value" marker as a price
    code, out, err = run(["scan", "--bars", str(bars), "--all", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["symbols"] == 3  # the JSON on stdout is untouched
    assert "dropped 2 bar(s) of UP" in err
    assert "2024-12-30 high_below_low" in err


# --- pipes (issue 14 defect 5) -------------------------------------------------------------


def _cli(argv: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tui_trader.cli", *argv],
        input=stdin, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def _thousand_symbols() -> bytes:
    lines = ["date,symbol,open,high,low,close,volume"]
    for k in range(1_000):
        for d in range(1, 6):
            c = 25 + k % 89 + d / 8
            lines.append(
                f"2025-02-{d:02d},SYM{k:04d},{c:.3f},{c + 1:.3f},{c - 1:.3f},{c:.3f},2000000"
            )
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_scan_of_a_piped_file_sees_every_symbol(tmp_path: Path, name: str) -> None:
    data = _thousand_symbols()
    bars = tmp_path / "bars.csv"
    bars.write_bytes(data)
    direct = _cli(["scan", "--bars", str(bars), "--all", "--json"])
    piped = _cli(["scan", "--bars", name, "--all", "--json"], stdin=data)  # a real pipe
    assert direct.returncode == 0 and piped.returncode == 0, piped.stderr
    a, b = json.loads(direct.stdout), json.loads(piped.stdout)
    assert a["symbols"] == b["symbols"] == 1_000
    assert b["results"] == a["results"]


def test_spreads_reads_the_chain_from_standard_input(tmp_path: Path) -> None:
    chain = tmp_path / "chain.csv"
    write_chain(chain)
    argv = ["--spot", "100", "--direction", "LONG", "--asof", "2026-01-29", "--json"]
    direct = _cli(["spreads", "--chain", str(chain), *argv])
    piped = _cli(["spreads", "--chain", "-", *argv], stdin=chain.read_bytes())
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout) == json.loads(direct.stdout)
    assert json.loads(piped.stdout)["candidates"] == 6


# --- help, and the gateway's SIGTERM (issue 13 item 14, issue 14 defect 11) ----------------


def test_config_alone_shows_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["config"], capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: tui-trader config")
    assert "--show" in out and "print the effective configuration as TOML" in out


def _parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(parser.prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += _parsers(sub)
    return found


def test_every_option_and_subcommand_has_help() -> None:
    missing: list[str] = []
    for prog, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helped = {a.dest for a in action._choices_actions if a.help}
                missing += [f"{prog} {n}" for n in action.choices if n not in helped]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{prog} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
    assert len(_parsers(build_parser())) >= 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_gateway_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui_trader.cli", "gateway", "--port", str(port),
         "--state", str(tmp_path / "account.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        seen: list[str] = []
        for line in proc.stderr:  # blocks until the gateway logs that it listens
            seen.append(line)
            if f"listening on 127.0.0.1:{port}" in line:
                break
        assert seen and "listening" in seen[-1], "".join(seen)
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # it really listens
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == 0, rest
        assert "Traceback" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("speed", ["0", "-1", "nan", "inf", "10001"])
def test_gateway_speed_has_the_control_ports_range(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["gateway", "--speed", speed])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tui-trader: ") and "--speed" in err and err.count("\n") == 1
