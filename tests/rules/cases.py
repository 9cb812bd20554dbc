"""The fixture-case record every rule family's tests use (collected by test_meta.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RuleCase:
    code: str  # the rule, e.g. "MTLS101"
    kind: str  # "fire": must produce a finding of ``code``; "ok": must not
    id: str  # a short name for the case
    input: Any = None  # whatever the family's test feeds the rule (path, bytes, builder)
