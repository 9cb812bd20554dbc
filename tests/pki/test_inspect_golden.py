"""Exact text output of `mtls-doctor inspect` on a deterministic bundle (Ed25519 signatures are
deterministic, keys and serials fixed), compared with tests/pki/golden/inspect.txt.

Regenerate after an intended change: MTLS_DOCTOR_UPDATE_GOLDEN=1 pytest tests/pki/test_inspect_golden.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.pki.certs import AT, CLIENT_AUTH, DAY, SERVER_AUTH, fixed_key, make

GOLDEN = Path(__file__).parent / "golden" / "inspect.txt"


def _bundle() -> bytes:
    root = make("Golden Root", ca=True, key=fixed_key(1), serial=1, org="Golden Org",
                not_before=-10 * DAY, not_after=3650 * DAY)
    inter = make("Golden Client CA", root, ca=True, pathlen=0, key=fixed_key(2), serial=2,
                 org="Golden Org", eku=[SERVER_AUTH])
    leaf = make("alice", inter, key=fixed_key(3), serial=3, eku=[CLIENT_AUTH],
                not_after=20 * DAY, san=["alice.example"])
    stray = make("stray leaf", None, key=fixed_key(4), serial=4)
    return inter.pem + b"\n# pasted by mistake\n" + leaf.pem + root.pem + stray.pem + root.pem


def test_text_output_is_exactly_the_golden_file(tmp_path):
    f = tmp_path / "ca.pem"
    f.write_bytes(_bundle())
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    proc = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "inspect", "--role", "ca", "--at",
         AT.strftime("%Y-%m-%dT%H:%M:%SZ"), "ca.pem"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    if os.environ.get("MTLS_DOCTOR_UPDATE_GOLDEN"):
        GOLDEN.write_text(proc.stdout, encoding="utf-8")
    assert proc.stdout == GOLDEN.read_text(encoding="utf-8")
