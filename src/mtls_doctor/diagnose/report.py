"""Turn evidence and root causes into the ``diagnose`` Report (pure; JSON shape documented here).

``Report.data`` keys: ``at``, ``nginx`` (binary, version, openssl_built, openssl_running, prefix,
or null), ``config`` (main file or null), ``servers``, ``root_causes`` (most likely first: ``cause``
- a stable id from docs/diagnose-causes.md -, ``title``, ``rank``, ``confidence``, ``summary``,
``server``, ``evidence`` [{``source``, ``location``, ``text``}], ``fix`` {``text``, ``snippet``},
``facts``), ``probes``, ``logs`` (with ``history``: the groups of lines from before the last
(re)start or reload, and ``restarted_at``), ``verify``, ``notes``; added since: ``target`` (what
the user's client does and the server it reaches), ``symptoms``, ``verdict`` (``accepted``: your
certificate passed end to end, with ``where``; ``checked``: what was looked at; ``would_decide``:
the inputs that would decide when nothing was found) and ``close_call`` (two causes too close to
rank, and the observation that tells them apart). ``findings`` are the lint, probe and log
findings the causes were joined from.
"""

from __future__ import annotations

from typing import Any

from mtls_doctor.diagnose.core import all_findings
from mtls_doctor.diagnose.evidence import Evidence, RootCause
from mtls_doctor.model import Report


def _attempt(a: Any) -> dict[str, Any] | None:
    if a is None:
        return None
    cr = a.certificate_request
    return {
        "outcome": a.outcome.value,
        "certificate_request": cr is not None,
        "ca_names": list(cr.ca_names) if cr is not None else None,
        "status": a.http.status if a.http is not None else None,
        "page": a.http.page if a.http is not None else None,
        "error": a.error,
        "version": a.version,
    }


def _probe_notes(ev: Evidence) -> list[str]:
    """Endpoints that did not answer TLS (nginx not running there, or not reloaded since the
    listen was added), and endpoints the user's certificate was withheld from (unverified)."""
    out = []
    for p in ev.probes:
        a = p.attempt("none")
        if a is not None and not a.handshake_done and a.certificate_request is None:
            note = f"no TLS answer at {p.where} ({p.label}): {a.error or a.outcome.value}"
            if note not in out:
                out.append(note)
        mine = p.attempt("user")
        if mine is not None and mine.outcome.value == "server-untrusted":
            note = (f"your certificate was not sent to {p.where} ({p.label}): the server "
                    "certificate failed verification; give its CA with --ca-file (or --insecure "
                    "to send it anyway)")
            if note not in out:
                out.append(note)
    return out


#: two causes closer than this in confidence are a close call: the output says what decides
CLOSE = 0.1


def accepted(ev: Evidence) -> str | None:
    """Where the user's certificate was sent and accepted end to end (a CertificateRequest, then
    HTTP 200, on the server the user targets), or None."""
    from mtls_doctor.diagnose.probes import _target_probes

    for p in _target_probes(ev):
        user, none = p.attempt("user"), p.attempt("none")
        if user is None or none is None or user.http is None or user.http.status != 200:
            continue
        if none.certificate_request is None:
            continue
        hs = p.handshake_server or p.server
        if hs is not None and hs.verify == "optional_no_ca":
            continue  # 200 with FAILED is possible there (F2.4)
        return f"{p.where} ({p.label}): HTTP {user.http.status}"
    return None


def _checked(ev: Evidence) -> tuple[list[str], list[str]]:
    from mtls_doctor.report.view import plural

    checked, decide = [], []
    if ev.eff is not None:
        checked.append(f"configuration ({plural(len(ev.eff.servers), 'server')}) and the files it names")
    else:
        decide.append("the nginx configuration (--config, or run where nginx runs)")
    if ev.probes:
        checked.append(plural(len(ev.probes), "live probe"))
    if ev.client:
        checked.append("your certificate" + (" (sent)" if any(p.attempt("user") for p in ev.probes) else " (offline)"))
    else:
        decide.append("your client's certificate (--cert, and --key to send it)")
    if ev.logs is not None:
        checked.append(plural(len(ev.logs.paths), "error log"))
        if ev.logs.summary.files and not any(f.has_info for f in ev.logs.summary.files):
            decide.append("the error log at info level (`error_log ... info;`): the log read has no "
                          "info line, so client failures cannot show in it (F4.1)")
        elif any(f.rule == "MTLS401" for f in ev.lint):
            decide.append("error_log at info on the verifying server (MTLS401): failures there are "
                          "not logged (F4.1)")
    else:
        decide.append("nginx's error log at info level (--log)")
    if not ev.target.known:
        decide.append("where your client connects (--url, --sni/--no-sni, --server-name)")
    if not ev.symptoms:
        decide.append("what you see (--symptom)")
    return checked, decide


def _unexplained(ev: Evidence, causes: tuple[RootCause, ...]) -> list[str]:
    """Error findings no cause's evidence cites (so "no root cause" is never silent about them)."""
    from mtls_doctor.diagnose.causes import by_signal
    from mtls_doctor.diagnose.signals import Kind
    from mtls_doctor.model import Severity

    index = by_signal()
    cited = {e.text.split(":", 1)[0] for c in causes for e in c.evidence}

    def minor(rule: str) -> bool:  # declared only as a weak support: by design not a cause
        sigs = index.get((Kind.FINDING, rule), [])
        return bool(sigs) and all(not s.raises and s.weight <= 0.1 for _, s in sigs)

    out = []
    for f in all_findings(ev):
        if f.severity >= Severity.ERROR and f.rule not in cited and not minor(f.rule):
            line = f"{f.rule} {f.location}: {f.message}"
            if line not in out:
                out.append(line)
    return out[:10] if not causes else []


def _close_call(causes: tuple[RootCause, ...]) -> dict[str, Any] | None:
    from mtls_doctor.diagnose.causes import get

    if len(causes) < 2 or causes[0].confidence - causes[1].confidence >= CLOSE:
        return None
    a, b = causes[0], causes[1]
    if get(a.cause).exposure != get(b.cause).exposure:
        return None  # why clients fail and who else gets in are not rival explanations
    return {"causes": [a.cause, b.cause],
            "tell_apart": {c.cause: get(c.cause).sections().get("Tell apart", "") for c in (a, b)}}


def _history(ev: Evidence) -> dict[str, Any] | None:
    if ev.logs is None or ev.logs.history is None:
        return None
    return {"restarted_at": ev.logs.restarted_at,
            "groups": [{"cause": g.cause.id, "count": g.count, "verify_code": g.verify_code,
                        "location": f"{g.source}:{g.line}"} for g in ev.logs.history.groups]}


def build_report(ev: Evidence, causes: tuple[RootCause, ...]) -> Report:
    logs = None
    if ev.logs is not None:
        logs = {
            "files": [{"path": f.source, "lines": f.lines, "has_info": f.has_info}
                      for f in ev.logs.summary.files],
            "groups": [{"cause": g.cause.id, "count": g.count, "verify_code": g.verify_code,
                        "location": f"{g.source}:{g.line}"} for g in ev.logs.summary.groups],
            "skipped_probe_lines": ev.logs.skipped_probe_lines,
            "restarted_at": ev.logs.restarted_at,
            "history": _history(ev),
        }
    checked, decide = _checked(ev)
    t = ev.target
    data = {
        "at": ev.at.isoformat(),
        "nginx": ev.nginx.to_dict() if ev.nginx is not None else None,
        "config": ev.config.main if ev.config is not None else None,
        "servers": len(ev.eff.servers) if ev.eff is not None else 0,
        "root_causes": [c.to_dict() for c in causes],
        "probes": [{
            "endpoint": p.where, "sni": p.sni, "host_header": p.host_header,
            "server": p.server.label if p.server is not None else None,
            "without_certificate": _attempt(p.attempt("none")),
            "with_your_certificate": _attempt(p.attempt("user")),
        } for p in ev.probes],
        "logs": logs,
        "verify": [{
            "server": v.server.label if v.server is not None else None,
            "ssl_client_verify": v.result.ssl_client_verify, "status": v.result.status,
            "error_code": v.result.error_code, "error_text": v.result.error_text,
            "openssl_version": v.result.openssl_version,
            "passes_deeper": (v.deeper.error_code == 0) if v.deeper is not None else None,
        } for v in ev.verifies],
        "notes": list(ev.notes) + _probe_notes(ev),
        "target": {
            "sni": t.sni, "sni_known": t.sni_known, "host": t.host, "address": t.address,
            "handshake_server": t.handshake_server.label if t.handshake_server is not None else None,
            "request_server": t.request_server.label if t.request_server is not None else None,
            "lands_on_default": t.lands_on_default, "why": t.why,
        },
        "symptoms": [str(s) for s in ev.symptoms],
        "verdict": {"accepted": accepted(ev), "checked": checked,
                    "would_decide": decide if not causes else [],
                    "unexplained_errors": _unexplained(ev, causes)},
        "close_call": _close_call(causes),
    }
    return Report("diagnose", all_findings(ev), data)


__all__ = ["build_report"]
