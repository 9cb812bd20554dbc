"""Collect the evidence ``diagnose`` joins: the only I/O of the diagnose package.

Invariants of this module:
- every subprocess (``nginx -V``, ``nginx -T``) has a timeout and no stdin; every probe step has
  ``timeout`` seconds (``probe.handshake``); logs are read from their END, at most
  ``MAX_LOG_BYTES`` per file, so a huge or growing log costs bounded time and memory;
- it reuses the other capabilities' public functions (nginx parse/effective/lint, pki load and
  verify, probe attempts, logs summary) and re-implements none of them;
- local probes go to loopback: ``*:443`` / ``0.0.0.0:443`` -> 127.0.0.1, ``[::]:443`` -> ::1; a
  specific address is probed as is (nginx listens there). The probe requests carry the marker
  ``PROBE_MARK`` in their path, and error-log lines with it are left out, so the diagnosis does
  not count its own probes as client failures;
- the user's certificate is sent to the LOCAL nginx whose configuration was read even when its
  server certificate does not verify (it is the user's own server); to a ``--url`` target only
  with ``--insecure`` (the probe's safety rule);
- problems that do not stop the diagnosis (nginx -T failed, a log unreadable) become ``notes``;
  unusable input raises ``InputError`` (one line, exit 2).
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mtls_doctor.diagnose.evidence import Evidence, LogEvidence, NginxInfo, ProbeEvidence, VerifyEvidence
from mtls_doctor.model import InputError

NGINX_TIMEOUT = 20.0
MAX_LOG_BYTES = 4 * 1024 * 1024
PROBE_MARK = "mtls-doctor=diagnose"
PROBE_PATH = "/?" + PROBE_MARK
DEEP = 16
_LEVEL = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\]")  # the depth used to tell "too deep" from "untrusted" (F3.3)


@dataclass(frozen=True)
class Options:
    at: datetime
    config: str | None = None
    url: str | None = None
    cert: str | None = None
    key: str | None = None
    chain: str | None = None
    logs: tuple[str, ...] = ()
    server_names: tuple[str, ...] = ()
    ca_file: str | None = None
    insecure: bool = False
    nginx: str | None = None
    timeout: float = 3.0
    probe: bool = True


def _run(args: list[str]) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=NGINX_TIMEOUT,
                              stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None


def find_binary(explicit: str | None) -> str | None:
    """The nginx binary (``--nginx`` must exist; otherwise PATH, /usr/sbin, ...; None if none)."""
    from mtls_doctor.lab.nginx import NginxNotFound, find_nginx

    try:
        return find_nginx(explicit)
    except NginxNotFound as exc:
        if explicit:
            raise InputError(str(exc)) from None
        return None


def parse_nginx_v(binary: str, text: str) -> NginxInfo:
    """The interesting parts of ``nginx -V`` (stderr) output."""
    version = re.search(r"nginx version: \S*?/(\d+\.\d+(?:\.\d+)?)", text)
    built = re.search(r"built with (OpenSSL [^\n(]+?)(?: \(running with (OpenSSL [^)]+)\))?\s*$", text, re.M)
    running = re.search(r"running with (OpenSSL [^)\n]+)", text)
    prefix = re.search(r"--prefix=(\S+)", text)
    return NginxInfo(binary, version.group(1) if version else None,
                     built.group(1).strip() if built else None,
                     running.group(1).strip() if running else None,
                     prefix.group(1) if prefix else None)


def nginx_info(binary: str) -> NginxInfo:
    done = _run([binary, "-V"])
    if done is None:
        return NginxInfo(binary)
    return parse_nginx_v(binary, done.stderr + done.stdout)


def load_config(opts: Options, binary: str | None, notes: list[str],
                test_output: list[str] | None = None) -> Any:
    """The configuration: ``--config``, else ``nginx -T`` of the nginx found (None: none).
    When ``nginx -T`` fails, its stderr lines go to ``test_output`` (nginx's own words about the
    configuration, e.g. ``[emerg] no ssl_client_certificate for ssl_verify_client``, F1.5)."""
    from mtls_doctor.nginx.parse import load_path, parse_dump

    if opts.config:
        if os.path.isdir(opts.config):
            path = os.path.join(opts.config, "nginx.conf")
            if not os.path.isfile(path):
                raise InputError(f"--config {opts.config}: a directory without nginx.conf")
            return load_path(path)
        return load_path(opts.config)
    if binary is None or opts.url:
        return None
    done = _run([binary, "-T"])
    if done is not None and done.returncode == 0 and "# configuration file" in done.stdout:
        return parse_dump(done.stdout)
    why = (done.stderr.strip().splitlines() or ["no output"])[-1] if done is not None else "did not run"
    if done is not None and test_output is not None:
        test_output.extend(done.stderr.splitlines()[:200])
    notes.append(f"`{binary} -T` failed ({why}); the configuration was read from disk instead")
    if os.path.isfile("/etc/nginx/nginx.conf"):
        return load_path("/etc/nginx/nginx.conf")
    notes.append("no configuration found: diagnosing from the other evidence only")
    return None


def collect(opts: Options) -> Evidence:
    """Gather every piece of evidence the options allow (I/O), ready for ``core.diagnose``."""
    from mtls_doctor.nginx.effective import effective
    from mtls_doctor.nginx.lint import lint_config, load_named_files
    from mtls_doctor.nginx.version import parse_version

    notes: list[str] = []
    binary = find_binary(opts.nginx)
    if binary is None and not (opts.config or opts.url or opts.logs):
        raise InputError("nginx not found (not on PATH, not in /usr/sbin) and no --config, --url or "
                         "--log given: nothing to diagnose")
    info = nginx_info(binary) if binary else None
    client, client_chain_sent, identity = _client(opts)
    test_output: list[str] = []
    config = load_config(opts, binary, notes, test_output)
    eff = files = None
    lint: tuple = ()
    if config is not None:
        eff = effective(config)
        files = load_named_files(eff)
        version = None
        if info is not None and info.version:
            try:
                version = parse_version(info.version)
            except InputError:
                version = None
        lint = lint_config(config, opts.at, version, files).findings
    probes: list[ProbeEvidence] = []
    if opts.probe and eff is not None and not opts.url:
        probes += _local_probes(eff, opts, identity)
    if opts.probe and opts.url:
        probes += _remote_probes(opts, identity)
    probe_findings = _probe_findings(probes, opts.at, identity)
    logs, log_findings = _logs(opts, config, eff, info, notes, test_output)
    verifies = _verify(eff, files or {}, client, client_chain_sent, opts) if client else ()
    return Evidence(
        at=opts.at, nginx=info, config=config, eff=eff, files=files or {}, lint=tuple(lint),
        probes=tuple(probes), probe_findings=probe_findings, logs=logs,
        log_findings=log_findings, verifies=tuple(verifies), client=client,
        client_source=opts.cert, notes=tuple(notes))


# --- the user's certificate -----------------------------------------------------------------


def _client(opts: Options) -> tuple[tuple[Any, ...], int, Any]:
    from mtls_doctor.probe.identity import load_identity

    if opts.key and not opts.cert:
        raise InputError("--key needs --cert")
    if opts.chain and not opts.cert:
        raise InputError("--chain needs --cert")
    if not opts.cert:
        return (), 0, None
    if not opts.key:
        identity = None  # a certificate alone can be judged offline, not sent
        from mtls_doctor.pki.load import load_path

        bundle = load_path(opts.cert)
        certs = list(bundle.certificates)
        if opts.chain:
            certs += list(load_path(opts.chain).certificates)
        if not certs:
            raise InputError(f"--cert {opts.cert}: no certificate in it")
        return tuple(certs), len(certs) - 1, None
    identity = load_identity(cert=opts.cert, key=opts.key, chain=opts.chain)
    certs = (identity.cert, *identity.chain)
    return certs, len(identity.chain), identity


# --- probes ----------------------------------------------------------------------------------


def _loopback(address: str) -> tuple[str, int] | None:
    if address.startswith("unix:"):
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    host = host.strip("[]")
    if host in ("*", "0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # a host name in listen: not probed (it may not be local)
    return host, int(port)


def _plain_names(server: Any) -> list[str]:
    out = []
    for name in server.names:
        if not name or name == "_" or name.startswith(("~", "*", ".")) or "*" in name or "$" in name:
            continue
        try:
            ipaddress.ip_address(name)
            continue  # an IP is never sent as SNI (RFC 6066)
        except ValueError:
            pass
        if name not in out:
            out.append(name)
    return out


def _attempts(host: str, port: int, sni: str | None, host_header: str | None, identity: Any,
              opts: Options, local: bool) -> tuple[Any, ...]:
    from mtls_doctor.probe.handshake import ProbeConfig, attempt
    from mtls_doctor.probe.model import AttemptSpec, CertKind

    config = ProbeConfig(host=host, port=port, path=PROBE_PATH, host_header=host_header,
                         timeout=opts.timeout, ca_file=opts.ca_file, insecure=opts.insecure,
                         send_cert_anyway=local, verify_name=sni or host_header or host)
    out = [attempt(config, AttemptSpec(CertKind.NONE, sni, "auto"))]
    if identity is not None and (out[0].handshake_done or out[0].certificate_request is not None):
        out.append(attempt(config, AttemptSpec(CertKind.USER, sni, "auto"), identity))
    return tuple(out)


def _local_probes(eff: Any, opts: Options, identity: Any) -> list[ProbeEvidence]:
    from mtls_doctor.nginx.effective import listen_groups

    out: list[ProbeEvidence] = []
    for address, servers in listen_groups(eff).items():
        tls = [s for s in servers if any(l.address == address and l.ssl for l in s.listens) or
               s.settings["ssl"].value == "on"]
        target = _loopback(address)
        if not tls or target is None:
            continue
        host, port = target
        default = eff.defaults.get(address)
        pairs: list[tuple[str, Any]] = []
        for server in tls:
            for name in _plain_names(server):
                if opts.server_names and name not in opts.server_names:
                    continue
                if all(n != name for n, _ in pairs):
                    pairs.append((name, server))
        unreachable = False
        for name, server in pairs:
            if unreachable:
                break
            with_sni = _attempts(host, port, name, name, identity, opts, True)
            out.append(ProbeEvidence(host, port, name, name, with_sni, address, server, server))
            if not (with_sni[0].handshake_done or with_sni[0].certificate_request is not None):
                unreachable = True  # nginx not listening there (not running, not reloaded)
                continue
            without = _attempts(host, port, None, name, identity, opts, True)
            out.append(ProbeEvidence(host, port, None, name, without, address, server, default))
        if not pairs:
            attempts = _attempts(host, port, None, None, identity, opts, True)
            out.append(ProbeEvidence(host, port, None, None, attempts, address, default, default))
    return out


def _remote_probes(opts: Options, identity: Any) -> list[ProbeEvidence]:
    from mtls_doctor.probe.target import parse_target

    target = parse_target(opts.url or "")
    name = opts.server_names[0] if opts.server_names else (None if target.is_ip else target.host)
    out = []
    if name:
        out.append(ProbeEvidence(target.host, target.port, name, name,
                                 _attempts(target.host, target.port, name, name, identity, opts, False)))
    out.append(ProbeEvidence(target.host, target.port, None, name,
                             _attempts(target.host, target.port, None, name, identity, opts, False)))
    return out


def _probe_findings(probes: list[ProbeEvidence], at: datetime, identity: Any) -> tuple:
    """The probe rules (MTLS5xx) over each endpoint's attempts, as ``probe`` would judge them."""
    from mtls_doctor.probe.matrix import infer
    from mtls_doctor.probe.model import ProbeResult
    from mtls_doctor.rules.probe import check

    by_endpoint: dict[tuple[str, int, str | None], list[ProbeEvidence]] = {}
    for p in probes:
        by_endpoint.setdefault((p.host, p.port, p.host_header), []).append(p)
    out: list = []
    for (host, port, _), group in by_endpoint.items():
        attempts = tuple(a for p in group for a in p.attempts)
        settings = [p.sni for p in group]
        result = ProbeResult(host=host, port=port, path=PROBE_PATH, primary_sni=settings[0],
                             attempts=attempts, inferences=tuple(infer(attempts, s) for s in settings),
                             at=at.isoformat(),
                             client=identity.summary() if identity is not None else None)
        for finding in check(result):
            if finding not in out:
                out.append(finding)
    return tuple(out)


# --- logs ------------------------------------------------------------------------------------


def log_paths(config: Any, eff: Any, info: NginxInfo | None) -> list[str]:
    """Every file ``error_log`` names (main, http, server, ...), resolved as nginx does."""
    if config is None:
        return []
    prefix = (info.prefix if info is not None and info.prefix else None) or config.prefix
    out: list[str] = []
    for node in config.walk():
        if node.name != "error_log" or not node.args:
            continue
        target = node.args[0]
        if target in ("stderr", "off") or target.startswith(("syslog:", "memory:")):
            continue
        path = target if os.path.isabs(target) else os.path.normpath(os.path.join(prefix, target))
        if path not in out:
            out.append(path)
    return out


def tail_lines(path: str, max_bytes: int = MAX_LOG_BYTES) -> list[str]:
    """The last ``max_bytes`` of a log, as whole lines (a .gz file: its first lines, bounded)."""
    from mtls_doctor.logs.read import iter_log_lines

    with open(path, "rb") as fh:
        head = fh.read(2)
        if head == b"\x1f\x8b":
            out, size = [], 0
            for line in iter_log_lines(path):
                size += len(line)
                if size > max_bytes:
                    break
                out.append(line)
            return out
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        start = max(0, end - max_bytes)
        fh.seek(start)
        data = fh.read(end - start)
    if start > 0:
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data.decode("utf-8", "replace").splitlines()


def _logs(opts: Options, config: Any, eff: Any, info: NginxInfo | None, notes: list[str],
          extra: list[str] | None = None, extra_source: str = "nginx -T"):
    from mtls_doctor.logs.summary import Summarizer
    from mtls_doctor.rules.logs import check

    paths = list(opts.logs) or log_paths(config, eff, info)
    if not paths and not extra:
        return None, ()
    summarizer = Summarizer()
    read: list[str] = []
    if extra:
        summarizer.start(extra_source)
        for number, text in enumerate(extra, 1):
            summarizer.feed(extra_source, number, text)
        read.append(extra_source)
    skipped = 0
    for path in paths:
        if opts.logs and not os.path.exists(path):
            raise InputError(f"--log {path}: no such file")
        try:
            lines = tail_lines(path)
        except (OSError, Exception) as exc:  # unreadable, permission, damaged gz: a note, not a crash
            if opts.logs and isinstance(exc, OSError) and not os.access(path, os.R_OK):
                raise InputError(f"--log {path}: not readable") from None
            notes.append(f"error log {path} not read: {getattr(exc, 'strerror', None) or exc}")
            continue
        summarizer.start(path)
        for number, text in enumerate(lines, 1):
            if PROBE_MARK in text:
                skipped += 1  # our own probe: keep only its level (F4.1: info lines exist)
                level = _LEVEL.match(text)
                if level:
                    summarizer.feed(path, number, level.group(0) + " mtls-doctor probe request")
                continue
            summarizer.feed(path, number, text)
        read.append(path)
    if not read:
        return None, ()
    summary = summarizer.result()
    return LogEvidence(summary, tuple(read), skipped), tuple(check(summary))


# --- offline verification of the user's certificate ----------------------------------------


def trust_of(server: Any, files: dict, config: Any) -> Any:
    """The server's trust settings as ``pki.verify.TrustSettings`` (None: files not loadable)."""
    from mtls_doctor.pki.verify import TrustSettings

    def certs(name: str) -> tuple:
        setting = server.settings[name]
        if setting.node is None or not setting.args:
            return ()
        loaded = files.get(config.resolve(setting.args[0]))
        if loaded is None or loaded.bundle is None:
            raise LookupError(name)
        return tuple(loaded.bundle.certificates)

    def crls() -> tuple:
        setting = server.settings["ssl_crl"]
        if setting.node is None or not setting.args:
            return ()
        loaded = files.get(config.resolve(setting.args[0]))
        if loaded is None or loaded.bundle is None:
            raise LookupError("ssl_crl")
        return tuple(loaded.bundle.crls)

    try:
        depth = int(server.settings["ssl_verify_depth"].value or 1)
        return TrustSettings(client_certificate=certs("ssl_client_certificate"),
                             trusted_certificate=certs("ssl_trusted_certificate"),
                             verify_depth=depth, crls=crls(), verify_client=server.verify)
    except (LookupError, ValueError):
        return None


def _verify(eff: Any, files: dict, client: tuple, chain_sent: int, opts: Options) -> list[VerifyEvidence]:
    from dataclasses import replace

    from mtls_doctor.pki.verify import verify_client

    if eff is None:
        return []
    out = []
    leaf, chain = client[0], list(client[1:])
    for server in eff.servers:
        if server.verify == "off" or not server.ssl:
            continue
        if opts.server_names and not set(opts.server_names) & set(server.names):
            continue
        trust = trust_of(server, files, eff.config)
        if trust is None:
            continue
        result = verify_client(leaf, chain, trust, opts.at)
        deeper = None
        if result.error_code in (2, 20, 22):
            deeper = verify_client(leaf, chain, replace(trust, verify_depth=DEEP), opts.at)
        out.append(VerifyEvidence(server, result, deeper, chain_sent))
    return out


__all__ = ["Options", "collect", "find_binary", "nginx_info", "parse_nginx_v", "load_config",
           "log_paths", "tail_lines", "trust_of", "PROBE_MARK", "PROBE_PATH"]
