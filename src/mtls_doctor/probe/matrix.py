"""The default probe matrix and what it says about the server's enforcement.

Invariants:
- ``run_matrix`` is the only function here that does I/O (through ``handshake.attempt`` and
  ``legacy.check``); ``infer`` and ``gate`` are pure functions of the attempts;
- the matrix is: no certificate, a throwaway self-signed certificate, the user's certificate
  (when given) x the primary SNI setting and the other one (when the target has a name) x TLS 1.3
  and TLS 1.2 (those the server offers). The baseline (no certificate, primary SNI) runs first
  for each version; when it cannot reach a TLS server at all, nothing else is tried, so a dead
  or hostile endpoint costs one attempt, not twelve;
- the user's certificate is never offered to a server whose certificate failed verification,
  unless the config allows it (STYLE: safety before completeness);
- the modes follow nginx's own behaviour matrix (F2.2): the TLS handshake completes in every
  nginx mode (section 0), so enforcement is read from the HTTP answer (496/495 pages, F2.5);
  a TLS-layer alert on a missing certificate is a non-nginx, TLS-layer requirement (F4.3).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from mtls_doctor.probe.handshake import ProbeConfig, attempt
from mtls_doctor.probe.identity import ClientIdentity, throwaway
from mtls_doctor.probe.model import (
    Attempt,
    AttemptSpec,
    CertKind,
    Inference,
    Outcome,
    ProbeResult,
)
from mtls_doctor.probe.tlsinfo import CLIENT_CERT_ALERTS

#: outcomes of the baseline attempt after which the endpoint is not probed further
UNREACHABLE = frozenset(
    {Outcome.CONNECT_FAILED, Outcome.TIMEOUT, Outcome.NOT_TLS, Outcome.CLOSED,
     Outcome.STARTTLS_FAILED}
)


def _version_refused(a: Attempt) -> bool:
    if a.alert is not None and a.alert.code == 70 and not a.handshake_done:
        return True  # protocol_version (F7.5: TLS 1.3 off on nginx < 1.23.4 by default)
    text = (a.error or "").lower()
    return a.outcome is Outcome.TLS_ERROR and (
        "unsupported protocol" in text or "no protocols available" in text
        or "wrong version number" in text or "tlsv1 alert protocol version" in text
    )


def run_matrix(
    config: ProbeConfig,
    primary_sni: str | None,
    other_sni: str | None | bool = False,
    tls: str | None = None,
    identity: ClientIdentity | None = None,
    at: dt.datetime | None = None,
    legacy: bool = True,
    workers: int = 4,
) -> ProbeResult:
    """Probe the target. ``other_sni`` is the second SNI setting to compare (``None`` = no SNI),
    or ``False`` for none. ``tls`` pins one version ("1.2"/"1.3"); by default both are tried.
    After the baselines, the remaining attempts run on up to ``workers`` threads (each on its
    own connection; results keep the plan's order)."""
    from mtls_doctor.probe import legacy as legacy_mod

    at = at or dt.datetime.now(dt.timezone.utc)
    versions = [tls] if tls else ["1.3", "1.2"]
    attempts: list[Attempt] = []
    notes: list[str] = []
    offered: list[str] = []
    baselines: dict[str, Attempt] = {}
    for version in versions:
        base = attempt(config, AttemptSpec(CertKind.NONE, primary_sni, version))
        attempts.append(base)
        if base.outcome in UNREACHABLE and not base.handshake_done:
            if not offered and base.outcome is not Outcome.CLOSED:
                notes.append(f"stopped after the first attempt: {base.error}")
                return _result(config, primary_sni, attempts, at, notes, identity, None, None)
            notes.append(f"TLS {version} failed: {base.error}")
            continue
        if _version_refused(base):
            notes.append(f"the server does not accept TLS {version}")
            continue
        if base.outcome is Outcome.TIMEOUT:
            # a server that stalls once stalls again: keep the total time bounded
            notes.append(f"TLS {version}: the first attempt timed out ({base.error}); "
                         "the other attempts of this version were not run")
            continue
        offered.append(version)
        baselines[version] = base
    sni_settings: list[str | None] = [primary_sni]
    if other_sni is not False and other_sni != primary_sni:
        sni_settings.append(other_sni)  # type: ignore[arg-type]
    kinds = [CertKind.SELF_SIGNED] + ([CertKind.USER] if identity is not None else [])
    planned: list[tuple[AttemptSpec, ClientIdentity | None] | Attempt] = []
    for version in offered:
        server_ok = _server_verified(baselines[version])
        for sni in sni_settings:
            cells = ([] if sni == primary_sni else [CertKind.NONE]) + kinds
            for kind in cells:
                spec = AttemptSpec(kind, sni, version)
                if kind is CertKind.USER and not server_ok and not (
                    config.insecure or config.send_cert_anyway
                ):
                    planned.append(Attempt(spec, Outcome.SKIPPED, error=_not_sent(baselines[version])))
                    continue
                ident = throwaway(at) if kind is CertKind.SELF_SIGNED else (
                    identity if kind is CertKind.USER else None)
                planned.append((spec, ident))
    attempts.extend(_run_all(config, planned, workers))
    legacy_tls = legacy_note = None
    if legacy:
        legacy_tls, legacy_note = legacy_mod.check(config.host, config.port, primary_sni,
                                                   config.timeout)
    return _result(config, primary_sni, attempts, at, notes, identity, legacy_tls, legacy_note,
                   sni_settings)


def _run_all(config: ProbeConfig, planned: list, workers: int) -> list[Attempt]:
    jobs = [p for p in planned if not isinstance(p, Attempt)]
    if workers <= 1 or len(jobs) <= 1:
        done = {id(p): attempt(config, *p) for p in jobs}
    else:  # daemon threads: Ctrl-C ends the probe at once (probe.pool)
        from mtls_doctor.probe.pool import run_unordered

        done = {id(p): result for p, result in
                run_unordered(lambda p: attempt(config, *p), jobs, workers)}
    return [p if isinstance(p, Attempt) else done[id(p)] for p in planned]


def _not_sent(base: Attempt) -> str:
    """Why the user's certificate was kept back, in the words of what really happened."""
    if not base.server_chain:
        return ("not sent: no server certificate arrived to verify (the handshake did not get "
                f"that far: {base.error or base.outcome.value})")
    return ("not sent: the server certificate failed verification "
            "(--insecure or --send-cert-anyway to send it anyway)")


def _server_verified(a: Attempt) -> bool:
    return a.server_verification is not None and a.server_verification.ok


def _result(config, primary_sni, attempts, at, notes, identity, legacy_tls, legacy_note,
            sni_settings=None) -> ProbeResult:
    settings = sni_settings or [primary_sni]
    return ProbeResult(
        host=config.host,
        port=config.port,
        path=config.path,
        primary_sni=primary_sni,
        attempts=tuple(attempts),
        inferences=tuple(infer(attempts, sni, config.protocol) for sni in settings),
        at=at.isoformat(),
        legacy_tls=legacy_tls,
        legacy_note=legacy_note,
        client=identity.summary() if identity is not None else None,
        notes=tuple(notes),
        insecure=config.insecure,
    )


# --- inference (pure) ---------------------------------------------------------------------


def gate(a: Attempt | None, protocol: str = "https") -> str:
    """What the server did with this attempt's client: pass / reject-496 / reject-495 /
    reject-http / reject-tls / reject-closed / misdirected / error. ``protocol`` "tls" (a
    stream target): a close right after the handshake is the stream module's rejection
    (reject-closed, F0.4); mail targets answer with the protocol's reply (probe.starttls)."""
    if a is None:
        return "error"
    if a.outcome is Outcome.APP_ANSWER and a.app is not None:
        return {"no-cert": "reject-496", "cert-error": "reject-495"}.get(a.app.verdict, "pass")
    if a.outcome is Outcome.SESSION_OPEN:
        return "pass"
    if protocol == "tls" and a.outcome is Outcome.CLOSED and a.handshake_done and \
            a.certificate_request is not None:
        return "reject-closed"
    if a.outcome is Outcome.HTTP_ANSWER and a.http is not None:
        if a.http.page == 496:
            return "reject-496"
        if a.http.page == 495:
            return "reject-495"
        if a.http.status == 421:
            return "misdirected"
        if a.http.status in (400, 401, 403):
            return "reject-http"
        return "pass"
    if a.certificate_request is not None:
        if a.outcome is Outcome.TLS_ALERT and a.alert and a.alert.code in CLIENT_CERT_ALERTS:
            return "reject-tls"
        if a.outcome in (Outcome.CLOSED, Outcome.NO_HTTP_ANSWER) and a.handshake_done:
            return "reject-tls"  # closed right after the handshake (stream-module style, F0.4)
    return "error"


def _describe(a: Attempt) -> str:
    cr = a.certificate_request
    if a.outcome is Outcome.SKIPPED:
        return f"{a.spec.cert.value}: skipped ({a.error})"
    if cr is None and not (a.handshake_done or a.server_chain):
        req = "no handshake"
    elif cr is None:
        req = "no CertificateRequest"
    elif not cr.ca_names:
        req = "CertificateRequest with an empty CA list"
    else:
        req = f"CertificateRequest ({len(cr.ca_names)} CA names)"
    if a.outcome is Outcome.HTTP_ANSWER and a.http is not None:
        end = f"HTTP {a.http.status}"
        if a.http.page:
            end += f" (nginx page {a.http.page} \"{a.http.page_text}\")"
    elif a.outcome is Outcome.APP_ANSWER and a.app is not None:
        end = f"{a.app.protocol.upper()} {a.app.line!r}"
    elif a.outcome is Outcome.SESSION_OPEN:
        end = "the session stayed open (admitted)"
    elif a.alert is not None and a.alert.direction == "received":
        when = "after" if a.alert.after_handshake else "during"
        end = f"alert {a.alert.code} {a.alert.name} {when} the handshake"
    else:
        end = a.error or a.outcome.value
    return f"TLS {a.spec.tls}, {a.spec.cert.value}: {req}; {end}"


def _find(attempts: Iterable[Attempt], sni, tls, kind) -> Attempt | None:
    for a in attempts:
        if a.spec.sni == sni and a.spec.tls == tls and a.spec.cert is kind:
            return a
    return None


def _mode(none: Attempt | None, self_signed: Attempt | None, is_nginx: bool,
          protocol: str = "https") -> tuple[str, str]:
    g_none, g_self = gate(none, protocol), gate(self_signed, protocol)
    if protocol != "https":
        # stream and mail: the same modes, told by a close or a reply instead of a 400 (F0.4)
        layer = "stream" if protocol == "tls" else "mail"
        g_none = {"reject-closed": "reject-496"}.get(g_none, g_none)
        g_self = {"reject-closed": "reject-495"}.get(g_self, g_self)
        mode, found = _mode_of(none, self_signed, g_none, g_self, True)
        return mode, layer if found == "http" else found
    return _mode_of(none, self_signed, g_none, g_self, is_nginx)


def _mode_of(none: Attempt | None, self_signed: Attempt | None, g_none: str, g_self: str,
             is_nginx: bool) -> tuple[str, str]:
    if none is None or g_none == "error":
        return "unknown", "none"
    if g_none == "misdirected":
        return "unknown", "http"
    asked = none.certificate_request is not None or (
        self_signed is not None and self_signed.certificate_request is not None)
    if not asked:
        if g_none == "reject-496":
            return "on-without-request", "http"  # F7.3: the default server never asked
        if g_none == "pass" or g_none == "reject-http":
            return "off", "none"
        return "unknown", "none"
    if g_none == "reject-tls":
        return "tls-required", "tls"
    if g_none in ("reject-496", "reject-http"):
        return "on", "http"
    # a client without certificate got through: optional, optional_no_ca or TLS-only optional
    if g_self == "pass":
        return ("optional_no_ca", "none") if is_nginx else ("tls-optional", "none")
    if g_self == "reject-tls":
        return "optional", "tls"
    if g_self in ("reject-495", "reject-http", "reject-496"):
        return "optional", "http"
    return "optional", "http"  # the untrusted-certificate attempt did not finish (see evidence)


def certificate_rejected(a: Attempt | None) -> bool:
    """The server verified the certificate this attempt sent and rejected it: nginx's 495
    page (http), the mail module's cert_error reply, or a stream session closed right after
    the handshake (F2.5, F0.4)."""
    if a is None or a.client_certificate_sent is None:
        return False
    if a.http is not None:
        return a.http.page == 495
    if a.app is not None:
        return a.app.verdict == "cert-error"
    return _protocol_of([a]) == "tls" and a.outcome is Outcome.CLOSED and a.handshake_done


def answer_text(a: Attempt) -> str:
    """What came back after the handshake, in a few words (HTTP, mail reply, stream)."""
    if a.http is not None:
        page = f" \"{a.http.page_text}\"" if a.http.page_text else ""
        return f"HTTP {a.http.status}{page}"
    if a.app is not None:
        return f"{a.app.protocol.upper()} reply {a.app.line!r}"
    if a.outcome is Outcome.SESSION_OPEN:
        return "the stream session stayed open"
    return a.error or a.outcome.value


def _protocol_of(attempts: list[Attempt]) -> str:
    """"tls" or the mail protocol when the attempts were made that way (their steps say so:
    probe.handshake's "session" step, or one named after the mail protocol), else "https"."""
    for a in attempts:
        for name in (a.failed_step, *(s.name for s in a.steps)):
            if name == "session":
                return "tls" if a.app is None else a.app.protocol
            if name in ("imap", "pop3", "smtp"):
                return name
    return "https"


def infer(attempts: Iterable[Attempt], sni: str | None, protocol: str = "https") -> Inference:
    """The enforcement for one SNI setting, from its attempts, per TLS version then combined.
    ``protocol``: "https", "tls" (a stream server) or a mail protocol (probe.starttls)."""
    attempts = [a for a in attempts if a.spec.sni == sni]
    if protocol == "https":
        protocol = _protocol_of(attempts)
    versions = [v for v in ("1.3", "1.2", "auto") if any(a.spec.tls == v for a in attempts)]
    is_nginx = any(a.http is not None and a.http.is_nginx for a in attempts)
    per_version: list[tuple[str, str]] = []
    layers: list[str] = []
    evidence: list[str] = []
    requested: bool | None = None
    for version in versions:
        none = _find(attempts, sni, version, CertKind.NONE)
        self_signed = _find(attempts, sni, version, CertKind.SELF_SIGNED)
        mode, layer = _mode(none, self_signed, is_nginx, protocol)
        if mode == "on" and gate(none) == "reject-http" and none is not None and none.http:
            evidence.append(
                f"TLS {version}: 'on' is read from HTTP {none.http.status} without nginx's 496 "
                "page; if the application answers that for other reasons, probe a path it "
                "serves or add --cert to compare")
        if mode == "unknown" and none is not None and none.outcome is Outcome.TLS_ALERT:
            continue  # e.g. the version is not offered
        per_version.append((version, mode))
        layers.append(layer)
        for a in attempts:
            if a.spec.tls == version:
                evidence.append(_describe(a))
                if a.handshake_done or a.certificate_request is not None:
                    seen = a.certificate_request is not None
                    requested = seen if requested is None else (requested or seen)
    modes = [m for _, m in per_version]
    if not modes:
        return Inference(sni, "unknown", "none", requested, tuple(evidence))
    mode = modes[0]
    if len(set(modes)) > 1:
        evidence.append("the TLS versions behave differently: " + ", ".join(
            f"TLS {v} {m}" for v, m in per_version))
    if mode == "on-without-request":
        evidence.append("the HTTP layer demands a certificate the handshake never asked for: the "
                        "connection got the default server's SSL settings (F7.3)")
    return Inference(sni, mode, layers[0], requested, tuple(evidence), tuple(per_version))
