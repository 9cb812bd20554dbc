"""Issue 11, defect 2: a malformed ServerHello (truncated supported_versions) then a
ChangeCipherSpec, from a real hostile server on 127.0.0.1: an outcome, never a WireError."""

from __future__ import annotations

import json

from mtls_doctor.probe import wire
from tests.hardening import hostile
from tests.hardening.conftest import clean, cli


def test_flight_of_truncated_supported_versions_then_ccs():
    ext = b"\x00\x2b\x00\x02\x03"
    data = hostile.record(22, hostile.server_hello(ext)) + hostile.record(20, b"\x01")
    flight = wire.flight(data)  # documented as never raising
    assert flight.is_tls


def test_probe_of_truncated_supported_versions_then_ccs():
    with hostile.HostileServer(hostile.truncated_supported_versions_then_ccs) as server:
        proc = cli("probe", f"127.0.0.1:{server.port}", "--timeout", "2", "--format", "json")
    clean(proc, 1)
    data = json.loads(proc.stdout)
    assert data["findings"]
