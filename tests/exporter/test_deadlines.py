"""A target that stalls: the scrape still answers within its deadline, with a failure metric,
and a probe that finds no free slot is answered 503 and counted.

The target is a real TCP listener on 127.0.0.1 that accepts and never answers (the TLS
handshake stalls); the module's step timeout (5 s) is longer than the probe deadline on
purpose, so only the exporter's deadline can end the scrape. Bounds on elapsed time are
generous (the machine is shared): each one only says "well before the step timeout".
"""

from __future__ import annotations

import time
import urllib.parse
import urllib.request

import pytest

from tests.exporter.conftest import samples as _samples, stalling_target, start_exporter, stop

DEADLINE = 3.0  # probe_deadline_seconds
STEP = 5.0  # the module's timeout_seconds: longer than any deadline here


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    config = f"""
modules:
  slow:
    tls_versions: ["1.3"]
    timeout_seconds: {STEP}
allow_targets: ["127.0.0.1:*"]
max_concurrent_probes: 1
probe_deadline_seconds: {DEADLINE}
"""
    exp = start_exporter(config, tmp_path_factory.mktemp("exporter-deadline"))
    yield exp
    stop(exp.process)


def _probe(exporter, target: str, scrape_timeout: float | None = None) -> tuple[int, str, float]:
    query = urllib.parse.urlencode({"target": target, "module": "slow"})
    request = urllib.request.Request(f"http://{exporter.address}/probe?{query}")
    if scrape_timeout is not None:
        request.add_header("X-Prometheus-Scrape-Timeout-Seconds", str(scrape_timeout))
    start = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, body = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    return status, body, time.monotonic() - start


def _wait_free(exporter) -> None:
    """Until the abandoned probe has really ended (its slot is free again): bounded."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if _samples(exporter.get("/metrics")[1]).get("mtls_exporter_probes_in_flight") == 0:
            return
        time.sleep(0.1)
    pytest.fail("the abandoned probe never ended")


def test_stalled_probe_answers_at_the_deadline_with_a_failure(exporter):
    with stalling_target() as target:
        status, body, took = _probe(exporter, target)
    assert status == 200
    s = _samples(body)
    assert s["mtls_probe_success"] == 0 and s["mtls_probe_deadline_exceeded"] == 1
    assert took < STEP, took  # the deadline ended it, not the step timeout
    assert s["mtls_probe_duration_seconds"] == pytest.approx(DEADLINE, abs=1.0)
    _wait_free(exporter)


def test_prometheus_scrape_timeout_shortens_the_deadline(exporter):
    with stalling_target() as target:
        status, body, took = _probe(exporter, target, scrape_timeout=1.5)  # -> 1.0 s
    assert status == 200 and _samples(body)["mtls_probe_deadline_exceeded"] == 1
    assert took < DEADLINE - 0.5, took
    _wait_free(exporter)


def test_no_free_slot_is_503_and_counted(exporter):
    before = _samples(exporter.get("/metrics")[1])['mtls_exporter_probe_requests_rejected_total{reason="busy"}']
    with stalling_target() as target:
        first = _probe(exporter, target, scrape_timeout=1.5)
        # the first probe was abandoned at its deadline and still holds the only slot
        status, body, took = _probe(exporter, target, scrape_timeout=1.5)
        metrics = _samples(exporter.get("/metrics")[1])
    assert first[0] == 200 and _samples(first[1])["mtls_probe_deadline_exceeded"] == 1
    assert status == 503 and "max_concurrent_probes" in body
    assert took < STEP
    assert metrics['mtls_exporter_probe_requests_rejected_total{reason="busy"}'] == before + 1
    assert metrics["mtls_exporter_probes_in_flight"] == 1
    _wait_free(exporter)
