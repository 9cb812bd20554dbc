"""Join what the live probes saw with the configuration on disk (pure; part of ``core``).

Invariants: no I/O. "No CertificateRequest" and "a CertificateRequest with no CA names" are kept
apart (F1.4, F8.2): the first is verify off (F1.2), the SNI/default-server trap (F7.3) or a
running nginx older than its configuration; the second trusted-only (F1.3, F1.4) or
``Options -CANames`` (F1.6). Names are compared as RFC 4514 text (``cryptography``'s
``rfc4514_string()``, which the probe uses for the names it reads off the wire).
"""

from __future__ import annotations

from typing import Any, Iterable

from mtls_doctor.diagnose import causes as C
from mtls_doctor.diagnose.board import SUPPORT_WEIGHT, Board
from mtls_doctor.diagnose.evidence import Evidence, EvidenceLine, ProbeEvidence
from mtls_doctor.diagnose.signals import Kind
from mtls_doctor.diagnose.signals import Observation as O
from mtls_doctor.diagnose.target import fix_values
from mtls_doctor.probe.matrix import answer_text, certificate_rejected



#: probe outcomes that mean no TLS server answered at all (probe.model.Outcome values)
UNREACHABLE = frozenset({"connect-failed", "timeout", "not-tls", "closed"})


def node_text(node: Any) -> str:
    return " ".join((node.name, *node.args)) + ";"


def _setting_line(server: Any, name: str) -> EvidenceLine:
    setting = server.settings[name]
    if setting.node is not None:
        return EvidenceLine("config", f"{setting.node.path}:{setting.node.line}", node_text(setting.node))
    return EvidenceLine("config", f"{server.node.path}:{server.node.line}",
                        f"{name} not set in {server.label}: nginx default {' '.join(setting.args) or 'unset'}")


def canames_disabled(server: Any) -> Any:
    """The ``ssl_conf_command Options ... -CANames`` directive of a server, or None (F1.6)."""
    for node in server.arrays.get("ssl_conf_command", ()) or ():
        if len(node.args) >= 2 and node.args[0].lower() == "options" and any(
                part.lower() == "-canames" for arg in node.args[1:] for part in arg.split(",")):
            return node
    return None


def trusted_only(server: Any) -> bool:
    return (server.settings["ssl_client_certificate"].node is None
            and server.settings["ssl_trusted_certificate"].node is not None)


def _bundle(ev: Evidence, server: Any, name: str) -> Any:
    setting = server.settings[name]
    if setting.node is None or not setting.args or ev.config is None:
        return None
    loaded = ev.files.get(ev.config.resolve(setting.args[0]))
    if loaded is None or getattr(loaded, "error", None) or getattr(loaded, "bundle", None) is None:
        return None
    return loaded.bundle


def disk_ca_names(ev: Evidence, server: Any) -> list[str] | None:
    """The CA names the server's ssl_client_certificate file on disk would advertise (F1.1)."""
    if server is None:
        return None
    bundle = _bundle(ev, server, "ssl_client_certificate")
    if bundle is None:
        return None if server.settings["ssl_client_certificate"].node is not None else []
    seen: list[str] = []
    for cert in bundle.certificates:
        name = cert.subject.rfc4514_string()
        if name not in seen:
            seen.append(name)
    return seen


def wants_mtls(server: Any) -> bool:
    """Does this server mean to authenticate clients (verifies, names a CA, reads the result)?"""
    if server is None:
        return False
    if server.verify != "off":
        return True
    if any(server.settings[n].node is not None for n in ("ssl_client_certificate", "ssl_trusted_certificate")):
        return True
    from mtls_doctor.rules.config.common import ANY_CLIENT_VAR, NOT_A_CHECK

    return any(node.name not in NOT_A_CHECK and ANY_CLIENT_VAR.search(" ".join(node.args))
               for node in server.walk())


def client_issuers(client: Iterable[Any]) -> set[str]:
    """Every CA name a client's chain can be matched by (the issuers and the intermediates)."""
    certs = list(client)
    out: set[str] = set()
    for i, cert in enumerate(certs):
        out.add(cert.issuer.rfc4514_string())
        if i > 0:
            out.add(cert.subject.rfc4514_string())
    return out


def _http(a: Any) -> str:
    if a is None:  # else HTTP, or a stream/mail answer (probe.matrix.answer_text)
        return "not run"
    return answer_text(a)


def _request_text(a: Any) -> str:
    cr = a.certificate_request
    if cr is None:
        return "no CertificateRequest"
    if not cr.ca_names:
        return "a CertificateRequest with an empty CA list"
    return "a CertificateRequest naming " + "; ".join(cr.ca_names)


def _target_probes(ev: Evidence) -> list[ProbeEvidence]:
    """The probes that do what the user's client does (same SNI, same Host); every probe when
    the user did not say where their client connects."""
    t = ev.target
    if not t.sni_known:
        return list(ev.probes)
    mine = [p for p in ev.probes if p.sni == t.sni and (t.host is None or p.host_header in (t.host, None))]
    return mine or [p for p in ev.probes if p.sni == t.sni]


def _label(server: Any) -> str | None:
    return server.label if server is not None else None


def from_probes(ev: Evidence, board: Board, verified: set[str]) -> None:
    target_known = ev.target.sni_known
    for p in _target_probes(ev):
        none = p.attempt("none")
        if none is None:
            continue
        values = fix_values(p.server, p.address)
        if not (none.handshake_done or none.certificate_request is not None):
            if none.outcome.value in UNREACHABLE:
                where = f" (listen {p.address})" if p.address else ""
                board.signal(Kind.PROBE, O.UNREACHABLE.value, EvidenceLine(
                    "probe", p.where, f"{p.label}: {none.error or none.outcome.value}"),
                    f"nothing answered TLS at {p.where}{where}: {none.error or none.outcome.value}.",
                    _label(p.server), values)
            elif none.alert is not None and target_known:
                # the user's own kind of handshake fails: why is in the alert (F4.3, F7.4)
                failed = EvidenceLine("probe", p.where, f"{p.label}: handshake failed: "
                                      f"{none.error or none.alert.name} (alert {none.alert.code})")
                if none.alert.code == 112:
                    board.signal(Kind.PROBE, O.HANDSHAKE_REJECTED.value, failed,
                                 f"the handshake of a client like yours ({p.label}) is rejected: its "
                                 "name matches no server_name (F7.4).", _label(p.server), values)
                elif none.alert.code == 80:
                    board.signal(Kind.PROBE, O.ALL_HANDSHAKES_FAIL.value, failed,
                                 f"the server fails the handshake with an internal error ({p.label}).",
                                 _label(p.server), values)
            continue
        line = EvidenceLine("probe", p.where, f"{p.label}: {_request_text(none)}; without a "
                            f"certificate: {_http(none)}")
        on_default = target_known and ev.target.lands_on_default and p.sni == ev.target.sni
        if p.sni is not None and not on_default:
            _probe_with_sni(ev, board, p, none, line, values)
            _misdirected(ev, board, p, none, line, values)
        elif target_known:
            _probe_without_sni(ev, board, p, none, line, values, 1.0)
        else:
            # the tool's own no-SNI probe, the user's client unknown: other CA names there are a
            # fact about the server (F7.3 bypass); the no-request trap is a candidate only when
            # the log shows requests for that server arriving without a certificate
            _probe_without_sni(ev, board, p, none, line, values, 0.45,
                               trap=_logged_without_certificate(ev, p.server))
        _edge(ev, board, p, none, values)
        _upstream_page(ev, board, p, none, values)
        user = p.attempt("user")
        _backend_rejects(ev, board, p, user, values)
        if certificate_rejected(user):  # 495, or a stream close / mail cert_error (F0.4)
            rejected = EvidenceLine("probe", p.where, f"{p.label}: your certificate was sent and "
                                    f"rejected: {_http(user)}")
            for cause in sorted(verified):  # the live rejection confirms the offline verdict
                board.support(C.get(cause), SUPPORT_WEIGHT, rejected)
            if not verified and not ev.verifies:  # no trust settings to judge it offline (--url)
                board.signal(Kind.PROBE, O.USER_REJECTED.value, rejected,
                             f"{p.where} rejects your certificate ({_http(user)}); its error log "
                             "says why (F4.1, F4.2).", _label(p.server), values)


def tls_upstreams_without_cert(server: Any) -> list[Any]:
    """The ``proxy_pass https://`` / ``grpc_pass grpcs://`` of ``server`` that send the upstream
    no client certificate (no proxy_ssl_certificate / grpc_ssl_certificate in the server or
    inherited from ``http``)."""
    if server is None:
        return []
    own = list(server.walk()) + list(server.inherited)
    out = []
    for d in server.walk():
        scheme, cert = {"proxy_pass": ("https://", "proxy_ssl_certificate"),
                        "grpc_pass": ("grpcs://", "grpc_ssl_certificate")}.get(d.name, (None, None))
        if scheme and d.args and d.args[0].lower().startswith(scheme) and \
                not any(n.name == cert for n in own):
            out.append(d)
    return out


def _upstream_page(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, values: dict) -> None:
    """Without a certificate the answer is nginx's 495/496 page, but neither the handshake's
    nor the request's server verifies (nginx makes those pages only where ssl_verify_client is
    not off, F2.2): the page comes from a TLS upstream that verifies clients and gets no
    certificate from nginx (F4.3)."""
    server = p.server or p.handshake_server
    if none.http is None or none.http.page not in (495, 496) or server is None:
        return
    if any(s is not None and s.verify != "off" for s in (p.server, p.handshake_server)):
        return
    passes = tls_upstreams_without_cert(server)
    if not passes:
        return
    d = passes[0]
    board.signal(Kind.PROBE, O.UPSTREAM_CERT_PAGE.value, EvidenceLine(
        "probe", p.where, f"{p.label}: without a certificate: {_http(none)}, from a server that "
        "does not verify clients"),
        f"{server.label} verifies no client, yet answers nginx's {none.http.page} page: it is the "
        f"upstream's ({' '.join((d.name, *d.args))} at {d.path}:{d.line}, no proxy_ssl_certificate) "
        "(F2.2, F4.3).", _label(server), values)


def _backend_rejects(ev: Evidence, board: Board, p: ProbeEvidence, user: Any, values: dict) -> None:
    """nginx accepted the user's certificate (no 495/496 page) but the proxied answer is an
    error, and the server forwards the multi-line $ssl_client_cert: the backend refuses it."""
    if user is None or user.http is None or user.http.status < 400 or user.http.page in (495, 496, 497):
        return
    from mtls_doctor.diagnose.symptoms import _raw_cert_headers

    server = p.server or p.handshake_server
    nodes = _raw_cert_headers(ev, server) if server is not None else []
    none = p.attempt("none")
    if nodes and not (none is not None and none.http is not None and none.http.status == user.http.status
                      and none.http.page == user.http.page and server.verify == "off"):
        node = nodes[0]
        board.signal(Kind.PROBE, O.BACKEND_REJECTED_CERT.value, EvidenceLine(
            "probe", p.where, f"{p.label}: with your certificate the proxied answer is HTTP "
            f"{user.http.status} (not nginx's certificate pages)"),
            f"nginx accepts your certificate, then the backend answers {user.http.status}: "
            f"{server.label} forwards the multi-line $ssl_client_cert in {node.args[0]} "
            f"({node.path}:{node.line}).", _label(server), values)


def _only_tls_server(ev: Evidence, server: Any) -> bool:
    return ev.eff is not None and [s for s in ev.eff.servers if s.ssl and s.kind == "http"] == [server]


def _logged_without_certificate(ev: Evidence, server: Any) -> bool:
    """Does the current log show requests for ``server`` that arrived without a certificate
    ("client sent no required SSL certificate", 496)?"""
    if ev.logs is None or server is None:
        return False
    names = {n.lower() for n in server.names}
    for g in ev.logs.summary.groups:
        if g.cause.id == "no-required-certificate" and (
                names & {h.lower().split(":")[0] for h in g.hosts} or names & {s.lower() for s in g.servers}):
            return True
    return False


def _misdirected(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, line: EvidenceLine,
                 values: dict) -> None:
    """The user's own SNI and Host got 421: nginx compares the two names as strings, even
    when one server block (several names, a regex) serves both (F7.2)."""
    if none.http is not None and none.http.status == 421 and p.sni != p.host_header:
        board.signal(Kind.PROBE, O.MISDIRECTED.value, line,
                     f"SNI {p.sni} and Host {p.host_header} differ and the Host's server verifies "
                     "clients: 421 (F7.2).", _label(p.server), values)


def _edge(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, values: dict) -> None:
    """The URL answers with a server certificate that is not the configured one: TLS ends at an
    edge in front of nginx (a CDN, a load balancer)."""
    if p.address is not None or p.server is None or ev.config is None or not none.server_chain:
        return
    names = [n.args[0] for n in p.server.arrays.get("ssl_certificate", ()) if n.args]
    mine = []
    for name in names:
        loaded = ev.files.get(ev.config.resolve(name))
        bundle = getattr(loaded, "bundle", None) if loaded is not None else None
        if bundle is not None and bundle.certificates:
            mine.append(bundle.certificates[0].subject.rfc4514_string())
    seen = none.server_chain[0].subject
    if mine and seen not in mine:
        board.signal(Kind.PROBE, O.EDGE_CERTIFICATE.value, EvidenceLine(
            "probe", p.where, f"{p.label}: the server certificate is {seen}, {p.server.label} has "
            f"{'; '.join(mine)}"),
            f"{p.where} presents {seen}, not the certificate of {p.server.label}: TLS ends before "
            "nginx, which then never sees a client certificate.", _label(p.server), values)


def _probe_with_sni(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, line: EvidenceLine,
                    values: dict) -> None:
    server = p.handshake_server or p.server  # the CertificateRequest is the SNI server's (F7.1)
    cr = none.certificate_request
    label = _label(server)
    if cr is None:
        # a user who brings a certificate to the server their client reaches means it to ask
        meant = bool(ev.client) and (ev.target.sni_known or _only_tls_server(ev, server))
        if server is not None and server.verify == "off" and (wants_mtls(server) or meant):
            board.signal(Kind.PROBE, O.NO_REQUEST_VERIFY_OFF.value, line,
                         f"{server.label} does not verify clients: the handshake with SNI "
                         f"{p.sni} carried no CertificateRequest (F1.2).", label, values)
            board.support(C.VerifyClientOff, 0.0, _setting_line(server, "ssl_verify_client"))
        elif server is not None and server.verify != "off":
            board.signal(Kind.PROBE, O.NO_REQUEST_VERIFY_ON.value, line,
                         f"the configuration on disk says ssl_verify_client {server.verify} for "
                         f"{server.label}, but the running nginx did not ask for a certificate.", label, values)
            board.support(C.NginxNotReloaded, 0.0, _setting_line(server, "ssl_verify_client"))
        elif server is None:
            board.signal(Kind.PROBE, O.NO_REQUEST_NO_CONFIG.value, line,
                         f"{p.where} never asked for a client certificate (no CertificateRequest).")
        return
    names = list(cr.ca_names)
    disk = disk_ca_names(ev, server)
    if not names:
        if server is not None and canames_disabled(server) is not None:
            node = canames_disabled(server)
            board.signal(Kind.PROBE, O.EMPTY_NAMES_CANAMES.value, line,
                         f"{server.label} asks for a certificate but names no CA because of "
                         f"`{node_text(node)}` (F1.6).", label, values)
            board.support(C.CaNamesDisabled, 0.0, EvidenceLine("config", f"{node.path}:{node.line}", node_text(node)))
        elif server is not None and trusted_only(server):
            board.signal(Kind.PROBE, O.EMPTY_NAMES_TRUSTED_ONLY.value, line,
                         f"{server.label} trusts its client CA through ssl_trusted_certificate only, "
                         "which is never advertised: the CA list is empty (F1.3, F1.4).", label, values)
            board.support(C.CaNamesTrustedOnly, 0.0, _setting_line(server, "ssl_trusted_certificate"))
        elif disk:
            board.signal(Kind.PROBE, O.EMPTY_NAMES_DISK_HAS.value, line,
                         f"the CA file of {server.label} on disk names {len(disk)} CA(s), the running "
                         "nginx advertises none.", label, values)
        elif server is None:
            board.signal(Kind.PROBE, O.EMPTY_NAMES_NO_CONFIG.value, line,
                         f"{p.where} asks for a certificate with an empty CA list: trusted-only "
                         "(F1.4) or `Options -CANames` (F1.6).")
    elif disk is not None and disk and _norm(names) != _norm(disk):
        board.signal(Kind.PROBE, O.NAMES_DIFFER_FROM_DISK.value, line,
                     f"the running nginx advertises {'; '.join(names)} for {server.label}, the CA "
                     f"file on disk names {'; '.join(disk)}: reload nginx.", label, values)
        setting = server.settings["ssl_client_certificate"]
        board.support(C.NginxNotReloaded, 0.0, EvidenceLine(
            "file", ev.config.resolve(setting.args[0]) + "#0", "on disk: " + "; ".join(disk)))
    user = p.attempt("user")
    if names and ev.client and not _rejected_offline(ev, server) and not (client_issuers(ev.client) & set(names)):
        accepted = user is not None and user.http is not None and user.http.status == 200
        board.signal(Kind.PROBE, O.ISSUER_NOT_ADVERTISED.value, EvidenceLine(
            "probe", p.where, f"{p.label}: advertised CA names {'; '.join(names)}; your certificate's "
            f"issuer {ev.client[0].issuer.rfc4514_string()} is not among them"
            + (f" (sent anyway: {_http(user)})" if user is not None else "")),
            f"clients holding a certificate from {ev.client[0].issuer.rfc4514_string()} are not asked "
            f"for it by {label or p.where}, so browsers do not offer it (F1.1).", label, values,
            scale=1.5 if accepted else 1.0)
    if user is not None and user.http is not None and user.http.status == 200:
        board.signal(Kind.PROBE, O.USER_ACCEPTED.value, EvidenceLine(
            "probe", p.where, f"{p.label}: your certificate was sent: {_http(user)}"), None, label, values)


def _probe_without_sni(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, line: EvidenceLine,
                       values: dict, scale: float, trap: bool = True) -> None:
    server = p.server
    cr = none.certificate_request
    page = none.http.page if none.http is not None else None
    label = _label(server)
    default = p.handshake_server
    verifying = default is not None and default.verify == "off" and ev.eff is not None and any(
        s.verify != "off" for s in _same_address(ev, p))
    if cr is None and not trap:
        return
    if cr is None and (page == 496 or (ev.target.lands_on_default and verifying)):
        board.signal(Kind.PROBE, O.DEFAULT_NO_REQUEST.value, line,
                     f"a client without SNI asking for Host {p.host_header} is never asked for a "
                     f"certificate (the default {default.label if default is not None else 'server'} "
                     f"handled the handshake), then {label or 'the server'} answers 400 (F7.3).",
                     label, values, scale=scale)
        if default is not None and board.has(C.NoSniDefaultServer):
            board.support(C.NoSniDefaultServer, 0.0, _setting_line(default, "ssl_verify_client"))
    elif cr is None and ev.target.sni_known and ev.target.sni is None and server is None:
        board.signal(Kind.PROBE, O.NO_REQUEST_NO_CONFIG.value, line,
                     f"{p.where} never asks a client without SNI for a certificate (no "
                     "CertificateRequest).", scale=scale)
    elif cr is None and ev.target.sni_known and ev.target.sni is None and server is not None \
            and server.verify == "off" and default is server:
        # the client lands on the default server and it is the one answering: nothing asks
        board.signal(Kind.PROBE, O.NO_REQUEST_VERIFY_OFF.value, line,
                     f"without SNI the client reaches {server.label}, which does not ask for a "
                     "certificate (F1.2, F7.3).", label, values, scale=scale)
    elif cr is not None and server is not None and default is not None \
            and default is not server and server.verify != "off":
        mine = disk_ca_names(ev, server)
        if mine is not None and _norm(list(cr.ca_names)) != _norm(mine):
            board.signal(Kind.PROBE, O.DEFAULT_OTHER_NAMES.value, line,
                         f"without SNI the default {default.label} verifies clients of "
                         f"{server.label} against other CAs (F7.3).", label, values, scale=scale)


def _same_address(ev: Evidence, p: ProbeEvidence) -> list[Any]:
    from mtls_doctor.nginx.effective import listen_groups

    address = p.address or ev.target.address
    return listen_groups(ev.eff).get(address, []) if address else []


def _rejected_offline(ev: Evidence, server: Any) -> bool:
    """Did the user's certificate fail verification against this server (or every server)?"""
    results = [v.result for v in ev.verifies if server is None or v.server is server]
    return bool(results) and all(r.status != 200 for r in results)


def _norm(names: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))




__all__ = ["from_probes", "node_text", "canames_disabled", "trusted_only", "disk_ca_names",
           "wants_mtls", "client_issuers"]
