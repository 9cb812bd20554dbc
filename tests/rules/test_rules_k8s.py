"""Fixtures of the MTLS7xx rules (Kubernetes front ends). Each input is a set of manifests
written for this project (never copied) reproducing a situation from a public thread or the
controller's source, cited next to it. A firing case marks the offending line with
``# <- MTLSnnn``: the finding must be located exactly there.
"""

from __future__ import annotations

import pytest

from mtls_doctor.k8s.lint import lint_manifests
from mtls_doctor.k8s.manifests import parse_text
from tests.k8s.material import NOW, manifest
from tests.rules.cases import RuleCase


def ingress(name: str, host: str | None, annotations: str = "", *, ns: str = "prod", path: str = "/",
            service: str = "api", extra_spec: str = "", created: str = "") -> str:
    ann = f"  annotations:\n{annotations}" if annotations else ""
    host_line = f"  - host: {host}\n    http:\n" if host else "  - http:\n"
    ts = f"  creationTimestamp: \"{created}\"\n" if created else ""
    return (f"---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n"
            f"  namespace: {ns}\n{ts}{ann}spec:\n{extra_spec}  rules:\n{host_line}"
            f"      paths:\n      - path: {path}\n        pathType: Prefix\n"
            f"        backend: {{service: {{name: {service}, port: {{number: 80}}}}}}\n")


def secret(name: str, data: str, *, ns: str = "prod", type_: str = "Opaque") -> str:
    return (f"---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"type: {type_}\ndata:\n{data}")


CA_SECRET = secret("client-ca", "  ca.crt: {CA}\n")


def tls_option(name: str = "mtls", secret_line: str = "    secretNames: [client-ca]\n", ns: str = "prod") -> str:
    return (f"---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata: {{name: {name}, namespace: {ns}}}\n"
            "spec:\n  clientAuth:\n" + secret_line + "    clientAuthType: RequireAndVerifyClientCert\n")


def ingress_route(options: str = "") -> str:
    return ("---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata: {name: api, namespace: prod}\n"
            "spec:\n  entryPoints: [websecure]\n  routes:\n  - match: Host(`api.example.com`)\n    kind: Rule\n"
            "    services: [{name: api, port: 80}]\n  tls:\n    secretName: api-tls\n" + options)


def lb_service(annotations: str) -> str:
    return ("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ingress-nginx-controller\n"
            "  namespace: ingress-nginx\n  annotations:\n" + annotations +
            "spec:\n  type: LoadBalancer\n  selector:\n    app.kubernetes.io/name: ingress-nginx\n"
            "    app.kubernetes.io/component: controller\n  ports:\n  - {name: https, port: 443, targetPort: https}\n")


def controller_deployment(arg: str) -> str:
    return ("---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ingress-nginx-controller, namespace: ingress-nginx}\n"
            "spec:\n  template:\n    spec:\n      containers:\n      - name: controller\n"
            "        image: registry.k8s.io/ingress-nginx/controller:v1.15.1\n"
            f"        args: [/nginx-ingress-controller, --publish-service=$(POD_NAMESPACE)/ingress-nginx-controller, {arg}]\n")
def controller_configmap(data: str) -> str:
    """The controller ConfigMap as the Helm chart writes it (its labels name it, nothing else does)."""
    return ("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ingress-nginx-controller\n"
            "  namespace: ingress-nginx\n  labels:\n    app.kubernetes.io/name: ingress-nginx\n"
            "    app.kubernetes.io/component: controller\ndata:\n" + data)


A = "    nginx.ingress.kubernetes.io/"
AUTH = A + "auth-tls-secret: prod/client-ca\n"

F5_CLASS = ("---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: nginx}\n"
            "spec: {controller: nginx.org/ingress-controller}\n")


def vs(policy_at_route: bool = False, tls: bool = True) -> str:
    pol = "    policies:\n    - name: mtls\n" if policy_at_route else ""
    top = "" if policy_at_route else "  policies:\n  - name: mtls  # <- MTLS714\n"
    return ("---\napiVersion: k8s.nginx.org/v1\nkind: VirtualServer\nmetadata: {name: api, namespace: prod}\n"
            "spec:\n  host: api.example.com\n" + ("  tls: {secret: api-tls}\n" if tls else "") + top +
            "  routes:\n  - path: /\n" + pol + "    action: {pass: api}\n")


def policy(extra: str = "") -> str:
    return ("---\napiVersion: k8s.nginx.org/v1\nkind: Policy\nmetadata: {name: mtls, namespace: prod}\n"
            "spec:\n  ingressMTLS:\n    clientCertSecret: f5-ca\n" + extra)


def gateway(mode: str = "", ref: str = "gw-ca") -> str:
    m = f"          mode: {mode}  # <- MTLS715\n" if mode else ""
    return ("---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: prod}\n"
            "spec:\n  gatewayClassName: nginx\n  listeners:\n  - name: https\n    port: 443\n    protocol: HTTPS\n"
            "    hostname: api.example.com\n    tls: {mode: Terminate, certificateRefs: [{name: api-tls}]}\n"
            "  tls:\n    frontend:\n      default:\n        validation:\n" + m +
            f"          caCertificateRefs:  # <- MTLS715{'' if not mode else '-not'}\n"
            f"          - {{kind: ConfigMap, name: {ref}}}\n")


GW_CM = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gw-ca, namespace: prod}\ndata:\n  ca.crt: |\n    PEMCA\n"

CASES = [
    RuleCase("MTLS701", "fire", "not-yaml", "---\nkind: Secret\ndata: [ca.crt: x  # <- MTLS701\n" + CA_SECRET),
    RuleCase("MTLS701", "ok", "scalars-are-fine", ingress("api", "api.example.com", AUTH) + CA_SECRET),
    # ingress-nginx#5489-style: a public path in a second Ingress of the same host asks for a certificate
    RuleCase("MTLS702", "fire", "public-ingress-same-host",
             ingress("api", "api.example.com", AUTH) + ingress("public", "api.example.com", path="/public")
             .replace("  rules:\n", "  rules:  # <- MTLS702\n") + CA_SECRET),
    RuleCase("MTLS702", "ok", "public-on-own-host",
             ingress("api", "api.example.com", AUTH) + ingress("public", "public.example.com") + CA_SECRET),
    RuleCase("MTLS703", "fire", "second-ingress-other-mode",
             ingress("a", "api.example.com", AUTH, created="2024-01-01T00:00:00Z")
             + ingress("b", "api.example.com", AUTH + A + "auth-tls-verify-client: optional  # <- MTLS703\n",
                       path="/b", created="2025-01-01T00:00:00Z") + CA_SECRET),
    RuleCase("MTLS703", "ok", "same-settings",
             ingress("a", "api.example.com", AUTH) + ingress("b", "api.example.com", AUTH, path="/b") + CA_SECRET),
    # "auth-tls-secret: ca" without namespace: every request 403 (ingress-nginx issues about 403 on mTLS)
    RuleCase("MTLS704", "fire", "secret-without-namespace",
             ingress("api", "api.example.com", A + "auth-tls-secret: client-ca  # <- MTLS704\n") + CA_SECRET),
    RuleCase("MTLS704", "fire", "ca-not-pem",
             ingress("api", "api.example.com", A + "auth-tls-secret: prod/bad  # <- MTLS704\n")
             + secret("bad", "  ca.crt: {GARBAGE}\n")),
    RuleCase("MTLS704", "fire", "other-namespace",
             ingress("api", "api.example.com", A + "auth-tls-secret: shared/client-ca  # <- MTLS704\n")
             + secret("client-ca", "  ca.crt: {CA}\n", ns="shared")),
    RuleCase("MTLS704", "ok", "resolves", ingress("api", "api.example.com", AUTH) + CA_SECRET),
    # a cert-manager kubernetes.io/tls secret given as auth-tls-secret: mTLS silently off
    RuleCase("MTLS705", "fire", "tls-pair-only",
             ingress("api", "api.example.com", A + "auth-tls-secret: prod/api-tls  # <- MTLS705\n")
             + secret("api-tls", "  tls.crt: {TLS_CRT}\n  tls.key: {TLS_KEY}\n", type_="kubernetes.io/tls")),
    RuleCase("MTLS705", "ok", "ca-present", ingress("api", "api.example.com", AUTH) + CA_SECRET),
    RuleCase("MTLS706", "fire", "pair-and-ca",
             ingress("api", "api.example.com", A + "auth-tls-secret: prod/api-tls  # <- MTLS706\n")
             + secret("api-tls", "  tls.crt: {TLS_CRT}\n  tls.key: {TLS_KEY}\n  ca.crt: {CA}\n")),
    RuleCase("MTLS706", "ok", "ca-only", ingress("api", "api.example.com", AUTH) + CA_SECRET),
    # migrating to the F5 controller with the ingress-nginx annotations left on (class "nginx" on both)
    RuleCase("MTLS707", "fire", "auth-tls-on-f5",
             F5_CLASS + ingress("api", "api.example.com", A + "auth-tls-secret: prod/client-ca  # <- MTLS707\n",
                                extra_spec="  ingressClassName: nginx\n") + CA_SECRET),
    RuleCase("MTLS707", "ok", "auth-tls-on-ingress-nginx",
             F5_CLASS.replace("nginx.org/ingress-controller", "k8s.io/ingress-nginx")
             + ingress("api", "api.example.com", AUTH, extra_spec="  ingressClassName: nginx\n") + CA_SECRET),
    RuleCase("MTLS708", "fire", "no-host",
             ingress("api", None, AUTH).replace("  rules:\n", "  rules:\n", 1).replace("  - http:", "  - http:  # <- MTLS708")
             + CA_SECRET),
    RuleCase("MTLS708", "ok", "with-host", ingress("api", "api.example.com", AUTH) + CA_SECRET),
    RuleCase("MTLS709", "fire", "same-service-unprotected-host",
             ingress("api", "api.example.com", AUTH)
             + ingress("internal", "api-internal.example.com").replace("      - path: /", "      - path: /  # <- MTLS709")
             + CA_SECRET),
    RuleCase("MTLS709", "ok", "other-service",
             ingress("api", "api.example.com", AUTH) + ingress("web", "www.example.com", service="web") + CA_SECRET),
    # cert-manager http-01 with auth-tls-match-cn: the challenge gets 403 (cert-manager/ingress-nginx threads)
    RuleCase("MTLS710", "fire", "cert-manager-and-match-cn",
             ingress("api", "api.example.com", AUTH + "    cert-manager.io/cluster-issuer: letsencrypt\n"
                     + A + 'auth-tls-match-cn: "CN=client"  # <- MTLS710\n') + CA_SECRET),
    RuleCase("MTLS710", "ok", "match-cn-no-acme",
             ingress("api", "api.example.com", AUTH + A + 'auth-tls-match-cn: "CN=client"\n') + CA_SECRET),
    RuleCase("MTLS711", "fire", "depth-zero",
             ingress("api", "api.example.com", AUTH + A + 'auth-tls-verify-depth: "0"  # <- MTLS711\n') + CA_SECRET),
    RuleCase("MTLS711", "fire", "verify-typo",
             ingress("api", "api.example.com", AUTH + A + 'auth-tls-verify-client: "Optional"  # <- MTLS711\n')
             + CA_SECRET),
    RuleCase("MTLS711", "ok", "valid-values",
             ingress("api", "api.example.com", AUTH + A + 'auth-tls-verify-depth: "2"\n'
                     + A + "auth-tls-verify-client: optional\n") + CA_SECRET),
    RuleCase("MTLS712", "fire", "pass-cert-yes",
             ingress("api", "api.example.com", AUTH + A + 'auth-tls-pass-certificate-to-upstream: "yes"  # <- MTLS712\n')
             + CA_SECRET),
    # the mTLS check in a configuration-snippet, dropped with the Ingress since v1.12 (risk level
    # High by default): https://github.com/kubernetes/ingress-nginx/issues/13156,
    # https://github.com/kubernetes/ingress-nginx/issues/13095 (server-snippet)
    RuleCase("MTLS712", "fire", "snippet-default-risk",
             ingress("api", "api.example.com", AUTH + A + "auth-tls-verify-client: optional\n"
                     + A + 'configuration-snippet: "if ($ssl_client_verify != SUCCESS) { return 403; }"  # <- MTLS712\n')
             + CA_SECRET),
    RuleCase("MTLS712", "fire", "error-page-above-medium",
             controller_configmap('  annotations-risk-level: "Medium"\n')
             + ingress("api", "api.example.com", AUTH + A + "auth-tls-error-page: https://example.com/e.html  # <- MTLS712\n")
             + CA_SECRET),
    RuleCase("MTLS712", "ok", "snippet-critical-allowed",
             controller_configmap('  annotations-risk-level: Critical\n  allow-snippet-annotations: "true"\n')
             + ingress("api", "api.example.com", AUTH + A + 'configuration-snippet: "proxy_set_header X-A b;"\n')
             + CA_SECRET),
    # allow-cross-namespace-resources lets auth-tls-secret name another namespace
    # (authtls/main.go Parse; https://github.com/kubernetes/ingress-nginx/issues/1837 asks for it)
    RuleCase("MTLS704", "ok", "cross-namespace-allowed",
             controller_configmap('  allow-cross-namespace-resources: "true"\n')
             + ingress("api", "api.example.com", A + "auth-tls-secret: shared/client-ca\n")
             + secret("client-ca", "  ca.crt: {CA}\n", ns="shared")),
    RuleCase("MTLS704", "fire", "cross-namespace-default",
             controller_configmap('  use-forwarded-headers: "true"\n')
             + ingress("api", "api.example.com", A + "auth-tls-secret: shared/client-ca  # <- MTLS704\n")
             + secret("client-ca", "  ca.crt: {CA}\n", ns="shared")),
    # GEP-91's first shape (listener-level, Gateway API v1.1-v1.3 experimental), still in
    # guides; the field existed as GatewayTLSConfig.FrontendValidation
    RuleCase("MTLS720", "fire", "listener-frontend-validation",
             gateway().replace("  tls:\n    frontend:\n      default:\n        validation:\n", "").replace(
                 "          caCertificateRefs:  # <- MTLS715\n          - {kind: ConfigMap, name: gw-ca}\n", "")
             .replace("    tls: {mode: Terminate, certificateRefs: [{name: api-tls}]}\n",
                      "    tls:\n      mode: Terminate\n      certificateRefs: [{name: api-tls}]\n"
                      "      frontendValidation:  # <- MTLS720\n        caCertificateRefs: [{kind: ConfigMap, name: gw-ca}]\n")
             + GW_CM),
    RuleCase("MTLS720", "ok", "both-shapes",
             gateway().replace("    tls: {mode: Terminate, certificateRefs: [{name: api-tls}]}\n",
                               "    tls:\n      mode: Terminate\n      certificateRefs: [{name: api-tls}]\n"
                               "      frontendValidation:\n        caCertificateRefs: [{kind: ConfigMap, name: gw-ca}]\n")
             + GW_CM),
    # `kustomize build` output: the generated Secret got a hash suffix, the annotation did not
    # (https://github.com/kubernetes-sigs/kustomize/pull/1366)
    RuleCase("MTLS704", "fire", "kustomize-hash-suffix",
             ingress("api", "api.example.com", A + "auth-tls-secret: prod/client-ca  # <- MTLS704\n")
             + secret("client-ca-5f7k9m2t8h", "  ca.crt: {CA}\n")),
    RuleCase("MTLS712", "ok", "pass-cert-true",
             ingress("api", "api.example.com", AUTH + A + 'auth-tls-pass-certificate-to-upstream: "true"\n')
             + CA_SECRET),
    RuleCase("MTLS713", "fire", "verify-in-snippet",
             ingress("api", "api.example.com", AUTH + A + 'configuration-snippet: "ssl_verify_client on;"  # <- MTLS713\n')
             + CA_SECRET),
    RuleCase("MTLS713", "ok", "header-snippet",
             ingress("api", "api.example.com", AUTH + A + 'configuration-snippet: "proxy_set_header X-A b;"\n')
             + CA_SECRET),
    # the ingress-nginx Secret reused for the F5 Policy: type Opaque, must be nginx.org/ca
    RuleCase("MTLS714", "fire", "opaque-secret", vs() + policy() + secret("f5-ca", "  ca.crt: {CA}\n")),
    RuleCase("MTLS714", "ok", "nginx-org-ca",
             vs().replace("  # <- MTLS714", "") + policy() + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")),
    # the policy put on the route (only the VirtualServer's spec context is allowed)
    RuleCase("MTLS714", "fire", "policy-on-route",
             vs(policy_at_route=True).replace("    - name: mtls\n", "    - name: mtls  # <- MTLS714\n") + policy()
             + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")),
    # F5 Ingress with nginx.org/policies but no spec.tls: TLS must be enabled
    RuleCase("MTLS714", "fire", "ingress-without-tls",
             F5_CLASS + ingress("api", "api.example.com", "    nginx.org/policies: mtls  # <- MTLS714\n",
                                extra_spec="  ingressClassName: nginx\n") + policy()
             + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")),
    RuleCase("MTLS714", "ok", "ingress-with-tls",
             F5_CLASS + ingress("api", "api.example.com", "    nginx.org/policies: mtls\n",
                                extra_spec="  ingressClassName: nginx\n  tls:\n  - hosts: [api.example.com]\n"
                                           "    secretName: api-tls\n") + policy()
             + secret("f5-ca", "  ca.crt: {CA}\n", type_="nginx.org/ca")),
    RuleCase("MTLS715", "fire", "insecure-fallback", gateway("AllowInsecureFallback") + GW_CM),
    RuleCase("MTLS715", "fire", "missing-configmap", gateway(ref="absent")),
    RuleCase("MTLS715", "ok", "allow-valid-only",
             gateway().replace("  # <- MTLS715", "") + GW_CM),
    # ingress-nginx on AWS with the NLB terminating TLS (ACM certificate), auth-tls on an Ingress:
    # every client gets 400 "No required SSL certificate was sent" (pattern of
    # kubernetes/ingress-nginx issues about auth-tls behind an AWS ELB/NLB with ssl-cert)
    # `kubectl create secret generic client-ca --from-file=ca.pem`: the key is the file name
    RuleCase("MTLS704", "fire", "ca-under-file-name-key",
             ingress("api", "api.example.com", A + "auth-tls-secret: prod/client-ca  # <- MTLS704\n")
             + secret("client-ca", "  ca.pem: {CA}\n")),
    RuleCase("MTLS716", "fire", "aws-nlb-terminates",
             ingress("api", "api.example.com", AUTH) + CA_SECRET + lb_service(
                 "    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:eu-west-1:1:certificate/x"
                 "  # <- MTLS716\n")),
    RuleCase("MTLS716", "ok", "tcp-passthrough-nlb",
             ingress("api", "api.example.com", AUTH) + CA_SECRET + lb_service(
                 "    service.beta.kubernetes.io/aws-load-balancer-type: nlb\n")),
    RuleCase("MTLS716", "ok", "no-mtls-configured",
             ingress("api", "api.example.com") + lb_service(
                 "    service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:eu-west-1:1:certificate/x\n")),
    # Traefik: `kubectl create secret generic client-ca --from-file=ca.pem` for a TLSOption
    RuleCase("MTLS718", "fire", "secret-key-ca-pem",
             tls_option(secret_line="    secretNames:\n    - client-ca  # <- MTLS718\n")
             + secret("client-ca", "  ca.pem: {CA}\n") + ingress_route("    options: {name: mtls}\n")),
    # the Ingress annotation written as the bare name (Traefik needs <ns>-<name>@kubernetescrd)
    RuleCase("MTLS718", "fire", "annotation-bare-name",
             tls_option() + CA_SECRET + ingress("api", "api.example.com",
                                                "    traefik.ingress.kubernetes.io/router.tls.options: mtls  # <- MTLS718\n")),
    RuleCase("MTLS718", "ok", "annotation-crd-id",
             tls_option() + CA_SECRET + ingress("api", "api.example.com",
                                                "    traefik.ingress.kubernetes.io/router.tls.options: prod-mtls@kubernetescrd\n")),
    RuleCase("MTLS718", "ok", "route-by-name", tls_option() + CA_SECRET + ingress_route("    options: {name: mtls}\n")),
    RuleCase("MTLS719", "fire", "option-not-referenced",
             tls_option().replace("spec:\n  clientAuth:\n", "spec:\n  clientAuth:  # <- MTLS719\n") + CA_SECRET
             + ingress_route()),
    RuleCase("MTLS719", "ok", "default-option", tls_option(name="default") + CA_SECRET + ingress_route()),
    RuleCase("MTLS717", "fire", "passthrough-with-flag",
             ingress("api", "api.example.com", AUTH + A + 'ssl-passthrough: "true"  # <- MTLS717\n') + CA_SECRET
             + controller_deployment("--enable-ssl-passthrough")),
    RuleCase("MTLS717", "fire", "passthrough-deployment-unknown",
             ingress("api", "api.example.com", AUTH + A + 'ssl-passthrough: "true"  # <- MTLS717\n') + CA_SECRET),
    RuleCase("MTLS717", "ok", "flag-not-set",
             ingress("api", "api.example.com", AUTH + A + 'ssl-passthrough: "true"\n') + CA_SECRET
             + controller_deployment("--ingress-class=nginx")),
]


def _findings(text: str):
    from tests.k8s.material import pki
    from mtls_doctor.pki.issue import pem

    text = manifest(text).replace("PEMCA", pem(pki()["root"].cert).decode().replace("\n", "\n    ").rstrip())
    return text, lint_manifests(parse_text(text, "case.yaml"), NOW).findings


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.code}-{c.kind}-{c.id}")
def test_case(case: RuleCase) -> None:
    text, findings = _findings(case.input)
    mine = [f for f in findings if f.rule == case.code]
    if case.kind == "ok":
        assert not mine, [str(f.location) + " " + f.message for f in mine]
        return
    marker = f"# <- {case.code}"
    lines = [n for n, line in enumerate(text.splitlines(), 1) if line.rstrip().endswith(marker)]
    assert lines, "a firing case marks its offending line"
    assert mine, f"{case.code} did not fire; got {[f.rule for f in findings]}"
    assert {f.location.line for f in mine} & set(lines), [(str(f.location), f.message) for f in mine]


def test_no_key_material_in_findings() -> None:
    from tests.k8s.material import values

    secret_values = set(values().values())
    for case in CASES:
        _text, findings = _findings(case.input)
        for f in findings:
            blob = f.message + (f.fix.text if f.fix else "")
            assert not any(v[:40] in blob for v in secret_values), f.rule
