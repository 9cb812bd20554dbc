"""`mtls-doctor logs` inputs: .gz, stdin, garbage, error-level-only logs, bad paths, JSON shape.

The log lines come from a real nginx run (tests/logs/data/lab-error.log, refreshed by
``python -m tests.logs.lab``; test_real_nginx.py checks a fresh run).
"""

from __future__ import annotations

import subprocess
import sys

import gzip

from tests.logs.util import CAPTURED, counts, run_cli, run_json

GROUP_KEYS = {"cause", "title", "rule", "count", "verify_error", "explanation", "fix", "first",
              "last", "servers", "clients", "clients_distinct", "location", "example"}


def test_json_shape():
    rc, data = run_json(str(CAPTURED))
    assert rc == 1 and data["command"] == "logs"
    assert data["groups"] and all(GROUP_KEYS <= set(g) for g in data["groups"])
    assert [g["count"] for g in data["groups"]] == sorted((g["count"] for g in data["groups"]), reverse=True)
    assert data["files"][0]["has_info"] is True
    g = next(g for g in data["groups"] if g["cause"] == "client-cert-verify-failed:20")
    assert g["verify_error"] == {"code": 20, "text": "unable to get local issuer certificate", "openssl": None}
    assert g["location"]["display"].startswith(str(CAPTURED) + ":")


def test_gz_and_stdin_equal_plain(tmp_path):
    _, plain = run_json(str(CAPTURED))
    gz = tmp_path / "error.log.1.gz"
    gz.write_bytes(gzip.compress(CAPTURED.read_bytes()))
    _, zipped = run_json(str(gz))
    _, stdin = run_json("-", stdin=CAPTURED.read_bytes())
    _, stdin_gz = run_json("-", stdin=gz.read_bytes())
    assert counts(plain) == counts(zipped) == counts(stdin) == counts(stdin_gz)


def test_several_files_are_added_up(tmp_path):
    _, one = run_json(str(CAPTURED))
    copy = tmp_path / "error.log.1"
    copy.write_bytes(CAPTURED.read_bytes())
    _, two = run_json(str(CAPTURED), str(copy))
    assert counts(two) == {k: 2 * v for k, v in counts(one).items()}
    assert len(two["files"]) == 2


def test_error_level_only_log_says_failures_cannot_be_in_it(tmp_path):
    lines = [ln for ln in CAPTURED.read_text().splitlines(True) if "] [info] " not in ln and " [info] " not in ln]
    assert lines and all("[info]" not in ln for ln in lines)
    path = tmp_path / "error.log"
    path.write_text("".join(lines))
    rc, data = run_json(str(path))
    assert rc == 1
    assert data["files"][0]["has_info"] is False
    assert "MTLS601" in {f["rule"] for f in data["findings"]}
    assert not any(g["cause"].startswith("client-cert-verify-failed") for g in data["groups"])
    text = run_cli(str(path)).stdout.decode()
    assert "MTLS601" in text and "error_log" in text


def test_garbage_lines_are_skipped(tmp_path):
    _, clean = run_json(str(CAPTURED))
    junk = "\n".join(["", "garbage", "\x00\x01\x02", "2026/13/99 [info] nope", "nginx: [",
                      "x" * 200000, "[info] 1#1: client sent no required SSL certificate"])
    path = tmp_path / "mixed.log"
    path.write_bytes(junk.encode() + b"\n\xff\xfe invalid utf-8\n" + CAPTURED.read_bytes() + b"trailing")
    rc, data = run_json(str(path))
    assert rc == 1 and counts(data) == counts(clean)


def test_not_an_error_log(tmp_path):
    path = tmp_path / "access.log"
    path.write_text('127.0.0.1 - - [28/Nov/2026:01:05:23 +0000] "GET / HTTP/1.1" 400 255 "-" "curl"\n')
    rc, data = run_json(str(path))
    assert rc == 1 and data["groups"] == []
    assert [f["rule"] for f in data["findings"]] == ["MTLS610"]
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    rc, data = run_json(str(empty))
    # an empty file is empty, not "not an nginx error log" (issue 14): no finding, exit 0
    assert rc == 0 and data["findings"] == [] and data["files"][0]["lines"] == 0
    text = subprocess.run([sys.executable, "-m", "mtls_doctor", "logs", str(empty)],
                          capture_output=True, text=True, timeout=60)
    assert text.returncode == 0 and f"{empty}: empty" in text.stdout
    assert "error-log format" not in text.stdout


def test_clean_log_exits_0(tmp_path):
    path = tmp_path / "ok.log"
    path.write_text("".join(ln for ln in CAPTURED.read_text().splitlines(True)
                            if "[notice]" in ln or "closed connection" in ln))
    rc, data = run_json(str(path))
    assert rc == 0 and data["groups"] == [] and data["findings"] == []
    assert "No client-certificate or TLS failures" in run_cli(str(path)).stdout.decode()


def test_fail_on(tmp_path):
    assert run_cli(str(CAPTURED), "--fail-on", "critical").returncode == 0
    assert run_cli(str(CAPTURED), "--fail-on", "error").returncode == 1  # MTLS607/608 are errors


def test_bad_paths_exit_2_with_one_line(tmp_path):
    assert run_cli().returncode == 2  # click usage error
    for args in ([str(tmp_path / "missing.log")], [str(tmp_path)], ["-", "-"]):
        out = run_cli(*args)
        assert out.returncode == 2, args
        assert out.stdout == b"" and len(out.stderr.decode().strip().splitlines()) == 1, out.stderr
    truncated = tmp_path / "cut.gz"
    truncated.write_bytes(gzip.compress(CAPTURED.read_bytes() * 20)[:300])
    out = run_cli(str(truncated))
    assert out.returncode == 2 and b"truncated" in out.stderr and b"Traceback" not in out.stderr


def test_summarize_paths_tail_reads_only_the_recent_part(tmp_path):
    import pytest

    from mtls_doctor.logs.read import summarize_paths
    from mtls_doctor.model import InputError

    lines = CAPTURED.read_text().splitlines(True)
    last = lines[-1]
    path = tmp_path / "error.log"
    path.write_text("".join(lines))
    whole = summarize_paths([str(path)])
    tail = summarize_paths([str(path)], tail_bytes=len(last.encode()) + 5)  # last line + a partial one
    assert tail.files[0].lines == 1 and whole.files[0].lines == len(lines)
    assert summarize_paths([str(path)], tail_bytes=10**9).to_dict() == whole.to_dict()
    with pytest.raises(InputError):
        summarize_paths([str(tmp_path / "missing.log")])
