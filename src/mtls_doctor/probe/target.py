"""Parse a probe TARGET: ``https://host[:port][/path]``, ``host:port``, ``[v6]:port`` (no I/O).

Invariants: returns a ``Target`` or raises ``InputError`` with one line; the default port is
443; an IP literal is never used as SNI (RFC 6066 section 3 forbids it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from mtls_doctor.model import InputError


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str = "/"
    #: "https", "tls" (a stream server: plain TLS, no HTTP) or a mail protocol (probe.starttls)
    protocol: str = "https"
    starttls: bool = False

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


#: RFC 1035 section 2.3.4: labels of 63 octets at most, names of 255 (253 in text form)
MAX_LABEL = 63
MAX_NAME = 253


def _host_name_problem(host: str) -> str | None:
    """Why ``host`` cannot be looked up, or None (IP literals and valid names)."""
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_name = host.rstrip(".").encode("idna") if not host.isascii() else host.rstrip(".").encode()
    except UnicodeError as exc:
        return f"not a valid host name ({exc})"
    if len(ascii_name) > MAX_NAME:
        return f"host name longer than {MAX_NAME} characters"
    for label in ascii_name.split(b"."):
        if not label:
            return "host name with an empty label (..)"
        if len(label) > MAX_LABEL:
            return f"a DNS label longer than {MAX_LABEL} characters ({len(label)})"
    return None


def parse_target(text: str) -> Target:
    raw = text.strip()
    if not raw:
        raise InputError("TARGET is empty: give https://host[:port][/path] or host:port")
    from mtls_doctor.probe.starttls import SCHEMES

    protocol, starttls, default_port = "https", False, 443
    if "://" in raw:
        scheme = raw.split("://", 1)[0].lower()
        if scheme != "https" and scheme not in SCHEMES:
            raise InputError(f"TARGET {text!r}: only https:// URLs (or host:port), tls:// (a "
                             "stream server), imaps:// pop3s:// smtps:// (implicit TLS) or "
                             "imap:// pop3:// smtp:// (STARTTLS) can be probed")
        if scheme in SCHEMES:
            protocol, starttls, default_port = SCHEMES[scheme]
        to_split = "https://" + raw.split("://", 1)[1]
    else:
        to_split = "https://" + raw
    try:
        parts = urlsplit(to_split)
        port = parts.port or default_port
        host = parts.hostname
    except ValueError as exc:
        raise InputError(f"TARGET {text!r}: {exc}") from None
    if not host or any(c in host for c in " /\\@"):
        raise InputError(f"TARGET {text!r}: no host name in it")
    if not 0 < port < 65536:
        raise InputError(f"TARGET {text!r}: port out of range")
    problem = _host_name_problem(host)
    if problem is not None:
        raise InputError(f"TARGET {text!r}: {problem}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(host, port, path, protocol, starttls)
