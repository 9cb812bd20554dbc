"""``lint`` on Kubernetes manifests: render each controller's nginx, run the nginx rules on it
with the CA/CRL material of the Secrets and ConfigMaps, point the findings back at the manifest
field, and add the controller rules (MTLS7xx).

Invariant: no I/O (the manifests are already read); ``at`` is explicit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Sequence

from mtls_doctor.k8s.manifests import ManifestSet
from mtls_doctor.k8s.render import Rendering
from mtls_doctor.model import Finding, Location, Report, sort_findings
from mtls_doctor.nginx.version import Version


@dataclass(frozen=True)
class K8sContext:
    """What the MTLS7xx rules take: the manifests and the renderings made from them."""

    manifests: ManifestSet
    renderings: tuple[Rendering, ...]
    at: datetime


def renderings(mset: ManifestSet) -> tuple[Rendering, ...]:
    from mtls_doctor.k8s import f5, gateway, ingress_nginx

    out = []
    for render in (ingress_nginx.render, f5.render, gateway.render):
        got = render(mset)
        if got is not None:
            out.append(got)
    return tuple(out)


def rendered_path(rendering: Rendering) -> str:
    """The name the rendered configuration goes by in findings that map to no manifest line."""
    return f"<{rendering.controller.value} nginx.conf>"


def _config(rendering: Rendering):
    from mtls_doctor.nginx.parse import DictReader, parse_sources

    path = rendered_path(rendering)
    return parse_sources(path, DictReader({path: rendering.text()}), prefix="/etc/nginx")


def _loaded(rendering: Rendering):
    from mtls_doctor.pki.load import load_bytes
    from mtls_doctor.rules.config.common import LoadedFile

    return {path: LoadedFile(path, load_bytes(data, path)) for path, data in rendering.files.items()}


def _remap(finding: Finding, rendering: Rendering) -> Finding:
    loc = finding.location
    if loc.path == rendered_path(rendering) and loc.line:
        line = rendering.line(loc.line)
        origin = line.origin if line is not None else None
        if line is not None and origin is None and line.note:
            return replace(finding, message=f"{finding.message} [{rendering.controller.value}: {line.note}]")
        if origin is not None:
            return replace(finding, location=origin.location,
                           message=f"{finding.message} [{rendering.controller.value} renders this from "
                                   f"{origin.resource.ref} {origin.field}]")
    if loc.path in rendering.files:  # a finding inside a CA/CRL file the controller writes
        for server in rendering.servers:
            for line in server.lines:
                if line.origin is not None and loc.path in line.text:
                    return replace(finding, location=line.origin.location,
                                   message=f"{finding.message} [{loc.path}, written by "
                                           f"{rendering.controller.value} from {line.origin.resource.ref}]")
    return finding


def _controller_default_server(finding: Finding, rendering: Rendering) -> Finding:
    """MTLS210 on an ingress-nginx rendering: the default server (``_``, the fake certificate)
    is the controller's own: no field of a host's Ingress asks it for a certificate or makes it
    refuse unknown names (a host-less Ingress does, for every name: MTLS708); clients that send
    SNI avoid it. A warning with that fix, not the
    nginx.conf edit the core rule proposes."""
    from mtls_doctor.model import Fix, Severity

    if finding.rule != "MTLS210" or rendering.controller.value != "ingress-nginx":
        return finding
    return replace(finding, severity=Severity.WARNING, fix=Fix(
        "Clients must send SNI (the host name): ingress-nginx's default server is the controller's own "
        "and asks for no certificate (only a host-less Ingress changes that, for every unknown name: MTLS708)."))


def lint_manifests(mset: ManifestSet, at: datetime, version: Version | None = None,
                   select: Sequence[str] | None = None, ignore: Sequence[str] | None = None,
                   openssl=None) -> Report:
    from mtls_doctor.nginx.lint import _selected, lint_config
    from mtls_doctor.rules.k8s import RULES

    rends = renderings(mset)
    findings: list[Finding] = []
    configs = []
    for rendering in rends:
        config = _config(rendering)
        configs.append(rendering_data(rendering))
        extra = {"openssl": openssl} if openssl is not None else {}
        report = lint_config(config, at, version, _loaded(rendering), select, ignore, **extra)
        findings.extend(_controller_default_server(_remap(f, rendering), rendering) for f in report.findings)
    ctx = K8sContext(mset, rends, at)
    for rule in RULES:
        for f in rule.check(ctx):
            if _selected(f.rule, select, ignore):
                findings.append(f)
    unique: dict[tuple, Finding] = {}
    for f in findings:
        unique.setdefault((f.rule, str(f.location), f.message), f)
    data = {"manifests": list(mset.sources), "resources": len(mset.resources), "skipped": mset.skipped,
            "renderings": configs, "at": at.isoformat()}
    return Report("lint", sort_findings(unique.values()), data)


def rendering_data(rendering: Rendering) -> dict:
    return {"controller": rendering.controller.value, "source": rendering.controller.source,
            "servers": [s.host for s in rendering.servers], "nginx": rendering.text()}


def location_of(resource_path: str, line: int) -> Location:
    return Location(path=resource_path, line=line)
