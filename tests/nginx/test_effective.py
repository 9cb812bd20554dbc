"""The effective per-server view: inheritance, nginx defaults, default servers, proxy headers."""

from __future__ import annotations

import pytest

from mtls_doctor.model import InputError
from mtls_doctor.nginx.effective import effective, listen_groups
from mtls_doctor.nginx.parse import DictReader, parse_sources
from mtls_doctor.nginx.version import Version, default_protocols, parse_version


def eff(text: str):
    return effective(parse_sources("/c/nginx.conf", DictReader({"/c/nginx.conf": text})))


def test_defaults_when_nothing_is_set() -> None:
    (s,) = eff("http { server { listen 443 ssl; } }").servers
    assert s.verify == "off" and s.settings["ssl_verify_client"].node is None  # F2.1
    assert s.settings["ssl_verify_depth"].value == "1"  # F3.1
    assert s.error_log_level == "error" and s.error_log_nodes == ()  # F4.1
    assert s.ssl


def test_server_inherits_from_http_and_overrides() -> None:
    e = eff("""
error_log /x warn;
http {
    ssl_verify_client on; ssl_client_certificate /ca.pem; ssl_verify_depth 2;
    server { listen 1 ssl; }
    server { listen 2 ssl; ssl_verify_client optional; error_log /y info; error_log /z crit; }
}""")
    a, b = e.servers
    assert (a.verify, a.settings["ssl_client_certificate"].value, a.settings["ssl_verify_depth"].value) == ("on", "/ca.pem", "2")
    assert a.error_log_level == "warn" and a.error_log_nodes[0].line == 2
    assert b.verify == "optional" and b.error_log_level == "info"  # the most verbose of several logs


def test_default_server_is_explicit_else_first() -> None:
    e = eff("""http {
        server { listen 443 ssl; server_name a; }
        server { listen 443 ssl default_server; server_name b; }
        server { listen 127.0.0.1:8443 ssl; server_name c; }
        server { listen 8443 ssl; server_name d; }
        server { server_name e; }
    }""")
    names = {addr: s.names[0] for addr, s in e.defaults.items()}
    assert names == {"*:443": "b", "127.0.0.1:8443": "c", "*:8443": "d", "*:80": "e"}
    assert [s.names[0] for s in listen_groups(e)["*:443"]] == ["a", "b"]


def test_proxy_set_header_inheritance_is_all_or_nothing() -> None:
    (s,) = eff("""http {
        proxy_set_header X-A 1;
        server {
            location /inherit/ { proxy_pass http://x; }
            location /own/ { proxy_set_header Host $host; proxy_pass http://x;
                location /own/nested/ { proxy_pass http://x; } }
        }
    }""").servers
    heads = {l.node.args[0]: [d.args[0] for d in l.proxy_headers] for l in s.locations}
    assert heads == {"/inherit/": ["X-A"], "/own/": ["Host"], "/own/nested/": ["Host"]}
    assert all(l.proxies for l in s.locations)


def test_stream_servers_and_snippets() -> None:
    e = eff("stream { ssl_verify_client on; server { listen 12345 ssl; } }")
    assert [(s.kind, s.verify) for s in e.servers] == [("stream", "on")]
    snippet = eff("server { listen 443 ssl; ssl_verify_client optional; }")  # a conf.d file
    assert [(s.kind, s.verify) for s in snippet.servers] == [("http", "optional")]


def test_content_detection() -> None:
    (s,) = eff("""http { server {
        location /r { return 301 https://x; }
        location /f { return 403; }
        location /t { return 200 "ok"; }
        location /s { }
    } }""").servers
    assert {l.node.args[0]: l.serves_content for l in s.locations} == {"/r": False, "/f": False, "/t": True, "/s": True}


def test_versions() -> None:
    assert parse_version("nginx version: nginx/1.22.1") == Version(1, 22, 1)
    assert parse_version("1.27") == Version(1, 27, 0)
    assert parse_version("nginx version: openresty/1.25.3.1") == Version(1, 25, 3)
    with pytest.raises(InputError):
        parse_version("latest")
    assert "TLSv1.3" not in default_protocols(Version(1, 22, 1))  # F7.5
    assert "TLSv1.3" in default_protocols(Version(1, 23, 4))
