"""`mtls-doctor logs` on error logs written by a REAL nginx (tests/logs/lab.py provokes them)."""

from __future__ import annotations

import pytest

from mtls_doctor.logs.causes import classify
from mtls_doctor.logs.parse import parse_line
from tests.conftest import nginx_at_hand_version
from tests.logs.lab import config_expected
from tests.logs.util import counts, run_cli, run_json

pytestmark = pytest.mark.nginx

#: lines nginx writes that are not failures (no cause must be given to them)
BENIGN = ("client closed connection", "closed keepalive connection", "using the \"epoll\"",
          "nginx/", "OS: ", "getrlimit", "start worker", "signal ", "gracefully shutting",
          "exiting", "exit", "worker process", '"ssl_stapling" ignored',
          "built by ", "built with ")  # nginx 1.30 logs its build at notice on start


def test_every_provoked_failure_is_grouped_by_its_cause(lab_run, lab_log):
    rc, data = run_json(str(lab_log))
    assert rc == 1
    assert counts(data) == lab_run.expected, lab_run.error_log


def test_verify_codes_and_context(lab_log):
    _, data = run_json(str(lab_log))
    groups = {g["cause"]: g for g in data["groups"]}
    for cause, g in groups.items():
        if cause.startswith("client-cert-verify-failed:"):
            assert g["verify_error"]["code"] == int(cause.split(":")[1])
            assert g["servers"] == ["localhost"] and g["clients"] == ["127.0.0.1"]
            assert g["modules"] == ["http"] and g["rule"] == "MTLS602"
        else:
            assert (g["verify_error"] is None) != cause.startswith("upstream-cert-verify-failed:")
        assert g["explanation"] and g["fix"] and g["first"] and g["last"]
    # depth exceeded shows up as 20, not 22 (F3.3); an intermediate alone as 2 (F3.4)
    assert "ssl_verify_depth" in groups["client-cert-verify-failed:20"]["explanation"]
    assert "root" in groups["client-cert-verify-failed:2"]["fix"]["text"]
    # "alert unknown ca" is the client's verdict on nginx's certificate (F4.3)
    alert = groups["client-rejected-server-certificate"]
    assert alert["details"][0]["detail"] == "alert unknown ca (48)"
    assert "not about the client certificate" in alert["explanation"]
    assert groups["sni-host-mismatch"]["hosts"] == ["b.test"]


def test_no_failure_line_is_left_unclassified(lab_run):
    for line in lab_run.error_log.splitlines():
        event = parse_line(line)
        assert event is not None, line
        if any(b in event.message for b in BENIGN):
            assert classify(event) is None, line
        else:
            assert classify(event) is not None, line


def test_good_client_produces_no_failure(lab_run):
    assert "lab=good " not in lab_run.error_log
    assert lab_run.answers["good"].status == 200


def test_nginx_t_config_errors_via_stdin(config_messages):
    assert all(config_messages.values()), config_messages  # every broken config failed nginx -t
    text = "\n".join(config_messages.values()).encode()
    rc, data = run_json("-", stdin=text)
    assert rc == 1
    want: dict[str, int] = {}
    for cause in config_expected(nginx_at_hand_version()).values():
        want[cause] = want.get(cause, 0) + 1
    assert counts(data) == want
    assert {f["rule"] for f in data["findings"]} == {"MTLS601", "MTLS607"}  # emerg only: no info


def test_text_output_biggest_group_first(lab_log):
    out = run_cli(str(lab_log))
    assert out.returncode == 1
    text = out.stdout.decode()
    lines = [ln for ln in text.splitlines() if ln[:7].strip().isdigit()]
    numbers = [int(ln[:7]) for ln in lines]
    assert numbers == sorted(numbers, reverse=True) and numbers[0] == 2
    assert "why:" in text and "fix:" in text
