"""Where the user's client lands: nginx's server selection (pure; F7.1-F7.3)."""

from __future__ import annotations

import pytest

from mtls_doctor.diagnose.target import fix_values, resolve_target
from mtls_doctor.nginx.effective import effective, find_server
from mtls_doctor.nginx.parse import DictReader, parse_sources

CONF = """http {
  server { listen 443 ssl; server_name _; }
  server { listen 443 ssl; server_name app.example.test; ssl_verify_client on;
           ssl_client_certificate /etc/nginx/ca.pem; }
  server { listen 443 ssl; server_name *.example.test; }
  server { listen 443 ssl; server_name www.example.*; }
  server { listen 443 ssl; server_name ~^api\\d+\\.example\\.test$; }
  server { listen 10.0.0.1:443 ssl default_server; server_name app.example.test; }
}"""


@pytest.fixture(scope="module")
def eff():
    return effective(parse_sources("/etc/nginx/nginx.conf", DictReader({"/etc/nginx/nginx.conf": CONF})))


@pytest.mark.parametrize("name, line, matched", [
    ("app.example.test", 3, True),   # exact wins over the wildcard
    ("other.example.test", 5, True),  # leading wildcard
    ("www.example.org", 6, True),     # trailing wildcard
    ("api7.example.test", 5, True),   # the leading wildcard wins over a regex
    ("nothing.test", 2, False),       # no match: the default (first) server
    (None, 2, False),                 # no SNI
])
def test_find_server_follows_nginx(eff, name, line, matched):
    server, by_name = find_server(eff, "*:443", name)
    assert (server.node.line, by_name) == (line, matched)


def test_a_listen_on_the_exact_address_wins(eff):
    t = resolve_target(eff, url="https://10.0.0.1/", host="app.example.test")
    assert t.address == "10.0.0.1:443" and t.sni is None and t.lands_on_default


def test_ip_url_has_no_sni_and_lands_on_the_default(eff):
    t = resolve_target(eff, url="https://127.0.0.1/", host="app.example.test")
    assert (t.sni, t.sni_known, t.lands_on_default) == (None, True, True)
    assert t.handshake_server.node.line == 2 and t.request_server.node.line == 3


def test_unknown_name_lands_on_the_default(eff):
    t = resolve_target(eff, url="https://127.0.0.1/", sni="typo.test")
    assert t.lands_on_default and t.sni_matches is False and t.host == "typo.test"


def test_nothing_said_is_unknown(eff):
    t = resolve_target(eff)
    assert not t.known and t.lands_on_default is None


def test_fix_values_are_the_servers_own(eff):
    server, _ = find_server(eff, "*:443", "app.example.test")
    values = fix_values(server)
    assert values["listen"] == "443" and values["name"] == "app.example.test"
    assert values["ca_file"] == "/etc/nginx/ca.pem"
