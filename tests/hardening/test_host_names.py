"""Issue 11, defect 13: a DNS label longer than 63 characters is refused up front (one line,
exit 2) and, reaching the library anyway, is a connect failure that says so: no thread
traceback, no false "timed out"."""

from __future__ import annotations

import subprocess
import sys

from tests.hardening.conftest import ENV, clean, cli

LONG = "a" * 70 + ".example"


def test_probe_cli_refuses_a_long_label():
    proc = cli("probe", f"https://{LONG}/", "--timeout", "3")
    clean(proc, 2)
    assert "longer than 63" in proc.stderr


def test_targets_line_with_a_long_label_is_named(tmp_path):
    targets = tmp_path / "t"
    targets.write_text(f"127.0.0.1:9\n{LONG}:443\n")
    proc = cli("probe", "--targets", str(targets))
    clean(proc, 2)
    assert ":2:" in proc.stderr and "longer than 63" in proc.stderr


def test_diagnose_url_with_a_long_label():
    clean(cli("diagnose", "--url", f"https://{LONG}/", "--config", "/nonexistent"), 2)


def test_library_attempt_with_a_long_label_is_a_connect_failure():
    code = (
        "from mtls_doctor.probe.handshake import ProbeConfig, attempt\n"
        "from mtls_doctor.probe.model import AttemptSpec, CertKind\n"
        f"a = attempt(ProbeConfig({LONG!r}, 443, timeout=3), AttemptSpec(CertKind.NONE, None, '1.3'))\n"
        "print(a.outcome.value, '|', a.error)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=ENV)
    assert "Traceback" not in proc.stderr and "Exception in thread" not in proc.stderr, proc.stderr
    outcome, error = proc.stdout.strip().split(" | ", 1)
    assert outcome == "connect-failed" and "timed out" not in error, proc.stdout
