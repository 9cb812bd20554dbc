"""One attempt against real nginx: what the ladder reports equals what `openssl s_client -msg`
sees (CertificateRequest received or not, the CA names), and the HTTP answer is nginx's."""

from __future__ import annotations

import re
import subprocess

import pytest

from mtls_doctor.probe.handshake import ProbeConfig, attempt
from mtls_doctor.probe.identity import load_identity, throwaway
from mtls_doctor.probe.model import AttemptSpec, CertKind, Outcome

from ..witness import ca_names as s_client_ca_names, oneline_to_rfc4514
from .conftest import AT

pytestmark = pytest.mark.nginx


def cfg(lab, port, **kw) -> ProbeConfig:
    kw.setdefault("verify_name", "localhost")
    return ProbeConfig("127.0.0.1", port, ca_file=str(lab.root_pem), timeout=5, **kw)


def s_client(port: int, tls: str, servername: str | None = "localhost") -> str:
    """Real `openssl s_client -msg` output (the independent witness)."""
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-msg", f"-tls{tls.replace('.', '_')}"]
    args += ["-servername", servername] if servername else ["-noservername"]
    out = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    return out.stdout + out.stderr


def received_requests(text: str) -> int:
    return len(re.findall(r"^<<< .*CertificateRequest", text, flags=re.M))


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("mode", ["off", "optional", "optional_no_ca", "on", "trusted_only"])
def test_certificate_request_matches_s_client(lab, modes, mode, tls):
    a = attempt(cfg(lab, modes[mode]), AttemptSpec(CertKind.NONE, "localhost", tls))
    witness = s_client(modes[mode], tls)
    assert a.handshake_done and a.version == f"TLSv{tls}"
    assert (a.certificate_request is not None) == (received_requests(witness) == 1)
    expected = {"off": None, "trusted_only": []}.get(mode, [lab.pki.cas["root"].cert.subject.rfc4514_string()])
    if expected is None:
        assert a.certificate_request is None
    else:
        assert list(a.certificate_request.ca_names) == expected
        assert [oneline_to_rfc4514(n) for n in s_client_ca_names(witness)] == expected
        # read from the message itself: TLS 1.2 plaintext, TLS 1.3 decrypted
        assert a.certificate_request.source == ("plaintext" if tls == "1.2" else "decrypted")
        assert a.certificate_request.signature_algorithms
        assert (a.certificate_request.certificate_types is None) == (tls == "1.3")


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_on_without_certificate_is_nginx_496_page_after_a_completed_handshake(lab, modes, tls):
    a = attempt(cfg(lab, modes["on"]), AttemptSpec(CertKind.NONE, "localhost", tls))
    assert a.outcome is Outcome.HTTP_ANSWER
    assert a.handshake_done  # section 0: the handshake succeeds, nginx rejects in HTTP
    assert a.http.status == 400 and a.http.page == 496
    assert a.http.page_text == "No required SSL certificate was sent"
    assert [s.name for s in a.steps] == [
        "tcp", "client-hello", "server-hello", "server-certificate", "certificate-request",
        "client-certificate", "finished", "http"]
    assert a.server_verification.ok and a.client_certificate_sent is None


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_untrusted_certificate_is_495_on_on_and_200_on_optional_no_ca(lab, modes, tls):
    ident = throwaway(AT)
    on = attempt(cfg(lab, modes["on"]), AttemptSpec(CertKind.SELF_SIGNED, "localhost", tls), ident)
    assert on.http.page == 495 and on.client_certificate_sent == "CN=mtls-doctor throwaway probe"
    assert on.client_chain_reaches is None
    no_ca = attempt(cfg(lab, modes["optional_no_ca"]),
                    AttemptSpec(CertKind.SELF_SIGNED, "localhost", tls), ident)
    assert no_ca.http.status == 200 and "verify=FAILED:self-signed certificate" in no_ca.http.body_excerpt


def test_users_good_certificate_passes_on_and_nginx_says_success(lab, modes):
    cert, key = lab.client_files("good")
    ident = load_identity(cert=str(cert), key=str(key))
    a = attempt(cfg(lab, modes["on"]), AttemptSpec(CertKind.USER, "localhost", "1.3"), ident)
    assert a.http.status == 200 and "verify=SUCCESS" in a.http.body_excerpt
    assert a.client_certificate_sent == lab.pki.clients["good"].cert.subject.rfc4514_string()
    root = lab.pki.cas["root"].cert.subject.rfc4514_string()
    assert a.client_chain_reaches == root
    assert any(s.name == "client-certificate" and f"chains to advertised {root}" in s.detail for s in a.steps)


def test_users_certificate_is_not_sent_to_an_unverified_server(lab, modes, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(lab.pki.pem("other-root"))  # the server's chain does not lead here
    cert, key = lab.client_files("good")
    ident = load_identity(cert=str(cert), key=str(key))
    config = ProbeConfig("127.0.0.1", modes["on"], ca_file=str(other), verify_name="localhost", timeout=5)
    a = attempt(config, AttemptSpec(CertKind.USER, "localhost", "1.2"), ident)
    assert a.outcome is Outcome.SERVER_UNTRUSTED
    assert a.client_certificate_sent is None and a.http is None
    assert a.alert is not None and a.alert.direction == "sent"
    anyway = attempt(ProbeConfig("127.0.0.1", modes["on"], ca_file=str(other), verify_name="localhost",
                                 timeout=5, send_cert_anyway=True),
                     AttemptSpec(CertKind.USER, "localhost", "1.2"), ident)
    assert anyway.http.status == 200 and not anyway.server_verification.ok


def test_wrong_name_fails_server_verification(lab, modes):
    a = attempt(cfg(lab, modes["off"], verify_name="wrong.example"),
                AttemptSpec(CertKind.NONE, "localhost", "1.3"))
    assert a.outcome is Outcome.HTTP_ANSWER  # nothing secret sent: the probe goes on
    assert not a.server_verification.ok
    assert [e.code for e in a.server_verification.errors] == [62]


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_no_sni_gets_the_default_server_no_request_then_496(lab, modes, tls):
    """F7.3: without SNI the default server (verify off) does the handshake; a.test demands."""
    port = modes["sni"]
    with_sni = attempt(cfg(lab, port, verify_name="a.test"), AttemptSpec(CertKind.NONE, "a.test", tls))
    assert with_sni.certificate_request is not None and with_sni.http.page == 496
    config = ProbeConfig("127.0.0.1", port, ca_file=str(lab.root_pem), verify_name="a.test",
                         host_header="a.test", timeout=5)
    no_sni = attempt(config, AttemptSpec(CertKind.NONE, None, tls))
    assert no_sni.certificate_request is None
    assert received_requests(s_client(port, tls, servername=None)) == 0
    assert no_sni.http.page == 496  # demanded by a.test, never asked for by default.test


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
@pytest.mark.parametrize("name, with_chain, count", [("good", True, 2), ("good", False, 1), ("deep", True, 3)])
def test_client_certificate_message_is_read_back_from_the_wire(lab, modes, tls, name, with_chain, count):
    cert, key = lab.client_files(name, with_chain=with_chain)
    ident = load_identity(cert=str(cert), key=str(key))
    a = attempt(cfg(lab, modes["optional_no_ca"]), AttemptSpec(CertKind.USER, "localhost", tls), ident)
    assert a.client_certificates_sent == count and not a.notes
    none = attempt(cfg(lab, modes["optional_no_ca"]), AttemptSpec(CertKind.NONE, "localhost", tls))
    assert none.client_certificates_sent == 0
    off = attempt(cfg(lab, modes["off"]), AttemptSpec(CertKind.USER, "localhost", tls), ident)
    assert off.client_certificates_sent is None and off.client_certificate_sent is None
