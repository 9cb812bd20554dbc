"""What every nginx configuration rule takes, and the helpers they share.

Invariants: no I/O. A configuration rule is a ``ConfigRule`` subclass whose classmethod
``check(ctx)`` takes a ``LintContext`` (the effective configuration, the nginx version or None,
the instant ``at`` and the certificate/CRL files the configuration names, already loaded by the
orchestration layer) and yields Findings located at ``file:line``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterable, Iterator, Mapping

from mtls_doctor.model import Finding
from mtls_doctor.nginx.effective import Effective, LocationView, Server, Setting
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.nginx.version import Version
from mtls_doctor.rules.base import Rule


@dataclass(frozen=True)
class LoadedFile:
    """A file the configuration names: the loaded bundle, or why it could not be loaded."""

    path: str
    bundle: Any = None  # mtls_doctor.pki.load.Bundle
    error: str | None = None
    exists: bool = True


@dataclass(frozen=True)
class LintContext:
    eff: Effective
    at: datetime
    version: Version | None = None
    files: Mapping[str, LoadedFile] = field(default_factory=dict)
    #: the OpenSSL release nginx runs with (pki.openssl_versions.Release); None: unknown
    openssl: Any = None
    #: what `nginx -t` said about this configuration in a sandbox (nginx.oracle.OracleResult);
    #: None: not run
    oracle: Any = None
    #: what rules derive once per run and share (e.g. the trust store of a pair of CA files);
    #: keyed by the rule module's own keys, never part of equality
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def servers(self) -> tuple[Server, ...]:
        return self.eff.servers

    @property
    def tls_servers(self) -> tuple[Server, ...]:
        """Servers that speak TLS (``listen ... ssl`` or ``ssl on``): ssl_* settings a plain
        HTTP server inherits from ``http`` do nothing there."""
        return tuple(s for s in self.eff.servers if s.ssl)

    def file(self, setting: Setting) -> LoadedFile | None:
        """The loaded file named by a path setting (None: unset, or files not loaded)."""
        if setting.node is None or not setting.args:
            return None
        return self.files.get(self.eff.config.resolve(setting.args[0]))

    def bundle(self, setting: Setting) -> Any:
        loaded = self.file(setting)
        return loaded.bundle if loaded is not None and loaded.error is None else None


class ConfigRule(Rule):
    target: ClassVar[str] = "config"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError


def var_re(*names: str) -> re.Pattern[str]:
    """``$name`` or ``${name}`` as a whole variable name."""
    alt = "|".join(re.escape(n) for n in names)
    return re.compile(r"\$(?:\{(?:" + alt + r")\}|(?:" + alt + r")(?![A-Za-z0-9_]))")


VERIFY_VAR = var_re("ssl_client_verify")
#: the client identity variables (section 5): filled whenever a certificate was sent, even one
#: that failed verification under optional_no_ca
IDENTITY_NAMES = (
    "ssl_client_s_dn", "ssl_client_i_dn", "ssl_client_s_dn_legacy", "ssl_client_i_dn_legacy",
    "ssl_client_serial", "ssl_client_fingerprint", "ssl_client_cert", "ssl_client_raw_cert",
    "ssl_client_escaped_cert", "ssl_client_v_start", "ssl_client_v_end", "ssl_client_v_remain",
    "ssl_client_sigalg",
)
IDENTITY_VAR = var_re(*IDENTITY_NAMES)
CERT_VARS = var_re("ssl_client_cert", "ssl_client_raw_cert", "ssl_client_escaped_cert")
ANY_CLIENT_VAR = re.compile(r"\$\{?ssl_client_[a-z_]+")

#: directives that hand a value to a backend (the backend can then check it), in report order
FORWARD_DIRECTIVES = ("proxy_set_header", "grpc_set_header", "fastcgi_param", "uwsgi_param", "scgi_param")
FORWARD = frozenset(FORWARD_DIRECTIVES)
#: directives where a variable reference is not a check (they go to the client or a log)
NOT_A_CHECK = frozenset({"add_header", "add_trailer", "access_log", "log_format", "error_log", "return",
                         "more_set_headers", "error_page"})


def lua_code(eff: Effective) -> Iterator[tuple[Directive, str]]:
    """(directive, Lua source) of every ``*_by_lua_block`` / ``*_by_lua`` (OpenResty)."""
    for node in eff.config.walk():
        if (node.name.endswith("_by_lua_block") or node.name.endswith("_by_lua")) and node.args:
            yield node, " ".join(node.args)


def lua_line(node: Directive, code: str, offset: int) -> int:
    """The file line of ``offset`` in the Lua source of ``node`` (it starts on the directive's line)."""
    return node.line + code.count("\n", 0, offset)


def text_of(node: Directive) -> str:
    return " ".join(node.args)


def mapped_vars(eff: Effective, pattern: re.Pattern[str]) -> dict[str, Directive]:
    """Variables set by a ``map`` whose source uses ``pattern``: name (no $) -> map node."""
    out: dict[str, Directive] = {}
    for node in eff.maps:
        if len(node.args) >= 2 and pattern.search(node.args[0]):
            out[node.args[1].lstrip("$").strip("{}")] = node
    return out


@dataclass(frozen=True)
class VerifyUse:
    """How a server uses ``$ssl_client_verify``."""

    referenced: bool  # checked or handed to a backend anywhere in the server
    success_checked: bool  # compared with SUCCESS (directly or through a map)
    forwarded: bool  # the verify result or the certificate itself goes to a backend
    #: tested in nginx itself (``if``, a ``map`` whose result is used, Lua), not only handed on
    checked: bool = False


def verify_use(server: Server, eff: Effective) -> VerifyUse:
    return verify_use_of(server.walk(), eff)


def verify_use_of(nodes: Iterable[Directive], eff: Effective) -> VerifyUse:
    """How these directives (walked by the caller) use ``$ssl_client_verify``."""
    maps = mapped_vars(eff, VERIFY_VAR)
    mapped = var_re(*maps) if maps else None
    success_maps = {n for n, m in maps.items() if any(
        "SUCCESS" in (c.name + " " + text_of(c)) for c in m.block or ())}
    success_mapped = var_re(*success_maps) if success_maps else None
    referenced = success = forwarded = checked = False
    for node in nodes:
        if node.name == "return" and echoes_verify(node):
            # the answer IS the verify result and nothing else (nginx's own tests, diagnostic
            # endpoints): there is no content an unverified client could get
            referenced = success = checked = True
            continue
        if node.name in NOT_A_CHECK:
            continue
        text = text_of(node)
        hit = bool(VERIFY_VAR.search(text)) or bool(mapped and mapped.search(text))
        if "_by_lua" in node.name and "ssl_client_verify" in text:
            hit = True
        if not hit:
            if node.name in FORWARD and CERT_VARS.search(text):
                forwarded = True
            continue
        referenced = True
        if node.name not in FORWARD:
            checked = True
        if "SUCCESS" in text or (success_mapped and success_mapped.search(text)):
            success = True
        if node.name in FORWARD:
            forwarded = True
    return VerifyUse(referenced=referenced, success_checked=success, forwarded=forwarded, checked=checked)


def echoes_verify(node: Directive) -> bool:
    """``return [code] "x$ssl_client_verify:${ssl_client_cert}x"``: an answer made of client
    variables and punctuation only (at most two other letters), with $ssl_client_verify."""
    body = " ".join(node.args[1:] if node.args and node.args[0].isdigit() else node.args)
    if not VERIFY_VAR.search(body):
        return False
    rest = re.sub(r"\$\{?[A-Za-z0-9_]+\}?", "", body)
    return len(re.sub(r"[^A-Za-z0-9]", "", rest)) <= 2


def unprotected(server: Server, eff: Effective, ok: Callable[[VerifyUse], bool]) -> list[str]:
    """Where a server serves content without a check ``ok`` accepts: [] when protected.

    A server-level check (``if`` in ``server``, a forwarding directive) covers every request.
    Otherwise each content location needs its own: rewrite-module directives (``if``,
    ``return``) of an enclosing location do not run for a nested location, while
    ``proxy_set_header`` is inherited by a location without its own (``loc.proxy_headers``).
    """
    top = [d for d in server.node.block or () if d.name != "location"]
    top += [d for d in server.inherited if d.name in FORWARD]
    if ok(verify_use_of((n for d in top for n in d.walk()), eff)):
        return []
    if not server.locations:
        return [server.label]
    out = []
    for loc in server.locations:
        if not serves_protected(loc):
            continue
        own = [d for d in loc.own if d.name != "location"] + list(loc.proxy_headers)
        if not ok(verify_use_of((n for d in own for n in d.walk()), eff)):
            out.append(f"`location {' '.join(loc.node.args)}`")
    return out


#: the paths load balancers and orchestrators probe (Kubernetes /healthz, /readyz, /livez;
#: /health, /ping, /status of most load balancers): answered to anyone on purpose
PROBE_PATH = re.compile(r"^[=^~ ]*/?(?:[\w.-]+/)?(?:health|healthz|healthcheck|health-check|ping|ready|readyz|"
                        r"readiness|live|livez|liveness|alive|lbcheck|heartbeat)/?\$?$", re.I)


def serves_protected(loc: LocationView) -> bool:
    """The location serves content a certificate could protect: not when all it does is a
    ``return`` of a constant that is no content (``return 204;``), or of a constant text at a
    health-check path (``location /health { return 200 "ok"; }``): that answer is written in
    the configuration, the same for every client, where probes that carry no certificate
    expect it. A constant elsewhere (``return 200 "admin";``) stands for content, as in
    nginx's own tests and the lab. An ``internal`` location (an error page, an X-Accel target)
    serves nothing to a client's own request: nginx answers it 404 (measured:
    tests/truth/test_lint_field_truth.py); the location that redirects there is judged instead."""
    if not loc.serves_content:
        return False
    if any(d.name == "internal" for d in loc.node.block or ()):
        return False
    own = [d for d in loc.own if d.name not in ("location", "if", "access_log", "add_header",
                                                  "default_type", "log_not_found", "expires")]
    returns = [d for d in own if d.name == "return"]
    if not returns or len(returns) != len(own) or any("$" in " ".join(r.args[1:]) for r in returns):
        return True
    if all(r.args[:1] == ("204",) for r in returns):
        return False
    return not PROBE_PATH.match(" ".join(loc.node.args))


def verifying(server: Server) -> bool:
    """The server requests client certificates (a TLS server with ssl_verify_client not off)."""
    return server.ssl and server.verify in ("on", "optional", "optional_no_ca")


def per_node(items: Iterable[tuple[Directive, Server]]) -> Iterator[tuple[Directive, list[Server]]]:
    """Group (directive, server) pairs by directive, keeping first-seen order."""
    seen: dict[int, tuple[Directive, list[Server], set[int]]] = {}
    for node, server in items:
        entry = seen.setdefault(id(node), (node, [], set()))
        if id(server) not in entry[2]:
            entry[2].add(id(server))
            entry[1].append(server)
    for node, servers, _ in seen.values():
        yield node, servers


def once(pairs: Iterable[tuple[Directive, Any]]) -> Iterator[tuple[Directive, Any]]:
    """``(directive, x)`` pairs, each directive once, first seen first: a directive inherited
    from ``http`` by several servers is one finding at its own line. Filter before calling it
    (a directive that does not qualify for one server may still qualify for the next)."""
    seen: set[int] = set()
    for node, x in pairs:
        if id(node) not in seen:
            seen.add(id(node))
            yield node, x


def verifying_settings(ctx: LintContext, *names: str) -> Iterator[tuple[Directive, Server]]:
    """``(directive, server)`` for the settings ``names`` (own or inherited) of every TLS server
    that requests client certificates, in server then ``names`` order; not deduplicated (see
    ``once``)."""
    for server in ctx.tls_servers:
        if not verifying(server):
            continue
        for name in names:
            node = server.settings[name].node
            if node is not None:
                yield node, server


def labels(servers: list[Server], limit: int = 3) -> str:
    shown = ", ".join(s.label for s in servers[:limit])
    more = len(servers) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def anchor(server: Server, name: str) -> Directive:
    """Where to point for a server's setting: its directive, else the server block."""
    node = server.settings[name].node if name in server.settings else None
    return node or server.node
