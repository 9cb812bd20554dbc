"""Join the evidence of lint, files, probe, verify, logs and symptoms into ranked root causes (pure).

Invariants of this module:
- no I/O, no clock: ``diagnose(evidence)`` is a function of its argument (``Evidence.at`` is the
  instant); the same evidence always gives the same causes in the same order;
- each piece of evidence reaches the causes that DECLARE it (``Cause.signals``, dispatched by
  ``Board.signal``): every error-severity finding and every ``logs`` cause raises or supports one
  (a meta-test holds it); what a table cannot say is judged here, in ``probes`` and in
  ``symptoms`` (the user's target and what they see);
- evidence about another server than the one the user targets weighs less; log lines from
  before the last (re)start or reload are history (``LogEvidence.history``) and raise nothing;
- "no CertificateRequest" and "a CertificateRequest with no CA names" are kept apart (F1.4,
  F8.2); the default-server trap (F7.3) is raised only where the client lands on the default.
"""

from __future__ import annotations

import re
from typing import Any

from mtls_doctor.diagnose import causes as C
from mtls_doctor.diagnose.board import SUPPORT_WEIGHT, Board
from mtls_doctor.diagnose.evidence import Evidence, EvidenceLine, RootCause
from mtls_doctor.diagnose.probes import (
    canames_disabled,
    client_issuers,
    disk_ca_names,
    from_probes,
    node_text,
    trusted_only,
    wants_mtls,
)
from mtls_doctor.diagnose.signals import Kind
from mtls_doctor.diagnose.target import fix_values
from mtls_doctor.model import Finding, Severity
from mtls_doctor.pki.ocsp import REVOKED as OCSP_REVOKED

#: rules whose cause depends on the severity: "<code>-error" is declared for the ERROR one; the
#: others below their minimum are warnings about the future, not causes (a CRL that expires soon)
SEVERITY_KEYED = frozenset({"MTLS201", "MTLS202", "MTLS203", "MTLS214", "MTLS302"})
MIN_SEVERITY: dict[str, Severity] = {"MTLS302": Severity.ERROR}
#: weight factor for evidence about a server the user's client does not reach
OTHER_SERVER = 0.4
#: weight factor for a finding about one CA of a file whose other CAs are fine
ONE_OF_MANY = 0.4
#: log causes about ONE client's own certificate or client software, which nginx is right to
#: refuse (another CA, self-signed, expired, revoked, no common protocol, an unknown name): they
#: raise a cause while the user has not shown a certificate that works; once the user's own
#: certificate is accepted they are other clients' problems and only support
PER_CLIENT_LOG = frozenset(
    [f"client-cert-verify-failed:{c}" for c in (9, 10, 18, 19, 20, 21, 23, 27)]
    + ["client-cert-ocsp-revoked", "tls-version-or-cipher-mismatch", "handshake-rejected",
       "plain-http-to-https-port", "no-required-certificate"])
_LOG_HEAD = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (?:\*\d+ )?")


def diagnose(ev: Evidence) -> tuple[RootCause, ...]:
    """The root causes the evidence supports, most likely first (empty: nothing wrong found)."""
    from mtls_doctor.diagnose.symptoms import failure_seen, from_symptoms, judge_config

    board = Board()
    _from_findings(ev, board)
    _from_config(ev, board)
    _from_target(ev, board)
    verified = _from_verify(ev, board)
    from_probes(ev, board, verified)
    _from_logs(ev, board)
    judge_config(ev, board)
    from_symptoms(ev, board)
    return board.result(failure_seen(ev))


def all_findings(ev: Evidence) -> tuple[Finding, ...]:
    return tuple(ev.lint) + tuple(ev.probe_findings) + tuple(ev.log_findings)


def target_servers(ev: Evidence) -> tuple[Any, ...]:
    """The server blocks the user's client reaches (handshake and request), () when unknown."""
    t = ev.target
    return tuple(s for s in (t.handshake_server, t.request_server) if s is not None)


def _scale_for(ev: Evidence, server: Any) -> float:
    mine = target_servers(ev)
    if not mine or server is None or any(server is s for s in mine):
        return 1.0
    return OTHER_SERVER


# --- findings of lint, probe and logs ------------------------------------------------------------


def server_of_line(ev: Evidence, path: str | None, line: int | None) -> Any:
    if ev.eff is None or path is None or line is None:
        return None
    for server in ev.eff.servers:
        if server.node.path == path and any(d.path == path and d.line == line for d in server.walk()):
            return server
    return None


def _from_findings(ev: Evidence, board: Board) -> None:
    sources = [("config", f) for f in ev.lint] + [("probe", f) for f in ev.probe_findings] + \
        [("logs", f) for f in ev.log_findings]
    flagged: dict[str, set[int]] = {}  # CA file -> indexes of certificates a finding is about
    for f in ev.lint:
        if f.location.path and f.location.index is not None:
            flagged.setdefault(f.location.path, set()).add(f.location.index)
    for source, f in sources:
        if f.severity < MIN_SEVERITY.get(f.rule, Severity.INFO):
            continue
        key = f"{f.rule}-error" if f.rule in SEVERITY_KEYED and f.severity >= Severity.ERROR else f.rule
        loc = f.location
        if source == "config" and loc.index is not None:
            source = "file"
        server = server_of_line(ev, loc.path, loc.line)
        role = ev.roles.get(loc.path or "")
        values = fix_values(server) if server is not None else fix_values(_only_target(ev))
        scale = _scale_for(ev, server) * (ONE_OF_MANY if role == "ca" and _others_valid(ev, f, flagged) else 1.0)
        board.signal(Kind.FINDING, key, EvidenceLine(source, str(loc), f"{f.rule}: {f.message}"),
                     summary=f.message, server=server.label if server is not None else None,
                     fix=values, scale=scale, role=role)


def _others_valid(ev: Evidence, f: Finding, flagged: dict[str, set[int]]) -> bool:
    """A finding about one certificate of a CA file that holds other certificates no finding is
    about: only the clients chained to that one fail (an expired root in a bundle of many)."""
    path, index = f.location.path, f.location.index
    if path is None or index is None:
        return False
    bundle = getattr(ev.files.get(path), "bundle", None)
    total = len(bundle.certificates) if bundle is not None else 0
    return total > len(flagged.get(path, ()))


def _only_target(ev: Evidence) -> Any:
    servers = target_servers(ev)
    if servers:
        return servers[-1]
    if ev.eff is not None:
        verifying = [s for s in ev.eff.servers if s.verify != "off"]
        if len(verifying) == 1:
            return verifying[0]
    return None


# --- the user's certificate, judged offline -------------------------------------------------


def relevant_verifies(ev: Evidence) -> tuple[Any, ...]:
    """Verify results against the server whose trust store the user's handshake gets (F7.3);
    all of them when the target is unknown."""
    hs = ev.target.handshake_server
    if hs is not None:
        mine = tuple(v for v in ev.verifies if v.server is hs)
        if mine or hs.verify == "off":
            return mine
    return tuple(ev.verifies)


def _from_verify(ev: Evidence, board: Board) -> set[str]:
    """Causes raised by the user's certificate failing offline (returned, for the probes)."""
    raised: set[str] = set()
    verifies = relevant_verifies(ev)
    if not verifies:
        return raised
    if any(passes(v.result) and v.result.ssl_client_verify == "SUCCESS" for v in verifies):
        return raised  # the certificate is good for (at least) the server it is meant for
    subject = ev.client[0].subject.rfc4514_string() if ev.client else "your certificate"
    for v in verifies:
        r = v.result
        if passes(r) or (r.error_code == 0 and r.status is None and r.admitted is None
                         and not r.handshake_failed and not (r.ocsp or {}).get("reason")):
            continue  # nginx lets it through (optional_no_ca tolerates 18-21 and 27, F2.4)
        label = v.server.label if v.server is not None else None
        values = fix_values(v.server)
        where = label or (ev.client_source or "client")
        first = r.explanation.split(". ")[0].rstrip(".") + "." if r.explanation else ""
        line = EvidenceLine("verify", where, f"{subject}: $ssl_client_verify={r.ssl_client_verify}, "
                            f"{wire(r)}. {first}".strip())
        code = r.error_code
        deeper = v.deeper
        reason = (r.ocsp or {}).get("reason")
        if reason is not None:
            # the chain verified and ssl_ocsp refused it (pki.ocsp): revoked, or no usable answer
            cause = C.ClientCertificateRevoked if reason == OCSP_REVOKED else C.OcspCheckFailing
            board.raise_(cause, 0.75, line, f"{subject}: {r.explanation}", label, values)
            raised.add(cause.id)
            continue
        if code in (2, 20, 22) and deeper is not None and deeper.error_code == 0:
            need = deeper.intermediates if deeper.intermediates is not None else r.verify_depth + 1
            board.raise_(C.VerifyDepthExceeded, 0.8, line,
                         f"the client chain has {need} intermediate(s), but ssl_verify_depth is "
                         f"{r.verify_depth} in {label or 'the server'} (F3.3).", label,
                         {**values, "depth": str(need)})
            raised.add(C.VerifyDepthExceeded.id)
            continue
        if code == 21 and v.chain_sent == 0:
            # Without the issuer's certificate an omitted intermediate and a foreign CA look
            # the same (21); real nginx keeps rejecting a foreign CA's leaf sent with its
            # issuer (19), so no single reading may be claimed (tests/truth, F3.4, F4.2).
            raised.add(C.ClientIssuerUnknown.id)
            board.raise_(C.ClientIssuerUnknown, 0.5, line,
                         f"{subject} was sent without intermediates and its issuer "
                         f"{ev.client[0].issuer.rfc4514_string() if ev.client else ''} is not in the "
                         f"trust files of {label or 'the server'}: an intermediate it must send, or "
                         "a CA the server does not trust (F3.4, F4.2).", label, values)
            continue
        summary = f"{subject} fails in {label or 'the server'}: {r.ssl_client_verify} ({code})."
        got = board.signal(Kind.VERIFY, str(code), line, summary, label, values)
        if not got:
            board.raise_(C.ClientCertificateRejected, 0.6, line, summary, label, values)
            got = [C.ClientCertificateRejected.id]
        raised.update(got)
    return raised


def passes(result: Any) -> bool:
    """nginx lets the client through: HTTP 200, or a stream session that goes on."""
    return result.accepted


def wire(result: Any) -> str:
    """What the client sees of ``result``: the HTTP status, or for a stream server (which has
    none, pki.serverkind) the session going on or closed right after the handshake."""
    kind = getattr(result, "server_kind", None) or "http"
    if kind == "http":
        return f"HTTP {result.status if result.status is not None else 'none'}"
    if result.admitted:
        return f"{kind}: the session goes on"
    if result.reply:
        return f"{kind}: nginx replies {result.reply!r} and closes the connection"
    return f"{kind}: nginx closes the connection right after the TLS handshake"


# --- configuration analyses no lint rule makes ------------------------------------------------


def _from_config(ev: Evidence, board: Board) -> None:
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
            board.raise_(C.IdentityHeadersForgeable, 0.6 * _scale_for(ev, server), EvidenceLine(
                "config", f"{d.path}:{d.line}", node_text(d)),
                f"{server.label} ({server.verify}) passes {', '.join(names)} to the backend but not "
                "$ssl_client_verify, and nothing checks it: the backend cannot tell a verified "
                "identity from a forged header (F2.2, F2.3).", server.label, fix_values(server))


def _from_target(ev: Evidence, board: Board) -> None:
    """What the client sends decides the answer before any certificate does: an SNI that named
    a server and a different Host whose server verifies clients get 421 (F7.2). nginx compares
    the two names as strings (``ngx_http_set_virtual_server``): two names of one server differ
    too; the Host server's ssl_verify_client alone decides, not which CA verified."""
    t = ev.target
    hs, rq = t.handshake_server, t.request_server
    if not (t.sni_known and t.sni and t.host and t.sni_matches and rq is not None and hs is not None):
        return
    if _name(t.sni) == _name(t.host) or rq.verify == "off":
        return
    board.raise_(C.SniHostMismatch, 0.6, EvidenceLine("config", t.why or "--sni/--host", (
        f"SNI {t.sni} -> {hs.label}; Host {t.host} -> {rq.label} (ssl_verify_client {rq.verify})")),
        f"SNI {t.sni} selects {hs.label}, Host {t.host} selects {rq.label}, which verifies clients: "
        "nginx answers every request 421 Misdirected Request (F7.2).", rq.label, fix_values(rq, t.address))


def _name(host: str) -> str:
    """A Host or SNI name as nginx compares it: lower case, no port, no trailing dot."""
    name = host.lower()
    if not name.startswith("[") and name.count(":") == 1:
        name = name.split(":")[0]
    return name.rstrip(".")


# --- error logs -----------------------------------------------------------------------------


def user_certificate_works(ev: Evidence) -> bool:
    """The user's own certificate passes where their client lands: SUCCESS offline against the
    handshake server's trust (F7.3), or sent live and answered 200 after a CertificateRequest."""
    if any(passes(v.result) and v.result.ssl_client_verify == "SUCCESS"
           for v in relevant_verifies(ev)):
        return True
    from mtls_doctor.diagnose.report import accepted

    return accepted(ev) is not None


def log_line(g: Any) -> EvidenceLine:
    text = f"{g.count} line(s): " + _LOG_HEAD.sub(r"\1 ", g.example)
    if len(text) > 240:
        text = text[:237] + "..."
    return EvidenceLine("logs", f"{g.source}:{g.line}", text)


def _from_logs(ev: Evidence, board: Board) -> None:
    if ev.logs is None:
        return
    values = fix_values(_only_target(ev))
    works = user_certificate_works(ev)
    for g in ev.logs.summary.groups:
        cid = g.cause.id
        line = log_line(g)
        if g.verify_code is not None and cid.startswith(C.VERIFY_LOG):
            key = cid if board.declared(Kind.LOG, cid) else C.VERIFY_LOG + "*"
            summary = (f"nginx rejected {g.count} client certificate(s) with {g.verify_code} "
                       f"'{g.verify_text}'.")
            only_support = (g.verify_code in (2, 20) and board.has(C.VerifyDepthExceeded)) or (
                works and cid in PER_CLIENT_LOG)
            board.signal(Kind.LOG, key, line, summary, fix=values, only_support=only_support)
            continue
        if cid.startswith("upstream-cert-verify-failed:"):
            cid = C.UPSTREAM_LOG
        board.signal(Kind.LOG, cid, line, f"{g.cause.title} ({g.count} line(s)).", fix=values,
                     only_support=works and cid in PER_CLIENT_LOG)
    if ev.logs.summary.files and not any(f.has_info for f in ev.logs.summary.files):
        board.support(C.ErrorLogHidesVerifyFailures, SUPPORT_WEIGHT, EvidenceLine(
            "logs", ", ".join(f.source for f in ev.logs.summary.files),
            "no info-level line in the recent log: verification failures cannot appear (F4.1)"))


__all__ = ["diagnose", "all_findings", "disk_ca_names", "wants_mtls", "client_issuers",
           "canames_disabled", "trusted_only", "target_servers", "relevant_verifies",
           "server_of_line", "log_line"]
