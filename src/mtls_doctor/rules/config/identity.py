"""MTLS40x: logging of verification failures and client identity reaching the backend."""

from __future__ import annotations

import re
from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import LEVELS
from mtls_doctor.nginx.version import ESCAPED_CERT
from mtls_doctor.rules.config.common import (
    ANY_CLIENT_VAR,
    IDENTITY_VAR,
    ConfigRule,
    LintContext,
    labels,
    once,
    per_node,
    text_of,
    var_re,
    verifying,
)

CLIENT_CERT_VAR = var_re("ssl_client_cert")
#: directives that hand the request to a backend
BACKENDS = frozenset({"proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "memcached_pass"})
LOG_DIRECTIVES = frozenset({"access_log", "log_format", "error_log"})


class ErrorLogHidesVerifyFailures(ConfigRule):
    """`error_log` above `info` on a verifying server: every client-certificate failure is invisible.

    What it checks:
    A server with `ssl_verify_client` other than `off` whose effective `error_log` (server,
    then `http`/`stream`, then main level; nginx's default level is `error`) has no log at level
    `info` or `debug`, where it matters: with `optional`/`optional_no_ca` (a failed certificate
    gets no 400 page, so the log is the only trace), or with `on` when the level above `info`
    was set in the server or in `http`/`stream`. A server with `on` and nginx's default or the
    main-level log of a packaged nginx.conf is left alone (its clients see a 400 page that
    names the failure).

    Why it matters:
    nginx logs "client sent no required SSL certificate" and "client SSL certificate verify
    error: (21:unable to verify the first certificate)" at level `info` (F4.1). With the
    default `error` level the client sees a 400 page and the log says nothing: the cause of
    every failure is invisible.

    Example:
    ```nginx
    error_log /var/log/nginx/error.log;        # level error
    server { ssl_verify_client on; ... }
    ```

    Use instead:
    ```nginx
    error_log /var/log/nginx/error.log info;
    ```
    (in the verifying server, or above it).

    References:
    F4.1, F4.2 of nginx-mtls-facts.md; https://nginx.org/en/docs/ngx_core_module.html#error_log
    """

    code = "MTLS401"
    name = "error-log-hides-verify-failures"
    severity = Severity.WARNING
    facts = ("F4.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            if not verifying(server) or LEVELS.index(server.error_log_level) <= LEVELS.index("info"):
                continue
            if server.verify == "on" and not _set_in_http_or_server(server):
                continue  # the client sees a 400 page naming the failure: the log matters less
            node = server.error_log_nodes[0] if server.error_log_nodes else server.settings["ssl_verify_client"].node
            hits.append((node, server))
        for node, servers in per_node(hits):
            level = servers[0].error_log_level
            fix_line = f"error_log {node.args[0]} info;" if node.name == "error_log" and node.args else (
                "error_log /var/log/nginx/error.log info;")
            yield cls.finding(
                f"client-certificate failures of {labels(servers)} are logged at info, below this"
                f" error_log level ({level}): they are invisible.",
                node.location, Fix("Log at level info.", fix_line))


def _set_in_http_or_server(server) -> bool:
    """The server's log level was chosen for it: an error_log with a level in the server or in
    http/stream (not nginx's default, not the main-level log every packaged nginx.conf has)."""
    own = {id(d) for d in server.node.block or ()} | {id(d) for d in server.inherited}
    return any(id(d) in own and len(d.args) >= 2 for d in server.error_log_nodes)


class AddHeaderClientIdentity(ConfigRule):
    """`add_header` with a `$ssl_client_*` variable: the identity goes to the client, not the backend.

    What it checks:
    Any `add_header` whose value uses a `$ssl_client_*` variable in a server that hands
    requests to a backend (`proxy_pass`, `fastcgi_pass`, ...), unless the same header name is
    also set for the backend with `proxy_set_header`/`grpc_set_header` in that server. A
    server with no backend (it answers with `return` or files) echoes the identity on
    purpose, as diagnostic endpoints and nginx's own tests do.

    Why it matters:
    `add_header` adds a header to the *response* sent to the client. The backend never sees
    it, so an application expecting the client's DN gets nothing, or whatever the client put
    in its request header of that name.

    Example:
    ```nginx
    add_header X-Client-DN $ssl_client_s_dn;
    proxy_pass http://app;
    ```

    Use instead:
    ```nginx
    proxy_set_header X-Client-DN $ssl_client_s_dn;
    ```
    (`fastcgi_param`, `uwsgi_param`, `grpc_set_header` for other backends).

    References:
    Facts section 5; https://nginx.org/en/docs/http/ngx_http_headers_module.html#add_header
    """

    code = "MTLS402"
    name = "add-header-client-identity"
    severity = Severity.WARNING
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node, _server in once((n, s) for s in ctx.servers for n in _scope(s) if _echoed_identity(s, n)):
            yield cls.finding(
                f"`add_header {node.args[0]}` sends the client identity back to the client; the"
                " backend never sees it.",
                node.location,
                Fix("Send it to the backend instead.", f"proxy_set_header {node.args[0]} {node.args[1]};"))


class IdentityVariableWithoutVerification(ConfigRule):
    """A `$ssl_client_*` identity variable used in a server that never requests a certificate.

    What it checks:
    A server with `ssl_verify_client off` (the default) that uses `$ssl_client_s_dn`,
    `$ssl_client_escaped_cert`, `$ssl_client_fingerprint` or another client identity variable
    (in `proxy_set_header`, `if`, `fastcgi_param`, `set`, ...).

    Why it matters:
    With verification off nginx sends no CertificateRequest, so clients send no certificate
    and every identity variable is empty (F1.2). An application that relies on it either
    rejects everyone or, worse, treats the empty value as a valid identity.

    Example:
    ```nginx
    server { listen 443 ssl; proxy_set_header X-Client-DN $ssl_client_s_dn; ... }
    ```

    Use instead:
    ```nginx
    ssl_verify_client on;
    ssl_client_certificate /etc/nginx/client-ca.pem;
    ```

    References:
    F1.2, F2.2 and section 5 of nginx-mtls-facts.md.
    """

    code = "MTLS403"
    name = "identity-variable-without-verification"
    severity = Severity.WARNING
    facts = ("F1.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.servers:
            if verifying(server) or server.settings["ssl_reject_handshake"].value == "on":
                continue
            for node in _scope(server):
                if node.name in LOG_DIRECTIVES or node.name in ("add_header", "return"):
                    continue
                if IDENTITY_VAR.search(text_of(node)):
                    hits.append((node, server))
        for node, servers in per_node(hits):
            yield cls.finding(
                f"`{node.name}` uses a client identity variable, but {labels(servers)} never requests a"
                " client certificate: it is always empty.",
                node.location, Fix("Enable client verification.", "ssl_verify_client on;"))


class ClientCertVariableDeprecated(ConfigRule):
    """`$ssl_client_cert` is deprecated: a multi-line value that breaks HTTP headers.

    What it checks:
    Any use of `$ssl_client_cert` outside logs and `return` (a response body, or the data a
    stream `return` sends, carries the line breaks as they are).

    Why it matters:
    `$ssl_client_cert` is the PEM with a TAB before every line but the first (section 5): in a
    request header it relies on obsolete header line folding, which many backends and proxies
    reject or mangle. nginx deprecated it in 1.13.5 in favour of `$ssl_client_escaped_cert`
    (URL-encoded PEM).

    Example:
    ```nginx
    proxy_set_header X-SSL-Cert $ssl_client_cert;
    ```

    Use instead:
    ```nginx
    proxy_set_header X-SSL-Cert $ssl_client_escaped_cert;
    ```

    References:
    Section 5 and 9 of nginx-mtls-facts.md; nginx CHANGES 1.13.5;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#var_ssl_client_cert
    """

    code = "MTLS404"
    name = "client-cert-variable-deprecated"
    severity = Severity.WARNING
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.config.walk():
            if node.name in LOG_DIRECTIVES or "ssl_client_cert" not in text_of(node) or not CLIENT_CERT_VAR.search(text_of(node)):
                continue
            if node.name == "return":
                continue  # a response body (or a stream session's data), not a header line
            new_args = [CLIENT_CERT_VAR.sub(_escaped, a) for a in node.args]
            if ctx.version is not None and ctx.version < ESCAPED_CERT:
                yield cls.finding(
                    f"`$ssl_client_cert` is a multi-line value; nginx {ctx.version} has no"
                    " $ssl_client_escaped_cert (1.13.5+).",
                    node.location, "Upgrade nginx, or have the backend unfold the header.")
                continue
            yield cls.finding(
                "`$ssl_client_cert` is a multi-line value (deprecated since nginx 1.13.5).",
                node.location,
                Fix("Use $ssl_client_escaped_cert.", f"{node.name} {' '.join(new_args)};"))


def _escaped(match) -> str:
    return "${ssl_client_escaped_cert}" if match.group(0).startswith("${") else "$ssl_client_escaped_cert"


class IdentityHeaderSpoofable(ConfigRule):
    """A proxied location does not overwrite an identity header the client can then send itself.

    What it checks:
    In each server, the request headers set from `$ssl_client_*` variables with
    `proxy_set_header` (at any level). Every location that proxies (`proxy_pass`,
    `grpc_pass`) must set each of them too, taking nginx's inheritance rule into account: a
    location with any `proxy_set_header` of its own inherits none from the server or `http`.

    Why it matters:
    nginx passes the client's request headers to the backend unchanged unless a
    `proxy_set_header` replaces them. Where the identity header is not set, a client (with or
    without a certificate) sends `X-Client-DN: CN=admin` itself and the backend trusts it.
    Adding one unrelated `proxy_set_header` to a location silently drops all inherited ones.

    Example:
    ```nginx
    proxy_set_header X-Client-DN $ssl_client_s_dn;
    location /api/ {
        proxy_set_header Host $host;    # drops the inherited X-Client-DN
        proxy_pass http://app;
    }
    ```

    Use instead:
    Repeat the identity headers in every location that has its own `proxy_set_header`, e.g.
    through a shared `include snippets/client-identity.conf;`.

    References:
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header (inheritance);
    section 5 of nginx-mtls-facts.md.
    """

    code = "MTLS405"
    name = "identity-header-spoofable"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for server in ctx.servers:
            if server.kind != "http":
                continue
            identity: dict[str, str] = {}
            sources = list(server.server_proxy_headers) + [
                d for loc in server.locations for d in loc.node.block or () if d.name == "proxy_set_header"]
            for d in sources:
                if len(d.args) >= 2 and ANY_CLIENT_VAR.search(d.args[1]):
                    identity.setdefault(d.args[0].lower(), d.args[0])
            if not identity:
                continue
            for loc in server.locations:
                if not loc.proxies:
                    continue
                have = {d.args[0].lower() for d in loc.proxy_headers if d.args}
                missing = [identity[k] for k in identity if k not in have]
                if missing:
                    yield cls.finding(
                        f"`location {' '.join(loc.node.args)}` passes the client's own {', '.join(missing)}"
                        " header to the backend: it is not set here (a location with any proxy_set_header"
                        " inherits none).",
                        loc.node.location,
                        Fix("Set the identity headers in this location too.",
                            "\n".join(f"proxy_set_header {h} {_value(sources, h)};" for h in missing)))


def _echoed_identity(server, node) -> bool:
    """An ``add_header`` of a ``$ssl_client_*`` variable in a server with a backend behind it
    (nothing behind nginx: the header answers the client on purpose) that is not also sent to
    the backend under the same name."""
    if node.name != "add_header" or len(node.args) < 2 or not ANY_CLIENT_VAR.search(node.args[1]):
        return False
    if not any(d.name in BACKENDS for d in server.walk()):
        return False
    sent = {d.args[0].lower() for d in _scope(server) if d.name in ("proxy_set_header", "grpc_set_header") and d.args}
    return node.args[0].lower() not in sent


def _value(sources, header: str) -> str:
    for d in sources:
        if len(d.args) >= 2 and d.args[0].lower() == header.lower():
            return d.args[1]
    return '""'


def _scope(server):
    """Directives in effect for the server: its own subtree plus inherited http/stream ones."""
    yield from server.walk()
    for d in server.inherited:
        if d.name in ("add_header", "proxy_set_header", "grpc_set_header", "fastcgi_param"):
            yield d


RAW_CERT_VAR = var_re("ssl_client_raw_cert")
REQUEST_HEADER_DIRECTIVES = frozenset({"proxy_set_header", "grpc_set_header"})
LUA_SET_HEADER_CERT = re.compile(r"ngx\.req\.set_header\s*\([^)]*?ngx\.var\.(ssl_client_(?:raw_)?cert)\b")


class RawCertInRequestHeader(ConfigRule):
    """`$ssl_client_raw_cert` in a request header to the backend: a multi-line header that breaks the request.

    What it checks:
    A `proxy_set_header` or `grpc_set_header` whose value uses `$ssl_client_raw_cert`, and
    OpenResty Lua `ngx.req.set_header(..., ngx.var.ssl_client_raw_cert)` (or `ssl_client_cert`).

    Why it matters:
    `$ssl_client_raw_cert` is the PEM certificate with its line breaks (section 5). As a
    header value it splits the request: every base64 line becomes a header line of its own,
    and a backend nginx answers 400 with `client sent invalid header line` (measured on real
    nginx 1.22-1.30; 1.18 answers but keeps only the first line; `$ssl_client_cert` fails the
    same way on its TAB-folded lines). Only
    `$ssl_client_escaped_cert` (URL-encoded PEM) travels in a header.

    Example:
    ```nginx
    proxy_set_header X-SSL-Client-Cert $ssl_client_raw_cert;
    ```

    Use instead:
    ```nginx
    proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
    ```
    (or `fastcgi_param`/`uwsgi_param`, which carry the value in a parameter, not a header line).

    References:
    Section 5 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#var_ssl_client_raw_cert
    """

    code = "MTLS411"
    name = "raw-cert-in-request-header"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.model import Location
        from mtls_doctor.rules.config.common import lua_code, lua_line

        for node, code in lua_code(ctx.eff):  # OpenResty: ngx.req.set_header(name, ngx.var.ssl_client_raw_cert)
            for m in LUA_SET_HEADER_CERT.finditer(code):
                yield cls.finding(
                    f"Lua sets a request header to `ngx.var.{m.group(1)}`, a multi-line PEM: the backend"
                    " gets a broken request.",
                    Location(path=node.path, line=lua_line(node, code, m.start())),
                    "Use ngx.var.ssl_client_escaped_cert.")
        for node in ctx.eff.named(*REQUEST_HEADER_DIRECTIVES):
            if len(node.args) < 2 or not RAW_CERT_VAR.search(node.args[1]):
                continue
            fixed = RAW_CERT_VAR.sub("$ssl_client_escaped_cert", node.args[1])
            yield cls.finding(
                f"`{node.name} {node.args[0]}` sends the PEM with its line breaks: the backend gets a"
                " broken request (a backend nginx answers 400, client sent invalid header line; 1.18"
                " keeps only the first line).",
                node.location,
                Fix("Send the URL-encoded certificate.", f"{node.name} {node.args[0]} {fixed};"))


#: a parameter or header name that tells the application the client was verified
VERIFIED_NAME = re.compile(r"(?i)(verif|authenticated|client[-_]?(?:s[-_]?)?dn\b|client[-_]?cert\b)")
#: constant values that claim nothing (clearing a header the client might send is good practice)
NOT_A_CLAIM = frozenset({"", '""', "''", "0", "none", "off", "false", "no", "failed"})


class VerifiedFlagConstant(ConfigRule):
    """A constant "verified" flag (`fastcgi_param SSL_CLIENT_VERIFY SUCCESS`) where nginx does not enforce verification.

    What it checks:
    A `proxy_set_header`, `grpc_set_header`, `fastcgi_param`, `uwsgi_param` or `scgi_param`
    whose name says the client is verified or identified (`*VERIFY*`, `*VERIFIED*`,
    `*AUTHENTICATED*`, `*CLIENT_DN`, `*CLIENT_CERT`) and whose value is a constant such as `1`,
    `on` or `SUCCESS` instead of `$ssl_client_verify`, in a server that does not reject
    unverified clients (`optional`, `optional_no_ca` or `off`) and a location that does not
    check `$ssl_client_verify` itself. Empty values and `0`/`NONE`/`off` (which clear or deny)
    are left alone.

    Why it matters:
    With `optional` nginx lets clients without a certificate (and with `optional_no_ca` with
    an untrusted one) reach the location (F2.2); the constant tells the application every one
    of them is verified, so it grants what a certificate should.

    Example:
    ```nginx
    ssl_verify_client optional;
    location ~ \\.php$ { fastcgi_param SSL_CLIENT_VERIFIED 1; fastcgi_pass php; }
    ```

    Use instead:
    ```nginx
    fastcgi_param SSL_CLIENT_VERIFY $ssl_client_verify;   # the application checks SUCCESS
    ```

    References:
    F2.2 and section 5 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#var_ssl_client_verify
    """

    code = "MTLS412"
    name = "verified-flag-constant"
    severity = Severity.ERROR
    facts = ("F2.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.rules.config.common import FORWARD, verify_use_of

        hits = []
        for server in ctx.servers:
            if server.kind != "http" or (server.ssl and server.verify == "on"):
                continue
            top = [d for d in server.node.block or () if d.name != "location"]
            if verify_use_of((n for d in top for n in d.walk()), ctx.eff).checked:
                continue
            guarded: set[int] = set()
            for loc in server.locations:
                own = [d for d in loc.own if d.name != "location"]
                if verify_use_of((n for d in own for n in d.walk()), ctx.eff).checked:
                    guarded |= {id(n) for d in own for n in d.walk()}
            for node in [*server.walk(), *(d for d in server.inherited if d.name in FORWARD)]:
                if node.name not in FORWARD or len(node.args) < 2 or id(node) in guarded:
                    continue
                name, value = node.args[0], " ".join(node.args[1:])
                if not VERIFIED_NAME.search(name) or "$" in value or value.strip("\"'").lower() in NOT_A_CLAIM:
                    continue
                hits.append((node, server))
        for node, servers in per_node(hits):
            mode = servers[0].verify if servers[0].ssl else "off (no TLS)"
            yield cls.finding(
                f"`{node.name} {node.args[0]} {' '.join(node.args[1:])}` tells the application every client is"
                f" verified, but {labels(servers)} has ssl_verify_client {mode}: clients without a valid"
                " certificate get it too.", node.location,
                Fix("Pass the real verification result.", f"{node.name} {node.args[0]} $ssl_client_verify;"))


RULES = (
    ErrorLogHidesVerifyFailures,
    AddHeaderClientIdentity,
    IdentityVariableWithoutVerification,
    ClientCertVariableDeprecated,
    IdentityHeaderSpoofable,
    RawCertInRequestHeader,
    VerifiedFlagConstant,
)

__all__ = ["RULES", "per_node"]
