"""What the ports of nginx-tests (tests/verify/test_nginx_tests_port_*.py) share: the runner of
a whole configuration (``tests.rawnginx.RawNginx``, re-exported) and mtls-doctor run as a user
runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.rawnginx import RawNginx

__all__ = ["RawNginx", "mtls_doctor", "predict"]


def mtls_doctor(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """``mtls-doctor ARGS`` as a user runs it: (exit code, stdout, stderr)."""
    run = subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                         text=True, timeout=timeout)
    assert "Traceback" not in run.stderr, run.stderr
    return run.returncode, run.stdout, run.stderr


def predict(conf: Path, nginx_bin: str, client: Path, port: int, name: str | None = None) -> dict:
    """``verify CLIENT --config CONF --listen 127.0.0.1:PORT [--server-name NAME]`` as JSON:
    the client row."""
    args = ["verify", str(client), "--config", str(conf),
            "--listen", f"127.0.0.1:{port}", "--nginx", nginx_bin, "--format", "json"]
    if name:
        args += ["--server-name", name]
    code, out, err = mtls_doctor(*args)
    assert code in (0, 1), err
    return json.loads(out)["clients"][0]
