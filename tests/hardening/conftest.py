"""Fixtures of the hardening tests: the CLI as a subprocess (its real exit code and stderr) and a
real nginx serving given files on 127.0.0.1 (always stopped)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager

import pytest

from mtls_doctor.lab.nginx import NginxServer

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}


def cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess[str]:
    """Run ``mtls-doctor ARGS`` in a subprocess; the timeout only catches a hang (a failure)."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=timeout, env=ENV, **kwargs)


def clean(proc: subprocess.CompletedProcess[str], *codes: int) -> None:
    """No traceback, and an exit code among ``codes``."""
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode in codes, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])


@pytest.fixture()
def nginx_with(nginx_bin, tmp_path):
    """``with nginx_with(http, files) as server:`` a real nginx, stopped at the end."""

    @contextmanager
    def start(http: str, files: dict[str, bytes], ports: int = 1):
        server = NginxServer(http, ports=ports, files=files, nginx_bin=nginx_bin,
                             workdir=tmp_path / f"nginx{len(list(tmp_path.iterdir()))}")
        with server:
            yield server

    return start
