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


@pytest.mark.parametrize("option, value, code", [("--select", "ZZZ", 2), ("--ignore", "MTLS9", 2),
                                                  ("--select", "mtls2", 1), ("--select", "MTLS201,MTLS4", 1)])
def test_lint_select_and_ignore_fail_loudly_on_unknown_codes(tmp_path, option, value, code):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { server { listen 443 ssl; server_name a; ssl on;\n"
                    " ssl_verify_client optional; location / { return 200 $ssl_client_cert; } } }\n")
    proc = cli("lint", str(conf), "--no-files", option, value)
    clean(proc, code)
