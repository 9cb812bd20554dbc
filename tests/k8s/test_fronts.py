"""Recognising the Kubernetes front from its answers, against real nginx running what each
controller renders (the signs are the controllers' own: ingress-nginx's fake default
certificate and its 403 for a host with an unusable secret, the F5 default server refusing
unknown names with nginx's 400 page for a missing certificate, NGINX Gateway Fabric's 444)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mtls_doctor.k8s import f5, gateway, ingress_nginx
from mtls_doctor.k8s.fronts import FAKE_CERT_CN, recognise
from mtls_doctor.k8s.lab import lab_http
from mtls_doctor.k8s.manifests import parse_text
from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.pki.issue import CA, key_pem, pem
from tests.k8s.material import NOW, manifest, pki
from tests.k8s.test_lab_render import _server_files
from tests.rules.test_rules_k8s import A, AUTH, CA_SECRET, GW_CM, gateway as gateway_yaml, ingress, policy, secret, vs

pytestmark = pytest.mark.nginx
TLS = "  tls:\n  - hosts: [api.example.com]\n    secretName: api-tls\n"


def _fake() -> dict[str, bytes]:
    """A self-signed certificate with ingress-nginx's fake-certificate subject (made here)."""
    fake = CA.new(FAKE_CERT_CN, at=NOW - timedelta(days=1), org="Acme Co")
    return {"certs/fake.pem": pem(fake.cert), "certs/fake.key": key_pem(fake.key)}


def _serve(rendering, fake: bool = False):
    certs = {ingress_nginx.FAKE_CERT: ("certs/fake.pem", "certs/fake.key")} if fake else None
    http, files = lab_http(rendering, "certs/server.pem", "certs/server.key", certs)
    return NginxServer(http, ports=3, files={**_server_files(), **files, **(_fake() if fake else {})})


def _manifests(text: str):
    return parse_text(manifest(text).replace(
        "PEMCA", pem(pki()["root"].cert).decode().replace("\n", "\n    ").rstrip()), "case.yaml")


def test_ingress_nginx_by_its_fake_certificate():
    rendering = ingress_nginx.render(_manifests(ingress("api", "api.example.com", AUTH, extra_spec=TLS) + CA_SECRET))
    with _serve(rendering, fake=True) as ngx:
        got = recognise("127.0.0.1", ngx.ports[0], "api.example.com", timeout=3)
    assert got.controller == "ingress-nginx" and "fake-certificate" in got.signs, got
    assert "nginx-400-page" in got.signs


def test_ingress_nginx_by_the_403_of_an_unusable_secret():
    rendering = ingress_nginx.render(_manifests(ingress("api", "api.example.com", A + "auth-tls-secret: client-ca\n")
                                                + CA_SECRET))
    with _serve(rendering) as ngx:
        got = recognise("127.0.0.1", ngx.ports[0], "api.example.com", timeout=3)
    assert got.controller == "ingress-nginx" and "403-host" in got.signs, got


def test_gateway_fabric_by_its_444_and_refused_unknown_names():
    rendering = gateway.render(_manifests(gateway_yaml().replace("  # <- MTLS715", "") + GW_CM))
    with _serve(rendering) as ngx:
        got = recognise("127.0.0.1", ngx.ports[0], "api.example.com", timeout=3)
    assert got.controller == "nginx-gateway-fabric", got
    assert {"closes-444", "rejects-unknown-name"} <= set(got.signs)


def test_f5_by_its_default_server_and_400_page():
    text = vs().replace("  # <- MTLS714", "") + policy() + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")
    with _serve(f5.render(_manifests(text))) as ngx:
        got = recognise("127.0.0.1", ngx.ports[0], "api.example.com", timeout=3)
    assert got.controller == "nginx-ingress", got
    assert {"rejects-unknown-name", "nginx-400-page"} <= set(got.signs)


def test_plain_nginx_is_not_called_a_controller():
    http = ("server {\n    listen 127.0.0.1:@PORT0@ ssl default_server;\n    ssl_certificate certs/server.pem;\n"
            "    ssl_certificate_key certs/server.key;\n    ssl_verify_client on;\n"
            "    ssl_client_certificate certs/server.pem;\n    location / { return 200; }\n}\n")
    with NginxServer(http, ports=1, files=_server_files()) as ngx:
        got = recognise("127.0.0.1", ngx.ports[0], "api.example.com", timeout=3)
    assert got.controller is None and "nginx-400-page" in got.signs


def test_diagnose_manifests_with_url_names_the_front(tmp_path, capsys):
    """diagnose --manifests --url: the live front is recognised and compared with the manifests
    (here F5 manifests, a Gateway Fabric front: said so)."""
    import json

    from mtls_doctor.cli import main

    rendering = gateway.render(_manifests(gateway_yaml().replace("  # <- MTLS715", "") + GW_CM))
    f = tmp_path / "f5.yaml"
    f.write_text(manifest(vs().replace("  # <- MTLS714", "") + policy()
                          + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")))
    with _serve(rendering) as ngx:
        main(["diagnose", "--manifests", str(f), "--url", f"https://127.0.0.1:{ngx.ports[0]}/",
              "--sni", "api.example.com", "--insecure", "--timeout", "2", "--format", "json"])
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("answers like NGINX Gateway Fabric" in n for n in notes), notes
    assert any("may not be what serves it" in n for n in notes), notes
