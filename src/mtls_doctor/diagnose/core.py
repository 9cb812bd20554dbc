"""Join the evidence of lint, files, probe, verify and logs into ranked root causes (pure).

Invariants of this module:
- no I/O, no clock: ``diagnose(evidence)`` is a function of its argument (``Evidence.at`` is the
  instant); the same evidence always gives the same causes in the same order;
- each piece of evidence adds a weight in (0, 1) to a cause; a cause's confidence is the
  noisy-OR of its weights, so independent sources (config + live probe + logs) reinforce each
  other; causes are ranked by confidence, ties by the catalogue order (``causes.ORDER``);
- a live observation (probe, verify of the user's certificate) weighs more than a prediction
  from the configuration; a log line about one client's certificate (self-signed, foreign CA,
  expired, revoked: nginx rejecting it is correct) only SUPPORTS a cause other evidence raised,
  while log lines that condemn the configuration (2, 3, 12, 26, F4.2) raise one on their own;
- "no CertificateRequest" and "a CertificateRequest with no CA names" are kept apart: the first
  is verify off (F1.2) or the SNI/default-server trap (F7.3), the second trusted-only (F1.4) or
  ``-CANames`` (F1.6), and s_client prints the same line for both (F8.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from mtls_doctor.diagnose.causes import CAUSES, ORDER
from mtls_doctor.diagnose.evidence import Evidence, EvidenceLine, ProbeEvidence, RootCause
from mtls_doctor.model import Finding, Fix, Severity

#: lint rule -> (cause, weight): predictions from the configuration and the files it names
LINT_MAP: dict[str, tuple[str, float]] = {
    "MTLS204": ("verify-client-without-ca", 0.7),
    "MTLS230": ("config-file-missing", 0.7),
    "MTLS210": ("no-sni-default-server", 0.45),
    "MTLS211": ("default-server-other-ca", 0.55),
    "MTLS205": ("verify-client-off", 0.45),
    "MTLS203": ("ca-names-trusted-only", 0.35),
    "MTLS206": ("client-issuer-not-advertised", 0.2),
    "MTLS207": ("verify-depth-exceeded", 0.5),
    "MTLS103": ("ca-file-missing-root", 0.6),
    "MTLS302": ("crl-expired", 0.6),
    "MTLS301": ("crl-missing-for-ca", 0.6),
    "MTLS109": ("client-certificate-purpose", 0.45),
    "MTLS201": ("verification-not-enforced", 0.5),
    "MTLS202": ("verification-not-enforced", 0.5),
    "MTLS405": ("identity-headers-forgeable", 0.6),
    "MTLS401": ("error-log-hides-verify-failures", 0.45),
}
#: rules whose lower-severity findings are warnings about the future, not causes (a CRL that
#: expires soon is MTLS302 WARNING; only the ERROR means it has expired)
LINT_MIN_SEVERITY: dict[str, Severity] = {"MTLS302": Severity.ERROR}
#: (rule, severity) whose cause differs: MTLS203 is an ERROR when the nginx version refuses a
#: trusted-only configuration (< 1.27.2, F1.5), a WARNING about the empty CA list otherwise (F1.4)
LINT_BY_SEVERITY: dict[tuple[str, Severity], tuple[str, float]] = {
    ("MTLS203", Severity.ERROR): ("verify-client-without-ca", 0.7),
}

#: verify error code -> cause, for the user's certificate judged offline (F4.2)
VERIFY_MAP: dict[int, tuple[str, float]] = {
    2: ("ca-file-missing-root", 0.7),
    3: ("crl-missing-for-ca", 0.75),
    12: ("crl-expired", 0.8),
    26: ("client-certificate-purpose", 0.8),
    10: ("client-certificate-expired", 0.8),
    9: ("client-certificate-expired", 0.8),
    23: ("client-certificate-revoked", 0.8),
    # a certificate from a CA the server does not trust: nginx is right to refuse it, so this
    # weighs less than a configuration that breaks every client
    18: ("client-ca-not-trusted", 0.5),
    19: ("client-ca-not-trusted", 0.5),
    20: ("client-ca-not-trusted", 0.5),
    21: ("client-ca-not-trusted", 0.5),
}

#: log verify codes that condemn the configuration: they raise a cause on their own
LOG_RAISES: dict[int, tuple[str, float]] = {
    2: ("ca-file-missing-root", 0.35),
    3: ("crl-missing-for-ca", 0.4),
    12: ("crl-expired", 0.45),
    26: ("client-certificate-purpose", 0.45),
}
#: log verify codes that only support causes raised by other evidence
LOG_SUPPORTS: dict[int, tuple[str, ...]] = {
    2: ("verify-depth-exceeded",),
    20: ("verify-depth-exceeded", "client-ca-not-trusted"),
    21: ("client-omits-intermediate", "client-ca-not-trusted"),
    18: ("client-ca-not-trusted",), 19: ("client-ca-not-trusted",),
    10: ("client-certificate-expired",), 9: ("client-certificate-expired",),
    23: ("client-certificate-revoked",),
}
LOG_NAMED_RAISES: dict[str, tuple[str, float]] = {
    "client-rejected-server-certificate": ("server-certificate-rejected-by-client", 0.35),
    "sni-host-mismatch": ("sni-host-mismatch", 0.35),
    "config-no-client-ca": ("verify-client-without-ca", 0.5),
}
LOG_NAMED_SUPPORTS: dict[str, tuple[str, ...]] = {
    "no-required-certificate": ("no-sni-default-server", "client-issuer-not-advertised",
                                "verify-client-off"),
    "config-ca-file-load-failed": ("config-file-missing",),
    "config-crl-load-failed": ("config-file-missing",),
    "config-cannot-load-certificate": ("config-file-missing",),
}
SUPPORT_WEIGHT = 0.25
_LOG_HEAD = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (?:\*\d+ )?")
MAX_EVIDENCE = 8


@dataclass
class _Acc:
    cause: str
    weights: list[float] = field(default_factory=list)
    supported_by: set[str] = field(default_factory=set)  # sources that already added support
    lines: list[EvidenceLine] = field(default_factory=list)
    summary: str | None = None
    server: str | None = None
    fix: Fix | None = None


class _Board:
    """The causes raised so far (mutable while joining; frozen RootCauses come out)."""

    def __init__(self) -> None:
        self.accs: dict[str, _Acc] = {}

    def raise_(self, cause: str, weight: float, line: EvidenceLine, summary: str | None = None,
               server: str | None = None, fix: Fix | None = None) -> None:
        acc = self.accs.setdefault(cause, _Acc(cause))
        self._add(acc, weight, line)
        acc.summary = acc.summary or summary
        acc.server = acc.server or server
        acc.fix = acc.fix or fix

    def support(self, cause: str, weight: float, line: EvidenceLine) -> bool:
        acc = self.accs.get(cause)
        if acc is None:
            return False
        if line.source in acc.supported_by:
            weight = 0.0  # one source supports a cause once, however many lines it has
        acc.supported_by.add(line.source)
        self._add(acc, weight, line)
        return True

    @staticmethod
    def _add(acc: _Acc, weight: float, line: EvidenceLine) -> None:
        acc.weights.append(weight)
        if line not in acc.lines:
            acc.lines.append(line)

    def result(self) -> tuple[RootCause, ...]:
        scored = []
        for acc in self.accs.values():
            miss = 1.0
            for w in acc.weights:
                miss *= 1.0 - w
            scored.append((min(0.99, 1.0 - miss), acc))
        scored.sort(key=lambda s: (-round(s[0], 6), ORDER.get(s[1].cause, 999)))
        out = []
        for rank, (confidence, acc) in enumerate(scored, 1):
            info = CAUSES[acc.cause]
            out.append(RootCause(
                cause=acc.cause, title=info.title, rank=rank, confidence=confidence,
                summary=acc.summary or info.title,
                evidence=tuple(_ordered(acc.lines)[:MAX_EVIDENCE]),
                fix=acc.fix or Fix(info.fix, info.snippet), facts=info.facts, server=acc.server))
        return tuple(out)


_SOURCE_ORDER = {"verify": 0, "probe": 1, "config": 2, "file": 3, "logs": 4, "nginx": 5}


def _ordered(lines: list[EvidenceLine]) -> list[EvidenceLine]:
    """One line of each source first (live before predicted), then the rest, same order."""
    by_source = sorted(lines, key=lambda l: _SOURCE_ORDER.get(l.source, 9))
    firsts: list[EvidenceLine] = []
    seen: set[str] = set()
    for line in by_source:
        if line.source not in seen:
            seen.add(line.source)
            firsts.append(line)
    return firsts + [l for l in by_source if l not in firsts]


def diagnose(ev: Evidence) -> tuple[RootCause, ...]:
    """The root causes the evidence supports, most likely first (empty: nothing wrong found)."""
    board = _Board()
    _from_lint(ev, board)
    _from_config(ev, board)
    verified = _from_verify(ev, board)
    _from_probes(ev, board, verified)
    _from_logs(ev, board)
    return board.result()


def all_findings(ev: Evidence) -> tuple[Finding, ...]:
    return tuple(ev.lint) + tuple(ev.probe_findings) + tuple(ev.log_findings)


# --- configuration and files ---------------------------------------------------------------


def _server_of_line(ev: Evidence, path: str | None, line: int | None) -> Any:
    if ev.eff is None or path is None or line is None:
        return None
    for server in ev.eff.servers:
        if server.node.path == path and any(d.path == path and d.line == line for d in server.walk()):
            return server
    return None


def _from_lint(ev: Evidence, board: _Board) -> None:
    for f in ev.lint:
        mapped = LINT_MAP.get(f.rule)
        if mapped is None:
            continue
        cause, weight = LINT_BY_SEVERITY.get((f.rule, f.severity), mapped)
        if f.severity < LINT_MIN_SEVERITY.get(f.rule, Severity.INFO):
            continue
        loc = f.location
        source = "file" if loc.index is not None else "config"
        server = _server_of_line(ev, loc.path, loc.line)
        board.raise_(cause, weight, EvidenceLine(source, str(loc), f"{f.rule}: {f.message}"),
                     summary=f.message, server=server.label if server is not None else None,
                     fix=f.fix if f.fix is not None and f.fix.snippet else None)


# --- live probes ----------------------------------------------------------------------------


def _node_text(node: Any) -> str:
    return " ".join((node.name, *node.args)) + ";"


def _setting_line(server: Any, name: str) -> EvidenceLine:
    setting = server.settings[name]
    if setting.node is not None:
        return EvidenceLine("config", f"{setting.node.path}:{setting.node.line}", _node_text(setting.node))
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


def _from_probes(ev: Evidence, board: _Board, verified: set[str]) -> None:
    for p in ev.probes:
        none = p.attempt("none")
        if none is None or not (none.handshake_done or none.certificate_request is not None):
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


def _probe_with_sni(ev: Evidence, board: _Board, p: ProbeEvidence, none: Any, line: EvidenceLine) -> None:
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
                         f"`{_node_text(node)}` (F1.6).", label)
            board.support("ca-names-disabled", 0.0, EvidenceLine("config", f"{node.path}:{node.line}", _node_text(node)))
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


def _probe_without_sni(ev: Evidence, board: _Board, p: ProbeEvidence, none: Any, line: EvidenceLine) -> None:
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


# --- the user's certificate, judged offline -------------------------------------------------


def _from_verify(ev: Evidence, board: _Board) -> set[str]:
    """Causes raised by the user's certificate failing offline (returned, for the probes)."""
    raised: set[str] = set()
    if not ev.verifies:
        return raised
    if any(v.result.status == 200 and v.result.ssl_client_verify == "SUCCESS" for v in ev.verifies):
        return raised  # the certificate is good for (at least) the server it is meant for
    subject = ev.client[0].subject.rfc4514_string() if ev.client else "your certificate"
    for v in ev.verifies:
        r = v.result
        if r.error_code == 0 and r.status in (200, None) and not r.handshake_failed:
            continue
        label = v.server.label if v.server is not None else None
        where = label or (ev.client_source or "client")
        first = r.explanation.split(". ")[0].rstrip(".") + "." if r.explanation else ""
        line = EvidenceLine("verify", where, f"{subject}: $ssl_client_verify={r.ssl_client_verify}, "
                            f"HTTP {r.status if r.status is not None else 'none'}. {first}".strip())
        code = r.error_code
        deeper = v.deeper
        if code in (2, 20, 22) and deeper is not None and deeper.error_code == 0:
            need = deeper.intermediates if deeper.intermediates is not None else r.verify_depth + 1
            board.raise_("verify-depth-exceeded", 0.8, line,
                         f"the client chain has {need} intermediate(s), but ssl_verify_depth is "
                         f"{r.verify_depth} in {label or 'the server'} (F3.3).", label,
                         Fix(f"Raise ssl_verify_depth to {need}.", f"ssl_verify_depth {need};"))
            raised.add("verify-depth-exceeded")
            continue
        if code == 21 and v.chain_sent == 0:
            raised.add("client-omits-intermediate")
            board.raise_("client-omits-intermediate", 0.5, line,
                         f"{subject} was sent without intermediates and its issuer "
                         f"{ev.client[0].issuer.rfc4514_string() if ev.client else ''} is not in the "
                         f"trust files of {label or 'the server'} (F3.4).", label)
            continue
        cause, weight = VERIFY_MAP.get(code, ("client-certificate-rejected", 0.6))
        raised.add(cause)
        board.raise_(cause, weight, line, f"{subject} fails in {label or 'the server'}: "
                     f"{r.ssl_client_verify} ({code}).", label,
                     Fix(r.fix) if r.fix else None)
    return raised


# --- configuration analyses no lint rule makes ------------------------------------------------


def _from_config(ev: Evidence, board: _Board) -> None:
    """A proxied server under optional/optional_no_ca hands identity headers to the backend but
    never the verdict: the backend cannot tell a verified DN from none, and a client without a
    certificate adds 'X-Client-Verify: SUCCESS' itself (F2.2, F2.3, section 5)."""
    if ev.eff is None:
        return
    from mtls_doctor.rules.config.common import ANY_CLIENT_VAR, VERIFY_VAR, verify_use

    for server in ev.eff.servers:
        if server.verify not in ("optional", "optional_no_ca"):
            continue
        headers = [d for loc in server.locations if loc.proxies for d in loc.proxy_headers
                   if len(d.args) >= 2 and ANY_CLIENT_VAR.search(d.args[1])]
        if not headers or any(VERIFY_VAR.search(d.args[1]) for d in headers):
            continue
        if verify_use(server, ev.eff).success_checked:
            continue
        names = sorted({d.args[0] for d in headers})
        for d in headers:
            board.raise_("identity-headers-forgeable", 0.6, EvidenceLine(
                "config", f"{d.path}:{d.line}", _node_text(d)),
                f"{server.label} ({server.verify}) passes {', '.join(names)} to the backend but not "
                "$ssl_client_verify, and nothing checks it: the backend cannot tell a verified "
                "identity from a forged header (F2.2, F2.3).", server.label,
                Fix("Pass the verdict too and let the backend require SUCCESS (or check it in nginx).",
                    "proxy_set_header X-Client-Verify $ssl_client_verify;"))


# --- error logs -----------------------------------------------------------------------------


def _from_logs(ev: Evidence, board: _Board) -> None:
    if ev.logs is None:
        return
    for g in ev.logs.summary.groups:
        cid = g.cause.id
        text = f"{g.count} line(s): " + _LOG_HEAD.sub(r"\1 ", g.example)
        if len(text) > 240:
            text = text[:237] + "..."
        line = EvidenceLine("logs", f"{g.source}:{g.line}", text)
        if g.verify_code is not None and cid.startswith("client-cert-verify-failed:"):
            raised = LOG_RAISES.get(g.verify_code)
            supported = False
            for cause in LOG_SUPPORTS.get(g.verify_code, ()):
                supported = board.support(cause, SUPPORT_WEIGHT, line) or supported
            if raised is not None and not (g.verify_code == 2 and "verify-depth-exceeded" in board.accs):
                board.raise_(raised[0], raised[1], line,
                             f"nginx rejected {g.count} client certificate(s) with "
                             f"{g.verify_code} '{g.verify_text}'.")
            continue
        if cid in LOG_NAMED_RAISES:
            cause, weight = LOG_NAMED_RAISES[cid]
            board.raise_(cause, weight, line, f"{g.cause.title} ({g.count} line(s)).")
        for cause in LOG_NAMED_SUPPORTS.get(cid, ()):
            board.support(cause, SUPPORT_WEIGHT, line)
    if ev.logs.summary.files and not any(f.has_info for f in ev.logs.summary.files):
        board.support("error-log-hides-verify-failures", SUPPORT_WEIGHT, EvidenceLine(
            "logs", ", ".join(f.source for f in ev.logs.summary.files),
            "no info-level line in the recent log: verification failures cannot appear (F4.1)"))


__all__ = ["diagnose", "all_findings", "disk_ca_names", "wants_mtls", "client_issuers",
           "canames_disabled", "trusted_only", "LINT_MAP", "VERIFY_MAP"]
