"""Issue 11, defects 3, 5 and 12: every input path goes through one bounded reader.

Real files, FIFOs and devices in a temp dir; the CLI runs as a subprocess under a 2 GiB address
space limit, so a regression to an unbounded read fails instead of eating the machine. The
subprocess timeout only turns a hang into a failure; nothing here times the tool."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from tests.hardening.conftest import ENV
from tests.pki.certs import pki

#: a FIFO nobody writes to must end in one line after this many seconds of silence
READ_TIMEOUT = "1"


def run(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    env = {**ENV, "MTLS_DOCTOR_READ_TIMEOUT": READ_TIMEOUT}
    return subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=90, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          preexec_fn=limit_memory)


def one_line(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr[-2000:]
    assert proc.returncode == code, (proc.returncode, proc.stdout[-1000:], proc.stderr[-1000:])
    if code == 2:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        return lines[0]
    return proc.stdout


@pytest.fixture()
def files(tmp_path):
    root = tmp_path / "root.pem"
    root.write_bytes(pki().root.pem)
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pki().leaf.pem)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return tmp_path, root, leaf, fifo


def _conf(tmp_path, body: str) -> str:
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + body + "\n}\n")
    return str(conf)


SERVER = """server {
    listen 443 ssl;
    server_name a.test;
    ssl_certificate %(leaf)s;
    ssl_certificate_key %(leaf)s;
    ssl_verify_client on;
    ssl_client_certificate %(ca)s;
    %(extra)s
}"""


# --------------------------------------------------------------------- defect 3: include /dev/zero


@pytest.mark.parametrize("command", ["lint", "verify", "diagnose"])
def test_include_of_dev_zero_is_bounded(files, command):
    tmp_path, root, leaf, _ = files
    conf = _conf(tmp_path, SERVER % {"leaf": leaf, "ca": root, "extra": "include /dev/zero;"})
    if command == "lint":
        proc = run("lint", conf, "--format", "json")
        out = json.loads(one_line(proc, 1))
        assert any("/dev/zero" in f["message"] and "not a regular file" in f["message"]
                   for f in out["findings"]), out["findings"]
    elif command == "verify":
        proc = run("verify", "--config", conf, "--server-name", "a.test", str(leaf))
        assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr
        assert proc.returncode in (1, 2), proc.stderr
    else:
        proc = run("diagnose", "--config", conf, "--no-probe", "--format", "json")
        assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 1), proc.stderr


# --------------------------------------------------------------------- defect 5: FIFO without writer


def test_fifo_without_writer_inspect(files):
    line = one_line(run("inspect", str(files[3])))
    assert str(files[3]) in line and "nothing to read" in line


def test_fifo_without_writer_verify(files):
    _, root, _, fifo = files
    line = one_line(run("verify", "--ssl-client-certificate", str(root), str(fifo)))
    assert str(fifo) in line


def test_fifo_without_writer_verify_trust(files):
    _, _, leaf, fifo = files
    line = one_line(run("verify", "--ssl-client-certificate", str(fifo), str(leaf)))
    assert str(fifo) in line


def test_fifo_without_writer_logs(files):
    line = one_line(run("logs", str(files[3])))
    assert str(files[3]) in line and "nothing to read" in line


def test_fifo_without_writer_targets(files):
    line = one_line(run("probe", "--targets", str(files[3])))
    assert str(files[3]) in line and "nothing to read" in line


def test_fifo_without_writer_probe_cert_and_ca_file(files):
    _, root, leaf, fifo = files
    line = one_line(run("probe", "127.0.0.1:9", "--cert", str(fifo), "--key", str(fifo)))
    assert str(fifo) in line
    line = one_line(run("probe", "127.0.0.1:9", "--ca-file", str(fifo)))
    assert str(fifo) in line


def test_fifo_as_included_file_is_a_finding(files):
    tmp_path, root, leaf, fifo = files
    conf = _conf(tmp_path, SERVER % {"leaf": leaf, "ca": root, "extra": f"include {fifo};"})
    out = json.loads(one_line(run("lint", conf, "--format", "json"), 1))
    assert any(str(fifo) in f["message"] for f in out["findings"]), out["findings"]


def test_fifo_named_by_the_config_is_a_finding(files):
    tmp_path, root, leaf, fifo = files
    conf = _conf(tmp_path, SERVER % {"leaf": leaf, "ca": fifo, "extra": ""})
    out = json.loads(one_line(run("lint", conf, "--format", "json"), 1))
    assert any(str(fifo) in (f["location"].get("file") or "") + f["message"] for f in out["findings"])


@pytest.mark.parametrize("option", ["--config", "--log", "--cert", "--ca-file"])
def test_fifo_as_a_diagnose_option(files, option):
    fifo = files[3]
    line = one_line(run("diagnose", option, str(fifo), "--no-probe"))
    assert str(fifo) in line and "not a regular file" in line


def test_a_fifo_with_a_writer_is_still_read(files):
    _, root, leaf, fifo = files
    writer = subprocess.Popen(["sh", "-c", f'cat "{leaf}" > "{fifo}"'])
    try:
        proc = run("inspect", str(fifo), "--format", "json")
    finally:
        writer.wait(timeout=30)
    out = json.loads(one_line(proc, 0) if proc.returncode == 0 else one_line(proc, 1))
    assert out["files"][0]["certificates"] == 1


# --------------------------------------------------------------------- defect 12: NUL in a path


@pytest.mark.parametrize("command", ["verify", "lint", "diagnose"])
def test_nul_byte_in_a_path_inside_a_config(files, command):
    tmp_path, root, leaf, _ = files
    conf = tmp_path / "nginx.conf"
    conf.write_bytes(("events {}\nhttp {\n" + SERVER % {
        "leaf": leaf, "ca": f'"{root}\x00x"', "extra": ""} + "\n}\n").encode())
    if command == "verify":
        line = one_line(run("verify", "--config", str(conf), "--server-name", "a.test", str(leaf)))
        assert "NUL byte" in line
    elif command == "lint":
        proc = run("lint", str(conf), "--format", "json")
        assert "Traceback" not in proc.stderr and proc.returncode == 1, proc.stderr
    else:
        proc = run("diagnose", "--config", str(conf), "--no-probe", "--format", "json")
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr


# --------------------------------------------------------------------- output on a full disk


@pytest.mark.parametrize("args", [("rules",), ("inspect", "ROOT", "--format", "json"), ("inspect", "ROOT")])
def test_output_to_dev_full_is_one_line(files, args):
    root = files[1]
    argv = [str(root) if a == "ROOT" else a for a in args]
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "mtls_doctor", *argv], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=ENV)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert "No space left" in proc.stderr or "cannot write the output" in proc.stderr, proc.stderr


@pytest.mark.parametrize("args", [("inspect", "-"), ("logs", "-"), ("lint", "-"), ("probe", "--targets", "-")])
def test_closed_stdin_is_one_line(args):
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", *args], capture_output=True,
                          text=True, timeout=60, env=ENV, stdin=subprocess.DEVNULL,
                          preexec_fn=lambda: os.close(0))
    assert one_line(proc) == "mtls-doctor: error: stdin (-): is closed"


@pytest.mark.parametrize("close, code", [(1, 2), (2, 1)])
def test_closed_stdout_or_stderr(files, close, code):
    """fd 1 closed: nowhere to write the result, one line on stderr, exit 2; fd 2 closed: the
    command still runs (exit 0 or 1 for its findings), never a traceback."""
    root = files[1]
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "inspect", str(root)],
                          capture_output=True, text=True, timeout=60, env=ENV,
                          stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(close))
    assert "Traceback" not in proc.stderr + proc.stdout
    if close == 1:
        assert proc.returncode == 2 and proc.stderr.strip() == "mtls-doctor: error: stdout is closed"
    else:
        assert proc.returncode in (0, 1) and "certificate" in proc.stdout
