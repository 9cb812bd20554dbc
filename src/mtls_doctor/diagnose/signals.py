"""The evidence vocabulary root causes declare: signal kinds, probe observations, symptoms.

Invariants of this module (no I/O, closed sets declared once):
- a ``Signal`` says that one piece of evidence (a finding's rule code, a verify code of the
  user's certificate, a ``logs`` cause id, a probe ``Observation`` or a user ``Symptom``) RAISES
  a cause with a weight, or only SUPPORTS it when other evidence raised it;
- ``Symptom`` is the documented vocabulary of ``diagnose --symptom`` (``parse_symptom`` accepts
  the value or the text the user saw, e.g. the s_client line or the 400 page title);
- ``FAILED:<text>`` keeps the text; its OpenSSL code is resolved by ``logs.verify_codes`` (the
  text differs between OpenSSL versions, F2.3), not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from mtls_doctor.model import InputError


class Kind(str, Enum):
    FINDING = "finding"  # a lint, probe or log rule code (MTLSnnn)
    VERIFY = "verify"  # the OpenSSL code of the user's certificate judged offline (F4.2)
    LOG = "log"  # a `logs` cause id; verify ones as client-cert-verify-failed:<code>
    PROBE = "probe"  # an Observation of the live probes
    SYMPTOM = "symptom"  # what the user says they see (Symptom)


class Observation(str, Enum):
    """What the live probes can show, already joined with the configuration on disk."""

    UNREACHABLE = "unreachable"  # no TLS answer at the address
    NO_REQUEST_VERIFY_OFF = "no-request-verify-off"  # no CertificateRequest; disk: off (F1.2)
    NO_REQUEST_VERIFY_ON = "no-request-verify-on"  # no CertificateRequest; disk: verifies
    NO_REQUEST_NO_CONFIG = "no-request-no-config"  # no CertificateRequest; no config to compare
    EMPTY_NAMES_CANAMES = "empty-names-canames"  # empty CA list and Options -CANames (F1.6)
    EMPTY_NAMES_TRUSTED_ONLY = "empty-names-trusted-only"  # empty CA list, trusted-only (F1.4)
    EMPTY_NAMES_DISK_HAS = "empty-names-disk-has"  # empty list live, names in the file on disk
    EMPTY_NAMES_NO_CONFIG = "empty-names-no-config"
    NAMES_DIFFER_FROM_DISK = "names-differ-from-disk"  # live names != the CA file now (F1.1)
    ISSUER_NOT_ADVERTISED = "issuer-not-advertised"  # the user's issuer not among the names
    DEFAULT_NO_REQUEST = "default-no-request"  # where the client lands: no request, then 496
    DEFAULT_OTHER_NAMES = "default-other-names"  # where the client lands: another CA's names
    USER_REJECTED = "user-rejected"  # the user's certificate sent and answered 495
    USER_ACCEPTED = "user-accepted"  # the user's certificate sent and answered 200
    EDGE_CERTIFICATE = "edge-certificate"  # the URL answers with a certificate nginx does not have
    ALL_HANDSHAKES_FAIL = "all-handshakes-fail"  # TLS answered, the handshake failed (internal error)
    BACKEND_REJECTED_CERT = "backend-rejected-cert"  # with the user's cert the proxied answer fails
    MISDIRECTED = "misdirected"  # the user's own SNI and Host got 421 (F7.2)
    HANDSHAKE_REJECTED = "handshake-rejected"  # the user's handshake got unrecognized_name (112)
    UPSTREAM_CERT_PAGE = "upstream-cert-page"  # a 495/496 page where no server verifies: the upstream's


class Symptom(str, Enum):
    """``--symptom``: what the user sees, in their own tool's words."""

    NO_CA_NAMES = "no-ca-names"  # s_client: "No client certificate CA names sent" (F8.2)
    NO_CERTIFICATE_SENT = "400-no-certificate"  # "400 No required SSL certificate was sent"
    CERTIFICATE_ERROR = "400-certificate-error"  # "400 The SSL certificate error"
    PLAIN_HTTP = "400-plain-http"  # "400 The plain HTTP request was sent to HTTPS port"
    FAILED = "failed"  # $ssl_client_verify FAILED:<text>
    NONE_AT_BACKEND = "none-at-backend"  # the backend sees NONE / no certificate header
    BROWSER_NO_PROMPT = "browser-no-prompt"  # the browser never offers a certificate
    MISDIRECTED = "421"  # 421 Misdirected Request
    FORBIDDEN = "403"  # 403 Forbidden
    HANDSHAKE_ALERT = "handshake-alert"  # the TLS handshake fails with an alert
    BACKEND_REJECTS = "backend-rejects"  # the application behind nginx rejects the request
    BAD_REQUEST = "400"  # a 400 without saying which page
    BAD_GATEWAY = "502"  # 502 Bad Gateway: nginx could not talk to its upstream


#: what each symptom means (``--symptom`` help and docs/diagnose-causes.md)
SYMPTOM_HELP: dict[Symptom, str] = {
    Symptom.NO_CA_NAMES: 's_client prints "No client certificate CA names sent"',
    Symptom.NO_CERTIFICATE_SENT: 'a 400 page "No required SSL certificate was sent" (496)',
    Symptom.CERTIFICATE_ERROR: 'a 400 page "The SSL certificate error" (495)',
    Symptom.PLAIN_HTTP: 'a 400 page "The plain HTTP request was sent to HTTPS port" (497)',
    Symptom.FAILED: "$ssl_client_verify is FAILED:<text> (give it: --symptom 'FAILED:<text>')",
    Symptom.NONE_AT_BACKEND: "the backend sees $ssl_client_verify NONE or no certificate header",
    Symptom.BROWSER_NO_PROMPT: "the browser never asks for / offers a client certificate",
    Symptom.MISDIRECTED: "421 Misdirected Request",
    Symptom.FORBIDDEN: "403 Forbidden",
    Symptom.HANDSHAKE_ALERT: "the TLS handshake fails with an alert (handshake-alert:<name>)",
    Symptom.BACKEND_REJECTS: "the application behind nginx rejects the request (400/401/500)",
    Symptom.BAD_REQUEST: "a 400 Bad Request, page not given (the error log tells which)",
    Symptom.BAD_GATEWAY: "502 Bad Gateway from nginx (its upstream connection failed)",
}

#: free text a user pastes -> the symptom (lower case, first match wins)
_TEXTS: tuple[tuple[re.Pattern[str], Symptom], ...] = (
    (re.compile(r"no client certificate ca names sent"), Symptom.NO_CA_NAMES),
    (re.compile(r"no required ssl certificate|\b496\b"), Symptom.NO_CERTIFICATE_SENT),
    (re.compile(r"the ssl certificate error|\b495\b"), Symptom.CERTIFICATE_ERROR),
    (re.compile(r"plain http request was sent|\b497\b"), Symptom.PLAIN_HTTP),
    (re.compile(r"misdirected|\b421\b"), Symptom.MISDIRECTED),
    (re.compile(r"forbidden|\b403\b"), Symptom.FORBIDDEN),
    (re.compile(r"^none$|ssl_client_verify.*none|none at (the )?backend"), Symptom.NONE_AT_BACKEND),
    (re.compile(r"browser"), Symptom.BROWSER_NO_PROMPT),
    (re.compile(r"alert|handshake fail"), Symptom.HANDSHAKE_ALERT),
    (re.compile(r"\b502\b|bad gateway"), Symptom.BAD_GATEWAY),
    (re.compile(r"backend|upstream|application"), Symptom.BACKEND_REJECTS),
    (re.compile(r"\b400\b|bad request"), Symptom.BAD_REQUEST),
)


@dataclass(frozen=True)
class UserSymptom:
    """One parsed ``--symptom``: the symptom and its detail (FAILED text, alert name)."""

    symptom: Symptom
    detail: str | None = None

    def __str__(self) -> str:
        if self.symptom is Symptom.FAILED:
            return f"FAILED:{self.detail or ''}"
        return self.symptom.value + (f":{self.detail}" if self.detail else "")


def parse_symptom(text: str) -> UserSymptom:
    """A ``--symptom`` value: a vocabulary value, ``FAILED:<text>``, ``handshake-alert:<name>``
    or the words the user saw; anything else is an ``InputError`` (exit 2)."""
    raw = text.strip()
    low = raw.lower()
    if low.startswith("failed"):
        return UserSymptom(Symptom.FAILED, raw.split(":", 1)[1].strip() if ":" in raw else None)
    head, _, detail = low.partition(":")
    for symptom in Symptom:
        if head == symptom.value:
            return UserSymptom(symptom, detail.strip() or None)
    for pattern, symptom in _TEXTS:
        if pattern.search(low):
            return UserSymptom(symptom, raw if symptom is Symptom.HANDSHAKE_ALERT else None)
    known = ", ".join(s.value for s in Symptom)
    raise InputError(f"--symptom {text!r}: not understood (one of {known}, or FAILED:<text>)")


@dataclass(frozen=True)
class Signal:
    """One piece of evidence a cause declares: ``raises`` it with ``weight`` or supports it."""

    kind: Kind
    key: str
    weight: float
    raises: bool = True
    #: FINDING only: the role of the file the finding is about ("server": ssl_certificate,
    #: "ca": a client CA / CRL file); None: any
    role: str | None = None

    def describe(self) -> str:
        how = "raises" if self.raises else "supports"
        role = f" ({self.role} file)" if self.role else ""
        return f"{self.kind.value} `{self.key}`{role} {how} ({self.weight:g})"


def raises(kind: Kind, key: str | int | Enum, weight: float, role: str | None = None) -> Signal:
    return Signal(kind, _key(key), weight, True, role)


def supports(kind: Kind, key: str | int | Enum, weight: float = 0.25, role: str | None = None) -> Signal:
    return Signal(kind, _key(key), weight, False, role)


def _key(key: str | int | Enum) -> str:
    return key.value if isinstance(key, Enum) else str(key)


__all__ = ["Kind", "Observation", "Symptom", "SYMPTOM_HELP", "UserSymptom", "parse_symptom",
           "Signal", "raises", "supports"]
