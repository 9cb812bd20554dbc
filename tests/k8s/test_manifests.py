"""Reading manifests: the layouts users have (kubectl List, multi-document, Helm output, a
directory, stdin), exact lines, and bad input as one line or a finding, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mtls_doctor.k8s.manifests import (MAX_PARSED_BYTES, looks_like_kubernetes, parse_text, read_paths,
                                       secret_data)
from mtls_doctor.model import InputError
from tests.k8s.material import manifest, values
from tests.rules.test_rules_k8s import AUTH, CA_SECRET, ingress

# `kubectl get ingress,secret -n prod -o yaml`: a List with the items at column 0
KUBECTL = manifest("""apiVersion: v1
items:
- apiVersion: networking.k8s.io/v1
  kind: Ingress
  metadata:
    annotations:
      nginx.ingress.kubernetes.io/auth-tls-secret: prod/client-ca
    creationTimestamp: "2025-03-01T10:00:00Z"
    name: api
    namespace: prod
  spec:
    ingressClassName: nginx
    rules:
    - host: api.example.com
      http:
        paths:
        - backend:
            service:
              name: api
              port:
                number: 80
          path: /
          pathType: Prefix
- apiVersion: v1
  data:
    ca.crt: {CA}
  kind: Secret
  metadata:
    name: client-ca
    namespace: prod
  type: Opaque
- apiVersion: v1
  kind: Pod
  metadata:
    name: ignored
kind: List
metadata:
  resourceVersion: ""
""")

# `helm install --dry-run` output: a header, MANIFEST:, documents with # Source: comments, NOTES:
HELM = ("NAME: api\nLAST DEPLOYED: Mon Jan  1 00:00:00 2026\nNAMESPACE: prod\nSTATUS: pending-install\n"
        "HOOKS:\nMANIFEST:\n---\n# Source: api/templates/secret.yaml\n" + manifest(CA_SECRET)[4:]
        + "---\n# Source: api/templates/ingress.yaml\n" + ingress("api", "api.example.com", AUTH)[4:]
        + "\nNOTES:\n1. Get the application URL by running these commands:\n  kubectl get ingress\n")


def test_kubectl_list_lines_and_kinds():
    mset = parse_text(KUBECTL, "k.yaml")
    kinds = sorted(r.kind for r in mset.resources)
    assert kinds == ["Ingress", "Secret"] and mset.skipped == 1
    ing = mset.of_kind("Ingress")[0]
    assert ing.line == 3 and ing.creation == "2025-03-01T10:00:00Z"
    assert ing.annotation_location("nginx.ingress.kubernetes.io/auth-tls-secret").line == 7
    assert ing.where("spec", "rules", 0, "host").line == 14


def test_helm_dry_run_output():
    mset = parse_text(HELM, "helm.txt")
    assert sorted(r.kind for r in mset.resources) == ["Ingress", "Secret"] and not mset.problems
    ing = mset.of_kind("Ingress")[0]
    line = HELM.splitlines().index("    nginx.ingress.kubernetes.io/auth-tls-secret: prod/client-ca") + 1
    assert ing.annotation_location("nginx.ingress.kubernetes.io/auth-tls-secret").line == line


def test_secret_data_decoding_and_no_values_in_repr():
    # (a Secret is read only when something names it)
    mset = parse_text(manifest(ingress("api", "api.example.com", AUTH) + CA_SECRET + "  bad: '%%%'\n"), "s.yaml")
    data = secret_data(mset.of_kind("Secret")[0])
    assert data.values["ca.crt"].startswith(b"-----BEGIN CERTIFICATE-----") and data.bad == ("bad",)
    assert values()["CA"][:40] not in repr(data) and "BEGIN" not in repr(data)


@pytest.mark.parametrize("text, message", [
    ("foo: [", "not YAML"),
    ("- just\n- a list\n", "not a mapping"),
    ("name: x\nvalue: y\n", "without apiVersion and kind"),
    ("apiVersion: v1\nkind: Secret\nmetadata: {}\n", "without metadata.name"),
])
def test_non_kubernetes_yaml_is_a_problem(text, message):
    mset = parse_text(text, "x.yaml")
    assert not mset.resources and message in mset.problems[0].message


def test_alias_bomb_is_one_line():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)) + "kind: Ingress\napiVersion: networking.k8s.io/v1\n"
    with pytest.raises(InputError, match="YAML nodes"):
        parse_text(bomb, "bomb.yaml")


def test_too_much_to_parse_is_one_line():
    one = ingress("api", "api.example.com", AUTH)
    text = one * (MAX_PARSED_BYTES * 11 // 10 // len(one))
    with pytest.raises(InputError, match="MiB of Ingress"):
        parse_text(text, "many.yaml")


def test_detection():
    assert looks_like_kubernetes(KUBECTL)
    assert not looks_like_kubernetes("server {\n    listen 443 ssl;\n}\n")


def test_directory_and_binary(tmp_path):
    (tmp_path / "a.yaml").write_text(manifest(CA_SECRET))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text(ingress("api", "api.example.com", AUTH))
    mset = read_paths([str(tmp_path)])
    assert sorted(r.kind for r in mset.resources) == ["Ingress", "Secret"]
    (tmp_path / "c.yaml").write_bytes(b"\x00\xff" * 100)
    with pytest.raises(InputError, match="binary data"):
        read_paths([str(tmp_path / "c.yaml")])


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_stdin_kubectl_list_points_at_the_annotation():
    text = KUBECTL.replace("prod/client-ca", "client-ca")
    done = _cli("-", "--format", "json", stdin=text)
    assert done.returncode == 1, done.stderr
    import json

    found = json.loads(done.stdout)["findings"]
    hit = [f for f in found if f["rule"] == "MTLS704"]
    assert hit and hit[0]["location"]["file"] == "<stdin>" and hit[0]["location"]["line"] == 7
    assert values()["CA"][:40] not in done.stdout


def test_cli_show_nginx_and_text_never_show_secret_values(tmp_path):
    path = tmp_path / "m.yaml"
    # the Secret (with a private key) right before the Ingress line a finding points at
    path.write_text(manifest(CA_SECRET + "  tls.key: {TLS_KEY}\n" + ingress("api", "api.example.com", AUTH)))
    done = _cli(str(path), "--show-nginx")
    assert "ssl_client_certificate /etc/ingress-controller/ssl/" in done.stdout, done.stderr
    assert values()["TLS_KEY"][:24] not in done.stdout and "PRIVATE KEY" not in done.stdout


def test_cli_bad_stdin_one_line():
    done = _cli("-", stdin="foo: [\n")  # not Kubernetes: read as nginx, whose parser says why
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_cli_non_kubernetes_yaml_file_is_one_line(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("replicaCount: 2\nimage: {tag: x}\n")
    done = _cli(str(path))
    # neither Kubernetes nor nginx inside YAML (lint reads both, issue 13): one line naming the file
    assert done.returncode == 2 and "values.yaml" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
