"""Issue 11, open item 2: MTLS214 is linear in servers. It reported every (open server,
verifying server) pair: 1,000 servers that proxy to one upstream gave 125,000 findings. Now one
finding per open server naming the verifying servers it bypasses (the first three and a count),
content keys computed once per server, and nginx's server selection asked only for a name an
open server at that address can match. Shown by counting work, never by a clock."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.parse import DictReader, parse_sources
from mtls_doctor.rules.config import bypass
from mtls_doctor.rules.config.common import LintContext

AT = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)


def _ctx(pairs: int) -> LintContext:
    """``pairs`` verifying servers on :443 and ``pairs`` open ones on :80, each pair with one
    name, all proxying to one upstream (the shape of bench_lint.generate and of a host that
    adds a plain port per application), plus one open wildcard server on :8080."""
    blocks = []
    for i in range(pairs):
        blocks.append(f"server {{ listen 443 ssl; server_name a{i}.test; ssl_verify_client on;\n"
                      "  location / { proxy_pass http://app; } }\n")
        blocks.append(f"server {{ listen 80; server_name a{i}.test;\n"
                      "  location / { proxy_pass http://app/; } }\n")
    blocks.append("server { listen 8080; server_name *.test; location / { root /srv/other; } }\n")
    text = "events {}\nhttp {\n" + "".join(blocks) + "}\n"
    config = parse_sources("/etc/nginx/nginx.conf", DictReader({"/etc/nginx/nginx.conf": text}))
    return LintContext(effective(config), AT, None, {})


@pytest.mark.parametrize("pairs", [60, 120])
def test_one_finding_per_open_server_and_linear_work(pairs, monkeypatch):
    calls = {"content_keys": 0, "find_server": 0}
    real_keys, real_find = bypass.content_keys, bypass.find_server

    def counting_keys(server, ctx):
        calls["content_keys"] += 1
        return real_keys(server, ctx)

    def counting_find(eff, address, name):
        calls["find_server"] += 1
        return real_find(eff, address, name)

    monkeypatch.setattr(bypass, "content_keys", counting_keys)
    monkeypatch.setattr(bypass, "find_server", counting_find)
    ctx = _ctx(pairs)
    findings = list(bypass.ProtectedContentServedUnverified.check(ctx))
    # every open :80 server, once; and the :8080 wildcard one (selected by name for every
    # verifying server's name) once, not once per verifying server
    lines = [f.location.line for f in findings]
    assert len(findings) == pairs + 1 and len(set(lines)) == len(lines), len(findings)
    for f in findings[:-1]:
        assert "the same upstream app" in f.message
        assert f"and {pairs - 3} more verifying servers" in f.message, f.message
        assert len(re.findall(r"server 'a\d+\.test'", f.message)) == 1 + 3  # itself + 3 named
    last = findings[-1].message
    assert "requests for a0.test" in last and f"and {pairs - 3} more verifying servers" in last
    servers = 2 * pairs + 1
    assert calls["content_keys"] <= servers  # once per server
    # one look-up per verifying name on :80 (its own name) and on :8080 (the wildcard)
    assert calls["find_server"] <= 2 * pairs, calls


def test_a_verifying_server_named_once_per_open_server():
    """Two verifying servers share the content of one open server: one finding names both."""
    text = """events {}
http {
  server { listen 443 ssl; server_name api.test; ssl_verify_client on;
    location / { proxy_pass http://app; } }
  server { listen 443 ssl; server_name admin.test; ssl_verify_client on;
    location / { proxy_pass http://app; } }
  server { listen 80; server_name status.test; location / { proxy_pass http://app; } }
}
"""
    config = parse_sources("/etc/nginx/nginx.conf", DictReader({"/etc/nginx/nginx.conf": text}))
    ctx = LintContext(effective(config), AT, None, {})
    findings = list(bypass.ProtectedContentServedUnverified.check(ctx))
    assert len(findings) == 1
    assert "'api.test'" in findings[0].message and "'admin.test'" in findings[0].message
    assert "more verifying" not in findings[0].message
