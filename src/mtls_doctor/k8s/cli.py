"""The ``lint`` hook for Kubernetes manifests: detect them, read them, lint, render, exit.

``manifest_input`` decides whether the PATHs of ``lint`` are manifests (a ``.yaml``/``.yml``/
``.json`` file, a directory holding such files and no ``*.conf``, or stdin whose text has
top-level ``apiVersion``/``kind`` keys); for stdin that is not, the text is put back on
``sys.stdin`` so the nginx path reads it unchanged.
"""

from __future__ import annotations

import io
import re
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Sequence

from mtls_doctor.k8s.manifests import MANIFEST_SUFFIXES, looks_like_kubernetes


class ManifestInput:
    def __init__(self, paths: tuple[str, ...], stdin_text: str | None) -> None:
        self.paths, self.stdin_text = paths, stdin_text


def _is_manifest_path(path: str) -> bool:
    if os.path.isdir(path):
        p = Path(path)
        has_yaml = any(q.suffix in MANIFEST_SUFFIXES for q in p.rglob("*") if q.is_file())
        has_conf = any(p.rglob("*.conf")) or (p / "nginx.conf").exists()
        return has_yaml and not has_conf
    return path.endswith(MANIFEST_SUFFIXES)


def manifest_input(paths: tuple[str, ...]) -> ManifestInput | None:
    if not paths:
        return None
    stdin_text = None
    if "-" in paths:
        from mtls_doctor.inputs import read_bytes
        from mtls_doctor.k8s.manifests import MAX_INPUT_BYTES

        data = read_bytes("-", limit=MAX_INPUT_BYTES, what="stdin")
        stdin_text = data.decode("utf-8", "replace")
        if not looks_like_kubernetes(stdin_text) or "# configuration file " in stdin_text[:4096]:
            sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="replace")
            return None
    if all(p == "-" or _is_manifest_path(p) for p in paths):
        return ManifestInput(paths, stdin_text)
    return None


def lint_manifests_command(given: ManifestInput, when: datetime, version, openssl, select: Sequence[str],
                           ignore: Sequence[str], fmt: str, fail_on: str, show_nginx: bool) -> int:
    from mtls_doctor.cli.common import emit
    from mtls_doctor.k8s.lint import lint_manifests
    from mtls_doctor.k8s.manifests import read_paths
    from mtls_doctor.model import Severity

    mset = read_paths(given.paths, given.stdin_text)
    report = lint_manifests(mset, when, version, select, ignore, openssl=openssl)
    emit(report, fmt, lambda r: _render_text(r, mset.sources, show_nginx))
    return report.exit_code(Severity(fail_on))


_SECRETISH = re.compile(r"^(\s*-?\s*[\"']?[\w.-]+[\"']?\s*:\s*)(?:[|>][-+]?\s*$|[A-Za-z0-9+/=]{24,}.*$)")


def redact(line: str) -> str:
    """A manifest line for display: base64 values and PEM bodies are never shown (a Secret's
    ``tls.key`` may sit next to the line a finding points at)."""
    if "PRIVATE KEY" in line or "-----" in line or re.fullmatch(r"\s*[A-Za-z0-9+/=]{24,}\s*", line):
        return re.sub(r"\S.*", "<redacted>", line, count=1)
    m = _SECRETISH.match(line)
    if m and not line.rstrip().endswith(("|", ">", "|-", ">-")):
        value = line[m.end(1):].strip()
        if value and not value.startswith(("|", ">")) and len(value) < 40 and not any(
                c in value for c in "0123456789+/="):
            return line  # a long word (RequireAndVerifyClientCert), not base64 material
        return m.group(1) + "<redacted>"
    return line


def _render_text(report, sources, show_nginx: bool) -> None:
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.report.text import print_findings

    out = console()
    rends = report.data.get("renderings", [])
    out.print(Text(f"{report.data.get('resources', 0)} Kubernetes objects read; rendered: " + (
        ", ".join(f"{r['controller']} ({len(r['servers'])} server blocks)" for r in rends) or "nothing"),
        style="dim"))
    if show_nginx:
        for r in rends:
            out.print(Text(r["nginx"]), markup=False, highlight=False)
    split: dict[str, list[str]] = {}

    def around(f) -> list[Text]:
        loc = f.location
        text = sources.get(loc.path or "")
        if text is None or not loc.line:
            return []
        lines = split.setdefault(loc.path or "", text.splitlines())
        return [Text(f"    {'>' if n == loc.line else ' '} {n:>5} | {redact(lines[n - 1])}",
                     style="bold" if n == loc.line else "dim")
                for n in range(max(1, loc.line - 1), min(len(lines), loc.line + 1) + 1)]

    print_findings(out, report.findings, context=around)


# --------------------------------------------------------------------------- migrate

import click  # noqa: E402 - the command below; the lint hook above stays import-light

from mtls_doctor.cli.common import format_option  # noqa: E402


@click.command("migrate")
@click.argument("paths", nargs=-1, required=True, metavar="MANIFEST...")
@click.option("--to", "targets", multiple=True, metavar="TARGET",
              type=click.Choice(["nginx-ingress", "nginx-gateway-fabric", "envoy-gateway", "istio", "traefik"]),
              help="Only these targets (repeatable; default: all five).")
@click.option("--resources/--no-resources", default=True, show_default=True,
              help="Also print the resources to write on each target.")
@format_option()
def migrate_command(paths, targets, resources, fmt) -> int:
    """What changes in mTLS behaviour, host by host, when ingress-nginx manifests (files,
    directories, - for `kubectl get ingress,secret -A -o yaml`) move to the F5 NGINX Ingress
    Controller, NGINX Gateway Fabric, Envoy Gateway, Istio or Traefik: a side-by-side table
    (enforcement layer, depth, CN match, error page, identity headers, optional modes, CRL),
    the resources to write there and what they cannot express. Exit 0 when nothing changes,
    1 when some behaviour changes or cannot be expressed, 2 on bad input."""
    from mtls_doctor.cli.common import emit
    from mtls_doctor.k8s.manifests import read_paths
    from mtls_doctor.k8s.migrate import TARGETS, plan
    from mtls_doctor.model import Report

    stdin_text = None
    if "-" in paths:
        from mtls_doctor.inputs import read_bytes
        from mtls_doctor.k8s.manifests import MAX_INPUT_BYTES

        stdin_text = read_bytes("-", limit=MAX_INPUT_BYTES, what="stdin").decode("utf-8", "replace")
    mset = read_paths(paths, stdin_text)
    plans = plan(mset, tuple(targets) or TARGETS)
    report = Report("migrate", (), {"hosts": [p.to_dict() for p in plans], "resources": len(mset.resources)})
    dropped = _dropped_auth_tls(mset)
    if dropped:
        report.data["dropped"] = dropped
    emit(report, fmt, lambda r: _render_migrate(plans, resources, dropped))
    changes = any(c.changed for p in plans for col in p.columns for c in col.cells.values()) or \
        any(col.cannot for p in plans for col in p.columns)
    return 1 if changes else 0


def _dropped_auth_tls(mset) -> list[str]:
    """Ingresses with auth-tls that ingress-nginx drops whole (an invalid value or an annotation
    above annotations-risk-level, MTLS712): today they protect nothing, so nothing migrates."""
    from mtls_doctor.k8s import ingress_nginx as inx

    out = []
    for ing in inx.ordered_ingresses(mset):
        if inx.SECRET in ing.annotations:
            auth = inx.parse_auth_tls(ing, mset)
            why = auth.rejected + auth.too_risky
            if why:
                out.append(f"{ing.ref} ({', '.join(a.split('/')[-1] for a in why)}: the controller drops it, MTLS712)")
    return out


def _render_migrate(plans, show_resources: bool, dropped: list[str] = ()) -> None:
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.k8s.migrate import ASPECT_TITLES, ASPECTS, TITLES

    out = console()
    for d in dropped:
        out.print(f"not served by ingress-nginx today, so not migrated: {d}")
    if not plans:
        out.print("No ingress-nginx host with auth-tls-* annotations in the input: no client "
                  "authentication to migrate.")
        return
    width = max(len(TITLES[c.target]) for p in plans for c in p.columns)
    for p in plans:
        head = f"host {p.host}: client auth from {p.ingress}"
        head += f", secret {p.ca_secret}" if p.ca_secret else ""
        out.print(Text(head, style="bold"))
        for aspect in ASPECTS:
            out.print(Text(f"  {ASPECT_TITLES[aspect]}", style="underline"))
            for col in p.columns:
                cell = col.cells.get(aspect)
                if cell is None:
                    continue
                mark = "*" if cell.changed else " "
                out.print(Text(f"  {mark} {TITLES[col.target]:<{width}}  {cell.text}",
                               style="yellow" if cell.changed else ""), soft_wrap=True)
        out.print(Text("  * = differs from ingress-nginx today", style="dim"))
        for note in p.notes:
            out.print(Text(f"note: {note}"))
        for col in p.columns[1:]:
            if col.cannot:
                out.print(Text(f"{TITLES[col.target]} cannot express:", style="bold"))
                for item in col.cannot:
                    out.print(Text(f"  - {item}"))
            if show_resources and col.resources:
                out.print(Text(f"# {TITLES[col.target]}: resources to apply", style="bold"))
                out.print(Text(col.resources), markup=False, highlight=False)
