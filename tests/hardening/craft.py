"""Hostile but OpenSSL-acceptable certificates, built byte by byte for the hardening tests.

Each helper returns real, signed DER that the system OpenSSL (and so nginx) accepts while
``cryptography`` refuses or mis-reads it. No key material is ever printed.
"""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + der_len(len(body)) + body


def _split(der: bytes, pos: int = 0) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the TLV at ``pos``."""
    tag, n = der[pos], der[pos + 1]
    if n < 0x80:
        return tag, pos + 2, pos + 2 + n
    k = n & 0x7F
    length = int.from_bytes(der[pos + 2:pos + 2 + k], "big")
    return tag, pos + 2 + k, pos + 2 + k + length


def children(der: bytes) -> list[bytes]:
    """The TLVs inside the SEQUENCE ``der``."""
    _, start, end = _split(der)
    out, pos = [], start
    while pos < end:
        _, s, e = _split(der, pos)
        out.append(der[pos:e])
        pos = e
    return out


def resign(tbs: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A Certificate around ``tbs``, signed with ecdsa-with-SHA256 by ``key``."""
    sig_alg = tlv(0x30, bytes.fromhex("06082a8648ce3d040302"))
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return tlv(0x30, tbs + sig_alg + tlv(0x03, b"\x00" + signature))


def ca(name: str = "hardening root") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def explicit_v1_leaf(issuer: x509.Certificate, issuer_key, cn: str = "localhost"
                     ) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    """A leaf whose TBSCertificate encodes ``version`` v1 explicitly (``a0 03 02 01 00``): BER,
    not DER (a DEFAULT value is present), which OpenSSL accepts and ``cryptography`` refuses.
    As a v1 certificate it carries no extensions."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    template = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .sign(issuer_key, hashes.SHA256())
    )
    tbs_fields = children(template.tbs_certificate_bytes)
    assert tbs_fields[0] == bytes.fromhex("a003020102"), "expected an explicit v3 version"
    tbs = tlv(0x30, bytes.fromhex("a003020100") + b"".join(tbs_fields[1:]))
    return resign(tbs, issuer_key), key


def pem(der: bytes, label: str = "CERTIFICATE") -> bytes:
    import base64

    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN " + label.encode() + b"-----\n" + b"\n".join(lines) + b"\n-----END " + label.encode() + b"-----\n"


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


PLACEHOLDER = "QQQQ"


def _swap(tbs: bytes, new: bytes) -> bytes:
    """Replace the UTF8String placeholder of a Name (``0c 04 QQQQ``) and fix the lengths
    around it by re-encoding: only same-length replacements are used here."""
    old = b"\x0c\x04" + PLACEHOLDER.encode()
    assert tbs.count(old) >= 1 and len(new) == 4
    return tbs.replace(old, b"\x0c\x04" + new)


def invalid_utf8_cert(issuer_key=None, where: str = "subject") -> bytes:
    """A self-issued certificate whose subject (or issuer) CN is a UTF8String holding bytes
    that are not UTF-8 (``ff fe fd fc``), correctly signed: OpenSSL parses it."""
    key = issuer_key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    odd = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PLACEHOLDER)])
    plain = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plain")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(odd if where == "subject" else plain)
        .issuer_name(odd if where == "issuer" else plain)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return resign(_swap(cert.tbs_certificate_bytes, b"\xff\xfe\xfd\xfc"), key)


def invalid_utf8_crl() -> bytes:
    """A CRL whose issuer CN is a UTF8String that is not UTF-8, correctly signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PLACEHOLDER)]))
        .last_update(now - dt.timedelta(days=1)).next_update(now + dt.timedelta(days=7))
        .sign(key, hashes.SHA256())
    )
    return resign(_swap(crl.tbs_certlist_bytes, b"\xff\xfe\xfd\xfc"), key)
