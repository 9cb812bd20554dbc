"""Certificates that OpenSSL accepts and ``cryptography`` refuses: the facts OpenSSL reads.

``cryptography`` parses strict DER; OpenSSL (and so nginx, curl, ``openssl s_client``) also
takes some BER that DER forbids, e.g. a ``version`` field encoded explicitly as v1 (a DEFAULT
value present, ``ParseError { kind: EncodedDefault }``). Such a certificate is served by nginx
and verified by OpenSSL, so it is neither "corrupt" nor a reason to crash: this module is the one
place that turns its DER into facts, through the system libcrypto that ``pki.libcrypto`` has
already loaded (``d2i_X509``, ``X509_NAME_print_ex`` in RFC 2253 form as nginx prints names,
``ASN1_TIME_print`` for the validity).

Invariants:
- ``read(der)`` never raises: ``None`` when OpenSSL refuses the bytes too (then they really are
  corrupt), or when the system libcrypto cannot be loaded;
- every OpenSSL object made here is freed before the call returns;
- no file, socket or clock access.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from datetime import datetime, timezone

from mtls_doctor.pki import libcrypto as _lc


@dataclass(frozen=True)
class OpenSSLOnlyCert:
    """What OpenSSL reads from a certificate that ``cryptography`` refuses."""

    subject: str  # RFC 2253, as nginx prints $ssl_client_s_dn
    issuer: str
    self_issued: bool
    not_before: datetime | None
    not_after: datetime | None
    refusal: str  # why cryptography refused it (its parser's words, no file content)


_lock = threading.Lock()
_extra: ctypes.CDLL | None = None


def _times_lib() -> ctypes.CDLL:
    """A second handle on the same libcrypto for the few symbols ``pki.libcrypto`` does not bind
    (its own CDLL keeps its own function objects, so nothing here changes its bindings)."""
    global _extra
    with _lock:
        if _extra is None:
            extra = ctypes.CDLL(_lc._find())
            vp = ctypes.c_void_p
            for name in ("X509_get0_notBefore", "X509_get0_notAfter"):
                fn = getattr(extra, name)
                fn.restype, fn.argtypes = vp, [vp]
            extra.ASN1_TIME_print.restype = ctypes.c_int
            extra.ASN1_TIME_print.argtypes = [vp, vp]
            _extra = extra
    return _extra


def _time(c: ctypes.CDLL, bio: int, t: int) -> datetime | None:
    # ASN1_TIME_print writes e.g. "Jan  2 03:04:05 2026 GMT" (crypto/asn1/a_time.c)
    if not t:
        return None
    c.BIO_ctrl(bio, 1, 0, None)  # BIO_reset
    if _times_lib().ASN1_TIME_print(bio, t) <= 0:
        return None
    data = ctypes.c_void_p()
    size = c.BIO_ctrl(bio, 3, 0, ctypes.byref(data))  # BIO_get_mem_data
    if size <= 0 or not data.value:
        return None
    text = " ".join(ctypes.string_at(data.value, size).decode("ascii", "replace").split())
    try:
        return datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def refusal_of(exc: BaseException) -> str:
    """The short reason of a ``cryptography`` parse error (``EncodedDefault at TbsCertificate::
    version``), without any bytes of the input."""
    text = str(exc)
    if "kind:" in text:
        kind = text.split("kind:", 1)[1].split(",", 1)[0].split("}", 1)[0].strip()
        where = text.rsplit('"', 2)[-2] if text.count('"') >= 2 else ""
        return f"{kind} at {where}" if where else kind
    return type(exc).__name__


def read(der: bytes, refusal: str = "") -> OpenSSLOnlyCert | None:
    """OpenSSL's reading of ``der`` (one X.509 certificate), or None if OpenSSL refuses it too."""
    try:
        c = _lc.lib()
        x509 = _lc._d2i(c.d2i_X509, bytes(der), "certificate")
    except (_lc.LibcryptoUnavailable, _lc.DecodeError, OSError, AttributeError):
        return None
    bio = c.BIO_new(c.BIO_s_mem())
    try:
        if not bio:
            return None
        described = _lc._describe(c, x509, der, bio)
        extra = _times_lib()
        return OpenSSLOnlyCert(
            subject=described.subject,
            issuer=described.issuer,
            self_issued=described.self_issued,
            not_before=_time(c, bio, extra.X509_get0_notBefore(x509)),
            not_after=_time(c, bio, extra.X509_get0_notAfter(x509)),
            refusal=refusal,
        )
    except (OSError, AttributeError):
        return None
    finally:
        if bio:
            c.BIO_free(bio)
        c.X509_free(x509)
        c.ERR_clear_error()


__all__ = ["OpenSSLOnlyCert", "read", "refusal_of"]
