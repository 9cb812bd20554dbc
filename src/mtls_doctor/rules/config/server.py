"""MTLS231-233: the server's own certificate chain, key and names (``ssl_certificate``)."""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, Iterator

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext


def _pairs(ctx: LintContext) -> Iterator[tuple[Server, Directive, Directive | None]]:
    """(server, ssl_certificate, matching ssl_certificate_key) once per certificate directive."""
    seen: set[int] = set()
    for server in ctx.servers:
        certs = server.arrays.get("ssl_certificate", ())
        keys = server.arrays.get("ssl_certificate_key", ())
        for i, node in enumerate(certs):
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield server, node, keys[i] if i < len(keys) else None


def _bundle(ctx: LintContext, node: Directive | None):
    if node is None or not node.args:
        return None
    loaded = ctx.files.get(ctx.eff.config.resolve(node.args[0]))
    return loaded.bundle if loaded is not None and loaded.error is None else None


def _is_ca(cert) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except Exception:
        return False


def _spki(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class ServerChainOrder(ConfigRule):
    """The `ssl_certificate` file is not leaf first, each certificate followed by its issuer.

    What it checks:
    In every `ssl_certificate` file: the first certificate must be the server's leaf (not a CA)
    and each following certificate must be the issuer of the one before it.

    Why it matters:
    nginx sends the file in order and pairs the *first* certificate with
    `ssl_certificate_key`; a CA first makes `nginx -t` fail with `key values mismatch`, and an
    unrelated or misordered intermediate makes strict clients reject the server before any
    client certificate is even requested.

    Example:
    A file with the intermediate CA first and the server certificate second.

    Use instead:
    `cat server.pem intermediate.pem > fullchain.pem` (leaf first, then each issuer; the root
    may be left out).

    References:
    https://nginx.org/en/docs/http/configuring_https_servers.html#chains ; RFC 8446 section 4.4.2.
    """

    code = "MTLS231"
    name = "server-chain-order"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for _server, node, _key in _pairs(ctx):
            bundle = _bundle(ctx, node)
            certs = bundle.certificates if bundle is not None else ()
            if not certs:
                continue
            if _is_ca(certs[0]) and any(not _is_ca(c) for c in certs[1:]):
                yield cls.finding(f"{node.args[0]} starts with a CA certificate; the leaf must come first.",
                                  node.location, "Put the server certificate first, then its intermediates.")
                continue
            for i in range(1, len(certs)):
                if certs[i - 1].issuer != certs[i].subject:
                    yield cls.finding(
                        f"certificate #{i} of {node.args[0]} (`{certs[i].subject.rfc4514_string()}`) is not the"
                        f" issuer of certificate #{i - 1}.",
                        node.location, "Order the file leaf first, then each certificate's issuer.")
                    break


class ServerKeyMismatch(ConfigRule):
    """`ssl_certificate_key` does not hold the private key of the first certificate in `ssl_certificate`.

    What it checks:
    The public key of the first certificate in each `ssl_certificate` file against the public
    key of the paired `ssl_certificate_key` (key files are never quoted or logged); and the
    swapped pair: an `ssl_certificate` file that holds a private key and no certificate, or an
    `ssl_certificate_key` file that holds certificates and no key.

    Why it matters:
    nginx -t fails with `SSL_CTX_use_PrivateKey(...) failed (... key values mismatch)` and the
    server does not start or reload. Swapped paths fail earlier: `cannot load certificate
    "privkey.pem": PEM_read_bio_X509_AUX() failed (... no start line)` (measured), whatever the
    files are called.

    Example:
    `ssl_certificate new.pem;` with `ssl_certificate_key old.key;` after a renewal.

    Use instead:
    Pair each certificate with its own key; compare with
    `openssl x509 -noout -pubkey -in cert.pem` and `openssl pkey -pubout -in key.pem`.

    References:
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_certificate_key
    """

    code = "MTLS232"
    name = "server-key-mismatch"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for _server, node, key_node in _pairs(ctx):
            certs = _bundle(ctx, node)
            keys = _bundle(ctx, key_node)
            swapped = _swapped(node, certs, key_node, keys)
            if swapped is not None:
                yield cls.finding(swapped, node.location, Fix(
                    "Swap the two paths: the certificate (chain) file in ssl_certificate, its key in "
                    "ssl_certificate_key.", f"ssl_certificate {key_node.args[0]};\n"
                    f"ssl_certificate_key {node.args[0]};" if key_node is not None and key_node.args
                    and keys is not None and keys.certificates and certs is not None and certs.keys else None))
                continue
            if certs is None or keys is None or not certs.certificates:
                continue
            publics = [k.public_key for k in keys.keys if k.public_key is not None]
            if not publics:
                continue
            want = _spki(certs.certificates[0].public_key())
            if all(_spki(p) != want for p in publics):
                yield cls.finding(
                    f"{key_node.args[0]} is not the key of the first certificate in {node.args[0]}: nginx -t"
                    " fails (key values mismatch).",
                    key_node.location, "Use the key that belongs to this certificate.")


def _swapped(node: Directive, certs, key_node: Directive | None, keys) -> str | None:
    """What nginx -t says when a certificate path names a key or a key path names certificates."""
    if certs is not None and not certs.certificates and certs.keys:
        return (f"{node.args[0]} (ssl_certificate) holds a private key and no certificate: nginx -t "
                "fails (cannot load certificate: PEM_read_bio_X509_AUX() failed); the paths look swapped.")
    if key_node is not None and keys is not None and keys.certificates and not keys.keys:
        return (f"{key_node.args[0]} (ssl_certificate_key) holds certificates and no private key: "
                "nginx -t fails (cannot load certificate key); the paths look swapped.")
    return None


def _covered(name: str, dns: list[str], ips: list) -> bool:
    try:
        return ipaddress.ip_address(name) in ips
    except ValueError:
        pass
    name = name.lower().rstrip(".")
    for pattern in dns:
        pattern = pattern.lower().rstrip(".")
        if pattern == name:
            return True
        if pattern.startswith("*.") and "." in name and name.split(".", 1)[1] == pattern[2:]:
            return True
    return False


class ServerNameNotInSan(ConfigRule):
    """A `server_name` is not covered by the subjectAltName of the server certificate.

    What it checks:
    Every literal `server_name` (not `_`, regexes or `*`/`.` patterns) of a TLS server against
    the DNS and IP subjectAltNames of the first certificate of its `ssl_certificate`.

    Why it matters:
    Clients check the server name against the SAN (the CN is ignored by modern clients); a
    mismatch makes curl and browsers abort the handshake with a certificate error, which is
    easily mistaken for a client-certificate problem.

    Example:
    `server_name api.example.com;` with a certificate for `www.example.com` only.

    Use instead:
    A certificate whose SAN lists every `server_name`, or a separate server block per
    certificate.

    References:
    RFC 6125 section 6.4; RFC 9110 section 4.3.4.
    """

    code = "MTLS233"
    name = "server-name-not-in-san"
    severity = Severity.WARNING
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from cryptography import x509

        for server, node, _key in _pairs(ctx):
            bundle = _bundle(ctx, node)
            if bundle is None or not bundle.certificates or not server.ssl:
                continue
            if server.settings["ssl_reject_handshake"].value == "on":
                continue  # it never presents the certificate
            cert = next((c for c in bundle.certificates if not _is_ca(c)), bundle.certificates[0])
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                dns, ips = san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)
            except x509.ExtensionNotFound:
                dns, ips = [], []
            except Exception:  # noqa: BLE001 - a SAN cryptography cannot decode (OpenSSL loads it)
                continue  # MTLS1xx and the clients judge such a certificate; no name check here
            names = server.node.children("server_name")
            for sn in names:
                for name in sn.args:
                    if not name or name == "_" or name.startswith(("~", ".", "*")) or name.endswith("*") or "$" in name:
                        continue
                    if not _covered(name, dns, ips):
                        yield cls.finding(
                            f"server_name {name} is not in the subjectAltName of {node.args[0]}"
                            f" ({', '.join(dns) or 'no DNS names'}).",
                            sn.location, Fix("Get a certificate whose SAN lists this name."))


#: certbot's leaf-only file next to fullchain.pem (https://eff-certbot.readthedocs.io, "Where are
#: my certificates?": cert.pem is the leaf alone)
LEAF_ONLY_PATH = re.compile(r"(.*/live/[^/]+/)cert\.pem$")


class ServerChainMissingIntermediate(ConfigRule):
    """The `ssl_certificate` file holds only the leaf, and its issuer is not a root.

    What it checks:
    An `ssl_certificate` file with exactly one certificate, a leaf (not a CA) that is not
    self-signed, whose issuer is a CA certificate the configuration names elsewhere and that is
    not self-signed (an intermediate that nginx does not send). Without the files (or when
    the issuer is unknown) it fires on certbot's leaf-only path `.../live/<name>/cert.pem`.

    Why it matters:
    nginx sends exactly the certificates of the file. A client that trusts the root but does
    not already have the intermediate fails before any client certificate is asked for:
    `certificate verify failed: unable to get local issuer certificate` (measured on real
    nginx with a client trusting the root). Browsers often fetch or cache intermediates and
    hide the mistake; curl, Python, Java and other nginx instances (`proxy_ssl_verify`) do not.

    Example:
    ```nginx
    ssl_certificate /etc/letsencrypt/live/example.com/cert.pem;   # leaf only
    ```

    Use instead:
    ```nginx
    ssl_certificate /etc/letsencrypt/live/example.com/fullchain.pem;
    ```

    References:
    https://nginx.org/en/docs/http/configuring_https_servers.html#chains ; RFC 8446 section 4.4.2.
    """

    code = "MTLS234"
    name = "server-chain-missing-intermediate"
    severity = Severity.WARNING
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        known = None
        for _server, node, _key in _pairs(ctx):
            if not node.args or "$" in node.args[0]:
                continue
            bundle = _bundle(ctx, node)
            if bundle is None:
                if LEAF_ONLY_PATH.search(node.args[0]):
                    yield cls.finding(
                        f"{node.args[0]} is certbot's leaf-only file: the intermediate is not sent, so"
                        " clients that lack it fail (unable to get local issuer certificate).",
                        node.location, Fix("Serve the full chain.", "ssl_certificate "
                                           + LEAF_ONLY_PATH.sub(r"\1fullchain.pem", node.args[0]) + ";"))
                continue
            if len(bundle.certificates) != 1:
                continue
            leaf = bundle.certificates[0]
            if _is_ca(leaf) or leaf.issuer == leaf.subject:
                continue
            if known is None:  # subject -> self-signed? for every certificate the config names
                known = {}
                for f in ctx.files.values():
                    for c in (f.bundle.certificates if f.bundle is not None else ()):
                        known.setdefault(c.subject, c.issuer == c.subject)
            is_root = known.get(leaf.issuer)
            if is_root is True or (is_root is None and not LEAF_ONLY_PATH.search(node.args[0])):
                continue  # issued by a root, or by a CA the configuration does not show
            yield cls.finding(
                f"{node.args[0]} holds only the leaf, issued by `{leaf.issuer.rfc4514_string()}`, which is"
                " not a root: clients that lack that intermediate fail (unable to get local issuer"
                " certificate).",
                node.location, "Serve the leaf followed by its intermediates (fullchain.pem).")


RULES = (ServerChainOrder, ServerKeyMismatch, ServerNameNotInSan, ServerChainMissingIntermediate)
