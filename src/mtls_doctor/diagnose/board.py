"""The board the join writes on: causes raised, weights, evidence lines (mutable while joining).

Invariants: no I/O; the board takes cause CLASSES (``diagnose.causes``): a class that is not in
the registry is a ``KeyError``, never silently nothing; ``signal()`` dispatches one piece of
evidence to every cause that declares it (``Cause.signals``); ``Board.result()`` turns it into
frozen ``RootCause`` values ranked by confidence (the noisy-OR of the weights), ties by the
registry order; a source (probe, logs, ...) supports a cause with weight once, however many
lines it adds; one declared signal (the same rule, log cause or observation) raises a cause
with its weight once, however many findings of it there are (five expired roots in one CA file
are one piece of evidence, not five); the fix is always the cause's own template, rendered for
the server it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

from mtls_doctor.diagnose.causes import CAUSES, ORDER, Cause, by_signal
from mtls_doctor.diagnose.evidence import EvidenceLine, RootCause
from mtls_doctor.diagnose.signals import Kind

SUPPORT_WEIGHT = 0.25
MAX_EVIDENCE = 8


@dataclass
class Acc:
    cause: type[Cause]
    weights: list[float] = field(default_factory=list)
    supported_by: set[str] = field(default_factory=set)  # sources that already added support
    lines: list[EvidenceLine] = field(default_factory=list)
    summary: str | None = None
    server: str | None = None
    fix_values: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=1)
def _index():
    return by_signal()


def _known(cause: type[Cause]) -> type[Cause]:
    if CAUSES.get(getattr(cause, "id", None)) is not cause:
        raise KeyError(f"not a registered diagnose cause: {cause!r}")
    return cause


class Board:
    """The causes raised so far (mutable while joining; frozen RootCauses come out)."""

    def __init__(self) -> None:
        self.accs: dict[str, Acc] = {}
        #: supports that arrived before any evidence raised their cause (applied in result())
        self.pending: list[tuple[type[Cause], float, EvidenceLine]] = []
        #: (cause id, kind, key) of a declared signal that raised -> the index of its weight
        self.weighed: dict[tuple[str, str, str], int] = {}

    def has(self, cause: type[Cause]) -> bool:
        return _known(cause).id in self.accs

    def raise_(self, cause: type[Cause], weight: float, line: EvidenceLine, summary: str | None = None,
               server: str | None = None, fix: Mapping[str, str] | None = None) -> None:
        acc = self.accs.setdefault(_known(cause).id, Acc(cause))
        self._add(acc, weight, line)
        acc.summary = acc.summary or summary
        acc.server = acc.server or server
        for k, v in (fix or {}).items():
            if v:
                acc.fix_values.setdefault(k, v)

    def support(self, cause: type[Cause], weight: float, line: EvidenceLine) -> bool:
        acc = self.accs.get(_known(cause).id)
        if acc is None:
            self.pending.append((cause, weight, line))
            return False
        if line.source in acc.supported_by:
            weight = 0.0  # one source supports a cause once, however many lines it has
        if weight > 0.0:
            acc.supported_by.add(line.source)
        self._add(acc, weight, line)
        return True

    def signal(self, kind: Kind, key: str, line: EvidenceLine, summary: str | None = None,
               server: str | None = None, fix: Mapping[str, str] | None = None,
               scale: float = 1.0, role: str | None = None, only_support: bool = False) -> list[str]:
        """Apply one piece of evidence to every cause declaring (kind, key) (and the role of its
        file); returns the ids it raised. ``scale`` lowers a weight (history, weak targets)."""
        raised: list[str] = []
        for cause, sig in _index().get((kind, key), ()):
            if sig.role is not None and sig.role != role:
                continue
            if sig.raises and not only_support:
                mark = (cause.id, kind.value, key)
                weight = sig.weight * scale
                at = self.weighed.get(mark) if cause.id in self.accs else None
                if at is not None:  # counted once, at its strongest (the user's own server)
                    weights = self.accs[cause.id].weights
                    weights[at] = max(weights[at], weight)
                    weight = 0.0
                else:
                    self.weighed[mark] = len(self.accs[cause.id].weights) if cause.id in self.accs else 0
                self.raise_(cause, weight, line, summary, server, fix)
                raised.append(cause.id)
            else:
                self.support(cause, sig.weight * scale, line)
        return raised

    def declared(self, kind: Kind, key: str) -> bool:
        return (kind, key) in _index()

    @staticmethod
    def _add(acc: Acc, weight: float, line: EvidenceLine) -> None:
        acc.weights.append(weight)
        if line not in acc.lines:
            acc.lines.append(line)

    def confidence(self, cause: type[Cause]) -> float:
        acc = self.accs.get(_known(cause).id)
        return _noisy_or(acc.weights) if acc is not None else 0.0

    def drop(self, cause: type[Cause]) -> None:
        self.accs.pop(_known(cause).id, None)

    def result(self, failure_seen: bool = False) -> tuple[RootCause, ...]:
        """Frozen causes, ranked; ``failure_seen`` (a symptom, the user's certificate refused)
        puts exposures (``Cause.exposure``) after the causes that explain a failure."""
        pending, self.pending = self.pending, []
        for cause, weight, line in pending:
            if cause.id in self.accs:
                self.support(cause, weight, line)
        self.pending = []
        scored = [(_noisy_or(acc.weights), acc) for acc in self.accs.values()]
        scored = [s for s in scored if s[0] > 0.0]
        explained = any(conf >= 0.3 and acc.cause.explains_failure and not acc.cause.exposure
                        for conf, acc in scored)

        def demoted(acc: Acc) -> bool:
            # missing evidence, or (with a failure seen) an exposure, ranks after the causes
            # that explain the failure
            return explained and (not acc.cause.explains_failure or (failure_seen and acc.cause.exposure))

        scored.sort(key=lambda s: (demoted(s[1]), -round(s[0], 6), ORDER[s[1].cause.id]))
        out = []
        for rank, (confidence, acc) in enumerate(scored, 1):
            cause = acc.cause
            values = {"server": acc.server or "", **acc.fix_values}
            out.append(RootCause(
                cause=cause.id, title=cause.title, rank=rank, confidence=confidence,
                summary=acc.summary or cause.title,
                evidence=tuple(_ordered(acc.lines)[:MAX_EVIDENCE]),
                fix=cause.render_fix(values), facts=cause.facts, server=acc.server))
        return tuple(out)


def _noisy_or(weights: list[float]) -> float:
    miss = 1.0
    for w in weights:
        miss *= 1.0 - max(0.0, min(w, 1.0))
    return min(0.99, 1.0 - miss)


_SOURCE_ORDER = {"symptom": 0, "verify": 1, "probe": 2, "config": 3, "file": 4, "logs": 5, "nginx": 6}


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
