"""Client identities a probe can present: the user's certificate, or a throwaway one.

Invariants:
- a ``ClientIdentity`` holds a private key object only to sign this run's handshakes; its repr
  never shows the key, and nothing here writes or prints key material;
- the throwaway certificate is self-signed, made in memory, valid for one day around ``at``,
  with EKU clientAuth, and is never written anywhere;
- file problems raise ``InputError`` with one line (the CLI turns it into exit 2).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.model import InputError
from mtls_doctor.probe.model import ClientChainSummary

MAX_FILE = 1024 * 1024


@dataclass(frozen=True)
class ClientIdentity:
    cert: Any  # x509.Certificate
    key: Any = field(repr=False)  # private key object (never printed)
    chain: tuple[Any, ...] = ()  # intermediates sent after the leaf, nearest first

    def summary(self) -> ClientChainSummary:
        return ClientChainSummary(
            subject=self.cert.subject.rfc4514_string(),
            issuer=self.cert.issuer.rfc4514_string(),
            chain=tuple(
                (c.subject.rfc4514_string(), c.issuer.rfc4514_string(), c.subject == c.issuer)
                for c in self.chain
            ),
        )


_THROWAWAY: dict[str, ClientIdentity] = {}


def throwaway(at: dt.datetime) -> ClientIdentity:
    """A self-signed EC P-256 client certificate made in memory (cached per process)."""
    cached = _THROWAWAY.get("id")
    if cached is not None:
        return cached
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mtls-doctor throwaway probe")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - dt.timedelta(hours=1))
        .not_valid_after(at + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    identity = ClientIdentity(cert, key)
    _THROWAWAY["id"] = identity
    return identity


def _read(path: str, what: str) -> bytes:
    """At most ``MAX_FILE`` bytes of ``path`` (``-`` = stdin) through the bounded reader: a
    regular file or a pipe (read timeout), never a device or a directory."""
    from mtls_doctor.inputs import read_bytes

    return read_bytes(path, limit=MAX_FILE, what=what)


def _certs(data: bytes, path: str, what: str) -> list[Any]:
    from cryptography import x509

    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return list(x509.load_pem_x509_certificates(data))
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise InputError(f"{what} {path}: no readable certificate (PEM or DER)") from None


def _key(data: bytes, path: str, password: bytes | None) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password)
        return serialization.load_der_private_key(data, password)
    except TypeError:
        if password is not None:  # a password for a key that is not encrypted: not needed
            return _key(data, path, None)
        raise InputError(f"key {path}: encrypted; give --password") from None
    except ValueError:
        raise InputError(f"key {path}: no readable private key (or wrong password)") from None


def load_identity(
    cert: str | None = None,
    key: str | None = None,
    chain: str | None = None,
    pkcs12: str | None = None,
    password: bytes | None = None,
) -> ClientIdentity | None:
    """The user's identity from --cert/--key[/--chain] or --pkcs12; None when none was given."""
    if pkcs12:
        from cryptography.hazmat.primitives.serialization import pkcs12 as p12

        data = _read(pkcs12, "pkcs12")
        try:
            loaded = p12.load_pkcs12(data, password)
        except ValueError:
            raise InputError(f"pkcs12 {pkcs12}: unreadable or wrong --password") from None
        if loaded.key is None or loaded.cert is None:
            raise InputError(f"pkcs12 {pkcs12}: holds no certificate with its key")
        extra = tuple(c.certificate for c in loaded.additional_certs)
        return _checked(ClientIdentity(loaded.cert.certificate, loaded.key, extra), pkcs12)
    if not cert and not key:
        return None
    if not cert:
        raise InputError("--key needs --cert")
    certs = _certs(_read(cert, "certificate"), cert, "certificate")
    key_path = key or cert  # a PEM holding both is common
    private = _key(_read(key_path, "key"), key_path, password)
    extra = list(certs[1:])
    if chain:
        extra += _certs(_read(chain, "chain"), chain, "chain")
    return _checked(ClientIdentity(certs[0], private, tuple(extra)), cert)


def _checked(identity: ClientIdentity, source: str) -> ClientIdentity:
    from cryptography.hazmat.primitives import serialization

    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if identity.cert.public_key().public_bytes(enc, fmt) != identity.key.public_key().public_bytes(
        enc, fmt
    ):
        raise InputError(f"{source}: the private key does not belong to the certificate")
    return identity
