"""`mtls-doctor probe` end to end: real nginx / hostile servers, JSON fields, findings, exit
codes 0/1/2. Runs the CLI in a subprocess like a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mtls_doctor.lab.nginx import free_ports

pytestmark = pytest.mark.nginx


def probe(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mtls_doctor", "probe", *args],
                          capture_output=True, text=True, timeout=timeout)


def probe_json(*args: str) -> tuple[int, dict]:
    proc = probe(*args, "--format", "json")
    assert proc.stderr == "", proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def rules_of(data: dict) -> list[str]:
    return sorted({f["rule"] for f in data["findings"]})


def target(port: int) -> str:
    return f"https://127.0.0.1:{port}/"


def test_on_with_a_good_certificate_is_clean(lab, modes):
    cert, key = lab.client_files("good")
    code, data = probe_json(target(modes["on"]), "--servername", "localhost", "--ca-file",
                            str(lab.root_pem), "--cert", str(cert), "--key", str(key))
    assert (code, rules_of(data)) == (0, [])
    assert data["certificate_requested"] is True
    assert data["ca_names"] == [lab.pki.cas["root"].cert.subject.rfc4514_string()]
    assert data["inferred_mode"] == "on"
    assert data["legacy_tls_accepted"] == []
    user = [a for a in data["attempts"] if a["spec"]["cert"] == "user"]
    assert {a["http"]["status"] for a in user} == {200}
    assert {a["certificate_request"]["source"] for a in user} == {"plaintext", "decrypted"}


def test_off_reports_no_request_not_an_empty_list(lab, modes):
    code, data = probe_json(target(modes["off"]), "--servername", "localhost", "--ca-file", str(lab.root_pem))
    assert data["certificate_requested"] is False and data["ca_names"] == []
    assert data["inferred_mode"] == "off"
    assert "MTLS502" not in rules_of(data)


def test_trusted_only_is_an_empty_list_and_anonymous_passes(lab, modes):
    code, data = probe_json(target(modes["trusted_only"]), "--servername", "localhost",
                            "--ca-file", str(lab.root_pem))
    assert data["certificate_requested"] is True and data["ca_names"] == []
    assert data["inferred_mode"] == "optional_no_ca"
    assert (code, rules_of(data)) == (1, ["MTLS502", "MTLS509"])


def test_no_sni_default_server_is_a_finding(lab, modes):
    code, data = probe_json(target(modes["sni"]), "--servername", "a.test", "--host-header", "a.test",
                            "--ca-file", str(lab.root_pem))
    assert data["inferred_mode"] == "on" and data["sni"] == "a.test"
    assert [i["mode"] for i in data["inferences"]] == ["on", "on-without-request"]
    assert code == 1 and "MTLS501" in rules_of(data)


def test_foreign_and_leaf_only_certificates(lab, modes):
    cert, key = lab.client_files("foreign")
    code, data = probe_json(target(modes["on"]), "--servername", "localhost", "--ca-file",
                            str(lab.root_pem), "--cert", str(cert), "--key", str(key), "--tls", "1.3")
    assert (code, rules_of(data)) == (1, ["MTLS504", "MTLS505"])  # its issuer is unknown here
    other_root = lab.dir / "other-root.pem"
    other_root.write_bytes(lab.pki.pem("other-root"))
    code, data = probe_json(target(modes["on"]), "--servername", "localhost", "--ca-file",
                            str(lab.root_pem), "--cert", str(cert), "--key", str(key), "--chain",
                            str(other_root), "--tls", "1.3")
    assert (code, rules_of(data)) == (1, ["MTLS503", "MTLS505"])  # chain up to a foreign root
    cert, key = lab.client_files("good", with_chain=False)
    code, data = probe_json(target(modes["on"]), "--servername", "localhost", "--ca-file",
                            str(lab.root_pem), "--cert", str(cert), "--key", str(key), "--tls", "1.2")
    assert (code, rules_of(data)) == (1, ["MTLS504", "MTLS505"])


def test_untrusted_server_never_gets_the_users_certificate(lab, modes, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(lab.pki.pem("other-root"))
    cert, key = lab.client_files("good")
    proc = probe(target(modes["on"]), "--servername", "localhost", "--ca-file", str(other),
                 "--cert", str(cert), "--key", str(key), "--tls", "1.2")
    assert proc.returncode == 1
    assert "not sent: the server certificate failed verification" in proc.stdout
    assert "MTLS506" in proc.stdout
    assert "BEGIN" not in proc.stdout  # no key (or certificate) material printed


def test_text_output_has_ladder_matrix_mode_and_findings(lab, modes):
    proc = probe(target(modes["optional"]), "--servername", "localhost", "--ca-file", str(lab.root_pem),
                 "--tls", "1.2")
    out = proc.stdout
    for needle in ("ok certificate-request", "Matrix", "Inferred mode (SNI localhost): optional",
                   "nginx page 495", "MTLS509", "certificate types: rsa_sign, dss_sign, ecdsa_sign"):
        assert needle in out, needle
    assert proc.returncode == 1


def test_unreachable_endpoint_is_a_finding_not_a_traceback():
    (port,) = free_ports(1)
    proc = probe(f"127.0.0.1:{port}", "--timeout", "1", "--format", "json")
    assert proc.returncode == 1 and proc.stderr == ""
    data = json.loads(proc.stdout)
    assert rules_of(data) == ["MTLS510"] and data["inferred_mode"] == "unknown"


@pytest.mark.parametrize(
    "args, message",
    [
        (("http://127.0.0.1:1/",), "only https:// URLs"),
        (("127.0.0.1:443", "--cert", "/nonexistent.pem"), "no such file"),
        (("127.0.0.1:443", "--servername", "a", "--no-sni"), "exclude each other"),
        (("127.0.0.1:443", "--ca-file", "/nonexistent.pem"), "no such file"),
    ],
)
def test_input_errors_exit_2_with_one_line(args, message):
    proc = probe(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr


def test_key_not_matching_certificate_is_exit_2(lab):
    cert, _ = lab.client_files("good")
    _, other_key = lab.client_files("foreign")
    proc = probe("127.0.0.1:443", "--cert", str(cert), "--key", str(other_key))
    assert proc.returncode == 2 and "does not belong to the certificate" in proc.stderr


def test_fleet_json_lines_one_record_per_target(lab, modes):
    (dead,) = free_ports(1)
    targets = lab.dir / "targets.txt"
    lines = ["# fleet", *(f"https://127.0.0.1:{modes[m]}/ localhost" for m in
                          ("off", "optional", "optional_no_ca", "on")),
             "", f"127.0.0.1:{modes['sni']} a.test   # non-default server", f"127.0.0.1:{dead}"]
    targets.write_text("\n".join(lines) + "\n")
    proc = probe("--targets", str(targets), "--ca-file", str(lab.root_pem), "--timeout", "2",
                 "--concurrency", "3", "--no-legacy")
    assert proc.stderr == "" and proc.returncode == 1
    records = {r["input"]["line"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert {n: r["inferred_mode"] for n, r in records.items()} == {
        2: "off", 3: "optional", 4: "optional_no_ca", 5: "on", 7: "on", 8: "unknown"}
    assert {(i["sni"] or "-"): i["mode"] for i in records[7]["inferences"]} == {"a.test": "on", "-": "on-without-request"}  # F7.3, Host a.test
    assert [f["rule"] for f in records[8]["findings"]] == ["MTLS510"]
    assert records[5]["certificate_requested"] is True and records[2]["certificate_requested"] is False


def test_fleet_bad_line_is_exit_2_naming_the_line(lab):
    targets = lab.dir / "bad-targets.txt"
    targets.write_text("127.0.0.1:443\nhttp://nope/\n")
    proc = probe("--targets", str(targets))
    assert proc.returncode == 2 and f"{targets}:2:" in proc.stderr and proc.stdout == ""


def test_client_ca_adds_nginx_offline_verdict(lab, modes, tmp_path):
    """Live: 400 (495). Offline with the server's CA file: the reason, error 10 expired."""
    cert, key = lab.client_files("expired")
    code, data = probe_json(target(modes["on"]), "--servername", "localhost", "--ca-file",
                            str(lab.root_pem), "--cert", str(cert), "--key", str(key),
                            "--client-ca", str(lab.root_pem), "--tls", "1.3")
    assert code == 1 and "MTLS512" in rules_of(data) and "MTLS505" in rules_of(data)
    verdict = data["offline_verdict"]
    assert (verdict["status"], verdict["page"], verdict["verify_error"]["code"]) == (400, 495, 10)
    assert verdict["ssl_client_verify"] == "FAILED:certificate has expired"
    cert, key = lab.client_files("good")
    code, data = probe_json(target(modes["on"]), "--servername", "localhost", "--ca-file",
                            str(lab.root_pem), "--cert", str(cert), "--key", str(key),
                            "--client-ca", str(lab.root_pem), "--tls", "1.3")
    assert (code, data["offline_verdict"]["status"]) == (0, 200)


@pytest.mark.parametrize("args, message", [
    (("--ca-file", "GARBAGE"), "no readable certificate"),
    (("--servername", "a..b"), "not a valid host name"),
])
def test_bad_trust_file_or_name_is_exit_2_before_any_connection(tmp_path, args, message):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    args = tuple(str(garbage) if a == "GARBAGE" else a for a in args)
    proc = probe("127.0.0.1:9", *args)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""


def test_pkcs12_identity_and_no_sni_primary(lab, modes, tmp_path):
    import os

    from mtls_doctor.lab.pki import P12_PASSWORD

    lab.pki.write(tmp_path / "lab")
    p12 = next((tmp_path / "lab").rglob("good.p12"))
    env = dict(os.environ, LAB_P12=P12_PASSWORD.decode())
    proc = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "probe", f"https://localhost:{modes['on']}/", "--no-sni",
         "--ca-file", str(lab.root_pem), "--pkcs12", str(p12), "--password", "env:LAB_P12",
         "--tls", "1.3", "--format", "json", "--no-legacy"],
        capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["sni"] is None
    assert [i["sni"] for i in data["inferences"]] == [None, "localhost"]
    user = [a for a in data["attempts"] if a["spec"]["cert"] == "user"]
    assert [a["client_certificates_sent"] for a in user] == [2, 2]  # leaf + inter from the p12
    assert {a["http"]["status"] for a in user} == {200}
    wrong = probe(f"https://localhost:{modes['on']}/", "--pkcs12", str(p12), "--password", "nope")
    assert wrong.returncode == 2 and "wrong --password" in wrong.stderr


def test_insecure_sends_the_certificate_and_says_so(lab, modes, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(lab.pki.pem("other-root"))
    cert, key = lab.client_files("good")
    proc = probe(target(modes["on"]), "--servername", "localhost", "--ca-file", str(other),
                 "--cert", str(cert), "--key", str(key), "--tls", "1.2", "--insecure", "--no-legacy")
    assert "your certificate WAS sent to a server whose certificate failed verification" in proc.stdout
    assert "INFO MTLS506" in proc.stdout  # informational under --insecure
    assert proc.returncode == 0
