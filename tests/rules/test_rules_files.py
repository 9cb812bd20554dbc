"""MTLS0xx fixtures: each file rule fires on its broken input and stays quiet on a close one."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from mtls_doctor.pki.load import load_bytes
from mtls_doctor.rules import bundle as bundle_rules
from mtls_doctor.rules import files

from tests.hardening import craft
from tests.pki.certs import AT, pki
from tests.rules.cases import RuleCase


def _chain() -> bytes:
    return pki().leaf.pem + pki().inter.pem


def _p12() -> bytes:
    p = pki()
    return pkcs12.serialize_key_and_certificates(
        b"c", p.leaf.key, p.leaf.cert, None, serialization.BestAvailableEncryption(b"pw")
    )


def _trusted(pem: bytes) -> bytes:
    """``pem`` relabelled TRUSTED CERTIFICATE with an empty trust-settings (aux) SEQUENCE after
    the certificate, as `openssl x509 -trustout` writes it."""
    import base64

    der = base64.b64decode(b"".join(pem.strip().splitlines()[1:-1])) + b"\x30\x00"
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return b"-----BEGIN TRUSTED CERTIFICATE-----\n" + lines + b"\n-----END TRUSTED CERTIFICATE-----\n"


def test_trusted_certificate_severity_and_location():
    only = files.check(load_bytes(_trusted(pki().root.pem), "ca.pem"), "ca")
    assert [(f.rule, f.severity.value, str(f.location)) for f in only] == [("MTLS012", "error", "ca.pem:1")]
    mixed = files.check(load_bytes(pki().root.pem + _trusted(pki().inter.pem), "ca.pem"), "any")
    assert [(f.rule, f.severity.value) for f in mixed] == [("MTLS012", "warning")]
    assert files.check(load_bytes(_trusted(pki().root.pem), "c.pem"), "client") == ()
    assert files.check(load_bytes(_trusted(pki().root.pem), "c.pem")) == ()  # no role: quiet


CASES = [
    RuleCase("MTLS001", "fire", "empty", lambda: {"data": b""}),  # empty file
    RuleCase("MTLS001", "ok", "ok_one_cert", lambda: {"data": pki().root.pem}),
    RuleCase("MTLS002", "fire", "crlf", lambda: {"data": _chain().replace(b"\n", b"\r\n")}),
    RuleCase("MTLS002", "ok", "ok_lf", lambda: {"data": _chain()}),
    RuleCase(  # END----------BEGIN on one line
        "MTLS003", "fire", "joined", lambda: {"data": pki().leaf.pem.rstrip() + pki().inter.pem}
    ),
    RuleCase("MTLS003", "ok", "ok_newline", lambda: {"data": pki().leaf.pem + pki().inter.pem}),
    RuleCase(  # the leaf's END line is gone
        "MTLS004", "fire", "no_end", lambda: {"data": pki().leaf.pem[:-27] + pki().inter.pem}
    ),
    RuleCase("MTLS004", "ok", "ok_complete", lambda: {"data": _chain()}),
    RuleCase(  # base64 fine, DER is not a certificate
        "MTLS005", "fire", "not_der",
        lambda: {"data": b"-----BEGIN CERTIFICATE-----\nQUJDRA==\n-----END CERTIFICATE-----\n"},
    ),
    RuleCase("MTLS005", "ok", "ok_der", lambda: {"data": pki().leaf.pem}),
    RuleCase(  # e-mail quoting inside the block
        "MTLS006", "fire", "quoted",
        lambda: {"data": pki().leaf.pem.replace(b"\n", b"\n> ", 3).replace(b"> -----", b"-----")},
    ),
    RuleCase("MTLS006", "ok", "ok_clean", lambda: {"data": pki().leaf.pem}),
    RuleCase("MTLS007", "fire", "text", lambda: {"data": b"server {\n  listen 443 ssl;\n}\n"}),
    RuleCase(  # text around a certificate is fine
        "MTLS007", "ok", "ok_text_around", lambda: {"data": b"subject=x\n" + pki().leaf.pem}
    ),
    RuleCase("MTLS008", "fire", "random", lambda: {"data": b"\x00\x01PK\x03\x04" + os.urandom(200)}),
    RuleCase("MTLS008", "ok", "ok_der_is_binary_too", lambda: {"data": pki().leaf.der}),
    RuleCase("MTLS009", "fire", "der", lambda: {"data": pki().leaf.der}),
    RuleCase("MTLS009", "ok", "ok_pem", lambda: {"data": pki().leaf.pem}),
    RuleCase("MTLS010", "fire", "p12_no_password", lambda: {"data": _p12()}),
    RuleCase("MTLS010", "ok", "ok_p12_password", lambda: {"data": _p12(), "password": b"pw"}),
    RuleCase(  # 10,001 empty blocks
        "MTLS011", "fire", "10001_blocks",
        lambda: {"data": b"-----BEGIN X-----\n-----END X-----\n" * 10_001},
    ),
    RuleCase(
        "MTLS011", "ok", "ok_10000_blocks",
        lambda: {"data": b"-----BEGIN X-----\n-----END X-----\n" * 10_000},
    ),
    RuleCase("MTLS012", "fire", "trusted_only", lambda: {"data": _trusted(pki().root.pem), "role": "ca"}),
    RuleCase(  # mixed with a plain CERTIFICATE: loads, TRUSTED CA not advertised (warning)
        "MTLS012", "fire", "trusted_mixed",
        lambda: {"data": pki().root.pem + _trusted(pki().inter.pem), "role": "ca"},
    ),
    RuleCase("MTLS012", "ok", "ok_plain", lambda: {"data": pki().root.pem, "role": "ca"}),
    RuleCase(  # a chain file: TRUSTED blocks only matter to ssl_client_certificate (F1.5)
        "MTLS012", "ok", "ok_server_role", lambda: {"data": _trusted(pki().root.pem), "role": "server"}
    ),
    RuleCase(  # version encoded explicitly as v1: OpenSSL accepts it, cryptography refuses it
        "MTLS013", "fire", "explicit_v1", lambda: {"data": craft.pem(craft.explicit_v1_leaf(*craft.ca())[0])}
    ),
    RuleCase("MTLS013", "ok", "ok_v3_der", lambda: {"data": pki().leaf.pem}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{c.kind}-{c.id}")
def test_case(case):
    spec = case.input()
    bundle = load_bytes(spec["data"], "case.pem", spec.get("password"))
    codes = {f.rule for f in bundle_rules.check(bundle, spec.get("role", "any"), AT)}
    if case.kind == "fire":
        assert case.code in codes
    else:
        assert case.code not in codes, codes


def test_every_problem_kind_has_a_rule():
    from mtls_doctor.pki import load as L

    kinds = {v for k, v in vars(L).items() if k.isupper() and isinstance(v, str) and k != "MAX_BYTES"}
    covered = {k for rule in files.RULES for k in rule.kinds}
    assert kinds == covered


def test_file_findings_point_at_the_line():
    data = b"# ca bundle\n" + pki().leaf.pem.rstrip() + pki().inter.pem
    (f,) = files.check(load_bytes(data, "ca.pem"))
    line = pki().leaf.pem.count(b"\n") + 1
    assert f.rule == "MTLS003" and str(f.location) == f"ca.pem:{line}"
