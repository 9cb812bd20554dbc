"""Shared pytest fixtures: the nginx binary (real nginx, never mocked)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


def find_nginx() -> str | None:
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
