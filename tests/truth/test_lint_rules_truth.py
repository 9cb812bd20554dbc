"""What lint's rule families (issue 13) claim about nginx, measured on the real nginx at hand.

One nginx runs every case on its own port (marked ``# begin <case>`` / ``# end <case>`` so the
lint findings can be matched to the case); a second one checks what ``nginx -t`` refuses.
Measured on nginx 1.22.1 / OpenSSL 3.0 (Debian 12, whose openssl.cnf sets @SECLEVEL=2):

- a server with no ssl_certificate next to a verifying default answers 200 SUCCESS for a client
  of the default server's CA and 400 without a certificate: it has no SSL context, nginx -t does
  not refuse its CA-less `ssl_verify_client on` (MTLS204 says so, as a warning);
- a chain deeper than ssl_verify_depth whose intermediates are in ssl_client_certificate logs
  2 (unable to get issuer certificate) on OpenSSL 3.x, also when the client sends them (MTLS207);
- ssl_trusted_certificate naming the ssl_client_certificate file: its CAs are advertised (MTLS206
  stays quiet);
- ssl_ocsp with an OCSP URL that is an IP address sends the request without a resolver; a host
  name is "no resolver defined to resolve" (MTLS303);
- $ssl_client_raw_cert or $ssl_client_cert in proxy_set_header: a backend nginx answers 400
  "client sent invalid header line"; $ssl_client_escaped_cert passes (MTLS404, MTLS411);
- an RSA-1024 client certificate, or one issued by an RSA-1024 CA: 400 with 66 / 67 at the
  default security level; 200 SUCCESS with @SECLEVEL=0 in ssl_ciphers (MTLS223, MTLS224);
- nginx as the client of an upstream: it does not verify the upstream without proxy_ssl_verify
  (200 from an upstream it cannot verify); proxy_ssl_verify without a trusted file is an emerg;
  the default proxy_ssl_verify_depth 1 fails a two-intermediate upstream chain with 20; without
  proxy_ssl_server_name no SNI is sent (an upstream rejecting unknown names: 502); an IP in
  proxy_pass is checked as a host name against the certificate (MTLS240-MTLS243);
- protected content also served on a plain HTTP port: 200 without a certificate (MTLS214);
- an ssl_certificate with the leaf only, issued by an intermediate: a client trusting the root
  fails with "unable to get local issuer certificate" (MTLS234).
"""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from mtls_doctor.lab.nginx import NginxConfigError, NginxServer, free_ports
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki.issue import CA, SERVER_AUTH, pem
from mtls_doctor.nginx.version import REJECT_HANDSHAKE, SSL_OCSP_HTTP
from tests.witness import ca_names
from tests.truth.util import (AT, TIMEOUT, V, client_context, https_get, nginx_release,
                              rules_in, s_client, wait_for_text)

pytestmark = pytest.mark.nginx

CERT = "ssl_certificate certs/server.pem; ssl_certificate_key certs/server.key;"
VERIFY = "ssl_verify_client on; ssl_client_certificate ca/root-inter.pem;"
U = "proxy_ssl_certificate clients/good.pem; proxy_ssl_certificate_key clients/good.key;"


def _key(kind: str):
    return rsa.generate_private_key(public_exponent=65537, key_size=1024) if kind == "rsa1024" \
        else ec.generate_private_key(ec.SECP256R1())


def _cert(cn: str, key, issuer_cert, issuer_key, *, ca: bool = False, ocsp: str | None = None):
    """A certificate built here because the lab PKI has no AIA and no RSA-1024 keys."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(AT - timedelta(days=1)).not_valid_after(AT + timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), True)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if ocsp:
        b = b.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _cert_pem(*certs) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


CLOSED = free_ports(1)[0]  # nothing listens there: the OCSP request is refused

HTTP = f"""
# begin noctx
server {{ listen 127.0.0.1:@PORT0@ ssl; server_name a.test; {CERT} {VERIFY}
    location / {{ return 200 "a $ssl_client_verify"; }} }}
server {{ listen 127.0.0.1:@PORT0@ ssl; server_name noctx.test;
    ssl_verify_client on;
    location / {{ return 200 "noctx $ssl_client_verify"; }} }}
# end noctx
# begin depth
server {{ listen 127.0.0.1:@PORT1@ ssl; {CERT} ssl_verify_client on; ssl_client_certificate ca/deep.pem;
    location / {{ return 200 "deep $ssl_client_verify"; }} }}
# end depth
# begin samefile
server {{ listen 127.0.0.1:@PORT2@ ssl; {CERT} {VERIFY} ssl_trusted_certificate ca/root-inter.pem;
    location / {{ return 200 "same $ssl_client_verify"; }} }}
# end samefile
# begin ocsp
server {{ listen 127.0.0.1:@PORT3@ ssl; {CERT} ssl_verify_client on; ssl_client_certificate ca/ocsp-ip.pem;
    ssl_ocsp leaf;
    location / {{ return 200 "ocsp $ssl_client_verify"; }} }}
# end ocsp
# begin ocspname
server {{ listen 127.0.0.1:@PORT4@ ssl; {CERT} ssl_verify_client on; ssl_client_certificate ca/ocsp-name.pem;
    ssl_ocsp leaf;
    location / {{ return 200 "ocspname $ssl_client_verify"; }} }}
# end ocspname
# begin headers
server {{ listen 127.0.0.1:@PORT5@ ssl; {CERT} {VERIFY}
    location /raw {{ proxy_set_header X-Cert $ssl_client_raw_cert; proxy_pass http://127.0.0.1:@PORT6@; }}
    location /old {{ proxy_set_header X-Cert $ssl_client_cert; proxy_pass http://127.0.0.1:@PORT6@; }}
    location /esc {{ proxy_set_header X-Cert $ssl_client_escaped_cert; proxy_pass http://127.0.0.1:@PORT6@; }}
}}
# end headers
server {{ listen 127.0.0.1:@PORT6@; location / {{ return 200 "backend $http_x_cert"; }} }}
# begin weak
server {{ listen 127.0.0.1:@PORT7@ ssl; {CERT} ssl_verify_client on; ssl_client_certificate ca/weak.pem;
    location / {{ return 200 "weak $ssl_client_verify"; }} }}
# end weak
# begin seclevel0
server {{ listen 127.0.0.1:@PORT8@ ssl; {CERT} ssl_verify_client on; ssl_client_certificate ca/weak.pem;
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    location / {{ return 200 "weak0 $ssl_client_verify"; }} }}
# end seclevel0
# begin upstreams
server {{ listen 127.0.0.1:@PORT9@ ssl; ssl_certificate up/deep.pem; ssl_certificate_key up/deep.key;
    ssl_verify_client optional; ssl_client_certificate ca/root-inter.pem;
    return 200 "up1 $ssl_client_verify"; }}
server {{ listen 127.0.0.1:@PORT10@ ssl default_server; ssl_reject_handshake on; }}
server {{ listen 127.0.0.1:@PORT10@ ssl; server_name up.test; ssl_certificate up/inter.pem;
    ssl_certificate_key up/inter.key; return 200 "up2 $ssl_server_name"; }}
# end upstreams
server {{ listen 127.0.0.1:@PORT11@ ssl; {CERT}
    proxy_ssl_session_reuse off;
    # begin noverify
    location /noverify {{ {U} proxy_pass https://127.0.0.1:@PORT9@; }}
    # end noverify
    # begin depth1
    location /depth1 {{ proxy_ssl_verify on; proxy_ssl_trusted_certificate ca/root.pem;
        proxy_ssl_name up.test; proxy_pass https://127.0.0.1:@PORT9@; }}
    # end depth1
    location /depth3 {{ proxy_ssl_verify on; proxy_ssl_verify_depth 3; proxy_ssl_trusted_certificate ca/root.pem;
        proxy_ssl_name up.test; proxy_pass https://127.0.0.1:@PORT9@; }}
    # begin nosni
    location /nosni {{ proxy_ssl_verify on; proxy_ssl_trusted_certificate ca/root.pem;
        proxy_ssl_name up.test; proxy_pass https://127.0.0.1:@PORT10@; }}
    # end nosni
    location /sni {{ proxy_ssl_verify on; proxy_ssl_trusted_certificate ca/root.pem; proxy_ssl_name up.test;
        proxy_ssl_server_name on; proxy_set_header Host up.test; proxy_pass https://127.0.0.1:@PORT10@; }}
    # begin ipname
    location /ipname {{ proxy_ssl_verify on; proxy_ssl_trusted_certificate ca/root.pem;
        proxy_pass https://127.0.0.1:@PORT11@/hello; }}
    # end ipname
    location /hello {{ return 200 hello; }}
}}
# begin bypass
server {{ listen 127.0.0.1:@PORT12@ ssl; server_name files.test; {CERT} {VERIFY}
    root @PREFIX@/www; }}
server {{ listen 127.0.0.1:@PORT13@; server_name files.test; root @PREFIX@/www; }}
# end bypass
# begin leafonly
server {{ listen 127.0.0.1:@PORT14@ ssl; ssl_certificate certs/leaf-only.pem; ssl_certificate_key certs/leaf-only.key;
    return 200 leaf-only; }}
# end leafonly
server {{ listen 127.0.0.1:@PORT15@ ssl; ssl_certificate certs/full.pem; ssl_certificate_key certs/leaf-only.key;
    return 200 full; }}
"""


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    pki = build_lab_pki(AT, server_names=["a.test", "noctx.test", "files.test"])
    inter = CA(pki.cas["inter"].cert, pki.cas["inter"].key)
    deep2 = CA(pki.cas["deep2"].cert, pki.cas["deep2"].key)
    root_cert, root_key = pki.cas["root"].cert, pki.cas["root"].key
    up_deep = deep2.issue("up deep", at=AT, sans=["up.test"], eku=(SERVER_AUTH,))
    up_inter = inter.issue("up inter", at=AT, sans=["up.test", "localhost", "127.0.0.1"], eku=(SERVER_AUTH,))
    # OCSP: an issuing CA and a leaf whose AIA OCSP URL is an IP address / a host name
    ocsp_ca_key = _key("ec")
    ocsp_ip_ca = _cert("ocsp ip CA", ocsp_ca_key, root_cert, root_key, ca=True, ocsp=f"http://127.0.0.1:{CLOSED}/")
    ocsp_name_ca = _cert("ocsp name CA", ocsp_ca_key, root_cert, root_key, ca=True, ocsp="http://ocsp.invalid/")
    leaf_key = _key("ec")
    ocsp_ip_leaf = _cert("ocsp ip client", leaf_key, ocsp_ip_ca, ocsp_ca_key, ocsp=f"http://127.0.0.1:{CLOSED}/")
    ocsp_name_leaf = _cert("ocsp name client", leaf_key, ocsp_name_ca, ocsp_ca_key, ocsp="http://ocsp.invalid/")
    # security level: an RSA-1024 leaf of an EC CA, and an EC leaf of an RSA-1024 CA
    weak_ca_key = _key("rsa1024")
    weak_ca = _cert("weak rsa1024 CA", weak_ca_key, root_cert, root_key, ca=True)
    weak_leaf_key = _key("rsa1024")
    weak_leaf = _cert("rsa1024 client", weak_leaf_key, pki.cas["inter"].cert, pki.cas["inter"].key)
    under_weak = _cert("client of the weak CA", leaf_key, weak_ca, weak_ca_key)
    server_of_inter = inter.issue("leaf-only server", at=AT, sans=["localhost"], eku=(SERVER_AUTH,))
    files = {
        "certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
        "certs/leaf-only.pem": server_of_inter.cert_pem, "certs/leaf-only.key": server_of_inter.key_pem,
        "certs/full.pem": pem(server_of_inter.cert, pki.cas["inter"].cert),
        "ca/root.pem": pki.pem("root"), "ca/root-inter.pem": pki.pem("root", "inter"),
        "ca/deep.pem": pki.pem("root", "deep1", "deep2"),
        "ca/ocsp-ip.pem": _cert_pem(root_cert, ocsp_ip_ca), "ca/ocsp-name.pem": _cert_pem(root_cert, ocsp_name_ca),
        "ca/weak.pem": _cert_pem(root_cert, weak_ca, pki.cas["inter"].cert),
        "up/deep.pem": pem(up_deep.cert, pki.cas["deep2"].cert, pki.cas["deep1"].cert), "up/deep.key": up_deep.key_pem,
        "up/inter.pem": pem(up_inter.cert, pki.cas["inter"].cert), "up/inter.key": up_inter.key_pem,
        "clients/good.pem": pki.clients["good"].chain_pem, "clients/good.key": pki.clients["good"].key_pem,
        "clients/deep.pem": pki.clients["deep"].chain_pem, "clients/deep.key": pki.clients["deep"].key_pem,
        "clients/deep-leaf.pem": pki.clients["deep"].cert_pem,
        "clients/ocsp-ip.pem": _cert_pem(ocsp_ip_leaf), "clients/ocsp-name.pem": _cert_pem(ocsp_name_leaf),
        "clients/ocsp.key": _pem_key(leaf_key),
        "clients/weak.pem": _cert_pem(weak_leaf), "clients/weak.key": _pem_key(weak_leaf_key),
        "clients/under-weak.pem": _cert_pem(under_weak), "clients/under-weak.key": _pem_key(leaf_key),
        "www/index.html": b"PROTECTED",
    }
    http = HTTP
    if V < SSL_OCSP_HTTP:  # no ssl_ocsp before 1.19.0: those servers just verify
        http = http.replace("ssl_ocsp leaf;", "")
    if V < REJECT_HANDSHAKE:  # the SNI-only upstream's default serves another name instead
        http = http.replace("ssl_reject_handshake on;", CERT)
    with NginxServer(http, ports=16, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-lint-rules")) as server:
        from mtls_doctor.nginx.effective import effective
        from mtls_doctor.nginx.lint import lint_config, load_named_files
        from mtls_doctor.nginx.parse import load_path

        config = load_path(str(server.conf_path))  # linted for the nginx and OpenSSL at hand
        server.findings = list(lint_config(config, AT, V, load_named_files(effective(config)),
                                           openssl=nginx_release()).findings)
        yield server


def _get(lab, port, path="/", cert=None, key=None, sni="localhost"):
    p = lab.prefix
    ctx = client_context(p / "ca/root.pem", p / cert if cert else None, p / key if key else None)
    return https_get(port, path, ctx, sni=sni)


def _in(lab, marker: str) -> set[str]:
    return rules_in(lab.findings, lab.conf_path, marker)


def _finding(lab, code: str, marker: str):
    return next(f for f in lab.findings if f.rule == code and f.location.line in _lines(lab, marker))


def _lines(lab, marker):
    from tests.truth.util import block_lines

    return block_lines(lab.conf_path, marker)


def test_server_without_ssl_context_uses_the_default_servers_mtls204(lab):
    good = _get(lab, lab.ports[0], cert="clients/good.pem", key="clients/good.key", sni="noctx.test")
    assert (good.status, good.body) == (200, "noctx SUCCESS")
    assert _get(lab, lab.ports[0], sni="noctx.test").status == 400
    finding = _finding(lab, "MTLS204", "noctx")
    assert finding.severity.value == "warning" and "nginx -t passes" in finding.message


def test_depth_exceeded_with_intermediates_in_the_ca_file_logs_2_mtls207(lab):
    for cert in ("clients/deep.pem", "clients/deep-leaf.pem"):
        assert _get(lab, lab.ports[1], cert=cert, key="clients/deep.key").status == 400
    major = nginx_release().major
    expected = "(22:certificate chain too long)" if major == 1 else "(2:unable to get issuer certificate)"
    log = wait_for_text(lab.read_error_log, expected, 2)
    assert log.count(expected) >= 2, log[-2000:]
    finding = _finding(lab, "MTLS207", "depth")
    assert ("error 22" if major == 1 else "error 2 ") in finding.message


def test_trusted_certificate_naming_the_client_ca_file_is_advertised_mtls206(lab):
    out = s_client(lab.ports[2])
    assert "Acceptable client certificate CA names" in out
    assert "O=mtls-doctor lab, CN=mtls-doctor lab client CA" in ca_names(out)  # either spacing
    assert "MTLS206" not in _in(lab, "samefile")


@pytest.mark.skipif(V < SSL_OCSP_HTTP, reason="ssl_ocsp is nginx 1.19.0+")
def test_ocsp_url_with_an_ip_address_needs_no_resolver_mtls303(lab):
    for port, cert in ((lab.ports[3], "clients/ocsp-ip.pem"), (lab.ports[4], "clients/ocsp-name.pem")):
        answer = _get(lab, port, cert=cert, key="clients/ocsp.key")
        assert answer.status == 400  # the responder is refused / cannot be resolved
    log = wait_for_text(lab.read_error_log, "no resolver defined to resolve ocsp.invalid")
    assert "no resolver defined to resolve ocsp.invalid" in log
    assert f"requesting certificate status, responder: 127.0.0.1, peer: 127.0.0.1:{CLOSED}" in log
    assert "no resolver defined to resolve 127.0.0.1" not in log
    assert "MTLS303" not in _in(lab, "ocsp")
    assert "MTLS303" in _in(lab, "ocspname")


def test_multi_line_certificate_in_a_request_header_breaks_the_request_mtls411(lab):
    args = dict(cert="clients/good.pem", key="clients/good.key")
    for path in ("/raw", "/old"):
        broken = _get(lab, lab.ports[5], path, **args)
        # the backend rejects the request (nginx 1.22+), or an older one (1.18.0, measured) answers
        # with only the first line of the certificate in the header
        assert broken.status == 400 or (broken.status == 200 and broken.body == "backend -----BEGIN CERTIFICATE-----"), path
    ok = _get(lab, lab.ports[5], "/esc", **args)
    assert ok.status == 200 and ok.body.startswith("backend -----BEGIN%20CERTIFICATE")
    assert "client sent invalid header line" in wait_for_text(lab.read_error_log, "client sent invalid header line")
    assert {"MTLS404", "MTLS411"} <= _in(lab, "headers")


def _weak_get(port: int, lab, cert: str, key: str) -> str:
    p = lab.prefix
    out = s_client(port, "-tls1_2", "-cipher", "DEFAULT:@SECLEVEL=0", "-quiet",
                   "-cert", str(p / cert), "-key", str(p / key),
                   stdin=b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
    return next((l for l in out.splitlines() if l.startswith("HTTP/1.1")), "") + out[-200:]


def test_weak_client_keys_fail_at_the_default_security_level_mtls223_mtls224(lab):
    assert _weak_get(lab.ports[7], lab, "clients/weak.pem", "clients/weak.key").startswith("HTTP/1.1 400")
    assert _weak_get(lab.ports[7], lab, "clients/under-weak.pem", "clients/under-weak.key").startswith("HTTP/1.1 400")
    log = wait_for_text(lab.read_error_log, "key too weak", 2)
    assert "(66:EE certificate key too weak)" in log and "(67:CA certificate key too weak)" in log
    assert _weak_get(lab.ports[8], lab, "clients/weak.pem", "clients/weak.key").startswith("HTTP/1.1 200")
    assert "MTLS224" in _in(lab, "weak")
    assert "MTLS223" in _in(lab, "seclevel0")


def test_nginx_as_the_client_of_an_upstream_mtls240_to_mtls243(lab):
    port = lab.ports[11]
    ctx = client_context(lab.prefix / "ca/root.pem")
    assert https_get(port, "/noverify", ctx).body == "up1 SUCCESS"  # its certificate is not verified
    assert https_get(port, "/depth1", ctx).status == 502
    assert https_get(port, "/depth3", ctx).body == "up1 NONE"
    assert https_get(port, "/nosni", ctx).status == 502
    assert https_get(port, "/sni", ctx).body == "up2 up.test"
    assert https_get(port, "/ipname", ctx).status == 502
    log = wait_for_text(lab.read_error_log, 'upstream SSL certificate does not match "127.0.0.1"')
    cut = "(22:certificate chain too long)" if nginx_release().major == 1 else \
        "(20:unable to get local issuer certificate)"
    assert f"upstream SSL certificate verify error: {cut}" in log
    assert cut[1:3] in next(f.message for f in lab.findings if f.rule == "MTLS242")
    assert 'upstream SSL certificate does not match "127.0.0.1"' in log
    if V >= REJECT_HANDSHAKE:
        assert "unrecognized name" in log
    assert "MTLS240" in _in(lab, "noverify")
    assert "MTLS242" in _in(lab, "depth1")
    assert "MTLS243" in _in(lab, "nosni")
    assert "MTLS243" in _in(lab, "ipname")


def test_proxy_ssl_verify_without_a_trusted_file_is_refused_mtls241(nginx_bin, tmp_path):
    bad = "server { listen 127.0.0.1:@PORT0@; location / { proxy_ssl_verify on; proxy_pass https://127.0.0.1:9; } }"
    with pytest.raises(NginxConfigError, match="no proxy_ssl_trusted_certificate for proxy_ssl_verify"):
        with NginxServer(bad, nginx_bin=nginx_bin, workdir=tmp_path / "n"):
            pass
    from mtls_doctor.nginx.lint import lint_config
    from mtls_doctor.nginx.parse import load_path

    assert "MTLS241" in {f.rule for f in lint_config(load_path(str(tmp_path / "n" / "nginx.conf")), AT).findings}


def test_protected_content_on_a_plain_port_is_served_without_a_certificate_mtls214(lab):
    assert _get(lab, lab.ports[12], sni="files.test").status == 400
    import socket

    with socket.create_connection(("127.0.0.1", lab.ports[13]), timeout=TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: files.test\r\n\r\n")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"PROTECTED")
    assert "MTLS214" in _in(lab, "bypass")


def test_served_leaf_without_its_intermediate_fails_clients_mtls234(lab):
    ctx = ssl.create_default_context(cafile=str(lab.prefix / "ca/root.pem"))
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        https_get(lab.ports[14], "/", ctx)
    assert https_get(lab.ports[15], "/", ctx).body == "full"
    assert "MTLS234" in _in(lab, "leafonly")


REFUSED = {
    "c-comment": ("MTLS251", "/* client certificates */", 'unknown directive "/*"'),
    "typo-directive": ("MTLS252", "ssl_verify_clients on;", 'unknown directive "ssl_verify_clients"'),
    "typo-variable": ("MTLS252", 'add_header X-V "$ssl_client_verfiy";', 'unknown "ssl_client_verfiy" variable'),
    "wrong-context": ("MTLS253", "proxy_pass http://127.0.0.1:9;", '"proxy_pass" directive is not allowed here'),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_nginx_t_refuses_is_what_lint_says_mtls250_to_mtls253(case, nginx_bin, tmp_path):
    """The oracle runs the real nginx -t in a sandbox (the certificate files do not exist:
    placeholders stand in) and names the original line; the static rule fires there too."""
    from mtls_doctor.nginx.lint import lint_config
    from mtls_doctor.nginx.oracle import run_oracle
    from mtls_doctor.nginx.parse import load_path

    code, line, message = REFUSED[case]
    conf = tmp_path / "nginx.conf"
    conf.write_text("user nobody;\nevents {}\nhttp {\n    server {\n        listen 443 ssl;\n"
                    "        ssl_certificate /etc/nginx/absent/fullchain.pem;\n"
                    "        ssl_certificate_key /etc/nginx/absent/privkey.pem;\n"
                    f"        {line}\n        location / {{ return 200 ok; }}\n    }}\n}}\n")
    config = load_path(str(conf))
    result = run_oracle(config, nginx_bin)
    assert not result.ok and result.error is None
    assert [(r.message, r.path, r.line) for r in result.refusals if r.level == "emerg"] == [(message, str(conf), 8)]
    assert set(result.placeholders) == {"/etc/nginx/absent/fullchain.pem", "/etc/nginx/absent/privkey.pem"}
    findings = lint_config(config, AT, oracle=result).findings
    assert {(f.rule, f.location.line) for f in findings if f.rule in (code, "MTLS250")} == {(code, 8), ("MTLS250", 8)}


def test_nginx_t_accepts_a_clean_config_with_placeholders_mtls250(nginx_bin, tmp_path):
    from mtls_doctor.nginx.oracle import run_oracle
    from mtls_doctor.nginx.parse import load_path

    conf = tmp_path / "nginx.conf"
    conf.write_text("user www-data;\npid /run/nginx.pid;\nerror_log /var/log/nginx/error.log;\nevents {}\n"
                    "http {\n    access_log /var/log/nginx/access.log;\n    server {\n        listen 443 ssl;\n"
                    "        ssl_certificate /etc/nginx/absent/fullchain.pem;\n"
                    "        ssl_certificate_key /etc/nginx/absent/privkey.pem;\n"
                    "        ssl_verify_client on;\n        ssl_client_certificate /etc/nginx/absent/ca.pem;\n"
                    "        ssl_crl /etc/nginx/absent/crl.pem;\n"
                    "        location / { proxy_ssl_verify on; proxy_ssl_trusted_certificate /etc/nginx/absent/up.pem;\n"
                    "            proxy_pass https://127.0.0.1:9; }\n    }\n}\n")
    result = run_oracle(load_path(str(conf)), nginx_bin)
    assert result.ok and result.refusals == (), result
    assert len(result.placeholders) == 5
