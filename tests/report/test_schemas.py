"""The JSON contract (docs/json.md): every command's real output validates against its shipped
schema and passes the vocabulary check; the shipped schemas, the docs copies and the generator
agree; every JSON example in the README and docs validates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from mtls_doctor import schema
from mtls_doctor.report.json import schema_name

from .conftest import run, run_json
from .contract import check_document

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src/mtls_doctor/schema"
DOCS = ROOT / "docs/schema"


check = check_document


def test_schemas_are_valid_2020_12_and_shipped_identically():
    for command in schema.COMMANDS:
        name = schema_name(command)
        shipped = (PACKAGE / name).read_text()
        assert shipped == schema.text(command), f"{name}: run python -m mtls_doctor.schema"
        assert (DOCS / name).read_text() == shipped, f"docs/schema/{name} differs from the package"
        Draft202012Validator.check_schema(json.loads(shipped))
    assert sorted(p.name for p in DOCS.glob("*.json")) == sorted(map(schema_name, schema.COMMANDS))


def test_schemas_are_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"schema/*.json"' in text
    assert schema.load("probe")["$id"].endswith("/probe.schema.json")


def test_a_renamed_key_fails_validation():
    # the schemas are strict enough to catch the old names (schema_version 1 shapes)
    doc = {"schema_version": 2, "command": "logs", "generated_at": "2026-01-01T00:00:00Z",
           "files": [], "groups": [], "findings": [{"rule": "MTLS601", "name": "x", "severity": "info",
                                                     "message": "m", "path": "a.log",
                                                     "location": {"display": "a.log"}, "fix": None}]}
    assert list(Draft202012Validator(schema.load("logs")).iter_errors(doc))
    doc["findings"][0].pop("path")
    assert not list(Draft202012Validator(schema.load("logs")).iter_errors(doc))
    doc["generated_at"] = "2026-01-01T00:00:00.123+00:00"
    assert list(Draft202012Validator(schema.load("logs")).iter_errors(doc))


@pytest.mark.nginx
def test_every_command_output_validates(served, tmp_path, nginx_bin):
    lab = served.lab
    url = f"https://127.0.0.1:{served.port}/"
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{url}\n127.0.0.1:{served.port} localhost\n127.0.0.1:1\n")  # :1 refuses
    conf = tmp_path / "nginx.conf"
    conf.write_text(served.conf.read_text().replace("server.pem;", f"{lab}/server/server.pem;")
                    .replace("server.key;", f"{lab}/server/server.key;")
                    .replace("root.pem;", f"{lab}/ca/root.pem;"))
    runs = {
        "inspect": ("inspect", "clients/deep-chain.pem", "ca/root.pem", "crl/inter-expired.crl.pem"),
        "verify": ("verify", "--nginx", nginx_bin, "--ssl-client-certificate", "ca/root.pem", "--ssl-crl", "bundles/crl-all.pem",
                   "clients/deep-chain.pem", "clients/good-chain.pem", "clients/revoked-chain.pem"),
        "lint": ("lint", str(conf)),
        "probe": ("probe", url, "--nginx", nginx_bin, "--ca-file", "ca/root.pem", "--cert", "clients/good-chain.pem",
                  "--key", "clients/good.key", "--client-ca", "ca/root.pem"),
        "probe --targets": ("probe", "--targets", str(targets), "--ca-file", "ca/root.pem", "--timeout", "3"),
        "logs": ("logs", str(served.error_log)),
        "diagnose": ("diagnose", "--config", str(served.conf), "--url", url, "--cert",
                     "clients/foreign-chain.pem", "--key", "clients/foreign.key",
                     "--log", str(served.error_log)),
        "lab list": ("lab", "list"),
        "lab run": ("lab", "run", "depth-default", "no-sni-default-server"),
        "lab pki": ("lab", "pki", str(tmp_path / "pki2")),
        "demo": ("demo",),
        "rules": ("rules",),
        "explain": ("explain", "MTLS201"),
    }
    seen = set()
    for name, argv in runs.items():
        docs = run_json(*argv, cwd=lab)
        command = name.split(" --")[0]
        assert docs, name
        for doc in docs:
            check(doc, command)
        seen.add(command)
    assert seen == set(schema.COMMANDS) - {"migrate"}  # migrate: test_kubernetes_commands_validate
    # probe --targets: each record is a probe document with its input line
    records = run_json(*runs["probe --targets"], cwd=lab)
    assert sorted(r["input"]["line"] for r in records) == [1, 2, 3]
    assert {r["input"]["sni"] for r in records} == {None, "localhost"}
    dead = next(r for r in records if r["input"]["line"] == 3)
    assert dead["inferred_mode"] == "unknown" and [f["rule"] for f in dead["findings"]] == ["MTLS510"]
    password = json.loads((lab / "manifest.json").read_text())["pkcs12_password"]
    (doc,) = run_json("inspect", "clients/good.p12", "--password", password, cwd=lab)
    check(doc, "inspect")


def test_the_vocabulary_in_real_outputs(served):
    lab = served.lab
    (verify,) = run_json("verify", "--ssl-client-certificate", "ca/root.pem", "clients/deep-chain.pem",
                         cwd=lab)
    row = verify["clients"][0]
    assert row["verify_error"]["code"] == 20 and row["verify_error"]["openssl"].startswith("OpenSSL")
    assert row["fix"]["text"].startswith("raise ssl_verify_depth") and "ssl_verify_depth" in row
    (logs,) = run_json("logs", str(served.error_log))
    group = next(g for g in logs["groups"] if g["verify_error"] is not None)
    assert set(group["verify_error"]) == {"code", "text", "openssl"} and group["verify_error"]["openssl"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", group["first"])
    assert group["location"]["file"] == str(served.error_log) and group["location"]["line"] >= 1
    (probe,) = run_json("probe", f"https://127.0.0.1:{served.port}/", "--ca-file", "ca/root.pem", cwd=lab)
    assert probe["certificate_requested"] is True and probe["sni"] is None
    tried = {a["spec"]["tls_version"] for a in probe["attempts"]}
    assert tried <= {"TLSv1.2", "TLSv1.3", None} and "TLSv1.2" in tried
    (listed,) = run_json("lab", "list")
    clients = [c for s in listed["scenarios"] for c in s["clients"]]
    assert {c["sni"] for c in clients} == {"localhost", None}


DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```json\n(.*?)```", re.S)


def json_examples() -> list[tuple[str, dict]]:
    out = []
    for path in DOC_FILES:
        for block in FENCE.findall(path.read_text()):
            doc = json.loads(block)
            if isinstance(doc, dict) and "schema_version" in doc:
                out.append((f"{path.name}: {doc.get('command')}", doc))
    return out


def test_json_examples_in_readme_and_docs_validate():
    examples = json_examples()
    assert len(examples) >= 5, "docs/json.md shows an example per concept"
    for where, doc in examples:
        try:
            check_document(doc)
        except AssertionError as exc:
            raise AssertionError(f"{where}: {exc}") from None


def test_kubernetes_commands_validate(tmp_path):
    """lint and diagnose on manifests, and migrate (manifests of tests/k8s/material.py: an
    Ingress asking for client certificates on one path of a host, kubernetes/ingress-nginx#5489)."""
    from tests.k8s.material import manifest
    from tests.rules.test_rules_k8s import AUTH, CA_SECRET, ingress

    f = tmp_path / "case.yaml"
    f.write_text(manifest(ingress("api", "api.example.com", AUTH)
                          + ingress("public", "api.example.com", path="/public") + CA_SECRET))
    for argv, command in ((("lint", str(f)), "lint"), (("diagnose", "--manifests", str(f)), "diagnose"),
                          (("migrate", str(f)), "migrate")):
        (doc,) = run_json(*argv)
        check(doc, command)
    (doc,) = run_json("lint", str(f))
    assert any(x["location"].get("file") == str(f) for x in doc["findings"])


#: lab scenarios whose diagnosis shows each shape: no cause, a verify error and none (a
#: verify[] entry without one once dropped a key), SNI/default server, CRLs, proxy headers
#: (every scenario is diagnosed by tests/diagnose/test_real_nginx.py; this is the shape check)
SHAPES = ("good", "depth-default", "no-sni-default-server", "crl-valid", "proxy-headers-overwritten")


@pytest.mark.nginx
@pytest.mark.parametrize("name", SHAPES)
def test_diagnose_of_lab_scenarios_validates(name):
    from mtls_doctor.diagnose import run_on_lab_scenario
    from mtls_doctor.report.json import document

    doc = json.loads(json.dumps(document(run_on_lab_scenario(name).report)))
    check_document(doc, "diagnose")


def test_lint_of_every_rule_fixture_validates():
    """Every finding shape lint can print: all config fixtures of tests/rules in one run."""
    fixtures = sorted(str(p) for p in (ROOT / "tests/rules/fixtures/config").rglob("*.conf"))
    (doc,) = run_json("lint", *fixtures, cwd=ROOT)
    assert len(doc["findings"]) > 100
    check_document(doc, "lint")
