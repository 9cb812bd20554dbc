"""``mtls-doctor migrate``: the table's predictions and the resources it writes.

The nginx-based targets are checked end to end on real nginx: the resources ``migrate`` writes
for the F5 NGINX Ingress Controller and NGINX Gateway Fabric are read back, rendered as those
controllers render them (``mtls_doctor.k8s.f5`` / ``gateway``) and run; a client without a
certificate and one with a certificate of another CA get what the table says (400 page, 444
close, passes), next to the ingress-nginx rendering of the source manifests. Manifests written
for this project; the situation (ingress2gateway dropping auth-tls-*) is
https://github.com/kubernetes-sigs/ingress2gateway/issues (auth-tls annotations not converted).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from mtls_doctor.k8s import f5, gateway, ingress_nginx
from mtls_doctor.k8s.lab import lab_http
from mtls_doctor.k8s.manifests import parse_text
from mtls_doctor.k8s.migrate import CLOSE_444, HTTP_400, PASSES, REDIRECT, TLS_ALERT, HTTP_403, plan
from mtls_doctor.lab.nginx import NginxServer
from mtls_doctor.pki.issue import key_pem, pem
from tests.k8s.material import NOW, manifest, pki
from tests.k8s.test_lab_render import _client, _server_files, https
from tests.rules.test_rules_k8s import A, AUTH, CA_SECRET, ingress, secret

TLS = "  tls:\n  - hosts: [api.example.com]\n    secretName: api-tls\n"


def _plan(annotations: str, extra: str = CA_SECRET, host: str | None = "api.example.com", **kw):
    text = manifest(ingress("api", host, annotations, extra_spec=TLS if host else "", **kw) + extra)
    plans = plan(parse_text(text, "in.yaml"))
    assert len(plans) == 1
    return plans[0], text


def col(p, target):
    return next(c for c in p.columns if c.target == target)


def test_on_outcomes_per_target():
    p, _ = _plan(AUTH)
    assert col(p, "ingress-nginx").cells["no_cert"].outcome == HTTP_400
    assert col(p, "nginx-ingress").cells["no_cert"].outcome == HTTP_400
    assert not col(p, "nginx-ingress").cells["no_cert"].changed
    assert col(p, "nginx-gateway-fabric").cells["no_cert"].outcome == CLOSE_444
    assert col(p, "nginx-gateway-fabric").cells["no_cert"].changed
    for t in ("envoy-gateway", "istio", "traefik"):
        assert col(p, t).cells["no_cert"].outcome == TLS_ALERT
        assert col(p, t).cells["error_page"].changed
    assert col(p, "nginx-gateway-fabric").cells["depth"].changed  # 1 -> fixed 4
    assert not col(p, "nginx-ingress").cells["depth"].changed


def test_optional_loses_verification_on_gateway_fabric():
    p, _ = _plan(AUTH + A + "auth-tls-verify-client: optional\n")
    ngf = col(p, "nginx-gateway-fabric")
    assert ngf.cells["bad_cert"].outcome == PASSES and ngf.cells["bad_cert"].changed
    assert any("AllowInsecureFallback verifies nothing" in c for c in ngf.cannot)
    assert "AllowInsecureFallback" in ngf.resources
    assert col(p, "istio").cells["optional"].text.startswith("mode: OPTIONAL_MUTUAL")
    assert col(p, "traefik").cells["optional"].key == "optional"


def test_match_cn_error_page_crl_cannot_be_expressed():
    p, _ = _plan(AUTH + A + 'auth-tls-match-cn: "CN=partner"\n' + A + "auth-tls-error-page: https://example.com/mtls\n",
                 extra=secret("client-ca", "  ca.crt: {CA}\n  ca.crl: {CRL}\n"))
    assert p.crl and p.match_cn == "CN=partner"
    assert col(p, "ingress-nginx").cells["no_cert"].outcome == REDIRECT
    ngf = " ".join(col(p, "nginx-gateway-fabric").cannot)
    assert "match-cn" in ngf and "error-page" in ngf and "ca.crl" in ngf
    assert col(p, "istio").cells["cn_match"].key == "san"
    assert col(p, "nginx-ingress").cells["crl"].key == "crl"  # F5 keeps the CRL
    assert "ca.crl:" in col(p, "nginx-ingress").resources


def test_denied_secret_has_nothing_to_migrate():
    p, _ = _plan(A + "auth-tls-secret: client-ca\n")
    assert p.denied and len(p.columns) == 1
    assert col(p, "ingress-nginx").cells["no_cert"].outcome == HTTP_403
    assert any("fix the auth-tls Secret first" in n for n in p.notes)


def test_server_pair_secret_key_never_copied():
    p, text = _plan(A + "auth-tls-secret: prod/api-tls\n", extra=secret(
        "api-tls", "  tls.crt: {TLS_CRT}\n  tls.key: {TLS_KEY}\n  ca.crt: {CA}\n", type_="kubernetes.io/tls"))
    assert any("MTLS706" in n for n in p.notes)
    key_b64 = manifest("{TLS_KEY}")
    for c in p.columns:
        assert key_b64 not in c.resources and "PRIVATE KEY" not in c.resources


def test_catch_all_and_ignored_ingress_noted():
    text = manifest(ingress("a", None, AUTH, created="2024-01-01T00:00:00Z")
                    + ingress("b", None, AUTH + A + "auth-tls-verify-client: optional\n", path="/b",
                              created="2025-01-01T00:00:00Z") + CA_SECRET)
    (p,) = plan(parse_text(text, "in.yaml"))
    assert p.host == "_" and p.ingress.endswith("prod/a")
    assert any("catch-all" in n for n in p.notes) and any("prod/b" in n for n in p.notes)


def test_cli_json_and_exit(tmp_path, capsys):
    from mtls_doctor.cli import main

    _, text = _plan(AUTH)
    f = tmp_path / "ing.yaml"
    f.write_text(text)
    assert main(["migrate", str(f), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["hosts"][0]["host"] == "api.example.com"
    assert {c["target"] for c in data["hosts"][0]["columns"]} >= {"nginx-ingress", "traefik"}
    assert main(["migrate", str(f), "--to", "istio", "--no-resources"]) == 1
    out = capsys.readouterr().out
    assert "Istio gateway" in out and "Traefik" not in out and "kind: Gateway" not in out


def test_cli_bad_input_one_line(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "x.yaml"
    f.write_text("just: [a, scalar\n")
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "migrate", str(f)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- real nginx

OUTCOME_OF = {HTTP_400: lambda r: r[0] == 400, CLOSE_444: lambda r: r[0] is None,
              PASSES: lambda r: r[0] == 200}


def _nginx(rendering):
    http, files = lab_http(rendering, "certs/server.pem", "certs/server.key")
    return NginxServer(http, ports=3, files={**_server_files(), **files})


def _stranger(tmp_path):
    leaf = pki()["other"].issue("stranger", at=NOW - timedelta(days=1))
    cert, key = tmp_path / "stranger.pem", tmp_path / "stranger.key"
    cert.write_bytes(pem(leaf.cert))
    key.write_bytes(key_pem(leaf.key))
    key.chmod(0o600)
    return str(cert), str(key)


@pytest.mark.nginx
@pytest.mark.parametrize("mode", ["on", "optional"])
def test_written_resources_answer_as_the_table_says(tmp_path, mode):
    """Source (ingress-nginx) and the two nginx-based targets, each run on real nginx: the no
    certificate / other CA / good certificate outcomes are the table's."""
    ann = AUTH + (A + f"auth-tls-verify-client: {mode}\n" if mode != "on" else "")
    p, text = _plan(ann)
    stranger, good = _stranger(tmp_path), _client(tmp_path)
    runs = {"ingress-nginx": ingress_nginx.render(parse_text(text, "in.yaml")),
            "nginx-ingress": f5.render(parse_text(col(p, "nginx-ingress").resources, "f5.yaml")),
            "nginx-gateway-fabric": gateway.render(parse_text(col(p, "nginx-gateway-fabric").resources, "gw.yaml"))}
    for target, rendering in runs.items():
        assert rendering is not None, target
        cells = col(p, target).cells
        with _nginx(rendering) as ngx:
            port = ngx.ports[0]
            got = https(port, "api.example.com")
            assert OUTCOME_OF[cells["no_cert"].outcome](got), (target, "no cert", got)
            got = https(port, "api.example.com", cert=stranger)
            assert OUTCOME_OF[cells["bad_cert"].outcome](got), (target, "other CA", got)
            assert https(port, "api.example.com", cert=good)[0] == 200, target
