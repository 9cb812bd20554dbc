"""``diagnose`` on Kubernetes manifests: the real cause first, pointing at the manifest line.

Manifests written for this project (tests/k8s/material.py); each reproduces a situation from a
public thread: a public path of a host asking for a certificate (kubernetes/ingress-nginx#5489
pattern), a 403 for the whole host from a secret written without its namespace, a TLS Secret
used as auth-tls-secret (no client verification at all), match-cn and ACME.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

from mtls_doctor.cli import main
from mtls_doctor.pki.issue import pem
from tests.k8s.material import NOW, manifest, pki
from tests.rules.test_rules_k8s import A, AUTH, CA_SECRET, ingress, secret


def _diagnose(tmp_path, capsys, text: str, *args: str) -> tuple[int, dict]:
    f = tmp_path / "case.yaml"
    f.write_text(manifest(text))
    code = main(["diagnose", "--manifests", str(f), "--format", "json", *args])
    return code, json.loads(capsys.readouterr().out)


def top(data) -> dict:
    return data["root_causes"][0]


def test_public_path_asks_for_a_certificate(tmp_path, capsys):
    text = ingress("api", "api.example.com", AUTH) + ingress("public", "api.example.com", path="/public") + CA_SECRET
    code, data = _diagnose(tmp_path, capsys, text, "--symptom", "400-no-certificate")
    assert code == 1
    assert top(data)["cause"] == "k8s-auth-tls-spreads-to-host"
    loc = top(data)["evidence"][0]["location"]
    assert loc["line"] == 24 and loc["file"].endswith("case.yaml")  # the rules: of Ingress prod/public
    assert data["manifests"]["renderings"][0]["controller"] == "ingress-nginx"


def test_403_for_the_host_from_the_secret_name(tmp_path, capsys):
    text = ingress("api", "api.example.com", A + "auth-tls-secret: client-ca\n") + CA_SECRET
    _, data = _diagnose(tmp_path, capsys, text, "--symptom", "403")
    assert top(data)["cause"] == "k8s-auth-tls-secret-denied"
    assert top(data)["confidence"] >= 0.5


def test_403_from_match_cn(tmp_path, capsys):
    text = ingress("api", "api.example.com", AUTH + A + 'auth-tls-match-cn: "CN=partner"\n') + CA_SECRET
    _, data = _diagnose(tmp_path, capsys, text, "--symptom", "403")
    assert top(data)["cause"] == "k8s-match-cn-refuses"
    cert = tmp_path / "client.pem"
    cert.write_bytes(pem(pki()["client"].cert))  # CN=client: does not match CN=partner
    _, data = _diagnose(tmp_path, capsys, text, "--cert", str(cert))
    assert top(data)["cause"] == "k8s-match-cn-refuses" and "CN=client" in top(data)["summary"]
    ok = ingress("api", "api.example.com", AUTH + A + 'auth-tls-match-cn: "CN=client"\n') + CA_SECRET
    _, data = _diagnose(tmp_path, capsys, ok, "--cert", str(cert))
    assert all(c["cause"] != "k8s-match-cn-refuses" for c in data["root_causes"])


def test_backend_sees_no_certificate_tls_secret(tmp_path, capsys):
    text = ingress("api", "api.example.com", A + "auth-tls-secret: prod/api-tls\n") + secret(
        "api-tls", "  tls.crt: {TLS_CRT}\n  tls.key: {TLS_KEY}\n", type_="kubernetes.io/tls")
    _, data = _diagnose(tmp_path, capsys, text, "--symptom", "none-at-backend")
    assert top(data)["cause"] == "k8s-auth-tls-secret-without-ca"
    out = json.dumps(data)
    assert manifest("{TLS_KEY}") not in out and "PRIVATE KEY" not in out


def test_certificate_of_another_ca_named_from_the_rendered_trust(tmp_path, capsys):
    leaf = pki()["other"].issue("stranger", at=NOW - timedelta(days=1))
    cert = tmp_path / "stranger.pem"
    cert.write_bytes(pem(leaf.cert))
    _, data = _diagnose(tmp_path, capsys, ingress("api", "api.example.com", AUTH) + CA_SECRET,
                        "--cert", str(cert), "--server-name", "api.example.com")
    assert top(data)["cause"] == "client-issuer-unknown"
    assert data["verify"][0]["status"] == 400
    assert "auth-tls-secret" in top(data)["fix"]["text"]  # said in Kubernetes terms


def test_config_yaml_and_kubectl_list_on_stdin(tmp_path):
    text = manifest(ingress("api", "api.example.com", AUTH) + ingress("public", "api.example.com", path="/public")
                    + CA_SECRET)
    items = "".join("- " + doc.strip().replace("\n", "\n  ") + "\n" for doc in text.split("---\n") if doc.strip())
    dump = "apiVersion: v1\nkind: List\nitems:\n" + items
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "diagnose", "--manifests", "-", "--symptom",
                           "400-no-certificate"], input=dump, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "k8s-auth-tls-spreads-to-host" in proc.stdout.split("\n")[2]
    f = tmp_path / "all.yaml"
    f.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "diagnose", "--config", str(f)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "k8s-auth-tls-spreads-to-host" in proc.stdout


def test_bad_input_one_line(tmp_path):
    cases = {"garbage.yaml": b"\x00\x01\x02 binary", "notk8s.yaml": b"just: a mapping\n"}
    for name, data in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "diagnose", "--manifests", str(f)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (name, proc.stdout)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_tls_terminated_at_the_aws_load_balancer(tmp_path, capsys):
    """Every client gets 400 "No required SSL certificate was sent": the NLB terminates TLS
    (ACM certificate on the controller's Service), not the Ingress's settings."""
    from tests.rules.test_rules_k8s import lb_service

    text = ingress("api", "api.example.com", AUTH) + CA_SECRET + lb_service(
        "    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:eu-west-1:1:certificate/x\n")
    _, data = _diagnose(tmp_path, capsys, text, "--symptom", "400-no-certificate")
    assert top(data)["cause"] == "k8s-tls-terminated-before-controller"


def test_depth_of_the_secret_ca_hierarchy_first(tmp_path, capsys):
    """ca.crt holds root + 2 intermediates, ingress-nginx's default depth 1: 400 "The SSL
    certificate error" for every client of the lowest CA; the noisy-but-true "error log at
    notice" (a missing-evidence cause) ranks after it."""
    from mtls_doctor.pki.issue import pem as pem_of
    from tests.k8s.material import b64

    p = pki()
    i1 = p["root"].child_ca("Int 1", at=NOW, pathlen=1)
    i2 = i1.child_ca("Int 2", at=NOW)
    text = ingress("api", "api.example.com", AUTH) + secret(
        "client-ca", f"  ca.crt: {b64(pem_of(p['root'].cert, i1.cert, i2.cert))}\n")
    _, data = _diagnose(tmp_path, capsys, text, "--symptom", "400-certificate-error")
    assert top(data)["cause"] == "verify-depth-exceeded"
    assert "error-log-hides-verify-failures" not in [c["cause"] for c in data["root_causes"][:1]]
