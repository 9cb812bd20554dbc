"""Black-box QA of the commands: bad input gives one line and exit 2, options mean the same
thing in every command (run as a user would, in a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mtls_doctor.lab.pki import build_lab_pki


def run(*args: str, cwd: Path | None = None, env: dict | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mtls_doctor", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env, input=stdin,
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("qa-pki")
    proc = run("lab", "pki", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def at_commands(pki: Path) -> list[list[str]]:
    return [
        ["inspect", str(pki / "ca" / "root.pem")],
        ["verify", str(pki / "clients" / "good-chain.pem"),
         "--ssl-client-certificate", str(pki / "bundles" / "client-ca.pem")],
        ["diagnose", "--no-probe", "--config", str(pki / "nothing.conf"),
         "--cert", str(pki / "clients" / "good-chain.pem")],
    ]


@pytest.fixture(scope="module")
def empty_conf(pki: Path) -> Path:
    path = pki / "nothing.conf"
    path.write_text("events {}\nhttp {}\n")
    return path


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+02:00", "9999-12-31T23:59:59-05:00"])
@pytest.mark.parametrize("index", [0, 1, 2])
def test_at_out_of_range_is_a_usage_error(pki: Path, empty_conf: Path, index: int, at: str):
    # a time that is valid ISO 8601 but outside what UTC can represent: one line, exit 2
    proc = run(*at_commands(pki)[index], "--at", at)
    line = one_line_error(proc)
    assert line.startswith("mtls-doctor: error: --at"), line


@pytest.mark.parametrize("index", [0, 1, 2])
def test_at_same_words_everywhere(pki: Path, empty_conf: Path, index: int):
    # `--at now` means the same in every command that has --at; garbage gets the same message
    assert run(*at_commands(pki)[index], "--at", "now").returncode in (0, 1)
    line = one_line_error(run(*at_commands(pki)[index], "--at", "yesterday"))
    assert line == "mtls-doctor: error: --at: not an ISO 8601 time: 'yesterday' (e.g. 2026-11-28T00:00:00Z)"


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def password_commands(pki: Path) -> list[list[str]]:
    p12 = str(pki / "clients" / "good.p12")
    return [
        ["inspect", p12],
        ["verify", p12, "--ssl-client-certificate", str(pki / "bundles" / "client-ca.pem")],
        ["probe", f"127.0.0.1:{closed_port()}", "--pkcs12", p12, "--timeout", "1", "--no-legacy"],
    ]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_password_given_the_same_ways_everywhere(pki: Path, index: int):
    # --password PW, --password env:VAR and MTLS_DOCTOR_PASSWORD (not shown by `ps`) all work
    # in every command that reads a PKCS#12; a wrong one is a usage error
    import os

    cmd = password_commands(pki)[index]
    base = {k: v for k, v in os.environ.items() if k != "MTLS_DOCTOR_PASSWORD"}
    for args, env in (
        (["--password", "lab"], base),
        (["--password", "env:QA_P12_PW"], {**base, "QA_P12_PW": "lab"}),
        ([], {**base, "MTLS_DOCTOR_PASSWORD": "lab"}),
    ):
        proc = run(*cmd, *args, env=env)
        assert proc.returncode in (0, 1), (args, proc.stderr)
    line = one_line_error(run(*cmd, env={**base, "MTLS_DOCTOR_PASSWORD": "wrong"}))
    assert "password" in line, line


def test_verify_config_directory_like_diagnose(pki: Path, tmp_path: Path):
    # --config DIR means DIR/nginx.conf in verify as in diagnose (and lint); no internal API names
    conf_dir = tmp_path / "etc-nginx"
    conf_dir.mkdir()
    (conf_dir / "nginx.conf").write_text(
        "events {}\nhttp { server { listen 127.0.0.1:8443 ssl; server_name a.test;\n"
        f"  ssl_certificate {pki}/server/server.pem; ssl_certificate_key {pki}/server/server.key;\n"
        f"  ssl_verify_client on; ssl_client_certificate {pki}/bundles/client-ca.pem; }} }}\n")
    client = str(pki / "clients" / "good-chain.pem")
    proc = run("verify", client, "--config", str(conf_dir))
    assert proc.returncode == 0, proc.stderr
    assert "SUCCESS" in proc.stdout
    line = one_line_error(run("verify", client, "--config", str(tmp_path)))
    assert "directory" in line and "load_directory" not in line, line


def test_lab_pki_offers_json(tmp_path: Path):
    # README: every command offers --format json; lab pki gives its manifest (no key material)
    proc = run("lab", "pki", str(tmp_path / "p"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["schema_version"] == 2 and data["command"] == "lab pki"
    assert data["directory"] == str(tmp_path / "p")
    assert any(f["file"] == "ca/root.pem" for f in data["files"])
    assert "PRIVATE KEY" not in proc.stdout


def test_probe_takes_server_name_like_verify_and_diagnose():
    # verify, diagnose and lab pki spell it --server-name; probe keeps openssl's --servername
    # and takes --server-name as well
    target = f"127.0.0.1:{closed_port()}"
    proc = run("probe", target, "--server-name", "a.test", "--timeout", "1", "--no-legacy",
               "--format", "json")
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["sni"] == "a.test"


def test_diagnose_reads_an_encrypted_key_with_password(pki: Path, empty_conf: Path, tmp_path: Path):
    # diagnose --key takes the same --password as probe --key (an encrypted key is common)
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key((pki / "clients" / "good.key").read_bytes(), None)
    enc = tmp_path / "good.enc.key"
    enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"s3cret")))
    args = ("diagnose", "--no-probe", "--config", str(empty_conf),
            "--cert", str(pki / "clients" / "good-chain.pem"), "--key", str(enc))
    assert "password" in one_line_error(run(*args))
    proc = run(*args, "--password", "s3cret")
    assert proc.returncode in (0, 1), proc.stderr


def test_lab_run_with_a_relative_nginx_path(nginx_bin: str, tmp_path: Path):
    # `--nginx ./nginx` (relative to the cwd) must work, not crash once nginx runs in its prefix
    import os

    os.symlink(nginx_bin, tmp_path / "nginx")
    proc = run("lab", "run", "good", "--nginx", "./nginx", cwd=tmp_path)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["nginx"]  # nothing written in the cwd


@pytest.mark.parametrize("command", ["inspect", "verify", "diagnose"])
def test_at_help_alike(command: str):
    out = " ".join(run(command, "--help").stdout.split())
    assert "--at TIME" in out and "ISO 8601" in out and "(default: now)" in out, out


def test_probe_takes_verify_names_for_the_server_trust(pki: Path):
    # the server's trust settings are spelled as in verify (the nginx directive names) too
    proc = run("probe", f"127.0.0.1:{closed_port()}", "--timeout", "1", "--no-legacy",
               "--cert", str(pki / "clients" / "good-chain.pem"),
               "--key", str(pki / "clients" / "good.key"),
               "--ssl-client-certificate", str(pki / "bundles" / "client-ca.pem"),
               "--ssl-verify-depth", "2", "--format", "json")
    assert proc.returncode == 1, proc.stderr  # nothing listens: a finding, not a usage error
    assert json.loads(proc.stdout)["inferred_mode"] == "unknown"


@pytest.mark.parametrize("option,kind", [("--ssl-client-certificate", "der"),
                                         ("--ssl-client-certificate", "p7b"),
                                         ("--ssl-trusted-certificate", "der"),
                                         ("--ssl-crl", "crl-der")])
def test_verify_refuses_trust_files_nginx_cannot_load(pki: Path, tmp_path: Path, option: str, kind: str):
    # nginx reads these files as PEM only: a DER or PKCS#7 file fails `nginx -t` with
    # "SSL_CTX_load_verify_locations(...) failed ... no certificate or crl found" (F1.5; measured
    # on 1.22.1, also X509_LOOKUP_load_file for ssl_crl), so verify must not call it accepted
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

    root = x509.load_pem_x509_certificate((pki / "ca" / "root.pem").read_bytes())
    path = tmp_path / f"trust.{kind}"
    if kind == "der":
        path.write_bytes(root.public_bytes(Encoding.DER))
    elif kind == "p7b":
        path.write_bytes(pkcs7.serialize_certificates([root], Encoding.DER))
    else:
        crl = x509.load_pem_x509_crl((pki / "crl" / "root.crl.pem").read_bytes())
        path.write_bytes(crl.public_bytes(Encoding.DER))
    args = ["verify", str(pki / "clients" / "good-chain.pem")]
    if option != "--ssl-client-certificate":
        args += ["--ssl-client-certificate", str(pki / "bundles" / "client-ca.pem")]
    line = one_line_error(run(*args, option, str(path)))
    assert "PEM" in line and "nginx -t" in line, line


def test_password_set_for_a_pkcs12_does_not_break_a_plain_key(pki: Path, empty_conf: Path):
    # MTLS_DOCTOR_PASSWORD (or --password) given while --key is not encrypted: the password is
    # not needed and ignored, as `openssl` does (was "encrypted; give --password")
    import os

    env = {**os.environ, "MTLS_DOCTOR_PASSWORD": "lab"}
    ident = ("--cert", str(pki / "clients" / "good-chain.pem"), "--key", str(pki / "clients" / "good.key"))
    proc = run("probe", f"127.0.0.1:{closed_port()}", *ident, "--timeout", "1", "--no-legacy", env=env)
    assert proc.returncode == 1, proc.stderr
    proc = run("diagnose", "--no-probe", "--config", str(empty_conf), *ident, "--password", "x")
    assert proc.returncode in (0, 1), proc.stderr


@pytest.mark.parametrize("args", [["--cert", "/dev/zero", "--key", "/dev/zero"],
                                  ["--ca-file", "/dev/zero"], ["--targets", "/dev/zero"]])
def test_probe_endless_input_file_is_refused(args: list[str]):
    # a file with no end (a device, a FIFO) must not be read into memory without bound
    cmd = ["probe", *args, "--timeout", "1", "--no-legacy"]
    if "--targets" not in args:
        cmd.insert(1, f"127.0.0.1:{closed_port()}")

    def limit_memory() -> None:  # so that a regression fails instead of eating the machine
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", *cmd], capture_output=True,
                          text=True, timeout=60, preexec_fn=limit_memory)
    line = one_line_error(proc)
    # refused before any byte is read (issue 11: one bounded reader for every input path)
    assert "/dev/zero" in line and "is a device, not a regular file" in line, line


@pytest.mark.parametrize("command", ["verify", "diagnose"])
def test_config_that_is_not_a_regular_file_is_refused(pki: Path, command: str):
    # `--config /dev/zero` (a device: endless) must be a usage error, not a MemoryError
    cmd = (["verify", str(pki / "clients" / "good-chain.pem")] if command == "verify"
           else ["diagnose", "--no-probe"])

    def limit_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", *cmd, "--config", "/dev/zero"],
                          capture_output=True, text=True, timeout=60, preexec_fn=limit_memory)
    line = one_line_error(proc)
    assert "/dev/zero" in line and "not a regular file" in line, line


def test_bad_columns_environment_is_ignored():
    # COLUMNS is the user's environment, not input to validate: a bad value means "unknown width"
    import os

    proc = run("rules", env={**os.environ, "COLUMNS": "abc"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "MTLS101" in proc.stdout


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_bad_verify_workers_environment_is_not_a_traceback(pki: Path, value: str):
    import os

    env = {**os.environ, "MTLS_DOCTOR_VERIFY_WORKERS": value}
    proc = run("verify", str(pki / "clients" / "good-chain.pem"),
               "--ssl-client-certificate", str(pki / "bundles" / "client-ca.pem"), env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
