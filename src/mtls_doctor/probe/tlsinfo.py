"""Names and small pure checks the probe needs: alert names, verify error texts, host names.

No I/O. Alert codes are RFC 8446 section 6 (and RFC 5246 7.2 for the older ones).
"""

from __future__ import annotations

import ipaddress
from typing import Any

ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity",
    116: "certificate_required", 120: "no_application_protocol",
}

#: alerts a server sends when it refuses the client's certificate (or its absence) at the TLS
#: layer: handshake_failure is OpenSSL's answer to "no certificate" under
#: SSL_VERIFY_FAIL_IF_NO_PEER_CERT in TLS 1.2, certificate_required in TLS 1.3 (F4.3)
CLIENT_CERT_ALERTS = frozenset({40, 42, 43, 44, 45, 46, 48, 49, 116})

_VERIFY_TEXTS = {
    2: "unable to get issuer certificate", 9: "certificate is not yet valid",
    10: "certificate has expired", 18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate", 21: "unable to verify the first certificate",
    26: "unsuitable certificate purpose", 62: "hostname mismatch",
}


def verify_error_text(code: int) -> str:
    """OpenSSL's X509_verify_cert_error_string for ``code`` (a table when not reachable)."""
    try:
        from OpenSSL._util import ffi, lib  # pyOpenSSL's binding of the same OpenSSL

        return ffi.string(lib.X509_verify_cert_error_string(code)).decode("ascii", "replace")
    except Exception:  # noqa: BLE001 - private API; the table is the fallback
        return _VERIFY_TEXTS.get(code, f"verify error {code}")


def san_names(cert: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses) of a certificate's subjectAltName, () when absent."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return (), ()
    dns = tuple(san.get_values_for_type(x509.DNSName))
    ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    return dns, ips


def hostname_matches(cert: Any, name: str) -> bool:
    """RFC 6125 matching against subjectAltName only (as curl/OpenSSL do when a SAN exists;
    a certificate without SAN does not match a host name here)."""
    dns, ips = san_names(cert)
    try:
        ip = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(v) == ip for v in ips)
    wanted = name.rstrip(".").lower()
    for pattern in dns:
        pattern = pattern.rstrip(".").lower()
        if pattern == wanted:
            return True
        if pattern.startswith("*.") and "." in wanted:
            head, _, rest = wanted.partition(".")
            if head and rest == pattern[2:]:
                return True
    return False
