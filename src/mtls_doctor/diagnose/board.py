"""The board the join writes on: causes raised, weights, evidence lines (mutable while joining).

Invariants: no I/O; ``Board.result()`` turns it into frozen ``RootCause`` values ranked by
confidence (the noisy-OR of the weights), ties by the catalogue order; a source (probe, logs, ...)
supports a cause with weight once, however many lines it adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mtls_doctor.diagnose.causes import CAUSES, ORDER
from mtls_doctor.diagnose.evidence import EvidenceLine, RootCause
from mtls_doctor.model import Fix

SUPPORT_WEIGHT = 0.25
MAX_EVIDENCE = 8


@dataclass
class Acc:
    cause: str
    weights: list[float] = field(default_factory=list)
    supported_by: set[str] = field(default_factory=set)  # sources that already added support
    lines: list[EvidenceLine] = field(default_factory=list)
    summary: str | None = None
    server: str | None = None
    fix: Fix | None = None


class Board:
    """The causes raised so far (mutable while joining; frozen RootCauses come out)."""

    def __init__(self) -> None:
        self.accs: dict[str, Acc] = {}

    def raise_(self, cause: str, weight: float, line: EvidenceLine, summary: str | None = None,
               server: str | None = None, fix: Fix | None = None) -> None:
        acc = self.accs.setdefault(cause, Acc(cause))
        self._add(acc, weight, line)
        acc.summary = acc.summary or summary
        acc.server = acc.server or server
        acc.fix = acc.fix or fix

    def support(self, cause: str, weight: float, line: EvidenceLine) -> bool:
        acc = self.accs.get(cause)
        if acc is None:
            return False
        if line.source in acc.supported_by:
            weight = 0.0  # one source supports a cause once, however many lines it has
        acc.supported_by.add(line.source)
        self._add(acc, weight, line)
        return True

    @staticmethod
    def _add(acc: Acc, weight: float, line: EvidenceLine) -> None:
        acc.weights.append(weight)
        if line not in acc.lines:
            acc.lines.append(line)

    def result(self) -> tuple[RootCause, ...]:
        scored = []
        for acc in self.accs.values():
            miss = 1.0
            for w in acc.weights:
                miss *= 1.0 - w
            scored.append((min(0.99, 1.0 - miss), acc))
        scored.sort(key=lambda s: (-round(s[0], 6), ORDER.get(s[1].cause, 999)))
        out = []
        for rank, (confidence, acc) in enumerate(scored, 1):
            info = CAUSES[acc.cause]
            out.append(RootCause(
                cause=acc.cause, title=info.title, rank=rank, confidence=confidence,
                summary=acc.summary or info.title,
                evidence=tuple(_ordered(acc.lines)[:MAX_EVIDENCE]),
                fix=acc.fix or Fix(info.fix, info.snippet), facts=info.facts, server=acc.server))
        return tuple(out)


_SOURCE_ORDER = {"verify": 0, "probe": 1, "config": 2, "file": 3, "logs": 4, "nginx": 5}


def _ordered(lines: list[EvidenceLine]) -> list[EvidenceLine]:
    """One line of each source first (live before predicted), then the rest, same order."""
    by_source = sorted(lines, key=lambda l: _SOURCE_ORDER.get(l.source, 9))
    firsts: list[EvidenceLine] = []
    seen: set[str] = set()
    for line in by_source:
        if line.source not in seen:
            seen.add(line.source)
            firsts.append(line)
    return firsts + [l for l in by_source if l not in firsts]



__all__ = ["Board", "SUPPORT_WEIGHT", "MAX_EVIDENCE"]
