"""The line parser and the classifier on real nginx lines, and on anything at all (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.logs.causes import classify
from mtls_doctor.logs.parse import LogEvent, parse_line
from mtls_doctor.logs.summary import _INTERESTING, summarize
from tests.logs.util import CAPTURED

REAL = CAPTURED.read_text().splitlines()


def _line(marker: str) -> str:
    return next(ln for ln in REAL if marker in ln)


def test_http_verify_error_line():
    ev = parse_line(_line("lab=deep "))
    assert ev is not None
    assert ev.level == "info" and ev.pid and ev.tid and ev.connection
    assert ev.message == "client SSL certificate verify error: (20:unable to get local issuer certificate)"
    assert ev.action == "reading client request headers"
    assert (ev.client, ev.server, ev.host) == ("127.0.0.1", "localhost", "localhost")
    assert ev.request == "GET /?lab=deep HTTP/1.1" and ev.protocol == "http"
    assert len(ev.time) == 19 and ev.time[4] == "/"


def test_handshake_line_has_no_request():
    ev = parse_line(_line("alert unknown ca"))
    assert ev.action == "SSL handshaking" and ev.request is None and ev.protocol is None
    assert ev.server.startswith("127.0.0.1:")


def test_upstream_line():
    ev = parse_line(_line("GET /nocert"))
    assert ev.level == "error" and ev.action == "SSL handshaking to upstream"
    assert ev.upstream.startswith("https://127.0.0.1:") and ev.host == "localhost"


def test_nginx_t_stderr_form():
    ev = parse_line(_line("nginx: [emerg] no ssl_client_certificate"))
    assert ev.time is None and ev.pid is None and ev.level == "emerg"
    assert ev.message == "no ssl_client_certificate for ssl_verify_client"
    assert classify(ev).cause.id == "config-no-client-ca"


def test_prefixes_and_crlf_are_tolerated():
    line = _line("lab=expired ")
    for variant in (f"Nov 28 01:09:25 host nginx[1]: {line}", f"nginx-1  | {line}", line + "\r\n"):
        ev = parse_line(variant)
        assert ev is not None and classify(ev).verify_code == 10


def test_client_text_cannot_move_the_context():
    # the request line is client-controlled: an injected ", client: " must not win
    line = _line("lab=deep ").replace("GET /?lab=deep", 'GET /?x=", client: 6.6.6.6, server: evil')
    ev = parse_line(line)
    assert ev.client == "127.0.0.1" and ev.message.startswith("client SSL certificate verify error")


def test_garbage_is_none():
    for text in ("", "garbage", "[info] x", "2026/11/28 01:09:25 [info] not a pid", "nginx: [] x"):
        assert parse_line(text) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400))
def test_any_text_parses_or_is_none(text):
    ev = parse_line(text)
    assert ev is None or isinstance(ev, LogEvent)
    if ev is not None:
        classify(ev)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(REAL), st.integers(0, 300), st.integers(0, 40), st.text(max_size=30))
def test_mutated_real_lines_never_crash(line, at, cut, insert):
    text = line[:at] + insert + line[at + cut:]
    ev = parse_line(text)
    if ev is not None:
        match = classify(ev)
        if match is not None:
            # the summarizer's pre-filter must never hide a line classify() would name
            assert _INTERESTING.search(text) is not None, text
    summarize([text, line])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(REAL), max_size=30))
def test_summary_counts_match_line_by_line_classification(lines):
    s = summarize(lines)
    by_line: dict[str, int] = {}
    for ln in lines:
        ev = parse_line(ln)
        m = classify(ev) if ev else None
        if m is not None:
            by_line[m.cause.id] = by_line.get(m.cause.id, 0) + 1
    assert {g.cause.id: g.count for g in s.groups} == by_line
    assert s.lines == len(lines)
