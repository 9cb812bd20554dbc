"""nginx-tests' h2_ssl_verify_client.t and the client-certificate parts of ssl_sni.t, ported as a
differential (own configuration text).

github.com/nginx/nginx-tests/blob/master/h2_ssl_verify_client.t: HTTP/2, ``ssl_verify_client
optional_no_ca`` in the http block, two servers on one address (the first with a CA file, the
second without), a self-signed client made by the ``openssl`` CLI: SNI localhost -> SUCCESS,
SNI example.com -> FAILED, SNI localhost with ``:authority`` example.com -> 421. ssl_sni.t
(github.com/nginx/nginx-tests/blob/master/ssl_sni.t) adds: no SNI or an unknown SNI is handled
by the default server's SSL context, and the Host then picks the server.

Here the same situations plus the corners of F7.2 (the Host server decides, its
``ssl_verify_client`` must be on; the names are compared as strings; an SNI that matched no
server never gives 421) run on the nginx at hand, over HTTP/2 and HTTP/1.1, with curl as the
client; then

- ``verify CLIENT --config --listen --server-name NAME`` must predict the rows where SNI and Host
  are the same name (status and ``$ssl_client_verify``);
- ``probe https://127.0.0.1:PORT/ --sni S --host-header H --cert`` must see what curl saw, and
  report MTLS511 exactly when nginx answered 421;
- ``diagnose --config --sni S --host H`` (no probe) must name the 421 cause exactly when nginx
  answered 421.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.nginx.version import Version
from tests.truth.util import V
from tests.verify.nginx_tests_port_lab import mtls_doctor, predict
from tests.verify.test_nginx_tests_port import _make_pki

pytestmark = pytest.mark.nginx

#: ``http2 on;`` exists from 1.25.1; before it, ``listen ... http2`` (deprecated since)
HTTP2_DIRECTIVE = Version(1, 25, 1)


def _http(http2_on: bool) -> str:
    listen = "listen 127.0.0.1:@PORT0@ ssl;" if http2_on else "listen 127.0.0.1:@PORT0@ ssl http2;"
    return ("http2 on;\n" if http2_on else "") + f"""
ssl_certificate pki/localhost.crt;
ssl_certificate_key pki/localhost.key;
ssl_verify_client optional_no_ca;
add_header X-Verify "$ssl_client_verify" always;
add_header X-Server "$server_name" always;

# the default server of the address: the only one with a CA file (h2_ssl_verify_client.t)
server {{ {listen} server_name localhost; ssl_client_certificate pki/1.example.com.crt;
         return 200 "localhost\\n"; }}
server {{ {listen} server_name example.com; return 200 "example.com\\n"; }}
# F7.2's corners: a Host server that does not verify; one server, two names
server {{ {listen} server_name off.test; ssl_verify_client off; return 200 "off\\n"; }}
server {{ {listen} server_name a.test b.test; ssl_verify_client on;
         ssl_client_certificate pki/1.example.com.crt; return 200 "ab\\n"; }}
"""


#: (SNI or None, Host): curl's --resolve name is the SNI; the Host/:authority header is set
ROWS = [("localhost", "localhost"), ("example.com", "example.com"),
        ("localhost", "example.com"), ("example.com", "localhost"),
        ("localhost", "off.test"), ("off.test", "localhost"),
        ("a.test", "b.test"), ("a.test", "a.test"),
        ("unknown.test", "localhost"), ("unknown.test", "example.com"),
        (None, "example.com"), (None, "localhost"),
        ("off.test", "off.test"), ("b.test", "b.test"), ("unknown.test", "unknown.test")]


@pytest.fixture(scope="module")
def server(nginx_bin, tmp_path_factory):
    files = _make_pki(tmp_path_factory.mktemp("h2-pki"))
    with NginxServer(_http(V >= HTTP2_DIRECTIVE), files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("h2-port")) as nginx:
        yield nginx


def _curl(server: NginxServer, sni: str | None, host: str, http2: bool) -> tuple[int, str, str]:
    """(status, $ssl_client_verify, protocol) curl got with SNI ``sni`` and Host ``host``."""
    pki = server.prefix / "pki"
    port = server.port
    target = [f"https://127.0.0.1:{port}/"] if sni is None else \
        ["--resolve", f"{sni}:{port}:127.0.0.1", f"https://{sni}:{port}/"]
    out = subprocess.run(
        ["curl", "-sk", "--max-time", "10", "-o", "/dev/null", "-D", "-", "-w", "%{http_version}",
         "--http2" if http2 else "--http1.1", "-H", f"Host: {host}",
         "--cert", str(pki / "1.example.com.crt"), "--key", str(pki / "1.example.com.key"),
         *target], capture_output=True, text=True, timeout=30).stdout
    lines = out.replace("\r", "").splitlines()
    assert lines and lines[0].startswith("HTTP/"), out
    verify = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("x-verify:")), "")
    return int(lines[0].split()[1]), verify, lines[-1]


@pytest.fixture(scope="module")
def seen(server):
    """What nginx answered each row, over HTTP/2 and HTTP/1.1 (the same: F7.2)."""
    table = {}
    for sni, host in ROWS:
        h2 = _curl(server, sni, host, True)
        h1 = _curl(server, sni, host, False)
        assert h2[2] == "2" and h1[2] == "1.1", (sni, host, h2, h1)
        assert h2[:2] == h1[:2], (sni, host, h2, h1)
        table[sni, host] = h2[:2]
    return table


def test_the_regression_tests_expectations_hold(seen):
    assert seen["localhost", "localhost"] == (200, "SUCCESS")
    assert seen["example.com", "example.com"][1].startswith("FAILED:")
    assert seen["localhost", "example.com"][0] == 421


def test_verify_predicts_the_rows_where_sni_and_host_agree(server, seen):
    wrong = []
    for (sni, host), (status, verify) in seen.items():
        if sni != host:
            continue
        got = predict(server.conf_path, server.nginx_bin,
                      server.prefix / "pki" / "1.example.com.crt", server.port, sni)
        if (got["status"], got["ssl_client_verify"]) != (status, verify):
            wrong.append(f"SNI/Host {sni}: nginx {status} {verify!r}, verify predicted "
                         f"{got['status']} {got['ssl_client_verify']!r}")
    assert not wrong, "\n".join(wrong)


def test_probe_sees_the_answer_and_reports_421_only_when_nginx_says_it(server, seen):
    pki = server.prefix / "pki"
    wrong = []
    for (sni, host), (status, verify) in seen.items():
        sni_args = ["--no-sni"] if sni is None else ["--sni", sni]
        code, out, err = mtls_doctor(
            "probe", f"https://127.0.0.1:{server.port}/", *sni_args, "--host-header", host,
            "--cert", str(pki / "1.example.com.crt"), "--key", str(pki / "1.example.com.key"),
            "--insecure", "--send-cert-anyway", "--no-legacy", "--tls", "1.2",
            "--format", "json", timeout=90)
        assert code in (0, 1), err
        report = json.loads(out)
        mine = [a for a in report["attempts"] if a["spec"] == {
            "cert": "user", "sni": sni, "tls_version": "TLSv1.2"}]
        statuses = {((a.get("http") or {}).get("status")) for a in mine}
        flagged = any(f["rule"] == "MTLS511" for f in report["findings"])
        if statuses != {status} or flagged != (status == 421):
            wrong.append(f"SNI {sni} Host {host}: nginx {status}, probe saw {statuses}, "
                         f"MTLS511 {'reported' if flagged else 'not reported'}")
    assert not wrong, "\n".join(wrong)


def _diagnose(server: NginxServer, sni: str | None, host: str, *extra: str) -> list[str]:
    """The root causes ``diagnose --config --sni S --host H`` ranks (no probe; an empty log, so
    the 421 lines this module's own requests left cannot decide)."""
    empty = server.prefix / "empty.log"
    empty.write_text("")
    sni_args = ["--no-sni"] if sni is None else ["--sni", sni]
    code, out, err = mtls_doctor("diagnose", "--config", str(server.conf_path), *sni_args,
                                 "--host", host, "--log", str(empty), "--no-probe",
                                 "--nginx", server.nginx_bin, *extra, "--format", "json")
    assert code in (0, 1), err
    return [c["cause"] for c in json.loads(out)["root_causes"]]


def test_diagnose_told_421_names_the_sni_host_mismatch_first(server, seen):
    wrong = [f"SNI {sni} Host {host}: {causes[:2]}" for (sni, host), (status, _) in seen.items()
             if status == 421 and (causes := _diagnose(server, sni, host, "--symptom", "421"))[:1]
             != ["sni-host-mismatch"]]
    assert not wrong, "\n".join(wrong)


def test_diagnose_does_not_blame_421_where_nginx_serves_the_request(server, seen):
    wrong = [f"SNI {sni} Host {host}: nginx {status}, diagnose names sni-host-mismatch"
             for (sni, host), (status, _) in seen.items()
             if status != 421 and "sni-host-mismatch" in _diagnose(server, sni, host)]
    assert not wrong, "\n".join(wrong)


def test_diagnose_predicts_the_421_from_sni_and_host_alone(server, seen):
    wrong = [f"SNI {sni} Host {host}: nginx 421, diagnose ranks {causes[:3]}"
             for (sni, host), (status, _) in seen.items()
             if status == 421 and "sni-host-mismatch" not in (causes := _diagnose(server, sni, host))]
    assert not wrong, "\n".join(wrong)
