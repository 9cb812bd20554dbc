"""CRL bundle rules (MTLS115-117) against real nginx 1.22.1, and lint reporting each CRL once.

- MTLS116 (crl-not-yet-valid, F6.1, F4.2): an intermediate CRL whose thisUpdate is a day ahead
  in `ssl_crl` fails a good client with 400 and `(11:CRL is not yet valid)`; the rule fires on
  that very file. (Error 12 for an expired CRL is the lab's `crl-expired` scenario.)
- MTLS115's exception: an expired intermediate CRL left next to the current one is not used
  (OpenSSL picks the CRL within its validity period): the good client gets SUCCESS, no finding.
- lint: an expired CRL in the `ssl_crl` of a verifying server is MTLS302 at the directive, not
  also MTLS115 at `path#index`; MTLS116 (which MTLS302 does not judge) stays.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules import bundle as bundle_rules
from tests.truth.util import AT, client_context, https_get, lint_running, wait_for_text

DAY = timedelta(days=1)

HTTP = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    ssl_certificate pki/server.pem;
    ssl_certificate_key pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate pki/root.pem;
    ssl_crl pki/crl.pem;
    location / { return 200 "$ssl_client_verify"; }
}
"""


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(AT)


def _crl(issued, this_update: timedelta, next_update: timedelta) -> bytes:
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(issued.cert.subject)
           .last_update(AT + this_update)
           .next_update(AT + next_update)
           .add_extension(x509.CRLNumber(7), critical=False)
           .sign(issued.key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


def _files(pki, crl: bytes) -> dict[str, bytes]:
    good = pki.clients["good"]
    return {"pki/server.pem": pki.server_chain_pem, "pki/server.key": pki.server.key_pem,
            "pki/root.pem": pki.pem("root"), "pki/crl.pem": crl,
            "clients/good.pem": good.chain_pem, "clients/good.key": good.key_pem}


@pytest.mark.nginx
def test_crl_not_yet_valid_fails_every_client_with_11_mtls116(pki, nginx_bin, tmp_path):
    crl = pki.crl_pem("root") + _crl(pki.cas["inter"], DAY, 8 * DAY)
    codes = {f.rule for f in bundle_rules.check(load_bytes(crl, "crl.pem"), "any", AT)}
    assert codes == {"MTLS116"}, codes
    with NginxServer(HTTP, files=_files(pki, crl), nginx_bin=nginx_bin,
                     workdir=tmp_path / "ng") as server:
        p = server.prefix
        ctx = client_context(p / "pki/root.pem", p / "clients/good.pem", p / "clients/good.key")
        answer = https_get(server.port, "/", ctx)
        assert answer.status == 400 and "The SSL certificate error" in answer.body, answer
        log = wait_for_text(server.read_error_log, "verify error")
        assert "(11:CRL is not yet valid)" in log, log
        findings = lint_running(server.conf_path)
    crl_path = str(p / "pki/crl.pem")
    assert [(f.rule, str(f.location)) for f in findings if f.rule.startswith("MTLS11")] == [
        ("MTLS116", f"{crl_path}#1")]


@pytest.mark.nginx
def test_stale_crl_beside_the_current_one_is_harmless_mtls115(pki, nginx_bin, tmp_path):
    crl = pki.crl_pem("root", "inter-expired", "inter")
    assert bundle_rules.check(load_bytes(crl, "crl.pem"), "any", AT) == ()
    with NginxServer(HTTP, files=_files(pki, crl), nginx_bin=nginx_bin,
                     workdir=tmp_path / "ng") as server:
        p = server.prefix
        ctx = client_context(p / "pki/root.pem", p / "clients/good.pem", p / "clients/good.key")
        answer = https_get(server.port, "/", ctx)
    assert (answer.status, answer.body) == (200, "SUCCESS"), answer


def test_lint_reports_an_expired_ssl_crl_once(pki, tmp_path):
    # no nginx needed: lint reads the files the configuration names
    crl = pki.crl_pem("root") + pki.crl_pem("inter-expired")
    for name, data in _files(pki, crl).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + HTTP.replace("@PORT0@", "8443")
                    .replace("pki/", f"{tmp_path}/pki/") + "}\n")
    codes = [f.rule for f in lint_running(conf)]
    assert codes.count("MTLS302") == 1 and "MTLS115" not in codes, codes
    # the same file named only by a server that does not verify: MTLS302 says nothing there,
    # so the file's own finding stays
    conf.write_text(conf.read_text().replace("ssl_verify_client on;", "ssl_verify_client off;"))
    codes = [f.rule for f in lint_running(conf)]
    assert "MTLS302" not in codes and codes.count("MTLS115") == 1, codes
