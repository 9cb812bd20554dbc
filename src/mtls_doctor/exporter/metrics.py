"""Prometheus metric families from probe outcomes and local file facts (pure: no I/O, no clock).

Invariants:
- every name starts with ``mtls_``, follows Prometheus' conventions (base units: seconds,
  bytes; ``_timestamp_seconds`` for points in time; booleans are 0/1 gauges; a closed set is
  a state set) and is documented in ``docs/exporter.md`` (a test checks both ways);
- label values come only from closed sets (steps, modes, verify classes) or from names the
  configuration defines (identities, local sources, paths the nginx configuration names): never
  a DN, a serial, a fingerprint or anything the server chooses. Changing CA names are a hash
  value, not a label;
- a value that was not observed is absent, never a made-up 0 (an expiry of a certificate that
  was not seen, a CA-name count without a CertificateRequest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from enum import Enum
from typing import Iterable, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric, StateSetMetricFamily

from mtls_doctor.exporter.run import IdentityOutcome, LocalFacts, ProbeOutcome, probe_version
from mtls_doctor.probe.matrix import gate
from mtls_doctor.exporter.config import EXPORTER_MODES
from mtls_doctor.probe.model import Attempt, CertKind, Outcome, primary_request

#: the steps of one attempt timed on their own (probe.handshake: "tcp", "finished", "http")
STEPS = {"tcp": "tcp", "finished": "handshake", "http": "http"}
#: nginx modes in which a certificate that passed is a verified one (F2.2)
VERIFYING_MODES = ("on", "optional", "on-444")


class VerifyClass(str, Enum):
    """What ``$ssl_client_verify`` was for an identity, as far as the answer shows (F2.2, F2.5)."""

    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    NONE = "NONE"
    UNKNOWN = "unknown"


def verify_class(attempt: Attempt | None, mode: str) -> VerifyClass:
    """496 page: no certificate arrived (NONE); 495: FAILED; a pass is SUCCESS only in a mode
    that rejects failures (on/optional), NONE when no certificate was sent."""
    verdict = gate(attempt)
    if attempt is None:
        return VerifyClass.UNKNOWN
    if verdict == "reject-496":
        return VerifyClass.NONE
    if verdict == "reject-495":
        return VerifyClass.FAILED
    if verdict == "pass":
        if attempt.client_certificate_sent is None:
            return VerifyClass.NONE
        if mode in VERIFYING_MODES:
            return VerifyClass.SUCCESS
    return VerifyClass.UNKNOWN


def names_hash(names: Sequence[str]) -> float:
    """A stable 48-bit hash of a CA-name list in order (exact as a float64 sample value)."""
    digest = hashlib.sha256("\n".join(names).encode("utf-8")).digest()
    return float(int.from_bytes(digest[:6], "big"))


def _ts(when: dt.datetime | str | None) -> float | None:
    if when is None:
        return None
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


def _gauge(name: str, doc: str, value: float | None, unit: str = "") -> list[Metric]:
    if value is None:
        return []
    g = GaugeMetricFamily(name, doc, unit=unit)
    g.add_metric([], float(value))
    return [g]


def _baseline(outcome: ProbeOutcome) -> Attempt | None:
    result = outcome.result
    if result is None or not result.attempts:
        return None
    version = probe_version(result, outcome.module)
    for a in result.attempts:
        if a.spec.cert is CertKind.NONE and a.spec.sni == result.primary_sni and (
                version is None or a.spec.tls == version):
            return a
    return result.attempts[0]


def inferred_mode(outcome: ProbeOutcome) -> str:
    """The probe engine's mode, refined for fronts that close without an answer.

    nginx ``return 444`` (NGINX Gateway Fabric renders it for 495/496) closes the connection
    after the handshake and the request, with no alert and no bytes: the engine reads a close
    after a CertificateRequest as a TLS-layer rejection (``tls-required``) and a front that
    closes everything as ``unknown``. A TLS-layer rejection sends an alert (OpenSSL, Envoy, Go),
    so a CLOSED baseline (no certificate) after a completed handshake is told apart:
    ``on-444`` when a configured identity gets an HTTP answer (only a good certificate is
    answered), ``closes-444`` when nothing we sent was answered. A stream-module front (F0.4)
    that closes after the handshake and proxies to HTTP looks the same on the wire.
    """
    result = outcome.result
    mode = result.primary.mode if result is not None and result.primary else "unknown"
    if mode not in ("tls-required", "unknown"):
        return mode
    base = _baseline(outcome)
    if base is None or not base.handshake_done or base.outcome is not Outcome.CLOSED:
        return mode
    answered = any(i.attempt is not None and i.attempt.spec.cert is CertKind.USER
                   and i.attempt.outcome is Outcome.HTTP_ANSWER for i in outcome.identities)
    return "on-444" if answered else "closes-444"


def success(outcome: ProbeOutcome) -> bool:
    """The target answered TLS and HTTP, the mode was inferred, and it is the expected one."""
    result = outcome.result
    mode = inferred_mode(outcome)
    if result is None or mode == "unknown":
        return False
    expected = outcome.module.expected_mode
    return expected is None or mode == expected


def probe_families(outcome: ProbeOutcome) -> list[Metric]:
    """The metrics of one ``/probe`` answer."""
    out: list[Metric] = []
    out += _gauge("mtls_probe_success", "1 when the target answered, its ssl_verify_client mode "
                  "was inferred and matches the module's expected_mode (if set).",
                  1.0 if success(outcome) else 0.0)
    out += _gauge("mtls_probe_duration_seconds", "Wall time of the whole probe.",
                  outcome.duration_seconds)
    out += _steps(_baseline(outcome))
    result = outcome.result
    mode = inferred_mode(outcome)
    modes = StateSetMetricFamily("mtls_verify_client_mode", "The enforcement inferred for the "
                                 "primary SNI setting (ssl_verify_client, a TLS-layer mode or a "
                                 "444 close).")
    modes.add_metric([], {m: m == mode for m in EXPORTER_MODES})
    out.append(modes)
    if outcome.module.expected_mode is not None:
        out += _gauge("mtls_verify_client_mode_expected", "1 when the inferred mode is the "
                      "module's expected_mode.", 1.0 if mode == outcome.module.expected_mode else 0.0)
    if result is not None:
        out += _request(outcome)
        out += _server(_baseline(outcome))
    out += _identities(outcome.identities, mode, result)
    out += _disk(outcome)
    return out


def _steps(base: Attempt | None) -> list[Metric]:
    ok = GaugeMetricFamily("mtls_probe_step_success", "1 when the step of the baseline attempt "
                           "(no client certificate, primary SNI) completed.", labels=["step"])
    took = GaugeMetricFamily("mtls_probe_step_duration_seconds", "Wall time of each step of the "
                             "baseline attempt.", labels=["step"])
    seen = {s.name: s for s in base.steps} if base is not None else {}
    for raw, step in STEPS.items():
        s = seen.get(raw)
        ok.add_metric([step], 1.0 if s is not None and s.ok else 0.0)
        if s is not None and s.ms is not None:
            took.add_metric([step], s.ms / 1000.0)
    return [ok, took]


def _request(outcome: ProbeOutcome) -> list[Metric]:
    result = outcome.result
    assert result is not None
    request = primary_request(result)
    out = _gauge("mtls_certificate_request_sent", "1 when the server sent a CertificateRequest "
                 "(primary SNI, any TLS version).", 0.0 if request is None else 1.0)
    if request is None:
        return out
    names = request.ca_names
    out += _gauge("mtls_ca_names", "Number of CA names in the CertificateRequest (0: an empty "
                  "list, F1.4).", float(len(names)))
    out += _gauge("mtls_ca_names_text_bytes", "UTF-8 size of the advertised CA names as RFC 4514 "
                  "text.", float(sum(len(n.encode()) for n in names)))
    out += _gauge("mtls_ca_names_hash", "Stable 48-bit hash of the advertised CA names, in order "
                  "(a change is a drift).", names_hash(names))
    if outcome.disk_ca_names is not None:
        out += _gauge("mtls_ca_names_differ_from_file", "1 when the names served differ from the "
                      "module's client_ca_file on disk (nginx not reloaded, F1.1).",
                      0.0 if tuple(names) == outcome.disk_ca_names else 1.0)
    return out


def _server(base: Attempt | None) -> list[Metric]:
    if base is None or not base.server_chain:
        return []
    out = _gauge("mtls_server_certificate_expiry_timestamp_seconds", "notAfter of the server's "
                 "leaf certificate (seen without sending a client certificate).",
                 _ts(base.server_chain[0].not_after))
    if base.server_verification is not None:
        out += _gauge("mtls_server_certificate_verified", "1 when the server certificate verified "
                      "against the module's server_ca_file (and name).",
                      1.0 if base.server_verification.ok else 0.0)
    return out


def _identities(identities: Iterable[IdentityOutcome], mode: str, result) -> list[Metric]:
    accepted = GaugeMetricFamily("mtls_identity_accepted", "1 when the server answered the "
                                 "identity without a client-certificate rejection.",
                                 labels=["identity"])
    status = GaugeMetricFamily("mtls_identity_http_status", "HTTP status answered to the "
                               "identity (0: no HTTP answer).", labels=["identity"])
    klass = StateSetMetricFamily("mtls_identity_ssl_client_verify", "$ssl_client_verify for the "
                                 "identity, as the answer shows it.", labels=["identity"])
    code = GaugeMetricFamily("mtls_identity_verify_code", "OpenSSL verify code nginx gets for "
                             "the identity, computed offline with client_ca_file (0: ok).",
                             labels=["identity"])
    reaches = GaugeMetricFamily("mtls_identity_chain_reaches_advertised_name", "1 when the "
                                "identity's chain names an advertised CA name.",
                                labels=["identity"])
    expiry = GaugeMetricFamily("mtls_identity_certificate_expiry_timestamp_seconds", "notAfter "
                               "of the identity's own certificate.", labels=["identity"])
    ran = GaugeMetricFamily("mtls_identity_probed", "1 when the identity's attempt ran.",
                            labels=["identity"])
    request = primary_request(result) if result is not None else None
    for ident in identities:
        a = ident.attempt
        ran.add_metric([ident.name], 0.0 if a is None else 1.0)
        if ident.not_after is not None:
            expiry.add_metric([ident.name], ident.not_after.timestamp())
        if ident.offline is not None:
            code.add_metric([ident.name], float(ident.offline.error_code))
        if a is None:
            continue
        verdict = gate(a)
        accepted.add_metric([ident.name], 1.0 if verdict == "pass" else 0.0)
        status.add_metric([ident.name], float(a.http.status) if a.http is not None else 0.0)
        klass.add_metric([ident.name], {c.value: c is verify_class(a, mode) for c in VerifyClass})
        if a.spec.cert is CertKind.USER and request is not None and request.ca_names:
            reaches.add_metric([ident.name], 1.0 if a.client_chain_reaches else 0.0)
    return [ran, accepted, status, klass, code, reaches, expiry]


def _disk(outcome: ProbeOutcome) -> list[Metric]:
    if outcome.module.client_ca_file is None:
        return []
    return _gauge("mtls_client_ca_file_ok", "1 when the module's client_ca_file was read.",
                  0.0 if outcome.disk_error else 1.0)


def local_families(facts: Sequence[LocalFacts], nginx_ok: bool | None) -> list[Metric]:
    """The metrics of the local sources on ``/metrics``."""
    labels = ["source", "kind"]
    ok = GaugeMetricFamily("mtls_local_file_ok", "1 when the local file was read and holds what "
                           "its kind needs.", labels=labels)
    count = GaugeMetricFamily("mtls_local_certificates", "Certificates in the local file.",
                              labels=labels)
    expiry = GaugeMetricFamily("mtls_local_certificate_expiry_timestamp_seconds", "The earliest "
                               "notAfter among the file's certificates.", labels=labels)
    names = GaugeMetricFamily("mtls_local_ca_names_hash", "Hash of the CA names nginx would "
                              "advertise for this file (compare with mtls_ca_names_hash).",
                              labels=labels)
    nxt = GaugeMetricFamily("mtls_local_crl_next_update_timestamp_seconds", "The earliest "
                            "nextUpdate among the file's CRLs (F6.1).", labels=labels)
    last = GaugeMetricFamily("mtls_local_crl_last_update_timestamp_seconds", "The latest "
                             "thisUpdate among the file's CRLs.", labels=labels)
    for f in facts:
        key = [f.source.name, f.source.kind]
        ok.add_metric(key, 1.0 if f.ok else 0.0)
        if f.error is not None and not f.ok and f.certificates == 0 and f.crl_next_update is None:
            if f.source.kind != "crl":
                continue
        count.add_metric(key, float(f.certificates))
        if f.earliest_not_after is not None:
            expiry.add_metric(key, f.earliest_not_after.timestamp())
        if f.source.kind == "ca" and f.ca_names:
            names.add_metric(key, names_hash(f.ca_names))
        if f.crl_next_update is not None:
            nxt.add_metric(key, f.crl_next_update.timestamp())
        if f.crl_last_update is not None:
            last.add_metric(key, f.crl_last_update.timestamp())
    out: list[Metric] = [ok, count, expiry, names, nxt, last]
    out += _gauge("mtls_local_nginx_config_ok", "1 when the local nginx configuration parsed.",
                  None if nginx_ok is None else (1.0 if nginx_ok else 0.0))
    return out
