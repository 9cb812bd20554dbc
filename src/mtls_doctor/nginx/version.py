"""nginx versions and the version gates of mTLS behaviour (facts section 9).

No I/O: ``parse_version`` reads ``--nginx-version`` values and ``nginx -v`` output; the CLI
runs ``nginx -v``. A version of ``None`` means unknown: rules then state both behaviours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mtls_doctor.model import InputError

_VERSION = re.compile(r"(?:nginx/|openresty/|^)(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def at_least(self, text: str) -> bool:
        return self >= parse_version(text)


def parse_version(text: str) -> Version:
    """``1.22.1``, ``nginx/1.22.1`` or the whole ``nginx -v`` line; InputError otherwise."""
    match = _VERSION.search(text.strip())
    if not match:
        raise InputError(f"not an nginx version: {text.strip()!r} (expected e.g. 1.22.1)")
    return Version(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


# The version gates the rules use; each cites facts section 9 / the fact it comes from.
SSL_ON_DEPRECATED = Version(1, 15, 0)  # F8.1
SSL_ON_REMOVED = Version(1, 25, 1)  # F8.1
TLS13_DEFAULT = Version(1, 23, 4)  # F7.5
TRUSTED_ONLY_OK = Version(1, 27, 2)  # F1.5
#: from 1.27.2 nginx reads CA files itself (CHANGES 1.27.2: certificates, keys and CRLs cached):
#: a bad ssl_client_certificate logs `cannot load certificate "FILE": PEM_read_bio_X509_AUX()
#: failed`, before `SSL_CTX_load_verify_locations("FILE") failed` (measured: 1.26.3 / 1.30.6)
CA_FILES_READ_BY_NGINX = Version(1, 27, 2)
CVE_2025_23419_FIXED = Version(1, 27, 4)  # F7.4: mainline
CVE_2025_23419_FIXED_STABLE = Version(1, 26, 3)  # nginx CHANGES 1.26.3 (stable branch, 2025-02-05)
RESUMPTION_REGRESSION_FIXED = Version(1, 29, 2)  # F7.4
RFC2253_DN = Version(1, 11, 6)  # section 5 / 9
ESCAPED_CERT = Version(1, 13, 5)  # section 5 / 9
SSL_OCSP_HTTP = Version(1, 19, 0)  # F6.2
SSL_OCSP_STREAM = Version(1, 27, 2)  # F6.2
#: F6.2, CHANGES 1.29.7: before it a stream handshake might succeed although OCSP rejected the
#: client certificate (CVE-2026-28755); measured closed on 1.30 (tests/verify/test_verify_ocsp.py)
STREAM_OCSP_BYPASS_FIXED = Version(1, 29, 7)
REJECT_HANDSHAKE = Version(1, 19, 4)  # section 9


def cve_2025_23419_fixed(version: Version) -> bool:
    """nginx lists the CVE-2025-23419 fix (TLS 1.3 session resumption across SNI names, F7.4)
    in 1.27.4 (mainline) and 1.26.3 (the 1.26 stable branch)."""
    return version >= CVE_2025_23419_FIXED or (
        CVE_2025_23419_FIXED_STABLE <= version < Version(1, 27, 0))


def default_protocols(version: Version | None) -> tuple[str, ...]:
    """nginx's default ``ssl_protocols`` (F7.5: TLSv1.3 on by default since 1.23.4)."""
    if version is not None and version < TLS13_DEFAULT:
        return ("TLSv1", "TLSv1.1", "TLSv1.2")
    return ("TLSv1.2", "TLSv1.3") if version is not None and version >= Version(1, 27, 3) else (
        "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
