"""Text before -----BEGIN: MTLS003 must say what OpenSSL (and so nginx) really does - checked
against the openssl CLI of the system OpenSSL, which nginx uses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.qa.test_cli_consistency import pki, run  # noqa: F401 - fixture
from tests.conftest import nginx_argv


@pytest.mark.parametrize("prefix,openssl_reads", [(b"\xef\xbb\xbf", True), (b"xyz", False)])
def test_text_before_begin_matches_openssl(pki: Path, tmp_path: Path, prefix: bytes,  # noqa: F811
                                           openssl_reads: bool):
    path = tmp_path / "ca.pem"
    path.write_bytes(prefix + (pki / "ca" / "root.pem").read_bytes())
    done = subprocess.run(["openssl", "x509", "-in", str(path), "-noout"], capture_output=True,
                          timeout=30)
    assert (done.returncode == 0) is openssl_reads  # a UTF-8 BOM is skipped, other text is not
    data = json.loads(run("inspect", str(path), "--format", "json").stdout)
    flagged = any(f["rule"] == "MTLS003" for f in data["findings"])
    assert flagged is not openssl_reads, data["findings"]


def test_trusted_certificate_pem_in_client_ca_file_is_noted(pki: Path, tmp_path: Path,  # noqa: F811
                                                            nginx_bin: str):
    # `openssl x509 -trustout` writes "BEGIN TRUSTED CERTIFICATE"; nginx before 1.27.2 reads
    # ssl_client_certificate with SSL_load_client_CA_file, which refuses it (F1.5): measured here
    trusted = tmp_path / "trusted.pem"
    subprocess.run(["openssl", "x509", "-in", str(pki / "ca" / "root.pem"), "-trustout",
                    "-addtrust", "clientAuth", "-out", str(trusted)], check=True, timeout=30)
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/logs/error.log;\nevents {{}}\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:1 ssl;\n"
        f"ssl_certificate {pki}/server/server.pem; ssl_certificate_key {pki}/server/server.key;\n"
        f"ssl_verify_client on; ssl_client_certificate {trusted}; }} }}\n")
    version = subprocess.run(nginx_argv(nginx_bin, "-v"), capture_output=True, text=True, timeout=30).stderr
    test = subprocess.run(nginx_argv(nginx_bin, "-t", "-p", str(tmp_path), "-c", str(conf), "-e",
                           str(tmp_path / "logs" / "error.log")), capture_output=True, text=True,
                          timeout=30)
    if "nginx/1.2" in version and tuple(map(int, version.split("/")[1].split(".")[:3])) < (1, 27, 2):
        assert test.returncode != 0 and "SSL_load_client_CA_file" in test.stderr, test.stderr
    proc = run("verify", str(pki / "clients" / "root-direct.pem"), "--ssl-client-certificate",
               str(trusted), "--format", "json")
    notes = json.loads(proc.stdout)["notes"]
    assert any("TRUSTED CERTIFICATE" in n and "1.27.2" in n for n in notes), notes


def test_client_ca_file_from_stdin(pki: Path):  # noqa: F811
    proc = run("verify", str(pki / "clients" / "good-chain.pem"), "--ssl-client-certificate", "-",
               stdin=(pki / "bundles" / "client-ca.pem").read_text())
    assert proc.returncode == 0, proc.stderr
