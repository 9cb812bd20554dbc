"""SARIF that GitHub code scanning accepts and places right.

Checked three ways: against the official SARIF 2.1.0 schema (tests/report/data, from
oasis-tcs/sarif-spec), against GitHub's documented requirements for uploads (written out below
from https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning),
and on a real repository layout: configuration and certificates in subfolders of a git work
tree, paths absolute and relative, the command run from another directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import run

ROOT = Path(__file__).resolve().parents[2]
from .contract import check_sarif, github_problems
def sarif(*args: str, cwd) -> dict:
    proc = run("lint", *args, "--format", "sarif", cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    check_sarif(doc)
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


def test_every_rule_fixture_in_one_run():
    """All config fixtures of tests/rules (firing and must-not-fire) in one lint: valid SARIF,
    every result placed under the git root, no two results sharing a fingerprint (two servers
    with the same problem and message in one file stay two alerts)."""
    fixtures = sorted(str(p) for p in (ROOT / "tests/rules/fixtures/config").rglob("*.conf"))
    doc = sarif(*fixtures, cwd=ROOT)
    results = doc["runs"][0]["results"]
    assert len(results) > 100
    prints = [json.dumps(r["partialFingerprints"], sort_keys=True) for r in results]
    assert len(set(prints)) == len(prints)
    for r in results:
        art = r["locations"][0]["physicalLocation"]["artifactLocation"]
        if art.get("uriBaseId") != "%SRCROOT%":  # a file a fixture names outside the repository
            assert art["uri"].startswith("file:///") and not art["uri"].startswith(ROOT.as_uri() + "/"), art


def test_stdin_and_rule_table(repo):
    conf = (repo / "deploy/nginx/nginx.conf").read_text()
    proc = run("lint", "-", "--format", "sarif", "--base", str(repo), cwd=repo, stdin=conf)
    doc = json.loads(proc.stdout)
    check_sarif(doc)
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


def test_kubernetes_manifests_in_a_repository(tmp_path):
    """lint on manifests in k8s/ of a repository (tests/k8s/material.py: an Ingress asking for
    client certificates on one path of a host, kubernetes/ingress-nginx#5489)."""
    from tests.k8s.material import manifest
    from tests.rules.test_rules_k8s import AUTH, CA_SECRET, ingress

    root = tmp_path / "cluster"
    (root / "k8s/prod").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=30)
    f = root / "k8s/prod/ingress.yaml"
    f.write_text(manifest(ingress("api", "api.example.com", AUTH)
                          + ingress("public", "api.example.com", path="/public") + CA_SECRET))
    found = uris(sarif(str(f), cwd=tmp_path))
    assert set(found) == {"k8s/prod/ingress.yaml"}, set(found)
    assert all(h["base"] == "%SRCROOT%" and h["line"] >= 1 for h in found["k8s/prod/ingress.yaml"])
