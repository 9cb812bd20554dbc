"""`logs` classifies every error-log line the lab scenarios produce on real nginx (issue 7).

Each scenario of ``mtls_doctor.lab.scenarios`` runs against real nginx
(``lab.run.run_scenario``, helper C's runner, which attributes each info line to its request by
``?lab=<id>``). The whole raw error log then goes through ``logs``; its groups must equal the
per-request attribution: one ``client-cert-verify-failed:<N>`` per request whose line carries
``(N:``, one ``no-required-certificate`` per request that sent none; a scenario whose
configuration nginx refuses must give the matching config cause.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.lab.run import run_scenario
from mtls_doctor.lab.scenarios import SCENARIOS
from mtls_doctor.logs.causes import classify
from mtls_doctor.logs.parse import parse_line
from mtls_doctor.logs.summary import summarize

pytestmark = pytest.mark.nginx

CODE = re.compile(r"client SSL certificate verify error: \((\d+):")
BENIGN = ("closed connection", "closed keepalive connection", "epoll", "nginx/", "OS: ",
          "getrlimit", "start worker", "signal ", "gracefully shutting", "exiting", "exit",
          "worker process", "reopening logs", "using inherited sockets")


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(datetime.now(timezone.utc), server_names=("a.test", "b.test"))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_log_is_classified(scenario, pki, nginx_bin, tmp_path):
    result = run_scenario(scenario, pki, nginx_bin, tmp_path, keep=True)
    if result.error is not None and result.expected_error and "unknown directive" in result.expected_error:
        return  # a directive this nginx does not have yet (ssl_reject_handshake before 1.19.4)
    if result.error is not None:  # nginx -t refused the configuration (F1.5)
        groups = {g.cause.id: g.count for g in summarize(result.error.splitlines()).groups}
        assert groups and all(c.startswith("config-") for c in groups), (result.error, groups)
        return
    raw = (tmp_path / scenario.name / "logs" / "error.log").read_text(errors="replace").splitlines()
    expected: dict[str, int] = {}
    for row in result.rows:
        line = row.log_line or ""
        m = CODE.search(line)
        cause = (f"client-cert-verify-failed:{m.group(1)}" if m
                 else "no-required-certificate" if "client sent no required SSL certificate" in line
                 else None)
        if cause:
            expected[cause] = expected.get(cause, 0) + 1
    groups = {g.cause.id: g.count for g in summarize(raw).groups}
    client_cert = {k: v for k, v in groups.items()
                   if k.startswith("client-cert-verify-failed:") or k == "no-required-certificate"}
    assert client_cert == expected, (groups, [r.log_line for r in result.rows])
    for line in raw:  # nothing that is a failure is left without a cause
        event = parse_line(line)
        assert event is not None, line
        if event.level in ("info", "error", "crit", "alert", "emerg") and not any(b in event.message for b in BENIGN):
            assert classify(event) is not None, line
