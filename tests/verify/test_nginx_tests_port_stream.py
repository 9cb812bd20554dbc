"""nginx-tests' stream_ssl_verify_client.t, ported as a differential (own configuration text).

github.com/nginx/nginx-tests/blob/master/stream_ssl_verify_client.t runs stream servers that
answer ``return $ssl_client_verify:$ssl_client_cert`` with ssl_verify_client on / optional (with
a trusted-only CA) / optional_no_ca, three self-signed example.com certificates made by the
``openssl`` CLI, and checks what the client reads: nothing (nginx closes the session right after
the handshake, the access log says 500) or the variables (200). It also checks that the
trusted-only CA is not advertised, and that a listener without ``ssl`` is plain TCP.

Here the same situations run on the nginx at hand; for every (server, client) row the Python
``ssl`` module (an independent client) reads what nginx sends, and

- ``verify CLIENT --config nginx.conf --listen 127.0.0.1:PORT`` must predict it: rejected
  (closed after the handshake, ``admitted`` false) or admitted with the very
  ``$ssl_client_verify`` nginx returned;
- ``probe tls://127.0.0.1:PORT`` must infer each server's mode and its advertised CA names,
  although an admitted session here is not silent: ``return`` sends its line and closes (on
  nginx before 1.23.4 a stream server offers no TLS 1.3 by default: probe says so and judges
  on TLS 1.2);
- ``verify --listen`` on the plain listener says that no TLS server listens there (exit 2).
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

# $ssl_client_s_dn instead of the .t's $ssl_client_cert (a multi-line PEM): the verdict is the
# same, the line is easier to compare
STREAM = """
stream {
    log_format verdict $status;
    ssl_certificate pki/localhost.crt;
    ssl_certificate_key pki/localhost.key;

    server { listen 127.0.0.1:@PORT0@;
             ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt;
             return "$ssl_client_verify:$ssl_client_s_dn\\n"; }
    server { listen 127.0.0.1:@PORT1@ ssl;
             ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt;
             access_log @PREFIX@/logs/verdict.log verdict;
             return "$ssl_client_verify:$ssl_client_s_dn\\n"; }
    server { listen 127.0.0.1:@PORT2@ ssl;
             ssl_verify_client optional; ssl_client_certificate pki/2.example.com.crt;
             ssl_trusted_certificate pki/3.example.com.crt;
             return "$ssl_client_verify:$ssl_client_s_dn\\n"; }
    server { listen 127.0.0.1:@PORT3@ ssl;
             ssl_verify_client optional_no_ca; ssl_client_certificate pki/2.example.com.crt;
             return "$ssl_client_verify:$ssl_client_s_dn\\n"; }
}
"""

#: (port index, client certificate or None)
ROWS = [(1, None), (2, "1.example.com"), (2, None), (3, "1.example.com"),
        (1, "2.example.com"), (2, "2.example.com"), (2, "3.example.com"), (1, "1.example.com"),
        (3, "2.example.com"), (3, None)]
MODES = {1: "on", 2: "optional", 3: "optional_no_ca"}


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    if nginx_module(nginx_bin, "stream") is None:
        pytest.fail("the nginx at hand has no stream module: ./dev.sh installs libnginx-mod-stream")
    files = _make_pki(tmp_path_factory.mktemp("stream-pki"))
    with RawNginx(nginx_bin, tmp_path_factory.mktemp("stream-port"), STREAM, 4, files) as nginx:
        yield nginx


def _read(lab: RawNginx, index: int, cert: str | None, sni: str = "localhost") -> str:
    """What a TLS client reads from the server until nginx closes ('' = closed, nothing sent)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        pki = lab.prefix / "pki"
        ctx.load_cert_chain(pki / f"{cert}.crt", pki / f"{cert}.key")
    data = b""
    with socket.create_connection(("127.0.0.1", lab.ports[index]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            try:
                while chunk := tls.recv(4096):
                    data += chunk
            except (ssl.SSLError, ConnectionResetError):
                pass  # a close without close_notify: nothing more was sent
    return data.decode()


def test_verify_predicts_what_the_stream_client_reads(lab):
    wrong = []
    for index, cert in ROWS:
        if cert is None:
            continue  # verify judges a certificate; the no-certificate rows are probe's
        seen = _read(lab, index, cert)
        got = predict(lab.conf_path, lab.nginx_bin, lab.prefix / "pki" / f"{cert}.crt",
                      lab.ports[index])
        said = f"{got['ssl_client_verify']}:{got['ssl_client_s_dn'] or ''}\n"
        if (got["accepted"], said if got["accepted"] else "") != (seen != "", seen):
            wrong.append(f"port {index} client {cert}: nginx sent {seen!r}, verify predicted "
                         f"accepted={got['accepted']} {said!r}")
        if got.get("server_kind") != "stream":
            wrong.append(f"port {index}: judged as a {got.get('server_kind')} server")
    assert not wrong, "\n".join(wrong)


def test_what_nginx_sends_matches_the_regression_test(lab):
    """The .t's expectations hold on the nginx at hand (so the differential above means it)."""
    assert _read(lab, 1, None) == ""
    assert _read(lab, 2, "1.example.com") == ""
    assert _read(lab, 2, None) == "NONE:\n"
    assert _read(lab, 3, "1.example.com").startswith("FAILED:")
    for index, cert in ((1, "2.example.com"), (2, "2.example.com"), (2, "3.example.com")):
        assert _read(lab, index, cert).startswith("SUCCESS:CN="), (index, cert)


def test_verify_says_the_plain_listener_is_no_tls_server(lab):
    code, _, err = mtls_doctor("verify", str(lab.prefix / "pki" / "2.example.com.crt"),
                               "--config", str(lab.conf_path), "--listen",
                               f"127.0.0.1:{lab.ports[0]}")
    assert code == 2 and "no TLS server listens on" in err, err


@pytest.mark.parametrize("index", [1, 2, 3])
def test_probe_infers_the_mode_and_the_advertised_names(lab, index):
    """The .t's 'no trusted sent': ssl_trusted_certificate's 3.example.com is not advertised."""
    code, out, err = mtls_doctor("probe", f"tls://127.0.0.1:{lab.ports[index]}", "--insecure",
                                 "--no-legacy", "--format", "json", timeout=90)
    assert code in (0, 1), err
    report = json.loads(out)
    assert report["inferred_mode"] == MODES[index], report["inferences"]
    assert report["ca_names"] == ["CN=2.example.com"]
