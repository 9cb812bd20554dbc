"""What ``diagnose`` joins (Evidence) and what it concludes (RootCause): frozen data only.

Invariants of this module:
- no I/O and no clock: ``Evidence`` is filled by ``diagnose.collect`` (or by hand in tests) and
  carries its own instant ``at``; the core (``diagnose.core``) is a pure function of it;
- every evidence line says where it comes from (``source``: config, file, probe, logs, verify,
  nginx) and points at it precisely (``file:line``, ``path#index``, ``host:port``, log
  ``path:line``), as the findings do (STYLE habit 3);
- a ``RootCause.cause`` is a stable id from ``diagnose.causes.CAUSES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Mapping

from mtls_doctor.model import Finding, Fix

if TYPE_CHECKING:  # the seams, typed without importing the heavy modules at run time
    from cryptography.x509 import Certificate

    from mtls_doctor.diagnose.signals import UserSymptom
    from mtls_doctor.logs.summary import LogSummary
    from mtls_doctor.nginx.effective import Effective, Server
    from mtls_doctor.nginx.parse import Config
    from mtls_doctor.pki.verify import VerifyResult
    from mtls_doctor.probe.model import Attempt
    from mtls_doctor.rules.config.common import LoadedFile

SOURCES = ("config", "file", "probe", "logs", "verify", "nginx", "symptom")


@dataclass(frozen=True)
class Target:
    """Where the user's client connects, as far as the user said (None: not said).

    ``sni`` is the name the client sends (None: none, e.g. an IP address in the URL; only
    meaningful when ``sni_known``); ``host`` the Host header; ``request_server`` the server
    block the Host selects, ``handshake_server`` the one the SNI selects (the default server of
    the address without SNI or with an unknown name, F7.3); ``lands_on_default`` says whether
    the handshake falls back to the default server (None: unknown).
    """

    sni: str | None = None
    sni_known: bool = False
    host: str | None = None
    address: str | None = None  # the listen address the client reaches ("*:443")
    request_server: Server | None = None
    handshake_server: Server | None = None
    lands_on_default: bool | None = None
    sni_matches: bool | None = None  # the SNI names a server_name of the address
    why: str = ""  # how it was derived (--url IP, --sni, --server-name ...)

    @property
    def known(self) -> bool:
        return self.sni_known or self.host is not None


@dataclass(frozen=True)
class NginxInfo:
    """What ``nginx -V`` said (all optional: unknown stays None)."""

    binary: str | None = None
    version: str | None = None  # "1.22.1"
    openssl_built: str | None = None  # "OpenSSL 3.0.15 ..."
    openssl_running: str | None = None
    prefix: str | None = None  # --prefix=, where relative error_log paths resolve

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProbeEvidence:
    """The attempts against one listen address for one (SNI, Host) setting.

    ``server`` is the server block the Host header selects (the one the user means);
    ``handshake_server`` the block whose TLS settings the handshake got: the SNI one, or the
    default server of the address without SNI (F7.3). Both are ``nginx.effective.Server`` or None
    (remote probes).
    """

    host: str
    port: int
    sni: str | None
    host_header: str | None
    attempts: tuple[Attempt, ...]  # no certificate first, then the user's
    address: str | None = None  # the listen address in the configuration ("*:443")
    server: Server | None = None
    handshake_server: Server | None = None

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def label(self) -> str:
        sni = f"SNI {self.sni}" if self.sni else "no SNI"
        return f"{sni}, Host {self.host_header or '-'}"

    def attempt(self, cert: str) -> Attempt | None:
        """The attempt offering ``cert`` ("none", "user"), or None."""
        return next((a for a in self.attempts if a.spec.cert.value == cert), None)


@dataclass(frozen=True)
class VerifyEvidence:
    """The user's client certificate judged offline against one server's trust settings."""

    server: Server
    result: VerifyResult  # at the configured depth
    deeper: VerifyResult | None = None  # at a large depth, when the first failed with 2/20/22 (F3.3)
    chain_sent: int = 0  # intermediates the client sends after its leaf


@dataclass(frozen=True)
class LogEvidence:
    """The recent part of the error logs, grouped (``logs.summary.LogSummary``)."""

    summary: LogSummary
    paths: tuple[str, ...] = ()
    skipped_probe_lines: int = 0
    #: lines from before the last (re)start or reload of nginx, grouped apart (None: none)
    history: LogSummary | None = None
    #: where the last (re)start or reload was seen ("path:line"), or None
    restarted_at: str | None = None


@dataclass(frozen=True)
class Evidence:
    at: datetime
    nginx: NginxInfo | None = None
    config: Config | None = None
    eff: Effective | None = None
    files: Mapping[str, LoadedFile] = field(default_factory=dict)  # resolved path -> file
    lint: tuple[Finding, ...] = ()
    probes: tuple[ProbeEvidence, ...] = ()
    probe_findings: tuple[Finding, ...] = ()
    logs: LogEvidence | None = None
    log_findings: tuple[Finding, ...] = ()
    verifies: tuple[VerifyEvidence, ...] = ()
    client: tuple[Certificate, ...] = ()  # the user's leaf then the intermediates it sends
    client_source: str | None = None
    notes: tuple[str, ...] = ()
    target: Target = field(default_factory=Target)
    symptoms: tuple[UserSymptom, ...] = ()  # as the user gave them
    #: file path -> role ("server": ssl_certificate*, "ca": client CA/CRL files), for findings
    roles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EvidenceLine:
    source: str  # one of SOURCES
    location: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "location": self.location, "text": self.text}


@dataclass(frozen=True)
class RootCause:
    cause: str  # stable id (diagnose.causes)
    title: str
    rank: int  # 1 = most likely
    confidence: float  # 0..1, from the weight of the evidence (noisy-OR)
    summary: str  # one sentence about this occurrence
    evidence: tuple[EvidenceLine, ...]
    fix: Fix
    facts: tuple[str, ...] = ()
    server: str | None = None  # the server block it is about, when one

    def to_dict(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "title": self.title,
            "rank": self.rank,
            "confidence": round(self.confidence, 2),
            "summary": self.summary,
            "server": self.server,
            "evidence": [e.to_dict() for e in self.evidence],
            "fix": self.fix.to_dict(),
            "facts": list(self.facts),
        }


__all__ = ["Target", "NginxInfo", "ProbeEvidence", "VerifyEvidence", "LogEvidence", "Evidence",
           "EvidenceLine", "RootCause", "SOURCES"]
