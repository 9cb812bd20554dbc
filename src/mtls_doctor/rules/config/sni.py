"""MTLS21x/22x: SNI and the default server, session resumption, `ssl on`, protocols."""

from __future__ import annotations

from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server, listen_groups
from mtls_doctor.nginx.version import (
    cve_2025_23419_fixed,
    REJECT_HANDSHAKE,
    SSL_ON_DEPRECATED,
    SSL_ON_REMOVED,
    TLS13_DEFAULT,
    Version,
    default_protocols,
)
from mtls_doctor.rules.config.common import ConfigRule, LintContext, verifying

from cryptography.hazmat.primitives.hashes import SHA256 as _SHA256_CLASS

_SHA256 = _SHA256_CLASS()

REJECT_SNIPPET = """server {
    listen 443 ssl default_server;
    ssl_reject_handshake on;
}"""


def _groups(ctx: LintContext) -> Iterable[tuple[str, Server, list[Server]]]:
    """(address, default server, other servers) for TLS listen addresses shared by servers."""
    for address, servers in listen_groups(ctx.eff).items():
        default = ctx.eff.defaults.get(address)
        if default is None or len(servers) < 2:
            continue
        # TLS on this socket: a listen of it says ssl (nginx ORs it over the servers), or a
        # server has the old `ssl on` (all its listens); another listen's ssl does not count
        if not any(l.ssl for s in servers for l in s.listens if l.address == address) and \
                not any(s.settings["ssl"].value == "on" for s in servers):
            continue
        yield address, default, [s for s in servers if s is not default]


def _reject_fix(ctx: LintContext) -> Fix:
    if ctx.version is not None and ctx.version < REJECT_HANDSHAKE:
        return Fix(f"nginx {ctx.version} has no ssl_reject_handshake (1.19.4+): upgrade, or give the default"
                   " server the same ssl_verify_client and CA files.")
    return Fix("Reject handshakes without a known server name in the default server.", REJECT_SNIPPET)


def _listen_node(server: Server, address: str):
    node = next((l.node for l in server.listens if l.address == address and l.node is not None), None)
    return node or server.node


def _verify_node(server: Server, address: str):
    """Where a finding about the clients of a verifying server points: its own
    ssl_verify_client (the server whose clients fail or slip through), else its listen."""
    node = server.settings["ssl_verify_client"].node
    if node is not None and any(d is node for d in server.node.block or ()):
        return node
    return _listen_node(server, address)


def _rejects(server: Server) -> bool:
    return server.settings["ssl_reject_handshake"].value == "on"


def _cas(ctx: LintContext, server: Server) -> tuple:
    """What a server trusts: the certificates of its CA files when they are loaded (two files
    with other names but the same certificates are the same trust), else the resolved paths."""
    parts: list = []
    for name in ("ssl_client_certificate", "ssl_trusted_certificate"):
        setting = server.settings[name]
        bundle = ctx.bundle(setting)
        if bundle is not None:
            parts.append(("bundle", id(bundle), bundle))
        elif setting.node is not None and setting.args:
            parts.append(("path", ctx.eff.config.resolve(setting.value), None))
    # once per pair of files in a lint run (ctx.memo; bundles live as long as ctx): a bundle
    # named by many servers is fingerprinted once, and servers with the same files share one set
    key = ("sni._cas",) + tuple(p[:2] for p in parts)
    found = ctx.memo.get(key)
    if found is None:
        out = []
        for kind, value, bundle in parts:
            if kind == "bundle":
                out.extend(c.fingerprint(_SHA256) for c in bundle.certificates)
            else:
                out.append(value)
        found = ctx.memo[key] = frozenset(out)
    return found


def _compared_by_content(ctx: LintContext, *servers: Server) -> bool:
    return all(ctx.bundle(s.settings[n]) is not None for s in servers
               for n in ("ssl_client_certificate", "ssl_trusted_certificate") if s.settings[n].node is not None)


class DefaultServerSkipsVerification(ConfigRule):
    """A verifying server is not the default of its listen address and the default does not verify.

    What it checks:
    For each TLS listen address shared by several `server` blocks: a non-default server with
    `ssl_verify_client` on/optional while the default server (explicit `default_server`, else
    the first) has it off and does not set `ssl_reject_handshake on`. The finding points at the
    verifying server's `ssl_verify_client` (its clients are the ones that fail). A server without
    an SSL context of its own is left to MTLS204 (its handshakes are the default server's).

    Why it matters:
    A client that sends no SNI (or an SNI no server matches) gets the default server's TLS
    settings for the whole handshake (F7.3): no CertificateRequest is sent, `openssl s_client`
    prints "No client certificate CA names sent", and when the Host header selects the
    verifying server nginx answers 400 "No required SSL certificate was sent", even for a
    client holding a valid certificate.

    Example:
    ```nginx
    server { listen 443 ssl; server_name www.example.com; }
    server { listen 443 ssl; server_name api.example.com; ssl_verify_client on; ... }
    ```

    Use instead:
    Make the default server refuse TLS without a known name:
    ```nginx
    server { listen 443 ssl default_server; ssl_reject_handshake on; }
    ```
    or give the default server the same `ssl_verify_client` and CA files.

    References:
    F7.1, F7.2, F7.3 of nginx-mtls-facts.md; nginx/nginx.org PR #302;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_reject_handshake
    """

    code = "MTLS210"
    name = "default-server-skips-verification"
    severity = Severity.ERROR
    facts = ("F7.1", "F7.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for address, default, others in _groups(ctx):
            if verifying(default) or _rejects(default):
                continue
            for server in others:
                if server.verify in ("on", "optional") and server.own_ssl_context:
                    yield cls.finding(
                        f"clients without SNI on {address} get the default {default.label}, which does"
                        f" not request a certificate, so {server.label} answers them 400.",
                        _verify_node(server, address).location,
                        _reject_fix(ctx),
                    )


class DefaultServerOtherCa(ConfigRule):
    """The default server verifies client certificates against other CAs than a named server.

    What it checks:
    For each TLS listen address shared by several servers: a verifying non-default server
    whose `ssl_client_certificate`/`ssl_trusted_certificate` lack a CA the default server's have
    (by the certificates they hold when the files are readable, else by resolved path: then a
    warning), while the default server verifies too (any mode but off) and does not reject handshakes.

    Why it matters:
    Without SNI the whole handshake, including client-certificate verification, uses the
    default server's CA store; the Host header then selects the named server, which only looks
    at the verify result (F7.3). A client with a certificate from the default server's CA
    gets into the named server: a cross-CA bypass. The SNI/Host check (421) only applies when
    SNI was sent (F7.2).

    Example:
    ```nginx
    server { listen 443 ssl default_server; ssl_verify_client optional; ssl_client_certificate other-ca.pem; }
    server { listen 443 ssl; server_name api.example.com; ssl_verify_client on; ssl_client_certificate api-ca.pem; }
    ```

    Use instead:
    `ssl_reject_handshake on` in the default server (nginx 1.19.4+), or one CA set for every
    verifying server on the address, or separate listen addresses.

    References:
    F7.2, F7.3 of nginx-mtls-facts.md; nginx/nginx.org PR #302.
    """

    code = "MTLS211"
    name = "default-server-other-ca"
    severity = Severity.CRITICAL
    facts = ("F7.2", "F7.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for address, default, others in _groups(ctx):
            if not verifying(default) or _rejects(default):
                continue
            theirs = _cas(ctx, default)
            for server in others:
                if not verifying(server) or not server.own_ssl_context:
                    continue  # no context of its own: its handshakes ARE the default server's
                mine = _cas(ctx, server)
                subset = ctx.memo.get(("sni._cas<=", id(theirs), id(mine)))
                if subset is None:  # the sets live in ctx.memo: their ids are a safe key
                    subset = ctx.memo[("sni._cas<=", id(theirs), id(mine))] = theirs <= mine
                if subset:
                    continue  # the default trusts nothing the named server does not
                compared = _compared_by_content(ctx, default, server)
                yield cls.finding(
                        f"clients without SNI on {address} are verified against the CAs of the default"
                        f" {default.label}, then reach {server.label}, which trusts other CAs"
                        + ("." if compared else " (by file name: the files could not be compared)."),
                        _verify_node(server, address).location,
                        _reject_fix(ctx),
                        severity=None if compared else Severity.WARNING,
                    )


class Tls13CrossSniResumption(ConfigRule):
    """TLS 1.3 session resumption across servers can bypass verification (CVE-2025-23419).

    What it checks:
    The nginx version is known and lacks the fix (older than 1.27.4, and not 1.26.3+ of the
    1.26 stable branch), a TLS listen address is shared by
    several servers, at least one of them verifies client certificates, and TLS 1.3 is enabled
    (explicitly in `ssl_protocols`, or by default from 1.23.4).

    Why it matters:
    Before 1.27.4 a TLS 1.3 session established with one server name could be resumed under
    another server name, skipping that server's client-certificate verification
    (CVE-2025-23419, F7.4). Distribution builds may carry the fix (Debian 1.22.1-9+deb12u1
    does); check your package changelog.

    Example:
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 443 ssl; server_name a.example; }
    server { listen 443 ssl; server_name b.example; ssl_verify_client on; ... }
    ```

    Use instead:
    Upgrade to nginx 1.27.4+ (or a patched package), or disable session resumption on the
    address (`ssl_session_tickets off; ssl_session_cache off;`), or give the verifying server
    its own listen address.

    References:
    F7.4 of nginx-mtls-facts.md; nginx CHANGES 1.27.4 and 1.26.3; https://nginx.org/en/security_advisories.html
    """

    code = "MTLS212"
    name = "tls13-cross-sni-resumption"
    severity = Severity.WARNING
    facts = ("F7.4",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        if ctx.version is None or cve_2025_23419_fixed(ctx.version):
            return
        for address, default, others in _groups(ctx):
            group = [s for s in (default, *others) if not _rejects(s)]  # no session starts there
            if len(group) < 2 or not any(verifying(s) for s in group):
                continue
            protocols = default.settings["ssl_protocols"].args or default_protocols(ctx.version)
            if "TLSv1.3" not in protocols:
                continue
            if all(s.settings["ssl_session_tickets"].value == "off"
                   and s.settings["ssl_session_cache"].value in ("off", "none") for s in group):
                continue
            target = next(s for s in group if verifying(s))
            yield cls.finding(
                f"nginx {ctx.version} lets TLS 1.3 sessions from other servers on {address} resume at"
                f" {target.label} without its client-certificate check (CVE-2025-23419) unless your"
                " package has the fix.",
                (target.settings["ssl_verify_client"].node or target.node).location,
                "Upgrade to nginx 1.27.4+ or a patched package.",
            )


class SslDirective(ConfigRule):
    """`ssl on;` is deprecated since nginx 1.15.0 and unknown since 1.25.1.

    What it checks:
    Any `ssl on;` or `ssl off;` directive.

    Why it matters:
    The directive was deprecated in 1.15.0 (nginx -t warns) and removed in 1.25.1
    (`unknown directive "ssl"`: nginx refuses to start) (F8.1). `ssl on` in `http` also turns
    TLS on for every listen socket, which hides which ports serve TLS.

    Example:
    ```nginx
    listen 443;
    ssl on;
    ```

    Use instead:
    ```nginx
    listen 443 ssl;
    ```

    References:
    F8.1 of nginx-mtls-facts.md; https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl
    """

    code = "MTLS220"
    name = "ssl-directive-deprecated"
    severity = Severity.WARNING
    facts = ("F8.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.named("ssl"):
            if node.block is not None:
                continue
            sev = None
            if ctx.version is not None and ctx.version >= SSL_ON_REMOVED:
                sev = Severity.ERROR
                msg = f"nginx {ctx.version} has no `ssl` directive: it refuses to start."
            elif ctx.version is not None and ctx.version < SSL_ON_DEPRECATED:
                sev = Severity.INFO
                msg = f"`ssl {' '.join(node.args)}` works on nginx {ctx.version} but was removed in 1.25.1."
            else:
                msg = "`ssl` is deprecated since nginx 1.15.0 and removed in 1.25.1."
            yield cls.finding(
                msg, node.location,
                Fix("Delete this line and add `ssl` to the `listen` directives instead.",
                    "listen 443 ssl;" if node.args[:1] == ("on",) else ""),
                severity=sev,
            )


class SslProtocolsLegacy(ConfigRule):
    """`ssl_protocols` enables SSLv3, TLSv1 or TLSv1.1.

    What it checks:
    Any `ssl_protocols` directive listing SSLv2, SSLv3, TLSv1 or TLSv1.1.

    Why it matters:
    These protocols are deprecated (RFC 8996) and weak; OpenSSL 3 refuses most of them at its
    default security level anyway, so they only add confusing handshake failures. Client
    certificates work with TLSv1.2 and TLSv1.3.

    Example:
    ```nginx
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ```

    Use instead:
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;
    ```

    References:
    RFC 8996; F7.5 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_protocols
    """

    code = "MTLS221"
    name = "ssl-protocols-legacy"
    severity = Severity.WARNING
    facts = ("F7.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.named("ssl_protocols"):
            old = [p for p in node.args if p in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1")]
            if old:
                yield cls.finding(
                    f"`ssl_protocols` enables {', '.join(old)}.", node.location,
                    Fix("Allow only TLS 1.2 and 1.3.", "ssl_protocols TLSv1.2 TLSv1.3;"))


class Tls13Missing(ConfigRule):
    """TLS 1.3 is not enabled (explicitly left out, or by default before nginx 1.23.4).

    What it checks:
    A TLS server whose effective `ssl_protocols` lacks TLSv1.3: an explicit list without it,
    or no `ssl_protocols` on a known nginx version older than 1.23.4.

    Why it matters:
    TLSv1.3 is enabled by default only since nginx 1.23.4 (F7.5); TLS 1.3-only clients get
    `alert protocol version`. Before nginx 1.29.2 the default server's `ssl_protocols` decide
    for every server on the address (F7.1).

    Example:
    ```nginx
    ssl_protocols TLSv1.2;
    ```

    Use instead:
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;
    ```

    References:
    F7.1, F7.5 of nginx-mtls-facts.md.
    """

    code = "MTLS222"
    name = "tls13-missing"
    severity = Severity.INFO
    facts = ("F7.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        seen: set[int] = set()
        if ctx.version is not None and ctx.version < Version(1, 13, 0):
            return  # the TLSv1.3 parameter appeared in nginx 1.13.0
        for server in ctx.servers:
            if not server.ssl:
                continue
            setting = server.settings["ssl_protocols"]
            if setting.node is not None:
                if "TLSv1.3" in setting.args or id(setting.node) in seen:
                    continue
                seen.add(id(setting.node))
                yield cls.finding("`ssl_protocols` leaves out TLSv1.3.", setting.node.location,
                                  Fix("Add TLSv1.3.", "ssl_protocols TLSv1.2 TLSv1.3;"))
            elif ctx.version is not None and ctx.version < TLS13_DEFAULT:
                yield cls.finding(
                    f"nginx {ctx.version} enables TLSv1.3 only when ssl_protocols lists it ({server.label}).",
                    server.node.location, Fix("Add TLSv1.3 explicitly.", "ssl_protocols TLSv1.2 TLSv1.3;"))


RULES = (
    DefaultServerSkipsVerification,
    DefaultServerOtherCa,
    Tls13CrossSniResumption,
    SslDirective,
    SslProtocolsLegacy,
    Tls13Missing,
)
