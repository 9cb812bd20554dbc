"""probe and verify on REAL nginx stream and mail servers (tests/probe/streammail_lab.py).

- probe infers each server's ``ssl_verify_client`` mode without HTTP: a stream server from
  whether the session is closed right after the handshake, a mail server (IMAP, POP3, SMTP;
  implicit TLS and STARTTLS) from the reply after the handshake;
- ``openssl s_client [-starttls PROTO]`` is the independent peer: it sees the same replies;
- ``verify --config`` accepts stream and mail servers and predicts what nginx does with each
  client (closed / the protocol's reply / admitted) and the info line nginx logs.
Measured the same on nginx 1.22.1, 1.26.3 and 1.30 (``MTLS_DOCTOR_NGINX=...``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mtls_doctor.probe.handshake import ProbeConfig
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.probe.starttls import CERT_ERROR, GREETING, NO_CERT, classify_reply
from tests.conftest import nginx_module
from tests.probe.streammail_lab import SERVERS, TLS, StreamMailLab

pytestmark = pytest.mark.nginx

SCHEME = {("stream", "implicit"): "tls", ("imap", "implicit"): "imaps",
          ("imap", "starttls"): "imap", ("pop3", "implicit"): "pop3s",
          ("pop3", "starttls"): "pop3", ("smtp", "implicit"): "smtps",
          ("smtp", "starttls"): "smtp"}


def _cli(*args: str) -> tuple[int, str, str]:
    """``mtls-doctor ARGS`` in this process (the CLI's own ``main``): (exit code, out, err)."""
    import contextlib
    import io

    from mtls_doctor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    missing = [m for m in ("stream", "mail") if nginx_module(nginx_bin, m) is None]
    if missing:
        pytest.fail(f"the nginx at hand has no {missing} module: ./dev.sh installs "
                    "libnginx-mod-stream and libnginx-mod-mail")
    with StreamMailLab(nginx_bin, tmp_path_factory.mktemp("streammail")) as running:
        yield running


def _protocol(name: str) -> tuple[str, bool]:
    kind, proto, tls, _ = SERVERS[name]
    return ("tls" if kind == "stream" else proto), tls == "starttls"


@pytest.mark.parametrize("name", ["stream-on", "stream-optional", "stream-optional_no_ca",
                                  "stream-off", "imap-on", "imap-starttls-on",
                                  "pop3-starttls-optional", "smtp-on", "smtp-starttls-off"])
def test_probe_infers_the_mode(lab, name):
    protocol, starttls = _protocol(name)
    config = ProbeConfig(host="127.0.0.1", port=lab.ports[name], ca_file=lab.ca, timeout=3.0,
                         protocol=protocol, starttls=starttls, session_wait=0.5,
                         verify_name="localhost")
    result = run_matrix(config, None, legacy=False)
    primary = result.primary
    expected = SERVERS[name][3]
    assert primary is not None and primary.mode == expected, (name, primary)
    if expected in ("on", "optional"):
        assert primary.layer == ("stream" if protocol == "tls" else "mail")
    assert primary.certificate_request is (expected != "off")


def _s_client(lab, name: str, client: str | None) -> tuple[str, str]:
    """(what the server sent after the handshake, stderr) as openssl s_client saw it."""
    protocol, starttls = _protocol(name)
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{lab.ports[name]}", "-quiet"]
    if starttls:
        argv += ["-starttls", protocol]
    if client:
        cert, key = lab.client(client)
        argv += ["-cert", cert, "-key", key]
    try:
        out = subprocess.run(argv, input=b"", capture_output=True, timeout=1.0)
        return out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:  # the server kept the session: admitted
        return (exc.stdout or b"").decode(errors="replace") + "<open>", ""


@pytest.mark.parametrize("name", ["pop3-on", "pop3-starttls-on", "smtp-starttls-on"])
def test_openssl_sees_the_replies_probe_classifies(lab, name):
    protocol, _ = _protocol(name)
    none, _ = _s_client(lab, name, None)
    bad, _ = _s_client(lab, name, "expired")
    assert classify_reply(protocol, none.strip().splitlines()[0]) == NO_CERT, none
    assert classify_reply(protocol, bad.strip().splitlines()[0]) == CERT_ERROR, bad
    good, _ = _s_client(lab, name, "good")
    assert good.endswith("<open>")
    assert not good.strip("<open>").strip() or classify_reply(protocol, good.splitlines()[0]) == GREETING


def _one_server_conf(lab, name: str) -> Path:
    kind, proto, tls, mode = SERVERS[name]
    tls_text = TLS.replace("certs/", f"{lab.workdir}/certs/")
    listen = f"listen 127.0.0.1:{lab.ports[name]}{' ssl' if tls == 'implicit' else ''};"
    if kind == "stream":
        block = f"stream {{ server {{ {listen} {tls_text} ssl_verify_client {mode}; " \
                "proxy_pass 127.0.0.1:9; } }"
    else:
        block = (f"mail {{ auth_http 127.0.0.1:9/auth; server {{ {listen} protocol {proto}; "
                 f"{tls_text} ssl_verify_client {mode}; "
                 f"{'starttls on;' if tls == 'starttls' else ''} }} }}")
    path = lab.workdir / f"{name}.conf"
    path.write_text(f"events {{}}\n{block}\n")
    return path


@pytest.mark.parametrize("name", ["stream-on", "stream-optional_no_ca", "imap-on",
                                  "smtp-starttls-on"])
def test_verify_config_predicts_stream_and_mail(lab, name):
    clients = ("good", "expired", "foreign")
    code, out, err = _cli("verify", "--format", "json", "--config",
                          str(_one_server_conf(lab, name)), *(lab.client(c)[0] for c in clients))
    assert code in (0, 1), err
    report = json.loads(out)
    kind = SERVERS[name][0]
    assert report["settings"]["kind"] == kind
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:  # each admitted session waits 1 s: wait at once
        seen_by = dict(zip(clients, pool.map(lambda c: _s_client(lab, name, c)[0], clients)))
    for client, row in zip(clients, report["clients"]):
        assert row["server_kind"] == kind and row["status"] is None
        seen = seen_by[client]
        admitted = seen.endswith("<open>")
        assert row["accepted"] is admitted, (name, client, row, seen)
        if kind == "mail" and not admitted:
            assert row["reply"] == seen.strip().splitlines()[0].strip()
        if not admitted:
            # nginx's own info line (the code, the reason and the module's context)
            reason = row["log_line"]
            assert reason in lab.error_log(), reason
            assert re.search(r"while (SSL handshaking|in starttls state)$", reason)


def test_verify_config_needs_a_choice_between_several_servers(lab):
    code, out, err = _cli("verify", "--config", str(lab.conf_path), lab.client("good")[0])
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--server-name" in err


def _diagnose(*args: str) -> dict:
    code, out, err = _cli("diagnose", "--format", "json", *args)
    assert code in (0, 1), err
    return json.loads(out)


@pytest.mark.parametrize("scheme, name", [("tls", "stream-on"), ("imap", "imap-starttls-on")])
def test_diagnose_url_sees_a_stream_or_mail_rejection(lab, scheme, name):
    cert, key = lab.client("expired")
    report = _diagnose("--url", f"{scheme}://127.0.0.1:{lab.ports[name]}", "--ca-file", lab.ca,
                       "--cert", cert, "--key", key)
    causes = [c["cause"] for c in report["root_causes"]]
    assert causes and causes[0] == "client-certificate-rejected", causes
    if scheme != "tls":
        return
    # and a good certificate is not blamed
    cert, key = lab.client("good")
    report = _diagnose("--url", f"{scheme}://127.0.0.1:{lab.ports[name]}", "--ca-file", lab.ca,
                       "--cert", cert, "--key", key)
    assert "client-certificate-rejected" not in [c["cause"] for c in report["root_causes"]]


def test_diagnose_config_probes_stream_servers(lab):
    cert, key = lab.client("expired")
    report = _diagnose("--config", str(lab.conf_path), "--ca-file", lab.ca, "--cert", cert,
                       "--key", key, "--server-name", "none.test")
    text = json.dumps(report)
    stream_ports = [lab.ports[n] for n in SERVERS if SERVERS[n][0] == "stream"
                    and SERVERS[n][3] != "off"]
    assert all(f'"port": {p}' in text for p in stream_ports), "every verifying stream server probed"
    assert "client-certificate-expired" in [c["cause"] for c in report["root_causes"]]


def test_probe_targets_file_mixes_stream_mail_and_schemes(lab, tmp_path):
    names = ("stream-on", "imap-starttls-on", "pop3-starttls-optional")
    schemes = {"stream-on": "tls", "imap-starttls-on": "imap", "pop3-starttls-optional": "pop3"}
    targets = tmp_path / "targets"
    targets.write_text("".join(f"{schemes[n]}://127.0.0.1:{lab.ports[n]}\n" for n in names))
    out = subprocess.run([sys.executable, "-m", "mtls_doctor", "probe", "--targets",
                          str(targets), "--ca-file", lab.ca, "--no-legacy"],
                         capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    records = {r["target"]["port"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert [records[lab.ports[n]]["inferred_mode"] for n in names] == ["on", "on", "optional"]
