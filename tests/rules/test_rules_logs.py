"""Fixtures of the MTLS6xx rules (error logs). Every input is real nginx output: lines picked
from tests/logs/data/lab-error.log, which ``python -m tests.logs.lab`` captures from a real
nginx run (tests/logs/test_real_nginx.py checks a fresh run the same way).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mtls_doctor.logs.summary import summarize
from mtls_doctor.rules.logs import check
from tests.rules.cases import RuleCase

REAL = (Path(__file__).parent.parent / "logs" / "data" / "lab-error.log").read_text().splitlines()


def pick(*markers: str) -> tuple[str, ...]:
    """The real lines containing each marker (the marker is the expectation's anchor)."""
    out = []
    for marker in markers:
        found = [ln for ln in REAL if marker in ln]
        assert found, f"no real line contains {marker!r}"
        out.append(found[0])
    return tuple(out)


NOT_INFO = tuple(ln for ln in REAL if "[info]" not in ln)

CASES = [
    RuleCase("MTLS601", "fire", "error-and-notice-only", NOT_INFO),  # no [info] line at all
    RuleCase("MTLS601", "ok", "info-present", pick("[notice]", "[info]")),
    RuleCase("MTLS602", "fire", "depth-20", pick("lab=deep ")),  # (20:unable to get local issuer ...)
    RuleCase("MTLS602", "fire", "ocsp-status", pick("certificate status request failed")),
    RuleCase("MTLS602", "ok", "no-cert-is-603", pick("lab=no-cert ")),
    RuleCase("MTLS603", "fire", "no-cert", pick("client sent no required SSL certificate")),
    RuleCase("MTLS603", "ok", "bad-cert-is-602", pick("lab=expired ")),
    RuleCase("MTLS604", "fire", "client-alert-48", pick("alert unknown ca:SSL alert number 48) while SSL handshaking, client")),
    RuleCase("MTLS604", "ok", "upstream-alert-48-is-608", pick("GET /foreign")),
    RuleCase("MTLS605", "fire", "sni-a-host-b", pick("server name different")),
    RuleCase("MTLS605", "ok", "closed-connection", pick("client closed connection")),
    RuleCase("MTLS606", "fire", "reject-handshake", pick("handshake rejected")),
    RuleCase("MTLS606", "fire", "tls13-vs-1.22-defaults", pick("unsupported protocol")),
    RuleCase("MTLS606", "ok", "closed-connection", pick("client closed connection")),
    RuleCase("MTLS607", "fire", "no-client-ca", pick("[emerg] no ssl_client_certificate")),
    RuleCase("MTLS607", "fire", "crl-garbage", pick("X509_LOOKUP_load_file")),
    RuleCase("MTLS607", "ok", "shutdown-notice", pick("gracefully shutting down")),
    RuleCase("MTLS608", "fire", "upstream-alert-40", pick("GET /nocert")),
    RuleCase("MTLS608", "fire", "upstream-verify", pick("upstream SSL certificate verify error")),
    RuleCase("MTLS608", "ok", "client-alert-is-604", pick("alert unknown ca:SSL alert number 48) while SSL handshaking, client")),
    RuleCase("MTLS609", "fire", "no-responder-url", pick("no OCSP responder URL in certificate while")),
    RuleCase("MTLS609", "ok", "ocsp-verdict-is-602", pick("certificate status request failed")),
    RuleCase("MTLS609", "ok", "stapling-ignored-warning", pick('"ssl_stapling" ignored')),
    RuleCase("MTLS610", "fire", "nginx-t-summary-only", pick("nginx: configuration file")),  # not log format
    RuleCase("MTLS610", "ok", "one-log-line", pick("[notice]")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{c.kind}-{c.id}")
def test_rule_fixture(case):
    codes = {f.rule for f in check(summarize(case.input, source="fixture.log"))}
    if case.kind == "fire":
        assert case.code in codes, codes
    else:
        assert case.code not in codes, codes


def test_group_finding_points_at_the_first_line():
    lines = pick("[notice]", "lab=deep ", "lab=deep ")
    (finding,) = [f for f in check(summarize(lines, source="e.log")) if f.rule == "MTLS602"]
    assert str(finding.location) == "e.log:2"
    assert finding.message.startswith("2 line(s): verify error 20 (unable to get local issuer certificate)")
    assert finding.fix is not None and "ssl_verify_depth" in finding.fix.text
