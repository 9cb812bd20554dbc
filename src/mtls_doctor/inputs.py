"""The one bounded reader of every input path: certificate files, configurations and their
includes, error logs, target lists, stdin.

Invariants of this module:
- a path is opened only after ``stat`` says what it is: a regular file is read up to a size
  cap; a directory or a device (``/dev/zero``, ``/dev/urandom``, a tty named by path) is refused
  before it is opened; a FIFO or socket is read only when the caller accepts a pipe
  (``pipe=True``: what the user names on the command line, ``-`` for stdin) and is refused
  otherwise (what a configuration names: ``include``, ``ssl_certificate``);
- the open never blocks (``O_NONBLOCK``: a FIFO without a writer opens at once) and a pipe is
  read with ``poll``: no byte for ``read_timeout()`` seconds is an ``InputError``, so a FIFO
  nobody writes to, or a silent producer, ends in one line instead of a hang; stdin is never
  switched to non-blocking (it may be shared with the shell), it is only polled;
- a "regular" file whose size is 0 (the kernel's pseudo-files: ``/proc/kmsg`` blocks until the
  kernel logs something) is read like a pipe: non-blocking and polled with the read timeout;
- a capped read (``read_bytes``) of a pipe also has a whole deadline, ``READ_DEADLINE_FACTOR``
  read timeouts: a producer that drips one byte just inside every timeout ends too;
- every refusal is an ``InputError`` with one line that starts with the path; a NUL byte in a
  path (it cannot name a file) is one too;
- memory is bounded by the cap: at most ``limit + 1`` bytes are read.
"""

from __future__ import annotations

import io
import os
import select
import stat
import sys
import time
from typing import BinaryIO

from mtls_doctor.model import InputError

#: seconds a pipe (or stdin) may stay silent before the read gives up
DEFAULT_READ_TIMEOUT = 10.0
#: environment variable overriding it (seconds; tests use a short one)
ENV_READ_TIMEOUT = "MTLS_DOCTOR_READ_TIMEOUT"

_CHUNK = 1 << 16
#: a capped read of a pipe or pseudo-file ends after this many read timeouts in all
READ_DEADLINE_FACTOR = 6


def read_timeout() -> float:
    """The read timeout in seconds (``$MTLS_DOCTOR_READ_TIMEOUT``, else 10)."""
    try:
        value = float(os.environ.get(ENV_READ_TIMEOUT, DEFAULT_READ_TIMEOUT))
    except ValueError:
        return DEFAULT_READ_TIMEOUT
    return value if 0 < value <= 3600 else DEFAULT_READ_TIMEOUT


def _name(path: str, what: str) -> str:
    return f"{what} {path}" if what else path


def _kind(mode: int) -> str | None:
    """None for a regular file, else what the path is, in words."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _is_pipe(mode: int) -> bool:
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def check_path(path: str, *, what: str = "", pipe: bool = False) -> os.stat_result:
    """``stat`` of ``path`` if it may be read (see the module invariants), else InputError."""
    label = _name(path, what)
    if "\x00" in path:
        raise InputError(f"{label!r}: the path contains a NUL byte")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{label}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    kind = _kind(st.st_mode)
    if kind is not None and not (pipe and _is_pipe(st.st_mode)):
        raise InputError(f"{label}: is {kind}, not a regular file")
    return st


def _open(path: str, what: str, pipe: bool) -> tuple[int, bool]:
    """(file descriptor, is a pipe); the caller closes it."""
    label = _name(path, what)
    check_path(path, what=what, pipe=pipe)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise InputError(f"{label}: permission denied") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, not a regular file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{label}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    st = os.fstat(fd)  # what was opened, not what stat saw a moment before
    kind = _kind(st.st_mode)
    if kind is not None and not (pipe and _is_pipe(st.st_mode)):
        os.close(fd)
        raise InputError(f"{label}: is {kind}, not a regular file")
    pseudo = kind is None and st.st_size == 0  # /proc, /sys: may block (``/proc/kmsg``)
    if kind is None and not pseudo:
        os.set_blocking(fd, True)
    return fd, kind is not None or pseudo


def _wait(fd: int, label: str, timeout: float, deadline: float | None = None) -> None:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise InputError(f"{label}: still not read to its end after "
                             f"{timeout * READ_DEADLINE_FACTOR:g} s (a producer that drips?); set "
                             "$MTLS_DOCTOR_READ_TIMEOUT for a slower producer")
        timeout = min(timeout, left)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while True:
        try:
            ready = poller.poll(timeout * 1000)
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        if not ready:
            if deadline is not None and deadline - time.monotonic() <= 0:
                continue  # the whole deadline, said above
            raise InputError(f"{label}: nothing to read for {timeout:g} s (a pipe without a "
                             "writer, or a file that blocks?); set $MTLS_DOCTOR_READ_TIMEOUT for "
                             "a slower producer")
        return


def _read_fd(fd: int, label: str, limit: int, polled: bool, timeout: float) -> bytes:
    parts: list[bytes] = []
    size = 0
    deadline = time.monotonic() + timeout * READ_DEADLINE_FACTOR if polled else None
    while size <= limit:
        if polled:
            _wait(fd, label, timeout, deadline)
        try:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - size))
        except BlockingIOError:
            continue
        except OSError as exc:
            raise InputError(f"{label}: cannot read: {exc.strerror or exc}") from None
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def _stdin_fd() -> int:
    """fd 0 as Python holds it; -1 when stdin is a Python object without one (tests)."""
    if sys.stdin is None:  # started with fd 0 closed (`<&-`)
        raise InputError("stdin (-): is closed")
    try:
        return sys.stdin.buffer.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return -1


def read_bytes(path: str, *, limit: int, what: str = "", pipe: bool = True,
               too_big: str | None = None) -> bytes:
    """The bytes of ``path`` (``-`` = stdin), at most ``limit``; InputError beyond it.

    ``pipe``: accept a FIFO or socket (read with the timeout); ``too_big``: the message for a
    file above the limit (default ``PATH: larger than LIMIT bytes``)."""
    label = _name(path, what)
    timeout = read_timeout()
    big = too_big or f"{label}: larger than {limit} bytes"
    if path == "-":
        fd = _stdin_fd()
        if fd < 0:  # stdin replaced by a Python object (tests): it is not a descriptor
            data = sys.stdin.buffer.read(limit + 1)
        else:
            mode = os.fstat(fd).st_mode
            data = _read_fd(fd, label, limit, not stat.S_ISREG(mode) and not os.isatty(fd), timeout)
    else:
        fd, polled = _open(path, what, pipe)
        try:
            if not polled and os.fstat(fd).st_size > limit:
                raise InputError(big)  # refused without reading it
            data = _read_fd(fd, label, limit, polled, timeout)
        finally:
            os.close(fd)
    if len(data) > limit:
        raise InputError(big)
    return data


class _PolledRaw(io.RawIOBase):
    """A pipe read with the read timeout on every read (for streamed logs)."""

    def __init__(self, fd: int, label: str, timeout: float, own: bool) -> None:
        self._fd, self._label, self._timeout, self._own = fd, label, timeout, own

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        while True:
            _wait(self._fd, self._label, self._timeout)
            try:
                data = os.read(self._fd, len(buffer))
            except BlockingIOError:
                continue
            buffer[: len(data)] = data
            return len(data)

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if not self.closed and self._own:
            os.close(self._fd)
        super().close()


def open_stream(path: str, *, what: str = "", pipe: bool = True) -> io.BufferedReader:
    """A buffered binary stream of ``path`` (``-`` = stdin) for reading without a size cap
    (error logs): a regular file as it is (seekable), a pipe with the read timeout."""
    label = _name(path, what)
    timeout = read_timeout()
    if path == "-":
        fd = _stdin_fd()
        if fd < 0 or os.isatty(fd) or stat.S_ISREG(os.fstat(fd).st_mode):
            return sys.stdin.buffer if isinstance(sys.stdin.buffer, io.BufferedReader) else \
                io.BufferedReader(sys.stdin.buffer)  # type: ignore[arg-type]
        return io.BufferedReader(_PolledRaw(fd, label, timeout, own=False))
    fd, polled = _open(path, what, pipe)
    if polled:
        return io.BufferedReader(_PolledRaw(fd, label, timeout, own=True))
    return open(fd, "rb", closefd=True)  # noqa: SIM115 - the caller closes it


__all__ = ["read_bytes", "open_stream", "check_path", "read_timeout", "DEFAULT_READ_TIMEOUT",
           "ENV_READ_TIMEOUT"]
