"""Real nginx with ``ssl_verify_client on`` + ``ssl_ocsp``, and a real OCSP responder.

One nginx, one server block per OCSP setting (``SERVERS``: port index -> directives), one
``OcspResponder`` (``mtls_doctor.lab.ocsp``: ``openssl ocsp`` behind a loopback listener),
``curl`` as the client. ``measure()`` returns what nginx answered per (server, client):
status, ``$ssl_client_verify`` (from the body of a 200, from the access log for a 400), and
the error-log lines of the OCSP request. Everything is stopped on the way out.

The responder URL comes from the certificate's AIA (``http://127.0.0.1:PORT/``: an IP address,
no resolver needed), from ``ssl_ocsp_responder``, or is a host name (``localhost``) that needs
a ``resolver``.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mtls_doctor.lab.nginx import NginxServer, parse_access_line
from mtls_doctor.lab.ocsp import OcspResponder, build_ocsp_pki, unreachable_url
from mtls_doctor.pki.issue import SERVER_AUTH, key_pem, pem

BODY = """
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_client_certificate certs/ca.pem;
    ssl_verify_client on;
    ssl_verify_depth 2;
    location / { return 200 "verify=$ssl_client_verify\\n"; }
"""

#: name -> (port index, directives); @RESPONDER@ / @DOWN@ are the live and a dead responder URL
SERVERS = {
    "aia-on": (0, "ssl_ocsp on;"),
    "aia-leaf": (1, "ssl_ocsp leaf;"),
    "responder-on": (2, "ssl_ocsp on; ssl_ocsp_responder @RESPONDER@;"),
    "responder-down": (3, "ssl_ocsp on; ssl_ocsp_responder @DOWN@;"),
    "cache": (4, "ssl_ocsp leaf; ssl_ocsp_responder @RESPONDER@; ssl_ocsp_cache shared:lab:1m;"),
    "resolver-dead": (5, "ssl_ocsp leaf; resolver 127.0.0.1:@DNS@ ipv6=off; resolver_timeout 1s;"),
    "resolver-live": (7, "ssl_ocsp leaf; resolver 127.0.0.1:@DNSLIVE@ ipv6=off; "
                         "resolver_timeout 2s;"),
    # a host name in ssl_ocsp_responder is resolved when nginx loads the configuration (F6.2)
    "responder-name": (6, "ssl_ocsp leaf; ssl_ocsp_responder @RESPONDER_NAME@;"),
}


class TinyDns:
    """A DNS server on 127.0.0.1 (UDP) that answers every A query with 127.0.0.1 (RFC 1035
    message format, one answer, TTL 5); other types get an empty answer. Stopped on ``stop()``."""

    def __init__(self) -> None:
        import socket
        import threading

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import struct

        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                continue
            if len(data) < 12:
                continue
            self.queries += 1
            end = 12
            while end < len(data) and data[end] != 0:
                end += data[end] + 1
            question = data[12:end + 5]
            qtype = struct.unpack(">H", data[end + 1:end + 3])[0] if end + 3 <= len(data) else 0
            answers = b""
            if qtype == 1:
                answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 5, 4) + bytes([127, 0, 0, 1])
            header = data[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if answers else 0, 0, 0)
            try:
                self.sock.sendto(header + question + answers, peer)
            except OSError:
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@dataclass(frozen=True)
class Answer:
    status: int | None
    verify: str | None
    body: str


def _curl(port: int, cert: Path, key: Path, tag: str) -> Answer:
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "15", "-o", "-", "-w", "\n%{http_code}",
         "--cert", str(cert), "--key", str(key), f"https://127.0.0.1:{port}/?lab={tag}"],
        capture_output=True, text=True, timeout=20, check=False)
    body, _, code = out.stdout.rpartition("\n")
    status = int(code) if code.isdigit() and code != "000" else None
    verify = body.split("verify=", 1)[1].strip() if status == 200 and "verify=" in body else None
    return Answer(status, verify, body)


class OcspLab:
    """The PKI, the responder and nginx; ``ask(server, client)`` -> Answer (a context manager)."""

    def __init__(self, nginx_bin: str, workdir: Path, servers: dict | None = None) -> None:
        self.nginx_bin = nginx_bin
        self.workdir = workdir
        self.servers = dict(SERVERS if servers is None else servers)
        self.at = datetime.now(timezone.utc)
        self.responder = OcspResponder(at=self.at)
        self.nginx: NginxServer | None = None
        self.down_url = unreachable_url()
        self.dns_port = int(unreachable_url().rsplit(":", 1)[1].strip("/"))
        self.dns: TinyDns | None = None

    def __enter__(self) -> "OcspLab":
        try:
            self.dns = TinyDns()
            self.responder.start()
            self.pki = build_ocsp_pki(self.at, self.responder.url)
            self.responder.set_cas(self.pki.responder_cas())
            server = self.pki.root.issue("localhost", at=self.at, sans=["localhost", "127.0.0.1"],
                                         eku=(SERVER_AUTH,))
            files = {"certs/server.pem": pem(server.cert), "certs/server.key": key_pem(server.key),
                     "certs/ca.pem": pem(self.pki.root.cert, self.pki.inter.cert)}
            self.client_dir = self.workdir / "clients"
            self.client_dir.mkdir(parents=True, exist_ok=True)
            for label, leaf in self.pki.leaves.items():
                (self.client_dir / f"{label}.pem").write_bytes(pem(leaf.cert))
                key = self.client_dir / f"{label}.key"
                key.touch(mode=0o600)
                key.write_bytes(key_pem(leaf.key))
            (self.client_dir / "ca.pem").write_bytes(files["certs/ca.pem"])
            blocks = []
            for index, directives in self.servers.values():
                text = (directives.replace("@RESPONDER_NAME@", self.responder.url.replace(
                            "127.0.0.1", "localhost")).replace("@RESPONDER@", self.responder.url)
                        .replace("@DOWN@", self.down_url).replace("@DNS@", str(self.dns_port))
                        .replace("@DNSLIVE@", str(self.dns.port)))
                blocks.append(f"server {{\n    listen 127.0.0.1:@PORT{index}@ ssl;\n"
                              f"    server_name localhost;\n    {text}\n{BODY}}}\n")
            self.nginx = NginxServer("".join(blocks), ports=len(self.servers), files=files,
                                     nginx_bin=self.nginx_bin, workdir=self.workdir / "nginx")
            self.nginx.start()
            return self
        except BaseException:
            self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self.nginx is not None:
                self.nginx.stop()
        finally:
            self.responder.stop()
            if self.dns is not None:
                self.dns.stop()

    def client(self, label: str) -> tuple[Path, Path]:
        return self.client_dir / f"{label}.pem", self.client_dir / f"{label}.key"

    def ask(self, server: str, client: str, tag: str | None = None) -> Answer:
        assert self.nginx is not None
        cert, key = self.client(client)
        tag = tag or f"{server}.{client}.{time.monotonic_ns()}"
        answer = _curl(self.nginx.ports[self.servers[server][0]], cert, key, tag)
        if answer.status != 200:  # the 400 page does not show it: the access log does
            deadline = time.monotonic() + 3.0  # nginx may write the line just after the answer
            while True:
                for line in reversed(self.nginx.read_access_log().splitlines()):
                    fields = parse_access_line(line)
                    if fields.get("lab") == tag:
                        return Answer(answer.status, fields.get("verify"), answer.body)
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        return answer

    def error_log(self) -> str:
        assert self.nginx is not None
        return self.nginx.read_error_log()
