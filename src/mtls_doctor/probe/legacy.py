"""Does the server still accept TLS 1.0 / 1.1? (one handshake, no request)

pyOpenSSL here bundles an OpenSSL that can no longer negotiate TLS < 1.2 at all, so this check
uses the standard library's ``ssl`` module (the system OpenSSL 3.0) at security level 0, the
only level at which OpenSSL 3 still offers TLS 1.0/1.1. The server certificate is not verified:
nothing is sent but a ClientHello. Every socket operation has the timeout; failures are data.
"""

from __future__ import annotations

import socket
import time
import warnings


def _handshake(tls, deadline: float) -> str | None:
    """The handshake within one deadline: a socket timeout alone restarts at every byte, so a
    server dripping one byte a second would hold the check for hours."""
    import select
    import ssl

    tls.setblocking(False)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the TLS 1.0/1.1 handshake did not finish in time")
        try:
            tls.do_handshake()
            return tls.version()
        except ssl.SSLWantReadError:
            select.select([tls], [], [], remaining)
        except ssl.SSLWantWriteError:
            select.select([], [tls], [], remaining)


def check(host: str, port: int, sni: str | None, timeout: float) -> tuple[tuple[str, ...] | None, str | None]:
    """(versions below 1.2 the server accepted, note). ``None`` versions: could not check."""
    import ssl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError, AttributeError) as exc:
        return None, f"TLS 1.0/1.1 not checked: the local TLS library cannot offer them ({exc})"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with ctx.wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False) as tls:
                version = _handshake(tls, time.monotonic() + timeout)
    except ssl.SSLError:
        return (), "TLS 1.0 and 1.1 refused"
    except (OSError, ValueError) as exc:
        return None, f"TLS 1.0/1.1 not checked: {exc}"
    if version in ("TLSv1", "TLSv1.1"):
        return (version.replace("TLSv1", "TLS 1.0") if version == "TLSv1" else "TLS 1.1",), (
            f"the server accepted {version}")
    return (), "TLS 1.0 and 1.1 refused"
