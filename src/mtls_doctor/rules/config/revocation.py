"""MTLS3xx: revocation of client certificates (``ssl_crl``, ``ssl_ocsp``, ``ssl_stapling``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.pki.facts import crl_replaced
from mtls_doctor.rules.config.common import ConfigRule, LintContext, labels, once, per_node, verifying, verifying_settings

#: warn when a CRL has less than this left (weekly CRLs refreshed daily stay quiet)
CRL_SOON = timedelta(days=2)


def _ocsp_on(server) -> bool:
    return server.settings["ssl_ocsp"].value in ("on", "leaf")


class CrlMissingForCa(ConfigRule):
    """`ssl_crl` has no CRL for one of the CAs that verify clients (the root included).

    What it checks:
    For a verifying server with `ssl_crl`, every CA certificate in `ssl_client_certificate`
    and `ssl_trusted_certificate` must have a CRL issued by it in the `ssl_crl` file (matched
    by issuer name). Needs the files to be readable.

    Why it matters:
    nginx sets `X509_V_FLAG_CRL_CHECK_ALL` (F6.1): OpenSSL wants a CRL from every CA in the
    chain, the root included. A missing one fails every client certificate below that CA with
    `FAILED:unable to get certificate CRL` (error 3) and a 400.

    Example:
    ```nginx
    ssl_client_certificate root-and-intermediate.pem;
    ssl_crl intermediate.crl;   # no CRL from the root
    ```

    Use instead:
    Concatenate the CRLs of every CA, root included, into the `ssl_crl` file:
    `cat root.crl intermediate.crl > clients.crl`.

    References:
    F6.1, F4.2 of nginx-mtls-facts.md; https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_crl
    """

    code = "MTLS301"
    name = "crl-missing-for-ca"
    severity = Severity.ERROR
    facts = ("F6.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        seen: set[tuple[int, str]] = set()
        for server in ctx.tls_servers:
            s = server.settings
            crl_setting = s["ssl_crl"]
            if crl_setting.node is None or not verifying(server):
                continue
            crls = ctx.bundle(crl_setting)
            if crls is None:
                continue
            have = {c.issuer for c in crls.crls}
            for name in ("ssl_client_certificate", "ssl_trusted_certificate"):
                bundle = ctx.bundle(s[name])
                for cert in bundle.certificates if bundle is not None else ():
                    if not _is_ca(cert) or cert.subject in have:
                        continue
                    key = (id(crl_setting.node), cert.subject.rfc4514_string())
                    if key in seen:
                        continue
                    seen.add(key)
                    yield cls.finding(
                        f"no CRL from `{key[1]}` (in {s[name].value}) in this ssl_crl file: every client"
                        " certificate under that CA fails with error 3 (unable to get certificate CRL).",
                        crl_setting.node.location,
                        "Add that CA's CRL to the ssl_crl file.",
                    )


class CrlExpired(ConfigRule):
    """A CRL in `ssl_crl` is expired (or expires within 2 days).

    What it checks:
    The nextUpdate of every CRL in an `ssl_crl` file used by a verifying server, compared with
    the lint instant (`--at`, default now), unless another CRL of the same issuer in that file
    is current (OpenSSL then uses that one, and nginx works: measured, F6.1).

    Why it matters:
    An expired CRL fails every client certificate of that CA with `FAILED:CRL has expired`
    (error 12) and a 400 (F6.1). nginx reads the file only at (re)load, so a renewed file also
    needs `nginx -s reload`.

    Example:
    An `ssl_crl` file whose nextUpdate is yesterday.

    Use instead:
    Publish CRLs before nextUpdate, copy them in place and reload nginx from a timer; monitor
    nextUpdate.

    References:
    F6.1, F4.2 of nginx-mtls-facts.md.
    """

    code = "MTLS302"
    name = "crl-expired"
    severity = Severity.ERROR
    facts = ("F6.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node, server in once(verifying_settings(ctx, "ssl_crl")):
            setting = server.settings["ssl_crl"]
            bundle = ctx.bundle(setting)
            crls = bundle.crls if bundle is not None else ()
            for i, crl in enumerate(crls):
                nxt = getattr(crl, "next_update_utc", None) or (
                    crl.next_update.replace(tzinfo=ctx.at.tzinfo) if crl.next_update else None)
                if nxt is None:
                    continue
                issuer = crl.issuer.rfc4514_string()
                # a current CRL of the same CA in the file wins; the stale one is never used
                # (F6.1; measured in tests/truth/test_crl_truth.py): the same check as MTLS115
                if nxt < ctx.at:
                    if crl_replaced(crls, i, ctx.at):
                        continue
                    yield cls.finding(
                        f"the CRL of `{issuer}` expired at {nxt:%Y-%m-%d %H:%M}Z: every client certificate"
                        " of that CA fails with error 12 (CRL has expired).",
                        setting.node.location, "Install a current CRL and reload nginx.")
                elif nxt - ctx.at < CRL_SOON and not crl_replaced(crls, i, ctx.at, ctx.at + CRL_SOON):
                    yield cls.finding(
                        f"the CRL of `{issuer}` expires at {nxt:%Y-%m-%d %H:%M}Z.",
                        setting.node.location, "Install a fresh CRL and reload nginx before then.",
                        severity=Severity.WARNING)


class OcspWithoutResolver(ConfigRule):
    """`ssl_ocsp` without a `resolver` (and without `ssl_ocsp_responder`): clients whose OCSP URL is a host name fail.

    What it checks:
    A server with `ssl_ocsp on` or `leaf` whose effective `resolver` is unset and which has no
    `ssl_ocsp_responder`. When the CA files are readable and every OCSP URL in their
    certificates names an IP address, it does not fire (the PKI's URLs need no resolver); when
    none of them has an OCSP URL it fires as a warning (the client certificates' URLs decide).

    Why it matters:
    nginx must resolve the OCSP responder host taken from each client certificate's AIA. With
    no resolver it logs `no resolver defined to resolve ...` and answers 400 with
    `FAILED:certificate status request failed`: `ssl_ocsp` fails closed (F6.2). A URL with an
    IP address (`http://127.0.0.1:8080`, as in nginx's own ssl_ocsp.t) needs no resolver, and
    an `ssl_ocsp_responder` is resolved once when nginx starts (measured on real nginx: the
    request goes out without a resolver).

    Example:
    ```nginx
    ssl_verify_client on;
    ssl_ocsp on;
    ```

    Use instead:
    ```nginx
    ssl_ocsp on;
    resolver 127.0.0.53;
    ```

    References:
    F6.2 of nginx-mtls-facts.md; https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_ocsp
    """

    code = "MTLS303"
    name = "ocsp-without-resolver"
    severity = Severity.ERROR
    facts = ("F6.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            s = server.settings
            if _ocsp_on(server) and s["resolver"].node is None and s["ssl_ocsp_responder"].node is None:
                hits.append((s["ssl_ocsp"].node, server))
        for node, servers in per_node(hits):
            hosts = _ocsp_hosts(ctx, servers[0])
            if hosts and all(_is_ip(h) for h in hosts):
                continue  # every OCSP URL of the PKI names an IP address: no resolver needed
            severity = None if hosts else Severity.WARNING
            named = sorted(h for h in hosts if not _is_ip(h))
            which = (f"the OCSP URL host {named[0]}" if named else
                     "a client certificate whose OCSP URL is a host name (an IP address needs none)")
            yield cls.finding(
                f"`ssl_ocsp` in {labels(servers)} has no resolver: {which} cannot be resolved, so"
                " those clients fail (400, certificate status request failed).",
                node.location, Fix("Add a resolver.", "resolver 127.0.0.53 valid=300s;"), severity=severity)


def _ocsp_hosts(ctx: LintContext, server) -> set[str]:
    """Hosts of the OCSP URLs (AIA) in the server's CA certificates (empty: none, or no files)."""
    from urllib.parse import urlsplit

    from cryptography import x509
    from cryptography.x509.oid import AuthorityInformationAccessOID

    from mtls_doctor.rules.config.files import ca_store

    hosts: set[str] = set()
    for cert in ca_store(ctx, server):
        try:
            aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        except Exception:
            continue
        for desc in aia:
            if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                    desc.access_location, x509.UniformResourceIdentifier):
                host = urlsplit(desc.access_location.value).hostname
                if host:
                    hosts.add(host)
    return hosts


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class OcspWithOptionalNoCa(ConfigRule):
    """`ssl_ocsp` together with `ssl_verify_client optional_no_ca`: nginx -t fails.

    What it checks:
    A server with `ssl_ocsp on`/`leaf` whose effective `ssl_verify_client` is `optional_no_ca`
    (or `off`, where `ssl_ocsp` does nothing).

    Why it matters:
    nginx rejects the configuration: `"ssl_ocsp" is incompatible with "ssl_verify_client
    optional_no_ca"` (F2.4). With verification off, `ssl_ocsp` never runs: OCSP is only
    checked for chains that verified (F6.2).

    Example:
    ```nginx
    ssl_verify_client optional_no_ca;
    ssl_ocsp on;
    ```

    Use instead:
    `ssl_verify_client on` (or `optional`) with a CA file, then `ssl_ocsp on`.

    References:
    F2.4, F6.2 of nginx-mtls-facts.md.
    """

    code = "MTLS304"
    name = "ocsp-without-verification"
    severity = Severity.ERROR
    facts = ("F2.4", "F6.2")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            if _ocsp_on(server) and server.verify in ("optional_no_ca", "off"):
                hits.append((server.settings["ssl_ocsp"].node, server))
        for node, servers in per_node(hits):
            mode = servers[0].verify
            if mode == "optional_no_ca":
                yield cls.finding(
                    f"nginx -t fails: `ssl_ocsp` is incompatible with `optional_no_ca` ({labels(servers)}).",
                    node.location, "Use `ssl_verify_client on` with a CA file.")
            else:
                yield cls.finding(
                    f"`ssl_ocsp` does nothing in {labels(servers)}: client verification is off.",
                    node.location, "Enable `ssl_verify_client on` with a CA file.", severity=Severity.WARNING)


class StaplingIsNotClientRevocation(ConfigRule):
    """`ssl_stapling` on a verifying server with no `ssl_crl` or `ssl_ocsp`: clients are never revocation-checked.

    What it checks:
    A server that verifies client certificates (`on`/`optional`), has `ssl_stapling on` and
    has neither `ssl_crl` nor `ssl_ocsp`.

    Why it matters:
    OCSP stapling sends the status of the server's own certificate to clients; it does
    nothing for client certificates (facts section 9). Revoked client certificates are
    accepted.

    Example:
    ```nginx
    ssl_verify_client on;
    ssl_stapling on;
    ```

    Use instead:
    `ssl_crl` with a CRL from every CA (F6.1), or `ssl_ocsp on` with a `resolver` (F6.2).

    References:
    Facts section 9 ("ssl_stapling vs ssl_ocsp"), F6.1, F6.2 of nginx-mtls-facts.md.
    """

    code = "MTLS305"
    name = "stapling-not-client-revocation"
    severity = Severity.WARNING
    facts = ("F6.1", "F6.2")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            s = server.settings
            if server.verify not in ("on", "optional") or s["ssl_stapling"].value != "on":
                continue
            if s["ssl_crl"].node is None and not _ocsp_on(server):
                hits.append((s["ssl_stapling"].node, server))
        for node, servers in per_node(hits):
            yield cls.finding(
                f"`ssl_stapling` covers the server certificate only; client certificates of {labels(servers)}"
                " are never checked for revocation.",
                node.location, "Add `ssl_crl` (a CRL from every CA) or `ssl_ocsp on` with a resolver.")


class OcspResponderNotHttp(ConfigRule):
    """`ssl_ocsp_responder` with a URL that is not `http://` (e.g. `https://`): `nginx -t` fails.

    What it checks:
    A TLS server with `ssl_ocsp on` (or `leaf`) whose effective `ssl_ocsp_responder` does not
    start with `http://` (a template placeholder is left alone).

    Why it matters:
    nginx's OCSP client speaks plain HTTP only (OCSP responses are signed, TLS adds nothing).
    `nginx -t` fails with `invalid URL prefix in OCSP responder "https://..." in
    "ssl_ocsp_responder"` (measured on nginx 1.22, 1.26 and 1.30), and the reload keeps the
    old configuration without OCSP (F6.2).

    Example:
    ```nginx
    ssl_ocsp on;
    ssl_ocsp_responder https://ocsp.example.com/;
    ```

    Use instead:
    ```nginx
    ssl_ocsp on;
    ssl_ocsp_responder http://ocsp.example.com/;
    ```

    References:
    F6.2 of nginx-mtls-facts.md; https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_ocsp_responder
    """

    code = "MTLS306"
    name = "ocsp-responder-not-http"
    severity = Severity.ERROR
    facts = ("F6.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in ctx.tls_servers:
            responder = server.settings["ssl_ocsp_responder"]
            url = responder.value
            if not _ocsp_on(server) or responder.node is None or not url:
                continue
            if url[:7].lower() == "http://" or any(t in url for t in ("$", "{{", "<%", "{%")):
                continue
            hits.append((responder.node, server))
        for node, servers in per_node(hits):
            url = node.args[0]
            plain = "http://" + url.split("://", 1)[1] if "://" in url else "http://" + url
            yield cls.finding(
                f"nginx -t fails: `invalid URL prefix in OCSP responder \"{url}\"` ({labels(servers)});"
                " nginx's OCSP client speaks http:// only.",
                node.location, Fix("Give the responder's http:// URL.", f"ssl_ocsp_responder {plain};"))


def _is_ca(cert) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except Exception:
        return cert.issuer == cert.subject


CONFIG_RULES = (OcspWithoutResolver, OcspWithOptionalNoCa, StaplingIsNotClientRevocation, OcspResponderNotHttp)
FILE_RULES = (CrlMissingForCa, CrlExpired)
RULES = (CrlMissingForCa, CrlExpired) + CONFIG_RULES
