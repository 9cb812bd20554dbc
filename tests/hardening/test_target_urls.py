"""Issue 11, open item 1: a TARGET/URL's port and its ``user:password@``, over every command that
takes one (probe TARGET, probe --targets, diagnose --url, verify --ssl-ocsp-responder, the
exporter's /probe?target=).

``https://h:0`` was probed as port 443 (urlsplit reads ``:0`` as no port) and a
``user:password@`` came back verbatim in the error line. Now: a port outside 1-65535 is one
usage line (exit 2); a user name/password is refused with the URL echoed as ``***@`` (the probe
sends no HTTP credentials, so it could only be printed, never used).
"""

from __future__ import annotations

import json

import pytest

from mtls_doctor.model import InputError
from mtls_doctor.probe.target import parse_target, redact
from tests.hardening.conftest import clean, cli

SECRET = "s3cretPW"
WITH_USERINFO = [f"https://user:{SECRET}@127.0.0.1:1/", f"https://user:{SECRET}@h:99999",
                 f"user:{SECRET}@127.0.0.1:443", f"https://{SECRET}@127.0.0.1/",
                 f"imaps://u:{SECRET}@127.0.0.1", f"https://u:{SECRET}@x\\y@127.0.0.1/",
                 f"ftp://u:{SECRET}@h/", f"https://u:{SECRET}@h\u2100:1/"]
BAD_PORTS = ["https://127.0.0.1:0/", "127.0.0.1:0", "https://h:65536", "h:99999", "h:-1",
             "h:+443", "h:\u0664\u0664\u0663", "h:1:2", "[::1]:0", "[::1]x", "h:4430000000"]


@pytest.mark.parametrize("text", BAD_PORTS)
def test_a_port_outside_1_to_65535_is_refused(text):
    with pytest.raises(InputError, match="port|IPv6"):
        parse_target(text)


@pytest.mark.parametrize("text, port", [("h", 443), ("https://h:", 443), ("h:1", 1),
                                        ("h:65535", 65535), ("[::1]:8443", 8443),
                                        ("imaps://h", 993), ("https://h/a@b", 443)])
def test_valid_ports(text, port):
    assert parse_target(text).port == port


@pytest.mark.parametrize("text", WITH_USERINFO)
def test_userinfo_is_refused_and_never_echoed(text):
    with pytest.raises(InputError) as info:
        parse_target(text)
    assert SECRET not in str(info.value) and "***@" in str(info.value), info.value


def test_redact_keeps_everything_but_the_userinfo():
    assert redact("https://u:p@h:1/x@y?q=@") == "https://***@h:1/x@y?q=@"
    assert redact("u:p@h") == "***@h"
    assert redact("not a scheme u:p@h://x") == "***@h://x"
    assert redact("https://h/p") == "https://h/p"


def _one_line_no_secret(proc, code=2):
    clean(proc, code)
    out = proc.stdout + proc.stderr
    assert SECRET not in out, out[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


@pytest.mark.parametrize("url", [WITH_USERINFO[0], WITH_USERINFO[1], "https://127.0.0.1:0/"])
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_probe_and_diagnose_refuse_with_one_line(url, fmt, tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n")
    _one_line_no_secret(cli("probe", url, "--timeout", "1", "--format", fmt, timeout=60))
    for probe in (["--no-probe"], ["--timeout", "1"]):
        _one_line_no_secret(cli("diagnose", "--url", url, *probe, "--config", str(conf),
                                "--format", fmt, timeout=60))


def test_probe_targets_file_names_the_line_without_the_secret(tmp_path):
    targets = tmp_path / "targets.txt"
    for body in (f"127.0.0.1:1\n{WITH_USERINFO[0]}\n", f"https://u:{SECRET}@h/ a b\n",
                 "127.0.0.1:0\n"):
        targets.write_text(body)
        proc = cli("probe", "--targets", str(targets), "--timeout", "1", timeout=60)
        _one_line_no_secret(proc)
        assert "targets.txt:" in proc.stderr


@pytest.mark.nginx
@pytest.mark.parametrize("userinfo", [f"ocsp:{SECRET}@", f"{SECRET}@"])
def test_verify_ocsp_responder_with_userinfo(nginx_bin, tmp_path, userinfo):
    """Real nginx -t refuses a user:password@ (or user@) in ssl_ocsp_responder (1.22 measured:
    "invalid port in OCSP responder" / "host not found in OCSP responder"); verify says so in
    one line, without the password."""
    import datetime as dt
    import subprocess

    from mtls_doctor.lab.pki import build_lab_pki
    from mtls_doctor.nginx.version import SSL_OCSP_HTTP
    from tests.conftest import nginx_argv
    from tests.truth.util import V

    if V < SSL_OCSP_HTTP:
        pytest.skip("no ssl_ocsp before nginx 1.19.0")
    responder = f"http://{userinfo}127.0.0.1:9/"
    pki = build_lab_pki(dt.datetime.now(dt.timezone.utc))
    (tmp_path / "root.pem").write_bytes(pki.pem("root"))
    (tmp_path / "s.pem").write_bytes(pki.server_chain_pem)
    (tmp_path / "s.key").write_bytes(pki.server.key_pem)
    (tmp_path / "s.key").chmod(0o600)
    conf = tmp_path / "t.conf"
    conf.write_text(f"pid {tmp_path}/p.pid;\nerror_log {tmp_path}/e.log;\nevents {{}}\nhttp {{\n"
                    f"  server {{ listen 127.0.0.1:1 ssl; ssl_certificate {tmp_path}/s.pem;"
                    f" ssl_certificate_key {tmp_path}/s.key; ssl_verify_client on;"
                    f" ssl_client_certificate {tmp_path}/root.pem; ssl_ocsp on;"
                    f" ssl_ocsp_responder {responder}; }}\n}}\n")
    done = subprocess.run(nginx_argv(nginx_bin, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e",
                                     str(tmp_path / "e.log")), capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert "in OCSP responder" in done.stderr and ("invalid port" in done.stderr
                                                  or "host not found" in done.stderr), done.stderr
    client = tmp_path / "client.pem"
    client.write_bytes(pki.clients["good"].cert_pem + pki.clients["good"].chain_pem)
    proc = cli("verify", str(client), "--ssl-client-certificate", str(tmp_path / "root.pem"),
               "--ssl-ocsp", "leaf", "--ssl-ocsp-responder", responder)
    _one_line_no_secret(proc)
    assert "***@" in proc.stderr and "nginx -t fails" in proc.stderr


@pytest.mark.nginx
def test_exporter_probe_endpoint(tmp_path):
    from tests.exporter.conftest import start_exporter, stop

    exp = start_exporter("modules:\n  m:\n    timeout_seconds: 1\n", tmp_path)
    try:
        for target in (WITH_USERINFO[0], WITH_USERINFO[1], "127.0.0.1:0"):
            status, body = exp.probe(target, "m")
            assert status == 400 and SECRET not in body, (status, body)
            assert len(body.strip().splitlines()) == 1
        status, body = exp.get("/metrics")
        assert status == 200 and SECRET not in body
    finally:
        stop(exp.process)


def test_probe_json_of_a_valid_target_has_no_userinfo_field():
    # the JSON document of a probe carries host/port/path only (docs/json.md)
    proc = cli("probe", "https://127.0.0.1:1/x", "--timeout", "1", "--format", "json", timeout=60)
    clean(proc, 1)
    doc = json.loads(proc.stdout)
    assert "@" not in json.dumps(doc.get("data", doc).get("target", ""))
