"""The helpers of report/json.py that give each concept its one shape (docs/json.md)."""

from __future__ import annotations

import datetime as dt

from mtls_doctor.model import Location
from mtls_doctor.report.json import fix, location, location_of, tls_version, utc, verify_error

from .vocabulary import problems


def test_times_are_rfc3339_utc_z_whole_seconds():
    assert utc("2026-12-03T09:09:12.793922+00:00") == "2026-12-03T09:09:12Z"
    assert utc("2026-06-01T12:00:00+02:00") == "2026-06-01T10:00:00Z"
    assert utc("2026-01-01T00:00:00z") == "2026-01-01T00:00:00Z"
    assert utc(dt.datetime(1, 1, 1, tzinfo=dt.timezone.utc)) == "0001-01-01T00:00:00Z"  # padded
    assert utc("9999-12-31T23:59:59Z") == "9999-12-31T23:59:59Z"
    naive = dt.datetime(2026, 3, 1, 12, 0, 0)  # an error-log time: this machine's zone
    assert utc(naive.isoformat()) == utc(naive.astimezone())
    assert utc(None) is None and utc("") is None and utc("  ") is None
    assert utc("not a time") == "not a time"  # shown as it came; the schema tests catch it


def test_locations_are_objects():
    assert location_of(Location(path="a.conf", line=3)) == {"file": "a.conf", "line": 3, "display": "a.conf:3"}
    assert location_of("/etc/nginx/nginx.conf:12") == {"file": "/etc/nginx/nginx.conf", "line": 12,
                                                       "display": "/etc/nginx/nginx.conf:12"}
    assert location_of("bundle.pem#2") == {"file": "bundle.pem", "index": 2, "display": "bundle.pem#2"}
    assert location_of("127.0.0.1:8443") == {"host": "127.0.0.1", "port": 8443, "display": "127.0.0.1:8443"}
    assert location_of("[::1]:443") == {"host": "::1", "port": 443, "display": "[::1]:443"}
    assert location_of("a.example:443", "endpoint")["host"] == "a.example"
    assert location_of("ca.crt:3")["file"] == "ca.crt"  # a file suffix: not a host
    assert location_of("--symptom") == {"display": "--symptom"}
    assert location_of({"path": "x.log", "line": 1}) == {"file": "x.log", "line": 1, "display": "x.log:1"}
    assert location("b.pem", 14, 1, display="b.pem#1")["display"] == "b.pem#1"


def test_fixes_errors_and_versions_have_one_shape():
    assert fix("do this") == {"text": "do this", "snippet": None}
    assert fix("") is None and fix(None) is None
    assert fix({"text": "t", "snippet": "s;"}) == {"text": "t", "snippet": "s;"}
    assert verify_error(20, "unable to get local issuer certificate") == {
        "code": 20, "text": "unable to get local issuer certificate", "openssl": None}
    assert verify_error(None) is None
    assert [tls_version(v) for v in ("1.2", "TLSv1.3", "tls1.2", "TLSv1", None)] == [
        "TLSv1.2", "TLSv1.3", "TLSv1.2", "TLSv1", None]


def test_the_vocabulary_check_catches_old_shapes():
    old = {"at": "2026-12-03T09:09:12.793922+00:00", "primary_sni": None,
           "findings": [{"rule": "MTLS201", "path": "a", "location": "a:1", "fix": "x"}],
           "groups": [{"verify_code": 20, "first": "2026-12-03T09:09:39"}],
           "attempts": [{"version": "TLSv1.2", "spec": {"tls": "1.2"}}], "scenarios": [{"sni": True}]}
    found = "\n".join(problems(old))
    for expected in ("$.at: not RFC 3339", "$.primary_sni: retired", "$.findings[0].path",
                     "$.findings[0].location: a location is an object", "$.findings[0].fix",
                     "verify_code: retired", "first: not RFC 3339", "attempts[0].version",
                     "spec.tls: retired", "sni is the name sent"):
        assert expected in found, expected
