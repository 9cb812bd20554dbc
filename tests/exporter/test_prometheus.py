"""A REAL Prometheus (Debian's package) scrapes the exporter, which probes real lab nginx.

What these tests prove, through Prometheus' HTTP API (``/api/v1/query``, ``/api/v1/alerts``):
- the ``/probe`` multi-target pattern works with Prometheus' relabelling (``__param_target``,
  ``__param_module``) and the values per front are right: ``on`` / ``optional`` / ``off``
  (mode state set, CertificateRequest sent, identities accepted, the server certificate's
  expiry even where the mTLS handshake fails);
- the CA file of a front is changed on disk: Prometheus sees "served names differ from the
  file" (nginx not reloaded); after the reload the names hash changes, the difference is gone,
  and the client certificate that was accepted is rejected (FAILED);
- an expired CRL among the local sources is visible and the shipped alert rule fires;
- the expired client certificate is reported with its expiry in the past.
Bounded waits only (polling with a deadline); every process is stopped at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.exporter.conftest import start_exporter, start_prometheus, stop, wait_until

pytestmark = pytest.mark.nginx

RULES = Path(__file__).resolve().parents[2] / "contrib" / "prometheus" / "mtls-alerts.yml"
INTERVAL = "2s"  # the scrape timeout too: a probe gets 1.5 s (2 s - margin) on a shared machine


def _exporter_config(lab, fronts) -> str:
    good, good_key = lab.identity("good")
    expired, expired_key = lab.identity("expired")
    root_crl = lab.write("root.crl.pem", lab.pki.crl_pem("root"))
    old_crl = lab.write("inter-expired.crl.pem", lab.pki.crl_pem("inter-expired"))
    identities = (f"      - {{name: good, cert: {good}, key: {good_key}}}\n"
                  f"      - {{name: expired, cert: {expired}, key: {expired_key}}}\n")
    common = (f"    sni: localhost\n    server_ca_file: {lab.dir / 'root.pem'}\n"
              "    tls_versions: [\"1.3\"]\n    timeout_seconds: 2\n")
    return f"""
modules:
  lab:
{common}    identities:
{identities}  lab_drift:
{common}    expected_mode: "on"
    client_ca_file: {fronts.prefix / 'certs/drift-ca.pem'}
    identities:
{identities}allow_targets: ["127.0.0.1:*"]
local:
  ca_files: {{root: {lab.dir / 'root.pem'}}}
  crls: {{root-crl: {root_crl}, inter-expired: {old_crl}}}
  client_certs: {{good: {good}}}
"""


def _prometheus_config(exporter, fronts) -> str:
    targets = "".join(
        f"      - targets: ['127.0.0.1:{port}']\n"
        f"        labels: {{scenario: {name}, __param_module: {'lab_drift' if name == 'drift' else 'lab'}}}\n"
        for name, port in fronts.ports.items())
    return f"""
global:
  scrape_interval: {INTERVAL}
  scrape_timeout: {INTERVAL}
  evaluation_interval: {INTERVAL}
rule_files: ['{RULES}']
scrape_configs:
  - job_name: mtls
    metrics_path: /probe
    static_configs:
{targets}    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: '{exporter.address}'}}
  - job_name: mtls-exporter
    static_configs:
      - targets: ['{exporter.address}']
"""


@pytest.fixture(scope="module")
def stack(lab, fronts, tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus")
    exporter = start_exporter(_exporter_config(lab, fronts), directory)
    try:
        prom = start_prometheus(_prometheus_config(exporter, fronts), directory)
        try:
            wait_until(lambda: len(prom.query('up{job="mtls"} == 1')) == len(fronts.ports)
                       and prom.query("mtls_verify_client_mode")
                       and prom.query('up{job="mtls-exporter"} == 1'), 30,
                       "every front and the exporter's /metrics scraped once")
            yield prom
        finally:
            stop(prom.process)
    finally:
        stop(exporter.process)


def _mode(prom, scenario: str) -> str | None:
    rows = prom.query(f'mtls_verify_client_mode{{scenario="{scenario}"}} == 1')
    return rows[0]["metric"]["mtls_verify_client_mode"] if len(rows) == 1 else None


@pytest.mark.parametrize("scenario, mode, request_sent, none_accepted", [
    ("on", "on", 1, 0), ("optional", "optional", 1, 1), ("off", "off", 0, 1), ("on444", "on-444", 1, 0)])
def test_each_front_has_its_mode(stack, scenario, mode, request_sent, none_accepted):
    prom = stack
    assert _mode(prom, scenario) == mode
    assert prom.value(f'mtls_probe_success{{scenario="{scenario}"}}') == 1
    assert prom.value(f'mtls_certificate_request_sent{{scenario="{scenario}"}}') == request_sent
    assert prom.value(f'mtls_identity_accepted{{scenario="{scenario}",identity="none"}}') == none_accepted
    assert prom.value(f'mtls_identity_accepted{{scenario="{scenario}",identity="good"}}') == 1
    # the server's certificate is seen even where mTLS fails for a client without one
    assert prom.value(f'mtls_server_certificate_expiry_timestamp_seconds{{scenario="{scenario}"}} '
                      '- time() > 86400') is not None
    expected_names = 1 if request_sent else None
    assert prom.value(f'mtls_ca_names{{scenario="{scenario}"}}') == expected_names


def test_expired_client_certificate_is_rejected_and_reported(stack):
    prom = stack
    assert prom.value('mtls_identity_accepted{scenario="on",identity="expired"}') == 0
    assert prom.value('mtls_identity_ssl_client_verify{scenario="on",identity="expired",'
                      'mtls_identity_ssl_client_verify="FAILED"}') == 1
    assert prom.value('mtls_identity_certificate_expiry_timestamp_seconds{scenario="on",'
                      'identity="expired"} - time() < 0') is not None


def test_expired_crl_is_seen_and_the_alert_fires(stack):
    prom = stack
    assert prom.value('mtls_local_crl_next_update_timestamp_seconds{source="inter-expired"} '
                      '- time() < 0') is not None
    assert prom.value('mtls_local_crl_next_update_timestamp_seconds{source="root-crl"} '
                      '- time() > 0') is not None
    alerts = wait_until(lambda: [a for a in prom.alerts() if a["labels"]["alertname"]
                                 == "MtlsCrlExpired"], 20, "the MtlsCrlExpired alert")
    assert {a["labels"]["source"] for a in alerts} == {"inter-expired"}


def test_names_drift_after_the_ca_file_changes_and_nginx_reloads(stack, fronts, lab):
    prom = stack
    drift = 'scenario="drift"'
    ca_file = fronts.prefix / "certs" / "drift-ca.pem"
    prom.wait_value(f"mtls_ca_names_differ_from_file{{{drift}}}", 0)
    before = prom.value(f"mtls_ca_names_hash{{{drift}}}")
    assert prom.value(f'mtls_identity_accepted{{{drift},identity="good"}}') == 1
    try:
        ca_file.write_bytes(lab.pki.pem("other-root"))  # on disk only: nginx not reloaded
        prom.wait_value(f"mtls_ca_names_differ_from_file{{{drift}}}", 1)
        assert prom.value(f"mtls_ca_names_hash{{{drift}}}") == before
        assert prom.value(f'mtls_identity_accepted{{{drift},identity="good"}}') == 1
        fronts.reload()
        prom.wait_value(f"mtls_ca_names_differ_from_file{{{drift}}}", 0)
        assert prom.value(f"mtls_ca_names_hash{{{drift}}}") != before
        prom.wait_value(f'mtls_identity_accepted{{{drift},identity="good"}}', 0)
        assert prom.value(f'mtls_identity_ssl_client_verify{{{drift},identity="good",'
                          'mtls_identity_ssl_client_verify="FAILED"}') == 1
        assert prom.value(f'mtls_identity_chain_reaches_advertised_name{{{drift},'
                          'identity="good"}') == 0
        assert prom.value(f"changes(mtls_ca_names_hash{{{drift}}}[5m])") >= 1
    finally:
        ca_file.write_bytes(lab.pki.pem("root"))
        fronts.reload()


def test_the_exporter_is_scraped_for_its_own_health(stack):
    prom = stack
    assert prom.value('up{job="mtls-exporter"}') == 1
    assert prom.value('mtls_local_file_ok{source="good",kind="client"}') == 1
    assert prom.value('sum(mtls_exporter_probes_total{result="success"}) > 0') is not None


def test_every_dashboard_expression_runs_on_prometheus(stack):
    """Each query of contrib/grafana/mtls-dashboard.json ("All" for the variables) is accepted by
    the real Prometheus; the panels about the probes have data for the lab's fronts."""
    from tests.exporter.test_dashboard import expressions

    prom = stack
    results = {}
    for title, expr in expressions():
        results.setdefault(title, []).append(prom.query(expr))  # query() asserts status success
    modes = {r["metric"]["mtls_verify_client_mode"] for r in results["Enforcement per target"][0]}
    assert {"on", "optional", "off", "on-444"} <= modes
    assert results["Client identities"][0] and results["Days to expiry: server certificates"][0]
    assert results["Local files: CRL next update and certificate expiry (days)"][0]
    assert float(results["Targets failing their probe"][0][0]["value"][1]) >= 0
