"""Remaining bundle/config/log claims, measured on real nginx 1.22.1.

- MTLS102 (F1.1): a leaf in ssl_client_certificate is advertised as a CA name, and a
  self-signed leaf there becomes a trust anchor (that very certificate verifies);
- MTLS107 (F1.1): a CA twice in the file is advertised once;
- MTLS114 (F3.4): nginx builds the client chain from the sent certificates in any order;
- MTLS233: a server_name outside the certificate's SAN makes curl abort (exit 60) while
  `openssl s_client` without name checks completes the handshake;
- MTLS303 (F6.2): ssl_ocsp with a responder host in the client certificate's AIA and no
  resolver -> `no resolver defined to resolve`, 400, FAILED:certificate status request failed;
- log causes config-cannot-load-key / config-missing-certificate-or-key on real `nginx -t`.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.logs.causes import classify
from mtls_doctor.logs.parse import parse_line
from mtls_doctor.pki.issue import CLIENT_AUTH, key_pem, new_key, pem
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules import bundle as bundle_rules
from tests.witness import ca_names
from mtls_doctor.nginx.version import SSL_OCSP_HTTP
from tests.conftest import nginx_argv
from tests.truth.util import (AT, V, client_context, https_get, lint_running, rules_in, s_client,
                              wait_for_text)

pytestmark = pytest.mark.nginx

SERVER = """
# begin {name}
server {{
    listen 127.0.0.1:@PORT{port}@ ssl;
    server_name {server_name};
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
{body}
    location / {{ return 200 "$ssl_client_verify"; }}
}}
# end {name}
"""

SERVERS = {
    "leaf-in-ca": (0, "localhost", "    ssl_verify_client on;\n    ssl_client_certificate ca/root-and-leaves.pem;"),
    "duplicate": (1, "localhost", "    ssl_verify_client on;\n    ssl_client_certificate ca/root-twice.pem;"),
    "order": (2, "localhost", "    ssl_verify_client on;\n    ssl_verify_depth 2;\n"
                              "    ssl_client_certificate ca/root.pem;"),
    "no-san": (3, "wrong.test", ""),
    "ocsp": (4, "localhost", "    ssl_verify_client on;\n    ssl_client_certificate ca/root.pem;\n"
                             + ("    ssl_ocsp on;" if V >= SSL_OCSP_HTTP else "")),  # 1.19.0+
}


def _aia_client(pki):
    inter = pki.cas["inter"]
    key = new_key("ec")
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab client with AIA")]))
            .issuer_name(inter.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(AT - timedelta(hours=1)).not_valid_after(AT + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier("http://ocsp.example.test/"))]), critical=False)
            .sign(inter.key, hashes.SHA256()))
    return cert, key


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    pki = build_lab_pki(AT)
    aia, aia_key = _aia_client(pki)
    deep = pki.clients["deep"]
    leaf, d2, d1 = deep.cert, deep.chain[0], deep.chain[1]
    files = {
        "certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
        "ca/root.pem": pki.pem("root"),
        "ca/root-and-leaves.pem": pki.pem("root") + pki.clients["good"].cert_pem
        + pki.clients["self-signed"].cert_pem,
        "ca/root-twice.pem": pki.pem("root") + pki.pem("root"),
        "clients/self-signed.pem": pki.clients["self-signed"].cert_pem,
        "clients/self-signed.key": pki.clients["self-signed"].key_pem,
        "clients/deep-reversed.pem": pem(leaf, d1, d2), "clients/deep-ordered.pem": pem(leaf, d2, d1),
        "clients/deep.key": deep.key_pem,
        "clients/aia.pem": pem(aia, pki.cas["inter"].cert), "clients/aia.key": key_pem(aia_key),
    }
    http = "".join(SERVER.format(name=n, port=p, server_name=sn, body=b) for n, (p, sn, b) in SERVERS.items())
    with NginxServer(http, ports=5, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-misc")) as server:
        yield server, pki, lint_running(server.conf_path)


def _ctx(server, cert: str | None, key: str | None = None):
    p = server.prefix
    if cert is None:
        return client_context(p / "ca/root.pem")
    return client_context(p / "ca/root.pem", p / f"clients/{cert}", p / f"clients/{key}")


def test_leaf_in_ca_file_is_advertised_and_a_self_signed_leaf_is_trusted_mtls102(lab):
    server, pki, _ = lab
    names = ca_names(s_client(server.ports[0], "-tls1_2"))
    assert {"O=mtls-doctor lab, CN=lab client good",
            "O=mtls-doctor lab, CN=lab client self-signed"} <= set(names), names
    got = https_get(server.ports[0], "/", _ctx(server, "self-signed.pem", "self-signed.key"))
    assert (got.status, got.body) == (200, "SUCCESS")
    data = (server.prefix / "ca/root-and-leaves.pem").read_bytes()
    assert "MTLS102" in {f.rule for f in bundle_rules.check(load_bytes(data, "ca.pem"), "ca", AT)}


def test_duplicate_ca_is_advertised_once_mtls107(lab):
    server, pki, _ = lab
    names = ca_names(s_client(server.ports[1], "-tls1_2"))
    root_cn = pki.cas["root"].cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert sum(n.endswith(f"CN={root_cn}") for n in names) == 1, names
    data = (server.prefix / "ca/root-twice.pem").read_bytes()
    assert "MTLS107" in {f.rule for f in bundle_rules.check(load_bytes(data, "ca.pem"), "ca", AT)}


def test_chain_out_of_order_still_verifies_on_nginx_mtls114(lab):
    server, _, _ = lab
    for name in ("deep-ordered.pem", "deep-reversed.pem"):
        got = https_get(server.ports[2], "/", _ctx(server, name, "deep.key"))
        assert (got.status, got.body) == (200, "SUCCESS"), name
    data = (server.prefix / "clients/deep-reversed.pem").read_bytes()
    assert "MTLS114" in {f.rule for f in bundle_rules.check(load_bytes(data, "c.pem"), "client", AT)}
    ordered = (server.prefix / "clients/deep-ordered.pem").read_bytes()
    assert "MTLS114" not in {f.rule for f in bundle_rules.check(load_bytes(ordered, "c.pem"), "client", AT)}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_server_name_not_in_san_curl_aborts_mtls233(lab):
    server, _, findings = lab
    port = server.ports[3]
    done = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "--cacert", str(server.prefix / "ca/root.pem"),
                           "--resolve", f"wrong.test:{port}:127.0.0.1", f"https://wrong.test:{port}/"],
                          capture_output=True, timeout=10, check=False)
    assert done.returncode == 60, done  # curl: peer certificate cannot be authenticated
    ok = subprocess.run(["curl", "-s", "-m", "5", "--cacert", str(server.prefix / "ca/root.pem"),
                         "--resolve", f"localhost:{port}:127.0.0.1", f"https://localhost:{port}/"],
                        capture_output=True, text=True, timeout=10, check=False)
    assert ok.returncode == 0 and ok.stdout == "NONE"  # same server, a name in the SAN
    assert "MTLS233" in rules_in(findings, server.conf_path, "no-san")


@pytest.mark.skipif(V < SSL_OCSP_HTTP, reason="ssl_ocsp exists from nginx 1.19.0")
def test_ocsp_without_resolver_fails_closed_mtls303(lab):
    server, _, findings = lab
    got = https_get(server.ports[4], "/", _ctx(server, "aia.pem", "aia.key"))
    assert got.status == 400 and "The SSL certificate error" in got.body
    log = wait_for_text(server.read_error_log, "no resolver defined to resolve ocsp.example.test")
    assert "no resolver defined to resolve ocsp.example.test" in log
    assert "MTLS303" in rules_in(findings, server.conf_path, "ocsp")
    access = wait_for_text(server.read_access_log, "certificate status request failed")
    assert "verify=FAILED:certificate status request failed" in access


@pytest.mark.parametrize("body, cause", [
    ("ssl_certificate certs/server.pem; ssl_certificate_key certs/absent.key;", "config-cannot-load-key"),
    ("ssl_certificate certs/server.pem;", "config-missing-certificate-or-key"),
])
def test_config_load_causes_on_real_nginx_t(body, cause, nginx_bin, tmp_path):
    pki = build_lab_pki(AT)
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs/server.pem").write_bytes(pki.server_chain_pem)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/n.pid;\nerror_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n"
                    f"    server {{ listen 127.0.0.1:18777 ssl; {body} }}\n}}\n")
    done = subprocess.run(nginx_argv(nginx_bin, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    line = next(l for l in done.stderr.splitlines() if "[emerg]" in l)
    match = classify(parse_line(line))
    assert match is not None and match.cause.id == cause, line
