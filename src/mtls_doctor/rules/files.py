"""MTLS0xx: problems in the bytes of a certificate file (what the tolerant loader found).

Input: a ``mtls_doctor.pki.load.Bundle``; each ``Problem.kind`` maps to exactly one rule here.
No I/O: the loader has already read the file. Locations are ``path:line`` when the problem has
a line, else the path alone.
"""

from __future__ import annotations

from mtls_doctor.model import Finding, Location, Severity
from mtls_doctor.pki import load as L
from mtls_doctor.rules.base import Rule


class FileRule(Rule):
    target = "file"
    #: the loader Problem kinds this rule reports
    kinds: tuple[str, ...] = ()
    fix: str = ""
    #: the roles (rules/bundle.ROLES) this rule reports in; None: every role
    roles: tuple[str, ...] | None = None


class EmptyFile(FileRule):
    """The certificate file is empty.

    What it checks:
    The file has no bytes, or only whitespace.

    Why it matters:
    nginx refuses to start with an empty `ssl_client_certificate` or `ssl_crl` file
    (`no certificate or crl found`, F1.5, F6.1); an empty file usually means a failed copy or a
    template that was never filled in.

    Example:
    `ssl_client_certificate /etc/nginx/ca.pem;` where `ca.pem` has 0 bytes.

    Use instead:
    Put the PEM certificates of your client CA (root last) into the file.

    References:
    F1.5, F6.1 in the nginx mTLS facts sheet.
    """

    code = "MTLS001"
    name = "empty-certificate-file"
    severity = Severity.ERROR
    facts = ("F1.5", "F6.1")
    kinds = (L.EMPTY,)
    fix = "Fill the file with the PEM certificates it is meant to hold."


class CrlfLineEndings(FileRule):
    """The PEM file has Windows (CRLF) line endings.

    What it checks:
    Any carriage return (`\\r`) in a PEM file.

    Why it matters:
    OpenSSL's PEM reader accepts CRLF, so nginx loads the file; but tools that compare files,
    split them with `awk`/`csplit` or embed them in YAML often break on the stray `\\r`, and it
    usually means the file was edited on Windows and may hold other surprises.

    Example:
    `-----BEGIN CERTIFICATE-----\\r\\n` as the first line.

    Use instead:
    Convert the file: `sed -i 's/\\r$//' FILE` (or `dos2unix FILE`).

    References:
    OpenSSL `PEM_read_bio(3)`; F1.5 (nginx loads CA files with OpenSSL's PEM reader).
    """

    code = "MTLS002"
    name = "pem-crlf-line-endings"
    severity = Severity.INFO
    facts = ("F1.5",)
    kinds = (L.CRLF,)
    fix = "Convert to LF line endings: sed -i 's/\\r$//' FILE"


class PemMissingNewline(FileRule):
    """A PEM `-----BEGIN` line does not start on a line of its own.

    What it checks:
    `-----END CERTIFICATE----------BEGIN CERTIFICATE-----` (two files concatenated without a
    final newline), or other text before `-----BEGIN` on the same line.

    Why it matters:
    OpenSSL reads PEM line by line. `END...-----BEGIN` is a "bad end line": the whole file fails
    to load and `nginx -t` fails. Text before `-----BEGIN` makes OpenSSL skip that block
    silently, so a CA nginx should trust is missing (F1.1: only certificates loaded from the file
    are trusted and advertised).

    Example:
    `cat root.pem inter.pem > ca.pem` where `root.pem` does not end with a newline.

    Use instead:
    Concatenate with a newline in between: `for f in root.pem inter.pem; do cat "$f"; echo; done`.

    References:
    F1.1; OpenSSL `crypto/pem/pem_lib.c` `get_header_and_data()` ("bad end line").
    """

    code = "MTLS003"
    name = "pem-missing-newline"
    severity = Severity.ERROR
    facts = ("F1.1",)
    kinds = (L.MISSING_NEWLINE,)
    fix = "Put every -----BEGIN and -----END line on a line of its own."


class PemTruncatedBlock(FileRule):
    """A PEM block or DER object is cut short.

    What it checks:
    A `-----BEGIN` without its `-----END`, an `-----END` with another label, or DER whose length
    runs past the end of the data.

    Why it matters:
    OpenSSL stops at the broken block: nginx either refuses the file or loses every certificate
    after it, so clients of those CAs fail verification (F4.2 error 20/21).

    Example:
    A CA bundle copied from a web page that lost its last lines.

    Use instead:
    Download or export the certificate again and check it with `openssl x509 -noout -subject`.

    References:
    F1.5, F4.2.
    """

    code = "MTLS004"
    name = "pem-block-truncated"
    severity = Severity.ERROR
    facts = ("F1.5", "F4.2")
    kinds = (L.TRUNCATED,)
    fix = "Replace the block with a complete copy of the certificate."


class PemCorruptBlock(FileRule):
    """A PEM block's content is not a valid certificate, CRL or PKCS#7 structure.

    What it checks:
    The block decodes from base64 but its DER does not parse (edited, truncated inside, or the
    wrong kind of object under a CERTIFICATE label).

    Why it matters:
    OpenSSL refuses the file (`nginx -t` fails) or the certificate is missing from the trust
    store.

    Example:
    A certificate where someone changed a few base64 characters by hand.

    Use instead:
    Export the certificate again from its source; check with `openssl x509 -noout -text`.

    References:
    F1.5.
    """

    code = "MTLS005"
    name = "pem-block-corrupt"
    severity = Severity.ERROR
    facts = ("F1.5",)
    kinds = (L.CORRUPT,)
    fix = "Replace the block with an intact copy of the certificate."


class PemBadBase64(FileRule):
    """A PEM block's body is not valid base64.

    What it checks:
    Characters outside the base64 alphabet, or a body whose length or padding is wrong.

    Why it matters:
    OpenSSL fails to decode the block and rejects the file, or nginx loses the certificate.

    Example:
    Smart quotes, `>` quoting from an e-mail, or a line joined with a space inside the block.

    Use instead:
    Copy the block again as plain text (no e-mail quoting, no word processor).

    References:
    F1.5; RFC 7468 section 3.
    """

    code = "MTLS006"
    name = "pem-bad-base64"
    severity = Severity.ERROR
    facts = ("F1.5",)
    kinds = (L.BAD_BASE64,)
    fix = "Replace the block with a clean copy: only base64 lines between BEGIN and END."


class NotACertificate(FileRule):
    """The file holds no certificate, CRL or key at all.

    What it checks:
    A text file with no PEM block that could be loaded, or only blocks that are not certificates
    (a CSR, a bare public key, parameters).

    Why it matters:
    nginx refuses it (`no certificate or crl found` / `PEM_read_bio_X509_AUX() failed`, F1.5);
    a CSR in place of a certificate is a classic mix-up.

    Example:
    `ssl_client_certificate client.csr;`

    Use instead:
    Point the directive at the CA certificate (PEM), not at a request or a key.

    References:
    F1.5.
    """

    code = "MTLS007"
    name = "not-a-certificate"
    severity = Severity.ERROR
    facts = ("F1.5",)
    kinds = (L.NOT_CERTIFICATE, L.UNSUPPORTED_BLOCK)
    fix = "Use the PEM certificate itself (-----BEGIN CERTIFICATE-----)."


class BinaryFile(FileRule):
    """The file is binary data in no certificate format.

    What it checks:
    Bytes that are not text and not DER, PKCS#7 or PKCS#12.

    Why it matters:
    Usually the wrong file (an archive, a key store of another kind such as JKS). nginx cannot
    load it.

    Example:
    `ssl_client_certificate truststore.jks;`

    Use instead:
    Export the CA certificates as PEM (e.g. `keytool -exportcert -rfc`).

    References:
    F1.5.
    """

    code = "MTLS008"
    name = "binary-not-certificate"
    severity = Severity.ERROR
    facts = ("F1.5",)
    kinds = (L.BINARY,)
    fix = "Export the certificates as PEM."


class NotPem(FileRule):
    """The certificates are in DER, PKCS#7 or bare base64, not PEM.

    What it checks:
    A file that loads as DER, PKCS#7 (DER) or base64 without PEM armour.

    Why it matters:
    The tool reads it, but nginx's `ssl_certificate`, `ssl_client_certificate` and
    `ssl_trusted_certificate` read PEM only (F1.5: `PEM_read_bio_X509_AUX`,
    `SSL_CTX_load_verify_locations`). `nginx -t` on 1.22.1 with a DER `ssl_client_certificate`:
    `SSL_CTX_load_verify_locations(...) failed (... no certificate or crl found)`, and nginx
    does not start.

    Example:
    `ssl_client_certificate ca.der;`

    Use instead:
    Convert: `openssl x509 -inform der -in ca.der -out ca.pem`, or for PKCS#7
    `openssl pkcs7 -inform der -print_certs -in ca.p7b -out ca.pem`.

    References:
    F1.5.
    """

    code = "MTLS009"
    name = "certificate-not-pem"
    severity = Severity.WARNING
    facts = ("F1.5",)
    kinds = (L.NOT_PEM,)
    fix = "Convert the file to PEM before nginx uses it."


class Pkcs12Unreadable(FileRule):
    """A PKCS#12 file could not be opened (missing or wrong password).

    What it checks:
    A PKCS#12 (.p12/.pfx) whose contents could not be decrypted with the given `--password`
    (or with no/empty password when none was given).

    Why it matters:
    Nothing in it can be inspected; nginx cannot use PKCS#12 at all (F1.5).

    Example:
    `mtls-doctor inspect client.p12` without `--password`.

    Use instead:
    Pass `--password`, or extract PEM: `openssl pkcs12 -in client.p12 -nokeys -out chain.pem`.

    References:
    F1.5.
    """

    code = "MTLS010"
    name = "pkcs12-unreadable"
    severity = Severity.ERROR
    facts = ("F1.5",)
    kinds = (L.PKCS12_UNREADABLE,)
    fix = "Give the right --password."


class TooManyPemBlocks(FileRule):
    """The file has more PEM blocks than any certificate bundle has.

    What it checks:
    More than 10,000 `-----BEGIN` blocks in one file; the loader stops reading there.

    Why it matters:
    Real bundles hold a few certificates (the whole Mozilla CA store about 150). Thousands of
    blocks mean a generated or corrupted file; nginx would load and advertise every certificate
    in it (F1.1), making each CertificateRequest huge.

    Example:
    A CA file that a script appended to on every deployment.

    Use instead:
    Rebuild the file from the certificates you mean to trust.

    References:
    F1.1.
    """

    code = "MTLS011"
    name = "too-many-pem-blocks"
    severity = Severity.WARNING
    facts = ("F1.1",)
    kinds = (L.TOO_MANY_BLOCKS,)
    fix = "Rebuild the file from the certificates it should hold."


class TrustedCertificatePem(FileRule):
    """A CA file holds `TRUSTED CERTIFICATE` blocks, which nginx before 1.27.2 refuses.

    What it checks:
    In a CA file (roles `ca` and `any`; never `client` or `server`), every
    `-----BEGIN TRUSTED CERTIFICATE-----` block (`openssl x509 -trustout`: a certificate plus
    OpenSSL trust settings). Error when every certificate of the file is in such a block;
    warning when plain `CERTIFICATE` blocks are mixed in.

    Why it matters:
    nginx up to 1.27.1 reads `ssl_client_certificate` with `SSL_load_client_CA_file()`, which
    expects plain `CERTIFICATE` blocks (F1.5, F1.1). Measured on 1.22.1: a file of only TRUSTED
    blocks fails `nginx -t` with `SSL_load_client_CA_file("...") failed (... no start
    line:Expecting: CERTIFICATE)`; next to a plain certificate the file loads, but the TRUSTED
    CA is not advertised in the CertificateRequest (F1.1), so clients that pick their
    certificate by CA name may not offer one. As `ssl_trusted_certificate` the file loads.
    nginx >= 1.27.2 accepts TRUSTED blocks in `ssl_client_certificate` (F1.5, CHG 1.27.2).

    Example:
    `openssl x509 -in root.pem -trustout -addtrust clientAuth -out ca.pem`, then
    `ssl_client_certificate ca.pem;`

    Use instead:
    Plain PEM: `openssl x509 -in ca.pem -out ca-plain.pem` (drops the trust settings).

    References:
    F1.5, F1.1; tests/truth/test_trusted_certificate_truth.py (nginx 1.22.1).
    """

    code = "MTLS012"
    name = "trusted-certificate-pem"
    severity = Severity.ERROR
    facts = ("F1.5", "F1.1")
    kinds = (L.TRUSTED,)
    roles = ("ca", "any")
    fix = "Rewrite the block as a plain CERTIFICATE: openssl x509 -in FILE -out FILE.plain"


class CertificateNotStrictDer(FileRule):
    """A certificate that OpenSSL accepts is not strict DER, so strict parsers refuse it.

    What it checks:
    A certificate whose encoding OpenSSL's `d2i_X509` accepts but DER forbids, such as the
    `version` field encoded explicitly as v1 (a DEFAULT value that DER requires to be left out).
    OpenSSL reads its names and validity; its extensions are not checked by this tool.

    Why it matters:
    nginx loads and serves it and `openssl verify` passes, so it looks fine, but clients with a
    strict parser (Go's crypto/x509, rustls, Python's `cryptography`, some browsers) reject it,
    and a CA that emits it will emit it again.

    Example:
    A certificate made by a home-grown CA script whose TBSCertificate starts `a0 03 02 01 00`.

    Use instead:
    Reissue the certificate with a standard tool (`openssl x509 -req`, `openssl ca`), which
    writes DER.

    References:
    F1.5; RFC 5280 section 4.1 (`version ... DEFAULT v1`); X.690 section 11.5 (DER omits DEFAULT
    values).
    """

    code = "MTLS013"
    name = "certificate-not-strict-der"
    severity = Severity.WARNING
    facts = ("F1.5",)
    kinds = (L.NOT_STRICT_DER,)
    fix = "Reissue the certificate so that it is strict DER (a standard CA tool does)."


RULES: tuple[type[FileRule], ...] = (
    EmptyFile,
    CrlfLineEndings,
    PemMissingNewline,
    PemTruncatedBlock,
    PemCorruptBlock,
    PemBadBase64,
    NotACertificate,
    BinaryFile,
    NotPem,
    Pkcs12Unreadable,
    TooManyPemBlocks,
    TrustedCertificatePem,
    CertificateNotStrictDer,
)

_BY_KIND = {kind: rule for rule in RULES for kind in rule.kinds}


def check(bundle: L.Bundle, role: str | None = None) -> tuple[Finding, ...]:
    """One finding per load problem of ``bundle``; rules bound to roles (``FileRule.roles``)
    report only when ``role`` is one of theirs (no role given: they stay quiet)."""
    out = []
    trusted = sum(p.kind == L.TRUSTED for p in bundle.problems)
    for p in bundle.problems:
        rule = _BY_KIND.get(p.kind, PemCorruptBlock)
        if rule.roles is not None and role not in rule.roles:
            continue
        location = Location(path=bundle.source, line=p.line)
        if rule is TrustedCertificatePem:
            out.append(_trusted_finding(bundle, p, location, only=trusted >= len(bundle.certificates)))
            continue
        out.append(rule.finding(p.message, location, rule.fix))
    return tuple(out)


def _trusted_finding(bundle: L.Bundle, p: L.Problem, location: Location, only: bool) -> Finding:
    # F1.5: SSL_load_client_CA_file() of nginx <= 1.27.1 expects CERTIFICATE blocks (measured
    # on 1.22.1: nginx -t fails when nothing else is in the file; mixed, the TRUSTED CA loads
    # but is not advertised, F1.1). nginx >= 1.27.2 accepts the blocks.
    which = f"certificate #{p.index}" if p.index is not None else "a certificate"
    if only:
        msg = (f"{which} is a TRUSTED CERTIFICATE block and the file has no plain CERTIFICATE: "
               "as ssl_client_certificate, nginx before 1.27.2 fails `nginx -t` "
               "(SSL_load_client_CA_file() failed ... Expecting: CERTIFICATE)")
        severity = Severity.ERROR
    else:
        msg = (f"{which} is a TRUSTED CERTIFICATE block: as ssl_client_certificate, nginx before "
               "1.27.2 loads the file but does not advertise this CA to clients")
        severity = Severity.WARNING
    return TrustedCertificatePem.finding(msg, location, TrustedCertificatePem.fix, severity)


__all__ = ["RULES", "check"]
