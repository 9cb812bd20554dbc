"""``lab up`` / ``lab down`` on real nginx: a scenario that stays up on 127.0.0.1:PORT until
stopped, reached by real curl; private state; a taken port, a second ``up`` and a stale state."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import lab_nginx_pids

BIN = str(Path(sys.executable).parent / "mtls-doctor")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listeners(port: int) -> list[str]:
    """Local addresses listening on ``port`` (IPv4 and IPv6), read from /proc/net/tcp*."""
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                out.append(addr)
    return out


@pytest.fixture()
def env(tmp_path):
    run = tmp_path / "run"
    e = dict(os.environ, MTLS_DOCTOR_RUN_DIR=str(run), COLUMNS="200")
    yield e, run
    subprocess.run([BIN, "lab", "down"], env=e, capture_output=True, timeout=60)
    assert lab_nginx_pids([tmp_path]) == set()


def _mtls(env, *args, timeout=90):
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_up_detach_curl_down(env, nginx_bin):
    e, run = env
    port = _free_port()
    r = _mtls(e, "lab", "up", "depth-default", "--port", str(port), "--detach", "--nginx", nginx_bin)
    assert r.returncode == 0, r.stderr
    assert f"is up on https://localhost:{port}/" in r.stdout
    state = json.loads((run / f"lab-{port}.json").read_text())
    d = Path(state["directory"])
    # private run directory and state
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert stat.S_IMODE((run / f"lab-{port}.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((d / "clients" / "good.key").stat().st_mode) == 0o600
    # loopback only
    assert _listeners(port) == ["0100007F"]
    # every printed path exists, and the printed curl works as written (real curl)
    curl = next(line.split("try: ", 1)[1] for line in r.stdout.splitlines() if "try: " in line)
    for word in curl.split():
        if word.startswith("/"):
            assert Path(word).is_file(), word
    got = subprocess.run(curl.split() + ["-s", "-o", "/dev/null", "-w", "%{http_code}"],
                         capture_output=True, text=True, timeout=30)
    assert got.stdout == "200"
    deep = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                           str(d / "ca/root.pem"), "--cert", str(d / "clients/deep-chain.pem"),
                           "--key", str(d / "clients/deep.key"), f"https://localhost:{port}/"],
                          capture_output=True, text=True, timeout=30)
    assert deep.stdout == "400"  # the scenario's point: depth 1 refuses the deep chain (F3.3)
    # a second `up` on the same port: one line, exit 2
    again = _mtls(e, "lab", "up", "good", "--port", str(port), "--detach", "--nginx", nginx_bin)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "already up" in again.stderr
    t0 = time.monotonic()
    down = _mtls(e, "lab", "down", "--port", str(port))
    assert down.returncode == 0 and "stopped depth-default" in down.stdout
    assert time.monotonic() - t0 < 20
    assert _listeners(port) == []
    assert not (run / f"lab-{port}.json").exists() and not d.exists()
    assert "no lab scenario is up" in _mtls(e, "lab", "down").stdout


def test_port_in_use_and_unknown_scenario(env, nginx_bin):
    e, _ = env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _mtls(e, "lab", "up", "good", "--port", str(port), "--detach", "--nginx", nginx_bin)
        assert r.returncode == 2 and r.stderr.strip() == f"mtls-doctor: error: --port {port}: 127.0.0.1:{port} is in use"
    r = _mtls(e, "lab", "up", "no-such", "--port", str(port))
    assert r.returncode == 2 and "lab list" in r.stderr and len(r.stderr.splitlines()) == 1


def test_stale_state_and_sigint(env, nginx_bin, tmp_path):
    e, run = env
    port = _free_port()
    assert _mtls(e, "lab", "up", "good", "--port", str(port), "--detach", "--nginx", nginx_bin).returncode == 0
    state = json.loads((run / f"lab-{port}.json").read_text())
    os.kill(state["pid"], signal.SIGKILL)  # the supervisor dies: nginx follows it (PDEATHSIG)
    deadline = time.monotonic() + 10
    while _listeners(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _listeners(port) == []
    r = _mtls(e, "lab", "down")
    assert "stale state of good" in r.stdout and r.returncode == 0
    assert not (run / f"lab-{port}.json").exists() and not Path(state["directory"]).exists()
    # foreground: Ctrl-C stops it and cleans up, user's --dir stays
    mine = tmp_path / "mine"
    proc = subprocess.Popen([BIN, "lab", "up", "good", "--port", str(port), "--dir", str(mine),
                             "--nginx", nginx_bin], env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (run / f"lab-{port}.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listeners(port) == ["0100007F"]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "(or Ctrl-C)" in out
    assert _listeners(port) == [] and not (run / f"lab-{port}.json").exists()
    assert (mine / "ca" / "root.pem").is_file()
