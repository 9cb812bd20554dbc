"""What a shared report shows, as data: the one view ``--format markdown`` and ``--format html``
render (``report.markdown``, ``report.html``), built from the command's JSON document.

Invariants of this module:
- pure: no I/O and no clock; the input is ``report.json.document(report)`` (the same document
  ``--format json`` prints, so every format tells the same thing) plus ``Attachments``: the text
  of the configuration files the findings point at (for the excerpts) and the chains nginx built
  (``pki.verify.ChainEntry.to_dict()``), both computed in the same run;
- every section is optional: a command shows what it has (verify has no handshake, lint no chain);
- nothing here holds key material: documents never do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

#: how many probe attempts get a ladder picture; how many evidence lines a cause shows
LADDERS_SHOWN = 4
EXCERPT_CONTEXT = 2
EXCERPTS_SHOWN = 12


@dataclass(frozen=True)
class Attachments:
    """What the human formats add to the document: config text by file, chains by label."""

    sources: Mapping[str, str] = field(default_factory=dict)
    chains: Sequence[tuple[str, Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]]] = ()


@dataclass(frozen=True)
class Step:
    """One arrow of a handshake ladder: ``direction`` "c>s", "s>c" or "both"; ``state`` "ok",
    "failed" or "absent" (a message that was not sent, e.g. no CertificateRequest)."""

    direction: str
    label: str
    detail: str
    state: str = "ok"


@dataclass(frozen=True)
class Ladder:
    title: str
    steps: tuple[Step, ...]
    outcome: str


@dataclass(frozen=True)
class Node:
    """One certificate of a chain, leaf = depth 0; ``errors``: the verify errors at its depth."""

    depth: int
    subject: str
    issuer: str
    role: str
    source: str
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chain:
    title: str
    nodes: tuple[Node, ...]  # top (root side) first
    verdict: str = ""


@dataclass(frozen=True)
class Cause:
    rank: int
    cause: str
    title: str
    confidence: float | None
    summary: str
    evidence: tuple[tuple[str, str, str], ...]  # (source, location, text)
    fix: str
    snippet: str | None
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Excerpt:
    file: str
    line: int
    lines: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class FindingView:
    severity: str
    rule: str
    name: str
    location: str
    message: str
    fix: str | None
    snippet: str | None


@dataclass(frozen=True)
class View:
    command: str
    title: str
    meta: tuple[str, ...]
    verdict: str
    ok: bool
    causes: tuple[Cause, ...] = ()
    ladders: tuple[Ladder, ...] = ()
    chains: tuple[Chain, ...] = ()
    excerpts: tuple[Excerpt, ...] = ()
    findings: tuple[FindingView, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()  # (label, value) rows: settings, answers
    notes: tuple[str, ...] = ()


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 server``, ``2 servers``, ``0 probes``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _fix(value: Any) -> tuple[str, str | None]:
    if isinstance(value, Mapping):
        return str(value.get("text") or ""), value.get("snippet")
    return (str(value) if value else ""), None


def _loc(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("display") or value.get("file") or "")
    return str(value or "")


def _findings(doc: Mapping[str, Any]) -> tuple[FindingView, ...]:
    out = []
    for f in doc.get("findings") or []:
        text, snippet = _fix(f.get("fix"))
        out.append(FindingView(f.get("severity", ""), f.get("rule", ""), f.get("name", ""),
                               _loc(f.get("location")), f.get("message", ""), text or None, snippet))
    return tuple(out)


def _excerpts(doc: Mapping[str, Any], causes: Sequence[Cause], att: Attachments) -> tuple[Excerpt, ...]:
    """The configuration lines the causes' evidence and the findings point at."""
    wanted: list[tuple[str, int]] = []

    def add(loc: Any) -> None:
        if isinstance(loc, Mapping) and loc.get("file") and loc.get("line"):
            key = (str(loc["file"]), int(loc["line"]))
            if key not in wanted and key[0] in att.sources:
                wanted.append(key)

    blocks: set[tuple[str, int]] = set()
    for c in doc.get("root_causes") or []:
        # the server block a cause is about: "server 'x' (file:line)"
        m = _SERVER_AT.search(str(c.get("server") or ""))
        if m is not None:
            add({"file": m.group(1), "line": int(m.group(2))})
            blocks.add((m.group(1), int(m.group(2))))
        for e in c.get("evidence") or []:
            add(e.get("location"))
    for f in doc.get("findings") or []:
        add(f.get("location"))
    out = []
    split: dict[str, list[str]] = {}
    for file, line in wanted[:EXCERPTS_SHOWN]:
        lines = split.setdefault(file, att.sources[file].splitlines())
        if not 1 <= line <= len(lines):
            continue
        after = _block_end(lines, line) if (file, line) in blocks else line + EXCERPT_CONTEXT
        lo, hi = max(1, line - EXCERPT_CONTEXT), min(len(lines), after)
        out.append(Excerpt(file, line, tuple((n, lines[n - 1]) for n in range(lo, hi + 1))))
    return tuple(out)


_SERVER_AT = re.compile(r"\((\S.*):(\d+)\)\s*$")
#: at most this many lines of a server block in an excerpt
BLOCK_LINES = 30


def _block_end(lines: Sequence[str], start: int) -> int:
    """The line that closes the block opened at ``start`` (braces counted, bounded)."""
    depth = 0
    for n in range(start, min(len(lines), start + BLOCK_LINES) + 1):
        text = lines[n - 1].split("#", 1)[0]
        depth += text.count("{") - text.count("}")
        if depth <= 0 and n > start:
            return n
    return min(len(lines), start + BLOCK_LINES)


def _chains(att: Attachments) -> tuple[Chain, ...]:
    out = []
    for title, entries, errors in att.chains:
        out.append(_chain(title, entries, errors))
    return tuple(out)


def _chain(title: str, entries: Sequence[Mapping[str, Any]], errors: Sequence[Mapping[str, Any]],
           verdict: str = "") -> Chain:
    by_depth: dict[int, list[str]] = {}
    for e in errors or []:
        by_depth.setdefault(int(e.get("depth", 0)), []).append(f"{e.get('code')}: {e.get('text')}")
    nodes = [Node(int(c.get("depth", i)), str(c.get("subject", "")), str(c.get("issuer", "")),
                  str(c.get("role", "")), str(c.get("source", "")),
                  tuple(by_depth.get(int(c.get("depth", i)), ())))
             for i, c in enumerate(entries)]
    return Chain(title, tuple(sorted(nodes, key=lambda n: -n.depth)), verdict)


# -- handshake ladders ------------------------------------------------------------------------

_DIRECTION = {"tcp": "both", "client-hello": "c>s", "server-hello": "s>c",
              "server-certificate": "s>c", "certificate-request": "s>c",
              "client-certificate": "c>s", "finished": "both", "http": "s>c", "alert": "s>c"}
_LABEL = {"tcp": "TCP connect", "client-hello": "ClientHello", "server-hello": "ServerHello",
          "server-certificate": "Certificate (server)", "certificate-request": "CertificateRequest",
          "client-certificate": "Certificate (client)", "finished": "Finished",
          "http": "HTTP answer", "alert": "Alert"}


def _probe_ladders(doc: Mapping[str, Any]) -> tuple[Ladder, ...]:
    out, seen = [], set()
    for a in doc.get("attempts") or []:
        spec = a.get("spec") or {}
        key = (spec.get("cert"), spec.get("sni") is None)
        if key in seen or len(out) >= LADDERS_SHOWN:
            continue
        seen.add(key)
        steps = []
        names = [s.get("name") for s in a.get("steps") or []]
        for s in a.get("steps") or []:
            name = s.get("name", "")
            steps.append(Step(_DIRECTION.get(name, "both"), _LABEL.get(name, name),
                              str(s.get("detail") or ""), "ok" if s.get("ok") else "failed"))
            if name == "server-certificate" and "certificate-request" not in names and s.get("ok") \
                    and "finished" in names:
                steps.append(Step("s>c", "CertificateRequest", "not sent: the server does not ask "
                                  "for a client certificate here", "absent"))
        sni = spec.get("sni")
        title = (f"certificate: {spec.get('cert')}; SNI: {sni or 'none'}; "
                 f"{spec.get('tls_version') or a.get('tls_version') or 'TLS'}")
        out.append(Ladder(title, tuple(steps), str(a.get("outcome") or "")))
    return tuple(out)


def _summary_ladder(title: str, sni: Any, side: Mapping[str, Any], mine: bool) -> Ladder:
    """A ladder from diagnose's per-probe summary (outcome, CertificateRequest, CA names, status)."""
    done = side.get("status") is not None or side.get("outcome") == "http-answer"
    requested = side.get("certificate_requested")
    names = side.get("ca_names")
    steps = [Step("c>s", "ClientHello", f"SNI {sni}" if sni else "no SNI"),
             Step("s>c", "ServerHello", str(side.get("tls_version") or ""))]
    if requested:
        steps.append(Step("s>c", "CertificateRequest",
                          (f"{plural(len(names), 'CA name')}: " + "; ".join(names)) if names else
                          "an empty CA list"))
    else:
        steps.append(Step("s>c", "CertificateRequest", "not sent", "absent"))
    steps.append(Step("c>s", "Certificate (client)", "yours" if mine else "none (empty)",
                      "ok" if requested or not mine else "absent"))
    if done:
        page = side.get("page")
        steps.append(Step("s>c", "HTTP answer", f"HTTP {side.get('status')}"
                          + (f" (nginx page {page})" if page else ""),
                          "ok" if side.get("status") == 200 else "failed"))
    else:
        steps.append(Step("s>c", "no answer", str(side.get("error") or side.get("outcome") or ""), "failed"))
    return Ladder(title, tuple(steps), str(side.get("outcome") or ""))


def _diagnose_ladders(doc: Mapping[str, Any]) -> tuple[Ladder, ...]:
    out = []
    for p in doc.get("probes") or []:
        for key, mine in (("with_your_certificate", True), ("without_certificate", False)):
            side = p.get(key)
            if isinstance(side, Mapping) and len(out) < LADDERS_SHOWN:
                who = "your certificate" if mine else "no certificate"
                out.append(_summary_ladder(f"{p.get('endpoint')} ({p.get('server') or 'server'}), "
                                           f"{who}, SNI {p.get('sni') or 'none'}",
                                           p.get("sni"), side, mine))
    return tuple(out)


# -- per command ------------------------------------------------------------------------------


def _causes(doc: Mapping[str, Any]) -> tuple[Cause, ...]:
    out = []
    for c in doc.get("root_causes") or []:
        text, snippet = _fix(c.get("fix"))
        out.append(Cause(int(c.get("rank", len(out) + 1)), str(c.get("cause", "")),
                         str(c.get("title", "")), c.get("confidence"), str(c.get("summary", "")),
                         tuple((str(e.get("source", "")), _loc(e.get("location")),
                                str(e.get("text", ""))) for e in c.get("evidence") or []),
                         text, snippet, tuple(c.get("facts") or ())))
    return tuple(out)


def _diagnose(doc: Mapping[str, Any], att: Attachments) -> View:
    causes = _causes(doc)
    nginx = doc.get("nginx") or {}
    meta = []
    if nginx.get("version"):
        meta.append(f"nginx {nginx['version']}")
    if doc.get("config_file"):
        meta.append(f"config {doc['config_file']} ({plural(int(doc.get('servers') or 0), 'server')})")
    if doc.get("probes"):
        meta.append(plural(len(doc["probes"]), "probe"))
    verdict_data = doc.get("verdict") or {}
    if causes:
        top = causes[0]
        verdict = f"Most likely cause: {top.cause} - {top.title or top.summary}"
    elif verdict_data.get("accepted"):
        verdict = f"Your certificate is accepted end to end at {verdict_data['accepted']}."
    else:
        verdict = "No root cause found."
    facts = [("checked", "; ".join(verdict_data.get("checked") or []) or "nothing")]
    target = doc.get("target") or {}
    if target.get("handshake_server"):
        facts.append(("your client reaches", str(target["handshake_server"])))
    for item in verdict_data.get("would_decide") or []:
        facts.append(("would decide", item))
    return View("diagnose", "mtls-doctor diagnose", tuple(meta), verdict, not causes, causes,
                _diagnose_ladders(doc), _chains(att), _excerpts(doc, causes, att), _findings(doc),
                tuple(facts), tuple(doc.get("notes") or ()))


def _probe(doc: Mapping[str, Any], att: Attachments) -> View:
    target = doc.get("target") or {}
    where = target if isinstance(target, str) else (target.get("display") or target.get("url")
                                                     or f"{target.get('host')}:{target.get('port')}")
    mode = doc.get("inferred_mode")
    requested = doc.get("certificate_requested")
    verdict = (f"{where}: inferred ssl_verify_client {mode}" if mode else f"{where}: probed")
    verdict += ("; a CertificateRequest was sent" if requested else "; no CertificateRequest")
    chains = list(_chains(att))
    for a in doc.get("attempts") or []:
        if a.get("server_chain"):
            entries = [dict(c, depth=i, role="leaf" if i == 0 else "CA", source="server")
                       for i, c in enumerate(a["server_chain"])]
            chains.append(_chain("server certificate chain (as sent)", entries, ()))
            break
    verdict_data = doc.get("offline_verdict")
    if isinstance(verdict_data, Mapping) and verdict_data.get("chain"):
        chains.append(_chain("your certificate, as nginx would build it", verdict_data["chain"],
                             verdict_data.get("errors") or ()))
    facts = [("CA names advertised", "; ".join(doc.get("ca_names") or []) or "none")]
    for i in doc.get("inferences") or []:
        if isinstance(i, Mapping) and i.get("text"):
            facts.append(("inference", str(i["text"])))
    findings = _findings(doc)
    return View("probe", "mtls-doctor probe", (str(where),), verdict,
                not any(f.severity in ("error", "critical") for f in findings), (),
                _probe_ladders(doc), tuple(chains), (), findings, tuple(facts),
                tuple(doc.get("notes") or ()))


def _verify(doc: Mapping[str, Any], att: Attachments) -> View:
    settings = doc.get("settings") or {}
    facts = tuple((k, str(v)) for k, v in settings.items() if v is not None)
    causes, chains = [], []
    rank = 0
    for row in doc.get("clients") or []:
        name = str(row.get("file") or "client")
        status = row.get("status")
        kind = row.get("server_kind") or "http"
        # stream and mail servers answer without HTTP (pki.serverkind)
        wire = f"HTTP {status}" if kind == "http" else (
            f"{kind} session goes on" if row.get("accepted") else
            f"{kind} reply {row['reply']!r}" if row.get("reply") else
            f"{kind} connection closed after the handshake")
        answer = f"{name}: {'ACCEPTED' if row.get('accepted') else 'REJECTED'}, {wire}"
        chains.append(_chain(answer, row.get("chain") or (), row.get("errors") or (),
                             f"$ssl_client_verify {row.get('ssl_client_verify')}"))
        if not row.get("accepted"):
            rank += 1
            text, snippet = _fix(row.get("fix"))
            err = row.get("verify_error") or {}
            evidence = [("verify", name, f"$ssl_client_verify = {row.get('ssl_client_verify')}")]
            if err:
                evidence.append(("verify", name, f"error {err.get('code')}: {err.get('text')}"))
            if row.get("log_line"):
                evidence.append(("error.log", "info", str(row["log_line"])))
            title = (f"HTTP {status} (page {row.get('page')}: {row.get('page_title')})"
                     if kind == "http" else wire)
            causes.append(Cause(rank, name, title, None, str(row.get("explanation") or ""),
                                tuple(evidence), text, snippet))
    ok = bool(doc.get("accepted"))
    n = len(doc.get("clients") or [])
    verdict = (f"{plural(n, 'client')}: every one accepted" if ok else
               f"{plural(n, 'client')}: {plural(rank, 'rejected client', 'rejected clients')}")
    return View("verify", "mtls-doctor verify", (str(doc.get("openssl") or ""),), verdict,
                ok, tuple(causes), (), tuple(chains), (), _findings(doc), facts,
                tuple(doc.get("notes") or ()))


def _lint(doc: Mapping[str, Any], att: Attachments) -> View:
    findings = _findings(doc)
    configs = doc.get("configs") or []
    servers = sum(int(c.get("servers") or 0) for c in configs)
    files = ", ".join(str(c.get("file")) for c in configs if c.get("file"))
    by = {}
    for f in findings:
        by[f.severity] = by.get(f.severity, 0) + 1
    counts = ", ".join(f"{by[s]} {s}" for s in ("critical", "error", "warning", "info") if s in by)
    verdict = (f"{plural(len(findings), 'finding')} ({counts})" if findings else "No finding.")
    meta = (f"{files} ({plural(servers, 'server block')})",
            f"nginx {doc.get('nginx_version') or 'unknown'}; OpenSSL {doc.get('openssl_version') or 'unknown'}")
    return View("lint", "mtls-doctor lint", meta, verdict,
                not any(f.severity in ("error", "critical") for f in findings), (), (), (),
                _excerpts(doc, (), att), findings, (), ())


_BUILDERS = {"diagnose": _diagnose, "probe": _probe, "verify": _verify, "lint": _lint}
COMMANDS = tuple(_BUILDERS)


def build_view(doc: Mapping[str, Any], attachments: Attachments | None = None) -> View:
    att = attachments or Attachments()
    builder = _BUILDERS.get(str(doc.get("command")))
    if builder is None:  # any other document: its findings
        findings = _findings(doc)
        return View(str(doc.get("command")), f"mtls-doctor {doc.get('command')}", (),
                    plural(len(findings), "finding"), not findings, findings=findings)
    view = builder(doc, att)
    stamp = doc.get("generated_at")
    return View(view.command, view.title, view.meta + ((f"generated {stamp}",) if stamp else ()),
                view.verdict, view.ok, view.causes, view.ladders, view.chains, view.excerpts,
                view.findings, view.facts, view.notes)


__all__ = ["Attachments", "View", "build_view", "plural", "COMMANDS"]
