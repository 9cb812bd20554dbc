"""A small certificate factory for the pki/inspect tests (cryptography only, in memory).

Deliberately independent of ``mtls_doctor.pki.issue``: these tests need certificates that a
sane issuer never makes (SHA-1 signatures, 1024-bit RSA, CAs without keyCertSign, CA EKUs).
Every time is relative to ``AT``; private keys stay in memory.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

AT = datetime(2026, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


@functools.lru_cache(maxsize=None)
def rsa_key(bits: int, n: int = 0) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass(frozen=True)
class Made:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def key_pem(self, fmt: str = "pkcs8") -> bytes:
        f = {
            "pkcs8": serialization.PrivateFormat.PKCS8,
            "trad": serialization.PrivateFormat.TraditionalOpenSSL,
        }[fmt]
        return self.key.private_bytes(serialization.Encoding.PEM, f, serialization.NoEncryption())


def make(
    cn: str,
    issuer: Made | None = None,
    *,
    ca: bool = False,
    pathlen: int | None = None,
    not_before: timedelta = -DAY,
    not_after: timedelta = 365 * DAY,
    eku: Sequence[x509.ObjectIdentifier] | None = None,
    key_usage: dict[str, bool] | None = None,
    san: Sequence[str] = (),
    hash_alg: Any = None,
    key: Any = None,
    rsa_bits: int | None = None,
    basic_constraints: bool = True,
    serial: int | None = None,
    org: str | None = None,
) -> Made:
    """A certificate for ``cn`` issued by ``issuer`` (self-signed when None)."""
    if key is None:
        key = rsa_key(rsa_bits) if rsa_bits else ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    name = x509.Name(attrs)
    issuer_name = issuer.cert.subject if issuer else name
    signer = issuer.key if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(AT + not_before)
        .not_valid_after(AT + not_after)
    )
    if basic_constraints:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), True)
    ku = dict(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    if key_usage is not None:
        ku.update(key_usage)
    b = b.add_extension(x509.KeyUsage(**ku), True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    if san:
        names: list[x509.GeneralName] = []
        for s in san:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                names.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(names), False)
    b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
    )
    # Ed25519 signs without a separate hash (and deterministically: golden outputs use it)
    algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hash_alg or hashes.SHA256()
    cert = b.sign(signer, algo)
    return Made(cert, key)


@dataclass(frozen=True)
class Pki:
    root: Made
    inter: Made
    leaf: Made
    server: Made


@functools.lru_cache(maxsize=None)
def pki() -> Pki:
    """root -> inter (pathlen 0) -> leaf (clientAuth); root -> server (serverAuth, SANs)."""
    root = make("Test Root CA", ca=True, org="Test Org", not_before=-30 * DAY, not_after=3650 * DAY)
    inter = make("Test Client CA", root, ca=True, pathlen=0, org="Test Org", not_after=1800 * DAY)
    leaf = make("client one", inter, eku=[CLIENT_AUTH], org="Test Org")
    server = make("localhost", root, eku=[SERVER_AUTH], san=["localhost", "127.0.0.1"])
    return Pki(root, inter, leaf, server)


def cat(*parts: bytes) -> bytes:
    return b"".join(parts)


_RSA_SHA256 = bytes.fromhex("2a864886f70d01010b")  # 1.2.840.113549.1.1.11
_RSA_WEAK = {"sha1": bytes.fromhex("2a864886f70d010105"), "md5": bytes.fromhex("2a864886f70d010104")}


def weak_signed(cn: str, issuer: Made | None, weak: str = "sha1", **kw: Any) -> Made:
    """A certificate signed with SHA-1 or MD5 by an RSA ``issuer`` (cryptography refuses to make
    one, so: issue with SHA-256, swap the algorithm OIDs, re-sign the TBS by hand). RSA
    signature length does not depend on the hash, so every DER length stays the same."""
    from cryptography.hazmat.primitives.asymmetric import padding

    made = make(cn, issuer, **kw)
    signer = issuer.key if issuer is not None else made.key  # None: self-signed
    assert isinstance(signer, rsa.RSAPrivateKey)
    der = made.der
    assert der.count(_RSA_SHA256) == 2
    der = der.replace(_RSA_SHA256, _RSA_WEAK[weak])
    tbs = x509.load_der_x509_certificate(der).tbs_certificate_bytes
    algo = hashes.SHA1() if weak == "sha1" else hashes.MD5()
    sig = signer.sign(tbs, padding.PKCS1v15(), algo)
    old = made.cert.signature
    assert len(sig) == len(old) and der.endswith(old)
    cert = x509.load_der_x509_certificate(der[: -len(old)] + sig)
    return Made(cert, made.key)


def fixed_key(n: int) -> ed25519.Ed25519PrivateKey:
    """A deterministic Ed25519 key: same bytes in, same certificate bytes out."""
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32)
