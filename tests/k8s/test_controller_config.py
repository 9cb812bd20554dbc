"""The ingress-nginx controller ConfigMap decides what an Ingress may do: snippets, the
annotation risk level, cross-namespace Secrets (``config.go`` ``NewDefault`` v1.15.1), and
manifests in the layouts users export (``kubectl get -o json``, CRLF, ``--- # comment``).

Situations reproduced (manifests written here): the mTLS check in a configuration-snippet that
the controller drops with the Ingress since v1.12
(https://github.com/kubernetes/ingress-nginx/issues/13156,
https://github.com/kubernetes/ingress-nginx/issues/12648), and the admission webhook refusing
snippets when allow-snippet-annotations is false
(https://github.com/rancher-archives/rke/issues/3774).
"""

from __future__ import annotations

import json
import subprocess
import sys

from mtls_doctor.k8s import ingress_nginx as inx
from mtls_doctor.k8s.lint import lint_manifests
from mtls_doctor.k8s.manifests import looks_like_kubernetes, parse_text
from tests.k8s.material import NOW, manifest
from tests.rules.test_rules_k8s import A, AUTH, CA_SECRET, controller_configmap, controller_deployment, ingress

SNIPPET = A + 'configuration-snippet: "proxy_set_header X-Client $ssl_client_s_dn;"\n'


def _rendered(text: str) -> str:
    mset = parse_text(manifest(text), "m.yaml")
    rendering = inx.render(mset)
    return "\n".join(line.text for s in rendering.servers for line in s.lines) if rendering else ""


def test_defaults_without_configmap():
    cfg = inx.controller_config(parse_text(manifest(ingress("api", "api.example.com", AUTH) + CA_SECRET), "m.yaml"))
    assert (cfg.configmap, cfg.allow_snippets, cfg.risk_level, cfg.cross_namespace) == (None, False, 3, False)


def test_snippet_drops_the_ingress_at_the_default_risk_level():
    text = ingress("api", "api.example.com", AUTH + SNIPPET) + CA_SECRET
    assert "server_name api.example.com" not in _rendered(text)
    auth = inx.parse_auth_tls(parse_text(manifest(text), "m.yaml").of_kind("Ingress")[0],
                              parse_text(manifest(text), "m.yaml"))
    assert auth.too_risky == (inx.PREFIX + "configuration-snippet",)


def test_snippet_rendered_only_when_both_settings_allow_it():
    ing = ingress("api", "api.example.com", AUTH + SNIPPET) + CA_SECRET
    allowed = _rendered(controller_configmap('  annotations-risk-level: Critical\n  allow-snippet-annotations: "true"\n') + ing)
    assert "proxy_set_header X-Client $ssl_client_s_dn;" in allowed and "ssl_verify_client on;" in allowed
    # Critical but snippets not allowed: controller.go dropSnippetDirectives keeps the Ingress, not the snippet
    dropped = _rendered(controller_configmap("  annotations-risk-level: Critical\n") + ing)
    assert "ssl_verify_client on;" in dropped and "X-Client" not in dropped


def test_configmap_named_by_the_deployment_wins_over_labels():
    cm = ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: my-nginx-config, namespace: ingress-nginx}\n"
          "data:\n  annotations-risk-level: Critical\n")
    decoy = controller_configmap("  annotations-risk-level: Low\n")
    text = (decoy + cm + controller_deployment("--configmap=ingress-nginx/my-nginx-config")
            + ingress("api", "api.example.com", AUTH + A + "auth-tls-match-cn: CN=client\n") + CA_SECRET)
    cfg = inx.controller_config(parse_text(manifest(text), "m.yaml"))
    assert cfg.configmap is not None and cfg.configmap.name == "my-nginx-config" and cfg.risk_level == 4
    assert "server_name api.example.com" in _rendered(text)


def test_cross_namespace_secret_with_the_setting():
    ing = ingress("api", "api.example.com", A + "auth-tls-secret: shared/client-ca\n")
    sec = CA_SECRET.replace("namespace: prod", "namespace: shared")
    assert "ca-shared-client-ca.pem" in _rendered(controller_configmap('  allow-cross-namespace-resources: "true"\n') + ing + sec)
    assert "return 403;" in _rendered(ing + sec)


def test_risky_finding_names_the_configmap_and_the_annotation_line():
    text = manifest(controller_configmap("  annotations-risk-level: medium\n")
                    + ingress("api", "api.example.com", AUTH + A + "auth-tls-error-page: https://example.com/e.html\n")
                    + CA_SECRET)
    found = [f for f in lint_manifests(parse_text(text, "m.yaml"), NOW).findings if f.rule == "MTLS712"]
    line = next(n for n, l in enumerate(text.splitlines(), 1) if "auth-tls-error-page" in l)
    assert [f.location.line for f in found] == [line]
    assert "High risk" in found[0].message and "Medium" in found[0].message and "ingress-nginx/ingress-nginx-controller" in found[0].message


def _json_list() -> str:
    from ruamel.yaml import YAML

    docs = list(YAML(typ="safe", pure=True).load_all(manifest(ingress("api", "api.example.com", AUTH) + CA_SECRET)))
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [d for d in docs if d],
                       "metadata": {"resourceVersion": ""}}, indent=4)


def test_kubectl_json_list_file_and_stdin(tmp_path):
    text = _json_list()
    assert looks_like_kubernetes(text)
    mset = parse_text(text, "c.json")
    assert {r.kind for r in mset.resources} == {"Ingress", "Secret"} and not mset.problems
    ing = mset.of_kind("Ingress")[0]
    line = next(n for n, l in enumerate(text.splitlines(), 1) if "auth-tls-secret" in l)
    assert ing.annotation_location(inx.SECRET).line == line
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", "-"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert "2 Kubernetes objects read" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr


def test_crlf_bom_and_commented_separators():
    body = manifest(CA_SECRET + ingress("api", "api.example.com", AUTH + A + 'auth-tls-verify-depth: "2"\n'))
    text = "\ufeff# export\n--- # the CA and the Ingress\n" + body.lstrip("-\n") + "--- # end\n# nothing\n...\n"
    crlf = text.replace("\n", "\r\n")
    mset = parse_text(crlf, "w.yaml")
    assert {r.kind for r in mset.resources} == {"Ingress", "Secret"} and not mset.problems
    ing = mset.of_kind("Ingress")[0]
    line = next(n for n, l in enumerate(text.splitlines(), 1) if "auth-tls-verify-depth" in l)
    assert ing.annotation_location(inx.VERIFY_DEPTH).line == line
    assert "ssl_verify_depth 2;" in "\n".join(l.text for s in inx.render(mset).servers for l in s.lines)


# values of the ingress-nginx chart as users keep them next to their manifests (the keys of
# https://github.com/kubernetes/ingress-nginx/issues/13095 and #12648: allowSnippetAnnotations,
# config.annotations-risk-level), with an extra argument and a TLS-terminating balancer
VALUES = """# values-prod.yaml
controller:
  allowSnippetAnnotations: true
  config:
    annotations-risk-level: Critical
    use-forwarded-headers: "true"
  extraArgs:
    enable-ssl-passthrough: ""
  service:
    annotations:
      service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:eu-west-1:111122223333:certificate/x
"""


def test_chart_values_next_to_manifests(tmp_path):
    from mtls_doctor.k8s.manifests import read_paths

    (tmp_path / "values.yaml").write_text(VALUES)
    (tmp_path / "app.yaml").write_text(manifest(ingress("api", "api.example.com", AUTH + SNIPPET) + CA_SECRET))
    assert looks_like_kubernetes(VALUES)
    mset = read_paths([str(tmp_path)])
    cfg = inx.controller_config(mset)
    assert cfg.allow_snippets and cfg.risk_level == 4
    assert cfg.configmap.where("annotations-risk-level") is not None
    assert cfg.configmap.body.get("data").line_of("annotations-risk-level") == 5
    findings = lint_manifests(mset, NOW).findings
    rules = {f.rule: f for f in findings}
    assert "MTLS712" not in rules  # Critical allowed by the values
    assert rules["MTLS716"].location.path.endswith("values.yaml") and rules["MTLS716"].location.line == 11
    text = inx.render(mset).text()
    assert "X-Client" in text


def test_chart_values_defaults_drop_the_snippet_ingress(tmp_path):
    from mtls_doctor.k8s.manifests import read_paths

    (tmp_path / "values.yaml").write_text("controller:\n  config:\n    ssl-protocols: TLSv1.3\n")
    (tmp_path / "app.yaml").write_text(manifest(ingress("api", "api.example.com", AUTH + SNIPPET) + CA_SECRET))
    found = [f for f in lint_manifests(read_paths([str(tmp_path)]), NOW).findings if f.rule == "MTLS712"]
    assert found and "ConfigMap ingress-nginx/ingress-nginx-controller" in found[0].message


def test_plain_yaml_with_a_controller_key_is_not_values():
    assert not looks_like_kubernetes("controller:\n  replicas: 2\n")
    text = "controller:\n  replicas: 2\n"
    mset = parse_text(text, "x.yaml")
    assert not mset.resources and mset.problems


def test_migrate_names_an_ingress_the_controller_drops(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(manifest(ingress("api", "api.example.com", AUTH + SNIPPET) + CA_SECRET))
    proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "migrate", str(f), "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    data = json.loads(proc.stdout)
    assert data["hosts"] == [] and "Ingress prod/api (configuration-snippet" in data["dropped"][0], proc.stderr


def test_clean_ingress_with_tls_has_no_error_findings():
    """A clean Ingress (auth-tls, spec.tls, its CA Secret): no error findings. The no-SNI default
    server (MTLS210) is a warning on ingress-nginx, port 80 redirects (ssl-redirect)."""
    from mtls_doctor.model import Severity

    text = manifest(ingress("api", "api.example.com", AUTH, extra_spec="  tls:\n  - hosts: [api.example.com]\n"
                            "    secretName: api-tls\n") + CA_SECRET)
    findings = lint_manifests(parse_text(text, "m.yaml"), NOW).findings
    bad = [(f.rule, f.message) for f in findings if f.severity in (Severity.ERROR, Severity.CRITICAL)]
    assert not bad, bad
    assert {f.severity for f in findings if f.rule == "MTLS210"} <= {Severity.WARNING}


def test_chart_tcp_configmap_with_the_same_labels_is_not_the_configuration():
    tcp = controller_configmap('  "9000": "default/example-go:8080"\n').replace("name: ingress-nginx-controller",
                                                                            "name: ingress-nginx-tcp")
    text = tcp + controller_configmap("  annotations-risk-level: Critical\n") + ingress("api", "api.example.com", AUTH + SNIPPET) + CA_SECRET
    cfg = inx.controller_config(parse_text(manifest(text), "m.yaml"))
    assert cfg.configmap.name == "ingress-nginx-controller" and cfg.risk_level == 4
    text = tcp + controller_configmap("  use-gzip: \"true\"\n") + ingress("api", "api.example.com", AUTH) + CA_SECRET
    assert inx.controller_config(parse_text(manifest(text), "m.yaml")).configmap.name == "ingress-nginx-controller"


def test_kustomize_hash_suffix_named_in_the_denial():
    from tests.rules.test_rules_k8s import secret

    text = manifest(secret("client-ca-5f7k9m2t8h", "  ca.crt: {CA}\n") + ingress("api", "api.example.com", AUTH))
    found = [f for f in lint_manifests(parse_text(text, "m.yaml"), NOW).findings if f.rule == "MTLS704"]
    assert found and "prod/client-ca-5f7k9m2t8h" in found[0].message and "kustomize" in found[0].message
