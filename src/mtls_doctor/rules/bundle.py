"""MTLS1xx: judgements on the certificates of one file in the role nginx gives it.

Input: ``check(bundle, role, at)`` with a loaded ``Bundle``, a role (``ROLES``) and an explicit
``at``; no I/O, no clock. Findings point at ``path#index`` (certificate index in file order;
for MTLS115-117 the CRL's index among the file's CRLs), private keys at ``path:line``.
``check`` also reports the bundle's load problems (rules/files.py).

Roles: ``ca`` a file for ``ssl_client_certificate`` / ``ssl_trusted_certificate``; ``client``
the leaf and the intermediates a client sends; ``server`` an ``ssl_certificate`` chain; ``any``
no assumption (only role-independent rules run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

from mtls_doctor.model import Finding, Location, Severity
from mtls_doctor.pki.facts import (
    WEAK_SIGNATURE_HASHES,
    CertFacts,
    all_facts,
    crl_replaced,
    crl_times,
)
from mtls_doctor.pki.load import Bundle
from mtls_doctor.pki.tree import LEAF, Tree, build_tree
from mtls_doctor.rules import files
from mtls_doctor.rules.base import Rule

ROLES = ("ca", "client", "server", "any")
#: MTLS106 fires when notAfter is this close
EXPIRY_WARNING_DAYS = 30
MIN_RSA_BITS = 2048
#: MTLS117 fires when a CRL's nextUpdate is this close (as MTLS302 in lint)
CRL_WARNING = timedelta(days=2)


@dataclass(frozen=True)
class BundleView:
    """What every bundle rule looks at: the bundle, its facts and tree, the role and time."""

    bundle: Bundle
    role: str
    at: datetime
    facts: tuple[CertFacts, ...]
    tree: Tree

    def loc(self, index: int) -> Location:
        return Location(path=self.bundle.source, index=index)

    def label(self, index: int) -> str:
        return f"'{self.facts[index].subject or '(empty subject)'}'"


class BundleRule(Rule):
    target = "bundle"
    roles: tuple[str, ...] = ROLES

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        raise NotImplementedError


class PrivateKeyInBundle(BundleRule):
    """A private key sits in a certificate file.

    What it checks:
    A PEM or DER private key (any type, encrypted or not) in a file of certificates. Keys inside
    a PKCS#12 are expected there and are not flagged, nor is a file that holds only keys (a key
    file given next to its certificate). The key itself is never printed.

    Why it matters:
    CA bundles and certificate chains are public data: they are copied to every server and
    client, committed to repositories and mounted world-readable; nginx even sends the subject of
    every certificate in `ssl_client_certificate` to anyone who connects (F1.1). A key pasted into
    such a file is a leaked key: whoever has the file can impersonate that certificate.

    Example:
    `cat client.crt client.key inter.crt > ca-bundle.pem`

    Use instead:
    Keep the key in its own file, mode 0600, referenced only by `ssl_certificate_key` (or the
    client's `--key`). Treat the key as compromised: issue a new one and revoke the certificate.

    References:
    F1.1; nginx docs `ssl_certificate_key`.
    """

    code = "MTLS101"
    name = "private-key-in-certificate-file"
    severity = Severity.CRITICAL
    facts = ("F1.1",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        if not view.bundle.certificates and not view.bundle.crls:
            return  # a key file of its own: where a key belongs
        for key in view.bundle.keys:
            if key.container == "pkcs12":
                continue
            what = f"{key.type} {key.bits}-bit" if key.bits else key.type
            # An ssl_certificate file may legally hold its own key (nginx reads both from one
            # file); it is still risky, but not the leak a shared CA bundle is.
            severity = Severity.WARNING if view.role in ("server", "client") else None
            yield cls.finding(
                f"private key ({what}) number {key.index + 1} in a certificate file; its "
                "content is not shown",
                Location(path=view.bundle.source, line=key.line),
                "Move the key to its own 0600 file, remove it here, and replace it: treat it as "
                "leaked.",
                severity=severity,
            )


class LeafInCaBundle(BundleRule):
    """A leaf (non-CA) certificate is in a CA file.

    What it checks:
    In a file used as `ssl_client_certificate` / `ssl_trusted_certificate` (role `ca`), a
    certificate whose basicConstraints is not CA:TRUE.

    Why it matters:
    nginx trusts and advertises every certificate in the file (F1.1): the leaf's subject is sent
    as an acceptable CA name, and a self-signed leaf becomes a trust anchor. Usually the client
    or server certificate was pasted into the wrong file.

    Example:
    `cat root.pem client.pem > ca.pem` for `ssl_client_certificate`.

    Use instead:
    Only CA certificates (root, plus intermediates you want advertised) in the CA file.

    References:
    F1.1, F1.3.
    """

    code = "MTLS102"
    name = "leaf-in-ca-file"
    severity = Severity.ERROR
    facts = ("F1.1", "F1.3")
    roles = ("ca",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            if not f.is_ca and view.tree.nodes[f.index].duplicate_of is None:
                yield cls.finding(
                    f"{view.label(f.index)} is not a CA certificate but nginx will trust and "
                    "advertise it",
                    view.loc(f.index),
                    "Remove the leaf certificate from the CA file.",
                )


class IntermediateWithoutRoot(BundleRule):
    """A CA file holds an intermediate whose root is not in the file.

    What it checks:
    In a CA file (role `ca`), a CA certificate that is not self-signed and whose issuer (by name,
    key identifier and signature) is not in the same file.

    Why it matters:
    nginx never enables partial chains: verification must end at a self-signed trust anchor in
    its trust files. With only the intermediate every client fails with
    `FAILED:unable to get issuer certificate` (error 2), whether or not the client sends the
    intermediate (F3.4, F4.2).

    Example:
    `ssl_client_certificate intermediate.pem;` without the root.

    Use instead:
    Add the root to the file (root and intermediate in one `ssl_client_certificate`), or keep the
    intermediate there for its advertised name and put the root into `ssl_trusted_certificate`.
    If the root is in another trust file nginx uses, this finding can be ignored.

    References:
    F3.4, F4.2, facts sheet section 11 ("an intermediate alone ... restricts trust").
    """

    code = "MTLS103"
    name = "intermediate-without-root"
    severity = Severity.ERROR
    facts = ("F3.4", "F4.2")
    roles = ("ca",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            node = view.tree.nodes[f.index]
            if f.is_ca and not node.issuer_found and node.duplicate_of is None:
                yield cls.finding(
                    f"{view.label(f.index)} is issued by '{f.issuer}', which is not in the file; "
                    "nginx fails every client with error 2",
                    view.loc(f.index),
                    f"Add the root '{f.issuer}' to this file or to ssl_trusted_certificate.",
                )


class CertificateExpired(BundleRule):
    """A certificate has expired.

    What it checks:
    notAfter is before the time of the check (`--at`, default now).

    Why it matters:
    OpenSSL fails the chain with `certificate has expired` (error 10) wherever the certificate
    sits, leaf or CA; nginx answers 400 "The SSL certificate error", even under
    `optional_no_ca` (F2.4, F4.2).

    Example:
    A client certificate issued for one year, two years ago.

    Use instead:
    Renew the certificate and replace it everywhere it is deployed.

    References:
    F2.4, F4.2.
    """

    code = "MTLS104"
    name = "certificate-expired"
    severity = Severity.ERROR
    facts = ("F2.4", "F4.2")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            if f.validity == "expired":
                yield cls.finding(
                    f"{view.label(f.index)} expired on {f.not_after} ({-f.days_left} days ago)",
                    view.loc(f.index),
                    "Renew the certificate.",
                )


class CertificateNotYetValid(BundleRule):
    """A certificate is not valid yet.

    What it checks:
    notBefore is after the time of the check.

    Why it matters:
    OpenSSL fails with `certificate is not yet valid` (error 9): nginx answers 400. Often a clock
    problem on the issuing machine or on the server.

    Example:
    A certificate issued with notBefore in the issuer's local time zone instead of UTC.

    Use instead:
    Check the clocks (NTP) of the CA and the server; reissue with notBefore in the past.

    References:
    F4.2 (verify error codes); OpenSSL `X509_V_ERR_CERT_NOT_YET_VALID`.
    """

    code = "MTLS105"
    name = "certificate-not-yet-valid"
    severity = Severity.ERROR
    facts = ("F4.2",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            if f.validity == "not-yet-valid":
                yield cls.finding(
                    f"{view.label(f.index)} is valid only from {f.not_before}",
                    view.loc(f.index),
                    "Fix the clock, or reissue the certificate with notBefore in the past.",
                )


class CertificateExpiringSoon(BundleRule):
    """A certificate expires within 30 days.

    What it checks:
    notAfter is less than 30 days after the time of the check (and not yet passed).

    Why it matters:
    Once it expires every handshake that needs it fails with error 10 (F4.2); renewing a CA or a
    client fleet takes time.

    Example:
    A client intermediate with 12 days left.

    Use instead:
    Renew now and deploy the new certificate before the old one expires.

    References:
    F4.2.
    """

    code = "MTLS106"
    name = "certificate-expiring-soon"
    severity = Severity.WARNING
    facts = ("F4.2",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            if f.validity == "valid" and f.days_left < EXPIRY_WARNING_DAYS:
                yield cls.finding(
                    f"{view.label(f.index)} expires on {f.not_after} ({f.days_left} days left)",
                    view.loc(f.index),
                    "Renew the certificate before it expires.",
                )


class DuplicateCertificate(BundleRule):
    """The same certificate appears more than once in the file.

    What it checks:
    Two certificates with identical DER (same SHA-256 fingerprint).

    Why it matters:
    Harmless to OpenSSL (nginx skips the duplicate name, F1.1), but a sign of a bundle built by
    careless concatenation; in a client chain it wastes bytes in every handshake.

    Example:
    `cat root.pem inter.pem root.pem > ca.pem`

    Use instead:
    Keep each certificate once.

    References:
    F1.1.
    """

    code = "MTLS107"
    name = "duplicate-certificate"
    severity = Severity.WARNING
    facts = ("F1.1",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for node in view.tree.nodes:
            if node.duplicate_of is not None:
                yield cls.finding(
                    f"{view.label(node.index)} is a copy of #{node.duplicate_of}",
                    view.loc(node.index),
                    f"Remove certificate #{node.index}.",
                )


class CaWithoutKeyCertSign(BundleRule):
    """A CA certificate has a keyUsage without keyCertSign.

    What it checks:
    basicConstraints CA:TRUE and a keyUsage extension that lacks keyCertSign.

    Why it matters:
    OpenSSL refuses it as an issuer: every certificate it issued fails verification.
    `openssl verify -purpose sslclient` (OpenSSL 3.0.19) reports error 79 `invalid CA
    certificate`, 26 and finally 32 `key usage does not include certificate signing`; since the
    last error wins in nginx (F2.4), expect `FAILED:key usage does not include certificate
    signing`.

    Example:
    A CA made with `keyUsage = digitalSignature, keyEncipherment` copied from a server profile.

    Use instead:
    Reissue the CA with `keyUsage = critical, keyCertSign, cRLSign`.

    References:
    RFC 5280 4.2.1.3; OpenSSL `X509_V_ERR_KEYUSAGE_NO_CERTSIGN`; F2.4, F4.2.
    """

    code = "MTLS108"
    name = "ca-without-keycertsign"
    severity = Severity.ERROR
    facts = ("F2.4", "F4.2")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            if f.is_ca and f.key_usage is not None and "keyCertSign" not in f.key_usage:
                yield cls.finding(
                    f"{view.label(f.index)} is a CA but its keyUsage "
                    f"({', '.join(f.key_usage) or 'empty'}) lacks keyCertSign",
                    view.loc(f.index),
                    "Reissue the CA with keyUsage keyCertSign, cRLSign.",
                )


class CaEkuWithoutClientAuth(BundleRule):
    """A CA certificate has an extendedKeyUsage without clientAuth.

    What it checks:
    A CA certificate (in a CA file or a client chain) with an EKU extension that does not list
    clientAuth. anyExtendedKeyUsage does not help.

    Why it matters:
    nginx verifies client chains with OpenSSL's `ssl_client` purpose, which rejects every
    certificate in the chain, CA and trust anchor included, whose EKU lacks clientAuth:
    `FAILED:unsuitable certificate purpose` (error 26), even with anyExtendedKeyUsage (F6.3).

    Example:
    An intermediate with `extendedKeyUsage = serverAuth` used to issue client certificates.

    Use instead:
    Reissue the CA without an EKU, or with an EKU that includes clientAuth.

    References:
    F6.3, F4.2.
    """

    code = "MTLS109"
    name = "ca-eku-without-clientauth"
    severity = Severity.ERROR
    facts = ("F6.3", "F4.2")
    roles = ("ca", "client", "any")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            eku = f.extended_key_usage
            if f.is_ca and eku is not None and "clientAuth" not in eku:
                yield cls.finding(
                    f"{view.label(f.index)} restricts extendedKeyUsage to "
                    f"{', '.join(eku) or 'nothing'}: client chains through it fail with error 26",
                    view.loc(f.index),
                    "Reissue the CA without EKU, or with clientAuth in its EKU.",
                )


class WeakRsaKey(BundleRule):
    """An RSA key is shorter than 2048 bits.

    What it checks:
    A certificate whose public key is RSA with fewer than 2048 bits.

    Why it matters:
    OpenSSL applies its security level to client chains too (F6.3): at level 2 (the Debian and
    Ubuntu default) RSA below 2048 bits fails verification with `EE certificate key too weak`
    (error 66; 67 for a CA), checked with `openssl verify -auth_level 2` on OpenSSL 3.0.19; and
    such keys are breakable.

    Example:
    A legacy client certificate with a 1024-bit key.

    Use instead:
    Reissue with RSA 2048+ or ECDSA P-256.

    References:
    F6.3; OpenSSL `SSL_CTX_set_security_level(3)`.
    """

    code = "MTLS110"
    name = "weak-rsa-key"
    severity = Severity.ERROR
    facts = ("F6.3",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            if f.key_type == "RSA" and f.key_bits is not None and f.key_bits < MIN_RSA_BITS:
                yield cls.finding(
                    f"{view.label(f.index)} has a {f.key_bits}-bit RSA key (OpenSSL at security "
                    "level 2 rejects it: error 66/67)",
                    view.loc(f.index),
                    "Reissue with RSA 2048+ or ECDSA P-256.",
                )


class WeakSignature(BundleRule):
    """A certificate is signed with SHA-1 or MD5.

    What it checks:
    The signature hash of a certificate that is not self-signed is MD5, MD4, MD2 or SHA-1.
    Self-signed trust anchors are exempt: OpenSSL does not check a trust anchor's own signature.

    Why it matters:
    OpenSSL 3 rejects SHA-1 and MD5 certificate signatures at security level 1 and above
    (Debian's default is 2), which nginx applies to client chains (F6.3): verification fails
    with `CA signature digest algorithm too weak` (error 68), checked with
    `openssl verify -auth_level 1` on OpenSSL 3.0.19. Collisions make such certificates
    forgeable.

    Example:
    An old internal intermediate signed with sha1WithRSAEncryption.

    Use instead:
    Reissue with SHA-256 or better.

    References:
    F6.3; OpenSSL `SSL_CTX_set_security_level(3)`.
    """

    code = "MTLS111"
    name = "weak-signature-algorithm"
    severity = Severity.ERROR
    facts = ("F6.3",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for f in view.facts:
            node = view.tree.nodes[f.index]
            if f.signature_hash in WEAK_SIGNATURE_HASHES and not node.self_signed:
                yield cls.finding(
                    f"{view.label(f.index)} is signed with {f.signature_algorithm} (OpenSSL at "
                    "security level 1+ rejects it: error 68)",
                    view.loc(f.index),
                    "Reissue the certificate with a SHA-256 (or stronger) signature.",
                )


class ClientLeafEkuWithoutClientAuth(BundleRule):
    """A client certificate's extendedKeyUsage lacks clientAuth.

    What it checks:
    In a client chain (role `client`), the first certificate is a leaf with an EKU extension that
    does not list clientAuth.

    Why it matters:
    OpenSSL's `ssl_client` purpose rejects it: nginx answers 400 with
    `FAILED:unsuitable certificate purpose` (error 26). A leaf with no EKU at all passes (F6.3).

    Example:
    Using the server's certificate (EKU serverAuth) as a client certificate.

    Use instead:
    Issue the client certificate with `extendedKeyUsage = clientAuth`.

    References:
    F6.3, F4.2.
    """

    code = "MTLS112"
    name = "client-eku-without-clientauth"
    severity = Severity.ERROR
    facts = ("F6.3", "F4.2")
    roles = ("client",)

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        if not view.facts:
            return
        f = view.facts[0]
        eku = f.extended_key_usage
        if view.tree.nodes[0].kind == LEAF and eku is not None and "clientAuth" not in eku:
            yield cls.finding(
                f"client certificate {view.label(0)} has extendedKeyUsage "
                f"{', '.join(eku) or 'empty'} without clientAuth",
                view.loc(0),
                "Issue the client certificate with extendedKeyUsage clientAuth.",
            )


class ChainLeafNotFirst(BundleRule):
    """The first certificate of a certificate chain file is not its leaf.

    What it checks:
    In a chain a client sends or a server's `ssl_certificate` (roles `client`, `server`), the
    first certificate is a CA certificate while a leaf comes later in the file.

    Why it matters:
    TLS sends the file in order and the first certificate is the one the private key must match:
    nginx refuses to start when `ssl_certificate` starts with a CA (`nginx -t` on 1.22.1:
    `SSL_CTX_use_PrivateKey(...) failed (... key values mismatch)`), and a
    client (curl `--cert`) presenting a CA first gets its chain judged on the wrong certificate,
    usually `FAILED:unsuitable certificate purpose` or a handshake failure (F6.3, F4.2).

    Example:
    `cat intermediate.pem client.pem > client-chain.pem`

    Use instead:
    Leaf first, then its issuer, then that one's issuer: `cat client.pem intermediate.pem`.

    References:
    RFC 8446 section 4.4.2; RFC 5246 section 7.4.2; F4.2, F6.3.
    """

    code = "MTLS113"
    name = "chain-leaf-not-first"
    severity = Severity.ERROR
    facts = ("F4.2", "F6.3")
    roles = ("client", "server")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        nodes = view.tree.nodes
        if not nodes or nodes[0].kind == LEAF:
            return
        leaves = [n.index for n in nodes if n.kind == LEAF]
        if leaves:
            yield cls.finding(
                f"the chain starts with CA {view.label(0)}; its leaf {view.label(leaves[0])} "
                f"is #{leaves[0]}",
                view.loc(0),
                f"Move certificate #{leaves[0]} to the top of the file.",
            )


class ChainOutOfOrder(BundleRule):
    """The certificates after the leaf are not in issuing order.

    What it checks:
    In a chain file (roles `client`, `server`) whose first certificate is a leaf, each following
    certificate should have issued the one before it (a trust anchor at the end may be left
    out). Flags the first certificate that breaks the order, or that issued nothing in the file.

    Why it matters:
    TLS 1.2 requires this order (RFC 5246 7.4.2); OpenSSL (and so nginx) builds the chain from
    the sent certificates in any order, but other clients and servers are stricter, and a
    certificate that belongs to no path is usually the wrong intermediate: the one the chain
    needs is then missing (F3.4, F4.2 error 20/21).

    Example:
    `cat client.pem root.pem intermediate.pem > chain.pem`

    Use instead:
    Leaf, then its issuer, then that one's issuer; drop certificates of other chains.

    References:
    RFC 5246 section 7.4.2; RFC 8446 section 4.4.2; F3.4, F4.2.
    """

    code = "MTLS114"
    name = "chain-out-of-order"
    severity = Severity.WARNING
    facts = ("F3.4", "F4.2")
    roles = ("client", "server")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        nodes = view.tree.nodes
        if len(nodes) < 2 or nodes[0].kind != LEAF:
            return
        for i in range(1, len(nodes)):
            if nodes[i].duplicate_of is not None:
                continue  # MTLS107 reports copies
            if nodes[i - 1].parent != i:
                yield cls.finding(
                    f"{view.label(i)} (#{i}) did not issue the certificate before it (#{i - 1})",
                    view.loc(i),
                    "Order the chain leaf first, then each issuer; remove unrelated certificates.",
                )
                return

def _replaced(view: BundleView, index: int, until: datetime | None = None) -> bool:
    """Another CRL of the same issuer in the file is in time (``pki.facts.crl_replaced``)."""
    return crl_replaced(view.bundle.crls, index, view.at, until)


def _crl_loc(view: BundleView, index: int) -> Location:
    return Location(path=view.bundle.source, index=index)


def _crl_label(crl) -> str:
    return f"the CRL of '{crl.issuer.rfc4514_string() or '(empty issuer)'}'"


class CrlNextUpdatePassed(BundleRule):
    """A CRL in the file is past its nextUpdate.

    What it checks:
    Every CRL in the file (any role) whose nextUpdate is before the time of the check (`--at`,
    default now), unless another CRL of the same issuer in the file is current (OpenSSL then
    uses that one). A CRL without nextUpdate is not judged. The location is `path#index` with
    the index of the CRL among the file's CRLs.

    Why it matters:
    Used in `ssl_crl`, an expired CRL fails every client certificate under that CA with
    `FAILED:CRL has expired` (error 12) and a 400 (F6.1, F4.2); nginx reads the file only at
    (re)load, so a renewed file also needs `nginx -s reload`. `lint` reports CRLs of the
    `ssl_crl` of a verifying server as MTLS302 instead.

    Example:
    A CRL with nextUpdate yesterday that a cron job stopped refreshing.

    Use instead:
    Publish a fresh CRL before nextUpdate, install it and reload nginx; monitor nextUpdate.

    References:
    F6.1, F4.2; OpenSSL `X509_V_ERR_CRL_HAS_EXPIRED`.
    """

    code = "MTLS115"
    name = "crl-next-update-passed"
    severity = Severity.ERROR
    facts = ("F6.1", "F4.2")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for i, crl in enumerate(view.bundle.crls):
            _, nxt = crl_times(crl)
            if nxt is not None and nxt < view.at and not _replaced(view, i):
                yield cls.finding(
                    f"{_crl_label(crl)} expired at {nxt:%Y-%m-%d %H:%M}Z: under ssl_crl every "
                    "client certificate of that CA fails with error 12 (CRL has expired)",
                    _crl_loc(view, i),
                    "Install a current CRL from that CA and reload nginx.",
                )


class CrlNotYetValid(BundleRule):
    """A CRL in the file is not valid yet (thisUpdate in the future).

    What it checks:
    Every CRL in the file (any role) whose thisUpdate (lastUpdate) is after the time of the
    check, unless another CRL of the same issuer in the file is current.

    Why it matters:
    OpenSSL rejects such a CRL with `CRL is not yet valid` (error 11): under `ssl_crl` every
    client certificate of that CA fails with a 400 (F6.1, F4.2; measured on nginx 1.22.1). Usually a clock problem on the
    CA or on the server, or a CRL generated for a later date.

    Example:
    A CRL signed on a machine whose clock runs a day ahead.

    Use instead:
    Check the clocks (NTP) of the CA and the server; reissue the CRL with thisUpdate in the past.

    References:
    F6.1, F4.2; OpenSSL `X509_V_ERR_CRL_NOT_YET_VALID`.
    """

    code = "MTLS116"
    name = "crl-not-yet-valid"
    severity = Severity.ERROR
    facts = ("F6.1", "F4.2")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for i, crl in enumerate(view.bundle.crls):
            this, _ = crl_times(crl)
            if this > view.at and not _replaced(view, i):
                yield cls.finding(
                    f"{_crl_label(crl)} is valid only from {this:%Y-%m-%d %H:%M}Z: under ssl_crl "
                    "every client certificate of that CA fails with error 11 (CRL is not yet valid)",
                    _crl_loc(view, i),
                    "Fix the clock, or reissue the CRL with thisUpdate in the past.",
                )


class CrlExpiringSoon(BundleRule):
    """A CRL in the file reaches its nextUpdate within 2 days.

    What it checks:
    Every CRL in the file (any role) whose nextUpdate is after the time of the check but less
    than 2 days after it (weekly CRLs refreshed daily stay quiet), unless another CRL of the
    same issuer in the file stays current beyond those 2 days.

    Why it matters:
    Once nextUpdate passes, every client certificate of that CA fails under `ssl_crl` with
    error 12 (F6.1); the fresh CRL must be installed and nginx reloaded before then. `lint`
    reports CRLs of the `ssl_crl` of a verifying server as MTLS302 instead.

    Example:
    A CRL with nextUpdate in 20 hours.

    Use instead:
    Install a fresh CRL and reload nginx now; automate it on a timer.

    References:
    F6.1, F4.2.
    """

    code = "MTLS117"
    name = "crl-expiring-soon"
    severity = Severity.WARNING
    facts = ("F6.1", "F4.2")

    @classmethod
    def check(cls, view: BundleView) -> Iterator[Finding]:
        for i, crl in enumerate(view.bundle.crls):
            _, nxt = crl_times(crl)
            soon = view.at + CRL_WARNING
            if nxt is not None and view.at < nxt < soon and not _replaced(view, i, soon):
                yield cls.finding(
                    f"{_crl_label(crl)} expires at {nxt:%Y-%m-%d %H:%M}Z",
                    _crl_loc(view, i),
                    "Install a fresh CRL and reload nginx before then.",
                )


RULES: tuple[type[BundleRule], ...] = (
    PrivateKeyInBundle,
    LeafInCaBundle,
    IntermediateWithoutRoot,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateExpiringSoon,
    DuplicateCertificate,
    CaWithoutKeyCertSign,
    CaEkuWithoutClientAuth,
    WeakRsaKey,
    WeakSignature,
    ClientLeafEkuWithoutClientAuth,
    ChainLeafNotFirst,
    ChainOutOfOrder,
    CrlNextUpdatePassed,
    CrlNotYetValid,
    CrlExpiringSoon,
)

def infer_role(bundle: Bundle, tree: Tree | None = None) -> str:
    """``--role auto``: ``ca`` when the file holds certificates and every one is a CA, else
    ``any`` (a leaf could be a client or a server certificate; we do not guess)."""
    if not bundle.certificates:
        return "any"
    tree = tree if tree is not None else build_tree(bundle.certificates)
    return "ca" if all(node.kind != LEAF for node in tree.nodes) else "any"


def view_of(
    bundle: Bundle,
    role: str,
    at: datetime,
    facts: tuple[CertFacts, ...] | None = None,
    tree: Tree | None = None,
) -> BundleView:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return BundleView(
        bundle=bundle,
        role=role,
        at=at,
        facts=facts if facts is not None else all_facts(bundle.certificates, at),
        tree=tree if tree is not None else build_tree(bundle.certificates),
    )


def check(
    bundle: Bundle,
    role: str,
    at: datetime,
    facts: tuple[CertFacts, ...] | None = None,
    tree: Tree | None = None,
) -> tuple[Finding, ...]:
    """Every finding for ``bundle`` in ``role`` at time ``at``: load problems, then MTLS1xx."""
    view = view_of(bundle, role, at, facts, tree)
    out = list(files.check(bundle, role))
    for rule in RULES:
        if role in rule.roles:
            out.extend(rule.check(view))
    return tuple(out)


__all__ = ["RULES", "ROLES", "BundleView", "check", "infer_role", "view_of"]
