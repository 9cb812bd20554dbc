"""Helpers of the truth tests: real clients (stdlib ssl, curl, openssl s_client) with timeouts,
and lint of the exact configuration a real nginx ran.

Nothing here mocks TLS or nginx: every answer comes from a real nginx on 127.0.0.1.
"""

from __future__ import annotations

import re
import time
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import load_path
from mtls_doctor.nginx.version import parse_version
from tests.conftest import nginx_at_hand_version

AT = datetime.now(timezone.utc)
#: the version of the nginx these tests run against (never pinned: tests/conftest.py)
V = nginx_at_hand_version() or parse_version("1.22.1")
TIMEOUT = 5.0


def nginx_engine() -> dict:
    """``verify_client`` keyword arguments that predict for the nginx at hand: its own libcrypto
    (``nginx.target``), so a 1.18/OpenSSL 1.1.1 or 1.30/3.6 nginx is predicted exactly."""
    from mtls_doctor.nginx.target import resolve
    from tests.conftest import find_nginx

    global _ENGINE
    if _ENGINE is None:
        path = find_nginx()
        _ENGINE = resolve(path).verifier_args()[0] if path else {}
    return _ENGINE


_ENGINE: dict | None = None


def nginx_release():
    """The OpenSSL release (``pki.openssl_versions.Release``) the nginx at hand runs with."""
    from mtls_doctor.nginx.local import describe_nginx
    from mtls_doctor.pki.openssl_versions import parse_release
    from tests.conftest import find_nginx

    path = find_nginx()
    build = describe_nginx(path) if path else None
    return parse_release(build.openssl_version) if build and build.openssl_version else \
        parse_release("3.0.0")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: str


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None,
                   tls: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    if tls == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    elif tls == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def https_get(port: int, path: str, ctx: ssl.SSLContext, *, sni: str = "localhost",
              host: str | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One HTTP/1.1 request over a real TLS connection; the whole answer (Connection: close)."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    req = (f"GET {path} HTTP/1.1\r\nHost: {host or sni}\r\n{extra}Connection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            tls.sendall(req)
            data = b""
            for _ in range(1000):  # bounded read loop
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    return parse_answer(data)


def parse_answer(data: bytes) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(status, headers, body.decode("latin-1"))


def s_client(port: int, *args: str, stdin: bytes = b"Q\n") -> str:
    """`openssl s_client -msg` output (stdout + stderr); bounded by a timeout."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl CLI is needed"
    done = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-msg", *args],
                          input=stdin, capture_output=True, timeout=15, check=False)
    return (done.stdout + done.stderr).decode("latin-1")


def certificate_requests(s_client_output: str) -> int:
    """How many CertificateRequest messages the server sent (s_client -msg, F8.2)."""
    return len(re.findall(r"<<< .*Handshake.*CertificateRequest", s_client_output))


def lint_running(conf: Path) -> list:
    """Lint the configuration real nginx ran, with its files: the findings."""
    config = load_path(str(conf))
    return list(lint_config(config, AT, V, load_named_files(effective(config))).findings)


def block_lines(conf: Path, marker: str) -> range:
    """Lines of the config between ``# begin <marker>`` and ``# end <marker>``."""
    lines = conf.read_text().splitlines()
    start = next(i for i, l in enumerate(lines, 1) if l.strip() == f"# begin {marker}")
    end = next(i for i, l in enumerate(lines, 1) if l.strip() == f"# end {marker}")
    return range(start, end + 1)


def rules_in(findings: list, conf: Path, marker: str) -> set[str]:
    """Rule codes of the findings located inside the marked block of ``conf``."""
    lines = block_lines(conf, marker)
    return {f.rule for f in findings
            if f.location.path == str(conf) and f.location.line in lines}


def wait_for_text(read, needle: str, count: int = 1, rounds: int = 100) -> str:
    """Poll ``read()`` (a log reader) until ``needle`` occurs ``count`` times; bounded (~5 s).

    nginx answers (or sends its alert) before it writes the info line, so a client can be
    faster than the log. Returns the last text read (the caller asserts on it)."""
    text = read()
    for _ in range(rounds):
        if text.count(needle) >= count:
            break
        time.sleep(0.05)
        text = read()
    return text
