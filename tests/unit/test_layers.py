"""Imports run one way: core <- state <- sim / broker <- engine <- tui <- the command line.

Checked on the source (every ``import`` of a ``tui_trader`` module, type-checking-only and
function-level ones included), so a new sideways or upward import fails here, not in a
reviewer's head. ``sim`` and ``broker`` are peers that must not import each other: the
simulated gateway talks bytes, like IB, and the broker cannot tell it from IB.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tui_trader

ROOT = Path(tui_trader.__file__).parent

#: Layer of each top-level package or module; a module may import its own layer or lower.
LAYERS: dict[str, int] = {
    "core": 0,
    "datafiles": 1,
    "config": 1,
    "config_edit": 1,  # watchlist edits written back to the config file the app read
    "state": 1,
    "sim": 2,
    "broker": 2,
    "alerts": 2,  # delivery (apprise) over core and the journal; the engine drives it
    "engine": 3,
    "demo": 3,
    "tui": 4,
    "cli": 5,
    "journal_report": 5,
    "backtest_cli": 5,
    "cli_common": 5,  # the subcommand modules split out of cli.py
    "scan_cli": 5,
    "strategy_cli": 5,
    "gateway_cli": 5,
    "run_cli": 5,
    "kill_switch_cli": 5,
    "journal_cli": 5,
    "alert_test_cli": 5,
    "doctor_cli": 5,
    "__main__": 5,
}
#: Peers that must not import each other.
APART = {("sim", "broker"), ("broker", "sim")}


def top(module: str) -> str:
    return module.split(".")[1]


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.startswith("tui_trader.")]
    return found


def violations(root: Path) -> list[str]:
    """Every import in the package at ``root`` that points up a layer or across to a peer
    it must keep apart from."""
    wrong: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        here = rel.parts[0].removesuffix(".py")
        if here == "__init__":
            continue
        assert here in LAYERS, f"{rel}: give its package a layer in LAYERS"
        for line, module in imports(path):
            there = top(module)
            assert there in LAYERS, f"{rel}:{line} imports {module}, which has no layer"
            if LAYERS[there] > LAYERS[here] or (here, there) in APART:
                wrong.append(f"{rel}:{line} ({here}) imports {module} ({there})")
    return wrong


def test_every_import_points_down_or_sideways_within_a_layer() -> None:
    assert len(list(ROOT.rglob("*.py"))) > 50
    assert violations(ROOT) == []


def test_the_checker_sees_wrong_imports_however_they_are_written(tmp_path: Path) -> None:
    (tmp_path / "broker").mkdir()
    (tmp_path / "broker" / "orders.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from tui_trader.state.journal import Journal\n"  # down: fine
        "if TYPE_CHECKING:\n"
        "    import tui_trader.engine.engine\n"  # up, even for types only
        "def f():\n"
        "    from tui_trader.sim import gateway\n"  # across to a peer kept apart
    )
    assert violations(tmp_path) == [
        "broker/orders.py:4 (broker) imports tui_trader.engine.engine (engine)",
        "broker/orders.py:6 (broker) imports tui_trader.sim (sim)",
    ]
