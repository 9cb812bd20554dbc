"""Issue 11, defect 1: a server certificate OpenSSL accepts but ``cryptography`` refuses (the
version encoded explicitly as v1), served by real nginx: probe, probe --targets and diagnose
report it instead of a traceback; inspect names it (MTLS013) instead of "corrupt"."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.serialization import Encoding

from tests.hardening import craft
from tests.hardening.conftest import clean, cli

HTTP = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    ssl_certificate certs/v1.pem;
    ssl_certificate_key certs/v1.key;
    location / { return 200 "ok\\n"; }
}
"""


def _files():
    root, root_key = craft.ca()
    der, key = craft.explicit_v1_leaf(root, root_key)
    return root, {"certs/v1.pem": craft.pem(der), "certs/v1.key": craft.key_pem(key)}


def test_probe_of_an_explicit_v1_server_certificate(nginx_with, tmp_path):
    root, files = _files()
    ca = tmp_path / "root.pem"
    ca.write_bytes(root.public_bytes(Encoding.PEM))
    with nginx_with(HTTP, files) as server:
        url = f"https://127.0.0.1:{server.port}/"
        proc = cli("probe", url, "--ca-file", str(ca), "--format", "json", "--timeout", "5")
        clean(proc, 0, 1)
        data = json.loads(proc.stdout)
        text = json.dumps(data)
        assert "CN=localhost" in text and "not strict DER" in text
        # --targets goes on after such a target: both lines are there
        targets = tmp_path / "targets"
        targets.write_text(f"{url}\n127.0.0.1:{server.port}\n")
        proc = cli("probe", "--targets", str(targets), "--ca-file", str(ca), "--timeout", "5")
        clean(proc, 0, 1)
        assert len([line for line in proc.stdout.splitlines() if line.strip()]) == 2
        empty = tmp_path / "nginx.conf"
        empty.write_text("events {}\n")
        proc = cli("diagnose", "--url", url, "--ca-file", str(ca), "--timeout", "5",
                   "--config", str(empty), "--format", "json")
        clean(proc, 0, 1)
        assert json.loads(proc.stdout)["probes"]


def test_inspect_names_an_openssl_only_certificate(tmp_path):
    _, files = _files()
    path = tmp_path / "v1.pem"
    path.write_bytes(files["certs/v1.pem"])
    proc = cli("inspect", str(path), "--format", "json")
    clean(proc, 1)
    findings = json.loads(proc.stdout)["findings"]
    assert [f["rule"] for f in findings] == ["MTLS013"]
    assert "CN=localhost" in findings[0]["message"] and "corrupt" not in findings[0]["message"]
