"""The offline verdict on the user's certificate, next to the live one (no I/O).

When the user supplies the server's client-CA file (``--client-ca``) and its subjects identify
CA names the server advertised, ``mtls_doctor.pki.verify`` judges the user's chain as nginx
would (F2.2-F2.5): the live probe shows THAT nginx rejects, the offline verdict says WHY (the
verify error nginx logs only at info level, F4.1). ``ssl_verify_depth`` is not observable on the
wire: the nginx default 1 is assumed unless given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence

NGINX_MODES = ("on", "optional", "optional_no_ca")


@dataclass(frozen=True)
class OfflineVerdict:
    matched_names: tuple[str, ...]  # advertised names found among the --client-ca subjects
    verify_client: str
    verify_depth: int
    status: int | None
    page: int | None
    ssl_client_verify: str
    error_code: int
    error_text: str | None
    explanation: str
    fix: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, matched_names=list(self.matched_names))


def offline_verdict(
    leaf: Any,
    chain: Sequence[Any],
    client_ca: Sequence[Any],
    ca_names: Sequence[str],
    mode: str,
    at: dt.datetime,
    verify_depth: int = 1,
    engine: dict | None = None,
) -> OfflineVerdict | None:
    """None when the CA file does not identify any advertised name (nothing sound to judge).
    ``engine``: ``verify_client`` keyword arguments for the nginx behind the target
    (``nginx.target.Target.verifier_args``: its libcrypto, or an OpenSSL version)."""
    from mtls_doctor.pki.verify import TrustSettings, verify_client

    subjects = {c.subject.rfc4514_string() for c in client_ca}
    matched = tuple(n for n in ca_names if n in subjects)
    if not matched:
        return None
    verify_mode = mode if mode in NGINX_MODES else "on"
    trust = TrustSettings(client_certificate=tuple(client_ca), verify_depth=verify_depth,
                          verify_client=verify_mode)
    result = verify_client(leaf, tuple(chain), trust, at, **(engine or {}))
    return OfflineVerdict(
        matched_names=matched,
        verify_client=verify_mode,
        verify_depth=verify_depth,
        status=result.status,
        page=result.page,
        ssl_client_verify=result.ssl_client_verify,
        error_code=result.error_code,
        error_text=result.error_text,
        explanation=result.explanation,
        fix=result.fix,
    )
