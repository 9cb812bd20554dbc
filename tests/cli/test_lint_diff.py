"""``lint --diff``: for every rule with a mechanical fix (``nginx.fixes.MECHANICAL``), the diff of
its firing fixtures applies with ``git apply`` and ``patch -p1``, and linting again shows the
finding gone, nothing new, and nothing real ``nginx -t`` refuses (``--nginx-t``, MTLS250);
what is left is exactly what the one-line note on stderr names.

The fixtures are those of tests/rules/fixtures/config (linted with the lab PKI they name, at the
time they are written for), grouped by the nginx version they are judged for, so that each
group is three runs of the real CLI: lint, lint --diff, lint --nginx-t after applying.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mtls_doctor.nginx.fixes import MECHANICAL
from tests.rules.test_rules_config import AT, FIXTURES, VERSION, lab_dir  # noqa: F401 (a fixture)

BIN = str(Path(sys.executable).parent / "mtls-doctor")
NOTE = re.compile(r"^mtls-doctor: note: (?:the diff fixes \d+ findings?; )?no mechanical fix for \d+ findings? "
                  r"\(([A-Z0-9, x]+)\): `mtls-doctor lint` without --diff says what to change$")


def _lint(cwd: Path, version: str | None, *args: str) -> subprocess.CompletedProcess:
    argv = [BIN, "lint", "--at", AT.isoformat(), *(["--nginx-version", version] if version else []), *args]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def _findings(done: subprocess.CompletedProcess) -> dict[str, Counter]:
    assert done.returncode in (0, 1), done.stderr
    doc = json.loads(done.stdout)
    out: dict[str, Counter] = {}
    for f in doc["findings"]:
        out.setdefault(Path(f["location"].get("file") or "").name, Counter())[f["rule"]] += 1
    return out


def _noted(stderr: str) -> Counter:
    lines = stderr.strip().splitlines()
    if not lines:
        return Counter()
    assert len(lines) == 1, stderr
    m = NOTE.match(lines[0])
    assert m, lines[0]
    out = Counter()
    for part in m.group(1).split(", "):
        code, _, n = part.partition(" x")
        out[code] += int(n or 1)
    return out


@pytest.fixture(scope="module")
def fixed(lab_dir, tmp_path_factory):
    """{fixture name: (before, after, diff)} for every firing fixture of a mechanical rule."""
    groups: dict[str | None, list[Path]] = {}
    for code in sorted(MECHANICAL):
        fires = sorted((FIXTURES / code).glob("fire_*.conf"))
        assert fires, f"{code}: no firing fixture"
        for src in fires:
            m = VERSION.search(src.read_text())
            groups.setdefault(m.group(1) if m else None, []).append(src)
    out = {}
    for version, sources in groups.items():
        names = []
        for src in sources:
            name = f"diff-{src.parent.name}-{src.name}"
            shutil.copyfile(src, lab_dir / name)
            names.append(name)
        before = _findings(_lint(lab_dir, version, "--nginx-t", "--format", "json", *names))
        done = _lint(lab_dir, version, "--diff", *names)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
        noted = _noted(done.stderr)
        # paths relative to the current directory: `patch -p1` and `git apply` take it as it is
        assert all(line[6:] in names for line in done.stdout.splitlines() if line.startswith("--- a/")), done.stdout
        dry = subprocess.run(["patch", "-p1", "--dry-run"], input=done.stdout, cwd=lab_dir, capture_output=True,
                             text=True, timeout=30)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        applied = subprocess.run(["git", "apply", "-v"], input=done.stdout, cwd=lab_dir, capture_output=True,
                                 text=True, timeout=30)
        assert applied.returncode == 0, applied.stderr
        after = _findings(_lint(lab_dir, version, "--nginx-t", "--format", "json", *names))
        for name, src in zip(names, sources):
            out[src.parent.name + "/" + src.stem] = (before.get(name, Counter()), after.get(name, Counter()),
                                                     done.stdout, noted, version)
    return out


def test_every_mechanical_rule_is_fixed_somewhere(fixed):
    gone = {key.split("/")[0] for key, (before, after, *_rest) in fixed.items()
            if after[key.split("/")[0]] < before[key.split("/")[0]]}
    assert gone == set(MECHANICAL), sorted(set(MECHANICAL) - gone)


@pytest.mark.nginx
def test_applied_diffs_leave_only_what_the_note_names(fixed):
    # every finding left after the diff is one the note named (per version group, by rule; the
    # MTLS250 of --nginx-t are not in the note of a run without it: compared with before)
    left: dict[str | None, Counter] = {}
    noted_by: dict[str | None, Counter] = {}
    for key, (before, after, _diff, noted, version) in fixed.items():
        code = key.split("/")[0]
        assert before[code] >= 1, f"{key}: the fixture does not fire {code}"
        new = {c for c in after if after[c] > before[c]}
        assert not new, f"{key}: the diff brought {sorted(new)} (MTLS250: nginx -t refuses the result)"
        left.setdefault(version, Counter()).update({c: n for c, n in after.items() if c != "MTLS250"})
        noted_by[version] = noted
    for version, counts in left.items():
        assert +counts == +noted_by[version], f"nginx {version}: left {dict(counts)}, the note names {dict(noted_by[version])}"


def test_no_mechanical_fix_is_one_line_and_no_diff(tmp_path):
    """`ssl_verify_client optional` without a check (MTLS201) needs a decision: no diff, the note."""
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    server {\n        listen 443 ssl;\n        ssl_protocols TLSv1.2 TLSv1.3;\n"
                    "        ssl_verify_client optional;\n        ssl_client_certificate ca.pem;\n    }\n}\n")
    done = _lint(tmp_path, "1.22.1", "--diff", "--no-files", "nginx.conf")
    assert done.returncode == 1 and done.stdout == ""
    assert _noted(done.stderr)["MTLS201"] == 1
    assert "the diff fixes" not in done.stderr


def test_a_file_outside_the_current_directory_is_named_from_root(tmp_path):
    conf = tmp_path / "conf" / "nginx.conf"
    conf.parent.mkdir()
    conf.write_text("events {}\nhttp {\n    server {\n        listen 443;\n        ssl on;\n"
                    "        ssl_protocols TLSv1.2 TLSv1.3;\n    }\n}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _lint(elsewhere, "1.22.1", "--diff", "--no-files", "--select", "MTLS220", str(conf))
    assert f"--- a{conf}\n" in done.stdout and done.stderr == ""
    applied = subprocess.run(["patch", "-p1", "-d", "/"], input=done.stdout, capture_output=True, text=True,
                             timeout=30)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "listen 443 ssl;" in conf.read_text() and "ssl on;" not in conf.read_text()


def test_two_findings_asking_for_one_directive_insert_it_once(tmp_path):
    """Two depth findings at the same `ssl_verify_client` (two CA files, 1 and 2 intermediates
    deep): one `ssl_verify_depth`, the larger, not two lines nginx -t refuses as a duplicate."""
    from mtls_doctor.model import Finding, Fix, Location, Severity
    from mtls_doctor.nginx.fixes import fix_plan
    from mtls_doctor.nginx.parse import load_path

    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n    server {\n        listen 443 ssl;\n        ssl_verify_client on;\n"
                    "    }\n}\n")
    config = load_path(str(conf))
    at = Location(path=str(conf), line=5)
    findings = [Finding("MTLS207", "verify-depth-too-low", Severity.ERROR, "m", at, Fix("Raise.", f"ssl_verify_depth {d};"))
                for d in (2, 3, 3)]
    plan = fix_plan([config], findings, str(tmp_path))
    assert plan.diff.count("+        ssl_verify_depth") == 1 and "ssl_verify_depth 3;" in plan.diff, plan.diff
    assert len(plan.fixed) == 3 and not plan.manual


def test_kubernetes_manifests_say_there_is_nothing_to_rewrite(tmp_path):
    """Manifests (an Ingress with auth-tls on one of two Ingresses of a host,
    kubernetes/ingress-nginx#5489, as tests/k8s/material.py writes it): no diff, one line."""
    from tests.k8s.material import manifest
    from tests.rules.test_rules_k8s import AUTH, CA_SECRET, ingress

    f = tmp_path / "ingress.yaml"
    f.write_text(manifest(ingress("api", "api.example.com", AUTH) + ingress("public", "api.example.com", path="/public")
                          + CA_SECRET))
    plain = _lint(tmp_path, None, "ingress.yaml")
    done = _lint(tmp_path, None, "ingress.yaml", "--diff")
    assert done.stdout == "" and done.returncode == plain.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and "Kubernetes manifests have no mechanical fix" in done.stderr
