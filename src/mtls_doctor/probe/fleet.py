"""Probe many endpoints: a targets file, a bounded pool of workers, one summary per target.

Invariants:
- ``parse_targets`` is pure: text in, entries out, ``InputError`` naming the line for a bad one
  (all lines are checked before anything is probed);
- ``run_fleet`` runs at most ``concurrency`` targets at a time (each target's matrix runs on its
  own thread, sequentially, so the number of open connections is bounded by ``concurrency``);
  each result is handed to ``on_result`` as it completes, so output streams; Ctrl-C stops it at
  once (``probe.pool``: no queued target starts, running ones are abandoned);
- a target that fails is a result (mode "unknown" and an MTLS510 finding), never an exception.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any, Callable

from mtls_doctor.model import InputError, Report
from mtls_doctor.probe.handshake import ProbeConfig
from mtls_doctor.probe.identity import ClientIdentity
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.probe.pool import run_unordered
from mtls_doctor.probe.target import Target, parse_target, redact

MAX_TARGETS = 100_000


@dataclass(frozen=True)
class FleetEntry:
    line: int
    text: str
    target: Target
    servername: str | None


def parse_targets(text: str, source: str = "targets") -> list[FleetEntry]:
    """One target a line (``https://host[:port][/path]`` or ``host:port``), optionally followed
    by the SNI name to use; ``#`` starts a comment."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) > 2:
            shown = " ".join(redact(field) for field in fields)
            raise InputError(f"{source}:{number}: expected `TARGET [SERVERNAME]`, got {shown!r}")
        try:
            target = parse_target(fields[0])
        except InputError as exc:
            raise InputError(f"{source}:{number}: {exc}") from None
        entries.append(FleetEntry(number, fields[0], target, fields[1] if len(fields) > 1 else None))
        if len(entries) > MAX_TARGETS:
            raise InputError(f"{source}: more than {MAX_TARGETS} targets")
    if not entries:
        raise InputError(f"{source}: no target in the file")
    return entries


def summary(entry: FleetEntry, report: Report, elapsed_ms: float) -> dict[str, Any]:
    """The JSON Lines record of one target: the very document ``probe TARGET --format json``
    prints (docs/json.md), plus ``input`` (its line in the targets file) and ``elapsed_ms``."""
    from mtls_doctor.report.json import document

    record = document(report)
    record["input"] = {"line": entry.line, "text": entry.text, "sni": entry.servername}
    record["elapsed_ms"] = round(elapsed_ms, 1)
    return record


def run_fleet(
    entries: list[FleetEntry],
    base: ProbeConfig,
    judge: Callable[[Any], Report],
    identity: ClientIdentity | None = None,
    tls: str | None = None,
    legacy: bool = True,
    concurrency: int = 16,
    no_sni: bool = False,
    on_result: Callable[[dict[str, Any]], None] = lambda record: None,
) -> list[dict[str, Any]]:
    """Probe every entry; returns the records in completion order (also passed to on_result)."""
    import time

    def one(entry: FleetEntry) -> dict[str, Any]:
        t0 = time.perf_counter()
        name = entry.servername or (None if entry.target.is_ip else entry.target.host)
        primary = None if no_sni else name
        other: str | None | bool = None if primary is not None else (name if name else False)
        config = replace(base, host=entry.target.host, port=entry.target.port,
                         path=entry.target.path, verify_name=name or entry.target.host,
                         protocol=entry.target.protocol, starttls=entry.target.starttls)
        result = run_matrix(config, primary, other_sni=other, tls=tls, identity=identity,
                            at=dt.datetime.now(dt.timezone.utc),
                            legacy=legacy and not entry.target.starttls, workers=1)
        return summary(entry, judge(result), (time.perf_counter() - t0) * 1000)

    records = []
    # daemon workers: Ctrl-C stops at once instead of after every queued target timed out
    for _, record in run_unordered(one, entries, max(1, concurrency)):
        records.append(record)
        on_result(record)
    return records
