"""Parse a probe TARGET: ``https://host[:port][/path]``, ``host:port``, ``[v6]:port`` (no I/O).

Invariants: returns a ``Target`` or raises ``InputError`` with one line; the default port is
443; an IP literal is never used as SNI (RFC 6066 section 3 forbids it).
"""

from __future__ import annotations

import ipaddress
import re
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


def redact(text: str) -> str:
    """``text`` with the ``user:password@`` of its authority replaced by ``***@``: the only form
    in which a TARGET or URL is echoed (error lines, reports). No parsing that can fail."""
    start = text.find("://")
    start = start + 3 if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", text[:max(start, 0)]) else 0
    end = len(text)
    for stop in "/?#":  # where urlsplit ends the authority
        at = text.find(stop, start)
        if at >= 0:
            end = min(end, at)
    at = text.rfind("@", start, end)
    return text if at < 0 else text[:start] + "***" + text[at:]


def _port(netloc: str, shown: str, default: int) -> int:
    """The port of ``netloc`` (no userinfo in it): ASCII digits, 1-65535, or ``default`` when
    absent (``host`` or ``host:``). Not urlsplit's: it reads ``:0`` as no port (443) and its
    accepted spellings differ between Python versions."""
    if netloc.startswith("["):
        tail = netloc[netloc.find("]") + 1:] if "]" in netloc else ""
        if tail and not tail.startswith(":"):
            raise InputError(f"TARGET {shown!r}: text after the ] of an IPv6 address")
        text = tail[1:]
    else:
        text = netloc.partition(":")[2]
    if not text:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 0 < int(text) < 65536:
        raise InputError(f"TARGET {shown!r}: port {text[:12]!r} is not a number from 1 to 65535")
    return int(text)


def parse_target(text: str) -> Target:
    raw = text.strip()
    shown = redact(text)
    if not raw:
        raise InputError("TARGET is empty: give https://host[:port][/path] or host:port")
    from mtls_doctor.probe.starttls import SCHEMES

    protocol, starttls, default_port = "https", False, 443
    if "://" in raw:
        scheme = raw.split("://", 1)[0].lower()
        if scheme != "https" and scheme not in SCHEMES:
            raise InputError(f"TARGET {shown!r}: only https:// URLs (or host:port), tls:// (a "
                             "stream server), imaps:// pop3s:// smtps:// (implicit TLS) or "
                             "imap:// pop3:// smtp:// (STARTTLS) can be probed")
        if scheme in SCHEMES:
            protocol, starttls, default_port = SCHEMES[scheme]
        to_split = "https://" + raw.split("://", 1)[1]
    else:
        to_split = "https://" + raw
    if redact(to_split) != to_split:  # before urlsplit, whose errors may quote the netloc
        # never sent (the probe has no HTTP authentication) and never echoed
        raise InputError(f"TARGET {shown!r}: a user name or password (user:password@) in a "
                         "TARGET is not supported: remove it")
    try:
        parts = urlsplit(to_split)
        host = parts.hostname
    except ValueError as exc:
        raise InputError(f"TARGET {shown!r}: {exc}") from None
    if not host or any(c in host for c in " /\\@"):
        raise InputError(f"TARGET {shown!r}: no host name in it")
    port = _port(parts.netloc, shown, default_port)
    problem = _host_name_problem(host)
    if problem is not None:
        raise InputError(f"TARGET {shown!r}: {problem}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(host, port, path, protocol, starttls)
