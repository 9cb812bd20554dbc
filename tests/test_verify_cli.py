"""`mtls-doctor verify`: options named after nginx directives, text/json output, exit 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mtls_doctor.lab.pki import build_lab_pki

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lab")
    build_lab_pki(AT).write(d)
    return d


def verify(lab: Path, *args: str, at: datetime = AT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "verify", "--at", at.isoformat(), *args],
        capture_output=True, text=True, timeout=120, cwd=lab,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1"},
    )


def as_json(proc: subprocess.CompletedProcess[str]) -> dict:
    return json.loads(proc.stdout)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_good_client_is_accepted(lab):
    proc = verify(lab, "clients/good-chain.pem", "--ssl-client-certificate", "ca/root.pem")
    assert proc.returncode == 0, proc.stderr
    assert "clients/good-chain.pem: ACCEPTED, HTTP 200" in proc.stdout
    assert "$ssl_client_verify  SUCCESS" in proc.stdout
    assert "[intermediate 1 of 1 allowed]" in proc.stdout


def test_deep_client_json_says_raise_depth(lab):
    proc = verify(lab, "clients/deep-chain.pem", "--ssl-client-certificate", "ca/root.pem",
                  "--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = as_json(proc)
    assert data["command"] == "verify" and data["accepted"] is False
    row = data["clients"][0]
    assert row["ssl_client_verify"] == "FAILED:unable to get local issuer certificate"
    assert (row["status"], row["page"]) == (400, 495)
    assert row["verify_error"]["code"] == 20
    assert row["verify_error"]["text"] == "unable to get local issuer certificate"
    assert row["verify_error"]["openssl"].startswith("OpenSSL 3")
    assert row["log_line"] == ("client SSL certificate verify error: (20:unable to get local "
                               "issuer certificate) while reading client request headers")
    assert "raise ssl_verify_depth to 2" in row["fix"]["text"]
    assert [c["source"] for c in row["chain"]] == ["client", "client", "client"]
    assert row["explanation"]


def test_deep_client_with_depth_2_is_accepted(lab):
    proc = verify(lab, "clients/deep-chain.pem", "--ssl-client-certificate", "ca/root.pem",
                  "--ssl-verify-depth", "2")
    assert proc.returncode == 0, proc.stdout


def test_several_clients_keep_order_and_any_rejection_exits_1(lab):
    proc = verify(lab, "clients/good-chain.pem", "clients/expired-chain.pem",
                  "clients/no-eku-chain.pem", "--ssl-client-certificate", "ca/root.pem",
                  "--format", "json")
    assert proc.returncode == 1
    rows = as_json(proc)["clients"]
    assert [r["file"] for r in rows] == ["clients/good-chain.pem", "clients/expired-chain.pem",
                                           "clients/no-eku-chain.pem"]
    assert [r["ssl_client_verify"] for r in rows] == [
        "SUCCESS", "FAILED:certificate has expired", "SUCCESS"]


def test_text_output_shows_the_info_log_line(lab):
    proc = verify(lab, "clients/foreign-chain.pem", "--ssl-client-certificate", "ca/root.pem")
    assert proc.returncode == 1
    assert ("error.log [info]    client SSL certificate verify error: (21:unable to verify the "
            "first certificate) while reading client request headers") in proc.stdout
    assert 'REJECTED, HTTP 400 (page 495: "The SSL certificate error")' in proc.stdout


def test_pkcs12_client(lab):
    proc = verify(lab, "clients/good.p12", "--password", "lab",
                  "--ssl-client-certificate", "ca/root.pem", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert as_json(proc)["clients"][0]["intermediates"] == 1


def test_pkcs12_wrong_password_is_one_line(lab):
    line = one_line_error(verify(lab, "clients/good.p12", "--password", "nope",
                                 "--ssl-client-certificate", "ca/root.pem"))
    assert "clients/good.p12" in line and "password" in line


def test_crls_revoked_and_missing_root_crl(lab):
    proc = verify(lab, "clients/revoked-chain.pem", "clients/good-chain.pem",
                  "--ssl-client-certificate", "ca/root.pem", "--ssl-crl", "crl/inter.crl.pem",
                  "--format", "json")
    rows = as_json(proc)["clients"]
    assert [r["verify_error"]["code"] for r in rows] == [3, 3]  # root CRL missing (F6.1)
    both = lab / "both.pem"
    both.write_bytes((lab / "crl/root.crl.pem").read_bytes()
                     + (lab / "crl/inter.crl.pem").read_bytes())
    proc = verify(lab, "clients/revoked-chain.pem", "clients/good-chain.pem",
                  "--ssl-client-certificate", "ca/root.pem", "--ssl-crl", str(both),
                  "--format", "json")
    rows = as_json(proc)["clients"]
    assert [r["ssl_client_verify"] for r in rows] == ["FAILED:certificate revoked", "SUCCESS"]


def test_openssl_111_texts(lab):
    proc = verify(lab, "clients/self-signed-chain.pem", "--ssl-client-certificate",
                  "ca/root.pem", "--openssl-version", "1.1.1", "--format", "json")
    row = as_json(proc)["clients"][0]
    assert row["ssl_client_verify"] == "FAILED:self signed certificate"
    assert "1.1.1" in row["verify_error"]["openssl"]


def test_optional_no_ca_lets_a_foreign_client_through(lab):
    proc = verify(lab, "clients/foreign-chain.pem", "--ssl-verify-client", "optional_no_ca",
                  "--format", "json")
    assert proc.returncode == 0
    row = as_json(proc)["clients"][0]
    assert (row["status"], row["ssl_client_verify"]) == (
        200, "FAILED:unable to verify the first certificate")
    assert row["log_line"] is None


def test_at_moves_the_clock(lab):
    args = ("clients/expired-chain.pem", "--ssl-client-certificate", "ca/root.pem")
    assert verify(lab, *args).returncode == 1
    assert verify(lab, *args, at=AT - timedelta(days=30)).returncode == 0


def test_key_mismatch_is_a_note(lab):
    proc = verify(lab, "clients/good-chain.pem", "--key", "clients/foreign.key",
                  "--ssl-client-certificate", "ca/root.pem", "--format", "json")
    notes = as_json(proc)["clients"][0]["notes"]
    assert any("does not belong to the leaf" in n for n in notes)
    # a client holding the wrong key never completes the handshake, so it never gets 200: exit 1
    assert proc.returncode == 1 and as_json(proc)["clients"][0]["key_matches"] is False
    proc = verify(lab, "clients/good-chain.pem", "--key", "clients/good.key",
                  "--ssl-client-certificate", "ca/root.pem", "--format", "json")
    assert as_json(proc)["clients"][0]["notes"] == []
    assert proc.returncode == 0 and as_json(proc)["clients"][0]["key_matches"] is True
    assert "BEGIN" not in proc.stdout and "PRIVATE" not in proc.stdout


def test_trusted_only_setup_notes_old_nginx_refuses_it(lab):
    proc = verify(lab, "clients/good-chain.pem", "--ssl-trusted-certificate", "ca/root.pem",
                  "--format", "json")
    data = as_json(proc)
    assert proc.returncode == 0
    assert any("1.27.2" in n for n in data["notes"])


@pytest.mark.parametrize("args,needle", [
    (("missing.pem", "--ssl-client-certificate", "ca/root.pem"), "missing.pem: no such file"),
    (("clients/good-chain.pem", "--ssl-client-certificate", "nope.pem"), "nope.pem"),
    (("garbage.bin", "--ssl-client-certificate", "ca/root.pem"), "garbage.bin"),
    (("clients/good-chain.pem", "--ssl-client-certificate", "garbage.bin"), "garbage.bin"),
    (("clients/good-chain.pem", "--ssl-client-certificate", "ca/root.pem", "--ssl-crl",
      "ca/root.pem"), "no CRL"),
    (("clients/good-chain.pem", "--at", "yesterday"), "--at"),
    (("clients/good-chain.pem", "--openssl-version", "0.9.8"), "--openssl-version"),
    (("clients/good-chain.pem", "--ssl-verify-depth", "-1"), "ssl-verify-depth"),
    (("clients/good-chain.pem", "--ssl-verify-client", "sometimes"), "ssl-verify-client"),
    (("ca",), "directory"),
])
def test_bad_input_is_one_line_and_exit_2(lab, args, needle):
    (lab / "garbage.bin").write_bytes(bytes(range(256)) * 3)
    proc = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "verify", *args], capture_output=True, text=True,
        timeout=120, cwd=lab)
    assert proc.returncode == 2, proc
    assert "Traceback" not in proc.stderr
    assert needle in proc.stderr, proc.stderr


CONF = """events {}
http {
    server {
        listen 127.0.0.1:8443 ssl default_server;
        server_name default.test;
        ssl_certificate pki/server.pem;
        ssl_certificate_key pki/server.key;
    }
    server {
        listen 127.0.0.1:8443 ssl;
        server_name api.example.com *.mtls.test;
        ssl_certificate pki/server.pem;
        ssl_certificate_key pki/server.key;
        ssl_verify_client on;
        ssl_client_certificate ca/root.pem;
        ssl_crl crl/inter.crl.pem;
    }
}
"""


def test_config_takes_the_verifying_server_and_resolves_paths(lab):
    (lab / "nginx.conf").write_text(CONF)
    proc = verify(lab, "clients/good-chain.pem", "--config", "nginx.conf", "--format", "json")
    data = as_json(proc)
    assert data["settings"]["server"].startswith("server 'api.example.com'")
    assert data["settings"]["ssl_client_certificate"] == str(lab / "ca/root.pem")
    assert data["clients"][0]["verify_error"]["code"] == 3  # inter CRL only: root CRL missing (F6.1)


def test_config_server_name_and_explicit_options_win(lab):
    (lab / "nginx.conf").write_text(CONF)
    proc = verify(lab, "clients/good-chain.pem", "--config", "nginx.conf", "--server-name",
                  "x.mtls.test", "--ssl-crl", "bundles/crl-all.pem", "--format", "json")
    row = as_json(proc)["clients"][0]
    assert row["ssl_client_verify"] == "SUCCESS", row
    proc = verify(lab, "clients/good-chain.pem", "--config", "nginx.conf", "--server-name",
                  "default.test", "--format", "json")
    data = as_json(proc)
    assert data["settings"]["ssl_verify_client"] == "off"
    assert data["clients"][0]["ssl_client_verify"] == "NONE" and proc.returncode == 0


def test_server_name_without_config_is_a_usage_error(lab):
    assert "--server-name needs --config" in one_line_error(
        verify(lab, "clients/good-chain.pem", "--server-name", "x"))


@pytest.mark.parametrize("library", ["/nonexistent/libcrypto.so.3", "libz.so.1"])
def test_unusable_libcrypto_is_one_line_and_exit_2(lab, library):
    proc = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "verify", "clients/good-chain.pem",
         "--ssl-client-certificate", "ca/root.pem"], capture_output=True, text=True, timeout=120,
        cwd=lab, env={"PATH": "/usr/bin:/bin", "MTLS_DOCTOR_LIBCRYPTO": library})
    assert "libcrypto" in one_line_error(proc)
