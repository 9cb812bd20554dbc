"""Shared pytest fixtures: the nginx binary (real nginx, never mocked).

The nginx at hand is ``$MTLS_DOCTOR_NGINX`` when set (a binary of the version matrix, e.g.
``tools/roots.sh nginx bullseye``), else this machine's. Tests never pin its version: what they
expect is looked up for ``nginx_at_hand_version()`` through the gates of
``mtls_doctor.nginx.version``.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

import pytest


def find_nginx() -> str | None:
    explicit = os.environ.get("MTLS_DOCTOR_NGINX")
    if explicit:
        return explicit
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    path = find_nginx()
    if path is None:
        pytest.fail("nginx is not installed: run ./dev.sh test (it installs nginx-light)")
    return path


@lru_cache(maxsize=1)
def nginx_at_hand_version():
    """The ``Version`` of the nginx the tests run (None without nginx)."""
    from mtls_doctor.lab.nginx import nginx_version
    from mtls_doctor.nginx.version import Version

    path = find_nginx()
    parts = nginx_version(path) if path else ()
    return Version(*parts[:3]) if parts else None


def nginx_argv(nginx_bin: str, *args: str) -> list[str]:
    """The argv that runs ``nginx_bin`` with ``args`` on any nginx of the matrix: a binary of
    another OS root through its own loader (``nginx.local.nginx_command``), and ``-e`` (1.19.5+)
    left out for older nginx (they log startup errors to stderr and their built-in log)."""
    from mtls_doctor.lab.nginx import nginx_version
    from mtls_doctor.nginx.local import nginx_command

    rest = list(args)
    if "-e" in rest and nginx_version(nginx_bin) < (1, 19, 5):
        at = rest.index("-e")
        del rest[at:at + 2]
    return [*nginx_command(nginx_bin), *rest]


def nginx_module(nginx_bin: str, name: str) -> str | None:
    """The dynamic module ``ngx_<name>_module.so`` built for ``nginx_bin`` (from its own OS
    root when it lives in one), or None when not installed."""
    from mtls_doctor.nginx.local import os_root

    root = os_root(nginx_bin) or "/"
    for folder in ("usr/lib/nginx/modules", "usr/lib64/nginx/modules", "usr/local/nginx/modules"):
        path = Path(root) / folder / f"ngx_{name}_module.so"
        if path.is_file():
            return str(path)
    return None
