"""Real material for the contract tests: a lab PKI written by ``mtls-doctor lab pki``, a real
nginx on 127.0.0.1 (``ssl_verify_client optional`` with the lab root, so probe, logs and
diagnose have something to say) and its error log after real handshakes. Stopped at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import NginxServer


def run(*args: str, cwd: str | os.PathLike[str] | None = None, stdin: str | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "mtls_doctor", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=timeout, check=False)


def run_json(*args: str, cwd=None, codes=(0, 1)) -> list[dict]:
    """Every JSON document a command printed (one, or one per line for JSON Lines)."""
    proc = run(*args, "--format", "json", cwd=cwd)
    assert proc.returncode in codes, (args, proc.returncode, proc.stderr)
    text = proc.stdout
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class Served:
    lab: Path  # the lab PKI directory (lab pki)
    port: int
    conf: Path
    error_log: Path


HTTP = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    ssl_certificate server.pem;
    ssl_certificate_key server.key;
    ssl_client_certificate root.pem;
    ssl_verify_client optional;
    location / { return 200 "verify=$ssl_client_verify\\n"; }
}
"""


@pytest.fixture(scope="package")
def lab_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("contract") / "lab"
    proc = run("lab", "pki", str(directory))
    assert proc.returncode == 0, proc.stderr
    return directory


@pytest.fixture(scope="package")
def served(lab_dir, nginx_bin, tmp_path_factory):
    files = {"server.pem": (lab_dir / "server/server.pem").read_bytes(),
             "server.key": (lab_dir / "server/server.key").read_bytes(),
             "root.pem": (lab_dir / "ca/root.pem").read_bytes()}
    server = NginxServer(HTTP, ports=1, files=files, nginx_bin=nginx_bin,
                         workdir=tmp_path_factory.mktemp("contract-nginx"))
    with server:
        port = server.ports[0]
        # real handshakes that leave lines in the error log: a foreign client certificate
        for client in ("foreign", "good"):
            subprocess.run(["curl", "-sk", "--max-time", "5", f"https://127.0.0.1:{port}/",
                            "--cert", str(lab_dir / f"clients/{client}-chain.pem"),
                            "--key", str(lab_dir / f"clients/{client}.key")],
                           capture_output=True, timeout=20, check=False)
        yield Served(lab_dir, port, Path(server.conf_path), Path(server.error_log))
