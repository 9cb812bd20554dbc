"""Meta-tests over the rule registry (STYLE.md habits 4, 5, 6).

- every rule has a valid code and name, a severity, a target and every docstring section;
- codes and names are unique; the docs pages in docs/rules are what the rules generate;
- every rule has fixtures: at least one case that fires and one close ``ok`` case that must not.
  Fixture cases are collected from the ``CASES`` lists of the ``tests/rules/test_rules_*.py``
  modules (each entry a ``RuleCase``, see ``tests/rules/cases.py``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mtls_doctor.model import Severity
from mtls_doctor.rules import REGISTRY
from mtls_doctor.rules.base import CODE_RE, GROUPS, NAME_RE, SECTIONS

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _all_cases():
    cases = []
    for path in sorted(HERE.glob("test_rules_*.py")):
        spec = importlib.util.spec_from_file_location(f"_meta_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        cases.extend(getattr(module, "CASES", []))
    return cases


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_metadata_and_sections(code):
    rule = REGISTRY[code]
    assert CODE_RE.match(rule.code) and rule.code == code
    assert int(code[4]) in GROUPS, f"{code}: unknown group"
    assert NAME_RE.match(rule.name), rule.name
    assert isinstance(rule.severity, Severity)
    assert rule.target in {"file", "bundle", "config", "probe", "log"}
    assert rule.summary(), f"{code}: docstring needs a one-line summary"
    sections = rule.sections()
    missing = [s for s in SECTIONS if not sections.get(s)]
    assert not missing, f"{code} docstring lacks sections: {missing}"


def test_names_unique():
    names = [r.name for r in REGISTRY.values()]
    assert len(names) == len(set(names))


def test_every_rule_has_firing_and_ok_fixtures():
    cases = _all_cases()
    fire = {c.code for c in cases if c.kind == "fire"}
    ok = {c.code for c in cases if c.kind == "ok"}
    missing = sorted((set(REGISTRY) - fire) | (set(REGISTRY) - ok))
    assert not missing, f"rules without a firing and an ok fixture: {missing}"


def test_docs_pages_up_to_date():
    from mtls_doctor.rules.docs import expected_pages

    stale = []
    for name, text in expected_pages().items():
        path = ROOT / "docs" / "rules" / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    assert not stale, (
        f"docs/rules is stale for {stale}: run `python -m mtls_doctor.rules.docs docs/rules`"
    )
