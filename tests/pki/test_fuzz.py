"""Property: the loader returns a Bundle for any bytes; it never raises (except InputError).

The tests call the parser below ``load_bytes``'s last-resort ``except Exception`` net, so a
parser bug shows up here as a failure instead of being turned into a Problem.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.model import InputError
import warnings

from mtls_doctor.pki import load as L
from mtls_doctor.pki.load import Bundle

from tests.pki.certs import pki

_PEM = pki().leaf.pem + pki().inter.pem
_DER = pki().leaf.der


def _ok(data: bytes, password=None) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b = L._load(data, "fuzz", password)
    except InputError:
        return
    assert isinstance(b, Bundle)
    assert b.usable or b.problems, "unusable input must say why"
    assert len(b.cert_lines) == len(b.certificates)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    _ok(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_pem(data):
    pem = bytearray(_PEM)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        i = data.draw(st.integers(0, max(0, len(pem) - 1)))
        if op == "flip" and pem:
            pem[i] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del pem[i:]
        elif op == "insert":
            pem[i:i] = data.draw(st.sampled_from([b"\r", b"\n", b"-----BEGIN CERTIFICATE-----",
                                                  b"-----END CERTIFICATE-----", b"\x00", b"=="]))
        elif op == "delete" and pem:
            del pem[i : i + data.draw(st.integers(1, 64))]
    _ok(bytes(pem))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(_DER)), st.binary(max_size=16))
def test_mutated_der(cut, tail):
    _ok(_DER[:cut] + tail)
    _ok(b"\x30\x82\xff\xff" + tail)
    _ok(b"\x30\x82\x01\x00\x02\x01\x03" + tail, password=b"x")
