"""The speed-ups of ``logs`` give exactly the summary of the plain line-by-line path.

Three speed-ups are checked against a reference that parses every line on its own:
- the shape cache of ``Summarizer.feed`` (lines that differ only in time, pid, connection and a
  plain client address are parsed once and counted in bulk);
- the block reader of ``logs/read.py`` (lines cut from 128 KiB blocks, over-long lines cut);
- the parallel read of a big plain file in line-aligned ranges joined by ``Summarizer.merge``.
The material is the real nginx 1.22.1 log of the lab (tests/logs/data/lab-error.log), varied
and mixed with hostile lines.
"""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.logs import read
from mtls_doctor.logs.summary import MAX_DETAILS, Summarizer
from tests.logs.util import CAPTURED

REAL = CAPTURED.read_text().splitlines(True)

#: lines a client can shape: a quote in the request, a client value that is not an address,
#: ", client: " in a message, an over-long line, the nginx -t form, text before the header
HOSTILE = [
    '2026/11/28 01:38:36 [info] 1#1: *9 client SSL certificate verify error: (10:certificate has '
    'expired) while reading client request headers, client: 10.0.0.1, server: a, request: '
    '"GET /x", client: 1.2.3.4, server: b" HTTP/1.1", host: "a"\n',
    '2026/11/28 01:38:36 [info] 1#1: *9 client sent no required SSL certificate while reading '
    'client request headers, client: "quoted", server: a, request: "GET / HTTP/1.1", host: "a"\n',
    '2026/11/28 01:38:36 [info] 1#1: *9 client SSL certificate verify error: (2:unable to get '
    'issuer certificate) while reading client request headers, client: unix:, server: s\n',
    'Nov 28 01:38:36 host nginx[1]: 2026/11/28 01:38:36 [info] 1#1: *2 client sent no required '
    'SSL certificate while reading client request headers, client: 10.0.0.2, server: s\n',
    'nginx: [emerg] no "ssl_client_certificate" for ssl_verify_client in /etc/nginx/a.conf:12\n',
    '2026/11/28 01:38:36 [info] 1#1: *3 SSL_do_handshake() failed (SSL: error:0A000412:SSL '
    'routines::sslv3 alert bad certificate:SSL alert number 42) while SSL handshaking, '
    'client: 10.0.0.3, server: 0.0.0.0:443\r\n',
    "2026/11/28 01:38:36 [info] 1#1: *3 " + "x" * 70000 + " client SSL certificate verify\n",
    "not an nginx line at all\n",
    "2026/11/28 01:38:36 [info] 1#1: *4 client SSL certificate verify error: (20:unable to get "
    "local issuer certificate) while reading client request headers, client: 10.0.0.4\n",
]


class LineByLine(Summarizer):
    """The reference: every line parsed and counted on its own (no shape cache)."""

    def feed(self, source: str, number: int, text: str) -> None:
        stats = self._files.get(source)
        if stats is None:
            stats = self._files[source] = [0, 0, {}]
            from collections import Counter

            stats[2] = Counter()
        stats[0] += 1
        shape = self._shape(text)
        if shape is None:
            return
        fields = shape[5]
        self._count(stats, shape, source, number, text, fields[0] if fields else None, shape[4])


def _varied(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        line = rng.choice(REAL + HOSTILE)
        line = line.replace("client: 127.0.0.1", f"client: 10.{rng.randrange(3)}.0.{rng.randrange(40)}")
        line = line.replace("01:38:3", f"0{rng.randrange(10)}:{rng.randrange(10)}{rng.randrange(10)}:3")
        out.append(line)
    return out


def _summary(cls, lines: list[str]) -> dict:
    s = cls()
    s.start("log")
    for number, text in enumerate(lines, 1):
        s.feed("log", number, text)
    return s.result().to_dict()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400))
def test_shape_cache_counts_like_line_by_line(seed, count):
    lines = _varied(random.Random(seed), count)
    assert _summary(Summarizer, lines) == _summary(LineByLine, lines)


def test_shape_cache_survives_being_emptied(monkeypatch):
    import mtls_doctor.logs.summary as summary

    monkeypatch.setattr(summary, "_CACHE_SIZE", 3)  # folded and emptied every few shapes
    lines = _varied(random.Random(7), 3000)
    assert _summary(Summarizer, lines) == _summary(LineByLine, lines)


def _reader_lines(data: bytes) -> list[str]:
    return list(read._lines(io.BytesIO(data)))


def test_block_reader_cuts_lines_like_readline(monkeypatch):
    monkeypatch.setattr(read, "_BLOCK", 7)  # blocks smaller than a line, splitting a character
    data = ("a\r\nb\x0bc\u2028d\nÄÖÜ€\n\n" + "z" * 70000 + "\ntail").encode()
    got = _reader_lines(data)
    assert got[:5] == ["a\r\n", "b\x0bc\u2028d\n", "ÄÖÜ€\n", "\n", "z" * read.MAX_LINE + "\n"]
    assert got[5:] == ["tail"]


def test_parallel_ranges_give_the_serial_summary(tmp_path, monkeypatch):
    path = tmp_path / "error.log"
    lines = _varied(random.Random(11), 6000)
    # more distinct details than a group shows, spread over the whole file
    lines += [f"2026/11/28 01:38:36 [crit] 1#1: *1 SSL_do_handshake() failed (SSL: error:0A000{d:03}:SSL "
              f"routines::detail {d}) while SSL handshaking, client: 10.0.0.{d % 200}, server: s\n"
              for d in range(3 * MAX_DETAILS)] * 3
    random.Random(3).shuffle(lines)
    # causes first seen in the last range: their line numbers count the ranges before
    lines += [
        "2026/11/28 09:00:00 [info] 1#1: *8 client SSL certificate verify error: (7:certificate "
        "signature failure) while reading client request headers, client: 10.9.9.9, server: late\n",
        "2026/11/28 09:00:01 [info] 1#1: *9 client SSL certificate verify error: (24:invalid CA "
        "certificate) while reading client request headers, client: 10.9.9.8, server: late\n",
    ]
    path.write_text("".join(lines) + "no final newline")
    with open(path, "rb") as fh:
        serial = _summary(LineByLine, list(read._lines(fh)))
    monkeypatch.setattr(read, "PARALLEL_BYTES", 64 << 10)
    assert read._workers(str(path), None) > 1
    parallel = read.summarize_paths([str(path)]).to_dict()
    for part in (serial, parallel):
        for g in part["groups"]:
            g["location"] = {k: v for k, v in g["location"].items() if k in ("line",)}
        for f in part["files"]:
            f.pop("path", None), f.pop("file", None)
    assert parallel == serial


@pytest.mark.parametrize("form", ["gz", "tail", "small"])
def test_parallel_read_only_for_big_plain_files(tmp_path, monkeypatch, form):
    import gzip

    monkeypatch.setattr(read, "PARALLEL_BYTES", 1 << 10)
    path = tmp_path / "error.log"
    data = "".join(REAL * 40).encode()
    if form == "gz":
        path.write_bytes(gzip.compress(data))
    elif form == "small":
        path.write_bytes(data[:500])
    else:
        path.write_bytes(data)
    assert read._workers(str(path), 4096 if form == "tail" else None) == 1
