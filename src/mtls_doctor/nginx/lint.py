"""``lint`` orchestration: parsed config -> effective servers -> rules -> Report.

``lint_config`` is pure (data in, Report out). ``load_named_files`` is the one step that reads
the certificate, key, CA and CRL files a configuration names, through the loaders
(``mtls_doctor.pki.load.load_path``); the CLI calls it. Inline suppressions:
``# mtls-doctor: ignore`` or ``# mtls-doctor: ignore[MTLS201,MTLS401]`` on the finding's line.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from mtls_doctor.model import Finding, Report, sort_findings
from mtls_doctor.nginx.effective import Effective, effective
from mtls_doctor.nginx.parse import Config
from mtls_doctor.nginx.version import Version
from mtls_doctor.rules.config.common import LintContext, LoadedFile

#: path settings and the role their file plays (CONTRACTS A roles; "key" and "crl" are ours)
FILE_SETTINGS = {
    "ssl_certificate": "server",
    "ssl_certificate_key": "key",
    "ssl_client_certificate": "ca",
    "ssl_trusted_certificate": "ca",
    "ssl_crl": "crl",
}
#: bundle CRL rules that MTLS302 (crl-expired) already judges for the ssl_crl of a verifying server
MTLS302_COVERS = ("MTLS115", "MTLS117")
SUPPRESS = re.compile(r"mtls-doctor:\s*(?:ignore|noqa)(?:\[([A-Za-z0-9_,\s-]+)\])?")


def named_files(eff: Effective) -> dict[str, str]:
    """Every file the servers use: resolved path -> role (first role wins)."""
    out: dict[str, str] = {}
    for server in eff.servers:
        for name, role in FILE_SETTINGS.items():
            nodes = server.arrays.get(name) if name in server.arrays else (
                (server.settings[name].node,) if server.settings[name].node else ())
            for node in nodes or ():
                if not node.args:
                    continue
                arg = node.args[0]
                if "$" in arg or arg.startswith(("data:", "engine:")):
                    continue  # variables (1.15.9+) and inline data cannot be read here
                out.setdefault(eff.config.resolve(arg), role)
    return out


#: upstream-side files (nginx as a TLS client): loaded for the MTLS24x rules only, not judged
#: by the bundle rules and not reported missing (they are not the server's mTLS files)
UPSTREAM_FILE_SETTINGS = ("proxy_ssl_trusted_certificate", "grpc_ssl_trusted_certificate",
                          "uwsgi_ssl_trusted_certificate")


def upstream_files(eff: Effective) -> list[str]:
    out = []
    for name in UPSTREAM_FILE_SETTINGS:
        for node in eff.named(name):
            if node.args and "$" not in node.args[0] and not node.args[0].startswith("data:"):
                out.append(eff.config.resolve(node.args[0]))
    return list(dict.fromkeys(out))


def load_named_files(eff: Effective) -> dict[str, LoadedFile]:
    """Load every named file (I/O). Missing/unreadable files become LoadedFile errors."""
    from mtls_doctor.model import InputError
    from mtls_doctor.pki.load import load_path

    out: dict[str, LoadedFile] = {}
    wanted = list(named_files(eff)) + [p for p in upstream_files(eff) if p not in named_files(eff)]
    for path in wanted:
        if not os.path.exists(path):
            out[path] = LoadedFile(path, None, "no such file", exists=False)
            continue
        try:
            out[path] = LoadedFile(path, load_path(path, pipe=False))  # not asked for by the user
        except InputError as exc:
            out[path] = LoadedFile(path, None, str(exc))
    return out


def _suppressed(finding: Finding, comments: Mapping[tuple[str, int], str]) -> bool:
    loc = finding.location
    if loc.path is None or loc.line is None:
        return False
    comment = comments.get((loc.path, loc.line))
    if not comment:
        return False
    match = SUPPRESS.search(comment)
    if not match:
        return False
    codes = match.group(1)
    if not codes:
        return True
    wanted = {c.strip().upper() for c in codes.split(",")}
    return finding.rule.upper() in wanted or finding.name in {c.strip().lower() for c in codes.split(",")}


def _selected(code: str, select: Sequence[str] | None, ignore: Sequence[str] | None) -> bool:
    def hit(prefixes: Sequence[str]) -> bool:
        return any(code.startswith(p.strip().upper()) for p in prefixes if p.strip())

    if select and not hit(select):
        return False
    return not (ignore and hit(ignore))


def crl_files_judged_by_mtls302(ctx: LintContext) -> set[str]:
    """Resolved ``ssl_crl`` paths of verifying servers: the files MTLS302 reads (F6.1)."""
    from mtls_doctor.rules.config.common import verifying

    out: set[str] = set()
    for server in ctx.tls_servers:
        setting = server.settings["ssl_crl"]
        if setting.node is not None and setting.node.args and verifying(server):
            out.add(ctx.eff.config.resolve(setting.node.args[0]))
    return out


def file_findings(ctx: LintContext) -> list[Finding]:
    """Apply the bundle rules (CONTRACTS A) to every loaded file in its role."""
    from mtls_doctor.rules.bundle import check
    from mtls_doctor.rules.config.files import suppress_bundle_finding

    roles = named_files(ctx.eff)
    from mtls_doctor.nginx.version import TRUSTED_ONLY_OK

    judged = crl_files_judged_by_mtls302(ctx)
    client_ca = {
        ctx.eff.config.resolve(server.settings["ssl_client_certificate"].node.args[0])
        for server in ctx.servers
        if server.settings["ssl_client_certificate"].node is not None
        and server.settings["ssl_client_certificate"].node.args
    }
    out: list[Finding] = []
    for path, loaded in ctx.files.items():
        if loaded.bundle is None or path not in roles:
            continue  # not a file of the servers' own TLS (e.g. proxy_ssl_trusted_certificate)
        role = roles[path]
        if role == "key":  # a key file: only its load problems (a key is expected there)
            from mtls_doctor.rules import files as file_rules

            out.extend(file_rules.check(loaded.bundle))
            continue
        for finding in check(loaded.bundle, "any" if role == "crl" else role, ctx.at):
            if finding.rule in MTLS302_COVERS and path in judged:
                continue  # the same expired CRL, already reported once at the ssl_crl line
            if finding.rule == "MTLS012" and (path not in client_ca or (
                    ctx.version is not None and ctx.version >= TRUSTED_ONLY_OK)):
                # TRUSTED blocks load as ssl_trusted_certificate (measured) and, since 1.27.2,
                # as ssl_client_certificate too (F1.5)
                continue
            if not suppress_bundle_finding(ctx, path, finding):
                out.append(finding)
    return out


def lint_config(
    config: Config,
    at: datetime | None = None,
    version: Version | None = None,
    files: Mapping[str, LoadedFile] | None = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    rules: Iterable | None = None,
    eff: Effective | None = None,
    openssl: Any = None,
    oracle: Any = None,
) -> Report:
    """Every finding for ``config``. ``files`` (from ``load_named_files``) enables file checks.
    ``openssl``: the OpenSSL release nginx runs with (``pki.openssl_versions.Release``);
    ``oracle``: what ``nginx -t`` said in a sandbox (``nginx.oracle.OracleResult``), for MTLS250."""
    from mtls_doctor.rules.config import RULES

    at = at or datetime.now(timezone.utc)
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    eff = eff if eff is not None and eff.config is config else effective(config)
    ctx = LintContext(eff, at, version, dict(files or {}), openssl=openssl, oracle=oracle)
    findings: list[Finding] = []
    for rule in rules if rules is not None else RULES:
        findings.extend(rule.check(ctx))
    if files:
        findings.extend(file_findings(ctx))
    from mtls_doctor.rules.config.inputs import knowable

    kept = [  # knowable: not what a fragment's wrapper or a template placeholder leaves unknown
        f for f in knowable(findings, eff)
        if _selected(f.rule, select, ignore) and not _suppressed(f, config.comments)
    ]
    unique: dict[tuple, Finding] = {}
    for f in kept:
        unique.setdefault((f.rule, str(f.location), f.message), f)
    data = {
        "config": config.main,
        "files": list(config.files),
        "nginx_version": str(version) if version else None,
        "servers": len(eff.servers),
        "at": at.isoformat(),
    }
    return Report("lint", sort_findings(unique.values()), data)
