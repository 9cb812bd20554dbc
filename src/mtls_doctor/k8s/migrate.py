"""``mtls-doctor migrate``: per host of an ingress-nginx setup, what changes in mTLS behaviour when
the host moves to another front end, side by side, and the resources to write there.

ingress-nginx was retired (last release controller-v1.15.1) and its official converter,
ingress2gateway, drops every ``auth-tls-*`` annotation, so a migration silently loses client
authentication unless somebody writes it again. This module starts from what ingress-nginx does
for each host (``ingress_nginx.host_auth``: the winning Ingress's auth-tls, the 403 of a denied
secret) and says, for each target, how the same client is treated (the enforcement layer: an
HTTP 400 page, a close without an answer (444) or a TLS alert), the depth, the CN match, the
error page, the identity headers and their format, the optional modes and the CRL, then writes
the target's resources with what they cannot express.

Where the targets' behaviour comes from (the nginx-based ones are also run on real nginx in
tests/k8s/test_migrate.py: the resources written here, rendered by ``f5``/``gateway``, answer
as the table says):

- F5 NGINX Ingress Controller: ``mtls_doctor.k8s.f5`` (nginx/kubernetes-ingress at 0eb3072d1,
  ``internal/configs/policy.go``, ``version2/nginx.virtualserver.tmpl``): ``Policy``
  ``spec.ingressMTLS``, server-level verify, no error page and no identity headers;
- NGINX Gateway Fabric: ``mtls_doctor.k8s.gateway`` (nginx/nginx-gateway-fabric at e55bfe339,
  ``servers_template.go``): depth fixed at 4, ``return 444`` on a missing or bad certificate,
  AllowInsecureFallback = ``optional_no_ca`` without a CA;
- Envoy Gateway: ``ClientTrafficPolicy`` ``spec.tls.clientValidation`` (``caCertificateRefs``,
  ``optional``) and ``spec.headers.xForwardedClientCert`` (``mode``, ``certDetailsToAdd``),
  https://gateway.envoyproxy.io/docs/concepts/gateway_api_extensions/client-traffic-policy ;
  Envoy rejects in the TLS handshake;
- Istio: ``Gateway`` ``servers[].tls.mode: MUTUAL | OPTIONAL_MUTUAL`` with ``credentialName``
  (a Secret holding ``tls.crt``, ``tls.key`` and ``ca.crt``, optionally ``ca.crl``) and
  ``subjectAltNames`` (SANs, not the CN); identity in ``x-forwarded-client-cert`` as set by the
  gateway's ``forwardClientCertDetails``, https://istio.io/latest/docs/reference/config/networking/gateway/ ;
- Traefik: ``TLSOption`` ``spec.clientAuth`` (``secretNames``, ``clientAuthType``) rejects in
  the Go TLS handshake; identity by the ``passTLSClientCert`` middleware in
  ``X-Forwarded-Tls-Client-Cert`` (the PEM body, URL-escaped),
  https://doc.traefik.io/traefik/middlewares/http/passtlsclientcert/ ; Traefik v3's
  ingress-nginx provider reads ``auth-tls-secret`` and ``auth-tls-verify-client`` only
  (traefik/traefik ``pkg/provider/kubernetes/ingress-nginx``, commit 1bc9569, 2026-01-29).

Invariant: no I/O; manifests in, ``HostPlan`` values out. A CA certificate is copied into the
resources written (public material); a Secret's ``tls.key`` never is.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Sequence

from mtls_doctor.k8s import ingress_nginx as inx
from mtls_doctor.k8s.manifests import ManifestSet, secret_data

#: the targets, in the order of the table
TARGETS = ("nginx-ingress", "nginx-gateway-fabric", "envoy-gateway", "istio", "traefik")
SOURCE = "ingress-nginx"
TITLES = {
    SOURCE: "ingress-nginx (today)",
    "nginx-ingress": "F5 NGINX Ingress",
    "nginx-gateway-fabric": "NGINX Gateway Fabric",
    "envoy-gateway": "Envoy Gateway",
    "istio": "Istio gateway",
    "traefik": "Traefik",
}
#: the aspects compared, in the order of the table rows
ASPECTS = ("no_cert", "bad_cert", "optional", "depth", "cn_match", "error_page", "headers", "crl")
ASPECT_TITLES = {
    "no_cert": "no client certificate", "bad_cert": "a certificate of another CA",
    "optional": "optional mode", "depth": "chain depth", "cn_match": "CN match",
    "error_page": "error page", "headers": "identity to the backend", "crl": "CRL",
}

#: machine outcomes of a request (the "no_cert"/"bad_cert" cells), for tests and JSON
HTTP_400, CLOSE_444, TLS_ALERT, PASSES, HTTP_403, REDIRECT = (
    "http-400", "close-444", "tls-alert", "passes", "http-403", "redirect")


@dataclass(frozen=True)
class Cell:
    text: str
    outcome: str = ""  # one of the outcomes above, for no_cert / bad_cert
    changed: bool = False  # differs from ingress-nginx today
    key: str = ""  # the behaviour in a comparable word (aspects other than no_cert / bad_cert)


@dataclass(frozen=True)
class Column:
    target: str
    cells: dict[str, Cell]
    resources: str  # YAML to apply on the target
    cannot: tuple[str, ...] = ()  # what the target cannot express of today's behaviour


@dataclass(frozen=True)
class HostPlan:
    host: str
    ingress: str  # namespace/name of the Ingress whose auth-tls is in effect
    mode: str  # ssl_verify_client today ("" when the host is denied or has no CA)
    depth: int
    error_page: str
    pass_cert: bool
    match_cn: str
    crl: bool
    ca_secret: str  # namespace/name
    denied: str | None
    columns: tuple[Column, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"host": self.host, "ingress": self.ingress, "verify_client": self.mode,
                "verify_depth": self.depth, "error_page": self.error_page,
                "pass_certificate": self.pass_cert, "match_cn": self.match_cn, "crl": self.crl,
                "ca_secret": self.ca_secret, "denied": self.denied, "notes": list(self.notes),
                "columns": [{"target": c.target, "cells": {k: {"text": v.text, "outcome": v.outcome,
                                                                 "changed": v.changed}
                                                             for k, v in c.cells.items()},
                             "resources": c.resources, "cannot": list(c.cannot)} for c in self.columns]}


# ------------------------------------------------------------------------------ behaviour


def _today(p: HostPlan) -> dict[str, Cell]:
    """What ingress-nginx v1.15.1 does for the host (nginx.tmpl, authtls/main.go)."""
    if p.denied:
        c = Cell(f"403 for every request of the host (secret unusable: {p.denied})", HTTP_403)
        return {a: c if a in ("no_cert", "bad_cert") else Cell("-") for a in ASPECTS}
    page = (Cell(f"error_page 495 496 = {p.error_page} (the client is redirected)", REDIRECT)
            if p.error_page else None)
    if p.mode == "on":
        no_cert = page or Cell("HTTP 400 \"No required SSL certificate was sent\"", HTTP_400)
        bad = page or Cell("HTTP 400 \"The SSL certificate error\"", HTTP_400)
    elif p.mode == "optional":
        no_cert = Cell("passes (ssl-client-verify: NONE)", PASSES)
        bad = page or Cell("HTTP 400 \"The SSL certificate error\"", HTTP_400)
    else:  # optional_no_ca
        no_cert = Cell("passes (ssl-client-verify: NONE)", PASSES)
        bad = Cell("passes (ssl-client-verify: FAILED:...)", PASSES)
    cn = (Cell(f"server-level if: 403 unless $ssl_client_s_dn ~ {p.match_cn} (also port 80 and ACME)")
          if p.match_cn else Cell("none"))
    headers = "ssl-client-verify, ssl-client-subject-dn, ssl-client-issuer-dn (RFC 2253 DN)"
    if p.pass_cert:
        headers += ", ssl-client-cert (URL-escaped PEM, $ssl_client_escaped_cert)"
    return {
        "no_cert": no_cert, "bad_cert": bad,
        "optional": Cell(f"ssl_verify_client {p.mode}", key=p.mode),
        "depth": Cell(f"ssl_verify_depth {p.depth}", key=str(p.depth)),
        "cn_match": Cell(cn.text, key="cn" if p.match_cn else "none"),
        "error_page": Cell(f"error_page 495 496 = {p.error_page}" if p.error_page else "nginx's 400 page",
                           key="page" if p.error_page else "400"),
        "headers": Cell(headers + "; not cleared when a client sends them", key="ssl-client"),
        "crl": Cell("ssl_crl from the Secret's ca.crl" if p.crl else "none", key="crl" if p.crl else "none"),
    }


def _f5(p: HostPlan) -> tuple[dict[str, Cell], tuple[str, ...]]:
    mode = p.mode
    no_cert = Cell("HTTP 400 \"No required SSL certificate was sent\"", HTTP_400) if mode == "on" \
        else Cell("passes", PASSES)
    bad = Cell("passes ($ssl_client_verify FAILED:...)", PASSES) if mode == "optional_no_ca" \
        else Cell("HTTP 400 \"The SSL certificate error\"", HTTP_400)
    cannot = []
    if p.error_page:
        cannot.append("auth-tls-error-page: no field (only a server-snippets error_page 495 496)")
    if p.match_cn:
        cannot.append("auth-tls-match-cn: no field (only a server-snippets `if ($ssl_client_s_dn !~ ...)`)")
    cannot.append("identity headers: none are passed; add proxy_set_header ssl-client-* in "
                  "location-snippets (and clear them on every other host)")
    return {
        "no_cert": no_cert, "bad_cert": bad,
        "optional": Cell(f"verifyClient: \"{mode}\" (the same nginx modes)", key=mode),
        "depth": Cell(f"verifyDepth: {p.depth} (default 1, as today)", key=str(p.depth)),
        "cn_match": Cell("not expressible (snippets only)" if p.match_cn else "none",
                         key="lost" if p.match_cn else "none"),
        "error_page": Cell("nginx's 400 page (no error page field)", key="400"),
        "headers": Cell("none by default (snippets)", key="none"),
        "crl": Cell("Secret key ca.crl or crlFileName" if p.crl else "none", key="crl" if p.crl else "none"),
    }, tuple(cannot)


def _ngf(p: HostPlan) -> tuple[dict[str, Cell], tuple[str, ...]]:
    cannot = []
    if p.mode == "on":
        no_cert = Cell("connection closed without an answer (return 444)", CLOSE_444)
        bad = Cell("connection closed without an answer (return 444)", CLOSE_444)
        optional = Cell("mode: AllowValidOnly (= on)", key="on")
    else:
        no_cert = Cell("passes", PASSES)
        bad = Cell("passes: AllowInsecureFallback is optional_no_ca, no CA at all", PASSES)
        optional = Cell("mode: AllowInsecureFallback (= optional_no_ca, certificates NOT verified)",
                        key="optional_no_ca")
        if p.mode == "optional":
            cannot.append("verify-client optional (verify when sent): AllowInsecureFallback verifies "
                          "nothing; a certificate of any CA is let through")
    depth_note = f"4, fixed (today {p.depth}: " + (
        "chains with up to 3 intermediates are now accepted)" if p.depth < 4 else
        "longer chains are now refused)" if p.depth > 4 else "the same)")
    if p.depth > 4:
        cannot.append(f"auth-tls-verify-depth {p.depth}: the depth is fixed at 4")
    if p.error_page:
        cannot.append("auth-tls-error-page: failures always close the connection (444)")
    if p.match_cn:
        cannot.append("auth-tls-match-cn: no field (a SnippetsFilter, when enabled)")
    if p.crl:
        cannot.append("ca.crl: the frontend validation has no CRL")
    cannot.append("identity headers: none are passed to the backend")
    return {
        "no_cert": no_cert, "bad_cert": bad, "optional": optional,
        "depth": Cell(depth_note, key="4"),
        "cn_match": Cell("not expressible" if p.match_cn else "none", key="lost" if p.match_cn else "none"),
        "error_page": Cell("none: 444 closes the connection", key="444"),
        "headers": Cell("none", key="none"),
        "crl": Cell("not expressible" if p.crl else "none", key="lost" if p.crl else "none"),
    }, tuple(cannot)


def _tls_layer(p: HostPlan, target: str) -> tuple[dict[str, Cell], tuple[str, ...]]:
    """Envoy Gateway, Istio, Traefik: the handshake itself fails (no HTTP answer, no page)."""
    alert = Cell("TLS handshake fails (alert certificate_required / bad_certificate), no HTTP answer", TLS_ALERT)
    cannot: list[str] = []
    optional_map = {
        "envoy-gateway": ("clientValidation.optional: true (verified when sent)", "not expressible"),
        "istio": ("mode: OPTIONAL_MUTUAL (verified when sent)", "not expressible"),
        "traefik": ("clientAuthType: VerifyClientCertIfGiven", "clientAuthType: RequestClientCert (not verified)"),
    }
    verify_opt, no_ca = optional_map[target]
    if p.mode == "on":
        no_cert, bad = alert, alert
        optional = Cell({"envoy-gateway": "clientValidation (optional: false)", "istio": "mode: MUTUAL",
                         "traefik": "clientAuthType: RequireAndVerifyClientCert"}[target], key="on")
    elif p.mode == "optional":
        no_cert, bad, optional = Cell("passes", PASSES), alert, Cell(verify_opt, key="optional")
    else:
        no_cert = Cell("passes", PASSES)
        optional = Cell(no_ca, key="optional_no_ca" if target == "traefik" else "lost")
        bad = Cell("passes (not verified)", PASSES) if target == "traefik" else alert
        if target != "traefik":
            cannot.append("optional_no_ca (let unverified certificates through): not expressible")
    if p.error_page:
        cannot.append("auth-tls-error-page: the failure is a TLS alert, no HTTP page can be shown")
    depth = {"envoy-gateway": "no depth field: any chain to the CA", "istio": "no depth field: any chain to the CA",
             "traefik": "no depth limit (Go crypto/x509)"}[target]
    if p.mode:
        cannot.append(f"auth-tls-verify-depth {p.depth}: no depth limit, clients under more "
                      "intermediates are now accepted")
    cn = {"envoy-gateway": "not in clientValidation (an authorization step on the forwarded Subject)",
          "istio": "tls.subjectAltNames matches SANs in the handshake (not the CN)",
          "traefik": "not expressible in TLSOption"}[target]
    if p.match_cn:
        cannot.append(f"auth-tls-match-cn: {cn}")
    headers = {
        "envoy-gateway": "x-forwarded-client-cert (XFCC: Hash=..;Cert=\"URL-escaped PEM\";Subject=\"..\") "
                         "with headers.xForwardedClientCert; default Sanitize: removed, nothing added",
        "istio": "x-forwarded-client-cert (XFCC), per the gateway's forwardClientCertDetails",
        "traefik": "X-Forwarded-Tls-Client-Cert (PEM body, URL-escaped) and -Info with the "
                   "passTLSClientCert middleware",
    }[target]
    if p.mode:
        cannot.append("ssl-client-verify / ssl-client-subject-dn / ssl-client-issuer-dn headers: the "
                      "backend must read " + headers.split(" (")[0] + " instead")
    crl = {"envoy-gateway": "not in the fields read (caCertificateRefs, optional)",
           "istio": "credentialName Secret key ca.crl", "traefik": "not expressible (no CRL in TLSOption)"}[target]
    if p.crl and target != "istio":
        cannot.append(f"ca.crl: {crl}")
    return {
        "no_cert": no_cert, "bad_cert": bad, "optional": optional, "depth": Cell(depth, key="unlimited"),
        "cn_match": Cell(cn if p.match_cn else "none",
                         key="none" if not p.match_cn else "san" if target == "istio" else "lost"),
        "error_page": Cell("none: a TLS alert (browsers show their own error)", key="alert"),
        "headers": Cell(headers, key=target),
        "crl": Cell(crl if p.crl else "none", key="none" if not p.crl else "crl" if target == "istio" else "lost"),
    }, tuple(cannot)


# ------------------------------------------------------------------------------ resources


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem_block(data: bytes, indent: str) -> str:
    text = data.decode("ascii", "replace").strip("\n")
    return "\n".join(indent + line for line in text.splitlines())


def _ca_configmap(name: str, ns: str, ca: bytes) -> str:
    """The ConfigMap ``<name>-client-ca`` holding the client CA as PEM under ``ca.crt`` (what
    NGINX Gateway Fabric and Envoy Gateway read a frontend validation CA from)."""
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-client-ca\n  namespace: {ns}\n"
            f"data:\n  ca.crt: |\n{_pem_block(ca, '    ')}\n")


def _resources(p: HostPlan, target: str, ca: bytes, crl: bytes, ns: str, tls_secret: str,
               service: str) -> str:
    name = p.host.replace("*", "wildcard").replace(".", "-").strip("-") or "catch-all"
    host = p.host if p.host != inx.CATCH_ALL else "example.com  # the Ingress had no host: name one"
    svc, _, port = service.partition(":")
    port = port or "80"
    if target == "nginx-ingress":
        crl_line = f"  ca.crl: {_b64(crl)}\n" if crl else ""
        return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-client-ca\n  namespace: {ns}\n"
                f"type: nginx.org/ca\ndata:\n  ca.crt: {_b64(ca)}\n{crl_line}"
                f"---\napiVersion: k8s.nginx.org/v1\nkind: Policy\nmetadata:\n  name: {name}-mtls\n  namespace: {ns}\n"
                f"spec:\n  ingressMTLS:\n    clientCertSecret: {name}-client-ca\n"
                f"    verifyClient: \"{p.mode}\"\n    verifyDepth: {p.depth}\n"
                f"---\napiVersion: k8s.nginx.org/v1\nkind: VirtualServer\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                f"spec:\n  host: {host}\n  tls:\n    secret: {tls_secret}\n  policies:\n  - name: {name}-mtls\n"
                f"  upstreams:\n  - name: backend\n    service: {svc}\n    port: {port}\n"
                f"  routes:\n  - path: /\n    action:\n      pass: backend\n")
    if target == "nginx-gateway-fabric":
        mode = "AllowValidOnly" if p.mode == "on" else "AllowInsecureFallback"
        return (_ca_configmap(name, ns, ca) +
                f"---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                f"spec:\n  gatewayClassName: nginx\n  listeners:\n  - name: https\n    port: 443\n    protocol: HTTPS\n"
                f"    hostname: {host}\n    tls:\n      mode: Terminate\n      certificateRefs:\n      - name: {tls_secret}\n"
                f"  tls:\n    frontend:\n      default:\n        validation:\n          mode: {mode}\n"
                f"          caCertificateRefs:\n          - kind: ConfigMap\n            group: \"\"\n"
                f"            name: {name}-client-ca\n"
                f"---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
                f"spec:\n  parentRefs:\n  - name: {name}\n  hostnames:\n  - {host}\n  rules:\n"
                f"  - backendRefs:\n    - name: {svc}\n      port: {port}\n")
    if target == "envoy-gateway":
        optional = "\n      optional: true" if p.mode != "on" else ""
        return (_ca_configmap(name, ns, ca) +
                f"---\n# the Gateway and HTTPRoute as for Gateway API (gatewayClassName: eg)\n"
                f"apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: ClientTrafficPolicy\nmetadata:\n"
                f"  name: {name}-mtls\n  namespace: {ns}\nspec:\n  targetRefs:\n  - group: gateway.networking.k8s.io\n"
                f"    kind: Gateway\n    name: {name}\n  tls:\n    clientValidation:{optional}\n"
                f"      caCertificateRefs:\n      - kind: ConfigMap\n        group: \"\"\n        name: {name}-client-ca\n"
                f"  headers:\n    xForwardedClientCert:\n      mode: SanitizeSet\n"
                f"      certDetailsToAdd: [Subject]\n")
    if target == "istio":
        mode = "MUTUAL" if p.mode == "on" else "OPTIONAL_MUTUAL"
        crl_line = f"  ca.crl: {_b64(crl)}\n" if crl else ""
        return (f"# the server certificate and key: copy tls.crt/tls.key of Secret {ns}/{tls_secret} into this\n"
                f"# Secret (in the gateway's namespace); ca.crt is the client CA\n"
                f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-credential\n  namespace: istio-system\n"
                f"type: Opaque\ndata:\n  tls.crt: <tls.crt of {ns}/{tls_secret}>\n  tls.key: <tls.key of {ns}/{tls_secret}>\n"
                f"  ca.crt: {_b64(ca)}\n{crl_line}"
                f"---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: istio-system\n"
                f"spec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - port: {{number: 443, name: https, protocol: HTTPS}}\n"
                f"    hosts: [\"{p.host}\"]\n    tls:\n      mode: {mode}\n      credentialName: {name}-credential\n")
    # traefik
    auth = {"on": "RequireAndVerifyClientCert", "optional": "VerifyClientCertIfGiven"}.get(p.mode, "RequestClientCert")
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-client-ca\n  namespace: {ns}\n"
            f"data:\n  ca.crt: {_b64(ca)}\n"
            f"---\napiVersion: traefik.io/v1alpha1\nkind: TLSOption\nmetadata:\n  name: {name}-mtls\n  namespace: {ns}\n"
            f"spec:\n  clientAuth:\n    secretNames: [{name}-client-ca]\n    clientAuthType: {auth}\n"
            f"---\napiVersion: traefik.io/v1alpha1\nkind: Middleware\nmetadata:\n  name: {name}-client-cert\n"
            f"  namespace: {ns}\nspec:\n  passTLSClientCert:\n    pem: true\n"
            f"---\napiVersion: traefik.io/v1alpha1\nkind: IngressRoute\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
            f"spec:\n  entryPoints: [websecure]\n  routes:\n  - match: Host(`{p.host}`)\n    kind: Rule\n"
            f"    middlewares: [{{name: {name}-client-cert}}]\n    services: [{{name: {svc}, port: {port}}}]\n"
            f"  tls:\n    secretName: {tls_secret}\n    options: {{name: {name}-mtls}}\n")


# ------------------------------------------------------------------------------ the plan


def _changed(new: Cell, old: Cell) -> bool:
    if new.outcome and old.outcome:
        return new.outcome != old.outcome
    return new.key != old.key


def plan(mset: ManifestSet, targets: Sequence[str] = TARGETS) -> tuple[HostPlan, ...]:
    """One HostPlan per ingress-nginx host that has (or tried to have) client auth."""
    out: list[HostPlan] = []
    for ha in inx.host_auth(mset):
        auth = ha.auth or ha.denied
        if auth is None:
            continue
        notes: list[str] = []
        material = auth.material if ha.auth is not None else None
        ca = b""
        crl = b""
        if material is not None and material.secret is not None:
            data = secret_data(material.secret).values
            ca = data.get("ca.crt", b"")  # only the CA: never tls.key, even when the Secret holds it
            crl = data.get("ca.crl", b"")
            if material.server_pair_in_ca:
                notes.append("the auth-tls Secret also holds tls.crt/tls.key: today the server "
                             "certificate is a trusted client CA too (MTLS706); only ca.crt is carried over")
        ignored = [c for c in ha.candidates if c is not auth]
        if ignored:
            notes.append("ignored today, and not carried over: the auth-tls of "
                         + ", ".join(c.ingress.ref for c in ignored) + " (the oldest Ingress of the host wins)")
        if ha.host == inx.CATCH_ALL:
            notes.append("the Ingress has no host: today mTLS is on the catch-all server `_` "
                         "(every unknown name); the targets need a hostname")
        ns = auth.ingress.namespace or "default"
        tls_secret = ha.tls_secret[1] if ha.tls_secret else f"{ha.host.replace('.', '-')}-tls"
        service = next((pr.service for pr in ha.paths), "backend:80")
        p = HostPlan(host=ha.host, ingress=auth.ingress.ref, mode=auth.verify_client if ha.auth else "",
                     depth=auth.depth, error_page=auth.error_page, pass_cert=auth.pass_cert,
                     match_cn=auth.match_cn, crl=bool(crl), ca_secret=auth.secret,
                     denied=ha.denied.denied if ha.auth is None and ha.denied is not None else None,
                     notes=tuple(notes))
        today = _today(p)
        cols = [Column(SOURCE, today, "", ())]
        if p.denied is None:
            for target in targets:
                if target == "nginx-ingress":
                    cells, cannot = _f5(p)
                elif target == "nginx-gateway-fabric":
                    cells, cannot = _ngf(p)
                else:
                    cells, cannot = _tls_layer(p, target)
                cells = {k: Cell(v.text, v.outcome, _changed(v, today[k]), v.key) for k, v in cells.items()}
                cols.append(Column(target, cells, _resources(p, target, ca, crl, ns, tls_secret, service),
                                   cannot))
        else:
            p = HostPlan(**{**p.__dict__, "notes": p.notes + (
                "fix the auth-tls Secret first: there is no working client auth to migrate",)})
        out.append(HostPlan(**{**p.__dict__, "columns": tuple(cols)}))
    return tuple(out)
