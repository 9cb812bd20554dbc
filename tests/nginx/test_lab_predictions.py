"""Lint predicts what real nginx did: every lab scenario runs on real nginx (lab.run), then the
configuration that ran is linted with its files, and the findings are checked against the
measured rows.

- soundness: a finding of a rule in EVIDENCE comes with that rule's measured symptom (when the
  scenario's client matrix exercises it);
- completeness: for the rules in COMPLETE, the measured symptom comes with the finding;
- the correct setups give no warning or error about the mTLS server.
Predictions that need the clients' chains (depth-default: clients send two intermediates, the CA
file has only the root) are out of reach for a configuration linter and are not claimed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.lab.scenarios import SCENARIOS
from mtls_doctor.model import Severity
from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import load_path
from mtls_doctor.nginx.version import Version

AT = datetime.now(timezone.utc)


def _verify(rows, text: str) -> bool:
    return any((r.ssl_client_verify or "") == f"FAILED:{text}" for r in rows)


EVIDENCE = {
    # optional: a client with no certificate got the content (None: the matrix has no such client)
    "MTLS201": lambda res: any(r.client is None and r.status == 200 for r in res.rows)
    if any(r.client is None and r.sni for r in res.rows) else None,
    # optional_no_ca: a certificate that failed verification got the content
    "MTLS202": lambda res: any(r.status == 200 and (r.ssl_client_verify or "").startswith("FAILED") for r in res.rows),
    "MTLS203": lambda res: res.error is not None and "no ssl_client_certificate for ssl_verify_client" in res.error,
    # OpenSSL 3.x logs the error of the cut (20 or 2); 1.1.1 logs 22 (docs/versions.md)
    "MTLS207": lambda res: _verify(res.rows, "unable to get local issuer certificate")
    or _verify(res.rows, "unable to get issuer certificate")
    or _verify(res.rows, "certificate chain too long"),
    "MTLS103": lambda res: _verify(res.rows, "unable to get issuer certificate"),
    # a client without SNI, holding a good certificate, was never asked for it (496)
    "MTLS210": lambda res: any(not r.sni and r.client is not None and r.status == 400 and r.ssl_client_verify == "NONE"
                               for r in res.rows),
    # a client without SNI and a certificate of the default server's CA got into the mTLS server
    "MTLS211": lambda res: any(not r.sni and r.client == "foreign" and r.status == 200 for r in res.rows),
    "MTLS301": lambda res: _verify(res.rows, "unable to get certificate CRL"),
    "MTLS302": lambda res: _verify(res.rows, "CRL has expired"),
    # the application read an identity header the client sent itself
    "MTLS405": lambda res: any(r.client is None and "x-client-verify=[SUCCESS]" in r.body for r in res.rows),
}
#: symptom of rule -> the rules any of which predicts it
COMPLETE = {
    "MTLS202": ("MTLS202",),
    "MTLS203": ("MTLS203",),
    "MTLS210": ("MTLS210",),
    "MTLS211": ("MTLS211",),
    "MTLS301": ("MTLS301",),
    "MTLS302": ("MTLS302",),
    # a spoofed X-Client-Verify: nginx never sets it (201) or sets it elsewhere only (405)
    "MTLS405": ("MTLS405", "MTLS201"),
}
#: scenarios whose nginx -t refusal is itself the behaviour lint must predict
EXPECTED_REFUSALS = ("trusted-only-on",)
GOOD = ("good", "depth-2", "ca-root-and-inter", "optional-checked", "no-sni-rejected", "crl-valid")


@pytest.fixture(scope="module")
def pki():
    from mtls_doctor.lab.pki import build_lab_pki

    return build_lab_pki(AT)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_lint_predicts_measured_behaviour(scenario, pki, nginx_bin: str, tmp_path: Path) -> None:
    from mtls_doctor.lab.nginx import nginx_version
    from mtls_doctor.lab.run import run_scenario

    result = run_scenario(scenario, pki, nginx_bin, tmp_path, keep=True, timeout=5.0)
    assert result.prefix is not None
    if result.error and result.expected_error and result.expected_error in result.error \
            and scenario.name not in EXPECTED_REFUSALS:
        pytest.skip(f"nginx -t refuses {scenario.name} on this version, as expected (tests/lab)")
    conf = Path(result.prefix) / "nginx.conf"
    config = load_path(conf)
    version = Version(*nginx_version(nginx_bin)[:3])
    report = lint_config(config, AT, version, load_named_files(effective(config)))
    codes = {f.rule for f in report.findings}
    errors = {f.rule for f in report.findings if f.severity >= Severity.ERROR}  # predicted failures
    summary = [(f.rule, str(f.location), f.message) for f in report.findings] + [
        (r.client_id, r.status, r.ssl_client_verify, r.sni) for r in result.rows] + [result.error]
    for code, seen in EVIDENCE.items():
        if code in errors:
            assert seen(result) is not False, (f"{code} predicted, not measured", summary)
    for code, predictors in COMPLETE.items():
        if EVIDENCE[code](result):
            assert set(predictors) & errors, (f"nginx showed the {code} symptom, lint did not predict it", summary)
    if scenario.name in GOOD:
        loud = [f for f in report.findings if f.severity >= Severity.WARNING and f.rule[4] in "234"]
        assert not loud, summary
