"""ctypes binding to the SYSTEM libcrypto: run ``X509_verify_cert`` exactly as nginx makes it run.

Why ctypes and not pyOpenSSL: nginx verifies client certificates with the OpenSSL it is linked
against (here the system libcrypto.so.3, OpenSSL 3.0.x), with a verify callback that always
returns 1 (nginx §0, F3.3). pyOpenSSL/cryptography bundle their own OpenSSL (another version) and
offer no store-context callback, so they cannot reproduce "the last error wins".

What one verification does, mirroring OpenSSL ``ssl/ssl_cert.c`` ``ssl_verify_cert_chain()`` and
nginx ``ngx_ssl_client_certificate()`` / ``ngx_ssl_trusted_certificate()`` / ``ngx_ssl_crl()``:

1. the store (built once per trust configuration, like nginx's per-server SSL_CTX store) holds
   every certificate of ssl_client_certificate and ssl_trusted_certificate
   (``X509_STORE_add_cert``) and, when ``ssl_crl`` is set, its CRLs plus
   ``X509_STORE_set_flags(CRL_CHECK | CRL_CHECK_ALL)`` (F6.1); never PARTIAL_CHAIN (F3.4);
2. ``X509_STORE_CTX_init(ctx, store, leaf, untrusted)`` where ``untrusted`` is the whole peer
   chain as sent, leaf first (that is what the TLS server code passes);
3. ``X509_VERIFY_PARAM_set_auth_level(param, security level)`` (the SSL_CTX's level; Debian's
   libssl defaults to 2), then ``X509_STORE_CTX_set_default(ctx, "ssl_client")`` (purpose and
   trust sslclient, F6.3), then ``X509_VERIFY_PARAM_set1(param, ssl_param)`` where ssl_param only
   carries the depth of ``SSL_CTX_set_verify_depth`` (F3.1);
4. the verify callback records (depth, error, certificate) for every failing call and returns 1;
   the result is ``X509_STORE_CTX_get_error`` after ``X509_verify_cert``: the LAST error (F3.3).

Invariants of this module:
- the only place that uses ctypes or OpenSSL pointers; inputs are DER bytes, outputs are plain
  Python values (ints, str, bytes) in a frozen dataclass;
- every object allocated during a call is freed before the call returns (also on failure); the
  long-lived objects of a ``Store`` (its X509_STORE and one X509_VERIFY_PARAM per depth) are
  freed by ``close()`` or, failing that, by a finalizer; the OpenSSL error queue is cleared
  after each verification;
- the library is loaded lazily, once (``ctypes.util.find_library("crypto")``, or the path in
  ``$MTLS_DOCTOR_LIBCRYPTO``); if it cannot be loaded, ``LibcryptoUnavailable`` (one clear
  line) is raised;
- no file, socket or clock access: the verification time is always passed in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Sequence

# include/openssl/x509_vfy.h (3.0)
X509_V_FLAG_CRL_CHECK = 0x4
X509_V_FLAG_CRL_CHECK_ALL = 0x8
# XN_FLAG_RFC2253 (include/openssl/x509.h, asn1.h): what nginx prints $ssl_client_s_dn with
XN_FLAG_RFC2253 = 0x317 | (1 << 16) | (1 << 20) | (1 << 24)
_BIO_CTRL_RESET = 1
_BIO_CTRL_INFO = 3


class LibcryptoUnavailable(RuntimeError):
    """The system libcrypto (OpenSSL >= 1.1) could not be loaded or lacks a needed symbol."""


class DecodeError(ValueError):
    """libcrypto cannot decode a certificate or CRL (nginx's OpenSSL would refuse it too)."""


@dataclass(frozen=True)
class Event:
    """One call of the verify callback with an error: what nginx's debug log would show."""

    depth: int
    error: int
    cert_der: bytes | None


@dataclass(frozen=True)
class ChainCert:
    """One certificate of the chain OpenSSL built; names as nginx prints them (RFC 2253,
    ``X509_NAME_print_ex(..., XN_FLAG_RFC2253)``, ``$ssl_client_s_dn``)."""

    der: bytes
    subject: str
    issuer: str
    self_issued: bool  # subject and issuer names equal (X509_NAME_cmp)


@dataclass(frozen=True)
class RawResult:
    """What ``X509_verify_cert`` left behind, as nginx would read it."""

    returned: int  # X509_verify_cert's return value (<= 0: the handshake itself fails)
    error: int  # X509_STORE_CTX_get_error: the last error, what SSL_get_verify_result gives
    error_depth: int
    events: tuple[Event, ...]
    chain: tuple[ChainCert, ...]  # X509_STORE_CTX_get1_chain, leaf first (may be partial)

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return tuple(c.der for c in self.chain)


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_seclevel: int | None = None
_version: str | None = None
_texts: dict[int, str] = {}
_local = threading.local()

_VERIFY_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


#: environment variable naming another libcrypto to load (e.g. the one a self-built nginx uses)
ENV_LIBRARY = "MTLS_DOCTOR_LIBCRYPTO"


def _find() -> str:
    explicit = os.environ.get(ENV_LIBRARY)
    if explicit:
        return explicit
    name = ctypes.util.find_library("crypto")
    return name or "libcrypto.so.3"


def _bind(lib: ctypes.CDLL) -> None:
    vp, i, ul, lg = ctypes.c_void_p, ctypes.c_int, ctypes.c_ulong, ctypes.c_long
    sig = {
        "OpenSSL_version": (ctypes.c_char_p, [i]),
        "OpenSSL_version_num": (ul, []),
        "d2i_X509": (vp, [vp, ctypes.POINTER(ctypes.c_char_p), lg]),
        "i2d_X509": (i, [vp, ctypes.POINTER(vp)]),
        "X509_free": (None, [vp]),
        "d2i_X509_CRL": (vp, [vp, ctypes.POINTER(ctypes.c_char_p), lg]),
        "X509_CRL_free": (None, [vp]),
        "X509_STORE_new": (vp, []),
        "X509_STORE_free": (None, [vp]),
        "X509_STORE_add_cert": (i, [vp, vp]),
        "X509_STORE_add_crl": (i, [vp, vp]),
        "X509_STORE_set_flags": (i, [vp, ul]),
        "X509_STORE_CTX_new": (vp, []),
        "X509_STORE_CTX_free": (None, [vp]),
        "X509_STORE_CTX_init": (i, [vp, vp, vp, vp]),
        "X509_STORE_CTX_get0_param": (vp, [vp]),
        "X509_STORE_CTX_set_default": (i, [vp, ctypes.c_char_p]),
        "X509_STORE_CTX_set_verify_cb": (None, [vp, _VERIFY_CB]),
        "X509_STORE_CTX_set_time": (None, [vp, ul, ctypes.c_int64]),
        "X509_STORE_CTX_get_error": (i, [vp]),
        "X509_STORE_CTX_get_error_depth": (i, [vp]),
        "X509_STORE_CTX_get_current_cert": (vp, [vp]),
        "X509_STORE_CTX_get1_chain": (vp, [vp]),
        "X509_VERIFY_PARAM_new": (vp, []),
        "X509_VERIFY_PARAM_free": (None, [vp]),
        "X509_VERIFY_PARAM_set_depth": (None, [vp, i]),
        "X509_VERIFY_PARAM_set_auth_level": (None, [vp, i]),
        "X509_VERIFY_PARAM_set1": (i, [vp, vp]),
        "X509_verify_cert": (i, [vp]),
        "X509_verify_cert_error_string": (ctypes.c_char_p, [lg]),
        "OPENSSL_sk_new_null": (vp, []),
        "OPENSSL_sk_push": (i, [vp, vp]),
        "OPENSSL_sk_num": (i, [vp]),
        "OPENSSL_sk_value": (vp, [vp, i]),
        "OPENSSL_sk_free": (None, [vp]),
        "ERR_clear_error": (None, []),
        "X509_get_subject_name": (vp, [vp]),
        "X509_get_issuer_name": (vp, [vp]),
        "X509_NAME_cmp": (i, [vp, vp]),
        "X509_NAME_print_ex": (i, [vp, vp, i, ul]),
        "BIO_s_mem": (vp, []),
        "BIO_new": (vp, [vp]),
        "BIO_free": (i, [vp]),
        "BIO_ctrl": (lg, [vp, i, lg, vp]),
        "BIO_read": (i, [vp, ctypes.c_char_p, i]),
    }
    for fname, (restype, argtypes) in sig.items():
        try:
            fn = getattr(lib, fname)
        except AttributeError as exc:
            raise LibcryptoUnavailable(
                f"the system libcrypto lacks {fname}: OpenSSL 1.1.1 or newer is required") from exc
        fn.restype = restype
        fn.argtypes = argtypes


def lib() -> ctypes.CDLL:
    """The loaded, bound system libcrypto (raises LibcryptoUnavailable)."""
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                path = _find()
                try:
                    loaded = ctypes.CDLL(path)
                except OSError as exc:
                    # the loader's own reason, e.g. "version `GLIBC_2.38' not found": a library
                    # built for a newer system (mtls_doctor.pki.remote runs it in its own root)
                    raise LibcryptoUnavailable(
                        f"cannot load libcrypto {path}: {exc}; install OpenSSL (Debian: apt-get "
                        f"install libssl3) or fix ${ENV_LIBRARY}") from exc
                _bind(loaded)
                _lib = loaded
    return _lib


def loaded_path() -> str | None:
    """The file of the loaded library (``/proc/self/maps``), or None when it cannot be told."""
    lib()
    wanted = os.path.basename(_find())
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.split(maxsplit=5)[-1].strip() if line.count(" ") >= 5 else ""
                if path.startswith("/") and os.path.basename(path) == wanted:
                    return path
    except OSError:
        return None
    return _find() if os.path.isabs(_find()) else None


def openssl_version() -> str:
    """``OpenSSL_version(OPENSSL_VERSION)``, e.g. "OpenSSL 3.0.19 27 Jan 2026"."""
    global _version
    if _version is None:
        _version = lib().OpenSSL_version(0).decode("ascii", "replace")
    return _version


def error_string(code: int) -> str:
    """``X509_verify_cert_error_string(code)`` of the system library."""
    text = _texts.get(code)
    if text is None:
        text = lib().X509_verify_cert_error_string(code).decode("utf-8", "replace")
        _texts[code] = text
    return text


def default_security_level() -> int:
    """The security level a fresh server SSL_CTX gets from the system libssl (nginx does not
    change it unless ``ssl_ciphers`` carries ``@SECLEVEL``). Debian builds OpenSSL with
    ``OPENSSL_TLS_SECURITY_LEVEL=2``; falls back to 2 if libssl cannot be asked."""
    global _seclevel
    if _seclevel is not None:
        return _seclevel
    level = 2
    try:
        ssl = ctypes.CDLL(_libssl_beside(_find()))
        ssl.TLS_server_method.restype = ctypes.c_void_p
        ssl.SSL_CTX_new.restype = ctypes.c_void_p
        ssl.SSL_CTX_new.argtypes = [ctypes.c_void_p]
        ssl.SSL_CTX_get_security_level.restype = ctypes.c_int
        ssl.SSL_CTX_get_security_level.argtypes = [ctypes.c_void_p]
        ssl.SSL_CTX_free.argtypes = [ctypes.c_void_p]
        ctx = ssl.SSL_CTX_new(ssl.TLS_server_method())
        if ctx:
            level = int(ssl.SSL_CTX_get_security_level(ctx))
            ssl.SSL_CTX_free(ctx)
    except (OSError, AttributeError):
        pass
    _seclevel = level
    return level


def _libssl_beside(libcrypto: str) -> str:
    """The libssl that goes with ``libcrypto``: the file next to it with the same suffix
    (libcrypto.so.1.1 -> libssl.so.1.1), else the system's."""
    folder, name = os.path.split(libcrypto)
    if folder and name.startswith("libcrypto"):
        sibling = os.path.join(folder, "libssl" + name[len("libcrypto"):])
        if os.path.exists(sibling):
            return sibling
    return ctypes.util.find_library("ssl") or "libssl.so.3"


def _d2i(fn, der: bytes, what: str) -> int:
    ptr = ctypes.c_char_p(der)
    obj = fn(None, ctypes.byref(ptr), len(der))
    if not obj:
        lib().ERR_clear_error()
        raise DecodeError(f"libcrypto could not parse this {what} (DER)")
    return obj


def _i2d(x509: int) -> bytes:
    c = lib()
    size = c.i2d_X509(x509, None)
    if size <= 0:
        return b""
    buf = ctypes.create_string_buffer(size)
    out = ctypes.c_void_p(ctypes.addressof(buf))
    c.i2d_X509(x509, ctypes.byref(out))
    return buf.raw[:size]


def _name(c: ctypes.CDLL, name: int, bio: int | None = None) -> str:
    """``X509_NAME_print_ex(..., XN_FLAG_RFC2253)`` as text; ``bio``: a memory BIO to reuse
    (it is reset first), else one is made and freed here."""
    own = bio is None
    if own:
        bio = c.BIO_new(c.BIO_s_mem())
        if not bio:
            raise MemoryError("BIO_new failed")
    try:
        c.BIO_ctrl(bio, _BIO_CTRL_RESET, 0, None)
        if c.X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) < 0:
            return ""
        data = ctypes.c_void_p()
        size = c.BIO_ctrl(bio, _BIO_CTRL_INFO, 0, ctypes.byref(data))  # BIO_get_mem_data
        if size <= 0 or not data.value:
            return ""
        return ctypes.string_at(data.value, size).decode("utf-8", "replace")
    finally:
        if own:
            c.BIO_free(bio)


def _describe(c: ctypes.CDLL, x509: int, der: bytes | None = None,
              bio: int | None = None) -> ChainCert:
    subject, issuer = c.X509_get_subject_name(x509), c.X509_get_issuer_name(x509)
    return ChainCert(der if der is not None else _i2d(x509), _name(c, subject, bio),
                     _name(c, issuer, bio), c.X509_NAME_cmp(subject, issuer) == 0)


def _callback(ok: int, ctx: int) -> int:
    # ngx_ssl_verify_callback(): log and return 1, always (nginx §0). We log into the list of the
    # verification running on this thread.
    try:
        if not ok:
            c = lib()
            events = getattr(_local, "events", None)
            if events is not None:
                cert = c.X509_STORE_CTX_get_current_cert(ctx)
                events.append(Event(
                    depth=int(c.X509_STORE_CTX_get_error_depth(ctx)),
                    error=int(c.X509_STORE_CTX_get_error(ctx)),
                    cert_der=_i2d(cert) if cert else None,
                ))
    except Exception:  # noqa: BLE001 - a callback must never raise into C
        pass
    return 1


_CALLBACK = _VERIFY_CB(_callback)


def _free_store(store: int, params: dict[int, int]) -> None:
    if _lib is not None:
        for vpm in params.values():
            _lib.X509_VERIFY_PARAM_free(vpm)
        if store:
            _lib.X509_STORE_free(store)
    params.clear()


class Store:
    """An X509_STORE holding trust anchors (+ CRLs): nginx's per-server verify store.

    ``certs_der``: every certificate of ssl_client_certificate and ssl_trusted_certificate.
    ``crls_der``: the ssl_crl CRLs; when given, CRL_CHECK|CRL_CHECK_ALL is set (F6.1).
    Reuse one Store for many verifications (as nginx does); ``close()`` frees it.
    """

    def __init__(self, certs_der: Sequence[bytes] = (), crls_der: Sequence[bytes] = (),
                 crl_check: bool | None = None) -> None:
        c = lib()
        store = c.X509_STORE_new()
        if not store:
            raise MemoryError("X509_STORE_new failed")
        self._store = store
        # One X509_VERIFY_PARAM per depth, standing for the SSL's param (only the depth of
        # SSL_CTX_set_verify_depth is set in it); created once, only read afterwards.
        self._params: dict[int, int] = {}
        self._finalizer = weakref.finalize(self, _free_store, store, self._params)
        # The store keeps the very X509 objects added to it, so the chain OpenSSL builds points
        # at them: describe each once here (valid as long as the store lives).
        self._known: dict[int, ChainCert] = {}
        try:
            # Identical certificates are added once: the store would drop (and we would free)
            # the second object, and its address must not stay in _known.
            # Every certificate is parsed first, then added in the same order (the same calls,
            # the same store). OpenSSL 3.0 and 1.1.1 re-sort the store's object stack on each
            # X509_STORE_add_cert: its cost grows with the square of the certificates (4.6 s of
            # 6.2 s at 10,000; 3.5/3.6 do not: bench/bench_verify_trust_scaling.py), as nginx's
            # start does. That sort walks every name: parses interleaved with it scattered the
            # names in memory (10,000 certificates, 3 runs each: 9.2 s -> 6.8 s CPU, noisy).
            parsed: list[tuple[int, bytes]] = []
            try:
                for der in dict.fromkeys(certs_der):
                    parsed.append((_d2i(c.d2i_X509, der, "certificate"), der))
                for x, _der in parsed:
                    c.X509_STORE_add_cert(store, x)  # takes its own reference; duplicates are ok
                for x, der in parsed:
                    self._known[x] = _describe(c, x, der)
            finally:
                for x, _der in parsed:
                    c.X509_free(x)
            for der in crls_der:
                crl = _d2i(c.d2i_X509_CRL, der, "CRL")
                try:
                    c.X509_STORE_add_crl(store, crl)
                finally:
                    c.X509_CRL_free(crl)
            if crl_check if crl_check is not None else bool(crls_der):
                c.X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)
        except BaseException:
            self.close()
            raise
        finally:
            c.ERR_clear_error()

    def close(self) -> None:
        self._finalizer()
        self._store = 0
        self._known = {}

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _param_for(self, depth: int) -> int:
        vpm = self._params.get(depth)
        if vpm is None:
            with _lock:
                vpm = self._params.get(depth)
                if vpm is None:
                    c = lib()
                    vpm = c.X509_VERIFY_PARAM_new()
                    if not vpm:
                        raise MemoryError("X509_VERIFY_PARAM_new failed")
                    c.X509_VERIFY_PARAM_set_depth(vpm, depth)
                    self._params[depth] = vpm
        return vpm

    def verify(self, leaf_der: bytes, chain_der: Sequence[bytes], *, depth: int,
               at: int, security_level: int) -> RawResult:
        """Verify ``leaf_der`` + the ``chain_der`` the client sent, at unix time ``at``."""
        if not self._store:
            raise RuntimeError("this Store is closed")
        c = lib()
        owned: list[int] = []
        owned_der: dict[int, bytes] = {}
        sk = ctx = bio = 0
        events: list[Event] = []
        try:
            leaf = _d2i(c.d2i_X509, leaf_der, "certificate")
            owned.append(leaf)
            owned_der[leaf] = leaf_der
            sk = c.OPENSSL_sk_new_null()
            if not sk:
                raise MemoryError("OPENSSL_sk_new_null failed")
            c.OPENSSL_sk_push(sk, leaf)  # the peer chain as sent, leaf first
            for der in chain_der:
                x = _d2i(c.d2i_X509, der, "certificate")
                owned.append(x)
                owned_der[x] = der
                c.OPENSSL_sk_push(sk, x)
            ctx = c.X509_STORE_CTX_new()
            if not ctx or not c.X509_STORE_CTX_init(ctx, self._store, leaf, sk):
                raise MemoryError("X509_STORE_CTX_init failed")
            param = c.X509_STORE_CTX_get0_param(ctx)
            c.X509_VERIFY_PARAM_set_auth_level(param, security_level)
            c.X509_STORE_CTX_set_default(ctx, b"ssl_client")
            c.X509_VERIFY_PARAM_set1(param, self._param_for(depth))
            c.X509_STORE_CTX_set_verify_cb(ctx, _CALLBACK)
            c.X509_STORE_CTX_set_time(ctx, 0, at)
            _local.events = events
            try:
                returned = int(c.X509_verify_cert(ctx))
            finally:
                _local.events = None
            error = int(c.X509_STORE_CTX_get_error(ctx))
            error_depth = int(c.X509_STORE_CTX_get_error_depth(ctx))
            chain: list[ChainCert] = []
            built = c.X509_STORE_CTX_get1_chain(ctx)
            if built:
                try:
                    for idx in range(c.OPENSSL_sk_num(built)):
                        x = c.OPENSSL_sk_value(built, idx)
                        try:
                            known = self._known.get(x)
                            if known is None:
                                if not bio:
                                    bio = c.BIO_new(c.BIO_s_mem())
                                    if not bio:
                                        raise MemoryError("BIO_new failed")
                                known = _describe(c, x, owned_der.get(x), bio)
                            chain.append(known)
                        finally:
                            c.X509_free(x)  # get1_chain took one reference per certificate
                finally:
                    c.OPENSSL_sk_free(built)
            return RawResult(returned, error, error_depth, tuple(events), tuple(chain))
        finally:
            if ctx:
                c.X509_STORE_CTX_free(ctx)
            if sk:
                c.OPENSSL_sk_free(sk)
            if bio:
                c.BIO_free(bio)
            for x in owned:
                c.X509_free(x)
            c.ERR_clear_error()


__all__ = [
    "ChainCert",
    "DecodeError",
    "Event",
    "LibcryptoUnavailable",
    "RawResult",
    "Store",
    "default_security_level",
    "error_string",
    "lib",
    "openssl_version",
]
