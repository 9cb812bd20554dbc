"""verify_client on the lab PKI: every nginx verdict of the facts sheet, with its explanation.

Each test pins an error code the system OpenSSL really produces with nginx's settings (F3.3,
F3.4, F6.1, F6.3, F2.4, F4.1) and the cause/fix the explanation must name.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki import issue, libcrypto
from mtls_doctor.pki.verify import (
    OPTIONAL_NO_CA_TOLERATED,
    TrustSettings,
    Verifier,
    reason_text,
    verify_client,
)

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(AT)


def trust(pki, *cas, **kw) -> TrustSettings:
    return TrustSettings(client_certificate=tuple(pki.cas[c].cert for c in cas), **kw)


def run(pki, client: str, settings: TrustSettings, send_chain: bool = True, **kw):
    c = pki.clients[client]
    return verify_client(c.cert, c.chain if send_chain else (), settings, AT, **kw)


def test_good_client_is_accepted_with_its_chain(pki):
    r = run(pki, "good", trust(pki, "root"))
    assert (r.ssl_client_verify, r.status, r.page, r.error_code, r.log_line) == \
        ("SUCCESS", 200, None, 0, None)
    assert [(e.role, e.source) for e in r.chain] == [
        ("leaf", "client"), ("intermediate", "client"), ("trust anchor", "ssl_client_certificate")]
    assert r.intermediates == 1 and r.accepted and r.fix is None


def test_depth_exceeded_shows_as_20_and_the_fix_raises_depth(pki):
    # F3.3: leaf + deep2 + deep1 sent, root trusted, default depth 1 -> 20, not 22.
    r = run(pki, "deep", trust(pki, "root"))
    assert r.error_code == 20 and r.status == 400 and r.page == 495
    assert r.ssl_client_verify == "FAILED:unable to get local issuer certificate"
    assert [(e.code, e.depth) for e in r.errors] == [(22, 2), (20, 2)]
    assert "2 intermediate(s)" in r.explanation and "F3.3" in r.explanation
    assert "raise ssl_verify_depth to 2" in r.fix
    assert run(pki, "deep", trust(pki, "root", verify_depth=2)).ssl_client_verify == "SUCCESS"


def test_depth_exceeded_with_trusted_intermediates_shows_as_2(pki):
    # F4.2: depth exceeded while the intermediates come from the trust file -> 2.
    settings = TrustSettings(client_certificate=(pki.cas["root"].cert, pki.cas["deep1"].cert,
                                                 pki.cas["deep2"].cert), verify_depth=1)
    r = run(pki, "deep", settings, send_chain=False)
    assert r.error_code == 2
    assert "raise ssl_verify_depth to 2" in r.fix


def test_intermediate_only_ca_file_gives_2_and_asks_for_the_root(pki):
    # F3.4: no partial chains, whether or not the client sends the intermediate.
    for send in (True, False):
        r = run(pki, "good", trust(pki, "inter"), send_chain=send)
        assert r.error_code == 2, send
        assert r.ssl_client_verify == "FAILED:unable to get issuer certificate"
        root_dn = pki.cas["root"].cert.subject.rfc4514_string()
        assert f"add the root '{root_dn}' to the ssl_client_certificate file" in r.fix
        assert "F3.4" in r.explanation


def test_intermediate_in_client_file_root_in_trusted_file_works(pki):
    # The working pattern of F3.4 / F1.3 (lua-nginx-module PR #2329).
    settings = TrustSettings(client_certificate=(pki.cas["inter"].cert,),
                             trusted_certificate=(pki.cas["root"].cert,))
    r = run(pki, "good", settings, send_chain=False)
    assert r.ssl_client_verify == "SUCCESS"
    assert [e.source for e in r.chain] == ["client", "ssl_client_certificate",
                                           "ssl_trusted_certificate"]


def test_server_eku_leaf_gives_26(pki):
    r = run(pki, "server-eku", trust(pki, "root"))
    assert r.error_code == 26 and r.ssl_client_verify == "FAILED:unsuitable certificate purpose"
    assert "serverAuth" in r.explanation and "leaf" in r.explanation


def test_no_eku_leaf_is_accepted(pki):
    assert run(pki, "no-eku", trust(pki, "root")).ssl_client_verify == "SUCCESS"


@pytest.mark.parametrize("eku", [(issue.SERVER_AUTH,),
                                 (issue.SERVER_AUTH, x509.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)])
def test_ca_with_server_auth_eku_gives_26_and_names_the_ca(eku):
    # F6.3: the purpose check applies to every CA; anyExtendedKeyUsage does not help.
    root = issue.CA.new("eku root", at=AT)
    ca = root.child_ca("serverAuth-only CA", at=AT, eku=eku)
    leaf = ca.issue("client", at=AT)
    r = verify_client(leaf.cert, (ca.cert,), TrustSettings(client_certificate=(root.cert,)), AT)
    assert r.error_code == 26
    assert [(e.code, e.depth) for e in r.errors] == [(26, 1)]
    assert "The CA 'CN=serverAuth-only CA" in r.explanation and "F6.3" in r.explanation
    assert "re-issue the CA 'CN=serverAuth-only CA" in r.fix


def test_missing_root_crl_gives_3_and_names_the_root(pki):
    # F6.1: inter's CRL only -> 3, because the root's CRL (covering inter) is missing.
    r = run(pki, "good", trust(pki, "root", crls=(pki.crls["inter"].crl,)))
    assert r.error_code == 3 and r.ssl_client_verify == "FAILED:unable to get certificate CRL"
    root_dn = pki.cas["root"].cert.subject.rfc4514_string()
    assert f"'{root_dn}'" in r.fix and "ssl_crl" in r.fix


def test_all_crls_accept_good_and_reject_revoked_with_23(pki):
    crls = (pki.crls["root"].crl, pki.crls["inter"].crl)
    assert run(pki, "good", trust(pki, "root", crls=crls)).ssl_client_verify == "SUCCESS"
    r = run(pki, "revoked", trust(pki, "root", crls=crls))
    assert r.error_code == 23 and r.ssl_client_verify == "FAILED:certificate revoked"
    assert f"{pki.clients['revoked'].cert.serial_number:X}" in r.explanation


def test_expired_crl_gives_12(pki):
    crls = (pki.crls["root"].crl, pki.crls["inter-expired"].crl)
    r = run(pki, "good", trust(pki, "root", crls=crls))
    assert r.error_code == 12 and r.ssl_client_verify == "FAILED:CRL has expired"
    assert "reload nginx" in r.fix


def test_expired_and_not_yet_valid(pki):
    r = run(pki, "expired", trust(pki, "root"))
    assert r.error_code == 10 and r.ssl_client_verify == "FAILED:certificate has expired"
    assert "expired on" in r.explanation and "renew" in r.fix
    assert run(pki, "not-yet-valid", trust(pki, "root")).error_code == 9


def test_self_signed_gives_18(pki):
    r = run(pki, "self-signed", trust(pki, "root"))
    assert r.error_code == 18 and r.ssl_client_verify == "FAILED:self-signed certificate"


def test_foreign_leaf_alone_gives_21(pki):
    r = run(pki, "foreign", trust(pki, "root"))
    assert r.error_code == 21
    assert r.ssl_client_verify == "FAILED:unable to verify the first certificate"
    other = pki.cas["other-root"].cert.subject.rfc4514_string()
    assert f"issuer '{other}'" in r.explanation


def test_foreign_chain_gives_20_and_names_the_missing_root():
    other = issue.CA.new("other root", at=AT)
    inter = other.child_ca("other inter", at=AT)
    leaf = inter.issue("foreign", at=AT)
    mine = issue.CA.new("my root", at=AT)
    r = verify_client(leaf.cert, (inter.cert,), TrustSettings(client_certificate=(mine.cert,)), AT)
    assert r.error_code == 20
    assert "'CN=other root" in r.explanation and "'CN=other root" in r.fix


def test_client_that_does_not_send_its_intermediate_gives_21(pki):
    r = run(pki, "good", trust(pki, "root"), send_chain=False)
    assert r.error_code == 21
    assert "failed to send it" in r.explanation and "make the client send it" in r.fix


@pytest.mark.parametrize("client,send,code,status", [
    ("foreign", True, 21, 200),      # tolerated (F2.4)
    ("self-signed", True, 18, 200),  # tolerated
    ("good", True, 20, 200),         # no CA at all: tolerated
    ("server-eku", False, 21, 200),  # 26 happens first, the last error 21 wins (F2.4 EMP)
    ("expired", True, 10, 400),      # not tolerated
])
def test_optional_no_ca_tolerates_exactly_five_errors(pki, client, send, code, status):
    r = run(pki, client, TrustSettings(verify_client="optional_no_ca"), send_chain=send)
    assert (r.error_code, r.status) == (code, status)
    assert r.ssl_client_verify.startswith("FAILED:")
    assert (r.log_line is None) == (status == 200)
    assert (code in OPTIONAL_NO_CA_TOLERATED) == (status == 200)


def test_optional_no_ca_hides_the_purpose_error_and_says_so(pki):
    r = run(pki, "server-eku", TrustSettings(verify_client="optional_no_ca"), send_chain=False)
    assert [e.code for e in r.errors] == [20, 26, 21]
    assert "26 (unsuitable certificate purpose)" in r.explanation
    assert "26 (unsuitable certificate purpose) must be fixed as well" in r.explanation


def test_optional_rejects_a_bad_certificate(pki):
    r = run(pki, "foreign", trust(pki, "root", verify_client="optional"))
    assert (r.status, r.page) == (400, 495)


@pytest.mark.parametrize("mode,status,page", [("on", 400, 496), ("optional", 200, None),
                                              ("optional_no_ca", 200, None), ("off", 200, None)])
def test_no_certificate(pki, mode, status, page):
    r = verify_client(None, (), trust(pki, "root", verify_client=mode), AT)
    assert (r.ssl_client_verify, r.status, r.page) == ("NONE", status, page)
    expected = ("client sent no required SSL certificate while reading client request headers"
                if mode == "on" else None)
    assert r.log_line == expected


def test_log_line_is_nginx_info_line(pki):
    r = run(pki, "foreign", trust(pki, "root"))
    assert r.log_line == ("client SSL certificate verify error: (21:unable to verify the first "
                          "certificate) while reading client request headers")


def test_openssl_111_texts(pki):
    r = run(pki, "self-signed", trust(pki, "root"), openssl_version="1.1.1w")
    assert r.ssl_client_verify == "FAILED:self signed certificate"
    assert r.log_line == ("client SSL certificate verify error: (18:self signed certificate) "
                          "while reading client request headers")
    assert "1.1.1" in r.openssl_version
    r = run(pki, "server-eku", trust(pki, "root"), openssl_version="1.1.1")
    assert r.error_text == "unsupported certificate purpose"
    assert reason_text(79, "1.1.1")[:2] == (24, "invalid CA certificate")
    assert reason_text(19, "1.1.1")[1] == "self signed certificate in certificate chain"
    with pytest.raises(ValueError):
        reason_text(2, "0.9.8")


def test_system_version_is_reported(pki):
    r = run(pki, "good", trust(pki, "root"))
    assert r.openssl_version == libcrypto.openssl_version()
    assert r.openssl_version.startswith("OpenSSL 3")


def _rsa1024_client(root: issue.CA):
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cert = (x509.CertificateBuilder()
            .subject_name(issue.name("weak"))
            .issuer_name(root.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(AT - timedelta(days=1))
            .not_valid_after(AT + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(root.key, hashes.SHA256()))
    return cert


def test_security_level_2_rejects_a_1024_bit_client_key():
    root = issue.CA.new("seclevel root", at=AT)
    weak = _rsa1024_client(root)
    r = verify_client(weak, (), TrustSettings(client_certificate=(root.cert,)), AT)
    assert r.security_level == 2
    assert r.error_code == 66 and r.ssl_client_verify == "FAILED:EE certificate key too weak"
    assert "security level 2" in r.explanation
    ok = verify_client(weak, (), TrustSettings(client_certificate=(root.cert,),
                                               security_level=1), AT)
    assert ok.ssl_client_verify == "SUCCESS"


def test_verifier_reuse_gives_the_same_results_and_json(pki):
    settings = trust(pki, "root", crls=(pki.crls["root"].crl, pki.crls["inter"].crl))
    with Verifier(settings) as v:
        for name, c in pki.clients.items():
            reused = v.verify(c.cert, c.chain, AT)
            fresh = verify_client(c.cert, c.chain, settings, AT)
            assert reused == fresh, name
            json.dumps(reused.to_dict())


def test_closed_verifier_refuses(pki):
    v = Verifier(trust(pki, "root"))
    v.close()
    with pytest.raises(RuntimeError):
        v.verify(pki.clients["good"].cert, (), AT)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        TrustSettings(verify_client="maybe")
    with pytest.raises(ValueError):
        TrustSettings(verify_depth=-1)


def _rss_kb() -> int:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import os
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def test_no_leak_over_10000_verifications(pki):
    settings = trust(pki, "root", crls=(pki.crls["root"].crl, pki.crls["inter"].crl))
    good, foreign = pki.clients["good"], pki.clients["foreign"]
    from cryptography.hazmat.primitives.serialization import Encoding
    leaf, chain = good.cert.public_bytes(Encoding.DER), [c.public_bytes(Encoding.DER)
                                                        for c in good.chain]
    bad = foreign.cert.public_bytes(Encoding.DER)
    with libcrypto.Store([pki.cas["root"].cert.public_bytes(Encoding.DER)],
                         [c.public_bytes(Encoding.DER) for c in settings.crls]) as store:
        at = int(AT.timestamp())
        for _ in range(500):  # warm up allocator pools
            store.verify(leaf, chain, depth=1, at=at, security_level=2)
            store.verify(bad, (), depth=1, at=at, security_level=2)
        before = _rss_kb()
        for _ in range(5_000):  # 10,000 verifications: half accepted, half failing
            assert store.verify(leaf, chain, depth=1, at=at, security_level=2).error == 0
            assert store.verify(bad, (), depth=1, at=at, security_level=2).error == 21
        grown = _rss_kb() - before
    # A leak of even one certificate (~1 KiB) per call would grow by ~10 MiB.
    assert grown < 3072, f"RSS grew by {grown} KiB over 10,000 verifications"


def test_pinning_a_self_signed_client_in_the_trusted_file_works(pki):
    # The alternative fix the explanation of 18 offers must really work.
    cert = pki.clients["self-signed"].cert
    r = verify_client(cert, (), TrustSettings(client_certificate=(pki.cas["root"].cert,),
                                              trusted_certificate=(cert,)), AT)
    assert r.ssl_client_verify == "SUCCESS"
    assert [(e.role, e.source) for e in r.chain] == [("trust anchor", "ssl_trusted_certificate")]
    assert r.intermediates == 0


def test_names_are_printed_as_nginx_prints_them():
    # $ssl_client_s_dn: RFC 2253 via X509_NAME_print_ex (reversed, escaped, \XX for non-ASCII;
    # facts §5 EMP: "CN=Jos\C3\A9 ..." and "CN=client zero\, with comma,OU=Eng,O=Test Org,C=US").
    root = issue.CA.new("dn root", at=AT)
    leaf = root.issue("client zero, with comma", at=AT, org="Test Org")
    r = verify_client(leaf.cert, (), TrustSettings(client_certificate=(root.cert,)), AT)
    assert r.ssl_client_s_dn == "CN=client zero\\, with comma,O=Test Org"
    assert r.ssl_client_i_dn == "CN=dn root,O=mtls-doctor lab"
    uni = root.issue("José Ünïcode", at=AT, org="Test Org")
    r = verify_client(uni.cert, (), TrustSettings(client_certificate=(root.cert,)), AT)
    assert r.ssl_client_s_dn == "CN=Jos\\C3\\A9 \\C3\\9Cn\\C3\\AFcode,O=Test Org"


def test_verify_many_in_threads_equals_one_by_one(pki):
    settings = trust(pki, "root", crls=(pki.crls["root"].crl, pki.crls["inter"].crl))
    items = [(c.cert, c.chain) for c in pki.clients.values()] * 20 + [(None, ())]
    with Verifier(settings) as v:
        threaded = list(v.verify_many(items, AT, workers=4))
        serial = [v.verify(leaf, chain, AT) for leaf, chain in items]
    assert threaded == serial
    assert [r.ssl_client_verify for r in threaded[:3]] == [
        "SUCCESS", "SUCCESS", "FAILED:unable to get certificate CRL"]  # deep: no deep1/2 CRLs


def test_undecodable_der_is_a_decode_error(pki):
    from cryptography.hazmat.primitives.serialization import Encoding

    with libcrypto.Store([pki.cas["root"].cert.public_bytes(Encoding.DER)]) as store:
        with pytest.raises(libcrypto.DecodeError):
            store.verify(b"\x30\x03\x02\x01\x00", (), depth=1, at=0, security_level=2)
    with pytest.raises(libcrypto.DecodeError):
        libcrypto.Store([b"not a certificate"])
