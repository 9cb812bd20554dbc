"""`verify --config --listen` against nginx's own client-certificate regression tests, ported.

nginx-tests (github.com/nginx/nginx-tests: ssl_verify_depth.t, ssl_crl.t, ssl_verify_client.t,
ssl_verify_client_trusted.t) check what nginx answers to each client certificate. Here the same
situations are rewritten (own configuration text, not theirs), with certificates made the way
those tests make them: by the ``openssl`` command line, ``basicConstraints CA:TRUE`` on every
certificate (also the leaves), one-day validity, self-signed leaves that are their own trust
anchor. That is odd-but-valid material our own PKI module never writes.

For every (listen port, SNI, client) row, curl (an independent client) gets the HTTP status and
``$ssl_client_verify`` from real nginx, and ``mtls-doctor verify CLIENT --config nginx.conf
--listen 127.0.0.1:PORT --server-name SNI`` must predict both. Nothing is pinned: the expected
values are what the nginx at hand answers (1.22/OpenSSL 3.0 on Debian 12, 1.26/3.5 on Debian 13),
so ssl_verify_depth.t's "FAI|SUC" rows are judged against what this nginx really does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.nginx.version import TRUSTED_ONLY_OK
from tests.truth.util import V

pytestmark = pytest.mark.nginx

REQ_CONF = """[ req ]
default_bits = 2048
encrypt_key = no
distinguished_name = dn
x509_extensions = ext
[ dn ]
[ ext ]
basicConstraints = critical,CA:TRUE
"""

CA_CONF = """[ ca ]
default_ca = lab
[ lab ]
new_certs_dir = {d}
database = {d}/index
default_md = sha256
policy = any
serial = {d}/serial
default_days = 1
x509_extensions = ext
[ any ]
commonName = supplied
[ ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical, digitalSignature, cRLSign, keyCertSign
"""


def _openssl(d: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)


def _make_pki(d: Path) -> dict[str, bytes]:
    """root -> int -> end, a server certificate, three self-signed example.com certificates,
    and the CRLs of ssl_crl.t: empty (root's), int's, root's after revoking int."""
    (d / "req.conf").write_text(REQ_CONF)
    (d / "ca.conf").write_text(CA_CONF.format(d=d))
    (d / "serial").write_text("1000\n")
    (d / "index").write_text("")
    for name in ("root", "localhost", "1.example.com", "2.example.com", "3.example.com"):
        _openssl(d, "req", "-x509", "-new", "-config", "req.conf", "-subj", f"/CN={name}/",
                 "-out", f"{name}.crt", "-keyout", f"{name}.key")
    for name in ("int", "end"):
        _openssl(d, "req", "-new", "-config", "req.conf", "-subj", f"/CN={name}/",
                 "-out", f"{name}.csr", "-keyout", f"{name}.key")
    for name, issuer in (("int", "root"), ("end", "int")):
        _openssl(d, "ca", "-batch", "-config", "ca.conf", "-keyfile", f"{issuer}.key", "-cert",
                 f"{issuer}.crt", "-subj", f"/CN={name}/", "-in", f"{name}.csr", "-out", f"{name}.crt")
    _openssl(d, "ca", "-gencrl", "-config", "ca.conf", "-keyfile", "root.key", "-cert", "root.crt",
             "-out", "empty.crl", "-crldays", "1")
    _openssl(d, "ca", "-gencrl", "-config", "ca.conf", "-keyfile", "int.key", "-cert", "int.crt",
             "-out", "int.crl", "-crldays", "1")
    _openssl(d, "ca", "-config", "ca.conf", "-revoke", "int.crt", "-keyfile", "root.key",
             "-cert", "root.crt")
    _openssl(d, "ca", "-gencrl", "-config", "ca.conf", "-keyfile", "root.key", "-cert", "root.crt",
             "-out", "root.crl", "-crldays", "1")
    read = lambda name: (d / name).read_bytes()  # noqa: E731
    files = {f"pki/{p.name}": p.read_bytes() for p in d.iterdir() if p.suffix in (".crt", ".key", ".crl")}
    files["pki/root-int.crt"] = read("root.crt") + read("int.crt")
    files["pki/int-root.crt"] = read("int.crt") + read("root.crt")
    files["pki/empty-chain.crl"] = read("empty.crl") + read("int.crl")
    files["pki/dup.crt"] = read("2.example.com.crt") * 2
    return files


# One http block; each server answers with $ssl_client_verify in a header, also on error pages.
HTTP = """
ssl_certificate pki/localhost.crt;
ssl_certificate_key pki/localhost.key;
add_header X-Verify "$ssl_client_verify" always;

# ssl_verify_depth.t: the CA file holds root and int; the depth decides
server { listen 127.0.0.1:@PORT0@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/root-int.crt; ssl_verify_depth 0; return 200 "depth0\\n"; }
server { listen 127.0.0.1:@PORT1@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/root-int.crt; ssl_verify_depth 1; return 200 "depth1\\n"; }
server { listen 127.0.0.1:@PORT2@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/root-int.crt; ssl_verify_depth 2; return 200 "depth2\\n"; }

# ssl_crl.t: CRL files of the root only, of root and int, with int revoked
server { listen 127.0.0.1:@PORT3@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/root.crt; ssl_crl pki/empty.crl; return 200 "crl-empty\\n"; }
server { listen 127.0.0.1:@PORT4@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/root.crt; ssl_crl pki/root.crl; return 200 "crl-revoked\\n"; }
server { listen 127.0.0.1:@PORT5@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/int-root.crt; ssl_verify_depth 2; ssl_crl pki/root.crl;
         return 200 "crl-ca-revoked\\n"; }
server { listen 127.0.0.1:@PORT6@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/int-root.crt; ssl_verify_depth 2; ssl_crl pki/empty.crl;
         return 200 "crl-incomplete\\n"; }
server { listen 127.0.0.1:@PORT7@ ssl; server_name localhost; ssl_verify_client on;
         ssl_client_certificate pki/int-root.crt; ssl_verify_depth 2; ssl_crl pki/empty-chain.crl;
         return 200 "crl-chain\\n"; }

# ssl_verify_client.t: modes chosen by SNI on one address; the first server is the default
server { listen 127.0.0.1:@PORT8@ ssl; server_name on; ssl_verify_client on;
         ssl_client_certificate pki/2.example.com.crt; return 200 "on\\n"; }
server { listen 127.0.0.1:@PORT8@ ssl; server_name optional; ssl_verify_client optional;
         ssl_client_certificate pki/2.example.com.crt; ssl_trusted_certificate pki/3.example.com.crt;
         return 200 "optional\\n"; }
server { listen 127.0.0.1:@PORT8@ ssl; server_name off; ssl_verify_client off;
         ssl_client_certificate pki/2.example.com.crt; ssl_trusted_certificate pki/3.example.com.crt;
         return 200 "off\\n"; }
server { listen 127.0.0.1:@PORT8@ ssl; server_name optional.no.ca; ssl_verify_client optional_no_ca;
         ssl_client_certificate pki/2.example.com.crt; return 200 "optional_no_ca\\n"; }
server { listen 127.0.0.1:@PORT8@ ssl; server_name dup; ssl_verify_client optional;
         ssl_client_certificate pki/dup.crt; return 200 "dup\\n"; }
"""

# ssl_verify_client_trusted.t: only ssl_trusted_certificate (nginx -t refuses it before 1.27.2)
TRUSTED_ONLY = """
server { listen 127.0.0.1:@PORT9@ ssl; server_name trusted; ssl_verify_client on;
         ssl_trusted_certificate pki/2.example.com.crt; return 200 "trusted\\n"; }
"""

# (port index, SNI and Host, client certificate)
ROWS = [
    *((port, "localhost", cert) for port in (0, 1, 2) for cert in ("root", "int", "end")),
    (3, "localhost", "int"), (4, "localhost", "int"), (5, "localhost", "end"),
    (6, "localhost", "end"), (7, "localhost", "end"),
    (8, "optional", "1.example.com"), (8, "optional.no.ca", "1.example.com"),
    (8, "off", "2.example.com"), (8, "off", "3.example.com"),
    (8, "localhost", "2.example.com"),  # no such name: the default server ("on")
    (8, "on", "3.example.com"), (8, "optional", "2.example.com"),
    (8, "optional", "3.example.com"), (8, "dup", "2.example.com"),
]
TRUSTED_ROWS = [(9, "trusted", "2.example.com"), (9, "trusted", "3.example.com")]


@pytest.fixture(scope="module")
def server(nginx_bin, tmp_path_factory):
    files = _make_pki(tmp_path_factory.mktemp("nginx-tests-pki"))
    trusted = V >= TRUSTED_ONLY_OK
    with NginxServer(HTTP + (TRUSTED_ONLY if trusted else ""), ports=10 if trusted else 9, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("nginx-tests-port")) as nginx:
        yield nginx


def _curl(server: NginxServer, port: int, name: str, cert: str) -> tuple[int, str]:
    pki = server.prefix / "pki"
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "10", "-o", "/dev/null", "-D", "-",
         "--resolve", f"{name}:{port}:127.0.0.1", "--cert", str(pki / f"{cert}.crt"),
         "--key", str(pki / f"{cert}.key"), f"https://{name}:{port}/"],
        capture_output=True, text=True, timeout=30).stdout
    lines = out.replace("\r", "").splitlines()
    assert lines and lines[0].startswith("HTTP/"), out
    verify = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("x-verify:")), "")
    return int(lines[0].split()[1]), verify


def _predict(server: NginxServer, port: int, name: str, cert: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "verify", str(server.prefix / "pki" / f"{cert}.crt"),
         "--config", str(server.conf_path), "--listen", f"127.0.0.1:{port}", "--server-name", name,
         "--nginx", server.nginx_bin, "--format", "json"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)["clients"][0]


def _check(server: NginxServer, rows: list) -> None:
    wrong = []
    for index, name, cert in rows:
        port = server.ports[index]
        status, verify = _curl(server, port, name, cert)
        got = _predict(server, port, name, cert)
        if (got["status"], got["ssl_client_verify"]) != (status, verify):
            wrong.append(f"port {index} SNI {name} client {cert}: nginx {status} {verify!r}, "
                         f"verify predicted {got['status']} {got['ssl_client_verify']!r}")
    assert not wrong, "\n".join(wrong)


def test_verify_predicts_nginx_on_the_ported_regression_tests(server):
    _check(server, ROWS)


@pytest.mark.skipif(V < TRUSTED_ONLY_OK, reason="ssl_trusted_certificate alone: nginx 1.27.2+ (F1.5)")
def test_verify_predicts_nginx_with_only_a_trusted_certificate(server):
    _check(server, TRUSTED_ROWS)


def test_listen_names_no_server(server):
    run = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "verify", str(server.prefix / "pki" / "end.crt"),
         "--config", str(server.conf_path), "--listen", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no TLS server listens on 127.0.0.1:1" in run.stderr
    assert "Traceback" not in run.stderr
