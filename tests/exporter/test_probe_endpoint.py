"""The exporter's endpoints against real nginx (no Prometheus): what /probe and /metrics
answer, the allow-list, unknown modules, and that no key material ever appears."""

from __future__ import annotations

import pytest

from tests.exporter.conftest import samples as _samples, stalling_target, start_exporter, stop

pytestmark = pytest.mark.nginx


def _config(lab, fronts) -> str:
    cert, key = lab.identity("good")
    return f"""
modules:
  lab_on:
    sni: localhost
    server_ca_file: {lab.dir / 'root.pem'}
    tls_versions: ["1.3"]
    timeout_seconds: 2
    expected_mode: "on"
    client_ca_file: {fronts.prefix / 'certs/root.pem'}
    identities:
      - {{name: good, cert: {cert}, key: {key}}}
allow_targets: ["127.0.0.1:*"]
local:
  ca_files: {{root: {lab.dir / 'root.pem'}}}
  client_certs: {{good: {cert}}}
"""


@pytest.fixture(scope="module")
def exporter(lab, fronts, tmp_path_factory):
    exp = start_exporter(_config(lab, fronts), tmp_path_factory.mktemp("exporter"))
    yield exp
    stop(exp.process)


def test_probe_of_an_on_front(exporter, fronts, lab):
    status, body = exporter.probe(f"127.0.0.1:{fronts.ports['on']}", "lab_on")
    assert status == 200, body
    s = _samples(body)
    assert s["mtls_probe_success"] == 1
    assert s['mtls_verify_client_mode{mtls_verify_client_mode="on"}'] == 1
    assert s['mtls_verify_client_mode{mtls_verify_client_mode="off"}'] == 0
    assert s["mtls_certificate_request_sent"] == 1
    assert s["mtls_ca_names"] == 1
    assert s["mtls_ca_names_differ_from_file"] == 0
    assert s['mtls_identity_accepted{identity="good"}'] == 1
    assert s['mtls_identity_accepted{identity="none"}'] == 0
    assert s['mtls_identity_ssl_client_verify{identity="good",mtls_identity_ssl_client_verify="SUCCESS"}'] == 1
    assert s['mtls_identity_verify_code{identity="good"}'] == 0
    assert s['mtls_identity_chain_reaches_advertised_name{identity="good"}'] == 1
    assert s["mtls_server_certificate_expiry_timestamp_seconds"] == pytest.approx(
        lab.pki.server.cert.not_valid_after_utc.timestamp())
    assert "PRIVATE KEY" not in body


def test_allow_list_unknown_module_and_bad_target(exporter, fronts):
    assert exporter.probe(f"127.0.0.2:{fronts.ports['on']}", "lab_on")[0] == 403
    assert exporter.probe(f"127.0.0.1:{fronts.ports['on']}", "nope")[0] == 400
    assert exporter.probe("ftp://x", "lab_on")[0] == 400
    status, body = exporter.get("/metrics")
    s = _samples(body)
    assert s['mtls_exporter_probe_requests_rejected_total{reason="not-allowed"}'] >= 1
    assert s['mtls_exporter_probe_requests_rejected_total{reason="unknown-module"}'] >= 1
    assert s['mtls_local_file_ok{kind="ca",source="root"}'] == 1
    assert "PRIVATE KEY" not in body


def _names(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def test_every_metric_is_documented(exporter, fronts):
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "exporter.md").read_text()
    documented = set(__import__("re").findall(r"`(mtls_[a-z_]+)", doc))
    body = exporter.probe(f"127.0.0.1:{fronts.ports['on']}", "lab_on")[1]
    body += exporter.get("/metrics")[1]
    ours = {n for n in _names(body) if n.startswith("mtls_")}
    assert ours and ours <= documented, sorted(ours - documented)
    assert all(n.startswith("mtls_") or n.startswith(("process_", "python_"))
               for n in _names(body))


def test_a_silent_target_is_a_failed_probe_within_the_step_timeout(exporter):
    with stalling_target() as target:
        status, body = exporter.probe(target, "lab_on")
    s = _samples(body)
    assert status == 200
    assert s["mtls_probe_success"] == 0 and s["mtls_probe_deadline_exceeded"] == 0
    assert s['mtls_probe_step_success{step="tcp"}'] == 1
    assert s['mtls_probe_step_success{step="handshake"}'] == 0
    assert s['mtls_verify_client_mode{mtls_verify_client_mode="unknown"}'] == 1
    assert "mtls_server_certificate_expiry_timestamp_seconds" not in body


def test_fronts_closing_with_444_have_their_own_modes(exporter, fronts):
    """nginx `return 444` (NGINX Gateway Fabric's failed verification): no alert, no answer.
    Without the refinement the engine calls the first `tls-required` and the second `unknown`."""
    status, body = exporter.probe(f"127.0.0.1:{fronts.ports['on444']}", "lab_on")
    s = _samples(body)
    assert status == 200
    assert s['mtls_verify_client_mode{mtls_verify_client_mode="on-444"}'] == 1
    assert s['mtls_verify_client_mode{mtls_verify_client_mode="tls-required"}'] == 0
    assert s["mtls_certificate_request_sent"] == 1
    assert s['mtls_identity_accepted{identity="none"}'] == 0
    assert s['mtls_identity_http_status{identity="none"}'] == 0
    assert s['mtls_identity_accepted{identity="good"}'] == 1
    assert s['mtls_identity_ssl_client_verify{identity="good",mtls_identity_ssl_client_verify="SUCCESS"}'] == 1
    assert s["mtls_probe_success"] == 0  # expected_mode "on": a change of enforcement layer alerts
    assert s["mtls_verify_client_mode_expected"] == 0
    status, body = exporter.probe(f"127.0.0.1:{fronts.ports['closes444']}", "lab_on")
    s = _samples(body)
    assert s['mtls_verify_client_mode{mtls_verify_client_mode="closes-444"}'] == 1
    assert s['mtls_identity_accepted{identity="good"}'] == 0
    assert s['mtls_probe_step_success{step="handshake"}'] == 1
    assert "mtls_server_certificate_expiry_timestamp_seconds" in body  # seen though nothing answers
