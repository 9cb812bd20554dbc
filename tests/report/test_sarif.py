"""SARIF that GitHub code scanning accepts and places right.

Checked three ways: against the official SARIF 2.1.0 schema (tests/report/data, from
oasis-tcs/sarif-spec), against GitHub's documented requirements for uploads (written out below
from https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning),
and on a real repository layout: configuration and certificates in subfolders of a git work
tree, paths absolute and relative, the command run from another directory.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
from jsonschema import Draft4Validator

from .conftest import run

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


def sarif(*args: str, cwd) -> dict:
    proc = run("lint", *args, "--format", "sarif", cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in Draft4Validator(SARIF_SCHEMA).iter_errors(doc)]
    assert not errors, errors[:5]
    assert not github_problems(doc), github_problems(doc)[:10]
    return doc


@pytest.fixture()
def repo(lab_dir, tmp_path) -> Path:
    """A repository as people keep one: deploy/nginx/nginx.conf and deploy/certs/*, the config
    naming one file by an absolute path, the others relative to its prefix; a client CA file
    holding just the intermediate (a finding on the file: MTLS103, F3.4) and an expired CRL
    (a finding on the ssl_crl line)."""
    root = tmp_path / "infra"
    (root / "deploy/nginx").mkdir(parents=True)
    certs = root / "deploy/certs"
    certs.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)
    (certs / "server.pem").write_bytes((lab_dir / "server/server.pem").read_bytes())
    (certs / "server.key").write_bytes((lab_dir / "server/server.key").read_bytes())
    (certs / "client-ca.pem").write_bytes((lab_dir / "ca/inter.pem").read_bytes())
    (certs / "crl.pem").write_bytes((lab_dir / "crl/inter-expired.crl.pem").read_bytes())
    (root / "deploy/nginx/nginx.conf").write_text(f"""events {{}}
http {{
    server {{
        listen 443 ssl;
        server_name app.example;
        ssl_certificate {certs}/server.pem;
        ssl_certificate_key {certs}/server.key;
        ssl_client_certificate {certs}/client-ca.pem;
        ssl_crl {certs}/crl.pem;
        ssl_verify_client optional;
    }}
}}
""")
    (tmp_path / "elsewhere").mkdir()
    return root


def uris(doc: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for res in doc["runs"][0]["results"]:
        phys = res["locations"][0]["physicalLocation"]
        out.setdefault(phys["artifactLocation"]["uri"], []).append(
            {"rule": res["ruleId"], "base": phys["artifactLocation"].get("uriBaseId"),
             "line": phys["region"]["startLine"], "fp": res["partialFingerprints"]})
    return out


def test_repository_layout_with_base_from_another_directory(repo):
    elsewhere = repo.parent / "elsewhere"
    doc = sarif(str(repo / "deploy/nginx/nginx.conf"), "--base", str(repo), cwd=elsewhere)
    assert doc["runs"][0]["originalUriBaseIds"] == {"%SRCROOT%": {"uri": repo.resolve().as_uri() + "/"}}
    found = uris(doc)
    assert "deploy/nginx/nginx.conf" in found
    assert "deploy/certs/client-ca.pem" in found, set(found)  # named by an absolute path
    for uri, hits in found.items():
        assert not uri.startswith(("/", "file:")), uri
        assert all(h["base"] == "%SRCROOT%" for h in hits)
    assert all(h["line"] > 1 for h in found["deploy/nginx/nginx.conf"])
    # a certificate file has no line of its own: the whole file, line 1
    assert {h["line"] for h in found["deploy/certs/client-ca.pem"]} == {1}


def test_git_root_is_the_default_base(repo):
    elsewhere = repo.parent / "elsewhere"
    # relative input, run from a sibling directory: the git work tree holding the input decides
    doc = sarif("../infra/deploy/nginx/nginx.conf", cwd=elsewhere)
    assert doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repo.resolve().as_uri() + "/"
    assert "deploy/nginx/nginx.conf" in uris(doc)
    # and from inside the repository
    doc = sarif("nginx.conf", cwd=repo / "deploy/nginx")
    assert {"deploy/nginx/nginx.conf", "deploy/certs/client-ca.pem"} <= set(uris(doc))


def test_a_file_outside_the_repository_keeps_its_absolute_uri(repo, lab_dir):
    conf = repo / "deploy/nginx/nginx.conf"
    conf.write_text(conf.read_text().replace(f"{repo}/deploy/certs/client-ca.pem",
                                             str(lab_dir / "ca/inter.pem")))
    found = uris(sarif(str(conf), "--base", str(repo), cwd=repo.parent))
    outside = (lab_dir / "ca/inter.pem").resolve().as_uri()
    assert outside in found and all(h["base"] is None for h in found[outside])
    assert "deploy/nginx/nginx.conf" in found


def test_fingerprints_survive_moved_lines(repo):
    conf = repo / "deploy/nginx/nginx.conf"
    before = uris(sarif(str(conf), cwd=repo))
    conf.write_text("# a comment moves every line down\n" + conf.read_text())
    after = uris(sarif(str(conf), cwd=repo))
    key = "deploy/nginx/nginx.conf"
    assert [h["fp"] for h in before[key]] == [h["fp"] for h in after[key]]
    assert [h["line"] + 1 for h in before[key]] == [h["line"] for h in after[key]]
    assert len({json.dumps(h["fp"]) for h in after[key]}) == len(after[key])  # distinct alerts


def test_stdin_and_rule_table(repo):
    conf = (repo / "deploy/nginx/nginx.conf").read_text()
    proc = run("lint", "-", "--format", "sarif", "--base", str(repo), cwd=repo, stdin=conf)
    doc = json.loads(proc.stdout)
    assert not list(Draft4Validator(SARIF_SCHEMA).iter_errors(doc))
    assert not github_problems(doc), github_problems(doc)[:5]
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert all(r["helpUri"].startswith("https://") and r["helpUri"].endswith(f"/docs/rules/{r['id']}.md")
               for r in rules)
    assert all(r["help"]["markdown"].startswith("**What it checks**") for r in rules)


def test_the_checks_catch_what_github_would_misplace():
    bad = {"$schema": "x", "version": "2.1.0", "runs": [{"tool": {"driver": {
        "name": "t", "version": "1", "rules": [{"id": "MTLS001", "name": "n", "shortDescription": {"text": "s"},
                                               "fullDescription": {"text": "f"}, "help": {"text": "h"},
                                               "helpUri": "docs/rules/MTLS001.md", "properties": {}}]}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": "file:///repo"}},
        "results": [{"ruleId": "MTLS001", "ruleIndex": 0, "message": {"text": "m"}, "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": "file:///repo/a.conf", "uriBaseId": "%SRCROOT%"}}}]}]}]}
    problems = "\n".join(github_problems(bad))
    for expected in ("helpUri must be a full URL", "security-severity", "precision", "tags",
                     "ending in /", "partialFingerprints", "must be relative", "startLine"):
        assert expected in problems, expected
