"""Text output at any width: on a real terminal (a pseudo-terminal, COLUMNS=40, 80 and 200) and
in a pipe (no COLUMNS), no word is split over two lines and no name is cut: every word printed is
a word of the same output in a pipe at 1,000 columns, nothing is shortened with an ellipsis, and
the names one must type next (scenarios, rule codes and names, files, verify results) are
printed whole. Commands are deterministic (``--at``), on a lab kept up (real nginx for ``lab run``).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.cli.test_help_examples import lab  # noqa: F401 (a fixture)

BIN = str(Path(sys.executable).parent / "mtls-doctor")
# one fixed instant per run (deterministic output), inside the validity of the lab made at start
AT = datetime.now(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
WORD = re.compile(r"[^\s│┃|─━┌┐└┘├┤┬┴┼╭╮╯╰•]+")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _words(text: str) -> set[str]:
    return set(WORD.findall(text))


def _missing(names: set[str], words: set[str]) -> list[str]:
    """The names not printed whole (inside a word: `clients/deep-chain.pem:` holds the file)."""
    return sorted(n for n in names if not any(n in w for w in words))


def _env(env: dict, columns: str | None) -> dict:
    e = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
    e["NO_COLOR"] = "1"
    if columns is not None:
        e["COLUMNS"] = columns
    return e


def _pipe(env: dict, cwd: Path, argv, columns: str | None) -> tuple[int, str]:
    done = subprocess.run([BIN, *argv], cwd=cwd, env=_env(env, columns), capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout


def _terminal(env: dict, cwd: Path, argv, columns: str) -> tuple[int, str]:
    """Run with stdout on a pseudo-terminal (what a user sees); bounded."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([BIN, *argv], cwd=cwd, env=_env(env, columns), stdout=slave,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert "Traceback" not in err, err
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r", "")
    return proc.returncode, text


@pytest.mark.nginx
def test_text_never_splits_a_word_or_cuts_a_name(lab):
    _base, directory, _port, env = lab
    from tests.rules.test_rules_config import FIXTURES

    (directory / "broken.conf").write_text((FIXTURES / "MTLS201" / "fire_http_level.conf").read_text())
    scenarios = json.loads(_pipe(env, directory, ["lab", "list", "--format", "json"], None)[1])["scenarios"]
    rules = json.loads(_pipe(env, directory, ["rules", "--format", "json"], None)[1])["rules"]
    must_type = {
        ("lab", "list"): {s["scenario"] for s in scenarios},
        ("rules",): {r["rule"] for r in rules} | {r["name"] for r in rules},
        ("lab", "run", "depth-default", "good"): {"depth-default", "good", "FAILED:unable"},
        ("verify", "--ssl-client-certificate", "ca/root.pem", "clients/deep-chain.pem", "--at", AT):
            {"clients/deep-chain.pem", "FAILED:unable", "ssl_verify_depth"},
        ("lint", "broken.conf", "--at", AT, "--nginx-version", "1.22.1"): {"MTLS201", "broken.conf:4"},
        ("inspect", "clients/deep-chain.pem", "--at", AT): {"clients/deep-chain.pem"},
        ("explain", "MTLS207"): {"MTLS207", "verify-depth-too-low", "ssl_verify_depth"},
    }
    for argv, names in must_type.items():
        code, wide = _pipe(env, directory, argv, "1000")
        assert code in (0, 1), (argv, wide[-500:])
        reference = _words(wide)
        assert not _missing(names, reference), (argv, _missing(names, reference)[:5])
        runs = [("pipe", *_pipe(env, directory, argv, None))]
        runs += [(f"terminal COLUMNS={c}", *_terminal(env, directory, argv, c)) for c in ("40", "80", "200")]
        for how, got_code, out in runs:
            what = f"`mtls-doctor {' '.join(argv)}` on a {how}"
            assert got_code == code, (what, got_code)
            assert "…" not in out, f"{what}: an ellipsis: {[ln for ln in out.splitlines() if '…' in ln][:3]}"
            got = _words(out)
            volatile = {w for w in got if re.fullmatch(r"\(?\d+(\.\d+)?\)?|\d+(\.\d+)?(ms|s)", w)}  # timings
            foreign = got - reference - volatile
            assert not foreign, f"{what}: split or cut words {sorted(foreign)[:10]}"
            assert not _missing(names, got), (what, _missing(names, got)[:5])
