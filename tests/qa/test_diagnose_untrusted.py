"""diagnose --url against a server whose certificate does not verify: the user's certificate is
not sent (safety), and the output says so instead of a bare "no root cause"."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.qa.test_cli_consistency import pki, run  # noqa: F401 - fixture


@pytest.fixture()
def s_server(pki: Path):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet",
         "-cert", str(pki / "server" / "server.pem"), "-key", str(pki / "server" / "server.key"),
         "-CAfile", str(pki / "bundles" / "client-ca.pem"), "-verify", "1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_certificate_not_sent_is_said(pki: Path, s_server: int):  # noqa: F811
    args = ("diagnose", "--url", f"https://127.0.0.1:{s_server}/", "--timeout", "3",
            "--cert", str(pki / "clients" / "good-chain.pem"),
            "--key", str(pki / "clients" / "good.key"))
    data = json.loads(run(*args, "--format", "json").stdout)
    probe = data["probes"][0]["with_your_certificate"]
    assert probe["outcome"] == "server-untrusted"  # the certificate was not sent
    notes = [n for n in data["notes"] if "not sent" in n]
    assert notes and "--ca-file" in notes[0] and "--insecure" in notes[0], data["notes"]
    assert "--send-cert-anyway" not in " ".join(data["notes"])  # diagnose has no such option
    text = run(*args).stdout
    assert "your certificate was not sent" in text, text
