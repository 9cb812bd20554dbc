"""The HTML report of a broken lab scenario, rendered by real headless Chromium.

The scenario (depth-default: ssl_verify_depth 1, a client with two intermediates, F3.3) is
kept up with ``lab up --detach`` on real nginx; ``diagnose --format html`` (config + live
probes + error log + the client's certificate, as a user runs it) writes the report, then
Chromium loads it from a file with no network: the DOM it built must hold the handshake
ladder (an SVG with the CertificateRequest), the chain tree (the deep CA) and the top cause
(verify-depth-exceeded); the screenshot (not kept) must be a painted page with the red top cause.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report_formats.chromium import dump_dom, pixel_stats, screenshot

BIN = str(Path(sys.executable).parent / "mtls-doctor")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, nginx_bin):
    base = tmp_path_factory.mktemp("html-lab")
    env = dict(os.environ, MTLS_DOCTOR_RUN_DIR=str(base / "run"))
    port = _free_port()
    d = base / "lab"
    r = subprocess.run([BIN, "lab", "up", "depth-default", "--port", str(port), "--dir", str(d),
                        "--detach", "--nginx", nginx_bin], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    try:
        yield {"dir": d, "port": port, "env": env, "base": base}
    finally:
        subprocess.run([BIN, "lab", "down"], env=env, capture_output=True, timeout=60)


def _diagnose(lab, fmt: str) -> subprocess.CompletedProcess:
    d = lab["dir"]
    return subprocess.run(
        [BIN, "diagnose", "--config", str(d / "nginx/nginx.conf"), "--url",
         f"https://127.0.0.1:{lab['port']}/", "--sni", "localhost", "--ca-file", str(d / "ca/root.pem"),
         "--cert", str(d / "clients/deep-chain.pem"), "--key", str(d / "clients/deep.key"),
         "--log", str(d / "nginx/logs/error.log"), "--format", fmt],
        env=lab["env"], capture_output=True, text=True, timeout=120)


def test_html_report_in_chromium(lab, tmp_path):
    # the client fails once first, so nginx's own info line is in the log (F4.1)
    d = lab["dir"]
    subprocess.run(["curl", "-s", "-o", "/dev/null", "--cacert", str(d / "ca/root.pem"), "--cert",
                    str(d / "clients/deep-chain.pem"), "--key", str(d / "clients/deep.key"),
                    f"https://localhost:{lab['port']}/"], timeout=30)
    r = _diagnose(lab, "html")
    assert r.returncode == 1, r.stderr  # a root cause: exit 1
    page = r.stdout
    # self-contained: no script, no external resource, a CSP that forbids loading any
    assert "<script" not in page.lower()
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!#)""", page), "an external reference"
    assert not re.search(r"url\((?!#)", page)
    assert "default-src 'none'" in page
    html_file = tmp_path / "report.html"
    html_file.write_text(page)
    profile = tmp_path / "profile"

    dom = dump_dom(html_file, profile)
    # the top cause, first, with its evidence and fix
    top = re.search(r'<div class="cause top" id="top-cause">(.*?)</div>', dom, re.S)
    assert top is not None, "no top cause in the DOM"
    assert "verify-depth-exceeded" in top.group(1) and "ssl_verify_depth 2;" in top.group(1)
    assert "[probe]" in top.group(1) and "[logs]" in top.group(1)
    assert dom.index('id="top-cause"') < dom.index('id="handshake"') < dom.index('id="chain"')
    # the ladder: an SVG picture with the messages, the failed HTTP answer in red
    svg = re.search(r'<svg[^>]*class="ladder".*?</svg>', dom, re.S)
    assert svg is not None, "no handshake ladder"
    for message in ("ClientHello", "ServerHello", "CertificateRequest", "Certificate (client)",
                    "HTTP answer (failed)", "CN=mtls-doctor lab root CA"):
        assert message in svg.group(0), message
    # the chain tree: the chain nginx builds, the error at the cut depth
    chain = dom[dom.index('id="chain"'):]
    assert 'class="tree"' in chain and "CN=mtls-doctor lab deep CA 1" in chain
    assert "error 20: unable to get local issuer certificate" in chain or "error 22" in chain
    # the configuration excerpt of the server block the cause is about
    assert 'id="config"' in dom and "ssl_verify_client on;" in dom[dom.index('id="config"'):]

    png = screenshot(html_file, tmp_path / "shot.png", profile, width=1000, height=1400)
    stats = pixel_stats(png)
    assert (stats["width"], stats["height"]) == (1000, 1400)
    assert stats["non_white"] > stats["sampled"] * 0.05, stats  # painted, not a blank page
    assert stats["dark"] > 500, stats  # text
    assert stats["red"] > 200, stats  # the top cause's border and verdict, in the first screen


def test_markdown_and_html_say_what_json_says(lab):
    js = _diagnose(lab, "json")
    md = _diagnose(lab, "markdown")
    assert js.returncode == md.returncode == 1
    doc = json.loads(js.stdout)
    top = doc["root_causes"][0]
    assert top["cause"] == "verify-depth-exceeded"
    lines = md.stdout.splitlines()
    first = next(line for line in lines if line.startswith("1. "))
    assert "verify-depth-exceeded" in first
    for cause in doc["root_causes"]:
        assert f"**{cause['cause']}**" in md.stdout
    for finding in doc["findings"]:
        assert finding["rule"] in md.stdout
    assert "### Handshake" in md.stdout and "### Chain" in md.stdout
    assert "```nginx" in md.stdout and "ssl_verify_depth 2;" in md.stdout
