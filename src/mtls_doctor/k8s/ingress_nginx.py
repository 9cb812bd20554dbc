"""ingress-nginx (kubernetes/ingress-nginx): ``auth-tls-*`` annotations -> the server block.

Every rule of this module was read from the controller's source at its last release,
controller-v1.15.1 (git commit dbb11b92d); each function names the file it follows:

- ``internal/ingress/annotations/authtls/main.go`` ``authTLS.Parse``: the annotations, their
  defaults (verify ``on``, depth 1) and which invalid values silently become defaults
  (verify-client, verify-depth) versus which reject the Ingress (error-page, pass-certificate,
  match-cn: a validation error);
- ``internal/ingress/annotations/annotations.go`` ``Extract``: a LocationDenied error of the
  auth-tls parser (secret not ``namespace/name``, another namespace, not found, unusable) is kept
  as ``AuthTLSError``; ``internal/ingress/controller/store/store.go`` ``updateIngress``: a
  validation error drops the whole Ingress;
- ``internal/ingress/controller/controller.go`` ``getBackendServers``: all Ingresses of a host
  share one server; the first Ingress (``store.go`` ``sortIngressSlice``: oldest
  creationTimestamp first, equal ones by ``namespace/name`` descending) whose secret yields a CA
  file sets the server's client auth, the others' are ignored; the first AuthTLSError makes the
  host ``return 403;``; a rule without host lands on the catch-all server ``_``;
- ``internal/ingress/controller/store/backend_ssl.go`` ``getPemCertificate`` and
  ``internal/net/ssl/ssl.go``: the CA comes from the Secret key ``ca.crt`` (``ca.crl`` for the
  CRL); a Secret with ``tls.crt``+``tls.key`` and ``ca.crt`` gets a CA file that is the server
  certificate and key followed by ``ca.crt`` (``ConfigureCACertWithCertAndKey``); one with
  ``tls.crt``+``tls.key`` and no ``ca.crt`` yields no CA file: client auth is silently off;
  ``ca.crt`` without one parsable PEM certificate, or a bad ``ca.crl``, is an error (-> 403);
- ``rootfs/etc/nginx/template/nginx.tmpl`` ``define "SERVER"`` and the location part: the
  directives rendered (``ssl_client_certificate``, ``ssl_verify_client``, ``ssl_verify_depth``,
  ``ssl_crl``, ``error_page 495 496 = ...``, the server-level ``if ($ssl_client_s_dn !~ ...)
  { return 403 "client certificate unauthorized"; }``, and per location ``proxy_set_header
  ssl-client-verify/-subject-dn/-issuer-dn`` whenever a CA is set, ``ssl-client-cert`` only with
  pass-certificate-to-upstream);
- ``internal/ingress/controller/config/config.go`` ``NewDefault``: ``error-log-level notice``,
  ``ssl-protocols TLSv1.2 TLSv1.3``, ``allow-cross-namespace-resources false``.

Invariant: no I/O; manifests in, a ``Rendering`` out. What a controller decides is computed
once here (``host_auth``) and used by both the renderer and the MTLS7xx rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from mtls_doctor.k8s.manifests import ManifestSet, Node, Resource, SecretData, at, items, secret_data
from mtls_doctor.k8s.render import (Controller, Line, Origin, RenderedServer, Rendering,
                                    annotation_origin, origin, quote)
from mtls_doctor.pki.verify import VERIFY_CLIENT_MODES

PREFIX = "nginx.ingress.kubernetes.io/"
SECRET = PREFIX + "auth-tls-secret"
VERIFY_CLIENT = PREFIX + "auth-tls-verify-client"
VERIFY_DEPTH = PREFIX + "auth-tls-verify-depth"
ERROR_PAGE = PREFIX + "auth-tls-error-page"
PASS_CERT = PREFIX + "auth-tls-pass-certificate-to-upstream"
MATCH_CN = PREFIX + "auth-tls-match-cn"
AUTH_TLS_ANNOTATIONS = (SECRET, VERIFY_CLIENT, VERIFY_DEPTH, ERROR_PAGE, PASS_CERT, MATCH_CN)
SNIPPETS = (PREFIX + "configuration-snippet", PREFIX + "server-snippet")

DEFAULT_VERIFY_CLIENT = "on"  # authtls/main.go defaultAuthVerifyClient
DEFAULT_DEPTH = 1  # authtls/main.go defaultAuthTLSDepth
CATCH_ALL = "_"  # controller.go defServerName
CONTROLLER_NAME = "k8s.io/ingress-nginx"  # IngressClass spec.controller
SSL_DIR = "/etc/ingress-controller/ssl"  # internal/file DefaultSSLDirectory
FAKE_CERT = SSL_DIR + "/default-fake-certificate.pem"
#: the headers nginx.tmpl sets per location when the server has a CA (pass-cert adds the first)
CLIENT_HEADERS = ("ssl-client-cert", "ssl-client-verify", "ssl-client-subject-dn", "ssl-client-issuer-dn")

_REDIRECT = re.compile(r"^(@[A-Za-z0-9_-]+|((https?://)?[A-Za-z0-9\-.]+(:\d+)?)?(/[A-Za-z0-9\-_.]+)*/?)$")  # authtls redirectRegex
_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
         "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}  # Go strconv.ParseBool


#: annotation risk (``parser.AnnotationRisk``: Low 1 .. Critical 4) of the auth-tls annotations
#: (``authtls/main.go`` ``authTLSAnnotations``); every ``*-snippet`` annotation is Critical
#: (``snippet``, ``serversnippet``, ``streamsnippet``, ``authreq``, ``modsecurity`` parsers)
RISK = {SECRET: 2, VERIFY_CLIENT: 2, VERIFY_DEPTH: 1, ERROR_PAGE: 3, PASS_CERT: 1, MATCH_CN: 3}
RISK_LEVELS = {"low": 1, "medium": 2, "high": 3, "critical": 4}  # parser.StringRiskToRisk (else Low)
RISK_NAMES = {v: k.capitalize() for k, v in RISK_LEVELS.items()}
#: ConfigMap keys of the controller's configuration that decide what an Ingress may do
CONFIG_KEYS = ("allow-snippet-annotations", "annotations-risk-level", "allow-cross-namespace-resources")


def annotation_risk(name: str) -> int | None:
    if not name.startswith(PREFIX):
        return None
    if name.endswith("-snippet"):
        return 4
    return RISK.get(name)


@dataclass(frozen=True)
class ControllerConfig:
    """The security part of the controller ConfigMap (``config.go`` ``NewDefault`` v1.15.1:
    ``allow-snippet-annotations false``, ``annotations-risk-level High``,
    ``allow-cross-namespace-resources false``). ``configmap`` is None when the input has none:
    then the defaults are what the controller uses."""

    configmap: Resource | None = None
    allow_snippets: bool = False
    risk_level: int = 3
    cross_namespace: bool = False
    ssl_redirect: bool = True  # ssl-redirect (config.go NewDefault: true)
    redirect_code: int = 308  # http-redirect-code

    def where(self, key: str) -> tuple[Resource, tuple[str, ...]] | None:
        if self.configmap is None:
            return None
        return self.configmap, ("data", key)


def _controller_configmap_rank(cm: Resource, named: list[str]) -> int:
    """How surely ``cm`` is the controller's configuration (0: not at all): the one
    ``--configmap`` of the controller's Deployment/DaemonSet names (when one does, only that);
    else one with the controller keys; else the chart's ``<release>-controller`` with its labels
    (``app.kubernetes.io/name: ingress-nginx``, ``component: controller``; the chart's tcp/udp
    ConfigMaps carry the same labels, so the name decides among them)."""
    if named:
        return 4 if any(n in (cm.key, cm.name) for n in named) else 0
    data = at(cm.body, "data")
    if isinstance(data, Node) and isinstance(data.value, dict) and any(k in data.value for k in CONFIG_KEYS):
        return 3
    labels = at(cm.body, "metadata", "labels")
    if at(labels, "app.kubernetes.io/name") == "ingress-nginx" and at(labels, "app.kubernetes.io/component") == "controller":
        return 2 if cm.name.endswith("-controller") or cm.name == "nginx-configuration" else 1
    return 0


def controller_config(mset: ManifestSet) -> ControllerConfig:
    named = []
    for dep in mset.of_kind("Deployment", "DaemonSet"):
        for c in items(at(dep.body, "spec", "template", "spec", "containers")):
            for arg in items(at(c, "args")):
                if isinstance(arg, str) and arg.startswith("--configmap="):
                    named.append(arg.split("=", 1)[1])
    ranked = sorted(((_controller_configmap_rank(cm, named), i, cm) for i, cm in enumerate(mset.of_kind("ConfigMap"))),
                    key=lambda t: (-t[0], t[1]))
    for rank, _i, cm in ranked:
        if not rank:
            break
        data = at(cm.body, "data")
        get = (lambda k: data.get(k)) if isinstance(data, Node) and isinstance(data.value, dict) else (lambda k: None)

        def flag(key: str, default: bool = False) -> bool:
            v = get(key)
            return _BOOL.get(str(v), default) if v is not None else default

        level = get("annotations-risk-level")
        code = str(get("http-redirect-code") or "308")
        return ControllerConfig(cm, flag("allow-snippet-annotations"),
                                RISK_LEVELS.get(str(level).lower(), 1) if level is not None else 3,
                                flag("allow-cross-namespace-resources"), flag("ssl-redirect", True),
                                int(code) if code in ("301", "302", "307", "308") else 308)
    return ControllerConfig()


@dataclass(frozen=True)
class CAMaterial:
    """What ingress-nginx writes for an auth-tls Secret (paths as the controller names them)."""

    secret: Resource
    ca_path: str | None  # None: no CA file (client auth silently off)
    ca_bytes: bytes = field(default=b"", repr=False)
    crl_path: str | None = None
    crl_bytes: bytes = field(default=b"", repr=False)
    server_pair_in_ca: bool = False  # tls.crt + tls.key were prepended to ca.crt


@dataclass(frozen=True)
class AuthTLS:
    """The parsed auth-tls annotations of one Ingress, as ``authTLS.Parse`` leaves them."""

    ingress: Resource
    secret: str  # the annotation as written ("" if absent)
    verify_client: str
    depth: int
    error_page: str
    pass_cert: bool
    match_cn: str
    #: the LocationDenied reason: the host renders ``return 403;`` (None: none)
    denied: str | None = None
    #: annotations whose invalid value makes the controller drop the whole Ingress
    rejected: tuple[str, ...] = ()
    #: annotations whose invalid value silently became the default: (annotation, given, used)
    defaulted: tuple[tuple[str, str, str], ...] = ()
    material: CAMaterial | None = None
    #: annotations riskier than the ConfigMap's annotations-risk-level: the Ingress is dropped
    #: (``annotations.go`` ``Extract``: ``Validate`` fails -> ``NewRiskyAnnotations``)
    too_risky: tuple[str, ...] = ()
    #: snippet annotations dropped because allow-snippet-annotations is false
    #: (``controller.go`` ``dropSnippetDirectives``; the admission webhook refuses them)
    snippets_dropped: tuple[str, ...] = ()
    config: ControllerConfig = field(default_factory=ControllerConfig)

    @property
    def has_ca(self) -> bool:
        return self.denied is None and self.material is not None and self.material.ca_path is not None

    @property
    def configured(self) -> bool:
        return bool(self.secret)


def _secret_path(namespace: str, name: str) -> str:
    return f"{SSL_DIR}/ca-{namespace}-{name}.pem"


def _pem_certificates(data: bytes) -> bool:
    """ssl.CheckCACert: every PEM block must parse as a certificate, at least one must exist."""
    from cryptography import x509

    blocks = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", data, re.S)
    if not blocks:
        return False
    for label, _body in blocks:
        if label != b"CERTIFICATE":
            return False
    try:
        x509.load_pem_x509_certificates(data)
    except Exception:
        return False
    return True


def _crl_ok(data: bytes) -> bool:
    """ssl.ConfigureCRL: the first PEM block must be an ``X509 CRL`` that parses."""
    from cryptography import x509

    m = re.search(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
    if not m or m.group(1) != b"X509 CRL":
        return False
    try:
        x509.load_pem_x509_crl(data)
    except Exception:
        return False
    return True


def resolve_secret(value: str, ingress: Resource, mset: ManifestSet,
                   cross_namespace: bool = False) -> tuple[CAMaterial | None, str | None]:
    """(material, denied reason) for an auth-tls-secret value (authtls Parse, store
    GetAuthCertificate, backend_ssl getPemCertificate)."""
    parts = value.split("/")
    if len(parts) != 2:  # k8s.ParseNameNS
        return None, f"invalid format (namespace/name) found in '{value}'"
    # an Ingress manifest without metadata.namespace is applied into some namespace we cannot
    # know: take it to be the secret's (no cross-namespace claim without evidence)
    own = ingress.namespace or parts[0] or "default"
    ns, name = parts[0] or own, parts[1]
    if not cross_namespace and ns != own:
        return None, "cross namespace secrets are not supported"
    secret = mset.find("Secret", ns, name)
    if secret is None:
        why = f"error obtaining certificate: local SSL certificate {ns}/{name} was not found"
        hashed = [r for r in mset.of_kind("Secret") if (r.namespace or ns) == ns
                  and re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", r.name)]
        if hashed:
            # kustomize secretGenerator appends a content hash to the name and rewrites the
            # references it knows, not this annotation's `namespace/name` value
            # (https://github.com/kubernetes-sigs/kustomize/pull/1366)
            why += (f" (Secret {ns}/{hashed[0].name} is in the input: a kustomize secretGenerator hash "
                    "suffix the annotation does not get; generatorOptions.disableNameSuffixHash: true)")
        return None, why
    data = secret_data(secret)
    return material_of(data, ns, name)


def material_of(data: SecretData, ns: str, name: str) -> tuple[CAMaterial | None, str | None]:
    values = data.values
    ca, crl = values.get("ca.crt"), values.get("ca.crl")
    cert, key = values.get("tls.crt"), values.get("tls.key")
    if any(k in data.bad for k in ("ca.crt", "ca.crl", "tls.crt", "tls.key")):
        return None, f"secret {ns}/{name}: a key's value is not base64"
    if cert is not None and key is not None:
        if not ca:
            return CAMaterial(data.resource, None), None  # a TLS pair only: auth silently off
        if not _pem_certificates(ca):
            return None, "parsing CA certificate: error decoding CA certificate/s"
        crl_path = None
        if crl:
            if not _crl_ok(crl):
                return None, f"CRL file {ns}-{name} contains invalid data"
            crl_path = f"{SSL_DIR}/crl-{ns}-{name}.pem"
        # ConfigureCACertWithCertAndKey: the server's certificate and key, a newline, then ca.crt
        combined = cert + b"\n" + key + b"\n" + ca
        return CAMaterial(data.resource, f"{SSL_DIR}/{ns}-{name}.pem", combined, crl_path, crl or b"", True), None
    if ca:
        if not _pem_certificates(ca):
            return None, "unexpected error creating SSL Cert: error decoding CA certificate/s"
        crl_path = None
        if crl:
            if not _crl_ok(crl):
                return None, f"no valid PEM formatted block found in CRL {ns}-{name}"
            crl_path = f"{SSL_DIR}/crl-{ns}-{name}.pem"
        return CAMaterial(data.resource, _secret_path(ns, name), ca, crl_path, crl or b""), None
    return None, f"secret \"{ns}/{name}\" contains no keypair or CA certificate"


def parse_auth_tls(ingress: Resource, mset: ManifestSet) -> AuthTLS:
    """authtls/main.go ``Parse`` (v1.15.1), step by step."""
    ann = ingress.annotations
    secret = ann.get(SECRET, "")
    defaulted: list[tuple[str, str, str]] = []
    rejected: list[str] = []
    verify = ann.get(VERIFY_CLIENT)
    if verify is None or verify not in VERIFY_CLIENT_MODES:
        if verify is not None:
            defaulted.append((VERIFY_CLIENT, verify, DEFAULT_VERIFY_CLIENT))
        verify = DEFAULT_VERIFY_CLIENT
    depth_raw = ann.get(VERIFY_DEPTH)
    try:
        depth = int(depth_raw) if depth_raw is not None and re.fullmatch(r"[+-]?\d+", depth_raw.strip()) else 0
    except ValueError:
        depth = 0
    if depth == 0:  # invalid, absent or 0 -> 1
        if depth_raw is not None:
            defaulted.append((VERIFY_DEPTH, depth_raw, str(DEFAULT_DEPTH)))
        depth = DEFAULT_DEPTH
    error_page = ann.get(ERROR_PAGE, "")
    if error_page and not _REDIRECT.match(error_page):
        rejected.append(ERROR_PAGE)
    pass_raw = ann.get(PASS_CERT)
    pass_cert = False
    if pass_raw is not None:
        if pass_raw in _BOOL:
            pass_cert = _BOOL[pass_raw]
        else:
            rejected.append(PASS_CERT)
    match_cn = ann.get(MATCH_CN, "")
    if match_cn and not (match_cn.startswith("CN=") and _regex_ok(match_cn[3:])):
        rejected.append(MATCH_CN)
    config = controller_config(mset)
    too_risky = tuple(k for k in ann if (annotation_risk(k) or 0) > config.risk_level)
    snippets_dropped = () if config.allow_snippets else tuple(
        k for k in ann if k.startswith(PREFIX) and k.endswith("-snippet") and k not in too_risky)
    material, denied = (None, None)
    if secret:
        material, denied = resolve_secret(secret, ingress, mset, cross_namespace=config.cross_namespace)
    return AuthTLS(ingress=ingress, secret=secret, verify_client=verify, depth=depth,
                   error_page=error_page, pass_cert=pass_cert, match_cn=match_cn, denied=denied,
                   rejected=tuple(rejected), defaulted=tuple(defaulted), material=material,
                   too_risky=too_risky, snippets_dropped=snippets_dropped, config=config)


def _regex_ok(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


# --------------------------------------------------------------------------- which Ingresses


def ingress_class(ingress: Resource) -> str | None:
    cls = at(ingress.body, "spec", "ingressClassName")
    if isinstance(cls, str):
        return cls
    return ingress.annotations.get("kubernetes.io/ingress.class")


def class_controllers(mset: ManifestSet) -> dict[str, str]:
    """IngressClass name -> spec.controller, from the input."""
    out: dict[str, str] = {}
    for cls in mset.of_kind("IngressClass"):
        ctl = at(cls.body, "spec", "controller")
        if isinstance(ctl, str):
            out[cls.name] = ctl
    return out


def handled(ingress: Resource, mset: ManifestSet) -> bool:
    """Whether ingress-nginx serves this Ingress: its class's controller is ingress-nginx, or
    (no IngressClass in the input) it carries ingress-nginx annotations and no F5 ones."""
    from mtls_doctor.k8s import f5

    cls = ingress_class(ingress)
    controllers = class_controllers(mset)
    if cls is not None and cls in controllers:
        return controllers[cls] == CONTROLLER_NAME
    ann = ingress.annotations
    ours = any(k.startswith(PREFIX) for k in ann)
    theirs = any(k.startswith(f5.PREFIX) for k in ann)
    return ours or not theirs


def ordered_ingresses(mset: ManifestSet) -> tuple[Resource, ...]:
    """store.go sortIngressSlice: oldest creationTimestamp first; equal timestamps (also none
    in the input) by ``namespace/name``, descending."""
    ings = [i for i in mset.of_kind("Ingress") if handled(i, mset)]
    ings.sort(key=lambda i: i.key, reverse=True)
    ings.sort(key=lambda i: i.creation)  # stable: the name order stays among equal timestamps
    return tuple(ings)


@dataclass(frozen=True)
class PathRef:
    ingress: Resource
    rule_index: int
    path_index: int
    path: str
    path_type: str
    service: str  # "name:port" of the backend


@dataclass(frozen=True)
class HostAuth:
    """One server of ingress-nginx: its host, the Ingresses in order, the winning auth-tls."""

    host: str
    ingresses: tuple[Resource, ...]
    paths: tuple[PathRef, ...]
    auth: AuthTLS | None  # the one in effect (a CA file), else None
    denied: AuthTLS | None  # the first AuthTLSError: the host returns 403
    candidates: tuple[AuthTLS, ...]  # every Ingress's auth-tls that named a secret
    tls_secret: tuple[Resource, str] | None = None  # the Ingress and spec.tls secretName
    config: ControllerConfig = field(default_factory=ControllerConfig)


def _backend(path: Node) -> str:
    svc = at(path, "backend", "service")
    if isinstance(svc, Node):
        port = at(svc, "port", "number") or at(svc, "port", "name") or ""
        return f"{at(svc, 'name')}:{port}"
    return str(at(path, "backend", "serviceName") or "?")


def host_auth(mset: ManifestSet) -> tuple[HostAuth, ...]:
    """controller.go getBackendServers, the part about client auth, per host."""
    hosts: dict[str, list] = {}
    order: list[str] = []
    parsed: dict[str, AuthTLS] = {}
    tls: dict[str, tuple[Resource, str]] = {}
    config = controller_config(mset)
    for ing in ordered_ingresses(mset):
        auth = parse_auth_tls(ing, mset)
        if auth.rejected or auth.too_risky:
            continue  # store.go updateIngress: the Ingress never reaches the controller
        parsed[ing.key] = auth
        for t in items(at(ing.body, "spec", "tls")):
            for h in items(at(t, "hosts")):
                if isinstance(h, str) and isinstance(at(t, "secretName"), str):
                    tls.setdefault(h, (ing, at(t, "secretName")))
        for ri, rule in enumerate(items(at(ing.body, "spec", "rules"))):
            host = at(rule, "host")
            host = host if isinstance(host, str) and host else CATCH_ALL
            http = at(rule, "http")
            if http is None and host != CATCH_ALL:
                continue
            if host not in hosts:
                hosts[host] = [[], [], None, None, []]
                order.append(host)
            entry = hosts[host]
            if ing not in entry[0]:
                entry[0].append(ing)
                if auth.configured:
                    entry[4].append(auth)
            for pi, p in enumerate(items(at(http, "paths"))):
                entry[1].append(PathRef(ing, ri, pi, str(at(p, "path") or "/"),
                                        str(at(p, "pathType") or "ImplementationSpecific"), _backend(p)))
            if entry[3] is None and auth.denied is not None:
                entry[3] = auth
            if entry[2] is None and auth.has_ca:
                entry[2] = auth
    return tuple(HostAuth(host=h, ingresses=tuple(hosts[h][0]), paths=tuple(hosts[h][1]),
                          auth=hosts[h][2], denied=hosts[h][3], candidates=tuple(hosts[h][4]),
                          tls_secret=tls.get(h), config=config)
                 for h in order)


# --------------------------------------------------------------------------- rendering


def _server_lines(ha: HostAuth, default: bool) -> list[Line]:
    first = ha.ingresses[0]
    made = origin(first, "spec", "rules")
    out = [Line(f"## start server {ha.host}", made), Line("server {", made),
           Line(f"    server_name {ha.host} ;", made),
           Line("    listen 80" + (" default_server" if default else "") + " ;", made),
           Line("    listen 443" + (" default_server" if default else "") + " ssl ;", made)]
    if ha.tls_secret is not None:
        ing, name = ha.tls_secret
        out.append(Line(f"    ssl_certificate {SSL_DIR}/{ing.namespace or 'default'}-{name}.pem;", origin(ing, "spec", "tls")))
        out.append(Line(f"    ssl_certificate_key {SSL_DIR}/{ing.namespace or 'default'}-{name}.pem;", origin(ing, "spec", "tls")))
    auth = ha.auth
    if auth is not None and auth.match_cn:
        o = annotation_origin(auth.ingress, MATCH_CN)
        out += [Line(f"    if ( $ssl_client_s_dn !~ {quote(auth.match_cn)} ) {{", o),
                Line('        return 403 "client certificate unauthorized";', o), Line("    }", o)]
    if ha.denied is not None:  # nginx.tmpl: any AuthTLSError replaces the client auth directives
        o = annotation_origin(ha.denied.ingress, SECRET)
        out += [Line(f"    # {ha.denied.denied}", o), Line("    return 403;", o)]
    elif auth is not None and auth.material is not None and auth.material.ca_path is not None:
        m = auth.material
        sec = annotation_origin(auth.ingress, SECRET)
        out.append(Line(f"    ssl_client_certificate {m.ca_path};", sec))
        out.append(Line(f"    ssl_verify_client {auth.verify_client};",
                        annotation_origin(auth.ingress, VERIFY_CLIENT) if VERIFY_CLIENT in auth.ingress.annotations else sec))
        out.append(Line(f"    ssl_verify_depth {auth.depth};",
                        annotation_origin(auth.ingress, VERIFY_DEPTH) if VERIFY_DEPTH in auth.ingress.annotations else sec))
        if m.crl_path:
            out.append(Line(f"    ssl_crl {m.crl_path};", sec))
        if auth.error_page:
            out.append(Line(f"    error_page 495 496 = {auth.error_page};", annotation_origin(auth.ingress, ERROR_PAGE)))
    for p in ha.paths:
        o = origin(p.ingress, "spec", "rules", p.rule_index, "http", "paths", p.path_index)
        loc = f"= {p.path}" if p.path_type == "Exact" else p.path
        out.append(Line(f"    location {loc} {{", o))
        out.append(Line(f'        set $service_name "{p.service}";', o))
        if redirects_http(p.ingress, ha):  # lua_ingress.rewrite: before the proxy headers and the snippet
            ro = (annotation_origin(p.ingress, FORCE_SSL_REDIRECT) if FORCE_SSL_REDIRECT in p.ingress.annotations
                  else annotation_origin(p.ingress, SSL_REDIRECT) if SSL_REDIRECT in p.ingress.annotations
                  else origin(p.ingress, "spec", "tls"))
            out.append(Line(f"        if ($scheme = http) {{ return {ha.config.redirect_code} https://$host$request_uri; }}", ro))
        if auth is not None and auth.has_ca:
            src = annotation_origin(auth.ingress, SECRET)
            if auth.pass_cert:
                out.append(Line("        proxy_set_header ssl-client-cert $ssl_client_escaped_cert;",
                                annotation_origin(auth.ingress, PASS_CERT)))
            out += [Line("        proxy_set_header ssl-client-verify $ssl_client_verify;", src),
                    Line("        proxy_set_header ssl-client-subject-dn $ssl_client_s_dn;", src),
                    Line("        proxy_set_header ssl-client-issuer-dn $ssl_client_i_dn;", src)]
        snippet = p.ingress.annotations.get(PREFIX + "configuration-snippet")
        if snippet and controller_config_allows_snippets(p.ingress, ha):
            so = annotation_origin(p.ingress, PREFIX + "configuration-snippet")
            out += [Line("        " + l.strip(), so) for l in snippet.splitlines() if l.strip()]
        out.append(Line("        proxy_pass http://upstream_balancer;", o))
        out.append(Line("    }", o))
    out += [Line("}", made), Line(f"## end server {ha.host}", made)]
    return out


SSL_REDIRECT = PREFIX + "ssl-redirect"
FORCE_SSL_REDIRECT = PREFIX + "force-ssl-redirect"


def redirects_http(ingress: Resource, ha: HostAuth) -> bool:
    """Whether a plain-HTTP request to a path of this Ingress is redirected to https
    (``lua_ingress.lua`` ``redirect_to_https``: ``force-ssl-redirect``, else ``ssl-redirect``
    (annotation, default the ConfigMap's, ``rewrite/main.go``) and a certificate configured for
    the host, i.e. the host is in a ``spec.tls`` entry)."""
    ann = ingress.annotations
    if _BOOL.get(ann.get(FORCE_SSL_REDIRECT, ""), False):
        return True
    wanted = _BOOL.get(ann.get(SSL_REDIRECT, ""), ha.config.ssl_redirect)
    return wanted and ha.tls_secret is not None


def http_redirected(ha: HostAuth) -> bool:
    """Every path of the host answers plain HTTP with a redirect to https."""
    return bool(ha.paths) and all(redirects_http(p.ingress, ha) for p in ha.paths)


def controller_config_allows_snippets(ingress: Resource, ha: HostAuth) -> bool:
    for auth in ha.candidates:
        if auth.ingress is ingress:
            return auth.config.allow_snippets
    return ha.config.allow_snippets


def render(mset: ManifestSet) -> Rendering | None:
    """The http part and one server per host that ingress-nginx renders (None: no Ingress of
    ingress-nginx in the input)."""
    servers = host_auth(mset)
    if not servers:
        return None
    files: dict[str, bytes] = {}
    rendered: list[RenderedServer] = []
    if not any(s.host == CATCH_ALL for s in servers):
        # nginx.tmpl always renders the catch-all server (default_server) before the others
        first = servers[0].ingresses[0]
        servers = (HostAuth(host=CATCH_ALL, ingresses=(first,), paths=(), auth=None, denied=None,
                            candidates=()),) + servers
    else:
        servers = tuple(sorted(servers, key=lambda s: s.host != CATCH_ALL))
    for ha in servers:
        if ha.auth is not None and ha.auth.material is not None and ha.auth.material.ca_path:
            files[ha.auth.material.ca_path] = ha.auth.material.ca_bytes
            if ha.auth.material.crl_path:
                files[ha.auth.material.crl_path] = ha.auth.material.crl_bytes
        rendered.append(RenderedServer(controller=Controller.INGRESS_NGINX, host=ha.host,
                                       lines=tuple(_server_lines(ha, ha.host == CATCH_ALL)),
                                       origin=origin(ha.ingresses[0], "metadata", "name"),
                                       resources=ha.ingresses))
    cm = "the controller ConfigMap's {} (default {}, config.go NewDefault)"
    http = (Line("error_log /var/log/nginx/error.log notice;", note=cm.format("error-log-level", "notice")),
            Line("ssl_protocols TLSv1.2 TLSv1.3;", note=cm.format("ssl-protocols", "TLSv1.2 TLSv1.3")),
            Line("ssl_session_cache shared:SSL:10m;"),
            Line("ssl_session_tickets off;"),
            Line(f"ssl_certificate {FAKE_CERT};"),
            Line(f"ssl_certificate_key {FAKE_CERT};"))
    return Rendering(Controller.INGRESS_NGINX, http, tuple(rendered), files)


def lab_files(rendering: Rendering) -> Mapping[str, bytes]:
    return rendering.files
