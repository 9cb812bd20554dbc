"""`mtls-doctor inspect` end to end, as a user runs it (a real subprocess, real files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from tests.pki.certs import AT, DAY, make, pki

AT_ISO = AT.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="100")
    return subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "inspect", *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def inspect_json(*args: str, stdin: bytes | None = None) -> tuple[int, dict]:
    proc = run("--format", "json", "--at", AT_ISO, *args, stdin=stdin)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("inspect")
    p = pki()
    chain = p.leaf.pem + p.inter.pem + p.root.pem
    key_pem = p.leaf.key_pem()
    out = {
        "ca": p.root.pem + p.inter.pem,
        "chain": chain,
        "with_key": p.root.pem + key_pem + p.inter.pem,
        "der": p.leaf.der,
        "p7b": pkcs7.serialize_certificates(
            [p.leaf.cert, p.inter.cert], serialization.Encoding.DER
        ),
        "p12": pkcs12.serialize_key_and_certificates(
            b"c", p.leaf.key, p.leaf.cert, [p.inter.cert],
            serialization.BestAvailableEncryption(b"s3cret"),
        ),
        "crlf": chain.replace(b"\n", b"\r\n"),
        "joined": p.leaf.pem.rstrip(b"\n") + p.inter.pem,
        "garbage": b"this is not a certificate\n\x00\x01\x02 at all\n",
        "empty": b"",
        "inter_only": p.inter.pem,
        "expiring": make("soon", p.inter, not_after=10 * DAY).pem,
    }
    paths = {}
    for name, data in out.items():
        paths[name] = d / f"{name}.pem"
        paths[name].write_bytes(data)
    paths["key_text"] = key_pem  # type: ignore[assignment]
    return paths


def test_json_shape(files):
    code, doc = inspect_json(str(files["ca"]))
    assert code == 0
    assert doc["schema_version"] == 2 and doc["command"] == "inspect"
    assert [c["subject"] for c in doc["certificates"]] == [
        "CN=Test Root CA,O=Test Org",
        "CN=Test Client CA,O=Test Org",
    ]
    for c in doc["certificates"]:
        for key in ("subject", "issuer", "not_after", "is_ca", "sha256", "serial", "days_left",
                    "key_type", "key_bits", "signature_algorithm", "location"):
            assert key in c
    assert doc["certificates"][1]["location"]["display"] == f"{files['ca']}#1"
    (top,) = doc["tree"]
    assert top["kind"] == "trust-anchor"
    assert top["children"][0]["subject"] == "CN=Test Client CA,O=Test Org"
    assert doc["ca_names"] == ["CN=Test Root CA,O=Test Org", "CN=Test Client CA,O=Test Org"]
    assert doc["ca_names_size"] > 2 * 2
    assert doc["files"][0]["role"] == "ca"
    assert doc["findings"] == []


def test_pasted_private_key_is_critical_and_never_printed(files):
    body = [
        ln for ln in files["key_text"].decode().splitlines() if ln and not ln.startswith("-----")
    ]
    assert body
    for fmt in ("text", "json"):
        proc = run("--format", fmt, "--at", AT_ISO, str(files["with_key"]))
        assert proc.returncode == 1
        out = proc.stdout + proc.stderr
        assert "MTLS101" in out
        for line in out.splitlines():
            assert not any(b in line for b in body), "key material in the output"
        assert "PRIVATE KEY-----" not in out
    code, doc = inspect_json(str(files["with_key"]))
    crit = [f for f in doc["findings"] if f["rule"] == "MTLS101"]
    assert crit[0]["severity"] == "critical"
    key_line = pki().root.pem.count(b"\n") + 1
    assert crit[0]["location"]["display"] == f"{files['with_key']}:{key_line}"
    assert doc["keys"] == [
        {"location": crit[0]["location"] | {"index": 0}, "type": "EC", "bits": 256, "container": "pem"}
    ]


@pytest.mark.parametrize(
    "name,extra,count,fmt",
    [
        ("der", (), 1, "der"),
        ("p7b", (), 2, "pkcs7"),
        ("p12", ("--password", "s3cret"), 2, "pkcs12"),
        ("crlf", (), 3, "pem"),
        ("joined", (), 2, "pem"),
    ],
)
def test_formats_load(files, name, extra, count, fmt):
    code, doc = inspect_json(str(files[name]), *extra)
    assert len(doc["certificates"]) == count
    assert doc["files"][0]["format"] == fmt
    assert code in (0, 1)


def test_missing_newline_and_crlf_findings(files):
    _, doc = inspect_json(str(files["joined"]))
    assert {f["rule"] for f in doc["findings"]} >= {"MTLS003"}
    _, doc = inspect_json(str(files["crlf"]))
    assert [f["rule"] for f in doc["findings"]] == ["MTLS002"]


@pytest.mark.parametrize("name", ["garbage", "empty"])
def test_unusable_input_one_line_exit_2(files, name):
    for fmt in ("text", "json"):
        proc = run("--format", fmt, str(files[name]))
        assert proc.returncode == 2
        assert proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("mtls-doctor: error: ")
        assert "Traceback" not in proc.stderr


def test_missing_file_and_bad_at(tmp_path, files):
    proc = run(str(tmp_path / "nope.pem"))
    assert proc.returncode == 2 and "no such file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run("--at", "yesterday", str(files["ca"]))
    assert proc.returncode == 2 and "--at" in proc.stderr
    proc = run(str(tmp_path))
    assert proc.returncode == 2 and "directory" in proc.stderr


def test_stdin(files):
    code, doc = inspect_json("-", stdin=files["chain"].read_bytes())
    assert code == 0
    assert doc["certificates"][0]["location"]["display"] == "<stdin>#0"
    assert len(doc["tree"]) == 1


def test_at_and_fail_on(files):
    code, doc = inspect_json(str(files["expiring"]))
    assert code == 1 and [f["rule"] for f in doc["findings"]] == ["MTLS106"]
    assert doc["certificates"][0]["days_left"] == 10
    code, _ = inspect_json("--fail-on", "error", str(files["expiring"]))
    assert code == 0
    later = (AT + 11 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")
    proc = run("--format", "json", "--at", later, str(files["expiring"]))
    assert proc.returncode == 1
    assert [f["rule"] for f in json.loads(proc.stdout)["findings"]] == ["MTLS104"]


def test_role_option(files):
    code, doc = inspect_json("--role", "ca", str(files["inter_only"]))
    assert code == 1 and [f["rule"] for f in doc["findings"]] == ["MTLS103"]
    f = doc["findings"][0]
    assert f["location"]["display"] == f"{files['inter_only']}#0"
    code, doc = inspect_json("--role", "client", str(files["inter_only"]))
    assert code == 0


def test_text_output(files):
    proc = run("--at", AT_ISO, str(files["chain"]), str(files["with_key"]))
    assert proc.returncode == 1
    out = proc.stdout
    assert "Chain tree" in out and "trust-anchor" in out
    assert f"{files['chain']}#0  CN=client one,O=Test Org" in out
    assert "CA names nginx would advertise" in out
    assert "CRITICAL MTLS101" in out
    assert "ext key usage clientAuth" in out


def test_pkcs12_password_from_environment(files):
    env = dict(os.environ, NO_COLOR="1", MTLS_DOCTOR_PASSWORD="s3cret")
    proc = subprocess.run(
        [sys.executable, "-m", "mtls_doctor", "inspect", "--format", "json", "--at", AT_ISO,
         str(files["p12"])],
        capture_output=True, text=True, timeout=60, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["certificates"]) == 2
    proc = run(str(files["p12"]))  # no password: nothing readable -> one line, exit 2
    assert proc.returncode == 2 and "--password" in proc.stderr


def test_crl_file_is_usable_input(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    p = pki()
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(p.leaf.cert.serial_number)
        .revocation_date(AT - DAY)
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(p.inter.cert.subject)
        .last_update(AT - DAY)
        .next_update(AT + 6 * DAY)
        .add_revoked_certificate(revoked)
        .add_extension(x509.CRLNumber(7), critical=False)
        .sign(p.inter.key, hashes.SHA256())
    )
    der = tmp_path / "inter.der.crl"
    der.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    code, doc = inspect_json(str(der))
    assert code == 1 and [f["rule"] for f in doc["findings"]] == ["MTLS009"]  # nginx reads PEM
    f = tmp_path / "inter.crl"
    f.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    code, doc = inspect_json(str(f))
    assert code == 0 and doc["certificates"] == []
    (c,) = doc["crls"]
    assert (c["issuer"], c["revoked"], c["crl_number"], c["expired"]) == (
        "CN=Test Client CA,O=Test Org", 1, 7, False
    )
    proc = run("--at", AT_ISO, str(f))
    assert proc.returncode == 0 and "CRL" in proc.stdout and "1 revoked" in proc.stdout
