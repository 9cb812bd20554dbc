"""Join what the live probes saw with the configuration on disk (pure; part of ``core``).

Invariants: no I/O. "No CertificateRequest" and "a CertificateRequest with no CA names" are kept
apart (F1.4, F8.2): the first is verify off (F1.2), the SNI/default-server trap (F7.3) or a
running nginx older than its configuration; the second trusted-only (F1.3, F1.4) or
``Options -CANames`` (F1.6). Names are compared as RFC 4514 text (``cryptography``'s
``rfc4514_string()``, which the probe uses for the names it reads off the wire).
"""

from __future__ import annotations

from typing import Any, Iterable

from mtls_doctor.diagnose.board import SUPPORT_WEIGHT, Board
from mtls_doctor.diagnose.evidence import Evidence, EvidenceLine, ProbeEvidence



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
    if a is None:
        return "not run"
    if a.http is not None:
        page = f" \"{a.http.page_text}\"" if a.http.page_text else ""
        return f"HTTP {a.http.status}{page}"
    return a.error or a.outcome.value


def _request_text(a: Any) -> str:
    cr = a.certificate_request
    if cr is None:
        return "no CertificateRequest"
    if not cr.ca_names:
        return "a CertificateRequest with an empty CA list"
    return "a CertificateRequest naming " + "; ".join(cr.ca_names)


def from_probes(ev: Evidence, board: Board, verified: set[str]) -> None:
    for p in ev.probes:
        none = p.attempt("none")
        if none is None:
            continue
        if not (none.handshake_done or none.certificate_request is not None):
            if none.outcome.value in UNREACHABLE:
                where = f" (listen {p.address})" if p.address else ""
                board.raise_("endpoint-unreachable", 0.6, EvidenceLine(
                    "probe", p.where, f"{p.label}: {none.error or none.outcome.value}"),
                    f"nothing answered TLS at {p.where}{where}: {none.error or none.outcome.value}.",
                    p.server.label if p.server is not None else None)
            continue
        line = EvidenceLine("probe", p.where, f"{p.label}: {_request_text(none)}; without a "
                            f"certificate: {_http(none)}")
        if p.sni is not None:
            _probe_with_sni(ev, board, p, none, line)
        else:
            _probe_without_sni(ev, board, p, none, line)
        user = p.attempt("user")
        if user is not None and user.http is not None and user.http.page == 495:
            rejected = EvidenceLine("probe", p.where, f"{p.label}: your certificate was sent and "
                                    f"rejected: {_http(user)}")
            for cause in sorted(verified):  # the live rejection confirms the offline verdict
                board.support(cause, SUPPORT_WEIGHT, rejected)
            if not verified and not ev.verifies:  # no trust settings to judge it offline (--url)
                board.raise_("client-certificate-rejected", 0.5, rejected,
                             f"{p.where} rejects your certificate with 400 \"The SSL certificate "
                             "error\"; its error log says why (F4.1, F4.2).")


def _probe_with_sni(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, line: EvidenceLine) -> None:
    server = p.server
    cr = none.certificate_request
    label = server.label if server is not None else None
    if cr is None:
        if server is not None and server.verify == "off" and wants_mtls(server):
            board.raise_("verify-client-off", 0.5, line,
                         f"{server.label} does not verify clients: the handshake with SNI "
                         f"{p.sni} carried no CertificateRequest (F1.2).", label)
            board.support("verify-client-off", 0.0, _setting_line(server, "ssl_verify_client"))
        elif server is not None and server.verify != "off":
            board.raise_("nginx-not-reloaded", 0.5, line,
                         f"the configuration on disk says ssl_verify_client {server.verify} for "
                         f"{server.label}, but the running nginx did not ask for a certificate.", label)
            board.support("nginx-not-reloaded", 0.0, _setting_line(server, "ssl_verify_client"))
        elif server is None:
            board.raise_("verify-client-off", 0.4, line,
                         f"{p.where} never asked for a client certificate (no CertificateRequest).")
        return
    names = list(cr.ca_names)
    disk = disk_ca_names(ev, server)
    if not names:
        if server is not None and canames_disabled(server) is not None:
            node = canames_disabled(server)
            board.raise_("ca-names-disabled", 0.6, line,
                         f"{server.label} asks for a certificate but names no CA because of "
                         f"`{node_text(node)}` (F1.6).", label)
            board.support("ca-names-disabled", 0.0, EvidenceLine("config", f"{node.path}:{node.line}", node_text(node)))
        elif server is not None and trusted_only(server):
            board.raise_("ca-names-trusted-only", 0.55, line,
                         f"{server.label} trusts its client CA through ssl_trusted_certificate only, "
                         "which is never advertised: the CA list is empty (F1.3, F1.4).", label)
            board.support("ca-names-trusted-only", 0.0, _setting_line(server, "ssl_trusted_certificate"))
        elif disk:
            board.raise_("nginx-not-reloaded", 0.6, line,
                         f"the CA file of {server.label} on disk names {len(disk)} CA(s), the running "
                         "nginx advertises none.", label)
        elif server is None:
            board.raise_("ca-names-trusted-only", 0.3, line,
                         f"{p.where} asks for a certificate with an empty CA list: trusted-only "
                         "(F1.4) or `Options -CANames` (F1.6).")
    elif disk is not None and disk and _norm(names) != _norm(disk):
        board.raise_("nginx-not-reloaded", 0.75, line,
                     f"the running nginx advertises {'; '.join(names)} for {server.label}, the CA "
                     f"file on disk names {'; '.join(disk)}: reload nginx.", label)
        setting = server.settings["ssl_client_certificate"]
        board.support("nginx-not-reloaded", 0.0, EvidenceLine(
            "file", ev.config.resolve(setting.args[0]) + "#0", "on disk: " + "; ".join(disk)))
    if names and ev.client and not _rejected_offline(ev, server) and not (client_issuers(ev.client) & set(names)):
        user = p.attempt("user")
        weight = 0.45 if user is not None and user.http is not None and user.http.status == 200 else 0.3
        board.raise_("client-issuer-not-advertised", weight, EvidenceLine(
            "probe", p.where, f"{p.label}: advertised CA names {'; '.join(names)}; your certificate's "
            f"issuer {ev.client[0].issuer.rfc4514_string()} is not among them"
            + (f" (sent anyway: {_http(user)})" if user is not None else "")),
            f"clients holding a certificate from {ev.client[0].issuer.rfc4514_string()} are not asked "
            f"for it by {label or p.where}, so browsers do not offer it (F1.1).", label)


def _probe_without_sni(ev: Evidence, board: Board, p: ProbeEvidence, none: Any, line: EvidenceLine) -> None:
    server = p.server
    cr = none.certificate_request
    page = none.http.page if none.http is not None else None
    label = server.label if server is not None else None
    if cr is None and page == 496:
        default = p.handshake_server
        board.raise_("no-sni-default-server", 0.7, line,
                     f"a client without SNI asking for Host {p.host_header} is never asked for a "
                     f"certificate (the default {default.label if default is not None else 'server'} "
                     f"handled the handshake), then {label or 'the server'} answers 400 (F7.3).", label)
        if default is not None:
            board.support("no-sni-default-server", 0.0, _setting_line(default, "ssl_verify_client"))
    elif cr is not None and server is not None and p.handshake_server is not None \
            and p.handshake_server is not server and server.verify != "off":
        mine = disk_ca_names(ev, server)
        if mine is not None and _norm(list(cr.ca_names)) != _norm(mine):
            board.raise_("default-server-other-ca", 0.45, line,
                         f"without SNI the default {p.handshake_server.label} verifies clients of "
                         f"{server.label} against other CAs (F7.3).", label)


def _rejected_offline(ev: Evidence, server: Any) -> bool:
    """Did the user's certificate fail verification against this server (or every server)?"""
    results = [v.result for v in ev.verifies if server is None or v.server is server]
    return bool(results) and all(r.status != 200 for r in results)


def _norm(names: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names)))




__all__ = ["from_probes", "node_text", "canames_disabled", "trusted_only", "disk_ca_names",
           "wants_mtls", "client_issuers"]
