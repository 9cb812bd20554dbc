"""Fixture cases of the probe rules (MTLS5xx). The rules are pure functions of a ProbeResult,
so the inputs here are ProbeResult values written out by hand; tests/probe/test_rules_live.py
runs the same rules over results of real handshakes with nginx."""

from __future__ import annotations

import pytest

from mtls_doctor.probe.model import (
    Alert,
    Attempt,
    AttemptSpec,
    CertificateRequest,
    CertKind,
    CertSummary,
    ClientChainSummary,
    HttpAnswer,
    Inference,
    Outcome,
    ProbeResult,
    ServerVerification,
    Step,
    VerifyError,
)
from mtls_doctor.rules.probe import RULES

from tests.rules.cases import RuleCase

AT = "2026-11-28T01:00:00+00:00"
ROOT = "CN=Lab Root CA,O=mtls-doctor lab"
INTER = "CN=Lab Client Intermediate,O=mtls-doctor lab"
LEAF = CertSummary("CN=localhost", ROOT, "2026-01-01T00:00:00+00:00", "2027-06-01T00:00:00+00:00",
                   ("localhost",))
DONE = (Step("finished", True),)
PAGE_496 = HttpAnswer(400, "Bad Request", "nginx", 496, "No required SSL certificate was sent")
PAGE_495 = HttpAnswer(400, "Bad Request", "nginx", 495, "The SSL certificate error")
OK_200 = HttpAnswer(200, "OK", "nginx")


def att(cert=CertKind.NONE, sni="localhost", names=(ROOT,), http=OK_200, *, requested=True,
        chain=(LEAF,), verified=True, outcome=Outcome.HTTP_ANSWER, alert=None, done=True, tls="1.3"):
    return Attempt(
        spec=AttemptSpec(cert, sni, tls),
        outcome=outcome,
        steps=DONE if done else (),
        version=f"TLSv{tls}" if done else None,
        server_chain=chain,
        server_verification=ServerVerification(verified, () if verified else (
            VerifyError(0, 20, "unable to get local issuer certificate"),)),
        certificate_request=CertificateRequest(tuple(names)) if requested else None,
        http=http,
        alert=alert,
    )


def result(*attempts, inferences=(), legacy=(), client=None, sni="localhost", offline=None):
    return ProbeResult("127.0.0.1", 8443, "/", sni, tuple(attempts), tuple(inferences), AT,
                       legacy_tls=legacy, client=client, offline=offline)


def inf(mode, sni="localhost", requested=True):
    return Inference(sni, mode, "http", requested)


GOOD_CLIENT = ClientChainSummary("CN=alice", INTER, ((INTER, ROOT, False),))
LEAF_ONLY = ClientChainSummary("CN=alice", INTER, ())
FOREIGN = ClientChainSummary("CN=mallory", "CN=Other Root", (("CN=Other Root", "CN=Other Root", True),))

CASES = [
    RuleCase("MTLS501", "fire", "no-request-without-sni", result(
        att(), att(sni=None, requested=False),
        inferences=(inf("on"), inf("off", None, False)))),
    RuleCase("MTLS501", "fire", "on-without-request", result(
        att(http=PAGE_496), att(sni=None, requested=False, http=PAGE_496),
        inferences=(inf("on"), inf("on-without-request", None, False)))),
    RuleCase("MTLS501", "ok", "ok_same-with-and-without-sni", result(
        att(http=PAGE_496), att(sni=None, http=PAGE_496),
        inferences=(inf("on"), inf("on", None)))),
    RuleCase("MTLS502", "fire", "empty-list", result(att(names=()), inferences=(inf("optional_no_ca"),))),
    RuleCase("MTLS502", "ok", "ok_no-request-is-not-an-empty-list", result(
        att(requested=False), inferences=(inf("off", requested=False),))),
    RuleCase("MTLS502", "ok", "ok_names-present", result(att(), inferences=(inf("on"),))),
    RuleCase("MTLS503", "fire", "foreign-root", result(
        att(cert=CertKind.USER, http=PAGE_495), client=FOREIGN)),
    RuleCase("MTLS503", "ok", "ok_chain-reaches-root", result(att(cert=CertKind.USER), client=GOOD_CLIENT)),
    RuleCase("MTLS504", "fire", "leaf-without-intermediate", result(
        att(cert=CertKind.USER, http=PAGE_495), client=LEAF_ONLY)),
    RuleCase("MTLS504", "ok", "ok_intermediate-supplied", result(att(cert=CertKind.USER), client=GOOD_CLIENT)),
    RuleCase("MTLS504", "ok", "ok_intermediate-advertised", result(
        att(cert=CertKind.USER, names=(INTER,)), client=LEAF_ONLY)),
    RuleCase("MTLS505", "fire", "495-page", result(att(cert=CertKind.USER, http=PAGE_495), client=FOREIGN)),
    RuleCase("MTLS505", "fire", "tls-alert", result(att(
        cert=CertKind.USER, http=None, outcome=Outcome.TLS_ALERT,
        alert=Alert("received", "fatal", 48, "unknown_ca", True)), client=FOREIGN)),
    RuleCase("MTLS505", "ok", "ok_user-200", result(att(cert=CertKind.USER), client=GOOD_CLIENT)),
    RuleCase("MTLS505", "ok", "ok_no-cert-rejected-is-not-the-users", result(att(http=PAGE_496))),
    RuleCase("MTLS506", "fire", "untrusted-server", result(att(verified=False))),
    RuleCase("MTLS506", "ok", "ok_verified", result(att())),
    RuleCase("MTLS507", "fire", "expires-in-10-days", result(att(chain=(CertSummary(
        "CN=localhost", ROOT, "2026-01-01T00:00:00+00:00", "2026-12-08T00:00:00+00:00"),)))),
    RuleCase("MTLS507", "fire", "expired", result(att(chain=(CertSummary(
        "CN=localhost", ROOT, "2025-01-01T00:00:00+00:00", "2026-11-01T00:00:00+00:00"),)))),
    RuleCase("MTLS507", "ok", "ok_six-months-left", result(att())),
    RuleCase("MTLS508", "fire", "tls11", result(att(), legacy=("TLS 1.1",))),
    RuleCase("MTLS508", "ok", "ok_refused", result(att(), legacy=())),
    RuleCase("MTLS508", "ok", "ok_not-checked", result(att(), legacy=None)),
    RuleCase("MTLS509", "fire", "optional", result(att(), inferences=(inf("optional"),))),
    RuleCase("MTLS509", "fire", "optional_no_ca", result(att(), inferences=(inf("optional_no_ca"),))),
    RuleCase("MTLS509", "ok", "ok_on", result(att(http=PAGE_496), inferences=(inf("on"),))),
    RuleCase("MTLS510", "fire", "timeout", result(Attempt(
        AttemptSpec(CertKind.NONE, "localhost", "1.3"), Outcome.TIMEOUT, failed_step="handshake",
        error="handshake: no answer within the timeout"))),
    # a TLS server that never answers the HTTP request: nothing can be inferred either
    RuleCase("MTLS510", "fire", "handshake_but_no_http_answer", result(
        att(http=None, outcome=Outcome.TIMEOUT, requested=False),
        att(http=None, outcome=Outcome.NO_HTTP_ANSWER, requested=False, tls="1.2"))),
    RuleCase("MTLS510", "ok", "ok_tls-required-alert-after-request", result(att(
        http=None, outcome=Outcome.TLS_ALERT, done=False, tls="1.2",
        alert=Alert("received", "fatal", 40, "handshake_failure", False)))),
    RuleCase("MTLS511", "fire", "421", result(att(http=HttpAnswer(421, "Misdirected Request", "nginx")))),
    RuleCase("MTLS511", "ok", "ok_200", result(att())),
]

BY_CODE = {rule.code: rule for rule in RULES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{c.kind}-{c.id}")
def test_case(case):
    codes = [f.rule for f in BY_CODE[case.code].check(case.input)]
    if case.kind == "fire":
        assert codes and set(codes) == {case.code}
        for finding in BY_CODE[case.code].check(case.input):
            assert str(finding.location) == "127.0.0.1:8443"
            assert finding.message.endswith(".")
    else:
        assert codes == []


def test_no_request_and_empty_list_are_different_findings():
    from mtls_doctor.rules.probe import check

    absent = result(att(requested=False), inferences=(inf("off", requested=False),))
    empty = result(att(names=()), inferences=(inf("optional_no_ca"),))
    assert "MTLS502" not in [f.rule for f in check(absent)]
    assert "MTLS502" in [f.rule for f in check(empty)]


def _offline(status, verify="FAILED:certificate has expired", code=10):
    from mtls_doctor.probe.offline import OfflineVerdict

    return OfflineVerdict((ROOT,), "on", 1, status, 495 if status == 400 else None, verify, code,
                          "certificate has expired" if code else None, "The leaf expired.", "Renew it.")


CASES += [
    RuleCase("MTLS512", "fire", "expired-offline", result(
        att(cert=CertKind.USER, http=PAGE_495), client=GOOD_CLIENT, offline=_offline(400))),
    RuleCase("MTLS512", "ok", "ok_offline-200", result(
        att(cert=CertKind.USER), client=GOOD_CLIENT, offline=_offline(200, "SUCCESS", 0))),
    RuleCase("MTLS512", "ok", "ok_no-client-ca", result(att(cert=CertKind.USER), client=GOOD_CLIENT)),
]

OTHER = "CN=Other Root"
CASES += [
    RuleCase("MTLS513", "fire", "other-names-without-sni", result(
        att(http=PAGE_496), att(sni=None, names=(OTHER,), http=PAGE_496))),
    RuleCase("MTLS513", "ok", "ok_same-names", result(att(http=PAGE_496), att(sni=None, http=PAGE_496))),
    RuleCase("MTLS513", "ok", "ok_no-request-without-sni-is-mtls501", result(
        att(http=PAGE_496), att(sni=None, requested=False, http=PAGE_496))),
]
