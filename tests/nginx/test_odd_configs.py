"""Odd but valid real-world configurations lint without a crash (exit 0 or 1, never 2 or a
traceback), and the ones that mean something for mTLS are read correctly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtls_doctor.cli import main

ODD = {
    "openresty-lua": r'''
http {
    lua_shared_dict certs 10m;
    init_by_lua_block { require "resty.core"; local t = { a = "}" } }
    server {
        listen 443 ssl;
        ssl_verify_client on;
        ssl_client_certificate ca.pem;
        ssl_certificate_by_lua_block { local ssl = require "ngx.ssl" }
        location / {
            access_by_lua_block {
                if ngx.var.ssl_client_verify ~= "SUCCESS" then return ngx.exit(403) end
            }
            content_by_lua_block { ngx.say("{", ngx.var.ssl_client_s_dn, "}") }
        }
    }
}''',
    "docker-template": r'''
events { worker_connections ${WORKERS}; }
http {
    server {
        listen ${NGINX_PORT} ssl;
        server_name ${SERVER_NAME};
        ssl_verify_client ${VERIFY};
        location / { proxy_pass http://${UPSTREAM}:8080; }
    }
}''',
    "maps-geo-split-upstream-mail": r'''
events {}
http {
    map $ssl_client_s_dn $role { default ""; ~^CN=(?<cn>[^,]+),OU=Ops, ops; "CN=x\,y" x; }
    geo $trusted { default 0; 10.0.0.0/8 1; }
    split_clients "${remote_addr}AAA" $variant { 50% a; * b; }
    upstream app { server 127.0.0.1:9000 weight=2; server unix:/run/app.sock backup; keepalive 4; }
    types { text/html html; application/json json; }
    log_format mtls '$remote_addr "$ssl_client_s_dn" '
                    '$ssl_client_verify';
    perl_set $x 'sub { my $r = shift; return "}"; }';
    server {
        listen [::]:443 ssl http2;
        listen 443 ssl;
        location @fallback { return 404; }
        location ~* \.(png|jpe?g)$ { expires 30d; }
        location = /x { limit_except GET { deny all; } }
        if ($request_method !~ ^(GET|POST)$ ) { return 405; }
    }
}
mail {
    server { listen 993 ssl; protocol imap; ssl_verify_client on; }
}''',
    "stream-only": r'''
stream {
    upstream db { server 10.0.0.1:5432; }
    server { listen 5432 ssl; ssl_verify_client optional_no_ca; proxy_pass db; }
}''',
    "empty": "",
    "comments-only": "# nothing here\n   # at all\n",
}


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_config_lints(name: str, tmp_path: Path, capsys) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(ODD[name])
    rc = main(["lint", "--no-files", "--nginx-version", "1.25.3", "--format", "json", str(p)])
    out = capsys.readouterr()
    assert rc in (0, 1), out.err
    json.loads(out.out)


def test_lua_access_check_counts_as_verify_check(tmp_path: Path, capsys) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(ODD["openresty-lua"].replace("ssl_verify_client on", "ssl_verify_client optional"))
    main(["lint", "--no-files", "--format", "json", "--select", "MTLS201", str(p)])
    assert json.loads(capsys.readouterr().out)["findings"] == []


def test_upstream_and_mail_servers_are_not_http_servers(tmp_path: Path, capsys) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(ODD["maps-geo-split-upstream-mail"])
    main(["lint", "--no-files", "--format", "json", str(p)])
    data = json.loads(capsys.readouterr().out)
    assert data["configs"][0]["servers"] == 1
