"""nginx-tests' uwsgi_ssl_verify.t, ported as a differential of lint's upstream rules on
``uwsgi_pass suwsgi://`` (own configuration text).

github.com/nginx/nginx-tests/blob/master/uwsgi_ssl_verify.t checks ``uwsgi_ssl_verify`` against
upstream certificates made by the ``openssl`` CLI (the certificates of
test_nginx_tests_port_upstream.py here). nginx cannot serve uwsgi itself, so the upstream is a
small TLS server of this test on 127.0.0.1 that answers every request with an HTTP/1.0 status
line (what a uwsgi application server sends back); the TLS handshake, where the verification
happens, is the real one. For each location nginx's status and logged upstream error are
measured and lint must fire: MTLS243 (the IP of the URL is the name checked: 502), MTLS240
(nginx presents a certificate to an unverified upstream), none where nginx verifies and gets
the answer.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading

import pytest

from mtls_doctor.lab.nginx import NginxServer
from tests.verify.nginx_tests_port_lab import mtls_doctor
from tests.verify.test_nginx_tests_port_upstream import UPSTREAM_RULES, _get, _pki

pytestmark = pytest.mark.nginx

HTTP = """
server { listen 127.0.0.1:@PORT0@; server_name front; uwsgi_ssl_session_reuse off;
  location /ip/ { uwsgi_pass suwsgi://127.0.0.1:@UPSTREAM@; uwsgi_ssl_verify on; uwsgi_ssl_trusted_certificate pki/san.crt; include uwsgi_params_lab; }
  location /name/ { uwsgi_pass suwsgi://127.0.0.1:@UPSTREAM@; uwsgi_ssl_name example.com; uwsgi_ssl_verify on; uwsgi_ssl_trusted_certificate pki/san.crt; include uwsgi_params_lab; }
  location /unverified/ { uwsgi_pass suwsgi://127.0.0.1:@UPSTREAM@; uwsgi_ssl_certificate pki/end-int.crt; uwsgi_ssl_certificate_key pki/end.key; include uwsgi_params_lab; }
}
"""

#: location -> (status nginx answers, the rule lint must fire there or None)
ROWS = {"/ip/": (502, "MTLS243"), "/name/": (200, None), "/unverified/": (200, "MTLS240")}


class _TlsAnswerer:
    """127.0.0.1 TLS server: reads a request, answers ``HTTP/1.0 200 OK`` and closes."""

    def __init__(self, cert: str, key: str) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(3)
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(65536)
                    tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuwsgi\n")
            except (OSError, ssl.SSLError):
                conn.close()  # nginx refused our certificate: what is measured

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="module")
def server(nginx_bin, tmp_path_factory):
    files = _pki(tmp_path_factory.mktemp("uwsgi-pki"))
    files["uwsgi_params_lab"] = b"uwsgi_param REQUEST_METHOD $request_method;\n" \
                                b"uwsgi_param REQUEST_URI $request_uri;\n"
    workdir = tmp_path_factory.mktemp("uwsgi")
    (workdir / "pki").mkdir()
    for name in ("san.crt", "san.key"):
        (workdir / "pki" / name).write_bytes(files[f"pki/{name}"])
    upstream = _TlsAnswerer(str(workdir / "pki" / "san.crt"), str(workdir / "pki" / "san.key"))
    try:
        with NginxServer(HTTP.replace("@UPSTREAM@", str(upstream.port)), files=files,
                         nginx_bin=nginx_bin, workdir=workdir) as nginx:
            yield nginx
    finally:
        upstream.stop()


def test_lint_names_the_uwsgi_upstream_failure_nginx_really_has(server):
    code, out, err = mtls_doctor("lint", str(server.conf_path), "--nginx", server.nginx_bin,
                                 "--format", "json")
    assert code in (0, 1), err
    findings = json.loads(out)["findings"]
    lines = server.conf_path.read_text().splitlines()
    wrong = []
    for path, (expect, rule) in ROWS.items():
        status, body, log = _get(server, path)
        error = re.findall(r"\[error\].*?(upstream SSL[^,]*)", log)
        at = next(i for i, l in enumerate(lines, 1) if f"location {path} " in l)
        fired = {f["rule"] for f in findings
                 if f["location"].get("line") == at and f["rule"] in UPSTREAM_RULES}
        if status != expect or fired != ({rule} if rule else set()):
            wrong.append(f"{path}: nginx {status} {error[:1]} (expected {expect}); lint fired "
                         f"{sorted(fired)}, expected {rule}")
    assert not wrong, "\n".join(wrong)
    assert 'does not match "127.0.0.1"' in server.read_error_log()
