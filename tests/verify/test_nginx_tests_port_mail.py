"""nginx-tests' mail_imap_ssl.t and the STARTTLS servers of mail_ssl.t, ported as a
differential (own configuration text).

github.com/nginx/nginx-tests/blob/master/mail_imap_ssl.t: IMAP servers on implicit TLS with
ssl_verify_client on / optional / optional with a trusted-only CA / optional_no_ca, three
self-signed certificates made by the ``openssl`` CLI, ``auth_http_pass_client_cert on``: a
rejected client reads ``* BYE No required SSL certificate`` or ``* BYE SSL certificate error``,
an admitted one the greeting, and the auth server receives ``Auth-SSL-Verify``.
github.com/nginx/nginx-tests/blob/master/mail_ssl.t adds ``starttls on`` servers.

Here the auth server is an http server of the same nginx that logs the ``Auth-SSL-*`` headers
and refuses the login (no mail backend is needed). For every (server, client) row the Python
``ssl`` module reads the reply, logs in once when admitted, and

- ``verify CLIENT --config nginx.conf --listen 127.0.0.1:PORT`` must predict it: rejected with
  the very reply nginx sent, or admitted with the ``$ssl_client_verify`` nginx handed to the
  auth server (``Auth-SSL-Verify``) and its subject (``Auth-SSL-Subject``);
- ``probe imaps://`` / ``imap://`` (STARTTLS) must infer each server's mode.
"""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from tests.conftest import nginx_module
from tests.verify.nginx_tests_port_lab import RawNginx, mtls_doctor, predict
from tests.verify.test_nginx_tests_port import _make_pki

pytestmark = pytest.mark.nginx

CONF = """
mail {
    auth_http 127.0.0.1:@PORT5@/auth;
    auth_http_pass_client_cert on;
    ssl_certificate pki/localhost.crt;
    ssl_certificate_key pki/localhost.key;
    server { listen 127.0.0.1:@PORT0@ ssl; protocol imap;
             ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt; }
    server { listen 127.0.0.1:@PORT1@ ssl; protocol imap;
             ssl_verify_client optional; ssl_client_certificate pki/2.example.com.crt; }
    server { listen 127.0.0.1:@PORT2@ ssl; protocol imap;
             ssl_verify_client optional; ssl_client_certificate pki/2.example.com.crt;
             ssl_trusted_certificate pki/3.example.com.crt; }
    server { listen 127.0.0.1:@PORT3@ ssl; protocol imap;
             ssl_verify_client optional_no_ca; ssl_client_certificate pki/2.example.com.crt; }
    server { listen 127.0.0.1:@PORT4@; protocol imap; starttls on;
             ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt; }
}
http {
    log_format auth "$http_auth_ssl_verify|$http_auth_ssl_subject";
    server { listen 127.0.0.1:@PORT5@;
             location = /auth { access_log @PREFIX@/logs/auth.log auth;
                                add_header Auth-Status "Invalid login"; return 204; } }
}
"""

MODES = {0: "on", 1: "optional", 2: "optional", 3: "optional_no_ca", 4: "on"}
CLIENTS = ("1.example.com", "2.example.com", "3.example.com")


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    if nginx_module(nginx_bin, "mail") is None:
        pytest.fail("the nginx at hand has no mail module: ./dev.sh installs libnginx-mod-mail")
    files = _make_pki(tmp_path_factory.mktemp("mail-pki"))
    with RawNginx(nginx_bin, tmp_path_factory.mktemp("mail"), CONF, 6, files,
                  modules=("mail",)) as nginx:
        yield nginx


def _line(f) -> str:
    return f.readline().decode(errors="replace").rstrip("\r\n")


def _session(lab: RawNginx, index: int, cert: str | None) -> tuple[str, str | None]:
    """(the first line after the TLS handshake, the Auth-SSL-Verify|Subject the auth server got
    when the client was admitted and logged in; None when it was not)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        pki = lab.prefix / "pki"
        ctx.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    auth_log = lab.prefix / "logs" / "auth.log"
    before = auth_log.read_text() if auth_log.exists() else ""
    with socket.create_connection(("127.0.0.1", lab.ports[index]), timeout=5) as raw:
        if index == 4:  # STARTTLS: greeting, STARTTLS, OK, then the handshake
            plain = raw.makefile("rb")
            assert _line(plain).startswith("* OK")
            raw.sendall(b"s STARTTLS\r\n")
            assert _line(plain).startswith("s OK")
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            f = tls.makefile("rb")
            if index == 4:  # after STARTTLS the client speaks first
                tls.sendall(b"1 LOGIN user pass\r\n")
                first = _line(f)
                if first.startswith("* BYE"):
                    return first, None
            else:
                first = _line(f)
                if not first.startswith("* OK"):
                    return first, None
                tls.sendall(b"1 LOGIN user pass\r\n")
                _line(f)
    after = auth_log.read_text()[len(before):].splitlines()
    return first, (after[-1] if after else "")


def test_the_regression_tests_expectations_hold(lab):
    assert _session(lab, 0, None)[0] == "* BYE No required SSL certificate"
    assert _session(lab, 1, None)[1] == "NONE|-"  # the access log writes an empty value as -
    assert _session(lab, 2, "1.example.com")[0] == "* BYE SSL certificate error"
    assert _session(lab, 3, "1.example.com")[1].startswith("FAILED:")
    assert _session(lab, 2, "2.example.com")[1] == "SUCCESS|CN=2.example.com"
    assert _session(lab, 2, "3.example.com")[1] == "SUCCESS|CN=3.example.com"


def test_verify_predicts_the_mail_servers_answer(lab):
    wrong = []
    for index in MODES:
        for cert in CLIENTS:
            first, auth = _session(lab, index, cert)
            got = predict(lab.conf_path, lab.nginx_bin, lab.prefix / "pki" / f"{cert}.crt",
                          lab.ports[index])
            if auth is None:
                ok = not got["accepted"] and got["reply"] == first
            else:
                ok = got["accepted"] and \
                    f"{got['ssl_client_verify']}|{got['ssl_client_s_dn'] or ''}" == auth
            if not ok or got.get("server_kind") != "mail":
                wrong.append(f"server {index} ({MODES[index]}) client {cert}: nginx said "
                             f"{first!r}, auth got {auth!r}; verify predicted "
                             f"{got.get('server_kind')} accepted={got['accepted']} reply="
                             f"{got['reply']!r} {got['ssl_client_verify']!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("index", sorted(MODES))
def test_probe_infers_the_mail_servers_mode(lab, index):
    scheme = "imap" if index == 4 else "imaps"
    code, out, err = mtls_doctor("probe", f"{scheme}://127.0.0.1:{lab.ports[index]}",
                                 "--insecure", "--no-legacy", "--format", "json", timeout=90)
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["inferred_mode"] == MODES[index], report["inferences"]
    assert report["ca_names"] == ["CN=2.example.com"]
