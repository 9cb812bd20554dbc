"""Rule family MTLS7xx: Kubernetes front ends (ingress-nginx, F5 NGINX Ingress Controller, NGINX
Gateway Fabric; Traefik's TLSOptions, the load balancer in front) read from manifests.

Every rule takes a ``mtls_doctor.k8s.lint.K8sContext`` (the manifests and the renderings; no
I/O) and points at the manifest ``file:line`` of the annotation or field. What a controller
decides is computed once in ``mtls_doctor.k8s`` (``ingress_nginx.host_auth``,
``f5.parse_policy``, ``gateway.validation_for``), which cites the controller source and release
it follows; the rules only judge it. ``target`` is "config": a manifest is the configuration of
these front ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from mtls_doctor.k8s import f5, gateway, ingress_nginx as inx
from mtls_doctor.k8s.manifests import Node, Resource, at, items
from mtls_doctor.model import Finding, Fix, Location, Severity
from mtls_doctor.rules.base import Rule

if TYPE_CHECKING:
    from mtls_doctor.k8s.lint import K8sContext

CERT_MANAGER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer",
                            "kubernetes.io/tls-acme", "acme.cert-manager.io/http01-edit-in-place")


class K8sRule(Rule):
    target = "config"

    @classmethod
    def check(cls, ctx: "K8sContext") -> Iterable[Finding]:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def on(cls, res: Resource, where: str | tuple | Location, message: str, fix: str,
           severity: Severity | None = None) -> Finding:
        """A finding about manifest object ``res``, at the manifest line of one of its
        annotations (``where`` a str: the annotation's name), of one of its fields (a tuple: the
        keys below the object) or at a Location already found; ``fix`` is the fix's text."""
        if isinstance(where, str):
            where = res.annotation_location(where)
        elif isinstance(where, tuple):
            where = res.where(*where)
        return cls.finding(message, where, Fix(fix), severity)


def _hosts(ctx: "K8sContext") -> tuple[inx.HostAuth, ...]:
    return inx.host_auth(ctx.manifests)


def _auth_of(ctx: "K8sContext") -> Iterator[inx.AuthTLS]:
    for ing in inx.ordered_ingresses(ctx.manifests):
        if any(a in ing.annotations for a in inx.AUTH_TLS_ANNOTATIONS):
            yield inx.parse_auth_tls(ing, ctx.manifests)


class ManifestUnusable(K8sRule):
    """A document of the manifests is not YAML or not a Kubernetes object, so it is not read.

    What it checks:
    A YAML document (or an item of a `kind: List`) that does not parse as YAML, is not a
    mapping, or has no `apiVersion`, `kind` or `metadata.name`.

    Why it matters:
    The Secret or Ingress in that document is missing from everything else mtls-doctor
    concludes: a "secret not found" may just be this document. The API server would refuse it too.

    Example:
    kind: Secret
    data: [ca.crt: ...        # not YAML: an unclosed flow sequence

    Use instead:
    Give the manifests as `kubectl get ... -o yaml` writes them, or fix the document.

    References:
    Kubernetes API conventions (apiVersion, kind, metadata.name are required).
    """

    code = "MTLS701"
    name = "k8s-manifest-unusable"
    severity = Severity.WARNING

    @classmethod
    def check(cls, ctx):
        for p in ctx.manifests.problems:
            yield cls.finding(f"{p.message}; this document is skipped.", Location(path=p.path, line=p.line))


class AuthTlsSpreadsToHost(K8sRule):
    """Client authentication from one Ingress's auth-tls annotations applies to every Ingress and path of the host.

    What it checks:
    An ingress-nginx host served by several Ingresses, one of which sets
    `nginx.ingress.kubernetes.io/auth-tls-secret` and another does not.

    Why it matters:
    ingress-nginx renders one nginx `server` per host and puts `ssl_verify_client`,
    `ssl_client_certificate` and `ssl_verify_depth` at server level (client verification is a
    per-server, per-handshake setting in nginx: F7.1, F0). The Ingress without the annotations
    gets client authentication anyway: its `/health` or `/public` paths answer 400 "No required
    SSL certificate was sent" (F2.2). Source: ingress-nginx v1.15.1 controller.go
    getBackendServers, nginx.tmpl `define "SERVER"`.

    Example:
    # Ingress api (auth-tls-secret: prod/ca)  host api.example.com  path /
    # Ingress api-public (no annotations)     host api.example.com  path /public  -> also needs a certificate

    Use instead:
    Put the public paths on another host name, or use `auth-tls-verify-client: optional` on the
    host and check `ssl-client-verify` in the backend of the protected paths.

    References:
    F7.1, F2.2; kubernetes/ingress-nginx v1.15.1 internal/ingress/controller/controller.go,
    rootfs/etc/nginx/template/nginx.tmpl.
    """

    code = "MTLS702"
    name = "auth-tls-spreads-to-host"
    severity = Severity.WARNING
    facts = ("F7.1", "F2.2")

    @classmethod
    def check(cls, ctx):
        for ha in _hosts(ctx):
            if ha.auth is None or ha.auth.verify_client == "off":
                continue
            for ing in ha.ingresses:
                if inx.SECRET not in ing.annotations:
                    yield cls.on(
                        ing, ("spec", "rules"),
                        f"{ing.ref} has no auth-tls annotations but shares host {ha.host} with "
                        f"{ha.auth.ingress.ref}: its paths get ssl_verify_client {ha.auth.verify_client} too.",
                        "Move these paths to their own host name, or make the host's client auth "
                        "optional and check ssl-client-verify in the protected backends.")


_COMPARED = (("secret", inx.SECRET), ("verify_client", inx.VERIFY_CLIENT), ("depth", inx.VERIFY_DEPTH),
             ("match_cn", inx.MATCH_CN), ("error_page", inx.ERROR_PAGE), ("pass_cert", inx.PASS_CERT))


class AuthTlsConflictOnHost(K8sRule):
    """Two Ingresses of one host set different auth-tls values; only the oldest one's apply.

    What it checks:
    An ingress-nginx host whose Ingresses both name an `auth-tls-secret` but differ in the
    secret, verify mode, depth, match-cn, error page or pass-certificate setting.

    Why it matters:
    ingress-nginx takes the client auth of the first Ingress (oldest `creationTimestamp`; equal
    timestamps by namespace/name, descending) whose secret gives a CA file and ignores the others
    (log level 3 only: "Server ... is already configured for mutual authentication"). The
    setting a team changed on its own Ingress does nothing, and which one wins can change when an
    Ingress is recreated.

    Example:
    # Ingress a (created 2024)  auth-tls-verify-client: "on"        <- applies to the host
    # Ingress b (created 2025)  auth-tls-verify-client: optional    <- ignored

    Use instead:
    Give every Ingress of a host the same auth-tls annotations, or set them on one Ingress only.

    References:
    F7.1; kubernetes/ingress-nginx v1.15.1 internal/ingress/controller/controller.go
    getBackendServers, internal/ingress/controller/store/store.go sortIngressSlice.
    """

    code = "MTLS703"
    name = "auth-tls-conflict-on-host"
    severity = Severity.ERROR
    facts = ("F7.1",)

    @classmethod
    def check(cls, ctx):
        for ha in _hosts(ctx):
            if ha.auth is None:
                continue
            win = ha.auth
            for other in ha.candidates:
                if other.ingress is win.ingress:
                    continue
                for attr, ann in _COMPARED:
                    mine, theirs = getattr(other, attr), getattr(win, attr)
                    if mine != theirs:
                        yield cls.on(
                            other.ingress, ann if ann in other.ingress.annotations else inx.SECRET,
                            f"{other.ingress.ref} sets {ann.split('/')[-1]} {mine!r} for host {ha.host}, but "
                            f"{win.ingress.ref} is older and its {theirs!r} applies; this one is ignored.",
                            "Use the same auth-tls annotations on every Ingress of the host.")
                        break


class AuthTlsSecretDenied(K8sRule):
    """The auth-tls secret cannot be used, so ingress-nginx makes the whole host answer 403.

    What it checks:
    An `auth-tls-secret` that is not `namespace/name`, names another namespace (refused unless
    `allow-cross-namespace-resources`), is not in the input, or whose `ca.crt` holds no PEM
    certificate (or another PEM block), or whose `ca.crl` is not a PEM CRL.

    Why it matters:
    ingress-nginx keeps the error as AuthTLSError and renders `return 403;` in the host's
    server: every request to every path of the host gets 403, with or without a certificate;
    nothing about certificates is in the nginx error log.

    Example:
    nginx.ingress.kubernetes.io/auth-tls-secret: client-ca      # not namespace/name -> 403

    Use instead:
    `auth-tls-secret: <namespace of the Ingress>/<secret>` naming a Secret whose `ca.crt` holds
    the PEM CA certificate(s).

    References:
    kubernetes/ingress-nginx v1.15.1 internal/ingress/annotations/authtls/main.go Parse,
    internal/ingress/annotations/annotations.go Extract, internal/net/ssl/ssl.go CheckCACert,
    rootfs/etc/nginx/template/nginx.tmpl (`return 403;`).
    """

    code = "MTLS704"
    name = "auth-tls-secret-denied"
    severity = Severity.CRITICAL

    @classmethod
    def check(cls, ctx):
        for auth in _auth_of(ctx):
            if auth.denied:
                hint = _other_ca_keys(auth, ctx)
                yield cls.on(
                    auth.ingress, inx.SECRET,
                    f"{auth.ingress.ref}: {auth.denied}; ingress-nginx renders `return 403;` for every path "
                    f"of its hosts." + hint,
                    "Name a Secret of the Ingress's namespace as namespace/name, with the CA in key ca.crt.")


def _other_ca_keys(auth: inx.AuthTLS, ctx: "K8sContext") -> str:
    """A hint when the named Secret has no ca.crt but another key holds PEM
    certificates (`kubectl create secret generic --from-file=ca.pem` keeps the file name)."""
    from mtls_doctor.k8s.manifests import secret_data

    parts = auth.secret.split("/")
    if len(parts) != 2:
        return ""
    found = ctx.manifests.find("Secret", parts[0] or auth.ingress.namespace or "default", parts[1])
    if found is None:
        return ""
    values = secret_data(found).values
    if "ca.crt" in values:
        return ""
    keys = sorted(k for k, v in values.items() if b"-----BEGIN CERTIFICATE-----" in v and k not in ("tls.crt",))
    if not keys:
        return ""
    return (f" The certificates are under the key{'s' if len(keys) > 1 else ''} {', '.join(keys)}: ingress-nginx "
            "reads the CA only from the key ca.crt.")


class AuthTlsSecretWithoutCa(K8sRule):
    """The auth-tls secret holds a TLS pair but no ca.crt, so client authentication is silently off.

    What it checks:
    An `auth-tls-secret` naming a Secret with `tls.crt` and `tls.key` and no `ca.crt` key (often
    a cert-manager certificate Secret, or the CA put under `tls.crt`).

    Why it matters:
    ingress-nginx gets no CA file from it and renders no `ssl_verify_client` at all (log level 3:
    "Secret ... has no 'ca.crt' key, mutual authentication disabled"). Every client gets in
    without a certificate, and nothing fails to tell you.

    Example:
    kind: Secret
    type: kubernetes.io/tls
    data: {tls.crt: ..., tls.key: ...}     # no ca.crt

    Use instead:
    A Secret with the client CA certificate(s) under `ca.crt` (`kubectl create secret generic
    ca --from-file=ca.crt=ca.pem`).

    References:
    F1.2; kubernetes/ingress-nginx v1.15.1 internal/ingress/controller/store/backend_ssl.go
    getPemCertificate, internal/ingress/controller/controller.go.
    """

    code = "MTLS705"
    name = "auth-tls-secret-without-ca"
    severity = Severity.CRITICAL
    facts = ("F1.2",)

    @classmethod
    def check(cls, ctx):
        for auth in _auth_of(ctx):
            if auth.material is not None and auth.material.ca_path is None:
                s = auth.material.secret
                yield cls.on(
                    auth.ingress, inx.SECRET,
                    f"{s.ref} has tls.crt/tls.key and no ca.crt: ingress-nginx renders no client verification "
                    f"for {auth.ingress.ref}.", "Put the client CA certificate(s) under the key ca.crt of the secret.")


class AuthTlsSecretHoldsServerPair(K8sRule):
    """The auth-tls secret holds tls.crt and tls.key besides ca.crt, so the server certificate becomes a trusted CA.

    What it checks:
    An `auth-tls-secret` naming a Secret with `tls.crt`, `tls.key` and `ca.crt`.

    Why it matters:
    ingress-nginx then writes the CA file as the server certificate, its private key and then
    `ca.crt` (ConfigureCACertWithCertAndKey). nginx trusts every certificate of that file and
    advertises its subject (F1.1): the server certificate (and whatever it signs, if it is a CA)
    is accepted for client authentication, and the server's subject is in the CA names.

    Example:
    kind: Secret
    data: {tls.crt: ..., tls.key: ..., ca.crt: ...}

    Use instead:
    A separate Secret holding only `ca.crt` for `auth-tls-secret`.

    References:
    F1.1; kubernetes/ingress-nginx v1.15.1 internal/ingress/controller/store/backend_ssl.go,
    internal/net/ssl/ssl.go ConfigureCACertWithCertAndKey.
    """

    code = "MTLS706"
    name = "auth-tls-secret-holds-server-pair"
    severity = Severity.WARNING
    facts = ("F1.1",)

    @classmethod
    def check(cls, ctx):
        for auth in _auth_of(ctx):
            if auth.material is not None and auth.material.server_pair_in_ca:
                yield cls.on(
                    auth.ingress, inx.SECRET,
                    f"{auth.material.secret.ref} holds tls.crt and tls.key with ca.crt: the server certificate "
                    f"is written into the CA file of {auth.ingress.ref} and trusted for client authentication.",
                    "Use a Secret that holds only ca.crt for auth-tls-secret.")


class ForeignControllerAnnotations(K8sRule):
    """Client-auth annotations of one controller on an Ingress served by another, which ignores them.

    What it checks:
    `nginx.ingress.kubernetes.io/auth-tls-*` on an Ingress whose IngressClass belongs to the F5
    NGINX Ingress Controller (`nginx.org/ingress-controller`), or an `nginx.org/policies` /
    ingressMTLS use on one served by ingress-nginx (`k8s.io/ingress-nginx`).

    Why it matters:
    Each controller reads only its own annotations: the F5 controller has no auth-tls
    annotations (client auth is a Policy with `ingressMTLS`), so the host runs without client
    verification. Both controllers default to the class name `nginx`, so the wrong one is easy to
    hit when migrating from ingress-nginx.

    Example:
    spec: {ingressClassName: nginx}     # IngressClass nginx -> controller nginx.org/ingress-controller
    metadata.annotations: {nginx.ingress.kubernetes.io/auth-tls-secret: prod/ca}   # ignored

    Use instead:
    On the F5 controller: a Policy with `spec.ingressMTLS` referenced from a VirtualServer's
    `spec.policies` (`mtls-doctor` renders both).

    References:
    nginx/kubernetes-ingress internal/configs/annotations.go (the nginx.org/* annotations it
    reads), internal/configs/policy.go addIngressMTLSConfig.
    """

    code = "MTLS707"
    name = "foreign-controller-annotations"
    severity = Severity.ERROR

    @classmethod
    def check(cls, ctx):
        controllers = inx.class_controllers(ctx.manifests)
        for ing in ctx.manifests.of_kind("Ingress"):
            ctl = controllers.get(inx.ingress_class(ing) or "")
            if ctl == f5.CONTROLLER_NAME:
                for ann in inx.AUTH_TLS_ANNOTATIONS:
                    if ann in ing.annotations:
                        yield cls.on(
                            ing, ann, f"{ing.ref} is served by the F5 NGINX Ingress Controller (class "
                            f"{inx.ingress_class(ing)}), which ignores {ann}: no client verification.",
                            "Use a Policy with spec.ingressMTLS on a VirtualServer instead.")
                        break
            elif ctl == inx.CONTROLLER_NAME and f5.POLICIES in ing.annotations:
                yield cls.on(ing, f5.POLICIES, f"{ing.ref} is served by ingress-nginx, which ignores {f5.POLICIES}.",
                             "Use the nginx.ingress.kubernetes.io/auth-tls-* annotations on ingress-nginx.")


class AuthTlsOnCatchAll(K8sRule):
    """auth-tls on an Ingress rule without a host puts client authentication on ingress-nginx's catch-all server.

    What it checks:
    An Ingress with `auth-tls-secret` and a rule without `host` (ingress-nginx maps it to the
    server `_`, the default server of ports 80 and 443).

    Why it matters:
    The catch-all server answers every request whose host matches no other Ingress, and every
    TLS client that sends no SNI or an unknown one is verified against the default server's CA
    settings (F7.3): probes, load-balancer health checks and clients with IP URLs get 400, and
    the catch-all's CA may be used for names it was not meant for.

    Example:
    spec: {rules: [{http: {paths: [...]}}]}    # no host, with auth-tls-secret

    Use instead:
    Give the rule the host name(s) the clients use.

    References:
    F7.3; kubernetes/ingress-nginx v1.15.1 internal/ingress/controller/controller.go
    (defServerName "_").
    """

    code = "MTLS708"
    name = "auth-tls-on-catch-all"
    severity = Severity.ERROR
    facts = ("F7.3",)

    @classmethod
    def check(cls, ctx):
        for auth in _auth_of(ctx):
            if not auth.configured:
                continue
            for ri, rule in enumerate(items(at(auth.ingress.body, "spec", "rules"))):
                if not at(rule, "host"):
                    yield cls.on(
                        auth.ingress, ("spec", "rules", ri),
                        f"{auth.ingress.ref} rule {ri} has no host: its auth-tls settings go to the catch-all "
                        f"server _ (no SNI, unknown hosts).", "Set spec.rules[].host to the name clients use.")


def _policy_refs(ctx: "K8sContext", refs: object, namespace: str | None) -> Iterator[tuple[int, Resource | None]]:
    """(index, the Policy or None when it is not in the input) of each ``{name, namespace}``
    item of a VirtualServer's or a route's ``policies`` (the namespace defaults to the
    VirtualServer's)."""
    for i, ref in enumerate(items(refs)):
        yield i, ctx.manifests.find("Policy", str(at(ref, "namespace") or namespace), str(at(ref, "name")))


class ClientCertHeadersForgeable(K8sRule):
    """A backend can receive ssl-client-* headers written by the client, not by ingress-nginx.

    What it checks:
    A Service reached through a host with auth-tls and through a host (or Ingress) without: there
    nginx sets none of the `ssl-client-*` headers and passes the client's own.

    Why it matters:
    ingress-nginx sets `ssl-client-verify`, `ssl-client-subject-dn`, `ssl-client-issuer-dn`
    (and `ssl-client-cert` with pass-certificate) only in locations of a server with a CA; it
    clears nothing elsewhere. A backend that trusts these headers accepts any identity a client
    writes into them on the unprotected route.

    Example:
    # Service api behind host api.example.com (auth-tls) and api-internal.example.com (none)
    curl -H 'ssl-client-verify: SUCCESS' -H 'ssl-client-subject-dn: CN=admin' https://api-internal.example.com/

    Use instead:
    Route identity-checking backends only through the auth-tls host, or clear the headers on
    the other route (`configuration-snippet: proxy_set_header ssl-client-verify "";`, which
    needs `annotations-risk-level: Critical` and `allow-snippet-annotations: "true"` in the
    controller ConfigMap: with the defaults the snippet drops that Ingress, MTLS712).

    References:
    F5 (variables); kubernetes/ingress-nginx v1.15.1 rootfs/etc/nginx/template/nginx.tmpl
    ("Pass the extracted client certificate to the backend").
    """

    code = "MTLS709"
    name = "client-cert-headers-forgeable"
    severity = Severity.WARNING

    @classmethod
    def check(cls, ctx):
        hosts = _hosts(ctx)
        protected: dict[str, inx.HostAuth] = {}
        for ha in hosts:
            if ha.auth is not None and ha.auth.has_ca:
                for p in ha.paths:
                    protected.setdefault(p.service, ha)
        for ha in hosts:
            if ha.auth is not None and ha.auth.has_ca:
                continue
            for p in ha.paths:
                other = protected.get(p.service)
                if other is not None:
                    yield cls.on(
                        p.ingress, ("spec", "rules", p.rule_index, "http", "paths", p.path_index),
                        f"Service {p.service} is behind auth-tls on {other.host} but reachable without it via "
                        f"{p.ingress.ref} host {ha.host} path {p.path}: ssl-client-* headers there come from "
                        f"the client.",
                        "Clear the ssl-client-* headers on this route or do not route the service here.")


class MatchCnBlocksAcme(K8sRule):
    """auth-tls-match-cn on a host that gets its certificate by ACME http-01: the challenge gets 403.

    What it checks:
    An Ingress with `auth-tls-match-cn` whose host also uses cert-manager (its issuer
    annotations, or a cm-acme-http-solver Ingress / `/.well-known/acme-challenge` path).

    Why it matters:
    ingress-nginx renders the match as a server-level `if ($ssl_client_s_dn !~ "...") { return 403
    "client certificate unauthorized"; }`, evaluated before any location and on port 80 as well,
    where no client certificate exists: the ACME server's http-01 request is refused and the
    certificate is never issued or renewed.

    Example:
    cert-manager.io/cluster-issuer: letsencrypt
    nginx.ingress.kubernetes.io/auth-tls-match-cn: "CN=client"

    Use instead:
    Use the DNS-01 challenge for this host, or check the CN in the backend (ssl-client-subject-dn).

    References:
    kubernetes/ingress-nginx v1.15.1 rootfs/etc/nginx/template/nginx.tmpl (`define "SERVER"`).
    """

    code = "MTLS710"
    name = "match-cn-blocks-acme"
    severity = Severity.ERROR

    @classmethod
    def check(cls, ctx):
        for ha in _hosts(ctx):
            if ha.auth is None or not ha.auth.match_cn:
                continue
            acme = any(a in ing.annotations for ing in ha.ingresses for a in CERT_MANAGER_ANNOTATIONS) or any(
                "/.well-known/acme-challenge" in p.path for p in ha.paths)
            if acme:
                yield cls.on(
                    ha.auth.ingress, inx.MATCH_CN,
                    f"host {ha.host} gets its certificate by ACME and {ha.auth.ingress.ref}'s match-cn returns 403 "
                    f"to every request without a matching certificate, the http-01 challenge included.",
                    "Use DNS-01 for this host, or check the CN in the backend.")


class AuthTlsValueDefaulted(K8sRule):
    """An invalid auth-tls-verify-client or auth-tls-verify-depth value silently becomes the default.

    What it checks:
    `auth-tls-verify-client` not one of `on`, `off`, `optional`, `optional_no_ca` (it becomes
    `on`), and `auth-tls-verify-depth` that is not an integer, or 0 (it becomes 1).

    Why it matters:
    No error and no event: `verify-client: "optional "` or `"Optional"` requires a certificate,
    `verify-depth: "two"` keeps depth 1, and a chain with an intermediate then fails with verify
    error 20 (F3.1, F3.3).

    Example:
    nginx.ingress.kubernetes.io/auth-tls-verify-depth: "0"     # becomes 1

    Use instead:
    One of the exact values; depth = the number of intermediates + 1 at least.

    References:
    F3.1, F3.3; kubernetes/ingress-nginx v1.15.1 internal/ingress/annotations/authtls/main.go Parse.
    """

    code = "MTLS711"
    name = "auth-tls-value-defaulted"
    severity = Severity.WARNING
    facts = ("F3.1", "F3.3")

    @classmethod
    def check(cls, ctx):
        for auth in _auth_of(ctx):
            for ann, given, used in auth.defaulted:
                yield cls.on(auth.ingress, ann, f"{auth.ingress.ref}: {ann.split('/')[-1]} {given!r} is not valid "
                             f"and becomes {used!r}.", f"Write a valid value for {ann}.")


class AuthTlsValueRejectsIngress(K8sRule):
    """An invalid auth-tls value, or an annotation riskier than annotations-risk-level, makes ingress-nginx drop the whole Ingress.

    What it checks:
    `auth-tls-error-page` that is not a URL or named location, `auth-tls-pass-certificate-to-upstream`
    that is not a Go boolean, `auth-tls-match-cn` that does not start with `CN=` or is not a regex;
    and on an Ingress with auth-tls, an annotation whose risk is above the controller ConfigMap's
    `annotations-risk-level` (default `High`; every `*-snippet` annotation is `Critical`,
    `auth-tls-error-page` and `-match-cn` are `High`, `auth-tls-secret` and `-verify-client`
    `Medium`). The ConfigMap is read when it is in the input, else the defaults apply.

    Why it matters:
    These are validation errors: the admission webhook refuses the Ingress, or (without it) the
    controller logs the error and never adds the Ingress: its hosts and paths fall back to the
    default backend (404), and client authentication is not what the manifest says. The mTLS
    check many guides put in a `configuration-snippet` (`if ($ssl_client_verify != SUCCESS)`) is
    such an annotation since controller v1.12 (risk level `High` by default).

    Example:
    nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream: "yes"    # not a Go bool
    nginx.ingress.kubernetes.io/configuration-snippet: |      # Critical: Ingress dropped
      if ($ssl_client_verify != SUCCESS) { return 403; }

    Use instead:
    `"true"`/`"false"`; `CN=<regex>`; an error page like `https://example.com/error.html`;
    `auth-tls-verify-client: "on"` instead of an `optional` + snippet check, or raise
    `annotations-risk-level` (and `allow-snippet-annotations: "true"`) knowingly.

    References:
    kubernetes/ingress-nginx v1.15.1 internal/ingress/annotations/authtls/main.go,
    internal/ingress/annotations/annotations.go Extract (Validate -> NewRiskyAnnotations),
    internal/ingress/annotations/parser/validators.go CheckAnnotationRisk,
    internal/ingress/controller/config/config.go NewDefault,
    internal/ingress/controller/store/store.go updateIngress.
    """

    code = "MTLS712"
    name = "auth-tls-value-rejects-ingress"
    severity = Severity.ERROR

    @classmethod
    def check(cls, ctx):
        for auth in _auth_of(ctx):
            for ann in auth.rejected:
                yield cls.on(auth.ingress, ann, f"{auth.ingress.ref}: {ann.split('/')[-1]} "
                             f"{auth.ingress.annotations[ann]!r} is invalid; ingress-nginx drops the whole Ingress.",
                             f"Write a valid value for {ann}.")
            level = inx.RISK_NAMES.get(auth.config.risk_level, "Low")
            source = (f"ConfigMap {auth.config.configmap.key}" if auth.config.configmap is not None
                      else "the controller default")
            for ann in auth.too_risky:
                risk = inx.RISK_NAMES.get(inx.annotation_risk(ann) or 0, "?")
                yield cls.on(auth.ingress, ann, f"{auth.ingress.ref}: {ann.split('/')[-1]} is a {risk} risk "
                             f"annotation, above annotations-risk-level {level} ({source}); ingress-nginx drops "
                             "the whole Ingress, its auth-tls included (\"annotation ... is too risky for environment\").",
                             "Remove the annotation (auth-tls-verify-client \"on\" needs no snippet check), or raise "
                             "annotations-risk-level in the controller ConfigMap knowingly.")


class ClientAuthPerPath(K8sRule):
    """Client authentication is asked for per path, which nginx cannot do: it is a server (handshake) setting.

    What it checks:
    `ssl_verify_client` or `ssl_client_certificate` in an ingress-nginx `configuration-snippet`
    (rendered inside a location), and an F5 ingressMTLS Policy referenced from a VirtualServer
    route instead of `spec.policies`.

    Why it matters:
    nginx accepts these directives only in `http` and `server` (F7.1): a location snippet makes
    `nginx -t` fail ("directive is not allowed here"), so the controller's reload fails and no
    change is applied. The F5 controller refuses an ingressMTLS policy in the route context and
    the route answers 500.

    Example:
    nginx.ingress.kubernetes.io/configuration-snippet: "ssl_verify_client on;"

    Use instead:
    Separate host names for paths with and without client auth, or `optional` on the host and a
    check of ssl-client-verify per path in the backend.

    References:
    F7.1; nginx ssl_verify_client (Context: http, server); nginx/kubernetes-ingress
    internal/configs/policy.go addIngressMTLSConfig.
    """

    code = "MTLS713"
    name = "client-auth-per-path"
    severity = Severity.ERROR
    facts = ("F7.1",)

    @classmethod
    def check(cls, ctx):
        snippet = inx.PREFIX + "configuration-snippet"
        for ing in ctx.manifests.of_kind("Ingress"):
            text = ing.annotations.get(snippet, "")
            if any(d in text for d in ("ssl_verify_client", "ssl_client_certificate", "ssl_verify_depth")):
                yield cls.on(ing, snippet, f"{ing.ref}: configuration-snippet sets client verification inside a "
                             "location; nginx refuses it there and the reload fails.",
                             "Client auth is per host: use auth-tls-* on a host of its own.")
        for vs in ctx.manifests.of_kind("VirtualServer"):
            for ri, route in enumerate(items(at(vs.body, "spec", "routes"))):
                for pi, pol in _policy_refs(ctx, at(route, "policies"), vs.namespace):
                    if pol is not None and isinstance(at(pol.body, "spec", "ingressMTLS"), Node):
                        yield cls.on(vs, ("spec", "routes", ri, "policies", pi),
                                     f"{vs.ref} route {at(route, 'path')}: ingressMTLS {pol.ref} is not allowed in "
                                     "a route; the route answers 500.",
                                     "Reference the ingressMTLS policy from spec.policies of the VirtualServer.")


class IngressMtlsPolicyUnusable(K8sRule):
    """An F5 ingressMTLS Policy the controller refuses: the VirtualServer's routes answer 500.

    What it checks:
    A Policy with `spec.ingressMTLS` referenced from a VirtualServer whose secret is missing, not
    of type `nginx.org/ca`, lacks `ca.crt` or a CERTIFICATE PEM block there, whose
    `verifyClient`/`verifyDepth` is invalid, or whose VirtualServer has no TLS.

    Why it matters:
    The controller marks the policy invalid and renders `return 500;` for the routes instead of
    client verification; a `kubernetes.io/tls` or Opaque secret (what ingress-nginx used) is the
    usual cause after a migration.

    Example:
    kind: Secret
    type: Opaque            # must be nginx.org/ca
    data: {ca.crt: ...}

    Use instead:
    `type: nginx.org/ca` with the CA under `ca.crt`, and `spec.tls.secret` on the VirtualServer.

    References:
    nginx/kubernetes-ingress internal/configs/policy.go addIngressMTLSConfig,
    internal/k8s/secrets/validation.go ValidateCASecret.
    """

    code = "MTLS714"
    name = "ingress-mtls-policy-unusable"
    severity = Severity.CRITICAL

    @classmethod
    def check(cls, ctx):
        for vs in ctx.manifests.of_kind("VirtualServer"):
            for pi, pol in _policy_refs(ctx, at(vs.body, "spec", "policies"), vs.namespace):
                parsed = f5.parse_policy(pol, ctx.manifests) if pol is not None else None
                if parsed is None:
                    continue
                why = parsed.invalid or (None if at(vs.body, "spec", "tls", "secret") else "TLS must be enabled")
                if why:
                    yield cls.on(vs, ("spec", "policies", pi), f"{vs.ref}: ingressMTLS {pol.ref} {why}; its routes "
                                 "answer 500.", "A Secret of type nginx.org/ca with ca.crt, and spec.tls.secret.")
            for ri, route in enumerate(items(at(vs.body, "spec", "routes"))):
                for pi, pol in _policy_refs(ctx, at(route, "policies"), vs.namespace):
                    if pol is not None and at(pol.body, "spec", "ingressMTLS") is not None:
                        yield cls.on(
                            vs, ("spec", "routes", ri, "policies", pi),
                            f"{vs.ref}: ingressMTLS {pol.ref} on route {at(route, 'path') or ri} is not allowed in the "
                            "route context; the route answers 500.",
                            "Reference the ingressMTLS Policy from the VirtualServer's spec.policies.")
        for ing in ctx.manifests.of_kind("Ingress"):
            if not f5.handled_ingress(ing, ctx.manifests) or f5.POLICIES not in ing.annotations:
                continue
            for pns, pname in f5.annotation_refs(ing):
                pol = ctx.manifests.find("Policy", pns, pname)
                parsed = f5.parse_policy(pol, ctx.manifests) if pol is not None else None
                if pol is not None and parsed is None:
                    continue  # another kind of policy
                why = ("is not in the input (missing or invalid: the Ingress answers 500)" if pol is None
                       else parsed.invalid or (None if at(ing.body, "spec", "tls") else "TLS must be enabled"))
                if why:
                    yield cls.on(ing, f5.POLICIES, f"{ing.ref}: {f5.POLICIES} Policy {pns}/{pname} {why}; its hosts "
                                 "answer 500.",
                                 "A Secret of type nginx.org/ca with ca.crt, and spec.tls on the Ingress.")


class FrontendValidationInsecureFallback(K8sRule):
    """A Gateway's frontend TLS validation is AllowInsecureFallback: NGINX Gateway Fabric verifies no client certificate.

    What it checks:
    `Gateway.spec.tls.frontend.default.validation.mode` or a `perPort` entry with
    `AllowInsecureFallback`, and validation `caCertificateRefs` naming a ConfigMap or Secret that
    is not in the input or has no `ca.crt`.

    Why it matters:
    NGINX Gateway Fabric renders `ssl_verify_client optional_no_ca;` with no CA file: any
    certificate, or none, is accepted (F2.4), and it passes no verification result to the route.
    A CA reference that does not resolve leaves the listener unprogrammed.

    Example:
    spec.tls.frontend.default.validation: {mode: AllowInsecureFallback, caCertificateRefs: [...]}

    Use instead:
    `mode: AllowValidOnly` (the default): `ssl_verify_client on`, depth 4, 444 on failure.

    References:
    F2.4; nginx/nginx-gateway-fabric internal/controller/state/dataplane/configuration.go
    addClientSettingsToSSLServers; Gateway API v1.5 FrontendValidationModeType.
    """

    code = "MTLS715"
    name = "frontend-validation-insecure-fallback"
    severity = Severity.WARNING
    facts = ("F2.4",)

    @classmethod
    def check(cls, ctx):
        for gw in ctx.manifests.of_kind("Gateway"):
            seen: set[tuple] = set()
            for listener in items(at(gw.body, "spec", "listeners")):
                val, keys = gateway.validation_for(gw, at(listener, "port"))
                if val is None or keys in seen:
                    continue
                seen.add(keys)
                if (at(val, "mode") or gateway.ALLOW_VALID_ONLY) == gateway.ALLOW_INSECURE_FALLBACK:
                    yield cls.on(gw, (*keys, "mode"), f"{gw.ref}: {'.'.join(map(str, keys))}.mode "
                                 "AllowInsecureFallback accepts any client certificate or none "
                                 "(optional_no_ca, no CA).",
                                 "Use mode: AllowValidOnly.")
                else:
                    _path, _data, problem = gateway.bundle(gw, val, ctx.manifests)
                    if problem:
                        yield cls.on(gw, (*keys, "caCertificateRefs"), f"{gw.ref}: {problem}.",
                                     "Create the ConfigMap with the CA under ca.crt.")


class GatewayListenerFrontendValidationIgnored(K8sRule):
    """A Gateway listener's tls.frontendValidation (the old experimental field) is not read: no client certificate is asked for.

    What it checks:
    `Gateway.spec.listeners[].tls.frontendValidation` (Gateway API v1.1-v1.3 experimental
    channel) on a listener for whose port `spec.tls.frontend` has no validation.

    Why it matters:
    Gateway API v1.4 moved frontend validation to the Gateway (`spec.tls.frontend.default` /
    `perPort`). NGINX Gateway Fabric (built on Gateway API v1.6) reads only `spec.tls.frontend`,
    and the API server of current CRDs prunes the unknown listener field (kubectl warns
    "unknown field"). The listener terminates TLS without `ssl_verify_client`: every client is
    let in, with no certificate, while the manifest reads as mTLS.

    Example:
    listeners: [{name: https, port: 443, protocol: HTTPS, tls: {mode: Terminate, certificateRefs: [...],
                 frontendValidation: {caCertificateRefs: [{kind: ConfigMap, name: client-ca}]}}}]

    Use instead:
    spec.tls.frontend.default.validation.caCertificateRefs (or a perPort entry for the port),
    `mode: AllowValidOnly`.

    References:
    nginx/nginx-gateway-fabric e55bfe339 internal/controller/state/graph/gateway_listener.go
    createFrontendTLSCaCertReferenceResolver (reads gw.Spec.TLS.Frontend only), go.mod
    sigs.k8s.io/gateway-api v1.6.1; Gateway API GEP-91.
    """

    code = "MTLS720"
    name = "gateway-listener-frontend-validation-ignored"
    severity = Severity.ERROR

    @classmethod
    def check(cls, ctx):
        for gw in ctx.manifests.of_kind("Gateway"):
            if not gw.api_version.startswith("gateway.networking.k8s.io/") or not gateway.handled(gw, ctx.manifests):
                continue
            for i, listener in enumerate(items(at(gw.body, "spec", "listeners"))):
                old = at(listener, "tls", "frontendValidation")
                if old is None:
                    continue
                val, _keys = gateway.validation_for(gw, at(listener, "port"))
                if val is not None:
                    continue
                yield cls.on(gw, ("spec", "listeners", i, "tls", "frontendValidation"),
                             f"{gw.ref}: listener {at(listener, 'name')!s} tls.frontendValidation is not a field of "
                             "current Gateway API (moved to spec.tls.frontend in v1.4); NGINX Gateway Fabric asks "
                             "this listener for no client certificate.",
                             "Move the caCertificateRefs to spec.tls.frontend.default.validation (or a perPort "
                             "entry for this port).")


#: Service annotations with which a cloud load balancer terminates TLS itself (its own
#: certificate), so the TLS connection ends before the ingress controller
LB_TLS_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-ssl-cert": "AWS ELB/NLB (ACM certificate)",
    "service.beta.kubernetes.io/do-loadbalancer-certificate-id": "DigitalOcean load balancer",
    "service.beta.kubernetes.io/oci-load-balancer-tls-secret": "OCI load balancer",
    "service.beta.kubernetes.io/oci-load-balancer-ssl-ports": "OCI load balancer",
}
#: label values that mark the pods of an ingress controller / gateway data plane
CONTROLLER_LABELS = ("ingress-nginx", "nginx-ingress", "ingress-controller", "nginx-gateway", "gateway-fabric")


def _mtls_configured(ctx: "K8sContext") -> bool:
    if any(auth.configured for auth in _auth_of(ctx)):
        return True
    if any(at(p.body, "spec", "ingressMTLS") is not None for p in ctx.manifests.of_kind("Policy")):
        return True
    return any(at(g.body, "spec", "tls", "frontend") is not None for g in ctx.manifests.of_kind("Gateway"))


def _selects_controller(svc: Resource) -> bool:
    selector = at(svc.body, "spec", "selector")
    labels = at(svc.body, "metadata", "labels")
    values = []
    for node in (selector, labels):
        if isinstance(node, Node) and isinstance(node.value, dict):
            values += [f"{k}={v}" for k, v in node.value.items() if not isinstance(v, Node)]
    text = " ".join(values).lower()
    return any(mark in text for mark in CONTROLLER_LABELS) or "app.kubernetes.io/component=controller" in text


class TlsTerminatedBeforeController(K8sRule):
    """A cloud load balancer in front of the ingress controller terminates TLS, so no client certificate reaches nginx.

    What it checks:
    A Service that selects ingress-controller pods and carries a load-balancer annotation that
    makes the cloud load balancer terminate TLS with its own certificate
    (`service.beta.kubernetes.io/aws-load-balancer-ssl-cert`, DigitalOcean
    `do-loadbalancer-certificate-id`, OCI `oci-load-balancer-tls-secret`/`-ssl-ports`), while
    the input configures client authentication (auth-tls, ingressMTLS or Gateway frontend
    validation).

    Why it matters:
    The client's TLS handshake ends at the load balancer, which asks for no client certificate;
    nginx then gets a new connection (plain HTTP or the balancer's own TLS) that carries none:
    `ssl_verify_client on` answers 400 "No required SSL certificate was sent" to every client
    (or, on plain HTTP, the host's 400 "The plain HTTP request was sent to HTTPS port"), and
    `optional` passes everyone with `ssl-client-verify: NONE` (F2.2). No annotation on the
    Ingress can repair that: mTLS must end where TLS ends.

    Example:
    kind: Service   # selector app.kubernetes.io/name: ingress-nginx
    metadata.annotations: {service.beta.kubernetes.io/aws-load-balancer-ssl-cert: arn:aws:acm:...}

    Use instead:
    Let the balancer pass TLS through at layer 4 (AWS NLB with a TCP listener and no ssl-cert
    annotation, `aws-load-balancer-backend-protocol: tcp`; DigitalOcean
    `do-loadbalancer-tls-passthrough: "true"`), so that nginx terminates TLS and asks for the
    certificate; or do mTLS on the balancer (e.g. ALB mutual authentication) and forward its
    verdict header.

    References:
    F2.2; kubernetes/ingress-nginx v1.15.1 docs/deploy/index.md (AWS: TLS termination in the
    load balancer); Kubernetes cloud-provider Service annotations (aws-load-balancer-ssl-cert).
    """

    code = "MTLS716"
    name = "tls-terminated-before-controller"
    severity = Severity.ERROR
    facts = ("F2.2",)

    @classmethod
    def check(cls, ctx):
        if not _mtls_configured(ctx):
            return
        for svc in ctx.manifests.of_kind("Service"):
            if not _selects_controller(svc):
                continue
            ann = svc.annotations
            if ann.get("service.beta.kubernetes.io/do-loadbalancer-tls-passthrough", "").lower() == "true":
                continue
            for name, what in LB_TLS_ANNOTATIONS.items():
                if name in ann:
                    yield cls.on(
                        svc, name, f"{svc.ref} in front of the ingress controller has {name}: the {what} terminates "
                        "TLS, so no client certificate reaches nginx and client authentication cannot work.",
                        "Pass TLS through the load balancer at layer 4 (no certificate on it) so nginx "
                        "terminates TLS, or do mTLS on the load balancer itself.")
                    break


PASSTHROUGH = inx.PREFIX + "ssl-passthrough"


def _controller_args(ctx: "K8sContext") -> list[str] | None:
    """The args of the ingress-nginx controller container when its Deployment/DaemonSet is in
    the input (None: not in the input)."""
    found: list[str] | None = None
    for wl in ctx.manifests.of_kind("Deployment", "DaemonSet"):
        for c in items(at(wl.body, "spec", "template", "spec", "containers")):
            image = str(at(c, "image") or "")
            args = [str(a) for a in items(at(c, "args"))]
            if "ingress-nginx/controller" in image or any("nginx-ingress-controller" in a for a in args):
                found = (found or []) + args
    return found


class SslPassthroughSkipsAuthTls(K8sRule):
    """ssl-passthrough on an Ingress with auth-tls: TLS is piped to the backend, nginx never asks for the certificate.

    What it checks:
    An ingress-nginx Ingress with `nginx.ingress.kubernetes.io/ssl-passthrough: "true"` and
    auth-tls annotations. An error when the controller's Deployment in the input runs with
    `--enable-ssl-passthrough`, a warning when the Deployment is not in the input (without the
    flag the passthrough annotation itself is ignored).

    Why it matters:
    With passthrough the controller's layer-4 proxy sends the TLS connection, chosen by SNI,
    straight to the backend: nginx never terminates it, so `ssl_verify_client` and every other
    annotation of the Ingress do nothing (ingress-nginx: "using SSL Passthrough invalidates all
    the other annotations"). The backend terminates TLS itself and decides alone whether to ask
    for a client certificate.

    Example:
    nginx.ingress.kubernetes.io/ssl-passthrough: "true"
    nginx.ingress.kubernetes.io/auth-tls-secret: prod/client-ca     # ignored

    Use instead:
    Either terminate TLS in nginx (drop ssl-passthrough) and keep auth-tls, or keep passthrough
    and configure client-certificate verification in the backend's own TLS server.

    References:
    kubernetes/ingress-nginx v1.15.1 docs/user-guide/nginx-configuration/annotations.md (SSL
    Passthrough), internal/ingress/controller/tcp.go.
    """

    code = "MTLS717"
    name = "ssl-passthrough-skips-auth-tls"
    severity = Severity.ERROR

    @classmethod
    def check(cls, ctx):
        args = _controller_args(ctx)
        if args is not None and not any(a.startswith("--enable-ssl-passthrough") for a in args):
            return  # the controller ignores the passthrough annotation: auth-tls applies
        for auth in _auth_of(ctx):
            value = auth.ingress.annotations.get(PASSTHROUGH, "").strip().lower()
            if not auth.configured or value not in ("true", "1", "t"):
                continue
            sure = args is not None
            yield cls.on(
                auth.ingress, PASSTHROUGH,
                f"{auth.ingress.ref} has ssl-passthrough: TLS goes straight to the backend and its auth-tls "
                "annotations are ignored" + ("" if sure else " (if the controller runs with "
                                                          "--enable-ssl-passthrough)") + ".",
                "Drop ssl-passthrough to verify client certificates in nginx, or verify them in the "
                "backend's TLS server.", severity=None if sure else Severity.WARNING)


TRAEFIK_OPTIONS_ANNOTATION = "traefik.ingress.kubernetes.io/router.tls.options"
TRAEFIK_SOURCE = "traefik/traefik fd5a576df2 (master after v3.7)"


def _tls_options(ctx: "K8sContext") -> dict[str, Resource]:
    """Traefik's id of each TLSOption (crd/kubernetes.go buildTLSOptions: ``<ns>-<name>``,
    ``default`` for the one named default)."""
    out = {}
    for opt in ctx.manifests.of_kind("TLSOption"):
        ns = opt.namespace or "default"
        out["default" if opt.name == "default" else f"{ns}-{opt.name}"] = opt
    return out


def _option_refs(ctx: "K8sContext") -> Iterator[tuple[Resource, str, Location, str]]:
    """(router resource, the TLSOption id it asks for, where, as written) of IngressRoutes and Ingresses."""
    for route in ctx.manifests.of_kind("IngressRoute"):
        name = at(route.body, "spec", "tls", "options", "name")
        if isinstance(name, str) and name:
            if "@" in name:
                yield route, name.split("@")[0], route.where("spec", "tls", "options", "name"), name
                continue
            ns = at(route.body, "spec", "tls", "options", "namespace") or route.namespace or "default"
            yield route, f"{ns}-{name}", route.where("spec", "tls", "options", "name"), name
    for ing in ctx.manifests.of_kind("Ingress"):
        value = ing.annotations.get(TRAEFIK_OPTIONS_ANNOTATION)
        if value:
            wanted = value.split("@")[0] if value.endswith("@kubernetescrd") else "\0not-a-crd-option"
            yield ing, wanted, ing.annotation_location(TRAEFIK_OPTIONS_ANNOTATION), value


def _verifies(opt: Resource) -> bool:
    kind = at(opt.body, "spec", "clientAuth", "clientAuthType")
    names = items(at(opt.body, "spec", "clientAuth", "secretNames"))
    return bool(names) and kind in (None, "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")


class TraefikTlsOptionUnusable(K8sRule):
    """A Traefik TLSOption with client auth that Traefik cannot use: every TLS connection of its routers is closed.

    What it checks:
    A TLSOption whose `spec.clientAuth.secretNames` name a Secret (in the input, in the
    TLSOption's namespace) with neither `tls.ca` nor `ca.crt`; and a router that asks for TLS
    options that do not exist: an IngressRoute's `spec.tls.options` (namespace defaults to the
    IngressRoute's) or an Ingress's `traefik.ingress.kubernetes.io/router.tls.options` not
    written `<namespace>-<name>@kubernetescrd`.

    Why it matters:
    Traefik skips such a Secret (it logs "contains neither tls.ca nor ca.crt"); with no CA left,
    `RequireAndVerifyClientCert`/`VerifyClientCertIfGiven` is a TLS configuration error ("CAFiles
    is required"), and so is an unknown options name ("unknown TLS options"). Traefik then
    installs a closing route: every TLS handshake to the router's hosts fails, for every client,
    with or without a certificate. A TLS-layer failure, not an HTTP 400.

    Example:
    kind: TLSOption   # clientAuth: {secretNames: [client-ca], clientAuthType: RequireAndVerifyClientCert}
    kind: Secret      # client-ca with data: {ca.pem: ...}: neither tls.ca nor ca.crt
    traefik.ingress.kubernetes.io/router.tls.options: mtls      # must be prod-mtls@kubernetescrd

    Use instead:
    Put the client CA under `ca.crt` (or `tls.ca`) of a Secret in the TLSOption's namespace, and
    reference the TLSOption by its name (and namespace) from the IngressRoute, or as
    `<namespace>-<name>@kubernetescrd` from an Ingress.

    References:
    traefik/traefik fd5a576df2 (master after v3.7) pkg/provider/kubernetes/crd/kubernetes.go
    buildTLSOptions, getCABlocks; pkg/tls/tlsmanager.go buildTLSConfig, Manager.Get;
    pkg/server/router/tcp/manager.go (the closing route for broken TLS options).
    """

    code = "MTLS718"
    name = "traefik-tls-option-unusable"
    severity = Severity.ERROR

    @classmethod
    def check(cls, ctx):
        from mtls_doctor.k8s.manifests import secret_data

        options = _tls_options(ctx)
        for opt in options.values():
            ns = opt.namespace or "default"
            for i, secret_name in enumerate(items(at(opt.body, "spec", "clientAuth", "secretNames"))):
                found = ctx.manifests.find("Secret", ns, str(secret_name))
                if found is None:
                    continue
                values = secret_data(found).values
                if "tls.ca" not in values and "ca.crt" not in values:  # getCABlocks: no single-key fallback
                    yield cls.on(
                        opt, ("spec", "clientAuth", "secretNames", i),
                        f"{opt.ref}: Secret {ns}/{secret_name} has neither tls.ca nor ca.crt: Traefik skips it"
                        + ("; with no CA left its clientAuthType fails and every TLS connection of its routers "
                           "is closed." if _verifies(opt) else "."),
                        "Put the client CA under the key ca.crt (or tls.ca) of that Secret.")
        if not options:
            return
        for router, wanted, where, written in _option_refs(ctx):
            if wanted not in options:
                yield cls.on(
                    router, where,
                    f"{router.ref} asks for TLS options {written!r}, which Traefik does not have (the TLSOptions "
                    f"here are {', '.join(sorted(options))}): every TLS connection to its hosts is closed.",
                    "Reference the TLSOption by name (and namespace) from an IngressRoute, or as "
                    "<namespace>-<name>@kubernetescrd from an Ingress.")


class TraefikTlsOptionUnused(K8sRule):
    """A Traefik TLSOption with client auth that no router uses, so no host asks for a client certificate.

    What it checks:
    A TLSOption with `spec.clientAuth` that is not named `default` and that no IngressRoute
    (`spec.tls.options`) or Ingress (`traefik.ingress.kubernetes.io/router.tls.options`) in the
    input references; or several TLSOptions named `default` in different namespaces.

    Why it matters:
    Traefik applies a TLSOption only to the routers that name it, and the one named `default`
    to all others; every other host keeps Traefik's default TLS options, which request no client
    certificate. Two `default` TLSOptions in different namespaces are both dropped (Traefik logs
    "Default TLS Options defined in multiple namespaces").

    Example:
    kind: TLSOption   # name: mtls, clientAuth: {...}
    kind: IngressRoute  # spec.tls: {secretName: api-tls}   no options: the client auth is not applied

    Use instead:
    `spec.tls.options: {name: mtls, namespace: prod}` on the IngressRoute, or name the TLSOption
    `default` (once in the cluster) to apply it everywhere.

    References:
    traefik/traefik fd5a576df2 (master after v3.7) pkg/provider/kubernetes/crd/kubernetes.go
    buildTLSOptions; docs/content/reference/routing-configuration/kubernetes/crd/http/tlsoption.md.
    """

    code = "MTLS719"
    name = "traefik-tls-option-unused"
    severity = Severity.WARNING

    @classmethod
    def check(cls, ctx):
        options = _tls_options(ctx)
        used = {wanted for _r, wanted, _w, _x in _option_refs(ctx)}
        defaults = [o for o in ctx.manifests.of_kind("TLSOption") if o.name == "default"]
        if len({o.namespace or "default" for o in defaults}) > 1:
            for o in defaults:
                yield cls.on(o, ("metadata", "name"), f"{o.ref}: TLSOptions named default exist in several "
                             "namespaces: Traefik drops them all.", "Keep one TLSOption named default in the cluster.")
        for ident, opt in options.items():
            if ident == "default" or ident in used or at(opt.body, "spec", "clientAuth") is None:
                continue
            yield cls.on(opt, ("spec", "clientAuth"), f"{opt.ref} sets clientAuth but no IngressRoute or Ingress "
                         "here uses it: no host asks for a client certificate through it.",
                         "Reference it from the IngressRoute (spec.tls.options) or the Ingress "
                         f"({TRAEFIK_OPTIONS_ANNOTATION}: {ident}@kubernetescrd).")


RULES: tuple[type[K8sRule], ...] = (
    ManifestUnusable,
    AuthTlsSpreadsToHost,
    AuthTlsConflictOnHost,
    AuthTlsSecretDenied,
    AuthTlsSecretWithoutCa,
    AuthTlsSecretHoldsServerPair,
    ForeignControllerAnnotations,
    AuthTlsOnCatchAll,
    ClientCertHeadersForgeable,
    MatchCnBlocksAcme,
    AuthTlsValueDefaulted,
    AuthTlsValueRejectsIngress,
    ClientAuthPerPath,
    IngressMtlsPolicyUnusable,
    FrontendValidationInsecureFallback,
    TlsTerminatedBeforeController,
    SslPassthroughSkipsAuthTls,
    TraefikTlsOptionUnusable,
    TraefikTlsOptionUnused,
    GatewayListenerFrontendValidationIgnored,
)
