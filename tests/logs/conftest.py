"""Fixtures of the logs tests: a real nginx error log produced once per session (tests/logs/lab.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.logs.lab import config_errors, run_lab


@pytest.fixture(scope="session")
def lab_run(tmp_path_factory, nginx_bin):
    return run_lab(tmp_path_factory.mktemp("logs-lab"), nginx_bin)


@pytest.fixture(scope="session")
def lab_log(lab_run, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("logs-lab-log") / "error.log"
    path.write_text(lab_run.error_log)
    return path


@pytest.fixture(scope="session")
def config_messages(tmp_path_factory, nginx_bin) -> dict[str, str]:
    return config_errors(tmp_path_factory.mktemp("logs-conf"), nginx_bin)


