"""``diagnose`` on Kubernetes manifests: the causes, ranked, from what the user has (manifests or
a ``kubectl get ingress,secret,configmap,... -A -o yaml`` dump), not an nginx.conf.

Two kinds of causes are joined, each pointing at the manifest ``file:line``:

- the controller's own behaviour (MTLS7xx findings of ``k8s.lint``): each becomes a cause
  ``k8s-<rule name>`` whose title is the rule's summary and whose fix is the finding's; its
  weight grows when it explains a ``--symptom`` the user saw (``EXPLAINS``) and shrinks when the
  user saw symptoms it cannot produce;
- nginx's behaviour on the server blocks the controller renders: ``diagnose.core.diagnose`` on
  each rendering (the rendered text is the configuration, the Secrets' CA/CRL bytes are its
  files, the user's ``--cert`` is verified offline against it), with the evidence lines moved
  from the rendered line to the manifest field that made it.

Invariant: the I/O is reading the manifests and the user's certificate (``diagnose_manifests``);
``rank`` is pure. Key material of Secrets is never part of any evidence line.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mtls_doctor.diagnose.evidence import Evidence, EvidenceLine, RootCause
from mtls_doctor.diagnose.signals import Symptom
from mtls_doctor.model import Finding, Fix, Report, Severity

S = Symptom
#: the symptoms each controller rule's situation produces (what the user would see)
EXPLAINS: dict[str, frozenset[Symptom]] = {
    "MTLS702": frozenset({S.NO_CERTIFICATE_SENT, S.BAD_REQUEST, S.BROWSER_NO_PROMPT}),
    "MTLS703": frozenset({S.NO_CERTIFICATE_SENT, S.CERTIFICATE_ERROR, S.FAILED, S.NONE_AT_BACKEND,
                          S.BAD_REQUEST, S.NO_CA_NAMES}),
    "MTLS704": frozenset({S.FORBIDDEN}),
    "MTLS705": frozenset({S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT, S.NO_CA_NAMES, S.FORBIDDEN}),
    "MTLS706": frozenset({S.BACKEND_REJECTS}),
    "MTLS707": frozenset({S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT, S.NO_CA_NAMES}),
    "MTLS708": frozenset({S.NO_CERTIFICATE_SENT, S.BAD_REQUEST, S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT}),
    "MTLS709": frozenset({S.BACKEND_REJECTS}),
    "MTLS710": frozenset({S.FORBIDDEN}),
    "MTLS711": frozenset({S.CERTIFICATE_ERROR, S.FAILED, S.NO_CERTIFICATE_SENT, S.BAD_REQUEST}),
    "MTLS712": frozenset({S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT, S.NO_CA_NAMES}),
    "MTLS713": frozenset({S.NO_CERTIFICATE_SENT, S.BAD_REQUEST, S.BROWSER_NO_PROMPT}),
    "MTLS714": frozenset({S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT, S.NO_CA_NAMES}),
    "MTLS715": frozenset({S.NONE_AT_BACKEND}),
    "MTLS716": frozenset({S.NO_CERTIFICATE_SENT, S.BAD_REQUEST, S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT,
                          S.NO_CA_NAMES, S.PLAIN_HTTP}),
    "MTLS717": frozenset({S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT, S.NO_CA_NAMES}),
    "MTLS718": frozenset({S.HANDSHAKE_ALERT, S.BROWSER_NO_PROMPT}),
    "MTLS719": frozenset({S.NONE_AT_BACKEND, S.BROWSER_NO_PROMPT, S.NO_CA_NAMES}),
}
#: rules that say the wrong clients get in (an exposure), not why the right ones fail
EXPOSURES = frozenset({"MTLS706", "MTLS709", "MTLS715"})
BASE_WEIGHT = {Severity.ERROR: 0.6, Severity.WARNING: 0.45, Severity.INFO: 0.15}
SYMPTOM_WEIGHT = 0.6
UNEXPLAINED = 0.4  # the factor for a cause that explains none of the symptoms the user gave


def _rule(code: str):
    from mtls_doctor.rules.k8s import RULES

    return next((r for r in RULES if r.code == code), None)


def k8s_causes(findings: tuple[Finding, ...], symptoms: tuple[Any, ...]) -> list[tuple[float, bool, RootCause]]:
    """(confidence, exposure, cause) for the MTLS7xx findings (one cause per rule, its
    occurrences as evidence)."""
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        if f.rule.startswith("MTLS7") and f.rule != "MTLS701":
            by_rule.setdefault(f.rule, []).append(f)
    seen = {s.symptom for s in symptoms}
    out = []
    for code, fs in by_rule.items():
        rule = _rule(code)
        worst = max((f.severity for f in fs), key=lambda s: s.rank)
        miss = 1.0 - BASE_WEIGHT.get(worst, 0.3)
        if seen:
            if seen & EXPLAINS.get(code, frozenset()):
                miss *= 1.0 - SYMPTOM_WEIGHT
            else:
                miss = 1.0 - (1.0 - miss) * UNEXPLAINED
        confidence = min(0.99, 1.0 - miss)
        fix = next((f.fix for f in fs if f.fix is not None), None) or Fix(
            (rule.sections().get("Use instead", "") if rule else "") or "See `mtls-doctor explain " + code + "`.")
        evidence = tuple(EvidenceLine("config", str(f.location), f"{f.rule}: {f.message}") for f in fs[:8])
        title = rule.summary() if rule else fs[0].message
        out.append((confidence, code in EXPOSURES, RootCause(
            cause=f"k8s-{fs[0].name}", title=title, rank=0, confidence=confidence,
            summary=fs[0].message, evidence=evidence, fix=fix,
            facts=tuple(getattr(rule, "facts", ()) or ()))))
    return out


def match_cn_causes(mset, symptoms: tuple[Any, ...], client: tuple) -> list[tuple[float, bool, RootCause]]:
    """auth-tls-match-cn refusing the client: ingress-nginx renders a server-level
    ``if ($ssl_client_s_dn !~ <regex>) { return 403 "client certificate unauthorized"; }``
    (nginx.tmpl v1.15.1); ``$ssl_client_s_dn`` is the RFC 2253 subject (nginx >= 1.11.6). With
    the user's certificate the regex is tried on its subject; without it a 403 symptom points here."""
    import re

    from mtls_doctor.k8s import ingress_nginx as inx

    out = []
    forbidden = any(s.symptom is Symptom.FORBIDDEN for s in symptoms)
    for ha in inx.host_auth(mset):
        a = ha.auth
        if a is None or not a.match_cn:
            continue
        where = a.ingress.annotation_location(inx.MATCH_CN)
        regex = a.match_cn[3:]  # authtls: the value is "CN=<regex>"; the template matches the whole DN
        dn = client[0].subject.rfc4514_string() if client else None
        if dn is not None:
            try:
                matches = re.search(regex, dn) is not None
            except re.error:
                continue
            if matches:
                continue
            conf, line = 0.8, f"your certificate's subject {dn!r} does not match {regex!r}: 403"
        elif forbidden:
            conf, line = 0.7, f"a certificate whose subject does not match {regex!r} gets 403"
        else:
            continue
        out.append((conf, False, RootCause(
            cause="k8s-match-cn-refuses", rank=0, confidence=conf,
            title="auth-tls-match-cn refuses the client: the subject DN does not match, so the host answers 403.",
            summary=f"host {ha.host}: {a.ingress.ref} sets auth-tls-match-cn {a.match_cn!r}; {line} "
                    "\"client certificate unauthorized\" (also on port 80: no certificate there).",
            evidence=(EvidenceLine("config", str(where), f"{inx.MATCH_CN}: {a.match_cn}"),),
            fix=Fix("Make the regex match the whole RFC 2253 subject nginx sees ($ssl_client_s_dn, e.g. "
                    "CN=client,O=Example), e.g. auth-tls-match-cn: \"CN=client\" matches anywhere in it; "
                    "or check ssl-client-subject-dn in the backend."))))
    return out


def front_notes(opts, rends) -> list[str]:
    """What the live front looks like (``k8s.fronts``), and whether it is the controller the
    manifests are rendered for."""
    from mtls_doctor.k8s.fronts import recognise
    from mtls_doctor.probe.target import parse_target

    target = parse_target(opts.url)
    sni = None if opts.no_sni else (opts.sni or (None if target.is_ip else target.host))
    rec = recognise(target.host, target.port, sni, timeout=opts.timeout, ca_file=opts.ca_file)
    out = [f"live: {rec.sentence()}"]
    rendered = {r.controller.value for r in rends}
    if rec.controller and rendered and rec.controller not in rendered:
        out.append(f"the manifests render for {', '.join(sorted(rendered))}, but {opts.url} answers like "
                   f"{rec.controller}: these manifests may not be what serves it (another IngressClass or controller)")
    return out


def _remap_line(line: EvidenceLine, rendering) -> EvidenceLine:
    from mtls_doctor.k8s.lint import rendered_path

    path = rendered_path(rendering)
    if not line.location.startswith(path + ":"):
        return line
    try:
        number = int(line.location[len(path) + 1:].split(":")[0])
    except ValueError:
        return line
    got = rendering.line(number)
    if got is None or got.origin is None:
        return line
    o = got.origin
    return EvidenceLine(line.source, str(o.location),
                        f"{line.text} [{rendering.controller.value} renders `{got.text.strip()}` from "
                        f"{o.resource.ref} {o.field}]")


def nginx_causes(rendering, opts, client, chain_sent, engine: dict, notes: list[str]) -> tuple[Evidence, tuple[RootCause, ...]]:
    """``diagnose.core.diagnose`` on one controller's rendered configuration."""
    from mtls_doctor.diagnose.collect import _verify, file_roles
    from mtls_doctor.diagnose.core import diagnose
    from mtls_doctor.diagnose.signals import parse_symptom
    from mtls_doctor.diagnose.target import resolve_target
    from mtls_doctor.k8s.lint import _config, _loaded
    from mtls_doctor.nginx.effective import effective
    from mtls_doctor.nginx.lint import lint_config

    config = _config(rendering)
    eff = effective(config)
    files = _loaded(rendering)
    lint = tuple(lint_config(config, opts.at, None, files).findings)
    target = resolve_target(eff, url=None, sni=opts.sni, no_sni=opts.no_sni, host=opts.host,
                            server_names=opts.server_names)
    verifies = tuple(_verify(eff, files, client, chain_sent, opts, engine)) if client else ()
    ev = Evidence(at=opts.at, config=config, eff=eff, files=files, lint=lint, verifies=verifies,
                  client=client, client_source=opts.cert, notes=tuple(notes), target=target,
                  symptoms=tuple(parse_symptom(s) for s in opts.symptoms), roles=file_roles(eff))
    causes = diagnose(ev)
    moved = tuple(replace(c, evidence=tuple(_remap_line(l, rendering) for l in c.evidence),
                          fix=Fix(_k8s_words(c.fix.text, rendering), c.fix.snippet)) for c in causes)
    return ev, moved


#: per controller, the manifest field a directive of the rendered block comes from
FIELDS = {
    "ingress-nginx": {"ssl_verify_depth": "the annotation nginx.ingress.kubernetes.io/auth-tls-verify-depth",
                      "ssl_verify_client": "the annotation nginx.ingress.kubernetes.io/auth-tls-verify-client",
                      "ssl_client_certificate": "the key ca.crt of the auth-tls-secret Secret",
                      "ssl_crl": "the key ca.crl of the auth-tls-secret Secret",
                      "error_log": "the controller ConfigMap's error-log-level (info while diagnosing)"},
    "nginx-ingress": {"ssl_verify_depth": "the Policy's spec.ingressMTLS.verifyDepth",
                      "ssl_verify_client": "the Policy's spec.ingressMTLS.verifyClient",
                      "ssl_client_certificate": "the key ca.crt of the clientCertSecret (type nginx.org/ca)",
                      "ssl_crl": "spec.ingressMTLS.crlFileName or the Secret's ca.crl"},
    "nginx-gateway-fabric": {"ssl_verify_depth": "nothing: NGINX Gateway Fabric fixes the depth at 4",
                             "ssl_verify_client": "the frontend validation mode",
                             "ssl_client_certificate": "the key ca.crt of the caCertificateRefs ConfigMap"},
}


def _k8s_words(text: str, rendering) -> str:
    """A fix about a file the controller writes, said in the user's terms: the Secret field."""
    fields = FIELDS.get(rendering.controller.value, {})
    named = [f"{d} -> {where}" for d, where in fields.items() if d in text]
    if named:
        text += " In the manifests: " + "; ".join(named) + "."
    for path in rendering.files:
        if path not in text:
            continue
        for server in rendering.servers:
            line = next((l for l in server.lines if l.origin is not None and path in l.text), None)
            if line is not None:
                o = line.origin
                text = text.replace(path, f"{path} (the controller writes it from {o.resource.ref} "
                                          f"{o.field}: change the Secret/ConfigMap it names, key ca.crt)")
                break
    return text


def rank(entries: list[tuple[float, bool, RootCause]], failure_seen: bool) -> tuple[RootCause, ...]:
    """Most likely first; exposures after the causes of a failure when one was seen; one entry
    per cause id (the most confident)."""
    from mtls_doctor.diagnose.causes import CAUSES

    best: dict[str, tuple[float, bool, RootCause]] = {}
    for conf, exposure, cause in entries:
        if cause.cause not in best or conf > best[cause.cause][0]:
            best[cause.cause] = (conf, exposure, cause)

    def explains(e) -> bool:  # as Board.result: missing evidence ranks after what explains a failure
        registered = CAUSES.get(e[2].cause)
        return registered.explains_failure if registered is not None else True

    explained = any(e[0] >= 0.3 and explains(e) and not e[1] for e in best.values())
    ordered = sorted(best.values(), key=lambda e: (explained and not explains(e), failure_seen and e[1],
                                                   -round(e[0], 6), e[2].cause))
    return tuple(replace(c, rank=i, confidence=conf) for i, (conf, _, c) in enumerate(ordered, 1))


def diagnose_manifests(paths: tuple[str, ...], stdin_text: str | None, opts) -> Report:
    """Read the manifests, render, lint, join: the ``diagnose`` Report (``manifests`` key added)."""
    from mtls_doctor.diagnose.collect import _client, _engine
    from mtls_doctor.diagnose.report import build_report
    from mtls_doctor.diagnose.signals import parse_symptom
    from mtls_doctor.k8s.lint import lint_manifests, rendering_data, renderings
    from mtls_doctor.k8s.manifests import read_paths

    mset = read_paths(paths, stdin_text)
    symptoms = tuple(parse_symptom(s) for s in opts.symptoms)
    client, chain_sent, _identity = _client(opts)
    notes: list[str] = []
    engine = _engine(opts.nginx, opts, notes) if opts.nginx or opts.openssl_version else {}
    report = lint_manifests(mset, opts.at)
    rends = renderings(mset)
    entries = k8s_causes(report.findings, symptoms) + match_cn_causes(mset, symptoms, client)
    failure_seen = bool(symptoms) or False
    last_ev = None
    for rendering in rends:
        ev, causes = nginx_causes(rendering, opts, client, chain_sent, engine, notes)
        last_ev = ev
        for c in causes:
            from mtls_doctor.diagnose.causes import CAUSES

            entries.append((c.confidence, bool(getattr(CAUSES.get(c.cause), "exposure", False)), c))
        if any(v.result.status != 200 for v in ev.verifies):
            failure_seen = True
    if opts.url:  # the live front too: its causes join the manifests' ones
        from mtls_doctor.diagnose.collect import collect
        from mtls_doctor.diagnose.core import diagnose

        live = collect(replace(opts, config=None))
        notes.extend(live.notes)
        notes.extend(front_notes(opts, rends))
        for c in diagnose(live):
            from mtls_doctor.diagnose.causes import CAUSES

            entries.append((c.confidence, bool(getattr(CAUSES.get(c.cause), "exposure", False)), c))
        last_ev = replace(live, symptoms=symptoms) if last_ev is None else replace(last_ev, probes=live.probes)
    causes = rank(entries, failure_seen)
    if last_ev is None:
        last_ev = Evidence(at=opts.at, symptoms=symptoms, notes=tuple(notes))
        if not mset.of_kind("Ingress", "VirtualServer", "Gateway", "IngressRoute", "TLSOption"):
            notes.append("no Ingress, VirtualServer, Gateway or Traefik IngressRoute/TLSOption in the input: "
                         "nothing a front end serves")
    from mtls_doctor.diagnose.causes import CAUSES

    registered = tuple(c for c in causes if c.cause in CAUSES)  # the report's close call reads the registry
    built = build_report(replace(last_ev, notes=tuple(notes)), registered)
    data = dict(built.data)
    data["root_causes"] = [c.to_dict() for c in causes]
    if causes[:2] != registered[:2]:
        data["close_call"] = None
    data["config"] = None
    data["servers"] = sum(len(r.servers) for r in rends)
    data["manifests"] = {"sources": list(mset.sources), "resources": len(mset.resources),
                         "renderings": [{k: v for k, v in rendering_data(r).items() if k != "nginx"}
                                        for r in rends]}
    return Report("diagnose", report.findings, data)
