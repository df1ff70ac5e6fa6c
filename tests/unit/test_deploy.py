"""deploy/: the Grafana dashboard, the Prometheus config and rules, the systemd unit.

The dashboard and the alert rules query metrics by name; a metric renamed in
``engine/metrics.py`` would leave their panels empty without a word. So every metric name
in their PromQL is checked against what the real exporter serves over HTTP (an
``EngineMetrics`` serving ``/metrics`` on a loopback port, as ``run --metrics-port`` does),
and the files are parsed the way their programs would (JSON, YAML, systemd's unit syntax;
``systemd-analyze verify`` too where it is installed).
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tui_trader.cli import build_parser
from tui_trader.engine.metrics import DEFAULT_ADDR, METRIC_NAMES, METRICS_PATH, EngineMetrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "tui-trader.json"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
RULES = DEPLOY / "prometheus" / "tui-trader-alerts.yml"
UNIT = DEPLOY / "systemd" / "tui-trader.service"

#: Series Prometheus makes itself, not the exporter (``up`` per scrape target).
PROMETHEUS_OWN = {"up"}
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan"}  # fmt: skip


# --- PromQL: which metrics an expression reads ---------------------------------------------


def promql_metrics(expr: str) -> set[str]:
    """The metric names ``expr`` selects: identifiers that are not functions, aggregations,
    keywords, label names (in ``{...}`` or ``by (...)``), strings, durations or numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        if m.group(2) or m.group(1).lower() in _KEYWORDS:
            continue
        names.add(m.group(1))
    return names


def variable_metrics(query: str) -> set[str]:
    """The metric of a Grafana ``label_values(metric, label)`` variable query."""
    m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*", query)
    assert m, f"unexpected variable query {query!r}"
    return promql_metrics(m.group(1))


def test_the_promql_reader_finds_metrics_and_nothing_else() -> None:
    expr = (
        'sum by (code, instance) (increase(tui_trader_ib_errors_total{instance=~"$instance", '
        'code!~"21.."}[$__rate_interval])) / on(instance) group_left max(up offset 5m) '
        '> bool 1e3 and rate(x_total[5m:1m]) unless count_values("v", y)'
    )
    assert promql_metrics(expr) == {"tui_trader_ib_errors_total", "up", "x_total", "y"}
    assert variable_metrics("label_values(tui_trader_connected, instance)") == {
        "tui_trader_connected"
    }


# --- what the exporter serves --------------------------------------------------------------


def served_names(exposition: str) -> set[str]:
    """Every name a scrape of ``exposition`` lets a query select: the samples' names and the
    families' (``# HELP``/``# TYPE``) names, so a labelled metric with no series yet counts."""
    names = set()
    for line in exposition.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def scrape() -> str:
    """The real exporter's ``/metrics`` over HTTP, after a little of everything happened."""
    metrics = EngineMetrics()
    metrics.count_error(1100)
    metrics.count_fill("0001.01")
    metrics.count_auto_order("entry")
    metrics.observe_scan(0.25, 60)
    port = metrics.serve(0)
    try:
        url = f"http://{DEFAULT_ADDR}:{port}{METRICS_PATH}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    finally:
        metrics.stop()


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def dashboard_exprs(data: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in data["panels"] for t in p.get("targets", [])]


def dashboard_metrics(data: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for expr in dashboard_exprs(data):
        names |= promql_metrics(expr)
    for var in data["templating"]["list"]:
        if var["type"] == "query":
            names |= variable_metrics(var["definition"])
    return names


def rule_exprs() -> list[str]:
    rules = yaml.safe_load(RULES.read_text())
    return [str(r["expr"]) for g in rules["groups"] for r in g["rules"]]


def unserved(names: set[str], exposition: str) -> set[str]:
    return names - served_names(exposition) - PROMETHEUS_OWN


def test_every_metric_the_dashboard_and_rules_query_is_served() -> None:
    exposition = scrape()
    queried = dashboard_metrics(dashboard())
    for expr in rule_exprs():
        queried |= promql_metrics(expr)
    assert unserved(queried, exposition) == set()
    # The stable names are all on the dashboard (and nothing outside our namespace is).
    assert set(METRIC_NAMES) <= queried
    assert {n for n in queried if not n.startswith("tui_trader_")} <= PROMETHEUS_OWN


def test_a_renamed_metric_is_caught() -> None:
    exposition = scrape().replace("tui_trader_fills_total", "tui_trader_leg_fills_total")
    assert unserved(dashboard_metrics(dashboard()), exposition) == {"tui_trader_fills_total"}


def test_the_dashboard_is_importable_grafana_json() -> None:
    data = dashboard()
    assert data["uid"] == "tui-trader" and data["schemaVersion"] >= 36
    panels = data["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and len(panels) >= 12
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for p in panels:
        assert p["type"] in {"stat", "timeseries"}, p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        box = p["gridPos"]
        assert box["x"] + box["w"] <= 24 and box["h"] > 0, p["title"]
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]
    # What the issue asks to see, each on some panel.
    exprs = " ".join(dashboard_exprs(data))
    for wanted in ("tui_trader_connected", "tui_trader_reconnects_total",
                   "tui_trader_market_data_lines_active", "tui_trader_throttled",
                   "sum by (code)", "sum by (status)", "tui_trader_fills_total",
                   "tui_trader_scan_seconds", "tui_trader_auto_state",
                   "sum by (state) (tui_trader_auto_candidates"):  # fmt: skip
        assert wanted in exprs, wanted


# --- Prometheus ----------------------------------------------------------------------------


def unit_service() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys keep case
    parser.read_string(UNIT.read_text())
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    return parser["Service"]


def exec_start() -> list[str]:
    return shlex.split(unit_service()["ExecStart"])


def test_prometheus_scrapes_the_port_the_unit_serves() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "tui-trader"]
    assert job["metrics_path"] == METRICS_PATH
    (targets,) = [s["targets"] for s in job["static_configs"]]
    argv = exec_start()
    port = argv[argv.index("--metrics-port") + 1]
    assert targets == [f"{DEFAULT_ADDR}:{port}"]
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS.parent / rule_file).is_file(), rule_file
    assert rule_exprs(), "the alert rules file has rules"


# --- systemd -------------------------------------------------------------------------------


def test_the_unit_runs_the_headless_auto_trader_as_a_user_and_restarts_on_failure() -> None:
    service = unit_service()
    argv = exec_start()
    assert argv[0].startswith("/") and argv[0].endswith("/.venv/bin/tui-trader")
    args = build_parser().parse_args(argv[1:])  # the real CLI accepts the command line
    assert args.command == "run" and args.headless and args.auto and not args.dry_run
    assert args.metrics_port > 0
    assert service["Restart"] == "on-failure"
    assert float(service["RestartSec"]) > 0
    assert "2" in service["RestartPreventExitStatus"].split()  # exit 2: fix the config
    assert service["User"] not in {"", "root"} and service["Type"] == "simple"


#: The venv path the unit ships with; the README tells the user to replace it.
VENV_PLACEHOLDER = "/opt/tui-trader/.venv/bin/tui-trader"


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` (where installed: the configparser checks above run
    everywhere) on the unit with its ExecStart pointed at this venv's tui-trader: a
    misspelt key or value is a warning naming the unit, a missing binary an error."""
    assert exec_start()[0] == VENV_PLACEHOLDER
    tool = shutil.which("systemd-analyze")
    if tool is None:
        return
    unit = tmp_path / "tui-trader.service"
    real = Path(sys.executable).parent / "tui-trader"
    unit.write_text(UNIT.read_text().replace(VENV_PLACEHOLDER, str(real)))
    done = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=30, check=False
    )
    ours = [ln for ln in (done.stdout + done.stderr).splitlines() if "tui-trader" in ln]
    assert done.returncode == 0 and ours == [], done.stdout + done.stderr


# --- the README explains each file ----------------------------------------------------------


def test_the_readme_explains_each_file() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "## Running unattended" in readme
    for path in (DASHBOARD, PROMETHEUS, RULES, UNIT):
        assert str(path.relative_to(ROOT)) in readme, path
    assert VENV_PLACEHOLDER.removesuffix("/bin/tui-trader") in readme and "IBC" in readme
