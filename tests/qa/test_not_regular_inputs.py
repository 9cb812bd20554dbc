"""Inputs that are not what they claim to be: one line, exit 2 (never MemoryError or a run)."""

from __future__ import annotations

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=60)


def test_lint_of_a_device_is_a_usage_error():
    proc = _run("lint", "/dev/zero")
    assert proc.returncode == 2, proc.stderr
    assert "not a regular file" in proc.stderr and "Traceback" not in proc.stderr


def test_lab_run_with_a_binary_that_is_not_nginx_is_a_usage_error():
    proc = _run("lab", "run", "good", "--nginx", "/bin/true")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "is not nginx" in proc.stderr and "Traceback" not in proc.stderr
