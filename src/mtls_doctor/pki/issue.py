"""Issue certificates and CRLs for labs and tests: a tiny, obvious PKI over ``cryptography``.

In the spirit of python-trio/trustme (``CA()``, ``create_child_ca()``, ``issue_cert()``), but
with the knobs a client-certificate troubleshooter needs: path length, EKU present / absent /
wrong, validity windows in the past or the future, self-signed leaves and CRLs::

    root = CA.new("Lab Root CA", at=at)
    inter = root.child_ca("Lab Client CA", at=at, pathlen=0)
    good = inter.issue("alice", at=at, eku=(CLIENT_AUTH,))
    crl = inter.crl(at=at, revoked=(good.cert.serial_number,), number=2)

Invariants of this module:
- no I/O and no clock: every time is ``at`` plus an explicit offset (``not_before`` and
  ``not_after`` are ``timedelta`` offsets from ``at``); ``at`` must be timezone-aware;
- sane validity by default (CA 5 years, leaf 1 year, CRL 7 days), never 1000 years;
- every certificate carries SubjectKeyIdentifier and, except self-issued roots, an
  AuthorityKeyIdentifier (a self-signed certificate's AKI names its own key); every CRL carries a
  CRL Number and an AuthorityKeyIdentifier (RFC 5280 5.2.1, 5.2.3);
- keys are EC P-256 (default) or RSA 2048; signatures use SHA-256;
- results are frozen dataclasses; private keys never appear in ``repr``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]

KEY_TYPES = ("ec", "rsa")
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

CA_LIFETIME = timedelta(days=5 * 365)
LEAF_LIFETIME = timedelta(days=365)
CRL_LIFETIME = timedelta(days=7)
#: certificates start a little before ``at`` so that small clock skew does not matter
BACKDATE = timedelta(hours=1)

DEFAULT_ORG = "mtls-doctor lab"

#: keyUsage bit names accepted by ``issue(key_usage=...)`` (cryptography's KeyUsage fields)
KEY_USAGE_BITS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def new_key(key_type: str = "ec") -> PrivateKey:
    """A fresh private key: ``"ec"`` (P-256) or ``"rsa"`` (2048 bits, e=65537)."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}: use one of {', '.join(KEY_TYPES)}")


def key_type_of(key: PrivateKey) -> str:
    return "rsa" if isinstance(key, rsa.RSAPrivateKey) else "ec"


def name(common_name: str, org: str | None = DEFAULT_ORG) -> x509.Name:
    """A subject/issuer name ``O=<org>, CN=<common_name>`` (O omitted when ``org`` is None)."""
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime (e.g. datetime.now(timezone.utc))")
    return at.astimezone(timezone.utc)


def _key_usage(bits: Iterable[str]) -> x509.KeyUsage:
    chosen = set(bits)
    unknown = chosen - set(KEY_USAGE_BITS)
    if unknown:
        raise ValueError(f"unknown keyUsage bits: {', '.join(sorted(unknown))}")
    flags = {bit: bit in chosen for bit in KEY_USAGE_BITS}
    return x509.KeyUsage(encipher_only=False, decipher_only=False, **flags)


def _leaf_key_usage(key: PrivateKey) -> tuple[str, ...]:
    # RSA key exchange (TLS 1.2 RSA kx) also needs keyEncipherment; ECDSA only signs.
    if isinstance(key, rsa.RSAPrivateKey):
        return ("digital_signature", "key_encipherment")
    return ("digital_signature",)


def _san(names: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for value in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        except ValueError:
            if "@" in value:
                out.append(x509.RFC822Name(value))
            else:
                out.append(x509.DNSName(value))
    return out


def pem(*certs: x509.Certificate) -> bytes:
    """PEM text of the given certificates, concatenated in order."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a private key (write it with mode 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key (the key is never in ``repr``)."""

    cert: x509.Certificate
    key: PrivateKey = field(repr=False)

    @property
    def cert_pem(self) -> bytes:
        return pem(self.cert)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)


@dataclass(frozen=True)
class Leaf(KeyPair):
    """An end-entity certificate and its private key."""


@dataclass(frozen=True)
class CA(KeyPair):
    """A certificate authority: its certificate and signing key. Create roots with ``CA.new``."""

    @property
    def key_type(self) -> str:
        return key_type_of(self.key)

    @classmethod
    def new(
        cls,
        common_name: str,
        *,
        at: datetime,
        key_type: str = "ec",
        org: str | None = DEFAULT_ORG,
        pathlen: int | None = None,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        not_before: timedelta = -BACKDATE,
        not_after: timedelta = CA_LIFETIME,
    ) -> CA:
        """A self-signed root CA valid from ``at + not_before`` to ``at + not_after``."""
        key = new_key(key_type)
        subject = name(common_name, org)
        cert = _ca_builder(subject, subject, key.public_key(), key.public_key(), at, pathlen, eku,
                           not_before, not_after).sign(key, hashes.SHA256())
        return cls(cert, key)

    def child_ca(
        self,
        common_name: str,
        *,
        at: datetime,
        pathlen: int | None = 0,
        eku: Sequence[x509.ObjectIdentifier] | None = None,
        key_type: str | None = None,
        org: str | None = DEFAULT_ORG,
        not_before: timedelta = -BACKDATE,
        not_after: timedelta = CA_LIFETIME,
    ) -> CA:
        """An intermediate CA signed by this CA (basicConstraints pathlen, optional EKU)."""
        key = new_key(key_type or self.key_type)
        cert = _ca_builder(name(common_name, org), self.cert.subject, key.public_key(),
                           self.key.public_key(), at, pathlen, eku, not_before,
                           not_after).sign(self.key, hashes.SHA256())
        return CA(cert, key)

    def issue(
        self,
        common_name: str,
        *,
        at: datetime,
        sans: Sequence[str] = (),
        eku: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH,),
        key_usage: Sequence[str] | None = None,
        key_type: str | None = None,
        org: str | None = DEFAULT_ORG,
        not_before: timedelta = -BACKDATE,
        not_after: timedelta = LEAF_LIFETIME,
    ) -> Leaf:
        """A leaf signed by this CA.

        ``eku=None`` leaves the extendedKeyUsage extension out entirely (OpenSSL's ssl_client
        purpose accepts that, F6.3); ``key_usage=None`` picks digitalSignature (EC) or
        digitalSignature + keyEncipherment (RSA); ``key_usage=()`` omits keyUsage. ``sans``
        become DNS, IP or email subjectAltNames.
        """
        key = new_key(key_type or self.key_type)
        builder = _leaf_builder(name(common_name, org), self.cert.subject, key, self.key, at,
                                sans, eku, key_usage, not_before, not_after)
        return Leaf(builder.sign(self.key, hashes.SHA256()), key)

    def crl(
        self,
        *,
        at: datetime,
        revoked: Iterable[int] = (),
        number: int = 1,
        this_update: timedelta = -BACKDATE,
        next_update: timedelta = CRL_LIFETIME,
    ) -> x509.CertificateRevocationList:
        """A CRL of this CA listing ``revoked`` serials (revoked at ``at + this_update``).

        thisUpdate is ``at + this_update`` and nextUpdate ``at + next_update``; pass a negative
        ``next_update`` for an expired CRL (nginx then fails every client with 12, F6.1).
        """
        at = _utc(at)
        when = at + this_update
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(when)
            .next_update(at + next_update)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(_aki(self.key.public_key()), critical=False)
        )
        for serial in revoked:
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        return builder.sign(self.key, hashes.SHA256())


def self_signed(
    common_name: str,
    *,
    at: datetime,
    key_type: str = "ec",
    sans: Sequence[str] = (),
    eku: Sequence[x509.ObjectIdentifier] | None = (CLIENT_AUTH,),
    key_usage: Sequence[str] | None = None,
    org: str | None = DEFAULT_ORG,
    not_before: timedelta = -BACKDATE,
    not_after: timedelta = LEAF_LIFETIME,
) -> Leaf:
    """A self-signed leaf (basicConstraints CA:FALSE); OpenSSL reports it as error 18."""
    key = new_key(key_type)
    subject = name(common_name, org)
    builder = _leaf_builder(subject, subject, key, key, at, sans, eku, key_usage, not_before,
                            not_after)
    return Leaf(builder.sign(key, hashes.SHA256()), key)


def _aki(issuer_public_key) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key)


def _base(subject: x509.Name, issuer: x509.Name, public_key, issuer_public_key, at: datetime,
          not_before: timedelta, not_after: timedelta) -> x509.CertificateBuilder:
    at = _utc(at)
    start, end = at + not_before, at + not_after
    if end <= start:
        raise ValueError("not_after must come after not_before")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_aki(issuer_public_key), critical=False)
    )


def _ca_builder(subject, issuer, public_key, issuer_public_key, at, pathlen, eku, not_before,
                not_after) -> x509.CertificateBuilder:
    builder = (
        _base(subject, issuer, public_key, issuer_public_key, at, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
        .add_extension(_key_usage(("digital_signature", "key_cert_sign", "crl_sign")),
                       critical=True)
    )
    if eku is not None:
        # OpenSSL checks EKU on CA certificates too, trust anchors included (F6.3).
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder


def _leaf_builder(subject, issuer, key, issuer_key, at, sans, eku, key_usage, not_before,
                  not_after) -> x509.CertificateBuilder:
    builder = _base(subject, issuer, key.public_key(), issuer_key.public_key(), at, not_before,
                    not_after).add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                             critical=True)
    bits = _leaf_key_usage(key) if key_usage is None else tuple(key_usage)
    if bits:
        builder = builder.add_extension(_key_usage(bits), critical=True)
    if eku is not None:
        if not eku:
            raise ValueError("eku=() would be an empty extendedKeyUsage; use eku=None to omit it")
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(_san(sans)), critical=False)
    return builder
