"""Group classified error-log lines by cause, in bounded memory, line by line.

Invariants:
- no I/O: the caller feeds ``(source, line_number, text)`` one line at a time (``logs/read.py``
  streams files, ``.gz`` and stdin); memory does not grow with the number of lines: per group it
  keeps counters, first/last time and bounded samples (``MAX_SAMPLE`` distinct servers,
  clients, hosts; the exact distinct client count up to ``MAX_DISTINCT``);
- a file with nginx lines but no ``info`` (or ``debug``) line cannot contain client-certificate
  failures, which nginx logs at ``info`` (F4.1): ``FileStats.has_info`` says so;
- groups are ordered biggest first, then by cause id (deterministic).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mtls_doctor.logs.causes import Cause, classify
from mtls_doctor.logs.parse import HEAD, event_from_fields, line_level, parse_fields

MAX_SAMPLE = 10
MAX_DISTINCT = 1000
MAX_DETAILS = 20
MAX_EXAMPLE = 600
_CACHE_SIZE = 4096

#: a cheap pre-filter: only lines containing one of these are parsed fully (a test checks that
#: ``classify`` never matches a line this misses)
_INTERESTING = re.compile(
    r"SSL|ssl_|alert|handshake|server name different|plain HTTP|OCSP|certificate|X509|resolve|CRL"
)


#: a client address as nginx writes it (IPv4, IPv6, "unix:"): no comma, quote or space, so two
#: lines that differ only in it parse alike
_PLAIN_CLIENT = re.compile(r"[0-9A-Fa-f.:\[\]]{1,64}|unix:")


@dataclass(frozen=True)
class Group:
    """Every line of one cause."""

    cause: Cause
    count: int
    verify_code: int | None
    verify_text: str | None
    first: str | None  # "2026/11/28 01:05:41" as logged (server local time)
    last: str | None
    servers: tuple[str, ...]  # bounded sample, first seen first: server_name, listen address,
    #                           or "host H" when the server block has no name
    clients: tuple[str, ...]
    clients_distinct: int  # exact up to MAX_DISTINCT
    clients_truncated: bool
    hosts: tuple[str, ...]
    protocols: tuple[str, ...]
    levels: tuple[tuple[str, int], ...]
    details: tuple[tuple[str, int], ...]  # alert / OCSP reason / file path -> count
    source: str  # where the first line is
    line: int
    example: str  # the first line, truncated

    def to_dict(self) -> dict[str, Any]:
        """The JSON of one ``groups[]`` entry of ``mtls-doctor logs --format json``."""
        c = self.cause
        return {
            "cause": c.id,
            "title": c.title,
            "rule": c.rule,
            "fault": c.fault,
            "count": self.count,
            "verify_code": self.verify_code,
            "verify_text": self.verify_text,
            "explanation": c.explanation,
            "fix": c.fix,
            "facts": list(c.facts),
            "first": _iso(self.first),
            "last": _iso(self.last),
            "servers": list(self.servers),
            "clients": list(self.clients),
            "clients_distinct": self.clients_distinct,
            "clients_truncated": self.clients_truncated,
            "hosts": list(self.hosts),
            "protocols": list(self.protocols),
            "levels": dict(self.levels),
            "details": [{"detail": d, "count": n} for d, n in self.details],
            "location": {"path": self.source, "line": self.line, "display": f"{self.source}:{self.line}"},
            "example": self.example,
        }


@dataclass(frozen=True)
class FileStats:
    source: str
    lines: int
    nginx_lines: int  # lines that parse as nginx error-log lines
    levels: tuple[tuple[str, int], ...]

    @property
    def has_info(self) -> bool:
        return any(level in ("info", "debug") for level, _ in self.levels)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.source, "lines": self.lines, "nginx_lines": self.nginx_lines,
                "levels": dict(self.levels), "has_info": self.has_info}


@dataclass(frozen=True)
class LogSummary:
    files: tuple[FileStats, ...]
    groups: tuple[Group, ...]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        """``files`` and ``groups`` (biggest first) as plain JSON data."""
        return {"files": [f.to_dict() for f in self.files], "groups": [g.to_dict() for g in self.groups]}


def _iso(t: str | None) -> str | None:
    """nginx's "2026/11/28 01:05:41" (server local time, no zone) as "2026-11-28T01:05:41"."""
    return t.replace("/", "-").replace(" ", "T") if t else None


@dataclass
class _Acc:
    cause: Cause
    verify_code: int | None
    verify_text: str | None
    source: str
    line: int
    example: str
    count: int = 0
    first: str | None = None
    last: str | None = None
    servers: dict[str, None] = field(default_factory=dict)
    clients: dict[str, None] = field(default_factory=dict)
    hosts: dict[str, None] = field(default_factory=dict)
    protocols: dict[str, None] = field(default_factory=dict)
    levels: Counter = field(default_factory=Counter)
    details: Counter = field(default_factory=Counter)


def _add(bag: dict[str, None], value: str | None, limit: int) -> None:
    if value and len(bag) < limit and value not in bag:
        bag[value] = None


def _order(a: _Acc) -> tuple:
    return (-a.count, a.cause.id.split(":")[0], a.verify_code if a.verify_code is not None else -1, a.cause.id)


class Summarizer:
    """Feed lines, then ``result()``. Mutable while feeding; the result is frozen."""

    def __init__(self, max_details: int = MAX_DETAILS) -> None:
        #: distinct details kept per group (a part of a file read apart keeps more, see merge)
        self.max_details = max_details
        self._groups: dict[str, _Acc] = {}
        self._files: dict[str, list] = {}  # source -> [lines, nginx_lines, Counter(levels)]
        # Two caches on purpose, at two levels: ``_shapes`` (the exact line but for time, pid,
        # connection and client) skips parsing altogether; ``_cache`` (the parsed fields that
        # decide the cause, not their values: a request path or a syslog prefix does not count)
        # skips classify() for lines that missed ``_shapes``. Without ``_cache`` (measured on
        # 200,000 lab lines, 2026-12-03): 0.43 -> 0.63 s CPU with varied clients, 1.49 -> 1.76 s
        # with varied request paths, 1.81 -> 2.51 s with a syslog prefix.
        # (level, message, action, host, context keys)
        self._cache: dict[tuple, list] = {}  # -> [classify() result, protocol, host/protocol added]
        # (level word, text before ", client: ", text after the address) -> _shape() of a line
        self._shapes: dict[tuple, list] = {}
        self._shapes_source: str | None = None  # the source the cached shapes' lines came from

    def start(self, source: str) -> None:
        """Register an input, so that an empty one is reported too."""
        self._files.setdefault(source, [0, 0, Counter()])

    def feed(self, source: str, number: int, text: str) -> None:
        stats = self._files.get(source)
        if stats is None:
            stats = self._files[source] = [0, 0, Counter()]
        stats[0] += 1
        # The fast path: a line in nginx's own form whose client (if any) is a plain address.
        # Lines that differ only in time, pid, connection and client address have the same
        # "shape", hence the same parse and cause (a bare client value cannot move the split
        # point of the context, parse.py): a shape is parsed once, at its first line, which is
        # counted in full; later lines of it add their time and client, and their number is
        # folded into the counters in bulk (``_fold``), with the same result as line by line.
        head = HEAD.match(text)
        key: tuple | None = None
        client = time = None
        if head is not None:
            time = head.group(1)
            rest = text[head.end():]
            i = rest.find(", client: ")
            if i < 0:
                key = (head.group(2), rest)
            else:
                j = rest.find(",", i + 10)
                if j < 0:
                    j = len(rest.rstrip("\r\n"))
                client = rest[i + 10:j]
                if _PLAIN_CLIENT.fullmatch(client):
                    key = (head.group(2), rest[:i], rest[j:])
        elif text.startswith("nginx: ["):  # what nginx -t prints: no time, pid or client
            key = ("", text)
        if key is not None:
            if source is not self._shapes_source:
                self._fold()
                self._shapes_source = source
            rec = self._shapes.get(key)
            if rec is not None:  # [pending lines, stats, level, acc, detail]
                rec[0] += 1
                acc = rec[3]
                if acc is not None:
                    if time is not None:
                        if acc.first is None or time < acc.first:
                            acc.first = time
                        if acc.last is None or time > acc.last:
                            acc.last = time
                    if client is not None and client not in acc.clients \
                            and len(acc.clients) < MAX_DISTINCT:
                        acc.clients[client] = None
                return
            shape = self._shape(text)
            if shape is None:
                return
            acc = self._count(stats, shape, source, number, text, time, client)
            if len(self._shapes) >= _CACHE_SIZE:
                self._fold()
            detail = shape[1][0].detail if acc is not None else None
            self._shapes[key] = [0, stats, shape[0], acc, detail]
            return
        shape = self._shape(text)
        if shape is None:
            return
        fields = shape[5]
        self._count(stats, shape, source, number, text, fields[0] if fields else None,
                    shape[4])

    def _fold(self) -> None:
        """Add the pending line counts of every cached shape to the counters; forget them."""
        for pending, stats, level, acc, detail in self._shapes.values():
            if not pending:
                continue
            stats[1] += pending
            stats[2][level] += pending
            if acc is not None:
                acc.count += pending
                acc.levels[level] += pending
                if detail and detail in acc.details:
                    acc.details[detail] += pending
        self._shapes.clear()

    def _shape(self, text: str) -> tuple | None:
        """(level, cache entry or None, server, host, client, fields) of one line, or None
        when it is not an nginx line. ``entry`` is None for a line no cause can match."""
        if _INTERESTING.search(text) is None:
            level = line_level(text)
            return None if level is None else (level, None, None, None, None, None)
        fields = parse_fields(text)
        if fields is None:
            return None
        level, message, action, pairs = fields[1], fields[5], fields[6], fields[7]
        ctx = dict(pairs)
        host = ctx.get("host")
        key = (level, message, action, host, tuple(ctx))
        entry = self._cache.get(key)
        if entry is None:  # classify() and protocol depend on the key's fields only
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            event = event_from_fields(fields)
            entry = self._cache[key] = [classify(event), event.protocol, False]
        server = ctx.get("server") or (host and f"host {host}") or None
        return (level, entry, server, host, ctx.get("client"), fields)

    def _count(self, stats: list, shape: tuple, source: str, number: int, text: str,
               time: str | None, client: str | None) -> _Acc | None:
        """Count one line in full; the group it went to (None: no cause)."""
        level, entry = shape[0], shape[1]
        stats[1] += 1
        stats[2][level] += 1
        if entry is None:
            return None
        match = entry[0]
        if match is None:
            return None
        cause = match.cause
        acc = self._groups.get(cause.id)
        if acc is None:
            acc = self._groups[cause.id] = _Acc(
                cause, match.verify_code, match.verify_text, source, number,
                text.rstrip("\r\n")[:MAX_EXAMPLE],
            )
        acc.count += 1
        if time is not None:
            if acc.first is None or time < acc.first:
                acc.first = time
            if acc.last is None or time > acc.last:
                acc.last = time
        if not entry[2]:  # host and protocol are part of the key: add them once per key
            entry[2] = True
            _add(acc.hosts, shape[3], MAX_SAMPLE)
            _add(acc.protocols, entry[1], 4)
        server = shape[2]
        if server and server not in acc.servers:
            _add(acc.servers, server, MAX_SAMPLE)
        if client and client not in acc.clients:
            _add(acc.clients, client, MAX_DISTINCT)
        acc.levels[level] += 1
        if match.detail and (match.detail in acc.details or len(acc.details) < self.max_details):
            acc.details[match.detail] += 1
        return acc

    def part(self) -> "Summarizer":
        """This summarizer made small for sending to another process (caches dropped)."""
        self._fold()
        self._cache.clear()
        self._shapes_source = None
        return self

    def merge(self, later: "Summarizer", source: str, line_offset: int) -> None:
        """Add what ``later`` counted of the lines of ``source`` that follow the ones fed here
        (its line numbers start after ``line_offset`` lines). The result is the one feeding
        every line here would give: counts add up, first/last widen, bounded samples are
        joined in order of appearance; details are exact while a part kept them all
        (``max_details`` of the part)."""
        self._fold()
        later._fold()
        for src, (lines, nginx_lines, levels) in later._files.items():
            stats = self._files.setdefault(src, [0, 0, Counter()])
            stats[0] += lines
            stats[1] += nginx_lines
            stats[2].update(levels)
        for cid, b in later._groups.items():
            a = self._groups.get(cid)
            if a is None:
                if b.source == source:
                    b.line += line_offset
                b.details = Counter(dict(list(b.details.items())[:self.max_details]))
                self._groups[cid] = b
                continue
            a.count += b.count
            for t in (b.first, b.last):
                if t is not None:
                    a.first = t if a.first is None or t < a.first else a.first
                    a.last = t if a.last is None or t > a.last else a.last
            for mine, theirs, limit in ((a.servers, b.servers, MAX_SAMPLE),
                                        (a.hosts, b.hosts, MAX_SAMPLE),
                                        (a.protocols, b.protocols, 4),
                                        (a.clients, b.clients, MAX_DISTINCT)):
                for value in theirs:
                    if len(mine) >= limit:
                        break
                    mine.setdefault(value, None)
            a.levels.update(b.levels)
            for detail, n in b.details.items():
                if detail in a.details or len(a.details) < self.max_details:
                    a.details[detail] += n

    def result(self) -> LogSummary:
        self._fold()
        files = tuple(
            FileStats(src, s[0], s[1], tuple(sorted(s[2].items())))
            for src, s in self._files.items()
        )
        groups = tuple(
            Group(
                cause=a.cause,
                count=a.count,
                verify_code=a.verify_code,
                verify_text=a.verify_text,
                first=a.first,
                last=a.last,
                servers=tuple(a.servers),
                clients=tuple(list(a.clients)[:MAX_SAMPLE]),
                clients_distinct=len(a.clients),
                clients_truncated=len(a.clients) >= MAX_DISTINCT,
                hosts=tuple(a.hosts),
                protocols=tuple(a.protocols),
                levels=tuple(sorted(a.levels.items())),
                details=tuple(a.details.most_common()),
                source=a.source,
                line=a.line,
                example=a.example,
            )
            for a in sorted(self._groups.values(), key=_order)
        )
        return LogSummary(files=files, groups=groups)


def summarize(lines, source: str = "-") -> LogSummary:
    """Summarize an iterable of text lines (convenience for tests and the library API)."""
    s = Summarizer()
    s.start(source)
    for number, text in enumerate(lines, 1):
        s.feed(source, number, text)
    return s.result()


__all__ = ["Group", "FileStats", "LogSummary", "Summarizer", "summarize", "MAX_SAMPLE"]
