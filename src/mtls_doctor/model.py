"""The data model every command shares: Severity, Location, Fix, Finding, Report.

Invariants of this module:
- no I/O, no clock, no imports beyond the standard library;
- every value is immutable (frozen dataclasses, str enums) and converts to plain JSON data with
  ``to_dict()`` (the internal shape; what users see as JSON is ``report.json.document``, the
  contract of docs/json.md, versioned by ``SCHEMA_VERSION``);
- a Finding describes one occurrence: its ``message`` is one sentence about that occurrence and
  its ``location`` points at it precisely (``file:line``, ``path#index`` or ``host:port``).
  Prose about the rule in general lives on the rule class (see ``mtls_doctor.rules``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Mapping

#: the version of the JSON contract (docs/json.md); 2: one vocabulary (CHANGELOG.md)
SCHEMA_VERSION = 2

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class Severity(str, Enum):
    """How bad a finding is, in increasing order."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank >= other.rank

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank > other.rank

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank <= other.rank

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank < other.rank


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True)
class Location:
    """Where a finding is: a config line, a certificate in a bundle, or a network endpoint.

    Rendered as ``file:line`` (config), ``path#index`` (certificate ``index`` in a bundle,
    0-based, in file order) or ``host:port`` (probe).
    """

    path: str | None = None
    line: int | None = None
    index: int | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.host is not None:
            host = f"[{self.host}]" if ":" in self.host else self.host
            return f"{host}:{self.port}" if self.port is not None else host
        path = self.path if self.path is not None else "-"
        if self.line is not None:
            return f"{path}:{self.line}"
        if self.index is not None:
            return f"{path}#{self.index}"
        return path

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"display": str(self)}
        for key in ("path", "line", "index", "host", "port"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True)
class Fix:
    """What to change: one sentence, and optionally a snippet (config lines or a command)."""

    text: str
    snippet: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "snippet": self.snippet}


@dataclass(frozen=True)
class Finding:
    """One occurrence of a rule's problem."""

    rule: str
    name: str
    severity: Severity
    message: str
    location: Location
    fix: Fix | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            # path/line at the top level too: what CI tools and `jq` users reach for first
            "path": self.location.path,
            "line": self.location.line,
            "location": self.location.to_dict(),
            "fix": self.fix.to_dict() if self.fix else None,
        }


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Worst first, then by location and rule: a stable, deterministic order."""
    return tuple(
        sorted(
            findings,
            key=lambda f: (
                -f.severity.rank,
                f.location.path or f.location.host or "",
                f.location.line if f.location.line is not None else -1,
                f.location.index if f.location.index is not None else -1,
                f.rule,
                f.message,
            ),
        )
    )


@dataclass(frozen=True)
class Report:
    """What one command found: its own JSON-ready ``data`` plus the shared findings list.

    ``data`` holds plain JSON values only (str, int, float, bool, None, lists, dicts); each
    command documents its keys. ``to_dict()`` is that internal data; the ``--format json``
    output is ``mtls_doctor.report.json.document(report)`` (docs/json.md).
    """

    command: str
    findings: tuple[Finding, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def exit_code(self, fail_on: Severity = Severity.WARNING) -> int:
        """0 when no finding is at or above ``fail_on``, else 1 (usage errors never get here)."""
        return EXIT_FINDINGS if any(f.severity >= fail_on for f in self.findings) else EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "command": self.command}
        out.update(self.data)
        out["findings"] = [f.to_dict() for f in sort_findings(self.findings)]
        return out


class InputError(Exception):
    """The user's input cannot be used at all (missing file, unreadable, too big, wrong option).

    The CLI prints ``str(error)`` as one line and exits 2. Problems *inside* usable input are
    Findings, not exceptions.
    """
