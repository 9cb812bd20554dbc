"""The bundle rules on the lab PKI (mtls_doctor.lab.pki, helper B's API): each broken lab
client or CA file is judged as the facts sheet predicts, and the good ones are clean."""

from __future__ import annotations

import pytest

from tests.pki.certs import AT

lab = pytest.importorskip("mtls_doctor.lab.pki")

from mtls_doctor.pki.load import load_bytes  # noqa: E402
from mtls_doctor.rules.bundle import check  # noqa: E402


@pytest.fixture(scope="module")
def pki():
    return lab.build_lab_pki(AT)


def codes(data: bytes, role: str) -> set[str]:
    return {f.rule for f in check(load_bytes(data, "lab.pem"), role, AT)}


def test_ca_files(pki):
    assert codes(pki.pem("root", "inter"), "ca") == set()
    assert codes(pki.pem("root", "deep1", "deep2"), "ca") == set()
    assert "MTLS103" in codes(pki.pem("inter"), "ca")  # F3.4: intermediate without its root
    assert "MTLS102" in codes(pki.pem("root") + pki.clients["good"].cert_pem, "ca")


@pytest.mark.parametrize(
    "client,expected",
    [
        ("good", set()),
        ("deep", set()),
        ("no-eku", set()),
        ("server-eku", {"MTLS112"}),
        ("expired", {"MTLS104"}),
        ("not-yet-valid", {"MTLS105"}),
    ],
)
def test_client_chains(pki, client, expected):
    assert codes(pki.clients[client].chain_pem, "client") == expected


def test_key_pasted_into_ca_file_is_critical(pki):
    data = pki.pem("root", "inter") + pki.clients["good"].key_pem
    findings = check(load_bytes(data, "ca.pem"), "ca", AT)
    assert [(f.rule, f.severity.value) for f in findings] == [("MTLS101", "critical")]
