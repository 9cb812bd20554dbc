"""The lab's TLS client: one real handshake and one HTTP request against a lab nginx.

Invariants of this module:
- it uses the Python stdlib ``ssl`` module, i.e. the system OpenSSL (the same library family
  nginx and the ``openssl`` CLI use here);
- the server certificate is ALWAYS verified against the lab trust anchor (``ca_pem``); with SNI
  the host name is checked by OpenSSL, without SNI the certificate must name the IP address it
  was reached at (checked here), so turning SNI off never turns verification off;
- every socket operation has a timeout; a failed handshake or a dropped connection is returned
  as data (``Answer.error``), never raised;
- nginx enforces client certificates at the HTTP layer (facts §0, F2.2), so a completed
  handshake proves nothing: the request is always sent and the answer always read.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["Answer", "request", "TLS_VERSIONS"]

#: the values accepted for ``tls`` (pins the client to exactly that protocol version)
TLS_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}

_MAX_ANSWER = 1 << 20


@dataclass(frozen=True)
class Answer:
    """What the client saw: the HTTP answer, or why there was none."""

    status: int | None
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: str
    protocol: str | None  # negotiated TLS version, e.g. "TLSv1.3"
    error: str | None  # TLS alert / socket error text, None when an HTTP answer arrived

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "headers": [list(h) for h in self.headers],
            "body": self.body,
            "protocol": self.protocol,
            "error": self.error,
        }


def request(
    port: int,
    *,
    lab_id: str,
    ca_pem: bytes,
    host: str = "localhost",
    sni: str | None = "localhost",
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    tls: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    timeout: float = 5.0,
    address: str = "127.0.0.1",
) -> Answer:
    """Connect to ``address:port``, handshake, send ``GET /?lab=<lab_id>`` and read the answer.

    ``sni`` is the server name sent (None: no SNI extension). ``cert_file`` holds the client's
    leaf, optionally followed by the intermediates it sends; ``key_file`` its key. ``tls`` pins
    the protocol version ("TLSv1.2" or "TLSv1.3"); None lets OpenSSL negotiate.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED + check_hostname
    ctx.load_verify_locations(cadata=ca_pem.decode("ascii"))
    if sni is None:
        # No SNI means OpenSSL cannot check a name; the chain is still verified and the
        # address is checked against the certificate below.
        ctx.check_hostname = False
    if tls is not None:
        version = TLS_VERSIONS[tls]
        ctx.minimum_version = version
        ctx.maximum_version = version
    if cert_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file) if key_file else None)

    protocol: str | None = None
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with ctx.wrap_socket(raw, server_hostname=sni) as tls_sock:
                protocol = tls_sock.version()
                if sni is None:
                    problem = _address_problem(tls_sock.getpeercert() or {}, address)
                    if problem:
                        return Answer(None, "", (), "", protocol, problem)
                extra = "".join(f"{k}: {v}\r\n" for k, v in headers)
                tls_sock.sendall(
                    (
                        f"GET /?lab={lab_id} HTTP/1.1\r\nHost: {host}\r\n"
                        f"User-Agent: mtls-doctor-lab\r\n{extra}Connection: close\r\n\r\n"
                    ).encode("latin-1")
                )
                data = _read_all(tls_sock)
    except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
        return Answer(None, "", (), "", protocol, _error_text(exc))
    return _parse(data, protocol)


def _read_all(sock: ssl.SSLSocket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < _MAX_ANSWER:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        except (ssl.SSLError, OSError):
            if chunks:  # the answer arrived; a reset after it does not matter
                break
            raise
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _parse(data: bytes, protocol: str | None) -> Answer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/\d\.\d (\d{3}) ?(.*)", lines[0]) if lines else None
    if not match:
        text = "connection closed without an HTTP answer" if not data else "not an HTTP answer"
        return Answer(None, "", (), "", protocol, text)
    headers = tuple(
        (k.strip(), v.strip()) for k, sep, v in (line.partition(":") for line in lines[1:]) if sep
    )
    return Answer(
        int(match.group(1)), match.group(2), headers, body.decode("utf-8", "replace"), protocol, None
    )


def _address_problem(cert: dict, address: str) -> str | None:
    wanted = ipaddress.ip_address(address)
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "IP Address":
            try:
                if ipaddress.ip_address(value.strip()) == wanted:
                    return None
            except ValueError:
                continue
    return f"server certificate does not name {address} (connected without SNI)"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"server certificate rejected: {exc.verify_message}"
    text = str(exc)
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    if isinstance(exc, socket.timeout) or isinstance(exc, TimeoutError):
        return f"timed out: {text or 'no answer'}"
    return text or type(exc).__name__
