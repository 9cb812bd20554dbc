"""File-rule claims (MTLS001-010, MTLS003's "skipped block") against real nginx 1.22.1.

Each defective file is the `ssl_client_certificate` of a verifying server; `nginx -t` must give
the verdict the rule states (refuses the file, with the stated message, or loads it), and the
rule must fire on that very file. For the text-before-BEGIN case nginx starts, and s_client
shows that the skipped CA is neither advertised nor trusted (F1.1).
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.nginx.version import CA_FILES_READ_BY_NGINX
from mtls_doctor.rules import bundle as bundle_rules
from tests.conftest import nginx_argv
from tests.truth.util import AT, V, client_context, https_get, s_client, wait_for_text

pytestmark = pytest.mark.nginx

NO_CERT = "no certificate or crl found"


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(AT)


def _defects(pki) -> dict[str, tuple[bytes, str, bool, str | None]]:
    """name -> (file content, rule, nginx -t passes?, substring of nginx's message)."""
    root, inter = pki.pem("root"), pki.pem("inter")
    body = root.decode().split("\n")
    corrupt = "\n".join(body[:2] + [base64.b64encode(b"x" * 48).decode()] + body[3:]).encode()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a CSR")]))
           .sign(pki.clients["good"].key, hashes.SHA256()).public_bytes(Encoding.PEM))
    p12 = pkcs12.serialize_key_and_certificates(b"x", None, pki.cas["root"].cert, None,
                                                serialization.BestAvailableEncryption(b"pw"))
    return {
        "empty": (b"", "MTLS001", False, NO_CERT),
        "crlf": ((root + inter).replace(b"\n", b"\r\n"), "MTLS002", True, None),
        "end-begin-one-line": (root.rstrip(b"\n") + inter, "MTLS003", False, "bad end line"),
        "truncated-first": (root[: len(root) // 2] + b"\n" + inter, "MTLS004", False, "PEM routines"),
        "truncated-last": (root + inter[: len(inter) // 2], "MTLS004", False, "PEM routines"),
        "corrupt-der": (corrupt + inter, "MTLS005", False, "asn1 encoding routines"),
        "bad-base64": (root.replace(root.split(b"\n")[2][:8], b"!!!!!!!!", 1) + inter, "MTLS006", False,
                       "bad base64 decode"),
        "csr": (csr, "MTLS007", False, NO_CERT),
        "binary": (bytes(range(256)) * 4, "MTLS008", False, NO_CERT),
        "der": (pki.cas["root"].cert.public_bytes(Encoding.DER), "MTLS009", False, NO_CERT),
        "pkcs12": (p12, "MTLS010", False, NO_CERT),
    }


NAMES = ["empty", "crlf", "end-begin-one-line", "truncated-first", "truncated-last", "corrupt-der",
         "bad-base64", "csr", "binary", "der", "pkcs12"]


@pytest.mark.parametrize("name", NAMES)
def test_nginx_t_verdict_on_the_file_and_the_rule(name, pki, nginx_bin, tmp_path):
    data, rule, passes, message = _defects(pki)[name]
    (tmp_path / "ca.pem").write_bytes(data)
    (tmp_path / "s.pem").write_bytes(pki.server_chain_pem)
    (tmp_path / "s.key").write_bytes(pki.server.key_pem)
    (tmp_path / "s.key").chmod(0o600)
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/n.pid;\nerror_log stderr info;\nevents {{}}\nhttp {{\n    access_log off;\n"
        f"    server {{\n        listen 127.0.0.1:18666 ssl;\n        ssl_certificate {tmp_path}/s.pem;\n"
        f"        ssl_certificate_key {tmp_path}/s.key;\n        ssl_verify_client on;\n"
        f"        ssl_client_certificate {tmp_path}/ca.pem;\n    }}\n}}\n")
    done = subprocess.run(nginx_argv(nginx_bin, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert (done.returncode == 0) == passes, done.stderr
    if message and V >= CA_FILES_READ_BY_NGINX:  # nginx's own reader, one message for all
        assert f'cannot load certificate "{tmp_path}/ca.pem"' in done.stderr, done.stderr
    elif message:
        assert "SSL_CTX_load_verify_locations" in done.stderr and message in done.stderr, done.stderr
    codes = {f.rule for f in bundle_rules.check(load_bytes(data, "ca.pem"), "ca", AT)}
    assert rule in codes, codes


def test_text_before_begin_silently_drops_that_ca_mtls003(pki, nginx_bin, tmp_path):
    # root, then "junk-----BEGIN ..." for the intermediate: nginx -t passes (F1.1: only the
    # certificates OpenSSL loaded are trusted and advertised)
    data = pki.pem("root") + b"junk" + pki.pem("inter")
    assert "MTLS003" in {f.rule for f in bundle_rules.check(load_bytes(data, "ca.pem"), "ca", AT)}
    http = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate ca/junk.pem;
    location / { return 200 "$ssl_client_verify"; }
}
"""
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/junk.pem": data, "ca/root.pem": pki.pem("root"),
             "clients/good.pem": pki.clients["good"].cert_pem, "clients/good.key": pki.clients["good"].key_pem}
    with NginxServer(http, files=files, nginx_bin=nginx_bin, workdir=tmp_path / "ng") as server:
        out = s_client(server.port, "-tls1_2")
        names = out.split("Acceptable client certificate CA names", 1)[1].split("Requested Signature", 1)[0]
        inter_cn = pki.cas["inter"].cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        root_cn = pki.cas["root"].cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert root_cn in names and inter_cn not in names, names
        # the leaf alone, issued by the dropped intermediate: nginx cannot find its issuer (21);
        # had the intermediate loaded, depth 1 would verify leaf <- inter <- root (F3.2)
        p = server.prefix
        ctx = client_context(p / "ca/root.pem", p / "clients/good.pem", p / "clients/good.key")
        answer = https_get(server.port, "/", ctx)
        assert answer.status == 400 and "The SSL certificate error" in answer.body
        log = wait_for_text(server.read_error_log, "verify error")
        assert "verify error: (21:unable to verify the first certificate)" in log
