"""The Grafana dashboard (contrib/grafana/mtls-dashboard.json) is a valid dashboard model, each
of its expressions is PromQL that Prometheus' own checker accepts, and every metric it uses is
one the exporter documents. (tests/exporter/test_prometheus.py runs every expression against a
real Prometheus scraping the exporter.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "contrib" / "grafana" / "mtls-dashboard.json"
#: what a dashboard variable stands for when an expression is checked or run ("All")
VARIABLES = {"$job": ".*", "$instance": ".*"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def expressions() -> list[tuple[str, str]]:
    """(panel title, expression with the variables replaced) for every query of every panel."""
    out = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            out.append((panel["title"], expr))
    return out


def documented() -> set[str]:
    return set(re.findall(r"`(mtls_[a-z_]+)", (ROOT / "docs" / "exporter.md").read_text()))


def test_dashboard_model_is_valid():
    d = dashboard()
    assert d["title"] and d["uid"] and isinstance(d["schemaVersion"], int)
    names = {v["name"] for v in d["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= names
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)) and ids
    cells: set[tuple[int, int]] = set()
    for p in d["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
        assert p["type"] in {"stat", "table", "timeseries"}, p["type"]
        assert p["datasource"]["uid"] == "${datasource}"
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            used = set(re.findall(r"\$\{?(\w+)", t["expr"]))
            assert used <= names, (p["title"], used - names)


def test_every_metric_is_documented():
    docs = documented()
    used = set()
    for _, expr in expressions():
        for name in re.findall(r"\bmtls_[a-z_]+", expr):
            for suffix in HISTOGRAM_SUFFIXES:
                if name.endswith(suffix) and name[: -len(suffix)] in docs:
                    name = name[: -len(suffix)]
            used.add(name)
    assert used and used <= docs, sorted(used - docs)


def test_promtool_accepts_every_expression(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run ./dev.sh setup (Debian's prometheus)")
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, expr) in enumerate(expressions()):
        rules += [f"      - record: dashboard:expr{i}", f"        expr: {json.dumps(expr)}"]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text("\n".join(rules) + "\n")
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
