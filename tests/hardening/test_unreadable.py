"""Issue 11: unreadable files (mode 000) are one line, exit 2, or a finding; never a traceback.

As root every file is readable, so there the CLI runs without CAP_DAC_OVERRIDE and
CAP_DAC_READ_SEARCH (``setpriv``): root then obeys the mode bits like anyone; as a normal user
the mode does it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.hardening.conftest import ENV
from tests.pki.certs import pki

@pytest.fixture()
def area():
    base = Path(tempfile.mkdtemp(prefix="mtls-unreadable-"))
    os.chmod(base, 0o755)
    try:
        good = base / "root.pem"
        good.write_bytes(pki().root.pem)
        os.chmod(good, 0o644)
        secret = base / "secret.pem"
        secret.write_bytes(pki().leaf.pem)
        os.chmod(secret, 0o000)
        yield base, good, secret
    finally:
        shutil.rmtree(base, ignore_errors=True)


DROP = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
        "--bounding-set=-dac_override,-dac_read_search"]


def run(*args: str):
    prefix = DROP if os.geteuid() == 0 else []
    return subprocess.run([*prefix, sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=60, env=ENV, stdin=subprocess.DEVNULL)


def _can_be_denied() -> bool:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return False
    return run("--version").returncode == 0


@pytest.mark.parametrize("command", ["inspect", "verify", "logs", "probe"])
def test_unreadable_input_is_one_line(area, command):
    if not _can_be_denied():
        pytest.skip("cannot drop the DAC capabilities here (no setpriv)")
    base, good, secret = area
    args = {
        "inspect": ("inspect", str(secret)),
        "verify": ("verify", "--ssl-client-certificate", str(good), str(secret)),
        "logs": ("logs", str(secret)),
        "probe": ("probe", "127.0.0.1:9", "--cert", str(secret), "--key", str(secret), "--no-legacy"),
    }[command]
    proc = run(*args)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and ("permission denied" in lines[0].lower() or "not readable" in lines[0])


def test_unreadable_file_named_by_a_config_is_a_finding(area):
    if not _can_be_denied():
        pytest.skip("cannot drop the DAC capabilities here (no setpriv)")
    base, good, secret = area
    conf = base / "nginx.conf"
    conf.write_text("events {}\nhttp { server { listen 443 ssl; server_name a;\n"
                    f" ssl_certificate {good}; ssl_certificate_key {good};\n"
                    f" ssl_verify_client on; ssl_client_certificate {secret}; }} }}\n")
    os.chmod(conf, 0o644)
    proc = run("lint", str(conf), "--format", "json")
    assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert any(str(secret) in (f["location"].get("file") or "") + f["message"] for f in findings), findings
    secret_conf = base / "secret.conf"
    secret_conf.write_text("events {}\n")
    os.chmod(secret_conf, 0o000)
    proc = run("lint", str(secret_conf))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
