"""MTLS250-253: what `nginx -t` refuses: its own verdict (oracle), C-style comments, misspelled
TLS directives and variables, directives in a context that does not allow them.

Invariants: no I/O. MTLS250 reports what ``mtls_doctor.nginx.oracle`` measured (``LintContext.
oracle``, None when no nginx was run); the others read the parsed configuration. The known
names are those of nginx's TLS modules (http, stream, mail ssl; proxy/grpc/uwsgi ssl; the
embedded ssl variables): a name near one of them (a typo) is reported, an unrelated name is
left alone (it may belong to a third-party module).
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable, Iterator

from mtls_doctor.model import Finding, Fix, Location, Severity
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import IDENTITY_NAMES, ConfigRule, LintContext

_UPSTREAM_SSL = ("certificate", "certificate_cache", "certificate_key", "ciphers", "conf_command", "crl",
                 "key_log", "name", "password_file", "protocols", "server_name", "session_reuse",
                 "trusted_certificate", "verify", "verify_depth")
KNOWN_DIRECTIVES = frozenset({
    "ssl", "ssl_buffer_size", "ssl_certificate", "ssl_certificate_cache", "ssl_certificate_key",
    "ssl_ciphers", "ssl_client_certificate", "ssl_conf_command", "ssl_crl", "ssl_dhparam",
    "ssl_early_data", "ssl_ecdh_curve", "ssl_engine", "ssl_handshake_timeout", "ssl_key_log",
    "ssl_ocsp", "ssl_ocsp_cache", "ssl_ocsp_responder", "ssl_object_cache_inheritable",
    "ssl_password_file", "ssl_prefer_server_ciphers", "ssl_preread", "ssl_protocols",
    "ssl_reject_handshake", "ssl_session_cache", "ssl_session_ticket_key", "ssl_session_tickets",
    "ssl_session_timeout", "ssl_stapling", "ssl_stapling_file", "ssl_stapling_responder",
    "ssl_stapling_verify", "ssl_trusted_certificate", "ssl_verify_client", "ssl_verify_depth",
    "proxy_ssl", "starttls",
} | {f"{m}_ssl_{s}" for m in ("proxy", "grpc", "uwsgi") for s in _UPSTREAM_SSL})
KNOWN_VARIABLES = frozenset(set(IDENTITY_NAMES) | {
    "ssl_client_verify", "ssl_cipher", "ssl_ciphers", "ssl_curve", "ssl_curves", "ssl_early_data",
    "ssl_protocol", "ssl_server_name", "ssl_session_id", "ssl_session_reused", "ssl_alpn_protocol",
    "ssl_client_sigalg", "ssl_sigalg", "ssl_preread_server_name", "ssl_preread_protocol",
    "ssl_preread_alpn_protocols",
})
NEAR = 0.85
#: top-level blocks of third-party modules that stock nginx does not know
THIRD_PARTY_BLOCKS = {"tcp": "the third-party nginx_tcp_proxy_module"}
TLS_NAME = re.compile(r"^(?:ssl|proxy_ssl|grpc_ssl|uwsgi_ssl)_[a-z_]+$")
VARIABLE = re.compile(r"\$\{?(ssl_[a-z_0-9]+)")


def _near(name: str, known: frozenset) -> str | None:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=NEAR)
    return close[0] if close else None


def _defined_variables(ctx: LintContext) -> set[str]:
    """Variables the configuration defines itself (map, geo, set, named regex captures)."""
    out: set[str] = set()
    for node in ctx.eff.named("map", "geo", "set", "split_clients", "perl_set", "js_set"):
        args = [a for a in node.args if a.startswith("$")]
        if node.name == "set" or node.name.endswith("_set"):
            args = args[:1]
        elif node.name in ("map", "split_clients"):
            args = args[1:2]
        else:
            args = args[-1:]
        out |= {a.lstrip("$").strip("{}") for a in args}
    for node in ctx.eff.config.walk():
        for arg in (node.name, *node.args):
            out |= set(re.findall(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>", arg))
    return out


class NginxTestRefuses(ConfigRule):
    """`nginx -t` refuses the configuration (run on it in a sandbox): its own message, at file:line.

    What it checks:
    With `lint --nginx-t` and an nginx binary at hand (`--nginx`, or the one found), the
    configuration is rendered into a private prefix (missing certificates, keys, CA files and
    CRLs replaced by placeholders, logs, pid and temp paths moved into the prefix, `user`
    dropped; never the system's nginx or its files) and `nginx -t` is run on it. Each `[emerg]`
    is an error, each `[warn]` a warning, located at the line of the original file nginx names.

    Why it matters:
    nginx is the authority on what it accepts: a module that is not built in, a directive of a
    newer version, a wrong context, an unknown variable, a regex PCRE rejects. A configuration
    `nginx -t` refuses is not reloaded; the old one keeps running, and the mTLS change never
    takes effect.

    Example:
    ```nginx
    ssl_verify_clients on;   # nginx: [emerg] unknown directive "ssl_verify_clients"
    ```

    Use instead:
    What nginx's message asks for; run `nginx -t` in CI on the configuration with
    `mtls-doctor lint --nginx-t --nginx /usr/sbin/nginx`.

    References:
    F1.5 of nginx-mtls-facts.md; https://nginx.org/en/docs/switches.html (`-t`).
    """

    code = "MTLS250"
    name = "nginx-t-refuses"
    severity = Severity.ERROR
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        result = ctx.oracle
        if result is None:
            return
        for refusal in result.refusals:
            yield cls.finding(
                f"nginx -t ({result.nginx}): {refusal.message}",
                Location(path=refusal.path, line=refusal.line),
                "Fix what nginx names (the placeholders stand for files that are missing here).",
                severity=Severity.ERROR if refusal.level in ("emerg", "alert", "crit") else Severity.WARNING)


class CStyleComment(ConfigRule):
    """A `/* ... */` or `//` comment: nginx has only `#` comments and refuses the file.

    What it checks:
    A directive whose name starts with `/*`, `*/` or `//`.

    Why it matters:
    nginx reads `/*` as a directive name: `nginx -t` fails with `unknown directive "/*"`.
    Everything up to the next `;` or `{` is taken as that directive's arguments, so the block
    after a comment is swallowed too (this lint then cannot see the servers inside it).

    Example:
    ```nginx
    /* mutual TLS for the admin API */
    server { ... }
    ```

    Use instead:
    ```nginx
    # mutual TLS for the admin API
    server { ... }
    ```

    References:
    https://nginx.org/en/docs/beginners_guide.html#conf_structure
    """

    code = "MTLS251"
    name = "c-style-comment"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.config.walk():
            if node.name.startswith(("/*", "*/", "//")):
                swallowed = " (and the block after it)" if node.block is not None else ""
                yield cls.finding(
                    f"`{node.name}` starts a comment nginx does not know: nginx -t fails with unknown"
                    f" directive \"{node.name}\"{swallowed}.",
                    node.location, "Use # comments.")


class UnknownTlsName(ConfigRule):
    """A misspelled TLS directive or `$ssl_*` variable: `nginx -t` fails with unknown directive / variable.

    What it checks:
    A directive named `ssl_*`, `proxy_ssl_*`, `grpc_ssl_*` or `uwsgi_ssl_*`, or a `$ssl_*`
    variable, that nginx does not have but that is close to one it has (a typo such as
    `ssl_verify_clients`, `ssl_client_certificates`, `$ssl_client_verfiy`), and the `tcp {}`
    block of the third-party nginx_tcp_proxy_module. Names far from every known one, and
    variables the configuration defines (`map`, `set`, named captures), are left alone.

    Why it matters:
    `nginx -t` fails: `unknown directive "ssl_verify_clients"`, `unknown "ssl_client_verfiy"
    variable`. A reload keeps the old configuration, so the intended client verification is
    never switched on; in a CI that does not run `nginx -t`, the typo ships.

    Example:
    ```nginx
    ssl_verify_clients on;
    ```

    Use instead:
    ```nginx
    ssl_verify_client on;
    ```

    References:
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html ;
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_verify
    """

    code = "MTLS252"
    name = "unknown-tls-name"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        defined = _defined_variables(ctx)
        for node in ctx.eff.config.root:
            if node.name in THIRD_PARTY_BLOCKS and node.block is not None:
                yield cls.finding(
                    f"`{node.name}` is not a directive of stock nginx ({THIRD_PARTY_BLOCKS[node.name]}):"
                    f" nginx -t fails with unknown directive \"{node.name}\".",
                    node.location, "Use stream {} (ngx_stream_ssl_module) with stock nginx.")
        for node in ctx.eff.config.walk():
            if TLS_NAME.match(node.name) and node.name not in KNOWN_DIRECTIVES and "_by_lua" not in node.name:
                near = _near(node.name, KNOWN_DIRECTIVES)
                if near:
                    yield cls.finding(f"unknown directive `{node.name}`: nginx -t fails. Did you mean `{near}`?",
                                      node.location, Fix(f"Use `{near}`.", f"{near} {' '.join(node.args)};"))
            for arg in (node.name, *node.args):
                for name in VARIABLE.findall(arg):
                    if name in KNOWN_VARIABLES or name in defined or name.startswith(("ssl_preread_",)):
                        continue
                    near = _near(name, KNOWN_VARIABLES)
                    if near:
                        yield cls.finding(f"unknown variable `${name}`: nginx -t fails. Did you mean `${near}`?",
                                          node.location, f"Use ${near}.")


#: directive -> the block names it may stand in (http configuration; MTLS213 judges the
#: ngx_http_ssl_module directives inside location)
ALLOWED_IN = {
    "proxy_pass": ("location", "if", "limit_except"),  # in stream: server (below)
    "grpc_pass": ("location", "if"),
    "uwsgi_pass": ("location", "if"),
    "fastcgi_pass": ("location", "if"),
    "listen": ("server",),
    "server_name": ("server",),
    "location": ("server", "location"),
    "ssl_verify_client": ("http", "server", "stream", "mail", "location", "if", "limit_except"),
    "ssl_client_certificate": ("http", "server", "stream", "mail", "location", "if", "limit_except"),
    "ssl_certificate": ("http", "server", "stream", "mail", "location", "if", "limit_except"),
}


KNOWN_BLOCKS = frozenset({"main", "events", "http", "server", "location", "if", "limit_except", "stream",
                          "mail", "upstream"})


def _with_parents(nodes: Iterable[Directive], parent: str) -> Iterator[tuple[Directive, str, str]]:
    """(directive, its block's name, the enclosing http/stream/mail) depth first, iteratively."""
    stack = [(iter(nodes), parent, "main")]
    while stack:
        it, par, top = stack[-1]
        node = next(it, None)
        if node is None:
            stack.pop()
            continue
        yield node, par, top
        if node.block is not None and node.name in KNOWN_BLOCKS:  # not into map/types/tcp{}/...
            stack.append((iter(node.block), node.name, node.name if node.name in ("http", "stream", "mail") else top))


class DirectiveWrongContext(ConfigRule):
    """A directive in a block nginx does not allow it in: `nginx -t` fails with "directive is not allowed here".

    What it checks:
    `proxy_pass`/`grpc_pass`/`uwsgi_pass`/`fastcgi_pass` outside `location` (in an http
    `server`), `listen` and `server_name` outside `server`, `location` outside `server` or
    `location`, and `ssl_verify_client`/`ssl_client_certificate` in `main`, `events` or an
    `upstream` block. (The TLS directives inside `location` are MTLS213.)

    Why it matters:
    `nginx -t` fails: `"proxy_pass" directive is not allowed here` (measured on real nginx),
    and the reload keeps the old configuration.

    Example:
    ```nginx
    server { listen 443 ssl; ssl_verify_client on; proxy_pass http://app; }
    ```

    Use instead:
    ```nginx
    server { listen 443 ssl; ssl_verify_client on; location / { proxy_pass http://app; } }
    ```

    References:
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass (Context: location,
    if in location, limit_except)
    """

    code = "MTLS253"
    name = "directive-wrong-context"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.nginx.parse import is_snippet

        root = "http" if is_snippet(ctx.eff.config) else "main"
        for node, parent, top in _with_parents(ctx.eff.config.root, root):
            allowed = ALLOWED_IN.get(node.name)
            if node.name == "proxy_pass" and top == "stream":
                allowed = ("server",)
            elif node.name == "server_name" and top == "mail":
                allowed = ("mail", "server")
            if allowed is None or parent in allowed or parent not in KNOWN_BLOCKS:
                continue  # inside an unknown block (a module's, or a swallowed /* comment): MTLS251
            yield cls.finding(
                f"`{node.name}` is not allowed in `{parent}`: nginx -t fails (\"{node.name}\" directive is not"
                " allowed here).",
                node.location, _fix(node.name))


def _fix(name: str) -> Fix:
    if name.endswith("_pass"):
        return Fix(f"Move `{name}` into a location.", f"location / {{ {name} ...; }}")
    return Fix(f"Move `{name}` into the block nginx documents for it.")


RULES = (NginxTestRefuses, CStyleComment, UnknownTlsName, DirectiveWrongContext)


#: TLS directives nginx declares NGX_CONF_TAKE1 (exactly one argument), http/stream/mail ssl
#: modules and the proxy/grpc/uwsgi upstream TLS directives
TAKE1 = frozenset({
    "ssl_certificate", "ssl_certificate_key", "ssl_client_certificate", "ssl_trusted_certificate",
    "ssl_crl", "ssl_verify_client", "ssl_verify_depth", "ssl_dhparam", "ssl_ciphers",
    "ssl_ecdh_curve", "ssl_prefer_server_ciphers", "ssl_session_tickets", "ssl_session_timeout",
    "ssl_password_file", "ssl_stapling", "ssl_stapling_verify", "ssl_stapling_file",
    "ssl_stapling_responder", "ssl_ocsp", "ssl_ocsp_responder", "ssl_ocsp_cache", "ssl_buffer_size",
    "ssl_early_data", "ssl_reject_handshake", "ssl_handshake_timeout", "ssl_preread",
} | {f"{m}_ssl_{s}" for m in ("proxy", "grpc", "uwsgi") for s in (
    "certificate", "certificate_key", "trusted_certificate", "crl", "verify", "verify_depth",
    "name", "server_name", "session_reuse", "ciphers", "password_file")})


class DirectiveArgumentCount(ConfigRule):
    """A TLS directive with another number of arguments than its one: `nginx -t` fails with "invalid number of arguments".

    What it checks:
    The TLS directives that take exactly one argument (`ssl_client_certificate`,
    `ssl_verify_client`, `ssl_verify_depth`, `ssl_crl`, `ssl_trusted_certificate`,
    `ssl_certificate(_key)`, the stapling/OCSP ones, `proxy_ssl_*`, ...) written with none or
    with several. The usual cause is a missing `;`: the next line's words become arguments
    (`ssl_client_certificate ca.pem` + `ssl_verify_client optional;` is one directive with three
    arguments), or a template variable that rendered empty (`ssl_verify_client ;`).

    Why it matters:
    `nginx -t` refuses the whole configuration: `invalid number of arguments in
    "ssl_client_certificate" directive` (measured on real nginx), and a reload keeps the old
    one. Read as written, the directive swallowed by the missing `;` is not there at all, so
    every other judgement of that server is about a configuration nginx never runs.

    Example:
    ```nginx
    ssl_client_certificate /etc/nginx/ca.pem
    ssl_verify_client optional;
    ```

    Use instead:
    ```nginx
    ssl_client_certificate /etc/nginx/ca.pem;
    ssl_verify_client optional;
    ```

    References:
    F2.1 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_client_certificate
    """

    code = "MTLS254"
    name = "directive-argument-count"
    severity = Severity.ERROR
    facts = ("F2.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.config.walk():
            if node.name not in TAKE1 or node.block is not None or len(node.args) == 1:
                continue
            n = len(node.args)
            swallowed = [a for a in node.args[1:] if a in KNOWN_DIRECTIVES or a in ALLOWED_IN]
            why = (f" (a missing `;`: `{swallowed[0]}` is read as its argument)" if swallowed
                   else " (an empty value, a template variable that rendered empty?)" if n == 0 else "")
            yield cls.finding(
                f"`{node.name}` takes one argument, here {n}{why}: nginx -t fails with"
                f" invalid number of arguments in \"{node.name}\" directive.",
                node.location,
                Fix("End the directive with `;` and give it exactly one value.",
                    f"{node.name} {node.args[0] if node.args else '<value>'};"))


RULES = RULES + (DirectiveArgumentCount,)
