"""SARIF 2.1.0 output that GitHub code scanning accepts and places right.

What GitHub needs (docs.github.com, "SARIF support for code scanning"), and how it is met here:
- artifact URIs relative to the repository root: ``uri`` relative, ``uriBaseId: "%SRCROOT%"``
  and ``run.originalUriBaseIds["%SRCROOT%"]`` the absolute ``file://`` URI of that root, ending
  in ``/``. The root is ``--base``, else the git work tree holding the first input, else the
  one holding the current directory, else the current directory. A file outside the root (an
  absolute CA path a config names, e.g. ``/etc/nginx/ca.pem``) keeps its absolute ``file://``
  URI: GitHub cannot show it in the repository, and a relative URI would point at the wrong file;
- a ``region`` on every result: the finding's line, or line 1 for a whole-file finding;
  a finding without a file of the repository (an endpoint, the nginx configuration rendered from
  Kubernetes manifests, stdin) is placed on the first input file, line 1, with what it is about
  as a logical location;
- ``partialFingerprints`` so an alert keeps its identity when lines move;
- each rule: ``id``, ``name``, short and full description, ``help`` (text and markdown from the
  rule docstring), ``helpUri`` as a full URL, ``properties.tags``, ``security-severity`` (a
  number as text, 0.1-10.0) and ``precision``.

Invariant: pure (paths are resolved, never opened, except that finding the git root runs
``git rev-parse`` when no ``--base`` is given; see ``resolve_base``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any, Iterable
from urllib.parse import quote

from mtls_doctor.model import Finding, Report, Severity

_LEVEL = {
    Severity.INFO: "note",
    Severity.WARNING: "warning",
    Severity.ERROR: "error",
    Severity.CRITICAL: "error",
}
#: GitHub reads security-severity as: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, < 4 low
_SECURITY_SEVERITY = {
    Severity.INFO: "2.0",
    Severity.WARNING: "5.0",
    Severity.ERROR: "7.5",
    Severity.CRITICAL: "9.1",
}
#: what each rule family looks at, and how sure its findings are (``precision``): config and
#: file rules read the very input nginx reads; log rules group lines whose cause can be
#: ambiguous; probe rules infer from what a server answered
_FAMILY = {"config": ("nginx-config", "very-high"), "file": ("certificate-file", "very-high"),
           "bundle": ("certificate-file", "very-high"), "log": ("error-log", "high"),
           "probe": ("live-probe", "high"), "k8s": ("kubernetes", "high")}

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
PROJECT_URL = "https://github.com/mtls-doctor/mtls-doctor"
RULE_DOCS_URL = PROJECT_URL + "/blob/main/docs/rules/{code}.md"
FINGERPRINT_KEY = "mtlsDoctorFinding/v1"
SRCROOT = "%SRCROOT%"


def git_root(directory: str | os.PathLike[str]) -> Path | None:
    """The top of the git work tree holding ``directory`` (None outside one or without git)."""
    try:
        proc = subprocess.run(["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    top = proc.stdout.strip()
    return Path(top).resolve() if proc.returncode == 0 and top else None


def resolve_base(base: str | None, inputs: Iterable[str] = ()) -> Path:
    """The directory SARIF URIs are relative to: ``base``; else the git root of the first input
    file or directory; else the git root of the current directory; else the current directory."""
    if base is not None:
        return Path(base).resolve()
    for item in inputs:
        if item and item != "-":
            p = Path(item)
            found = git_root(p if p.is_dir() else (p.parent if str(p.parent) else Path(".")))
            if found is not None:
                return found
            break
    return git_root(Path.cwd()) or Path.cwd().resolve()


def artifact_location(path: str, base: Path | str | None,
                      cwd: Path | str | None = None) -> dict[str, Any]:
    """A relative URI under ``%SRCROOT%`` when ``path`` lies below ``base``; else an absolute
    ``file://`` URI. Relative paths are taken from ``cwd`` (default: the current directory),
    as the command that read them did."""
    if path.startswith("<") and path.endswith(">"):  # <stdin>: no file to point at
        return {"uri": quote(path.strip("<>"))}
    p = Path(path)
    full = p if p.is_absolute() else Path(cwd or os.getcwd()) / p
    full = Path(os.path.normpath(full))
    if base is not None:
        root = Path(base).resolve()
        for candidate in (full, full.resolve() if full.exists() else full):
            try:
                rel = candidate.relative_to(root)
            except ValueError:
                continue
            return {"uri": quote(PurePosixPath(*rel.parts).as_posix()), "uriBaseId": SRCROOT}
    return {"uri": full.as_uri()}


#: a ``file:line`` inside a message (``server 'a' (/etc/nginx/nginx.conf:12)``)
_FILE_LINE = re.compile(r"((?:/|\.{1,2}/|<)[^\s:'\"()]*):\d+")


def fingerprint(f: Finding, uri: str) -> str:
    """Stable across line moves: the rule, the file and the message with the line numbers of
    the ``file:line`` references it quotes taken out."""
    text = "\x00".join((f.rule, uri, _FILE_LINE.sub(r"\1:-", f.message)))
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:32]


def rule_descriptor(rule: Any) -> dict[str, Any]:
    sections = rule.sections()
    family, precision = _FAMILY.get(rule.target, (rule.target, "high"))
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary()},
        "fullDescription": {"text": sections.get("Why it matters", rule.summary())},
        "help": {
            "text": sections.get("Use instead", rule.summary()),
            "markdown": "\n\n".join(f"**{k}**\n\n{v}" for k, v in sections.items()),
        },
        "helpUri": RULE_DOCS_URL.format(code=rule.code),
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", "mtls", "nginx", family],
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "precision": precision,
            "problem.severity": {"note": "recommendation"}.get(_LEVEL[rule.severity],
                                                               _LEVEL[rule.severity]),
            "facts": list(rule.facts),
        },
    }


def _pseudo(path: str) -> bool:
    """``<stdin>``, ``<ingress-nginx nginx.conf>``: text that is no file of the repository."""
    return path.startswith("<") and path.endswith(">")


def _fallback_file(report: Report, inputs: Iterable[str]) -> str | None:
    """Where a result with no file of its own is shown: the first configuration read."""
    candidates = [str(c["config"]) for c in report.data.get("configs", []) or []
                  if isinstance(c, dict) and c.get("config")]
    candidates += [str(m) for m in report.data.get("manifests", []) or []]
    candidates += [i for i in inputs if i and i != "-"]
    return next((c for c in candidates if not _pseudo(c)), None)


def render_sarif(report: Report, tool_version: str, base: str | Path | None = None,
                 inputs: Iterable[str] = (), cwd: str | Path | None = None) -> str:
    """SARIF for ``report``; ``base`` is the repository root URIs are made relative to
    (None: ``resolve_base``), ``inputs`` the paths the command was given."""
    from mtls_doctor.rules import REGISTRY

    inputs = list(inputs)
    root = Path(base).resolve() if base is not None else resolve_base(None, inputs)
    rules = [rule_descriptor(REGISTRY[code]) for code in sorted(REGISTRY)]
    index = {r["id"]: i for i, r in enumerate(rules)}
    fallback = _fallback_file(report, inputs)
    results: list[dict[str, Any]] = []
    seen: dict[str, int] = {}  # the same problem twice in a file: :1, :2 in line order (as GitHub's own hash)
    for f in sorted(report.findings, key=lambda f: (f.location.path or "", f.location.line or 0,
                                                    f.location.index or 0, f.rule, f.message)):
        loc = f.location
        message = f.message + (f" Fix: {f.fix.text}" if f.fix else "")
        result: dict[str, Any] = {"ruleId": f.rule, "level": _LEVEL[f.severity],
                                  "message": {"text": message}}
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        own = loc.path is not None and not _pseudo(loc.path)
        where = loc.path if own else (fallback or loc.path)
        location: dict[str, Any] = {}
        uri = ""
        if where is not None:
            artifact = artifact_location(where, root, cwd)
            uri = artifact["uri"]
            region: dict[str, Any] = {"startLine": loc.line if own and loc.line else 1}
            location["physicalLocation"] = {"artifactLocation": artifact, "region": region}
        if not own:  # an endpoint, or a file of no repository (a rendered config, stdin)
            location["logicalLocations"] = [{"name": str(loc), "kind": "endpoint"
                                             if loc.host is not None else "object"}]
        result["locations"] = [location]
        base = fingerprint(f, uri or str(loc))
        seen[base] = seen.get(base, 0) + 1
        result["partialFingerprints"] = {FINGERPRINT_KEY: f"{base}:{seen[base]}"}
        props: dict[str, Any] = {"severity": f.severity.value}
        if loc.index is not None:
            props["certificate_index"] = loc.index  # path#index: the certificate in the bundle
        result["properties"] = props
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mtls-doctor",
                        "version": tool_version,
                        "semanticVersion": tool_version,
                        "informationUri": PROJECT_URL,
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": f"mtls-doctor/{report.command}/"},
                "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri().rstrip("/") + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": {"rulesUsed": sorted({f.rule for f in report.findings}),
                               # what the verdicts assume (lint, verify ...): stated in every output
                               **{key: report.data[key] for key in ("nginx_version", "openssl_version")
                                  if key in report.data}},
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
