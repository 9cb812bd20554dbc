"""The default matrix against real servers: the inferred mode equals nginx's ssl_verify_client
for TLS 1.2 and 1.3, the no-SNI default-server case is found, and `openssl s_server -Verify 1`
/ `-verify 1` give the TLS-layer modes."""

from __future__ import annotations

import pytest

from mtls_doctor.probe.handshake import ProbeConfig
from mtls_doctor.probe.identity import load_identity
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.probe.model import CertKind, Outcome

pytestmark = pytest.mark.nginx

EXPECTED = {
    "off": "off",
    "optional": "optional",
    "optional_no_ca": "optional_no_ca",
    "on": "on",
    "trusted_only": "optional_no_ca",
}


def cfg(lab, port, name="localhost", **kw):
    return ProbeConfig("127.0.0.1", port, ca_file=str(lab.root_pem), verify_name=name, timeout=5, **kw)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_inferred_mode_equals_ssl_verify_client(lab, modes, mode, tls):
    result = run_matrix(cfg(lab, modes[mode]), "localhost", other_sni=None, tls=tls, legacy=False)
    assert [i.mode for i in result.inferences] == [EXPECTED[mode]] * 2
    assert result.primary.certificate_request is (mode != "off")
    assert result.primary.per_version == ((tls, EXPECTED[mode]),)
    assert all(a.spec.tls == tls for a in result.attempts)


def test_default_matrix_tries_both_versions_and_names_the_primary(lab, modes):
    result = run_matrix(cfg(lab, modes["on"]), "localhost", other_sni=None, legacy=False)
    assert {a.spec.tls for a in result.attempts} == {"1.2", "1.3"}
    assert len(result.attempts) == 2 * (1 + 1 + 2)  # none+self with SNI, none+self without
    data = result.to_dict()
    assert data["certificate_request"] is True and data["inferred_mode"] == "on"
    assert data["ca_names"] == [lab.pki.cas["root"].cert.subject.rfc4514_string()]


def test_no_sni_default_server_case_is_found(lab, modes):
    config = cfg(lab, modes["sni"], name="a.test", host_header="a.test")
    result = run_matrix(config, "a.test", other_sni=None, legacy=False)
    with_sni, without = result.inferences
    assert (with_sni.sni, with_sni.mode, with_sni.certificate_request) == ("a.test", "on", True)
    assert (without.sni, without.mode, without.certificate_request) == (None, "on-without-request", False)
    assert any("F7.3" in e for e in without.evidence)


def test_users_certificate_joins_the_matrix(lab, modes):
    cert, key = lab.client_files("good")
    ident = load_identity(cert=str(cert), key=str(key))
    result = run_matrix(cfg(lab, modes["on"]), "localhost", tls="1.3", identity=ident, legacy=False)
    user = [a for a in result.attempts if a.spec.cert is CertKind.USER]
    assert len(user) == 1 and user[0].http.status == 200
    assert result.client.subject == lab.pki.clients["good"].cert.subject.rfc4514_string()


def test_users_certificate_skipped_when_server_unverified(lab, modes, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(lab.pki.pem("other-root"))
    cert, key = lab.client_files("good")
    ident = load_identity(cert=str(cert), key=str(key))
    config = ProbeConfig("127.0.0.1", modes["on"], ca_file=str(other), verify_name="localhost", timeout=5)
    result = run_matrix(config, "localhost", tls="1.2", identity=ident, legacy=False)
    user = [a for a in result.attempts if a.spec.cert is CertKind.USER]
    assert [a.outcome for a in user] == [Outcome.SKIPPED]
    assert result.primary.mode == "on"  # the no-certificate attempts still tell the mode


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize(
    "args, mode, layer",
    [
        (("-Verify", "1"), "tls-required", "tls"),
        (("-verify", "1"), "tls-optional", "none"),
        (("-verify", "1", "-verify_return_error"), "optional", "tls"),
    ],
)
def test_openssl_s_server_tls_layer_modes(lab, s_server, args, mode, layer, tls):
    port = s_server(*args)
    result = run_matrix(cfg(lab, port), "localhost", other_sni=False, tls=tls, legacy=False)
    assert (result.primary.mode, result.primary.layer) == (mode, layer)
    if mode == "tls-required":
        none = result.attempts[0]
        assert none.outcome is Outcome.TLS_ALERT
        assert none.alert.code == (40 if tls == "1.2" else 116)
        assert none.alert.after_handshake is (tls == "1.3")  # F4.3


def test_legacy_versions_are_reported(lab, s_server):
    port = s_server("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    result = run_matrix(cfg(lab, port), "localhost", other_sni=False, legacy=True)
    assert result.legacy_tls == ("TLS 1.1",)
    assert result.primary.mode == "unknown"  # neither 1.2 nor 1.3 is offered


def test_modern_nginx_refuses_legacy_versions(lab, modes):
    result = run_matrix(cfg(lab, modes["off"]), "localhost", other_sni=False, legacy=True)
    assert result.legacy_tls == ()
