"""The shipped alerting rules are valid for Prometheus' own checker (`promtool check rules`),
and every metric they use is one the exporter documents."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "mtls-alerts.yml"


def test_promtool_checks_the_rules():
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run ./dev.sh setup (Debian's prometheus)")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_rules_use_only_documented_metrics():
    used = set(re.findall(r"\bmtls_[a-z_]+", RULES.read_text()))
    documented = set(re.findall(r"`(mtls_[a-z_]+)", (ROOT / "docs" / "exporter.md").read_text()))
    assert used and used <= documented, sorted(used - documented)
