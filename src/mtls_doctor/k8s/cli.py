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
