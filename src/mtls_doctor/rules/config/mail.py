"""MTLS260-262: client certificates in the mail proxy (``mail {}``: IMAP, POP3, SMTP).

Invariants: no I/O. The mail servers and their inherited settings come from
``nginx.effective`` (the one home of inheritance; its public view lists http and stream
servers, the mail ones are read through the same ``_servers`` as ``verify --config`` does).
What the rules say nginx does was measured on real nginx (1.22 / 1.26 / 1.30,
tests/truth/test_lint_mail_truth.py):

- a TLS mail server (``listen ... ssl`` or ``starttls on|only``) with ``ssl_verify_client on``
  or ``optional`` and no CA file: ``nginx -t`` fails with F1.5's message for that version;
- ``optional``: a client without a certificate logs in; the auth server is asked with
  ``Auth-SSL-Verify: NONE`` (sent also without ``auth_http_pass_client_cert``, which adds only
  ``Auth-SSL-Cert``), so only the auth server can refuse it;
- ``starttls on`` on a plain listener: ``LOGIN`` before ``STARTTLS`` reaches the auth server
  with no TLS at all (no ``Auth-SSL`` header); ``starttls only`` answers ``BAD invalid command``.
"""

from __future__ import annotations

from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server, _own, _servers
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.nginx.version import TRUSTED_ONLY_OK
from mtls_doctor.rules.config.common import ConfigRule, LintContext, labels, per_node


def mail_servers(ctx: LintContext) -> list[Server]:
    """The servers of every ``mail {}`` block (memoized per run)."""
    key = ("mail", "servers")
    if key not in ctx.memo:
        root = ctx.eff.config.root
        logs = _own(root, "error_log")
        ctx.memo[key] = [s for block in root if block.name == "mail" and block.block is not None
                         for s in _servers(block, "mail", root, logs)]
    return ctx.memo[key]


def setting(server: Server, name: str) -> Directive | None:
    """A mail directive not in effective's SINGLE_DEFAULTS: the server's own, else the mail block's."""
    own = [d for d in server.node.block or () if d.name == name]
    if own:
        return own[0]
    return next((d for d in server.inherited if d.name == name), None)


def starttls(server: Server) -> str:
    node = setting(server, "starttls")
    return node.args[0] if node is not None and node.args else "off"


def speaks_tls(server: Server) -> bool:
    """TLS from the start (``listen ... ssl``, ``ssl on``) or after STARTTLS."""
    return server.ssl or starttls(server) in ("on", "only")


def _verify_node(server: Server) -> Directive:
    return server.settings["ssl_verify_client"].node or server.node


class MailVerifyWithoutCa(ConfigRule):
    """A mail server verifies client certificates with no CA file: `nginx -t` fails.

    What it checks:
    A `mail` server that speaks TLS (`listen ... ssl`, or `starttls on|only`) with
    `ssl_verify_client on` or `optional` (its own or inherited from `mail {}`) and no
    `ssl_client_certificate`; before nginx 1.27.2 an `ssl_trusted_certificate` does not count.

    Why it matters:
    nginx refuses to start: `no ssl_client_certificate for ssl_verify_client` (1.17.4 -
    1.27.1), `no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client`
    (1.27.2+), the same check and text as in http (F1.5; measured on nginx 1.22, 1.26 and
    1.30 with the mail module). The message names no file or line.

    Example:
    ```nginx
    mail { server { listen 995 ssl; protocol pop3; ssl_verify_client on; } }
    ```

    Use instead:
    ```nginx
    mail { server { listen 995 ssl; protocol pop3; ssl_verify_client on;
                    ssl_client_certificate /etc/nginx/mail-client-ca.pem; } }
    ```

    References:
    F1.5 of nginx-mtls-facts.md; https://nginx.org/en/docs/mail/ngx_mail_ssl_module.html#ssl_verify_client
    """

    code = "MTLS260"
    name = "mail-verify-without-ca"
    severity = Severity.ERROR
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        trusted_counts = ctx.version is not None and ctx.version >= TRUSTED_ONLY_OK
        for server in mail_servers(ctx):
            if server.verify not in ("on", "optional") or not speaks_tls(server):
                continue
            if server.settings["ssl_client_certificate"].node is not None:
                continue
            if trusted_counts and server.settings["ssl_trusted_certificate"].node is not None:
                continue
            hits.append((_verify_node(server), server))
        for node, servers in per_node(hits):
            text = ("no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client"
                    if trusted_counts else "no ssl_client_certificate for ssl_verify_client")
            yield cls.finding(
                f"mail {labels(servers)} verifies client certificates without a CA file: nginx -t fails"
                f" (`{text}`).", node.location,
                Fix("Name the CA that issues the client certificates.",
                    "ssl_client_certificate /etc/nginx/mail-client-ca.pem;"))


class MailOptionalAuthDecides(ConfigRule):
    """`ssl_verify_client optional` in mail: clients without a certificate log in unless the auth server refuses them.

    What it checks:
    A TLS `mail` server with `ssl_verify_client optional` or `optional_no_ca` while nothing in
    the configuration says the auth server looks at certificates (no
    `auth_http_pass_client_cert on` for that server).

    Why it matters:
    The mail module rejects a certificate that fails verification (`optional`), but a client
    that sends none gets to the login, and nginx asks the `auth_http` server with
    `Auth-SSL-Verify: NONE` (measured on real nginx; the header is sent with or without
    `auth_http_pass_client_cert`, which adds `Auth-SSL-Cert`). There is no `if` in mail: only
    the auth server can refuse these logins, so a plain password server lets every
    certificate-less client in (F2.2; with `optional_no_ca` also certificates of unknown CAs).

    Example:
    ```nginx
    mail { auth_http 127.0.0.1:9000/auth; ssl_verify_client optional; ... }
    ```

    Use instead:
    ```nginx
    ssl_verify_client on;            # nginx refuses certificate-less clients itself
    # or: the auth server answers Auth-Status: ... unless Auth-SSL-Verify is SUCCESS
    auth_http_pass_client_cert on;
    ```

    References:
    F2.2 of nginx-mtls-facts.md; https://nginx.org/en/docs/mail/ngx_mail_auth_http_module.html#protocol
    """

    code = "MTLS261"
    name = "mail-optional-auth-decides"
    severity = Severity.WARNING
    facts = ("F2.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in mail_servers(ctx):
            if server.verify not in ("optional", "optional_no_ca") or not speaks_tls(server):
                continue
            passed = setting(server, "auth_http_pass_client_cert")
            if passed is not None and passed.args[:1] == ("on",):
                continue
            hits.append((_verify_node(server), server))
        for node, servers in per_node(hits):
            yield cls.finding(
                f"`ssl_verify_client {servers[0].verify}` in mail {labels(servers)}: a client without a"
                " certificate reaches the login and the auth server is asked with Auth-SSL-Verify: NONE;"
                " nothing here says the auth server refuses it.", node.location,
                Fix("Use `ssl_verify_client on`, or make the auth server reject every Auth-SSL-Verify but"
                    " SUCCESS (and say so with auth_http_pass_client_cert on).", "ssl_verify_client on;"))


class MailStarttlsOptional(ConfigRule):
    """`starttls on` with client verification: a client logs in on the plain connection and is never asked for a certificate.

    What it checks:
    A `mail` server on a plain listener (no `ssl` on `listen`, no `ssl on`) with `starttls on`
    (its own or inherited) and `ssl_verify_client` other than `off`.

    Why it matters:
    `starttls on` allows STARTTLS; it does not require it. A client that sends `LOGIN` (IMAP),
    `USER`/`PASS` (POP3) or `AUTH` (SMTP) without STARTTLS never makes a TLS handshake, so no
    certificate is requested, and nginx hands the login to the auth server with no `Auth-SSL`
    headers at all (measured on real nginx). `starttls only` refuses the login before STARTTLS
    (`BAD invalid command` in IMAP). Client verification is bypassed on the same port (F2.2).

    Example:
    ```nginx
    server { listen 143; protocol imap; starttls on; ssl_verify_client on; ... }
    ```

    Use instead:
    ```nginx
    server { listen 143; protocol imap; starttls only; ssl_verify_client on; ... }
    ```

    References:
    F2.2 of nginx-mtls-facts.md; https://nginx.org/en/docs/mail/ngx_mail_ssl_module.html#starttls
    """

    code = "MTLS262"
    name = "mail-starttls-optional"
    severity = Severity.ERROR
    facts = ("F2.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        hits = []
        for server in mail_servers(ctx):
            if server.ssl or starttls(server) != "on" or server.verify == "off":
                continue
            hits.append((setting(server, "starttls") or server.node, server))
        for node, servers in per_node(hits):
            yield cls.finding(
                f"`starttls on` in mail {labels(servers)} with ssl_verify_client {servers[0].verify}: a login"
                " before STARTTLS is handed to the auth server without TLS, so no client certificate is"
                " ever asked for.", node.location,
                Fix("Require STARTTLS before the login.", "starttls only;"))


RULES = (MailVerifyWithoutCa, MailOptionalAuthDecides, MailStarttlsOptional)
