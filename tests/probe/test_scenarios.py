"""Every lab scenario (helper C's SCENARIOS, real nginx): the probe's inferred mode equals the
scenario's ssl_verify_client, for TLS 1.2 and 1.3 as the scenario offers them; the no-SNI
default-server scenarios are found (MTLS501 / MTLS513)."""

from __future__ import annotations

import pytest

from mtls_doctor.lab.nginx import NginxServer, nginx_version
from mtls_doctor.lab.scenarios import SCENARIOS
from mtls_doctor.probe.handshake import ProbeConfig
from mtls_doctor.probe.matrix import run_matrix
from mtls_doctor.rules.probe import check

pytestmark = pytest.mark.nginx


def expected_mode(scenario) -> str:
    if scenario.server.check_verify:
        return "on"  # optional + `if ($ssl_client_verify != SUCCESS) { return 403; }`
    return scenario.server.verify_client


def expected_no_sni(scenario) -> str:
    default = scenario.default_server
    if default is None:
        return expected_mode(scenario)
    if default.reject_handshake:
        return "unknown"  # no TLS at all without a known name
    if default.verify_client == "off":
        return "on-without-request"  # F7.3
    return "on"  # the default server asks (its CAs); the Host-selected server demands


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_probe_infers_the_scenarios_mode(scenario, lab, nginx_bin, tmp_path):
    if scenario.expected_config_error(nginx_version(nginx_bin)):
        pytest.skip("nginx -t refuses this scenario on this version (tested by tests/lab)")
    server = NginxServer(scenario.render, ports=scenario.ports, files=scenario.files(lab.pki),
                         nginx_bin=nginx_bin, workdir=tmp_path / "nginx")
    with server:
        config = ProbeConfig("127.0.0.1", server.port, ca_file=str(lab.root_pem),
                             verify_name=scenario.server.server_name, timeout=5)
        result = run_matrix(config, scenario.server.server_name, other_sni=None, legacy=False)
    with_sni, without = result.inferences
    assert with_sni.mode == expected_mode(scenario), with_sni.evidence
    assert without.mode == expected_no_sni(scenario), without.evidence
    offered = {v for v, _ in with_sni.per_version}
    assert offered == {p.replace("TLSv", "") for p in scenario.server.protocols}
    names = result.to_dict()["ca_names"]
    advertised = [lab.pki.cas[n].cert.subject.rfc4514_string() for n in scenario.server.client_certificate]
    if scenario.server.verify_client != "off":
        assert names == advertised  # F1.1 (trusted-only: the empty list, F1.4)
    codes = {f.rule for f in check(result)}
    if scenario.default_server is not None and not scenario.default_server.reject_handshake:
        assert codes & {"MTLS501", "MTLS513"}
    else:
        assert not codes & {"MTLS501", "MTLS513"}
    assert ("MTLS509" in codes) == (expected_mode(scenario) in ("optional", "optional_no_ca"))
