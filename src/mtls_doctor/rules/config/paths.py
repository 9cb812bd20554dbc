"""MTLS235-238: mistakes visible in the paths alone (a configuration checked without its files).

Invariants: no I/O. These rules read only the paths the directives name (resolved like nginx,
``Config.resolve``). Where the files are loaded the content rules judge instead (MTLS1xx,
MTLS208, MTLS231-232), so the name-based guesses (MTLS236, MTLS237) stay quiet for a file that
was read; a path with a variable (``$ssl_server_name``) is never guessed at.
"""

from __future__ import annotations

import posixpath
import re
from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext, once, verifying_settings

CA_SETTINGS = ("ssl_client_certificate", "ssl_trusted_certificate")
#: file names that hold a leaf, a chain or a key (certbot, acme.sh, common tutorials)
LEAFY_NAME = re.compile(r"^(?:fullchain|cert|chain|server|client|privkey|key|tls|leaf|site|domain)"
                        r"(?:[._-][\w.-]*)?\.(?:pem|crt|cer|key)$|\.key$", re.I)
CA_WORD = re.compile(r"ca|root|trust|anchor|issuer|authority|bundle", re.I)
CERT_SUFFIX = re.compile(r"\.(?:crt|cer|cert)$", re.I)
KEY_SUFFIX = re.compile(r"\.key$", re.I)
#: system trust stores (Debian/Ubuntu, RHEL/Fedora, Alpine, SUSE, macOS Homebrew)
SYSTEM_STORES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                 "/etc/ssl/ca-bundle.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                 "/etc/ssl/cert.pem", "/usr/local/etc/openssl/cert.pem", "/etc/pki/tls/cert.pem")
#: directories whose every file is a bundle extracted from the system trust (RHEL/Fedora
#: ``update-ca-trust`` writes tls-ca-bundle.pem, email-ca-bundle.pem, ... there; grid
#: containers add variants such as tls-ca-bundle-all.pem, system plus IGTF roots)
SYSTEM_STORE_DIRS = ("/etc/pki/ca-trust/extracted/pem/", "/etc/pki/ca-trust/extracted/openssl/")


def system_store(path: str | None) -> bool:
    """The path is a system trust store bundle (a known file, or a file of a known directory)."""
    return path is not None and (path in SYSTEM_STORES or path.startswith(SYSTEM_STORE_DIRS))


def _path(ctx: LintContext, node: Directive | None) -> str | None:
    if node is None or not node.args or "$" in node.args[0] or node.args[0].startswith(("data:", "engine:")):
        return None
    return ctx.eff.config.resolve(node.args[0])


def _loaded(ctx: LintContext, path: str) -> bool:
    f = ctx.files.get(path)
    return f is not None and f.bundle is not None


def _served(ctx: LintContext, server: Server) -> set[str]:
    """The resolved paths of the server's ssl_certificate files."""
    return {_path(ctx, n) for n in server.arrays.get("ssl_certificate", ())} - {None}


class ServerCertificateIsClientCa(ConfigRule):
    """The same file is the server's `ssl_certificate` and its client CA file.

    What it checks:
    A verifying server whose `ssl_client_certificate` or `ssl_trusted_certificate` names the
    same file as one of its `ssl_certificate` directives (paths resolved as nginx does).

    Why it matters:
    The client CA file is the trust anchor for client certificates (F1.1). The server's own
    certificate is a leaf: clients issued by the server's CA fail with `unable to get local
    issuer certificate` (20) or `unable to verify the first certificate` (21), and a
    self-signed server certificate used this way admits exactly the clients that hold the
    server's own private key. It usually means the CA file was never copied.

    Example:
    ```nginx
    ssl_certificate        /etc/nginx/tls/server.pem;
    ssl_client_certificate /etc/nginx/tls/server.pem;
    ```

    Use instead:
    ```nginx
    ssl_client_certificate /etc/nginx/tls/client-ca.pem;   # the CA that issues client certificates
    ```

    References:
    F1.1, F3.4 of nginx-mtls-facts.md.
    """

    code = "MTLS235"
    name = "server-certificate-is-client-ca"
    severity = Severity.WARNING
    facts = ("F1.1", "F3.4")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node, _server in once((n, s) for n, s in verifying_settings(ctx, *CA_SETTINGS)
                                  if _path(ctx, n) in _served(ctx, s)):
            yield cls.finding(
                f"`{node.name}` names {node.args[0]}, the server's own certificate file: client"
                " certificates are verified against the server's leaf, not a client CA.",
                node.location, "Name the CA that issues the client certificates.")


class KeyPathNamesCertificate(ConfigRule):
    """`ssl_certificate_key` names a certificate file (or `ssl_certificate` a key file): swapped or wrong paths.

    What it checks:
    Without the files read: an `ssl_certificate_key` path ending in `.crt`/`.cer` or whose file
    name is `cert.pem`/`fullchain.pem`/`chain.pem`, or an `ssl_certificate` path ending in
    `.key` or named `privkey.pem`.

    Why it matters:
    nginx -t fails: `PEM_read_bio_PrivateKey() failed ... no start line` for a certificate
    given as the key, `PEM_read_bio_X509_AUX() failed` for a key given as the certificate. In
    a configuration checked without its secrets this is the only place the swap shows.

    Example:
    ```nginx
    ssl_certificate     /etc/letsencrypt/live/example.com/privkey.pem;
    ssl_certificate_key /etc/letsencrypt/live/example.com/fullchain.pem;
    ```

    Use instead:
    ```nginx
    ssl_certificate     /etc/letsencrypt/live/example.com/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/example.com/privkey.pem;
    ```

    References:
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_certificate_key
    """

    code = "MTLS236"
    name = "key-path-names-certificate"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.named("ssl_certificate_key", "ssl_certificate"):
            path = _path(ctx, node)
            if path is None or _loaded(ctx, path):
                continue
            base = posixpath.basename(path)
            if node.name == "ssl_certificate_key":
                wrong = bool(CERT_SUFFIX.search(base)) or base.lower() in ("cert.pem", "fullchain.pem", "chain.pem")
                what = "a certificate"
            else:
                wrong = bool(KEY_SUFFIX.search(base)) or base.lower() == "privkey.pem"
                what = "a private key"
            if wrong:
                yield cls.finding(f"`{node.name}` names {node.args[0]}, which by its name is {what}:"
                                  " nginx -t fails if the paths are swapped.",
                                  node.location, "Check which file holds the key and which the certificate.")


class CaFileNamedLikeLeaf(ConfigRule):
    """A client CA file named like a leaf, a chain or a key (`fullchain.pem`, `server.crt`, `privkey.pem`).

    What it checks:
    Without the file read: an `ssl_client_certificate` or `ssl_trusted_certificate` of a
    verifying server whose file name is that of a leaf, chain or key (`fullchain.pem`,
    `cert.pem`, `chain.pem`, `server.crt`, `client.pem`, `tls.crt`, `privkey.pem`, `*.key`) and
    does not say CA (`ca`, `root`, `trust`, `bundle`, `issuer`).

    Why it matters:
    The client CA file must hold the CA that issued the client certificates, with a trust
    anchor (F1.1, F3.4). A server's `fullchain.pem` trusts the public CA that issued the
    server (often Let's Encrypt): every client certificate from that CA verifies (and it
    issues none for clients, so usually nobody gets in); a leaf gives 20/21 for every client;
    a key file does not load (`nginx -t` fails).

    Example:
    ```nginx
    ssl_client_certificate /etc/letsencrypt/live/example.com/fullchain.pem;
    ```

    Use instead:
    ```nginx
    ssl_client_certificate /etc/nginx/client-ca.pem;
    ```

    References:
    F1.1, F3.4 of nginx-mtls-facts.md.
    """

    code = "MTLS237"
    name = "ca-file-named-like-leaf"
    severity = Severity.WARNING
    facts = ("F1.1", "F3.4")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node, _server in once(verifying_settings(ctx, *CA_SETTINGS)):
            path = _path(ctx, node)
            if path is None or _loaded(ctx, path) or system_store(path):
                continue
            base = posixpath.basename(path)
            stem = re.sub(r"\.(pem|crt|cer|key)$", "", base, flags=re.I)
            if LEAFY_NAME.search(base) and not CA_WORD.search(stem):
                yield cls.finding(
                    f"`{node.name}` names {node.args[0]}, named like a leaf, chain or key, not a client CA.",
                    node.location, "Name the file of the CA that issues the client certificates.")


class ClientCaIsSystemStore(ConfigRule):
    """`ssl_client_certificate` is the system trust store: every public CA can issue clients that verify.

    What it checks:
    A verifying server whose `ssl_client_certificate` or `ssl_trusted_certificate` is a
    system trust store path (`/etc/ssl/certs/ca-certificates.crt`,
    `/etc/pki/tls/certs/ca-bundle.crt`, ..., or any bundle `update-ca-trust` extracts into
    `/etc/pki/ca-trust/extracted/pem/`), files read or not.

    Why it matters:
    Every CA of the file is trusted for client certificates (F1.1) and, for
    `ssl_client_certificate`, advertised (over a hundred names, more than one TLS record: some
    clients then offer no certificate, F1.7). A client certificate bought from any public CA
    gets `SUCCESS`; `$ssl_client_verify` then proves nothing about who the client is.

    Example:
    ```nginx
    ssl_verify_client on;
    ssl_client_certificate /etc/ssl/certs/ca-certificates.crt;
    ```

    Use instead:
    A file with only the private CA(s) that issue your client certificates.

    References:
    F1.1, F1.7 of nginx-mtls-facts.md.
    """

    code = "MTLS238"
    name = "client-ca-is-system-store"
    severity = Severity.ERROR
    facts = ("F1.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node, _server in once((n, s) for n, s in verifying_settings(ctx, *CA_SETTINGS)
                                  if s.verify != "optional_no_ca" and system_store(_path(ctx, n))):
            yield cls.finding(
                f"`{node.name}` names the system trust store {node.args[0]}: a client certificate"
                " from any public CA verifies.",
                node.location, "Use a file with only the CAs that issue your client certificates.")


#: a file name that says "one intermediate CA" and nothing about a root or a chain
INTERMEDIATE_NAME = re.compile(r"(?:^|[._-])(?:intermediate|issuing|sub-?ca|subordinate)(?:[._-]|$)", re.I)
WHOLE_CHAIN_WORD = re.compile(r"chain|bundle|root|full|all|trust|anchor", re.I)


class CaFileNamedLikeIntermediate(ConfigRule):
    """The only client CA file is named like an intermediate (`device-intermediate-ca.crt`): without its root every client fails.

    What it checks:
    Without the file read: a verifying server (`on`/`optional`) whose `ssl_client_certificate`
    file name says intermediate, issuing or sub CA and nothing about a root, a chain or a bundle,
    and which has no `ssl_trusted_certificate` that could hold the root. Where the file is read
    MTLS103 judges its content instead.

    Why it matters:
    nginx does not accept partial chains: OpenSSL must reach a self-signed root in the trusted
    files. With only the intermediate every client certificate fails with error 2 (`unable to
    get issuer certificate`), 400 "The SSL certificate error" (F3.4; measured in the lab
    scenario `ca-intermediate-only`). Trusting "only our intermediate" is done by keeping the
    root in the file and checking the issuer (`$ssl_client_i_dn`), not by leaving the root out.

    Example:
    ```nginx
    ssl_client_certificate /etc/nginx/pki/device-intermediate-ca.crt;
    ssl_verify_client on;
    ```

    Use instead:
    ```nginx
    ssl_client_certificate /etc/nginx/pki/device-ca-chain.pem;   # intermediate + root
    ```

    References:
    F3.4, F4.2 of nginx-mtls-facts.md.
    """

    code = "MTLS239"
    name = "ca-file-named-like-intermediate"
    severity = Severity.WARNING
    facts = ("F3.4",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        pairs = ((n, s) for n, s in verifying_settings(ctx, "ssl_client_certificate")
                 if s.verify in ("on", "optional") and s.settings["ssl_trusted_certificate"].node is None)
        for node, _server in once(pairs):
            path = _path(ctx, node)
            if path is None or _loaded(ctx, path) or path in SYSTEM_STORES:
                continue
            stem = re.sub(r"\.(pem|crt|cer)$", "", posixpath.basename(path), flags=re.I)
            if INTERMEDIATE_NAME.search(stem) and not WHOLE_CHAIN_WORD.search(stem):
                yield cls.finding(
                    f"`{node.name}` names {node.args[0]}, by its name an intermediate CA alone: without its"
                    " root in a trusted file every client fails with error 2 (unable to get issuer certificate).",
                    node.location, Fix("Put the intermediate and its root in the file.",
                                       "ssl_client_certificate /etc/nginx/pki/client-ca-chain.pem;"))


RULES = (ServerCertificateIsClientCa, KeyPathNamesCertificate, CaFileNamedLikeLeaf, ClientCaIsSystemStore,
         CaFileNamedLikeIntermediate)
