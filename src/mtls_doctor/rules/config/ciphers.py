"""MTLS223-224: `ssl_ciphers` and OpenSSL's security level against the client PKI's algorithms.

Invariants: no I/O. The security level is the ``@SECLEVEL=N`` of the effective ``ssl_ciphers``
(server, else http/stream), else ``DEFAULT_SECLEVEL``: 2, what Debian's and Ubuntu's
openssl.cnf set (``CipherString = DEFAULT:@SECLEVEL=2``; OpenSSL's own default is 1). The
minimum key sizes per level are OpenSSL's (SSL_CTX_set_security_level(3)).
"""

from __future__ import annotations

import re
from typing import Iterable

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.effective import Server
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.rules.config.common import ConfigRule, LintContext, labels, per_node, verifying

DEFAULT_SECLEVEL = 2
SECLEVEL = re.compile(r"@SECLEVEL=(\d)")
#: minimum RSA/DSA/DH bits and EC bits per security level (SSL_CTX_set_security_level(3))
MIN_RSA = {0: 0, 1: 1024, 2: 2048, 3: 3072, 4: 7680, 5: 15360}
MIN_EC = {0: 0, 1: 160, 2: 224, 3: 256, 4: 384, 5: 512}
#: cipher-string words that switch on suites without authentication, encryption or strength
WEAK_WORDS = ("aNULL", "eNULL", "NULL", "EXPORT", "EXP", "RC4", "DES", "3DES", "MD5", "LOW", "ADH", "AECDH")


#: parts of OpenSSL cipher suite names that make the suite weak (RC4-SHA, DES-CBC3-SHA, EXP-RC4-MD5)
WEAK_PARTS = frozenset({"RC4", "DES", "3DES", "NULL", "EXP", "EXPORT", "MD5", "ADH", "AECDH", "DES40", "RC2"})


def ciphers_node(server: Server) -> Directive | None:
    own = [d for d in server.node.block or () if d.name == "ssl_ciphers"]
    if own:
        return own[0]
    inherited = [d for d in server.inherited if d.name == "ssl_ciphers"]
    return inherited[0] if inherited else None


def seclevel(server: Server) -> tuple[int, Directive | None]:
    node = ciphers_node(server)
    if node is not None and node.args:
        m = SECLEVEL.search(node.args[0])
        if m:
            return int(m.group(1)), node
    return DEFAULT_SECLEVEL, node


class SslCiphersWeak(ConfigRule):
    """`ssl_ciphers` lowers the security level to 0 or enables suites without authentication or strength.

    What it checks:
    Every `ssl_ciphers` value: `@SECLEVEL=0`, or a cipher-string word that enables weak or
    anonymous suites (`aNULL`, `eNULL`, `NULL`, `EXPORT`, `RC4`, `DES`, `3DES`, `MD5`, `LOW`,
    `ADH`) without a `!`/`-` in front.

    Why it matters:
    `@SECLEVEL=0` turns off OpenSSL's key-size and signature checks for the whole context,
    client certificate chains included: an RSA-1024 client certificate that fails with
    `66:EE certificate key too weak` at the default level is accepted with SUCCESS (measured on
    real nginx). It is usually added to make one old client work, and then weakens every
    handshake. Anonymous and export suites give no server authentication at all.

    Example:
    ```nginx
    ssl_ciphers DEFAULT:@SECLEVEL=0;
    ```

    Use instead:
    Re-issue the weak client certificates (RSA 2048+ or ECDSA P-256, SHA-256) and keep the
    default, or
    ```nginx
    ssl_ciphers HIGH:!aNULL:!MD5;
    ```

    References:
    F7.5 of nginx-mtls-facts.md; SSL_CTX_set_security_level(3);
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_ciphers
    """

    code = "MTLS223"
    name = "ssl-ciphers-weak"
    severity = Severity.WARNING
    facts = ("F7.5",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for node in ctx.eff.named("ssl_ciphers", "proxy_ssl_ciphers", "grpc_ssl_ciphers", "uwsgi_ssl_ciphers"):
            if not node.args:
                continue
            value = node.args[0]
            words = [w for w in re.split(r"[:, ]+", value) if w and w[0] not in "!-"]
            weak = [w for w in words if w.lstrip("+") in WEAK_WORDS
                    or set(w.lstrip("+").split("-")) & WEAK_PARTS]
            level = SECLEVEL.search(value)
            if level and level.group(1) == "0":
                yield cls.finding(
                    f"`{node.name}` sets @SECLEVEL=0: OpenSSL's key-size and signature checks are off,"
                    " for client certificate chains too.",
                    node.location, Fix("Drop @SECLEVEL=0 and re-issue the weak certificates.",
                                       f"{node.name} HIGH:!aNULL:!MD5;"))
            elif weak:
                yield cls.finding(
                    f"`{node.name}` enables weak or anonymous suites ({', '.join(weak)}).",
                    node.location, Fix("Exclude them.", f"{node.name} HIGH:!aNULL:!MD5;"))


def _weakness(cert, level: int, self_signed: bool, openssl) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    try:
        key = cert.public_key()
    except Exception:  # noqa: BLE001 - a key cryptography cannot decode: verification judges it
        return None
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)) and key.key_size < MIN_RSA.get(level, 0):
        return f"a {key.key_size}-bit key"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC.get(level, 0):
        return f"a {key.curve.key_size}-bit EC key"
    if self_signed or level == 0:
        return None  # a trust anchor's own signature is not checked
    try:
        algo = getattr(cert.signature_hash_algorithm, "name", "") or ""
    except Exception:  # noqa: BLE001 - an unsupported signature algorithm
        return None
    if algo == "md5" or (algo == "sha1" and (level >= 2 or openssl is None or openssl.major >= 3)):
        return f"a {algo.upper()} signature"
    return None


class ClientCaBelowSecurityLevel(ConfigRule):
    """A CA in the client CA files has a key or signature below OpenSSL's security level: its clients fail.

    What it checks:
    For each verifying server with readable CA files: every CA certificate in
    `ssl_client_certificate`/`ssl_trusted_certificate` against the effective security level
    (`@SECLEVEL=N` in `ssl_ciphers`, else 2, the Debian/Ubuntu default): RSA/DSA keys below
    2048 bits at level 2 (1024 at level 1), EC keys below 224 bits, MD5 or (OpenSSL 3.x, or
    level 2+) SHA-1 signatures on a certificate that is not self-signed. Needs the files; the
    clients' own keys are not in the configuration and cannot be checked here.

    Why it matters:
    OpenSSL checks every certificate of a client chain against the security level: a client
    issued by an RSA-1024 CA is refused with `67:CA certificate key too weak`, an RSA-1024
    client certificate with `66:EE certificate key too weak` (400, measured on real nginx at
    the default level of Debian 12). The CA file loads without a word, so the failure shows up
    only as 400s.

    Example:
    ```nginx
    ssl_client_certificate legacy-rsa1024-ca.pem;
    ```

    Use instead:
    Re-issue the CA with RSA 2048+ or ECDSA P-256 and SHA-256. Lowering the level
    (`@SECLEVEL=1` or 0 in `ssl_ciphers`) weakens every handshake (MTLS223).

    References:
    F3.3, F4.2 of nginx-mtls-facts.md; SSL_CTX_set_security_level(3).
    """

    code = "MTLS224"
    name = "client-ca-below-security-level"
    severity = Severity.ERROR
    facts = ("F4.2",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        from mtls_doctor.rules.config.files import ca_store

        hits = []
        detail: dict[int, str] = {}
        for server in ctx.tls_servers:
            if not verifying(server):
                continue
            level, _node = seclevel(server)
            weak = _first_weak(ctx, ca_store(ctx, server), level)
            if weak is None:
                continue
            cert, why = weak
            setting = server.settings["ssl_client_certificate"]
            node = setting.node or server.settings["ssl_trusted_certificate"].node or server.node
            hits.append((node, server))
            detail.setdefault(id(node), f"`{cert.subject.rfc4514_string()}` has {why}, below security"
                                        f" level {level}")
        for node, servers in per_node(hits):
            yield cls.finding(
                f"{detail[id(node)]}: clients it issues are refused in {labels(servers)}"
                " (67 CA certificate key too weak, or 68 for the signature).",
                node.location, "Re-issue the CA with RSA 2048+ or ECDSA P-256 and SHA-256.")


def _first_weak(ctx: LintContext, store, level: int):
    """(certificate, why) of the first CA of ``store`` below ``level``, or None: once per CA
    store and level in a lint run (ctx.memo; the store lives as long as ctx), so a bundle named
    by many servers is read once, not once per server."""
    from mtls_doctor.rules.config.files import _is_ca

    key = ("MTLS224.first_weak", id(store), level)
    if key not in ctx.memo:
        found = None
        for cert in store:
            if not _is_ca(cert) and cert.issuer != cert.subject:
                continue
            why = _weakness(cert, level, cert.issuer == cert.subject, ctx.openssl)
            if why is not None:
                found = (cert, why)
                break
        ctx.memo[key] = found
    return ctx.memo[key]


RULES = (SslCiphersWeak, ClientCaBelowSecurityLevel)
