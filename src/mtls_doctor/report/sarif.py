"""SARIF 2.1.0 output: findings as results, the rule table generated from rule docstrings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtls_doctor.model import Report, Severity

_LEVEL = {
    Severity.INFO: "note",
    Severity.WARNING: "warning",
    Severity.ERROR: "error",
    Severity.CRITICAL: "error",
}

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def artifact_location(path: str, base: str | None) -> dict[str, Any]:
    """A repo-relative URI under ``%SRCROOT%`` when ``path`` lies below ``base`` (what GitHub
    code scanning expects), else an absolute ``file://`` URI."""
    p = Path(path)
    if base is not None:
        root = Path(base).resolve()
        full = (root / p).resolve() if not p.is_absolute() else p.resolve()
        try:
            return {"uri": full.relative_to(root).as_posix(), "uriBaseId": "%SRCROOT%"}
        except ValueError:
            pass
    if p.is_absolute():
        return {"uri": p.as_uri()}
    return {"uri": p.as_posix()}


def render_sarif(report: Report, tool_version: str, base: str | None = None) -> str:
    """SARIF for ``report``; ``base`` is the directory file URIs are made relative to."""
    from mtls_doctor.rules import REGISTRY

    used = sorted({f.rule for f in report.findings})
    rules = []
    for code in sorted(REGISTRY):
        rule = REGISTRY[code]
        sections = rule.sections()
        rules.append(
            {
                "id": code,
                "name": rule.name,
                "shortDescription": {"text": rule.summary()},
                "fullDescription": {"text": sections.get("Why it matters", rule.summary())},
                "help": {
                    "text": sections.get("Use instead", ""),
                    "markdown": "\n\n".join(f"**{k}**\n\n{v}" for k, v in sections.items()),
                },
                "helpUri": f"docs/rules/{code}.md",
                "defaultConfiguration": {"level": _LEVEL[rule.severity]},
                "properties": {"facts": list(rule.facts)},
            }
        )
    index = {r["id"]: i for i, r in enumerate(rules)}
    results: list[dict[str, Any]] = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "level": _LEVEL[f.severity],
            "message": {"text": f.message + (f" Fix: {f.fix.text}" if f.fix else "")},
            "properties": {"severity": f.severity.value},
        }
        if f.rule in index:
            result["ruleIndex"] = index[f.rule]
        loc = f.location
        if loc.path is not None:
            physical: dict[str, Any] = {"artifactLocation": artifact_location(loc.path, base)}
            if loc.line is not None:
                physical["region"] = {"startLine": loc.line}
            result["locations"] = [{"physicalLocation": physical}]
        elif loc.host is not None:
            result["locations"] = [{"logicalLocations": [{"name": str(loc), "kind": "endpoint"}]}]
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
                        "informationUri": "https://github.com/mtls-doctor/mtls-doctor",
                        "rules": rules,
                    }
                },
                "results": results,
                **(
                    {"originalUriBaseIds": {"%SRCROOT%": {"uri": Path(base).resolve().as_uri() + "/"}}}
                    if base is not None
                    else {}
                ),
                "properties": {"rulesUsed": used},
            }
        ],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
