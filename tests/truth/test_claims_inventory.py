"""docs/claims.md stays complete and its test references stay real.

Every rule code, log cause, diagnose cause and lab scenario must have a row; every
`tests/...py::test_name` the page cites must exist (file and function), so a renamed or deleted
test cannot silently leave a claim unproven.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLAIMS = ROOT / "docs" / "claims.md"


def _text() -> str:
    return CLAIMS.read_text()


def test_every_rule_cause_and_scenario_has_a_row():
    from mtls_doctor.diagnose.causes import CATALOGUE
    from mtls_doctor.lab.scenarios import SCENARIOS
    from mtls_doctor.logs.causes import all_causes
    from mtls_doctor.rules import REGISTRY

    text = _text()
    missing = [code for code in REGISTRY if f"**{code}**" not in text]
    missing += [c.id for c in all_causes() if f"| `{c.id}`:" not in text]
    missing += [c.id for c in CATALOGUE if f"| `{c.id}`:" not in text]
    missing += [s.name for s in SCENARIOS if f"| `{s.name}`:" not in text]
    assert missing == [], f"docs/claims.md has no row for {missing}"


def test_cited_tests_exist():
    refs = set(re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", _text()))
    assert len(refs) > 50
    bad = []
    for path, name in sorted(refs):
        file = ROOT / path
        if not file.is_file():
            bad.append(path)
        elif name and not re.search(rf"^(?:async )?def {name}\(", file.read_text(), re.M):
            bad.append(f"{path}::{name}")
    assert bad == [], bad


def test_contradictions_are_listed_first_and_have_strict_xfail_tests():
    text = _text()
    assert text.index("## Contradicted") < text.index("## 1. Rules")
    section = text[text.index("## Contradicted"):text.index("## Contradictions found and fixed")]
    found = re.findall(r"(tests/truth/[\w/]+\.py)::(\w+)`\s*\n?\s*\(xfail strict\)", section)
    assert len(found) == section.count("\n### "), found  # one strict-xfail test per contradiction
    for path, name in found:
        source = (ROOT / path).read_text()
        block = source[:source.index(f"def {name}(")].rsplit("\n\n\n", 1)[-1]
        assert "xfail(strict=True" in block, name
