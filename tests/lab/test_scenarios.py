"""Every lab scenario on real nginx: measured status, $ssl_client_verify and info log line must
match the scenario's expectation (taken from the facts sheet); a few rows cross-checked with
real curl and openssl s_client; no nginx left behind."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.lab import pki as lab_pki
from mtls_doctor.lab.nginx import NginxServer, lab_nginx_pids
from mtls_doctor.lab.run import run_scenario
from mtls_doctor.lab.scenarios import SCENARIOS, Expect, get

pytestmark = pytest.mark.nginx

FACTS = Path(__file__).resolve().parents[2] / "docs" / "nginx-mtls-facts.md"


@pytest.fixture(scope="module")
def pki():
    return lab_pki.build_lab_pki(datetime.now(timezone.utc))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("lab-scenarios")


@pytest.fixture(scope="module")
def pki_dir(pki, workdir):
    pki.write(workdir / "pki-files")
    return workdir / "pki-files"


# -- the scenarios as data ---------------------------------------------------------------------

def test_names_and_client_ids_are_unique():
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    for s in SCENARIOS:
        ids = [c.id for c in s.clients]
        assert len(ids) == len(set(ids)), s.name
        assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids), s.name


def test_scenarios_use_only_lab_pki_names():
    for s in SCENARIOS:
        for server in filter(None, (s.server, s.default_server)):
            assert set(server.client_certificate) <= set(lab_pki.CAS), s.name
            assert set(server.trusted_certificate) <= set(lab_pki.CAS), s.name
            assert set(server.crl) <= set(lab_pki.CRLS), s.name
            assert server.verify_client in ("on", "optional", "optional_no_ca", "off"), s.name
        for c in s.clients:
            assert c.client is None or c.client in lab_pki.CLIENTS, (s.name, c.id)


def test_scenarios_cite_facts_that_exist():
    known = set(re.findall(r"\*\*(F\d+\.\d+)\b", FACTS.read_text())) if FACTS.is_file() else None
    for s in SCENARIOS:
        assert s.facts and all(re.fullmatch(r"F\d+\.\d+", f) for f in s.facts), s.name
        assert any(f in s.demonstrates for f in s.facts), s.name
        if known is not None:
            assert set(s.facts) <= known, (s.name, set(s.facts) - known)


def test_rendered_configs_are_loopback_only_with_secure_protocols(pki):
    for s in SCENARIOS:
        text = s.render((20443, 20080))
        for listen in re.findall(r"(?m)^\s*listen\s+(\S+?)[\s;]", text):
            assert listen.startswith("127.0.0.1:"), (s.name, listen)
        for protocols in re.findall(r"(?m)^\s*ssl_protocols ([^;]+);", text):
            assert set(protocols.split()) <= {"TLSv1.2", "TLSv1.3"}, s.name
        assert set(s.files(pki)) >= {"pki/server.pem", "pki/server.key"}


def test_issue_list_is_covered():
    wanted = {"good", "depth-default", "depth-2", "depth-0", "ca-intermediate-only",
              "client-omits-intermediate", "ca-root-and-inter", "trusted-only-optional-no-ca",
              "optional-unchecked", "optional-checked", "optional-no-ca-foreign",
              "no-sni-default-server", "crl-valid", "crl-expired", "crl-missing-root",
              "server-eku-client", "expired-client", "tls12-only", "tls13-only",
              "proxy-headers-overwritten", "proxy-headers-passed-through"}
    assert wanted <= {s.name for s in SCENARIOS}


# -- every scenario on real nginx ---------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_on_real_nginx(scenario, pki, nginx_bin, workdir):
    result = run_scenario(scenario, pki, nginx_bin, workdir)
    assert result.prefix is None and not (workdir / scenario.name).exists()
    assert lab_nginx_pids([workdir]) == set()
    if result.expected_error is not None:
        assert result.error is not None and result.expected_error in result.error
        assert result.rows == ()
        return
    assert result.error is None
    assert [r.client_id for r in result.rows] == [c.id for c in scenario.clients]
    for row, spec in zip(result.rows, scenario.clients):
        exp = row.expected  # the scenario's expectation for this nginx's OpenSSL release
        where = f"{scenario.name}/{row.client_id}"
        assert row.status == exp.status, (where, row.status, row.error, row.body[:200])
        assert row.ssl_client_verify == exp.verify, where
        if exp.log is None:
            assert row.log_line is None or "verify error" not in row.log_line, (where, row.log_line)
        else:
            assert row.log_line is not None and exp.log in row.log_line, (where, row.log_line)
            assert row.log_line.startswith("[info]"), where  # F4.1: info level only
            assert f'request: "GET /?lab={row.client_id} HTTP/1.1"' in row.log_line
        if exp.page is not None:
            assert row.page == exp.page, where
        if exp.error is not None:
            assert row.error is not None and exp.error in row.error, where
        if spec.client is not None and row.ssl_client_verify not in (None, "NONE"):
            assert row.ssl_client_s_dn == pki.clients[spec.client].cert.subject.rfc4514_string(), where
        assert row.matched, (where, row.mismatches)
    assert result.matched
    assert result.to_dict()["matched"] is True


def test_a_wrong_expectation_is_reported(pki, nginx_bin, workdir):
    good = get("good")
    wrong = dataclasses.replace(good.clients[1], expect=Expect(400, "NONE", "client sent no"))
    result = run_scenario(dataclasses.replace(good, clients=(wrong,)), pki, nginx_bin, workdir)
    assert not result.matched
    (row,) = result.rows
    assert row.status == 200 and row.ssl_client_verify == "SUCCESS"
    assert any("status 200 (expected 400)" in m for m in row.mismatches)
    assert any("log line None" in m for m in row.mismatches)


def test_kept_prefix_has_config_and_logs(pki, nginx_bin, tmp_path):
    result = run_scenario(get("depth-default"), pki, nginx_bin, tmp_path, keep=True)
    prefix = Path(result.prefix)
    assert (prefix / "nginx.conf").read_text() == result.config
    assert "ssl_verify_client on;" in result.config
    deep = next(r for r in result.rows if r.client_id == "two-intermediates")
    expected = deep.expected.log  # 20 on OpenSSL 3.x, 22 on 1.1.1 (the release nginx runs with)
    assert expected and expected.split(": ", 1)[1] in (prefix / "logs/error.log").read_text()
    assert lab_nginx_pids([tmp_path]) == set()


# -- independent cross-checks with curl and openssl s_client ---------------------------------

def _curl(port, pki_dir, client, *, sni=True, chain=True):
    url = f"https://localhost:{port}/?lab=curl" if sni else f"https://127.0.0.1:{port}/?lab=curl"
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert", str(pki_dir / "ca/root.pem"),
           "-o", "-", "-w", "\nHTTP=%{http_code}"]
    cmd += ["--resolve", f"localhost:{port}:127.0.0.1"] if sni else ["-H", "Host: localhost"]
    if client:
        cert = f"clients/{client}-chain.pem" if chain else f"clients/{client}.pem"
        cmd += ["--cert", str(pki_dir / cert), "--key", str(pki_dir / f"clients/{client}.key")]
    proc = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    body, _, code = proc.stdout.rpartition("\nHTTP=")
    return int(code), body


@pytest.mark.parametrize(
    "name, client, sni, chain, status, text",
    [
        ("good", None, True, True, 400, "No required SSL certificate was sent"),
        ("good", "good", True, True, 200, "verify=SUCCESS"),
        ("good", "foreign", True, True, 400, "The SSL certificate error"),
        ("depth-default", "deep", True, True, 400, "The SSL certificate error"),
        ("depth-2", "deep", True, True, 200, "verify=SUCCESS"),
        ("client-omits-intermediate", "good", True, False, 400, "The SSL certificate error"),
        ("optional-unchecked", None, True, True, 200, "verify=NONE"),
        ("no-sni-cross-ca", "foreign", False, True, 200, "verify=SUCCESS"),
        ("no-sni-default-server", "good", False, True, 400, "No required SSL certificate was sent"),
        ("crl-valid", "revoked", True, True, 400, "The SSL certificate error"),
    ],
)
def test_curl_agrees(name, client, sni, chain, status, text, pki, pki_dir, nginx_bin, tmp_path):
    scenario = get(name)
    with NginxServer(scenario.render, ports=scenario.ports, files=scenario.files(pki),
                     nginx_bin=nginx_bin, workdir=tmp_path / "p") as server:
        code, body = _curl(server.port, pki_dir, client, sni=sni, chain=chain)
    assert code == status and text in body, body
    expected = next(c.expect for c in scenario.clients
                    if c.client == client and c.sni == sni and c.send_chain == chain)
    assert expected.status == status  # curl and the lab client see the same nginx answer
    assert lab_nginx_pids([tmp_path]) == set()


def _s_client(port, pki_dir):
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
           "-CAfile", str(pki_dir / "ca/root.pem")]
    proc = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=30)
    return proc.stdout


@pytest.mark.parametrize("name, names_sent", [("good", True), ("trusted-only-optional-no-ca", False)])
def test_ca_names_advertised_with_s_client(name, names_sent, pki, pki_dir, nginx_bin, tmp_path):
    scenario = get(name)
    with NginxServer(scenario.render, ports=scenario.ports, files=scenario.files(pki),
                     nginx_bin=nginx_bin, workdir=tmp_path / "p") as server:
        out = _s_client(server.port, pki_dir)
    assert "Requested Signature Algorithms" in out  # a CertificateRequest was sent (F8.2)
    root_cn = "mtls-doctor lab root CA"
    if names_sent:  # F1.1: the subjects of ssl_client_certificate
        assert "Acceptable client certificate CA names" in out and root_cn in out
    else:  # F1.3, F1.4: ssl_trusted_certificate is never advertised
        assert "No client certificate CA names sent" in out


def test_trust_for_no_sni_is_the_default_servers():
    scenario = get("no-sni-cross-ca")
    by_id = {c.id: c for c in scenario.clients}
    assert scenario.trust_for(by_id["foreign-no-sni"]).client_certificate == ("other-root",)
    assert scenario.trust_for(by_id["good-sni"]).client_certificate == ("root",)
    assert get("good").trust_for(get("good").clients[0]) is get("good").server


def test_no_lab_nginx_left(workdir, tmp_path_factory):
    assert lab_nginx_pids([workdir, tmp_path_factory.getbasetemp()]) == set()
