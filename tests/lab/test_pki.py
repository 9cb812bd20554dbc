"""The lab PKI has every property it claims, checked in Python and with the real openssl CLI.

The openssl checks are independent of `cryptography`: they run the system OpenSSL 3.0 (the one
nginx uses) with `-purpose sslclient`, the purpose nginx verifies client chains with (F6.3), at
the lab's own time (`-attime`), and assert the exact verify error codes the facts sheet names
(F3.3 -> 22 at depth 1, F6.3 -> 26, F6.1 -> 23 / 12 / 3, F4.2 -> 10, 18, 20).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from mtls_doctor.lab.pki import CAS, CLIENTS, CRLS, LabClient, LabPKI, build_lab_pki
from mtls_doctor.model import InputError
from mtls_doctor.pki import issue

AT = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
KEY_TYPES = ("ec", "rsa")
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

EXPECTED_ISSUER = {
    "good": "inter", "root-direct": "root", "deep": "deep2", "no-eku": "inter",
    "server-eku": "inter", "expired": "inter", "not-yet-valid": "inter", "foreign": "other-root",
    "revoked": "inter",
}
EXPECTED_CHAIN = {
    "good": ("inter",), "root-direct": (), "deep": ("deep2", "deep1"), "no-eku": ("inter",),
    "server-eku": ("inter",), "expired": ("inter",), "not-yet-valid": ("inter",), "foreign": (),
    "self-signed": (), "revoked": ("inter",),
}
EXPECTED_EKU = {"no-eku": None, "server-eku": [SERVER_AUTH]}


@pytest.fixture(scope="module", params=KEY_TYPES)
def pki(request) -> LabPKI:
    return build_lab_pki(AT, key_type=request.param, server_names=("mtls.example.test",
                                                                   "10.1.2.3"))


@pytest.fixture(scope="module")
def lab_dir(pki: LabPKI, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp(f"lab-{pki.key_type}") / "lab"
    pki.write(directory)
    return directory


def ext(cert, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def eku(cert):
    value = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    return None if value is None else list(value)


def ski(cert) -> bytes:
    return ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER).digest


def aki(obj) -> bytes:
    return ext(obj, ExtensionOID.AUTHORITY_KEY_IDENTIFIER).key_identifier


def public_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def assert_key_matches(issued, key_type: str) -> None:
    assert public_bytes(issued.cert.public_key()) == public_bytes(issued.key.public_key())
    if key_type == "ec":
        assert isinstance(issued.key, ec.EllipticCurvePrivateKey)
        assert issued.key.curve.name == "secp256r1"
    else:
        assert isinstance(issued.key, rsa.RSAPrivateKey)
        assert issued.key.key_size == 2048
    loaded = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert public_bytes(loaded.public_key()) == public_bytes(issued.key.public_key())
    assert issued.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted


# --- the contract (CONTRACTS B): exact keys and types ------------------------------------------

def test_contract_keys(pki: LabPKI) -> None:
    assert tuple(pki.cas) == CAS == ("root", "inter", "deep1", "deep2", "other-root")
    assert tuple(pki.clients) == CLIENTS
    assert set(CLIENTS) == {"good", "root-direct", "deep", "no-eku", "server-eku", "expired",
                            "not-yet-valid", "foreign", "self-signed", "revoked"}
    assert tuple(pki.crls) == CRLS
    assert set(CRLS) == {"root", "inter", "deep1", "deep2", "other-root", "inter-expired"}
    for name, client in pki.clients.items():
        assert isinstance(client, LabClient) and client.name == name and client.description
    for name, crl in pki.crls.items():
        assert crl.name == name and crl.issuer in pki.cas
        assert crl.pem.startswith(b"-----BEGIN X509 CRL-----")
    assert pki.crls["inter-expired"].issuer == "inter"


def test_no_private_key_in_repr(pki: LabPKI) -> None:
    text = repr(pki) + "".join(repr(c) for c in pki.clients.values()) + repr(pki.cas["root"])
    assert "PRIVATE KEY" not in text and "_key" not in text.replace("key_type", "")


def test_server_names_validated_and_deduplicated() -> None:
    pki = build_lab_pki(AT, server_names=("localhost", "::1", "*.lab.test", "a.test", "a.test"))
    assert pki.server_names == ("localhost", "127.0.0.1", "::1", "*.lab.test", "a.test")
    for bad in ("", "a b", "bad/name", "caf\u00e9.test", "-" * 300):
        with pytest.raises(InputError, match="invalid server name"):  # CLI: one line, exit 2
            build_lab_pki(AT, server_names=(bad,))


def test_at_must_be_aware_and_key_type_known() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_lab_pki(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown key type"):
        build_lab_pki(AT, key_type="dsa")


# --- CAs -----------------------------------------------------------------------------------

def test_ca_hierarchy(pki: LabPKI) -> None:
    parents = {"root": "root", "inter": "root", "deep1": "root", "deep2": "deep1",
               "other-root": "other-root"}
    pathlen = {"root": None, "inter": 0, "deep1": 1, "deep2": 0, "other-root": None}
    for name, ca in pki.cas.items():
        parent = pki.cas[parents[name]].cert
        bc = ext(ca.cert, ExtensionOID.BASIC_CONSTRAINTS)
        assert bc.ca is True and bc.path_length == pathlen[name], name
        assert ca.cert.issuer == parent.subject
        ca.cert.verify_directly_issued_by(parent)
        assert aki(ca.cert) == ski(parent)
        ku = ext(ca.cert, ExtensionOID.KEY_USAGE)
        assert ku.key_cert_sign and ku.crl_sign
        assert eku(ca.cert) is None  # an EKU on a CA would constrain every client (F6.3)
        assert_key_matches(ca, pki.key_type)
    assert pki.cas["root"].cert.subject != pki.cas["other-root"].cert.subject


def test_ca_validity_is_sane_and_relative_to_at(pki: LabPKI) -> None:
    for ca in pki.cas.values():
        start, end = ca.cert.not_valid_before_utc, ca.cert.not_valid_after_utc
        assert start < AT < end
        assert end - start <= timedelta(days=5 * 366)  # never trustme's 1000 years
        assert end - AT >= timedelta(days=365)


def test_pem_concatenates_in_order(pki: LabPKI) -> None:
    bundle = pki.pem("inter", "root")
    certs = x509.load_pem_x509_certificates(bundle)
    assert [c.subject for c in certs] == [pki.cas["inter"].cert.subject,
                                          pki.cas["root"].cert.subject]
    assert pki.pem() == b""


# --- server and clients --------------------------------------------------------------------

def test_server(pki: LabPKI) -> None:
    cert = pki.server.cert
    cert.verify_directly_issued_by(pki.cas["root"].cert)
    assert eku(cert) == [SERVER_AUTH]
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "mtls.example.test"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1",
                                                                           "10.1.2.3"]
    assert x509.load_pem_x509_certificates(pki.server_chain_pem)[0] == cert
    assert cert.not_valid_before_utc < AT < cert.not_valid_after_utc
    assert_key_matches(pki.server, pki.key_type)


@pytest.mark.parametrize("name", CLIENTS)
def test_client_properties(pki: LabPKI, name: str) -> None:
    client = pki.clients[name]
    cert = client.cert
    issuer = pki.cas[EXPECTED_ISSUER[name]].cert if name != "self-signed" else cert
    assert cert.issuer == issuer.subject
    cert.verify_directly_issued_by(issuer)
    assert aki(cert) == ski(issuer)
    assert ext(cert, ExtensionOID.BASIC_CONSTRAINTS).ca is False
    assert ext(cert, ExtensionOID.KEY_USAGE).digital_signature
    assert eku(cert) == EXPECTED_EKU.get(name, [CLIENT_AUTH])
    assert client.chain == tuple(pki.cas[n].cert for n in EXPECTED_CHAIN[name])
    assert x509.load_pem_x509_certificates(client.chain_pem) == [cert, *client.chain]
    assert x509.load_pem_x509_certificates(client.cert_pem) == [cert]
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert end - start <= timedelta(days=366)
    if name == "expired":
        assert end < AT
    elif name == "not-yet-valid":
        assert AT < start
    else:
        assert start <= AT < end
    assert_key_matches(client, pki.key_type)


def test_rfc5280_sanity(pki: LabPKI) -> None:
    """pkilint-style basics: v3, SHA-256, unique positive serials of at most 20 octets."""
    certs = [i.cert for i in pki.cas.values()] + [pki.server.cert]
    certs += [c.cert for c in pki.clients.values()]
    serials = [c.serial_number for c in certs]
    assert len(set(serials)) == len(serials)
    for cert in certs:
        assert cert.version == x509.Version.v3
        assert cert.signature_hash_algorithm.name == "sha256"
        assert 0 < cert.serial_number < 2 ** 159
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        assert ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER) is not None
        assert ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) is not None
        critical = {e.oid for e in cert.extensions if e.critical}
        assert critical <= {ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE}
    for lab_crl in pki.crls.values():
        assert lab_crl.crl.signature_hash_algorithm.name == "sha256"


# --- CRLs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", CRLS)
def test_crl_properties(pki: LabPKI, name: str) -> None:
    lab_crl = pki.crls[name]
    crl, ca = lab_crl.crl, pki.cas[lab_crl.issuer].cert
    assert crl.issuer == ca.subject
    assert crl.is_signature_valid(ca.public_key())
    assert ext(crl, ExtensionOID.CRL_NUMBER).crl_number >= 1
    assert aki(crl) == ski(ca)
    assert x509.load_pem_x509_crl(lab_crl.pem) == crl
    assert crl.last_update_utc <= AT
    if name == "inter-expired":
        assert crl.next_update_utc < AT
        assert ext(crl, ExtensionOID.CRL_NUMBER).crl_number < ext(
            pki.crls["inter"].crl, ExtensionOID.CRL_NUMBER).crl_number
    else:
        assert AT < crl.next_update_utc <= AT + timedelta(days=31)
    revoked = pki.clients["revoked"].cert.serial_number
    listed = {entry.serial_number for entry in crl}
    assert listed == ({revoked} if name == "inter" else set())


# --- writing -------------------------------------------------------------------------------

def test_write_layout_modes_and_manifest(pki: LabPKI, lab_dir: Path) -> None:
    manifest = json.loads((lab_dir / "manifest.json").read_text())
    on_disk = {p.relative_to(lab_dir).as_posix() for p in lab_dir.rglob("*") if p.is_file()}
    listed = {entry["path"] for entry in manifest["files"]}
    assert on_disk == listed | {"manifest.json"}
    expected = {"server/server.pem", "server/server.key", "bundles/client-ca.pem",
                "bundles/client-ca-all.pem", "bundles/crl-all.pem"}
    expected |= {f"ca/{n}.{s}" for n in CAS for s in ("pem", "key")}
    expected |= {f"clients/{n}{s}" for n in CLIENTS
                 for s in (".pem", "-chain.pem", ".key", ".p12")}
    expected |= {f"crl/{n}.crl.pem" for n in CRLS}
    assert listed == expected
    assert manifest["pkcs12_password"] == "lab" and manifest["key_type"] == pki.key_type
    mentioned = " ".join(manifest["try"]["nginx"]) + manifest["try"]["curl"]
    for path in re.findall(r"[\w-]+/[\w.-]+\.(?:pem|key)", mentioned):
        assert path in listed, path
    assert set(manifest["clients"]) == set(CLIENTS)
    for entry in manifest["files"]:
        path = lab_dir / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        assert entry["kind"] and entry["purpose"] and entry["subject"]
        datetime.fromisoformat(entry["not_after"])
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.suffix in (".key", ".p12"):
            assert mode == 0o600, entry["path"]
            assert entry["mode"] == "0600"
        else:
            assert mode == 0o644 & ~_umask(), entry["path"]
            assert entry["mode"] == "0644"
    for name in ("deep", "server-eku", "revoked"):
        assert re.search(r"F\d\.\d", manifest["clients"][name]["description"])


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_bundles_content(pki: LabPKI, lab_dir: Path) -> None:
    def subjects(rel: str):
        return [c.subject for c in x509.load_pem_x509_certificates((lab_dir / rel).read_bytes())]

    cas = pki.cas
    assert subjects("bundles/client-ca.pem") == [cas["root"].cert.subject,
                                                  cas["inter"].cert.subject]
    assert subjects("bundles/client-ca-all.pem") == [cas[n].cert.subject
                                                      for n in ("root", "inter", "deep1",
                                                                "deep2")]
    crls = _load_crls((lab_dir / "bundles/crl-all.pem").read_bytes())
    assert [c.issuer for c in crls] == [cas[n].cert.subject
                                        for n in ("root", "inter", "deep1", "deep2")]
    assert all(c.next_update_utc > AT for c in crls)


def _load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    blocks = re.findall(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----\n", data, re.S)
    return [x509.load_pem_x509_crl(b) for b in blocks]


def test_write_refuses_non_empty_directory_unless_forced(pki: LabPKI, tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        pki.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    key = tmp_path / "clients" / "good.key"
    key.parent.mkdir()
    key.write_text("old")
    os.chmod(key, 0o644)
    manifest = pki.write(tmp_path, force=True)
    assert manifest == tmp_path / "manifest.json"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # recreated 0600, not left 0644
    assert key.read_bytes() == pki.clients["good"].key_pem
    assert (tmp_path / "keep.txt").read_text() == "mine"
    with pytest.raises(FileExistsError):
        pki.write(tmp_path / "keep.txt")


def test_write_into_missing_directory(pki: LabPKI, tmp_path: Path) -> None:
    manifest = pki.write(tmp_path / "a" / "b")
    assert manifest.is_file()


# --- pki.issue building blocks -------------------------------------------------------------

def test_issue_options() -> None:
    root = issue.CA.new("t root", at=AT)
    child = root.child_ca("t inter", at=AT, pathlen=3, eku=(CLIENT_AUTH,))
    assert ext(child.cert, ExtensionOID.BASIC_CONSTRAINTS).path_length == 3
    assert eku(child.cert) == [CLIENT_AUTH]
    leaf = child.issue("t leaf", at=AT, eku=None, key_usage=(), sans=("a.test", "::1",
                                                                       "u@a.test"))
    assert eku(leaf.cert) is None and ext(leaf.cert, ExtensionOID.KEY_USAGE) is None
    san = ext(leaf.cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert san.get_values_for_type(x509.RFC822Name) == ["u@a.test"]
    assert leaf.cert.not_valid_before_utc == AT - issue.BACKDATE
    assert leaf.cert.not_valid_after_utc == AT + issue.LEAF_LIFETIME
    assert root.cert.not_valid_after_utc == AT + issue.CA_LIFETIME
    rsa_leaf = root.issue("t rsa", at=AT, key_type="rsa")
    assert ext(rsa_leaf.cert, ExtensionOID.KEY_USAGE).key_encipherment
    with pytest.raises(ValueError):
        root.issue("bad", at=AT, not_before=timedelta(days=2), not_after=timedelta(days=1))
    with pytest.raises(ValueError):
        root.issue("bad", at=AT, eku=())
    with pytest.raises(ValueError):
        root.issue("bad", at=AT, key_usage=("sign_everything",))
    with pytest.raises(ValueError):
        issue.new_key("dsa")
    with pytest.raises(ValueError):
        issue.CA.new("naive", at=datetime(2026, 1, 1))


@settings(max_examples=25, deadline=None)
@given(start=st.integers(-10**6, 10**6), length=st.integers(1, 10**7),
       shift=st.integers(-86400 * 3650, 86400 * 3650))
def test_issue_validity_is_exactly_at_plus_offsets(start: int, length: int, shift: int) -> None:
    at = AT + timedelta(seconds=shift)
    root = _ROOT
    leaf = root.issue("w", at=at, not_before=timedelta(seconds=start),
                      not_after=timedelta(seconds=start + length))
    assert leaf.cert.not_valid_before_utc == at + timedelta(seconds=start)
    assert leaf.cert.not_valid_after_utc == at + timedelta(seconds=start + length)
    crl = root.crl(at=at, revoked=(7,), this_update=timedelta(seconds=start),
                   next_update=timedelta(seconds=start + length))
    assert crl.last_update_utc == at + timedelta(seconds=start)
    assert crl.next_update_utc == at + timedelta(seconds=start + length)
    assert crl.get_revoked_certificate_by_serial_number(7).revocation_date_utc == (
        at + timedelta(seconds=start))


_ROOT = issue.CA.new("hypothesis root", at=AT)


def test_self_signed_leaf() -> None:
    leaf = issue.self_signed("me", at=AT, key_type="rsa")
    assert leaf.cert.issuer == leaf.cert.subject
    assert aki(leaf.cert) == ski(leaf.cert)
    assert ext(leaf.cert, ExtensionOID.BASIC_CONSTRAINTS).ca is False
    leaf.cert.verify_directly_issued_by(leaf.cert)


# --- independent cross-checks with the system openssl CLI -------------------------------------

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")


def openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


def verify(lab_dir: Path, leaf: str, *extra: str, untrusted: str = "ca/inter.pem",
           cafile: str = "ca/root.pem") -> tuple[bool, int | None]:
    """Run ``openssl verify -purpose sslclient`` at the lab time: (ok, error code or None)."""
    args = ["verify", "-purpose", "sslclient", "-attime", str(int(AT.timestamp())),
            "-CAfile", cafile]
    if untrusted:
        args += ["-untrusted", untrusted]
    result = openssl(*args, *extra, leaf, cwd=lab_dir)
    out = result.stdout + result.stderr
    match = re.search(r"error (\d+) at \d+ depth", out)
    ok = result.returncode == 0 and f"{leaf}: OK" in out
    return ok, int(match.group(1)) if match else None


@needs_openssl
@pytest.mark.parametrize("client", ["good", "no-eku", "root-direct", "revoked"])
def test_openssl_accepts(lab_dir: Path, client: str) -> None:
    assert verify(lab_dir, f"clients/{client}.pem") == (True, None)
    assert verify(lab_dir, f"clients/{client}.pem",
                  untrusted=f"clients/{client}-chain.pem") == (True, None)


@needs_openssl
@pytest.mark.parametrize("client, code", [
    ("server-eku", 26),     # F6.3: EKU without clientAuth
    ("expired", 10),        # F4.2
    ("not-yet-valid", 9),
    ("foreign", 20),        # openssl verify says 20; nginx logs 21 for the same leaf (F4.2)
    ("self-signed", 18),    # F2.3
])
def test_openssl_rejects(lab_dir: Path, client: str, code: int) -> None:
    assert verify(lab_dir, f"clients/{client}.pem") == (False, code)


@needs_openssl
def test_openssl_depth(lab_dir: Path) -> None:
    # F3.2/F3.3: depth counts intermediates; two need -verify_depth 2, depth 1 gives 22.
    chain = "clients/deep-chain.pem"
    assert verify(lab_dir, "clients/deep.pem", "-verify_depth", "2", untrusted=chain) == (
        True, None)
    assert verify(lab_dir, "clients/deep.pem", "-verify_depth", "1", untrusted=chain) == (
        False, 22)
    assert verify(lab_dir, "clients/good.pem", "-verify_depth", "0") == (False, 22)
    assert verify(lab_dir, "clients/root-direct.pem", "-verify_depth", "0") == (True, None)


@needs_openssl
def test_openssl_trust_anchor_required(lab_dir: Path) -> None:
    # F3.4: the intermediate alone is no trust anchor (no partial chains) -> 2.
    assert verify(lab_dir, "clients/good.pem", cafile="ca/inter.pem", untrusted="") == (
        False, 2)
    assert verify(lab_dir, "clients/good.pem", cafile="bundles/client-ca.pem",
                  untrusted="") == (True, None)
    assert verify(lab_dir, "clients/deep.pem", "-verify_depth", "2",
                  cafile="bundles/client-ca-all.pem", untrusted="") == (True, None)


@needs_openssl
def test_openssl_crl_checks(lab_dir: Path, tmp_path: Path) -> None:
    crl_all = ["-crl_check_all", "-CRLfile", "bundles/crl-all.pem"]
    assert verify(lab_dir, "clients/revoked.pem", *crl_all) == (False, 23)  # F6.1 -> 23
    assert verify(lab_dir, "clients/good.pem", *crl_all) == (True, None)
    assert verify(lab_dir, "clients/deep.pem", "-verify_depth", "2", *crl_all,
                  untrusted="clients/deep-chain.pem") == (True, None)
    # F6.1: a CRL for every CA in the chain, the root included -> else 3.
    assert verify(lab_dir, "clients/good.pem", "-crl_check_all", "-CRLfile",
                  "crl/inter.crl.pem") == (False, 3)
    # F6.1: an expired CRL fails every client with 12.
    expired = tmp_path / "expired-bundle.pem"
    expired.write_bytes((lab_dir / "crl/root.crl.pem").read_bytes()
                        + (lab_dir / "crl/inter-expired.crl.pem").read_bytes())
    assert verify(lab_dir, "clients/good.pem", "-crl_check_all", "-CRLfile",
                  str(expired)) == (False, 12)


@needs_openssl
@pytest.mark.parametrize("name", CRLS)
def test_openssl_reads_every_crl(pki: LabPKI, lab_dir: Path, name: str) -> None:
    path = f"crl/{name}.crl.pem"
    text = openssl("crl", "-noout", "-text", "-in", path, cwd=lab_dir)
    assert text.returncode == 0, text.stderr
    assert "X509v3 CRL Number" in text.stdout
    assert "X509v3 Authority Key Identifier" in text.stdout
    signed = openssl("crl", "-noout", "-in", path, "-CAfile",
                     f"ca/{pki.crls[name].issuer}.pem", cwd=lab_dir)
    assert signed.returncode == 0 and "verify OK" in signed.stdout + signed.stderr


@needs_openssl
@pytest.mark.parametrize("client", CLIENTS)
def test_openssl_reads_pkcs12(pki: LabPKI, lab_dir: Path, client: str) -> None:
    # PBES2/AES-256 + SHA-256 MAC: OpenSSL 3 reads it without -legacy.
    result = openssl("pkcs12", "-info", "-nokeys", "-passin", "pass:lab", "-in",
                     f"clients/{client}.p12", cwd=lab_dir)
    assert result.returncode == 0, result.stderr
    certs = x509.load_pem_x509_certificates(result.stdout.encode())
    assert certs[0] == pki.clients[client].cert
    assert set(certs[1:]) == set(pki.clients[client].chain)
    wrong = openssl("pkcs12", "-info", "-nokeys", "-passin", "pass:nope", "-in",
                    f"clients/{client}.p12", cwd=lab_dir)
    assert wrong.returncode != 0


@needs_openssl
def test_openssl_server_certificate(lab_dir: Path) -> None:
    ok = openssl("verify", "-purpose", "sslserver", "-attime", str(int(AT.timestamp())),
                 "-CAfile", "ca/root.pem", "server/server.pem", cwd=lab_dir)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for check in (["-checkhost", "localhost"], ["-checkhost", "mtls.example.test"],
                  ["-checkip", "127.0.0.1"]):
        out = openssl("x509", "-noout", "-in", "server/server.pem", *check, cwd=lab_dir)
        assert "does match" in out.stdout and "NOT" not in out.stdout, out.stdout
    as_client = verify(lab_dir, "server/server.pem", untrusted="")
    assert as_client == (False, 26)  # a serverAuth-only leaf is no client certificate (F6.3)


@needs_openssl
@pytest.mark.parametrize("name", ["server/server", "clients/good", "ca/inter"])
def test_openssl_key_matches_certificate(lab_dir: Path, name: str) -> None:
    from_cert = openssl("x509", "-noout", "-pubkey", "-in", f"{name}.pem", cwd=lab_dir)
    from_key = openssl("pkey", "-pubout", "-in", f"{name}.key", cwd=lab_dir)
    assert from_cert.returncode == 0 and from_key.returncode == 0
    assert from_cert.stdout == from_key.stdout


# --- a real TLS handshake with the system OpenSSL (stdlib ssl, in memory, no sockets) ----------

@pytest.fixture(scope="module")
def live_lab_dir(pki: LabPKI, tmp_path_factory) -> Path:
    """A lab built at the real current time: a TLS stack checks validity against its clock."""
    live = build_lab_pki(datetime.now(timezone.utc), key_type=pki.key_type)
    directory = tmp_path_factory.mktemp(f"live-{pki.key_type}") / "lab"
    live.write(directory)
    return directory


def _handshake(lab_dir: Path, client: str | None, crl: str | None = None) -> tuple[bool, str]:
    """Server requires a client certificate (root + inter trusted); returns (ok, detail).

    ``crl`` loads that CRL file with CRL_CHECK|CRL_CHECK_ALL, the flags of nginx's ssl_crl
    (F6.1). Unlike nginx (whose verify callback always returns 1), this server aborts the
    handshake on the first verify error, so the error is OpenSSL's first, not its last.
    """
    import ssl

    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(lab_dir / "server/server.pem", lab_dir / "server/server.key")
    server.load_verify_locations(lab_dir / "bundles/client-ca.pem")
    server.verify_mode = ssl.CERT_REQUIRED
    if crl:
        server.load_verify_locations(lab_dir / crl)
        server.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(lab_dir / "ca/root.pem")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the server judges inside the handshake
    if client:
        ctx.load_cert_chain(lab_dir / f"clients/{client}-chain.pem",
                            lab_dir / f"clients/{client}.key")
    bios = [ssl.MemoryBIO() for _ in range(4)]
    s_side = server.wrap_bio(bios[0], bios[1], server_side=True)
    c_side = ctx.wrap_bio(bios[2], bios[3], server_hostname="localhost")
    done = {"c": False, "s": False}
    for _ in range(20):  # bounded: a TLS 1.2 handshake needs 2 round trips
        for key, side in (("c", c_side), ("s", s_side)):
            if done[key]:
                continue
            try:
                side.do_handshake()
                done[key] = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as error:
                return False, f"{key}: {error}"
        bios[0].write(bios[3].read())  # client -> server
        bios[2].write(bios[1].read())  # server -> client
        if all(done.values()):
            peer = s_side.getpeercert()
            return True, dict(x[0] for x in peer["subject"])["commonName"]
    return False, "no progress"


@pytest.mark.parametrize("client, crl, expected", [
    ("good", None, "lab client good"),
    ("no-eku", None, "lab client no-eku"),            # F6.3: no EKU is fine
    ("root-direct", None, "lab client root-direct"),
    ("server-eku", None, "unsuitable certificate purpose"),  # F6.3
    ("expired", None, "certificate has expired"),
    ("not-yet-valid", None, "certificate is not yet valid"),
    ("foreign", None, "unable to get local issuer certificate"),
    ("self-signed", None, "self-signed certificate"),
    (None, None, "peer did not return a certificate"),
    ("good", "bundles/crl-all.pem", "lab client good"),
    ("revoked", None, "lab client revoked"),
    ("revoked", "bundles/crl-all.pem", "certificate revoked"),  # F6.1 -> 23
    ("good", "crl/inter.crl.pem", "unable to get certificate CRL"),  # F6.1: root CRL missing
])
def test_tls_handshake_with_system_openssl(live_lab_dir: Path, client: str | None,
                                           crl: str | None, expected: str) -> None:
    ok, detail = _handshake(live_lab_dir, client, crl)
    assert ok is expected.startswith("lab client"), detail
    assert expected in detail
