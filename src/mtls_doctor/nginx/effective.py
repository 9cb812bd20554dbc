"""The effective settings of every ``server`` (http and stream) of a parsed configuration.

Invariants of this module (no I/O; data in, frozen data out):
- a server-level directive wins; otherwise the ``http``/``stream`` level value is inherited;
  otherwise nginx's default applies (``Setting.node is None``): ``ssl_verify_client off``,
  ``ssl_verify_depth 1`` (F3.1), ``error_log`` level ``error`` (F4.1), ``ssl_ocsp off``;
- array directives (``proxy_set_header``, ``add_header``, ``ssl_certificate``,
  ``ssl_conf_command``) are inherited only by a level that has none of its own: a location with
  any ``proxy_set_header`` inherits none from above (ngx_http_proxy_module docs);
- the default server of a listen address is the one with ``default_server`` there, else the
  first server listening on it (ngx_http_core_module ``listen`` docs; F7.3);
- a configuration whose top level holds ``server`` blocks (a conf.d snippet) is read as the
  inside of ``http``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator, Mapping

from mtls_doctor.nginx.parse import Config, Directive, is_snippet

LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")

#: single-value settings a server inherits from http/stream, with nginx's default (None: unset)
SINGLE_DEFAULTS: dict[str, tuple[str, ...] | None] = {
    "ssl_verify_client": ("off",),
    "ssl_verify_depth": ("1",),
    "ssl_client_certificate": None,
    "ssl_trusted_certificate": None,
    "ssl_crl": None,
    "ssl_ocsp": ("off",),
    "ssl_ocsp_responder": None,
    "ssl_stapling": ("off",),
    "ssl_protocols": None,  # default depends on the version: version.default_protocols
    "ssl": ("off",),
    "ssl_reject_handshake": ("off",),
    "ssl_session_tickets": ("on",),
    "ssl_session_cache": ("none",),
    "resolver": None,
}
ARRAY_SETTINGS = ("ssl_certificate", "ssl_certificate_key", "ssl_conf_command", "error_log")

CONTENT_DIRECTIVES = frozenset(
    {"proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass",
     "root", "alias", "try_files", "content_by_lua", "content_by_lua_block", "content_by_lua_file",
     "echo", "js_content", "perl", "index", "autoindex", "dav_methods", "stub_status", "mp4", "flv"}
)
PROXY_DIRECTIVES = frozenset({"proxy_pass", "grpc_pass"})


@dataclass(frozen=True)
class Setting:
    """An effective value and the directive it comes from (None: nginx's default)."""

    args: tuple[str, ...]
    node: Directive | None = None

    @property
    def value(self) -> str:
        return self.args[0] if self.args else ""


@dataclass(frozen=True)
class Listen:
    address: str  # normalized: "*:443", "127.0.0.1:443", "[::]:443", "unix:/path"
    ssl: bool
    default_server: bool
    node: Directive | None


@dataclass(frozen=True)
class LocationView:
    """A ``location`` (nested ones too) with what a request there gets."""

    node: Directive
    parents: tuple[Directive, ...]  # enclosing locations, outermost first
    proxy_headers: tuple[Directive, ...]  # effective proxy_set_header (inheritance applied)
    add_headers: tuple[Directive, ...]
    proxies: bool
    serves_content: bool

    @property
    def own(self) -> tuple[Directive, ...]:
        """Directives of this location, including those inside its ``if`` blocks."""
        out: list[Directive] = []
        for d in self.node.block or ():
            out.append(d)
            if d.name == "if" and d.block:
                out.extend(d.block)
        return tuple(out)


@dataclass(frozen=True, eq=False)
class Server:
    kind: str  # "http" or "stream"
    node: Directive
    names: tuple[str, ...]
    listens: tuple[Listen, ...]
    settings: Mapping[str, Setting]
    arrays: Mapping[str, tuple[Directive, ...]]
    error_log_level: str
    error_log_nodes: tuple[Directive, ...]  # the error_log directives that govern (empty: default)
    locations: tuple[LocationView, ...]
    server_proxy_headers: tuple[Directive, ...]
    default_for: tuple[str, ...] = ()
    context: Directive | None = None  # the http/stream block
    #: the http/stream-level directives (not server blocks) that servers inherit from
    inherited: tuple[Directive, ...] = ()

    def get(self, name: str) -> Setting:
        return self.settings[name]

    @property
    def verify(self) -> str:
        return self.settings["ssl_verify_client"].value

    @property
    def ssl(self) -> bool:
        return any(l.ssl for l in self.listens) or self.settings["ssl"].value == "on"

    @property
    def label(self) -> str:
        name = next((n for n in self.names if n and n != "_"), None)
        line = self.node.line or next((d.line for d in self.walk() if d.line), 0)  # a wrapped fragment
        where = f"{self.node.path}:{line}"
        return f"server {name!r} ({where})" if name else f"server at {where}"

    def walk(self) -> Iterator[Directive]:
        yield from self.node.walk()

    @property
    def own_ssl_context(self) -> bool:
        """The server has an SSL context of its own: a certificate (its own or inherited from
        ``http``/``stream``) or ``ssl_reject_handshake on``. Without one nginx -t does not check
        its ssl_verify_client/CA settings and its handshakes use the SSL context of the default
        server of the address, also when SNI selects it (ngx_http_ssl_merge_srv_conf returns
        early; ngx_http_ssl_servername switches the context only to a server that has one;
        measured: tests/truth/test_lint_rules_truth.py, a server without ssl_certificate next
        to a verifying default answers 200 SUCCESS)."""
        return bool(self.arrays.get("ssl_certificate")) or self.settings["ssl_reject_handshake"].value == "on"


@dataclass(frozen=True)
class Effective:
    config: Config
    servers: tuple[Server, ...]
    maps: tuple[Directive, ...] = ()  # map blocks of http and stream
    defaults: Mapping[str, Server] = field(default_factory=dict)  # http listen address -> default
    #: every directive of the configuration by name, in file order (one walk, for the rules)
    index: Mapping[str, tuple[Directive, ...]] = field(default_factory=dict)

    def named(self, *names: str) -> tuple[Directive, ...]:
        if len(names) == 1:
            return self.index.get(names[0], ())
        return tuple(d for n in names for d in self.index.get(n, ()))


def _level_of(nodes: tuple[Directive, ...]) -> str:
    """The most verbose level among error_log directives (nginx writes to every log)."""
    best = "error"
    found = False
    for node in nodes:
        level = "error"
        if len(node.args) >= 2 and node.args[1] in LEVELS:
            level = node.args[1]
        if node.args and node.args[0] == "off":  # not valid nginx, but do not crash
            continue
        if not found or LEVELS.index(level) < LEVELS.index(best):
            best, found = level, True
    return best


def _normalize_listen(node: Directive, kind: str) -> Listen:
    args = node.args
    addr = args[0] if args else ("*:80" if kind == "http" else "")
    params = set(args[1:])
    if addr.startswith("unix:"):
        norm = addr
    elif addr.startswith("["):
        host, _, port = addr.rpartition("]:")
        norm = f"{host}]:{port}" if port else f"{addr}:{'80' if kind == 'http' else ''}"
    elif re.fullmatch(r"\d+", addr):
        norm = f"*:{addr}"
    elif ":" in addr:
        host, port = addr.rsplit(":", 1)
        norm = f"{'*' if host in ('*', '0.0.0.0') else host}:{port}"
    else:
        norm = f"{addr}:80"
    return Listen(norm, "ssl" in params, bool(params & {"default_server", "default"}), node)


def _own(block: tuple[Directive, ...], name: str) -> tuple[Directive, ...]:
    return tuple(d for d in block if d.name == name)


def _locations(
    block: tuple[Directive, ...],
    parents: tuple[Directive, ...],
    proxy_headers: tuple[Directive, ...],
    add_headers: tuple[Directive, ...],
) -> Iterator[LocationView]:
    # depth first, in file order, with an explicit stack: nginx -t accepts locations nested
    # 1,000 deep, deeper than Python's recursion limit
    stack = [(iter(block), parents, proxy_headers, add_headers)]
    while stack:
        nodes, parents, proxy_headers, add_headers = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        if node.name != "location" or node.block is None:
            continue
        own = node.block + tuple(c for d in node.block if d.name == "if" and d.block for c in d.block)
        mine = _own(node.block, "proxy_set_header")
        headers = mine if mine else proxy_headers  # no merge: a location with any has only its own
        adds = _own(node.block, "add_header") or add_headers
        names = {d.name for d in own}
        returns = [d for d in own if d.name == "return"]
        serves = bool(names & CONTENT_DIRECTIVES) or any(_return_serves(r) for r in returns)
        if not names & CONTENT_DIRECTIVES and not returns and "location" not in names:
            serves = True  # static files from the inherited root
        yield LocationView(node, parents, headers, adds, bool(names & PROXY_DIRECTIVES), serves)
        stack.append((iter(node.block), parents + (node,), headers, adds))


def _return_serves(node: Directive) -> bool:
    """``return 200 text`` serves content; redirects and 4xx/5xx do not."""
    if not node.args:
        return False
    code = node.args[0]
    if not code.isdigit():
        return False  # return URL: a redirect
    return 200 <= int(code) < 300


def _servers(context: Directive | None, kind: str, top: tuple[Directive, ...], main_logs: tuple[Directive, ...]) -> list[Server]:
    block = context.block if context is not None else top
    if block is None:
        return []
    ctx_single = {n: _own(block, n) for n in SINGLE_DEFAULTS}
    ctx_arrays = {n: _own(block, n) for n in ARRAY_SETTINGS}
    ctx_proxy = _own(block, "proxy_set_header")
    ctx_add = _own(block, "add_header")
    inherited = tuple(d for d in block if d.name != "server") if context is not None else ()
    out: list[Server] = []
    defaults = {n: Setting(d or (), None) for n, d in SINGLE_DEFAULTS.items()}
    for node in block:
        if node.name != "server" or node.block is None:
            continue
        by: dict[str, list[Directive]] = {}
        for d in node.block:
            by.setdefault(d.name, []).append(d)
        settings: dict[str, Setting] = {}
        for name in SINGLE_DEFAULTS:
            own = by.get(name) or ctx_single[name]
            settings[name] = Setting(own[0].args, own[0]) if own else defaults[name]
        arrays = {name: tuple(by.get(name, ())) or ctx_arrays[name] for name in ARRAY_SETTINGS}
        logs = tuple(by.get("error_log", ())) or ctx_arrays["error_log"] or main_logs
        listens = tuple(_normalize_listen(l, kind) for l in by.get("listen", ()))
        if not listens and kind == "http":
            listens = (Listen("*:80", False, False, None),)
        names = tuple(a for d in by.get("server_name", ()) for a in d.args)
        sproxy = tuple(by.get("proxy_set_header", ())) or ctx_proxy
        sadd = tuple(by.get("add_header", ())) or ctx_add
        locs = tuple(_locations(node.block, (), sproxy, sadd)) if "location" in by else ()
        out.append(
            Server(kind, node, names, listens, settings, arrays, _level_of(logs), logs, locs, sproxy, (), context,
                   inherited)
        )
    return out


def effective(config: Config) -> Effective:
    """The effective per-server view of ``config``."""
    root = config.root
    main_logs = _own(root, "error_log")
    servers: list[Server] = []
    maps: list[Directive] = []
    if is_snippet(config):
        servers += _servers(None, "http", root, main_logs)
        maps += _own(root, "map")
    for ctx in root:
        if ctx.name in ("http", "stream") and ctx.block is not None:
            servers += _servers(ctx, ctx.name, root, main_logs)
            maps += _own(ctx.block, "map")
    defaults: dict[str, Server] = {}
    explicit: dict[str, Server] = {}
    for server in servers:
        if server.kind != "http":
            continue
        for listen in server.listens:
            defaults.setdefault(listen.address, server)
            if listen.default_server:
                explicit.setdefault(listen.address, server)
    defaults.update(explicit)
    final: list[Server] = []
    for server in servers:
        mine = tuple(a for a, s in defaults.items() if s is server)
        final.append(Server(**{**server.__dict__, "default_for": mine}))
    by_node = {id(s.node): s for s in final}
    index: dict[str, list[Directive]] = {}
    for node in config.walk():
        index.setdefault(node.name, []).append(node)
    return Effective(config, tuple(final), tuple(maps), {a: by_node[id(s.node)] for a, s in defaults.items()},
                     {k: tuple(v) for k, v in index.items()})


def listen_groups(eff: Effective) -> dict[str, list[Server]]:
    """http servers per listen address, in configuration order."""
    return group_by_address([s for s in eff.servers if s.kind == "http"])


def match_name(server: Server, name: str) -> int | None:
    """How ``name`` matches one of the server's names, nginx's precedence: 0 exact, 1 leading
    wildcard (longest wins), 2 trailing wildcard, 3 regex; None: no match
    (ngx_http_core_module server_name docs; names compare case-insensitively)."""
    name = name.lower().rstrip(".")
    best: int | None = None
    for n in server.names:
        low = n.lower()
        if low == name:
            return 0
        if (low.startswith("*.") and name.endswith(low[1:])) or (
                low.startswith(".") and (name == low[1:] or name.endswith(low))):
            best = 1 if best is None else min(best, 1)
        elif low.endswith(".*") and name.startswith(low[:-1]):
            best = 2 if best is None or best > 2 else best
        elif n.startswith("~"):
            try:
                if re.search(n[1:], name):
                    best = 3 if best is None else best
            except re.error:
                continue
    return best


def address_servers(eff: Effective, ip: str | None, port: int) -> tuple[str | None, list[Server]]:
    """The listen address a connection to ``ip:port`` uses and its http servers: a listen on
    that exact address wins over ``*:port`` (nginx binds the most specific address)."""
    return listening_on(listen_groups(eff), ip, port)


def group_by_address(servers: list[Server]) -> dict[str, list[Server]]:
    """Any kind's servers (http, stream, mail) per listen address, in configuration order."""
    groups: dict[str, list[Server]] = {}
    for server in servers:
        for address in dict.fromkeys(l.address for l in server.listens):
            groups.setdefault(address, []).append(server)
    return groups


def listening_on(groups: Mapping[str, list[Server]], ip: str | None,
                 port: int) -> tuple[str | None, list[Server]]:
    """The address of ``groups`` a connection to ``ip:port`` reaches and its servers."""
    candidates = []
    if ip is not None:
        host = f"[{ip}]" if ":" in ip else ip
        candidates.append(f"{host}:{port}")
    candidates += [f"*:{port}", f"[::]:{port}"]
    for address in candidates:
        if address in groups:
            return address, groups[address]
    return None, []


def find_server(eff: Effective, address: str, name: str | None) -> tuple[Server | None, bool]:
    """The server nginx selects on ``address`` for a name (SNI or Host; None: no name) and
    whether the name selected it (False: the default server, F7.3)."""
    return select_server(listen_groups(eff).get(address, []), address, name, eff.defaults.get(address))


def select_server(servers: list[Server], address: str, name: str | None,
                  default: Server | None = None) -> tuple[Server | None, bool]:
    """Of the servers on one address (any kind: http, stream 1.25.5+, mail), the one nginx
    selects for ``name`` and whether the name selected it: exact name, then the longest
    leading wildcard, the longest trailing wildcard, the first regex in order; else
    ``default`` (given, or the one whose listen there says ``default_server``, else the first)."""
    if not servers:
        return None, False
    if name:
        best: tuple[int, int, Server] | None = None
        for i, server in enumerate(servers):
            rank = match_name(server, name)
            if rank is None:
                continue
            # within wildcards the longest name wins; regexes in configuration order
            length = max((len(n) for n in server.names if match_name(
                Server(**{**server.__dict__, "names": (n,)}), name) == rank), default=0)
            key = (rank, -length if rank in (1, 2) else i)
            if best is None or key < best[:2]:
                best = (key[0], key[1], server)
        if best is not None:
            return best[2], True
    if default is None:
        default = next((s for s in servers if any(l.address == address and l.default_server
                                                  for l in s.listens)), servers[0])
    return default, False


def handshake_server(eff: Effective, server: Server, address: str) -> Server:
    """The server whose SSL context (certificate, ssl_verify_client, CA files) does the TLS
    handshake when ``server`` is selected on ``address``: itself when it has an SSL context of
    its own, else the default server of the address (``Server.own_ssl_context``)."""
    if server.own_ssl_context:
        return server
    return eff.defaults.get(address) or server

