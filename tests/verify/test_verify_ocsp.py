"""`verify` with `ssl_ocsp` against REAL nginx and a REAL OCSP responder (openssl ocsp).

One nginx (the one at hand: ``$MTLS_DOCTOR_NGINX`` or this machine's) with a server block per
OCSP setting (tests/verify/ocsp_lab.py: AIA with an IP address, ``ssl_ocsp leaf``,
``ssl_ocsp_responder``, a responder that is down, ``ssl_ocsp_cache``, a dead resolver), clients
whose responder answer is good, revoked, unknown, who have no AIA, or whose AIA names a host.
For each server, ``verify --config`` (a one-server copy of that block, the same files) judges
every client, asking the same responder, and must say exactly what nginx answered: status,
``$ssl_client_verify``, the info line nginx logged. Measured the same on 1.22.1, 1.26.3, 1.30
(F6.2); ``ssl_ocsp`` exists from 1.19.0 (``version.SSL_OCSP_HTTP``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtls_doctor.nginx.version import SSL_OCSP_HTTP, SSL_OCSP_STREAM
from tests.conftest import nginx_at_hand_version
from tests.verify.ocsp_lab import BODY, OcspLab

pytestmark = pytest.mark.nginx

V = nginx_at_hand_version()
CLIENTS = ("good", "revoked", "unknown", "no-aia", "aia-name")
needs_ocsp = pytest.mark.skipif(V is None or V < SSL_OCSP_HTTP,
                                reason="ssl_ocsp exists from nginx 1.19.0 (version.SSL_OCSP_HTTP)")


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    if V is None or V < SSL_OCSP_HTTP:
        pytest.skip("ssl_ocsp exists from nginx 1.19.0")
    with OcspLab(nginx_bin, tmp_path_factory.mktemp("ocsp")) as running:
        yield running


def _one_server_conf(lab: OcspLab, server: str) -> Path:
    """The server block of ``server`` alone, with the lab's absolute file paths."""
    prefix = lab.nginx.prefix
    text = lab.servers[server][1].replace("@RESPONDER_NAME@", lab.responder.url.replace(
        "127.0.0.1", "localhost")).replace("@RESPONDER@", lab.responder.url).replace(
        "@DOWN@", lab.down_url).replace("@DNS@", str(lab.dns_port)).replace(
        "@DNSLIVE@", str(lab.dns.port))
    body = BODY.replace("certs/", f"{prefix}/certs/")
    path = lab.workdir / f"{server}.conf"
    path.write_text("events {}\nhttp {\n  server {\n    listen 127.0.0.1:8443 ssl;\n"
                    f"    server_name localhost;\n    {text}\n{body}  }}\n}}\n")
    return path


def verify(*args: str) -> dict:
    """``mtls-doctor verify --format json ARGS`` in this process (the CLI's own ``main``)."""
    import contextlib
    import io

    from mtls_doctor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", "--format", "json", *args])
    assert code in (0, 1), err.getvalue()
    return json.loads(out.getvalue())


@needs_ocsp
@pytest.mark.parametrize("server", ["aia-on", "aia-leaf", "responder-on", "responder-down",
                                    "cache", "resolver-dead", "responder-name",
                                    "resolver-live"])
def test_verify_config_predicts_nginx_ocsp(lab, server):
    measured = {c: lab.ask(server, c) for c in CLIENTS}
    report = verify("--config", str(_one_server_conf(lab, server)),
                    *(str(lab.client(c)[0]) for c in CLIENTS))
    assert report["settings"]["ssl_ocsp"]["mode"] in ("on", "leaf")
    if server == "resolver-live":  # nginx resolved the AIA host name through the lab's DNS
        assert measured["aia-name"].verify == "SUCCESS" and lab.dns.queries > 0
    log = lab.error_log()
    for client, row in zip(CLIENTS, report["clients"]):
        got = measured[client]
        assert (row["status"], row["ssl_client_verify"]) == (got.status, got.verify), (server, client, row)
        if got.status == 400:
            assert row["page"] == 495
            # nginx's own info line, word for word (the OCSP reason, no "(code:...)")
            assert row["log_line"].split(" while ")[0] in log
            for line in row["ocsp"]["error_lines"]:
                assert line.split(", responder")[0] in log, line


@needs_ocsp
@pytest.mark.parametrize("status", ["revoked", "unknown"])
def test_on_asks_about_the_intermediate_leaf_does_not(lab, status):
    lab.responder.set_cas(lab.pki.responder_cas(inter_status=status))
    try:
        on, leaf = lab.ask("aia-on", "good"), lab.ask("aia-leaf", "good")
        predicted = {s: verify("--config", str(_one_server_conf(lab, s)),
                               str(lab.client("good")[0]))["clients"][0]
                     for s in ("aia-on", "aia-leaf")}
    finally:
        lab.responder.set_cas(lab.pki.responder_cas())
    reason = {"revoked": "certificate revoked", "unknown": "certificate status unknown"}[status]
    assert (on.status, on.verify) == (400, f"FAILED:{reason}")
    assert (leaf.status, leaf.verify) == (200, "SUCCESS")
    assert (predicted["aia-on"]["status"], predicted["aia-on"]["ssl_client_verify"]) == (400, on.verify)
    assert predicted["aia-on"]["ocsp"]["checks"][-1]["depth"] == 1  # the intermediate decided
    assert (predicted["aia-leaf"]["status"], predicted["aia-leaf"]["ssl_client_verify"]) == (200, "SUCCESS")


@needs_ocsp
def test_options_and_assumed_answers(lab):
    cert = str(lab.client("good")[0])
    ca = str(lab.client_dir / "ca.pem")
    base = ("--ssl-client-certificate", ca, "--ssl-verify-depth", "2", "--ssl-ocsp", "leaf")
    asked = verify(*base, cert)["clients"][0]
    assert asked["ssl_client_verify"] == lab.ask("aia-leaf", "good").verify == "SUCCESS"
    for answer, expected in (("revoked", "FAILED:certificate revoked"),
                             ("unknown", "FAILED:certificate status unknown"),
                             ("unreachable", "FAILED:certificate status request failed")):
        row = verify(*base, "--ocsp-answer", answer, cert)["clients"][0]
        assert (row["status"], row["ssl_client_verify"]) == (400, expected)
    down = verify(*base, "--ssl-ocsp-responder", lab.down_url, cert)["clients"][0]
    assert down["ssl_client_verify"] == lab.ask("responder-down", "good").verify
    assert "Connection refused" in down["ocsp"]["error_lines"][0]


@needs_ocsp
def test_cache_keeps_answers_while_the_responder_is_down(nginx_bin, tmp_path):
    servers = {"cache": (0, "ssl_ocsp leaf; ssl_ocsp_responder @RESPONDER@; "
                            "ssl_ocsp_cache shared:lab:1m;"),
               "nocache": (1, "ssl_ocsp leaf; ssl_ocsp_responder @RESPONDER@;")}
    with OcspLab(nginx_bin, tmp_path, servers) as lab:
        first = [lab.ask(s, c).verify for s in servers for c in ("good", "revoked")]
        conf = _one_server_conf(lab, "cache")
        lab.responder.stop()
        cached = [lab.ask("cache", c).verify for c in ("good", "revoked")]
        uncached = lab.ask("nocache", "good").verify
        report = verify("--config", str(conf), str(lab.client("good")[0]))
    assert first == ["SUCCESS", "FAILED:certificate revoked"] * 2
    assert cached == ["SUCCESS", "FAILED:certificate revoked"]
    assert uncached == "FAILED:certificate status request failed"
    # verify judges an empty cache (the responder is down now) and says what the cache changes
    assert report["clients"][0]["ssl_client_verify"] == uncached
    assert any("ssl_ocsp_cache" in n for n in report["notes"])


def test_ssl_ocsp_version_gate(tmp_path):
    """Before 1.19.0 nginx has no ssl_ocsp (nginx -t: unknown directive): verify says so and
    judges without OCSP (measured on Debian 11's 1.18.0 by the lint truth tests)."""
    from mtls_doctor.lab.pki import build_lab_pki
    from datetime import datetime, timezone

    pki = build_lab_pki(datetime.now(timezone.utc))
    pki.write(tmp_path / "lab")
    lab = tmp_path / "lab"
    args = ("--ssl-client-certificate", str(lab / "ca/root.pem"), "--ssl-ocsp", "on",
            "--ssl-ocsp-responder", "http://127.0.0.1:9/",
            "--ocsp-answer", "revoked", str(lab / "clients/good-chain.pem"))
    old = verify("--nginx-version", "1.18.0", *args)
    assert old["clients"][0]["ssl_client_verify"] == "SUCCESS"
    assert any("1.19.0" in n and "ssl_ocsp" in n for n in old["notes"])
    new = verify("--nginx-version", "1.22.1", *args)
    assert new["clients"][0]["ssl_client_verify"] == "FAILED:certificate revoked"


@needs_ocsp
def test_logs_groups_what_nginx_logged_for_each_ocsp_answer(lab):
    """`logs` on the lines this nginx wrote for revoked, unknown and no-URL clients."""
    for client in ("revoked", "unknown", "no-aia"):
        lab.ask("aia-leaf", client)
    out = subprocess.run([sys.executable, "-m", "mtls_doctor", "logs", str(lab.nginx.error_log),
                          "--format", "json"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    causes = {g["cause"] for g in json.loads(out.stdout)["groups"]}
    assert {"client-cert-ocsp-revoked", "client-cert-ocsp-unknown",
            "client-cert-ocsp-failed"} <= causes, causes


@pytest.mark.skipif(V is None or V < SSL_OCSP_STREAM,
                    reason="stream ssl_ocsp exists from nginx 1.27.2 (version.SSL_OCSP_STREAM)")
def test_stream_ssl_ocsp_closes_revoked_clients(nginx_bin, tmp_path):
    """nginx 1.27.2+: ssl_ocsp in a stream server; a revoked client's session is closed right
    after the handshake (CVE-2026-28755 fixed it in 1.29.7: before, the session went on)."""
    from mtls_doctor.lab.ocsp import OcspResponder, build_ocsp_pki
    from mtls_doctor.pki.issue import SERVER_AUTH, key_pem, pem
    from tests.probe.streammail_lab import StreamMailLab
    from datetime import datetime, timezone

    at = datetime.now(timezone.utc)
    with OcspResponder(at=at) as responder:
        pki = build_ocsp_pki(at, responder.url)
        responder.set_cas(pki.responder_cas())
        server = pki.root.issue("localhost", at=at, sans=["localhost", "127.0.0.1"],
                                eku=(SERVER_AUTH,))
        files = (("ocsp/server.pem", pem(server.cert)), ("ocsp/server.key", key_pem(server.key)),
                 ("ocsp/ca.pem", pem(pki.root.cert, pki.inter.cert)))
        directives = (f"ssl_certificate ocsp/server.pem; ssl_certificate_key ocsp/server.key; "
                      "ssl_client_certificate ocsp/ca.pem; ssl_verify_client on; "
                      f"ssl_verify_depth 2; ssl_ocsp leaf; ssl_ocsp_responder {responder.url}; "
                      'return "verify=$ssl_client_verify\\n";')
        with StreamMailLab(nginx_bin, tmp_path / "lab", names=(),
                           extra_stream=(("ocsp", directives),), extra_files=files) as lab:
            conf = tmp_path / "stream.conf"
            conf.write_text("events {}\nstream {\n server { listen 127.0.0.1:9 ssl; "
                            + directives.replace("ocsp/", f"{lab.workdir}/ocsp/") + " }\n}\n")
            seen = {}
            for label in ("good", "revoked", "unknown"):
                leaf = pki.leaves[label]
                cert, key = tmp_path / f"{label}.pem", tmp_path / f"{label}.key"
                cert.write_bytes(pem(leaf.cert))
                key.touch(mode=0o600)
                key.write_bytes(key_pem(leaf.key))
                out = subprocess.run(["openssl", "s_client", "-connect",
                                      f"127.0.0.1:{lab.ports['ocsp']}", "-quiet", "-cert",
                                      str(cert), "-key", str(key)], input=b"",
                                     capture_output=True, timeout=10)
                seen[label] = out.stdout.decode(errors="replace").strip()
            report = verify("--config", str(conf), *(str(tmp_path / f"{c}.pem")
                                                     for c in ("good", "revoked", "unknown")))
            log = lab.error_log()
    assert seen["good"] == "verify=SUCCESS"
    assert seen["revoked"] == seen["unknown"] == ""  # closed, no byte
    rows = report["clients"]
    assert [r["accepted"] for r in rows] == [True, False, False]
    assert [r["ssl_client_verify"] for r in rows] == [
        "SUCCESS", "FAILED:certificate revoked", "FAILED:certificate status unknown"]
    for row in rows[1:]:
        assert row["log_line"] in log, row["log_line"]


def test_stream_ssl_ocsp_gates(tmp_path):
    """Stream ssl_ocsp: from 1.27.2 (version.SSL_OCSP_STREAM); before 1.29.7 the stream
    module might let a session go on although OCSP rejected (CVE-2026-28755,
    version.STREAM_OCSP_BYPASS_FIXED): verify says so for the nginx judged."""
    from datetime import datetime, timezone

    from mtls_doctor.lab.pki import build_lab_pki

    build_lab_pki(datetime.now(timezone.utc)).write(tmp_path / "lab")
    conf = tmp_path / "stream.conf"
    conf.write_text("events {}\nstream { server { listen 127.0.0.1:9 ssl; ssl_certificate a; "
                    f"ssl_certificate_key b; ssl_client_certificate {tmp_path}/lab/ca/root.pem; "
                    "ssl_verify_client on; ssl_ocsp leaf; ssl_ocsp_responder "
                    "http://127.0.0.1:9/; proxy_pass 127.0.0.1:1; } }\n")
    client = str(tmp_path / "lab/clients/good-chain.pem")
    args = ("--config", str(conf), "--ocsp-answer", "revoked", client)
    notes = {v: " ".join(verify("--nginx-version", v, *args)["notes"])
             for v in ("1.26.3", "1.28.0", "1.30.0")}
    assert "no ssl_ocsp in stream servers" in notes["1.26.3"]
    assert "CVE-2026-28755" in notes["1.28.0"] and "CVE-2026-28755" not in notes["1.30.0"]
    row = verify("--nginx-version", "1.30.0", *args)["clients"][0]
    assert (row["server_kind"], row["accepted"], row["ssl_client_verify"]) == (
        "stream", False, "FAILED:certificate revoked")
    assert row["log_line"].endswith("while SSL handshaking")


@needs_ocsp
def test_unusable_responses_fail_closed(lab):
    """A response signed by a CA that did not issue the certificate (nginx: OCSP_basic_verify()
    failed) and an HTTP 500 from the responder: both FAILED:certificate status request failed,
    measured and predicted (pki.ocsp.judge_response, cli.verify._ask_responder)."""
    from mtls_doctor.lab.ocsp import OcspCA

    good = lab.pki.leaves["good"].cert
    conf = str(_one_server_conf(lab, "aia-leaf"))
    cases = {"wrong signer": [OcspCA(lab.pki.root, {good.serial_number: "good"})],
             "http 500": []}
    try:
        for label, cas in cases.items():
            lab.responder.set_cas(cas)
            got = lab.ask("aia-leaf", "good")
            row = verify("--config", conf, str(lab.client("good")[0]))["clients"][0]
            assert (got.status, got.verify) == (400, "FAILED:certificate status request failed"), label
            assert (row["status"], row["ssl_client_verify"]) == (got.status, got.verify), label
            assert row["ocsp"]["checks"][0]["answer"] == "invalid", label
    finally:
        lab.responder.set_cas(lab.pki.responder_cas())
    assert "OCSP_basic_verify() failed" in lab.error_log()
