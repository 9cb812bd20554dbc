"""What real nginx (`nginx -t`) accepts or rejects, next to what `lint` says about the same file.

Each case is a configuration using the lab PKI; real nginx must give the stated verdict (and
message), and lint must report the stated rule. Configurations nginx accepts although they are
broken for mTLS (optional unchecked, a missing root CRL, ssl_ocsp without resolver, a legacy DN
regex) are the point of the linter.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import ConfigSyntaxError, load_path
from mtls_doctor.nginx.version import (SSL_OCSP_HTTP, SSL_OCSP_STREAM, SSL_ON_REMOVED, TRUSTED_ONLY_OK,
                                      parse_version)
from tests.conftest import find_nginx, nginx_argv, nginx_at_hand_version, nginx_module

AT = datetime(2026, 11, 28, tzinfo=timezone.utc)
V = nginx_at_hand_version() or parse_version("1.22.1")  # the nginx these tests run against

SERVER = """
    server {
        listen 127.0.0.1:18443 ssl;
        server_name localhost;
        ssl_certificate server/server.pem;
        ssl_certificate_key %(key)s;
        ssl_protocols TLSv1.2 TLSv1.3;
%(body)s
        location / { return 200 "ok"; }
    }
"""

# (id, server body, key file, nginx -t passes?, substring of nginx's message, lint rule expected)
# F1.5: 1.27.2+ accepts ssl_trusted_certificate alone and names both directives when neither is set
_NO_CA = ("no ssl_client_certificate for ssl_verify_client" if V < TRUSTED_ONLY_OK
          else "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client")
CASES = [
    ("trusted-only-on", "ssl_verify_client on; ssl_trusted_certificate bundles/client-ca.pem;", None,
     V >= TRUSTED_ONLY_OK, None if V >= TRUSTED_ONLY_OK else _NO_CA, "MTLS203"),  # 1.27.2+: a
    # warning (it starts, but advertises no CA names: browsers offer no certificate, F1.4)
    ("optional-without-ca", "ssl_verify_client optional;", None, False, _NO_CA, "MTLS204"),
    ("ocsp-optional-no-ca", "ssl_verify_client optional_no_ca; ssl_client_certificate bundles/client-ca.pem;"
     " ssl_ocsp on; resolver 127.0.0.1; if ($ssl_client_verify != SUCCESS) { return 403; }", None,
     False, '"ssl_ocsp" is incompatible with "ssl_verify_client optional_no_ca"', "MTLS304"),
    # F8.1: deprecated (a warning) before 1.25.1, an unknown directive from 1.25.1 on
    ("ssl-on", "ssl on;", None, V < SSL_ON_REMOVED,
     'the "ssl" directive is deprecated' if V < SSL_ON_REMOVED else 'unknown directive "ssl"', "MTLS220"),
    ("missing-ca-file", "ssl_verify_client on; ssl_client_certificate ca/absent.pem;", None,
     False, "absent.pem", "MTLS294"),  # a missing named file: once per path (MTLS230: includes)
    ("key-mismatch", "", "clients/good.key", False, "key values mismatch", "MTLS232"),
    ("invalid-dn-regex", "ssl_verify_client on; ssl_client_certificate bundles/client-ca.pem;"
     ' if ($ssl_client_s_dn !~ "^CN=(admin|ops,") { return 403; }', None, False, "pcre", "MTLS407"),
    ("verify-in-location", "ssl_client_certificate bundles/client-ca.pem; location /admin/ { ssl_verify_client on; }",
     None, False, '"ssl_verify_client" directive is not allowed here', "MTLS213"),
    # accepted by nginx, broken for mTLS:
    ("optional-unchecked", "ssl_verify_client optional; ssl_client_certificate bundles/client-ca.pem;", None,
     True, None, "MTLS201"),
    ("crl-without-root", "ssl_verify_client on; ssl_client_certificate bundles/client-ca.pem;"
     " ssl_crl crl/inter.crl.pem;", None, True, None, "MTLS301"),
    ("ocsp-without-resolver", "ssl_verify_client on; ssl_client_certificate bundles/client-ca.pem; ssl_ocsp on;",
     None, True, None, "MTLS303"),
    ("legacy-dn", "ssl_verify_client on; ssl_client_certificate bundles/client-ca.pem;"
     ' if ($ssl_client_s_dn !~ "/CN=admin$") { return 403; }', None, True, None, "MTLS406"),
    ("depth-too-low", "ssl_verify_client on; ssl_client_certificate bundles/client-ca-all.pem;", None,
     True, None, "MTLS207"),
    ("ca-without-verify", "ssl_client_certificate bundles/client-ca.pem;", None, True, None, "MTLS205"),
    ("good", "ssl_verify_client on; ssl_client_certificate bundles/client-ca.pem; ssl_verify_depth 1;", None,
     True, None, None),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    from mtls_doctor.lab.pki import build_lab_pki

    root = tmp_path_factory.mktemp("realnginx")
    build_lab_pki(AT).write(root / "p")
    return root / "p"


def write_conf(lab: Path, name: str, body: str, key: str | None) -> Path:
    temp = lab / "tmp"
    temp.mkdir(exist_ok=True)
    server = SERVER % {"key": key or "server/server.key", "body": "        " + body}
    text = (
        f"pid {lab}/{name}.pid;\nerror_log stderr info;\nevents {{}}\nhttp {{\n"
        f"    access_log off;\n    client_body_temp_path {temp}/b;\n    proxy_temp_path {temp}/p;\n"
        f"    fastcgi_temp_path {temp}/f;\n    uwsgi_temp_path {temp}/u;\n    scgi_temp_path {temp}/s;\n"
        f"{server}}}\n"
    )
    path = lab / f"{name}.conf"
    path.write_text(text)
    return path


def nginx_t(nginx_bin: str, conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(nginx_argv(nginx_bin, "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_nginx_verdict_and_lint(case, lab: Path, nginx_bin: str) -> None:
    name, body, key, passes, message, rule = case
    if "ssl_ocsp" in body and V < SSL_OCSP_HTTP:
        pytest.skip(f"ssl_ocsp exists from nginx {SSL_OCSP_HTTP} (MTLS209 covers older nginx)")
    conf = write_conf(lab, name, body, key)
    done = nginx_t(nginx_bin, conf)
    assert (done.returncode == 0) == passes, done.stderr
    if message:
        assert message in done.stderr
    config = load_path(conf)
    report = lint_config(config, AT, V, load_named_files(effective(config)))
    codes = {f.rule for f in report.findings if f.location.path == str(conf)}
    if rule is None:
        assert not [f for f in report.findings if f.severity.rank >= 1], report.findings
    else:
        assert rule in codes, [(f.rule, f.message) for f in report.findings]


@pytest.mark.parametrize("text", ["events {}\nhttp {\n server {\n", "events {}\nhttp {\n}\n}\n",
                                  "events {}\nlisten 80\n", "events {}\nhttp { a b;; }\n"])
def test_syntax_error_line_matches_nginx(text: str, tmp_path: Path, nginx_bin: str) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text(f"pid {tmp_path}/n.pid;\n" + text)
    done = nginx_t(nginx_bin, conf)
    assert done.returncode != 0
    with pytest.raises(ConfigSyntaxError) as err:
        load_path(conf)
    assert f"{conf}:{err.value.line}" in done.stderr, (done.stderr, str(err.value))


STREAM_MODULE = nginx_module(find_nginx() or "/usr/sbin/nginx", "stream")


@pytest.mark.skipif(STREAM_MODULE is None, reason="the stream module is not installed")
@pytest.mark.parametrize("body, passes, message, rule", [
    # ssl_ocsp exists in stream from 1.27.2 (F6.2; measured on 1.30.6: nginx -t passes)
    ("ssl_verify_client on; ssl_client_certificate bundles/client-ca.pem; ssl_ocsp on; resolver 127.0.0.1;",
     V >= SSL_OCSP_STREAM, None if V >= SSL_OCSP_STREAM else '"ssl_ocsp" directive is not allowed here'
     if V >= SSL_OCSP_HTTP else 'unknown directive "ssl_ocsp"',
     None if V >= SSL_OCSP_STREAM else "MTLS209"),
    ("ssl_verify_client optional; ssl_client_certificate bundles/client-ca.pem;", True, None, "MTLS201"),
])
def test_stream_verdicts(body: str, passes: bool, message: str | None, rule: str, lab: Path, nginx_bin: str) -> None:
    conf = lab / f"stream-{rule}.conf"
    conf.write_text(
        f"pid {lab}/stream.pid;\nload_module {STREAM_MODULE};\nerror_log stderr info;\nevents {{}}\n"
        "stream {\n    server {\n        listen 127.0.0.1:18444 ssl;\n"
        "        ssl_certificate server/server.pem;\n        ssl_certificate_key server/server.key;\n"
        f"        ssl_protocols TLSv1.2 TLSv1.3;\n        {body}\n        proxy_pass 127.0.0.1:9;\n    }}\n}}\n")
    done = nginx_t(nginx_bin, conf)
    assert (done.returncode == 0) == passes, done.stderr
    if message:
        assert message in done.stderr
    config = load_path(conf)
    report = lint_config(config, AT, V, load_named_files(effective(config)))
    if rule is None:
        assert "MTLS209" not in {f.rule for f in report.findings}, report.findings
    else:
        assert rule in {f.rule for f in report.findings}, report.findings
