"""What the rule changes made after scoring lint on the r2 field configurations
(tests/corpus/lint/field-*) claim about nginx, measured on the real nginx at hand:

- an ``internal`` location (an error page) answers a client's own request 404, without a
  certificate too, while the location that checks $ssl_client_verify answers 403 and serves
  the internal page as its error page: MTLS201 does not count an internal location as content
  served unchecked;
- a TLS directive that lost its ``;`` (``ssl_client_certificate ca.pem`` followed by
  ``ssl_verify_client optional;``) is refused by ``nginx -t`` with "invalid number of
  arguments", and lint's MTLS254 says so.
"""

from __future__ import annotations

import pytest

from mtls_doctor.lab.nginx import NginxConfigError, NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.nginx.lint import lint_config
from mtls_doctor.nginx.parse import load_path
from tests.truth.util import AT, client_context, https_get

pytestmark = pytest.mark.nginx

INTERNAL = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_client_certificate ca/root.pem;
    ssl_verify_client optional;
    error_page 403 /cert_required.html;
    location = /cert_required.html {
        return 200 "certificate required";
        internal;
    }
    location / {
        if ($ssl_client_verify != SUCCESS) { return 403; }
        return 200 "protected";
    }
}
"""

SEMICOLON = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_client_certificate ca/root.pem
    ssl_verify_client optional;
    location / { return 200 "x"; }
}
"""


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(AT)


def _files(pki):
    return {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
            "ca/root.pem": pki.pem("root")}


def test_internal_location_is_404_to_a_client_and_mtls201_leaves_it(pki, nginx_bin, tmp_path):
    with NginxServer(INTERNAL, files=_files(pki), nginx_bin=nginx_bin, workdir=tmp_path / "n") as server:
        ctx = client_context(server.prefix / "ca/root.pem")
        direct = https_get(server.ports[0], "/cert_required.html", ctx)
        guarded = https_get(server.ports[0], "/", ctx)
        config = load_path(str(server.conf_path))
        rules = {f.rule for f in lint_config(config, AT).findings}
    assert direct.status == 404, direct
    assert guarded.status == 403 and "certificate required" in guarded.body, guarded
    assert "MTLS201" not in rules


def test_missing_semicolon_is_refused_by_nginx_t_and_mtls254_says_so(pki, nginx_bin, tmp_path):
    with pytest.raises(NginxConfigError) as err:
        with NginxServer(SEMICOLON, files=_files(pki), nginx_bin=nginx_bin, workdir=tmp_path / "n"):
            pass
    assert 'invalid number of arguments in "ssl_client_certificate"' in str(err.value), err.value
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {" + SEMICOLON.replace("@PORT0@", "8443") + "}\n")
    findings = lint_config(load_path(str(conf)), AT).findings
    assert {(f.rule, f.location.line) for f in findings if f.rule == "MTLS254"} == {("MTLS254", 7)}  # the ssl_client_certificate line
