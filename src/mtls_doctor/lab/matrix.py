"""The version matrix: every nginx the lab can run here, and where their answers differ.

The nginx binaries are this machine's and those of the OS roots ``tools/roots.sh`` builds
(``$MTLS_DOCTOR_ROOTS``, default ``/var/cache/mtls-doctor/roots``; each root holds real Debian
nginx-light with its own OpenSSL: 1.18/1.1.1, 1.22/3.0, 1.26/3.5, 1.30/3.6). Building roots needs
root and debootstrap, so it is the script's job; this module only finds what is there.
``differences`` is pure: it compares measured rows by scenario and client.
"""

from __future__ import annotations

import glob
import os
from typing import Any, Sequence

ENV_ROOTS = "MTLS_DOCTOR_ROOTS"
DEFAULT_ROOTS = "/var/cache/mtls-doctor/roots"


def roots_dir() -> str:
    return os.environ.get(ENV_ROOTS) or DEFAULT_ROOTS


def matrix_nginx(include_local: bool = True) -> list[str]:
    """This machine's nginx (when installed) and the nginx of every complete root, by version."""
    from mtls_doctor.lab.nginx import nginx_version
    from mtls_doctor.nginx.local import find_local_nginx

    found: list[str] = []
    local = find_local_nginx() if include_local else None
    if local:
        found.append(local)
    for stamp in sorted(glob.glob(os.path.join(roots_dir(), "*", ".mtls-doctor-root"))):
        binary = os.path.join(os.path.dirname(stamp), "usr", "sbin", "nginx")
        if os.path.isfile(binary) and nginx_version(binary):
            found.append(binary)
    return sorted(dict.fromkeys(found), key=lambda p: nginx_version(p))


def differences(results_by_nginx: dict[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows (scenario, client) whose status, ``$ssl_client_verify``, log line or nginx -t verdict
    differ between the nginx builds: ``{"scenario", "client", "by_nginx": {label: answer}}``."""
    table: dict[tuple[str, str], dict[str, str]] = {}
    for label, results in results_by_nginx.items():
        for result in results:
            if result.error:
                table.setdefault((result.scenario, "nginx -t"), {})[label] = "refused: " + \
                    result.error.splitlines()[0].removeprefix("nginx: ")[:80]
                continue
            table.setdefault((result.scenario, "nginx -t"), {})[label] = "ok"
            for row in result.rows:
                verify = row.ssl_client_verify or "-"
                table.setdefault((result.scenario, row.client_id), {})[label] = \
                    f"{row.status if row.status is not None else 'no HTTP'} {verify}"
    out = []
    for (scenario, client), answers in table.items():
        if len(set(answers.values())) > 1 or len(answers) < len(results_by_nginx):
            out.append({"scenario": scenario, "client": client,
                        "by_nginx": {k: answers.get(k, "-") for k in results_by_nginx}})
    return out
