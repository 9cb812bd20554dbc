"""The exporter's I/O: one probe of a target with a module, and the local sources.

Invariants:
- the only network code used is ``probe.matrix.run_matrix`` and ``probe.handshake.attempt``
  (the probe engine's public functions); files are read with ``pki.load.load_path`` and
  ``probe.identity.load_identity`` (bounded readers, keys never kept beyond the handshake);
- every failure is data in the returned ``ProbeOutcome`` / ``LocalFacts`` (``error``), never
  an exception: a scrape always gets metrics;
- nothing here returns, logs or prints key material or passwords; errors name paths only.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, replace
from typing import Any

from mtls_doctor.exporter.config import ExporterConfig, IdentityConfig, LocalSource, Module
from mtls_doctor.model import InputError
from mtls_doctor.probe.model import Attempt, AttemptSpec, CertKind, ProbeResult
from mtls_doctor.probe.target import Target


@dataclass(frozen=True)
class IdentityOutcome:
    """What one identity got from the target (built-in ``none``/``throwaway`` included)."""

    name: str
    attempt: Attempt | None  # None: not run (error says why)
    not_after: dt.datetime | None = None  # the identity's own certificate (configured only)
    offline: Any = None  # probe.offline.OfflineVerdict with the module's client_ca_file
    error: str | None = None


@dataclass(frozen=True)
class ProbeOutcome:
    module: Module
    target: Target
    at: dt.datetime
    duration_seconds: float
    result: ProbeResult | None = None
    identities: tuple[IdentityOutcome, ...] = ()
    #: the names nginx would advertise for the module's client_ca_file on disk (F1.1)
    disk_ca_names: tuple[str, ...] | None = None
    disk_error: str | None = None
    error: str | None = None


def _password(identity: IdentityConfig) -> bytes | None:
    if identity.password_env:
        value = os.environ.get(identity.password_env)
        if value is None:
            raise InputError(f"identity {identity.name}: ${identity.password_env} is not set")
        return value.encode()
    if identity.password_file:
        from mtls_doctor.inputs import read_bytes

        return read_bytes(identity.password_file, limit=4096, what="password file",
                          pipe=False).rstrip(b"\r\n")
    return None


def load_identity(identity: IdentityConfig):
    from mtls_doctor.probe.identity import load_identity as load

    password = _password(identity)
    if identity.pkcs12:
        return load(pkcs12=identity.pkcs12, password=password)
    return load(cert=identity.cert, key=identity.key, chain=identity.chain, password=password)


def _disk_names(path: str) -> tuple[tuple[str, ...] | None, tuple[Any, ...], str | None]:
    from mtls_doctor.pki.facts import advertised_ca_names
    from mtls_doctor.pki.load import load_path

    try:
        bundle = load_path(path, pipe=False)
    except InputError as exc:
        return None, (), str(exc)
    if not bundle.certificates:
        return None, (), f"{path}: no certificate in the file"
    return tuple(advertised_ca_names(bundle.certificates)), bundle.certificates, None


def probe_version(result: ProbeResult, module: Module) -> str | None:
    """The first of the module's TLS versions whose baseline completed a handshake."""
    for version in module.tls_versions:
        for a in result.attempts:
            if (a.spec.tls == version and a.spec.cert is CertKind.NONE
                    and a.spec.sni == result.primary_sni and a.handshake_done):
                return version
    return None


def _builtin(result: ProbeResult, version: str | None) -> list[IdentityOutcome]:
    out = []
    for name, kind in (("none", CertKind.NONE), ("throwaway", CertKind.SELF_SIGNED)):
        found = next((a for a in result.attempts if a.spec.cert is kind
                      and a.spec.sni == result.primary_sni and a.spec.tls == version), None)
        out.append(IdentityOutcome(name=name, attempt=found,
                                   error=None if found else "not run (no handshake)"))
    return out


def _configured(config, result: ProbeResult, module: Module, version: str | None,
                client_ca: tuple[Any, ...], at: dt.datetime) -> list[IdentityOutcome]:
    from mtls_doctor.probe.handshake import attempt
    from mtls_doctor.probe.model import primary_request
    from mtls_doctor.probe.offline import offline_verdict

    out = []
    request = primary_request(result)
    mode = result.primary.mode if result.primary else "unknown"
    for spec in module.identities:
        try:
            identity = load_identity(spec)
        except InputError as exc:
            out.append(IdentityOutcome(name=spec.name, attempt=None, error=str(exc)))
            continue
        not_after = identity.cert.not_valid_after_utc
        offline = None
        if client_ca and request is not None:
            offline = offline_verdict(identity.cert, identity.chain, client_ca, request.ca_names,
                                      mode, at, module.verify_depth)
        if version is None:
            out.append(IdentityOutcome(name=spec.name, attempt=None, not_after=not_after,
                                       offline=offline, error="not run (no handshake)"))
            continue
        seen = attempt(config, AttemptSpec(CertKind.USER, result.primary_sni, version), identity)
        out.append(IdentityOutcome(name=spec.name, attempt=seen, not_after=not_after,
                                   offline=offline))
    return out


def probe(target: Target, module: Module) -> ProbeOutcome:
    """Probe ``target`` as ``module`` says (bounded: every step has the module's timeout)."""
    from mtls_doctor.probe.handshake import ProbeConfig
    from mtls_doctor.probe.matrix import run_matrix

    start = time.monotonic()
    at = dt.datetime.now(dt.timezone.utc)
    name = module.sni or (None if target.is_ip else target.host)
    primary = None if module.no_sni else name
    config = ProbeConfig(host=target.host, port=target.port, path=module.path or target.path,
                         host_header=module.host_header, timeout=module.timeout_seconds,
                         ca_file=module.server_ca_file, insecure=module.insecure,
                         verify_name=name or target.host,
                         # tls:// (stream) and mail targets answer without HTTP (probe.starttls)
                         protocol=target.protocol, starttls=target.starttls)
    disk_names, client_ca, disk_error = (None, (), None)
    if module.client_ca_file:
        disk_names, client_ca, disk_error = _disk_names(module.client_ca_file)
    try:
        tls = module.tls_versions[0] if len(module.tls_versions) == 1 else None
        result = run_matrix(config, primary, other_sni=False, tls=tls, at=at, legacy=False,
                            workers=2)
        version = probe_version(result, module)
        identities = _builtin(result, version) + _configured(
            replace(config), result, module, version, client_ca, at)
    except InputError as exc:  # a file the module names (trust store) is unusable
        return ProbeOutcome(module=module, target=target, at=at,
                            duration_seconds=time.monotonic() - start, error=str(exc),
                            disk_ca_names=disk_names, disk_error=disk_error)
    return ProbeOutcome(module=module, target=target, at=at,
                        duration_seconds=time.monotonic() - start, result=result,
                        identities=tuple(identities), disk_ca_names=disk_names,
                        disk_error=disk_error)


# --- local sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalFacts:
    """What one local file holds (public facts only)."""

    source: LocalSource
    ok: bool
    certificates: int = 0
    earliest_not_after: dt.datetime | None = None
    ca_names: tuple[str, ...] = ()
    crl_next_update: dt.datetime | None = None  # the earliest nextUpdate of its CRLs
    crl_last_update: dt.datetime | None = None
    error: str | None = None


#: nginx directives whose file is a local source, and the kind it is (F1.1, F6.1)
NGINX_FILE_DIRECTIVES = {"ssl_client_certificate": "ca", "ssl_trusted_certificate": "ca",
                         "ssl_crl": "crl", "ssl_certificate": "server"}


def nginx_sources(main: str) -> tuple[tuple[LocalSource, ...], str | None]:
    """The files the local nginx's configuration names (``source`` = the resolved path)."""
    from mtls_doctor.nginx.parse import load_path

    try:
        config = load_path(main)
    except InputError as exc:
        return (), str(exc)
    seen: dict[str, LocalSource] = {}
    for node in config.walk():
        kind = NGINX_FILE_DIRECTIVES.get(node.name)
        if kind and node.args and "$" not in node.args[0] and not node.args[0].startswith("data:"):
            path = config.resolve(node.args[0])
            seen.setdefault(f"{kind}:{path}", LocalSource(name=path, path=path, kind=kind))
    return tuple(seen.values()), None


def local_facts(source: LocalSource) -> LocalFacts:
    from mtls_doctor.pki.facts import advertised_ca_names, crl_times
    from mtls_doctor.pki.load import load_path

    try:
        bundle = load_path(source.path, pipe=False)
    except InputError as exc:
        return LocalFacts(source=source, ok=False, error=str(exc))
    certs = bundle.certificates
    earliest = min((c.not_valid_after_utc for c in certs), default=None)
    nexts, lasts = [], []
    for crl in bundle.crls:
        last, nxt = crl_times(crl)
        lasts.append(last)
        if nxt is not None:
            nexts.append(nxt)
    wanted = bool(bundle.crls) if source.kind == "crl" else bool(certs)
    return LocalFacts(
        source=source, ok=wanted, certificates=len(certs), earliest_not_after=earliest,
        ca_names=tuple(advertised_ca_names(certs)) if source.kind == "ca" else (),
        crl_next_update=min(nexts, default=None), crl_last_update=max(lasts, default=None),
        error=None if wanted else f"{source.path}: no {'CRL' if source.kind == 'crl' else 'certificate'} in the file",
    )


def all_local_facts(config: ExporterConfig) -> tuple[tuple[LocalFacts, ...], bool | None]:
    """Facts of every configured file and of the files the nginx config names; the second
    value says whether the nginx configuration parsed (None: none configured)."""
    sources = list(config.local)
    nginx_ok = None
    if config.nginx_config:
        found, error = nginx_sources(config.nginx_config)
        nginx_ok = error is None
        sources.extend(found)
    return tuple(local_facts(s) for s in sources), nginx_ok
