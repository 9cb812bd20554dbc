"""Checks any test can apply to what the CLI prints (e.g. a test that runs the README's
commands): ``check_document`` (a ``--format json`` document: its command's shipped schema and
the vocabulary of docs/json.md) and ``check_sarif`` (the official SARIF 2.1.0 schema and
GitHub's documented requirements: ``github_problems``, written out from
https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

from jsonschema import Draft4Validator, Draft202012Validator

from mtls_doctor import schema

from .vocabulary import envelope_problems

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data/sarif-schema-2.1.0.json").read_text())
LEVELS = {"none", "note", "warning", "error"}
PRECISION = {"very-high", "high", "medium", "low"}


def github_problems(doc: dict) -> list[str]:
    """GitHub's documented requirements for a SARIF upload that code scanning shows in place."""
    out = []
    if doc.get("version") != "2.1.0" or "$schema" not in doc:
        out.append("version 2.1.0 and $schema")
    for run_ in doc["runs"]:
        driver = run_["tool"]["driver"]
        if not driver.get("name") or not (driver.get("version") or driver.get("semanticVersion")):
            out.append("tool.driver.name and version")
        rules = driver.get("rules", [])
        if len(rules) > 25_000:
            out.append("at most 25,000 rules per run")
        for rule in rules:
            rid = rule.get("id", "?")
            for key in ("id", "name", "shortDescription", "fullDescription", "help"):
                if not rule.get(key):
                    out.append(f"{rid}: {key}")
            if not rule["help"].get("markdown") and not urlparse(rule.get("helpUri", "")).scheme:
                out.append(f"{rid}: help.markdown or an absolute helpUri")
            if "helpUri" in rule and urlparse(rule["helpUri"]).scheme not in ("https", "http"):
                out.append(f"{rid}: helpUri must be a full URL: {rule['helpUri']}")
            props = rule.get("properties", {})
            tags = props.get("tags", [])
            if not tags or len(tags) > 20 or not all(isinstance(t, str) for t in tags):
                out.append(f"{rid}: properties.tags (1-20 strings)")
            sev = props.get("security-severity")
            if not (isinstance(sev, str) and re.fullmatch(r"\d+(\.\d+)?", sev) and 0.0 < float(sev) <= 10.0):
                out.append(f"{rid}: security-severity a number 0.1-10.0 as text: {sev!r}")
            if props.get("precision") not in PRECISION:
                out.append(f"{rid}: precision")
        ids = [r["id"] for r in rules]
        bases = run_.get("originalUriBaseIds", {})
        for name, base in bases.items():
            uri = base.get("uri", "")
            if not (uri.startswith("file:///") and uri.endswith("/")):
                out.append(f"originalUriBaseIds {name}: an absolute file URI ending in /: {uri}")
        results = run_.get("results", [])
        if len(results) > 25_000:
            out.append("at most 25,000 results per run")
        for i, res in enumerate(results):
            where = f"results[{i}] {res.get('ruleId')}"
            if not res.get("message", {}).get("text"):
                out.append(f"{where}: message.text")
            if res.get("level", "warning") not in LEVELS:
                out.append(f"{where}: level")
            if "ruleIndex" in res and ids[res["ruleIndex"]] != res["ruleId"]:
                out.append(f"{where}: ruleIndex points at another rule")
            if not res.get("partialFingerprints"):
                out.append(f"{where}: partialFingerprints")
            locs = res.get("locations") or []
            if not 1 <= len(locs) <= 1000:
                out.append(f"{where}: 1-1000 locations")
            for loc in locs:
                phys = loc.get("physicalLocation")
                if phys is None:
                    out.append(f"{where}: a physicalLocation (GitHub shows nothing else)")
                    continue
                art = phys["artifactLocation"]
                uri = art["uri"]
                if "uriBaseId" in art:
                    if art["uriBaseId"] not in bases:
                        out.append(f"{where}: uriBaseId {art['uriBaseId']} not in originalUriBaseIds")
                    if urlparse(uri).scheme or uri.startswith("/"):
                        out.append(f"{where}: a uri under a base must be relative: {uri}")
                if not phys.get("region", {}).get("startLine", 0) >= 1:
                    out.append(f"{where}: region.startLine >= 1")
    return out


def check_document(doc: dict, command: str | None = None) -> None:
    command = command or doc.get("command")
    assert command in schema.COMMANDS, f"no schema for command {command!r}"
    validator = Draft202012Validator(schema.load(command))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, errors[:10]
    problems = envelope_problems(doc, command)
    assert not problems, problems[:10]


def check_sarif(doc: dict) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft4Validator(SARIF_SCHEMA).iter_errors(doc)]
    assert not errors, errors[:5]
    assert not github_problems(doc), github_problems(doc)[:10]
