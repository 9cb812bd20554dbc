"""The real-case corpus of ``diagnose``: situations from public troubleshooting threads, rebuilt.

Each ``Case`` is written from the thread it cites (never copied): the configuration, the
certificate the user had, what their client did (replayed against REAL nginx on 127.0.0.1 so
that nginx writes its own log lines, F4.1), and the arguments the user would give ``diagnose``
(their certificate, where their client connects, what they saw). ``run_case`` starts nginx,
replays, runs ``mtls-doctor diagnose --format json`` and stops nginx; ``expected`` is the root
cause established in the thread (None: nothing wrong, the user's certificate works).

``python -m tests.diagnose.corpus [docs/cases.md]`` runs every case and writes the page with the
results and the confusion table (``tests/diagnose/test_cases.py`` checks the same).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Callable

NAMES = ("app.example.test", "api.example.test", "www.example.test", "admin.example.test")
AT = datetime.now(timezone.utc)


@dataclass(frozen=True)
class Req:
    """One request the user's client made: its certificate, SNI (None: none), Host."""

    client: str | None = None  # a lab client (lab.pki CLIENTS) or None
    sni: str | None = "app.example.test"
    host: str = "app.example.test"
    chain: bool = True  # send the intermediates after the leaf
    port: int = 0  # index into the ports
    trust: str = "root"  # the CA the client verifies nginx with (another: it rejects nginx)
    plain: bool = False  # plain HTTP (http://) to the port


@dataclass(frozen=True)
class Case:
    id: str
    source: str  # the thread (URL)
    story: str  # what the user had and saw, in one sentence
    expected: str | None  # the established root cause id (None: nothing is wrong)
    http: str  # the http{} body; @PORT0@.. ports, files relative to the prefix
    files: tuple[tuple[str, str], ...]  # (relative path, spec), see _file()
    requests: tuple[Req, ...] = ()  # what the user's client did before diagnose
    client: str | None = None  # the certificate the user gives diagnose (--cert/--key)
    chain: bool = True
    args: tuple[str, ...] = ()  # the user's own diagnose arguments (@PORT0@, @CA@ expand)
    ports: int = 1
    refused: bool = False  # nginx refuses the configuration (nginx -t fails)
    #: after the requests: (relative path, spec) rewritten, then nginx reloaded (SIGHUP)
    then_reload: tuple[tuple[str, str], ...] = ()
    after: tuple[Req, ...] = ()  # requests after the reload
    #: after the requests: (relative path, spec) changed on disk WITHOUT a reload
    then_change: tuple[tuple[str, str], ...] = ()
    upstream_tls: str | None = None  # "require-cert": a TLS upstream on @PORT1@ that requires one
    no_config: bool = False  # the user has no access to the configuration (--url only)
    give_key: bool = True  # the user gives the key too (else the certificate is judged offline only)
    #: nginx versions the situation exists in: (first, first-not) as tuples (None: open)
    versions: tuple[tuple[int, ...] | None, tuple[int, ...] | None] = (None, None)
    #: files of this machine the configuration names as they are (the system trust store)
    needs: tuple[str, ...] = ()

    def applies_to(self, version: tuple[int, ...]) -> bool:
        low, high = self.versions
        return (low is None or version >= low) and (high is None or version < high)


def server(name: str, body: str, listen: str = "127.0.0.1:@PORT0@ ssl", cert: str = "pki/server.pem") -> str:
    return (f"server {{\n    listen {listen};\n    server_name {name};\n"
            f"    ssl_certificate {cert};\n    ssl_certificate_key pki/server.key;\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n" + body +
            '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n}\n')


def plain_backend(port: str = "@PORT1@") -> str:
    return (f"server {{\n    listen 127.0.0.1:{port};\n    server_name backend;\n"
            '    location / { return 200 "backend got it\\n"; }\n}\n')


VERIFY_ON = "    ssl_verify_client on;\n    ssl_client_certificate pki/clients-ca.pem;\n"
#: optional, and the verdict handed to a backend that decides (Keycloak's nginx lookup): the
#: only location proxies, so nothing serves content unchecked (keycloak/keycloak#8399)
KEYCLOAK = ("server {\n    listen 127.0.0.1:@PORT0@ ssl;\n    server_name app.example.test;\n"
            "    ssl_certificate pki/server.pem;\n    ssl_certificate_key pki/server.key;\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_verify_client optional;\n"
            "    ssl_client_certificate pki/clients-ca.pem;\n"
            "    location / {\n        proxy_set_header ssl-client-verify $ssl_client_verify;\n"
            "        proxy_set_header ssl-client-cert $ssl_client_escaped_cert;\n"
            "        proxy_pass http://127.0.0.1:@PORT1@;\n    }\n}\n"
            "server {\n    listen 127.0.0.1:@PORT1@;\n    server_name backend;\n"
            "    location / {\n        if ($http_ssl_client_verify != SUCCESS) { return 401; }\n"
            '        return 200 "keycloak got $http_ssl_client_verify\\n";\n    }\n}\n')
#: certificate and key paths swapped (tnc1997/samples#46)
SWAPPED = ("server {\n    listen 127.0.0.1:@PORT0@ ssl;\n    server_name app.example.test;\n"
           "    ssl_certificate pki/privkey.pem;\n    ssl_certificate_key pki/fullchain.pem;\n"
           "    ssl_protocols TLSv1.2 TLSv1.3;\n" + VERIFY_ON +
           '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n}\n')
STD = (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/clients-ca.pem", "ca:root"))
NO_SNI = ("--no-sni", "--host", "app.example.test")
SNI = ("--sni", "app.example.test")


CASES: tuple[Case, ...] = (
    Case("eku-server-auth-only", "https://github.com/nginx/docker-nginx/issues/175",
         "client certificates made with serverAuth only; every request got 400 'The SSL certificate "
         "error' after an upgrade; the log (at info) said 26 unsupported certificate purpose",
         "client-certificate-purpose", server("app.example.test", VERIFY_ON + "    ssl_verify_depth 3;\n"),
         STD, (Req("server-eku"),), client="server-eku", args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("ingress-no-certificate-sent", "https://github.com/kubernetes/ingress-nginx/issues/7176",
         "verify on; a client that did not present its certificate got 400 'No required SSL "
         "certificate was sent' and the user expected a TLS failure instead",
         "client-certificate-not-sent", server("app.example.test", VERIFY_ON), STD, (Req(None),),
         client="good", args=SNI + ("--symptom", "400 No required SSL certificate was sent")),
    Case("trusted-only-emerg", "https://github.com/nginx/nginx/pull/143",
         "ssl_verify_client on with only ssl_trusted_certificate (no ssl_client_certificate): nginx "
         "before 1.27.2 refuses to start, 'no ssl_client_certificate for ssl_verify_client'",
         "verify-client-without-ca",
         server("app.example.test", "    ssl_verify_client on;\n    ssl_trusted_certificate pki/clients-ca.pem;\n"),
         STD, refused=True, versions=(None, (1, 27, 2))),
    Case("intermediate-only-in-ca-file", "https://github.com/openresty/lua-nginx-module/pull/2329",
         "only the issuing intermediate in ssl_client_certificate, to trust just that CA; every "
         "client failed with 2 'unable to get issuer certificate'",
         "ca-file-missing-root", server("app.example.test", VERIFY_ON),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/clients-ca.pem", "ca:inter")),
         (Req("good", chain=False),), client="good", chain=False, args=SNI),
    Case("crl-of-intermediate-only", "https://github.com/nginx/nginx.org/pull/188",
         "ssl_crl holds the intermediate's CRL only; every client is rejected with 3 'unable to get "
         "certificate CRL'", "crl-missing-for-ca",
         server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         STD + (("pki/crl.pem", "crl:inter"),), (Req("good"),), args=SNI),
    Case("crl-root-missing-with-cert", "https://github.com/Tongsuo-Project/Tongsuo/issues/613",
         "ssl_crl configured, clients got 400; the CRL file lacked the root CA's CRL",
         "crl-missing-for-ca", server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         STD + (("pki/crl.pem", "crl:inter"),), (Req("good"),), client="good",
         args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("cert-header-obs-fold-aspnet", "https://github.com/dotnet/AspNetCore.Docs/issues/22054",
         "proxy_set_header X-SSL-CERT $ssl_client_cert; the backend answered 400 and worked once "
         "the header was removed", "client-cert-header-multiline",
         server("app.example.test", VERIFY_ON).replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / {\n        proxy_set_header X-SSL-CERT $ssl_client_cert;\n"
             "        proxy_pass http://127.0.0.1:@PORT1@;\n    }\n") + plain_backend(),
         STD, (Req("good"),), client="good", ports=2, args=SNI + ("--symptom", "backend-rejects")),
    Case("cert-header-obs-fold-linkerd", "https://github.com/linkerd/linkerd2/issues/3084",
         "nginx forwards the raw client certificate to a proxy in front of the application, which "
         "answers 400 Bad Request to every request carrying a certificate",
         "client-cert-header-multiline",
         server("app.example.test", "    ssl_verify_client optional_no_ca;\n").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / {\n        proxy_set_header X-Forwarded-Client-Cert $ssl_client_raw_cert;\n"
             "        proxy_set_header X-Client-Verify $ssl_client_verify;\n"
             "        proxy_pass http://127.0.0.1:@PORT1@;\n    }\n") + plain_backend(),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key")), (Req("self-signed"),),
         client="self-signed", ports=2, args=SNI + ("--symptom", "the backend answers 400 Bad Request")),
    Case("default-server-ip-url", "https://r-pufky.github.io/docs/services/nginx/cert-based-authentication.html",
         "a catch-all default server without client auth next to the mTLS server; a client using "
         "the IP address (no SNI) with a valid certificate gets 400 'No required SSL certificate "
         "was sent'", "no-sni-default-server",
         server("_", "", listen="127.0.0.1:@PORT0@ ssl default_server").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n', "    return 404;\n")
         + server("app.example.test", VERIFY_ON), STD, (Req("good", sni=None),), client="good",
         args=("--url", "https://127.0.0.1:@PORT0@/", "--host", "app.example.test", "--ca-file", "@CA@",
               "--symptom", "400 No required SSL certificate was sent")),
    Case("h2-connection-reuse-421", "https://github.com/nginx/nginx-gateway-fabric/pull/3659",
         "two subdomains on one wildcard certificate, the second verifies clients; a browser reusing "
         "the first subdomain's connection gets 421 Misdirected Request", "sni-host-mismatch",
         server("www.example.test", "") + server("admin.example.test", VERIFY_ON),
         STD, (Req("good", sni="www.example.test", host="admin.example.test"),), client="good",
         args=("--sni", "www.example.test", "--host", "admin.example.test", "--symptom", "421")),
    Case("optional-unchecked-broker", "https://github.com/enablebanking/open_banking_eidas_broker/issues/67",
         "ssl_verify_client optional in front of an API that was meant to require certificates: "
         "requests without one are served", "verification-not-enforced",
         server("api.example.test", "    ssl_verify_client optional;\n    ssl_client_certificate pki/clients-ca.pem;\n"),
         STD, (Req(None, sni="api.example.test", host="api.example.test"),),
         args=("--server-name", "api.example.test")),
    Case("upstream-verify-local-issuer", "https://github.com/nginx/nginx/issues/1409",
         "proxy_ssl_verify on towards an https upstream; every request got 502 and the log "
         "'upstream SSL certificate verify error: (20:unable to get local issuer certificate)'",
         "upstream-certificate-untrusted",
         server("app.example.test", "").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / {\n        proxy_pass https://127.0.0.1:@PORT1@;\n        proxy_ssl_verify on;\n"
             "        proxy_ssl_name localhost;\n        proxy_ssl_trusted_certificate pki/upstream-ca.pem;\n    }\n")
         + server("localhost", "", listen="127.0.0.1:@PORT1@ ssl"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/upstream-ca.pem", "ca:other-root")),
         (Req(None),), ports=2, args=SNI + ("--symptom", "backend-rejects")),
    Case("depth-two-intermediates", "https://github.com/nginx/kubernetes-ingress/issues/4731",
         "client certificates issued two intermediates below the root; with the default "
         "ssl_verify_depth nginx rejects them", "verify-depth-exceeded",
         server("app.example.test", VERIFY_ON), STD, (Req("deep"),), client="deep", args=SNI),
    Case("verify-off-no-ca-names", "https://serverdevworker.com/1597497a90",
         "s_client says 'No client certificate CA names sent'; the server has ssl_client_certificate "
         "but the verification directive is missing", "verify-client-off",
         server("app.example.test", "    ssl_client_certificate pki/clients-ca.pem;\n"), STD,
         (Req("good"),), client="good", args=SNI + ("--symptom", "No client certificate CA names sent")),
    Case("alb-terminates-tls", "https://github.com/nginx/nginx/issues/170",
         "an AWS application load balancer terminates TLS and forwards plain HTTP to nginx, which "
         "passes $ssl_client_s_dn on; the backend never sees a client identity",
         "tls-terminated-before-nginx",
         "server {\n    listen 127.0.0.1:@PORT0@;\n    server_name app.example.test;\n"
         "    location / {\n        proxy_set_header X-Client-DN $ssl_client_s_dn;\n"
         "        proxy_pass http://127.0.0.1:@PORT1@;\n    }\n}\n" + plain_backend(),
         (), (), ports=2, args=("--no-probe", "--symptom", "none-at-backend")),
    Case("trusted-only-browser-no-prompt", "https://github.com/voxpupuli/puppet-nginx/issues/1644",
         "client CA only in ssl_trusted_certificate with optional_no_ca and a check in nginx: "
         "browsers never ask the user to pick a certificate", "ca-names-trusted-only",
         server("app.example.test", "    ssl_verify_client optional_no_ca;\n    ssl_trusted_certificate pki/clients-ca.pem;\n"
                "    if ($ssl_client_verify != SUCCESS) { return 403; }\n"),
         STD, (Req(None),), client="good", args=SNI + ("--symptom", "browser-no-prompt")),
    Case("scanners-496-nothing-wrong", "https://github.com/nginx/nginx/issues/915",
         "the log fills with 'client sent no required SSL certificate' from scanners; the user's own "
         "certificate works", None, server("app.example.test", VERIFY_ON), STD,
         (Req(None), Req(None, sni="app.example.test"), Req("good")), client="good", args=SNI),
    Case("crl-refreshed-history", "https://github.com/Tongsuo-Project/Tongsuo/issues/613",
         "the CRL had expired (12 'CRL has expired' in the log); a fresh CRL was published and nginx "
         "reloaded; old lines remain in the log", None,
         server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         STD + (("pki/crl.pem", "crl:root,inter-expired"),), (Req("good"),), client="good", args=SNI,
         then_reload=(("pki/crl.pem", "crl:root,inter"),), after=(Req("good"),)),
    Case("crl-expired", "https://github.com/Tongsuo-Project/Tongsuo/issues/613",
         "every client suddenly rejected: the published CRL passed its nextUpdate",
         "crl-expired", server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         STD + (("pki/crl.pem", "crl:root,inter-expired"),), (Req("good"),), client="good", args=SNI),
    Case("ca-file-changed-not-reloaded", "https://serverdevworker.com/140834434f",
         "a new client CA bundle was copied over the old one; clients of the new CA still get "
         "'client sent no required SSL certificate'; nginx was never reloaded", "nginx-not-reloaded",
         server("app.example.test", VERIFY_ON), STD, (Req("foreign"),), client="foreign", args=SNI,
         then_change=(("pki/clients-ca.pem", "ca:other-root"),)),
    Case("expired-optional-no-ca", "https://github.com/openssl/openssl/issues/14036",
         "optional_no_ca with the check left to the application; after an OpenSSL update an expired "
         "client certificate gets 400 and the log says 10 'certificate has expired'",
         "client-certificate-expired", server("app.example.test", "    ssl_verify_client optional_no_ca;\n"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key")), (Req("expired"),),
         client="expired", args=SNI + ("--symptom", "400")),
    Case("expired-optional-ingress", "https://github.com/kubernetes/ingress-nginx/issues/8229",
         "auth-tls-verify-client optional: an expired certificate is answered 400 instead of being "
         "forwarded with FAILED", "client-certificate-expired",
         server("app.example.test", "    ssl_verify_client optional;\n    ssl_client_certificate pki/clients-ca.pem;\n"
                "    ssl_verify_depth 2;\n"),
         STD, (Req("expired"),), client="expired", args=("--server-name", "app.example.test")),
    Case("generated-certs-expired-log-only", "https://github.com/researchstudio-sat/webofneeds/issues/3393",
         "node certificates generated with a two-year lifetime; after that nginx rejects the "
         "requests; the operator has the configuration and the error log", "client-certificate-expired",
         server("app.example.test", VERIFY_ON), STD, (Req("expired"), Req("expired")), args=()),
    Case("curl-without-server-ca", "https://github.com/curl/curl/issues/10702",
         "curl against a server with a private CA, without --cacert: curl aborts the handshake "
         "with 'unknown CA'; nginx logs alert 48", "server-certificate-rejected-by-client",
         server("app.example.test", VERIFY_ON), STD, (Req("good", trust="other-root"),), args=()),
    Case("browser-certificate-unknown", "https://github.com/geerlingguy/drupal-vm/issues/2023",
         "a self-signed server certificate; the browser refuses it and the nginx log fills with "
         "SSL_do_handshake() failed ... alert", "server-certificate-rejected-by-client",
         server("app.example.test", ""), (("pki/server.pem", "server"), ("pki/server.key", "server.key")),
         (Req(None, trust="other-root"), Req(None, trust="other-root")), args=()),
    Case("curl-client-cert-server-untrusted", "https://github.com/nategood/sleep-tight/issues/4",
         "ssl_verify_client on; curl with --key/--cert and --cacert of the client CA always fails "
         "with 'SSL certificate problem: self signed certificate' (about nginx's own certificate)",
         "server-certificate-rejected-by-client", server("app.example.test", VERIFY_ON), STD,
         (Req("good", trust="other-root"),), client="good", args=SNI),
    Case("verify-client-in-location", "https://www.explaintopic.com/nginx/nginx-ssl-verify-client-on-per-location-not-enforcing-correc-12175.html",
         "ssl_verify_client put in a location to protect one path only: nginx refuses the "
         "configuration ('directive is not allowed here')", "config-rejected",
         server("app.example.test", "    ssl_client_certificate pki/clients-ca.pem;\n"
                "    location /admin/ { ssl_verify_client on; return 200 \"admin\\n\"; }\n"),
         STD, refused=True),
    Case("browser-sends-leaf-only", "https://github.com/smallstep/hello-mtls/issues/94",
         "ssl_client_certificate holds the root only; browsers send the leaf alone, so nginx "
         "cannot build the chain (21)", "client-issuer-unknown",
         server("app.example.test", VERIFY_ON), STD, (Req("good", chain=False),), client="good",
         chain=False, args=SNI),
    Case("client-from-other-ca", "https://github.com/openssl/openssl/issues/17519",
         "a client certificate made with a self-created CA the server does not trust; the request "
         "is refused", "client-ca-not-trusted", server("app.example.test", VERIFY_ON), STD,
         (Req("foreign"),), client="foreign", chain=False, args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("huge-ca-list", "https://github.com/openssl/openssl/issues/4819",
         "hundreds of CAs in the client CA file: every handshake fails once the bundle passes a "
         "size, while a smaller bundle works", "ca-names-list-too-large",
         server("app.example.test", VERIFY_ON),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/clients-ca.pem", "bigca")),
         (Req("good"),), client="good", args=SNI),
    Case("upstream-wants-client-cert", "https://github.com/NginxProxyManager/nginx-proxy-manager/issues/175",
         "nginx proxies to an https upstream that requires client certificates; nginx sends none "
         "and logs the upstream's alert 'while SSL handshaking to upstream'", "upstream-client-certificate",
         server("app.example.test", "").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / { proxy_pass https://127.0.0.1:@UPSTREAM@; }\n"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key")), (Req(None), Req(None)),
         args=SNI + ("--symptom", "502"), upstream_tls="require-cert"),
    Case("dn-map-legacy-slashes", "https://github.com/whamcloud/integrated-manager-for-lustre/pull/391",
         "a map extracts the CN from $ssl_client_s_dn with a '/CN=' pattern written for the old "
         "format; since 1.11.6 the value is RFC 2253 and the map never matches, so verified "
         "clients get 403", "client-dn-format",
         "map $ssl_client_s_dn $client_cn {\n    default \"\";\n    ~/CN=(?<cn>[^/]+) $cn;\n}\n"
         + server("app.example.test", VERIFY_ON + '    if ($client_cn = "") { return 403; }\n'),
         STD, (Req("good"),), client="good", args=SNI + ("--symptom", "403 Forbidden")),
    Case("wrong-name-default-server", "https://github.com/kubernetes/ingress-nginx/pull/702",
         "testing with a host name that is not the server's full DNS name: the default server "
         "answers and never asks for a client certificate", "no-sni-default-server",
         server("_", "", listen="127.0.0.1:@PORT0@ ssl default_server").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n', "    return 404;\n")
         + server("app.example.test", VERIFY_ON), STD,
         (Req("good", sni="app.test", host="app.test"),), client="good",
         args=("--sni", "app.test", "--symptom", "No client certificate CA names sent")),
    Case("regex-server-two-names-421", "https://trac.nginx.org/nginx/ticket/1252",
         "one regex server_name serves two names on one certificate and verifies clients; a "
         "browser multiplexes both names over one HTTP/2 connection and gets 421 for the second "
         "(nginx compares the names as strings for a regex server; measured)",
         "sni-host-mismatch", server("~^(app|api)\\.example\\.test$", VERIFY_ON), STD,
         (Req("good", sni="app.example.test", host="api.example.test"),), client="good",
         args=("--sni", "app.example.test", "--host", "api.example.test")),
    Case("crl-for-one-of-two-cas", "https://github.com/openresty/lua-nginx-module/issues/2373",
         "two client CAs trusted, ssl_crl holds the CRL of one of them: clients of the other fail "
         "with 3 'unable to get certificate CRL'", "crl-missing-for-ca",
         server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"),
          ("pki/clients-ca.pem", "ca:root,other-root"), ("pki/crl.pem", "crl:root,inter")),
         (Req("foreign"),), client="foreign", args=SNI),
    Case("upstream-name-mismatch", "https://github.com/nginx/nginx/issues/314",
         "proxy_ssl_verify towards an upstream whose certificate does not carry the name nginx "
         "checks: 'upstream SSL certificate does not match' and 502", "upstream-certificate-untrusted",
         server("app.example.test", "").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / {\n        proxy_pass https://127.0.0.1:@PORT1@;\n        proxy_ssl_verify on;\n"
             "        proxy_ssl_trusted_certificate pki/upstream-ca.pem;\n    }\n")
         + server("localhost", "", listen="127.0.0.1:@PORT1@ ssl"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/upstream-ca.pem", "ca:root")),
         (Req(None),), ports=2, args=SNI + ("--symptom", "502 Bad Gateway")),
    Case("controller-ignores-annotations-url-only", "https://github.com/kubernetes/ingress-nginx/issues/9303",
         "client-auth annotations of another controller are ignored: the generated server has no "
         "ssl_verify_client, so the app answers without a certificate; the user only has the URL "
         "and their certificate", "verify-client-off",
         server("app.example.test", ""), (("pki/server.pem", "server"), ("pki/server.key", "server.key")),
         (Req(None),), client="good",
         args=("--url", "https://127.0.0.1:@PORT0@/", "--server-name", "app.example.test", "--ca-file", "@CA@"),
         no_config=True),
    Case("annotation-prefix-ignored-config", "https://github.com/kubernetes/ingress-nginx/issues/1573",
         "client-auth annotations with a prefix the controller does not read: the generated "
         "configuration has no client verification and the dashboards open in a browser that "
         "never asks for a certificate", "verify-client-off",
         server("app.example.test", ""), (("pki/server.pem", "server"), ("pki/server.key", "server.key")),
         (Req(None),), client="good", args=SNI + ("--symptom", "browser-no-prompt")),
    Case("old-annotation-prefix-url-only", "https://github.com/kubernetes/ingress-nginx/issues/2287",
         "client authentication expected from annotations under the old prefix; curl without a "
         "certificate gets the page instead of 400; the user gives the URL and what the browser does",
         "verify-client-off", server("app.example.test", ""),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key")), (Req(None),),
         args=("--url", "https://127.0.0.1:@PORT0@/", "--sni", "app.example.test", "--ca-file", "@CA@",
               "--symptom", "browser-no-prompt"), no_config=True),
    Case("h2-reuse-421-log-only", "https://serverfault.com/questions/977848/disable-http-2-connection-reuse-across-domains",
         "foo requires a client certificate, bar does not, one wildcard certificate: browsers reuse "
         "bar's connection for foo and get 421; the operator has the configuration and the log",
         "sni-host-mismatch", server("www.example.test", "") + server("admin.example.test", VERIFY_ON),
         STD, (Req(None, sni="www.example.test", host="admin.example.test"),
               Req("good", sni="www.example.test", host="admin.example.test")), args=()),
    Case("http-scheme-to-tls-port", "https://github.com/engintron/engintron/issues/1397",
         "a link written http://host:443/ reaches the TLS port in plain HTTP: '400 The plain HTTP "
         "request was sent to HTTPS port'", "plain-http-to-https-port",
         server("app.example.test", VERIFY_ON), STD, (Req(plain=True),), client="good",
         args=SNI + ("--symptom", "The plain HTTP request was sent to HTTPS port")),
    Case("balancer-sends-plain-to-443", "https://github.com/SoylentNews/slashcode/issues/156",
         "a load balancer decrypts and forwards plain HTTP to nginx's TLS port; every request gets "
         "400; the operator has the configuration and the log", "plain-http-to-https-port",
         server("app.example.test", VERIFY_ON), STD, (Req(plain=True), Req(plain=True)), args=()),
    Case("default-server-trusts-other-ca", "https://github.com/nginx/nginx.org/pull/302",
         "the default server verifies against another CA than the mTLS server; a client of that "
         "CA connecting without SNI is let into the mTLS server", "default-server-other-ca",
         server("_", "    ssl_verify_client optional;\n    ssl_client_certificate pki/other-ca.pem;\n",
                listen="127.0.0.1:@PORT0@ ssl default_server")
         + server("app.example.test", VERIFY_ON),
         STD + (("pki/other-ca.pem", "ca:other-root"),), (Req("foreign", sni=None),), args=()),
    Case("removed-domain-files", "https://github.com/engintron/engintron/issues/1511",
         "a domain was removed with its certificate files but the configuration still names "
         "them: nginx does not start ('cannot load certificate' / BIO_new_file failed)",
         "config-file-missing", server("app.example.test", VERIFY_ON)
         + server("old.example.test", "", cert="pki/old-domain.pem"), STD, refused=True),
    Case("client-ca-path-wrong", "https://github.com/bitwarden/server/issues/577",
         "the client CA bundle is named by a path that does not exist in the container; nginx "
         "keeps restarting", "config-file-missing",
         server("app.example.test", "    ssl_verify_client on;\n    ssl_client_certificate pki/missing-ca.pem;\n"),
         STD, refused=True),
    Case("revoked-client", "https://www.integralist.co.uk/posts/client-cert-authentication/",
         "a client certificate revoked in the CA's CRL, which nginx reads through ssl_crl: the "
         "client gets 400 'The SSL certificate error'", "client-certificate-revoked",
         server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         STD + (("pki/crl.pem", "crl:root,inter"),), (Req("revoked"),), client="revoked", args=SNI),
    # --- added with the regressions of the lint rework (issue 12): a verdict handed to the
    # backend is no exposure, a silent log is itself the evidence, nginx -t refusals are causes
    Case("keycloak-verdict-to-backend", "https://github.com/keycloak/keycloak/pull/8399",
         "ssl_verify_client optional in front of Keycloak, which trusts nginx's verdict: "
         "$ssl_client_verify and the escaped certificate go to it in headers; the user asks "
         "whether the setup works, and their certificate is accepted",
         None, KEYCLOAK, STD, (Req("good"),), client="good", args=SNI, ports=2),
    Case("silent-log-400-certificate-error", "https://serverdevworker.com/4165dea4f",
         "a partner's client gets 400 'The SSL certificate error'; the admin has no copy of its "
         "certificate and the server's own error_log (no level: error) says nothing; the answer "
         "was to log at info/debug to see the verify error",
         "error-log-hides-verify-failures",
         server("app.example.test", VERIFY_ON + "    error_log logs/app-error.log;\n"), STD,
         (Req("foreign"),), args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("raw-cert-header-no-symptom", "https://github.com/kubernetes/ingress-nginx/issues/1714",
         "a generated configuration sends $ssl_client_raw_cert in an ssl-client-cert header; the "
         "application behind cannot cope with the multi-line header; the user gives only the "
         "configuration and their certificate, no symptom",
         "client-cert-header-multiline",
         server("app.example.test", VERIFY_ON).replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / {\n        proxy_set_header ssl-client-cert $ssl_client_raw_cert;\n"
             "        proxy_set_header ssl-client-verify $ssl_client_verify;\n"
             "        proxy_pass http://127.0.0.1:@PORT1@;\n    }\n") + plain_backend(),
         STD, (Req("good"),), client="good", ports=2, args=SNI),
    Case("system-store-as-client-ca", "https://github.com/scitran/scitran/issues/10",
         "ssl_client_certificate points at the system bundle /etc/ssl/certs/ca-certificates.crt "
         "while the plan is to authenticate in-house clients: a certificate from any public CA "
         "verifies; the user asks what is wrong with the setup",
         "client-ca-system-store",
         server("app.example.test", "    ssl_verify_client on;\n"
                "    ssl_client_certificate /etc/ssl/certs/ca-certificates.crt;\n"), STD,
         (Req(None),), args=SNI, needs=("/etc/ssl/certs/ca-certificates.crt",)),
    Case("swapped-certificate-and-key", "https://github.com/tnc1997/samples/issues/46",
         "ssl_certificate names the private key file and ssl_certificate_key the certificate "
         "chain (privkey.pem / fullchain.pem swapped): nginx refuses to load them",
         "config-rejected", SWAPPED,
         (("pki/privkey.pem", "server.key"), ("pki/fullchain.pem", "server"),
          ("pki/clients-ca.pem", "ca:root")), refused=True),
    # --- round 2: twelve threads not used before, written and run BEFORE any change to
    # diagnose (the held-out-like figure, ROUND2_BEFORE); each is our own configuration
    Case("self-signed-client-readme-ca", "https://github.com/nategood/sleep-tight/issues/5",
         "a tutorial's ssl_client_certificate names the CA, but the client certificate the user "
         "made is self-signed, so it was never issued by that CA; every request gets 400 until "
         "the certificate itself is trusted", "client-ca-not-trusted",
         server("app.example.test", VERIFY_ON), STD, (Req("self-signed"),), client="self-signed",
         args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("external-ca-depth-default", "https://github.com/opnsense/plugins/issues/2159",
         "client certificates from an external CA two intermediates below its root; without "
         "ssl_verify_depth every client fails with 400", "verify-depth-exceeded",
         server("app.example.test", VERIFY_ON), STD, (Req("deep"),), client="deep",
         args=SNI + ("--symptom", "400 Bad Request")),
    Case("depth-one-bundle-log-only", "https://stackoverflow.com/questions/8431528/nginx-ssl-certificate-authentication-signed-by-intermediate-ca-chain",
         "ssl_verify_depth 1 with a CA bundle of the root and an intermediate; clients under a "
         "longer chain get 'The SSL certificate error'; the fix was a larger depth; the operator "
         "has the configuration and the log", "verify-depth-exceeded",
         server("app.example.test", VERIFY_ON + "    ssl_verify_depth 1;\n"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/clients-ca.pem", "ca:root,inter")),
         (Req("deep"), Req("deep")), args=()),
    Case("crl-root-only", "https://stackoverflow.com/questions/17086934/nginx-unable-to-get-certificate-crl",
         "ssl_crl holds the root CA's CRL only, clients are issued by an intermediate: every "
         "client fails with 3 'unable to get certificate CRL'", "crl-missing-for-ca",
         server("app.example.test", VERIFY_ON + "    ssl_crl pki/crl.pem;\n"),
         STD + (("pki/crl.pem", "crl:root"),), (Req("good"),), client="good",
         args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("intermediate-trust-full-chain", "https://github.com/nginx/nginx/pull/1594",
         "only the issuing intermediate is trusted, to accept that CA's clients alone; the client "
         "sends its full chain and still fails, because OpenSSL needs a chain up to a root",
         "ca-file-missing-root", server("app.example.test", VERIFY_ON),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key"), ("pki/clients-ca.pem", "ca:inter")),
         (Req("good"),), client="good", args=SNI + ("--symptom", "400 The SSL certificate error")),
    Case("upstream-alert-42-log-only", "https://github.com/nginx/kubernetes-ingress/issues/849",
         "the application behind nginx requires a client certificate; through nginx every "
         "request gets 502 and the log shows 'alert bad certificate ... while SSL handshaking to "
         "upstream'; the operator gives the configuration and the log", "upstream-client-certificate",
         server("app.example.test", "").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / { proxy_pass https://127.0.0.1:@UPSTREAM@; }\n"),
         (("pki/server.pem", "server"), ("pki/server.key", "server.key")), (Req(None), Req(None)),
         args=(), upstream_tls="require-cert"),
    Case("upstream-nginx-400-no-cert", "https://github.com/kubernetes/ingress-nginx/issues/11035",
         "nginx proxies to an https application behind another nginx that verifies clients; "
         "nginx sends it no certificate, so the page the user gets is the upstream's 400 'No "
         "required SSL certificate was sent'", "upstream-client-certificate",
         server("app.example.test", "").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n',
             "    location / { proxy_pass https://127.0.0.1:@PORT1@; }\n")
         + server("backend.example.test", VERIFY_ON, listen="127.0.0.1:@PORT1@ ssl"),
         STD, (Req(None),), ports=2, args=SNI + ("--symptom", "400 No required SSL certificate was sent")),
    Case("s-client-wrong-servername", "https://github.com/chromium/badssl.com/issues/421",
         "testing the client-certificate site with openssl s_client and a -servername that is not "
         "the site's name: another server answers and the certificate is never asked for; the "
         "user gives the URL, that name and their certificate", "no-sni-default-server",
         server("_", "", listen="127.0.0.1:@PORT0@ ssl default_server").replace(
             '    location / { return 200 "verify=$ssl_client_verify\\n"; }\n', "    return 404;\n")
         + server("app.example.test", VERIFY_ON), STD,
         (Req("good", sni="www.app.example.test", host="www.app.example.test"),), client="good",
         args=("--url", "https://127.0.0.1:@PORT0@/", "--sni", "www.app.example.test", "--ca-file", "@CA@")),
    Case("app-sends-no-certificate", "https://github.com/owntracks/android/issues/1793",
         "a mobile app configured with a client certificate gets HTTP 400 from nginx; curl "
         "without a certificate gets the same; the app never presented its certificate",
         "client-certificate-not-sent", server("app.example.test", VERIFY_ON), STD,
         (Req(None), Req(None)), client="good", args=SNI + ("--symptom", "HTTP 400")),
    Case("requests-leaf-only-21", "https://github.com/psf/requests/issues/4335",
         "a Python client passes a PEM with its leaf certificate only; nginx answers 400 and "
         "logs 21 'unable to verify the first certificate'", "client-issuer-unknown",
         server("app.example.test", VERIFY_ON), STD, (Req("good", chain=False),), client="good",
         chain=False, args=SNI + ("--symptom", "400")),
    Case("identity-header-dropped-in-location", "https://github.com/vyos/vyos-1x/pull/5381",
         "the API trusts an X-Client-Verify header set by nginx at server level; the proxying "
         "location sets its own proxy_set_header, so the server-level one is not inherited and a "
         "client can send X-Client-Verify: SUCCESS itself", "identity-headers-forgeable",
         "server {\n    listen 127.0.0.1:@PORT0@ ssl;\n    server_name app.example.test;\n"
         "    ssl_certificate pki/server.pem;\n    ssl_certificate_key pki/server.key;\n"
         "    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_verify_client optional;\n"
         "    ssl_client_certificate pki/clients-ca.pem;\n"
         "    proxy_set_header X-Client-Verify $ssl_client_verify;\n"
         "    location / {\n        proxy_set_header Host $host;\n"
         "        proxy_pass http://127.0.0.1:@PORT1@;\n    }\n}\n"
         "server {\n    listen 127.0.0.1:@PORT1@;\n    server_name backend;\n"
         "    location / {\n        if ($http_x_client_verify != SUCCESS) { return 401; }\n"
         '        return 200 "api for a verified client\\n";\n    }\n}\n',
         STD, (Req("good"), Req(None)), client="good", ports=2, args=SNI),
    Case("optional-trusted-only-emerg", "https://serverdevworker.com/5889de14d",
         "ssl_verify_client optional with the client CA only in ssl_trusted_certificate (to keep "
         "the handshake small): nginx before 1.27.2 refuses the configuration",
         "verify-client-without-ca",
         server("app.example.test", "    ssl_verify_client optional;\n    ssl_trusted_certificate pki/clients-ca.pem;\n"),
         STD, refused=True, versions=(None, (1, 27, 2))),
)

#: the round-2 cases (threads not used before), and how many diagnose ranked right first when
#: they were run before any change to diagnose (measured on nginx 1.22.1, 2026-12-03)
ROUND2 = ("self-signed-client-readme-ca", "external-ca-depth-default", "depth-one-bundle-log-only",
          "crl-root-only", "intermediate-trust-full-chain", "upstream-alert-42-log-only",
          "upstream-nginx-400-no-cert", "s-client-wrong-servername", "app-sends-no-certificate",
          "requests-leaf-only-21", "identity-header-dropped-in-location", "optional-trusted-only-emerg")
ROUND2_BEFORE = (9, 12, ("depth-one-bundle-log-only: client-ca-not-trusted",
                         "upstream-nginx-400-no-cert: verify-client-off",
                         "app-sends-no-certificate: none (your certificate accepted)"))


# --- running a case ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def lab_pki():
    from mtls_doctor.lab.pki import build_lab_pki

    return build_lab_pki(AT, server_names=list(NAMES))


def _file(spec: str) -> bytes:
    pki = lab_pki()
    kind, _, names = spec.partition(":")
    if kind == "server":
        return pki.server_chain_pem
    if kind == "server.key":
        return pki.server.key_pem
    if kind == "ca":
        return pki.pem(*names.split(","))
    if kind == "crl":
        return pki.crl_pem(*names.split(","))
    if kind == "client-as-server":  # a certificate nginx does not have: an edge's own
        return pki.clients[names].cert_pem
    if kind == "bigca":  # a trust-store-sized bundle: names above the 65535-byte limit
        return big_ca_bundle() + pki.pem("root", "inter")
    if kind == "client-key":
        return pki.clients[names].key_pem
    raise ValueError(spec)


@lru_cache(maxsize=1)
def big_ca_bundle() -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    out = []
    for i in range(420):
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Public Trust {i} " + "O" * 50),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Certification Services " + "U" * 40),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"Public Root CA {i} " + "C" * 40)])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(i + 1).not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
                .not_valid_after(datetime(2035, 1, 1, tzinfo=timezone.utc))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        out.append(cert.public_bytes(Encoding.PEM))
    return b"".join(out)


class TlsUpstream:
    """A TLS server on 127.0.0.1 that requires a client certificate (Python's ssl, real
    handshakes): what nginx's upstream is in the upstream-mTLS cases. Stopped on exit."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        import ssl

        pki = lab_pki()
        d = Path(tempfile.mkdtemp(prefix="mtls-upstream-"))
        (d / "s.pem").write_bytes(pki.server_chain_pem)
        (d / "s.key").write_bytes(pki.server.key_pem)
        os.chmod(d / "s.key", 0o600)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(d / "s.pem"), str(d / "s.key"))
        self.ctx.load_verify_locations(cadata=pki.pem("root").decode())
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # the alert arrives in the handshake
        self._dir = d
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(3)
                with self.ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
            except OSError:
                pass
            finally:
                conn.close()

    def __exit__(self, *exc) -> None:
        import shutil

        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _client_files() -> dict[str, bytes]:
    pki = lab_pki()
    out = {}
    for name, c in pki.clients.items():
        out[f"clients/{name}-chain.pem"] = c.chain_pem
        out[f"clients/{name}.pem"] = c.cert_pem
        out[f"clients/{name}.key"] = c.key_pem
    out["clients/lab-root.pem"] = pki.pem("root")
    return out


def _send(server, r: Req) -> None:
    from mtls_doctor.lab.client import request

    if r.plain:
        with socket.create_connection(("127.0.0.1", server.ports[r.port]), timeout=5) as sock:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {r.host}\r\nConnection: close\r\n\r\n".encode())
            sock.recv(4096)
        return
    cert = key = None
    if r.client is not None:
        cert = server.prefix / f"clients/{r.client}{'-chain' if r.chain else ''}.pem"
        key = server.prefix / f"clients/{r.client}.key"
    request(server.ports[r.port], lab_id="case", ca_pem=lab_pki().pem(r.trust), host=r.host,
            sni=r.sni, cert_file=cert, key_file=key, timeout=5)


def _wait_log(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)


def _expand(args: tuple[str, ...], server, prefix: Path) -> list[str]:
    out = []
    for a in args:
        for i, port in enumerate(server.ports if server is not None else ()):
            a = a.replace(f"@PORT{i}@", str(port))
        out.append(a.replace("@CA@", str(prefix / "clients/lab-root.pem")))
    return out


@dataclass(frozen=True)
class Result:
    case: Case
    causes: tuple[tuple[str, float], ...]
    accepted: str | None
    command: str

    @property
    def top(self) -> str | None:
        return self.causes[0][0] if self.causes else None

    @property
    def right(self) -> bool:
        return self.top == self.case.expected


_SHOW = False


def _diagnose(argv: list[str]) -> dict:
    import contextlib
    import io

    from mtls_doctor.cli import main

    if _SHOW:
        text = [a for a in argv if a not in ("--format", "json")]
        main(text)

    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        code = main(argv)
    if code == 2:
        raise RuntimeError(f"diagnose refused {argv}: {err.getvalue().strip()}")
    return json.loads(buf.getvalue())


def run_case(case: Case, nginx_bin: str | None = None) -> Result:
    import contextlib

    with (TlsUpstream() if case.upstream_tls else contextlib.nullcontext()) as upstream:
        return _run_case(case, nginx_bin, upstream)


def _run_case(case: Case, nginx_bin: str | None, upstream) -> Result:
    from mtls_doctor.lab.nginx import NginxConfigError, NginxServer

    workdir = Path(tempfile.mkdtemp(prefix=f"mtls-case-{case.id}-"))
    files = {path: _file(spec) for path, spec in case.files} | _client_files()
    http = case.http.replace("@UPSTREAM@", str(upstream.port)) if upstream is not None else case.http
    server = NginxServer(http, ports=case.ports, files=files, nginx_bin=nginx_bin, workdir=workdir)
    user = []
    if case.client is not None:
        user = ["--cert", str(workdir / f"clients/{case.client}{'-chain' if case.chain else ''}.pem")]
        if case.give_key:
            user += ["--key", str(workdir / f"clients/{case.client}.key")]
    base = ["diagnose", "--config", str(workdir / "nginx.conf"), "--nginx", server.nginx_bin,
            "--format", "json", "--timeout", "5"]
    if case.no_config:
        base = ["diagnose", "--format", "json", "--timeout", "5"]
    try:
        if case.refused:
            try:
                server.start()
                server.stop()
                raise AssertionError(f"{case.id}: nginx accepted a configuration the case says it refuses")
            except NginxConfigError:
                pass
            argv = base + ["--no-probe"] + user + _expand(case.args, None, workdir)
            data = _diagnose(argv)
        else:
            with server:
                for r in case.requests:
                    _send(server, r)
                if case.then_reload:
                    # published later, as in the field: nginx 1.30.6 kept the old CRL after a
                    # reload when the file was rewritten in place within the same second (measured)
                    later = time.time() + 5
                    for path, spec in case.then_reload:
                        (workdir / path).write_bytes(_file(spec))
                        os.utime(workdir / path, (later, later))
                    size = server.error_log.stat().st_size
                    os.kill(server.pid, signal.SIGHUP)  # our own nginx master: reload
                    _wait_for_reload(server, size)
                    for r in case.after:
                        _send(server, r)
                for path, spec in case.then_change:
                    (workdir / path).write_bytes(_file(spec))
                argv = base + user + _expand(case.args, server, workdir)
                data = _diagnose(argv)
    finally:
        server.stop()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    causes = tuple((c["cause"], c["confidence"]) for c in data["root_causes"])
    shown = " ".join(a if not a.startswith(str(workdir)) else "<" + a[len(str(workdir)) + 1:] + ">"
                     for a in argv)
    return Result(case, causes, (data.get("verdict") or {}).get("accepted"), "mtls-doctor " + shown)


def _wait_for_reload(server, size: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = server.error_log.read_bytes()[size:].decode(errors="replace")
        if "reconfiguring" in text and text.count("start worker process ") >= 1 and \
                "gracefully shutting down" in text:
            return
        time.sleep(0.05)
    time.sleep(0.5)


# --- the page ---------------------------------------------------------------------------------


#: the hints a user may not give: what they see, and where their client connects
HINTS = frozenset({"--symptom", "--sni", "--no-sni", "--host"})


def without_hints(case: Case) -> Case:
    """The same case run by a user who gives neither --symptom nor --sni/--no-sni/--host."""
    import dataclasses

    out, args = [], list(case.args)
    i = 0
    while i < len(args):
        if args[i] in HINTS:
            i += 1 if args[i] == "--no-sni" else 2
            continue
        out.append(args[i])
        i += 1
    return dataclasses.replace(case, args=tuple(out))


def quiet_log(case: Case) -> Case:
    """The same case with every server at nginx's default error_log level (error): what most
    real configurations have; client failures are then not logged (F4.1)."""
    import dataclasses

    return dataclasses.replace(case, http=case.http.replace(
        "    ssl_protocols TLSv1.2 TLSv1.3;\n", "    ssl_protocols TLSv1.2 TLSv1.3;\n    error_log logs/error.log;\n"))


def markdown(results: list[Result], bare: list[Result] | None = None,
             quiet: list[Result] | None = None) -> str:
    right = sum(r.right for r in results)
    out = [
        "# The real-case corpus of `mtls-doctor diagnose`",
        "",
        "Generated by `python -m tests.diagnose.corpus docs/cases.md`; checked by",
        "`tests/diagnose/test_cases.py`. Each case is rebuilt from the public thread it cites (our",
        "own configuration, certificates and client, never the thread's text), run on real nginx on",
        "127.0.0.1: the user's requests are replayed so nginx writes its own log lines, then",
        "`diagnose` gets exactly what that user had (config, certificate, URL/SNI, symptom).",
        "",
        f"**{right} of {len(results)} cases have the established root cause first.**",
        "",
        f"Round 2 ({ROUND2_BEFORE[1]} cases from threads not used before, marked in the table): "
        f"run before any change to diagnose, **{ROUND2_BEFORE[0]} of {ROUND2_BEFORE[1]}** had the "
        "established cause first (missed then: " + "; ".join(f"`{m}`" for m in ROUND2_BEFORE[2]) +
        "). That is the figure to expect on unseen cases; the figure above is after the fixes.",
        "",
        "| case | thread | established cause | diagnose's top cause | right |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        out.append(f"| `{r.case.id}` | {r.case.source} | `{r.case.expected or 'none'}` | "
                   f"`{r.top or 'none'}`{' (your certificate accepted)' if r.accepted else ''} | "
                   f"{'yes' if r.right else '**no**'}{' (round 2)' if r.case.id in ROUND2 else ''} |")
    out += ["", "## Confusion table", "",
            "Every (established cause, diagnose's top cause) pair with its count; the diagonal is",
            "right, anything else is a confusion.", "",
            "| established cause | diagnose's top cause | cases |", "|---|---|---|"]
    grid = Counter((r.case.expected or "none", r.top or "none") for r in results)
    wrong_first = Counter(r.top or "none" for r in results if not r.right)
    for (row, col), n in sorted(grid.items(), key=lambda kv: (kv[0][0] != kv[0][1], kv[0])):
        mark = "" if row == col else " **(confused)**"
        out.append(f"| `{row}` | `{col}`{mark} | {n} |")
    out += ["", "Causes ranked first where they were not the real one: "
            + (", ".join(f"`{k}` x{v}" for k, v in sorted(wrong_first.items())) or "none") + ".", ""]
    if bare is not None:
        missed = [r for r in bare if not r.right]
        out += ["## Without the hints", "",
                "The same cases run again with neither `--symptom` nor `--sni`/`--no-sni`/`--host` (a",
                "user who gives only the configuration, the URL, the certificate and the log): "
                f"**{len(bare) - len(missed)} of {len(bare)} right**. Missed then:", ""]
        out += [f"- `{r.case.id}`: `{r.top or 'none'}` instead of `{r.case.expected or 'none'}`" for r in missed]
        out.append("")
    if quiet is not None:
        missed = [r for r in quiet if not r.right]
        out += ["## With the log at the default level", "",
                "The same cases with every server at nginx's default `error_log` level (error), as in "
                "most real configurations, so nginx logs no client failure (F4.1): "
                f"**{len(quiet) - len(missed)} of {len(quiet)} right**. Missed then (their evidence was "
                "mostly info-level log lines; diagnose then says the info-level log would decide):", ""]
        out += [f"- `{r.case.id}`: `{r.top or 'none'}` instead of `{r.case.expected or 'none'}`" for r in missed]
        out.append("")
    out += ["## Still weak", "",
            "- A leaf sent alone whose issuer is in no trust file: an omitted intermediate and a "
            "foreign CA give the same 21; diagnose names the ambiguous `client-issuer-unknown` "
            "and says what decides (the issuer's own certificate).",
            "- Without `--symptom`, a client that does not send its certificate looks like scanners "
            "hitting the server (both leave 496 lines while the user's certificate is accepted): "
            "nothing is raised and the output asks for the symptom.",
            "- Evidence that exists only as info-level log lines (a client rejecting nginx's "
            "certificate, plain HTTP to the TLS port, 421 from connection reuse) is invisible when "
            "`error_log` is above info; diagnose then lists the info-level log under `would_decide`.",
            "- A log level above info is named as the cause only when something says clients fail "
            "(a symptom, or the user's certificate refused live); a user who gives neither gets no "
            "cause for a silent log, only the finding and the info-level log under `would_decide`.",
            "- Only the error log, no client certificate: a logged 20 (or 2) is both an untrusted "
            "CA and a chain longer than `ssl_verify_depth` (F3.3); diagnose ranks the untrusted CA "
            "first and the depth second (`depth-one-bundle-log-only`); the client's chain decides.",
            "- The corpus is written by the authors of diagnose from public threads: it shares their "
            "view of each situation; the hint-free and default-log runs above are the checks against "
            "tuning to it.", ""]
    out += ["## The cases", ""]
    for r in results:
        out += [f"### `{r.case.id}`", "", f"- Thread: {r.case.source}", f"- Situation: {r.case.story}.",
                f"- Established cause: `{r.case.expected or 'none'}`",
                f"- Ran: `{r.command}`",
                "- Ranked: " + (", ".join(f"`{c}` {round(p * 100)}%" for c, p in r.causes[:3]) or "no root cause"),
                ""]
    return "\n".join(out)


def cases_for(nginx_bin: str | None = None) -> list[Case]:
    """The cases whose situation exists in the nginx at hand (e.g. a trusted-only emerg only
    before 1.27.2, F1.5)."""
    from mtls_doctor.lab.nginx import find_nginx, nginx_version

    version = nginx_version(find_nginx(nginx_bin))
    return [c for c in CASES if c.applies_to(version) and all(os.path.isfile(n) for n in c.needs)]


def run_all(nginx_bin: str | None = None) -> list[Result]:
    return [run_case(c, nginx_bin) for c in cases_for(nginx_bin)]


def main(argv: list[str] | None = None) -> int:
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--show"]:  # the text output of one case, as the user would see it
        global _SHOW
        _SHOW = True
        for cid in args[1:]:
            run_case(next(c for c in CASES if c.id == cid))
        return 0
    results = run_all()
    bare = [run_case(without_hints(c)) for c in cases_for()]
    quiet = [run_case(quiet_log(c)) for c in cases_for()]
    page = markdown(results, bare, quiet)
    if args:
        Path(args[0]).write_text(page)
    for r in results:
        print(f"{'ok ' if r.right else 'BAD'} {r.case.id}: expected {r.case.expected} got {r.causes[:3]}")
    print(f"{sum(r.right for r in results)}/{len(results)} right")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
