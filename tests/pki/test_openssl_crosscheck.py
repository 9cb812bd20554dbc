"""Parsed fields agree with the `openssl x509` CLI (the system OpenSSL) on the same files."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki.facts import cert_facts
from mtls_doctor.pki.load import load_path

from tests.pki.certs import AT, CLIENT_AUTH, make, pki

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
CA_STORE = Path("/etc/ssl/certs/ca-certificates.crt")


def openssl_fields(pem_file: Path) -> dict[str, object]:
    proc = subprocess.run(
        [
            OPENSSL, "x509", "-in", str(pem_file), "-noout", "-nameopt", "RFC2253,-esc_msb",
            "-subject", "-issuer", "-serial", "-startdate", "-enddate", "-fingerprint",
            "-sha256", "-ext", "subjectAltName", "-text",
        ],
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode("utf-8", "replace")
    fields: dict[str, object] = {}
    for line in out.splitlines():
        for key in ("subject", "issuer", "serial", "notBefore", "notAfter"):
            if line.startswith(key + "=") and key not in fields:
                fields[key] = line[len(key) + 1 :]
        if line.startswith("sha256 Fingerprint="):
            fields["sha256"] = line.split("=", 1)[1].replace(":", "")
    san = re.search(r"X509v3 Subject Alternative Name: ?\n\s+(.+)", out)
    fields["san"] = (
        [s.strip().replace("IP Address:", "IP:") for s in san.group(1).split(",")] if san else []
    )
    bits = re.search(r"Public-Key: \((\d+) bit\)", out)
    fields["bits"] = int(bits.group(1)) if bits else None
    return fields


def _date(text: str) -> str:
    dt = datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT")
    return dt.replace(tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_agree(cert, pem_file: Path) -> None:
    f = cert_facts(cert, 0, AT)
    o = openssl_fields(pem_file)
    assert f.subject == o["subject"]
    assert f.issuer == o["issuer"]
    assert f.serial == o["serial"]
    assert f.not_before == _date(str(o["notBefore"]))
    assert f.not_after == _date(str(o["notAfter"]))
    assert f.sha256 == o["sha256"]
    # DirName entries: openssl prints them in its /-separated oneline form, we in RFC 4514
    assert len(f.subject_alt_names) == len(o["san"])
    ours = [s for s in f.subject_alt_names if not s.startswith("DirName:")]
    assert ours == [s for s in o["san"] if not s.startswith("DirName:")]
    assert f.key_bits == o["bits"]


def test_lab_certificates_agree_with_openssl(tmp_path):
    p = pki()
    rsa = make("rsa client, with comma", p.inter, eku=[CLIENT_AUTH], rsa_bits=2048,
               san=["client.example", "10.0.0.1"])
    for i, made in enumerate([p.root, p.inter, p.leaf, p.server, rsa]):
        f = tmp_path / f"c{i}.pem"
        f.write_bytes(made.pem)
        (cert,) = load_path(f).certificates
        assert_agree(cert, f)


@pytest.mark.skipif(not CA_STORE.exists(), reason="no system CA store")
def test_system_ca_store_agrees_with_openssl(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    bundle = load_path(CA_STORE)
    assert len(bundle.certificates) > 50
    files = []
    for i, cert in enumerate(bundle.certificates):
        f = tmp_path / f"ca{i}.pem"
        f.write_bytes(cert.public_bytes(Encoding.PEM))
        files.append(f)
    # one openssl process per certificate, a few at a time; .result() re-raises any mismatch
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(assert_agree, c, f) for c, f in zip(bundle.certificates, files)]:
            future.result()


def test_trusted_certificate_block_loads(tmp_path):
    """`openssl x509 -trustout` writes TRUSTED CERTIFICATE (certificate + aux trust data)."""
    src = tmp_path / "root.pem"
    src.write_bytes(pki().root.pem)
    out = tmp_path / "trusted.pem"
    subprocess.run(
        [OPENSSL, "x509", "-in", str(src), "-trustout", "-addtrust", "clientAuth",
         "-out", str(out)],
        check=True, capture_output=True, timeout=30,
    )
    assert out.read_bytes().startswith(b"-----BEGIN TRUSTED CERTIFICATE-----")
    b = load_path(out)
    # the block is recorded (MTLS012: nginx < 1.27.2 refuses it in ssl_client_certificate, F1.5)
    assert [(p.kind, p.line, p.index) for p in b.problems] == [("trusted-certificate", 1, 0)]
    assert b.certificates == (pki().root.cert,)
