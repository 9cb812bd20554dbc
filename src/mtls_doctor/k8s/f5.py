"""The F5 NGINX Ingress Controller (nginx/kubernetes-ingress): ``Policy`` ``spec.ingressMTLS``
-> the server block of a VirtualServer (or of an Ingress through ``nginx.org/policies``).

Read from nginx/kubernetes-ingress at commit 0eb3072d1 (main after v5.5.4):

- ``internal/configs/policy.go`` ``addIngressMTLSConfig``: only in the spec (server) context
  (a route or minion gets a warning and the policy is an error), TLS must be enabled, one
  ingressMTLS policy per server (a second is ignored), the secret must exist and be of type
  ``nginx.org/ca``; defaults ``verifyClient on``, ``verifyDepth 1``; ``crlFileName`` (a file in
  /etc/nginx/secrets) wins over the Secret's ``ca.crl``;
- ``internal/k8s/secrets/validation.go`` ``ValidateCASecret``: type ``nginx.org/ca``, key
  ``ca.crt`` holding a CERTIFICATE PEM block that parses;
- ``internal/configs/configurator.go`` ``AddOrUpdateSecret``: the files are
  ``/etc/nginx/secrets/<namespace>-<name>-ca.crt`` and ``...-ca.crl``;
- ``internal/configs/version2/nginx.virtualserver.tmpl`` and ``version1/nginx.ingress.tmpl``:
  ``ssl_client_certificate``, ``ssl_crl``, ``ssl_verify_client``, ``ssl_verify_depth`` at server
  level; no error_page, no identity headers (``$ssl_client_*`` are passed only with
  ``proxy_set_header`` in a snippet or an ``nginx.org/location-snippets``);
- ``pkg/apis/configuration/validation/policy.go`` ``validateIngressMTLS``: ``verifyClient`` one
  of on/off/optional/optional_no_ca and ``verifyDepth`` >= 0, else the Policy is invalid and
  every route that references it answers 500 (``policy.go`` ``ErrorReturn{Code: 500}``).

The controller ignores every ``nginx.ingress.kubernetes.io/*`` annotation. Its default server
(``internal/configs/version1/nginx.ingress.tmpl`` with ``IsDefaultServer``, ``location / { return
404; }``) is rendered as it runs without ``-default-server-tls-secret`` and without
``/etc/nginx/secrets/default`` (``cmd/nginx-ingress/flags.go``): ``ssl_reject_handshake on``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mtls_doctor.k8s.manifests import ManifestSet, Node, Resource, at, items, secret_data
from mtls_doctor.k8s.render import Controller, Line, Origin, RenderedServer, Rendering, origin
from mtls_doctor.pki.verify import VERIFY_CLIENT_MODES

PREFIX = "nginx.org/"
POLICIES = PREFIX + "policies"
CONTROLLER_NAME = "nginx.org/ingress-controller"
SECRET_TYPE_CA = "nginx.org/ca"
SECRETS_DIR = "/etc/nginx/secrets"


@dataclass(frozen=True)
class MTLSPolicy:
    policy: Resource
    secret: str
    verify_client: str
    depth: int
    crl_file: str
    #: why the controller refuses it (then routes answer 500), else None
    invalid: str | None
    ca_path: str | None = None
    ca_bytes: bytes = b""
    crl_path: str | None = None
    crl_bytes: bytes = b""


def parse_policy(policy: Resource, mset: ManifestSet) -> MTLSPolicy | None:
    spec = at(policy.body, "spec", "ingressMTLS")
    if not isinstance(spec, Node):
        return None
    secret = str(at(spec, "clientCertSecret") or "")
    verify = at(spec, "verifyClient")
    depth = at(spec, "verifyDepth")
    crl = str(at(spec, "crlFileName") or "")
    invalid = None
    if not secret:
        invalid = "spec.ingressMTLS.clientCertSecret is required"
    elif verify not in (None, "") and verify not in VERIFY_CLIENT_MODES:
        invalid = f"spec.ingressMTLS.verifyClient {verify!r} is not one of on, off, optional, optional_no_ca"
    elif depth is not None and (not isinstance(depth, int) or depth < 0):
        invalid = f"spec.ingressMTLS.verifyDepth {depth!r} must be an integer >= 0"
    ns = policy.namespace or "default"
    out = dict(policy=policy, secret=secret, verify_client=str(verify or "on"),
               depth=depth if isinstance(depth, int) and depth >= 0 else 1, crl_file=crl)
    if invalid:
        return MTLSPolicy(invalid=invalid, **out)
    res = mset.find("Secret", ns, secret)
    if res is None:
        return MTLSPolicy(invalid=f"references a non-existent secret {ns}/{secret}", **out)
    data = secret_data(res)
    if data.type != SECRET_TYPE_CA:
        return MTLSPolicy(invalid=f"references a secret {ns}/{secret} of a wrong type {data.type!r}, must be "
                                  f"{SECRET_TYPE_CA!r}", **out)
    ca = data.values.get("ca.crt")
    if ca is None:
        return MTLSPolicy(invalid=f"secret {ns}/{secret}: CA secret must have the data field ca.crt", **out)
    m = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----", ca)
    if m is None or m.group(1) != b"CERTIFICATE":
        return MTLSPolicy(invalid=f"secret {ns}/{secret}: ca.crt must hold a valid CERTIFICATE PEM block", **out)
    base = f"{SECRETS_DIR}/{ns}-{secret}"
    crl_path, crl_bytes = None, b""
    if crl:
        crl_path = f"{SECRETS_DIR}/{crl}"
    elif "ca.crl" in data.values:
        crl_path, crl_bytes = f"{base}-ca.crl", data.values["ca.crl"]
    return MTLSPolicy(invalid=None, ca_path=f"{base}-ca.crt", ca_bytes=ca, crl_path=crl_path,
                      crl_bytes=crl_bytes, **out)


def _refs(value: object, namespace: str) -> list[tuple[str, str]]:
    out = []
    for item in items(value):
        name = at(item, "name")
        if isinstance(name, str):
            out.append(((at(item, "namespace") or namespace or "default"), name))
    return out


def handled_ingress(ingress: Resource, mset: ManifestSet) -> bool:
    from mtls_doctor.k8s.ingress_nginx import class_controllers, ingress_class

    cls = ingress_class(ingress)
    ctl = class_controllers(mset).get(cls or "")
    return ctl == CONTROLLER_NAME


def annotation_refs(ingress: Resource) -> list[tuple[str, str]]:
    """``nginx.org/policies: "a, ns/b"`` (ingress.go getIngressPolicyRefs): (namespace, name)."""
    out = []
    for item in ingress.annotations.get(POLICIES, "").split(","):
        item = item.strip()
        if item:
            ns, _, name = item.rpartition("/")
            out.append((ns or ingress.namespace or "default", name))
    return out


def _ingress_policy_lines(ing: Resource, mset: ManifestSet, tls: bool, files: dict[str, bytes]) -> tuple[list[Line], bool]:
    """The server-level lines of an Ingress's nginx.org/policies (ingress.go generatePolicies in
    the spec context; version1/nginx.ingress.tmpl ``$server.IngressMTLS`` and
    ``PoliciesErrorReturn``): (lines, the server returns 500)."""
    lines: list[Line] = []
    src = Origin(ing, f"metadata.annotations.{POLICIES}", ing.annotation_location(POLICIES))
    done = False
    for pns, pname in annotation_refs(ing):
        pol = mset.find("Policy", pns, pname)
        if pol is None:
            lines.append(Line(f"    # Policy {pns}/{pname} is missing or invalid", src))
            return lines, True
        parsed = parse_policy(pol, mset)
        if parsed is None or done:
            continue
        if parsed.invalid or not tls:
            lines.append(Line(f"    # Policy {pns}/{pname}: {parsed.invalid or 'TLS must be enabled'}", src))
            return lines, True
        done = True
        lines += _mtls_lines(parsed, files, field_origins=False)
    return lines, False


def _mtls_lines(parsed: MTLSPolicy, files: dict[str, bytes], field_origins: bool) -> list[Line]:
    """The server-level lines of a valid ingressMTLS policy (the same in nginx.ingress.tmpl and
    nginx.virtualserver.tmpl), its CA (and CRL) content put in ``files``. ``field_origins``: the
    verify lines point at ``verifyClient``/``verifyDepth`` (a VirtualServer), else at the
    ``ingressMTLS`` block (an Ingress)."""
    po = origin(parsed.policy, "spec", "ingressMTLS")
    lines = [Line(f"    ssl_client_certificate {parsed.ca_path};", po)]
    files[parsed.ca_path] = parsed.ca_bytes  # type: ignore[index]
    if parsed.crl_path:
        lines.append(Line(f"    ssl_crl {parsed.crl_path};", po))
        if parsed.crl_bytes:
            files[parsed.crl_path] = parsed.crl_bytes
    vo = origin(parsed.policy, "spec", "ingressMTLS", "verifyClient") if field_origins else po
    do = origin(parsed.policy, "spec", "ingressMTLS", "verifyDepth") if field_origins else po
    lines.append(Line(f"    ssl_verify_client {parsed.verify_client};", vo))
    lines.append(Line(f"    ssl_verify_depth {parsed.depth};", do))
    return lines


def _ingress_servers(mset: ManifestSet, files: dict[str, bytes]) -> list[RenderedServer]:
    """F5-class Ingresses with nginx.org/policies: one server per rule host (nginx.ingress.tmpl)."""
    out = []
    for ing in mset.of_kind("Ingress"):
        if not handled_ingress(ing, mset) or POLICIES not in ing.annotations:
            continue
        ns = ing.namespace or "default"
        tls_hosts: dict[str, str] = {}
        for t in items(at(ing.body, "spec", "tls")):
            for h in items(at(t, "hosts")):
                tls_hosts[str(h)] = str(at(t, "secretName") or "")
        for ri, rule in enumerate(items(at(ing.body, "spec", "rules"))):
            host = str(at(rule, "host") or "_")
            made = origin(ing, "spec", "rules", ri)
            tls = bool(at(ing.body, "spec", "tls"))
            lines = [Line("server {", made), Line("    listen 80;", made)]
            if tls:
                secret = tls_hosts.get(host, "")
                lines += [Line("    listen 443 ssl;", origin(ing, "spec", "tls")),
                          Line(f"    ssl_certificate {SECRETS_DIR}/{ns}-{secret};", origin(ing, "spec", "tls")),
                          Line(f"    ssl_certificate_key {SECRETS_DIR}/{ns}-{secret};", origin(ing, "spec", "tls"))]
            lines.append(Line(f"    server_name {host};", made))
            policy_lines, error_500 = _ingress_policy_lines(ing, mset, tls, files)
            lines += policy_lines
            if tls and _ssl_redirect(ing):  # nginx.ingress.tmpl: after the ingressMTLS lines
                lines.append(Line("    if ($scheme = http) { return 301 https://$host:443$request_uri; }",
                                  origin(ing, "spec", "tls")))
            if error_500:
                lines.append(Line("    return 500;", Origin(ing, f"metadata.annotations.{POLICIES}",
                                                          ing.annotation_location(POLICIES))))
            for pi, p in enumerate(items(at(rule, "http", "paths"))):
                po = origin(ing, "spec", "rules", ri, "http", "paths", pi)
                lines += [Line(f"    location {at(p, 'path') or '/'} {{", po),
                          Line("        proxy_pass http://upstream;", po), Line("    }", po)]
            lines.append(Line("}", made))
            out.append(RenderedServer(controller=Controller.F5_NGINX_INGRESS, host=host, lines=tuple(lines),
                                      origin=made, resources=(ing,)))
    return out


def _ssl_redirect(ing: Resource) -> bool:
    """annotations.go: ``nginx.org/ssl-redirect``, else ``ingress.kubernetes.io/ssl-redirect``,
    else the ConfigMap's ``ssl-redirect`` (config_params.go default true; the ConfigMap is not
    read here). An unparsable value keeps the default."""
    for name in (PREFIX + "ssl-redirect", "ingress.kubernetes.io/ssl-redirect"):
        value = ing.annotations.get(name)
        if value is not None:
            return {"true": True, "false": False, "1": True, "0": False, "t": True, "f": False,
                    "True": True, "False": False, "TRUE": True, "FALSE": False}.get(value, True)
    return True


def render(mset: ManifestSet) -> Rendering | None:
    servers: list[RenderedServer] = []
    files: dict[str, bytes] = {}
    servers += _ingress_servers(mset, files)
    for vs in mset.of_kind("VirtualServer"):
        host = at(vs.body, "spec", "host")
        tls_secret = at(vs.body, "spec", "tls", "secret")
        ns = vs.namespace or "default"
        made = origin(vs, "spec", "host")
        lines = [Line("server {", made), Line("    listen 80;", made)]
        if tls_secret:
            lines += [Line("    listen 443 ssl;", origin(vs, "spec", "tls")),
                      Line(f"    ssl_certificate {SECRETS_DIR}/{ns}-{tls_secret};", origin(vs, "spec", "tls", "secret")),
                      Line(f"    ssl_certificate_key {SECRETS_DIR}/{ns}-{tls_secret};", origin(vs, "spec", "tls", "secret"))]
        lines.append(Line(f"    server_name {host};", made))
        spec_policies = at(vs.body, "spec", "policies")
        mtls_done = False
        error_500 = False
        for i, (pns, pname) in enumerate(_refs(spec_policies, ns)):
            pol = mset.find("Policy", pns, pname)
            parsed = parse_policy(pol, mset) if pol is not None else None
            if parsed is None or mtls_done:
                continue
            src = origin(vs, "spec", "policies", i)
            if parsed.invalid or not tls_secret:
                error_500 = True
                lines.append(Line(f"    # Policy {pns}/{pname}: {parsed.invalid or 'TLS must be enabled'}", src))
                continue
            mtls_done = True
            lines += _mtls_lines(parsed, files, field_origins=True)
        redirect = at(vs.body, "spec", "tls", "redirect")
        if tls_secret and at(redirect, "enable") is True:  # virtualserver.go generateTLSRedirectConfig
            based = "$http_x_forwarded_proto" if at(redirect, "basedOn") == "x-forwarded-proto" else "$scheme"
            code = at(redirect, "code")
            code = code if code in (301, 302, 307, 308) else 301
            lines.append(Line(f"    if ({based} = 'http') {{ return {code} https://$host$request_uri; }}",
                              origin(vs, "spec", "tls", "redirect")))
        routes = at(vs.body, "spec", "routes")
        for ri, route in enumerate(items(routes)):
            ro = origin(vs, "spec", "routes", ri)
            lines.append(Line(f"    location {at(route, 'path') or '/'} {{", ro))
            # policy.go generatePolicies: an ingressMTLS policy in the route context is an error
            # (addIngressMTLSConfig), and so is a missing one: the route answers 500
            route_error = any(
                (pol := mset.find("Policy", pns, pname)) is None or at(pol.body, "spec", "ingressMTLS") is not None
                for pns, pname in _refs(at(route, "policies"), ns))
            if error_500 or route_error:
                lines.append(Line("        return 500;", ro))
            else:
                lines.append(Line("        proxy_pass http://upstream;", ro))
            lines.append(Line("    }", ro))
        lines.append(Line("}", made))
        servers.append(RenderedServer(controller=Controller.F5_NGINX_INGRESS, host=str(host), lines=tuple(lines),
                                      origin=made, resources=(vs,)))
    if not servers:
        return None
    first = servers[0]
    note = "the F5 controller's default server without a default TLS secret (flags.go)"
    default = RenderedServer(controller=Controller.F5_NGINX_INGRESS, host="_", origin=first.origin,
                             resources=first.resources, lines=(
                                 Line("server {", note=note), Line("    listen 80 default_server;", note=note),
                                 Line("    listen 443 ssl default_server;", note=note),
                                 Line("    ssl_reject_handshake on;", note=note),
                                 Line('    server_tokens "off";', note=note), Line("    server_name _;", note=note),
                                 Line("    location / {", note=note), Line("        return 404;", note=note),
                                 Line("    }", note=note), Line("}", note=note)))
    return Rendering(Controller.F5_NGINX_INGRESS, (), (default, *servers), files)
