"""Real servers for the exporter tests, all on 127.0.0.1, all stopped whatever happens.

- ``lab``: the lab PKI written to a temp dir (CA bundles, CRLs, client identities);
- ``fronts``: ONE real nginx with a server per scenario: ``on``, ``optional``, ``off`` and
  ``drift`` (``on`` with a CA file the tests rewrite, then reload nginx with SIGHUP);
- ``exporter``: ``mtls-doctor exporter`` as a subprocess (the real command) on a free port;
- ``prometheus``: Debian's ``prometheus`` with its own config and data dir in tmp.
Every wait is a bounded loop; nothing asserts on elapsed time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from mtls_doctor.lab.nginx import NginxServer, free_ports
from mtls_doctor.lab.pki import build_lab_pki

AT = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
SERVER = """
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 200 "verify=$ssl_client_verify\\n"; }
"""
#: scenario -> (port index, directives)
FRONTS = {
    "on": (0, "ssl_verify_client on; ssl_client_certificate certs/root.pem;"),
    "optional": (1, "ssl_verify_client optional; ssl_client_certificate certs/root.pem;"),
    "off": (2, ""),
    "drift": (3, "ssl_verify_client on; ssl_client_certificate certs/drift-ca.pem;"),
    # NGINX Gateway Fabric's rendering (servers_template.go, see mtls_doctor.k8s.gateway):
    # a missing or bad certificate closes the connection without an answer
    "on444": (4, "ssl_verify_client on; ssl_client_certificate certs/root.pem; ssl_verify_depth 4;"
                 " error_page 495 496 = @tls_failed; location @tls_failed { return 444; }"),
    "closes444": (5, "return 444;"),  # a front that answers nothing at all
}


def wait_until(check, timeout: float, what: str, interval: float = 0.1):
    """Poll ``check()`` until it returns a truthy value (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"gave up waiting for {what} (last: {last!r})")


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[str, float]:
    """The samples of a Prometheus text exposition: ``name{labels}`` -> value."""
    return {line.rpartition(" ")[0]: float(line.rpartition(" ")[2])
            for line in text.splitlines() if line and not line.startswith("#")}


@contextmanager
def stalling_target() -> Iterator[str]:
    """A real TCP listener on 127.0.0.1 that accepts and never answers (the TLS handshake
    stalls), as ``host:port``; every accepted connection is closed at the end (the abandoned
    probes see EOF and end)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        done.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


@dataclass
class Lab:
    pki: object
    dir: Path

    def write(self, name: str, data: bytes, mode: int = 0o644) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        os.chmod(path, mode)
        return path

    def identity(self, name: str) -> tuple[Path, Path]:
        client = self.pki.clients[name]
        return (self.write(f"{name}-chain.pem", client.chain_pem),
                self.write(f"{name}.key", client.key_pem, 0o600))


@pytest.fixture(scope="package")  # stopped after tests/exporter: the lab tests check that no nginx is left
def lab(tmp_path_factory) -> Lab:
    pki = build_lab_pki(AT)
    lab = Lab(pki, tmp_path_factory.mktemp("exporter-lab"))
    lab.write("root.pem", pki.pem("root"))
    return lab


def _http_block() -> str:
    return "".join(
        f"server {{\n    listen 127.0.0.1:@PORT{index}@ ssl;\n    server_name localhost;\n"
        f"    {directives}\n{SERVER}}}\n" for index, directives in FRONTS.values())


@dataclass
class Fronts:
    server: NginxServer
    prefix: Path
    ports: dict[str, int]

    def reload(self) -> None:
        """SIGHUP to the master: nginx re-reads its configuration and files (F1.1)."""
        os.kill(self.server.pid, signal.SIGHUP)


@pytest.fixture(scope="package")  # stopped after tests/exporter: the lab tests check that no nginx is left
def fronts(lab, nginx_bin, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("exporter-nginx")
    files = {
        "certs/server.pem": lab.pki.server_chain_pem,
        "certs/server.key": lab.pki.server.key_pem,
        "certs/root.pem": lab.pki.pem("root"),
        "certs/drift-ca.pem": lab.pki.pem("root"),
    }
    server = NginxServer(_http_block(), ports=len(FRONTS), files=files, nginx_bin=nginx_bin,
                         workdir=prefix)
    with server:
        yield Fronts(server, prefix, {name: server.ports[i] for name, (i, _) in FRONTS.items()})


@dataclass
class Exporter:
    process: subprocess.Popen
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, str]:
        return http_get(f"http://{self.address}{path}")

    def probe(self, target: str, module: str) -> tuple[int, str]:
        query = urllib.parse.urlencode({"target": target, "module": module})
        return self.get(f"/probe?{query}")


def _start_on_free_port(what: str, argv: Callable[[int], list[str]], ready_url: str, log: Path,
                        timeout: float) -> tuple[subprocess.Popen, int]:
    """Start ``argv(port)`` on a free loopback port until ``ready_url`` (formatted with the
    port) answers 200 within ``timeout``; up to 5 ports (another process may take one first).
    A process that does not get ready is stopped; then the test fails with its log's tail."""
    for _ in range(5):
        (port,) = free_ports(1)
        process = subprocess.Popen(argv(port), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=log.open("ab"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if http_get(ready_url.format(port=port), timeout=2)[0] == 200:
                    return process, port
            except OSError:
                pass
            time.sleep(0.1)
        stop(process)
    pytest.fail(f"{what} did not start: " + log.read_text()[-2000:])


def start_exporter(config_text: str, directory: Path) -> Exporter:
    config = directory / "modules.yaml"
    config.write_text(config_text)
    exe = Path(sys.executable).with_name("mtls-doctor")
    process, port = _start_on_free_port(
        "the exporter", lambda port: [str(exe), "exporter", "--config", str(config),
                                      "--listen", f"127.0.0.1:{port}"],
        "http://127.0.0.1:{port}/metrics", directory / "exporter.log", 15)
    return Exporter(process, port)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Prometheus:
    process: subprocess.Popen
    port: int

    def query(self, expr: str) -> list[dict]:
        status, body = http_get(f"http://127.0.0.1:{self.port}/api/v1/query?"
                                + urllib.parse.urlencode({"query": expr}))
        data = json.loads(body)
        assert status == 200 and data["status"] == "success", body
        return data["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single value of an instant query (None: no series)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expr: str, expected: float, timeout: float = 20.0) -> None:
        wait_until(lambda: self.value(expr) == expected, timeout, f"{expr} == {expected}")

    def alerts(self) -> list[dict]:
        status, body = http_get(f"http://127.0.0.1:{self.port}/api/v1/alerts")
        return json.loads(body)["data"]["alerts"]


def prometheus_binary() -> str:
    found = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if found is None:
        pytest.fail("prometheus is not installed: run ./dev.sh setup (Debian's prometheus)")
    return found


def start_prometheus(config_text: str, directory: Path) -> Prometheus:
    config = directory / "prometheus.yml"
    config.write_text(config_text)
    binary = prometheus_binary()
    process, port = _start_on_free_port(
        "prometheus", lambda port: [binary, f"--config.file={config}",
                                    f"--storage.tsdb.path={directory / f'data-{port}'}",
                                    f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        "http://127.0.0.1:{port}/-/ready", directory / "prometheus.log", 30)
    return Prometheus(process, port)
