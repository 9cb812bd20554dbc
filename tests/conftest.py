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
