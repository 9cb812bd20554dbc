"""``mtls-doctor demo`` and ``mtls-doctor lab pki|list|run`` end to end (real nginx)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from mtls_doctor.lab.nginx import lab_nginx_pids
from mtls_doctor.lab.scenarios import SCENARIOS

pytestmark = pytest.mark.nginx


def run(tmp_path, *args: str, timeout: int = 120, columns: int = 160) -> subprocess.CompletedProcess[str]:
    # TMPDIR inside tmp_path: every nginx prefix the command creates is under tmp_path, so the
    # leftover check below looks only at processes this test started.
    env = dict(os.environ, TMPDIR=str(tmp_path), NO_COLOR="1", COLUMNS=str(columns))
    return subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_demo_shows_what_went_wrong_why_and_the_fix(tmp_path, nginx_bin):
    proc = run(tmp_path, "demo", "--nginx", nginx_bin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "-    ssl_client_certificate pki/mtls-client-ca.pem;  # inter" in out
    assert "+    ssl_client_certificate pki/mtls-client-ca.pem;  # root, inter" in out
    assert "FAILED:unable to get issuer certificate" in out
    assert "client SSL certificate verify error: (2:unable to get issuer certificate)" in out
    assert "F3.4" in out and "Fix:" in out
    assert "Both scenarios behaved as the facts sheet says" in out
    assert lab_nginx_pids([tmp_path]) == set()
    assert not any(p.name.startswith("mtls-doctor-") for p in tmp_path.iterdir())


def test_demo_json_depth(tmp_path, nginx_bin):
    proc = run(tmp_path, "demo", "--scenario", "depth-default", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["matched"] is True
    broken = {r["client_id"]: r for r in data["broken"]["rows"]}
    fixed = {r["client_id"]: r for r in data["fixed"]["rows"]}
    assert broken["two-intermediates"]["status"] == 400
    assert broken["two-intermediates"]["ssl_client_verify"] == "FAILED:unable to get local issuer certificate"
    assert fixed["two-intermediates"]["ssl_client_verify"] == "SUCCESS"


def test_missing_nginx_is_one_line_and_exit_2(tmp_path):
    for args in (("demo",), ("lab", "run", "good")):
        proc = run(tmp_path, *args, "--nginx", str(tmp_path / "no-nginx"))
        assert proc.returncode == 2, proc.stderr
        assert "apt-get install nginx-light" in proc.stderr
        assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


def test_lab_list_names_every_scenario(tmp_path):
    proc = run(tmp_path, "lab", "list", "--format", "json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    assert [s["scenario"] for s in data["scenarios"]] == [s.name for s in SCENARIOS]
    text = run(tmp_path, "lab", "list").stdout
    assert all(s.name in text for s in SCENARIOS)


def test_lab_run_unknown_scenario_exit_2(tmp_path):
    proc = run(tmp_path, "lab", "run", "no-such-scenario")
    assert proc.returncode == 2 and "lab list" in proc.stderr


def test_lab_run_all_scenarios_match_and_leave_nothing(tmp_path, nginx_bin):
    proc = run(tmp_path, "lab", "run", "--nginx", nginx_bin, "--format", "json", timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    data = json.loads(proc.stdout)
    assert data["matched"] is True
    assert [s["scenario"] for s in data["scenarios"]] == [s.name for s in SCENARIOS]
    assert all(r["matched"] for s in data["scenarios"] for r in s["rows"])
    assert lab_nginx_pids([tmp_path]) == set()
    assert not any(p.name.startswith("mtls-doctor-") for p in tmp_path.iterdir())


def test_lab_run_text_table_and_keep(tmp_path, nginx_bin):
    proc = run(tmp_path, "lab", "run", "good", "tls12-only", "--keep", columns=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for column in ("client", "HTTP", "page", "$ssl_client_verify", "$ssl_client_s_dn",
                   "info log line", "expected?"):
        assert column in out
    assert "No required SSL certificate was sent" in out
    assert "(21:unable to verify the first certificate)" in out
    assert "TLS: tlsv1 alert protocol version" in out
    assert "2/2 scenarios behaved as expected" in out
    (kept,) = [p for p in tmp_path.iterdir() if p.name.startswith("mtls-doctor-lab-")]
    assert (kept / "good" / "logs" / "error.log").is_file()
    assert (kept / "pki" / "manifest.json").is_file()
    assert lab_nginx_pids([tmp_path]) == set()


def test_lab_pki_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "lab"
    proc = run(tmp_path, "lab", "pki", str(target), "--server-name", "mtls.example.test")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((target / "manifest.json").read_text())
    assert "mtls.example.test" in manifest["server_names"]
    for key in target.rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    again = run(tmp_path, "lab", "pki", str(target))
    assert again.returncode == 2 and "--force" in again.stderr
    assert run(tmp_path, "lab", "pki", str(target), "--force", "--key-type", "rsa").returncode == 0
    assert json.loads((target / "manifest.json").read_text())["key_type"] == "rsa"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_lab_run_stops_nginx_and_cleans_up(tmp_path, nginx_bin, sig):
    env = dict(os.environ, TMPDIR=str(tmp_path), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "mtls_doctor", "lab", "run", "--nginx", nginx_bin],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not lab_nginx_pids([tmp_path]) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "lab run finished before an nginx was seen"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    # 128 + the signal, as a shell reports it (README: exit codes)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert ("interrupted" in err or "terminated" in err) and "Traceback" not in err
    assert lab_nginx_pids([tmp_path]) == set()
    assert not any(p.name.startswith("mtls-doctor-") for p in tmp_path.iterdir())


@pytest.mark.parametrize("name", ["client-omits-intermediate", "optional-unchecked",
                                  "no-sni-default-server", "no-sni-cross-ca",
                                  "proxy-headers-passed-through"])
def test_every_demo_pair_runs_as_expected(tmp_path, nginx_bin, name):
    proc = run(tmp_path, "demo", "--scenario", name, "--nginx", nginx_bin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "What went wrong" in proc.stdout and "no difference was measured" not in proc.stdout
    assert lab_nginx_pids([tmp_path]) == set()
