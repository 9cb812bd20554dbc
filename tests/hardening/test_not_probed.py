"""Issue 11, defect 7: an endpoint that was not really probed is never "Findings: none".

- a real TLS 1.2-only server (``openssl s_server -tls1_2``, which does not speak HTTP): the
  TLS 1.3 attempt's protocol_version alert is not an answer; MTLS510, exit 1;
- with --cert, a server that refuses every handshake before its certificate: the user's
  certificate is kept back for that reason, not "the server certificate failed verification".
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

from mtls_doctor.lab.nginx import free_ports
from tests.hardening import hostile
from tests.hardening.conftest import clean, cli
from tests.pki.certs import pki


def _s_server(tmp_path, *args: str):
    lab = pki()
    cert, key = tmp_path / "s.pem", tmp_path / "s.key"
    cert.write_bytes(lab.leaf.pem)
    key.write_bytes(lab.leaf.key_pem())
    os.chmod(key, 0o600)
    (port,) = free_ports(1)
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
                             "-cert", str(cert), "-key", str(key), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("openssl s_server did not start")


def test_tls12_only_without_http_answer_is_not_probed(tmp_path):
    proc, port = _s_server(tmp_path, "-tls1_2")
    try:
        run = cli("probe", f"127.0.0.1:{port}", "--timeout", "1", "--no-legacy", "--insecure",
                  "--format", "json")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    clean(run, 1)
    rules = [f["rule"] for f in json.loads(run.stdout)["findings"]]
    assert "MTLS510" in rules, rules


def refuse(conn, stop):
    conn.recv(65536)
    conn.sendall(hostile.record(21, b"\x02\x28"))  # fatal handshake_failure, before any certificate
    stop.wait(3)


def test_user_certificate_kept_back_says_why(tmp_path):
    lab = pki()
    cert, key = tmp_path / "c.pem", tmp_path / "c.key"
    cert.write_bytes(lab.leaf.pem)
    key.write_bytes(lab.leaf.key_pem())
    with hostile.HostileServer(refuse) as server:
        run = cli("probe", f"127.0.0.1:{server.port}", "--cert", str(cert), "--key", str(key),
                  "--timeout", "1", "--no-legacy", "--format", "json")
    clean(run, 1)
    data = json.loads(run.stdout)
    assert "MTLS510" in [f["rule"] for f in data["findings"]]
    skipped = [a for a in data["attempts"] if a["outcome"] == "skipped"]
    assert skipped and all("no server certificate arrived" in a["error"] for a in skipped)
    assert "failed verification" not in run.stdout
