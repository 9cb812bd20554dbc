"""Tolerant loading of certificate files: PEM (many blocks, text around them), DER, PKCS#7,
PKCS#12, CRLs and private keys.

Invariants of this module:
- ``load_bytes`` never raises for any content: what is wrong with the bytes becomes a
  ``Problem`` in the returned ``Bundle``; only a size above ``MAX_BYTES`` raises ``InputError``.
  ``load_path`` also raises ``InputError`` (one clear line) for missing, unreadable or
  directory paths;
- private keys are detected and described (``KeyInfo``: type, size, public key) but the private
  key object and its bytes are dropped at once: nothing here keeps, returns or prints them;
- ``Problem.message`` never quotes file content (so it can never leak key material);
- line numbers are 1-based and refer to the original bytes; certificate indexes are 0-based,
  in file order (the ``path#index`` of every finding).
"""

from __future__ import annotations

import binascii
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.serialization import load_der_private_key

# pkcs7 / pkcs12 are imported where used: pkcs7 pulls in the e-mail package (S/MIME), which
# would slow down every start-up for a format most files are not in.

from mtls_doctor.model import InputError

#: refuse files above this size: no certificate bundle is anywhere near it
MAX_BYTES = 16 * 1024 * 1024
#: PEM blocks examined per file at most (the Mozilla CA store has about 150)
MAX_BLOCKS = 10_000
#: problems reported per file at most (the rest are summarised in one more)
MAX_PROBLEMS = 50

# Problem kinds (each maps to one rule of ``mtls_doctor.rules.files``)
EMPTY = "empty"
CRLF = "crlf"
MISSING_NEWLINE = "missing-newline"
TRUNCATED = "truncated-block"
BAD_BASE64 = "bad-base64"
CORRUPT = "corrupt-block"
NOT_CERTIFICATE = "not-certificate"
BINARY = "binary"
UNSUPPORTED_BLOCK = "unsupported-block"
NOT_PEM = "not-pem"
PKCS12_UNREADABLE = "pkcs12-unreadable"
TOO_MANY_BLOCKS = "too-many-blocks"
#: a "TRUSTED CERTIFICATE" block (OpenSSL auxiliary trust): read as the certificate it wraps,
#: and recorded because nginx before 1.27.2 refuses it in ssl_client_certificate (F1.5)
TRUSTED = "trusted-certificate"
#: a certificate OpenSSL (so nginx) accepts but that is not strict DER, so ``cryptography``
#: cannot read it (e.g. the version encoded explicitly as v1); described by ``pki.lenient``
NOT_STRICT_DER = "not-strict-der"


@dataclass(frozen=True)
class Problem:
    """Something wrong with the bytes of a file (never quotes its content)."""

    kind: str
    message: str
    line: int | None = None
    index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "line": self.line, "index": self.index}


@dataclass(frozen=True)
class KeyInfo:
    """Public facts about a private key found in a file; never the private key itself."""

    index: int  # 0-based among the keys of the file
    type: str  # "RSA", "EC", "Ed25519", "DSA", "encrypted", "unknown", ...
    bits: int | None
    public_key: Any  # a cryptography public key object, or None (encrypted / unparsable)
    line: int | None = None
    container: str = "pem"  # "pem", "der" or "pkcs12"

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "bits": self.bits,
            "line": self.line,
            "container": self.container,
        }


@dataclass(frozen=True)
class Bundle:
    source: str
    format: str  # "pem", "der", "pkcs7", "pkcs12", "empty", "unknown"
    certificates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    keys: tuple[KeyInfo, ...] = ()
    problems: tuple[Problem, ...] = ()
    #: 1-based line of each certificate's BEGIN (PEM), parallel to ``certificates``
    cert_lines: tuple[int | None, ...] = ()

    @property
    def usable(self) -> bool:
        return bool(self.certificates or self.crls or self.keys)


# --------------------------------------------------------------------------- entry points


def load_path(path: str | Path, password: bytes | None = None, *, pipe: bool = True) -> Bundle:
    """Read ``path`` (``"-"`` = stdin) and load it; InputError if it cannot be read at all.

    Read through ``mtls_doctor.inputs`` (regular files, or a pipe when ``pipe``: what the user
    names; a file a configuration names is read with ``pipe=False``)."""
    from mtls_doctor.inputs import read_bytes

    if str(path) == "-":
        data = read_bytes("-", limit=MAX_BYTES, too_big=_too_big("<stdin>", MAX_BYTES + 1))
        return load_bytes(data, "<stdin>", password)
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a certificate file")
    try:
        size = p.stat().st_size
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        size = 0  # the reader words the error
    data = read_bytes(str(p), limit=MAX_BYTES, pipe=pipe, too_big=_too_big(str(p), size))
    return load_bytes(data, str(p), password)


def load_bytes(data: bytes, source: str, password: bytes | None = None) -> Bundle:
    """Load every certificate, CRL and key in ``data``; problems are data, never exceptions."""
    if len(data) > MAX_BYTES:
        raise InputError(_too_big(source, len(data)))
    try:
        with warnings.catch_warnings():
            # e.g. cryptography's warning about non-positive serials: the rules judge that.
            warnings.simplefilter("ignore")
            return _load(bytes(data), source, password)
    except InputError:
        raise
    except Exception as exc:  # a parser bug must not become a traceback: report it as data
        return Bundle(
            source,
            "unknown",
            problems=(Problem(CORRUPT, f"could not be parsed ({type(exc).__name__})"),),
        )


def _too_big(source: str, size: int) -> str:
    return (
        f"{source}: {size} bytes is too big for a certificate file "
        f"(limit {MAX_BYTES // (1024 * 1024)} MiB)"
    )


def _load(data: bytes, source: str, password: bytes | None) -> Bundle:
    if not data.strip():
        return Bundle(source, "empty", problems=(Problem(EMPTY, "the file is empty"),))
    if b"-----BEGIN" in data:
        return _load_pem(data, source, password)
    return _load_binary(data, source, password)


# --------------------------------------------------------------------------- PEM

_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 #]{1,64})-----")
_END = re.compile(rb"-----END ([A-Z0-9 #]{1,64})-----")
_B64 = re.compile(rb"^[A-Za-z0-9+/=]*$")

_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE"}
_CRL_LABELS = {b"X509 CRL"}
_PKCS7_LABELS = {b"PKCS7", b"PKCS #7 SIGNED DATA", b"CMS"}
_KEY_LABELS = {
    b"PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"DSA PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"OPENSSH PRIVATE KEY",
}
_OTHER_NAMES = {
    b"CERTIFICATE REQUEST": "a certificate signing request (CSR), not a certificate",
    b"NEW CERTIFICATE REQUEST": "a certificate signing request (CSR), not a certificate",
    b"PUBLIC KEY": "a bare public key, not a certificate",
    b"RSA PUBLIC KEY": "a bare public key, not a certificate",
    b"EC PARAMETERS": "EC parameters, not a certificate",
    b"DH PARAMETERS": "DH parameters, not a certificate",
}


class _Acc:
    """Mutable accumulator used while scanning; frozen into a Bundle at the end."""

    def __init__(self) -> None:
        self.certs: list[x509.Certificate] = []
        self.cert_lines: list[int | None] = []
        self.crls: list[x509.CertificateRevocationList] = []
        self.keys: list[KeyInfo] = []
        self.problems: list[Problem] = []
        self.formats: set[str] = set()

    def add_cert(self, cert: x509.Certificate, line: int | None) -> None:
        why = unreadable_names(cert)
        if why is not None:  # e.g. invalid UTF-8 in a UTF8String: OpenSSL refuses it too
            self.problem(Problem(CORRUPT, f"a certificate's {why}", line=line))
            return
        self.certs.append(cert)
        self.cert_lines.append(line)

    def add_crl(self, crl: x509.CertificateRevocationList, line: int | None) -> None:
        why = unreadable_names(crl)
        if why is not None:
            self.problem(Problem(CORRUPT, f"a CRL's {why}", line=line))
            return
        self.crls.append(crl)

    def add_key(self, kind: str, bits: int | None, public: Any, line: int | None, container: str) -> None:
        self.keys.append(KeyInfo(len(self.keys), kind, bits, public, line, container))

    def problem(self, p: Problem) -> None:
        self.problems.append(p)

    def problems_with_blocks(self) -> bool:
        return any(p.kind != CRLF for p in self.problems)

    def bundle(self, source: str, fmt: str) -> Bundle:
        problems = self.problems
        if len(problems) > MAX_PROBLEMS:  # a hostile file must not yield a million findings
            last = [p for p in problems[MAX_PROBLEMS:] if p.kind == TOO_MANY_BLOCKS]
            rest = [p for p in problems[MAX_PROBLEMS:] if p.kind != TOO_MANY_BLOCKS]
            problems = problems[:MAX_PROBLEMS] + last
            if rest:
                problems.append(
                    Problem(rest[0].kind, f"... and {len(rest)} more problems like these",
                            rest[0].line)
                )
        return Bundle(
            source,
            fmt,
            tuple(self.certs),
            tuple(self.crls),
            tuple(self.keys),
            tuple(problems),
            tuple(self.cert_lines),
        )


class _Lines:
    """1-based line numbers of positions visited in increasing order (linear overall)."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.line = data, 0, 1

    def at(self, pos: int) -> int:
        if pos < self.pos:
            self.pos, self.line = 0, 1
        self.line += self.data.count(b"\n", self.pos, pos)
        self.pos = pos
        return self.line


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _load_pem(raw: bytes, source: str, password: bytes | None) -> Bundle:
    acc = _Acc()
    if b"\r" in raw:
        # OpenSSL's PEM reader accepts CRLF; worth knowing, not fatal.
        first = _line_of(raw, raw.index(b"\r"))
        acc.problem(
            Problem(CRLF, "the file has CRLF (Windows) line endings", line=first)
        )
    # Normalise line endings without moving line numbers: CRLF -> LF, lone CR -> LF.
    data = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    # Markers are scanned forward only (each END search resumes after the previous one), so
    # hostile input (thousands of BEGIN lines without END, all on one line) stays linear; and
    # at most MAX_BLOCKS blocks are examined.
    lines = _Lines(data)
    pos = 0
    end: re.Match[bytes] | None = None
    no_end_after = len(data) + 1  # a search from here or later finds no END
    begins = _BEGIN.finditer(data)
    m = next(begins, None)
    count = 0
    while m is not None:
        nxt = next(begins, None)
        if m.start() < pos:
            m = nxt
            continue  # inside a block already consumed
        count += 1
        if count > MAX_BLOCKS:
            acc.problem(
                Problem(
                    TOO_MANY_BLOCKS,
                    f"more than {MAX_BLOCKS} PEM blocks: the rest of the file was not read",
                    line=lines.at(m.start()),
                )
            )
            break
        label = m.group(1)
        line = lines.at(m.start())
        window = max(0, m.start() - 256)
        nl = data.rfind(b"\n", window, m.start())
        before = data[(nl + 1 if nl >= 0 else window) : m.start()]
        # A UTF-8 BOM at the very start is skipped by OpenSSL's PEM reader: `openssl x509` and
        # nginx -t (1.22.1, OpenSSL 3.0) read such a file (measured), so it is no problem.
        if before.strip() and not (before == b"\xef\xbb\xbf" and m.start() == 3):
            index = len(acc.certs) if label in _CERT_LABELS else None
            if _END.search(before):
                # OpenSSL reads "-----END X----------BEGIN Y-----" as a bad END line and rejects
                # the whole file ("bad end line"), so nginx -t fails on it.
                msg = (
                    "no newline between -----END----- and the next -----BEGIN-----: "
                    "OpenSSL (and so nginx) rejects the file with 'bad end line'"
                )
            else:
                # OpenSSL only sees -----BEGIN at the start of a line: it skips this block.
                msg = (
                    "text before -----BEGIN on the same line: OpenSSL (and so nginx) "
                    "does not see this block"
                )
            acc.problem(Problem(MISSING_NEWLINE, msg, line=line, index=index))
        if m.end() >= no_end_after:
            end = None
        elif end is None or end.start() < m.end():
            end = _END.search(data, m.end())
            if end is None:
                no_end_after = m.end()
        next_begin = nxt
        if end is None or (next_begin is not None and next_begin.start() < end.start()):
            acc.problem(
                Problem(
                    TRUNCATED,
                    f"the {_label(label)} block starting here has no -----END line (truncated)",
                    line=line,
                )
            )
            pos = m.end()
            m = nxt
            continue
        pos = end.end()
        body = data[m.end() : end.start()]
        m = nxt
        if end.group(1) != label:
            acc.problem(
                Problem(
                    CORRUPT,
                    f"the {_label(label)} block ends with a different label "
                    f"({_label(end.group(1))})",
                    line=line,
                )
            )
            continue
        _pem_block(acc, label, body, line, password)

    if not acc.certs and not acc.crls and not acc.keys and not acc.problems_with_blocks():
        acc.problem(
            Problem(NOT_CERTIFICATE, "no certificate, CRL or key block was found in the file")
        )
    fmt = "pkcs7" if acc.formats == {"pkcs7"} else "pem"
    return acc.bundle(source, fmt)


def _label(label: bytes) -> str:
    return label.decode("ascii", "replace")


def _pem_block(acc: _Acc, label: bytes, body: bytes, line: int, password: bytes | None) -> None:
    lines = body.split(b"\n")
    headers = any(b":" in ln for ln in lines[:3])
    if headers:  # RFC 1421 headers (Proc-Type / DEK-Info): skip up to the blank line
        try:
            blank = next(i for i, ln in enumerate(lines) if not ln.strip())
            lines = lines[blank + 1 :]
        except StopIteration:
            lines = [ln for ln in lines if b":" not in ln]
    b64 = b"".join(ln.strip() for ln in lines)
    if label in _KEY_LABELS:
        # Never decode into anything kept: describe the key, then drop it.
        _key_block(acc, label, b64, headers, line, password)
        return
    if not _B64.match(b64):
        acc.problem(
            Problem(
                BAD_BASE64,
                f"the {_label(label)} block contains characters that are not base64",
                line=line,
            )
        )
        return
    try:
        der = binascii.a2b_base64(b64)
        if len(b64) % 4:
            raise binascii.Error("length")
    except binascii.Error:
        acc.problem(
            Problem(
                BAD_BASE64,
                f"the {_label(label)} block's base64 is broken (wrong length or padding; "
                "truncated or edited)",
                line=line,
            )
        )
        return
    if label in _CERT_LABELS:
        if label == b"TRUSTED CERTIFICATE":
            der = _first_der(der) or der  # drop the OpenSSL "aux" trust settings after it
        try:
            acc.add_cert(x509.load_der_x509_certificate(der), line)
        except Exception as exc:
            acc.problem(_openssl_only(der, exc, line) or _corrupt("CERTIFICATE", der, line))
            return
        if label == b"TRUSTED CERTIFICATE":
            acc.problem(
                Problem(
                    TRUSTED,
                    "a TRUSTED CERTIFICATE block (OpenSSL trust settings), not a plain CERTIFICATE",
                    line=line,
                    index=len(acc.certs) - 1,
                )
            )
    elif label in _CRL_LABELS:
        try:
            crl = x509.load_der_x509_crl(der)
        except Exception:
            acc.problem(_corrupt("X509 CRL", der, line))
        else:
            acc.add_crl(crl, line)
    elif label in _PKCS7_LABELS:
        from cryptography.hazmat.primitives.serialization import pkcs7

        try:
            certs = pkcs7.load_der_pkcs7_certificates(der)
        except Exception:
            acc.problem(_corrupt(_label(label), der, line))
            return
        acc.formats.add("pkcs7")
        for cert in certs:
            acc.add_cert(cert, line)
    else:
        what = _OTHER_NAMES.get(label, f"a {_label(label)} block, which is not a certificate")
        acc.problem(Problem(UNSUPPORTED_BLOCK, f"ignored {what}", line=line))


def unreadable_names(obj: Any) -> str | None:
    """None when the subject and issuer Names of a certificate (the issuer of a CRL) decode;
    else what is wrong, in words. ``cryptography`` parses Names lazily, so a Name holding
    bytes that are not valid for its string type (invalid UTF-8 in a UTF8String) would
    otherwise raise much later, wherever it is first printed."""
    for what in ("subject", "issuer"):
        try:
            name = getattr(obj, what, None)
            if name is not None:
                name.rfc4514_string()
        except ValueError as exc:
            from mtls_doctor.pki.lenient import refusal_of

            return (f"{what} Name does not decode ({refusal_of(exc)}: e.g. invalid UTF-8 in a "
                    "UTF8String); OpenSSL refuses it too")
    return None


def _openssl_only(der: bytes, exc: Exception, line: int | None) -> Problem | None:
    """The problem for a certificate OpenSSL accepts although ``cryptography`` refuses it, or
    None when OpenSSL refuses it too (then it is corrupt)."""
    from mtls_doctor.pki import lenient

    why = lenient.refusal_of(exc)
    read = lenient.read(der, why)
    if read is None:
        return None
    return Problem(
        NOT_STRICT_DER,
        f"the certificate {read.subject or '(empty subject)'} (issuer {read.issuer or '(empty)'}) "
        f"is not strict DER ({why}): OpenSSL and nginx accept it, but strict parsers refuse it "
        "and its extensions could not be checked here",
        line=line,
    )


def _corrupt(what: str, der: bytes, line: int | None) -> Problem:
    whole = _first_der(der)
    if whole is None and der[:1] == b"\x30":
        msg = f"the {what} block is cut short (its DER is incomplete: truncated)"
    else:
        msg = f"the {what} block does not parse as a {what.lower()} (corrupt)"
    return Problem(CORRUPT, msg, line=line)


def _key_block(
    acc: _Acc, label: bytes, b64: bytes, headers: bool, line: int, password: bytes | None
) -> None:
    kind, bits, public = "unknown", None, None
    if label == b"ENCRYPTED PRIVATE KEY" or headers:
        kind = "encrypted"
    else:
        try:
            der = binascii.a2b_base64(b64)
            if label == b"OPENSSH PRIVATE KEY":
                from cryptography.hazmat.primitives.serialization import load_ssh_private_key

                key = load_ssh_private_key(
                    b"-----BEGIN OPENSSH PRIVATE KEY-----\n" + b64 + b"\n-----END OPENSSH PRIVATE KEY-----\n",
                    password=None,
                )
            else:
                key = load_der_private_key(der, password=None)
            public = key.public_key()
            del key  # the private half is never kept
            kind, bits = describe_public_key(public)
        except Exception:
            kind = "unknown"
    acc.add_key(kind, bits, public, line, "pem")


def describe_public_key(public: Any) -> tuple[str, int | None]:
    """(type, bits) of a public key: ("RSA", 2048), ("EC", 256), ("Ed25519", 256), ..."""
    if isinstance(public, rsa.RSAPublicKey):
        return "RSA", public.key_size
    if isinstance(public, ec.EllipticCurvePublicKey):
        return "EC", public.curve.key_size
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(public, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(public, dsa.DSAPublicKey):
        return "DSA", public.key_size
    if isinstance(public, x25519.X25519PublicKey):
        return "X25519", 256
    if isinstance(public, x448.X448PublicKey):
        return "X448", 448
    return type(public).__name__, None


# --------------------------------------------------------------------------- DER / binary


def _der_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """(header length, content length) of the DER TLV at ``pos``, or None if malformed."""
    if pos + 2 > len(data):
        return None
    first = data[pos + 1]
    if first < 0x80:
        return 2, first
    n = first & 0x7F
    if n == 0 or n > 4 or pos + 2 + n > len(data):
        return None
    return 2 + n, int.from_bytes(data[pos + 2 : pos + 2 + n], "big")


def _first_der(data: bytes) -> bytes | None:
    """The first complete top-level DER SEQUENCE in ``data``, or None if it is cut short."""
    if not data or data[0] != 0x30:
        return None
    hl = _der_length(data, 0)
    if hl is None or hl[0] + hl[1] > len(data):
        return None
    return data[: hl[0] + hl[1]]


def _der_sequences(data: bytes) -> list[bytes] | None:
    """Split ``data`` into consecutive top-level DER SEQUENCEs; None unless it is exactly that."""
    out, pos = [], 0
    while pos < len(data):
        if data[pos] != 0x30:
            return None
        hl = _der_length(data, pos)
        if hl is None or pos + hl[0] + hl[1] > len(data):
            return None
        out.append(data[pos : pos + hl[0] + hl[1]])
        pos += hl[0] + hl[1]
        if len(out) > 10_000:
            return None
    return out or None


def _is_pkcs12(der: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo, ... }."""
    hl = _der_length(der, 0)
    return hl is not None and der[hl[0] : hl[0] + 3] == b"\x02\x01\x03"


def _load_binary(data: bytes, source: str, password: bytes | None) -> Bundle:
    acc = _Acc()
    seqs = _der_sequences(data)
    if seqs is not None:
        fmt = _load_der_objects(acc, seqs, password)
        if fmt is not None:
            if fmt != "pkcs12":
                acc.problem(
                    Problem(NOT_PEM, f"the file is {fmt.upper()} (binary), not PEM")
                )
            return acc.bundle(source, fmt)
        return acc.bundle(source, "der")
    if data[:1] == b"\x30" and _first_der(data) is None:
        acc.problem(
            Problem(CORRUPT, "the file looks like DER but is cut short (truncated)")
        )
        return acc.bundle(source, "der")
    if data[:1] == b"\x30" and _first_der(data) is not None:
        acc.problem(
            Problem(CORRUPT, "the file looks like DER but has extra bytes after the first object")
        )
        return acc.bundle(source, "der")
    stripped = re.sub(rb"\s+", b"", data)
    if stripped and _B64.match(stripped) and len(stripped) % 4 == 0 and len(stripped) >= 64:
        try:
            inner = binascii.a2b_base64(stripped)
            cert = x509.load_der_x509_certificate(inner)
        except Exception:
            cert = None
        if cert is not None:
            acc.add_cert(cert, 1)
            acc.problem(
                Problem(
                    NOT_PEM,
                    "the file is a base64 certificate without the -----BEGIN CERTIFICATE----- "
                    "and -----END CERTIFICATE----- lines",
                    line=1,
                )
            )
            return acc.bundle(source, "base64")
    if _looks_binary(data):
        acc.problem(
            Problem(BINARY, "the file is binary data that is not DER, PKCS#7 or PKCS#12")
        )
    else:
        acc.problem(
            Problem(NOT_CERTIFICATE, "the file is text without any -----BEGIN block")
        )
    return acc.bundle(source, "unknown")


def _load_der_objects(acc: _Acc, seqs: list[bytes], password: bytes | None) -> str | None:
    """Load each DER object; returns the format name, or None if nothing was recognised."""
    fmt: str | None = None
    for i, der in enumerate(seqs):
        try:
            acc.add_cert(x509.load_der_x509_certificate(der), None)
            fmt = fmt or "der"
            continue
        except Exception as exc:
            lenient_problem = _openssl_only(der, exc, None)
            if lenient_problem is not None:
                acc.problem(lenient_problem)
                fmt = fmt or "der"
                continue
        try:
            crl = x509.load_der_x509_crl(der)
        except Exception:
            crl = None
        if crl is not None:
            acc.add_crl(crl, None)
            fmt = fmt or "der"
            continue
        try:
            from cryptography.hazmat.primitives.serialization import pkcs7

            for cert in pkcs7.load_der_pkcs7_certificates(der):
                acc.add_cert(cert, None)
            fmt = fmt or "pkcs7"
            continue
        except Exception:
            pass
        if _is_pkcs12(der):
            fmt = fmt or "pkcs12"
            _load_pkcs12(acc, der, password)
            continue
        try:
            key = load_der_private_key(der, password=None)
            public = key.public_key()
            del key
            kind, bits = describe_public_key(public)
            acc.add_key(kind, bits, public, None, "der")
            fmt = fmt or "der"
            continue
        except Exception:
            pass
        acc.problem(
            Problem(
                CORRUPT,
                f"DER object {i + 1} is not a certificate, CRL, PKCS#7, PKCS#12 or key",
            )
        )
    return fmt


#: refuse PKCS#12 files whose key derivation asks for more iterations than this (a hostile
#: file could otherwise keep the loader busy for hours); OpenSSL's default is 2048
MAX_PBE_ITERATIONS = 2_000_000


def _max_iterations(der: bytes, depth: int = 0) -> int:
    """Largest ``SEQUENCE { salt OCTET STRING, iterations INTEGER ... }`` count in ``der``
    (MacData, PBKDF2-params, pkcs-12PbeParams), descending into constructed values and into
    OCTET STRINGs that hold DER; encrypted content is opaque and skipped."""
    best, pos, prev_octets = 0, 0, False
    while pos < len(der) and depth < 16:
        tag = der[pos]
        hl = _der_length(der, pos)
        if hl is None or pos + hl[0] + hl[1] > len(der):
            return best
        value = der[pos + hl[0] : pos + hl[0] + hl[1]]
        if tag == 0x02 and prev_octets and len(value) <= 8:
            best = max(best, int.from_bytes(value, "big"))
        if tag & 0x20 or (tag == 0x04 and value[:1] == b"\x30"):
            best = max(best, _max_iterations(value, depth + 1))
        prev_octets = tag == 0x04
        pos += hl[0] + hl[1]
    return best


def _load_pkcs12(acc: _Acc, der: bytes, password: bytes | None) -> None:
    if _max_iterations(der) > MAX_PBE_ITERATIONS:
        acc.problem(
            Problem(
                PKCS12_UNREADABLE,
                f"the PKCS#12 file asks for more than {MAX_PBE_ITERATIONS} key-derivation "
                "iterations; not opened",
            )
        )
        return
    from cryptography.hazmat.primitives.serialization import pkcs12

    tried = [password] if password is not None else [None, b""]
    for pw in tried:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(der, pw)
        except Exception:
            continue
        if cert is not None:
            acc.add_cert(cert, None)
        for c in extra or ():
            acc.add_cert(c, None)
        if key is not None:
            public = key.public_key()
            del key
            kind, bits = describe_public_key(public)
            acc.add_key(kind, bits, public, None, "pkcs12")
        return
    hint = "the --password given is wrong" if password is not None else "give --password"
    acc.problem(
        Problem(PKCS12_UNREADABLE, f"the PKCS#12 file could not be decrypted: {hint}")
    )


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return True
    try:
        sample.decode("utf-8")
        return False
    except UnicodeDecodeError:
        pass
    text = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return text < len(sample) * 0.9


__all__ = [
    "MAX_BYTES",
    "MAX_PROBLEMS",
    "Bundle",
    "KeyInfo",
    "Problem",
    "load_bytes",
    "load_path",
    "describe_public_key",
]
