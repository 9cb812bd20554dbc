"""``--format json``: the one JSON contract of every command (docs/json.md).

The one home of the JSON vocabulary: the commands' reports keep their own internal ``data``
(what their text renderers read); everything a user sees as JSON goes through ``document()``,
which puts it into the contract's envelope and shapes each concept one way:

- envelope: ``schema_version``, ``command``, ``generated_at`` first, then the command's keys;
- times: RFC 3339 UTC with ``Z`` and whole seconds (``utc``);
- locations: always an object ``{file, line, index, host, port, display}`` (``location``);
- fixes: always ``{text, snippet}`` or null (``fix``);
- verify errors: always ``verify_error: {code, text, openssl}`` or null (``verify_error``);
- versions: ``nginx_version``/``openssl_version`` are numbers (``3.0.19``); ``openssl`` is
  OpenSSL's own version text (``OpenSSL 3.0.19 27 Jan 2026``);
- TLS versions: ``tls_version`` spelt as in ``ssl_protocols``, ``"TLSv1.2"`` (``tls_version``);
- SNI: ``sni``, the server name sent, or null when none was sent;
- nginx settings: named after the directive (``ssl_verify_depth``, ``ssl_verify_client``);
- rule ids: ``rule``; scenario ids: ``scenario``; file paths: ``file`` (``path`` is a URL path).

Invariants: pure (no I/O; the clock only for ``generated_at`` when none is given); the output of
every command validates against ``mtls_doctor/schema/<command>.schema.json`` (tests/report).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Iterable, Mapping

from mtls_doctor.model import SCHEMA_VERSION, Finding, Location, Report, sort_findings


def schema_name(command: str) -> str:
    """The schema file of a command: ``lab run`` -> ``lab-run.schema.json``."""
    return command.replace(" ", "-") + ".schema.json"


# -- the vocabulary ---------------------------------------------------------------------------


def utc(value: Any) -> str | None:
    """RFC 3339 in UTC with ``Z`` and whole seconds. Takes a datetime or an ISO 8601 text
    (``Z``, an offset, microseconds; a naive time is this machine's local time, as nginx writes
    its error log). None and "" stay None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, str):
            text = value.strip()
            when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
        elif isinstance(value, dt.datetime):
            when = value
        else:
            raise TypeError(f"not a time: {value!r}")
        if when.tzinfo is None:
            when = when.astimezone()  # local time (nginx error logs carry no zone)
        when = when.astimezone(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    except (ValueError, OverflowError):
        return str(value)  # not a time after all: shown as it came, never a crash
    return when.isoformat(timespec="seconds") + "Z"  # zero-padded years too (0001-...)


def location(file: str | None = None, line: int | None = None, index: int | None = None,
             host: str | None = None, port: int | None = None,
             display: str | None = None) -> dict[str, Any]:
    """The one location object: the keys that apply, plus ``display`` as text shows it
    (``file:line``, else ``file#index``, else ``host:port``; or the ``display`` given)."""
    loc = Location(path=file, line=line, index=index, host=host, port=port)
    out: dict[str, Any] = {}
    for key, value in (("file", file), ("line", line), ("index", index), ("host", host),
                       ("port", port)):
        if value is not None:
            out[key] = value
    out["display"] = display if display is not None else str(loc)
    return out


def location_of(value: Any, kind: str | None = None) -> dict[str, Any] | None:
    """A location object from a ``Location``, an old-style dict (``path``) or the text of one:
    ``file:line``, ``file#index`` (``kind="file"``), ``host:port``, ``[v6]:port``
    (``kind="endpoint"``), or anything else (``kind="other"``: only ``display``, e.g. an option
    given on the command line). Without ``kind`` the text decides."""
    if value is None:
        return None
    if isinstance(value, Location):
        return location(value.path, value.line, value.index, value.host, value.port)
    if isinstance(value, Mapping):
        return location(value.get("file", value.get("path")), value.get("line"),
                        value.get("index"), value.get("host"), value.get("port"))
    text = str(value)
    if kind == "other" or (kind is None and text.startswith("-")):
        return {"display": text}
    head, sep, tail = text.rpartition("#")
    if kind != "endpoint" and sep and tail.isdigit():
        return location(head, index=int(tail))
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit() and head:
        if head.startswith("[") and head.endswith("]"):
            return location(host=head[1:-1], port=int(tail))
        if kind == "endpoint" or (kind is None and "/" not in head and not _FILE_SUFFIX(head)):
            return location(host=head, port=int(tail))  # 127.0.0.1:443, a.example:443
        return location(head, line=int(tail))
    if kind == "endpoint":
        return location(host=text)
    return location(text)


def _FILE_SUFFIX(name: str) -> bool:
    return name.endswith((".conf", ".log", ".pem", ".gz", ".crt", ".key", ".yaml", ".yml", ">"))


def fix(value: Any) -> dict[str, Any] | None:
    """``{text, snippet}`` from a Fix, a dict or a sentence; nothing to say -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {"text": value, "snippet": None}
    if isinstance(value, Mapping):
        return {"text": value.get("text", ""), "snippet": value.get("snippet")}
    return {"text": value.text, "snippet": value.snippet}


def verify_error(code: int | None, text: str | None = None,
                 openssl: str | None = None) -> dict[str, Any] | None:
    """The one shape of an X.509 verify error: OpenSSL's code and text and the OpenSSL release
    whose text it is (null when unknown, e.g. read from a log)."""
    if code is None:
        return None
    return {"code": int(code), "text": text, "openssl": openssl}


def tls_version(value: Any) -> str | None:
    """``TLSv1.2`` as ``ssl_protocols`` and ``$ssl_protocol`` spell it ("1.2", "tls1.2" too)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    for prefix in ("TLSv", "tlsv", "TLS", "tls"):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return f"TLSv{text}" if text[:1].isdigit() else str(value)


def finding(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "name": f.name, "severity": f.severity.value, "message": f.message,
            "location": location_of(f.location), "fix": fix(f.fix)}


def envelope(command: str, data: Mapping[str, Any], findings: Iterable[Finding] | None = None,
             generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """``{schema_version, command, generated_at, ...data, findings}`` (findings when given)."""
    out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "command": command,
                           "generated_at": utc(generated_at or dt.datetime.now(dt.timezone.utc))}
    out.update(data)
    if findings is not None:
        out["findings"] = [finding(f) for f in sort_findings(findings)]
    return out


def document(report: Report, generated_at: dt.datetime | None = None) -> dict[str, Any]:
    """The contract document of a Report (its ``data`` shaped for its command)."""
    shape = _SHAPES.get(report.command, dict)
    return envelope(report.command, shape(dict(report.data)), report.findings, generated_at)


def dumps(doc: Mapping[str, Any], *, line: bool = False) -> str:
    """Serialised deterministically: indented, or one line for JSON Lines."""
    if line:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_json(report: Report) -> str:
    return dumps(document(report))


# -- shaping helpers --------------------------------------------------------------------------


def _rename(d: dict[str, Any], old: str, new: str) -> None:
    """Rename a key in place, keeping its position."""
    if old in d:
        items = [(new if k == old else k, v) for k, v in d.items() if not (k == new and k != old)]
        d.clear()
        d.update(items)


def _time_keys(d: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in d:
            d[key] = utc(d[key])


def nginx_build(build: Any) -> Any:
    """The one shape of an nginx build: ``binary``, ``version``, ``openssl_built``,
    ``openssl_running`` (OpenSSL's texts), ``openssl_version`` (the running one's number) ..."""
    if not isinstance(build, Mapping):
        return build
    build = dict(build)
    for old, new in (("path", "binary"), ("built_with", "openssl_built"),
                     ("running_with", "openssl_running")):
        _rename(build, old, new)
    return build


def _judged_for(d: Any) -> Any:
    """What a prediction assumed (``--nginx``/``--nginx-version``/``--openssl-version``)."""
    if isinstance(d, Mapping):
        d = dict(d)
        if "nginx" in d:
            d["nginx"] = nginx_build(d["nginx"])
    return d


# -- per command ------------------------------------------------------------------------------


def _inspect(data: dict[str, Any]) -> dict[str, Any]:
    _time_keys(data, "at")
    for f in data.get("files", []):
        _rename(f, "path", "file")
    certs = []
    for c in data.get("certificates", []):
        c = dict(c)
        c.pop("location", None)
        file, index = c.pop("file", None), c.pop("index", None)
        # a certificate is named file#index (its line is where its PEM block starts)
        loc = location(file, c.pop("line", None), index,
                       display=f"{file}#{index}" if index is not None else None)
        c = {"location": loc, **c}
        _rename(c, "version", "x509_version")
        _rename(c, "self_issued", "self_signed")
        _time_keys(c, "not_before", "not_after")
        certs.append(c)
    if "certificates" in data:
        data["certificates"] = certs

    def node(n: dict[str, Any]) -> dict[str, Any]:
        n = dict(n)
        n["location"] = location_of(n.get("location"))
        if n.get("duplicate_of") is not None:
            n["duplicate_of"] = location_of(n["duplicate_of"])
        n["children"] = [node(c) for c in n.get("children", [])]
        return n

    if "tree" in data:
        data["tree"] = [node(n) for n in data["tree"]]
    for crl in data.get("crls", []):
        crl["location"] = location_of({"file": crl.pop("file", None), "index": crl.pop("index", None)})
        _time_keys(crl, "last_update", "next_update")
    for k in data.get("keys", []):
        if "file" in k or "line" in k:
            k["location"] = location(k.pop("file", None), k.pop("line", None), k.pop("index", None))
    return data


def _verify_client(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    _rename(row, "client", "file")
    _rename(row, "openssl_version", "openssl")
    err = row.pop("error", None)
    row["verify_error"] = (verify_error(err.get("code"), err.get("text"),
                                        err.get("openssl_version", err.get("openssl")))
                           if err else None)
    row["fix"] = fix(row.get("fix"))
    _rename(row, "verify_client", "ssl_verify_client")
    _rename(row, "verify_depth", "ssl_verify_depth")
    return row


def _verify(data: dict[str, Any]) -> dict[str, Any]:
    _time_keys(data, "at")
    _rename(data, "openssl_version", "openssl")  # the text; openssl_version is a number
    if "prediction" in data:
        data["prediction"] = _judged_for(data["prediction"])
    if "clients" in data:
        data["clients"] = [_verify_client(c) for c in data["clients"]]
    return data


def _lint(data: dict[str, Any]) -> dict[str, Any]:
    _time_keys(data, "at")
    for c in data.get("configs", []):
        _rename(c, "config", "file")
        _time_keys(c, "at")
    return data


def _probe_attempt(a: dict[str, Any]) -> dict[str, Any]:
    a = dict(a)
    spec = dict(a.get("spec") or {})
    _rename(spec, "tls", "tls_version")
    spec["tls_version"] = tls_version(spec.get("tls_version"))
    a["spec"] = spec
    a["tls_version"] = tls_version(a.pop("version", None))
    _rename(a, "certificate_request_received", "certificate_requested")
    a["server_chain"] = [dict(c, not_before=utc(c.get("not_before")), not_after=utc(c.get("not_after")))
                         for c in a.get("server_chain", [])]
    return a


def _probe(data: dict[str, Any]) -> dict[str, Any]:
    _time_keys(data, "at")
    _rename(data, "primary_sni", "sni")
    if "judged_for" in data:
        data["judged_for"] = _judged_for(data["judged_for"])
    _rename(data, "certificate_request", "certificate_requested")
    for i in data.get("inferences", []):
        _rename(i, "certificate_request", "certificate_requested")
        for v in i.get("per_version", []):
            _rename(v, "tls", "tls_version")
            v["tls_version"] = tls_version(v.get("tls_version"))
    if "attempts" in data:
        data["attempts"] = [_probe_attempt(a) for a in data["attempts"]]
    verdict = data.get("offline_verdict")
    if isinstance(verdict, dict):
        verdict = dict(verdict)
        code, text, openssl = verdict.pop("error_code", None), verdict.pop("error_text", None), verdict.pop("openssl", None)
        verdict["verify_error"] = verify_error(code, text, openssl) if code else None  # 0: X509_V_OK
        verdict["fix"] = fix(verdict.get("fix"))
        _rename(verdict, "verify_client", "ssl_verify_client")
        _rename(verdict, "verify_depth", "ssl_verify_depth")
        data["offline_verdict"] = verdict
    return data


def _log_group(g: dict[str, Any]) -> dict[str, Any]:
    g = dict(g)
    code, text = g.pop("verify_code", None), g.pop("verify_text", None)
    g["verify_error"] = verify_error(code, text)
    if "fix" in g:
        g["fix"] = fix(g["fix"])
    _time_keys(g, "first", "last")
    if "location" in g:
        g["location"] = location_of(g["location"])
    _rename(g, "protocols", "modules")
    return g


def _logs(data: dict[str, Any]) -> dict[str, Any]:
    for f in data.get("files", []):
        _rename(f, "path", "file")
    if "groups" in data:
        data["groups"] = [_log_group(g) for g in data["groups"]]
    if "restarted_at" in data:
        data["restarted"] = location_of(data.pop("restarted_at"))
    history = data.get("history")
    if isinstance(history, dict):
        history = _logs(dict(history))
        data["history"] = history
    return data


def _diagnose_probe(p: dict[str, Any]) -> dict[str, Any]:
    p = dict(p)
    for key in ("without_certificate", "with_your_certificate"):
        side = p.get(key)
        if isinstance(side, dict):
            side = dict(side)
            _rename(side, "certificate_request", "certificate_requested")
            side["tls_version"] = tls_version(side.pop("version", None))
            p[key] = side
    return p


#: how the evidence of each source names where it is (diagnose.evidence.SOURCES)
_EVIDENCE_KIND = {"probe": "endpoint", "symptom": "other", "verify": "other", "nginx": "other"}


def _diagnose(data: dict[str, Any]) -> dict[str, Any]:
    _time_keys(data, "at")
    _rename(data, "config", "config_file")
    if "nginx" in data:
        data["nginx"] = nginx_build(data["nginx"])
    for cause in data.get("root_causes", []):
        cause["fix"] = fix(cause.get("fix"))
        cause["evidence"] = [dict(e, location=location_of(e.get("location"), _EVIDENCE_KIND.get(
            e.get("source"), "file"))) for e in cause.get("evidence", [])]
    if "probes" in data:
        data["probes"] = [_diagnose_probe(p) for p in data["probes"]]
    if isinstance(data.get("logs"), dict):
        data["logs"] = _logs(dict(data["logs"]))
    verifies = []
    for v in data.get("verify") or []:
        v = dict(v)
        code, text, openssl = v.pop("error_code", None), v.pop("error_text", None), v.pop("openssl_version", None)
        v["verify_error"] = verify_error(code, text, openssl) if code else None  # 0: X509_V_OK
        verifies.append(v)
    if "verify" in data:
        data["verify"] = verifies
    return data


#: the server name a lab client sends when its scenario says it sends SNI (lab/run.py)
def _lab_sni(value: Any) -> str | None:
    from mtls_doctor.lab.run import LAB_SNI

    if isinstance(value, bool):
        return LAB_SNI if value else None
    return value


def _lab_expected(e: dict[str, Any] | None) -> dict[str, Any] | None:
    if e is None:
        return None
    e = dict(e)
    code = e.pop("code", None)
    verify = e.get("verify") or ""
    e["verify_error"] = verify_error(code, verify[len("FAILED:"):] if verify.startswith("FAILED:") else None)
    e["tls_version"] = tls_version(e.pop("protocol", None))
    return e


_DIRECTIVES = {"verify_client": "ssl_verify_client", "verify_depth": "ssl_verify_depth",
               "client_certificate": "ssl_client_certificate",
               "trusted_certificate": "ssl_trusted_certificate", "crl": "ssl_crl",
               "protocols": "ssl_protocols", "reject_handshake": "ssl_reject_handshake"}


def _lab_server(s: dict[str, Any] | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {_DIRECTIVES.get(k, k): v for k, v in s.items()}


def lab_scenario(s: Mapping[str, Any]) -> dict[str, Any]:
    """One scenario of ``lab list``."""
    s = dict(s)
    _rename(s, "name", "scenario")
    s["fix"] = fix(s.get("fix"))
    s["server"] = _lab_server(s.get("server"))
    s["default_server"] = _lab_server(s.get("default_server"))
    clients = []
    for c in s.get("clients", []):
        c = dict(c)
        _rename(c, "id", "client_id")
        c["sni"] = _lab_sni(c.get("sni"))
        c["tls_version"] = tls_version(c.pop("tls", None))
        c["expected"] = _lab_expected(c.pop("expect", None))
        clients.append(c)
    s["clients"] = clients
    return s


def lab_result(r: Mapping[str, Any]) -> dict[str, Any]:
    """One scenario run of ``lab run`` / ``demo``."""
    r = dict(r)
    rows = []
    for row in r.get("rows", []):
        row = dict(row)
        row["sni"] = _lab_sni(row.get("sni"))
        row["tls_version"] = tls_version(row.pop("protocol", None))
        row["expected"] = _lab_expected(row.get("expected"))
        rows.append(row)
    r["rows"] = rows
    return r


def lab_matrix(data: dict[str, Any]) -> dict[str, Any]:
    for entry in (data.get("nginx") or {}).values():
        _rename(entry, "path", "binary")
    return data


def lab_pki(data: dict[str, Any]) -> dict[str, Any]:
    _time_keys(data, "generated_at")
    _rename(data, "generated_at", "pki_generated_at")
    for f in data.get("files", []):
        _rename(f, "path", "file")
        _time_keys(f, "not_before", "not_after")
    return data


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    for host in data.get("hosts", []):
        _rename(host, "verify_client", "ssl_verify_client")
        _rename(host, "verify_depth", "ssl_verify_depth")
    return data


def rule_entry(rule: Mapping[str, Any]) -> dict[str, Any]:
    rule = dict(rule)
    _rename(rule, "code", "rule")
    return {"rule": rule.pop("rule"), **rule}


_SHAPES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "inspect": _inspect,
    "verify": _verify,
    "lint": _lint,
    "probe": _probe,
    "logs": _logs,
    "diagnose": _diagnose,
    "migrate": _migrate,
}
