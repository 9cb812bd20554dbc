"""docs/log-causes.md is generated from the cause catalogue and documents every identifier."""

from __future__ import annotations

import re
from pathlib import Path

from mtls_doctor.logs.causes import CAUSES, all_causes
from mtls_doctor.logs.docs import causes_markdown
from mtls_doctor.rules import REGISTRY
from tests.logs.util import CAPTURED, run_json

DOC = Path(__file__).parent.parent.parent / "docs" / "log-causes.md"


def test_log_causes_doc_up_to_date():
    assert DOC.read_text(encoding="utf-8") == causes_markdown(), (
        "docs/log-causes.md is stale: run `python -m mtls_doctor.logs.docs docs/log-causes.md`"
    )


def test_catalogue_is_well_formed():
    ids = [c.id for c in all_causes()]
    assert len(ids) == len(set(ids))
    for c in all_causes():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*(:\d+)?", c.id), c.id
        assert c.rule in REGISTRY and REGISTRY[c.rule].target == "log", c.id
        assert c.title and c.explanation and c.fix and c.fault, c.id
    assert set(CAUSES) <= set(ids)


def test_every_cause_seen_in_a_real_log_is_documented():
    _, data = run_json(str(CAPTURED))
    text = DOC.read_text(encoding="utf-8")
    for g in data["groups"]:
        prefix, _, code = g["cause"].partition(":")
        # pattern ids (client-/upstream-cert-verify-failed:<code>) are documented as a pattern
        assert f"## {g['cause']}\n" in text or (code and f"`{prefix}:<code>`" in text), g["cause"]
