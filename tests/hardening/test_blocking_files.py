"""Issue 11 #5, the rest: inputs that are not FIFOs but still block or never end.

- a "regular" file of size 0 that blocks on read: the kernel's pseudo-files (``/proc/kmsg``
  waits for the next kernel message; ``stat`` calls it a regular empty file): it is read like a
  pipe, non-blocking and polled, so silence is one line after the read timeout, not a hang
  (it hung until killed);
- a producer that drips one byte just inside every read timeout: a capped read has a whole
  deadline (``inputs.READ_DEADLINE_FACTOR`` read timeouts).
The subprocess timeout only turns a hang into a failure; nothing here times the tool."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from mtls_doctor import inputs
from tests.hardening.conftest import ENV


def run(*args: str, timeout: str = "0.5", stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    env = {**ENV, "MTLS_DOCTOR_READ_TIMEOUT": timeout}
    return subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=60, env=env, stdin=stdin)


def _kmsg_opens() -> bool:
    try:
        os.close(os.open("/proc/kmsg", os.O_RDONLY | os.O_NONBLOCK))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _kmsg_opens(), reason="/proc/kmsg cannot be opened here (not root?)")
def test_proc_kmsg_is_one_line_not_a_hang(tmp_path):
    proc = run("inspect", "/proc/kmsg")
    if proc.returncode != 2 or "nothing to read" not in proc.stderr:
        # the kernel logged something meanwhile: it was read (and refused as no certificate)
        assert "Traceback" not in proc.stderr and proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    conf = tmp_path / "nginx.conf"
    conf.write_text("include /proc/kmsg;\nevents {}\n")
    proc = run("lint", str(conf), "--format", "json")
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
    assert "/proc/kmsg" in proc.stdout


def test_a_pseudo_file_of_size_0_is_read_to_its_end():
    # /proc/self/status: stat says 0 bytes, the read gives the text (polled, not blocked)
    data = inputs.read_bytes("/proc/self/status", limit=1 << 20)
    assert b"Name:" in data


def test_a_dripping_producer_meets_the_whole_deadline(tmp_path):
    fifo = tmp_path / "drip"
    os.mkfifo(fifo)
    stop = threading.Event()

    def drip():
        fd = os.open(fifo, os.O_WRONLY)  # blocks until the reader opens it
        try:
            while not stop.wait(0.2):  # one byte every 0.2 s: inside every 0.5 s read timeout
                os.write(fd, b"-")
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    writer = threading.Thread(target=drip, daemon=True)
    writer.start()
    try:
        proc = run("inspect", str(fifo))
    finally:
        stop.set()
    writer.join(timeout=10)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "still not read to its end" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
