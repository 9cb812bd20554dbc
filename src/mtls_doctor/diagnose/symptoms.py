"""Judge what the user sees (``--symptom``) against the server their client reaches (pure).

Invariants: no I/O; a symptom is judged against ``Evidence.target`` (the server the SNI and the
Host select, nginx's algorithm, F7.1, F7.3), not against every server of the configuration; a
symptom alone raises only what it names unambiguously (421, 497), otherwise it decides between
the causes the configuration of THAT server allows; configuration facts no single rule states
(the CA names size limit, ``$ssl_client_cert`` in a header, TLS ending before nginx) are
judged here too (``judge_config``).
"""

from __future__ import annotations

from typing import Any

from mtls_doctor.diagnose import causes as C
from mtls_doctor.diagnose.board import Board
from mtls_doctor.diagnose.evidence import Evidence, EvidenceLine
from mtls_doctor.diagnose.probes import (canames_disabled, client_issuers, disk_ca_names,
                                         tls_upstreams_without_cert, trusted_only)
from mtls_doctor.diagnose.signals import Kind, Symptom
from mtls_doctor.diagnose.target import fix_values

#: the certificate_authorities vector of a CertificateRequest is at most 2^16-1 bytes
CA_NAMES_LIMIT = 65535

_ALERTS = (
    (("unknown ca", "48", "bad certificate", "42", "certificate unknown", "46"), C.ServerCertificateRejectedByClient),
    (("protocol version", "70", "handshake failure", "40", "no shared cipher"), C.TlsProtocolMismatch),
    (("unrecognized name", "112"), C.HandshakeRejectedUnknownName),
    (("internal error", "80"), C.CaNamesListTooLarge),
)


def _where(ev: Evidence) -> tuple[Any, Any, bool | None]:
    t = ev.target
    hs, rq = t.handshake_server, t.request_server
    if hs is None and rq is None and ev.eff is not None:
        verifying = [s for s in ev.eff.servers if s.ssl and s.kind == "http"]
        if len(verifying) == 1:
            hs = rq = verifying[0]
    return hs, rq or hs, t.lands_on_default


def _sym_line(ev: Evidence, s: Any, hs: Any) -> EvidenceLine:
    where = ev.target.why or "target not given"
    at = f"; the handshake gets {hs.label}" if hs is not None else ""
    return EvidenceLine("symptom", "--symptom", f"{s} ({where}{at})")


def from_symptoms(ev: Evidence, board: Board) -> None:
    for s in ev.symptoms:
        hs, rq, on_default = _where(ev)
        line = _sym_line(ev, s, hs)
        values = fix_values(rq or hs, ev.target.address)
        board.signal(Kind.SYMPTOM, s.symptom.value, line, str(s), _label(rq), values)
        judge = _JUDGES.get(s.symptom)
        if judge is not None:
            judge(ev, board, s, hs, rq, on_default, line, values)


def _label(server: Any) -> str | None:
    return server.label if server is not None else None


def _asks(server: Any) -> bool:
    return server is not None and server.verify != "off"


def _not_asked(ev: Evidence, board: Board, hs: Any, rq: Any, on_default: bool | None,
               line: EvidenceLine, values: dict, weight: float) -> bool:
    """The handshake server does not ask for a certificate: which of the causes (F7.1-F7.3)."""
    if hs is None or _asks(hs):
        return False
    t = ev.target
    verifying_elsewhere = [s for s in _address_servers(ev) if s is not hs and _asks(s)]
    if rq is not None and rq is not hs and _asks(rq) and t.sni is not None and t.sni_matches:
        # SNI selected a server by name, Host another that verifies: 421 (F7.2)
        board.raise_(C.SniHostMismatch, weight, line,
                     f"SNI {t.sni} selects {hs.label}, Host {t.host} selects {rq.label}, which "
                     "verifies clients: nginx answers 421 (F7.2).", _label(rq), fix_values(rq, t.address))
    elif on_default and (verifying_elsewhere or (rq is not None and _asks(rq))):
        meant = rq if rq is not None and _asks(rq) else verifying_elsewhere[0]
        how = "without SNI" if t.sni is None else f"with SNI {t.sni}, which no server_name matches,"
        board.raise_(C.NoSniDefaultServer, weight, line,
                     f"the client reaches {t.address or 'the address'} {how} so the handshake gets "
                     f"the default {hs.label}, which does not ask for a certificate; {meant.label} "
                     "wants one (F7.3).", _label(meant), fix_values(meant, t.address))
    else:
        board.raise_(C.VerifyClientOff, weight, line,
                     f"{hs.label}, where the client lands, has ssl_verify_client off (F1.2).",
                     _label(hs), fix_values(hs, t.address))
    return True


def _address_servers(ev: Evidence) -> list[Any]:
    if ev.eff is None or ev.target.address is None:
        return []
    from mtls_doctor.nginx.effective import listen_groups

    return listen_groups(ev.eff).get(ev.target.address, [])


def _no_names(ev, board, s, hs, rq, on_default, line, values) -> None:
    if _not_asked(ev, board, hs, rq, on_default, line, values, 0.5):
        return
    if hs is None:
        return
    if canames_disabled(hs) is not None:
        board.raise_(C.CaNamesDisabled, 0.5, line, f"{hs.label} has `Options -CANames` (F1.6).",
                     _label(hs), values)
    elif trusted_only(hs):
        board.raise_(C.CaNamesTrustedOnly, 0.5, line,
                     f"{hs.label} trusts its client CA through ssl_trusted_certificate only (F1.4).",
                     _label(hs), values)


def _page_from_upstream(ev, board, s, hs, rq, line, values, page: str) -> bool:
    """A 495/496 page on a request whose servers verify nothing cannot be nginx's own: nginx
    produces it only where ssl_verify_client is not off (F2.2). When that server proxies to a
    TLS upstream without a client certificate, the page is the upstream's (an nginx that
    verifies clients), relayed as the answer (F4.3)."""
    if _asks(hs) or _asks(rq):
        return False
    passes = tls_upstreams_without_cert(rq or hs)
    if not passes:
        return False
    d = passes[0]
    board.raise_(C.UpstreamClientCertificate, 0.6, EvidenceLine(
        "config", f"{d.path}:{d.line}", " ".join((d.name, *d.args)) + ";"),
        f"{(rq or hs).label} does not ask for client certificates, so the {page} page is not its "
        f"own: it proxies to {d.args[0]} without proxy_ssl_certificate, and the upstream, which "
        "verifies clients, answers it (F2.2, F4.3).", _label(rq or hs), values)
    board.support(C.UpstreamClientCertificate, 0.0, line)
    return True


def _no_cert(ev, board, s, hs, rq, on_default, line, values) -> None:
    """400 "No required SSL certificate was sent": nothing arrived (F2.2)."""
    if s.symptom is Symptom.NO_CERTIFICATE_SENT and _page_from_upstream(
            ev, board, s, hs, rq, line, values, '400 "No required SSL certificate was sent"'):
        return
    if _not_asked(ev, board, hs, rq, on_default, line, values, 0.6):
        return
    if hs is None:
        return
    names = disk_ca_names(ev, hs) or []
    if ev.client and names and not (client_issuers(ev.client) & set(names)):
        board.raise_(C.ClientIssuerNotAdvertised, 0.45, line,
                     f"{hs.label} advertises {'; '.join(names)}; the issuer of your certificate is "
                     "not among them, so clients do not offer it (F1.1).", _label(hs), values)
    elif not trusted_only(hs) and canames_disabled(hs) is None:
        accepted = _user_accepted(ev)
        board.raise_(C.ClientCertificateNotSent, 0.5 if accepted else 0.35, line,
                     f"{hs.label} asks for a certificate"
                     + (" and accepts yours when it is sent (HTTP 200)" if accepted else "")
                     + ": the client does not send it (F2.2).", _label(rq), values)
    else:
        board.raise_(C.CaNamesTrustedOnly if trusted_only(hs) else C.CaNamesDisabled, 0.4, line,
                     f"{hs.label} names no CA, so browsers offer no certificate (F1.4, F1.6).",
                     _label(hs), values)


def _browser(ev, board, s, hs, rq, on_default, line, values) -> None:
    if _not_asked(ev, board, hs, rq, on_default, line, values, 0.5):
        return
    if ev.config is not None and _plain_behind_proxy(ev):
        return  # judged by judge_config
    _no_cert(ev, board, s, hs, rq, on_default, line, values)


def _none_backend(ev, board, s, hs, rq, on_default, line, values) -> None:
    if _plain_behind_proxy(ev):
        board.raise_(C.TlsTerminatedBeforeNginx, 0.55, line,
                     "the server the backend is reached through listens without TLS, so what "
                     "terminates TLS in front of it never hands nginx a certificate.", _label(rq), values)
        return
    if _not_asked(ev, board, hs, rq, on_default, line, values, 0.55):
        return
    if hs is not None and hs.verify in ("optional", "optional_no_ca"):
        _no_cert(ev, board, s, hs, rq, on_default, line, values)


def _failed(ev, board, s, hs, rq, on_default, line, values) -> None:
    code = failed_code(s.detail or "")
    if code is None:
        return
    key = C.VERIFY_LOG + str(code)
    if not board.declared(Kind.LOG, key):
        key = C.VERIFY_LOG + "*"
    board.signal(Kind.LOG, key, line, f"$ssl_client_verify is {s}: OpenSSL error {code} (F2.3).",
                 _label(hs), values, scale=1.2)


def _alert(ev, board, s, hs, rq, on_default, line, values) -> None:
    detail = (s.detail or "").lower()
    for words, cause in _ALERTS:
        if any(w in detail for w in words):
            board.raise_(cause, 0.4, line, f"the client sees {detail} (F4.3).", _label(rq), values)
            return


def _backend(ev, board, s, hs, rq, on_default, line, values) -> None:
    for node in _raw_cert_headers(ev, rq):
        board.raise_(C.ClientCertHeaderMultiline, 0.55, EvidenceLine(
            "config", f"{node.path}:{node.line}", " ".join((node.name, *node.args)) + ";"),
            f"{rq.label} forwards the multi-line $ssl_client_cert in {node.args[0]}: the backend "
            "gets a header it rejects or cuts.", _label(rq), values)
        board.support(C.ClientCertHeaderMultiline, 0.0, line)


def _forbidden(ev, board, s, hs, rq, on_default, line, values) -> None:
    if hs is not None and hs.verify in ("optional", "optional_no_ca") and not board.accs:
        _no_cert(ev, board, s, hs, rq, on_default, line, values)


def _cert_error(ev, board, s, hs, rq, on_default, line, values) -> None:
    """400 "The SSL certificate error" (495) where nothing verifies: the upstream's page."""
    _page_from_upstream(ev, board, s, hs, rq, line, values, '400 "The SSL certificate error"')


def _bad_request(ev, board, s, hs, rq, on_default, line, values) -> None:
    """A 400 without its page: nginx's error log says which 400 it was. Requests logged as
    "client sent no required SSL certificate" (496) for the server the client lands on, and no
    verification failure there, make it the 400 "No required SSL certificate was sent" (F2.2,
    F4.1): judged as that symptom."""
    from mtls_doctor.diagnose.probes import _logged_without_certificate

    server = hs or rq
    if server is None or ev.logs is None or not _logged_without_certificate(ev, server):
        return
    names = {n.lower() for n in server.names}
    for g in ev.logs.summary.groups:
        if g.cause.id.startswith("client-cert-verify") and (
                names & {h.lower().split(":")[0] for h in g.hosts} or names & {x.lower() for x in g.servers}):
            return
    _no_cert(ev, board, s, hs, rq, on_default, line, values)


_JUDGES = {
    Symptom.BAD_REQUEST: _bad_request,
    Symptom.CERTIFICATE_ERROR: _cert_error,
    Symptom.NO_CA_NAMES: _no_names, Symptom.NO_CERTIFICATE_SENT: _no_cert,
    Symptom.BROWSER_NO_PROMPT: _browser, Symptom.NONE_AT_BACKEND: _none_backend,
    Symptom.FAILED: _failed, Symptom.HANDSHAKE_ALERT: _alert, Symptom.BACKEND_REJECTS: _backend,
    Symptom.FORBIDDEN: _forbidden,
}


def failed_code(text: str) -> int | None:
    """The OpenSSL code of a ``FAILED:<text>`` (either OpenSSL generation's words, F2.3)."""
    from mtls_doctor.logs.verify_codes import CODES

    want = _norm(text)
    for code, info in CODES.items():
        if _norm(info.text) == want:
            return code
    aliases = {"unsupported certificate purpose": 26, "self signed certificate": 18,
               "self signed certificate in certificate chain": 19}
    return aliases.get(want)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


def _user_accepted(ev: Evidence) -> bool:
    return any(p.attempt("user") is not None and p.attempt("user").http is not None
               and p.attempt("user").http.status == 200 for p in ev.probes if p.sni is not None) or \
        any(v.result.ssl_client_verify == "SUCCESS" for v in ev.verifies
            if ev.target.handshake_server is None or v.server is ev.target.handshake_server)


def _raw_cert_headers(ev: Evidence, server: Any) -> list[Any]:
    import re

    if ev.eff is None:
        return []
    servers = [server] if server is not None else list(ev.eff.servers)
    raw = re.compile(r"\$\{?ssl_client_(raw_)?cert\b(?!_)")
    return [d for srv in servers for loc in srv.locations for d in loc.proxy_headers
            if len(d.args) >= 2 and raw.search(d.args[1])] + [
        d for srv in servers for d in srv.server_proxy_headers
        if len(d.args) >= 2 and raw.search(d.args[1]) and not srv.locations]


def _plain_behind_proxy(ev: Evidence) -> bool:
    """nginx serves plain HTTP but reads client-certificate variables or forwarded TLS
    headers: TLS is terminated in front of it."""
    if ev.eff is None:
        return False
    servers = [s for s in ev.eff.servers if s.kind == "http"]
    if not servers or any(s.ssl for s in servers):
        return False
    from mtls_doctor.rules.config.common import ANY_CLIENT_VAR

    return any(ANY_CLIENT_VAR.search(" ".join(n.args)) for s in servers for n in s.walk())


# --- configuration facts no single rule states ---------------------------------------------------


def ca_names_size(ev: Evidence, server: Any) -> int | None:
    """Bytes of the certificate_authorities vector ``server`` would send (F1.1): every distinct
    subject DN of ssl_client_certificate, DER, with its 2-byte length."""
    from cryptography.hazmat.primitives import serialization  # noqa: F401  (DER of names)

    setting = server.settings["ssl_client_certificate"]
    if setting.node is None or not setting.args or ev.config is None:
        return None
    loaded = ev.files.get(ev.config.resolve(setting.args[0]))
    bundle = getattr(loaded, "bundle", None) if loaded is not None else None
    if bundle is None:
        return None
    seen: set[bytes] = set()
    for cert in bundle.certificates:
        seen.add(cert.subject.public_bytes())
    return sum(len(n) + 2 for n in seen)


def failure_seen(ev: Evidence) -> bool:
    """Something says clients fail: a symptom, or the user's own certificate refused, offline
    against the server it is meant for or live (the tool's own request without a certificate is
    refused by design)."""
    if ev.symptoms:
        return True
    from mtls_doctor.diagnose.core import passes, relevant_verifies
    from mtls_doctor.diagnose.probes import _target_probes

    mine = relevant_verifies(ev)
    if mine and not any(passes(v.result) for v in mine):
        return True  # the user's certificate, judged offline, is refused where it is meant to go

    # where the user's client lands (unknown: the probes by name, not the tool's no-SNI one)
    # (a stream server has no name to probe by: its no-SNI probe is the user's connection)
    probes = _target_probes(ev) if ev.target.sni_known else [
        p for p in ev.probes if p.sni or (p.server is not None and p.server.kind != "http")]
    from mtls_doctor.probe.matrix import certificate_rejected

    for p in probes:
        a = p.attempt("user")
        if a is not None and a.http is not None and a.http.page in (495, 496):
            return True
        if certificate_rejected(a):  # a stream close / mail cert_error right after it (F0.4)
            return True
    return False


def _hidden_failures(ev: Evidence, board: Board) -> None:
    """error_log above info on a verifying server hides why clients fail (F4.1): a cause when
    a failure is seen, otherwise only a finding."""
    if not failure_seen(ev):
        return
    for f in ev.lint:
        if f.rule == "MTLS401":
            board.raise_(C.ErrorLogHidesVerifyFailures, 0.45, EvidenceLine(
                "config", str(f.location), f"MTLS401: {f.message}"),
                f.message + " Clients fail, and the log cannot say why (F4.1).", None,
                fix_values(_server_at(ev, f.location.path, f.location.line)))
            return
    # MTLS401 leaves `on` at nginx's default level alone (the 400 page names the failure); with
    # a failure seen, the level itself is the evidence: the reason cannot be in the log
    server = _quiet_server(ev)
    if server is None:
        return
    node = server.error_log_nodes[0] if server.error_log_nodes else None
    where = f"{node.path}:{node.line}" if node is not None else f"{server.node.path}:{server.node.line}"
    said = (" ".join((node.name, *node.args)) + ";") if node is not None else "no error_log: nginx's default level"
    values = fix_values(server)
    board.raise_(C.ErrorLogHidesVerifyFailures, 0.45, EvidenceLine(
        "config", where, f"{said} (level {server.error_log_level}; verify failures are logged at info)"),
        f"{server.label} logs at {server.error_log_level}, above info: clients fail, and its log "
        "cannot say why (F4.1).", server.label, values)


def _quiet_server(ev: Evidence) -> Any:
    """The verifying server the user's client reaches whose error_log is above info (F4.1), or
    None (target unknown: the only verifying TLS server, if one)."""
    from mtls_doctor.nginx.effective import LEVELS

    if ev.eff is None:
        return None
    hs, rq, _ = _where(ev)
    candidates = [s for s in (hs, rq) if s is not None]
    if not candidates:
        candidates = [s for s in ev.eff.servers if s.ssl and s.verify != "off"]
        if len(candidates) != 1:
            return None
    for server in candidates:
        if server.verify != "off" and LEVELS.index(server.error_log_level) > LEVELS.index("info"):
            return server
    return None


def _server_at(ev: Evidence, path: str | None, line: int | None) -> Any:
    from mtls_doctor.diagnose.core import server_of_line

    return server_of_line(ev, path, line)


def judge_config(ev: Evidence, board: Board) -> None:
    _hidden_failures(ev, board)
    if ev.eff is None:
        return
    for server in ev.eff.servers:
        if server.verify == "off" or not server.ssl or canames_disabled(server) is not None:
            continue
        size = ca_names_size(ev, server)
        if size is not None and size > CA_NAMES_LIMIT:
            setting = server.settings["ssl_client_certificate"]
            scale = 1.0 if not ev.target.known or any(
                server is s for s in (ev.target.handshake_server, ev.target.request_server)) else 0.4
            board.raise_(C.CaNamesListTooLarge, 0.7 * scale, EvidenceLine(
                "file", ev.config.resolve(setting.args[0]),
                f"the CA names of this file take {size} bytes; a CertificateRequest holds at most "
                f"{CA_NAMES_LIMIT}"),
                f"{server.label} advertises {size} bytes of CA names, more than a CertificateRequest "
                "can carry: every handshake asking for a certificate fails.", server.label,
                fix_values(server))
    if _plain_behind_proxy(ev):
        # $ssl_client_* on servers without TLS are always empty: something in front ends TLS
        said = any(s.symptom in (Symptom.BROWSER_NO_PROMPT, Symptom.NONE_AT_BACKEND, Symptom.NO_CA_NAMES)
                   for s in ev.symptoms)
        server = next(s for s in ev.eff.servers if s.kind == "http")
        board.raise_(C.TlsTerminatedBeforeNginx, 0.45 if said else 0.35, EvidenceLine(
            "config", f"{server.node.path}:{server.node.line}",
            "no server listens with ssl, yet client-certificate variables are used"),
            "nginx serves plain HTTP behind whatever terminates TLS, so no client certificate "
            "ever reaches it.", server.label, fix_values(server))


__all__ = ["from_symptoms", "judge_config", "failure_seen", "failed_code", "ca_names_size", "CA_NAMES_LIMIT"]
