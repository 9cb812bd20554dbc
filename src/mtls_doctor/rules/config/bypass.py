"""MTLS214: client-certificate authentication bypassed by another listener serving the same content.

Invariants: no I/O. A *protected* server is a TLS server with ``ssl_verify_client on``, or
``optional`` where every content location requires ``$ssl_client_verify = SUCCESS``. Its
content is named by keys: ``root``/``alias`` directories and the targets of ``proxy_pass``,
``grpc_pass``, ``fastcgi_pass``, ``uwsgi_pass``, ``scgi_pass`` (scheme and URI dropped, so
``http://app/`` and ``https://app`` are the same upstream). Which server a request with the
protected server's name reaches on another address is ``nginx.effective.find_server`` (the one
home of server selection), never a second implementation.
"""

from __future__ import annotations

from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server, find_server
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext

PASS_NAMES = ("proxy_pass", "grpc_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass")
#: names that do not identify an application (catch-all and placeholder names)
GENERIC_NAMES = frozenset({"", "_", "localhost", "default", "default_server"})


def protected(server: Server, ctx: LintContext) -> bool:
    """The server is meant to let in only clients with a certificate: `on`, or `optional`
    (checked or not: MTLS201 judges the check, this rule the other doors)."""
    return server.ssl and server.kind == "http" and server.verify in ("on", "optional")


def _open(server: Server) -> bool:
    """The server answers requests without checking a client certificate."""
    if server.ssl and server.verify in ("on", "optional", "optional_no_ca"):
        return False
    return server.settings["ssl_reject_handshake"].value != "on"


def _pass_key(node: Directive) -> str:
    url = node.args[0]
    rest = url.split("://", 1)[1] if "://" in url else url
    return rest.split("/", 1)[0].lower() if not rest.startswith("unix:") else rest


def _server_redirects(server: Server) -> bool:
    """A server-level ``return`` that is not 2xx answers every request (rewrite phase)."""
    for d in server.node.block or ():
        if d.name == "return" and d.args:
            code = d.args[0]
            return not (code.isdigit() and 200 <= int(code) < 300)
    return False


#: a server-level ``if`` that is true exactly for plain-HTTP requests
_PLAIN_TESTS = (("$scheme", "=", "http"), ("$scheme", "!=", "https"), ("$https", "=", ""),
                ("$https", "!=", "on"), ("$scheme", "!~", "https"), ("$scheme", "~", "^http$"))


def _redirects_plain(server: Server) -> bool:
    """``if ($scheme = http) { return 301 https://...; }`` (or ``$scheme != https``, ``$https =
    ""``) at server level, or in every location that serves content (ingress-nginx's
    ssl-redirect): every plain-HTTP request is redirected (rewrite phase), so the server's
    plain listens serve nothing."""
    if _if_redirects_plain(server.node.block or ()):
        return True
    serving = [loc for loc in server.locations if loc.serves_content]
    return bool(serving) and all(_if_redirects_plain(loc.node.block or ()) for loc in serving)


def _if_redirects_plain(block) -> bool:
    """The block holds an ``if`` true exactly for plain HTTP whose ``return`` is not 2xx."""
    for d in block:
        if d.name != "if" or d.block is None:
            continue
        args = list(d.args)  # as written: `($scheme`, `=`, `http)`; `($https`, `=`, ``, `)`
        if args and args[-1] == ")":
            args.pop()
        elif args:
            args[-1] = args[-1].removesuffix(")")
        if args and args[0] == "(":
            args.pop(0)
        elif args:
            args[0] = args[0].removeprefix("(")
        test = tuple(a.strip("\"'") for a in args)
        if test not in _PLAIN_TESTS:
            continue
        for inner in d.block:
            if inner.name == "return" and inner.args:
                code = inner.args[0]
                return not (code.isdigit() and 200 <= int(code) < 300)
    return False


def content_keys(server: Server, ctx: LintContext) -> dict[tuple[str, str], Directive]:
    """What content the server serves: (kind, value) -> the directive that names it."""
    resolve = ctx.eff.config.resolve
    out: dict[tuple[str, str], Directive] = {}
    if _server_redirects(server) or (not server.ssl and _redirects_plain(server)):
        return out
    top_root = next((d for d in server.node.block or () if d.name == "root" and d.args), None)
    if not server.locations:
        if top_root is not None:
            out[("directory", resolve(top_root.args[0]))] = top_root
        return out
    for loc in server.locations:
        if not loc.serves_content or (loc.node.args and loc.node.args[-1].startswith("/.well-known/")):
            continue
        own = [d for d in loc.own if d.name != "location"]
        names = {d.name for d in own}
        for d in own:
            if d.name in PASS_NAMES and d.args and "$" not in d.args[0]:
                out.setdefault(("upstream", _pass_key(d)), d)
            elif d.name in ("root", "alias") and d.args and "$" not in d.args[0]:
                out.setdefault(("directory", resolve(d.args[0])), d)
        if top_root is not None and not names & {"root", "alias", "return", *PASS_NAMES}:
            out.setdefault(("directory", resolve(top_root.args[0])), top_root)
    if top_root is not None and not out:
        out[("directory", resolve(top_root.args[0]))] = top_root
    return out


def _how(server: Server, address: str) -> str:
    listen = next((l for l in server.listens if l.address == address), None)
    if listen is not None and not (listen.ssl or server.ssl):
        return f"plain HTTP on {address}"
    return f"TLS without client verification on {address}"


def _listen_node(server: Server, address: str) -> Directive:
    return next((l.node for l in server.listens if l.address == address and l.node is not None), server.node)


def _loopback(address: str) -> bool:
    return address.startswith(("127.", "[::1]", "unix:"))


class ProtectedContentServedUnverified(ConfigRule):
    """The content of a server that requires a client certificate is also served by a listener that does not.

    What it checks:
    For every server that requires a verified client certificate (`ssl_verify_client on`, or
    `optional` with every content location requiring `SUCCESS`): another http server that
    does not verify (plain HTTP, or TLS with `ssl_verify_client off`) and either serves the
    same content (the same `root`/`alias` directory or the same `proxy_pass`/`fastcgi_pass`/...
    upstream) or is the server nginx selects for the protected server's name on another
    listen address (nginx's server selection: exact name, wildcards, regexes, then the
    default server of that address). One finding per open server, naming the verifying
    servers it bypasses (the first three, then a count). Servers that only redirect or reject
    are left alone; a listener on loopback only is a warning. A server with its own `ssl_verify_client` and a
    plain `listen` (no `ssl`) is the same hole inside one server block.

    Why it matters:
    Client verification is a property of the server block and its listen socket, not of the
    content. A plain HTTP port or a TLS port without `ssl_verify_client` that serves the same
    files or proxies to the same backend lets anyone read what the verifying server protects:
    `curl http://host/` answers 200 where `https://host/` answers 400 without a certificate
    (measured on real nginx). A default server that does not verify but proxies to the same
    backend is the same hole for clients that send another SNI/Host.

    Example:
    ```nginx
    server { listen 443 ssl; server_name api.example.com; ssl_verify_client on; ...
             location / { proxy_pass http://app; } }
    server { listen 80; server_name api.example.com;
             location / { proxy_pass http://app; } }
    ```

    Use instead:
    Redirect or refuse on the other listener (`return 301 https://$host$request_uri;`), or
    require the certificate there too.

    References:
    F2.2, F7.3 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/request_processing.html
    """

    code = "MTLS214"
    name = "protected-content-served-unverified"
    severity = Severity.ERROR
    facts = ("F2.2", "F7.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        """One finding per open server, naming the verifying servers it bypasses (the first
        MAX_NAMED and a count). Linear in servers: content keys computed once per server, a
        content key -> verifying servers index, and find_server asked only for a name an open
        server at that address can match."""
        yield from _plain_listens(cls, ctx)
        guarded = [s for s in ctx.servers if protected(s, ctx)]
        if not guarded:
            return
        keys = _keys_of(ctx)
        others = [s for s in ctx.servers if s.kind == "http" and _open(s) and keys(s)]
        by_key: dict[tuple[str, str], list[Server]] = {}
        for p in guarded:
            for key in keys(p):
                by_key.setdefault(key, []).append(p)
        named = _name_bypasses(ctx, guarded, others)
        for s in others:
            shared = [k for k in keys(s) if k in by_key]
            by_name = named.get(id(s), [])
            if not shared and not by_name:
                continue
            if shared:
                first = by_key[shared[0]]
                p = first[0]
                mine = {l.address for l in p.listens}
                address = next((l.address for l in s.listens if l.address not in mine),
                               s.listens[0].address if s.listens else "*:80")
                # the verifying servers named: those sharing this content, then those reached
                # by name (not already counted)
                extra = [q for q, _ in by_name if shared[0] not in keys(q)]
                bypassed = len(first) + len(extra)
                shown = (first[:MAX_NAMED] + extra)[:MAX_NAMED]
                what = f"the same {shared[0][0]} {shared[0][1]}"
            else:
                p, address = by_name[0]
                bypassed, shown = len(by_name), [q for q, _ in by_name[:MAX_NAMED]]
                names = [n for n in p.names if n.lower() not in GENERIC_NAMES and not n.startswith("~")]
                what = f"requests for {names[0]}"
            yield cls.finding(
                f"{s.label} serves {what} as the verifying {_servers(shown, bypassed)}, over "
                f"{_how(s, address)}: no client certificate is needed there.",
                _listen_node(s, address).location,
                Fix("Redirect to the verifying server, or require the certificate here too.",
                    "return 301 https://$host$request_uri;"),
                severity=Severity.WARNING if all(_loopback(l.address) for l in s.listens) else None)


#: verifying servers named in one finding; the rest are counted
MAX_NAMED = 3


def _servers(shown: list[Server], total: int) -> str:
    text = ", ".join(q.label for q in shown)
    if total > len(shown):
        text += f" and {total - len(shown)} more verifying server{'s' if total - len(shown) > 1 else ''}"
    return text


def _keys_of(ctx: LintContext):
    """content_keys of a server, computed once per lint run (ctx.memo)."""
    cache: dict[int, dict] = ctx.memo.setdefault("bypass.content_keys", {})

    def keys(server: Server) -> dict:
        found = cache.get(id(server))
        if found is None:
            found = cache[id(server)] = content_keys(server, ctx)
        return found

    return keys


def _patterned(server: Server) -> bool:
    return any(n.startswith(("*.", ".", "~")) or n.endswith(".*") for n in server.names)


def _name_bypasses(ctx: LintContext, guarded: list[Server], others: list[Server]) -> dict:
    """id(open server) -> [(verifying server, address)]: on an address of the open server (not
    one of the verifying server's), nginx selects the open server by one of the verifying
    server's names. find_server decides; it is asked only when an open server at that address
    has the name itself or a wildcard/regex name (the only ways it can be selected by name)."""
    where: dict[str, dict[str, None]] = {}  # a name of an open server -> its addresses
    patterns: dict[str, None] = {}  # addresses with an open server with a wildcard/regex name
    for s in others:
        for listen in s.listens:
            for n in s.names:
                where.setdefault(n.lower().rstrip("."), {})[listen.address] = None
            if _patterned(s):
                patterns[listen.address] = None
    wanted = {id(s) for s in others}
    out: dict[int, list[tuple[Server, str]]] = {}
    for p in guarded:
        names = [n for n in p.names if n.lower() not in GENERIC_NAMES and not n.startswith("~")]
        mine = {l.address for l in p.listens}
        hit: set[int] = set()
        for name in names:
            host = name.lstrip("*.")
            for address in {**where.get(host.lower().rstrip("."), {}), **patterns}:
                if address in mine:
                    continue
                chosen, by_name = find_server(ctx.eff, address, host)
                if chosen is not None and by_name and id(chosen) in wanted and id(chosen) not in hit:
                    hit.add(id(chosen))
                    out.setdefault(id(chosen), []).append((p, address))
    return out


def _plain_listens(cls, ctx: LintContext) -> Iterable[Finding]:
    """A server with its own ssl_verify_client and a plain listen: on that socket nothing is
    verified (ssl_verify_client applies to TLS connections only; nginx does not refuse it)."""
    for server in ctx.servers:
        node = server.settings["ssl_verify_client"].node
        if server.kind != "http" or server.verify not in ("on", "optional") or node is None \
                or not any(d is node for d in server.node.block or ()):
            continue
        if server.settings["ssl"].value == "on" or _server_redirects(server) or _echo_only(server) \
                or _redirects_plain(server):
            continue
        plain = [l for l in server.listens if not l.ssl and l.node is not None]
        for listen in plain:
            only = len(plain) == len(server.listens)
            yield cls.finding(
                f"`listen {' '.join(listen.node.args)}` of {server.label} is plain HTTP:"
                + (" nothing is ever verified in this server (ssl_verify_client applies to TLS only)."
                   if only else " requests on it get the content without a client certificate."),
                listen.node.location,
                Fix("Serve plain HTTP from its own server that redirects.",
                    "server { listen 80; return 301 https://$host$request_uri; }"))


def _echo_only(server: Server) -> bool:
    """The server answers with nothing but the verify result (nginx's own tests)."""
    from mtls_doctor.rules.config.common import echoes_verify

    top = [d for d in server.node.block or () if d.name == "return"]
    return bool(top) and echoes_verify(top[0])


RULES = (ProtectedContentServedUnverified,)
