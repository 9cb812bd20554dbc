"""NGINX Gateway Fabric: Gateway API frontend TLS validation -> the server blocks it renders.

Gateway API (Standard channel since v1.5): ``Gateway.spec.tls.frontend.default.validation`` and
``perPort[].tls.validation`` with ``caCertificateRefs`` (ConfigMap, key ``ca.crt``) and ``mode``
(``AllowValidOnly``, the default, or ``AllowInsecureFallback``). Read from
nginx/nginx-gateway-fabric at commit e55bfe339 (main after v2.6.7):

- ``internal/controller/state/graph/gateway_listener.go``
  ``createFrontendTLSCaCertReferenceResolver``: a perPort entry with refs for the listener's
  port wins over ``default``; only listeners with TLS mode Terminate;
- ``internal/controller/state/dataplane/configuration.go`` ``addClientSettingsToSSLServers``:
  AllowInsecureFallback -> ``ssl_verify_client optional_no_ca`` and no CA bundle; otherwise
  ``ssl_verify_client on`` with the bundle (``cert_bundle_<ns>_<name>``) and
  RequireVerifiedCert;
- ``internal/controller/nginx/config/servers_template.go``: RequireVerifiedCert renders
  ``ssl_verify_depth 4; error_page 495 496 = @frontend_tls_verify_failed;`` and that location
  ``return 444;`` (the connection is closed without an answer);
- ``internal/controller/nginx/config/generator.go``: bundles live in ``/etc/nginx/secrets``;
- ``servers_template.go`` ``IsDefaultSSL``: each TLS port gets a ``default_server`` with
  ``ssl_reject_handshake on`` (an unknown or missing SNI is refused in the handshake, alert
  unrecognized_name), rendered here once per port.
"""

from __future__ import annotations

from mtls_doctor.k8s.manifests import ManifestSet, Node, Resource, at, items, secret_data
from mtls_doctor.k8s.render import Controller, Line, Origin, RenderedServer, Rendering, origin

CONTROLLER_NAME = "gateway.nginx.org/nginx-gateway-controller"
SECRETS_DIR = "/etc/nginx/secrets"
ALLOW_VALID_ONLY = "AllowValidOnly"
ALLOW_INSECURE_FALLBACK = "AllowInsecureFallback"
VERIFY_DEPTH = 4  # servers_template.go


def validation_for(gw: Resource, port: object) -> tuple[Node | None, tuple[object, ...]]:
    """(the validation block that applies to ``port``, the keys that reach it)."""
    frontend = at(gw.body, "spec", "tls", "frontend")
    for i, entry in enumerate(items(at(frontend, "perPort"))):
        val = at(entry, "tls", "validation")
        if isinstance(val, Node) and items(at(val, "caCertificateRefs")) and at(entry, "port") == port:
            return val, ("spec", "tls", "frontend", "perPort", i, "tls", "validation")
    val = at(frontend, "default", "validation")
    if isinstance(val, Node) and items(at(val, "caCertificateRefs")):
        return val, ("spec", "tls", "frontend", "default", "validation")
    return None, ()


def bundle(gw: Resource, val: Node, mset: ManifestSet) -> tuple[str | None, bytes, str | None]:
    """(bundle path, CA bytes, problem) of a validation's caCertificateRefs."""
    data = b""
    path = None
    for ref in items(at(val, "caCertificateRefs")):
        kind = at(ref, "kind") or "ConfigMap"
        ns = at(ref, "namespace") or gw.namespace or "default"
        name = at(ref, "name")
        res = mset.find(str(kind), str(ns), str(name))
        if res is None:
            return None, b"", f"{kind} {ns}/{name} named in caCertificateRefs is not in the input"
        ca = secret_data(res).values.get("ca.crt")
        if not ca:
            return None, b"", f"{kind} {ns}/{name} has no key ca.crt"
        data += ca if ca.endswith(b"\n") else ca + b"\n"
        path = path or f"{SECRETS_DIR}/cert_bundle_{ns}_{name}.crt"
    return path, data, None


def handled(gw: Resource, mset: ManifestSet) -> bool:
    cls = at(gw.body, "spec", "gatewayClassName")
    for gc in mset.of_kind("GatewayClass"):
        if gc.name == cls:
            return at(gc.body, "spec", "controllerName") == CONTROLLER_NAME
    return True  # no GatewayClass in the input: read as NGINX Gateway Fabric


def render(mset: ManifestSet) -> Rendering | None:
    servers: list[RenderedServer] = []
    files: dict[str, bytes] = {}
    for gw in mset.of_kind("Gateway"):
        if not gw.api_version.startswith("gateway.networking.k8s.io/") or not handled(gw, mset):
            continue
        for li, listener in enumerate(items(at(gw.body, "spec", "listeners"))):
            if at(listener, "protocol") != "HTTPS":
                continue
            mode = at(listener, "tls", "mode") or "Terminate"
            if mode != "Terminate":
                continue
            port = at(listener, "port")
            host = at(listener, "hostname") or "_"
            lo = origin(gw, "spec", "listeners", li)
            lines = [Line("server {", lo), Line(f"    listen {port} ssl;", lo),
                     Line(f"    server_name {host};", lo),
                     Line(f"    ssl_certificate {SECRETS_DIR}/ssl_keypair_{gw.namespace or 'default'}_listener{li}.pem;", lo),
                     Line(f"    ssl_certificate_key {SECRETS_DIR}/ssl_keypair_{gw.namespace or 'default'}_listener{li}.pem;", lo)]
            val, keys = validation_for(gw, port)
            if val is not None:
                vo = origin(gw, *keys)
                vmode = at(val, "mode") or ALLOW_VALID_ONLY
                if vmode == ALLOW_INSECURE_FALLBACK:
                    lines.append(Line("    ssl_verify_client optional_no_ca;", origin(gw, *keys, "mode")))
                else:
                    path, data, problem = bundle(gw, val, mset)
                    if problem:
                        lines.append(Line(f"    # {problem}: the listener is not programmed", vo))
                    else:
                        files[path] = data  # type: ignore[index]
                        lines += [Line(f"    ssl_client_certificate {path};", vo),
                                  Line("    ssl_verify_client on;", vo),
                                  Line(f"    ssl_verify_depth {VERIFY_DEPTH};", vo),
                                  Line("    error_page 495 496 = @frontend_tls_verify_failed;", vo),
                                  Line("    location @frontend_tls_verify_failed {", vo),
                                  Line("        return 444;", vo), Line("    }", vo)]
            lines += [Line("    location / {", lo), Line("        proxy_pass http://upstream;", lo),
                      Line("    }", lo), Line("}", lo)]
            servers.append(RenderedServer(controller=Controller.NGINX_GATEWAY_FABRIC, host=str(host),
                                          lines=tuple(lines), origin=lo, resources=(gw,)))
    if not servers:
        return None
    defaults = []
    for port in dict.fromkeys(l.text.split()[1] for srv in servers for l in srv.lines
                              if l.text.strip().startswith("listen ")):
        first = servers[0]
        lines = (Line("server {", first.origin), Line(f"    listen {port} ssl default_server;", first.origin),
                 Line("    ssl_reject_handshake on;", note="NGINX Gateway Fabric's default SSL server "
                      "(servers_template.go IsDefaultSSL)"), Line("}", first.origin))
        defaults.append(RenderedServer(controller=Controller.NGINX_GATEWAY_FABRIC, host="_", lines=lines,
                                       origin=first.origin, resources=first.resources))
    return Rendering(Controller.NGINX_GATEWAY_FABRIC, (), tuple(defaults + servers), files)
