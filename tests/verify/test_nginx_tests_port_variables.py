"""nginx-tests' ssl_client_escaped_cert.t and the ``$ssl_client_*`` rows of ssl.t /
h2_ssl_variables.t, ported as a differential (own configuration text).

github.com/nginx/nginx-tests/blob/master/ssl_client_escaped_cert.t returns
``$ssl_client_raw_cert`` and ``$ssl_client_escaped_cert`` and checks that the second, URL-decoded,
is the first; github.com/nginx/nginx-tests/blob/master/ssl.t returns ``$ssl_client_s_dn`` /
``_legacy`` and ``$ssl_client_i_dn`` / ``_legacy`` (``CN=subject:/CN=subject``). Here a
self-signed client and one issued by an intermediate, both made by the ``openssl`` CLI (one with
a comma in its O, which RFC 2253 escapes), are sent by curl to the nginx at hand; then

- the body nginx prints for each variable is compared with what mtls-doctor says: ``verify``'s
  ``ssl_client_s_dn`` / ``ssl_client_i_dn``; the client's own PEM for the raw certificate; the
  URL-decoded escaped certificate equals the raw one (the .t);
- the same configuration forwards each certificate variable to a backend (proxy_set_header):
  lint's MTLS411 / MTLS404 fire on exactly the headers the backend could not take (400 or a
  cut value) and not on ``$ssl_client_escaped_cert``, which arrives whole.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse

import pytest

from mtls_doctor.lab.nginx import NginxServer
from tests.verify.nginx_tests_port_lab import mtls_doctor, predict
from tests.verify.test_nginx_tests_port import _make_pki, _openssl

pytestmark = pytest.mark.nginx

HTTP = """
ssl_certificate pki/localhost.crt;
ssl_certificate_key pki/localhost.key;

server { listen 127.0.0.1:@PORT0@ ssl; server_name localhost;
         ssl_verify_client optional_no_ca; ssl_client_certificate pki/root.crt;
         ssl_verify_depth 2;
         location = /raw { return 200 "$ssl_client_raw_cert"; }
         location = /escaped { return 200 "$ssl_client_escaped_cert"; }
         location = /dn { return 200 "$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_verify"; }
         location = /legacy { return 200 "$ssl_client_s_dn_legacy|$ssl_client_i_dn_legacy"; }
         location = /fwd-raw { proxy_pass http://127.0.0.1:@PORT1@/echo;
                               proxy_set_header X-Cert $ssl_client_raw_cert; }
         location = /fwd-cert { proxy_pass http://127.0.0.1:@PORT1@/echo;
                                proxy_set_header X-Cert $ssl_client_cert; }
         location = /fwd-escaped { proxy_pass http://127.0.0.1:@PORT1@/echo;
                                   proxy_set_header X-Cert $ssl_client_escaped_cert; }
}
# the backend: echoes the header it got
server { listen 127.0.0.1:@PORT1@; server_name backend;
         location = /echo { return 200 "$http_x_cert"; } }
"""

#: where each forwarding location is in the configuration: (location, rule lint must give)
FORWARDS = {"/fwd-raw": "MTLS411", "/fwd-cert": "MTLS404", "/fwd-escaped": None}


@pytest.fixture(scope="module")
def server(nginx_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("vars-pki")
    files = _make_pki(d)
    # a subject with a comma inside a value (RFC 2253 escapes it: \,), issued by int
    _openssl(d, "req", "-new", "-config", "req.conf", "-subj", "/C=US/O=Example, Inc./CN=client one",
             "-out", "comma.csr", "-keyout", "comma.key")
    _openssl(d, "ca", "-batch", "-config", "ca.conf", "-keyfile", "int.key", "-cert", "int.crt",
             "-preserveDN", "-subj", "/C=US/O=Example, Inc./CN=client one", "-in", "comma.csr",
             "-out", "comma.crt")
    for name in ("comma.crt", "comma.key"):
        files[f"pki/{name}"] = (d / name).read_bytes()
    files["pki/comma-chain.crt"] = (d / "comma.crt").read_bytes() + (d / "int.crt").read_bytes()
    with NginxServer(HTTP, ports=2, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("vars-port")) as nginx:
        yield nginx


def _get(server: NginxServer, path: str, cert: str, chain: str | None = None) -> tuple[int, str]:
    pki = server.prefix / "pki"
    run = subprocess.run(
        ["curl", "-sk", "--max-time", "10", "-w", "\n%{http_code}", "--resolve",
         f"localhost:{server.port}:127.0.0.1", "--cert", str(pki / (chain or f"{cert}.crt")),
         "--key", str(pki / f"{cert}.key"), f"https://localhost:{server.port}{path}"],
        capture_output=True, text=True, timeout=30)
    body, _, status = run.stdout.rpartition("\n")
    return int(status), body


CLIENTS = [("2.example.com", None), ("end", None), ("comma", "comma-chain.crt")]


def test_the_escaped_certificate_is_the_raw_one_url_encoded(server):
    for cert, chain in CLIENTS:
        raw = _get(server, "/raw", cert, chain)[1]
        escaped = _get(server, "/escaped", cert, chain)[1]
        assert raw.startswith("-----BEGIN CERTIFICATE-----") and "%0A" in escaped
        assert urllib.parse.unquote(escaped) == raw
        # the raw certificate is the client's leaf, as the client holds it
        leaf = (server.prefix / "pki" / f"{cert}.crt").read_text()  # `openssl ca` adds text
        assert raw.strip() == leaf[leaf.index("-----BEGIN"):].strip()


def test_verify_predicts_the_dn_variables_nginx_prints(server):
    wrong = []
    for cert, chain in CLIENTS:
        s_dn, i_dn, verify = _get(server, "/dn", cert, chain)[1].split("|")
        got = predict(server.conf_path, server.nginx_bin,
                      server.prefix / "pki" / (chain or f"{cert}.crt"), server.port, "localhost")
        said = (got["ssl_client_s_dn"], got["ssl_client_i_dn"], got["ssl_client_verify"])
        if said != (s_dn, i_dn, verify):
            wrong.append(f"{cert}: nginx {(s_dn, i_dn, verify)}, verify said {said}")
    assert not wrong, "\n".join(wrong)
    assert _get(server, "/dn", "comma", "comma-chain.crt")[1].startswith(
        "CN=client one,O=Example\\, Inc.,C=US|CN=int|")
    assert _get(server, "/legacy", "comma", "comma-chain.crt")[1] == \
        "/C=US/O=Example, Inc./CN=client one|/CN=int"


def test_lint_flags_exactly_the_forwarded_certificates_the_backend_cannot_take(server):
    code, out, err = mtls_doctor("lint", str(server.conf_path), "--nginx", server.nginx_bin,
                                 "--format", "json")
    assert code in (0, 1), err
    findings = json.loads(out)["findings"]
    lines = server.conf_path.read_text().splitlines()
    raw = _get(server, "/raw", "end")[1]
    wrong = []
    for location, rule in FORWARDS.items():
        at = next(i for i, l in enumerate(lines, 1) if f"location = {location} " in l)
        fired = {f["rule"] for f in findings if f["location"].get("line") in (at, at + 1)}
        status, body = _get(server, location, "end")
        whole = status == 200 and urllib.parse.unquote(body.replace("\t", "")).replace(
            " ", "").strip() == raw.replace("\n", "").strip() if location != "/fwd-escaped" \
            else status == 200 and urllib.parse.unquote(body) == raw
        broken = not whole
        if (rule is not None) != broken or (rule is not None and rule not in fired) or \
                (rule is None and fired & {"MTLS411", "MTLS404"}):
            wrong.append(f"{location}: backend got {status} {body[:60]!r} (whole: {whole}), "
                         f"lint fired {sorted(fired)}")
    assert not wrong, "\n".join(wrong)
