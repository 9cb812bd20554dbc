"""Differential test against REAL nginx: for every lab scenario and client, `verify` predicts
exactly what nginx measured ($ssl_client_verify, $ssl_client_s_dn, status and page, the info
log line).

The scenarios and the runner are helper C's (`mtls_doctor.lab.scenarios`, `mtls_doctor.lab.run`,
CONTRACTS C); this file only maps each row to `verify_client` inputs:

- trust: the CA store of the server that did the handshake (`Scenario.trust_for`: without SNI
  that is the default server's, F7.3); a handshake on a server with `ssl_verify_client off` never
  asked for a certificate, so the client sent none (F1.2);
- enforcement: the `ssl_verify_client` mode of the Host-selected server (the mTLS server);
- what the client sent: its leaf, plus its intermediates when the row sends the chain. When the
  certificate file holds no intermediates, the lab client (stdlib `ssl`, system OpenSSL) builds
  the chain itself from its own trust store (`ssl_add_cert_chain()`, auto-chain) and sends the
  lab root too: that is why a root-direct client reaches nginx as leaf + root (19 when that root
  is not trusted, scenario no-sni-cross-ca). The model reproduces it; it is not an exception.
- rows without an HTTP answer (TLS protocol mismatch, `ssl_reject_handshake`) are outside what
  `verify` judges; they are counted, and the test fails if no row at all was compared.

Every nginx of the version matrix is measured (this machine's, plus each root of
``tools/roots.sh`` in ``$MTLS_DOCTOR_ROOTS``: nginx 1.18/OpenSSL 1.1.1 ... 1.30/3.6), and
``verify`` is run on this host in both ways a user can ask for that nginx: given the binary
(``--nginx``: its own libcrypto, in a helper process when needed: must be exact) and told only its
OpenSSL version (``--openssl-version``: this machine's libcrypto plus the measured per-release
table: must be exact on every lab row too).
"""

from __future__ import annotations

import importlib
from datetime import datetime, timezone

import pytest

from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.nginx.target import resolve
from mtls_doctor.pki.verify import PAGES, TrustSettings, verify_client
from tests.conftest import find_nginx

pytestmark = pytest.mark.nginx


def _lab_modules():
    try:
        scenarios = importlib.import_module("mtls_doctor.lab.scenarios")
        run = importlib.import_module("mtls_doctor.lab.run")
    except ImportError as exc:  # never skip silently: the differential is a requirement
        pytest.fail(f"helper C's lab modules are missing ({exc}); the nginx differential of "
                    "`verify` cannot run")
    for name in ("SCENARIOS",):
        if not hasattr(scenarios, name):
            pytest.fail(f"mtls_doctor.lab.scenarios has no {name} (CONTRACTS C)")
    if not hasattr(run, "run_scenario"):
        pytest.fail("mtls_doctor.lab.run has no run_scenario (CONTRACTS C)")
    return scenarios, run


def _matrix() -> list[str]:
    from mtls_doctor.lab.matrix import matrix_nginx

    return [p for p in matrix_nginx(include_local=False) if p != find_nginx()]


MATRIX = ["here", *_matrix()]


@pytest.fixture(scope="module", params=MATRIX, ids=lambda p: p if p == "here" else p.split("/")[-4])
def measured(request, nginx_bin, tmp_path_factory):
    scenarios, run = _lab_modules()
    binary = nginx_bin if request.param == "here" else request.param
    pki = build_lab_pki(datetime.now(timezone.utc))
    work = tmp_path_factory.mktemp("nginx-diff")
    results = [(sc, run.run_scenario(sc, pki, binary, work)) for sc in scenarios.SCENARIOS]
    return pki, results, resolve(binary)


def _sent(pki, spec):
    """(leaf, chain) as the lab client puts them on the wire."""
    if spec.client is None:
        return None, ()
    client = pki.clients[spec.client]
    if spec.send_chain and client.chain:
        return client.cert, tuple(client.chain)
    # No intermediates in the file: OpenSSL's client auto-chain from its trust store (the lab
    # root only) adds the root when the root issued the leaf.
    root = pki.cas["root"].cert
    if client.cert.issuer == root.subject and client.cert != root:
        try:
            client.cert.verify_directly_issued_by(root)
            return client.cert, (root,)
        except Exception:  # noqa: BLE001 - same name, other key: the client cannot chain it
            pass
    return client.cert, ()


def _predict(pki, scenario, spec, **how):
    trust = scenario.trust_for(spec)
    enforcing = scenario.server
    settings = TrustSettings(
        client_certificate=tuple(pki.cas[k].cert for k in trust.client_certificate),
        trusted_certificate=tuple(pki.cas[k].cert for k in trust.trusted_certificate),
        verify_depth=1 if trust.verify_depth is None else trust.verify_depth,
        crls=tuple(pki.crls[k].crl for k in trust.crl),
        verify_client=enforcing.verify_client,
    )
    leaf, chain = _sent(pki, spec)
    if trust.verify_client == "off":
        leaf, chain = None, ()  # no CertificateRequest in that handshake (F1.2, F7.3)
    return verify_client(leaf, chain, settings, datetime.now(timezone.utc), **how)


def _page_text(page):
    return PAGES.get(page) if page else None


def test_every_scenario_ran(measured):
    _pki, results, _target = measured
    for scenario, result in results:
        if result.expected_error is not None:
            assert result.error and result.expected_error in result.error, scenario.name
        else:
            assert result.error is None, f"{scenario.name}: {result.error}"
            assert len(result.rows) == len(scenario.clients), scenario.name


@pytest.mark.parametrize("how", ["given-the-binary", "told-the-version"])
def test_verify_predicts_what_nginx_measured(measured, how, capsys):
    pki, results, target = measured
    if how == "given-the-binary":
        kwargs, notes = target.verifier_args()
        assert not notes, notes  # the nginx's own libcrypto ran (here or in a helper)
    else:
        kwargs = {"openssl_version": target.openssl_version}
    compared, outside, wrong = 0, [], []
    for scenario, result in results:
        specs = {c.id: c for c in scenario.clients}
        for row in result.rows:
            spec = specs[row.client_id]
            where = f"{scenario.name}/{row.client_id}"
            if row.status is None:
                outside.append(where)  # no HTTP answer: not a verification verdict
                continue
            ours = _predict(pki, scenario, spec, **kwargs)
            compared += 1
            problems = []
            if ours.ssl_client_verify != row.ssl_client_verify:
                problems.append(f"$ssl_client_verify {ours.ssl_client_verify!r} != "
                                f"{row.ssl_client_verify!r}")
            if row.ssl_client_s_dn is not None and ours.ssl_client_s_dn != row.ssl_client_s_dn:
                problems.append(f"$ssl_client_s_dn {ours.ssl_client_s_dn!r} != "
                                f"{row.ssl_client_s_dn!r}")
            if ours.status == 400:
                if row.status != 400 or row.page != _page_text(ours.page):
                    problems.append(f"status/page 400 {_page_text(ours.page)!r} != "
                                    f"{row.status} {row.page!r}")
            elif row.status == 400 or row.page in PAGES.values():
                problems.append(f"status {ours.status} but nginx answered {row.status} "
                                f"{row.page!r}")
            if ours.log_line is None:
                if row.log_line and ("verify error" in row.log_line
                                     or "no required SSL certificate" in row.log_line):
                    problems.append(f"no log line predicted, nginx logged {row.log_line!r}")
            elif not row.log_line or ours.log_line not in row.log_line:
                problems.append(f"log line {ours.log_line!r} not in {row.log_line!r}")
            if problems:
                wrong.append(f"{where}: " + "; ".join(problems))
    with capsys.disabled():
        print(f"\n[nginx differential, {target.build.version} / OpenSSL "
              f"{target.openssl_version}, verify {how}] {compared} rows compared with real nginx, "
              f"{len(outside)} without an HTTP answer ({', '.join(outside)})")
    assert compared >= 40, compared
    assert not wrong, "\n".join(wrong)
