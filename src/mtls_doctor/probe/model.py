"""What a probe saw: frozen dataclasses and str enums, nothing else.

Invariants of this module:
- no I/O, no clock; every value is immutable and converts to plain JSON data with ``to_dict()``;
- an operational failure (refused, timeout, garbage, alert) is an ``Outcome`` value in an
  ``Attempt``, never an exception (STYLE habit 2, after sslyze's scan results);
- "no CertificateRequest" (``Attempt.certificate_request is None``) and "a CertificateRequest
  with an empty CA list" (``CertificateRequest.ca_names == ()``) are different values and are
  never conflated (facts F1.4, F8.2);
- a field that the libraries cannot observe is ``None`` and says so (``*_observed`` / ``notes``),
  it is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class CertKind(str, Enum):
    """Which client certificate an attempt offers when the server asks for one."""

    NONE = "none"
    SELF_SIGNED = "self-signed"  # a throwaway certificate made in memory for this run
    USER = "user"  # the certificate the user gave (--cert/--pkcs12)


class Outcome(str, Enum):
    """How an attempt ended, from the client's point of view."""

    HTTP_ANSWER = "http-answer"  # the handshake completed and an HTTP status line came back
    TLS_ALERT = "tls-alert"  # the server sent a TLS alert (during or after the handshake)
    CLOSED = "closed"  # the server closed the connection without an alert or an answer
    CONNECT_FAILED = "connect-failed"  # TCP refused / unreachable / DNS failure
    TIMEOUT = "timeout"  # a step exceeded its timeout (see Attempt.failed_step)
    NOT_TLS = "not-tls"  # the server answered with bytes that are not TLS (plain HTTP, garbage)
    TLS_ERROR = "tls-error"  # the local TLS stack refused (version, excessive message, ...)
    SERVER_UNTRUSTED = "server-untrusted"  # aborted on purpose: server failed verification (safety)
    NO_HTTP_ANSWER = "no-http-answer"  # handshake done, request sent, answer unparsable or empty
    SKIPPED = "skipped"  # not run (unreachable endpoint, or safety) - see Attempt.error
    #: stream (plain TLS) targets: the handshake completed and the server kept the session
    #: open (or sent application data) for the wait: the client was admitted (F0.4)
    SESSION_OPEN = "session-open"
    #: mail targets: the first line after the handshake came back (Attempt.app)
    APP_ANSWER = "app-answer"
    STARTTLS_FAILED = "starttls-failed"  # the plaintext STARTTLS dialogue did not get to TLS


@dataclass(frozen=True)
class AttemptSpec:
    """One cell of the matrix: which certificate, which SNI, which TLS version."""

    cert: CertKind
    sni: str | None  # None: no server_name extension
    tls: str  # "1.2", "1.3" or "auto" (the client offers 1.2 and 1.3)

    @property
    def label(self) -> str:
        sni = f"sni={self.sni}" if self.sni else "no-sni"
        return f"{self.cert.value:<11} {sni:<24} tls {self.tls}"

    def to_dict(self) -> dict[str, Any]:
        return {"cert": self.cert.value, "sni": self.sni, "tls": self.tls}


@dataclass(frozen=True)
class Step:
    """One rung of the handshake ladder, with what was seen there."""

    name: str  # "tcp", "client-hello", "server-hello", "server-certificate", ...
    ok: bool
    detail: str = ""
    ms: float | None = None  # wall time of the step, when it is a step of its own

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "ms": self.ms}


@dataclass(frozen=True)
class CertificateRequest:
    """A CertificateRequest the server sent (present means: received)."""

    ca_names: tuple[str, ...]  # RFC 4514, in wire order; () = an empty list (F1.4)
    #: TLS SignatureScheme names from the message; None when the message could not be read
    signature_algorithms: tuple[str, ...] | None = None
    #: TLS 1.2 ClientCertificateType names; None for TLS 1.3 (no such field) or not read
    certificate_types: tuple[str, ...] | None = None
    #: how the message content was read: "plaintext" (TLS 1.2), "decrypted" (TLS 1.3, from the
    #: handshake traffic secret of this connection), or "library-only" (only the CA names, from
    #: OpenSSL's parse; the message bytes were not available)
    source: str = "library-only"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ca_names": list(self.ca_names),
            "signature_algorithms": (
                list(self.signature_algorithms) if self.signature_algorithms is not None else None
            ),
            "certificate_types": (
                list(self.certificate_types) if self.certificate_types is not None else None
            ),
            "source": self.source,
        }


@dataclass(frozen=True)
class CertSummary:
    """The public facts of one certificate the server sent (its chain, leaf first)."""

    subject: str
    issuer: str
    not_before: str  # ISO 8601 UTC
    not_after: str
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    self_signed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_before": self.not_before,
            "not_after": self.not_after,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "self_signed": self.self_signed,
        }


@dataclass(frozen=True)
class VerifyError:
    depth: int
    code: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "code": self.code, "text": self.text}


@dataclass(frozen=True)
class ServerVerification:
    """How the server's own certificate verified against the client trust (OpenSSL + name)."""

    ok: bool
    errors: tuple[VerifyError, ...] = ()
    hostname: str | None = None  # the name checked (SNI / host), None when not checked

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": [e.to_dict() for e in self.errors],
            "hostname": self.hostname,
        }


@dataclass(frozen=True)
class Alert:
    """A TLS alert, as seen by the client."""

    direction: str  # "received" (from the server) or "sent" (by this client)
    level: str  # "warning" or "fatal"
    code: int
    name: str
    after_handshake: bool  # True: the handshake had completed on the client side (TLS 1.3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "level": self.level,
            "code": self.code,
            "name": self.name,
            "after_handshake": self.after_handshake,
        }


@dataclass(frozen=True)
class HttpAnswer:
    """The server's answer to the request sent over the same TLS connection."""

    status: int
    reason: str
    server: str | None = None  # the Server header
    #: the nginx special page recognised in the body: 496 "No required SSL certificate was
    #: sent", 495 "The SSL certificate error", 497 plain HTTP, or None (F2.5)
    page: int | None = None
    page_text: str | None = None
    body_excerpt: str = ""  # at most a few hundred characters, for the text view

    @property
    def is_nginx(self) -> bool:
        return self.page is not None or (self.server or "").lower().startswith("nginx")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "server": self.server,
            "page": self.page,
            "page_text": self.page_text,
            "body_excerpt": self.body_excerpt,
        }


@dataclass(frozen=True)
class Attempt:
    """One TCP connection: handshake, then (when it completed) one HTTP request."""

    spec: AttemptSpec
    outcome: Outcome
    steps: tuple[Step, ...] = ()
    failed_step: str | None = None  # the step that timed out / failed, when outcome says so
    error: str | None = None  # one line, for operational failures
    version: str | None = None  # negotiated protocol, e.g. "TLSv1.3"
    cipher: str | None = None
    server_chain: tuple[CertSummary, ...] = ()
    server_verification: ServerVerification | None = None
    #: None: NO CertificateRequest was received; a value: one was (maybe with no CA names)
    certificate_request: CertificateRequest | None = None
    #: subject of the certificate this client sent; None when it sent none (or an empty one)
    client_certificate_sent: str | None = None
    #: certificates in the Certificate message this client sent (leaf + chain), read back from
    #: the wire; 0 for an empty message, None when no Certificate message was sent
    client_certificates_sent: int | None = None
    #: the advertised CA name the sent chain names (by name, not signature), None if none
    client_chain_reaches: str | None = None
    alert: Alert | None = None
    http: HttpAnswer | None = None
    elapsed_ms: float = 0.0
    notes: tuple[str, ...] = ()
    #: mail targets: the reply after the handshake (probe.starttls.AppAnswer)
    app: Any = None

    @property
    def handshake_done(self) -> bool:
        return self.version is not None and any(
            s.name == "finished" and s.ok for s in self.steps
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "outcome": self.outcome.value,
            "failed_step": self.failed_step,
            "error": self.error,
            "version": self.version,
            "cipher": self.cipher,
            "certificate_request_received": self.certificate_request is not None,
            "certificate_request": (
                self.certificate_request.to_dict() if self.certificate_request else None
            ),
            "client_certificate_sent": self.client_certificate_sent,
            "client_certificates_sent": self.client_certificates_sent,
            "client_chain_reaches": self.client_chain_reaches,
            "server_chain": [c.to_dict() for c in self.server_chain],
            "server_verification": (
                self.server_verification.to_dict() if self.server_verification else None
            ),
            "alert": self.alert.to_dict() if self.alert else None,
            "http": self.http.to_dict() if self.http else None,
            "app": self.app.to_dict() if self.app else None,
            "steps": [s.to_dict() for s in self.steps],
            "elapsed_ms": round(self.elapsed_ms, 2),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Inference:
    """What the server enforces for one SNI setting, inferred from the attempts, with evidence.

    ``mode`` is one of MODES. nginx words (``off``, ``optional``, ``optional_no_ca``, ``on``) are
    used when the server's behaviour matches that nginx mode; ``tls-required`` means the TLS
    layer refuses a client without certificate (e.g. ``openssl s_server -Verify``);
    ``tls-optional`` a non-nginx server that asks but accepts anything (``s_server -verify``);
    ``on-without-request`` means the HTTP layer demands a certificate the handshake never asked
    for (the no-SNI default-server trap, F7.3); ``unknown`` when the attempts did not finish.
    """

    sni: str | None
    mode: str
    layer: str  # "none", "http" or "tls"
    certificate_request: bool | None
    evidence: tuple[str, ...] = ()
    per_version: tuple[tuple[str, str], ...] = ()  # (tls, mode) when versions were probed apart

    def to_dict(self) -> dict[str, Any]:
        return {
            "sni": self.sni,
            "mode": self.mode,
            "layer": self.layer,
            "certificate_request": self.certificate_request,
            "evidence": list(self.evidence),
            "per_version": [{"tls": t, "mode": m} for t, m in self.per_version],
        }


MODES = (
    "off",
    "optional",
    "optional_no_ca",
    "on",
    "on-without-request",
    "tls-required",
    "tls-optional",
    "unknown",
)


@dataclass(frozen=True)
class ClientChainSummary:
    """The user's certificate as public facts (no key material): for the CA-name judgements."""

    subject: str
    issuer: str
    #: (subject, issuer, self_signed) of each certificate the user supplied after the leaf
    chain: tuple[tuple[str, str, bool], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "chain": [{"subject": s, "issuer": i, "self_signed": ss} for s, i, ss in self.chain],
        }


@dataclass(frozen=True)
class ProbeResult:
    """Everything one ``probe`` run saw: the attempts, the inferences and the legacy check."""

    host: str
    port: int
    path: str
    primary_sni: str | None
    attempts: tuple[Attempt, ...]
    inferences: tuple[Inference, ...]  # the primary SNI setting first
    at: str  # ISO 8601 UTC time of the probe (for expiry judgements)
    legacy_tls: tuple[str, ...] | None = None  # versions < 1.2 accepted; None: not checked
    legacy_note: str | None = None
    client: ClientChainSummary | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    insecure: bool = False  # the user allowed an unverified server (--insecure)
    #: probe.offline.OfflineVerdict: nginx's verdict computed offline with --client-ca, or None
    offline: Any = None

    @property
    def primary(self) -> Inference | None:
        return self.inferences[0] if self.inferences else None

    def to_dict(self) -> dict[str, Any]:
        primary = self.primary
        cr = primary_request(self)
        return {
            "target": {"host": self.host, "port": self.port, "path": self.path},
            "primary_sni": self.primary_sni,
            "certificate_request": cr is not None,
            "ca_names": list(cr.ca_names) if cr else [],
            "inferred_mode": primary.mode if primary else "unknown",
            "inferences": [i.to_dict() for i in self.inferences],
            "legacy_tls_accepted": list(self.legacy_tls) if self.legacy_tls is not None else None,
            "legacy_tls_note": self.legacy_note,
            "client": self.client.to_dict() if self.client else None,
            "at": self.at,
            "insecure": self.insecure,
            "offline_verdict": self.offline.to_dict() if self.offline is not None else None,
            "notes": list(self.notes),
            "attempts": [a.to_dict() for a in self.attempts],
        }


def primary_request(result: ProbeResult) -> CertificateRequest | None:
    """The CertificateRequest of the primary variant (primary SNI, first attempt that got one)."""
    for attempt in result.attempts:
        if attempt.spec.sni == result.primary_sni and attempt.certificate_request is not None:
            return attempt.certificate_request
    return None
