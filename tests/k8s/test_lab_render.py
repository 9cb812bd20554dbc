"""The server blocks the controllers render, run by real nginx on 127.0.0.1.

Each test renders manifests written for this project (``tests/k8s/material.py``), adapts the
rendering to the lab (``mtls_doctor.k8s.lab``: ports, lab server certificate, an echo backend;
every client-verification line unchanged) and checks what real nginx answers: the claims the
MTLS7xx rules and docs/kubernetes.md make about the rendered configuration. The controllers
themselves cannot run here; what they render is cited from their source in ``mtls_doctor.k8s``.
"""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from mtls_doctor.k8s import f5, gateway, ingress_nginx
from mtls_doctor.k8s.lab import lab_http
from mtls_doctor.k8s.manifests import parse_text
from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.pki.issue import key_pem, pem
from tests.k8s.material import NOW, manifest, pki
from tests.rules.test_rules_k8s import A, AUTH, CA_SECRET, GW_CM, gateway as gateway_yaml, ingress, policy, secret, vs

pytestmark = pytest.mark.nginx


def _server_files() -> dict[str, bytes]:
    p = pki()
    return {"certs/server.pem": pem(p["server"].cert, p["root"].cert), "certs/server.key": key_pem(p["server"].key)}


def _run(render, text: str):
    t = manifest(text).replace("PEMCA", pem(pki()["root"].cert).decode().replace("\n", "\n    ").rstrip())
    rendering = render(parse_text(t, "case.yaml"))
    assert rendering is not None
    http, files = lab_http(rendering, "certs/server.pem", "certs/server.key")
    return NginxServer(http, ports=3, files={**_server_files(), **files})


def _client(tmp_path: Path, which: str = "client") -> tuple[str, str]:
    p = pki()
    cert, key = tmp_path / f"{which}.pem", tmp_path / f"{which}.key"
    cert.write_bytes(pem(p[which].cert))
    key.write_bytes(key_pem(p[which].key))
    cert.chmod(0o600)
    key.chmod(0o600)
    return str(cert), str(key)


def https(port: int, host: str, path: str = "/", cert: tuple[str, str] | None = None,
          headers: dict[str, str] | None = None) -> tuple[int | None, str]:
    """(status, body) of one GET over TLS with SNI ``host``; (None, why) if no answer came."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=pem(pki()["root"].cert).decode())
    ctx.check_hostname = False  # one lab server certificate (api.example.com) for every host
    if cert:
        ctx.load_cert_chain(*cert)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
    except (ssl.SSLError, OSError) as exc:
        return None, type(exc).__name__
    if not data:
        return None, "closed without an answer"
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode("latin-1")


def http(port: int, host: str, path: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split()[1])


def test_ingress_nginx_auth_is_per_host(tmp_path):
    """auth-tls of one Ingress applies to another Ingress's path of the host (MTLS702); the
    backend gets ssl-client-verify/-subject-dn from nginx, a forged one is overwritten."""
    text = ingress("api", "api.example.com", AUTH) + ingress("public", "api.example.com", path="/public") + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        port = ngx.ports[0]
        assert https(port, "api.example.com", "/public")[0] == 400  # no certificate, the "public" path
        status, body = https(port, "api.example.com", "/", cert=_client(tmp_path),
                             headers={"ssl-client-subject-dn": "CN=forged"})
        assert status == 200
        assert "verify=[SUCCESS]" in body and "CN=client" in body and "forged" not in body
        assert "cert=[]" in body  # no pass-certificate-to-upstream: nginx sets no ssl-client-cert


def test_denied_secret_403_for_everything(tmp_path):
    """A secret not written namespace/name: the host answers 403 with and without a certificate (MTLS704)."""
    text = ingress("api", "api.example.com", A + "auth-tls-secret: client-ca\n") + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 403
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 403


def test_tls_pair_secret_verifies_nothing():
    """A tls.crt/tls.key Secret as auth-tls-secret: no client verification at all (MTLS705)."""
    text = ingress("api", "api.example.com", A + "auth-tls-secret: prod/api-tls\n") + secret(
        "api-tls", "  tls.crt: {TLS_CRT}\n  tls.key: {TLS_KEY}\n", type_="kubernetes.io/tls")
    with _run(ingress_nginx.render, text) as ngx:
        status, body = https(ngx.ports[0], "api.example.com")
        assert status == 200 and "verify=[]" in body


def test_client_headers_forgeable_without_auth():
    """The same Service through a host without auth-tls: client-sent ssl-client-* reach it (MTLS709)."""
    text = ingress("api", "api.example.com", AUTH) + ingress("internal", "internal.example.com") + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        status, body = https(ngx.ports[0], "internal.example.com",
                             headers={"ssl-client-verify": "SUCCESS", "ssl-client-subject-dn": "CN=admin"})
        assert status == 200 and "verify=[SUCCESS]" in body and "dn=[CN=admin]" in body


def test_match_cn_403_on_port_80(tmp_path):
    """match-cn is a server-level `if`: plain HTTP (an ACME http-01 challenge) gets 403 (MTLS710),
    and so does a verified certificate with another CN."""
    text = ingress("api", "api.example.com", AUTH + A + 'auth-tls-match-cn: "CN=someone-else"\n') + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/.well-known/acme-challenge/token") == 403
        status, body = https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))
        assert status == 403 and "client certificate unauthorized" in body


def test_verify_depth_default_1_rejects_an_intermediate(tmp_path):
    """The default auth-tls-verify-depth 1 (also what "0" becomes, MTLS711) with a client
    under two intermediates: 400 (the depth counts intermediates, F3.3); depth 2 accepts it."""
    p = pki()
    int1 = p["root"].child_ca("Lab Intermediate 1", at=NOW, pathlen=1)
    int2 = int1.child_ca("Lab Intermediate 2", at=NOW)
    leaf = int2.issue("deep-client", at=NOW)
    cert, key = tmp_path / "deep.pem", tmp_path / "deep.key"
    cert.write_bytes(pem(leaf.cert, int2.cert, int1.cert))
    key.write_bytes(key_pem(leaf.key))
    key.chmod(0o600)
    for depth, expected in (('"0"', 400), ('"2"', 200)):
        text = ingress("api", "api.example.com", AUTH + A + f"auth-tls-verify-depth: {depth}\n") + CA_SECRET
        with _run(ingress_nginx.render, text) as ngx:
            assert https(ngx.ports[0], "api.example.com", cert=(str(cert), str(key)))[0] == expected, depth


def test_gateway_fabric_444_without_certificate(tmp_path):
    """NGINX Gateway Fabric AllowValidOnly: no certificate -> the connection closes with no answer (444)."""
    with _run(gateway.render, gateway_yaml().replace("  # <- MTLS715", "") + GW_CM) as ngx:
        status, why = https(ngx.ports[0], "api.example.com")
        assert status is None, why
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 200


def test_f5_ingress_mtls_400_without_certificate(tmp_path):
    """F5 ingressMTLS (verifyClient on by default): nginx's 400 page without a certificate."""
    text = vs().replace("  # <- MTLS714", "") + policy() + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")
    with _run(f5.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 400
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 200


def test_pass_certificate_sends_the_escaped_pem(tmp_path):
    """auth-tls-pass-certificate-to-upstream: the backend gets ssl-client-cert, the PEM URL-escaped
    ($ssl_client_escaped_cert), next to ssl-client-verify."""
    text = ingress("api", "api.example.com", AUTH + A + 'auth-tls-pass-certificate-to-upstream: "true"\n') + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        status, body = https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))
    assert status == 200 and "verify=[SUCCESS]" in body
    assert "cert=[-----BEGIN%20CERTIFICATE-----%0A" in body


def test_crl_of_the_secret_revokes(tmp_path):
    """Secret key ca.crl -> ssl_crl: a revoked client gets 400, the others 200."""
    from datetime import timedelta

    from cryptography.hazmat.primitives import serialization

    from tests.k8s.material import b64

    p = pki()
    revoked = p["root"].issue("revoked", at=NOW - timedelta(days=1))
    crl = p["root"].crl(at=NOW - timedelta(hours=1), revoked=[revoked.cert.serial_number])
    cert, key = tmp_path / "revoked.pem", tmp_path / "revoked.key"
    cert.write_bytes(pem(revoked.cert))
    key.write_bytes(key_pem(revoked.key))
    key.chmod(0o600)
    data = f"  ca.crt: {{CA}}\n  ca.crl: {b64(crl.public_bytes(serialization.Encoding.PEM))}\n"
    text = ingress("api", "api.example.com", AUTH) + secret("client-ca", data)
    with _run(ingress_nginx.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com", cert=(str(cert), str(key)))[0] == 400
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 200


def test_error_page_redirects_failures(tmp_path):
    """auth-tls-error-page -> error_page 495 496 = URL: a client without a certificate is redirected."""
    text = ingress("api", "api.example.com", AUTH + A + "auth-tls-error-page: https://example.com/mtls-help\n") + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        status, _ = https(ngx.ports[0], "api.example.com")
        assert status == 302
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 200


def test_optional_no_ca_without_secret_renders_nothing():
    """verify-client optional_no_ca and no auth-tls-secret: nothing is rendered, no certificate is
    asked for and the backend gets no ssl-client-* header from nginx."""
    text = ingress("api", "api.example.com", A + "auth-tls-verify-client: optional_no_ca\n")
    with _run(ingress_nginx.render, text) as ngx:
        status, body = https(ngx.ports[0], "api.example.com")
    assert status == 200 and "verify=[]" in body


def test_host_less_ingress_puts_mtls_on_the_catch_all(tmp_path):
    """An Ingress without host: auth-tls lands on the catch-all `_` server (MTLS708): any unknown
    name needs a certificate, a named host of another Ingress does not."""
    text = ingress("api", None, AUTH) + ingress("www", "www.example.com") + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        assert https(ngx.ports[0], "anything.example.net")[0] == 400
        assert https(ngx.ports[0], "anything.example.net", cert=_client(tmp_path))[0] == 200
        assert https(ngx.ports[0], "www.example.com")[0] == 200


def test_gateway_fabric_insecure_fallback_accepts_any_ca(tmp_path):
    """AllowInsecureFallback renders optional_no_ca without a CA (MTLS715): a certificate of
    another CA is let through, so is no certificate."""
    from datetime import timedelta

    other = pki()["other"].issue("stranger", at=NOW - timedelta(days=1))
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    cert.write_bytes(pem(other.cert))
    key.write_bytes(key_pem(other.key))
    key.chmod(0o600)
    with _run(gateway.render, gateway_yaml("AllowInsecureFallback") + GW_CM) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 200
        assert https(ngx.ports[0], "api.example.com", cert=(str(cert), str(key)))[0] == 200


def test_f5_optional_lets_no_certificate_through(tmp_path):
    """F5 verifyClient optional: no certificate -> 200, a good one -> 200 (verified)."""
    text = vs().replace("  # <- MTLS714", "") + policy('    verifyClient: "optional"\n') + secret(
        "f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")
    with _run(f5.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 200
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 200


def test_invalid_verify_client_becomes_on():
    """auth-tls-verify-client "Optional" (not a value ingress-nginx knows) silently becomes `on`
    (MTLS711): no certificate -> 400, where `optional` would have let the request through."""
    text = ingress("api", "api.example.com", AUTH + A + 'auth-tls-verify-client: "Optional"\n') + CA_SECRET
    with _run(ingress_nginx.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 400


def test_oldest_ingress_of_the_host_wins():
    """Two Ingresses of one host: the older one's `on` applies to the newer one's path, whose
    `optional` is ignored (MTLS703)."""
    text = (ingress("a", "api.example.com", AUTH, created="2024-01-01T00:00:00Z")
            + ingress("b", "api.example.com", AUTH + A + "auth-tls-verify-client: optional\n", path="/b",
                      created="2025-01-01T00:00:00Z") + CA_SECRET)
    with _run(ingress_nginx.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com", "/b")[0] == 400


def test_tls_pair_with_ca_advertises_the_server_certificate():
    """A Secret with tls.crt/tls.key and ca.crt: the CA file ingress-nginx writes starts with the
    server certificate (MTLS706), so nginx advertises its subject as a client CA name."""
    from mtls_doctor.probe.handshake import ProbeConfig, attempt
    from mtls_doctor.probe.model import AttemptSpec, CertKind

    text = ingress("api", "api.example.com", A + "auth-tls-secret: prod/api-tls\n") + secret(
        "api-tls", "  tls.crt: {TLS_CRT}\n  tls.key: {TLS_KEY}\n  ca.crt: {CA}\n", type_="kubernetes.io/tls")
    with _run(ingress_nginx.render, text) as ngx:
        seen = attempt(ProbeConfig(host="127.0.0.1", port=ngx.ports[0], timeout=3, insecure=True,
                                   verify_name="api.example.com"),
                       AttemptSpec(CertKind.NONE, "api.example.com", "1.2"))
    names = seen.certificate_request.ca_names
    assert any("CN=api.example.com" in n for n in names) and any("CN=Lab Root" in n for n in names), names


def test_f5_policy_on_a_route_answers_500():
    """An ingressMTLS Policy referenced from a route (only the spec context is allowed, MTLS714):
    the controller renders `return 500` for the routes."""
    text = vs(policy_at_route=True) + policy() + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")
    with _run(f5.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 500


def test_f5_ingress_with_policies_annotation(tmp_path):
    """An Ingress of the F5 class with nginx.org/policies: the ingressMTLS is server level (400
    without a certificate, 200 with one); without spec.tls the host answers 500."""
    from tests.rules.test_rules_k8s import F5_CLASS

    tls = "  ingressClassName: nginx\n  tls:\n  - hosts: [api.example.com]\n    secretName: api-tls\n"
    material = policy() + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")
    text = F5_CLASS + ingress("api", "api.example.com", "    nginx.org/policies: mtls\n", extra_spec=tls) + material
    with _run(f5.render, text) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 400
        assert https(ngx.ports[0], "api.example.com", cert=_client(tmp_path))[0] == 200
    no_tls = F5_CLASS + ingress("api", "api.example.com", "    nginx.org/policies: mtls\n",
                                extra_spec="  ingressClassName: nginx\n") + material
    with _run(f5.render, no_tls) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/") == 500


TLS_SPEC = "  tls:\n  - hosts: [api.example.com]\n    secretName: api-tls\n"


def test_ssl_redirect_on_port_80_per_host_certificate(tmp_path):
    """ingress-nginx redirects plain HTTP with 308 when the host has a certificate (spec.tls) and
    ssl-redirect is on (the default), or with force-ssl-redirect (lua_ingress.lua
    redirect_to_https); ``ssl-redirect: "false"`` serves port 80 unverified (MTLS214 stays)."""
    from mtls_doctor.k8s.lint import lint_manifests

    redirected = ingress("api", "api.example.com", AUTH, extra_spec=TLS_SPEC) + CA_SECRET
    with _run(ingress_nginx.render, redirected) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/x") == 308
        status, _ = https(ngx.ports[0], "api.example.com", "/x", cert=_client(tmp_path))
        assert status == 200
    served = ingress("api", "api.example.com", AUTH + A + 'ssl-redirect: "false"\n', extra_spec=TLS_SPEC) + CA_SECRET
    with _run(ingress_nginx.render, served) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/x") == 200
    forced = ingress("api", "api.example.com", AUTH + A + 'force-ssl-redirect: "true"\n') + CA_SECRET
    with _run(ingress_nginx.render, forced) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/x") == 308
    rules = {text: {f.rule for f in lint_manifests(parse_text(manifest(text), "m.yaml"), NOW).findings}
             for text in (redirected, served)}
    assert "MTLS214" not in rules[redirected] and "MTLS214" in rules[served]


def test_f5_http_redirects(tmp_path):
    """F5: an Ingress with spec.tls redirects plain HTTP with 301 (ssl-redirect, default true,
    nginx.ingress.tmpl); a VirtualServer only with ``tls.redirect.enable`` (virtualserver.go
    generateTLSRedirectConfig): without it port 80 serves the route with no certificate
    (MTLS214 stays), with it 301 and MTLS214 goes."""
    from mtls_doctor.k8s.lint import lint_manifests
    from tests.rules.test_rules_k8s import F5_CLASS

    material = policy() + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")
    tls = "  ingressClassName: nginx\n" + TLS_SPEC
    ing = F5_CLASS + ingress("api", "api.example.com", "    nginx.org/policies: mtls\n", extra_spec=tls) + material
    with _run(f5.render, ing) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/") == 301
    plain_vs = vs().replace("  # <- MTLS714", "") + material
    redirect_vs = plain_vs.replace("  tls: {secret: api-tls}\n", "  tls:\n    secret: api-tls\n    redirect: {enable: true}\n")
    with _run(f5.render, plain_vs) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/") == 200
        assert https(ngx.ports[0], "api.example.com")[0] == 400
    with _run(f5.render, redirect_vs) as ngx:
        assert http(ngx.ports[1], "api.example.com", "/") == 301
    rules = {t: {f.rule for f in lint_manifests(parse_text(manifest(t), "m.yaml"), NOW).findings}
             for t in (ing, plain_vs, redirect_vs)}
    assert "MTLS214" in rules[plain_vs] and "MTLS214" not in rules[redirect_vs] | rules[ing]


def test_gateway_listener_frontend_validation_verifies_nothing(tmp_path):
    """The old listener-level tls.frontendValidation (MTLS720): NGINX Gateway Fabric renders the
    listener without ssl_verify_client, and real nginx answers 200 to a client with no certificate."""
    from tests.rules.test_rules_k8s import CASES

    case = next(c for c in CASES if c.code == "MTLS720" and c.kind == "fire")
    with _run(gateway.render, case.input) as ngx:
        assert https(ngx.ports[0], "api.example.com")[0] == 200
