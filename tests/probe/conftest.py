"""Real servers for the probe tests, all on 127.0.0.1, all stopped whatever happens.

- ``lab``: the lab PKI (helper B) written to a temp dir (server chain, CA bundles, clients);
- ``modes``: ONE real nginx (helper C's NginxServer) with a server block per
  ``ssl_verify_client`` mode on its own port, plus a port with a default server (verify off)
  and a non-default ``a.test`` server (verify on), for the no-SNI case (F7.3);
- ``s_server``: ``openssl s_server`` processes (TLS-layer verification), killed at teardown;
- ``hostile``: plain-socket servers written here (silent, garbage, close, plain HTTP, drip).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import NginxServer, free_ports
from mtls_doctor.lab.pki import build_lab_pki

AT = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

SERVER = """
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "verify=$ssl_client_verify dn=$ssl_client_s_dn\\n"; }
"""

#: port index -> (description, directives); port 5 holds the default-server pair
MODES = {
    "off": (0, "ssl_client_certificate certs/root.pem;"),  # F1.2: no CertificateRequest
    "optional": (1, "ssl_verify_client optional; ssl_client_certificate certs/root.pem;"),
    "optional_no_ca": (2, "ssl_verify_client optional_no_ca; ssl_client_certificate certs/root.pem;"),
    "on": (3, "ssl_verify_client on; ssl_client_certificate certs/root.pem;"),
    # F1.4: trusted-only is only possible with optional_no_ca on 1.22: an EMPTY CA list
    "trusted_only": (4, "ssl_verify_client optional_no_ca; ssl_trusted_certificate certs/root.pem;"),
}


def _http_block() -> str:
    blocks = []
    for _, (index, directives) in MODES.items():
        blocks.append(
            f"server {{\n    listen 127.0.0.1:@PORT{index}@ ssl;\n    server_name localhost;\n"
            f"    {directives}\n{SERVER}}}\n"
        )
    blocks.append(
        "server {\n    listen 127.0.0.1:@PORT5@ ssl default_server;\n    server_name default.test;\n"
        + SERVER + "}\n"
        "server {\n    listen 127.0.0.1:@PORT5@ ssl;\n    server_name a.test;\n"
        "    ssl_verify_client on; ssl_client_certificate certs/root.pem;\n" + SERVER + "}\n"
    )
    return "".join(blocks)


@dataclass
class Lab:
    pki: object
    dir: Path
    root_pem: Path  # the CA bundle the probe trusts for the server certificate

    def client_files(self, name: str, with_chain: bool = True) -> tuple[Path, Path]:
        client = self.pki.clients[name]
        cert = self.dir / f"{name}{'-chain' if with_chain else ''}.pem"
        cert.write_bytes(client.chain_pem if with_chain else client.cert_pem)
        key = self.dir / f"{name}.key"
        key.write_bytes(client.key_pem)
        os.chmod(key, 0o600)
        return cert, key


@pytest.fixture(scope="session")
def lab(tmp_path_factory) -> Lab:
    pki = build_lab_pki(AT, server_names=["a.test", "default.test"])
    directory = tmp_path_factory.mktemp("probe-lab")
    root = directory / "root.pem"
    root.write_bytes(pki.pem("root"))
    return Lab(pki, directory, root)


@pytest.fixture(scope="session")
def modes(lab, nginx_bin, tmp_path_factory):
    """{mode name: port} of one running nginx; "sni" is the default-server pair's port."""
    files = {
        "certs/server.pem": lab.pki.server_chain_pem,
        "certs/server.key": lab.pki.server.key_pem,
        "certs/root.pem": lab.pki.pem("root"),
    }
    server = NginxServer(_http_block(), ports=6, files=files, nginx_bin=nginx_bin,
                         workdir=tmp_path_factory.mktemp("probe-nginx"))
    with server:
        ports = {name: server.ports[index] for name, (index, _) in MODES.items()}
        ports["sni"] = server.ports[5]
        yield ports


@pytest.fixture()
def s_server(lab, tmp_path):
    """Start ``openssl s_server`` with extra arguments; returns its port. Always killed."""
    procs: list[subprocess.Popen] = []
    (tmp_path / "server.pem").write_bytes(lab.pki.server_chain_pem)
    (tmp_path / "server.key").write_bytes(lab.pki.server.key_pem)
    os.chmod(tmp_path / "server.key", 0o600)

    def start(*args: str) -> int:
        for _ in range(5):
            (port,) = free_ports(1)
            proc = subprocess.Popen(
                ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-naccept", "50",
                 "-cert", str(tmp_path / "server.pem"), "-key", str(tmp_path / "server.key"),
                 "-CAfile", str(lab.root_pem), *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            procs.append(proc)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return port
                except OSError:
                    time.sleep(0.05)
        pytest.fail("openssl s_server did not start")

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=5)


class Hostile:
    """A plain-socket server on 127.0.0.1 in a thread; ``behaviour(conn, stop)`` per client."""

    def __init__(self, behaviour) -> None:
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conns = []
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conns.append(conn)
            conn.settimeout(2)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()
        for conn in conns:
            conn.close()

    def _one(self, conn) -> None:
        try:
            self.behaviour(conn, self.stop)
        except OSError:
            pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture()
def hostile():
    servers: list[Hostile] = []

    def start(behaviour) -> int:
        server = Hostile(behaviour)
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        server.close()
