"""Stream the lines of an error log: a file, a rotated ``.gz`` file, or stdin (``-``).

Invariants:
- the only file I/O of the logs package; lines are read one at a time with a length cap
  (``MAX_LINE``), so memory stays bounded on a 1 GB log or a log without newlines;
- gzip is recognised by its magic bytes (``1f 8b``), whatever the name; bytes that are not UTF-8
  are replaced, never fatal; a truncated ``.gz`` ends the stream with ``LogReadError``;
- a missing, unreadable or directory path raises ``InputError`` (one line, exit 2).
"""

from __future__ import annotations

import gzip
import io
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from mtls_doctor.logs.parse import MAX_LINE
from mtls_doctor.logs.summary import LogSummary, Summarizer
from mtls_doctor.model import InputError


class LogReadError(Exception):
    """A log stopped being readable half-way (e.g. a truncated .gz)."""


def _lines(raw: BinaryIO) -> Iterator[str]:
    while True:
        chunk = raw.readline(MAX_LINE)
        if not chunk:
            return
        if not chunk.endswith(b"\n") and len(chunk) >= MAX_LINE:
            # an over-long line: keep its start, skip the rest up to the newline
            while True:
                more = raw.readline(MAX_LINE)
                if not more or more.endswith(b"\n"):
                    break
        yield chunk.decode("utf-8", "replace")


def _open(path: str) -> BinaryIO:
    # the bounded reader: a file, or a pipe (<(zcat ...)) or stdin read with a read timeout (a
    # FIFO without a writer ends in one line); /dev/zero and /dev/urandom (endless) are refused
    from mtls_doctor.inputs import open_stream

    if path != "-":
        p = Path(path)
        if p.is_dir():
            raise InputError(f"{path}: is a directory, not an error log")
        if p.is_char_device() or p.is_block_device():
            raise InputError(f"{path}: is a device, not an error log")
    return open_stream(path)


def check_readable(path: str) -> None:
    """Raise InputError now (before any output) if ``path`` cannot be read."""
    if path != "-":
        from mtls_doctor.inputs import check_path

        check_path(path, pipe=True)  # opening a pipe here would take bytes from its writer


def iter_log_lines(path: str, tail_bytes: int | None = None) -> Iterator[str]:
    """Yield decoded lines of ``path`` (``-`` = stdin), gunzipping transparently.

    ``tail_bytes``: read only about the last that many bytes of an uncompressed regular file
    (the recent part of a live log; the first, partial line is skipped).
    """
    raw = _open(path)
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    try:
        head = buffered.peek(2)[:2]
        if head == b"\x1f\x8b":
            stream: BinaryIO = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
        else:
            stream = buffered
            if tail_bytes is not None and path != "-" and buffered.seekable():
                size = buffered.seek(0, io.SEEK_END)
                buffered.seek(max(0, size - tail_bytes))
                if size > tail_bytes:
                    buffered.readline(MAX_LINE)  # a partial line
        try:
            yield from _lines(stream)
        except (EOFError, OSError, zlib.error) as exc:
            raise LogReadError(f"{path}: compressed data is damaged or truncated ({exc})") from None
    finally:
        if path != "-":
            raw.close()


def summarize_paths(paths: Sequence[str], tail_bytes: int | None = None) -> LogSummary:
    """Stream every path through one ``Summarizer`` (the ``logs`` command; ``diagnose`` too).

    Raises ``InputError`` for a path that cannot be read or a damaged ``.gz``.
    """
    if list(paths).count("-") > 1:
        raise InputError("stdin (-) can be given only once")
    for path in paths:
        check_readable(path)
    summarizer = Summarizer()
    for path in paths:
        summarizer.start(path)
        try:
            for number, text in enumerate(iter_log_lines(path, tail_bytes), 1):
                summarizer.feed(path, number, text)
        except LogReadError as exc:
            raise InputError(str(exc)) from None
    return summarizer.result()


__all__ = ["iter_log_lines", "check_readable", "summarize_paths", "LogReadError"]
