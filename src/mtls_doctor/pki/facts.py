"""Per-certificate facts, and the CA names nginx advertises for an ``ssl_client_certificate``.

Invariants of this module:
- pure: certificates (and an explicit ``at``) in, frozen dataclasses out; no I/O, no clock;
- names are RFC 4514 strings (``cryptography``'s ``rfc4514_string``: most specific RDN first,
  the same order as nginx's ``$ssl_client_s_dn``, F5 table in the facts sheet);
- times are UTC, ISO 8601 with ``Z``; ``days_left`` is whole days from ``at`` to notAfter,
  rounded down (negative once expired);
- hex values (serial, key identifiers, fingerprints) are uppercase without separators.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from mtls_doctor.pki.load import describe_public_key

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}

_KU_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)

#: signature algorithms OpenSSL at security level >= 1 refuses (MD5) or level >= 2 (SHA-1)
WEAK_SIGNATURE_HASHES = ("md2", "md4", "md5", "sha1")


#: attribute types outside RFC 4514's short list, named as OpenSSL (and so nginx's
#: $ssl_client_s_dn) names them instead of cryptography's dotted OIDs
_OPENSSL_NAMES = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.TITLE: "title",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.INITIALS: "initials",
    NameOID.PSEUDONYM: "pseudonym",
    NameOID.GENERATION_QUALIFIER: "generationQualifier",
    NameOID.DN_QUALIFIER: "dnQualifier",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.STREET_ADDRESS: "street",
    NameOID.X500_UNIQUE_IDENTIFIER: "x500UniqueIdentifier",
}


def dn(name: x509.Name) -> str:
    """RFC 4514 string (most specific first), attribute names as OpenSSL spells them."""
    try:
        return name.rfc4514_string(_OPENSSL_NAMES)
    except Exception:  # undecodable attribute values: never crash on a name
        return "<unprintable name>"


@dataclass(frozen=True)
class CertFacts:
    """What one certificate says, in the words an operator uses."""

    index: int
    subject: str
    issuer: str
    serial: str
    version: int
    not_before: str
    not_after: str
    days_left: int
    validity: str  # "valid", "expired", "not-yet-valid"
    key_type: str
    key_bits: int | None
    signature_algorithm: str
    signature_hash: str | None
    is_ca: bool
    path_length: int | None
    basic_constraints: bool
    self_issued: bool
    key_usage: tuple[str, ...] | None  # None: no keyUsage extension
    extended_key_usage: tuple[str, ...] | None  # None: no EKU extension
    subject_alt_names: tuple[str, ...]
    subject_key_id: str | None
    authority_key_id: str | None
    sha256: str
    sha1: str  # what nginx's $ssl_client_fingerprint shows (lowercase there)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}  # flat: no deep copy
        for key in ("key_usage", "extended_key_usage", "subject_alt_names"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return _utc(dt).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> Any:
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    except Exception:  # a malformed extension is reported as absent, never a crash
        return None


def _san(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    out = []
    for gn in value:
        if isinstance(gn, x509.DNSName):
            out.append(f"DNS:{gn.value}")
        elif isinstance(gn, x509.IPAddress):
            out.append(f"IP:{gn.value}")
        elif isinstance(gn, x509.RFC822Name):
            out.append(f"email:{gn.value}")
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append(f"URI:{gn.value}")
        elif isinstance(gn, x509.DirectoryName):
            out.append(f"DirName:{dn(gn.value)}")
        elif isinstance(gn, x509.RegisteredID):
            out.append(f"RID:{gn.value.dotted_string}")
        else:
            out.append(f"othername:{getattr(gn, 'type_id', gn)}")
    return tuple(out)


def _key_usage(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = [name for attr, name in _KU_NAMES if getattr(value, attr)]
    if value.key_agreement:
        if value.encipher_only:
            names.append("encipherOnly")
        if value.decipher_only:
            names.append("decipherOnly")
    return tuple(names)


def _eku(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in value)


def signature_hash_name(cert: x509.Certificate) -> str | None:
    try:
        algo = cert.signature_hash_algorithm
    except Exception:  # md2/md4 etc.: cryptography does not know them
        name = getattr(cert.signature_algorithm_oid, "_name", "").lower()
        for weak in ("md2", "md4", "md5"):
            if weak in name:
                return weak
        return None
    return algo.name if algo is not None else None


def _hex_serial(serial: int) -> str:
    """Uppercase hex with an even number of digits, as ``openssl x509 -serial`` and nginx's
    ``$ssl_client_serial`` (i2a_ASN1_INTEGER) print it."""
    digits = format(abs(serial), "X")
    digits = "0" + digits if len(digits) % 2 else digits
    return "-" + digits if serial < 0 else digits


def cert_facts(cert: x509.Certificate, index: int, at: datetime) -> CertFacts:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-positive serials and the like: rules judge them
        return _cert_facts(cert, index, at)


def _cert_facts(cert: x509.Certificate, index: int, at: datetime) -> CertFacts:
    at = _utc(at)
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    seconds = (na - at).total_seconds()
    days_left = int(seconds // 86400)
    validity = "expired" if at > na else "not-yet-valid" if at < nb else "valid"
    try:
        key_type, key_bits = describe_public_key(cert.public_key())
    except Exception:
        key_type, key_bits = "unknown", None
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    self_issued = cert.subject == cert.issuer
    # OpenSSL treats a v1 self-issued certificate without extensions as a CA (x509v3 check_ca).
    is_ca = bool(bc.ca) if bc is not None else (cert.version == x509.Version.v1 and self_issued)
    ski = _ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = _ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    der = cert.public_bytes(Encoding.DER)
    return CertFacts(
        index=index,
        subject=dn(cert.subject),
        issuer=dn(cert.issuer),
        serial=_hex_serial(cert.serial_number),
        version=cert.version.value + 1,
        not_before=iso(nb),
        not_after=iso(na),
        days_left=days_left,
        validity=validity,
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=getattr(cert.signature_algorithm_oid, "_name", None)
        or cert.signature_algorithm_oid.dotted_string,
        signature_hash=signature_hash_name(cert),
        is_ca=is_ca,
        path_length=bc.path_length if bc is not None else None,
        basic_constraints=bc is not None,
        self_issued=self_issued,
        key_usage=_key_usage(_ext(cert, ExtensionOID.KEY_USAGE)),
        extended_key_usage=_eku(_ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)),
        subject_alt_names=_san(_ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)),
        subject_key_id=ski.digest.hex().upper() if ski is not None else None,
        authority_key_id=aki.key_identifier.hex().upper()
        if aki is not None and aki.key_identifier is not None
        else None,
        sha256=hashlib.sha256(der).hexdigest().upper(),
        sha1=hashlib.sha1(der).hexdigest().upper(),
    )


def all_facts(certs: Sequence[x509.Certificate], at: datetime) -> tuple[CertFacts, ...]:
    return tuple(cert_facts(c, i, at) for i, c in enumerate(certs))


def _name_der(cert: x509.Certificate) -> bytes:
    return cert.subject.public_bytes()


def advertised_ca_names(certs: Iterable[x509.Certificate]) -> list[str]:
    """The CA names nginx sends for this ``ssl_client_certificate`` file (F1.1).

    Every certificate's subject, in file order, leaves and intermediates included; a subject
    equal to one already listed is skipped, as nginx does (its X509_NAME_cmp duplicate check;
    here: equal DER encodings).
    """
    seen: set[bytes] = set()
    out = []
    for cert in certs:
        der = _name_der(cert)
        if der in seen:
            continue
        seen.add(der)
        out.append(dn(cert.subject))
    return out


def ca_names_wire_size(certs: Iterable[x509.Certificate]) -> int:
    """Bytes of the certificate_authorities vector nginx would send (F1.1).

    ``DistinguishedName certificate_authorities<0..2^16-1>`` with each name a
    ``opaque DistinguishedName<1..2^16-1>`` (the DER of the subject): 2 bytes for the vector's
    length plus, per distinct name, 2 bytes of length and the DER. In TLS 1.3 the
    certificate_authorities extension adds 4 more bytes (type and length) around it.
    """
    seen: set[bytes] = set()
    size = 2
    for cert in certs:
        der = _name_der(cert)
        if der in seen:
            continue
        seen.add(der)
        size += 2 + len(der)
    return size


def colon_hex(value: str) -> str:
    """``AB12CD`` -> ``AB:12:CD`` (how openssl prints fingerprints)."""
    return ":".join(value[i : i + 2] for i in range(0, len(value), 2))


def crl_times(crl: x509.CertificateRevocationList) -> tuple[datetime, datetime | None]:
    """(thisUpdate, nextUpdate) of ``crl`` in UTC; nextUpdate is optional in X.509."""
    return crl.last_update_utc, crl.next_update_utc


def crl_in_time(crl: x509.CertificateRevocationList, at: datetime,
                until: datetime | None = None) -> bool:
    """thisUpdate <= at and nextUpdate (if any) after ``until`` (default ``at``)."""
    this, nxt = crl_times(crl)
    return this <= at and (nxt is None or nxt > (until or at))


def crl_replaced(crls: Sequence[x509.CertificateRevocationList], index: int, at: datetime,
                 until: datetime | None = None) -> bool:
    """Another CRL of the same issuer as ``crls[index]`` is in time at ``at`` (until ``until``).

    OpenSSL picks the best-scoring CRL of an issuer, and one within its validity period scores
    higher (OpenSSL ``get_crl_sk()``, CRL_SCORE_TIME): a stale CRL left next to a current one
    in the same ssl_crl file is never used (F6.1; measured: tests/truth/test_crl_truth.py).
    """
    crl = crls[index]
    return any(
        i != index and other.issuer == crl.issuer and crl_in_time(other, at, until)
        for i, other in enumerate(crls)
    )


__all__ = [
    "crl_times",
    "crl_in_time",
    "crl_replaced",
    "CertFacts",
    "dn",
    "cert_facts",
    "all_facts",
    "advertised_ca_names",
    "ca_names_wire_size",
    "signature_hash_name",
    "colon_hex",
    "iso",
    "WEAK_SIGNATURE_HASHES",
]
