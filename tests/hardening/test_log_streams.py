"""Round 2 hardening: error logs that never end.

- a log growing while it is read (a busy server at info level, `yes >> error.log`): read up to the
  size it had when opened, so the run ends while the writer goes on;
- an endless producer on a pipe (a FIFO here, `yes | mtls-doctor logs -` alike) and a gzip bomb
  (a .gz that inflates to far more than it weighs): read up to ``MAX_STREAM_BYTES``, then the
  summary of what was read and one ``note`` line on stderr, exit 1 as usual.
The cap is lowered for the test (the real one is 256 MiB: seconds of reading); the inputs are real
files, a real FIFO and real gzip data.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time

import pytest

from mtls_doctor.logs import read as log_read
from tests.hardening.test_campaign import run_cli

LINE = (b"2026/12/03 10:00:00 [info] 12#12: *3 client SSL certificate verify error: (20:unable to get"
        b" local issuer certificate) while reading client request headers, client: 192.0.2.7,"
        b" server: api.example, request: \"GET / HTTP/1.1\", host: \"api.example\"\n")
CHUNK = LINE * (65536 // len(LINE))


def _lines(stdout: str) -> int:
    data = json.loads(stdout)
    return sum(f["lines"] for f in data["files"])


@pytest.fixture()
def small_cap(monkeypatch):
    monkeypatch.setattr(log_read, "MAX_STREAM_BYTES", 4 << 20)
    return 4 << 20


def test_a_log_growing_while_read_ends_at_its_size_when_opened(tmp_path):
    log = tmp_path / "error.log"
    log.write_bytes(CHUNK * 4)  # 256 KiB when the run starts
    at_open = log.stat().st_size // len(LINE)
    stop, done = threading.Event(), threading.Event()
    burst = CHUNK * 16

    def writer():  # 256 MiB in 1 MiB writes at disk speed: far faster than the reader
        with open(log, "ab") as fh:
            for _ in range(256):
                if stop.is_set():
                    break
                fh.write(burst)
                fh.flush()
                time.sleep(0.001)
        done.set()

    run_cli("logs", str(log), area="logs", subprocess_too=False)  # imports done before the race
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    time.sleep(0.01)
    try:
        rc, out, err = run_cli("logs", str(log), "--format", "json", area="logs", subprocess_too=False)
        still_writing = not done.is_set()
    finally:
        stop.set()
        thread.join(10)
    assert rc == 1 and err == ""
    written = (log.stat().st_size // len(LINE))
    # the reader stopped at the size of the file when it opened it: it ended while the writer
    # went on, or (the writer done first) with fewer lines than the file now holds
    assert still_writing or _lines(out) < written, "the run read until the writer stopped"
    assert at_open <= _lines(out) < 256 * len(burst) // len(LINE)


def test_an_endless_producer_on_a_pipe_is_capped(tmp_path, small_cap):
    fifo = tmp_path / "error.fifo"
    os.mkfifo(fifo)
    stop = threading.Event()

    def producer():
        try:
            fd = os.open(fifo, os.O_WRONLY)
        except OSError:
            return
        try:
            while not stop.is_set():
                os.write(fd, CHUNK)
        except OSError:  # the reader closed it: EPIPE
            pass
        finally:
            os.close(fd)

    import signal

    previous = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    thread = threading.Thread(target=producer, daemon=True)
    thread.start()
    try:
        rc, out, err = run_cli("logs", str(fifo), "--format", "json", area="logs", subprocess_too=False)
    finally:
        stop.set()
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # a producer blocked in open() goes
        thread.join(10)
        signal.signal(signal.SIGPIPE, previous)
    assert rc == 1
    assert err.startswith("mtls-doctor: note: ") and "first 4 MiB" in err and len(err.splitlines()) == 1
    assert _lines(out) <= small_cap // len(LINE) + 1


def test_a_gzip_bomb_is_capped(tmp_path, small_cap):
    bomb = tmp_path / "error.log.1.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as gz:
        for _ in range(512):  # 32 MiB of lines in a few hundred KiB
            gz.write(CHUNK)
    assert bomb.stat().st_size < small_cap
    rc, out, err = run_cli("logs", str(bomb), "--format", "json", area="logs", subprocess_too=False)
    assert rc == 1 and "note:" in err and "first 4 MiB" in err
    assert 0 < _lines(out) <= small_cap // len(LINE) + 1
    # below the cap: no note, every line
    small = tmp_path / "error.log.2.gz"
    with gzip.open(small, "wb") as gz:
        gz.write(CHUNK * 8)
    rc, out, err = run_cli("logs", str(small), "--format", "json", area="logs", subprocess_too=False)
    assert rc == 1 and err == "" and _lines(out) == 8 * len(CHUNK) // len(LINE)
