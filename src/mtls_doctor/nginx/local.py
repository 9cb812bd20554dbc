"""The nginx installed on this machine: find its binary and run it (``-v``, ``-V``, ``-T``).

The only subprocess code the lint and diagnose commands share. Every run has a timeout and
never reads stdin; a failure to run is ``None``, not an exception (operational failures are
data).
"""

from __future__ import annotations

import subprocess

#: seconds an `nginx -T` / `-V` / `-v` may take
NGINX_TIMEOUT = 20.0


def find_local_nginx(explicit: str | None = None) -> str | None:
    """The nginx binary (``explicit``, PATH, then the usual sbin dirs), or None."""
    from mtls_doctor.lab.nginx import NginxNotFound, find_nginx

    try:
        return find_nginx(explicit)
    except NginxNotFound:
        return None


def run_nginx(args: list[str], timeout: float = NGINX_TIMEOUT) -> subprocess.CompletedProcess | None:
    """Run ``args`` (an nginx command line) with a timeout; None when it cannot run or hangs."""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
