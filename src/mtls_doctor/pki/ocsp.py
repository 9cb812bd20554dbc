"""nginx's ``ssl_ocsp`` on a client chain that verified: which certificates it asks about, where,
and what ``$ssl_client_verify`` then says (F6.2, F2.3).

Measured on nginx 1.22.1, 1.26.3 and 1.30.6 against a real ``openssl ocsp`` responder on
127.0.0.1 (tests/verify/test_verify_ocsp.py, ``mtls_doctor.lab.ocsp``):

- OCSP runs only once the chain verified (X509_V_OK); otherwise the X.509 error is the answer;
- ``ssl_ocsp leaf`` asks about the leaf only; ``on`` about every certificate of the built chain
  but the trust anchor, leaf first; the first answer that is not "good" decides;
- the URL is ``ssl_ocsp_responder`` when set (it overrides the AIA of every certificate, also
  of one without AIA), else the certificate's AIA OCSP URL; without either nginx logs
  ``[error] no OCSP responder URL in certificate while SSL handshaking``;
- a host name in an AIA URL needs ``resolver``: without one ``[error] no resolver defined to
  resolve HOST while requesting certificate status``, a dead one ``HOST could not be resolved
  (110: Operation timed out)``, a live one works; an IP address needs none (a dead resolver did
  not matter for ``http://127.0.0.1:PORT/``); a host name in ``ssl_ocsp_responder`` needs none
  (nginx resolves it when it loads the configuration);
- answers: good -> ``SUCCESS``; revoked -> ``FAILED:certificate revoked``; unknown ->
  ``FAILED:certificate status unknown``; no URL, no resolver, a refused connection, an HTTP error
  or an invalid response (signed by a CA that did not issue the certificate: ``OCSP_basic_verify()
  failed``) -> ``FAILED:certificate status request failed``; each of them 400 with
  page 495 and the info line ``client SSL certificate verify error: REASON while reading client
  request headers`` (no "(code:...)" part, unlike X.509 errors);
- ``ssl_ocsp_cache``: a cached answer is used without asking again (a cached "good" stayed
  SUCCESS, a cached "revoked" stayed revoked, after the responder was stopped).

Invariants: no I/O and no clock (the responses are given as data, ``at`` is explicit); results
are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

OCSP_MODES = ("off", "on", "leaf")

#: $ssl_client_verify reasons of ngx_ssl_ocsp_get_status() (F2.3; measured 1.22.1/1.26.3/1.30)
REVOKED = "certificate revoked"
UNKNOWN = "certificate status unknown"
FAILED = "certificate status request failed"

#: what a responder answered for one certificate, as the CLI hands it in
ANSWERS = ("good", "revoked", "unknown", "unreachable", "invalid")

#: OCSP_check_validity(thisUpdate, nextUpdate, 300, -1) in ngx_ssl_ocsp_verify(): 5 minutes
_CLOCK_SKEW = timedelta(seconds=300)


@dataclass(frozen=True)
class OcspSettings:
    """``ssl_ocsp``, ``ssl_ocsp_responder``, whether a ``resolver`` is set, ``ssl_ocsp_cache``."""

    mode: str = "off"
    responder: str | None = None
    resolver: bool = False
    cache: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in OCSP_MODES:
            raise ValueError(f"ssl_ocsp must be one of {OCSP_MODES}, not {self.mode!r}")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OcspQuery:
    """One certificate nginx asks about: where, and what stops the request before it is sent."""

    depth: int
    subject: str
    url: str | None
    source: str | None  # "ssl_ocsp_responder" | "AIA" | None
    blocked: str | None  # the [error] line nginx logs when it cannot even ask

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OcspCheck:
    """A query and its answer (``ANSWERS``) with a plain-words detail."""

    query: OcspQuery
    answer: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.query.to_dict(), "answer": self.answer, "detail": self.detail}


@dataclass(frozen=True)
class OcspVerdict:
    """What nginx makes of the checks: ``reason`` None = SUCCESS."""

    reason: str | None
    checks: tuple[OcspCheck, ...]
    error_lines: tuple[str, ...]  # [error]-level lines nginx logs about the OCSP request
    explanation: str
    fix: str | None

    @property
    def ssl_client_verify(self) -> str:
        return "SUCCESS" if self.reason is None else f"FAILED:{self.reason}"

    @property
    def log_line(self) -> str | None:
        if self.reason is None:
            return None
        return (f"client SSL certificate verify error: {self.reason} while reading client "
                "request headers")

    def to_dict(self) -> dict[str, Any]:
        return {"ssl_client_verify": self.ssl_client_verify, "reason": self.reason,
                "checks": [c.to_dict() for c in self.checks],
                "error_lines": list(self.error_lines), "explanation": self.explanation,
                "fix": self.fix}


def aia_url(cert: x509.Certificate) -> str | None:
    """The first OCSP URL of the certificate's AIA (what nginx uses), or None."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                desc.access_location, x509.UniformResourceIdentifier):
            return desc.access_location.value
    return None


def needs_resolver(url: str) -> str | None:
    """The host name nginx must resolve for ``url`` at request time, None for an IP address."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:  # a malformed URL in a certificate: nginx cannot use it either
        return None
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        return host or None


def queries(settings: OcspSettings, chain: Sequence[x509.Certificate]) -> tuple[OcspQuery, ...]:
    """What nginx asks about for the verified ``chain`` (leaf first, trust anchor last)."""
    if not settings.enabled or not chain:
        return ()
    todo = chain[:1] if settings.mode == "leaf" else chain[:-1] if len(chain) > 1 else chain[:1]
    out = []
    for depth, cert in enumerate(todo):
        subject = cert.subject.rfc4514_string()
        if settings.responder:
            # parsed and resolved when the configuration is loaded (F6.2): no resolver needed
            url, source = settings.responder, "ssl_ocsp_responder"
        else:
            url, source = aia_url(cert), "AIA" if aia_url(cert) else None
        blocked = None
        if url is None:
            blocked = "no OCSP responder URL in certificate while SSL handshaking"
        elif source == "AIA" and not settings.resolver and needs_resolver(url):
            blocked = (f"no resolver defined to resolve {needs_resolver(url)} while requesting "
                       "certificate status")
        out.append(OcspQuery(depth, subject, url, source, blocked))
    return tuple(out)


def judge_response(der: bytes, cert: x509.Certificate, issuer: x509.Certificate,
                   at: datetime) -> tuple[str, str]:
    """(answer, detail) for a responder's DER answer about ``cert``, as nginx checks it
    (ngx_ssl_ocsp_verify: OCSP_basic_verify against the issuer or a delegated responder with
    id-kp-OCSPSigning issued by it, the CertID matching, OCSP_check_validity with 300 s)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    try:
        resp = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        return "invalid", f"not an OCSP response ({exc})"
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return "invalid", f"responder status {resp.response_status.name.lower()}"
    signer = _signer(resp, issuer)
    if signer is None:
        return "invalid", "the response is signed neither by the issuer nor by a responder it " \
                          "delegated (id-kp-OCSPSigning)"
    if not _signature_ok(signer, resp):
        return "invalid", "the response signature does not verify"
    for single in resp.responses:
        if single.serial_number != cert.serial_number:
            continue
        this_update = single.this_update_utc
        next_update = single.next_update_utc
        if this_update - _CLOCK_SKEW > at:
            return "invalid", f"thisUpdate {this_update:%Y-%m-%d %H:%M} is in the future"
        if next_update is not None and next_update + _CLOCK_SKEW < at:
            return "invalid", f"nextUpdate {next_update:%Y-%m-%d %H:%M} has passed"
        status = single.certificate_status
        if status == ocsp.OCSPCertStatus.GOOD:
            return "good", "the responder says good"
        if status == ocsp.OCSPCertStatus.REVOKED:
            when = single.revocation_time_utc
            return "revoked", f"revoked {when:%Y-%m-%d %H:%M} UTC" if when else "revoked"
        return "unknown", "the responder does not know this certificate"
    return "invalid", "the response holds no status for this certificate"


def _signer(resp: Any, issuer: x509.Certificate) -> x509.Certificate | None:
    def is_issuer(cert: x509.Certificate) -> bool:
        return cert.subject == issuer.subject and cert.public_key() == issuer.public_key()

    candidates = list(resp.certificates)
    if resp.responder_name is not None and resp.responder_name == issuer.subject:
        return issuer
    if resp.responder_key_hash is not None:
        for cert in [issuer, *candidates]:
            if _key_id(cert) == resp.responder_key_hash:
                if is_issuer(cert):
                    return issuer
                return cert if _delegated(cert, issuer) else None
    for cert in candidates:
        if resp.responder_name is not None and cert.subject == resp.responder_name:
            return issuer if is_issuer(cert) else cert if _delegated(cert, issuer) else None
    return None


def _key_id(cert: x509.Certificate) -> bytes:
    return x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest


def _delegated(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    if ExtendedKeyUsageOID.OCSP_SIGNING not in eku or cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _signature_ok(signer: x509.Certificate, resp: Any) -> bool:
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(),
                       resp.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(resp.signature, resp.tbs_response_bytes,
                       ec.ECDSA(resp.signature_hash_algorithm))
        else:
            key.verify(resp.signature, resp.tbs_response_bytes)  # Ed25519 / Ed448
    except (InvalidSignature, TypeError, ValueError):
        return False
    return True


def request_der(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """The OCSP request nginx sends about ``cert`` (SHA-1 CertID, no nonce)."""
    from cryptography.hazmat.primitives.serialization import Encoding

    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    return builder.build().public_bytes(Encoding.DER)


def verdict(settings: OcspSettings, checks: Sequence[OcspCheck]) -> OcspVerdict:
    """nginx's answer from the checks in query order: the first one not "good" decides."""
    errors: list[str] = []
    for check in checks:
        q = check.query
        if q.blocked:
            errors.append(q.blocked)
        elif check.answer == "unreachable":
            host = urlsplit(q.url or "").hostname
            errors.append(f"{check.detail} while requesting certificate status, responder: {host}")
            if "Connection refused" in check.detail:  # measured 1.22.1 / 1.26.3 / 1.30
                errors.append("OCSP responder prematurely closed connection while requesting "
                              f"certificate status, responder: {host}")
        if check.answer == "good":
            continue
        where = f"the certificate at depth {q.depth} ({q.subject})"
        if check.answer == "revoked":
            return OcspVerdict(REVOKED, tuple(checks), tuple(errors),
                               f"ssl_ocsp is {settings.mode}: the OCSP responder {q.url} says "
                               f"{where} is revoked ({check.detail}), so nginx answers 400 although "
                               "the chain verified (F6.2).",
                               "issue the client a new certificate; if the revocation is wrong, "
                               "correct it at the CA" + _depth_hint(settings, q))
        if check.answer == "unknown":
            return OcspVerdict(UNKNOWN, tuple(checks), tuple(errors),
                               f"ssl_ocsp is {settings.mode}: the OCSP responder {q.url} does not "
                               f"know {where}; nginx treats unknown as a failure (F6.2).",
                               "point ssl_ocsp_responder at the responder of the CA that issued "
                               "it, or have that responder's index include it"
                               + _depth_hint(settings, q))
        return OcspVerdict(FAILED, tuple(checks), tuple(errors),
                           f"ssl_ocsp is {settings.mode}: nginx could not get a usable OCSP "
                           f"answer for {where}: {q.blocked or check.detail}. ssl_ocsp fails "
                           "closed: no answer means 400 (F6.2).", _failed_fix(settings, q, check))
    cached = f" (ssl_ocsp_cache {settings.cache}: later connections reuse these answers until " \
             "they expire, F6.2)" if settings.cache else ""
    return OcspVerdict(None, tuple(checks), tuple(errors),
                       f"ssl_ocsp {settings.mode}: the responder says good for "
                       f"{len(checks)} certificate(s){cached}.", None)


def _depth_hint(settings: OcspSettings, q: OcspQuery) -> str:
    if settings.mode == "on" and q.depth > 0:
        return ("; or, if only the leaf should be checked, ssl_ocsp leaf; (on also asks about "
                "every intermediate)")
    return ""


def _failed_fix(settings: OcspSettings, q: OcspQuery, check: OcspCheck) -> str:
    if q.url is None:
        return ("name the responder: ssl_ocsp_responder http://HOST:PORT/; (the certificate has "
                "no AIA OCSP URL)")
    if q.blocked and "resolver" in q.blocked:
        return (f"add a resolver (resolver 127.0.0.53;) so nginx can resolve "
                f"{needs_resolver(q.url)}, or use an IP address in ssl_ocsp_responder")
    if check.answer == "unreachable":
        return (f"make the OCSP responder at {q.url} reachable from nginx (nginx fails closed "
                "while it is down; ssl_ocsp_cache keeps earlier good answers)")
    return f"fix the OCSP responder at {q.url}: {check.detail}"


def applies(result: Any, settings: OcspSettings) -> bool:
    """Whether nginx runs OCSP for this ``pki.verify.VerifyResult``: ssl_ocsp on/leaf and the
    chain verified (a certificate was sent and X509_V_OK, F6.2)."""
    return settings.enabled and result.ssl_client_verify == "SUCCESS" and bool(result.chain_der)


def certificates(result: Any) -> tuple[x509.Certificate, ...]:
    """The chain OpenSSL built for ``result`` as certificates, leaf first."""
    return tuple(x509.load_der_x509_certificate(der) for der in result.chain_der)


def apply(result: Any, settings: OcspSettings, checked: OcspVerdict) -> Any:
    """``result`` (a ``VerifyResult`` whose chain verified) with nginx's OCSP verdict on top:
    a failure turns it into 400 / page 495 with ``FAILED:REASON`` (F2.2, F2.3)."""
    import dataclasses

    data = {**checked.to_dict(), "settings": settings.to_dict()}
    if checked.reason is None:
        return dataclasses.replace(result, ocsp=data,
                                   explanation=f"{result.explanation} {checked.explanation}")
    return dataclasses.replace(
        result, ssl_client_verify=checked.ssl_client_verify, status=400, page=495,
        log_line=checked.log_line, explanation=checked.explanation, fix=checked.fix, ocsp=data)


__all__ = ["apply", "applies", "certificates","ANSWERS", "FAILED", "OCSP_MODES", "OcspCheck", "OcspQuery", "OcspSettings",
           "OcspVerdict", "REVOKED", "UNKNOWN", "aia_url", "judge_response", "needs_resolver",
           "queries", "request_der", "verdict"]
