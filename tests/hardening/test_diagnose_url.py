"""Issue 11, defect 18: ``diagnose --url`` is checked whether or not it is probed."""

from __future__ import annotations

import pytest

from tests.hardening.conftest import clean, cli


@pytest.mark.parametrize("url", ["ftp://x", "https://", "https://a:99999/", "https://" + "b" * 64 + ".x/"])
def test_diagnose_url_is_checked_with_no_probe(url, tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n")
    proc = cli("diagnose", "--url", url, "--no-probe", "--config", str(conf))
    clean(proc, 2)
    assert "TARGET" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
