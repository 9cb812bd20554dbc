"""Verify error codes no lab scenario produces, measured on real nginx 1.22.1 / OpenSSL 3.0.

Each case is a client chain built for one OpenSSL error: a signature by the wrong key (7), an
intermediate's pathlen exceeded (25), an RSA-1024 leaf (66, the security level applies to
client chains, F6.3), a SHA-1 signed leaf (68), a leaf used as a CA (79 then 26: nginx reports
26, the last error). For each, what real
nginx measured ($ssl_client_verify in the access log, status, the info line of F4.1) must equal:
- `verify_client` (pki/verify.py): the same verify string, status and log line;
- `logs` (logs/causes.py): the info line classified as `client-cert-verify-failed:<code>`;
- `logs/verify_codes.py`: a described code with the measured text.
"""

from __future__ import annotations

import os
import ssl
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from mtls_doctor.lab.nginx import NginxServer, parse_access_line
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.logs.causes import classify
from mtls_doctor.logs.parse import parse_line
from mtls_doctor.logs.verify_codes import describe
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules import bundle as bundle_rules
from mtls_doctor.pki.issue import CA, CLIENT_AUTH, SERVER_AUTH, key_pem, new_key, pem
from mtls_doctor.pki.verify import TrustSettings, verify_client
from mtls_doctor.pki import openssl_versions as ov
from tests.truth.util import AT, https_get, nginx_engine, nginx_release, wait_for_text

pytestmark = pytest.mark.nginx

HTTP = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    ssl_verify_depth 3;
    location / { return 200 "$ssl_client_verify"; }
}
"""


def _leaf(issuer_cert: x509.Certificate, signing_key, key, cn: str, digest=hashes.SHA256(),
          ca: bool = False, eku=(CLIENT_AUTH,), cert_sign: bool | None = None) -> x509.Certificate:
    """A certificate by hand (the lab issuer has no knob for these defects)."""
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, cn)]))
         .issuer_name(issuer_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(AT - timedelta(hours=1)).not_valid_after(AT + timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False))
    if cert_sign is not None:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, cert_sign, cert_sign,
                                          False, False), critical=True)
    return b.sign(signing_key, digest)


def _sha1_leaf(inter: CA, key, workdir: Path) -> x509.Certificate:
    d = workdir / "sha1"
    d.mkdir()
    for name, data in {"ca.pem": pem(inter.cert), "ca.key": key_pem(inter.key), "leaf.key": key_pem(key),
                       "ext.cnf": b"basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n"}.items():
        fd = os.open(d / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    run = dict(capture_output=True, timeout=30, check=True, cwd=d)
    subprocess.run(["openssl", "req", "-new", "-key", "leaf.key", "-subj", "/CN=lab sha1", "-out", "leaf.csr"], **run)
    subprocess.run(["openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-sha1", "-days", "30", "-extfile", "ext.cnf", "-out", "leaf.pem"], **run)
    cert = x509.load_pem_x509_certificate((d / "leaf.pem").read_bytes())
    assert cert.signature_hash_algorithm.name == "sha1"
    return cert


def _cases(pki, workdir: Path):
    inter = CA(pki.cas["inter"].cert, pki.cas["inter"].key)
    root = pki.cas["root"]
    cases = {}
    # 7: the issuer name of inter, signed by another key
    k = new_key("ec")
    cases["sigfail"] = (7, _leaf(inter.cert, new_key("ec"), k, "lab sigfail"), (inter.cert,), k)
    # 25: inter has pathlen 0, a CA below it issues the leaf
    sub = inter.child_ca("lab sub-CA under pathlen 0", at=AT, pathlen=None)
    leaf = sub.issue("lab pathlen", at=AT)
    cases["pathlen"] = (25, leaf.cert, (sub.cert, inter.cert), leaf.key)
    # 66: RSA-1024 leaf
    k = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cases["rsa1024"] = (66, _leaf(inter.cert, inter.key, k, "lab rsa1024"), (inter.cert,), k)
    # 68: SHA-1 signature on the leaf (the bundled OpenSSL refuses to sign SHA-1: the system
    # openssl CLI signs it)
    k = new_key("ec")
    cases["sha1"] = (68, _sha1_leaf(inter, k, workdir), (inter.cert,), k)
    # a leaf (CA:FALSE, EKU clientAuth) of the root (no pathlen limit) that signs another leaf:
    # OpenSSL raises 79 (invalid CA) then 26 (the sslclient purpose check of a CA fails for a
    # non-CA); nginx keeps the last error (F3.3), so 26 is what nginx reports, never 79
    mid_key = new_key("ec")
    mid = _leaf(root.cert, root.key, mid_key, "lab leaf used as CA")
    k = new_key("ec")
    cases["leaf-as-ca"] = (26, _leaf(mid, mid_key, k, "lab under a leaf"), (mid,), k)
    # MTLS108: a CA whose keyUsage lacks keyCertSign -> 79, 26, then 32 (the last, F2.4)
    k, mk = new_key("ec"), new_key("ec")
    mid = _leaf(root.cert, root.key, mk, "lab CA without keyCertSign", ca=True, cert_sign=False)
    cases["ca-no-keycertsign"] = (32, _leaf(mid, mk, k, "lab under no-keycertsign"), (mid,), k)
    # MTLS109: a CA whose EKU lacks clientAuth -> 26 (F6.3)
    k, mk = new_key("ec"), new_key("ec")
    mid = _leaf(root.cert, root.key, mk, "lab CA serverAuth only", ca=True, eku=(SERVER_AUTH,))
    cases["ca-server-eku"] = (26, _leaf(mid, mk, k, "lab under serverAuth CA"), (mid,), k)
    # MTLS110: an RSA-1024 CA -> 67
    k, mk = new_key("ec"), rsa.generate_private_key(public_exponent=65537, key_size=1024)
    mid = _leaf(root.cert, root.key, mk, "lab RSA-1024 CA", ca=True)
    cases["ca-rsa1024"] = (67, _leaf(mid, mk, k, "lab under RSA-1024 CA"), (mid,), k)
    return cases


#: the bundle rule that, on the client's chain file, claims each measured error
BUNDLE_RULE = {"rsa1024": "MTLS110", "sha1": "MTLS111", "ca-no-keycertsign": "MTLS108",
               "ca-server-eku": "MTLS109", "ca-rsa1024": "MTLS110"}
NAMES = ["sigfail", "pathlen", "rsa1024", "sha1", "leaf-as-ca", "ca-no-keycertsign",
         "ca-server-eku", "ca-rsa1024"]


@pytest.fixture(scope="module")
def measured(nginx_bin, tmp_path_factory):
    pki = build_lab_pki(AT)
    cases = _cases(pki, tmp_path_factory.mktemp("truth-sha1"))
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root.pem": pki.pem("root")}
    for name, (_, leaf, chain, key) in cases.items():
        files[f"clients/{name}.pem"] = pem(leaf, *chain)
        files[f"clients/{name}.key"] = key_pem(key)
    with NginxServer(HTTP, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-codes")) as server:
        answers = {}
        for name in cases:
            ctx = ssl.create_default_context(cafile=str(server.prefix / "ca/root.pem"))
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client load and send weak certs
            ctx.load_cert_chain(str(server.prefix / f"clients/{name}.pem"),
                                str(server.prefix / f"clients/{name}.key"))
            answers[name] = https_get(server.port, f"/?lab={name}", ctx)
        access_text = wait_for_text(server.read_access_log, "\n", len(cases))
        access = [parse_access_line(l) for l in access_text.splitlines() if l]
        error_log = wait_for_text(server.read_error_log, "verify error", len(cases))
    verify = {row["lab"]: row["verify"] for row in access}
    at = datetime.now(timezone.utc)  # the CLI-signed SHA-1 leaf starts "now": judge at measurement
    return pki, cases, answers, verify, error_log, at


@pytest.mark.parametrize("name", NAMES)
def test_verify_code_measured_and_predicted(measured, name):
    pki, cases, answers, verify, error_log, at = measured
    code, leaf, chain, _ = cases[name]
    got = verify[name]
    assert answers[name].status == 400 and "The SSL certificate error" in answers[name].body
    assert got.startswith("FAILED:"), got
    line = next(l for l in error_log.splitlines() if f"GET /?lab={name} " in l and "verify error" in l)
    assert f"verify error: ({code}:" in line, line  # the measured code is the one this case targets
    text = got[len("FAILED:"):]
    # the measured text of this nginx's OpenSSL release; logs/verify_codes.py knows 3.0's
    assert text == ov.text(code, nginx_release()), text
    assert describe(code, text).text == ov.text(code, ov.parse_release("3.0.0"))
    match = classify(parse_line(line))
    assert match is not None and match.cause.id == f"client-cert-verify-failed:{code}", line
    trust = TrustSettings(client_certificate=(pki.cas["root"].cert,), verify_depth=3)
    predicted = verify_client(leaf, chain, trust, at, **nginx_engine())
    assert (predicted.ssl_client_verify, predicted.status, predicted.error_code) == (got, 400, code)
    assert predicted.log_line is not None and predicted.log_line in line
    if name in BUNDLE_RULE:  # the bundle rule's stated nginx verdict is the measured one
        bundle = load_bytes(pem(leaf, *chain), f"{name}.pem")
        assert BUNDLE_RULE[name] in {f.rule for f in bundle_rules.check(bundle, "client", at)}


# Was a contradiction (docs/claims.md): explain.py blamed the EKU of a CA:FALSE issuer.
def test_purpose_error_at_a_non_ca_is_not_blamed_on_its_eku(measured):
    pki, cases, answers, verify, _, at = measured
    _, leaf, chain, _ = cases["leaf-as-ca"]
    mid = chain[0]
    eku = mid.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert CLIENT_AUTH in list(eku)  # the EKU is fine: only basicConstraints CA:FALSE is wrong
    assert verify["leaf-as-ca"] == f"FAILED:{ov.text(26, nginx_release())}"  # measured on nginx
    trust = TrustSettings(client_certificate=(pki.cas["root"].cert,), verify_depth=3)
    predicted = verify_client(leaf, chain, trust, at, **nginx_engine())
    assert predicted.ssl_client_verify == verify["leaf-as-ca"]  # the verdict is right...
    blamed_eku = "without clientAuth" in predicted.explanation or "clientAuth in it" in (predicted.fix or "")
    assert not blamed_eku, (predicted.explanation, predicted.fix)  # ...the explanation is not
