"""Hostile and broken servers: every attempt ends with a clear outcome, never a hang or a
traceback. The servers are plain sockets on 127.0.0.1 written here (see conftest.Hostile)."""

from __future__ import annotations

import time

import pytest
from OpenSSL import SSL

from mtls_doctor.lab.nginx import free_ports
from mtls_doctor.probe.handshake import ProbeConfig, attempt
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.probe.model import AttemptSpec, CertKind, Outcome

SPEC = AttemptSpec(CertKind.NONE, "localhost", "1.3")


def config(port: int) -> ProbeConfig:
    return ProbeConfig("127.0.0.1", port, timeout=0.5, verify_name="localhost")


def silent(conn, stop):
    stop.wait(10)


def garbage(conn, stop):
    conn.recv(4096)
    conn.sendall(b"\x00\x01garbage that is not TLS at all\xff" * 4)
    stop.wait(10)


def close_at_once(conn, stop):
    conn.close()


def close_mid_handshake(conn, stop):
    conn.recv(4096)  # the ClientHello, then nothing but a close
    conn.close()


def plain_http(conn, stop):
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    conn.close()


def drip(conn, stop):
    conn.recv(4096)
    conn.sendall(b"\x16\x03\x03\x40\x00")  # a record header promising 16 KiB ...
    for _ in range(100):  # ... delivered one byte at a time, far slower than the timeout
        if stop.wait(0.1):
            return
        conn.sendall(b"\x02")


@pytest.mark.parametrize(
    "behaviour, outcome, step",
    [
        (silent, Outcome.TIMEOUT, "handshake"),
        (garbage, Outcome.NOT_TLS, "handshake"),
        (close_at_once, Outcome.CLOSED, "handshake"),
        (close_mid_handshake, Outcome.CLOSED, "handshake"),
        (plain_http, Outcome.NOT_TLS, "handshake"),
        (drip, Outcome.TIMEOUT, "handshake"),
    ],
)
def test_hostile_server_gives_a_clear_outcome(hostile, behaviour, outcome, step):
    port = hostile(behaviour)
    a = attempt(config(port), SPEC)
    assert a.outcome is outcome, a
    assert a.failed_step == step
    assert a.error and "\n" not in a.error
    assert a.certificate_request is None and a.http is None
    if behaviour is plain_http:
        assert "HTTP/1.1 400" in a.error


def test_refused_port_is_connect_failed():
    (port,) = free_ports(1)
    a = attempt(config(port), SPEC)
    assert a.outcome is Outcome.CONNECT_FAILED and a.failed_step == "tcp"


def test_matrix_stops_after_the_first_failed_attempt(hostile):
    port = hostile(silent)
    result = run_matrix(config(port), "localhost", other_sni=None)
    assert len(result.attempts) == 1
    assert result.attempts[0].outcome is Outcome.TIMEOUT
    assert result.primary.mode == "unknown"
    assert any("stopped after the first attempt" in n for n in result.notes)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_huge_ca_list_is_read_whole(hostile, lab):
    """A CertificateRequest with 1200 CA names (~57 KiB, near the u16 limit of the vector)."""
    from OpenSSL import crypto

    ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
    ctx.set_max_proto_version(SSL.TLS1_2_VERSION)
    ctx.use_certificate(lab.pki.server.cert)
    ctx.use_privatekey(lab.pki.server.key)
    ctx.set_verify(SSL.VERIFY_PEER, lambda *args: True)
    names = []
    for i in range(1200):
        subject = crypto.X509().get_subject()
        subject.CN = f"CA number {i:05d} of a long list"
        names.append(subject)
    ctx.set_client_ca_list(names)

    def tls_server(conn, stop):
        conn.settimeout(None)  # pyOpenSSL over a socket wants blocking mode
        tls = SSL.Connection(ctx, conn)
        tls.set_accept_state()
        try:
            tls.do_handshake()
            tls.recv(4096)
            tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        except SSL.Error:
            pass
        stop.wait(5)

    port = hostile(tls_server)
    config_ = ProbeConfig("127.0.0.1", port, timeout=3, ca_file=str(lab.root_pem), verify_name="localhost")
    a = attempt(config_, AttemptSpec(CertKind.NONE, "localhost", "1.2"))
    assert a.outcome is Outcome.HTTP_ANSWER, a
    names = a.certificate_request.ca_names
    assert len(names) == 1200 and names[0] == "CN=CA number 00000 of a long list"
    assert names[-1] == "CN=CA number 01199 of a long list"


def test_server_that_never_answers_http_times_out_once_per_version(lab, tmp_path):
    """`openssl s_server` without -www completes the handshake and never answers HTTP."""
    import os
    import socket
    import subprocess

    (tmp_path / "s.pem").write_bytes(lab.pki.server_chain_pem)
    (tmp_path / "s.key").write_bytes(lab.pki.server.key_pem)
    os.chmod(tmp_path / "s.key", 0o600)
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-naccept", "10",
         "-cert", str(tmp_path / "s.pem"), "-key", str(tmp_path / "s.key")],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        config_ = ProbeConfig("127.0.0.1", port, timeout=0.5, ca_file=str(lab.root_pem), verify_name="localhost")
        result = run_matrix(config_, "localhost", other_sni=None, legacy=False)
    finally:
        proc.kill()
        proc.wait(timeout=5)
    assert [(a.spec.tls, a.outcome, a.failed_step) for a in result.attempts] == [
        ("1.3", Outcome.TIMEOUT, "http"), ("1.2", Outcome.TIMEOUT, "http")]
    assert all(a.handshake_done and a.certificate_request is None for a in result.attempts)
    assert result.primary.mode == "unknown"
