"""nginx-tests' ssl_verify_client.t rows with a server that has no certificate of its own
("no.context"), ported as a differential (own configuration text).

github.com/nginx/nginx-tests/blob/master/ssl_verify_client.t has a server named no.context with
``ssl_verify_client on`` and neither ``ssl_certificate`` nor a CA file: nginx -t accepts it, a
client naming it in SNI does the handshake with the *default* server's SSL context (its
certificate, its CertificateRequest and CA list), and the request is then judged by no.context's
``ssl_verify_client on``: without a certificate 400. Here the same, plus a certificate the
default server's CA trusts and one it does not, plus a second address whose default server does
not ask for certificates at all (verify off) so no client can ever send one, and a third
whose no.context has ``ssl_verify_client off`` under a default server that verifies (the
result shows in ``$ssl_client_verify``, the request is served whatever it is); curl is the client
and ``verify CLIENT --config --listen --server-name no.context`` must predict status and
``$ssl_client_verify`` (the trust is the handshake server's: nginx.effective ``handshake_server``).
"""

from __future__ import annotations

import pytest

from mtls_doctor.lab.nginx import NginxServer
from tests.verify.nginx_tests_port_lab import predict
from tests.verify.test_nginx_tests_port import _curl, _make_pki

pytestmark = pytest.mark.nginx

HTTP = """
add_header X-Verify "$ssl_client_verify" always;
server { listen 127.0.0.1:@PORT0@ ssl; server_name on;
         ssl_certificate pki/localhost.crt; ssl_certificate_key pki/localhost.key;
         ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt; return 200 "on\\n"; }
server { listen 127.0.0.1:@PORT0@ ssl; server_name no.context; ssl_verify_client on;
         return 200 "no.context\\n"; }
server { listen 127.0.0.1:@PORT1@ ssl; server_name off;
         ssl_certificate pki/localhost.crt; ssl_certificate_key pki/localhost.key;
         ssl_verify_client off; return 200 "off\\n"; }
server { listen 127.0.0.1:@PORT1@ ssl; server_name no.context; ssl_verify_client on;
         ssl_client_certificate pki/2.example.com.crt; return 200 "no.context\\n"; }
server { listen 127.0.0.1:@PORT2@ ssl; server_name on;
         ssl_certificate pki/localhost.crt; ssl_certificate_key pki/localhost.key;
         ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt; return 200 "on\\n"; }
server { listen 127.0.0.1:@PORT2@ ssl; server_name no.context; ssl_verify_client off;
         return 200 "no.context\\n"; }
"""

ROWS = [(port, "no.context", cert) for port in (0, 1, 2)
        for cert in ("2.example.com", "1.example.com", "3.example.com")]


@pytest.fixture(scope="module")
def server(nginx_bin, tmp_path_factory):
    files = _make_pki(tmp_path_factory.mktemp("sni-pki"))
    with NginxServer(HTTP, ports=3, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("sni-port")) as nginx:
        yield nginx


def test_verify_predicts_a_server_without_its_own_certificate(server):
    wrong = []
    for index, name, cert in ROWS:
        port = server.ports[index]
        status, verify = _curl(server, port, name, cert)
        got = predict(server.conf_path, server.nginx_bin, server.prefix / "pki" / f"{cert}.crt",
                      port, name)
        if (got["status"], got["ssl_client_verify"]) != (status, verify):
            wrong.append(f"port {index} SNI {name} client {cert}: nginx {status} {verify!r}, "
                         f"verify predicted {got['status']} {got['ssl_client_verify']!r}")
    assert not wrong, "\n".join(wrong)


#: what probe can tell from the wire: the default server's CertificateRequest (or none) and the
#: request's answer; port 2's served-whatever-the-result looks like optional_no_ca (MTLS509)
PROBED = {0: "on", 1: "on-without-request", 2: "optional_no_ca"}


@pytest.mark.parametrize("index", sorted(PROBED))
def test_probe_infers_what_the_no_context_server_does(server, index):
    import json

    from tests.verify.nginx_tests_port_lab import mtls_doctor

    code, out, err = mtls_doctor("probe", f"https://127.0.0.1:{server.ports[index]}/", "--sni",
                                 "no.context", "--insecure", "--no-legacy", "--format", "json",
                                 timeout=90)
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["inferred_mode"] == PROBED[index], report["inferences"]
    if index == 1:  # the handshake never asks: MTLS501 says no client can pass
        assert "MTLS501" in {f["rule"] for f in report["findings"]}
