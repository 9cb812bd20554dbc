"""NginxServer: real nginx on loopback, its own prefix, always stopped."""

from __future__ import annotations

import time

import socket
import ssl
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import (
    NginxConfigError,
    NginxNotFound,
    NginxServer,
    find_nginx,
    lab_nginx_pids,
    parse_access_line,
)

pytestmark = pytest.mark.nginx

PLAIN = """
server {
    listen 127.0.0.1:@PORT0@;
    server_name localhost;
    location / { return 200 "plain $arg_lab\\n"; }
}
"""


def _get(port: int, path: str = "/?lab=t1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(5)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


def test_find_nginx_explicit_missing_says_apt_get():
    with pytest.raises(NginxNotFound, match="apt-get install nginx-light"):
        find_nginx("/nonexistent/nginx")


def test_plain_server_starts_answers_logs_and_stops(nginx_bin, tmp_path):
    server = NginxServer(PLAIN, nginx_bin=nginx_bin, workdir=tmp_path / "p")
    with server:
        for _ in range(500):  # the worker may be forked just after the master listens (1.30)
            pids = server.running_pids()
            if len(pids) >= 2:
                break
            time.sleep(0.01)
        assert len(pids) == 2  # master + one worker
        assert lab_nginx_pids([server.prefix]) == {server.pid}
        assert b"plain t1" in _get(server.port)
        conf = server.conf_path.read_text()
    assert server.running_pids() == set()
    assert lab_nginx_pids([tmp_path]) == set()
    assert "error_log" in conf and " info;" in conf
    for temp in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{tmp_path / 'p' / 'temp' / temp}" in conf
    line = (tmp_path / "p" / "logs" / "access.log").read_text().splitlines()[0]
    fields = parse_access_line(line)
    assert fields["lab"] == "t1" and fields["status"] == "200" and fields["verify"] == "-"
    assert len(fields["request_id"]) == 32


def test_config_error_carries_nginx_message_and_leaves_nothing(nginx_bin, tmp_path):
    server = NginxServer(
        "server { listen 127.0.0.1:@PORT0@; no_such_directive on; }",
        nginx_bin=nginx_bin,
        workdir=tmp_path / "p",
    )
    with pytest.raises(NginxConfigError, match='unknown directive "no_such_directive"'):
        server.start()
    assert server.running_pids() == set()


@pytest.mark.parametrize("listen", ["0.0.0.0:@PORT0@", "@PORT0@", "[::1]:@PORT0@"])
def test_only_loopback_listen_is_accepted(nginx_bin, tmp_path, listen):
    with pytest.raises(ValueError, match="127.0.0.1"):
        NginxServer(f"server {{ listen {listen}; }}", nginx_bin=nginx_bin, workdir=tmp_path).start()
    assert lab_nginx_pids([tmp_path]) == set()


def test_server_without_listen_is_refused(nginx_bin, tmp_path):
    with pytest.raises(ValueError, match="needs `listen 127.0.0.1"):
        NginxServer("server { return 200; }", nginx_bin=nginx_bin, workdir=tmp_path).start()


def test_stopped_on_exception_inside_with(nginx_bin, tmp_path):
    server = NginxServer(PLAIN, nginx_bin=nginx_bin, workdir=tmp_path / "p")
    with pytest.raises(KeyboardInterrupt):
        with server:
            pids = server.running_pids()
            raise KeyboardInterrupt
    assert len(pids) == 2
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    assert server.running_pids() == set()
    assert lab_nginx_pids([tmp_path]) == set()


def test_temporary_prefix_is_removed_unless_kept(nginx_bin):
    with NginxServer(PLAIN, nginx_bin=nginx_bin) as server:
        prefix = server.prefix
        assert prefix is not None and prefix.is_dir()
    assert not prefix.exists()


def test_tls_server_with_throwaway_cert(nginx_bin, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now.replace(year=now.year - 1))
        .not_valid_after(now.replace(year=now.year + 1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    http = """
    server {
        listen 127.0.0.1:@PORT0@ ssl;
        server_name localhost;
        ssl_certificate tls/cert.pem;
        ssl_certificate_key tls/key.pem;
        location / { return 200 "tls $ssl_protocol\\n"; }
    }
    """
    files = {"tls/cert.pem": cert_pem, "tls/key.pem": key_pem}
    with NginxServer(http, files=files, nginx_bin=nginx_bin, workdir=tmp_path / "p") as server:
        assert (server.prefix / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
        ctx = ssl.create_default_context(cadata=cert_pem.decode())
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(b"GET /?lab=tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                answer = tls.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    assert lab_nginx_pids([tmp_path]) == set()


def test_port_taken_meanwhile_is_retried_with_new_ports(nginx_bin, tmp_path, monkeypatch):
    import mtls_doctor.lab.nginx as mod

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    real = mod.free_ports
    calls = []

    def first_taken(count):
        calls.append(count)
        return (taken,) if len(calls) == 1 else real(count)

    monkeypatch.setattr(mod, "free_ports", first_taken)
    try:
        with NginxServer(PLAIN, nginx_bin=nginx_bin, workdir=tmp_path / "p") as server:
            assert server.port != taken and len(calls) == 2
            assert b"plain t1" in _get(server.port)
    finally:
        squatter.close()
    assert "Address already in use" in (tmp_path / "p" / "logs" / "error.log").read_text()
    assert lab_nginx_pids([tmp_path]) == set()
