"""The exporter's configuration file (YAML): modules, local sources, allow-list, limits.

Invariants:
- ``parse_config`` is pure (text in, ``ExporterConfig`` out) and checks everything before the
  exporter starts: an unknown key, a wrong type, an unknown TLS version or mode, a bad
  allow-list pattern raise ``InputError`` with one line that names the key path
  (``modules.on.timeout_seconds: ...``); nothing is guessed or silently ignored;
- passwords are never in the file itself: ``password_env: VAR`` or ``password_file: PATH``
  name where they are; the value is read only when the identity is loaded (``run``);
- names used as label values (modules, identities, local sources) are short identifiers
  (``NAME_RE``), so no label can carry a DN, a serial or a path of unbounded variety.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.model import InputError
from mtls_doctor.probe.model import MODES

#: the probe engine's modes plus the fronts that close without an answer (metrics.inferred_mode)
EXPORTER_MODES = tuple(m for m in MODES if m != "unknown") + ("on-444", "closes-444", "unknown")

#: module, identity and local source names (also label values): bounded, no spaces or DNs
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
TLS_VERSIONS = ("1.2", "1.3")
#: identities every module reports without configuration (the matrix always runs them)
BUILTIN_IDENTITIES = ("none", "throwaway")
DEFAULT_LISTEN = "127.0.0.1:9471"
MAX_TIMEOUT = 60.0


@dataclass(frozen=True)
class IdentityConfig:
    """A client certificate a module presents (public paths only; the key is read at use)."""

    name: str
    cert: str
    key: str | None = None  # default: the key is in the cert file
    chain: str | None = None
    pkcs12: str | None = None
    password_env: str | None = None
    password_file: str | None = None


@dataclass(frozen=True)
class Module:
    """How to probe a target: identities, names, trust, versions, time, expectation."""

    name: str
    identities: tuple[IdentityConfig, ...] = ()
    sni: str | None = None  # None: the target's host name (no SNI for an IP literal)
    no_sni: bool = False
    host_header: str | None = None
    path: str | None = None  # default: the target's path
    server_ca_file: str | None = None  # trust for the server certificate; None: system store
    insecure: bool = False  # the configured identities may go to an unverified server
    tls_versions: tuple[str, ...] = TLS_VERSIONS
    timeout_seconds: float = 3.0  # per step (connect, handshake, HTTP) of each attempt
    expected_mode: str | None = None
    #: the server's ssl_client_certificate file on disk (exporter on the nginx host): served
    #: names compared with it (nginx not reloaded, F1.1) and nginx's verify code offline
    client_ca_file: str | None = None
    verify_depth: int = 1


@dataclass(frozen=True)
class LocalSource:
    name: str
    path: str
    kind: str  # "ca", "crl", "client", "server"


@dataclass(frozen=True)
class ExporterConfig:
    modules: dict[str, Module] = field(default_factory=dict)
    local: tuple[LocalSource, ...] = ()
    nginx_config: str | None = None  # the local nginx's main file: the files it names
    allow_targets: tuple[str, ...] | None = None  # None: any target
    max_concurrent_probes: int = 8
    probe_deadline_seconds: float = 30.0  # one /probe request at most (or the scrape timeout)

    def allowed(self, host: str, port: int) -> bool:
        """Whether ``host:port`` matches the allow-list (glob patterns; case-insensitive)."""
        if self.allow_targets is None:
            return True
        subject = f"{host.lower().rstrip('.')}:{port}"
        return any(fnmatch.fnmatchcase(subject, p.lower()) for p in self.allow_targets)


# --- validation -------------------------------------------------------------------------------

_MODULE_KEYS = {"identities", "sni", "no_sni", "host_header", "path", "server_ca_file",
                "insecure", "tls_versions", "timeout_seconds", "expected_mode",
                "client_ca_file", "verify_depth"}
_IDENTITY_KEYS = {"name", "cert", "key", "chain", "pkcs12", "password_env", "password_file"}
_TOP_KEYS = {"modules", "local", "allow_targets", "max_concurrent_probes",
             "probe_deadline_seconds"}
_LOCAL_KINDS = {"ca_files": "ca", "crls": "crl", "client_certs": "client",
                "server_certs": "server"}


def _fail(where: str, message: str) -> InputError:
    return InputError(f"{where}: {message}")


def _mapping(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, f"expected a mapping, got {type(value).__name__}")
    unknown = sorted(str(k) for k in value if k not in keys)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")
    return dict(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _fail(where, "expected a non-empty string")
    return value


def _opt_str(data: dict, key: str, where: str) -> str | None:
    return None if data.get(key) is None else _str(data[key], f"{where}.{key}")


def _bool(data: dict, key: str, where: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise _fail(f"{where}.{key}", "expected true or false")
    return value


def _number(data: dict, key: str, where: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _fail(f"{where}.{key}", f"expected a number from {low:g} to {high:g}")
    return float(value)


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise _fail(where, f"{value!r} is not a name (letters, digits, _ . -; at most 63)")
    return value


def _identity(raw: Any, where: str) -> IdentityConfig:
    data = _mapping(raw, where, _IDENTITY_KEYS)
    name = _name(data.get("name"), f"{where}.name")
    if name in BUILTIN_IDENTITIES:
        raise _fail(f"{where}.name", f"{name!r} is reserved (built-in identities: "
                    f"{', '.join(BUILTIN_IDENTITIES)})")
    cert, p12 = _opt_str(data, "cert", where), _opt_str(data, "pkcs12", where)
    if (cert is None) == (p12 is None):
        raise _fail(where, "give exactly one of cert (with key) or pkcs12")
    if data.get("password_env") is not None and data.get("password_file") is not None:
        raise _fail(where, "give at most one of password_env or password_file")
    return IdentityConfig(
        name=name, cert=cert or p12 or "", key=_opt_str(data, "key", where),
        chain=_opt_str(data, "chain", where), pkcs12=p12,
        password_env=_opt_str(data, "password_env", where),
        password_file=_opt_str(data, "password_file", where),
    )


def _module(name: str, raw: Any) -> Module:
    where = f"modules.{name}"
    data = _mapping(raw if raw is not None else {}, where, _MODULE_KEYS)
    identities_raw = data.get("identities", [])
    if not isinstance(identities_raw, list):
        raise _fail(f"{where}.identities", "expected a list")
    identities = tuple(_identity(r, f"{where}.identities[{i}]")
                       for i, r in enumerate(identities_raw))
    names = [i.name for i in identities]
    if len(set(names)) != len(names):
        raise _fail(f"{where}.identities", "two identities have the same name")
    versions = data.get("tls_versions", list(TLS_VERSIONS))
    if (not isinstance(versions, list) or not versions
            or any(str(v) not in TLS_VERSIONS for v in versions)):
        raise _fail(f"{where}.tls_versions", "expected a list of \"1.2\" and/or \"1.3\"")
    expected = data.get("expected_mode")
    if expected is not None and expected not in EXPORTER_MODES:
        raise _fail(f"{where}.expected_mode", f"{expected!r} is not one of {', '.join(EXPORTER_MODES)}")
    no_sni = _bool(data, "no_sni", where, False)
    if no_sni and data.get("sni") is not None:
        raise _fail(where, "sni and no_sni: true exclude each other")
    path = _opt_str(data, "path", where)
    if path is not None and not path.startswith("/"):
        raise _fail(f"{where}.path", "must start with /")
    depth = data.get("verify_depth", 1)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= 100:
        raise _fail(f"{where}.verify_depth", "expected an integer from 0 to 100")
    return Module(
        name=name, identities=identities, sni=_opt_str(data, "sni", where), no_sni=no_sni,
        host_header=_opt_str(data, "host_header", where), path=path,
        server_ca_file=_opt_str(data, "server_ca_file", where),
        insecure=_bool(data, "insecure", where, False),
        tls_versions=tuple(dict.fromkeys(str(v) for v in versions)),
        timeout_seconds=_number(data, "timeout_seconds", where, 3.0, 0.1, MAX_TIMEOUT),
        expected_mode=expected, client_ca_file=_opt_str(data, "client_ca_file", where),
        verify_depth=depth,
    )


def _local(raw: Any) -> tuple[tuple[LocalSource, ...], str | None]:
    data = _mapping(raw if raw is not None else {}, "local", set(_LOCAL_KINDS) | {"nginx_config"})
    sources: list[LocalSource] = []
    for key, kind in _LOCAL_KINDS.items():
        entries = _mapping(data.get(key) or {}, f"local.{key}", set(data.get(key) or {}))
        for name, path in entries.items():
            sources.append(LocalSource(_name(name, f"local.{key}"),
                                       _str(path, f"local.{key}.{name}"), kind))
    names = [s.name for s in sources]
    if len(set(names)) != len(names):
        raise _fail("local", "two local sources have the same name")
    return tuple(sources), _opt_str(data, "nginx_config", "local")


def _allow(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw:
        raise _fail("allow_targets", "expected a non-empty list of host:port patterns")
    patterns = []
    for i, p in enumerate(raw):
        p = _str(p, f"allow_targets[{i}]")
        if ":" not in p or p.startswith(":"):
            raise _fail(f"allow_targets[{i}]", f"{p!r} is not host:port (globs: *.example.com:443, "
                        "127.0.0.1:*)")
        patterns.append(p)
    return tuple(patterns)


def parse_config(text: str, source: str = "config") -> ExporterConfig:
    """Validate the YAML text of an exporter configuration (``InputError`` with one line)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        raw = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"{where}: not valid YAML: {problem}") from None
    try:
        data = _mapping(raw if raw is not None else {}, "config", _TOP_KEYS)
        modules_raw = _mapping(data.get("modules") or {}, "modules", set(data.get("modules") or {}))
        if not modules_raw:
            raise _fail("modules", "no module defined")
        modules = {_name(k, "modules"): _module(k, v) for k, v in modules_raw.items()}
        local, nginx_config = _local(data.get("local"))
        concurrency = data.get("max_concurrent_probes", 8)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
            raise _fail("max_concurrent_probes", "expected an integer from 1 to 256")
        return ExporterConfig(
            modules=modules, local=local, nginx_config=nginx_config,
            allow_targets=_allow(data.get("allow_targets")),
            max_concurrent_probes=concurrency,
            probe_deadline_seconds=_number(data, "probe_deadline_seconds", "config", 30.0, 1.0, 600.0),
        )
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) of ``--listen``; InputError with one line."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host, int(port)
