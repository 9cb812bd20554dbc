"""The wire parser alone: hostile bytes never raise anything but WireError (or nothing at all),
and a CertificateRequest built by hand per RFC 5246 / RFC 8446 reads back exactly."""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.probe import wire


def u16(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


NAME = x509.Name([
    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test, Org"),
    x509.NameAttribute(NameOID.COMMON_NAME, "Jos\u00e9 Root"),
])


def test_tls12_certificate_request_reads_back():
    der = NAME.public_bytes()
    body = (bytes([2, 1, 64]) + u16(bytes.fromhex("04030804")) + u16(u16(der)))
    parsed = wire.parse_certificate_request(body, tls13=False)
    assert parsed.certificate_types == ("rsa_sign", "ecdsa_sign")
    assert parsed.signature_algorithms == ("ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256")
    assert [wire.dn_to_rfc4514(n) for n in parsed.ca_names_der] == [NAME.rfc4514_string()]


def test_tls13_certificate_request_without_names_is_an_empty_list():
    sigalgs = (13).to_bytes(2, "big") + u16(u16(bytes.fromhex("0807")))
    body = b"\x00" + u16(sigalgs)
    parsed = wire.parse_certificate_request(body, tls13=True)
    assert parsed.ca_names_der == () and parsed.signature_algorithms == ("ed25519",)
    assert parsed.certificate_types is None


def test_empty_tls12_list_is_empty_not_absent():
    body = bytes([1, 1]) + u16(bytes.fromhex("0401")) + u16(b"")
    assert wire.parse_certificate_request(body, tls13=False).ca_names_der == ()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_flight_never_raises(data):
    for blob in (data, b"\x16\x03\x03" + data, b"\x16\x03\x03\x00\x30\x02" + data):
        result = wire.flight(blob, b"\x00" * 32)
        assert isinstance(result, wire.ServerFlight)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.booleans())
def test_message_parsers_raise_only_wire_error(data, tls13):
    for parse in (wire.parse_certificate_request, wire.certificate_count):
        try:
            parse(data, tls13)
        except wire.WireError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_dn_to_rfc4514_always_gives_text(data):
    text = wire.dn_to_rfc4514(b"\x30" + bytes([len(data) % 128]) + data)
    assert isinstance(text, str)
