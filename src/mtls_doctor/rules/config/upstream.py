"""MTLS240-244: nginx as the TLS (and mTLS) client of an upstream: proxy_ssl_*, grpc_ssl_*, uwsgi_ssl_*.

Invariants: no I/O. A *TLS pass* is ``proxy_pass https://...``, ``grpc_pass grpcs://...``,
``uwsgi_pass suwsgi://...`` or a stream ``proxy_pass host:port`` with ``proxy_ssl on``; its settings are the ``<module>_ssl_*`` directives in effect where
it stands (location, then enclosing locations, server, http: the innermost wins, nginx's
inheritance of single-value directives). An upstream that is a server of the same configuration
(``proxy_pass https://127.0.0.1:8443``) is found with ``nginx.effective.address_servers`` and
``find_server`` (the one home of server selection); its served chain then counts too.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import (address_servers, find_server, group_by_address, listening_on,
                                         select_server)
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext

#: pass directive -> (module prefix, TLS schemes)
PASSES = {"proxy_pass": ("proxy", ("https://",)), "grpc_pass": ("grpc", ("grpcs://",)),
          "uwsgi_pass": ("uwsgi", ("suwsgi://",))}
SUFFIXES = ("_ssl_certificate", "_ssl_certificate_key", "_ssl_verify", "_ssl_trusted_certificate",
            "_ssl_verify_depth", "_ssl_name", "_ssl_server_name", "_ssl_crl", "_ssl_session_reuse")
#: the settings that decide whether nginx accepts an upstream's certificate
VERIFY_SUFFIXES = ("_ssl_verify", "_ssl_verify_depth", "_ssl_trusted_certificate", "_ssl_crl", "_ssl_name")
SCOPES = frozenset({"http", "stream", "server", "location", "if", "limit_except"})


@dataclass(frozen=True)
class TlsPass:
    """One TLS pass directive and the ``<module>_ssl_*`` settings in effect there."""

    node: Directive
    module: str  # proxy, grpc, uwsgi
    host: str  # the host of the URL (an upstream{} name, a DNS name or an IP literal)
    port: int
    settings: Mapping[str, Directive] = field(default_factory=dict)  # suffix -> directive
    stream: bool = False  # a stream server's proxy_pass (proxy_ssl on)

    def get(self, suffix: str) -> Directive | None:
        return self.settings.get(suffix)

    def value(self, suffix: str, default: str = "") -> str:
        node = self.get(suffix)
        return node.args[0] if node is not None and node.args else default

    @property
    def verifies(self) -> bool:
        return self.value("_ssl_verify", "off") == "on"

    def directive(self, suffix: str) -> str:
        return self.module + suffix


def _host_port(url: str, scheme: str) -> tuple[str, int]:
    rest = url[len(scheme):].split("/", 1)[0]
    default = 443
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port = rest.partition(":")
    return host, int(port) if port.isdigit() else default


def tls_passes(ctx: LintContext) -> list[TlsPass]:
    """Every TLS pass of the configuration with its effective settings (memoised per run)."""
    key = ("tls_passes",)
    if key not in ctx.memo:
        ctx.memo[key] = list(_walk(ctx.eff.config.root, {}))
    return ctx.memo[key]


def _walk(block: Iterable[Directive], inherited: dict[str, Directive]) -> Iterator[TlsPass]:
    stack = [(iter(block), inherited)]
    while stack:
        nodes, scope = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        if node.block is not None:
            if node.name in SCOPES:
                own = dict(scope)
                for child in node.block:
                    if child.block is None and (child.name == "proxy_ssl" or (child.name.endswith(SUFFIXES) and
                                                child.name.split("_ssl_", 1)[0] in ("proxy", "grpc", "uwsgi"))):
                        own[child.name] = child
                stack.append((iter(node.block), own))
            continue
        spec = PASSES.get(node.name)
        if spec is None or not node.args:
            continue
        module, schemes = spec
        url = node.args[0]
        stream_tls = node.name == "proxy_pass" and "://" not in url and scope.get("proxy_ssl") is not None \
            and scope["proxy_ssl"].args[:1] == ("on",)
        if stream_tls:  # stream: proxy_pass host:port with proxy_ssl on
            url, schemes = "stream://" + url, ("stream://",)
        scheme = next((s for s in schemes if url.lower().startswith(s)), None)
        if scheme is None or "$" in url.split("/", 3)[2 if "//" in url else 0]:
            continue  # plain, or a host from a variable (resolved per request)
        host, port = _host_port(url, scheme)
        settings = {n[len(module):]: d for n, d in scope.items() if n.startswith(module + "_ssl_")}
        yield TlsPass(node, module, host, port, settings, stream=stream_tls)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _groups(ctx: LintContext) -> set[str]:
    return {d.args[0] for d in ctx.eff.named("upstream") if d.args}


def in_config_upstream(ctx: LintContext, tp: TlsPass):
    """(address, servers, the server nginx would select) when the upstream is a server of this
    configuration, else None. The name is the one nginx sends as SNI (None without SNI)."""
    if not _is_ip(tp.host) and tp.host != "localhost":
        return None
    ip = "127.0.0.1" if tp.host == "localhost" else tp.host
    sni = tp.value("_ssl_name", tp.host) if tp.value("_ssl_server_name", "off") == "on" else None
    if tp.stream:  # a stream upstream of this configuration: the stream servers on that address
        groups = group_by_address([s for s in ctx.eff.servers if s.kind == "stream"])
        address, servers = listening_on(groups, ip, tp.port)
    else:
        address, servers = address_servers(ctx.eff, ip, tp.port)
    if address is None or not any(s.ssl for s in servers):
        return None
    if tp.stream:
        return address, servers, select_server(servers, address, sni)[0]
    return address, servers, find_server(ctx.eff, address, sni)[0]


class UpstreamCertificateNotVerified(ConfigRule):
    """nginx presents a client certificate to an upstream whose own certificate it never verifies.

    What it checks:
    A TLS pass (`proxy_pass https://`, `grpc_pass grpcs://`, `uwsgi_pass suwsgi://`) with
    `proxy_ssl_certificate` (`grpc_ssl_certificate`, `uwsgi_ssl_certificate`) in effect and
    `proxy_ssl_verify` (`grpc_ssl_verify`, `uwsgi_ssl_verify`) not `on` (the default is off).

    Why it matters:
    nginx does not verify an upstream's certificate unless told to: it sends the request, and
    its client certificate, to whoever answers at that address (measured on real nginx: 200
    from an upstream whose certificate nginx cannot verify). The configuration looks like
    mutual TLS but only the upstream authenticates its client; anyone who can redirect the
    connection reads the requests and the identity headers nginx adds.

    Example:
    ```nginx
    proxy_ssl_certificate     /etc/nginx/client.pem;
    proxy_ssl_certificate_key /etc/nginx/client.key;
    proxy_pass https://backend.internal;
    ```

    Use instead:
    ```nginx
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate /etc/nginx/backend-ca.pem;
    proxy_ssl_name backend.internal;
    ```

    References:
    F1.5 (the same CA-file rules apply to the upstream side) of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_verify
    """

    code = "MTLS240"
    name = "upstream-certificate-not-verified"
    severity = Severity.WARNING
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for tp in tls_passes(ctx):
            if tp.get("_ssl_certificate") is None or tp.verifies:
                continue
            yield cls.finding(
                f"`{tp.node.name} {tp.node.args[0]}` presents {tp.directive('_ssl_certificate')} but"
                f" never verifies the upstream's certificate ({tp.directive('_ssl_verify')} is off).",
                tp.node.location,
                Fix("Verify the upstream too.",
                    f"{tp.directive('_ssl_verify')} on;\n"
                    f"{tp.directive('_ssl_trusted_certificate')} /etc/nginx/upstream-ca.pem;"))


class UpstreamVerifyWithoutTrusted(ConfigRule):
    """`proxy_ssl_verify on` (grpc, uwsgi) without `proxy_ssl_trusted_certificate`: `nginx -t` fails.

    What it checks:
    A TLS pass where `proxy_ssl_verify on` (`grpc_ssl_verify`, `uwsgi_ssl_verify`) is in effect
    and no `proxy_ssl_trusted_certificate` (`grpc_`/`uwsgi_`) is.

    Why it matters:
    nginx refuses the configuration: `[emerg] no proxy_ssl_trusted_certificate for
    proxy_ssl_verify` (measured on real nginx). The system trust store is not used for
    upstreams.

    Example:
    ```nginx
    proxy_ssl_verify on;
    proxy_pass https://backend.internal;
    ```

    Use instead:
    ```nginx
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate /etc/nginx/backend-ca.pem;
    ```

    References:
    F1.5 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_trusted_certificate
    """

    code = "MTLS241"
    name = "upstream-verify-without-trusted"
    severity = Severity.ERROR
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        seen: set[int] = set()
        for tp in tls_passes(ctx):
            verify = tp.get("_ssl_verify")
            if not tp.verifies or tp.get("_ssl_trusted_certificate") is not None or id(verify) in seen:
                continue
            seen.add(id(verify))
            yield cls.finding(
                f"`{tp.directive('_ssl_verify')} on` without {tp.directive('_ssl_trusted_certificate')}:"
                f" nginx -t fails (no {tp.directive('_ssl_trusted_certificate')} for {tp.directive('_ssl_verify')}).",
                verify.location,
                Fix("Name the CA that issues the upstream's certificate.",
                    f"{tp.directive('_ssl_trusted_certificate')} /etc/nginx/upstream-ca.pem;"))


class UpstreamVerifyDepthTooLow(ConfigRule):
    """`proxy_ssl_verify_depth` (grpc, uwsgi) is lower than the upstream's chain needs.

    What it checks:
    A verifying TLS pass whose effective `proxy_ssl_verify_depth` (default 1) is lower than the
    number of intermediates below the root: of the deepest CA in
    `proxy_ssl_trusted_certificate` (needs the file), or of the chain the upstream serves when
    the upstream is a server of the same configuration (its `ssl_certificate` file). Without the
    files an explicit depth 0 is a warning (it admits no intermediate at all).

    Why it matters:
    Depth counts the intermediates between the upstream's leaf and the trust anchor, like
    `ssl_verify_depth` (F3.2). With the default 1 a chain with two intermediates fails: 502,
    and the error log says `upstream SSL certificate verify error: (20:unable to get local
    issuer certificate)`, not "chain too long", on OpenSSL 3.x; 22 on 1.1.1 (measured on real
    nginx).

    Example:
    ```nginx
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate root.pem;   # upstream: leaf <- issuing CA <- policy CA <- root
    ```

    Use instead:
    ```nginx
    proxy_ssl_verify_depth 2;
    ```

    References:
    F3.1, F3.2, F3.3 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_verify_depth
    """

    code = "MTLS242"
    name = "upstream-verify-depth-too-low"
    severity = Severity.ERROR
    facts = ("F3.2", "F3.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.rules.config.files import CaStore, intermediates_below_root

        for tp in tls_passes(ctx):
            trusted = tp.get("_ssl_trusted_certificate")
            if not tp.verifies or trusted is None or not trusted.args:
                continue
            try:
                depth = int(tp.value("_ssl_verify_depth", "1"))
            except ValueError:
                continue
            loaded = ctx.files.get(ctx.eff.config.resolve(trusted.args[0]))
            bundle = loaded.bundle if loaded is not None and loaded.error is None else None
            depth_node = tp.get("_ssl_verify_depth")
            if bundle is None and depth == 0 and depth_node is not None and in_config_upstream(ctx, tp) is None:
                yield cls.finding(  # the files are not here: depth 0 is the one sure case
                    f"`{tp.directive('_ssl_verify_depth')} 0` accepts only an upstream certificate issued"
                    " directly by a CA of the trusted file: an upstream chain with any intermediate fails"
                    f" (502, {_depth_code(ctx)} in the log).",
                    depth_node.location, Fix("Allow the intermediates.", f"{tp.directive('_ssl_verify_depth')} 2;"),
                    severity=Severity.WARNING)
                continue
            store = CaStore(list(bundle.certificates) if bundle is not None else [])
            need, why = store.deepest()[0], "the deepest CA of the trusted file"
            found = in_config_upstream(ctx, tp)
            if found is not None and found[2] is not None:
                chain = _served_chain(ctx, found[2])
                if len(chain) > 1:
                    below = intermediates_below_root(chain[-1], CaStore(list(chain) + list(store)))
                    served = sum(1 for c in chain[1:] if c.issuer != c.subject)
                    if below is not None:
                        served = max(served, below + (0 if chain[-1].issuer == chain[-1].subject else 1))
                    if served > need:
                        need, why = served, f"the chain {found[2].label} serves"
            if need > depth:
                node = tp.get("_ssl_verify_depth") or tp.node
                yield cls.finding(
                    f"{why} has {need} intermediates, but {tp.directive('_ssl_verify_depth')} is {depth}:"
                    f" the upstream fails verification (502, {_depth_code(ctx)} in the log).",
                    node.location, Fix(f"Raise the depth to {need}.", f"{tp.directive('_ssl_verify_depth')} {need};"))


def _depth_code(ctx: LintContext) -> str:
    """What nginx logs for an upstream chain deeper than the depth: the intermediates come from
    the upstream, so OpenSSL 3.x reports the cut as 20, 1.1.1 as 22 (measured on 1.22.1/3.0,
    1.26.3/3.5, 1.30/3.6 and 1.18.0/1.1.1w: tests/truth/test_lint_rules_truth.py)."""
    if ctx.openssl is None:
        return "error 20 on OpenSSL 3.x, 22 on 1.1.1"
    return "error 22" if ctx.openssl.major == 1 else "error 20"


def _served_chain(ctx: LintContext, server) -> tuple:
    certs = server.arrays.get("ssl_certificate", ())
    if not certs or not certs[0].args:
        return ()
    loaded = ctx.files.get(ctx.eff.config.resolve(certs[0].args[0]))
    return tuple(loaded.bundle.certificates) if loaded is not None and loaded.bundle is not None else ()


class UpstreamServerNameUnset(ConfigRule):
    """The name nginx checks or sends to a TLS upstream is not the upstream's: an IP, a group name, or no SNI.

    What it checks:
    For a TLS pass: with `proxy_ssl_verify on` (grpc, uwsgi) and no `proxy_ssl_name`, an IP
    address or an `upstream {}` group name in the URL (the name checked against the upstream's
    certificate); with `proxy_ssl_server_name` off (the default) an upstream that needs SNI: a
    server of this configuration whose address hosts several names or rejects handshakes without
    a known name (error), or a DNS host name where nginx authenticates to or verifies the
    upstream (warning).

    Why it matters:
    nginx checks the upstream's certificate against `proxy_ssl_name`, which defaults to the host
    of `proxy_pass`; an IP address is checked as a host name, so even a certificate with that IP
    in its subjectAltName fails (`upstream SSL certificate does not match "127.0.0.1"`, 502,
    measured). Without `proxy_ssl_server_name on` nginx sends no SNI: an upstream with several
    names answers with its default certificate or rejects the handshake (`tlsv1 unrecognized
    name`, 502, measured).

    Example:
    ```nginx
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate ca.pem;
    proxy_pass https://10.0.0.5:8443;
    ```

    Use instead:
    ```nginx
    proxy_ssl_name backend.internal;
    proxy_ssl_server_name on;
    ```

    References:
    F7.2, F7.3 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_name
    """

    code = "MTLS243"
    name = "upstream-server-name-unset"
    severity = Severity.ERROR
    facts = ("F7.3",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        groups = _groups(ctx)
        for tp in tls_passes(ctx):
            name_set = tp.get("_ssl_name") is not None
            sni = tp.value("_ssl_server_name", "off") == "on"
            fix = Fix("Name the upstream and send it as SNI.",
                      f"{tp.directive('_ssl_name')} backend.internal;\n{tp.directive('_ssl_server_name')} on;")
            if tp.verifies and not name_set and (_is_ip(tp.host) or tp.host in groups):
                what = "the IP address" if _is_ip(tp.host) else "the upstream group name"
                yield cls.finding(
                    f"`{tp.node.name} {tp.node.args[0]}` checks {what} {tp.host} against the upstream's"
                    f" certificate (no {tp.directive('_ssl_name')}): the check fails unless the"
                    " certificate holds that name as a DNS name.",
                    tp.node.location, fix,
                    severity=None if _is_ip(tp.host) else Severity.WARNING)
                continue
            if sni:
                continue
            found = in_config_upstream(ctx, tp)
            if found is not None:
                address, servers, _ = found
                default = ctx.eff.defaults.get(address)
                rejects = default is not None and default.settings["ssl_reject_handshake"].value == "on"
                if rejects or len(servers) > 1:
                    yield cls.finding(
                        f"`{tp.node.name} {tp.node.args[0]}` sends no SNI ({tp.directive('_ssl_server_name')}"
                        f" is off), but {address} selects its server by name"
                        f"{' and rejects handshakes without one' if rejects else ''}.",
                        tp.node.location, fix)
                continue
            if not _is_ip(tp.host) and tp.host not in groups and tp.host != "localhost" and (
                    tp.verifies or tp.get("_ssl_certificate") is not None):
                yield cls.finding(
                    f"`{tp.node.name} {tp.node.args[0]}` sends no SNI ({tp.directive('_ssl_server_name')} is"
                    f" off): an upstream hosting several names answers with its default certificate or"
                    " rejects the handshake.",
                    tp.node.location, fix, severity=Severity.WARNING)


class UpstreamSessionSharedAcrossChecks(ConfigRule):
    """Two passes to one upstream check its certificate differently but share its TLS sessions.

    What it checks:
    TLS passes (`proxy_pass https://`, `grpc_pass grpcs://`, `uwsgi_pass suwsgi://`, stream
    `proxy_ssl on`) of one module to the same upstream (the same `upstream {}` group, or the
    same host:port, which nginx turns into one implicit upstream) whose verification settings
    differ (`proxy_ssl_verify`, `_verify_depth`, `_trusted_certificate`, `_crl`, `_name`), with
    `proxy_ssl_session_reuse` on (the default) in at least two of them. One finding per
    upstream, at the first pass whose settings differ from the first one's.

    Why it matters:
    nginx keeps the upstream's TLS session per peer, not per location, and a resumed session
    carries the verification result of the handshake that made it: nginx does not verify
    again. Measured on real nginx: after a location verifying with depth 2 reached an upstream
    with two intermediates, a location with depth 1 (which fails on a handshake of its own) was
    served 200; after a location without `proxy_ssl_verify` left its session, a verifying
    location got 502 with the other's error 18. Which check applies depends on which request
    came first. nginx's own proxy_ssl_verify.t turns session reuse off for this reason.

    Example:
    ```nginx
    location /internal/ { proxy_pass https://10.0.0.5:8443; proxy_ssl_verify on;
                          proxy_ssl_trusted_certificate internal-ca.pem; }
    location /public/   { proxy_pass https://10.0.0.5:8443; }
    ```

    Use instead:
    ```nginx
    proxy_ssl_session_reuse off;   # in each location with its own checks, or the same checks everywhere
    ```

    References:
    F3.2 of nginx-mtls-facts.md (depth on the upstream side as on the client side);
    https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_session_reuse;
    nginx-tests proxy_ssl_verify.t (github.com/nginx/nginx-tests)
    """

    code = "MTLS244"
    name = "upstream-session-shared-across-checks"
    severity = Severity.WARNING
    facts = ("F3.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        by_upstream: dict[tuple[str, str, int], list[TlsPass]] = {}
        for tp in tls_passes(ctx):
            if tp.value("_ssl_session_reuse", "on") == "on":
                by_upstream.setdefault((tp.module, tp.host.lower(), tp.port), []).append(tp)
        for (module, host, port), passes in by_upstream.items():
            checks = [_checks(ctx, tp) for tp in passes]
            other = next((i for i, c in enumerate(checks) if c != checks[0]), None)
            if other is None:
                continue
            first, tp = passes[0], passes[other]
            yield cls.finding(
                f"`{tp.node.name} {tp.node.args[0]}` and `{first.node.name} {first.node.args[0]}`"
                f" ({first.node.location}) reach the same upstream but check its certificate"
                f" differently, and share its TLS sessions ({tp.directive('_ssl_session_reuse')} on, the"
                " default): a resumed session keeps the other pass's verification result, so this"
                " check is skipped or fails with the other's error, depending on which request came first.",
                tp.node.location,
                Fix("Stop sharing sessions between passes with different checks (or use the same checks).",
                    f"{tp.directive('_ssl_session_reuse')} off;"))


def _checks(ctx: LintContext, tp: TlsPass) -> tuple:
    """The verification settings of a pass as nginx applies them (defaults filled in)."""
    if not tp.verifies:
        return ("off",)
    values = []
    for suffix in VERIFY_SUFFIXES[1:]:
        node = tp.get(suffix)
        if node is None:
            values.append((tp.host,) if suffix == "_ssl_name" else None)
        elif suffix in ("_ssl_trusted_certificate", "_ssl_crl") and node.args:
            values.append(ctx.eff.config.resolve(node.args[0]))
        else:
            values.append(node.args)
    depth = values[0]
    values[0] = depth if depth not in (None, ("1",)) else ("1",)
    return ("on", *values)


RULES = (
    UpstreamCertificateNotVerified,
    UpstreamVerifyWithoutTrusted,
    UpstreamVerifyDepthTooLow,
    UpstreamServerNameUnset,
    UpstreamSessionSharedAcrossChecks,
)
