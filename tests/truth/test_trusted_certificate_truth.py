"""`TRUSTED CERTIFICATE` PEM blocks (`openssl x509 -trustout`) on real nginx 1.22.1 (F1.5).

Measured (the claim a rule on such files has to make):
- a file of only TRUSTED CERTIFICATE blocks as `ssl_client_certificate`: `nginx -t` fails with
  `SSL_load_client_CA_file("...") failed (... no start line:Expecting: CERTIFICATE)`; nginx
  1.27.2+ accepts such blocks there (F1.5, CHG 1.27.2, not testable here);
- the same file as `ssl_trusted_certificate` loads (SSL_CTX_load_verify_locations reads them);
- a TRUSTED CERTIFICATE block next to a plain CERTIFICATE in `ssl_client_certificate` passes
  `nginx -t`, but the TRUSTED one is not advertised (SSL_load_client_CA_file skips it, F1.1).
The TRUSTED blocks are made by the real `openssl x509 -trustout`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.model import Severity
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules.bundle import check
from mtls_doctor.nginx.version import TRUSTED_ONLY_OK
from tests.conftest import nginx_argv
from tests.truth.util import AT, V, s_client

pytestmark = pytest.mark.nginx


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(AT)


def _trustout(pem: bytes, tmp_path: Path, name: str) -> bytes:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is needed"
    src, out = tmp_path / f"{name}.in.pem", tmp_path / f"{name}.trusted.pem"
    src.write_bytes(pem)
    subprocess.run([openssl, "x509", "-in", str(src), "-trustout", "-addtrust", "clientAuth",
                    "-out", str(out)], check=True, capture_output=True, timeout=30)
    data = out.read_bytes()
    assert data.startswith(b"-----BEGIN TRUSTED CERTIFICATE-----"), data[:40]
    return data


def _nginx_t(nginx_bin: str, tmp_path: Path, pki, directives: str, files: dict[str, bytes]):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "s.pem").write_bytes(pki.server_chain_pem)
    (tmp_path / "s.key").write_bytes(pki.server.key_pem)
    (tmp_path / "s.key").chmod(0o600)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/n.pid;\nerror_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n"
        f"    server {{\n        listen 127.0.0.1:18668 ssl;\n        ssl_certificate {tmp_path}/s.pem;\n"
        f"        ssl_certificate_key {tmp_path}/s.key;\n        ssl_verify_client on;\n"
        f"{directives.replace('@DIR@', str(tmp_path))}    }}\n}}\n")
    return subprocess.run(nginx_argv(nginx_bin, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_only_trusted_blocks_in_ssl_client_certificate_fail_nginx_t(pki, nginx_bin, tmp_path):
    trusted = _trustout(pki.pem("root"), tmp_path, "root")
    done = _nginx_t(nginx_bin, tmp_path, pki, "        ssl_client_certificate @DIR@/ca.pem;\n",
                    {"ca.pem": trusted})
    if V >= TRUSTED_ONLY_OK:  # 1.27.2+ reads CA files itself and takes TRUSTED blocks (1.30.6)
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0, done.stderr
        assert 'SSL_load_client_CA_file("' in done.stderr, done.stderr
        assert "Expecting: CERTIFICATE" in done.stderr, done.stderr
    # the same file as ssl_trusted_certificate (root advertised from a plain file) loads
    done = _nginx_t(nginx_bin, tmp_path, pki,
                    "        ssl_client_certificate @DIR@/root.pem;\n"
                    "        ssl_trusted_certificate @DIR@/ca.pem;\n",
                    {"ca.pem": trusted, "root.pem": pki.pem("root")})
    assert done.returncode == 0, done.stderr
    # the loader reads the block as the certificate it wraps (the trust settings dropped)
    bundle = load_bytes(trusted, "ca.pem")
    assert [c.subject for c in bundle.certificates] == [pki.cas["root"].cert.subject]
    # ... and MTLS012 reports the measured nginx -t failure as an error in a CA file only
    found = [f for f in check(bundle, "ca", AT) if f.rule == "MTLS012"]
    assert [f.severity for f in found] == [Severity.ERROR], found
    assert not [f for f in check(bundle, "server", AT) if f.rule == "MTLS012"]


def test_a_trusted_block_next_to_a_plain_one_loads_but_is_not_advertised(pki, nginx_bin, tmp_path):
    data = pki.pem("root") + _trustout(pki.pem("inter"), tmp_path, "inter")
    done = _nginx_t(nginx_bin, tmp_path, pki, "        ssl_client_certificate @DIR@/ca.pem;\n",
                    {"ca.pem": data})
    assert done.returncode == 0, done.stderr
    # MTLS012: it loads (a warning, not an error), on the TRUSTED block (certificate #1)
    found = [f for f in check(load_bytes(data, "ca.pem"), "ca", AT) if f.rule == "MTLS012"]
    assert [f.severity for f in found] == [Severity.WARNING], found
    assert "#1" in found[0].message, found
    http = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    ssl_certificate pki/server.pem;
    ssl_certificate_key pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate pki/ca.pem;
    location / { return 200 "$ssl_client_verify"; }
}
"""
    files = {"pki/server.pem": pki.server_chain_pem, "pki/server.key": pki.server.key_pem,
             "pki/ca.pem": data}
    with NginxServer(http, files=files, nginx_bin=nginx_bin, workdir=tmp_path / "ng") as server:
        out = s_client(server.port, "-tls1_2")
    names = out.split("Acceptable client certificate CA names", 1)[1].split("Requested Signature", 1)[0]
    root_cn = pki.cas["root"].cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    inter_cn = pki.cas["inter"].cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    if V >= TRUSTED_ONLY_OK:  # 1.27.2+: the TRUSTED block's CA is advertised too (1.30.6)
        assert root_cn in names and inter_cn in names, names
    else:
        assert root_cn in names and inter_cn not in names, names
