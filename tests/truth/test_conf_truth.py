"""Config-rule claims about what `nginx -t` says and which TLS versions work, on the real nginx
at hand (any version: expectations follow the gates of mtls_doctor.nginx.version).

- MTLS231: a CA first in ssl_certificate -> `nginx -t` fails with `key values mismatch`;
- MTLS209: `$ssl_client_sigalg` (1.29.3) before 1.29.3 -> `nginx -t` fails (`unknown ... variable`);
- MTLS220 (F8.1): `ssl on;` -> before 1.25.1 `[warn] the "ssl" directive is deprecated` and
  nginx -t passes; from 1.25.1 `unknown directive "ssl"` and nginx -t fails;
- MTLS222 (F7.5): no ssl_protocols before 1.23.4 -> a TLS 1.3-only client gets `protocol version`;
  from 1.23.4 TLS 1.3 is on by default and MTLS222 stays quiet;
- MTLS221: TLSv1/TLSv1.1 listed -> still no TLS 1.0 / 1.1 handshake (OpenSSL 3 security level);
- MTLS213 (F2.1): `ssl_verify_client` / `ssl_client_certificate` / `ssl_verify_depth` in a location
  -> `nginx -t` fails (not allowed here).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.nginx.version import SSL_ON_REMOVED, TLS13_DEFAULT, Version
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules import bundle as bundle_rules
from tests.truth.util import AT, TIMEOUT, V, client_context, https_get, lint_running, rules_in
from tests.conftest import nginx_argv

pytestmark = [pytest.mark.nginx, pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")]

TEMPLATE = """pid {d}/nginx.pid;
error_log stderr info;
events {{}}
http {{
    access_log off;
    client_body_temp_path {d}/t1;
    proxy_temp_path {d}/t2;
    fastcgi_temp_path {d}/t3;
    uwsgi_temp_path {d}/t4;
    scgi_temp_path {d}/t5;
# begin server
    server {{
        listen 127.0.0.1:18555 ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
{body}
    }}
# end server
}}
"""


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(AT)


def conf(tmp_path: Path, pki, body: str, cert: str = "certs/server.pem") -> Path:
    (tmp_path / "certs").mkdir(exist_ok=True)
    (tmp_path / "ca").mkdir(exist_ok=True)
    for rel, data in {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
                      "certs/ca-first.pem": pki.pem("root") + pki.server_chain_pem,
                      "ca/root.pem": pki.pem("root")}.items():
        (tmp_path / rel).write_bytes(data)
        (tmp_path / rel).chmod(0o600)
    path = tmp_path / "nginx.conf"
    path.write_text(TEMPLATE.format(d=tmp_path, cert=cert, body=body))
    return path


def nginx_t(nginx_bin: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(nginx_argv(nginx_bin, "-t", "-p", f"{path.parent}/", "-c", str(path), "-e", "stderr"),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_ca_first_in_ssl_certificate_fails_nginx_t_mtls231(nginx_bin, pki, tmp_path):
    path = conf(tmp_path, pki, "        location / { return 200; }", cert="certs/ca-first.pem")
    done = nginx_t(nginx_bin, path)
    assert done.returncode != 0 and "key values mismatch" in done.stderr, done.stderr
    assert "MTLS231" in rules_in(lint_running(path), path, "server")
    # the bundle rule on the same file (role server) states the same nginx -t failure
    data = (tmp_path / "certs/ca-first.pem").read_bytes()
    assert "MTLS113" in {f.rule for f in bundle_rules.check(load_bytes(data, "ca-first.pem"), "server", AT)}


@pytest.mark.skipif(V >= Version(1, 29, 3), reason="$ssl_client_sigalg exists from nginx 1.29.3")
def test_variable_newer_than_nginx_fails_nginx_t_mtls209(nginx_bin, pki, tmp_path):
    body = ("        ssl_verify_client on;\n        ssl_client_certificate ca/root.pem;\n"
            '        location / { return 200 "$ssl_client_sigalg"; }')
    path = conf(tmp_path, pki, body)
    done = nginx_t(nginx_bin, path)
    assert done.returncode != 0 and 'unknown "ssl_client_sigalg" variable' in done.stderr, done.stderr
    assert "MTLS209" in rules_in(lint_running(path), path, "server")


def test_ssl_on_is_a_warning_before_1_25_1_and_refused_after_mtls220(nginx_bin, pki, tmp_path):
    path = conf(tmp_path, pki, "        ssl on;\n        location / { return 200; }")
    done = nginx_t(nginx_bin, path)
    if V < SSL_ON_REMOVED:
        assert done.returncode == 0, done.stderr
        assert '[warn]' in done.stderr and 'the "ssl" directive is deprecated, use the "listen ... ssl"' in done.stderr
    else:
        assert done.returncode != 0 and 'unknown directive "ssl"' in done.stderr, done.stderr
    assert "MTLS220" in rules_in(lint_running(path), path, "server")


@pytest.mark.parametrize("directive", ["ssl_verify_client on;", "ssl_client_certificate ca/root.pem;",
                                       "ssl_verify_depth 2;"])
def test_client_cert_directive_in_location_fails_nginx_t_mtls213(directive, nginx_bin, pki, tmp_path):
    body = ("        ssl_verify_client optional;\n        ssl_client_certificate ca/root.pem;\n"
            f"        location / {{ {directive} return 200; }}")
    path = conf(tmp_path, pki, body)
    done = nginx_t(nginx_bin, path)
    name = directive.split()[0]
    assert done.returncode != 0
    assert f'"{name}" directive is not allowed here' in done.stderr, done.stderr
    assert "MTLS213" in rules_in(lint_running(path), path, "server")


PROTOCOLS = """
# begin {name}
server {{
    listen 127.0.0.1:@PORT{port}@ ssl;
    server_name localhost;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    {protocols}
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    location / {{ return 200 "$ssl_protocol"; }}
}}
# end {name}
"""


@pytest.fixture(scope="module")
def protocols(pki, nginx_bin, tmp_path_factory):
    http = (PROTOCOLS.format(name="default-protocols", port=0, protocols="")
            + PROTOCOLS.format(name="legacy", port=1, protocols="ssl_protocols TLSv1 TLSv1.1 TLSv1.2;"))
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root.pem": pki.pem("root"), "clients/good.pem": pki.clients["good"].chain_pem,
             "clients/good.key": pki.clients["good"].key_pem}
    with NginxServer(http, ports=2, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-protocols")) as server:
        yield server, lint_running(server.conf_path)


def good(server, tls=None):
    p = server.prefix
    return client_context(p / "ca/root.pem", p / "clients/good.pem", p / "clients/good.key", tls=tls)


def test_tls13_by_default_from_1_23_4_mtls222(protocols):
    server, findings = protocols
    assert https_get(server.ports[0], "/", good(server, "1.2")).body == "TLSv1.2"
    if V >= TLS13_DEFAULT:
        assert https_get(server.ports[0], "/", good(server, "1.3")).body == "TLSv1.3"
        assert "MTLS222" not in rules_in(findings, server.conf_path, "default-protocols")
        return
    with pytest.raises(ssl.SSLError) as err:
        https_get(server.ports[0], "/", good(server, "1.3"))
    assert "PROTOCOL_VERSION" in str(err.value).upper().replace(" ", "_"), err.value
    assert "MTLS222" in rules_in(findings, server.conf_path, "default-protocols")


def _legacy_handshake(port: int, version: ssl.TLSVersion) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("ALL:@SECLEVEL=0")  # the client allows it: only the server can refuse
    ctx.minimum_version = ctx.maximum_version = version
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                return str(tls.version())
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {exc}"


def test_legacy_protocols_listed_still_refused_mtls221(protocols):
    server, findings = protocols
    assert https_get(server.ports[1], "/", good(server, "1.2")).body == "TLSv1.2"
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        got = _legacy_handshake(server.ports[1], version)
        # the server answered with an alert (the client offered the version: SECLEVEL=0 here)
        assert got.startswith("refused") and "ALERT" in got.upper(), got
    assert "MTLS221" in rules_in(findings, server.conf_path, "legacy")


DEFAULT_DECIDES = """
# begin default
server {
    listen 127.0.0.1:@PORT0@ ssl default_server;
    server_name default.test;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2;
    return 200 "default";
}
# end default
# begin named
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name a.test;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    return 200 "a.test $ssl_protocol";
}
# end named
"""


def test_default_servers_protocols_decide_before_1_29_2_mtls222(nginx_bin, tmp_path):
    pki = build_lab_pki(AT, server_names=["a.test", "default.test"])
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root.pem": pki.pem("root"), "clients/good.pem": pki.clients["good"].chain_pem,
             "clients/good.key": pki.clients["good"].key_pem}
    with NginxServer(DEFAULT_DECIDES, files=files, nginx_bin=nginx_bin, workdir=tmp_path / "ng") as server:
        assert https_get(server.port, "/", good(server, "1.2"), sni="a.test").body == "a.test TLSv1.2"
        if V >= Version(1, 29, 2):  # each server's ssl_protocols applies (measured on 1.30.6)
            assert https_get(server.port, "/", good(server, "1.3"), sni="a.test").body == "a.test TLSv1.3"
            return
        with pytest.raises(ssl.SSLError) as err:  # a.test lists TLSv1.3, the default server does not
            https_get(server.port, "/", good(server, "1.3"), sni="a.test")
        assert "PROTOCOL_VERSION" in str(err.value).upper().replace(" ", "_"), err.value
        findings = lint_running(server.conf_path)
    # the finding sits on the default server, whose ssl_protocols must change (F7.1)
    assert "MTLS222" in rules_in(findings, server.conf_path, "default")
