"""MTLS232's swapped pair, measured: `ssl_certificate` naming the key file (and
`ssl_certificate_key` the certificate) makes real `nginx -t` fail with "cannot load
certificate", whatever the files are called, and lint says so at the `ssl_certificate` line.
Field case: github.com/tnc1997/samples/issues/46 (certificate and key swapped after a renewal)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mtls_doctor.lab.nginx import NginxConfigError, NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from tests.truth.util import AT

pytestmark = pytest.mark.nginx

HTTP = """server { listen 127.0.0.1:@PORT0@ ssl; server_name localhost;
    ssl_certificate certs/privkey.pem;
    ssl_certificate_key certs/fullchain.pem;
    return 200 "ok"; }
"""


def test_swapped_certificate_and_key_fail_nginx_t_and_lint_names_it(nginx_bin, tmp_path):
    pki = build_lab_pki(AT)
    files = {"certs/privkey.pem": pki.server.key_pem, "certs/fullchain.pem": pki.server_chain_pem}
    with pytest.raises(NginxConfigError) as refused:
        with NginxServer(HTTP, files=files, nginx_bin=nginx_bin, workdir=tmp_path / "p"):
            pass
    assert "cannot load certificate" in str(refused.value)
    conf = tmp_path / "p" / "nginx.conf"
    run = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", str(conf), "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    line = next(i for i, l in enumerate(conf.read_text().splitlines(), 1) if "ssl_certificate certs/" in l)
    found = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "MTLS232"]
    assert [f["location"]["line"] for f in found] == [line], found
    assert "swapped" in found[0]["message"] and "BEGIN" not in run.stdout
