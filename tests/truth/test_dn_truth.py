"""`$ssl_client_s_dn` / `$ssl_client_i_dn` formatting (section 5) on real nginx 1.22.1 against
what `verify_client` says nginx prints (VerifyResult.ssl_client_s_dn: "RFC 2253, as nginx prints").

Subjects with a comma, a multi-valued RDN, UTF-8 (nginx prints `\\XX` hex escapes), a leading
`#` and a trailing space: the measured value must equal the prediction byte for byte.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki.issue import CLIENT_AUTH, key_pem, new_key, pem
from mtls_doctor.pki.verify import TrustSettings, verify_client
from tests.truth.util import AT, client_context, https_get

pytestmark = pytest.mark.nginx

A = x509.NameAttribute
SUBJECTS = {
    "comma": x509.Name([A(NameOID.COUNTRY_NAME, "US"), A(NameOID.ORGANIZATION_NAME, "Test Org"),
                        A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Eng"),
                        A(NameOID.COMMON_NAME, "client zero, with comma")]),
    "multi-rdn-utf8": x509.Name([
        x509.RelativeDistinguishedName([A(NameOID.ORGANIZATION_NAME, "Test Org")]),
        x509.RelativeDistinguishedName([A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Ops"),
                                        A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Eng")]),
        x509.RelativeDistinguishedName([A(NameOID.COMMON_NAME, "José Ünïcode")])]),
    "specials": x509.Name([A(NameOID.ORGANIZATION_NAME, "a+b=c;d<e>\"f\"\\g"),
                           A(NameOID.COMMON_NAME, "#hash and trailing ")]),
}

HTTP = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    location = /s { return 200 "$ssl_client_s_dn"; }
    location = /i { return 200 "$ssl_client_i_dn"; }
}
"""


def _issue(issuer, subject: x509.Name):
    key = new_key("ec")
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(AT - timedelta(hours=1)).not_valid_after(AT + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([CLIENT_AUTH]), critical=False)
            .sign(issuer.key, hashes.SHA256()))
    return cert, key


@pytest.fixture(scope="module")
def measured(nginx_bin, tmp_path_factory):
    pki = build_lab_pki(AT)
    inter = pki.cas["inter"]
    issued = {name: _issue(inter, subject) for name, subject in SUBJECTS.items()}
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root.pem": pki.pem("root")}
    for name, (cert, key) in issued.items():
        files[f"clients/{name}.pem"] = pem(cert, inter.cert)
        files[f"clients/{name}.key"] = key_pem(key)
    out = {}
    with NginxServer(HTTP, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-dn")) as server:
        for name in issued:
            p = server.prefix
            ctx = client_context(p / "ca/root.pem", p / f"clients/{name}.pem", p / f"clients/{name}.key")
            s_dn = https_get(server.port, "/s", ctx)
            i_dn = https_get(server.port, "/i", ctx)
            assert s_dn.status == i_dn.status == 200
            out[name] = (s_dn.body, i_dn.body)
    return pki, issued, out


def test_known_nginx_format_for_comma_and_utf8(measured):
    _, _, out = measured
    assert out["comma"][0] == "CN=client zero\\, with comma,OU=Eng,O=Test Org,C=US"  # facts section 5
    assert out["multi-rdn-utf8"][0] == "CN=Jos\\C3\\A9 \\C3\\9Cn\\C3\\AFcode,OU=Ops+OU=Eng,O=Test Org"


@pytest.mark.parametrize("name", list(SUBJECTS))
def test_verify_predicts_the_dn_nginx_prints(measured, name):
    pki, issued, out = measured
    cert, _ = issued[name]
    trust = TrustSettings(client_certificate=(pki.cas["root"].cert,))
    result = verify_client(cert, (pki.cas["inter"].cert,), trust, AT)
    assert result.ssl_client_verify == "SUCCESS"
    assert (result.ssl_client_s_dn, result.ssl_client_i_dn) == out[name]
