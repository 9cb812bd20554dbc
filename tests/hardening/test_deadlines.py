"""Issue 11 (bounds): every network step has a deadline, not a timeout that restarts at each
byte. A server dripping one byte per 0.2 s for 20 s must not hold the TLS 1.0/1.1 check."""

from __future__ import annotations

from mtls_doctor.probe import legacy
from tests.hardening import hostile
from tests.hardening.conftest import clean, cli


def drip(conn, stop):
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x01\x40\x00")  # a 16 KiB record, one byte at a time
    for _ in range(100):
        if stop.wait(0.2):
            return
        conn.sendall(b"\x02")


def test_legacy_check_has_a_deadline():
    with hostile.HostileServer(drip) as server:
        versions, note = legacy.check("127.0.0.1", server.port, None, 0.5)
    # with a per-byte timeout the check would have run until the server gave up and closed
    assert versions is None and "did not finish in time" in note, note


def test_probe_with_legacy_check_of_a_drip_server():
    with hostile.HostileServer(drip) as server:
        proc = cli("probe", f"127.0.0.1:{server.port}", "--timeout", "0.5", "--format", "json")
        accepted = server.accepted
    clean(proc, 1)
    assert accepted >= 1


def test_probe_help_states_the_bounds():
    proc = cli("probe", "--help")
    clean(proc, 0)
    assert "38 x --timeout" in " ".join(proc.stdout.split())


def test_whole_command_deadline_ends_a_blocking_read():
    """cli.common.deadline: a read that would block forever (a pipe nobody writes to) ends in
    DeadlineExceeded (one line, exit 2 in the CLI), and the previous SIGALRM handler is back."""
    import os
    import signal

    import pytest

    from mtls_doctor.cli.common import DeadlineExceeded, deadline

    before = signal.getsignal(signal.SIGALRM)
    r, w = os.pipe()
    try:
        with pytest.raises(DeadlineExceeded, match="too slow"):
            with deadline(0.2, "too slow"):
                os.read(r, 1)
    finally:
        os.close(r)
        os.close(w)
    assert signal.getsignal(signal.SIGALRM) is before


def test_diagnose_help_states_the_deadline():
    proc = cli("diagnose", "--help")
    clean(proc, 0)
    assert "--deadline" in proc.stdout and "38 x --timeout" in " ".join(proc.stdout.split())
