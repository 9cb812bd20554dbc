"""What the mail rules (MTLS260-262) and MTLS306 claim about nginx, measured on the real nginx at hand.

One nginx mail proxy on 127.0.0.1 (the dynamic mail module of the nginx at hand) asks a tiny
``auth_http`` server of this test, which records the headers it is sent and refuses every login
(``Auth-Status: Invalid login``). Measured on nginx 1.22.1 (and 1.26 / 1.30 by hand):

- ``starttls on`` on a plain listener with ``ssl_verify_client on``: ``LOGIN`` before STARTTLS is
  handed to the auth server with no ``Auth-SSL`` header at all (no TLS, no certificate asked):
  MTLS262; ``starttls only`` answers ``BAD invalid command`` and the auth server is not asked;
- ``optional`` with implicit TLS: a client without a certificate reaches the login, the auth
  server is asked with ``Auth-SSL-Verify: NONE`` with or without ``auth_http_pass_client_cert``
  (which adds only ``Auth-SSL-Cert``): MTLS261;
- ``nginx -t`` on a TLS mail server verifying without a CA file fails with F1.5's message for
  the version (MTLS260), and on ``ssl_ocsp_responder https://...`` with ``invalid URL prefix``
  (MTLS306).
"""

from __future__ import annotations

import http.server
import subprocess
import socket
import ssl
import threading
from datetime import datetime, timezone

import pytest

from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.nginx.version import SSL_OCSP_HTTP, TRUSTED_ONLY_OK
from tests.conftest import nginx_argv, nginx_module
from tests.rawnginx import RawNginx
from tests.truth.util import AT, TIMEOUT, V

pytestmark = pytest.mark.nginx

TLS = "ssl_certificate server.pem; ssl_certificate_key server.key; ssl_client_certificate ca.pem; ssl_verify_depth 2;"
#: name -> (listen suffix, server directives)
SERVERS = {
    "starttls-on": ("", "protocol imap; starttls on; ssl_verify_client on;"),
    "starttls-only": ("", "protocol imap; starttls only; ssl_verify_client on;"),
    "optional": (" ssl", "protocol imap; ssl_verify_client optional;"),
    "optional-pass": (" ssl", "protocol imap; ssl_verify_client optional; auth_http_pass_client_cert on;"),
}


class _Auth(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.seen.append(dict(self.headers))
        self.send_response(200)
        self.send_header("Auth-Status", "Invalid login or password")
        self.send_header("Auth-Wait", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def mail(nginx_bin, tmp_path_factory):
    if nginx_module(nginx_bin, "mail") is None:
        pytest.skip("no mail module for this nginx (libnginx-mod-mail)")
    w = tmp_path_factory.mktemp("mailtruth")
    pki = build_lab_pki(datetime.now(timezone.utc))
    files = {"server.pem": pki.server_chain_pem, "server.key": pki.server.key_pem,
             "ca.pem": pki.pem("root", "inter")}
    auth = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Auth)
    thread = threading.Thread(target=auth.serve_forever, daemon=True)
    thread.start()

    def body(free: tuple[int, ...]) -> str:
        ports.update(zip(SERVERS, free))
        servers = "".join(f"  server {{ listen 127.0.0.1:{ports[n]}{sfx}; {d} }}\n"
                          for n, (sfx, d) in SERVERS.items())
        return f"mail {{\n  auth_http 127.0.0.1:{auth.server_port}/auth;\n  {TLS}\n{servers}}}"

    ports: dict[str, int] = {}
    try:
        with RawNginx(nginx_bin, w, body, len(SERVERS), files, modules=("mail",)) as nginx:
            yield {"ports": ports, "seen": _Auth.seen, "conf": nginx.conf_path}
    finally:
        auth.shutdown()
        auth.server_close()


def _login(mail, name: str) -> tuple[str, dict | None]:
    """IMAP LOGIN (implicit TLS without a client certificate, or no TLS at all): nginx's
    reply and the headers the auth server was sent (None: it was not asked)."""
    before = len(mail["seen"])
    sock = socket.create_connection(("127.0.0.1", mail["ports"][name]), timeout=TIMEOUT)
    if SERVERS[name][0]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock)
    with sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"* OK")
        sock.sendall(b"a1 LOGIN user secret\r\n")
        reply = f.readline().decode(errors="replace").strip()
    asked = mail["seen"][before:]
    return reply, (asked[-1] if asked else None)


def test_starttls_on_hands_a_plain_login_to_the_auth_server_mtls262(mail):
    reply, headers = _login(mail, "starttls-on")
    assert headers is not None and not any(k.startswith("Auth-SSL") for k in headers), headers
    assert reply.startswith("a1 NO")
    reply, headers = _login(mail, "starttls-only")
    assert headers is None and reply == "a1 BAD invalid command"
    assert _rules_at(mail, "MTLS262") == {"starttls-on"}


def test_optional_leaves_certificate_less_logins_to_the_auth_server_mtls261(mail):
    for name in ("optional", "optional-pass"):
        reply, headers = _login(mail, name)
        assert headers is not None and headers.get("Auth-SSL-Verify") == "NONE", headers
        assert reply.startswith("a1 NO")
    # lint: the server without auth_http_pass_client_cert (nothing says the auth server checks)
    assert _rules_at(mail, "MTLS261") == {"optional"}


def _rules_at(mail, code: str) -> set[str]:
    """The lab servers (by name) at whose line lint reports ``code`` (one server per line)."""
    lines = mail["conf"].read_text().splitlines()
    by_line = {n: name for name, port in mail["ports"].items()
               for n, text in enumerate(lines, 1) if f":{port};" in text or f":{port} ssl;" in text}
    return {by_line.get(line, f"line {line}") for line in rules_in_file(mail["conf"], code)}


def _nginx_t(nginx_bin, tmp_path, text: str) -> str:
    conf = tmp_path / "t.conf"
    conf.write_text(f"pid {tmp_path}/p.pid;\nerror_log {tmp_path}/e.log;\n{text}")
    done = subprocess.run(nginx_argv(nginx_bin, "-t", "-p", f"{tmp_path}/", "-c", str(conf),
                                     "-e", str(tmp_path / "e.log")),
                          capture_output=True, text=True, timeout=30)
    return done.stderr


def _files(tmp_path) -> str:
    pki = build_lab_pki(AT)
    (tmp_path / "s.pem").write_bytes(pki.server_chain_pem)
    (tmp_path / "s.key").write_bytes(pki.server.key_pem)
    (tmp_path / "ca.pem").write_bytes(pki.pem("root", "inter"))
    return f"ssl_certificate {tmp_path}/s.pem; ssl_certificate_key {tmp_path}/s.key;"


def test_mail_verify_without_a_ca_is_refused_mtls260(nginx_bin, tmp_path):
    module = nginx_module(nginx_bin, "mail")
    if module is None:
        pytest.skip("no mail module for this nginx")
    cert = _files(tmp_path)
    text = (f"load_module {module};\nevents {{}}\nmail {{ auth_http 127.0.0.1:9/auth; {cert}\n"
            "  server { listen 127.0.0.1:1 ssl; protocol pop3;\n    ssl_verify_client on; }\n}\n")
    expected = ("no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client"
                if V >= TRUSTED_ONLY_OK else "no ssl_client_certificate for ssl_verify_client")
    assert expected in _nginx_t(nginx_bin, tmp_path, text)
    (tmp_path / "t.conf").write_text(text)
    assert rules_in_file(tmp_path / "t.conf", "MTLS260") == [5]


def test_https_ocsp_responder_is_refused_mtls306(nginx_bin, tmp_path):
    if V < SSL_OCSP_HTTP:
        pytest.skip("no ssl_ocsp before nginx 1.19.0")
    cert = _files(tmp_path)
    text = ("events {}\nhttp {\n  server { listen 127.0.0.1:1 ssl; " + cert +
            f" ssl_verify_client on; ssl_client_certificate {tmp_path}/ca.pem; ssl_ocsp on;\n"
            "    ssl_ocsp_responder https://127.0.0.1:9/; }\n}\n")
    assert 'invalid URL prefix in OCSP responder "https://127.0.0.1:9/"' in _nginx_t(nginx_bin, tmp_path, text)
    (tmp_path / "t.conf").write_text(text)
    assert rules_in_file(tmp_path / "t.conf", "MTLS306") == [4]


def rules_in_file(path, code: str) -> list[int]:
    from mtls_doctor.nginx.lint import lint_config
    from mtls_doctor.nginx.parse import load_path

    return sorted(f.location.line for f in lint_config(load_path(str(path)), AT, V).findings if f.rule == code)



HTTP_CONST = """
server { listen 127.0.0.1:@PORT0@ ssl; ssl_certificate certs/server.pem; ssl_certificate_key certs/server.key;
    ssl_verify_client optional; ssl_client_certificate ca/root-inter.pem;
    location /health { return 200 "ok"; }
    location /app {
        proxy_set_header X-SSL-Verified 1;
        proxy_pass http://127.0.0.1:@PORT1@; } }
server { listen 127.0.0.1:@PORT1@; location / { return 200 "app sees verified=$http_x_ssl_verified"; } }
"""


def test_constant_verified_flag_reaches_the_app_without_a_certificate_mtls412_mtls201(nginx_bin, tmp_path):
    """With optional, a client without a certificate gets the application's answer with the
    constant flag (MTLS412 there); the health check answers its constant text, the same for
    every client (MTLS201 names /app only)."""
    from mtls_doctor.lab.nginx import NginxServer
    from tests.truth.util import client_context, https_get

    pki = build_lab_pki(AT)
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root-inter.pem": pki.pem("root", "inter"), "ca/root.pem": pki.pem("root")}
    with NginxServer(HTTP_CONST, ports=2, files=files, nginx_bin=nginx_bin, workdir=tmp_path) as server:
        ctx = client_context(server.prefix / "ca/root.pem")
        port = server.ports[0]
        app = https_get(port, "/app", ctx)
        assert (app.status, app.body) == (200, "app sees verified=1")
        assert https_get(port, "/health", ctx).body == "ok"
        from mtls_doctor.nginx.lint import lint_config
        from mtls_doctor.nginx.parse import load_path

        lines = server.conf_path.read_text().splitlines()
        found = {(f.rule, lines[f.location.line - 1].strip()) for f in
                 lint_config(load_path(str(server.conf_path)), AT, V).findings if f.rule in ("MTLS412", "MTLS201")}
        assert ("MTLS412", "proxy_set_header X-SSL-Verified 1;") in found
        assert [f for f in lint_config(load_path(str(server.conf_path)), AT, V).findings
                if f.rule == "MTLS201" and "/health" in f.message] == []
        assert any(r == "MTLS201" for r, _ in found)
