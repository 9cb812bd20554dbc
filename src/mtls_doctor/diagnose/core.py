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
from typing import Any

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
    21: ("client-issuer-unknown", "client-ca-not-trusted"),
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
_LOG_HEAD = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (?:\*\d+ )?")


def diagnose(ev: Evidence) -> tuple[RootCause, ...]:
    """The root causes the evidence supports, most likely first (empty: nothing wrong found)."""
    board = Board()
    _from_lint(ev, board)
    _from_config(ev, board)
    verified = _from_verify(ev, board)
    from_probes(ev, board, verified)
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


def _from_lint(ev: Evidence, board: Board) -> None:
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


# --- the user's certificate, judged offline -------------------------------------------------


def _from_verify(ev: Evidence, board: Board) -> set[str]:
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
            # Without the issuer's certificate an omitted intermediate and a foreign CA look
            # the same (21); real nginx keeps rejecting a foreign CA's leaf sent with its
            # issuer (19), so no single reading may be claimed (tests/truth, F3.4, F4.2).
            raised.add("client-issuer-unknown")
            board.raise_("client-issuer-unknown", 0.5, line,
                         f"{subject} was sent without intermediates and its issuer "
                         f"{ev.client[0].issuer.rfc4514_string() if ev.client else ''} is not in the "
                         f"trust files of {label or 'the server'}: an intermediate it must send, or "
                         "a CA the server does not trust (F3.4, F4.2).", label)
            continue
        cause, weight = VERIFY_MAP.get(code, ("client-certificate-rejected", 0.6))
        raised.add(cause)
        board.raise_(cause, weight, line, f"{subject} fails in {label or 'the server'}: "
                     f"{r.ssl_client_verify} ({code}).", label,
                     Fix(r.fix) if r.fix else None)
    return raised


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
            board.raise_("identity-headers-forgeable", 0.6, EvidenceLine(
                "config", f"{d.path}:{d.line}", node_text(d)),
                f"{server.label} ({server.verify}) passes {', '.join(names)} to the backend but not "
                "$ssl_client_verify, and nothing checks it: the backend cannot tell a verified "
                "identity from a forged header (F2.2, F2.3).", server.label,
                Fix("Pass the verdict too and let the backend require SUCCESS (or check it in nginx).",
                    "proxy_set_header X-Client-Verify $ssl_client_verify;"))


# --- error logs -----------------------------------------------------------------------------


def _from_logs(ev: Evidence, board: Board) -> None:
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
