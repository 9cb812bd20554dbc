"""Judge a client certificate exactly as nginx would, offline: ``verify_client``.

The OpenSSL part runs in the system libcrypto (``mtls_doctor.pki.libcrypto``) with nginx's
settings; this module adds nginx's own layer on top of the raw verify result
(``ngx_http_process_request()``, ``ngx_ssl_get_client_verify()``):

- ``$ssl_client_verify``: ``NONE`` without a peer certificate, ``SUCCESS`` for X509_V_OK,
  else ``FAILED:<X509_verify_cert_error_string(rc)>`` (F2.3);
- the HTTP status per ``ssl_verify_client`` mode: 200, or 400 with the internal page 495 (verify
  error) / 496 (no certificate under ``on``) (F2.2, F2.5); ``optional_no_ca`` tolerates exactly
  the five errors of ``ngx_ssl_verify_error_optional()`` (F2.4);
- the info-level error-log line nginx writes when it rejects (F4.1);
- the plain-words explanation and the fix (``mtls_doctor.pki.explain``).

Invariants: no I/O and no clock (``at`` is explicit); results are frozen dataclasses with
``to_dict()``; reason texts are those of the system OpenSSL unless another version is asked for
(``reason_text``), and every result says which version its text belongs to.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.model import InputError
from mtls_doctor.pki import libcrypto, openssl_versions

VERIFY_CLIENT_MODES = ("on", "optional", "optional_no_ca", "off")

#: ngx_ssl_verify_error_optional() (src/event/ngx_event_openssl.h): the errors optional_no_ca
#: lets through with 200 (F2.4). Everything else is still a 400.
OPTIONAL_NO_CA_TOLERATED = frozenset({18, 19, 20, 27, 21})

#: nginx page titles of the internal codes (ngx_http_special_response.c, F2.5)
PAGES = {495: "The SSL certificate error", 496: "No required SSL certificate was sent"}

# ngx_http_process_request() log texts (F4.1); "while reading client request headers" is the
# log handler's context for that phase.
_CONTEXT = " while reading client request headers"
LOG_NO_CERT = "client sent no required SSL certificate" + _CONTEXT

def check_openssl_version(version: str | None) -> None:
    """Raise ValueError unless ``version`` is None or an OpenSSL release (1.1.1 or newer)."""
    if version is not None:
        try:
            openssl_versions.parse_release(version)
        except InputError as exc:
            raise ValueError(str(exc)) from None


def _release_of(label: str) -> openssl_versions.Release:
    """The release in an ``OpenSSL_version()`` label ("OpenSSL 3.0.19 27 Jan 2026")."""
    return openssl_versions.parse_release(label)


def reason_text(code: int, openssl_version: str | None = None, *, depth_exceeded: bool = False,
                engine: Any = None) -> tuple[int, str, str]:
    """(code, text, version label) as nginx linked against that OpenSSL would log them.

    ``engine``: the libcrypto that verified (default: this process's). ``openssl_version``
    None = that library's own numbering and text, exact. Another release: the code translated
    (``openssl_versions.translate``) and the measured text of that release; the label says it
    is a prediction from another library's verification.
    """
    engine = engine or libcrypto
    label = engine.openssl_version()
    if openssl_version is None:
        return code, engine.error_string(code), label
    check_openssl_version(openssl_version)
    source, target = _release_of(label), openssl_versions.parse_release(openssl_version)
    if source.series == target.series:
        return code, engine.error_string(code), f"OpenSSL {target} (text of {label})"
    stands_for, same_series = openssl_versions.nearest(target)
    new = openssl_versions.translate(code, source=source, target=target,
                                     depth_exceeded=depth_exceeded)
    basis = f"OpenSSL {stands_for}" if same_series else f"the nearest measured, OpenSSL {stands_for}"
    return new, openssl_versions.text(new, target), \
        f"OpenSSL {target} (approximate: predicted from {label}, texts of {basis})"


@dataclass(frozen=True)
class TrustSettings:
    """The trust side of one nginx server block, as x509 objects (CONTRACTS D).

    ``client_certificate``/``trusted_certificate``: the certificates of those files, file order.
    ``verify_depth``: ssl_verify_depth (nginx default 1, F3.1). ``crls``: the ssl_crl CRLs; when
    non-empty nginx sets CRL_CHECK|CRL_CHECK_ALL (F6.1). ``security_level``: the SSL_CTX's level
    (None = the system libssl's default, 2 on Debian).
    """

    client_certificate: tuple[x509.Certificate, ...] = ()
    trusted_certificate: tuple[x509.Certificate, ...] = ()
    verify_depth: int = 1
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    verify_client: str = "on"
    security_level: int | None = None

    def __post_init__(self) -> None:
        if self.verify_client not in VERIFY_CLIENT_MODES:
            raise ValueError(f"verify_client must be one of {VERIFY_CLIENT_MODES}")
        if self.verify_depth < 0:
            raise ValueError("verify_depth must be >= 0")


@dataclass(frozen=True)
class ChainEntry:
    """One certificate of the chain OpenSSL built, leaf first (depth 0)."""

    depth: int
    subject: str
    issuer: str
    source: str  # "client", "ssl_client_certificate", "ssl_trusted_certificate"
    role: str  # "leaf", "intermediate", "trust anchor", "top (no trust anchor)"
    self_signed: bool
    counts_against_depth: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ErrorEvent:
    """One error reported through nginx's verify callback (nginx logs these at debug)."""

    depth: int
    code: int
    text: str
    subject: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class VerifyResult:
    """nginx's verdict on one client certificate, and why."""

    ssl_client_verify: str | None  # None: no request was served (the handshake failed)
    status: int | None  # HTTP status on the wire; None when the handshake itself fails
    page: int | None  # 495 / 496, the internal code whose page nginx sends
    error_code: int  # the verify result nginx reads (SSL_get_verify_result), 0 = X509_V_OK
    error_text: str | None
    openssl_version: str  # the OpenSSL whose numbering and text error_code/error_text are
    log_line: str | None  # the info-level error-log line (F4.1), None when nginx logs nothing
    explanation: str
    fix: str | None
    chain: tuple[ChainEntry, ...] = ()
    errors: tuple[ErrorEvent, ...] = ()
    verify_client: str = "on"
    verify_depth: int = 1
    intermediates: int | None = None
    security_level: int = 2
    handshake_failed: bool = False
    notes: tuple[str, ...] = field(default=())
    ssl_client_s_dn: str | None = None  # $ssl_client_s_dn / _i_dn: RFC 2253, as nginx prints
    ssl_client_i_dn: str | None = None
    #: the DER of the chain OpenSSL built, leaf first (for ssl_ocsp: pki.ocsp); not in to_dict
    chain_der: tuple[bytes, ...] = field(default=(), repr=False)
    #: the ssl_ocsp checks and their verdict (pki.ocsp.OcspVerdict.to_dict()), None without OCSP
    ocsp: dict[str, Any] | None = None
    #: "http", "stream" or "mail" (pki.serverkind): the latter two answer without HTTP
    server_kind: str = "http"
    reply: str | None = None  # a mail server's reply to a rejected client (pki.serverkind)
    admitted: bool | None = None  # stream/mail: the session goes on (None for http: status)

    @property
    def accepted(self) -> bool:
        return self.admitted if self.admitted is not None else self.status == 200

    @property
    def page_title(self) -> str | None:
        return PAGES.get(self.page) if self.page else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ssl_client_verify": self.ssl_client_verify,
            "ssl_client_s_dn": self.ssl_client_s_dn,
            "ssl_client_i_dn": self.ssl_client_i_dn,
            "status": self.status,
            "accepted": self.accepted,
            "page": self.page,
            "page_title": self.page_title,
            "error": None if self.error_code == 0 and self.error_text is None else {
                "code": self.error_code, "text": self.error_text,
                "openssl_version": self.openssl_version},
            "log_line": self.log_line,
            "chain": [c.to_dict() for c in self.chain],
            "intermediates": self.intermediates,
            "verify_depth": self.verify_depth,
            "verify_client": self.verify_client,
            "security_level": self.security_level,
            "errors": [e.to_dict() for e in self.errors],
            "explanation": self.explanation,
            "fix": self.fix,
            "notes": list(self.notes),
            "openssl_version": self.openssl_version,
            "ocsp": self.ocsp,
            "server_kind": self.server_kind,
            "reply": self.reply,
        }


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


class Verifier:
    """Verify many client certificates against one trust configuration (one X509_STORE).

    ``verify_client()`` is the one-shot form. Close the verifier (or use ``with``) to free the
    store at once; it is also freed when the object is collected.
    """

    def __init__(self, trust: TrustSettings, *, openssl_version: str | None = None,
                 engine: Any = None, keep_chain: bool = False) -> None:
        """``engine``: the libcrypto that verifies: this process's (default) or a
        ``pki.remote.engine_for(path)`` (the very library an nginx uses: exact).
        ``openssl_version``: predict for that release instead (codes and texts translated from
        the engine's verification through ``openssl_versions``: approximate when its series
        differs from the engine's)."""
        check_openssl_version(openssl_version)  # validate early
        self.trust = trust
        #: keep the DER of the built chain in each result (``VerifyResult.chain_der``, for
        #: ssl_ocsp: pki.ocsp); off by default, so batches do not carry it between processes
        self.keep_chain = keep_chain
        self.engine = engine or libcrypto
        self.openssl_version = openssl_version
        self._translating = openssl_version is not None and \
            _release_of(self.engine.openssl_version()).series != \
            openssl_versions.parse_release(openssl_version).series
        self.security_level = (trust.security_level if trust.security_level is not None
                               else self.engine.default_security_level())
        self._origin: dict[bytes, str] = {}
        self._reasons: dict[int, tuple[int, str, str]] = {}
        for label, certs in (("ssl_trusted_certificate", trust.trusted_certificate),
                             ("ssl_client_certificate", trust.client_certificate)):
            for cert in certs:
                self._origin[_der(cert)] = label  # ssl_client_certificate wins for duplicates
        self._store = self.engine.Store(
            [_der(c) for c in (*trust.client_certificate, *trust.trusted_certificate)],
            [c.public_bytes(Encoding.DER) for c in trust.crls],
        )

    def close(self) -> None:
        self._store.close()

    def verify_many(self, items: Iterable[tuple[x509.Certificate | None,
                                                Sequence[x509.Certificate]]],
                    at: datetime, *, workers: int = 2) -> Iterator[VerifyResult]:
        """``verify`` over many (leaf, chain) pairs, results in input order.

        libcrypto runs without the GIL (ctypes releases it), and the X509_STORE may be shared
        by threads (as by an SSL_CTX's connections), so ``workers`` threads verify at once.
        OpenSSL 3.0's d2i_X509 and X509_verify_cert contend on library-wide locks and the
        Python half holds the GIL: two threads gained ~1.3x on two idle CPUs and were slower
        than one on a busy machine (bench/bench_verify.py). For files,
        ``mtls_doctor.pki.batch.verify_paths`` uses processes instead.
        """
        if workers <= 1:
            for leaf, chain in items:
                yield self.verify(leaf, chain, at)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(lambda item: self.verify(item[0], item[1], at), items)

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def exact(self) -> bool:
        """True when codes and texts are those of the verifying library itself."""
        return not self._translating

    def _reason(self, code: int, depth_exceeded: bool = False) -> tuple[int, str, str]:
        """``reason_text(code, self.openssl_version)``, computed once per code."""
        key = (code, depth_exceeded)
        known = self._reasons.get(key)
        if known is None:
            known = self._reasons[key] = reason_text(code, self.openssl_version,
                                                     depth_exceeded=depth_exceeded,
                                                     engine=self.engine)
        return known

    def verify(self, leaf: x509.Certificate | None, chain: Sequence[x509.Certificate],
               at: datetime, *, ders: Sequence[bytes] | None = None) -> VerifyResult:
        """nginx's verdict on ``leaf`` + the ``chain`` it sends, at ``at``.

        ``ders``: the DER encodings of leaf and chain, in that order, when the caller already
        holds them (a loader does): saves re-encoding each certificate.
        """
        from mtls_doctor.pki import explain

        trust = self.trust
        mode = trust.verify_client
        common = dict(verify_client=mode, verify_depth=trust.verify_depth,
                      security_level=self.security_level)
        version = self._reason(0)[2]
        if mode == "off" or leaf is None:
            return explain.no_certificate(mode, version, common)
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        if ders is None:
            leaf_der = _der(leaf)
            chain_der = [_der(c) for c in chain]
        else:
            if len(ders) != 1 + len(chain):
                raise ValueError("ders must hold the DER of the leaf and of each chain certificate")
            leaf_der, *chain_der = ders
        try:
            raw = self._store.verify(leaf_der, chain_der, depth=trust.verify_depth,
                                     at=int(at.timestamp()), security_level=self.security_level)
        except (libcrypto.DecodeError, self.engine.DecodeError):
            # OpenSSL cannot even decode what the client sends: the handshake fails with a
            # decode_error alert, before any HTTP request (no $ssl_client_verify, no 400).
            return VerifyResult(
                ssl_client_verify=None, status=None, page=None, error_code=0, error_text=None,
                openssl_version=version, log_line=None, handshake_failed=True,
                explanation="nginx's OpenSSL cannot parse a certificate the client sends, so "
                            "the TLS handshake fails before any request: no HTTP status, no "
                            "$ssl_client_verify (nginx logs the handshake failure at info).",
                fix="re-issue the client certificate (and its intermediates) with a standard "
                    "X.509 encoding.", **common)
        over = self._translating and raw.error != 0 and explain.depth_exceeded(
            explain.Case(leaf=leaf, chain=tuple(chain), trust=trust, raw=raw, at=at,
                         origin=self._origin, status=400, code=raw.error,
                         text=self.engine.error_string(raw.error),
                         security_level=self.security_level, text_of=self.engine.error_string))
        code, text, version = self._reason(raw.error, over)
        entries = _chain_entries(raw.chain, {leaf_der, *chain_der}, self._origin)
        events = tuple(
            ErrorEvent(e.depth, self._reason(e.error)[0], self._reason(e.error)[1],
                       _subject(e.cert_der))
            for e in raw.events)
        intermediates = sum(1 for e in entries if e.role == "intermediate") if entries and \
            entries[-1].role == "trust anchor" else None
        if raw.returned <= 0:
            status, page, verify, log_line = None, None, f"FAILED:{text}", None
        elif raw.error == 0:
            status, page, verify, log_line = 200, None, "SUCCESS", None
        elif mode == "optional_no_ca" and code in OPTIONAL_NO_CA_TOLERATED:
            # the code of the OpenSSL predicted for: 1.1.1's 22 for an exceeded depth is not
            # tolerated where 3.x's 20 is (measured on nginx 1.18.0 / OpenSSL 1.1.1w)
            status, page, verify, log_line = 200, None, f"FAILED:{text}", None
        else:
            status, page, verify = 400, 495, f"FAILED:{text}"
            log_line = f"client SSL certificate verify error: ({code}:{text}){_CONTEXT}"
        if raw.error == 0 and raw.returned > 0:
            why, fix = explain.success_text([e.subject for e in entries], trust.verify_depth,
                                            bool(trust.crls)), None
        else:
            why, fix = explain.explain(
                explain.Case(leaf=leaf, chain=tuple(chain), trust=trust, raw=raw, at=at,
                             origin=self._origin, status=status, code=code, text=text,
                             security_level=self.security_level,
                             text_of=lambda n: self._reason(n)[1]))
        return VerifyResult(
            ssl_client_verify=verify, status=status, page=page, error_code=code,
            error_text=text if raw.error else None, openssl_version=version, log_line=log_line,
            explanation=why, fix=fix, chain=entries, errors=events, intermediates=intermediates,
            handshake_failed=raw.returned <= 0,
            chain_der=tuple(c.der for c in raw.chain) if self.keep_chain else (),
            ssl_client_s_dn=raw.chain[0].subject if raw.chain else None,
            ssl_client_i_dn=raw.chain[0].issuer if raw.chain else None, **common)


def verify_client(leaf: x509.Certificate | None, chain: Sequence[x509.Certificate],
                  trust: TrustSettings, at: datetime, *,
                  openssl_version: str | None = None, engine: Any = None) -> VerifyResult:
    """nginx's verdict on ``leaf`` (+ the intermediates ``chain`` it sends) at time ``at``.

    ``leaf=None``: the client sent no certificate. ``openssl_version``/``engine``: as
    ``Verifier``.
    """
    with Verifier(trust, openssl_version=openssl_version, engine=engine) as verifier:
        return verifier.verify(leaf, chain, at)


def _subject(der: bytes | None) -> str | None:
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return None


def _chain_entries(chain: Sequence[libcrypto.ChainCert], sent: set[bytes],
                   origin: dict[bytes, str]) -> tuple[ChainEntry, ...]:
    out: list[ChainEntry] = []
    n = len(chain)
    for i, cc in enumerate(chain):
        der = cc.der
        source = origin.get(der) or ("client" if der in sent else "unknown")
        last = i == n - 1
        self_signed = cc.self_issued
        if i == 0:
            role = "leaf" if not (last and der in origin) else "trust anchor"
        elif last and der in origin:
            role = "trust anchor"
        elif last and not self_signed:
            role = "top (no trust anchor)"
        else:
            role = "intermediate"
        # F3.2: neither the leaf nor the trust anchor counts against ssl_verify_depth.
        counts = role in ("intermediate", "top (no trust anchor)") and i > 0
        out.append(ChainEntry(i, cc.subject, cc.issuer, source, role, self_signed, counts))
    return tuple(out)


__all__ = [
    "ChainEntry",
    "ErrorEvent",
    "OPTIONAL_NO_CA_TOLERATED",
    "PAGES",
    "TrustSettings",
    "VERIFY_CLIENT_MODES",
    "Verifier",
    "check_openssl_version",
    "VerifyResult",
    "reason_text",
    "verify_client",
]
