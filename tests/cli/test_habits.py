"""CLI habits, on a lab kept up (real nginx, real handshakes):

- ``-q/--quiet`` and ``-v/--verbose`` on every judging command (the commands with ``--fail-on``):
  quiet prints nothing on stdout and keeps the exit code, other formats are still printed,
  verbose shows at least what the default shows, both together are one usage line (exit 2);
- old spellings (``probe --servername``, ``lab run --port``, ...): accepted, and absent from
  ``--help``; every option shows one long spelling;
- shell completion: the bash, zsh and fish scripts are produced, and the bash one, sourced in a
  real bash, completes a subcommand and never offers a hidden spelling;
- text widths: tests/cli/test_text_widths.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
import pytest

from tests.cli.test_help_examples import command_paths, lab  # noqa: F401 (a fixture)
from tests.report.contract import check_document

BIN = str(Path(sys.executable).parent / "mtls-doctor")
# one fixed instant per run (deterministic output), inside the validity of the lab made at start
AT = datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(env: dict, cwd: Path, *args: str, columns: str | None = "100") -> subprocess.CompletedProcess:
    e = dict(env)
    e.pop("COLUMNS", None)
    if columns is not None:
        e["COLUMNS"] = columns
    return subprocess.run([BIN, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=120)


def _judging(port: int) -> dict[str, list[str]]:
    """One lab-based command line per command that has --fail-on."""
    url = f"https://localhost:{port}/"
    return {
        "inspect": ["inspect", "clients/deep-chain.pem", "--at", AT],
        "verify": ["verify", "--ssl-client-certificate", "ca/root.pem", "clients/deep-chain.pem"],
        "lint": ["lint", "nginx/nginx.conf"],
        "probe": ["probe", url, "--ca-file", "ca/root.pem", "--cert", "clients/deep-chain.pem",
                  "--key", "clients/deep.key", "--tls", "1.3", "--no-legacy"],
        "logs": ["logs", "nginx/logs/error.log"],
        "diagnose": ["diagnose", "--config", "nginx/nginx.conf", "--url", url, "--ca-file", "ca/root.pem",
                     "--cert", "clients/deep-chain.pem", "--key", "clients/deep.key"],
    }


def _fail_on_commands() -> set[str]:
    from mtls_doctor.cli import cli

    with click.Context(cli) as ctx:
        return {p for p in command_paths() if " " not in p
                and any(o.name == "fail_on" for o in cli.get_command(ctx, p).params)}


@pytest.mark.nginx
def test_quiet_and_verbose_on_every_judging_command(lab):
    _base, directory, port, env = lab
    commands = _judging(port)
    assert set(commands) == _fail_on_commands()
    for name, argv in commands.items():
        normal = _run(env, directory, *argv)
        assert normal.returncode in (0, 1) and normal.stdout.strip(), (name, normal.stderr)
        for flag in ("-q", "--quiet"):
            quiet = _run(env, directory, *argv, flag)
            assert quiet.stdout == "" and "Traceback" not in quiet.stderr, (name, flag, quiet.stdout[:500])
            assert quiet.returncode == normal.returncode, (name, flag)
        as_json = _run(env, directory, *argv, "-q", "--format", "json")
        assert as_json.returncode == normal.returncode
        check_document(json.loads(as_json.stdout))  # other formats are printed under --quiet
        verbose = _run(env, directory, *argv, "--verbose")
        assert verbose.returncode == normal.returncode, name
        assert len(verbose.stdout.splitlines()) >= len(normal.stdout.splitlines()), name
        both = _run(env, directory, *argv, "-q", "-v")
        assert both.returncode == 2 and both.stdout == "", name
        assert both.stderr.strip().count("\n") == 0 and "contradict" in both.stderr, both.stderr


def _one_spelling_options() -> list[tuple[str, click.Option]]:
    from mtls_doctor.cli import cli

    out = []
    with click.Context(cli) as ctx:
        for path in command_paths():
            cmd = cli
            for part in path.split():
                cmd = cmd.get_command(ctx, part)
            for p in cmd.params:
                if isinstance(p, click.Option) and len([o for o in p.opts if o.startswith("--")]) > 1:
                    out.append((path, p))
    return out


def test_old_spellings_are_hidden_and_accepted(tmp_path):
    options = _one_spelling_options()
    assert {(path, p.opts[0]) for path, p in options} >= {
        ("probe", "--sni"), ("probe", "--ssl-client-certificate"), ("probe", "--ssl-verify-depth"),
        ("lab run", "--base-port"), ("demo", "--base-port")}
    helps: dict[str, str] = {}
    for path, p in options:
        text = helps.setdefault(path, _run(os.environ, tmp_path, *path.split(), "--help", columns="200").stdout)
        assert re.search(rf"(^|[\s,]){re.escape(p.opts[0])}\b", text), (path, p.opts[0])
        for old in p.opts[1:]:
            assert not re.search(rf"(^|[\s,]){re.escape(old)}(?![\w-])", text), f"{path} --help shows {old}"
            value = [] if p.is_flag else ["1"]
            # parsed (an unknown option fails before --help is handled), with the same metavar
            accepted = _run(os.environ, tmp_path, *path.split(), old, *value, "--help")
            assert accepted.returncode == 0, f"{path} {old}: {accepted.stderr}"


@pytest.mark.nginx
def test_an_old_spelling_does_what_the_new_one_does(lab):
    _base, directory, port, env = lab
    runs = []
    for spelling in ("--sni", "--servername", "--server-name"):
        done = _run(env, directory, "probe", f"https://127.0.0.1:{port}/", spelling, "localhost", "--ca-file",
                    "ca/root.pem", "--tls", "1.3", "--no-legacy", "--format", "json")
        assert done.returncode in (0, 1), done.stderr
        runs.append({a["spec"]["sni"] for a in json.loads(done.stdout)["attempts"]})
    assert runs[0] == runs[1] == runs[2] and "localhost" in runs[0]


def test_completion_scripts(tmp_path):
    for shell, marker in (("bash", "complete -o nosort -F _mtls_doctor_completion mtls-doctor"),
                          ("zsh", "#compdef mtls-doctor"), ("fish", "complete --no-files --command mtls-doctor")):
        done = subprocess.run([BIN], env=dict(os.environ, _MTLS_DOCTOR_COMPLETE=f"{shell}_source"),
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and marker in done.stdout, (shell, done.stdout[:300], done.stderr)
    script = tmp_path / "complete.bash"
    script.write_text(subprocess.run([BIN], env=dict(os.environ, _MTLS_DOCTOR_COMPLETE="bash_source"),
                                     capture_output=True, text=True, timeout=30).stdout)

    def complete(*words: str) -> list[str]:
        line = " ".join(f"'{w}'" for w in words)
        done = subprocess.run(["bash", "-c", f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1};"
                               " _mtls_doctor_completion mtls-doctor; printf '%s\\n' \"${COMPREPLY[@]}\""],
                              env=dict(os.environ, PATH=f"{Path(BIN).parent}:{os.environ['PATH']}"),
                              capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert "up" in complete("mtls-doctor", "lab", "u")
    assert {"verify"} == set(complete("mtls-doctor", "ver"))
    assert "depth-default" in complete("mtls-doctor", "lab", "up", "depth-d")  # scenario names
    assert "MTLS207" in complete("mtls-doctor", "explain", "MTLS20")  # rule codes
    offered = complete("mtls-doctor", "probe", "--s")
    assert "--sni" in offered and "--servername" not in offered and "--server-name" not in offered


@pytest.mark.parametrize("path", command_paths())
def test_a_usage_error_is_one_line_exit_2(path, capsys):
    """An unknown option, on every command: exit 2, one line on stderr naming the command's help."""
    from mtls_doctor.cli import main

    assert main([*path.split(), "--no-such-option"]) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1, err
    assert lines[0].startswith("mtls-doctor: error: No such option") and f"mtls-doctor {path} --help" in lines[0], lines
