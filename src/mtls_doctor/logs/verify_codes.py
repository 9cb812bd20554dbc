"""OpenSSL certificate-verify error codes as nginx logs them, explained for an nginx admin.

Invariants:
- pure data, no I/O; the texts are ``X509_verify_cert_error_string()`` of OpenSSL 3.0 (checked
  against the system libcrypto 3.0.19 that nginx 1.22.1 runs with);
- codes are OpenSSL's ``X509_V_ERR_*`` numbers. They changed between OpenSSL releases (24 was
  "invalid CA certificate" in 1.1.1 and is "issuer certificate doesn't have a public key" in 3.0,
  where invalid CA is 79) and texts changed too ("self signed" -> "self-signed", "unsupported" ->
  "unsuitable certificate purpose", F2.3). ``resolve_code`` therefore trusts the text when the
  text names a different known code;
- the codes seen against real nginx and their usual causes are fact F4.2; depth showing up as 20
  or 2 instead of 22 is F3.3.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifyCode:
    code: int
    text: str  # OpenSSL 3.0 text
    title: str  # what it means for the nginx admin, one line
    explanation: str
    fix: str
    facts: tuple[str, ...] = ()
    fault: str = "client certificate"  # who usually has to change something


_DEPTH = (
    "ssl_verify_depth (default 1) counts intermediates only: if the client's chain has more "
    "intermediates than that, OpenSSL cuts the chain and nginx logs this code, not 22 (F3.3)."
)

CODES: dict[int, VerifyCode] = {
    c.code: c
    for c in (
        VerifyCode(
            2, "unable to get issuer certificate",
            "the trust file holds an intermediate but not its root (or depth cut the chain)",
            "OpenSSL found an issuer in the trust store but not that issuer's own issuer. nginx "
            "never accepts a partial chain, so an intermediate alone in ssl_client_certificate "
            "is not enough (F3.4). " + _DEPTH,
            "Add the root CA to ssl_client_certificate (or ssl_trusted_certificate) next to the "
            "intermediate; if the chain has more intermediates than ssl_verify_depth, raise it.",
            ("F3.4", "F3.3", "F4.2"),
            fault="nginx trust files / ssl_verify_depth",
        ),
        VerifyCode(
            3, "unable to get certificate CRL",
            "ssl_crl is set but holds no CRL for one of the CAs in the chain",
            "With ssl_crl nginx checks revocation for every certificate in the chain "
            "(CRL_CHECK_ALL), so the file needs a CRL from every CA, the root included (F6.1).",
            "Put the CRL of every CA of the chain (root and intermediates) into the ssl_crl file "
            "and reload nginx.",
            ("F6.1", "F4.2"),
            fault="nginx ssl_crl",
        ),
        VerifyCode(
            7, "certificate signature failure",
            "a signature in the chain does not match its issuer's key",
            "A certificate was signed by a different key than the CA certificate nginx trusts under "
            "that name (often a CA re-created with the same name, or a corrupted file).",
            "Re-issue the client certificate from the CA nginx trusts, or put the CA that really "
            "signed it in ssl_client_certificate.",
            ("F4.2",),
        ),
        VerifyCode(
            9, "certificate is not yet valid",
            "a certificate's notBefore is in the future",
            "The client certificate (or a CA in its chain) is not valid yet by nginx's clock: a "
            "freshly issued certificate with a clock skew, or a wrong clock on either side.",
            "Check the clocks (NTP) and the certificate's notBefore; re-issue with a notBefore a "
            "little in the past.",
            ("F4.2",),
        ),
        VerifyCode(
            10, "certificate has expired",
            "the client certificate or a CA in its chain has expired",
            "A certificate in the client's chain (leaf, intermediate or root) is past notAfter. "
            "Even optional_no_ca rejects this (F2.4).",
            "Renew the expired certificate (check intermediates and the root too) and install it "
            "on the client.",
            ("F4.2", "F2.4"),
        ),
        VerifyCode(
            12, "CRL has expired",
            "a CRL in ssl_crl is past its nextUpdate: every client is rejected",
            "An expired CRL fails verification for every client certificate of that CA, good ones "
            "included (F6.1). nginx reads the CRL file only at (re)load.",
            "Publish a fresh CRL into the ssl_crl file, run `nginx -s reload`, and monitor the "
            "CRL's nextUpdate.",
            ("F6.1", "F4.2"),
            fault="nginx ssl_crl",
        ),
        VerifyCode(
            18, "self-signed certificate",
            "the client sent a self-signed certificate",
            "The leaf is self-signed and not in nginx's trust files.",
            "Issue the client certificate from the CA in ssl_client_certificate (or, if this one "
            "certificate must be accepted, add it to ssl_client_certificate).",
            ("F4.2", "F2.4"),
        ),
        VerifyCode(
            19, "self-signed certificate in certificate chain",
            "the client's chain ends in a root nginx does not trust",
            "The client sent its chain up to a self-signed root, but that root is not in "
            "ssl_client_certificate / ssl_trusted_certificate.",
            "Trust the client's root in ssl_client_certificate, or issue the client from the CA "
            "nginx trusts.",
            ("F4.2", "F2.4"),
        ),
        VerifyCode(
            20, "unable to get local issuer certificate",
            "the chain does not reach a trusted root, or ssl_verify_depth is too small",
            "OpenSSL could not find the issuer of a certificate in the chain in nginx's trust "
            "files: the client is from another CA, or the client did not send an intermediate "
            "nginx does not have. " + _DEPTH,
            "Compare the client's chain with ssl_client_certificate: add the missing CA, make the "
            "client send its intermediates, or raise ssl_verify_depth to the number of "
            "intermediates.",
            ("F3.3", "F4.2"),
            fault="client chain / nginx trust files / ssl_verify_depth",
        ),
        VerifyCode(
            21, "unable to verify the first certificate",
            "the leaf's issuer is unknown to nginx (missing intermediate or another CA)",
            "nginx could not find the issuer of the client's own certificate: the client did not "
            "send the intermediate that signed it and nginx does not have it, or the certificate "
            "comes from a CA nginx does not trust (F3.4).",
            "Make the client send its intermediates (leaf + chain), or add the issuing CA and its "
            "root to ssl_client_certificate.",
            ("F3.4", "F4.2"),
            fault="client chain / nginx trust files",
        ),
        VerifyCode(
            22, "certificate chain too long",
            "the chain is longer than ssl_verify_depth allows",
            "Rarely logged by nginx: with depth exceeded nginx usually reports 20 or 2 (F3.3).",
            "Raise ssl_verify_depth to the number of intermediates in the client chain.",
            ("F3.2", "F3.3"),
            fault="ssl_verify_depth",
        ),
        VerifyCode(
            23, "certificate revoked",
            "the client certificate is listed in a CRL of ssl_crl",
            "A CA revoked this certificate and the CRL in ssl_crl says so (F6.1).",
            "Issue the client a new certificate; if the revocation was a mistake, publish a CRL "
            "without it and reload nginx.",
            ("F6.1", "F4.2"),
        ),
        VerifyCode(
            25, "path length constraint exceeded",
            "a CA's pathLenConstraint forbids this many CAs below it",
            "A CA in the chain has basicConstraints pathlen too small for the intermediates under "
            "it.",
            "Re-issue the intermediate CAs with a sufficient pathlen, or shorten the chain.",
            ("F4.2",),
        ),
        VerifyCode(
            26, "unsuitable certificate purpose",
            "an EKU in the chain lacks clientAuth (leaf or any CA), or an issuer is not a CA",
            "OpenSSL verifies client chains for the sslclient purpose: every certificate that has "
            "an extendedKeyUsage extension must list clientAuth, CAs included, and "
            "anyExtendedKeyUsage does not help (F6.3). A leaf with keyUsage needs "
            "digitalSignature. The same code also ends the chain when a certificate that issued "
            "another is not a CA (basicConstraints CA:FALSE): OpenSSL reports 79 and then 26, and "
            "nginx keeps the last one (F3.3; measured in tests/truth).",
            "Check the chain with `mtls-doctor verify`: re-issue the client certificate (or the "
            "CA) with extendedKeyUsage clientAuth or without any extendedKeyUsage extension, or, "
            "if an issuer is not a CA, issue the client from a real CA.",
            ("F6.3", "F4.2"),
        ),
        VerifyCode(
            27, "certificate not trusted",
            "the trust anchor is marked as not trusted for client authentication",
            "A CA in ssl_client_certificate carries trust settings (TRUSTED CERTIFICATE "
            "auxiliary data) that do not allow clientAuth.",
            "Use a plain BEGIN CERTIFICATE PEM of the CA, without auxiliary trust settings.",
            ("F2.4",),
            fault="nginx trust files",
        ),
        VerifyCode(
            28, "certificate rejected",
            "the trust anchor's trust settings reject client authentication",
            "A CA in the trust files is explicitly marked as rejected for this purpose.",
            "Use a plain BEGIN CERTIFICATE PEM of the CA, without auxiliary trust settings.",
            fault="nginx trust files",
        ),
        VerifyCode(
            32, "key usage does not include certificate signing",
            "a CA's keyUsage lacks keyCertSign",
            "A CA in the chain has a keyUsage extension without keyCertSign, so it may not sign "
            "certificates; OpenSSL reports 79 and 26 on the way and ends with 32 (measured in "
            "tests/truth).",
            "Re-issue the CA with keyUsage keyCertSign (and cRLSign), or without keyUsage.",
            ("F4.2",),
        ),
        VerifyCode(
            79, "invalid CA certificate",
            "a certificate used as a CA is not marked as a CA",
            "A certificate in the chain that signs others lacks basicConstraints CA:TRUE (or its "
            "keyUsage forbids certificate signing).",
            "Re-issue the intermediate/root with basicConstraints CA:TRUE and keyCertSign.",
        ),
        VerifyCode(
            66, "EE certificate key too weak",
            "the client key is too small for OpenSSL's security level",
            "The security level applies to client chains too (F6.3): e.g. RSA-1024 at level 1+.",
            "Issue the client a certificate with an RSA-2048+ or EC P-256+ key.",
            ("F6.3",),
        ),
        VerifyCode(
            67, "CA certificate key too weak",
            "a CA key in the chain is too small for OpenSSL's security level",
            "The security level applies to client chains too (F6.3).",
            "Re-issue the CA with a stronger key.",
            ("F6.3",),
        ),
        VerifyCode(
            68, "CA signature digest algorithm too weak",
            "a certificate is signed with a digest the security level refuses (MD5, SHA-1)",
            "The security level applies to client chains too (F6.3).",
            "Re-issue the certificates with SHA-256 signatures.",
            ("F6.3",),
        ),
    )
}


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


_BY_TEXT = {_norm(c.text): c.code for c in CODES.values()}
# older OpenSSL spellings (F2.3)
_BY_TEXT.update({"unsupported certificate purpose": 26, "self signed certificate": 18,
                 "self signed certificate in certificate chain": 19})


def resolve_code(code: int, text: str) -> int:
    """The code whose meaning the logged ``(code:text)`` has, trusting a text that names another."""
    by_text = _BY_TEXT.get(_norm(text))
    own = CODES.get(code)
    if by_text is not None and by_text != code and (own is None or _norm(own.text) != _norm(text)):
        return by_text
    return code


def describe(code: int, text: str) -> VerifyCode:
    """The explanation for a code; a generic one built from OpenSSL's text for unknown codes."""
    known = CODES.get(code)
    if known is not None:
        return known
    return VerifyCode(
        code, text, text or f"OpenSSL verify error {code}",
        f"OpenSSL rejected the client's certificate chain with error {code} ({text}).",
        "Check the client's chain against ssl_client_certificate with `mtls-doctor verify`.",
    )


__all__ = ["VerifyCode", "CODES", "resolve_code", "describe"]
