"""MTLS213: client-verification directives where nginx does not allow them (per location)."""

from __future__ import annotations

from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.rules.config.common import ConfigRule, LintContext

#: directives of ngx_http_ssl_module that are valid in http and server only (F2.1, nginx docs)
SERVER_ONLY = frozenset({
    "ssl_verify_client", "ssl_verify_depth", "ssl_client_certificate", "ssl_trusted_certificate",
    "ssl_crl", "ssl_ocsp", "ssl_ocsp_responder", "ssl_ocsp_cache", "ssl_certificate", "ssl_certificate_key",
    "ssl_protocols", "ssl_reject_handshake",
})


class VerifyClientInLocation(ConfigRule):
    """Client-certificate directives inside `location` (or `if`): nginx cannot verify per path.

    What it checks:
    `ssl_verify_client`, `ssl_client_certificate`, `ssl_verify_depth`, `ssl_crl`, `ssl_ocsp`
    and the other TLS directives of `ngx_http_ssl_module` placed inside a `location`,
    `if` or `limit_except` block.

    Why it matters:
    These directives are valid in `http` and `server` only; `nginx -t` fails with `"ssl_verify_client"
    directive is not allowed here`. nginx cannot ask for a client certificate for one path: it
    would need renegotiation or TLS 1.3 post-handshake authentication, which nginx does not do
    (F2.1).

    Example:
    ```nginx
    location /admin/ { ssl_verify_client on; }
    ```

    Use instead:
    Request the certificate for the whole server and enforce it per path:
    ```nginx
    ssl_verify_client optional;
    location /admin/ { if ($ssl_client_verify != SUCCESS) { return 403; } ... }
    ```
    or put the protected paths on their own `server` (own name or port).

    References:
    F2.1 of nginx-mtls-facts.md; https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_verify_client
    """

    code = "MTLS213"
    name = "verify-client-in-location"
    severity = Severity.ERROR
    facts = ("F2.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for context in ctx.eff.config.root:
            if context.name != "http" or context.block is None:
                continue
            for block in context.walk():
                if block.name not in ("location", "if", "limit_except") or block.block is None:
                    continue
                for node in block.block:
                    if node.name in SERVER_ONLY:
                        yield cls.finding(
                            f"`{node.name}` is not allowed inside `{block.name}`: nginx -t fails, and nginx"
                            " cannot request a client certificate for one path.",
                            node.location,
                            Fix("Set it on the server and check $ssl_client_verify in the location.",
                                "if ($ssl_client_verify != SUCCESS) { return 403; }"))


RULES = (VerifyClientInLocation,)
