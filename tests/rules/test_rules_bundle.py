"""MTLS1xx fixtures: each bundle rule fires on its case and stays quiet on a close ok case.

Each case's input builds ``{"data": bytes, "role": str}``; everything is judged at ``AT``.
"""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from mtls_doctor.model import Severity
from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules import bundle as bundle_rules

from tests.pki.certs import ANY_EKU, AT, CLIENT_AUTH, DAY, SERVER_AUTH, make, pki, rsa_key, weak_signed
from tests.rules.cases import RuleCase


def ca(*made) -> dict:
    return {"data": b"".join(m.pem for m in made), "role": "ca"}


def chain(*made, role: str = "client") -> dict:
    return {"data": b"".join(m.pem for m in made), "role": role}


def _rsa_root():
    return make("RSA Root", ca=True, key=rsa_key(2048, 1))


def crl_file(this_update, next_update, issuer=None) -> dict:
    """A PEM CRL of ``issuer`` (default the test intermediate), times relative to ``AT``."""
    issuer = issuer or pki().inter
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(AT + this_update)
        .next_update(AT + next_update)
        .sign(issuer.key, hashes.SHA256())
    )
    return {"data": crl.public_bytes(serialization.Encoding.PEM), "role": "any"}


def _p12_with_key() -> dict:
    p = pki()
    data = pkcs12.serialize_key_and_certificates(
        b"c", p.leaf.key, p.leaf.cert, [p.inter.cert], serialization.NoEncryption()
    )
    return {"data": data, "role": "client"}


CASES = [
    RuleCase(  # key pasted after the root
        "MTLS101", "fire", "key_in_ca_file",
        lambda: {"data": pki().root.pem + pki().leaf.key_pem(), "role": "ca"},
    ),
    RuleCase("MTLS101", "ok", "ok_key_inside_pkcs12", _p12_with_key),
    # a key file on its own (`inspect cert.pem cert.key`) is not a key in a certificate file
    RuleCase("MTLS101", "ok", "ok_key_file_alone", lambda: {"data": pki().leaf.key_pem(), "role": "any"}),
    RuleCase("MTLS102", "fire", "leaf_in_ca_file", lambda: ca(pki().root, pki().leaf)),
    RuleCase("MTLS102", "ok", "ok_root_and_inter", lambda: ca(pki().root, pki().inter)),
    RuleCase("MTLS103", "fire", "only_intermediate", lambda: ca(pki().inter)),  # no root
    RuleCase("MTLS103", "ok", "ok_inter_with_root", lambda: ca(pki().inter, pki().root)),
    RuleCase(  # expired yesterday
        "MTLS104", "fire", "expired",
        lambda: chain(make("old", pki().inter, not_before=-400 * DAY, not_after=-DAY)),
    ),
    RuleCase(
        "MTLS104", "ok", "ok_last_day", lambda: chain(make("late", pki().inter, not_after=DAY / 2))
    ),
    RuleCase(  # starts tomorrow
        "MTLS105", "fire", "future", lambda: chain(make("new", pki().inter, not_before=DAY))
    ),
    RuleCase(
        "MTLS105", "ok", "ok_started", lambda: chain(make("now", pki().inter, not_before=-DAY / 24))
    ),
    RuleCase(  # 29 days left
        "MTLS106", "fire", "29_days", lambda: chain(make("soon", pki().inter, not_after=29 * DAY))
    ),
    RuleCase(
        "MTLS106", "ok", "ok_31_days", lambda: chain(make("later", pki().inter, not_after=31 * DAY))
    ),
    RuleCase("MTLS107", "fire", "root_twice", lambda: ca(pki().root, pki().inter, pki().root)),
    RuleCase("MTLS107", "ok", "ok_each_once", lambda: ca(pki().root, pki().inter)),
    RuleCase(  # CA with a server-style keyUsage
        "MTLS108", "fire", "ca_digital_signature_only",
        lambda: ca(pki().root, make("Bad CA", pki().root, ca=True,
                                    key_usage={"key_cert_sign": False, "crl_sign": False,
                                               "digital_signature": True})),
    ),
    RuleCase(
        "MTLS108", "ok", "ok_ca_keycertsign",
        lambda: ca(pki().root, make("Good CA", pki().root, ca=True)),
    ),
    RuleCase(  # anyExtendedKeyUsage does not help (F6.3)
        "MTLS109", "fire", "ca_eku_server_any",
        lambda: ca(pki().root, make("Srv CA", pki().root, ca=True, eku=[SERVER_AUTH, ANY_EKU])),
    ),
    RuleCase(
        "MTLS109", "ok", "ok_ca_eku_with_clientauth",
        lambda: ca(pki().root, make("Both CA", pki().root, ca=True, eku=[SERVER_AUTH, CLIENT_AUTH])),
    ),
    RuleCase(  # 1024-bit RSA client
        "MTLS110", "fire", "rsa_1024",
        lambda: chain(make("weak", pki().inter, eku=[CLIENT_AUTH], key=rsa_key(1024))),
    ),
    RuleCase(
        "MTLS110", "ok", "ok_rsa_2048",
        lambda: chain(make("strong", pki().inter, eku=[CLIENT_AUTH], key=rsa_key(2048, 2))),
    ),
    RuleCase(  # SHA-1 signed leaf
        "MTLS111", "fire", "sha1_leaf", lambda: chain(weak_signed("sha1 leaf", _rsa_root()))
    ),
    RuleCase(  # MD5 too
        "MTLS111", "fire", "md5_leaf", lambda: chain(weak_signed("md5 leaf", _rsa_root(), "md5"))
    ),
    RuleCase(  # a SHA-1 self-signed trust anchor: OpenSSL never checks its signature
        "MTLS111", "ok", "ok_sha1_self_signed_root",
        lambda: ca(weak_signed("Old Root", None, ca=True, key=rsa_key(2048, 3))),
    ),
    RuleCase(  # server certificate used as a client certificate
        "MTLS112", "fire", "server_eku",
        lambda: chain(make("srv", pki().inter, eku=[SERVER_AUTH]), pki().inter),
    ),
    RuleCase(  # no EKU at all passes OpenSSL's ssl_client purpose (F6.3)
        "MTLS112", "ok", "ok_no_eku", lambda: chain(make("plain", pki().inter), pki().inter)
    ),
    RuleCase(  # intermediate pasted above the client certificate
        "MTLS113", "fire", "inter_first", lambda: chain(pki().inter, pki().leaf)
    ),
    RuleCase("MTLS113", "ok", "ok_leaf_first", lambda: chain(pki().leaf, pki().inter)),
    RuleCase(  # root before the intermediate
        "MTLS114", "fire", "root_before_inter",
        lambda: chain(pki().leaf, pki().root, pki().inter),
    ),
    RuleCase(  # the full path in order, root included
        "MTLS114", "ok", "ok_full_path", lambda: chain(pki().leaf, pki().inter, pki().root)
    ),
    RuleCase(  # nextUpdate an hour ago
        "MTLS115", "fire", "crl_expired", lambda: crl_file(-8 * DAY, -DAY / 24)
    ),
    RuleCase("MTLS115", "ok", "ok_crl_one_hour_left", lambda: crl_file(-8 * DAY, DAY / 24)),
    RuleCase(  # the stale CRL left next to the current one: OpenSSL uses the current one
        "MTLS115", "ok", "ok_stale_crl_beside_current",
        lambda: {"data": crl_file(-8 * DAY, -DAY)["data"] + crl_file(-DAY, 6 * DAY)["data"],
                 "role": "any"},
    ),
    RuleCase(  # thisUpdate an hour ahead (a CA clock running fast)
        "MTLS116", "fire", "crl_future", lambda: crl_file(DAY / 24, 7 * DAY)
    ),
    RuleCase("MTLS116", "ok", "ok_crl_issued_an_hour_ago", lambda: crl_file(-DAY / 24, 7 * DAY)),
    RuleCase(  # 47 hours left
        "MTLS117", "fire", "crl_47_hours", lambda: crl_file(-5 * DAY, 2 * DAY - DAY / 24)
    ),
    RuleCase("MTLS117", "ok", "ok_crl_49_hours", lambda: crl_file(-5 * DAY, 2 * DAY + DAY / 24)),
]


def findings_for(spec: dict):
    bundle = load_bytes(spec["data"], "case.pem", spec.get("password"))
    return bundle_rules.check(bundle, spec["role"], AT)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{c.kind}-{c.id}")
def test_case(case):
    codes = {f.rule for f in findings_for(case.input())}
    if case.kind == "fire":
        assert case.code in codes
    else:
        assert case.code not in codes, codes


def test_good_pki_is_clean_in_every_role():
    p = pki()
    assert findings_for(ca(p.root, p.inter)) == ()
    assert findings_for(chain(p.leaf, p.inter)) == ()
    assert findings_for(chain(p.server, role="server")) == ()


def test_private_key_severity_and_location():
    p = pki()
    data = p.root.pem + p.leaf.key_pem()
    (f,) = findings_for({"data": data, "role": "ca"})
    assert (f.rule, f.severity) == ("MTLS101", Severity.CRITICAL)
    key_line = p.root.pem.count(b"\n") + 1
    assert str(f.location) == f"case.pem:{key_line}"
    (f,) = findings_for({"data": data, "role": "any"})
    assert f.severity == Severity.CRITICAL
    (f,) = findings_for({"data": p.leaf.pem + p.leaf.key_pem(), "role": "server"})
    assert f.severity == Severity.WARNING


def test_locations_are_path_index():
    p = pki()
    fs = findings_for(ca(p.root, p.leaf))
    assert [str(f.location) for f in fs] == ["case.pem#1"]


def test_missing_root_message_names_the_root():
    (f,) = findings_for(ca(pki().inter))
    assert "CN=Test Root CA,O=Test Org" in f.message and "error 2" in f.message


def test_infer_role():
    p = pki()
    assert bundle_rules.infer_role(load_bytes(p.root.pem + p.inter.pem, "x")) == "ca"
    assert bundle_rules.infer_role(load_bytes(p.leaf.pem + p.inter.pem, "x")) == "any"


def test_unknown_role_is_a_bug():
    with pytest.raises(ValueError):
        bundle_rules.check(load_bytes(pki().root.pem, "x"), "nginx", AT)


def test_crl_findings_point_at_the_crl_index():
    good, old = crl_file(-DAY, 7 * DAY), crl_file(-8 * DAY, -DAY, pki().root)
    fs = findings_for({"data": pki().root.pem + good["data"] + old["data"], "role": "ca"})
    assert [(f.rule, str(f.location)) for f in fs] == [("MTLS115", "case.pem#1")]
    assert "error 12" in fs[0].message and "CN=Test Root CA,O=Test Org" in fs[0].message
    (f,) = findings_for(crl_file(DAY, 7 * DAY))
    assert f.rule == "MTLS116" and "error 11" in f.message
