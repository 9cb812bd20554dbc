"""MTLS214 leaves a server's plain listen alone when the server redirects plain requests with
``if ($scheme = http) { return 301 https://...; }`` (also ``$scheme != https``, ``$https = ""``,
or the same ``if`` in every location, as ingress-nginx's ssl-redirect renders it): measured, the
plain port answers 301/308 and never the content; the same server without the ``if`` serves the content there (200, no
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
    location / {{ {in_location} return 200 "PROTECTED\\n"; }} }}
"""
#: name -> (server-level redirect, location-level redirect); "serves" redirects nothing
FORMS = {
    "redirects": ("if ($scheme = http) { return 301 https://$host$request_uri; }", ""),
    "not-https": ("if ($scheme != https) { return 308 https://$host$request_uri; }", ""),
    "https-empty": ('if ($https = "") { return 301 https://$host$request_uri; }', ""),
    "per-location": ("", "if ($scheme = http) { return 308 https://$host$request_uri; }"),  # ingress-nginx
    "serves": ("", ""),
}
HTTP = "".join(SERVER.format(plain=2 * i, tls=2 * i + 1, name=name, redirect=top, in_location=loc)
               for i, (name, (top, loc)) in enumerate(FORMS.items()))


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
    with NginxServer(HTTP, ports=2 * len(FORMS), files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path / "p") as nginx:
        answers = {name: _plain_get(nginx.ports[2 * i], name) for i, name in enumerate(FORMS)}
        run = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", str(nginx.conf_path),
                              "--format", "json"], capture_output=True, text=True, timeout=60)
        lines = nginx.conf_path.read_text().splitlines()
    for name, answer in answers.items():
        if name == "serves":
            assert answer.startswith("HTTP/1.1 200") and "PROTECTED" in answer, answer
        else:
            assert answer.split()[1] in ("301", "308") and "PROTECTED" not in answer, (name, answer)
    fired = {f["location"]["line"] for f in json.loads(run.stdout)["findings"] if f["rule"] == "MTLS214"}
    at = {name: next(i for i, l in enumerate(lines, 1) if f"server_name {name};" in l) for name in FORMS}
    assert fired & set(at.values()) == {at["serves"]}, (fired, at)
