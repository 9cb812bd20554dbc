"""MTLS214 leaves a server's plain listen alone when the server redirects plain requests with a
server-level ``if ($scheme = http) { return 301 https://...; }``: measured, the plain port answers
301 and never the content; the same server without the ``if`` serves the content there (200, no
certificate asked), which MTLS214 reports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from tests.truth.util import AT

pytestmark = pytest.mark.nginx

SERVER = """server {{ listen 127.0.0.1:@PORT{plain}@; listen 127.0.0.1:@PORT{tls}@ ssl; server_name {name};
    ssl_certificate certs/server.pem; ssl_certificate_key certs/server.key;
    ssl_verify_client on; ssl_client_certificate certs/root.pem;
    {redirect}
    location / {{ return 200 "PROTECTED\\n"; }} }}
"""
HTTP = (SERVER.format(plain=0, tls=1, name="redirects", redirect="if ($scheme = http) { return 301 https://$host$request_uri; }")
        + SERVER.format(plain=2, tls=3, name="serves", redirect=""))


def _plain_get(port: int, host: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.decode(errors="replace")


def test_plain_requests_redirected_by_scheme_if_are_not_a_bypass(nginx_bin, tmp_path):
    pki = build_lab_pki(AT)
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "certs/root.pem": pki.pem("root")}
    with NginxServer(HTTP, ports=4, files=files, nginx_bin=nginx_bin, workdir=tmp_path / "p") as nginx:
        redirected = _plain_get(nginx.ports[0], "redirects")
        served = _plain_get(nginx.ports[2], "serves")
        run = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", str(nginx.conf_path),
                              "--format", "json"], capture_output=True, text=True, timeout=60)
        lines = nginx.conf_path.read_text().splitlines()
    assert redirected.startswith("HTTP/1.1 301") and "PROTECTED" not in redirected, redirected
    assert served.startswith("HTTP/1.1 200") and "PROTECTED" in served, served
    fired = {f["location"]["line"] for f in json.loads(run.stdout)["findings"] if f["rule"] == "MTLS214"}
    at = {name: next(i for i, l in enumerate(lines, 1) if f"server_name {name};" in l)
          for name in ("redirects", "serves")}
    assert at["serves"] in fired and at["redirects"] not in fired, (fired, at)
