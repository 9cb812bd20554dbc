"""The tolerant loader: every format loads, every broken input becomes a Problem."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from mtls_doctor.model import InputError
from mtls_doctor.pki import load as L
from mtls_doctor.pki.load import MAX_BYTES, load_bytes, load_path

from tests.pki.certs import cat, pki


def kinds(bundle):
    return [p.kind for p in bundle.problems]


def subjects(bundle):
    return [c.subject.rfc4514_string() for c in bundle.certificates]


CHAIN = ["CN=client one,O=Test Org", "CN=Test Client CA,O=Test Org", "CN=Test Root CA,O=Test Org"]


def chain_pem() -> bytes:
    p = pki()
    return cat(p.leaf.pem, p.inter.pem, p.root.pem)


def test_pem_chain_with_text_around_loads_in_file_order():
    p = pki()
    data = cat(b"Bag Attributes\nsubject=whatever\n", p.leaf.pem, b"\nsome words\n\n",
               p.inter.pem, p.root.pem, b"trailing text")
    b = load_bytes(data, "chain.pem")
    assert b.format == "pem"
    assert subjects(b) == CHAIN
    assert b.problems == ()
    assert b.cert_lines[0] == 3


def test_crlf_loads_and_is_reported():
    data = chain_pem().replace(b"\n", b"\r\n")
    b = load_bytes(data, "crlf.pem")
    assert subjects(b) == CHAIN
    assert kinds(b) == [L.CRLF]


def test_missing_newline_between_end_and_begin_loads_and_is_reported():
    p = pki()
    data = p.leaf.pem.rstrip(b"\n") + p.inter.pem
    b = load_bytes(data, "joined.pem")
    assert subjects(b) == CHAIN[:2]
    assert kinds(b) == [L.MISSING_NEWLINE]
    assert "bad end line" in b.problems[0].message
    assert b.problems[0].line == p.leaf.pem.count(b"\n")


def test_text_before_begin_on_same_line_is_reported():
    p = pki()
    b = load_bytes(p.leaf.pem + b"junk" + p.inter.pem, "x.pem")
    assert subjects(b) == CHAIN[:2]
    assert kinds(b) == [L.MISSING_NEWLINE]
    assert "does not see this block" in b.problems[0].message


def test_der_single_and_concatenated():
    p = pki()
    b = load_bytes(p.leaf.der, "leaf.der")
    assert (b.format, subjects(b), kinds(b)) == ("der", CHAIN[:1], [L.NOT_PEM])
    b = load_bytes(p.leaf.der + p.inter.der, "two.der")
    assert subjects(b) == CHAIN[:2]


def test_pkcs7_pem_and_der():
    p = pki()
    certs = [p.leaf.cert, p.inter.cert, p.root.cert]
    der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    pem = pkcs7.serialize_certificates(certs, serialization.Encoding.PEM)
    b = load_bytes(der, "c.p7b")
    assert b.format == "pkcs7" and sorted(subjects(b)) == sorted(CHAIN)
    b = load_bytes(pem, "c.p7c")
    assert b.format == "pkcs7" and sorted(subjects(b)) == sorted(CHAIN) and b.problems == ()


def _p12(password: bytes | None) -> bytes:
    p = pki()
    enc = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"client", p.leaf.key, p.leaf.cert, [p.inter.cert], enc
    )


def test_pkcs12_with_password_keeps_only_public_key_facts():
    b = load_bytes(_p12(b"s3cret"), "c.p12", password=b"s3cret")
    assert b.format == "pkcs12"
    assert subjects(b) == CHAIN[:2]
    assert [(k.type, k.bits, k.container) for k in b.keys] == [("EC", 256, "pkcs12")]
    assert b.problems == ()
    assert not hasattr(b.keys[0], "private_key")


def test_pkcs12_without_or_with_wrong_password_is_a_problem():
    for pw in (None, b"wrong"):
        b = load_bytes(_p12(b"s3cret"), "c.p12", password=pw)
        assert b.certificates == ()
        assert kinds(b) == [L.PKCS12_UNREADABLE]
    assert subjects(load_bytes(_p12(None), "open.p12")) == CHAIN[:2]


def test_crls_pem_and_der():
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from tests.pki.certs import AT

    p = pki()
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(p.inter.cert.subject)
        .last_update(AT)
        .next_update(AT + timedelta(days=7))
        .sign(p.inter.key, hashes.SHA256())
    )
    pem = crl.public_bytes(serialization.Encoding.PEM)
    der = crl.public_bytes(serialization.Encoding.DER)
    assert len(load_bytes(pem, "c.crl").crls) == 1
    assert len(load_bytes(der, "c.der").crls) == 1
    mixed = load_bytes(p.root.pem + pem, "mixed.pem")
    assert len(mixed.crls) == 1 and len(mixed.certificates) == 1


@pytest.mark.parametrize("fmt", ["pkcs8", "trad"])
def test_private_key_is_described_never_kept(fmt):
    p = pki()
    key_pem = p.leaf.key_pem(fmt)
    b = load_bytes(p.root.pem + key_pem, "bundle.pem")
    assert len(b.certificates) == 1
    (k,) = b.keys
    assert (k.type, k.bits, k.container, k.line) == ("EC", 256, "pem", p.root.pem.count(b"\n") + 1)
    text = repr(b) + repr(b.problems)
    body = [ln for ln in key_pem.decode().splitlines() if not ln.startswith("-----")]
    assert not any(line in text for line in body)


def test_encrypted_key_detected():
    p = pki()
    enc = p.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    b = load_bytes(enc, "k.pem")
    assert [k.type for k in b.keys] == ["encrypted"]


def test_empty_and_whitespace():
    for data in (b"", b"  \n\n\t"):
        b = load_bytes(data, "e.pem")
        assert kinds(b) == [L.EMPTY] and not b.usable


def test_truncated_block():
    pem = chain_pem()
    cut = pem[: pem.index(b"-----END CERTIFICATE-----", 200) - 80]
    b = load_bytes(cut + pki().root.pem, "t.pem")
    assert L.TRUNCATED in kinds(b)
    assert subjects(b) == CHAIN[2:]


def test_truncated_inside_end_kept():
    pem = pki().leaf.pem
    lines = pem.split(b"\n")
    cut = b"\n".join(lines[:3] + lines[-2:])  # BEGIN, 2 lines, END
    b = load_bytes(cut, "cut.pem")
    assert kinds(b) in ([L.CORRUPT], [L.BAD_BASE64])
    assert not b.certificates


def test_base64_garbage():
    b = load_bytes(b"-----BEGIN CERTIFICATE-----\nnot*base64!!\n-----END CERTIFICATE-----\n", "g")
    assert kinds(b) == [L.BAD_BASE64]
    b = load_bytes(b"-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n", "g")
    assert kinds(b) == [L.CORRUPT]


def test_text_and_binary_that_are_not_certificates():
    assert kinds(load_bytes(b"hello world\nthis is text\n", "t")) == [L.NOT_CERTIFICATE]
    assert kinds(load_bytes(os.urandom(64) + b"\x00\xff", "b")) == [L.BINARY]
    csr = b"-----BEGIN CERTIFICATE REQUEST-----\nQUJD\n-----END CERTIFICATE REQUEST-----\n"
    assert kinds(load_bytes(csr, "c")) == [L.UNSUPPORTED_BLOCK]


def test_bare_base64_certificate_is_loaded_and_reported():
    b64 = base64.encodebytes(pki().leaf.der)
    b = load_bytes(b64, "nopem.txt")
    assert subjects(b) == CHAIN[:1] and kinds(b) == [L.NOT_PEM]


def test_truncated_der():
    der = pki().leaf.der
    b = load_bytes(der[:-10], "cut.der")
    assert kinds(b) == [L.CORRUPT] and "truncated" in b.problems[0].message


def test_load_path_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_path(tmp_path / "missing.pem")
    with pytest.raises(InputError, match="is a directory"):
        load_path(tmp_path)
    big = tmp_path / "big.pem"
    with big.open("wb") as fh:
        fh.truncate(MAX_BYTES + 1)
    with pytest.raises(InputError, match="too big"):
        load_path(big)
    with pytest.raises(InputError, match="too big"):
        load_bytes(b"\0" * (MAX_BYTES + 1), "x")


def test_load_path_reads_file(tmp_path):
    f = tmp_path / "chain.pem"
    f.write_bytes(chain_pem())
    b = load_path(f)
    assert b.source == str(f) and subjects(b) == CHAIN


@pytest.mark.parametrize(
    "unit",
    [
        b"-----BEGIN CERTIFICATE-----\n",  # BEGIN lines without END
        b"-----BEGIN CERTIFICATE-----",  # all on one line
        b"-----BEGIN X-----\n-----END X-----\n",  # empty blocks
    ],
)
def test_hostile_block_floods_are_capped(unit):
    b = load_bytes(unit * 30_000, "flood.pem")
    assert len(b.problems) <= L.MAX_PROBLEMS + 2
    assert L.TOO_MANY_BLOCKS in kinds(b)
    assert b.problems[-1].message.startswith("... and ")


def test_pkcs12_with_absurd_iteration_count_is_refused_not_run():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import PrivateFormat

    p = pki()
    enc = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(0x010000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pw")
    )
    der = pkcs12.serialize_key_and_certificates(b"c", p.leaf.key, p.leaf.cert, None, enc)
    assert L._max_iterations(der) == 0x010000
    hostile = der.replace(b"\x02\x03\x01\x00\x00", b"\x02\x03\x7f\xff\xff")
    assert L._max_iterations(hostile) == 0x7FFFFF
    b = load_bytes(hostile, "hostile.p12", b"pw")
    assert kinds(b) == [L.PKCS12_UNREADABLE] and "iterations" in b.problems[0].message
