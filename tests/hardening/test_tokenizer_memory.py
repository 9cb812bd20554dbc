"""Issue 11, defect 10: the configuration tokenizer is linear in memory on long tokens.

A 20 MB token (plain, full of escapes, quoted with escapes) is linted under a 2 GiB address
space limit; the alternation-based patterns needed about 400 bytes per input byte (8 GB here)
and ended in an empty "cannot tokenize:". Measured after the fix: a 50 MB token, 131 MB peak."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from mtls_doctor.nginx.lex import tokens
from tests.hardening.conftest import ENV

SIZE = 20_000_000


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("token", [
    "a" * SIZE,
    "\\a" * (SIZE // 2),
    '"' + "\\\"x" * (SIZE // 3) + '"',
    "#" + "c" * SIZE + "\n",
], ids=["plain", "escapes", "quoted-escapes", "comment"])
def test_long_token_is_linted_in_bounded_memory(tmp_path, token):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n server_name " + token + ";\n}\n")
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", "--no-files", str(conf)],
                          capture_output=True, text=True, timeout=300, env=ENV,
                          stdin=subprocess.DEVNULL, preexec_fn=_limit)
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr, proc.stderr[-500:]
    assert proc.returncode in (0, 1), proc.stderr[-500:]


@pytest.mark.parametrize("text", [
    'a "x\\"y\\\\z" \'q\\\'r\' b\\;c # com\\\nment\nd;',
    'x "unterminated \\" ;',
    "# only a comment",
    'k "a\\\\" "b" \\\n w;',
], ids=range(4))
def test_unrolled_patterns_keep_crossplane_semantics(text):
    from mtls_doctor.nginx.lex import _crossplane

    assert list(tokens(text)) == list(_crossplane(text))
