"""The pure core of diagnose: hand-built evidence in, ranked root causes out (no I/O)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.diagnose.causes import CAUSES, causes_markdown
from mtls_doctor.diagnose.core import diagnose
from mtls_doctor.diagnose.evidence import Evidence, LogEvidence, ProbeEvidence, Target
from mtls_doctor.logs.summary import summarize
from mtls_doctor.model import Finding, Location, Severity
from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.parse import DictReader, parse_sources
from mtls_doctor.probe.model import (
    Attempt,
    AttemptSpec,
    CertificateRequest,
    CertKind,
    HttpAnswer,
    Outcome,
    Step,
)

AT = datetime(2026, 11, 28, tzinfo=timezone.utc)
ROOT = "CN=Root CA,O=Test"
OTHER = "CN=Other Root,O=Test"


def _eff(text: str):
    config = parse_sources("/etc/nginx/nginx.conf", DictReader({"/etc/nginx/nginx.conf": text}))
    return config, effective(config)


def _finding(rule: str, line: int, severity: Severity = Severity.ERROR, message: str = "m") -> Finding:
    return Finding(rule, rule.lower(), severity, message, Location("/etc/nginx/nginx.conf", line))


def _attempt(cert: str, sni: str | None, request: tuple[str, ...] | None, status: int = 200,
             page: int | None = None) -> Attempt:
    return Attempt(
        spec=AttemptSpec(CertKind(cert), sni, "auto"), outcome=Outcome.HTTP_ANSWER,
        steps=(Step("finished", True),), version="TLSv1.3",
        certificate_request=CertificateRequest(request) if request is not None else None,
        http=HttpAnswer(status, "x", "nginx", page,
                        {496: "No required SSL certificate was sent", 495: "The SSL certificate error"}.get(page or 0)))


def _probe(sni, attempts, server=None, handshake=None, host="127.0.0.1", port=8443):
    return ProbeEvidence(host, port, sni, "a.test", tuple(attempts), "127.0.0.1:8443", server,
                         handshake if handshake is not None else server)


def _causes(ev: Evidence) -> list[str]:
    return [c.cause for c in diagnose(ev)]


# --- the catalogue ----------------------------------------------------------------------------


def test_every_cause_is_documented():
    for info in CAUSES.values():
        assert info.title.endswith(".") and info.fix and info.facts, info.id


def test_docs_page_is_up_to_date():
    page = Path(__file__).resolve().parents[2] / "docs" / "diagnose-causes.md"
    assert page.read_text() == causes_markdown(), "run: python -m mtls_doctor.diagnose.docs"


# --- ranking ----------------------------------------------------------------------------------


def test_nothing_found_is_empty():
    assert diagnose(Evidence(at=AT)) == ()


def test_independent_sources_reinforce_and_ranks_are_consecutive():
    config, eff = _eff("""http { server { listen 8443 ssl; server_name a.test;
        ssl_verify_client on; ssl_client_certificate ca.pem; error_log x.log; } }""")
    lint = (_finding("MTLS401", 1, Severity.WARNING), _finding("MTLS207", 2))
    only_config = diagnose(Evidence(at=AT, config=config, eff=eff, lint=lint))
    logs = summarize([
        "2026/11/28 00:00:01 [info] 1#1: *1 client SSL certificate verify error: (20:unable to get "
        "local issuer certificate) while reading client request headers, client: 127.0.0.1, "
        'server: a.test, request: "GET / HTTP/1.1", host: "a.test"'], "error.log")
    with_logs = diagnose(Evidence(at=AT, config=config, eff=eff, lint=lint, logs=LogEvidence(logs)))
    # error_log above info is a cause only where a failure is seen (issue 12); here none is
    assert [c.cause for c in only_config] == ["verify-depth-exceeded"]
    assert [c.rank for c in with_logs] == list(range(1, len(with_logs) + 1))
    assert with_logs[0].confidence > only_config[0].confidence  # the log line supports it
    assert {e.source for e in with_logs[0].evidence} == {"config", "logs"}
    assert with_logs[0].fix.text and with_logs[0].facts == CAUSES["verify-depth-exceeded"].facts


def test_crl_expiring_soon_is_not_a_cause():
    lint = (_finding("MTLS302", 3, Severity.WARNING, "the CRL expires at ..."),)
    assert _causes(Evidence(at=AT, lint=lint)) == []
    assert _causes(Evidence(at=AT, lint=(_finding("MTLS302", 3, Severity.ERROR),))) == ["crl-expired"]


def test_a_single_clients_rejection_in_the_logs_is_not_a_root_cause():
    line = ('2026/11/28 00:00:01 [info] 1#1: *1 client SSL certificate verify error: ({code}:{text}) '
            'while reading client request headers, client: 127.0.0.1, server: a.test, '
            'request: "GET / HTTP/1.1", host: "a.test"')
    foreign = summarize([line.format(code=21, text="unable to verify the first certificate")], "e.log")
    weak = diagnose(Evidence(at=AT, logs=LogEvidence(foreign)))  # a failure, weakly explained
    assert [c.cause for c in weak] == ["client-issuer-unknown"] and weak[0].confidence < 0.35
    crl = summarize([line.format(code=12, text="CRL has expired")], "e.log")
    assert _causes(Evidence(at=AT, logs=LogEvidence(crl))) == ["crl-expired"]


# --- "No client certificate CA names sent": no request at all versus an empty list -------------

VERIFY_OFF = """http {
  server { listen 8443 ssl; server_name a.test; ssl_client_certificate ca.pem; }
}"""
TRUSTED_ONLY = """http {
  server { listen 8443 ssl; server_name a.test; ssl_verify_client optional_no_ca;
           ssl_trusted_certificate ca.pem; }
}"""
CANAMES = """http {
  server { listen 8443 ssl; server_name a.test; ssl_verify_client on;
           ssl_client_certificate ca.pem; ssl_conf_command Options -CANames; }
}"""


@pytest.mark.parametrize("text, request_names, expected", [
    (VERIFY_OFF, None, "verify-client-off"),
    (TRUSTED_ONLY, (), "ca-names-trusted-only"),
    (CANAMES, (), "ca-names-disabled"),
])
def test_no_ca_names_sent_is_told_apart(text, request_names, expected):
    config, eff = _eff(text)
    server = eff.servers[0]
    probe = _probe("a.test", [_attempt("none", "a.test", request_names)], server)
    causes = diagnose(Evidence(at=AT, config=config, eff=eff, probes=(probe,)))
    assert causes[0].cause == expected
    assert causes[0].evidence[0].source == "probe" and causes[0].evidence[0].location == "127.0.0.1:8443"
    others = {"verify-client-off", "ca-names-trusted-only", "ca-names-disabled"} - {expected}
    assert not others & {c.cause for c in causes}


def test_no_sni_default_server_outranks_config_warnings():
    config, eff = _eff("""http {
      server { listen 8443 ssl default_server; server_name default.test; }
      server { listen 8443 ssl; server_name a.test; ssl_verify_client on; ssl_client_certificate ca.pem; }
    }""")
    default, mtls = eff.servers
    lint = (_finding("MTLS210", 3, Severity.WARNING), _finding("MTLS401", 1, Severity.WARNING))
    probes = (
        _probe("a.test", [_attempt("none", "a.test", (ROOT,), 400, 496)], mtls),
        _probe(None, [_attempt("none", None, None, 400, 496)], mtls, default),
    )
    no_sni = Target(sni=None, sni_known=True, host="a.test", address="*:8443", request_server=mtls,
                    handshake_server=default, lands_on_default=True)
    causes = diagnose(Evidence(at=AT, config=config, eff=eff, lint=lint, probes=probes, target=no_sni))
    assert causes[0].cause == "no-sni-default-server"
    assert causes[0].confidence > 0.7
    # the same configuration, a client that sends SNI a.test: the trap is not where it lands
    sni = Target(sni="a.test", sni_known=True, host="a.test", address="*:8443", request_server=mtls,
                 handshake_server=mtls, lands_on_default=False)
    with_sni = diagnose(Evidence(at=AT, config=config, eff=eff, lint=lint, probes=probes, target=sni))
    assert "no-sni-default-server" not in [c.cause for c in with_sni]
    assert "F7.3" in causes[0].facts
    assert any(e.source == "config" and "ssl_verify_client" in e.text for e in causes[0].evidence)


def test_live_ca_names_differ_from_the_file_on_disk_means_not_reloaded():
    from mtls_doctor.pki.load import load_bytes
    from mtls_doctor.lab.pki import build_lab_pki
    from mtls_doctor.rules.config.common import LoadedFile

    pki = build_lab_pki(AT)
    config, eff = _eff("""http { server { listen 8443 ssl; server_name a.test;
        ssl_verify_client on; ssl_client_certificate /etc/nginx/ca.pem; } }""")
    files = {"/etc/nginx/ca.pem": LoadedFile("/etc/nginx/ca.pem", load_bytes(pki.pem("other-root"), "ca.pem"))}
    live = (pki.cas["root"].cert.subject.rfc4514_string(),)
    probe = _probe("a.test", [_attempt("none", "a.test", live, 400, 496)], eff.servers[0])
    causes = diagnose(Evidence(at=AT, config=config, eff=eff, files=files, probes=(probe,)))
    assert causes[0].cause == "nginx-not-reloaded"
    assert any(e.source == "file" and e.location == "/etc/nginx/ca.pem#0" for e in causes[0].evidence)
    # the same names live and on disk: nothing to reload
    same = _probe("a.test", [_attempt("none", "a.test", (pki.cas["other-root"].cert.subject.rfc4514_string(),),
                                      400, 496)], eff.servers[0])
    assert "nginx-not-reloaded" not in _causes(Evidence(at=AT, config=config, eff=eff, files=files, probes=(same,)))


def test_deterministic():
    config, eff = _eff(CANAMES)
    ev = Evidence(at=AT, config=config, eff=eff, lint=(_finding("MTLS401", 1), _finding("MTLS405", 2)),
                  probes=(_probe("a.test", [_attempt("none", "a.test", ())], eff.servers[0]),))
    assert diagnose(ev) == diagnose(ev)


def test_verify_evidence_tells_depth_from_untrusted():
    """The user's deep chain fails at depth 1 and passes deeper: depth, not trust (F3.3)."""
    from mtls_doctor.diagnose.evidence import VerifyEvidence
    from mtls_doctor.lab.pki import build_lab_pki
    from mtls_doctor.pki.verify import TrustSettings, verify_client

    pki = build_lab_pki(AT)
    config, eff = _eff("""http { server { listen 8443 ssl; server_name a.test;
        ssl_verify_client on; ssl_client_certificate ca.pem; } }""")
    deep = pki.clients["deep"]
    trust = TrustSettings(client_certificate=(pki.cas["root"].cert,), verify_depth=1)
    shallow = verify_client(deep.cert, deep.chain, trust, AT)
    deeper = verify_client(deep.cert, deep.chain, TrustSettings(client_certificate=(pki.cas["root"].cert,),
                                                                 verify_depth=16), AT)
    assert shallow.error_code == 20 and deeper.error_code == 0
    ev = Evidence(at=AT, config=config, eff=eff, client=(deep.cert, *deep.chain),
                  verifies=(VerifyEvidence(eff.servers[0], shallow, deeper, len(deep.chain)),))
    top = diagnose(ev)[0]
    assert top.cause == "verify-depth-exceeded" and top.fix.snippet == "ssl_verify_depth 2;"
    foreign = pki.clients["foreign"]
    untrusted = verify_client(foreign.cert, foreign.chain, trust, AT)
    ev = Evidence(at=AT, config=config, eff=eff, client=(foreign.cert,),
                  verifies=(VerifyEvidence(eff.servers[0], untrusted, None, 0),))
    assert diagnose(ev)[0].cause in ("client-issuer-unknown", "client-ca-not-trusted")


# --- how findings weigh ------------------------------------------------------------------------


def test_many_findings_of_one_rule_weigh_as_one():
    """Five expired roots in one CA file are one piece of evidence, not five (Board.signal)."""
    from tests.diagnose.cause_fixtures import MTLS, ev, finding

    one = diagnose(ev(MTLS, lint=(finding("MTLS104", path="/etc/nginx/ca.pem", line=None, index=0),),
                      roles={"/etc/nginx/ca.pem": "ca"}))
    five = diagnose(ev(MTLS, lint=tuple(finding("MTLS104", path="/etc/nginx/ca.pem", line=None, index=i)
                                        for i in range(5)), roles={"/etc/nginx/ca.pem": "ca"}))
    assert [c.cause for c in one] == [c.cause for c in five] == ["trust-anchor-invalid"]
    assert five[0].confidence == pytest.approx(one[0].confidence)
    assert len(five[0].evidence) == 5  # every finding still shown


def test_one_bad_ca_among_many_weighs_less_than_a_bad_only_ca():
    """An expired root in a bundle whose other CAs are fine fails only its own clients."""
    from tests.diagnose.cause_fixtures import MTLS, big_ca_files, ev, finding

    _, small = big_ca_files()  # 3 CAs at /etc/nginx/ca.pem
    bad = finding("MTLS104", path="/etc/nginx/ca.pem", line=None, index=0)
    among = diagnose(ev(MTLS, lint=(bad,), files=small, roles={"/etc/nginx/ca.pem": "ca"}))
    only = diagnose(ev(MTLS, lint=tuple(finding("MTLS104", path="/etc/nginx/ca.pem", line=None, index=i)
                                        for i in range(3)), files=small, roles={"/etc/nginx/ca.pem": "ca"}))
    assert among[0].cause == only[0].cause == "trust-anchor-invalid"
    assert among[0].confidence < only[0].confidence
