"""SNI / Host / resumption claims (F7.2, F7.4) on real nginx 1.22.1, several servers on one port.

- F7.2: SNI a.test + Host b.test (verifying) -> 421; SNI a.test + Host c.test (verify off) ->
  200; SNI of the default server + Host a.test -> 421. The probe (MTLS511), the log cause
  `sni-host-mismatch` and the diagnose cause say "421 because SNI and Host select different
  servers, the Host one verifying": checked against the measured answers and nginx's own line.
- F7.4 / MTLS212: the rule fires for 1.22.1 (older than 1.27.4) and says distribution builds may
  carry the CVE-2025-23419 fix; on this Debian build a TLS 1.3 session from b.test resumed
  with SNI a.test is rejected (alert access denied, `handshake rejected` logged), while the
  same SNI resumes.
"""

from __future__ import annotations

import socket
import ssl

import pytest

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.logs.causes import classify
from mtls_doctor.logs.parse import parse_line
from mtls_doctor.probe.handshake import ProbeConfig
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.rules.probe import check as probe_check
from mtls_doctor.nginx.version import RESUMPTION_REGRESSION_FIXED, cve_2025_23419_fixed
from tests.truth.util import AT, TIMEOUT, V, client_context, https_get, lint_running, rules_in, wait_for_text

pytestmark = pytest.mark.nginx

SERVER = """
    server {{
        listen 127.0.0.1:@PORT0@ ssl{default};
        server_name {name};
        ssl_certificate certs/server.pem;
        ssl_certificate_key certs/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        {verify}
        location / {{ return 200 "{name} verify=$ssl_client_verify"; }}
    }}"""
VERIFY = "ssl_verify_client on; ssl_client_certificate ca/root.pem;"


@pytest.fixture(scope="module")
def sni(nginx_bin, tmp_path_factory):
    pki = build_lab_pki(AT, server_names=["a.test", "b.test", "c.test", "default.test"])
    http = ("# begin sni\n"
            + SERVER.format(name="default.test", default=" default_server", verify="")
            + SERVER.format(name="a.test", default="", verify=VERIFY)
            + SERVER.format(name="b.test", default="", verify=VERIFY)
            + SERVER.format(name="c.test", default="", verify="")
            + "\n# end sni\n")
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root.pem": pki.pem("root"), "clients/good.pem": pki.clients["good"].chain_pem,
             "clients/good.key": pki.clients["good"].key_pem}
    with NginxServer(http, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-sni")) as server:
        yield server


def good(server, tls=None) -> ssl.SSLContext:
    p = server.prefix
    return client_context(p / "ca/root.pem", p / "clients/good.pem", p / "clients/good.key", tls=tls)


def test_sni_host_mismatch_is_421_only_towards_a_verifying_server_f72(sni):
    ctx = good(sni)
    assert https_get(sni.port, "/", ctx, sni="a.test").body == "a.test verify=SUCCESS"
    assert https_get(sni.port, "/", ctx, sni="a.test", host="b.test").status == 421
    assert https_get(sni.port, "/", ctx, sni="default.test", host="a.test").status == 421
    ok = https_get(sni.port, "/", ctx, sni="a.test", host="c.test")
    assert (ok.status, ok.body) == (200, "c.test verify=SUCCESS")
    needle = "client attempted to request the server name different"
    lines = [l for l in wait_for_text(sni.read_error_log, needle, 2).splitlines()
             if "client attempted to request the server name different" in l]
    assert len(lines) == 2, sni.read_error_log()
    for line in lines:
        match = classify(parse_line(line))
        assert match is not None and match.cause.id == "sni-host-mismatch", line


def test_probe_reports_421_as_sni_host_misdirected_mtls511(sni):
    config = ProbeConfig("127.0.0.1", sni.port, host_header="b.test",
                         ca_file=str(sni.prefix / "ca/root.pem"), verify_name="a.test")
    result = run_matrix(config, "a.test", tls="1.2", legacy=False, workers=2)
    answers = [a.http.status for a in result.attempts if a.http is not None]
    assert 421 in answers, answers
    assert "MTLS511" in {f.rule for f in probe_check(result)}
    # control: the same probe with a matching Host gets no 421 and no MTLS511
    config = ProbeConfig("127.0.0.1", sni.port, host_header="a.test",
                         ca_file=str(sni.prefix / "ca/root.pem"), verify_name="a.test")
    result = run_matrix(config, "a.test", tls="1.2", legacy=False, workers=2)
    assert 421 not in [a.http.status for a in result.attempts if a.http is not None]
    assert "MTLS511" not in {f.rule for f in probe_check(result)}


def _resume(port: int, ctx: ssl.SSLContext, first: str, second: str) -> tuple[bool, str]:
    """Get a TLS 1.3 ticket with SNI ``first``, offer it with SNI ``second``."""
    req = b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname=first) as tls:
            tls.sendall(req % first.encode())
            for _ in range(1000):
                if not tls.recv(65536):
                    break
            session = tls.session
    assert session is not None and session.has_ticket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname=second, session=session) as tls:
                tls.sendall(req % second.encode())
                body = b""
                for _ in range(1000):
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                return tls.session_reused, body.decode("latin-1").rsplit("\r\n", 1)[-1]
    except ssl.SSLError as exc:
        return False, f"refused: {exc}"


def test_cross_sni_tls13_resumption_rejected_on_debian_1_22_1_mtls212(sni):
    ctx = good(sni, tls="1.3")
    reused, body = _resume(sni.port, ctx, "a.test", "a.test")
    assert (reused, body) == (True, "a.test verify=SUCCESS")  # same SNI: resumed, verified (F2.3)
    reused, body = _resume(sni.port, ctx, "b.test", "a.test")
    if V >= RESUMPTION_REGRESSION_FIXED:
        # 1.29.2+ (measured on 1.30.6): the session is resumed under the other name and the
        # client stays verified; MTLS212 (a version gate) stays quiet
        assert (reused, body) == (True, "a.test verify=SUCCESS"), body
        assert "MTLS212" not in {f.rule for f in lint_running(sni.conf_path)}
        return
    if not cve_2025_23419_fixed(V) and reused:
        # no fix, no backport (nginx 1.18.0 of Debian 11, measured): the session of b.test is
        # resumed under a.test and the client passes as verified: the CVE itself; MTLS212 fires
        assert body == "a.test verify=SUCCESS", body
        assert "MTLS212" in {f.rule for f in lint_running(sni.conf_path)}
        return
    assert not reused and body.startswith("refused") and "ACCESS_DENIED" in body.upper(), body
    assert "handshake rejected while SSL handshaking" in wait_for_text(
        sni.read_error_log, "handshake rejected while SSL handshaking")
    findings = lint_running(sni.conf_path)
    f212 = [f for f in findings if f.rule == "MTLS212"]
    if cve_2025_23419_fixed(V):  # 1.26.3+ / 1.27.4+ list the fix: the gate is quiet (1.26.3)
        assert not f212, f212
        return
    assert f212 and rules_in(f212, sni.conf_path, "sni") == {"MTLS212"}
