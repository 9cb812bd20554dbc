"""Identity and verification claims of the config rules, measured on real nginx 1.22.1.

One nginx (lab.nginx.NginxServer, loopback, always stopped) runs one server per claim, each on
its own port; real clients (stdlib ssl, openssl s_client) talk to it; the configuration that
ran is linted and the rule that makes the claim must fire inside that server's block.

- MTLS205 / MTLS403 (F1.2): ssl_client_certificate with verify off -> no CertificateRequest,
  `$ssl_client_verify` NONE and identity variables empty although the client holds a cert;
- MTLS206 (F1.1, F1.3): a CA in ssl_trusted_certificate verifies clients but is not advertised;
- MTLS305 (section 9): ssl_stapling does not revocation-check client certificates;
- MTLS401 (F4.1): with the server's error_log at notice the verify failure is not logged;
- MTLS402: add_header with $ssl_client_s_dn reaches the client, never the backend (which sees
  whatever the client sent itself);
- MTLS404 (section 5): $ssl_client_cert is multi-line (TAB-folded), and as a proxied request
  header it breaks the request at an nginx backend; $ssl_client_escaped_cert is one line;
- MTLS406 (section 5, F5): $ssl_client_s_dn is RFC 2253, a `/CN=` regex never matches it;
- MTLS408: an unanchored `CN=name` regex also matches `CN=name-evil`.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki.issue import CA, key_pem, pem
from mtls_doctor.nginx.version import Version
from tests.truth.util import (AT, V, certificate_requests, client_context, https_get, lint_running,
                              rules_in, s_client, wait_for_text)

pytestmark = pytest.mark.nginx

SERVER = """
# begin {name}
server {{
    listen 127.0.0.1:@PORT{port}@ ssl;
    server_name localhost;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
{body}
}}
# end {name}
"""

SERVERS = {
    # 0: verify on; the identity variables, DN matches, add_header, proxied headers
    "vars": (0, """
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    location = /dn { return 200 "$ssl_client_s_dn"; }
    location = /legacy-var { return 200 "$ssl_client_s_dn_legacy"; }
    location = /cert { return 200 "$ssl_client_cert"; }
    location = /raw { return 200 "$ssl_client_raw_cert"; }
    location = /esc { return 200 "$ssl_client_escaped_cert"; }
    location = /slash-match {
        if ($ssl_client_s_dn ~ "/CN=lab client good") { return 200 "matched"; }
        return 200 "no match";
    }
    location = /unanchored {
        if ($ssl_client_s_dn ~ "CN=lab client good") { return 200 "allowed"; }
        return 403;
    }
    location = /add-header {
        add_header X-Client-DN $ssl_client_s_dn always;
        proxy_pass http://127.0.0.1:@PORT6@/echo-dn;
    }
    location = /folded {
        proxy_set_header X-Client-Cert $ssl_client_cert;
        proxy_pass http://127.0.0.1:@PORT6@/echo-cert;
    }
    location = /escaped {
        proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
        proxy_pass http://127.0.0.1:@PORT6@/echo-cert;
    }"""),
    # 1: a CA file but verification off (the default)
    "off": (1, """
    ssl_client_certificate ca/root.pem;
    location = /v { return 200 "verify=$ssl_client_verify dn=[$ssl_client_s_dn]"; }
    location / {
        proxy_set_header X-Client-DN $ssl_client_s_dn;
        proxy_pass http://127.0.0.1:@PORT6@/echo-dn;
    }"""),
    # 2: root advertised, other-root only trusted
    "trusted": (2, """
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    ssl_trusted_certificate ca/other.pem;
    location / { return 200 "verify=$ssl_client_verify"; }"""),
    # 3: stapling, no ssl_crl / ssl_ocsp
    "stapling": (3, """
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    ssl_stapling on;
    location / { return 200 "verify=$ssl_client_verify"; }"""),
    # 4: error_log above info for this server
    "quiet": (4, """
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    error_log @PREFIX@/logs/quiet.log notice;
    location / { return 200 "verify=$ssl_client_verify"; }"""),
    # 5: the same with the default (info, from NginxServer): the control for "quiet"
    "loud": (5, """
    ssl_verify_client on;
    ssl_client_certificate ca/root.pem;
    error_log @PREFIX@/logs/loud.log info;
    location / { return 200 "verify=$ssl_client_verify"; }"""),
}

BACKEND = """
# begin backend
server {
    listen 127.0.0.1:@PORT6@;
    location = /echo-dn { return 200 "backend-saw=[$http_x_client_dn]"; }
    location = /echo-cert { return 200 "backend-saw=[$http_x_client_cert]"; }
}
# end backend
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory, nginx_bin):
    pki = build_lab_pki(AT)
    inter = CA(pki.cas["inter"].cert, pki.cas["inter"].key)
    evil = inter.issue("lab client good-evil", at=AT)  # a CN that extends "lab client good"
    files = {
        "certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
        "ca/root.pem": pki.pem("root"), "ca/other.pem": pki.pem("other-root"),
        "clients/evil.pem": pem(evil.cert, inter.cert), "clients/evil.key": key_pem(evil.key),
    }
    for name in ("good", "foreign", "revoked", "no-eku"):
        files[f"clients/{name}.pem"] = pki.clients[name].chain_pem
        files[f"clients/{name}.key"] = pki.clients[name].key_pem
    http = "".join(SERVER.format(name=n, port=p, body=b) for n, (p, b) in SERVERS.items()) + BACKEND
    server = NginxServer(http, ports=7, files=files, nginx_bin=nginx_bin,
                         workdir=tmp_path_factory.mktemp("truth-identity"))
    with server:
        findings = lint_running(server.conf_path)
        yield server, pki, findings


def ctx_for(server, client: str | None, tls: str | None = None):
    p = server.prefix
    if client is None:
        return client_context(p / "ca" / "root.pem", tls=tls)
    return client_context(p / "ca" / "root.pem", p / "clients" / f"{client}.pem",
                          p / "clients" / f"{client}.key", tls=tls)


def port(server, name: str) -> int:
    return server.ports[SERVERS[name][0]]


def fires(lab, code: str, block: str) -> bool:
    server, _, findings = lab
    return code in rules_in(findings, server.conf_path, block)


# --- MTLS205 / MTLS403: verify off ------------------------------------------------------------

def test_ca_file_without_verify_requests_nothing_mtls205_mtls403(lab):
    server, _, _ = lab
    ans = https_get(port(server, "off"), "/v", ctx_for(server, "good"))
    assert (ans.status, ans.body) == (200, "verify=NONE dn=[]")  # F1.2: the cert was never asked for
    ans = https_get(port(server, "off"), "/", ctx_for(server, "good"))
    assert (ans.status, ans.body) == (200, "backend-saw=[]")  # the identity header is empty
    for tls in ("-tls1_2", "-tls1_3"):
        out = s_client(port(server, "off"), tls, "-servername", "localhost")
        assert "CONNECTED" in out and certificate_requests(out) == 0, out
    assert fires(lab, "MTLS205", "off")
    assert fires(lab, "MTLS403", "off")
    # control: the verifying server does send a CertificateRequest, and the client's identity
    out = s_client(port(server, "vars"), "-tls1_2", "-servername", "localhost")
    assert certificate_requests(out) == 1, out
    assert not fires(lab, "MTLS205", "vars") and not fires(lab, "MTLS403", "vars")


# --- MTLS206: trusted but not advertised ------------------------------------------------------

def test_trusted_ca_verifies_but_is_not_advertised_mtls206(lab):
    server, pki, _ = lab
    ans = https_get(port(server, "trusted"), "/", ctx_for(server, "foreign"))
    assert (ans.status, ans.body) == (200, "verify=SUCCESS")  # F1.3: other-root verifies
    out = s_client(port(server, "trusted"), "-tls1_2", "-servername", "localhost")
    names = out.split("Acceptable client certificate CA names", 1)[1].split("Requested Signature", 1)[0]
    root_cn = pki.cas["root"].cert.subject.rfc4514_string().split(",")[0].split("=", 1)[1]
    other_cn = pki.cas["other-root"].cert.subject.rfc4514_string().split(",")[0].split("=", 1)[1]
    assert root_cn in names and other_cn not in names, names  # F1.1: only ssl_client_certificate
    assert fires(lab, "MTLS206", "trusted")


# --- MTLS305: stapling is not client revocation -----------------------------------------------

def test_stapling_accepts_a_revoked_client_mtls305(lab):
    server, _, _ = lab
    ans = https_get(port(server, "stapling"), "/", ctx_for(server, "revoked"))
    assert (ans.status, ans.body) == (200, "verify=SUCCESS")
    assert fires(lab, "MTLS305", "stapling")


# --- MTLS401: error_log above info hides failures ---------------------------------------------

def test_error_log_above_info_hides_verify_failures_mtls401(lab):
    server, _, _ = lab
    for name in ("quiet", "loud"):
        assert https_get(port(server, name), "/", ctx_for(server, None)).status == 400
        assert https_get(port(server, name), "/", ctx_for(server, "foreign")).status == 400
    logs = server.prefix / "logs"
    loud = wait_for_text((logs / "loud.log").read_text, "client SSL certificate verify error", 1)
    quiet = (logs / "quiet.log").read_text() if (logs / "quiet.log").exists() else ""
    assert "client sent no required SSL certificate" in loud  # F4.1: logged at info
    assert "client SSL certificate verify error: (21:" in loud
    assert "client sent no required SSL certificate" not in quiet
    assert "verify error" not in quiet
    assert fires(lab, "MTLS401", "quiet")
    assert not fires(lab, "MTLS401", "loud")


# --- MTLS402: add_header goes to the client ---------------------------------------------------

def test_add_header_identity_goes_to_the_client_not_the_backend_mtls402(lab):
    server, _, _ = lab
    ans = https_get(port(server, "vars"), "/add-header", ctx_for(server, "good"))
    assert ans.headers.get("x-client-dn") == "CN=lab client good,O=mtls-doctor lab"
    assert ans.body == "backend-saw=[]"
    spoof = https_get(port(server, "vars"), "/add-header", ctx_for(server, "good"),
                      headers={"X-Client-DN": "CN=admin"})
    assert spoof.body == "backend-saw=[CN=admin]"  # the backend reads the client's own header
    assert fires(lab, "MTLS402", "vars")


# --- MTLS404: $ssl_client_cert is multi-line --------------------------------------------------

def test_client_cert_variable_is_tab_folded_and_breaks_proxied_headers_mtls404(lab):
    server, pki, _ = lab
    leaf_pem = pki.clients["good"].cert_pem.decode()
    folded = https_get(port(server, "vars"), "/cert", ctx_for(server, "good")).body
    lines = leaf_pem.rstrip("\n").split("\n")
    assert folded == lines[0] + "".join("\n\t" + l for l in lines[1:])  # section 5
    raw = https_get(port(server, "vars"), "/raw", ctx_for(server, "good")).body
    assert raw == leaf_pem
    esc = https_get(port(server, "vars"), "/esc", ctx_for(server, "good")).body
    assert "\n" not in esc and unquote(esc) == leaf_pem
    # as a request header to an nginx backend: the folded value does not arrive intact
    via_folded = https_get(port(server, "vars"), "/folded", ctx_for(server, "good"))
    # broken either way: the backend rejects the proxied request (nginx 1.22+), or an older one
    # (1.18.0, measured) answers but sees only the first line of the certificate
    assert via_folded.status == 400 or (
        via_folded.status == 200 and "backend-saw=[-----BEGIN CERTIFICATE-----]" in via_folded.body), via_folded
    log = wait_for_text(server.read_error_log, "client sent invalid header line")
    # the TAB-folded continuation; 1.22+ logs it with its leading \x09, 1.18.0 without (measured)
    assert 'client sent invalid header line: "\\x09' in log or (
        V < Version(1, 22, 0) and "client sent invalid header line" in log), log
    via_escaped = https_get(port(server, "vars"), "/escaped", ctx_for(server, "good"))
    assert via_escaped.status == 200 and unquote(via_escaped.body[len("backend-saw=["):-1]) == leaf_pem
    assert fires(lab, "MTLS404", "vars")


# --- MTLS406 / MTLS408: DN format and regex anchoring -----------------------------------------

def test_s_dn_is_rfc2253_and_slash_regex_never_matches_mtls406(lab):
    server, _, _ = lab
    good = ctx_for(server, "good")
    assert https_get(port(server, "vars"), "/dn", good).body == "CN=lab client good,O=mtls-doctor lab"
    assert https_get(port(server, "vars"), "/legacy-var", good).body == "/O=mtls-doctor lab/CN=lab client good"
    assert https_get(port(server, "vars"), "/slash-match", good).body == "no match"
    assert fires(lab, "MTLS406", "vars")


def test_unanchored_cn_regex_admits_a_longer_cn_mtls408(lab):
    server, _, _ = lab
    assert https_get(port(server, "vars"), "/unanchored", ctx_for(server, "good")).status == 200
    evil = https_get(port(server, "vars"), "/dn", ctx_for(server, "evil"))
    assert evil.body == "CN=lab client good-evil,O=mtls-doctor lab"
    assert https_get(port(server, "vars"), "/unanchored", ctx_for(server, "evil")).status == 200
    assert https_get(port(server, "vars"), "/unanchored", ctx_for(server, "no-eku")).status == 403
    assert fires(lab, "MTLS408", "vars")
