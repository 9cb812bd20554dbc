"""The real-case corpus on real nginx: every case's established root cause must come first.

Cases are in ``tests/diagnose/corpus.py`` (each rebuilt from the public thread it cites);
``docs/cases.md`` is generated from the same run (``python -m tests.diagnose.corpus
docs/cases.md``) and must agree with it. Figures the issue asks for: at least 90% right, and no
cause ranked first in more than one case where it is not the real one.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from tests.diagnose.corpus import CASES, cases_for, run_case

pytestmark = pytest.mark.nginx

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cases.md"
#: cases diagnose gets wrong today, and why (strict: a fix makes the test say so)
KNOWN_MISSES = {
    "client-from-other-ca": "a leaf sent alone whose issuer is in no trust file reads the same "
                            "(21) as a leaf whose intermediate was omitted; diagnose names the "
                            "ambiguous client-issuer-unknown (F3.4, F4.2)",
    "depth-one-bundle-log-only": "from the log alone a 20 reads the same for a chain longer than "
                                 "ssl_verify_depth and for an untrusted CA (F3.3); without the "
                                 "client's chain diagnose ranks the untrusted CA first and the "
                                 "depth second",
}


@pytest.fixture(scope="module")
def results(nginx_bin):
    return {c.id: run_case(c, nginx_bin) for c in cases_for(nginx_bin)}


#: known misses that depend on the OpenSSL nginx is built with: (case, OpenSSL majors it misses on)
MISSES_BY_OPENSSL = {"depth-one-bundle-log-only": (3,)}  # 1.1.1 logs 22 'chain too long'


@lru_cache(maxsize=1)
def _openssl_major() -> int | None:
    """The major version of the OpenSSL the nginx at hand is built with (`nginx -V`)."""
    import subprocess

    from tests.conftest import find_nginx, nginx_argv

    path = find_nginx()
    if path is None:
        return None
    out = subprocess.run(nginx_argv(path, "-V"), capture_output=True, text=True, timeout=10)
    m = re.search(r"built with OpenSSL (\d+)\.", out.stdout + out.stderr)
    return int(m.group(1)) if m else None


def _mark(c):
    if c.id in MISSES_BY_OPENSSL and _openssl_major() not in MISSES_BY_OPENSSL[c.id]:
        return c
    if c.id in KNOWN_MISSES:
        return pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[c.id]))
    return c


@pytest.mark.parametrize("case", [_mark(c) for c in CASES], ids=lambda c: c.id)
def test_case_top_cause(case, results):
    if case.id not in results:
        pytest.skip(f"the situation does not exist in this nginx version {case.versions}")
    r = results[case.id]
    assert r.top == case.expected, (case.source, r.causes[:4])


def test_corpus_figures(results):
    values = list(results.values())
    right = sum(r.right for r in values)
    assert right >= 0.9 * len(values)
    wrong_first = Counter(r.top for r in values if not r.right)
    assert all(n <= 1 for n in wrong_first.values()), wrong_first


def test_cases_page_lists_every_case_with_its_result(results):
    text = PAGE.read_text()
    rows = dict(re.findall(r"^\| `([\w-]+)` \| \S+ \| `[\w-]+` \| `([\w-]+)`", text, re.M))
    assert set(results) <= set(rows) <= {c.id for c in CASES}, "run: python -m tests.diagnose.corpus docs/cases.md"
    for cid, r in results.items():
        assert rows[cid] == (r.top or "none"), f"{cid}: docs/cases.md is stale"
