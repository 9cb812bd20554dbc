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


def test_logs_of_an_endless_device_is_a_usage_error():
    proc = _run("logs", "/dev/zero")
    assert proc.returncode == 2, proc.stderr
    assert "is a device" in proc.stderr and "Traceback" not in proc.stderr


def test_logs_still_reads_a_pipe(tmp_path):
    log = tmp_path / "error.log"
    log.write_text("2026/11/28 01:00:00 [info] 1#1: *1 client sent no required SSL certificate "
                   "while reading client request headers, client: 127.0.0.1, server: a, "
                   'request: "GET / HTTP/1.1", host: "a"\n')
    proc = subprocess.run(["bash", "-c", f"{sys.executable} -m mtls_doctor logs --format json "
                           f"<(cat {log})"], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    assert '"no-required-certificate"' in proc.stdout


def test_diagnose_reads_a_log_from_stdin(tmp_path):
    # the configuration is given, so the answer does not depend on which nginx runs on this
    # machine (diagnose would otherwise read the only running master: a test's lab nginx)
    from datetime import datetime, timezone

    from mtls_doctor.lab.pki import build_lab_pki

    build_lab_pki(datetime.now(timezone.utc)).write(tmp_path / "lab")
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp { server { listen 127.0.0.1:8443 ssl; server_name localhost;\n"
        f"  ssl_certificate {tmp_path}/lab/server/server.pem; "
        f"ssl_certificate_key {tmp_path}/lab/server/server.key;\n"
        f"  ssl_verify_client on; ssl_client_certificate {tmp_path}/lab/ca/inter.pem; }} }}\n")
    line = ("2026/11/28 01:00:00 [info] 1#1: *1 client SSL certificate verify error: (2:unable to "
            "get issuer certificate) while reading client request headers, client: 127.0.0.1, "
            'server: localhost, request: "GET / HTTP/1.1", host: "localhost"\n')
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "diagnose", "--log", "-",
                           "--config", str(conf), "--no-probe", "--format", "json"], input=line,
                          capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    import json

    data = json.loads(proc.stdout)
    assert data["root_causes"][0]["cause"] == "ca-file-missing-root"


def test_probe_fleet_reads_targets_from_stdin():
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "probe", "--targets", "-",
                           "--timeout", "1"], input=f"127.0.0.1:{port}\n", capture_output=True,
                          text=True, timeout=60)
    assert "Traceback" not in proc.stderr
    import json

    record = json.loads(proc.stdout.splitlines()[0])
    assert record["input"]["line"] == 1 and record["findings"][0]["rule"] == "MTLS510"
