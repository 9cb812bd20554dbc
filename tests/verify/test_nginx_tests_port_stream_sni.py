"""Stream servers selected by SNI (``server_name`` in stream, nginx 1.25.5+): which server's
``ssl_verify_client`` a client meets, as nginx-tests' stream_ssl_verify_client.t and
stream_ssl_certificate.t / ssl_sni.t combine them (own configuration text).

Several TLS stream servers share one address: an exact name, a wildcard, and a
``default_server`` that is not the first. nginx picks the server the way http does (exact name,
then the longest wildcard, ...; no match: the default server); a Python ``ssl`` client with
each SNI and a certificate every server admits reads which server answered, and
``verify CLIENT --config --listen 127.0.0.1:PORT --server-name SNI`` must judge with that
server's settings.

Not compared here: whether a failed verification closes the session once SNI chose another
server than the default one. Measured, it differs between 1.26.3 and 1.30.6 (1.30.6 served a
``verify on`` server's client with ``FAILED:self-signed certificate`` when the default server
had ``ssl_verify_client off``; 1.26.3 closed it, but served a wildcard-selected one) and is
left to a later port (stream_ssl_certificate.t / stream_ssl_sni).
"""

from __future__ import annotations

import pytest

from mtls_doctor.nginx.version import Version
from tests.conftest import nginx_module
from tests.truth.util import V
import json

from tests.verify.nginx_tests_port_lab import RawNginx, mtls_doctor
from tests.verify.test_nginx_tests_port import _make_pki
from tests.verify.test_nginx_tests_port_stream import _read

pytestmark = [pytest.mark.nginx, pytest.mark.skipif(
    V < Version(1, 25, 5), reason="server_name in stream: nginx 1.25.5+")]

STREAM = """
stream {
    ssl_certificate pki/localhost.crt;
    ssl_certificate_key pki/localhost.key;
    server { listen 127.0.0.1:@PORT0@ ssl; server_name *.example.com;
             ssl_verify_client on; ssl_client_certificate pki/2.example.com.crt;
             return "wildcard:$ssl_client_verify\\n"; }
    server { listen 127.0.0.1:@PORT0@ ssl; server_name a.example.com;
             ssl_verify_client optional_no_ca; ssl_client_certificate pki/2.example.com.crt;
             return "exact:$ssl_client_verify\\n"; }
    server { listen 127.0.0.1:@PORT0@ ssl default_server; server_name default.test;
             ssl_verify_client off; return "default:$ssl_client_verify\\n"; }
}
"""

#: SNI -> the server nginx selects (exact beats wildcard; no match: the default_server)
ROWS = {"a.example.com": "exact", "b.example.com": "wildcard", "unknown.test": "default",
        "default.test": "default"}
NAMES = {"exact": "a.example.com", "wildcard": "*.example.com", "default": "default.test"}


@pytest.fixture(scope="module")
def lab(nginx_bin, tmp_path_factory):
    if nginx_module(nginx_bin, "stream") is None:
        pytest.fail("the nginx at hand has no stream module: ./dev.sh installs libnginx-mod-stream")
    files = _make_pki(tmp_path_factory.mktemp("ssni-pki"))
    with RawNginx(nginx_bin, tmp_path_factory.mktemp("ssni"), STREAM, 1, files) as nginx:
        yield nginx


def test_verify_picks_the_stream_server_nginx_picks(lab):
    wrong = []
    client = lab.prefix / "pki" / "2.example.com.crt"
    for sni, expect in ROWS.items():
        seen = _read(lab, 0, "2.example.com", sni).split(":", 1)[0]
        code, out, err = mtls_doctor("verify", str(client), "--config", str(lab.conf_path),
                                     "--listen", f"127.0.0.1:{lab.ports[0]}", "--server-name", sni,
                                     "--nginx", lab.nginx_bin, "--format", "json")
        assert code in (0, 1), err
        chosen = json.loads(out)["settings"]["server"]
        if seen != expect or f"'{NAMES[expect]}'" not in chosen:
            wrong.append(f"SNI {sni}: nginx's {seen!r} server answered, verify judged with {chosen}")
    assert not wrong, "\n".join(wrong)
