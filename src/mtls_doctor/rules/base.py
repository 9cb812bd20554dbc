"""The Rule base class: metadata as class attributes, documentation in the docstring.

Invariants:
- ``code`` is ``MTLS`` + 3 digits, grouped by hundreds (see ``GROUPS``), never reused;
- ``name`` names the problem in kebab-case (``verify-client-optional-unchecked``), not the fix;
- the docstring has exactly the sections in ``SECTIONS``, each as a line of its own ending in
  ``:`` followed by its text; ``rules``, ``explain``, ``docs/rules/*.md`` and the SARIF rule table
  are all generated from it (a test fails on a missing section);
- rules never do I/O: each family module says what data its ``check`` takes.
"""

from __future__ import annotations

import inspect
import re
from typing import ClassVar

from mtls_doctor.model import Finding, Fix, Location, Severity

SECTIONS = ("What it checks", "Why it matters", "Example", "Use instead", "References")

GROUPS = {
    0: "input files (formats a loader tolerates or refuses)",
    1: "certificates and bundles",
    2: "nginx client verification settings",
    3: "revocation (CRL, OCSP)",
    4: "identity, headers and logging",
    5: "live handshakes (probe)",
    6: "error logs",
    7: "Kubernetes front ends (manifests)",
}

CODE_RE = re.compile(r"^MTLS\d{3}$")
NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


class Rule:
    """Base class; subclasses set the class attributes and write the docstring sections."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    #: what the rule looks at: "file", "bundle", "config", "probe" or "log"
    target: ClassVar[str]
    #: fact ids of shared/docs/nginx-mtls-facts.md the rule encodes
    facts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def finding(
        cls,
        message: str,
        location: Location,
        fix: Fix | str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        if isinstance(fix, str):
            fix = Fix(fix)
        return Finding(
            rule=cls.code,
            name=cls.name,
            severity=severity or cls.severity,
            message=message,
            location=location,
            fix=fix,
        )

    @classmethod
    def summary(cls) -> str:
        """The first docstring line: one sentence saying what the rule flags."""
        doc = inspect.getdoc(cls) or ""
        return doc.splitlines()[0].strip() if doc else ""

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The docstring's fixed sections, by title, in order; missing ones are absent."""
        doc = inspect.getdoc(cls) or ""
        out: dict[str, str] = {}
        current: str | None = None
        lines: list[str] = []
        for line in doc.splitlines()[1:]:
            title = line.strip().rstrip(":")
            if line.strip().endswith(":") and title in SECTIONS:
                if current is not None:
                    out[current] = "\n".join(lines).strip()
                current, lines = title, []
            elif current is not None:
                lines.append(line)
        if current is not None:
            out[current] = "\n".join(lines).strip()
        return out

    @classmethod
    def to_dict(cls) -> dict[str, object]:
        return {
            "code": cls.code,
            "name": cls.name,
            "severity": cls.severity.value,
            "target": cls.target,
            "summary": cls.summary(),
            "facts": list(cls.facts),
            "sections": cls.sections(),
        }
