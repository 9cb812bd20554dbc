"""Helpers of the logs tests: run the real command line and read its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
CAPTURED = DATA / "lab-error.log"


def run_cli(*args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real command line, in a subprocess (stdin, exit codes, stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "mtls_doctor", "logs", *args], input=stdin,
                          capture_output=True, timeout=timeout, check=False)


def run_json(*args: str, stdin: bytes | None = None) -> tuple[int, dict]:
    out = run_cli(*args, "--format", "json", stdin=stdin)
    assert out.stderr == b"", out.stderr
    return out.returncode, json.loads(out.stdout)


def counts(data: dict) -> dict[str, int]:
    return {g["cause"]: g["count"] for g in data["groups"]}
