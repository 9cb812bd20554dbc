"""Live proof, on real nginx over loopback, of what two config rules claim.

- MTLS405: a location with its own proxy_set_header inherits none, so a client's own
  X-Client-DN reaches the backend (nginx proxy docs), while lint flags exactly that location;
- MTLS201: with `optional` and no check, a client without a certificate gets the content, also
  in a location nested in a checked one (rewrite-module `if` of an enclosing location does not
  run for a nested location).
Requests use the real curl CLI with timeouts; nginx is started and always stopped by
lab.nginx.NginxServer.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.nginx.lint import lint_config
from mtls_doctor.nginx.parse import load_path

AT = datetime.now(timezone.utc)


def http_body(ports: tuple[int, ...]) -> str:
    tls, backend = ports
    return f"""
server {{
    listen 127.0.0.1:{tls} ssl;
    server_name localhost;
    ssl_certificate pki/server.pem;
    ssl_certificate_key pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional;
    ssl_client_certificate pki/ca.pem;
    proxy_set_header X-Client-DN $ssl_client_s_dn;
    location /inherit/ {{ proxy_pass http://127.0.0.1:{backend}; }}
    location /api/ {{
        proxy_set_header Host $host;
        proxy_pass http://127.0.0.1:{backend};
    }}
    location /admin/ {{
        if ($ssl_client_verify != SUCCESS) {{ return 403; }}
        return 200 "admin";
        location /admin/reports/ {{ return 200 "reports"; }}
    }}
}}
server {{
    listen 127.0.0.1:{backend};
    location / {{ return 200 "dn=[$http_x_client_dn]"; }}
}}
"""


def curl(url: str) -> str:
    done = subprocess.run(["curl", "-sk", "--max-time", "5", "-H", "X-Client-DN: CN=admin", url],
                          capture_output=True, text=True, timeout=15)
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory, nginx_bin: str):
    from mtls_doctor.lab.nginx import NginxServer
    from mtls_doctor.lab.pki import build_lab_pki

    pki = build_lab_pki(AT)
    files = {"pki/server.pem": pki.server_chain_pem, "pki/server.key": pki.server.key_pem,
             "pki/ca.pem": pki.pem("root", "inter")}
    work = tmp_path_factory.mktemp("live")
    with NginxServer(http_body, ports=2, files=files, nginx_bin=nginx_bin, workdir=work / "n", keep=True) as srv:
        yield srv


def test_inherited_identity_header_overwrites_spoof(server) -> None:
    assert curl(f"https://127.0.0.1:{server.port}/inherit/") == "dn=[]"  # overwritten with the (empty) DN


def test_nested_location_escapes_the_parent_check(server) -> None:
    assert "403" in curl(f"https://127.0.0.1:{server.port}/admin/")
    assert curl(f"https://127.0.0.1:{server.port}/admin/reports/") == "reports"
    config = load_path(Path(server.conf_path))
    (finding,) = [f for f in lint_config(config, AT).findings if f.rule == "MTLS201"]
    assert "`location /admin/reports/`" in finding.message and "`location /admin/`" not in finding.message


def test_location_with_own_headers_passes_spoof_and_lint_flags_it(server) -> None:
    assert curl(f"https://127.0.0.1:{server.port}/api/") == "dn=[CN=admin]"  # the client's own header
    config = load_path(Path(server.conf_path))
    found = {(f.rule, f.location.line) for f in lint_config(config, AT).findings if f.rule in ("MTLS405", "MTLS201")}
    lines = Path(server.conf_path).read_text().splitlines()
    api_line = next(i for i, l in enumerate(lines, 1) if "location /api/" in l)
    optional_line = next(i for i, l in enumerate(lines, 1) if "ssl_verify_client optional" in l)
    assert found == {("MTLS405", api_line), ("MTLS201", optional_line)}
