"""F2.4: which verify errors `optional_no_ca` tolerates (200 with FAILED:...) and which still give
400, on real nginx 1.22.1, against `verify_client(..., verify_client="optional_no_ca")`.

Cases beyond the lab scenario optional-no-ca-foreign: 20 (two intermediates, depth 1), 19 (an
untrusted root sent along), 2 (only an intermediate trusted: not tolerated), 3 (CRL missing:
not tolerated), 23 (revoked: not tolerated).
"""

from __future__ import annotations

import pytest

from mtls_doctor.lab.nginx import NginxServer, parse_access_line
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.pki.verify import TrustSettings, verify_client
from tests.truth.util import AT, client_context, https_get, nginx_engine, nginx_release, wait_for_text

pytestmark = pytest.mark.nginx

SERVER = """
server {{
    listen 127.0.0.1:@PORT{port}@ ssl;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional_no_ca;
    ssl_client_certificate {ca};
{extra}
    location / {{ return 200 "$ssl_client_verify"; }}
}}
"""

# name -> (port index, client file, what the client sends)
CASES = {
    "depth-20": (0, "deep"),
    "untrusted-root-19": (0, "foreign-with-root"),
    "inter-only-2": (1, "good"),
    "crl-missing-3": (2, "good"),
    "revoked-23": (3, "revoked"),
}


@pytest.fixture(scope="module")
def measured(nginx_bin, tmp_path_factory):
    pki = build_lab_pki(AT)
    http = (SERVER.format(port=0, ca="ca/root.pem", extra="")
            + SERVER.format(port=1, ca="ca/inter.pem", extra="")
            + SERVER.format(port=2, ca="ca/root.pem", extra="    ssl_crl crl/root.pem;")
            + SERVER.format(port=3, ca="ca/root.pem", extra="    ssl_crl crl/root-inter.pem;"))
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "ca/root.pem": pki.pem("root"), "ca/inter.pem": pki.pem("inter"),
             "crl/root.pem": pki.crl_pem("root"), "crl/root-inter.pem": pki.crl_pem("root", "inter"),
             "clients/foreign-with-root.pem": pki.clients["foreign"].cert_pem + pki.pem("other-root"),
             "clients/foreign-with-root.key": pki.clients["foreign"].key_pem}
    for name in ("deep", "good", "revoked"):
        files[f"clients/{name}.pem"] = pki.clients[name].chain_pem
        files[f"clients/{name}.key"] = pki.clients[name].key_pem
    got = {}
    with NginxServer(http, ports=4, files=files, nginx_bin=nginx_bin,
                     workdir=tmp_path_factory.mktemp("truth-nca")) as server:
        p = server.prefix
        for name, (port, client) in CASES.items():
            ctx = client_context(p / "ca/root.pem", p / f"clients/{client}.pem", p / f"clients/{client}.key")
            got[name] = https_get(server.ports[port], f"/?lab={name}", ctx)
        text = wait_for_text(server.read_access_log, "\n", len(CASES))
    verify = {row["lab"]: row["verify"] for row in map(parse_access_line, text.splitlines()) if row.get("lab")}
    return pki, got, verify


def _trust(pki, name):
    root, inter = pki.cas["root"].cert, pki.cas["inter"].cert
    crls = {"crl-missing-3": (pki.crls["root"].crl,),
            "revoked-23": (pki.crls["root"].crl, pki.crls["inter"].crl)}.get(name, ())
    ca = (inter,) if name == "inter-only-2" else (root,)
    return TrustSettings(client_certificate=ca, crls=crls, verify_client="optional_no_ca")


def _sent(pki, name):
    if name == "untrusted-root-19":
        return pki.clients["foreign"].cert, (pki.cas["other-root"].cert,)
    client = pki.clients[CASES[name][1]]
    return client.cert, tuple(client.chain)


EXPECTED = {"depth-20": (200, 20), "untrusted-root-19": (200, 19), "inter-only-2": (400, 2),
            "crl-missing-3": (400, 3), "revoked-23": (400, 23)}


@pytest.mark.parametrize("name", list(CASES))
def test_optional_no_ca_tolerance_measured_and_predicted(measured, name):
    pki, got, verify = measured
    status, code = EXPECTED[name]
    if name == "depth-20" and nginx_release().major == 1:
        status, code = 400, 22  # OpenSSL 1.1.1 reports 22, which optional_no_ca does not tolerate
    assert got[name].status == status, (got[name], verify[name])
    assert verify[name].startswith("FAILED:")
    leaf, chain = _sent(pki, name)
    predicted = verify_client(leaf, chain, _trust(pki, name), AT, **nginx_engine())
    assert (predicted.status, predicted.ssl_client_verify, predicted.error_code) == (status, verify[name], code)
