"""Log rules (MTLS602-609) on an error log written by REAL nginx 1.22.1.

tests/logs/lab.py provokes every failure on real nginx (no certificate, bad certificates, a
client rejecting nginx's certificate, SNI/Host mismatch, rejected handshakes, TLS version
mismatch, CRL and OCSP failures, upstream mTLS failures) and records which cause each request
must produce. Here the whole real log goes through `summarize` and the log rules: each rule must
fire exactly when a provoked failure of its kind is in the log, on lines nginx really wrote.
MTLS607 (config load errors) runs on real `nginx -t` output.
"""

from __future__ import annotations

import pytest

from mtls_doctor.logs.summary import summarize
from mtls_doctor.rules.logs import check
from tests.logs.lab import CONFIG_EXPECTED, config_errors, run_lab

pytestmark = pytest.mark.nginx

#: log rule -> provoked causes (tests/logs/lab.py ids) that must make it fire
RULE_CAUSES = {
    "MTLS602": ("client-cert-verify-failed:21", "client-cert-verify-failed:10", "client-cert-verify-failed:26",
                "client-cert-ocsp-failed"),
    "MTLS603": ("no-required-certificate",),
    "MTLS604": ("client-rejected-server-certificate",),
    "MTLS605": ("sni-host-mismatch",),
    "MTLS606": ("tls-version-or-cipher-mismatch", "handshake-rejected", "plain-http-to-https-port"),
    "MTLS608": ("upstream-requires-client-certificate", "upstream-rejected-client-certificate"),
    "MTLS609": ("ocsp-check-error",),
}


@pytest.fixture(scope="module")
def real_log(tmp_path_factory, nginx_bin):
    return run_lab(tmp_path_factory.mktemp("truth-logs"), nginx_bin)


def test_each_log_rule_fires_on_the_lines_real_nginx_wrote(real_log):
    summary = summarize(real_log.error_log.splitlines(), "error.log")
    findings = check(summary)
    fired = {f.rule for f in findings}
    groups = {g.cause.id: g for g in summary.groups}
    for rule, causes in RULE_CAUSES.items():
        for cause in causes:
            assert real_log.expected.get(cause), (rule, cause, real_log.expected)  # was provoked
            assert cause in groups and groups[cause].cause.rule == rule, (cause, sorted(groups))
        assert rule in fired, (rule, sorted(fired))
    # the config-error rule does not fire on a log of a running nginx
    assert "MTLS607" not in fired


def test_config_load_error_rule_fires_on_real_nginx_t_output(tmp_path, nginx_bin):
    messages = config_errors(tmp_path, nginx_bin)
    assert set(messages) == set(CONFIG_EXPECTED)
    for case, text in messages.items():
        summary = summarize(text.splitlines(), f"{case}.log")
        rules = {f.rule for f in check(summary)}
        assert "MTLS607" in rules, (case, text)
