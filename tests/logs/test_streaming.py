"""Large logs are streamed: peak memory does not grow with the size of the log (tracemalloc).

The log is built by repeating the real lines of tests/logs/data/lab-error.log with fresh client
addresses (so the distinct-client bookkeeping is exercised) and one very long line.
"""

from __future__ import annotations

import gzip
import tracemalloc

from mtls_doctor.logs.read import iter_log_lines
from mtls_doctor.logs.summary import MAX_DISTINCT, Summarizer
from tests.logs.util import CAPTURED

REAL = [ln for ln in CAPTURED.read_text().splitlines(True) if "client: 127.0.0.1" in ln]


def _write(path, megabytes: int, vary_clients: bool = False) -> int:
    """Write about ``megabytes`` MB; return how many verify-error-20 lines it holds."""
    block = "".join(REAL).encode()
    n20 = sum("(20:" in ln for ln in REAL)
    reps, count = 0, 0
    with open(path, "wb") as fh:
        fh.write(b"x" * 3_000_000 + b"\n")  # one 3 MB line: must not be held whole
        while fh.tell() < megabytes * 1_000_000:
            reps += 1
            a, b = divmod(reps, 250)
            if vary_clients:  # every line from another address
                fh.write("".join(ln.replace("client: 127.0.0.1", f"client: 10.{a % 250}.{b}.{i}")
                                 for i, ln in enumerate(REAL)).encode())
            else:
                fh.write(block)
            count += n20
    return count


def _peak(path) -> tuple[int, object]:
    s = Summarizer()
    tracemalloc.start()
    try:
        s.start(str(path))
        for number, text in enumerate(iter_log_lines(str(path)), 1):
            s.feed(str(path), number, text)
        result = s.result()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded(tmp_path):
    small, big = tmp_path / "small.log", tmp_path / "big.log"
    _write(small, 2)
    n20 = _write(big, 8)
    peak_small, _ = _peak(small)
    peak_big, result = _peak(big)
    group = next(g for g in result.groups if g.cause.id == "client-cert-verify-failed:20")
    assert group.count == n20
    # 4x the input, the same memory: nothing grows with the number of lines (the 3 MB line is
    # read in 64 KiB pieces and never held whole)
    # (measured: 0.27-0.5 MB for both; the peak moves with allocator timing, not with size)
    assert peak_small < 1_500_000 and peak_big < 1_500_000, (peak_small, peak_big)


def test_many_clients_stay_bounded(tmp_path):
    path = tmp_path / "clients.log"
    _write(path, 6, vary_clients=True)
    peak, result = _peak(path)
    assert all(len(g.clients) <= 10 and g.clients_distinct <= MAX_DISTINCT for g in result.groups)
    assert sum(g.clients_distinct for g in result.groups) > 5000
    # at most MAX_DISTINCT addresses per group are remembered
    assert peak < 2_000_000 + len(result.groups) * MAX_DISTINCT * 150, peak


def test_distinct_clients_are_capped():
    line = next(ln for ln in REAL if "(20:" in ln)
    s = Summarizer()
    for i in range(MAX_DISTINCT + 500):
        s.feed("x", i, line.replace("client: 127.0.0.1", f"client: 10.{i // 65536}.{i // 256 % 256}.{i % 256}"))
    group = s.result().groups[0]
    assert group.count == MAX_DISTINCT + 500
    assert group.clients_distinct == MAX_DISTINCT and group.clients_truncated and len(group.clients) == 10


def test_gzip_is_streamed_too(tmp_path):
    plain = tmp_path / "big.log"
    _write(plain, 4)
    gz = tmp_path / "big.log.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    peak, result = _peak(gz)
    assert peak < 8_000_000, peak
    assert result.files[0].lines > 2_000
