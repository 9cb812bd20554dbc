"""Plain-words explanation and concrete fix for one nginx client-certificate verdict.

The error code nginx reports is often not the real cause: depth exceeded shows as 20 or 2
(F3.3), a CA file holding only an intermediate gives 2 (F3.4), a purpose failure can come from a
CA's EKU (F6.3), a missing root CRL gives 3 (F6.1), and with several problems only the last
error survives (F2.4, F3.3). This module looks at every error the verify callback saw (with the
certificate at that depth), at the chain OpenSSL built, and at its own walk from the leaf to a
trust anchor over everything nginx could use, and names the cause and the change that fixes it.

Invariants: no I/O, no clock; pure functions of a ``Case``; every sentence about nginx or OpenSSL
behaviour cites the fact id it rests on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from mtls_doctor.pki.libcrypto import RawResult

#: errors that all say "no path to a trust anchor" (OpenSSL reports several for one cause)
_UNTRUSTED_FAMILY = frozenset({2, 18, 19, 20, 21, 22, 27})

_SOURCE_WORDS = {
    "client": "sent by the client",
    "ssl_client_certificate": "from ssl_client_certificate",
    "ssl_trusted_certificate": "from ssl_trusted_certificate",
}


@dataclass(frozen=True)
class Case:
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    trust: Any  # TrustSettings (not imported: verify imports this module)
    raw: RawResult
    at: datetime
    origin: Mapping[bytes, str]
    status: int | None
    code: int
    text: str
    security_level: int
    text_of: Callable[[int], str]


def no_certificate(mode: str, version: str, common: dict) -> Any:
    """The verdict when no certificate reaches verification (none sent, or verify off)."""
    from mtls_doctor.pki.verify import LOG_NO_CERT, VerifyResult

    if mode == "off":
        why = ("ssl_verify_client is off: nginx sends no CertificateRequest, so no certificate "
               "is checked and $ssl_client_verify is NONE (F1.2, F2.2).")
        return VerifyResult("NONE", 200, None, 0, None, version, None, why,
                            "set ssl_verify_client on (with ssl_client_certificate) to require "
                            "client certificates.", **common)
    if mode == "on":
        why = ("The client sent no certificate and ssl_verify_client is on: nginx completes the "
               "handshake, then answers the request with 400 \"No required SSL certificate was "
               "sent\" (internal 496) and logs it at info (F2.2, F4.1).")
        fix = ("make the client send its certificate (curl: --cert client.pem --key client.key). "
               "A client that holds one may skip it when its issuer is not among the CA names "
               "nginx advertises: those are the subjects in ssl_client_certificate (F1.1).")
        return VerifyResult("NONE", 400, 496, 0, None, version, LOG_NO_CERT, why, fix, **common)
    why = (f"The client sent no certificate; ssl_verify_client {mode} lets the request through "
           "with 200 and $ssl_client_verify NONE (F2.2).")
    return VerifyResult("NONE", 200, None, 0, None, version, None, why,
                        "the application must check $ssl_client_verify itself (NONE passes "
                        f"under {mode}).", **common)


# -- helpers -------------------------------------------------------------------------------

def _dn(name: x509.Name) -> str:
    return name.rfc4514_string() or "(empty name)"


def _cert_of(der: bytes | None) -> x509.Certificate | None:
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    return _signed_by(cert, cert)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:  # noqa: BLE001 - wrong name, bad signature, unsupported key: not issued
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def _eku(cert: x509.Certificate) -> list[str] | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    names = {ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
             ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
             ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
             ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
             ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning"}
    return [names.get(oid, oid.dotted_string) for oid in ext]


@dataclass(frozen=True)
class Walk:
    """Our own walk from the leaf up, trust files first (like OpenSSL's trusted-first)."""

    certs: tuple[x509.Certificate, ...]
    sources: tuple[str, ...]
    complete: bool  # ends at a self-signed certificate from a trust file
    missing_issuer: x509.Name | None  # the issuer name found nowhere

    @property
    def intermediates(self) -> int:
        return max(0, len(self.certs) - 2) if self.complete else max(0, len(self.certs) - 1)


def walk(case: Case) -> Walk:
    trusted = [(x509.load_der_x509_certificate(d), src) for d, src in case.origin.items()]
    sent = [(c, "client") for c in case.chain]
    certs = [case.leaf]
    sources = [case.origin.get(case.leaf.public_bytes(Encoding.DER), "client")]
    for _ in range(16):
        cur = certs[-1]
        if sources[-1] != "client" and _self_signed(cur):
            return Walk(tuple(certs), tuple(sources), True, None)
        if _self_signed(cur):
            return Walk(tuple(certs), tuple(sources), False, None)
        nxt = next(((c, s) for c, s in trusted + sent
                    if c.subject == cur.issuer and c not in certs and _signed_by(cur, c)), None)
        if nxt is None:
            return Walk(tuple(certs), tuple(sources), False, cur.issuer)
        certs.append(nxt[0])
        sources.append(nxt[1])
    return Walk(tuple(certs), tuple(sources), False, None)


def _where(case: Case, cert: x509.Certificate | None) -> str:
    if cert is None:
        return "a certificate"
    src = case.origin.get(cert.public_bytes(Encoding.DER), "client")
    role = "the leaf" if cert == case.leaf else "the CA"
    return f"{role} '{_dn(cert.subject)}' ({_SOURCE_WORDS.get(src, src)})"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _trust_file_of(case: Case, cert: x509.Certificate) -> str:
    return case.origin.get(cert.public_bytes(Encoding.DER), "ssl_client_certificate")


def _crl_for(case: Case, issuer: x509.Name) -> x509.CertificateRevocationList | None:
    return next((c for c in case.trust.crls if c.issuer == issuer), None)


# -- the explanation ------------------------------------------------------------------------

def explain(case: Case) -> tuple[str, str | None]:
    """(explanation, fix) for the verdict in ``case``; never raises for odd certificates."""
    try:
        return _explain(case)
    except Exception as exc:  # noqa: BLE001 - a malformed extension must not hide the verdict
        return (f"OpenSSL reported {case.code} ({case.text}) at depth {case.raw.error_depth}; "
                f"the certificates could not be analysed further ({type(exc).__name__}: they "
                "hold a field cryptography cannot parse).", None)


def _depth_exceeded(case: Case, w: Walk) -> bool:
    return case.raw.error in (2, 20, 21, 22) and (
        any(e.error == 22 for e in case.raw.events)
        or (w.complete and w.intermediates > case.trust.verify_depth))


def depth_exceeded(case: Case) -> bool:
    """The chain the client can complete is longer than ssl_verify_depth allows (the error
    nginx logs for it is 22 on OpenSSL 1.1.1, 20 or 2 on 3.x)."""
    try:
        return case.raw.error != 0 and _depth_exceeded(case, walk(case))
    except Exception:  # noqa: BLE001 - as explain(): odd certificates never raise
        return False


def _explain(case: Case) -> tuple[str, str | None]:
    events = case.raw.events
    distinct: list[tuple[int, int]] = []
    for e in events:
        if (e.error, e.depth) not in distinct:
            distinct.append((e.error, e.depth))
    if case.raw.error == 0:
        subjects = [_dn(c.subject) for c in map(_cert_of, case.raw.chain_der) if c is not None]
        return success_text(subjects, case.trust.verify_depth, bool(case.trust.crls)), None
    w = walk(case)
    depth = case.trust.verify_depth

    depth_exceeded = _depth_exceeded(case, w)
    if depth_exceeded and w.complete:
        names = ", ".join(f"'{_dn(c.subject)}'" for c in w.certs[1:-1])
        if case.code == 22:  # OpenSSL 1.1.1 (openssl_versions: measured on nginx 1.18)
            how = ("OpenSSL 1.1.1 reports it as 22 \"certificate chain too long\" (OpenSSL 3.x "
                   "reports the error of the cut instead: 20 or 2)")
        else:
            how = ("OpenSSL 3.x builds at most depth+2 certificates and, because nginx's callback "
                   "lets verification continue, reports the error caused by the cut "
                   f"({case.code}: {case.text}) instead of \"certificate chain too long\" "
                   "(OpenSSL 1.1.1 reports 22)")
        why = (f"The chain needs {w.intermediates} intermediate(s) ({names}) but ssl_verify_depth "
               f"is {depth}: {how} (F3.2, F3.3).")
        fix = f"raise ssl_verify_depth to {w.intermediates} (ssl_verify_depth {w.intermediates};)."
    else:
        why, fix = _by_code(case, w)
        if w.complete and w.intermediates > depth:
            # The chain is also too long; that error is hidden by the last one (F3.3).
            why += (f" The chain also needs {w.intermediates} intermediate(s) while "
                    f"ssl_verify_depth is {depth} (F3.2, F3.3).")
            more = f"raise ssl_verify_depth to {w.intermediates}"
            fix = f"{fix[:-1] if fix else ''}; and {more}." if fix else f"{more}."

    others = [(err, d) for err, d in distinct if err != case.raw.error]
    if others:
        listed = "; ".join(f"{err} ({case.text_of(err)}) at depth {d}" for err, d in others)
        why += (f" The verify callback also saw, before the last error: {listed}; nginx keeps "
                "only the last one (F3.3, F2.4).")
        hidden = list(dict.fromkeys(err for err, _ in others if err not in _UNTRUSTED_FAMILY))
        if hidden and not depth_exceeded:
            codes = ", ".join(f"{err} ({case.text_of(err)})" for err in hidden)
            why += f" Hidden behind the last error, {codes} must be fixed as well."
    if case.status == 200:
        why += (f" Under ssl_verify_client optional_no_ca error {case.code} is tolerated: nginx "
                "answers 200 with $ssl_client_verify FAILED:..., and the application must check "
                "it (F2.4).")
    return why, fix


def success_text(subjects: list[str], verify_depth: int, with_crls: bool) -> str:
    """The explanation of an accepted chain (subjects leaf first, as OpenSSL built it)."""
    path = " <- ".join(f"'{s}'" for s in reversed(subjects))
    n = max(0, len(subjects) - 2)
    return (f"nginx accepts this certificate: chain {path}; {n} intermediate(s) within "
            f"ssl_verify_depth {verify_depth} (F3.2)."
            + (" Every CA in the chain has a valid CRL (F6.1)." if with_crls else ""))


def _event_cert(case: Case, code: int) -> tuple[int, x509.Certificate | None]:
    ev = [e for e in case.raw.events if e.error == code]
    if not ev:
        return case.raw.error_depth, None
    return ev[-1].depth, _cert_of(ev[-1].cert_der)


def _by_code(case: Case, w: Walk) -> tuple[str, str | None]:
    code = case.raw.error  # system numbering (3.x)
    depth_at, cert = _event_cert(case, code)
    built = [c for c in (_cert_of(d) for d in case.raw.chain_der) if c is not None]
    top = built[-1] if built else case.leaf
    if code == 2:
        why = (f"The chain ends at '{_dn(top.subject)}' ({_SOURCE_WORDS.get(_src(case, top))}), "
               f"which is not a self-signed root, and its issuer '{_dn(top.issuer)}' is in no "
               "trust file. nginx does not accept partial chains: the chain must end at a root "
               "in ssl_client_certificate or ssl_trusted_certificate (F3.4).")
        fix = (f"add the root '{_dn(top.issuer)}' to the {_trust_file_of(case, top)} file "
               "(or to ssl_trusted_certificate, which is not advertised, F1.3).")
        return why, fix
    if code == 20:
        sent_by_client = _src(case, top) == "client"
        why = (f"The chain goes up to '{_dn(top.subject)}' "
               f"({_SOURCE_WORDS.get(_src(case, top))}), issued by '{_dn(top.issuer)}', which "
               "is in neither ssl_client_certificate nor ssl_trusted_certificate (F4.2).")
        fix = (f"if you mean to trust it, add the root '{_dn(top.issuer)}' to the "
               "ssl_client_certificate file; otherwise the client needs a certificate from a CA "
               "nginx trusts.")
        if not sent_by_client:
            fix = f"add the root '{_dn(top.issuer)}' to the {_trust_file_of(case, top)} file."
        return why, fix
    if code == 21:
        sent = len(case.chain)
        extra = (f" The client sent {sent} other certificate(s), none of which issued the leaf."
                 if sent else " The client sent only its leaf.")
        why = (f"The leaf's issuer '{_dn(case.leaf.issuer)}' is neither sent by the client nor "
               f"in a trust file.{extra} Either it is an intermediate under a root nginx trusts "
               "and the client failed to send it (F3.4), or the certificate comes from a CA "
               "nginx does not trust (F4.2).")
        fix = (f"if '{_dn(case.leaf.issuer)}' is your intermediate, make the client send it "
               "after its leaf (curl: leaf + intermediate in the --cert file) or add it to "
               "ssl_trusted_certificate; otherwise issue the client certificate from a CA in "
               "ssl_client_certificate.")
        return why, fix
    if code == 18:
        return ("The client's certificate is self-signed and is not in a trust file, so nginx "
                "cannot trust it (F4.2).",
                "issue the client certificate from the CA in ssl_client_certificate (pinning "
                "this one by adding it to ssl_trusted_certificate also works).")
    if code == 19:
        return (f"The client sent a self-signed root '{_dn(top.subject)}' that is in no trust "
                "file: nginx trusts only roots from ssl_client_certificate or "
                "ssl_trusted_certificate.",
                f"add '{_dn(top.subject)}' to ssl_client_certificate if you trust it, or use a "
                "certificate from a trusted CA.")
    if code in (9, 10):
        c = cert or case.leaf
        when = c.not_valid_before_utc if code == 9 else c.not_valid_after_utc
        word = "is not valid before" if code == 9 else "expired on"
        at = case.at.strftime("%Y-%m-%d %H:%M:%SZ")
        return (f"{_cap(_where(case, c))} at depth {depth_at} {word} "
                f"{when:%Y-%m-%d %H:%M:%SZ} (checked at {at}).",
                f"renew '{_dn(c.subject)}'." if code == 10 else
                "check the clock of the issuing CA and of the server, or wait until it is valid.")
    if code in (11, 12):
        c = cert or case.leaf
        crl = _crl_for(case, c.issuer)
        nu = crl.next_update_utc if crl is not None else None
        when = f" (nextUpdate {nu:%Y-%m-%d %H:%M:%SZ})" if nu else ""
        word = "has expired" if code == 12 else "is not yet valid"
        return (f"The CRL of '{_dn(c.issuer)}' in ssl_crl {word}{when}. An expired CRL fails "
                "every client certificate that CA covers (F6.1).",
                f"publish a fresh CRL from '{_dn(c.issuer)}' into the ssl_crl file and reload "
                "nginx (it reads CRLs only at start and reload, F6.1).")
    if code == 3:
        missing: list[str] = []
        for e in case.raw.events:
            if e.error == 3:
                ec = _cert_of(e.cert_der)
                if ec is not None and _dn(ec.issuer) not in missing:
                    missing.append(_dn(ec.issuer))
        names = ", ".join(f"'{m}'" for m in missing) or "a CA of the chain"
        return (f"ssl_crl is set, so nginx checks the revocation of every certificate in the "
                f"chain (CRL_CHECK_ALL) and needs a CRL from every CA, the root included; there "
                f"is none from {names} (F6.1).",
                f"add the CRL issued by {names} to the ssl_crl file (one file, all CRLs) and "
                "reload nginx.")
    if code == 23:
        c = cert or case.leaf
        crl = _crl_for(case, c.issuer)
        when = ""
        if crl is not None:
            rev = crl.get_revoked_certificate_by_serial_number(c.serial_number)
            if rev is not None:
                when = f" on {rev.revocation_date_utc:%Y-%m-%d %H:%M:%SZ}"
        return (f"{_cap(_where(case, c))} (serial {c.serial_number:X}) is listed as "
                f"revoked{when} in the CRL of '{_dn(c.issuer)}' (F6.1).",
                "issue a new certificate to this client; a revoked one cannot be reinstated "
                "unless it was only on hold.")
    if code == 26:
        c = cert or case.leaf
        eku = _eku(c)
        if c == case.leaf or depth_at == 0:
            if eku is not None and "clientAuth" not in eku:
                detail = f"its extendedKeyUsage is {', '.join(eku)} without clientAuth"
            else:
                detail = ("its keyUsage lacks digitalSignature/keyAgreement or its nsCertType "
                          "forbids SSL client use")
            return (f"The leaf '{_dn(c.subject)}' is not usable for client authentication: "
                    f"{detail} (OpenSSL purpose sslclient, F6.3).",
                    "issue the client certificate with extendedKeyUsage clientAuth (or without "
                    "an EKU extension) and keyUsage digitalSignature.")
        if not _is_ca(c):
            # check_purpose_ssl_client() at a CA position first requires a CA (check_ssl_ca):
            # a CA:FALSE issuer fails the purpose with 26 right after 79 "invalid CA
            # certificate", and nginx keeps the last error (F3.3, F6.3). Measured on real
            # nginx: tests/truth/test_verify_codes_truth.py.
            return (f"{_cap(_where(case, c))} at depth {depth_at} issued the certificate below "
                    "it but is not a CA (basicConstraints CA:TRUE is missing). OpenSSL reports "
                    "79 (invalid CA certificate) and then 26, because the sslclient purpose "
                    "check of an issuing position needs a CA; nginx keeps only the last error "
                    "(F3.3, F6.3). Its extendedKeyUsage is not the problem.",
                    f"issue the client certificate from a real CA (basicConstraints CA:TRUE, "
                    f"keyUsage keyCertSign), or re-issue '{_dn(c.subject)}' as a CA.")
        shown = ", ".join(eku) if eku else "(none)"
        return (f"{_cap(_where(case, c))} at depth {depth_at} has extendedKeyUsage "
                f"{shown} without clientAuth. OpenSSL applies the sslclient purpose to every CA "
                "in the chain, trust anchors included, and anyExtendedKeyUsage does not help "
                "(F6.3).",
                f"re-issue the CA '{_dn(c.subject)}' without an EKU extension, or with clientAuth "
                "in it.")
    if code in (66, 67, 68):
        c = cert or case.leaf
        return (f"{_cap(_where(case, c))} is too weak for security level "
                f"{case.security_level}, which nginx's SSL context applies to client chains too "
                "(X509_VERIFY_PARAM_set_auth_level, F6.3): level 2 needs RSA/DSA/DH keys of at "
                "least 2048 bits, ECC of at least 224 bits and no SHA-1 signatures.",
                "re-issue it with a 2048-bit (or larger) RSA or a P-256 key and SHA-256.")
    c = cert
    what = _where(case, c) if c is not None else "a certificate"
    name = f"'{_dn(c.subject)}'" if c is not None else "it"
    issuer = f"'{_dn(c.issuer)}'" if c is not None else "its issuer"
    specific = {
        7: (f"The signature of {what} does not verify with the key of {issuer}: the trust file "
            "or the client holds a different certificate with the issuer's name (another key), "
            "or the certificate is corrupt.",
            f"use the CA certificate whose key really signed {name}."),
        25: (f"The chain has more CAs below a CA than its basicConstraints pathLenConstraint "
             f"allows ({what} at depth {depth_at}).",
             "re-issue the constraining CA with a larger pathlen, or issue the client "
             "certificate from a CA higher up."),
        34: (f"{_cap(what)} has a critical extension OpenSSL does not understand, so it must "
             "refuse it.", f"re-issue {name} without marking that extension critical."),
        47: (f"{_cap(what)} carries a name outside the permitted name constraints of a CA "
             "above it.", f"re-issue {name} with names inside the CA's permitted subtrees."),
        48: (f"{_cap(what)} carries a name inside the excluded name constraints of a CA above "
             "it.", f"re-issue {name} without the excluded names."),
    }
    if code in specific:
        return specific[code]
    return (f"OpenSSL rejected {what} at depth {depth_at}: {case.code} ({case.text}).", None)


def _src(case: Case, cert: x509.Certificate) -> str:
    return case.origin.get(cert.public_bytes(Encoding.DER), "client")


__all__ = ["Case", "Walk", "explain", "no_certificate", "success_text", "walk"]
