"""nginx as the (m)TLS client of an upstream: nginx-tests' proxy_ssl_verify.t,
proxy_ssl_certificate.t and grpc_ssl.t, ported as a differential of lint's upstream rules
(MTLS240-243) against what nginx really does (own configuration text).

github.com/nginx/nginx-tests/blob/master/proxy_ssl_verify.t: ``proxy_ssl_verify on`` against
upstream certificates made by the ``openssl`` CLI (one with a subjectAltName of example.com and
*.example.com under a CN that matches neither, one with a CN only): a name in the SAN -> 200,
the CN of a certificate with a SAN -> 502, a CN-only certificate -> its CN, an untrusted one ->
502. proxy_ssl_certificate.t (github.com/nginx/nginx-tests/blob/master/proxy_ssl_certificate.t):
nginx presents a client certificate to an upstream that verifies it. grpc_ssl.t
(github.com/nginx/nginx-tests/blob/master/grpc_ssl.t): the same over ``grpc_pass grpcs://``.

Here every location of one front server proxies to upstream servers of the same nginx; for
each, the status nginx answers and the upstream error it logs are measured, and lint of the
same configuration must fire the rule that names the failure at that location: MTLS243 where
the name nginx checks is the IP of the URL (502, "does not match"), MTLS242 where the depth
is below the upstream's intermediates (502, verify error), MTLS240 where nginx presents its
certificate without verifying the upstream (200 from an untrusted upstream), none where nginx
verifies and succeeds. MTLS241's claim (nginx -t refuses verify without a trusted file) is
checked by nginx -t itself.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from mtls_doctor.lab.nginx import NginxConfigError, NginxServer
from tests.verify.nginx_tests_port_lab import mtls_doctor
from tests.verify.test_nginx_tests_port import _make_pki, _openssl

pytestmark = pytest.mark.nginx

SAN_CONF = """[ req ]
prompt = no
default_bits = 2048
encrypt_key = no
distinguished_name = dn
x509_extensions = ext
[ dn ]
commonName = no.match.example.com
[ ext ]
subjectAltName = DNS:example.com,DNS:*.example.com,IP:127.0.0.1
"""

DEEP_EXT = """[ deep ]
basicConstraints = critical,CA:FALSE
subjectAltName = DNS:deep.example.com
[ ca2 ]
basicConstraints = critical,CA:TRUE
keyUsage = critical, digitalSignature, cRLSign, keyCertSign
"""

# One location a line: lint's findings are matched to the location by their line.
HTTP = """
server { listen 127.0.0.1:@PORT0@; server_name front; @REUSE@
  location /verify/ { proxy_pass https://127.0.0.1:@PORT1@/; proxy_ssl_name example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/san.crt; }
  location /wildcard/ { proxy_pass https://127.0.0.1:@PORT1@/; proxy_ssl_name foo.example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/san.crt; }
  location /ip/ { proxy_pass https://127.0.0.1:@PORT1@/; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/san.crt; }
  location /cn/ { proxy_pass https://127.0.0.1:@PORT2@/; proxy_ssl_name 2.example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/2.example.com.crt; }
  location /depth1/ { proxy_pass https://127.0.0.1:@PORT3@/; proxy_ssl_name deep.example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/root.crt; }
  location /depth2/ { proxy_pass https://127.0.0.1:@PORT3@/; proxy_ssl_name deep.example.com; proxy_ssl_verify on; proxy_ssl_verify_depth 2; proxy_ssl_trusted_certificate pki/root.crt; }
  location /unverified/ { proxy_pass https://127.0.0.1:@PORT4@/; proxy_ssl_certificate pki/end-int.crt; proxy_ssl_certificate_key pki/end.key; }
  location /mtls/ { proxy_pass https://127.0.0.1:@PORT4@/; proxy_ssl_name example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/san.crt; proxy_ssl_certificate pki/end-int.crt; proxy_ssl_certificate_key pki/end.key; }
  location /no-client-cert/ { proxy_pass https://127.0.0.1:@PORT4@/; proxy_ssl_name example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/san.crt; }
  location /grpc-ip/ { grpc_pass grpcs://127.0.0.1:@PORT5@; grpc_ssl_verify on; grpc_ssl_trusted_certificate pki/san.crt; }
  location /grpc-name/ { grpc_pass grpcs://127.0.0.1:@PORT5@; grpc_ssl_name example.com; grpc_ssl_verify on; grpc_ssl_trusted_certificate pki/san.crt; }
}
server { listen 127.0.0.1:@PORT1@ ssl; server_name san; ssl_certificate pki/san.crt; ssl_certificate_key pki/san.key; return 200 "san\\n"; }
server { listen 127.0.0.1:@PORT2@ ssl; server_name cn; ssl_certificate pki/2.example.com.crt; ssl_certificate_key pki/2.example.com.key; return 200 "cn\\n"; }
server { listen 127.0.0.1:@PORT3@ ssl; server_name deep; ssl_certificate pki/deep-chain.crt; ssl_certificate_key pki/deep.key; return 200 "deep\\n"; }
server { listen 127.0.0.1:@PORT4@ ssl; server_name mtls; ssl_certificate pki/san.crt; ssl_certificate_key pki/san.key;
         ssl_verify_client on; ssl_client_certificate pki/root.crt; return 200 "$ssl_client_verify\\n"; }
server { listen 127.0.0.1:@PORT5@ ssl @HTTP2@; server_name grpc; ssl_certificate pki/san.crt; ssl_certificate_key pki/san.key; return 200 "grpc\\n"; }
"""

#: location -> the upstream rule lint must fire there (None: none of MTLS240-243)
RULES = {"/verify/": None, "/wildcard/": None, "/ip/": "MTLS243", "/cn/": None,
         "/depth1/": "MTLS242", "/depth2/": None, "/unverified/": "MTLS240", "/mtls/": None,
         "/no-client-cert/": None,
         "/grpc-ip/": "MTLS243", "/grpc-name/": None}
UPSTREAM_RULES = {"MTLS240", "MTLS241", "MTLS242", "MTLS243"}


def _pki(d: Path) -> dict[str, bytes]:
    files = _make_pki(d)
    (d / "san.conf").write_text(SAN_CONF)
    _openssl(d, "req", "-x509", "-new", "-config", "san.conf", "-out", "san.crt", "-keyout", "san.key")
    # deep.example.com <- int2 <- int <- root: two intermediates below the root
    with open(d / "ca.conf", "a") as conf:
        conf.write(DEEP_EXT)
    for name, issuer, ext in (("int2", "int", "ca2"), ("deep", "int2", "deep")):
        _openssl(d, "req", "-new", "-config", "req.conf", "-subj", f"/CN={name}/", "-out",
                 f"{name}.csr", "-keyout", f"{name}.key")
        _openssl(d, "ca", "-batch", "-config", "ca.conf", "-extensions", ext, "-keyfile",
                 f"{issuer}.key", "-cert", f"{issuer}.crt", "-subj", f"/CN={name}/", "-in",
                 f"{name}.csr", "-out", f"{name}.crt")
    read = lambda name: (d / name).read_bytes()  # noqa: E731
    files.update({f"pki/{n}": read(n) for n in ("san.crt", "san.key", "deep.key")})
    files["pki/deep-chain.crt"] = read("deep.crt") + read("int2.crt") + read("int.crt")
    files["pki/end-int.crt"] = read("end.crt") + read("int.crt")
    return files


@pytest.fixture(scope="module")
def server(nginx_bin, tmp_path_factory):
    from tests.truth.util import V
    from tests.verify.test_nginx_tests_port_h2 import HTTP2_DIRECTIVE

    http = HTTP.replace(" @HTTP2@;", "; http2 on;") if V >= HTTP2_DIRECTIVE else \
        HTTP.replace("@HTTP2@", "http2")
    # locations proxying to one host:port share one implicit upstream and its TLS session:
    # each row is measured on its own handshake (test_shared_session_* measures the sharing)
    http = http.replace("@REUSE@", "proxy_ssl_session_reuse off; grpc_ssl_session_reuse off;")
    with NginxServer(http, ports=6, files=_pki(tmp_path_factory.mktemp("up-pki")),
                     nginx_bin=nginx_bin, workdir=tmp_path_factory.mktemp("up-port")) as nginx:
        yield nginx


def _get(server: NginxServer, path: str) -> tuple[int, str, str]:
    """(status, body, the error-log lines this request added)."""
    before = len(server.read_error_log())
    args: list[str] = []
    run = subprocess.run(["curl", "-s", "--max-time", "10", *args, "-w", "\n%{http_code}",
                          f"http://127.0.0.1:{server.port}{path}"],
                         capture_output=True, text=True, timeout=30)
    body, _, status = run.stdout.rpartition("\n")
    return int(status), body, server.read_error_log()[before:]


@pytest.fixture(scope="module")
def measured(server):
    return {path: _get(server, path) for path in RULES}


def test_the_regression_tests_expectations_hold(measured):
    assert measured["/verify/"][:2] == (200, "san\n")
    assert measured["/wildcard/"][:2] == (200, "san\n")
    assert measured["/cn/"][:2] == (200, "cn\n")
    assert measured["/mtls/"][:2] == (200, "SUCCESS\n")
    # an IP address is checked as a host name: the certificate's IP SAN does not help (MTLS243)
    assert measured["/ip/"][0] == 502 and 'does not match "127.0.0.1"' in measured["/ip/"][2]
    assert measured["/depth1/"][0] == 502 and "upstream SSL certificate verify error" in \
        measured["/depth1/"][2]
    assert measured["/depth2/"][:2] == (200, "deep\n")
    # no verification: nginx sends its certificate to an upstream it cannot trust (MTLS240)
    assert measured["/unverified/"][:2] == (200, "SUCCESS\n")
    # no client certificate: the upstream's own 400 is passed through, not a 502
    assert measured["/no-client-cert/"][0] == 400


def _lint(server: NginxServer) -> dict[str, set[str]]:
    code, out, err = mtls_doctor("lint", str(server.conf_path), "--nginx", server.nginx_bin,
                                 "--format", "json")
    assert code in (0, 1), err
    lines = server.conf_path.read_text().splitlines()
    fired: dict[str, set[str]] = {}
    for path in RULES:
        at = next(i for i, l in enumerate(lines, 1) if f"location {path} " in l)
        fired[path] = {f["rule"] for f in json.loads(out)["findings"]
                       if f["location"].get("line") == at and f["rule"] in UPSTREAM_RULES}
    return fired


def test_lint_names_the_upstream_failure_nginx_really_has(server, measured):
    fired = _lint(server)
    wrong = []
    for path, rule in RULES.items():
        status, body, log = measured[path]
        upstream_error = re.findall(r"\[error\].*?(upstream SSL[^,]*|SSL_do_handshake\(\)[^,]*)", log)
        expect = {rule} if rule else set()
        if fired[path] != expect:
            wrong.append(f"{path}: nginx {status} {upstream_error[:1]}, lint fired "
                         f"{sorted(fired[path])}, expected {sorted(expect)}")
        # what each rule claims about nginx, as measured
        if rule in ("MTLS242", "MTLS243") and status != 502:
            wrong.append(f"{path}: {rule} says 502, nginx answered {status}")
        if rule is None and path != "/no-client-cert/" and status != 200:
            wrong.append(f"{path}: no rule, but nginx answered {status} {upstream_error[:1]}")
    assert not wrong, "\n".join(wrong)


def test_verify_without_a_trusted_file_is_refused_by_nginx_and_lint_mtls241(nginx_bin, tmp_path):
    conf = ("server { listen 127.0.0.1:@PORT0@; location / { proxy_pass https://127.0.0.1:@PORT0@; "
            "proxy_ssl_verify on; } }")
    with pytest.raises(NginxConfigError) as refused:
        with NginxServer(conf, nginx_bin=nginx_bin, workdir=tmp_path / "p"):
            pass
    assert "no proxy_ssl_trusted_certificate for proxy_ssl_verify" in str(refused.value)
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {\n" + conf.replace("@PORT0@", "8443") + "\n}\n")
    code, out, err = mtls_doctor("lint", str(tmp_path / "nginx.conf"), "--nginx", nginx_bin,
                                 "--format", "json")
    assert "MTLS241" in {f["rule"] for f in json.loads(out)["findings"]}, out


# Two locations, one implicit upstream (proxy_pass to the same host:port): nginx keeps one TLS
# session per upstream peer and, on resumption, takes the verify result stored in the session
# (SSL_get_verify_result) instead of verifying again. proxy_ssl_verify.t's /untrusted turns
# proxy_ssl_session_reuse off for this reason.
SHARED = """
server { listen 127.0.0.1:@PORT0@; server_name front;
  location /depth1/ { proxy_pass https://127.0.0.1:@PORT1@/; proxy_ssl_name deep.example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/root.crt; }
  location /depth2/ { proxy_pass https://127.0.0.1:@PORT1@/; proxy_ssl_name deep.example.com; proxy_ssl_verify on; proxy_ssl_verify_depth 2; proxy_ssl_trusted_certificate pki/root.crt; }
  location /plain/ { proxy_pass https://127.0.0.1:@PORT2@/; }
  location /verified/ { proxy_pass https://127.0.0.1:@PORT2@/; proxy_ssl_name example.com; proxy_ssl_verify on; proxy_ssl_trusted_certificate pki/san.crt; }
}
server { listen 127.0.0.1:@PORT1@ ssl; server_name deep; ssl_certificate pki/deep-chain.crt; ssl_certificate_key pki/deep.key; return 200 "deep\\n"; }
server { listen 127.0.0.1:@PORT2@ ssl; server_name san; ssl_certificate pki/san.crt; ssl_certificate_key pki/san.key; return 200 "san\\n"; }
"""


@pytest.fixture(scope="module")
def shared(nginx_bin, tmp_path_factory):
    with NginxServer(SHARED, ports=3, files=_pki(tmp_path_factory.mktemp("shared-pki")),
                     nginx_bin=nginx_bin, workdir=tmp_path_factory.mktemp("shared")) as nginx:
        yield nginx


def test_shared_session_carries_the_other_locations_verify_result(shared):
    """Measured: after /depth2/ succeeded, /depth1/ (which fails on a handshake of its own,
    MTLS242) is served 200; after /plain/ (no verification) left its session, /verified/
    (which succeeds on its own) gets 502 with the other location's error 18."""
    assert _get(shared, "/depth2/")[0] == 200
    assert _get(shared, "/depth1/")[0] == 200  # resumed: depth 1 is never checked
    assert _get(shared, "/plain/")[0] == 200
    status, _, log = _get(shared, "/verified/")
    assert status == 502 and "(18:" in log, log


def test_lint_warns_that_locations_share_an_upstream_session(shared):
    code, out, err = mtls_doctor("lint", str(shared.conf_path), "--nginx", shared.nginx_bin,
                                 "--format", "json")
    assert code in (0, 1), err
    lines = shared.conf_path.read_text().splitlines()
    at = {path: next(i for i, l in enumerate(lines, 1) if f"location {path} " in l)
          for path in ("/depth1/", "/depth2/", "/plain/", "/verified/")}
    fired = {f["location"]["line"] for f in json.loads(out)["findings"] if f["rule"] == "MTLS244"}
    # one finding per shared upstream, at the pass whose checks differ from the first one's
    assert fired == {at["/depth2/"], at["/verified/"]}, (fired, at)
