"""MTLS290-MTLS294: what lint could not see in its input (templates, nothing analysed, blocks of
modules it does not know, files that are not there).

These rules say where the result of a lint run is incomplete, so that "Findings: none" is never
silently wrong: a template whose rendering decides the verification, a fragment or an include
that left no server to analyse, a ``tcp {}`` block of a third-party module, a certificate file
absent from a checkout. No I/O: the placeholders come from ``Config.templates`` (found by
``nginx.templates`` while parsing), the files from ``LintContext.files``.
"""

from __future__ import annotations

import os
import re
from typing import Iterable

from mtls_doctor.model import Finding, Location, Severity
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext, labels

#: directives whose value decides client verification: a placeholder there means the verdict
#: depends on the rendering
#: (a templated CA, certificate or CRL *path* is ordinary templating: the file is what counts,
#: and the file rules judge it where it is deployed)
SECURITY_DIRECTIVES = frozenset({
    "ssl_verify_client", "ssl_verify_depth", "ssl_ocsp", "ssl", "include", "proxy_ssl_verify",
    "grpc_ssl_verify", "uwsgi_ssl_verify", "proxy_ssl_verify_depth",
})
TRUST_FILES = frozenset({"ssl_client_certificate", "ssl_trusted_certificate", "ssl_crl"})
#: the rules whose verdict follows from the ssl_verify_client mode: unknown when it is a placeholder
MODE_DEPENDENT = frozenset({
    "MTLS201", "MTLS202", "MTLS203", "MTLS204", "MTLS205", "MTLS206", "MTLS207", "MTLS208",
    "MTLS210", "MTLS211", "MTLS214", "MTLS301", "MTLS304", "MTLS401", "MTLS403", "MTLS405",
})
#: nginx's client-certificate variables: plain ``envsubst < file`` (no variable list) replaces
#: them with empty strings; the official image passes the list of defined variables
_SSL_CLIENT_VAR = re.compile(r"\$(?:\{)?ssl_client_\w+")
#: main-level blocks lint analyses (``mail`` is named when no mail server is analysed)
KNOWN_MAIN_BLOCKS = frozenset({"http", "stream", "events"})


def _placeholder_nodes(ctx: LintContext) -> Iterable[tuple[Directive, list]]:
    """(directive, its value placeholders) for every directive holding one."""
    from mtls_doctor.nginx.templates import Role

    by_line: dict[tuple[str, int], list] = {}
    for path, found in ctx.eff.config.templates.items():
        for p in found:
            if p.role is Role.VALUE:
                by_line.setdefault((path, p.line), []).append(p)
    if not by_line:
        return
    paths = {path for path, _ in by_line}
    for node in ctx.eff.config.walk():
        if node.line == 0 or node.path not in paths:
            continue
        text = node.name + " " + " ".join(node.args)
        span = range(node.line, node.line + 1 + sum(a.count("\n") + 1 for a in node.args))
        hits = [p for line in span for p in by_line.get((node.path, line), ()) if p.text in text]
        if hits:
            yield node, hits


def _verification_relevant(ctx: LintContext, node: Directive) -> bool:
    if node.name in SECURITY_DIRECTIVES:
        return True
    text = " ".join(node.args)
    return "ssl_client" in text or (node.name == "if" and "ssl_" in text)


def _hazard(node: Directive, hits: list) -> str:
    shown = ", ".join(dict.fromkeys(f"`{p.text}`" for p in hits))
    if any(p.text.startswith("${") and re.match(r"\$\{\w+:?[-=+?]", p.text) for p in hits):
        return (f"`{node.name}` uses {shown}: envsubst has no shell defaults, so the text stays as"
                " written (nginx -t refuses it) or the value is whatever the environment says.")
    return (f"`{node.name}` takes its value from the template placeholder {shown}: what nginx"
            " enforces here depends on the rendering (lint read it as an unknown value).")


def _plain_envsubst(path: str, text: str) -> bool:
    """Whether a file is likely rendered by ``envsubst`` without a variable list: it says so
    (``envsubst < x``), or it is not a ``*.template`` of the official image, whose entrypoint
    passes the list of defined variables (20-envsubst-on-templates.sh)."""
    if re.search(r"envsubst\s*[<>]", text):
        return True
    return not path.endswith(".template")


def _envsubst_eats(ctx: LintContext) -> Iterable[Directive]:
    """Directives of envsubst templates that use nginx's ``$ssl_client_*`` variables."""
    from mtls_doctor.nginx.templates import Engine

    sources = ctx.eff.config.sources
    paths = {p for p, found in ctx.eff.config.templates.items()
             if any(x.engine is Engine.ENVSUBST for x in found) and _plain_envsubst(p, sources.get(p, ""))}
    for node in ctx.eff.config.walk():
        if node.path in paths and node.line and node.name not in ("access_log", "log_format") and any(
                _SSL_CLIENT_VAR.search(a) for a in node.args):
            yield node


class TemplatePlaceholderDecidesVerification(ConfigRule):
    """A template placeholder stands where client verification is decided: the result depends on the rendering.

    What it checks:
    Configurations kept as templates (envsubst `${VAR}` and `$VAR` in `*.template` files,
    Jinja/Ansible `{{ var }}`, Helm/Go `{{ .Values.x }}`, mustache, ERB `<%= @x %>`): every
    placeholder in `ssl_verify_client`, `ssl_verify_depth`, `ssl_ocsp`, `ssl`, `include`, the
    `proxy_ssl_verify*` settings, or a directive that reads `$ssl_client_*` (a templated CA or
    CRL path is MTLS291). Placeholders are read as unknown values: `listen ${LISTEN_ADDR} ssl;`
    is still a TLS listener, a `listen {{ vhost.listen }};` in a server that configures TLS is
    read as one, and a `{% if %}` line does not break the block structure. Also (info): an
    envsubst template that uses nginx's `$ssl_client_*` variables, which plain
    `envsubst < file` (without a variable list) replaces with empty strings (not for a
    `*.template` of the official image, whose entrypoint passes the variable list, unless the
    file says it is rendered with plain `envsubst <`); and
    `${VAR:-default}`, which envsubst does not expand.

    Why it matters:
    What nginx enforces is decided when the template is rendered: `ssl_verify_client ${MODE}`
    is `on` in one environment and `off` (or `optional`, unchecked) in another, and a CA path
    from a variable can name the system trust store. Lint judges the template as written, so a
    clean result holds only for renderings that keep these values safe.

    Example:
    ```nginx
    ssl_verify_client ${VERIFY_MODE};
    ssl_client_certificate {{ client_ca_path }};
    ```

    Use instead:
    Keep the verification settings literal in the template and template only what differs
    (names, ports); or lint the rendered configuration (`envsubst < x.template | mtls-doctor lint -`,
    `helm template`, `ansible ... --check --diff`).

    References:
    https://github.com/nginxinc/docker-nginx (docker-entrypoint.d/20-envsubst-on-templates.sh);
    F2.1 of nginx-mtls-facts.md (ssl_verify_client values).
    """

    code = "MTLS290"
    name = "template-placeholder-decides-verification"
    severity = Severity.WARNING
    facts = ("F2.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node, hits in _placeholder_nodes(ctx):
            if _verification_relevant(ctx, node):
                yield cls.finding(_hazard(node, hits), node.location,
                                  "Keep this value literal in the template, or lint the rendered file.")
        for node in _envsubst_eats(ctx):
            var = _SSL_CLIENT_VAR.search(" ".join(node.args)).group()  # type: ignore[union-attr]
            yield cls.finding(
                f"`{node.name}` reads nginx's {var} in an envsubst template: rendered with plain"
                f" `envsubst < file` (no variable list) {var} becomes an empty string.",
                node.location, "Render with the list of your variables (envsubst '$VAR1 $VAR2'), as the "
                               "official nginx image does.", severity=Severity.INFO)


class TemplateSectionsUnseen(ConfigRule):
    """A template holds conditional sections, inserts configuration or names trust files lint cannot see.

    What it checks:
    Conditional template sections (`{% if %}`, `{{ if }}`, `{{#section}}`, `<% if %>`, up to
    the next control tag) that hold a directive deciding client verification
    (`ssl_verify_client`, a CA or CRL file, `ssl_verify_depth`, `ssl_ocsp`, an `if` or header
    using `$ssl_client_*`), and placeholders that stand alone on a line and so insert whole
    directives (`{{ extra_config }}`, `{% include %}`, `{{> partial}}`, `{{ include "x" . }}`).
    One finding per file. Loops (`{% for %}`, `<% each %>`, `{{ range }}`) repeat the same
    directives and are not reported; a CA path that is a placeholder is an unknown value like
    any path checked without its files (MTLS294 says what that blocks).

    Why it matters:
    Lint reads every conditional section as present and cannot see what an inserted block
    holds: a rendering may drop the `if ($ssl_client_verify != SUCCESS)` check or insert an
    `ssl_verify_client off`; a templated CA path can name any file (a system trust store, the
    server's own chain). The verdict is about the template as written, not every rendering.

    Example:
    ```nginx
    {% if mtls_enabled %}
    ssl_verify_client on;
    {% endif %}
    {{ extra_server_config }}
    ```

    Use instead:
    Lint each rendering (render with the values of every environment and lint the result).

    References:
    https://jinja.palletsprojects.com/en/stable/templates/ (control structures);
    F2.1 of nginx-mtls-facts.md.
    """

    code = "MTLS291"
    name = "template-sections-unseen"
    severity = Severity.INFO
    facts = ("F2.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.nginx.templates import Role

        for path, found in ctx.eff.config.templates.items():
            control = sorted((p for p in found if p.role is Role.CONTROL), key=lambda p: p.line)
            inserted = [p for p in found if p.role is Role.STATEMENT]
            decisive = _conditional_sections(ctx, path, control)
            if not decisive and not inserted:
                continue
            parts = []
            if decisive:
                parts.append(f"{len(decisive)} conditional section(s) (lines {_lines(decisive)}) hold"
                             " client-verification settings: every section was read as rendered")
            if inserted:
                parts.append(f"{len(inserted)} placeholder(s) that insert configuration lint cannot"
                             f" see (lines {_lines(inserted)})")
            first = min(p.line for p in decisive + inserted)
            yield cls.finding("; ".join(parts) + ": the verdict holds for the template as written.",
                              Location(path=path, line=first), "Lint each rendering as well.")


#: control tags that repeat a section (a loop renders the same directives each time) rather
#: than decide whether it is there
_LOOP_TAG = re.compile(r"^\W*-?\s*(?:for|endfor|end|range|each|with|endwith)\b|\.each\b|^\W*end\W*$")


def _conditional_sections(ctx: LintContext, path: str, control: list) -> list:
    """The conditional tags (if/unless/else/mustache sections) whose section, up to the next
    control tag, holds a directive that decides client verification."""
    nodes = [n for n in ctx.eff.config.walk() if n.path == path and n.line]
    out = []
    for i, tag in enumerate(control):
        inner = tag.text.strip("{}%<>=#^/-~ ")
        if _LOOP_TAG.search(inner) or tag.text.startswith("{{/") or re.match(r"^(?:end\w*)\b", inner):
            continue
        end = control[i + 1].line if i + 1 < len(control) else 10**9
        if any(tag.line <= n.line <= end and (_verification_relevant(ctx, n) or n.name in TRUST_FILES)
               for n in nodes):
            out.append(tag)
    return out


def _lines(items: list) -> str:
    lines = sorted({p.line for p in items})
    return ", ".join(str(n) for n in lines[:8]) + (f" and {len(lines) - 8} more" if len(lines) > 8 else "")


class NoServerAnalysed(ConfigRule):
    """No `server` block was found to analyse: a clean result would mean nothing.

    What it checks:
    A configuration (or fragment) in which lint found no `server` block in `http`, `stream`
    or a fragment it could wrap.

    Why it matters:
    Every client-verification rule looks at servers. With none, "Findings: none" says nothing
    about the configuration: usually the file is a fragment at a level lint did not detect, an
    `include` matched nothing, or the servers live in a block of a module lint does not know.

    Example:
    ```nginx
    # ssl-params.conf: included from a server that is not part of the input
    ssl_protocols TLSv1.2 TLSv1.3;
    ```

    Use instead:
    Lint the main file (`nginx.conf`) or `nginx -T` output, or say the fragment's level with
    `--context http|server|location|stream|mail` (and `--prefix` for its relative includes).

    References:
    https://nginx.org/en/docs/ngx_core_module.html#include ; F7.1 of nginx-mtls-facts.md
    (each server block has its own SSL context).
    """

    code = "MTLS292"
    name = "no-server-analysed"
    severity = Severity.WARNING
    facts = ("F7.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        if ctx.servers or any(d.block is not None and d.name not in KNOWN_MAIN_BLOCKS and any(
                n.name == "server" for n in d.walk()) for d in ctx.eff.config.root):
            return  # servers in a block of an unknown module: MTLS293 names them
        config = ctx.eff.config
        why = f" (read as a {config.context}-level fragment)" if config.context != "main" else ""
        yield cls.finding(f"0 server blocks analysed in {config.main}{why}: nothing was checked.",
                          Location(path=config.main, line=1 if config.sources.get(config.main) else None),
                          "Lint the main configuration or `nginx -T` output, or pass --context and --prefix.")


class ModuleBlockNotAnalysed(ConfigRule):
    """A top-level block of a module lint does not analyse (`tcp {}`, `rtmp {}`, `mail {}`): its servers are not checked.

    What it checks:
    Every block at nginx's main level other than `http`, `stream` and `events` (and `mail`
    with servers, which MTLS260-MTLS262 analyse): blocks of third-party modules such as
    `nginx_tcp_proxy_module` (`tcp {}`) or `nginx-rtmp-module` (`rtmp {}`). A warning when the
    block configures TLS client verification (`ssl_verify_client`, a CA file), else info.

    Why it matters:
    Lint's rules follow nginx's http and stream modules. A third-party module has its own
    directives and defaults (the TCP proxy module's `ssl_verify_client` is its own code), so
    nothing said about the rest of the file covers that block.

    Example:
    ```nginx
    tcp {
        server { listen 9443 ssl; ssl_verify_client on; ssl_client_certificate ca.pem; }
    }
    ```

    Use instead:
    Check those servers by hand (or with `verify`/`probe` against the running listener).

    References:
    https://nginx.org/en/docs/ngx_core_module.html ; F2.1 of nginx-mtls-facts.md.
    """

    code = "MTLS293"
    name = "module-block-not-analysed"
    severity = Severity.WARNING
    facts = ("F2.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        if ctx.eff.config.context != "main":
            return
        for node in ctx.eff.config.root:
            if node.block is None or node.name in KNOWN_MAIN_BLOCKS:
                continue
            if node.name == "mail" and any(d.name == "server" for d in node.block):
                continue  # its servers are analysed by MTLS260-MTLS262 (rules/config/mail.py)
            names = {d.name for d in node.walk()}
            servers = sum(1 for d in node.walk() if d.name == "server" and d.block is not None)
            tls = bool(names & {"ssl_verify_client", "ssl_client_certificate", "ssl_trusted_certificate"})
            what = f"{servers} server block(s)" if servers else "its directives"
            yield cls.finding(
                f"`{node.name} {{}}` is a block lint does not analyse: {what} "
                f"{'(with client-certificate settings) ' if tls else ''}were not checked.",
                node.location, "Check this block's TLS settings by hand or with verify/probe.",
                severity=None if tls else Severity.INFO)


#: what lint cannot check while a file of this role is absent (the rules that need it)
BLOCKED_BY_ROLE = {
    "server": "the server certificate checks (chain, expiry, key match: MTLS231-MTLS233, MTLS1xx)",
    "key": "the key match (MTLS232)",
    "ca": "the trust checks (depth MTLS207, CA names MTLS208, CRL issuers MTLS301, MTLS1xx)",
    "crl": "the CRL checks (MTLS301, MTLS302)",
}


class NamedFileMissing(ConfigRule):
    """A certificate, key, CA or CRL file the configuration names is absent here (once per path).

    What it checks:
    Each distinct file named by `ssl_certificate`, `ssl_certificate_key`,
    `ssl_client_certificate`, `ssl_trusted_certificate` or `ssl_crl` (relative paths from the
    configuration prefix, as nginx resolves them) that does not exist: one finding per path,
    at its first use, saying which servers use it and which checks it blocks. A warning when
    another file the configuration names in the same directory exists (a typo is likely),
    info otherwise (a configuration checked without its secrets, as in CI; a missing key is
    always info). Not run with `--no-files`.

    Why it matters:
    nginx -t fails on a missing file (`[emerg] cannot load certificate`), but a repository
    usually holds the configuration without its keys and certificates: one error per
    directive and rule would drown the findings that matter, while the checks that need the
    file's contents silently do not run.

    Example:
    ```nginx
    ssl_client_certificate /etc/nginx/certs/clients-ca.pem;   # not in the checkout
    ```

    Use instead:
    Lint where the files are (or with `--no-files` to skip file checks); fix the path if the
    file should be there.

    References:
    F1.5 of nginx-mtls-facts.md (load errors); https://nginx.org/en/docs/http/ngx_http_ssl_module.html
    """

    code = "MTLS294"
    name = "named-file-missing"
    severity = Severity.WARNING
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.nginx.lint import FILE_SETTINGS
        from mtls_doctor.nginx.templates import has_placeholder

        if not ctx.files:
            return
        uses: dict[str, list[tuple[Directive, object]]] = {}
        for server in ctx.servers:
            for name in FILE_SETTINGS:
                nodes = server.arrays.get(name) if name in server.arrays else (
                    (server.settings[name].node,) if server.settings[name].node else ())
                for node in nodes or ():
                    if not node.args:
                        continue
                    if has_placeholder(node.args[0], ctx.eff.config.templates.get(node.path, ())):
                        continue  # not a path to open: MTLS290 reports it
                    path = ctx.eff.config.resolve(node.args[0])
                    loaded = ctx.files.get(path)
                    if loaded is not None and not loaded.exists:
                        uses.setdefault(path, []).append((node, server))
        present = {os.path.dirname(p) for p, f in ctx.files.items() if f.exists}
        for path, found in uses.items():
            first = min((n for n, _ in found), key=lambda n: (n.path, n.line))
            servers = list(dict.fromkeys(s for _, s in found))
            roles = dict.fromkeys(FILE_SETTINGS[n.name] for n, _ in found)
            blocked = "; ".join(BLOCKED_BY_ROLE[r] for r in roles)
            directives = ", ".join(dict.fromkeys(f"`{n.name}`" for n, _ in found))
            sibling = os.path.dirname(path) in present and "key" not in roles
            yield cls.finding(
                f"{path} ({directives} of {labels(servers)}) does not exist here: nginx -t would fail;"
                f" not checked: {blocked}.",
                first.location, "Lint where the files are, fix the path, or pass --no-files.",
                severity=Severity.WARNING if sibling else Severity.INFO)


#: rules judging a setting that a fragment's includer usually holds (error_log at main level)
OUTSIDE_A_FRAGMENT = frozenset({"MTLS401"})


def knowable(findings: Iterable[Finding], eff) -> list[Finding]:
    """``findings`` minus the verdicts lint cannot know (the lint engine applies this):

    - findings at the blocks ``parse.wrap`` puts around a fragment (``SYNTHETIC_LINE``: the
      fragment does not hold them, nginx takes them from the file that includes it), and
      those about the includer's settings (``OUTSIDE_A_FRAGMENT``: the error_log level of a
      fragment without its own error_log);
    - other rules' findings at a directive whose value is a template placeholder
      (``server_name {{ host }}`` is not "missing from the certificate": it is unknown);
    - the findings of rules that judge the verification mode (``MODE_DEPENDENT``) on a server
      whose ``ssl_verify_client`` is a placeholder: its mode depends on the rendering.
    MTLS290 says where each of these is."""
    from mtls_doctor.nginx.parse import SYNTHETIC_LINE
    from mtls_doctor.nginx.templates import has_placeholder

    findings = list(findings)
    if eff.config.context != "main" and not eff.named("error_log"):
        # the main file that includes a fragment sets its error_log: not the fragment's default
        findings = [f for f in findings if f.rule not in OUTSIDE_A_FRAGMENT]
    templates = eff.config.templates
    if eff.config.context == "main" and not templates:
        return findings
    unknown: set[tuple[str, int]] = set()
    if templates:
        for node in eff.config.walk():
            marks = templates.get(node.path)
            if marks and node.line and has_placeholder(node.name + " " + " ".join(node.args), marks):
                unknown.add((node.path, node.line))
    mode_unknown: set[tuple[str, int]] = set()
    if templates:
        for server in eff.servers:
            node = server.settings["ssl_verify_client"].node
            if node is not None and (node.path, node.line) in unknown:
                mode_unknown.update((d.path, d.line) for d in server.walk())
    return [f for f in findings
            if f.rule.startswith("MTLS29") or (
                f.location.line != SYNTHETIC_LINE and (f.location.path, f.location.line) not in unknown
                and not (f.rule in MODE_DEPENDENT and (f.location.path, f.location.line) in mode_unknown))]


RULES = (TemplatePlaceholderDecidesVerification, TemplateSectionsUnseen, NoServerAnalysed,
         ModuleBlockNotAnalysed, NamedFileMissing)
