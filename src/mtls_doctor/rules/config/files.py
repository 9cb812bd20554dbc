"""MTLS207, MTLS23x: checks on the files a configuration names, in the role nginx gives them.

The files are loaded by the orchestration layer (``nginx.lint.load_named_files``) and arrive in
``LintContext.files``; with no files loaded these rules say nothing (except include problems).
"""

from __future__ import annotations

from typing import Iterable, Iterator

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext, verifying

PATH_SETTINGS = ("ssl_client_certificate", "ssl_trusted_certificate", "ssl_crl")


def _is_ca(cert) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except Exception:
        return False


def _self_signed(cert) -> bool:
    return cert.issuer == cert.subject


class CaStore:
    """The trust store nginx builds for a server: its ssl_client_certificate and
    ssl_trusted_certificate certificates (F1.1, F1.3), with the subject map built once.

    Built once per pair of files (``ca_store`` memoises it), so 10,000 servers sharing a
    10,000-certificate bundle cost one map, not one per server and certificate (that was
    quadratic: 46-58 s)."""

    def __init__(self, certs: list) -> None:
        self.certs = certs
        self.by_subject: dict = {}
        for c in certs:
            self.by_subject.setdefault(c.subject, c)
        self._deepest: tuple[int, object] | None = None

    def __iter__(self):
        return iter(self.certs)

    def __bool__(self) -> bool:
        return bool(self.certs)

    def deepest(self) -> tuple[int, object]:
        """(intermediates below the root, CA certificate) of the deepest CA (0, None if none)."""
        if self._deepest is None:
            worst, worst_cert = 0, None
            for cert in self.certs:
                if not _is_ca(cert) and not _self_signed(cert):
                    continue
                need = intermediates_below_root(cert, self)
                if need is not None and need > worst:
                    worst, worst_cert = need, cert
            self._deepest = (worst, worst_cert)
        return self._deepest


def ca_store(ctx: LintContext, server: Server) -> CaStore:
    """The server's CaStore, one per pair of loaded files in a lint run (``ctx.memo``; the
    bundles live as long as ``ctx``, so their ids are a safe key)."""
    bundles = tuple(b for b in (ctx.bundle(server.settings[name]) for name in
                                ("ssl_client_certificate", "ssl_trusted_certificate")) if b is not None)
    key = ("ca_store",) + tuple(id(b) for b in bundles)
    store = ctx.memo.get(key)
    if store is None:
        store = ctx.memo[key] = CaStore([c for b in bundles for c in b.certificates])
    return store


def intermediates_below_root(cert, store: CaStore, limit: int = 16) -> int | None:
    """How many intermediates a client issued by ``cert`` needs (F3.2), None if no root."""
    by_subject = store.by_subject
    count, current = 0, cert
    for _ in range(limit):
        if _self_signed(current):
            return count
        count += 1
        issuer = by_subject.get(current.issuer)
        if issuer is None:
            return None
        current = issuer
    return None


def _nodes_for(ctx: LintContext) -> Iterator[tuple[str, Directive]]:
    """(resolved path, directive) for every file-naming directive, once per directive."""
    seen: set[int] = set()
    for server in ctx.servers:
        nodes = list(server.arrays.get("ssl_certificate", ())) + list(server.arrays.get("ssl_certificate_key", ()))
        nodes += [server.settings[n].node for n in PATH_SETTINGS if server.settings[n].node]
        for node in nodes:
            if id(node) in seen or not node.args or "$" in node.args[0] or node.args[0].startswith(("data:", "engine:")):
                continue
            seen.add(id(node))
            yield ctx.eff.config.resolve(node.args[0]), node


class ConfigFileMissing(ConfigRule):
    """A file the configuration names (include, certificate, key, CA file, CRL) does not exist or cannot be read.

    What it checks:
    Every `include` without a glob that matches no file, and every file named by
    `ssl_certificate`, `ssl_certificate_key`, `ssl_client_certificate`,
    `ssl_trusted_certificate` and `ssl_crl` (relative paths resolved against the
    configuration directory, as nginx does) that exists but cannot be read; a named file that
    does not exist is MTLS294 (once per path).

    Why it matters:
    nginx -t fails with `[emerg] open() ... failed` or `cannot load certificate`, and a reload
    keeps the old configuration running. A file that exists but is unreadable to the user
    running the lint may still be readable to nginx's master process (usually root): that
    case is reported as info.

    Example:
    ```nginx
    ssl_client_certificate /etc/nginx/certs/clients-ca.pem;   # file absent
    ```

    Use instead:
    Point at the real file (check the path relative to the configuration directory).

    References:
    https://nginx.org/en/docs/ngx_core_module.html#include ; F1.5 (load errors) of nginx-mtls-facts.md.
    """

    code = "MTLS230"
    name = "config-file-missing"
    severity = Severity.ERROR
    facts = ("F1.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.model import Location

        for problem in ctx.eff.config.problems:
            yield cls.finding(problem.message + ".", Location(path=problem.path, line=problem.line),
                              "Fix the include path (relative paths start at the configuration directory).")
        for path, node in _nodes_for(ctx):
            loaded = ctx.files.get(path)
            if loaded is None or loaded.error is None:
                continue
            if not loaded.exists:
                continue  # reported once per path, with what it blocks, by MTLS294 (inputs.py)
            else:
                yield cls.finding(
                    f"{path} cannot be read here ({loaded.error}); nginx's master (usually root) may still read it.",
                    node.location, "Run the lint as the user nginx's master runs as, or check the permissions.",
                    severity=Severity.INFO)


class VerifyDepthTooLow(ConfigRule):
    """`ssl_verify_depth` is lower than the number of intermediates below the root in the CA files.

    What it checks:
    For each verifying server, every CA certificate in `ssl_client_certificate` and
    `ssl_trusted_certificate` is followed up to its root within those files; a client issued by
    a CA that is N intermediates below the root needs `ssl_verify_depth` >= N (the CA itself
    counts when it is not the root). Needs the files; without them only an explicit
    `ssl_verify_depth 0` is reported (as a warning: it admits no intermediate at all).

    Why it matters:
    Depth counts the certificates between the leaf and the trust anchor, whether the client
    sends them or nginx has them (F3.2); the default is 1 (F3.1). On OpenSSL 3.x a chain whose
    intermediates are in the CA files fails with `FAILED:unable to get issuer certificate` (2)
    (measured, also when the client sends them), one the client sends with `unable to get local
    issuer certificate` (20), never with "certificate chain too long", which sends people
    hunting in the CA file (F3.3); on OpenSSL 1.1.1 they fail with 22 "certificate chain too long" (measured on
    nginx 1.18.0 / OpenSSL 1.1.1w, docs/versions.md).

    Example:
    ```nginx
    ssl_client_certificate root-issuing-policy.pem;   # root -> policy CA -> issuing CA
    # ssl_verify_depth defaults to 1
    ```

    Use instead:
    ```nginx
    ssl_verify_depth 2;
    ```

    References:
    F3.1, F3.2, F3.3, F4.2 of nginx-mtls-facts.md; SSL_CTX_set_verify(3).
    """

    code = "MTLS207"
    name = "verify-depth-too-low"
    severity = Severity.ERROR
    facts = ("F3.1", "F3.2", "F3.3")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        seen: set[tuple[int, int]] = set()
        for server in ctx.tls_servers:
            if not verifying(server):
                continue
            store = ca_store(ctx, server)
            setting = server.settings["ssl_verify_depth"]
            if not store:
                if setting.node is not None and setting.value == "0" and id(setting.node) not in {k[0] for k in seen}:
                    seen.add((id(setting.node), 0))  # the files are not here: depth 0 is the one sure case
                    yield cls.finding(
                        f"`ssl_verify_depth 0` in {server.label} accepts only clients issued directly by"
                        " a CA of the files: a client under any intermediate fails with"
                        f" {_depth_error(ctx)} (the CA files could not be read to count them).",
                        setting.node.location, Fix("Allow the intermediates.", "ssl_verify_depth 2;"),
                        severity=Severity.WARNING)
                continue
            try:
                depth = int(setting.value)
            except ValueError:
                continue
            worst, worst_cert = store.deepest()
            if worst <= depth or worst_cert is None:
                continue
            setting = server.settings["ssl_verify_depth"]
            node = setting.node or server.settings["ssl_verify_client"].node or server.node
            key = (id(node), worst)
            if key in seen:
                continue
            seen.add(key)
            where = f"`ssl_verify_depth {depth}`" if setting.node else f"the default ssl_verify_depth {depth}"
            yield cls.finding(
                f"clients of `{worst_cert.subject.rfc4514_string()}` need depth {worst}"
                f" ({worst} intermediates below the root), but {where} makes them fail with "
                f"{_depth_error(ctx)} in {server.label}.",
                node.location, Fix(f"Raise the depth to {worst}.", f"ssl_verify_depth {worst};"))


def _depth_error(ctx: LintContext) -> str:
    """What nginx logs for a chain deeper than ssl_verify_depth whose intermediates are in the
    CA files (the only chains this rule counts), for the OpenSSL linted for: 22 on 1.1.1; on
    3.x the chain is cut at a CA of the trust store, so the last error is 2 "unable to get
    issuer certificate" whether or not the client also sends the intermediates (measured on
    nginx 1.22.1 / OpenSSL 3.0: tests/truth/test_lint_rules_truth.py; F3.2). 20 is what a chain
    the client sends and the CA files lack reports (F3.3)."""
    if ctx.openssl is not None and ctx.openssl.major == 1:
        return f"error 22 (certificate chain too long, OpenSSL {ctx.openssl})"
    which = f"OpenSSL {ctx.openssl}" if ctx.openssl is not None else \
        "OpenSSL 3.x; 22 'certificate chain too long' on 1.1.1"
    return f"error 2 (unable to get issuer certificate, {which})"


#: above this the CertificateRequest no longer fits one TLS record (2^14 bytes)
CA_NAMES_MAX_BYTES = 16384
#: more distinct names than this looks like a system trust store, not a client CA
CA_NAMES_MAX_COUNT = 50


class CaNamesListLarge(ConfigRule):
    """`ssl_client_certificate` advertises a very large CA names list (often a whole public trust store).

    What it checks:
    For each `ssl_client_certificate` file used by a verifying server: the number of distinct
    subject names nginx advertises and the size of the certificate_authorities vector
    (F1.1); fires above 50 names or 16 KiB. Needs the file.

    Why it matters:
    Every certificate of the file is both trusted and advertised (F1.1). A file with dozens of
    roots is usually the system bundle (`/etc/ssl/certs/ca-certificates.crt`): then a client
    certificate from *any* public CA verifies, and `$ssl_client_verify = SUCCESS` proves nothing
    about who the client is. A list larger than one TLS record (16 KiB) also breaks some
    clients (Windows SChannel drops the handshake or offers no certificate).

    Example:
    ```nginx
    ssl_client_certificate /etc/ssl/certs/ca-certificates.crt;
    ```

    Use instead:
    A file with only the private CA(s) that issue your client certificates, root first or
    intermediate + root.

    References:
    F1.1, F1.7 of nginx-mtls-facts.md; RFC 8446 section 4.2.4 (certificate_authorities).
    """

    code = "MTLS208"
    name = "ca-names-list-large"
    severity = Severity.WARNING
    facts = ("F1.1",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.pki.facts import advertised_ca_names, ca_names_wire_size

        seen: set[int] = set()
        for server in ctx.tls_servers:
            setting = server.settings["ssl_client_certificate"]
            if setting.node is None or id(setting.node) in seen or not verifying(server):
                continue
            seen.add(id(setting.node))
            bundle = ctx.bundle(setting)
            if bundle is None or not bundle.certificates:
                continue
            key = ("ca_names", id(bundle))  # once per file, not once per server naming it
            if key not in ctx.memo:
                ctx.memo[key] = (len(advertised_ca_names(bundle.certificates)),
                                 ca_names_wire_size(bundle.certificates))
            names, size = ctx.memo[key]
            if names > CA_NAMES_MAX_COUNT or size > CA_NAMES_MAX_BYTES:
                yield cls.finding(
                    f"{setting.value} advertises {names} CA names ({size} bytes): every one of these CAs"
                    " can issue client certificates that verify.",
                    setting.node.location, "Use a file with only the CAs that issue your client certificates.")


def suppress_bundle_finding(ctx: LintContext, path: str, finding: Finding) -> bool:
    """Drop MTLS103 (intermediate without root) when another CA file of the server has the root.

    nginx builds one trust store from ``ssl_client_certificate`` and ``ssl_trusted_certificate``
    (F1.1, F1.3); the intermediate-in-client-file + root-in-trusted-file pattern is valid (F3.4).
    """
    if finding.rule != "MTLS103" or finding.location.index is None:
        return False
    loaded = ctx.files.get(path)
    if loaded is None or loaded.bundle is None or finding.location.index >= len(loaded.bundle.certificates):
        return False
    cert = loaded.bundle.certificates[finding.location.index]
    for server in ctx.servers:
        paths = {ctx.eff.config.resolve(server.settings[n].value) for n in ("ssl_client_certificate", "ssl_trusted_certificate")
                 if server.settings[n].node}
        if path in paths and intermediates_below_root(cert, ca_store(ctx, server)) is not None:
            return True
    return False
