"""Issue 11, defect 11: a certificate or CRL whose Name holds invalid UTF-8 (a UTF8String with
bytes ff fe fd fc, correctly signed) is a finding or one line, never a traceback, in inspect,
verify, lint and diagnose. OpenSSL refuses such a file too (so nginx -t would fail)."""

from __future__ import annotations

import json

import pytest

from tests.hardening import craft
from tests.hardening.conftest import clean, cli
from tests.pki.certs import pki


@pytest.fixture()
def bad(tmp_path):
    paths = {
        "subject": craft.pem(craft.invalid_utf8_cert()),
        "issuer": craft.pem(craft.invalid_utf8_cert(where="issuer")),
        "crl": craft.pem(craft.invalid_utf8_crl(), "X509 CRL"),
    }
    out = {}
    for name, data in paths.items():
        out[name] = tmp_path / f"{name}.pem"
        out[name].write_bytes(data)
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(pki().root.pem + paths["subject"])
    out["mixed"] = mixed
    return out


@pytest.mark.parametrize("which", ["subject", "issuer", "crl"])
def test_inspect_of_an_invalid_utf8_name(bad, which):
    proc = cli("inspect", str(bad[which]))
    clean(proc, 2)
    assert "does not decode" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_inspect_reports_it_next_to_a_good_certificate(bad):
    proc = cli("inspect", str(bad["mixed"]), "--format", "json")
    clean(proc, 1)
    findings = json.loads(proc.stdout)["findings"]
    assert any(f["rule"] == "MTLS005" and "does not decode" in f["message"] for f in findings)


def test_verify_lint_diagnose_of_invalid_utf8_names(bad, tmp_path):
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pki().leaf.pem)
    clean(cli("verify", "--ssl-client-certificate", str(bad["mixed"]), str(leaf)), 0, 1)
    clean(cli("verify", "--ssl-client-certificate", str(bad["mixed"]), str(bad["subject"])), 2)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp {\n server {\n  listen 443 ssl;\n  server_name a.test;\n"
        f"  ssl_certificate {bad['subject']};\n  ssl_certificate_key {leaf};\n"
        f"  ssl_verify_client on;\n  ssl_client_certificate {bad['mixed']};\n"
        f"  ssl_crl {bad['crl']};\n }}\n}}\n")
    proc = cli("lint", str(conf), "--format", "json")
    clean(proc, 1)
    assert any("does not decode" in f["message"] for f in json.loads(proc.stdout)["findings"])
    clean(cli("diagnose", "--config", str(conf), "--no-probe"), 0, 1)
    clean(cli("verify", "--config", str(conf), "--server-name", "a.test", str(leaf)), 0, 1, 2)
