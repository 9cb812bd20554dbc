"""The documentation shipped in docs/ is complete and current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "docs" / "nginx-mtls-facts.md"
SHARED = ROOT.parent / "shared" / "docs" / "nginx-mtls-facts.md"


def test_fact_sheet_is_shipped_and_cited_ids_exist():
    known = set(re.findall(r"\*\*(F\d+\.\d+)\b", FACTS.read_text(encoding="utf-8")))
    assert len(known) > 20
    from mtls_doctor.rules import REGISTRY

    cited = {f for rule in REGISTRY.values() for f in rule.facts}
    assert cited - known == set(), f"rules cite unknown fact ids: {sorted(cited - known)}"


@pytest.mark.skipif(not SHARED.is_file(), reason="no shared fact sheet next to this checkout")
def test_fact_sheet_copy_matches_the_shared_one():
    assert FACTS.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8"), (
        "docs/nginx-mtls-facts.md differs from shared/docs/nginx-mtls-facts.md: copy it again"
    )
