"""Stream (plain TLS) and mail (IMAP, POP3, SMTP; STARTTLS or implicit TLS) probing.

An nginx stream or mail server checks the client certificate right after the handshake, like
an http server, but answers without HTTP (F0.4; measured on nginx 1.22.1, 1.26.3, 1.30 with
``openssl s_client [-starttls]`` as the peer, tests/probe/test_streammail.py):

- stream: a rejected client's connection is closed at once, no byte sent; an admitted one's
  session goes on (the proxied backend may stay silent until the client speaks);
- mail: a rejected client gets the protocol's reply and the connection is closed: IMAP ``* BYE
  No required SSL certificate`` / ``* BYE SSL certificate error``, POP3 ``-ERR ...``, SMTP
  ``421 4.7.1 ...``; an admitted one gets the greeting (implicit TLS) or, after STARTTLS, the
  answer to the next command.

This module holds the protocol words: the plaintext STARTTLS dialogue (bounded reads, every
line capped), the command sent after a STARTTLS handshake, and ``classify_reply``. The socket
is given; ``probe.handshake`` runs TLS on it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

#: protocol -> (implicit TLS default port, STARTTLS default port)
PROTOCOLS = {"imap": (993, 143), "pop3": (995, 110), "smtp": (465, 587)}
#: URL schemes of probe targets: scheme -> (protocol, starttls, default port)
SCHEMES = {
    "tls": ("tls", False, 443), "imaps": ("imap", False, 993), "imap": ("imap", True, 143),
    "pop3s": ("pop3", False, 995), "pop3": ("pop3", True, 110), "smtps": ("smtp", False, 465),
    "smtp": ("smtp", True, 587),
}
#: what an admitted client sends after a STARTTLS handshake (the server speaks first only on
#: implicit TLS)
AFTER_STARTTLS = {"imap": b"a1 CAPABILITY\r\n", "pop3": b"CAPA\r\n",
                  "smtp": b"EHLO mtls-doctor.probe\r\n"}
MAX_LINE = 4096
MAX_LINES = 64

NO_CERT = "no-cert"  # nginx's no_cert reply: ssl_verify_client on, no certificate (F2.2)
CERT_ERROR = "cert-error"  # nginx's cert_error reply: the certificate failed verification
GREETING = "greeting"  # anything else: the client was admitted


@dataclass(frozen=True)
class AppAnswer:
    """The first line a stream/mail server sent after the handshake (mail), or None (stream)."""

    protocol: str
    line: str | None
    verdict: str  # NO_CERT, CERT_ERROR, GREETING

    def to_dict(self) -> dict[str, object]:
        return {"protocol": self.protocol, "line": self.line, "verdict": self.verdict}


def classify_reply(protocol: str, line: str) -> str:
    """NO_CERT / CERT_ERROR for nginx's rejection replies (any of the three protocols), else
    GREETING. The texts are ngx_mail_{imap,pop3,smtp}_module's (measured, module doc)."""
    text = line.strip()
    if "No required SSL certificate" in text:
        return NO_CERT
    if "SSL certificate error" in text:
        return CERT_ERROR
    return GREETING


class StartTlsError(Exception):
    """The plaintext dialogue did not reach the point where TLS starts (one line)."""


def _read_reply(sock: socket.socket, deadline: float, done) -> list[str]:
    """Lines until ``done(line)`` is true; bounded by ``deadline``, MAX_LINE and MAX_LINES."""
    buf = b""
    lines: list[str] = []
    while len(lines) < MAX_LINES:
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise StartTlsError("the server did not answer in time")
            sock.settimeout(left)
            try:
                chunk = sock.recv(1)  # one byte at a time: nothing of the TLS flight is eaten
            except socket.timeout:
                raise StartTlsError("the server did not answer in time") from None
            if not chunk:
                raise StartTlsError("the server closed the connection")
            buf += chunk
            if len(buf) > MAX_LINE:
                raise StartTlsError("a line longer than 4096 bytes: not a mail server")
        raw, buf = buf.split(b"\n", 1)
        line = raw.decode("utf-8", "replace").rstrip("\r")
        lines.append(line)
        if done(line):
            return lines
    raise StartTlsError("more than 64 lines without the expected answer")


def _smtp_last(line: str) -> bool:
    return len(line) < 4 or line[3] != "-"


def starttls(sock: socket.socket, protocol: str, timeout: float) -> str:
    """Run the plaintext dialogue up to the point where TLS starts; the server's answer to
    the STARTTLS command (one line). Raises ``StartTlsError``."""
    deadline = time.monotonic() + timeout

    def send(data: bytes) -> None:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            sock.sendall(data)
        except OSError as exc:
            raise StartTlsError(f"cannot send {data.strip().decode()}: {exc}") from None

    try:
        if protocol == "imap":
            greeting = _read_reply(sock, deadline, lambda line: True)[-1]
            if not greeting.startswith("* OK"):
                raise StartTlsError(f"not an IMAP greeting: {greeting[:80]!r}")
            send(b"a0 STARTTLS\r\n")
            answer = _read_reply(sock, deadline, lambda line: line.startswith("a0 "))[-1]
            ok = answer.startswith("a0 OK")
        elif protocol == "pop3":
            greeting = _read_reply(sock, deadline, lambda line: True)[-1]
            if not greeting.startswith("+OK"):
                raise StartTlsError(f"not a POP3 greeting: {greeting[:80]!r}")
            send(b"STLS\r\n")
            answer = _read_reply(sock, deadline, lambda line: True)[-1]
            ok = answer.startswith("+OK")
        elif protocol == "smtp":
            greeting = _read_reply(sock, deadline, _smtp_last)[-1]
            if not greeting.startswith("220"):
                raise StartTlsError(f"not an SMTP greeting: {greeting[:80]!r}")
            send(b"EHLO mtls-doctor.probe\r\n")
            ehlo = _read_reply(sock, deadline, _smtp_last)
            if not ehlo[-1].startswith("250"):
                raise StartTlsError(f"EHLO refused: {ehlo[-1][:80]!r}")
            send(b"STARTTLS\r\n")
            answer = _read_reply(sock, deadline, _smtp_last)[-1]
            ok = answer.startswith("220")
        else:
            raise ValueError(f"no STARTTLS for {protocol!r}")
    except OSError as exc:
        raise StartTlsError(f"during STARTTLS: {exc}") from None
    if not ok:
        raise StartTlsError(f"STARTTLS refused: {answer[:80]!r}")
    return answer


__all__ = ["AFTER_STARTTLS", "AppAnswer", "CERT_ERROR", "GREETING", "NO_CERT", "PROTOCOLS",
           "SCHEMES", "StartTlsError", "classify_reply", "starttls"]
