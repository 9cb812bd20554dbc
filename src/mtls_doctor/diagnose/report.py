"""Turn evidence and root causes into the ``diagnose`` Report (pure; JSON shape documented here).

``Report.data`` keys: ``at``, ``nginx`` (binary, version, openssl_built, openssl_running, prefix,
or null), ``config`` (main file or null), ``servers``, ``root_causes`` (most likely first: ``cause``
- a stable id from docs/diagnose-causes.md -, ``title``, ``rank``, ``confidence``, ``summary``,
``server``, ``evidence`` [{``source``, ``location``, ``text``}], ``fix`` {``text``, ``snippet``},
``facts``), ``probes``, ``logs``, ``verify``, ``notes``; ``findings`` are the lint, probe and log
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


def build_report(ev: Evidence, causes: tuple[RootCause, ...]) -> Report:
    logs = None
    if ev.logs is not None:
        logs = {
            "files": [{"path": f.source, "lines": f.lines, "has_info": f.has_info}
                      for f in ev.logs.summary.files],
            "groups": [{"cause": g.cause.id, "count": g.count, "verify_code": g.verify_code,
                        "location": f"{g.source}:{g.line}"} for g in ev.logs.summary.groups],
            "skipped_probe_lines": ev.logs.skipped_probe_lines,
        }
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
            "error_code": v.result.error_code,
            "passes_deeper": (v.deeper.error_code == 0) if v.deeper is not None else None,
        } for v in ev.verifies],
        "notes": list(ev.notes) + _probe_notes(ev),
    }
    return Report("diagnose", all_findings(ev), data)


__all__ = ["build_report"]
