"""The examples of every ``--help``, run as written in the directory of a lab kept up
(``mtls-doctor lab up depth-default --port 8443 --dir /tmp/lab --detach && cd /tmp/lab``, as
``cli.EXAMPLES`` says), with a free port for 8443/9443/9471 and a new temporary directory for
``/tmp/lab...``. The files an example names and the lab does not make (``exporter.yaml``,
``ingress.yaml``) are written first; ``P12_PASSWORD`` is the lab's PKCS#12 password (its manifest).

Exit 0 or 1, never a traceback, JSON validated against its schema (``tests/docs``' Shell does
the checks). ``NOT_RUN`` lists the few examples that cannot run here, each with the reason and
the test that covers the command instead; it must name examples that exist.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click
import pytest

from tests.docs.test_commands_as_written import PROGRAM, Shell

BIN = str(Path(sys.executable).parent / "mtls-doctor")

NOT_RUN = {
    "mtls-doctor diagnose": "diagnoses every nginx running on this machine (other tests' too); "
                            "tests/diagnose/test_discover.py covers finding them",
    "mtls-doctor lab run --matrix": "every scenario on every nginx of the matrix (20-60 s); tests/lab/test_matrix.py",
    "kubectl get ingress,secret -A -o yaml | mtls-doctor migrate - --format json":
        "needs a cluster (kubectl); `migrate ingress.yaml` and tests/k8s/test_migrate.py cover migrate",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_paths() -> list[str]:
    from mtls_doctor.cli import cli

    out = []
    with click.Context(cli) as ctx:
        for name in cli.list_commands(ctx):
            cmd = cli.get_command(ctx, name)
            out.append(name)
            if isinstance(cmd, click.Group):
                out.extend(f"{name} {sub}" for sub in cmd.list_commands(ctx))
    return out


def _help(path: str) -> str:
    """``mtls-doctor PATH --help`` as click renders it (in-process: 17 helps in milliseconds)."""
    from mtls_doctor.cli import cli

    ctx = click.Context(cli, info_name="mtls-doctor", terminal_width=200, max_content_width=200)
    cmd: click.Command = cli
    for part in path.split():
        cmd = cmd.get_command(ctx, part)
        ctx = click.Context(cmd, info_name=part, parent=ctx)
    return cmd.get_help(ctx)


def examples(text: str) -> list[str]:
    """The command lines after ``Examples:`` in a --help text (a trailing ``# comment`` kept)."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Examples:":
            for nxt in lines[i + 1:]:
                if not nxt.startswith("    ") or not PROGRAM.search(nxt):
                    break
                out.append(nxt.strip())
    return out


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return {path: _help(path) for path in ["", *command_paths()]}


def test_every_help_has_an_example(helps):
    missing = [path or "mtls-doctor" for path, text in helps.items() if not examples(text)]
    assert not missing, f"--help without an example: {missing}"


def test_not_run_names_examples_that_exist(helps):
    shown = {e.split("  #")[0].strip() for text in helps.values() for e in examples(text)}
    assert set(NOT_RUN) <= shown, sorted(set(NOT_RUN) - shown)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, nginx_bin):
    base = tmp_path_factory.mktemp("help-examples")
    env = dict(os.environ, MTLS_DOCTOR_RUN_DIR=str(base / "run"), COLUMNS="100", NO_COLOR="1",
               PATH=f"{Path(BIN).parent}:{Path(nginx_bin).parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    port = _free_port()
    directory = base / "lab"
    up = subprocess.run([BIN, "lab", "up", "depth-default", "--port", str(port), "--dir", str(directory),
                         "--detach", "--nginx", nginx_bin], env=env, capture_output=True, text=True, timeout=90)
    assert up.returncode == 0, up.stderr
    try:
        yield base, directory, port, env
    finally:
        subprocess.run([BIN, "lab", "down"], env=env, capture_output=True, timeout=60)


def _setup_files(directory: Path) -> None:
    from tests.k8s.material import manifest
    from tests.rules.test_rules_k8s import AUTH, CA_SECRET, ingress

    (directory / "ingress.yaml").write_text(manifest(ingress("api", "api.example.com", AUTH) + CA_SECRET))
    (directory / "exporter.yaml").write_text(
        "modules:\n  front:\n    expected_mode: \"on\"\n    identities:\n"
        f"      - {{name: good, cert: {directory}/clients/good-chain.pem, key: {directory}/clients/good.key}}\n"
        "allow_targets: [\"127.0.0.1:*\", \"localhost:*\"]\n"
        f"local:\n  nginx_config: {directory}/nginx/nginx.conf\n")


@pytest.mark.nginx
def test_help_examples_run(helps, lab, nginx_bin):
    base, directory, port, env = lab
    _setup_files(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    env = dict(env, P12_PASSWORD=manifest["pkcs12_password"])
    lab_env = dict(env, MTLS_DOCTOR_RUN_DIR=str(base / "run-examples"))  # `lab up`/`lab down` examples
    seen: set[str] = set()
    ran = 0
    n = 0
    try:
        for path, text in helps.items():
            for example in examples(text):
                command = example.split("  #")[0].strip()
                if command in seen or command in NOT_RUN:
                    continue
                seen.add(command)
                n += 1
                where = f"`mtls-doctor {path} --help`".replace("  ", " ")
                if command.startswith("mtls-doctor lab run ") and "--nginx " in command:
                    if not Path(command.split("--nginx ", 1)[1].split()[0]).exists():
                        continue  # a root of tools/roots.sh build that this machine has not built
                lab_command = re.match(r"mtls-doctor lab (up|down)\b", command) is not None
                sh = Shell(directory, lab_env if lab_command else env)
                sh.subs.update({"/tmp/lab": str(base / f"new-{n}"), "9443": str(_free_port()),
                                "8443": str(_free_port() if lab_command else port)})
                if "until Ctrl-C" in example:
                    _foreground_until_ctrl_c(sh, command, where)
                elif command.startswith("mtls-doctor exporter") and "--listen" in command:
                    _serve_and_scrape(sh, command, where)
                else:
                    sh.run(command, where=where)
                    if lab_command and command.startswith("mtls-doctor lab up"):
                        down = sh.run(f"mtls-doctor lab down --port {sh.as_run(command).split('--port ')[1].split()[0]}",
                                      where=where)
                        assert "stopped" in down.stdout
                ran += 1
    finally:
        subprocess.run([BIN, "lab", "down"], env=lab_env, capture_output=True, timeout=60)
    assert ran >= 25, f"only {ran} help examples ran"


def _foreground_until_ctrl_c(sh: Shell, command: str, where: str) -> None:
    real = sh.as_run(command)
    proc = subprocess.Popen(["bash", "-c", f"exec {real}"], cwd=sh.cwd, env=sh.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state = Path(sh.env["MTLS_DOCTOR_RUN_DIR"]) / f"lab-{real.split('--port ')[1].split()[0]}.json"
    try:
        deadline = time.monotonic() + 60
        while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.exists(), f"{where}: `{real}` did not come up"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 130 and "Traceback" not in err, (where, proc.returncode, err[-2000:])
    assert not state.exists()


def _serve_and_scrape(sh: Shell, command: str, where: str) -> None:
    port = _free_port()
    real = re.sub(r"--listen \S+", f"--listen 127.0.0.1:{port}", sh.as_run(command))
    proc = subprocess.Popen(["bash", "-c", f"exec {real}"], cwd=sh.cwd, env=sh.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
                    body = resp.read().decode()
            except OSError:
                time.sleep(0.1)
        assert "mtls_" in body, f"{where}: `{real}`: {body[:500]}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert "Traceback" not in out + err, err[-2000:]
