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
import os
import stat
import sys
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from mtls_doctor.logs.parse import MAX_LINE
from mtls_doctor.logs.summary import LogSummary, Summarizer
from mtls_doctor.model import InputError


class LogReadError(Exception):
    """A log stopped being readable half-way (e.g. a truncated .gz)."""


#: bytes read at a time (128 KiB): lines are cut from blocks, not read one call at a time
_BLOCK = 1 << 17


def _lines(raw: BinaryIO) -> Iterator[str]:
    """The lines of ``raw`` (each with its newline, the last one maybe without), decoded.

    Read in blocks; a line longer than ``MAX_LINE`` keeps its start and its newline, the rest
    of it is skipped, so memory stays within a block plus ``MAX_LINE``."""
    pending = b""  # the start of a line whose newline has not been read yet
    skipping = False  # inside the over-long tail of a line that was already yielded
    while True:
        block = raw.read(_BLOCK)
        if not block:
            if pending and not skipping:
                yield pending.decode("utf-8", "replace")
            return
        if skipping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            block, skipping = block[nl + 1:], False
        data = pending + block if pending else block
        last = data.rfind(b"\n")
        if last < 0:
            pending = data
        else:
            # decoding whole lines at once: a multi-byte character never straddles a newline
            # (split on "\n" only, as nginx ends its lines; "\r" and the like stay in the line)
            for line in data[:last].decode("utf-8", "replace").split("\n"):
                yield line + "\n"
            pending = data[last + 1:]
        if len(pending) >= MAX_LINE:
            yield pending[:MAX_LINE].decode("utf-8", "replace") + "\n"
            pending, skipping = b"", True


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
    capped: _Capped | None = None
    try:
        head = buffered.peek(2)[:2]
        if head == b"\x1f\x8b":
            capped = _Capped(gzip.GzipFile(fileobj=buffered), MAX_STREAM_BYTES)  # a gzip bomb ends
            stream: BinaryIO = capped  # type: ignore[assignment]
        elif _regular(buffered):
            # a log growing while it is read (a busy server, `yes >> error.log`) is read up to
            # the size it had when opened: the run ends, whatever the writer does
            size = os.fstat(buffered.fileno()).st_size
            if tail_bytes is not None and size > tail_bytes:
                buffered.seek(size - tail_bytes)
                buffered.readline(MAX_LINE)  # a partial line
            stream = _Window(buffered, max(0, size - buffered.tell()))  # type: ignore[assignment]
        else:  # stdin or a pipe: an endless producer (`yes | mtls-doctor logs -`) ends too
            capped = _Capped(buffered, MAX_STREAM_BYTES)
            stream = capped  # type: ignore[assignment]
        try:
            yield from _lines(stream)
        except (EOFError, OSError, zlib.error) as exc:
            raise LogReadError(f"{path}: compressed data is damaged or truncated ({exc})") from None
        if capped is not None and capped.reached:
            _note(f"{'stdin' if path == '-' else path}: read only its first {MAX_STREAM_BYTES >> 20} MiB"
                  " (a stream or a .gz is capped; the summary covers that part: give the"
                  " uncompressed file to read it whole)")
    finally:
        if path != "-":
            raw.close()


#: bytes read from stdin, a pipe or a .gz (decompressed) before the summary is made of what was
#: read: an endless producer or a gzip bomb ends in seconds (plain files are read whole, up to
#: the size they had when opened, in parallel when big)
MAX_STREAM_BYTES = 256 << 20


def _regular(fh: BinaryIO) -> bool:
    """A seekable regular file with a size (a /proc or /sys file says 0 and is a stream)."""
    try:
        st = os.fstat(fh.fileno())
        return stat.S_ISREG(st.st_mode) and st.st_size > 0 and fh.seekable()
    except (OSError, ValueError, AttributeError):
        return False


def _note(text: str) -> None:
    """One line on stderr that does not change the exit code (the summary is still printed)."""
    from mtls_doctor.report.safe import terminal_safe

    try:
        sys.stderr.write(terminal_safe(f"mtls-doctor: note: {text}") + "\n")
    except (OSError, ValueError, AttributeError):
        pass


class _Capped(io.RawIOBase):
    """At most ``limit`` bytes of ``fh``; ``reached`` says whether more were there."""

    def __init__(self, fh: BinaryIO, limit: int) -> None:
        self._fh, self._left, self.reached = fh, limit, False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            if not self.reached and self._fh.read(1):
                self.reached = True
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        return data


#: a plain file at least this big is read by several processes at once, one range each
PARALLEL_BYTES = 16 << 20
#: details a range keeps per group, so that joining ranges loses none (summary.merge)
_PART_DETAILS = 1000


def _ranges(path: str, size: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of ``path`` that start and end at line starts (fewer when a
    line is longer than a range)."""
    cuts = [0]
    with open(path, "rb") as fh:
        for k in range(1, parts):
            at = max(cuts[-1], size * k // parts)
            fh.seek(at)
            head = fh.read(MAX_LINE)
            nl = head.find(b"\n")
            if nl >= 0 and at + nl + 1 < size:
                cuts.append(at + nl + 1)
    cuts.append(size)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _summarize_range(path: str, start: int, end: int) -> Summarizer:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    summarizer = Summarizer(max_details=_PART_DETAILS)
    summarizer.start(path)
    with open(path, "rb") as fh:
        fh.seek(start)
        for number, text in enumerate(_lines(_Window(fh, end - start)), 1):
            summarizer.feed(path, number, text)
    return summarizer.part()


class _Window(io.RawIOBase):
    """At most ``limit`` bytes of ``fh`` from where it stands."""

    def __init__(self, fh: BinaryIO, limit: int) -> None:
        self._fh, self._left = fh, limit

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        return data


def _workers(path: str, tail_bytes: int | None) -> int:
    """How many processes should read ``path``: 1 unless it is a big plain file (not stdin,
    not gzip, not a tail) on a machine with more than one CPU."""
    if path == "-" or tail_bytes is not None:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size < PARALLEL_BYTES:
            return 1
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":
                return 1
    except OSError:
        return 1
    return max(1, min(cpus, 8, st.st_size // PARALLEL_BYTES))


def _summarize_parallel(summarizer: Summarizer, path: str, workers: int) -> bool:
    """Feed ``path`` to ``summarizer`` by ranges read in ``workers`` processes; False when
    that could not be done (then nothing was fed)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    ranges = _ranges(path, os.stat(path).st_size, workers)
    if len(ranges) < 2:
        return False
    for stream in (sys.stdout, sys.stderr):  # a forked child must not inherit pending output
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    pool = ProcessPoolExecutor(len(ranges), mp_context=multiprocessing.get_context("fork"))
    try:
        futures = [pool.submit(_summarize_range, path, a, b) for a, b in ranges]
        parts = [f.result() for f in futures]
    except (BrokenProcessPool, OSError):
        return False
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    offset = 0
    for part in parts:
        lines = part._files[path][0]
        summarizer.merge(part, path, offset)
        offset += lines
    return True


def summarize_paths(paths: Sequence[str], tail_bytes: int | None = None) -> LogSummary:
    """Stream every path through one ``Summarizer`` (the ``logs`` command; ``diagnose`` too).

    A big plain file is read in ranges by one process per CPU and the parts are joined
    (``Summarizer.merge``): the same summary, sooner. Raises ``InputError`` for a path that
    cannot be read or a damaged ``.gz``.
    """
    if list(paths).count("-") > 1:
        raise InputError("stdin (-) can be given only once")
    for path in paths:
        check_readable(path)
    summarizer = Summarizer()
    for path in paths:
        summarizer.start(path)
        workers = _workers(path, tail_bytes)
        if workers > 1 and _summarize_parallel(summarizer, path, workers):
            continue
        try:
            for number, text in enumerate(iter_log_lines(path, tail_bytes), 1):
                summarizer.feed(path, number, text)
        except LogReadError as exc:
            raise InputError(str(exc)) from None
    return summarizer.result()


__all__ = ["iter_log_lines", "check_readable", "summarize_paths", "LogReadError"]
