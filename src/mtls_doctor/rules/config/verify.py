"""MTLS2xx (part 1): ``ssl_verify_client`` and the CA directives, per server."""

from __future__ import annotations

from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.version import TRUSTED_ONLY_OK
from mtls_doctor.rules.config.common import ConfigRule, LintContext, labels, per_node, unprotected, verifying


def _unguarded(ctx: LintContext, mode: str, guarded):
    """Per `ssl_verify_client` directive with ``mode``: the content-serving servers it governs
    and their locations where no `$ssl_client_verify` use satisfies ``guarded`` (F2.2)."""
    hits, where = [], {}
    for server in ctx.tls_servers:
        if server.verify != mode or not _serves(server):
            continue
        places = unprotected(server, ctx.eff, guarded)
        if places:
            hits.append((server.settings["ssl_verify_client"].node, server))
            where[id(server)] = places
    for node, servers in per_node(hits):
        yield node, servers, [p for s in servers for p in where[id(s)]]


class VerifyClientOptionalUnchecked(ConfigRule):
    """`ssl_verify_client optional` on a server that serves content and never checks `$ssl_client_verify`.

    What it checks:
    A server (http or stream) whose effective `ssl_verify_client` is `optional`, that serves
    content (a location with `proxy_pass`, `root`, `return 200`, ... or static files; not an
    `internal` location, which a client's own request gets 404 from), and in
    which `$ssl_client_verify` is neither tested (`if`, a `map` whose result is used) nor handed
    to a backend (`proxy_set_header`, `fastcgi_param`, ...). Where it is only handed to a
    backend, the finding is a warning saying the backend must reject unverified clients.

    Why it matters:
    With `optional`, a client that sends no certificate is answered normally with
    `$ssl_client_verify = NONE` (F2.2). Unless something checks the variable, everyone gets in:
    the configuration looks like mutual TLS but authenticates nobody.

    Example:
    ```nginx
    ssl_verify_client optional;
    location / { proxy_pass http://app; }
    ```

    Use instead:
    `ssl_verify_client on;`, or keep `optional` and reject what did not verify:
    ```nginx
    if ($ssl_client_verify != SUCCESS) { return 403; }
    ```

    References:
    F2.1, F2.2, F2.3 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_verify_client
    """

    code = "MTLS201"
    name = "verify-client-optional-unchecked"
    severity = Severity.ERROR
    facts = ("F2.2", "F2.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        fix = Fix("Use `ssl_verify_client on`, or reject unverified clients.",
                  "if ($ssl_client_verify != SUCCESS) { return 403; }")
        unchecked = set()
        for node, servers, places in _unguarded(ctx, "optional", lambda use: use.referenced):
            unchecked |= {id(s) for s in servers}
            # the directive inside the one server it governs: its location already names it
            where = _few(places) if _own(node, servers) else f"{labels(servers)} ({_few(places)})"
            yield cls.finding(
                f"`ssl_verify_client optional` lets clients without a certificate into {where}:"
                " nothing checks $ssl_client_verify there.",
                node.location, fix)
        for node, servers, places in _unguarded(ctx, "optional", lambda use: use.checked):
            servers = [s for s in servers if id(s) not in unchecked]
            if servers:
                where = _few(places) if _own(node, servers) else f"{labels(servers)} ({_few(places)})"
                yield cls.finding(
                    f"`ssl_verify_client optional` in {where} only hands"
                    " $ssl_client_verify to the backend: clients without a valid certificate get"
                    " through unless the backend rejects every value but SUCCESS.",
                    node.location, fix, severity=Severity.WARNING)


class VerifyClientOptionalNoCaAsAuth(ConfigRule):
    """`ssl_verify_client optional_no_ca` used as authentication: unverified certificates get in.

    What it checks:
    A server whose effective `ssl_verify_client` is `optional_no_ca`, that serves content, where
    `$ssl_client_verify` is never compared with `SUCCESS` and neither the verify result nor the
    certificate (`$ssl_client_escaped_cert`, ...) is handed to a backend that could verify it.
    Where they are handed on but never compared with `SUCCESS`, the finding is a warning saying
    the backend must verify the certificate itself.

    Why it matters:
    `optional_no_ca` lets through clients with no certificate (`NONE`) and clients whose
    certificate failed with one of five tolerated errors, e.g. a self-signed or foreign-CA
    certificate (`FAILED:...`, status 200, F2.4). It exists for setups where a service behind
    nginx verifies the certificate; on its own it authenticates nobody. Checking only
    `!= NONE` is not enough: any self-signed certificate passes.

    Example:
    ```nginx
    ssl_verify_client optional_no_ca;
    location / { proxy_set_header X-Client-DN $ssl_client_s_dn; proxy_pass http://app; }
    ```

    Use instead:
    `ssl_verify_client on;` with `ssl_client_certificate`, or hand the certificate to the
    verifying service (`proxy_set_header X-Client-Cert $ssl_client_escaped_cert;`), or require
    `if ($ssl_client_verify != SUCCESS) { return 403; }`.

    References:
    F2.2, F2.4, F2.3 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_verify_client
    """

    code = "MTLS202"
    name = "verify-client-optional-no-ca-as-auth"
    severity = Severity.ERROR
    facts = ("F2.2", "F2.4")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        fix = Fix("Use `ssl_verify_client on` with a CA file, or require SUCCESS.",
                  "if ($ssl_client_verify != SUCCESS) { return 403; }")
        flagged = set()
        guard = lambda use: use.success_checked or use.forwarded  # noqa: E731
        for node, servers, places in _unguarded(ctx, "optional_no_ca", guard):
            flagged |= {id(s) for s in servers}
            yield cls.finding(
                f"`optional_no_ca` in {labels(servers)} ({_few(places)}) accepts no certificate and"
                " self-signed or foreign certificates, and nothing requires $ssl_client_verify = SUCCESS.",
                node.location, fix)
        # the certificate or the verify result only handed on: the backend must do the check
        for node, servers, places in _unguarded(ctx, "optional_no_ca", lambda use: use.success_checked):
            servers = [s for s in servers if id(s) not in flagged]
            if servers:
                yield cls.finding(
                    f"`optional_no_ca` in {labels(servers)} ({_few(places)}) hands unverified"
                    " certificates to the backend: it must verify them (or reject every"
                    " $ssl_client_verify but SUCCESS) itself.",
                    node.location, fix, severity=Severity.WARNING)


class VerifyClientTrustedOnly(ConfigRule):
    """Client verification with only `ssl_trusted_certificate`: an emerg before 1.27.2, no CA names after.

    What it checks:
    A server with `ssl_verify_client on` or `optional` that has `ssl_trusted_certificate` but no
    `ssl_client_certificate` (inherited values count).

    Why it matters:
    Before nginx 1.27.2 `nginx -t` fails with `no ssl_client_certificate for
    ssl_verify_client` (F1.5). From 1.27.2 on it is accepted, but no CA names are sent in the
    CertificateRequest (F1.4), so browsers and clients that pick a certificate by the advertised
    CA names may offer none, and the request fails with "No required SSL certificate was sent".

    Example:
    ```nginx
    ssl_verify_client on;
    ssl_trusted_certificate /etc/nginx/client-ca.pem;
    ```

    Use instead:
    ```nginx
    ssl_verify_client on;
    ssl_client_certificate /etc/nginx/client-ca.pem;
    ```

    References:
    F1.3, F1.4, F1.5, F1.6 of nginx-mtls-facts.md; nginx CHANGES 1.27.2.
    """

    code = "MTLS203"
    name = "verify-client-trusted-only"
    severity = Severity.ERROR
    facts = ("F1.3", "F1.4", "F1.5")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            if server.verify not in ("on", "optional"):
                continue
            if server.settings["ssl_trusted_certificate"].node and not server.settings["ssl_client_certificate"].node:
                hits.append((server.settings["ssl_verify_client"].node, server))
        for node, servers in per_node(hits):
            fix = Fix("Name the CA file with `ssl_client_certificate` (it is both trusted and advertised).",
                      "ssl_client_certificate " + servers[0].settings["ssl_trusted_certificate"].value + ";")
            if ctx.version is not None and ctx.version < TRUSTED_ONLY_OK:
                yield cls.finding(
                    f"nginx {ctx.version} refuses this configuration (`no ssl_client_certificate for"
                    f" ssl_verify_client`): {labels(servers)} verifies with only ssl_trusted_certificate.",
                    node.location, fix)
            else:
                when = "" if ctx.version is not None else " (and before nginx 1.27.2 `nginx -t` fails)"
                yield cls.finding(
                    f"{labels(servers)} verifies with only ssl_trusted_certificate: no CA names are"
                    f" advertised, so clients may offer no certificate{when}.",
                    node.location, fix, severity=Severity.WARNING)


class VerifyClientWithoutCa(ConfigRule):
    """Client verification with no CA file at all: `nginx -t` fails, or another server's CAs decide.

    What it checks:
    A server with `ssl_verify_client on` or `optional` and neither `ssl_client_certificate` nor
    `ssl_trusted_certificate` (inherited values count). A server with no `ssl_certificate` of
    its own (nor one inherited from `http`) has no SSL context: it is reported as a warning
    naming the default server whose context does its handshakes.

    Why it matters:
    nginx refuses to start: `no ssl_client_certificate for ssl_verify_client` (1.17.4 -
    1.27.1), `no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client`
    (1.27.2+) (F1.5). Only `optional_no_ca` works without a CA file. nginx checks this only for
    a server with an SSL context: a server without a certificate passes `nginx -t`, its
    handshakes use the default server's context (F7.3), so clients are verified against the
    default server's CAs and mode, and a client the default server accepts gets 200 `SUCCESS`
    here (measured on real nginx; the `no.context` case of nginx's own ssl_verify_client.t).

    Example:
    ```nginx
    ssl_verify_client on;
    ```

    Use instead:
    ```nginx
    ssl_verify_client on;
    ssl_client_certificate /etc/nginx/client-ca.pem;
    ```

    References:
    F1.5 of nginx-mtls-facts.md.
    """

    code = "MTLS204"
    name = "verify-client-without-ca"
    severity = Severity.ERROR
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            s = server.settings
            if server.verify in ("on", "optional") and not s["ssl_trusted_certificate"].node and not s["ssl_client_certificate"].node:
                borrowed = _context_donor(ctx, server)
                if borrowed is not None:
                    yield cls.finding(
                        f"{server.label} has no ssl_certificate, so no SSL context of its own: nginx -t"
                        f" passes and its clients are verified with the settings of the default"
                        f" {borrowed.label} (`ssl_verify_client {borrowed.verify}`).",
                        (s["ssl_verify_client"].node or server.node).location,
                        Fix("Give this server its own ssl_certificate, key and CA file, so its own"
                            " settings decide.", "ssl_client_certificate /etc/nginx/client-ca.pem;"),
                        severity=Severity.WARNING)
                    continue
                hits.append((s["ssl_verify_client"].node, server))
        for node, servers in per_node(hits):
            yield cls.finding(
                f"`ssl_verify_client {servers[0].verify}` in {labels(servers)} has no CA file: nginx -t fails.",
                node.location,
                Fix("Add the CA that issues your client certificates.",
                    "ssl_client_certificate /etc/nginx/client-ca.pem;"),
            )


class ClientCertificateWithoutVerify(ConfigRule):
    """`ssl_client_certificate` where `ssl_verify_client` is off: it has no effect.

    What it checks:
    An `ssl_client_certificate` directive every server using it has `ssl_verify_client off`
    (the default).

    Why it matters:
    nginx loads the client CA file only when verification is enabled (F1.2): no certificate
    is requested, no CA names are advertised and `$ssl_client_verify` is always `NONE`. The
    configuration looks like mutual TLS but requests no certificate at all.

    Example:
    ```nginx
    ssl_client_certificate /etc/nginx/client-ca.pem;
    ```

    Use instead:
    ```nginx
    ssl_client_certificate /etc/nginx/client-ca.pem;
    ssl_verify_client on;
    ```
    (A server whose `ssl_verify_client` sits in a location is left to MTLS213: nginx -t
    refuses it there.)

    References:
    F1.2 of nginx-mtls-facts.md.
    """

    code = "MTLS205"
    name = "client-certificate-without-verify"
    severity = Severity.WARNING
    facts = ("F1.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        users: dict[int, tuple] = {}
        for server in ctx.tls_servers:
            node = server.settings["ssl_client_certificate"].node
            if node is None:
                continue
            entry = users.setdefault(id(node), (node, []))
            entry[1].append(server)
        for node, servers in users.values():
            if any(_verify_in_location(s) for s in servers):
                continue  # the verification was meant, in a place nginx refuses: MTLS213 says so
            if len(node.args) != 1:
                continue  # a missing ';' swallowed the next directive (often ssl_verify_client): MTLS254
            if all(not verifying(s) for s in servers):
                yield cls.finding(
                    f"`ssl_client_certificate` has no effect: {labels(servers)} has `ssl_verify_client off`.",
                    node.location,
                    Fix("Enable verification next to it.", "ssl_verify_client on;"),
                )


class TrustedCertificateNotAdvertised(ConfigRule):
    """CAs in `ssl_trusted_certificate` are trusted for client certificates but never advertised.

    What it checks:
    A verifying server that has both `ssl_client_certificate` and `ssl_trusted_certificate`,
    both readable: it fires only if the trusted file holds a CA that is not an
    issuer of a CA in the client certificate file (so its clients are not covered by an
    advertised name). Both directives naming the same file is fine: its CAs are advertised
    because `ssl_client_certificate` names it (measured on real nginx).

    Why it matters:
    Only the subjects of `ssl_client_certificate` are sent as acceptable CA names (F1.1);
    `ssl_trusted_certificate` is never advertised, contrary to a common belief (F1.3). Its
    CAs still verify client certificates, so a client of such a CA may not offer its
    certificate (it was not asked for that CA), or, if it does, is accepted by a CA the
    operator did not mean to advertise.

    Example:
    ```nginx
    ssl_verify_client on;
    ssl_client_certificate /etc/nginx/ca-a.pem;
    ssl_trusted_certificate /etc/nginx/ca-b.pem;   # clients of CA b are never asked
    ```

    Use instead:
    Put every CA whose clients you accept in `ssl_client_certificate`; use
    `ssl_trusted_certificate` only for the roots of the intermediates listed there (and for
    OCSP stapling).

    References:
    F1.1, F1.3, F1.6 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_trusted_certificate
    """

    code = "MTLS206"
    name = "trusted-certificate-not-advertised"
    severity = Severity.INFO
    facts = ("F1.1", "F1.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            s = server.settings
            if not verifying(server) or server.verify == "optional_no_ca":
                continue
            if s["ssl_client_certificate"].node is None or s["ssl_trusted_certificate"].node is None:
                continue
            resolve = ctx.eff.config.resolve
            if resolve(s["ssl_client_certificate"].value) == resolve(s["ssl_trusted_certificate"].value):
                continue  # the same file: every CA in it is advertised (F1.1; measured)
            advertised = ctx.bundle(s["ssl_client_certificate"])
            trusted = ctx.bundle(s["ssl_trusted_certificate"])
            if advertised is None or trusted is None:
                continue  # without both files nothing says a trusted CA is left out (the usual
                # pair, an advertised intermediate and its trusted root, is right)
            issuers = {c.issuer for c in advertised.certificates}
            subjects = {c.subject for c in advertised.certificates}
            if all(c.subject in issuers or c.subject in subjects for c in trusted.certificates):
                continue
            hits.append((s["ssl_trusted_certificate"].node, server))
        for node, servers in per_node(hits):
            yield cls.finding(
                f"CAs in this ssl_trusted_certificate verify clients of {labels(servers)} but are not"
                " advertised in the CertificateRequest.",
                node.location,
                "Move CAs whose clients you accept into ssl_client_certificate.",
            )


def _context_donor(ctx: LintContext, server):
    """The default server whose SSL context a server without its own uses (None: it has one,
    or no other server has one)."""
    from mtls_doctor.nginx.effective import handshake_server

    if server.own_ssl_context:
        return None
    for listen in server.listens:
        donor = handshake_server(ctx.eff, server, listen.address)
        if donor is not server and donor.own_ssl_context:
            return donor
    return None


def _verify_in_location(server) -> bool:
    """``ssl_verify_client`` inside one of the server's locations (nginx -t refuses it there)."""
    return any(d.name == "ssl_verify_client" for loc in server.locations for d in loc.own)


def _own(node, servers) -> bool:
    """The directive sits directly in the one server block it governs (not inherited)."""
    return len(servers) == 1 and servers[0].node is not None and \
        any(d is node for d in servers[0].node.block or ())


def _few(places: list[str], limit: int = 3) -> str:
    more = len(places) - limit
    return ", ".join(places[:limit]) + (f" and {more} more" if more > 0 else "")


def _serves(server) -> bool:
    return not server.locations or any(l.serves_content for l in server.locations) or server.kind == "stream"


RULES = (
    VerifyClientOptionalUnchecked,
    VerifyClientOptionalNoCaAsAuth,
    VerifyClientTrustedOnly,
    VerifyClientWithoutCa,
    ClientCertificateWithoutVerify,
    TrustedCertificateNotAdvertised,
)
