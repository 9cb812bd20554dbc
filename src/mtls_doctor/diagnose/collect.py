"""Collect the evidence ``diagnose`` joins: the I/O orchestration of the diagnose package.

Invariants of this module (with ``probing`` for the live probes and ``logtail`` for the logs):
- every subprocess (``nginx -V``, ``nginx -T``) has a timeout and no stdin; when ``nginx -T``
  fails, its own words become log evidence (e.g. F1.5) and the configuration is read from disk;
- it reuses the other capabilities' public functions (nginx parse/effective/lint, pki load and
  verify, probe attempts and rules, logs summary and rules) and re-implements none of them;
- the user's certificate is judged offline against every verifying server's trust settings
  (``pki.verify.verify_client``), and again at a large depth when it fails with 2/20/22, which
  tells "chain too deep" from "untrusted" (F3.3); with ``ssl_ocsp`` on/leaf in that server,
  nginx's OCSP verdict is put on top as ``verify --config`` does (``cli.verify._with_ocsp``,
  ``pki.ocsp``: the responders nginx would ask are asked, unless ``--no-probe``);
- the certificate is sent to the LOCAL nginx whose configuration was read even when its server
  certificate does not verify (it is the user's own server); to a ``--url`` target only with
  ``--insecure`` (the probe's safety rule);
- problems that do not stop the diagnosis become ``notes``; unusable input raises
  ``InputError`` (one line, exit 2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mtls_doctor.diagnose.evidence import Evidence, NginxInfo, VerifyEvidence
from mtls_doctor.diagnose.logtail import log_paths, read_logs, tail_lines
from mtls_doctor.diagnose.probing import PROBE_MARK, PROBE_PATH, local_probes, remote_probes, target_probes
from mtls_doctor.diagnose.probing import probe_findings as probe_findings_of
from mtls_doctor.model import InputError
from mtls_doctor.nginx.local import run_nginx as _run

DEEP = 16  # the depth used to tell "too deep" from "untrusted" (F3.3)


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
    password: bytes | None = field(default=None, repr=False)  # of an encrypted --key
    sni: str | None = None  # --sni: the name the user's client sends
    no_sni: bool = False  # --no-sni: the user's client sends none
    host: str | None = None  # --host: the Host header the user's client sends
    symptoms: tuple[str, ...] = ()  # --symptom, as given (signals.parse_symptom)
    pid: int | None = None  # --pid: the running nginx master to diagnose
    nginx_version: str | None = None  # --nginx-version: judge for it (default: nginx -V's)
    openssl_version: str | None = None  # --openssl-version: predict verify codes/texts for it


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
    """The interesting parts of ``nginx -V`` (stderr) output (``nginx.local.parse_nginx_V``)."""
    from mtls_doctor.nginx.local import parse_nginx_V

    fields = parse_nginx_V(text)
    prefix = re.search(r"--prefix=(\S+)", text)
    built = fields["built_with"]
    running = fields["running_with"] if fields["running_with"] != built else None
    return NginxInfo(binary, fields["version"], built, running, prefix.group(1) if prefix else None)


def nginx_info(binary: str) -> NginxInfo:
    done = _run([binary, "-V"])
    if done is None:
        return NginxInfo(binary)
    return parse_nginx_v(binary, done.stderr + done.stdout)


def load_config(opts: Options, binary: str | None, notes: list[str],
                test_output: list[str] | None = None, running: list | None = None) -> Any:
    """The configuration: ``--config``, else ``nginx -T`` of the running master (``--pid``, or the
    only one: its ``-c``/``-p``/``-g``, put in ``running``), else of the nginx found (None: none).
    When ``nginx -T`` fails, its stderr lines go to ``test_output`` (nginx's own words about the
    configuration, e.g. ``[emerg] no ssl_client_certificate for ssl_verify_client``, F1.5)."""
    from mtls_doctor.nginx.parse import load_path, parse_dump

    if opts.config:
        if os.path.isdir(opts.config):
            path = os.path.join(opts.config, "nginx.conf")
            if not os.path.isfile(path):
                raise InputError(f"--config {opts.config}: a directory without nginx.conf")
            return load_path(path)
        if os.path.exists(opts.config) and not os.path.isfile(opts.config):
            raise InputError(f"--config {opts.config}: not a regular file")  # a device: endless
        return load_path(opts.config)
    if binary is None or opts.url:
        return None
    from mtls_doctor.diagnose.discover import choose, running_masters

    chosen, why = choose(running_masters(), opts.pid)
    if opts.pid is not None and chosen is None:
        raise InputError(f"--pid {opts.pid}: {why}")
    extra: list[str] = []
    if chosen is not None:
        extra = chosen.args()
        if os.path.isabs(chosen.binary) and os.path.exists(chosen.binary):
            binary = chosen.binary
        notes.append(f"diagnosing the running nginx {chosen.describe()} ({why})")
        if running is not None:
            running.append(chosen)  # its -p is where relative log paths resolve
    elif "choose one" in why:
        notes.append(why + f"; read `{binary} -T` instead")
    done = _run([binary, "-T", *extra])
    if done is not None and done.returncode == 0 and "# configuration file" in done.stdout:
        return parse_dump(done.stdout)
    why = (done.stderr.strip().splitlines() or ["no output"])[-1] if done is not None else "did not run"
    if done is not None and "Permission denied" in done.stderr:
        notes.append("`nginx -T` needs the rights nginx runs with (keys, logs): run diagnose with sudo")
    elif done is not None and test_output is not None:
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
    masters: list = []
    config = load_config(opts, binary, notes, test_output, masters)
    if masters and masters[0].prefix and info is not None:
        from dataclasses import replace as _replace

        info = _replace(info, prefix=masters[0].prefix)
    eff = files = None
    lint: tuple = ()
    if config is not None:
        eff = effective(config)
        files = load_named_files(eff)
        version = None
        wanted = opts.nginx_version or (info.version if info is not None else None)
        if wanted:
            try:
                version = parse_version(wanted)
            except InputError:
                version = None
        lint = lint_config(config, opts.at, version, files).findings
    from mtls_doctor.diagnose.signals import parse_symptom
    from mtls_doctor.diagnose.target import resolve_target

    symptoms = tuple(parse_symptom(s) for s in opts.symptoms)
    target = resolve_target(eff, url=opts.url, sni=opts.sni, no_sni=opts.no_sni, host=opts.host,
                            server_names=opts.server_names)
    probes: list = []
    if opts.probe and eff is not None and not opts.url:
        probes += local_probes(eff, opts, identity)
        if target.sni_known and not any(p.sni == target.sni and p.host_header in (target.host, None)
                                        for p in probes):
            probes += target_probes(eff, opts, identity, target)
    if opts.probe and opts.url:
        probes += remote_probes(opts, identity, eff, target)
    probe_findings = probe_findings_of(probes, opts.at, identity)
    logs, log_findings = read_logs(opts, config, eff, info, notes, test_output)
    verifies = _verify(eff, files or {}, client, client_chain_sent, opts,
                       _engine(binary, opts, notes), version if config is not None else None,
                       notes) if client else ()
    return Evidence(
        at=opts.at, nginx=info, config=config, eff=eff, files=files or {}, lint=tuple(lint),
        probes=tuple(probes), probe_findings=probe_findings, logs=logs,
        log_findings=log_findings, verifies=tuple(verifies), client=client,
        client_source=opts.cert, notes=tuple(notes), target=target, symptoms=symptoms,
        roles=file_roles(eff))


def file_roles(eff: Any) -> dict[str, str]:
    """Resolved path -> "server" (ssl_certificate, _key) or "ca" (client CA, CRL files)."""
    if eff is None:
        return {}
    out: dict[str, str] = {}
    for server in eff.servers:
        for name in ("ssl_certificate", "ssl_certificate_key"):
            for node in server.arrays.get(name, ()) or ():
                if node.args:
                    out.setdefault(eff.config.resolve(node.args[0]), "server")
        for name in ("ssl_client_certificate", "ssl_trusted_certificate", "ssl_crl"):
            setting = server.settings[name]
            if setting.node is not None and setting.args:
                out.setdefault(eff.config.resolve(setting.args[0]), "ca")
    return out


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
    identity = load_identity(cert=opts.cert, key=opts.key, chain=opts.chain,
                             password=opts.password)
    certs = (identity.cert, *identity.chain)
    return certs, len(identity.chain), identity


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


def _engine(binary: str | None, opts: Options, notes: list[str]) -> dict:
    """Verifier arguments that predict for the nginx diagnosed (``nginx.target``): the libcrypto
    it loads, or --openssl-version; this machine's library when neither is known."""
    from mtls_doctor.nginx.target import resolve

    if binary is None:
        return {"openssl_version": opts.openssl_version} if opts.openssl_version else {}
    try:
        target = resolve(binary, opts.nginx_version, opts.openssl_version)
    except InputError:
        return {}
    kwargs, why = target.verifier_args()
    notes.extend(why)
    return kwargs


def _verify(eff: Any, files: dict, client: tuple, chain_sent: int, opts: Options,
            engine: dict | None = None, version: Any = None,
            notes: list[str] | None = None) -> list[VerifyEvidence]:
    from dataclasses import replace

    from mtls_doctor.pki.verify import Verifier, verify_client

    engine = engine or {}
    notes = notes if notes is not None else []

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
        ocsp = _ocsp_of(server, version, opts, notes)
        if ocsp is None:
            result = verify_client(leaf, chain, trust, opts.at, **engine)
        else:
            from mtls_doctor.cli.verify import _with_ocsp

            with Verifier(trust, keep_chain=True, **engine) as verifier:
                result = verifier.verify(leaf, chain, opts.at)
            resolver = " ".join(server.get("resolver").args) or None
            result = _with_ocsp(result, ocsp, None, opts.at, resolver)
        deeper = None
        if result.error_code in (2, 20, 22):
            deeper = verify_client(leaf, chain, replace(trust, verify_depth=DEEP), opts.at, **engine)
        if server.kind != "http":
            # a stream server answers without HTTP: closed after the handshake (pki.serverkind)
            from mtls_doctor.pki.serverkind import for_kind

            result = for_kind(result, server.kind)
            deeper = for_kind(deeper, server.kind) if deeper is not None else None
        out.append(VerifyEvidence(server, result, deeper, chain_sent))
    return out


def _ocsp_of(server: Any, version: Any, opts: Options, notes: list[str]) -> Any:
    """``server``'s ssl_ocsp settings (``pki.ocsp.OcspSettings``) as ``verify --config`` reads
    them (``cli.verify._ocsp_settings``: version gates, refusals as notes), or None: off, a
    configuration nginx refuses (said in a note; lint names it), or --no-probe (the responder
    is not asked; said in a note)."""
    from types import SimpleNamespace

    from mtls_doctor.cli.verify import _ocsp_settings

    mode = server.get("ssl_ocsp").value or "off"
    if mode not in ("on", "leaf"):
        return None
    if not opts.probe:
        notes.append(f"{server.label} has ssl_ocsp {mode}: the OCSP responder was not asked "
                     "(--no-probe), so the offline verdict on your certificate leaves OCSP out (F6.2)")
        return None
    responder = server.get("ssl_ocsp_responder").args
    from mtls_doctor.cli.verify import _directive

    cache = _directive(server, "ssl_ocsp_cache")
    resolver = " ".join(server.get("resolver").args) or None
    said: list[str] = []
    try:
        settings = _ocsp_settings(mode, responder[0] if responder else None, resolver,
                                  " ".join(cache) if cache else None, server.verify, server.kind,
                                  SimpleNamespace(nginx_version=version), said)
    except InputError as exc:
        said.append(f"{exc}; judged without OCSP")
        settings = None
    notes.extend(f"{server.label}: {n}" for n in said)
    return settings


__all__ = ["Options", "collect", "find_binary", "nginx_info", "parse_nginx_v", "load_config",
           "log_paths", "tail_lines", "trust_of", "PROBE_MARK", "PROBE_PATH"]
