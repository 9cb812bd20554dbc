"""The error logs ``diagnose`` reads (I/O): the files ``error_log`` names, their recent part.

Invariants: at most ``MAX_LOG_BYTES`` from the END of each file (whole lines), a ``.gz`` file
its first lines up to the same bound, so a 1 GB or growing log costs bounded time and memory;
lines of diagnose's own probes (``PROBE_MARK``) keep only their level (so "this log has info
lines", F4.1, stays true) and are not classified; an unreadable default log is a note, an
unreadable ``--log`` an ``InputError``; relative ``error_log`` paths resolve against nginx's
``--prefix`` (``nginx -V``), else the configuration prefix.
"""

from __future__ import annotations

import os
import re
from typing import Any

from mtls_doctor.diagnose.evidence import LogEvidence, NginxInfo
from mtls_doctor.diagnose.probing import PROBE_MARK
from mtls_doctor.model import InputError

MAX_LOG_BYTES = 4 * 1024 * 1024
_LEVEL = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\]")
#: what nginx logs (notice) when it starts or reloads: "start worker processes" both times,
#: "reconfiguring" on SIGHUP; lines before the last of them are history
_RESTART = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[notice\] \d+#\d+: "
                      r"(?:start worker processes|reconfiguring)\s*$")


def last_restart(lines: list[str]) -> int | None:
    """Index of the last start/reload line of nginx in ``lines`` (None: none seen)."""
    for i in range(len(lines) - 1, -1, -1):
        if "[notice]" in lines[i] and _RESTART.match(lines[i]):
            return i
    return None



def log_paths(config: Any, eff: Any, info: NginxInfo | None) -> list[str]:
    """Every file ``error_log`` names (main, http, server, ...), resolved as nginx does."""
    if config is None:
        return []
    prefix = (info.prefix if info is not None and info.prefix else None) or config.prefix
    out: list[str] = []
    for node in config.walk():
        if node.name != "error_log" or not node.args:
            continue
        target = node.args[0]
        if target in ("stderr", "off") or target.startswith(("syslog:", "memory:")):
            continue
        path = target if os.path.isabs(target) else os.path.normpath(os.path.join(prefix, target))
        if path not in out:
            out.append(path)
    return out


def tail_lines(path: str, max_bytes: int = MAX_LOG_BYTES) -> list[str]:
    """The last ``max_bytes`` of a log, as whole lines (a .gz file: its first lines, bounded)."""
    from mtls_doctor.logs.read import iter_log_lines

    if path == "-":  # stdin: stream it, keep only the last max_bytes
        from collections import deque

        kept: deque[str] = deque()
        size = 0
        for line in iter_log_lines("-"):
            kept.append(line)
            size += len(line)
            while size > max_bytes and kept:
                size -= len(kept.popleft())
        return list(kept)
    with open(path, "rb") as fh:
        head = fh.read(2)
        if head == b"\x1f\x8b":
            out, size = [], 0
            for line in iter_log_lines(path):
                size += len(line)
                if size > max_bytes:
                    break
                out.append(line)
            return out
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        start = max(0, end - max_bytes)
        fh.seek(start)
        data = fh.read(end - start)
    if start > 0:
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    return data.decode("utf-8", "replace").splitlines()


def read_logs(opts: Any, config: Any, eff: Any, info: NginxInfo | None, notes: list[str],
          extra: list[str] | None = None, extra_source: str = "nginx -T"):
    from mtls_doctor.logs.summary import Summarizer
    from mtls_doctor.rules.logs import check

    paths = list(opts.logs) or log_paths(config, eff, info)
    if not paths and not extra:
        return None, ()
    summarizer = Summarizer()
    history = Summarizer()
    history_lines = 0
    restarted_at = None
    read: list[str] = []
    if extra:
        summarizer.start(extra_source)
        for number, text in enumerate(extra, 1):
            summarizer.feed(extra_source, number, text)
        read.append(extra_source)
    skipped = 0
    for path in paths:
        if opts.logs and path != "-" and not os.path.exists(path):
            raise InputError(f"--log {path}: no such file")
        try:
            lines = tail_lines(path)
        except (OSError, Exception) as exc:  # unreadable, permission, damaged gz: a note, not a crash
            if opts.logs and isinstance(exc, OSError) and not os.access(path, os.R_OK):
                raise InputError(f"--log {path}: not readable") from None
            notes.append(f"error log {path} not read: {getattr(exc, 'strerror', None) or exc}")
            continue
        summarizer.start(path)
        cut = last_restart(lines)
        if cut is not None:
            restarted_at = f"{path}:{cut + 1}"
            history.start(path)
            for number, text in enumerate(lines[:cut], 1):
                if PROBE_MARK not in text:
                    history.feed(path, number, text)
                    history_lines += 1
        for number, text in enumerate(lines, 1):
            if cut is not None and number <= cut:
                continue
            if PROBE_MARK in text:
                skipped += 1  # our own probe: keep only its level (F4.1: info lines exist)
                level = _LEVEL.match(text)
                if level:
                    summarizer.feed(path, number, level.group(0) + " mtls-doctor probe request")
                continue
            summarizer.feed(path, number, text)
        read.append(path)
    if not read:
        return None, ()
    summary = summarizer.result()
    past = history.result() if history_lines else None
    return (LogEvidence(summary, tuple(read), skipped, past, restarted_at), tuple(check(summary)))


__all__ = ["MAX_LOG_BYTES", "log_paths", "tail_lines", "read_logs", "last_restart"]
