"""advertised_ca_names / ca_names_wire_size against a real CertificateRequest.

`openssl s_server -Verify 1 -CAfile F` builds its CA-name list from F with
SSL_load_client_CA_file, as nginx 1.22.1 does for ssl_client_certificate (F1.1); `openssl
s_client -msg` dumps the CertificateRequest bytes, which we parse and compare.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest

from mtls_doctor.pki.facts import advertised_ca_names, ca_names_wire_size

from tests.pki.certs import make, pki

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _certificate_request(tmp_path, ca_pem: bytes) -> bytes:
    p = pki()
    (tmp_path / "srv.pem").write_bytes(p.server.pem)
    key = tmp_path / "srv.key"
    key.write_bytes(p.server.key_pem())
    key.chmod(0o600)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    port = _free_port()
    server = subprocess.Popen(
        [OPENSSL, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(tmp_path / "srv.pem"),
         "-key", str(key), "-Verify", "1", "-CAfile", str(tmp_path / "ca.pem"), "-tls1_2",
         "-quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):  # bounded wait for the listener
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        client = subprocess.run(
            [OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-msg"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
        )
    finally:
        server.kill()
        server.wait(timeout=10)
    m = re.search(r"<<< TLS 1\.2, Handshake \[length [0-9a-f]+\], CertificateRequest\n((?:\s+[0-9a-f ]+\n)+)",
                  client.stdout)
    assert m, client.stdout[-2000:]
    return bytes.fromhex("".join(m.group(1).split()))


def _parse_names(msg: bytes) -> tuple[int, list[bytes]]:
    assert msg[0] == 0x0D  # certificate_request
    body = msg[4:]
    pos = 1 + body[0]  # certificate_types
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # supported_signature_algorithms
    total = int.from_bytes(body[pos : pos + 2], "big")
    names, q = [], pos + 2
    while q < pos + 2 + total:
        n = int.from_bytes(body[q : q + 2], "big")
        names.append(body[q + 2 : q + 2 + n])
        q += 2 + n
    return 2 + total, names


def test_wire_size_and_names_match_a_real_certificate_request(tmp_path):
    p = pki()
    other = make("Other Root, with comma", ca=True, org="Other Org")
    certs = [p.root.cert, p.inter.cert, other.cert, p.root.cert]  # a duplicate on purpose
    ca_pem = p.root.pem + p.inter.pem + other.pem + p.root.pem
    size, names = _parse_names(_certificate_request(tmp_path, ca_pem))
    assert size == ca_names_wire_size(certs)
    assert names == [c.subject.public_bytes() for c in certs[:3]]
    assert advertised_ca_names(certs) == [
        "CN=Test Root CA,O=Test Org",
        "CN=Test Client CA,O=Test Org",
        "CN=Other Root\\, with comma,O=Other Org",
    ]
