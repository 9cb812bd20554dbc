"""Hostile STARTTLS peers (plain sockets on 127.0.0.1, written here): probe ends bounded, with
one STARTTLS failure per target and no traceback; each server thread is stopped."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mtls_doctor.probe.handshake import ProbeConfig
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.probe.model import Outcome


def _serve(behaviour):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def run():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    behaviour(conn, stop)
                except OSError:
                    pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return sock, stop, thread


def silent_after_greeting(conn, stop):
    conn.sendall(b"* OK IMAP4 ready\r\n")
    stop.wait(3)


def endless_line(conn, stop):
    conn.sendall(b"* OK " + b"x" * 20000)
    stop.wait(1)


def untagged_forever(conn, stop):
    conn.sendall(b"* OK IMAP4 ready\r\n")
    conn.settimeout(1)
    conn.recv(100)
    for _ in range(200):
        conn.sendall(b"* CAPABILITY IMAP4rev1\r\n")


def refuses_starttls(conn, stop):
    conn.sendall(b"* OK IMAP4 ready\r\n")
    conn.settimeout(1)
    conn.recv(100)
    conn.sendall(b"a0 BAD STARTTLS not available\r\n")


def smtp_not_offered(conn, stop):
    conn.sendall(b"220-mail.test ESMTP\r\n220 ready\r\n")
    conn.settimeout(1)
    conn.recv(100)
    conn.sendall(b"250-mail.test\r\n250 SIZE 100\r\n")
    conn.recv(100)
    conn.sendall(b"502 5.5.1 STARTTLS not implemented\r\n")


@pytest.mark.parametrize("behaviour, protocol, words", [
    (silent_after_greeting, "imap", "did not answer in time"),
    (endless_line, "imap", "longer than 4096"),
    (untagged_forever, "imap", "more than 64 lines"),
    (refuses_starttls, "imap", "STARTTLS refused"),
    (smtp_not_offered, "smtp", "STARTTLS refused"),
])
def test_hostile_starttls_peer_is_one_bounded_failure(behaviour, protocol, words):
    sock, stop, thread = _serve(behaviour)
    try:
        config = ProbeConfig(host="127.0.0.1", port=sock.getsockname()[1], timeout=1.0,
                             protocol=protocol, starttls=True)
        start = time.monotonic()
        result = run_matrix(config, None, legacy=False)
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()
    assert elapsed < 5
    assert [a.outcome for a in result.attempts] == [Outcome.STARTTLS_FAILED]
    assert words in result.attempts[0].error
    assert result.primary is not None and result.primary.mode == "unknown"
