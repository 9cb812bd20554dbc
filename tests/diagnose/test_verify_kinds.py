"""diagnose's offline verdict on the user's certificate models what REAL nginx does beyond the chain:

- ``ssl_ocsp on`` (F6.2): nginx asks the OCSP responder after the chain verified and fails closed
  when it gets no answer; diagnose puts the same verdict on top (``pki.ocsp``, the module verify
  uses) and names ``ocsp-check-failing``, not "the certificate is good";
- a stream server has no HTTP status: the client's session is closed right after the handshake
  (``pki.serverkind``); the evidence says that, never "HTTP 400", and a fix snippet is one a
  stream server takes.

Real nginx on 127.0.0.1; the OCSP responder is a loopback port nothing listens on (refused at
once, as when the responder is down).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from mtls_doctor.cli import main
from mtls_doctor.lab.client import request
from mtls_doctor.lab.nginx import NginxServer, free_ports
from mtls_doctor.lab.pki import build_lab_pki

pytestmark = pytest.mark.nginx

NOW = datetime.now(timezone.utc)

OCSP = """server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    ssl_certificate pki/server.pem;
    ssl_certificate_key pki/server.key;
    ssl_verify_client on;
    ssl_client_certificate pki/ca.pem;
    ssl_verify_depth 2;
    ssl_ocsp on;
    ssl_ocsp_responder http://127.0.0.1:@DOWN@/;
    location / { return 200 "verify=$ssl_client_verify\\n"; }
}
"""


@pytest.fixture(scope="module")
def pki():
    return build_lab_pki(NOW)


def _files(pki) -> dict[str, bytes]:
    good = pki.clients["good"]
    return {"pki/server.pem": pki.server_chain_pem, "pki/server.key": pki.server.key_pem,
            "pki/ca.pem": pki.pem("root"), "clients/good-chain.pem": good.chain_pem,
            "clients/good.key": good.key_pem}


def _diagnose(capsys, *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(["diagnose", "--format", "json", "--timeout", "5", *args])
    return code, json.loads(capsys.readouterr().out)


def test_ssl_ocsp_without_an_answer_is_the_cause_not_a_good_certificate(pki, nginx_bin, tmp_path, capsys):
    down = free_ports(1)[0]  # nothing listens there: the responder is down
    with NginxServer(OCSP.replace("@DOWN@", str(down)), files=_files(pki), nginx_bin=nginx_bin,
                     workdir=tmp_path / "o") as server:
        cert, key = server.prefix / "clients/good-chain.pem", server.prefix / "clients/good.key"
        # what real nginx does with the same certificate: 400, the OCSP failure as the verdict
        live = request(server.port, lab_id="ocsp", ca_pem=pki.pem("root"), host="localhost",
                       sni="localhost", cert_file=cert, key_file=key, timeout=5)
        args = ("--config", str(server.conf_path), "--nginx", server.nginx_bin, "--sni", "localhost",
                "--cert", str(cert), "--key", str(key))
        code, data = _diagnose(capsys, *args)
        code_np, offline = _diagnose(capsys, *args, "--no-probe")
        log = server.error_log.read_text(errors="replace")
    assert live.status == 400 and "The SSL certificate error" in (live.body or "")
    assert "client SSL certificate verify error: certificate status request failed" in log
    assert code == 1 and data["root_causes"][0]["cause"] == "ocsp-check-failing", \
        [(c["cause"], c["confidence"]) for c in data["root_causes"]]
    verify = [e for e in data["root_causes"][0]["evidence"] if e["source"] == "verify"]
    assert verify and "FAILED:certificate status request failed" in verify[0]["text"]
    assert data["verify"][0]["ssl_client_verify"] == "FAILED:certificate status request failed"
    # --no-probe connects to nothing, the responder included: said, and OCSP left out
    assert offline["verify"][0]["ssl_client_verify"] == "SUCCESS"
    assert any("ssl_ocsp on" in n and "--no-probe" in n for n in offline["notes"])


def test_stream_server_evidence_has_no_http_status(nginx_bin, tmp_path_factory, capsys):
    from tests.conftest import nginx_module
    from tests.probe.streammail_lab import StreamMailLab

    if nginx_module(nginx_bin, "stream") is None or nginx_module(nginx_bin, "mail") is None:
        pytest.fail("the nginx at hand has no stream/mail module: ./dev.sh installs libnginx-mod-stream "
                    "and libnginx-mod-mail")
    with StreamMailLab(nginx_bin, tmp_path_factory.mktemp("stream")) as lab:
        cert, key = lab.client("expired")
        code, data = _diagnose(capsys, "--config", str(lab.conf_path), "--cert", cert, "--key", key,
                               "--no-probe")
    assert code == 1
    top = data["root_causes"][0]
    assert top["cause"] == "client-certificate-expired", [c["cause"] for c in data["root_causes"]]
    lines = [e["text"] for c in data["root_causes"] for e in c["evidence"] if e["source"] == "verify"]
    assert lines and all("HTTP" not in t for t in lines), lines
    assert any("closes the connection right after the TLS handshake" in t for t in lines), lines
    # the fix is one a stream server takes: no `if` and no 403 there
    open_door = next(c for c in data["root_causes"] if c["cause"] == "verification-not-enforced")
    assert open_door["fix"]["snippet"] == "ssl_verify_client on;"
