"""`mtls-doctor lint` end to end: exit codes, text with context, json, sarif, stdin, --diff,
--select/--ignore, inline suppressions, bad input as one line with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BAD = """error_log stderr info;
events {}
http {
    server {
        listen 443;
        ssl on;
        ssl_verify_client optional;
        ssl_client_certificate ca.pem;
        location / { proxy_set_header X-Cert $ssl_client_cert; proxy_pass http://a; }
    }
}
"""
GOOD = """error_log stderr info;
events {}
http {
    server {
        listen 443 ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client on;
        ssl_client_certificate ca.pem;
        location / { return 200; }
    }
}
"""


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", "--no-files", "--nginx-version", "1.22.1",
                           *args], capture_output=True, text=True, input=stdin, timeout=60, env=env)


@pytest.fixture()
def bad(tmp_path: Path) -> Path:
    p = tmp_path / "nginx.conf"
    p.write_text(BAD)
    return p


def test_findings_exit_1_with_context(bad: Path) -> None:
    done = run(str(bad))
    assert done.returncode == 1, done.stderr
    assert f"MTLS201 verify-client-optional-unchecked {bad}:7" in done.stdout
    assert ">     7 |         ssl_verify_client optional;" in done.stdout
    assert "fix:" in done.stdout


def test_clean_config_exit_0(tmp_path: Path) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(GOOD)
    done = run(str(p), "--select", "MTLS2,MTLS4")
    assert done.returncode == 0, done.stdout
    assert "Findings: none" in done.stdout


def test_json_findings_carry_rule_severity_message_path_line(bad: Path) -> None:
    done = run(str(bad), "--format", "json")
    data = json.loads(done.stdout)
    assert data["command"] == "lint"
    f = next(f for f in data["findings"] if f["rule"] == "MTLS201")
    assert f["severity"] == "error" and f["message"]
    assert f["location"]["file"] == str(bad) and f["location"]["line"] == 7


def test_sarif_is_json_with_rule_table(bad: Path) -> None:
    done = run(str(bad), "--format", "sarif")
    doc = json.loads(done.stdout)
    assert doc["version"] == "2.1.0"
    rules = {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert {"MTLS201", "MTLS404"} <= rules
    res = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "MTLS201")
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 7


def test_stdin_is_nginx_T_output(bad: Path) -> None:
    dump = f"# configuration file /etc/nginx/nginx.conf:\n{BAD}\n"
    done = run("-", "--format", "json", stdin=dump)
    data = json.loads(done.stdout)
    assert any(f["location"]["display"] == "/etc/nginx/nginx.conf:7" for f in data["findings"])


def test_stdin_plain_config() -> None:
    done = run("-", "--format", "json", stdin=BAD)
    data = json.loads(done.stdout)
    assert any(f["location"]["display"] == "<stdin>:7" for f in data["findings"])


def test_select_ignore_and_fail_on(bad: Path) -> None:
    codes = {f["rule"] for f in json.loads(run(str(bad), "--format", "json", "--select", "MTLS4").stdout)["findings"]}
    assert codes and all(c.startswith("MTLS4") for c in codes)
    codes = {f["rule"] for f in json.loads(run(str(bad), "--format", "json", "--ignore", "MTLS201").stdout)["findings"]}
    assert "MTLS201" not in codes and "MTLS220" in codes
    assert run(str(bad), "--select", "MTLS404", "--fail-on", "error").returncode == 0
    assert run(str(bad), "--select", "MTLS404", "--fail-on", "warning").returncode == 1


def test_inline_suppression(tmp_path: Path) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(BAD.replace("ssl_verify_client optional;", "ssl_verify_client optional;  # mtls-doctor: ignore[MTLS201]"))
    codes = {f["rule"] for f in json.loads(run(str(p), "--format", "json").stdout)["findings"]}
    assert "MTLS201" not in codes and "MTLS220" in codes


def test_diff_rewrites_ssl_on_and_client_cert(bad: Path) -> None:
    done = run(str(bad), "--diff")
    assert "-        ssl on;\n" in done.stdout
    assert "+        listen 443 ssl;\n" in done.stdout
    assert "$ssl_client_escaped_cert" in done.stdout
    # the diff applies cleanly with patch(1)
    patch = subprocess.run(["patch", "--dry-run", "-p0", "-d", "/"], input=done.stdout.replace(f"a{bad}", str(bad)).replace(f"b{bad}", str(bad)),
                           capture_output=True, text=True, timeout=30)
    assert patch.returncode == 0, patch.stdout + patch.stderr


@pytest.mark.parametrize("content, fragment", [
    ("http {\n server {\n", ":3: unexpected end of file"),
    ("\x00\x01binary", None),
])
def test_broken_config_is_one_line_exit_2(tmp_path: Path, content: str, fragment: str | None) -> None:
    p = tmp_path / "broken.conf"
    p.write_text(content)
    done = run(str(p))
    if fragment is None and done.returncode in (0, 1):
        # binary noise that happens to tokenize is a config with nothing in it: 0 servers (MTLS292)
        assert done.returncode == 0 or "MTLS292" in done.stdout, done.stdout
        return
    assert done.returncode == 2, done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert fragment is None or fragment in done.stderr


def test_missing_path_exit_2(tmp_path: Path) -> None:
    done = run(str(tmp_path / "absent.conf"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1


def test_bad_version_exit_2(bad: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", "--nginx-version", "banana", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "banana" in done.stderr


def test_directory_lints_its_nginx_conf(bad: Path) -> None:
    done = run(str(bad.parent), "--format", "json")
    assert done.returncode == 1 and json.loads(done.stdout)["findings"]


def test_no_path_lints_this_machine(nginx_bin: str) -> None:
    """Without PATH: `nginx -T` (or /etc/nginx/nginx.conf); the files come from this machine."""
    done = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    data = json.loads(done.stdout)
    assert data["configs"][0]["file"] == "/etc/nginx/nginx.conf"
    assert data["nginx_version"]  # detected from `nginx -v`
