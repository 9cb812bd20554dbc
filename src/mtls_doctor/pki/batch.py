"""Verify many client files quickly: ``load_client`` (a clean-PEM fast path in front of the
tolerant loader) and ``verify_paths`` (one X509_STORE for every client, worker processes for
large batches).

Where the time of ``mtls-doctor verify`` over thousands of clients went (bench/bench_verify.py,
cProfile + perf): the libcrypto work nginx pays too (d2i_X509 with OpenSSL 3.0's decoder for the
public key, X509_verify_cert) is about what one ``openssl verify`` process spends in all; on top
of it came the tolerant loader (~130-250 us a file), re-encoding each certificate to DER, and two
*threads* that gained little (OpenSSL 3.0 serialises decoder and fetch look-ups on shared locks,
the Python half holds the GIL) and lost on a busy machine. So: a fast path for the common clean
file, the DER passed through, and processes instead of threads to use a second core when idle.

Invariants of this module:
- ``load_client(path, password)`` returns exactly what ``load.load_path(path, password)``
  returns (an equal ``Bundle``, or the same ``InputError``). Its fast path only takes a regular
  file holding nothing but ``CERTIFICATE`` PEM blocks (LF line ends, base64 lines, no text
  around or between them) that all parse; anything else goes to the tolerant loader, with the
  bytes already read (so a pipe is read once);
- ``verify_paths`` yields one ``Outcome`` per path, in input order, whatever the number of
  workers; each result is ``Verifier.verify``'s for that file (workers build their own Verifier
  from the same DER bytes and settings). Worker processes are used only for large batches, when
  ``fork`` is available and this process runs no other thread; otherwise the work runs here;
- nothing here prints; problems are returned as the command would word them.
"""

from __future__ import annotations

import binascii
import os
import re
import stat
import sys
import threading
import warnings
from datetime import datetime
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.model import InputError
from mtls_doctor.pki import libcrypto, load
from mtls_doctor.pki.verify import TrustSettings, Verifier, VerifyResult

#: below this many paths, ``verify_paths`` stays in this process (a pool costs ~30 ms)
MIN_PARALLEL = 256
#: the fast path gives up on files with more certificate blocks than this
MAX_FAST_BLOCKS = 64

# One clean block: exactly the BEGIN line, base64 lines, the END line, then LF or end of file.
# The body's alphabet has no '-', ':' or whitespace but LF, so the tolerant loader finds the same
# BEGIN/END pair, sees no RFC 1421 header and strips nothing but the LFs (load._pem_block).
_CLEAN_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]*)-----END CERTIFICATE-----(?:\n|\Z)")


def parse_clean_pem(data: bytes, source: str) -> load.Bundle | None:
    """The Bundle ``load.load_bytes(data, source)`` gives, if ``data`` is a clean certificate
    PEM file (see the module invariants); None (decline) for anything else."""
    parsed = _parse_clean(data, source)
    return None if parsed is None else parsed[0]


def _parse_clean(data: bytes, source: str) -> tuple[load.Bundle, list[bytes]] | None:
    """``parse_clean_pem`` and the DER of each certificate."""
    if len(data) > load.MAX_BYTES:
        return None
    certs: list[x509.Certificate] = []
    ders: list[bytes] = []
    lines: list[int] = []
    pos, line, size = 0, 1, len(data)
    while pos < size:
        m = _CLEAN_BLOCK.match(data, pos)
        if m is None or len(certs) >= MAX_FAST_BLOCKS:
            return None
        body = m.group(1)
        b64 = body.replace(b"\n", b"")
        if not b64 or len(b64) % 4:
            return None
        try:
            der = binascii.a2b_base64(b64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # as load.load_bytes (e.g. negative serials)
                cert = x509.load_der_x509_certificate(der)
            if load.unreadable_names(cert) is not None:
                return None  # the tolerant loader reports it
            certs.append(cert)
            ders.append(der)
        except Exception:  # noqa: BLE001 - the tolerant loader words the problem
            return None
        lines.append(line)
        line += data.count(b"\n", pos, m.end())
        pos = m.end()
    if not certs:
        return None
    return load.Bundle(source, "pem", tuple(certs), cert_lines=tuple(lines)), ders


def load_client(path: str | Path, password: bytes | None = None) -> load.Bundle:
    """``load.load_path(path, password)``, faster for clean certificate PEM files."""
    return _load_client(path, password)[0]


def _load_client(path: str | Path,
                 password: bytes | None) -> tuple[load.Bundle, list[bytes] | None]:
    """``load_client`` and, from the fast path, the DER of each certificate (else None)."""
    text = os.fspath(path) if isinstance(path, (str, Path)) else None
    if text is None or text == "-":
        return load.load_path(path, password), None
    try:
        if not stat.S_ISREG(os.stat(text).st_mode):  # a FIFO, a device: the bounded reader
            return load.load_path(path, password), None
        fd = os.open(text, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return load.load_path(path, password), None  # the tolerant loader words the error
    try:
        st = os.fstat(fd)
        mode = st.st_mode
        regular = stat.S_ISREG(mode)
        if not regular or st.st_size > load.MAX_BYTES:
            return load.load_path(path, password), None  # the same "too big"/odd-file line
        os.set_blocking(fd, True)
        data = _read(fd, st.st_size + 1)
    except OSError:
        return load.load_path(path, password), None
    finally:
        os.close(fd)
    # load.load_path reads at most MAX_BYTES + 1 bytes, then hands them to load_bytes
    source = _source(text)
    parsed = _parse_clean(data, source)
    return parsed if parsed is not None else (load.load_bytes(data, source, password), None)


def _read(fd: int, hint: int) -> bytes:
    """Up to ``load.MAX_BYTES + 1`` bytes, as ``load.load_path``'s ``read(MAX_BYTES + 1)``."""
    limit = load.MAX_BYTES + 1
    first = os.read(fd, min(hint, limit))
    if not first:
        return first
    parts, size = [first], len(first)
    while size < limit:
        more = os.read(fd, min(max(hint, 65536), limit - size))
        if not more:
            break
        parts.append(more)
        size += len(more)
    return b"".join(parts)


def _source(text: str) -> str:
    """``str(Path(text))`` (the loader's source name), without building a Path when ``text``
    is already in that form (POSIX: no empty or '.' component, no trailing slash)."""
    if os.name == "posix" and text and text != "." and "//" not in text \
            and "/./" not in text and not text.startswith("./") \
            and not text.endswith(("/", "/.")):
        return text
    return str(Path(text))


class Outcome(NamedTuple):
    """One client file's outcome, as ``mtls-doctor verify`` consumes it.

    ``result`` is None when the file gives no client certificate; ``problems`` then holds the one
    line to fail with. Otherwise ``problems`` are the loader's problems (``path: message``).
    """

    path: str
    leaf: x509.Certificate | None
    problems: list[str]
    result: VerifyResult | None


def check_client(verifier: Verifier, path: str, password: bytes | None,
                 at: datetime) -> Outcome:
    """Load one client file and judge it (what ``mtls-doctor verify`` does per CLIENT)."""
    try:
        bundle, ders = _load_client(path, password)
    except InputError as exc:
        return Outcome(path, None, [str(exc)], None)
    problems = [f"{path}: {p.message}" for p in bundle.problems]
    if not bundle.certificates:
        detail = "; ".join(p.message for p in bundle.problems) or "no certificate in it"
        return Outcome(path, None, [f"{path}: no client certificate ({detail})"], None)
    leaf, *chain = bundle.certificates
    return Outcome(path, leaf, problems, verifier.verify(leaf, chain, at, ders=ders))


def verify_paths(verifier: Verifier, paths: Sequence[str], at: datetime, *,
                 password: bytes | None = None, workers: int = 2) -> Iterator[Outcome]:
    """``check_client`` for every path, in input order.

    With ``workers`` > 1 and at least ``MIN_PARALLEL`` paths, the files are shared out in chunks
    to ``workers`` forked processes (capped at the CPUs this process may use that are idle
    now, sampled over 50 ms), each with its own
    X509_STORE built from the verifier's trust settings. Processes, not threads: OpenSSL 3.0's
    d2i_X509 and X509_verify_cert contend on library-wide locks, so two threads verify more
    slowly than one (bench/bench_verify.py).
    """
    # a verifier whose libcrypto lives in a helper process (pki.remote) stays in this process
    n = _usable_workers(workers if verifier.engine is libcrypto else 1, len(paths))
    if n <= 1:
        for path in paths:
            yield check_client(verifier, path, password, at)
        return
    yield from _in_pool(verifier, paths, at, password, n)


def _usable_workers(workers: int, count: int) -> int:
    if workers <= 1 or count < MIN_PARALLEL:
        return 1
    try:
        import multiprocessing

        multiprocessing.get_context("fork")
    except (ImportError, ValueError):
        return 1
    if threading.active_count() > 1:  # forking a threaded process is unsafe
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    idle = _idle_cpus(cpus)
    # Only as many processes as there are idle CPUs: on a machine busy with other work more
    # processes only take turns and thrash the caches (measured: slower than one process).
    return max(1, min(workers, cpus, int(idle + 0.6)))


def _idle_cpus(cpus: int, window: float = 0.05) -> float:
    """How many CPUs were idle over the last ``window`` seconds (/proc/stat; this process
    sleeps meanwhile, so it does not count). Without /proc: ``cpus`` minus the load average."""
    import time

    def sample() -> tuple[int, int]:
        with open("/proc/stat", "rb") as fh:
            fields = [int(v) for v in fh.readline().split()[1:9]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, all

    try:
        idle0, total0 = sample()
        time.sleep(window)
        idle1, total1 = sample()
        if total1 > total0:
            return cpus * (idle1 - idle0) / (total1 - total0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return max(0.0, cpus - os.getloadavg()[0])
    except (AttributeError, OSError):
        return float(cpus)


# -- worker processes ----------------------------------------------------------------------

_Spec = tuple  # (client DERs, trusted DERs, CRL DERs, depth, mode, level, openssl_version)

#: (Verifier, at, password) of a worker process, set by ``_init``
_WORKER: tuple[Verifier, datetime, bytes | None] | None = None


def _spec(verifier: Verifier) -> _Spec:
    t = verifier.trust
    return (tuple(c.public_bytes(Encoding.DER) for c in t.client_certificate),
            tuple(c.public_bytes(Encoding.DER) for c in t.trusted_certificate),
            tuple(c.public_bytes(Encoding.DER) for c in t.crls),
            t.verify_depth, t.verify_client, t.security_level, verifier.openssl_version)


def _init(spec: _Spec, at: datetime, password: bytes | None) -> None:
    global _WORKER
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    client, trusted, crls, depth, mode, level, version = spec
    trust = TrustSettings(
        client_certificate=tuple(x509.load_der_x509_certificate(d) for d in client),
        trusted_certificate=tuple(x509.load_der_x509_certificate(d) for d in trusted),
        crls=tuple(x509.load_der_x509_crl(d) for d in crls),
        verify_depth=depth, verify_client=mode, security_level=level)
    _WORKER = (Verifier(trust, openssl_version=version), at, password)


def _chunk(paths: Sequence[str]) -> list[tuple]:
    assert _WORKER is not None
    verifier, at, password = _WORKER
    out = []
    for path in paths:
        o = check_client(verifier, path, password, at)
        # x509.Certificate does not pickle: the leaf travels as DER
        leaf = None if o.leaf is None else o.leaf.public_bytes(Encoding.DER)
        out.append((o.path, leaf, o.problems, o.result))
    return out


def _in_pool(verifier: Verifier, paths: Sequence[str], at: datetime,
             password: bytes | None, workers: int) -> Iterator[Outcome]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    size = max(16, min(256, len(paths) // (workers * 8) or 1))
    chunks = [paths[i:i + size] for i in range(0, len(paths), size)]
    for stream in (sys.stdout, sys.stderr):  # a forked child must not inherit pending output
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    done = 0
    # ProcessPoolExecutor, not multiprocessing.Pool: a worker that dies (a crash inside
    # libcrypto) breaks the executor instead of leaving the caller waiting forever.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_init, initargs=(_spec(verifier), at, password))
    try:
        for rows in pool.map(_chunk, chunks):
            for path, leaf_der, problems, result in rows:
                leaf = None if leaf_der is None else x509.load_der_x509_certificate(leaf_der)
                done += 1
                yield Outcome(path, leaf, problems, result)
    except BrokenProcessPool:
        # Finish here, in order: whatever killed the worker happens (or not) in this process,
        # exactly as without workers.
        for path in paths[done:]:
            yield check_client(verifier, path, password, at)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = [
    "MIN_PARALLEL",
    "Outcome",
    "check_client",
    "load_client",
    "parse_clean_pem",
    "verify_paths",
]
