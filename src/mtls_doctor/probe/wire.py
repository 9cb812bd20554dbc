"""Read the server's handshake flight from raw bytes: records, messages, the CertificateRequest.

Invariants of this module (the h11 habit: bytes in, data out):
- no I/O, no clock; every function takes bytes and returns data or raises ``WireError``;
- the parse is bounded: it never reads past the bytes it is given and never loops on a length
  it did not check;
- TLS 1.2 handshake messages before ChangeCipherSpec are plaintext and are read as they are;
- TLS 1.3 encrypts everything after ServerHello (RFC 8446 section 5.2). Given this connection's
  ``SERVER_HANDSHAKE_TRAFFIC_SECRET`` (OpenSSL's keylog callback) the server's handshake flight
  is decrypted here with the record protection of RFC 8446 section 5.3 and 7.3, so that the
  CertificateRequest's ``signature_algorithms`` and ``certificate_authorities`` extensions are
  read from the message itself rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTENT_CCS = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPDATA = 23

HS_SERVER_HELLO = 2
HS_CERTIFICATE = 11
HS_CERTIFICATE_REQUEST = 13
HS_FINISHED = 20

EXT_SIGNATURE_ALGORITHMS = 13
EXT_CERTIFICATE_AUTHORITIES = 47

#: RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

SIGNATURE_SCHEMES = {
    0x0201: "rsa_pkcs1_sha1", 0x0202: "dsa_sha1", 0x0203: "ecdsa_sha1",
    0x0301: "rsa_pkcs1_sha224", 0x0302: "dsa_sha224", 0x0303: "ecdsa_sha224",
    0x0401: "rsa_pkcs1_sha256", 0x0402: "dsa_sha256", 0x0403: "ecdsa_secp256r1_sha256",
    0x0501: "rsa_pkcs1_sha384", 0x0502: "dsa_sha384", 0x0503: "ecdsa_secp384r1_sha384",
    0x0601: "rsa_pkcs1_sha512", 0x0602: "dsa_sha512", 0x0603: "ecdsa_secp521r1_sha512",
    0x0804: "rsa_pss_rsae_sha256", 0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
    0x0807: "ed25519", 0x0808: "ed448",
    0x0809: "rsa_pss_pss_sha256", 0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
    0x081A: "ecdsa_brainpoolP256r1tls13_sha256", 0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
    0x081C: "ecdsa_brainpoolP512r1tls13_sha512",
    0x0904: "mldsa44", 0x0905: "mldsa65", 0x0906: "mldsa87",
}

CERTIFICATE_TYPES = {
    1: "rsa_sign", 2: "dss_sign", 3: "rsa_fixed_dh", 4: "dss_fixed_dh",
    64: "ecdsa_sign", 65: "rsa_fixed_ecdh", 66: "ecdsa_fixed_ecdh",
}

#: TLS 1.3 cipher suites: (key length, hash name); the AEAD is picked in ``_aead``
TLS13_SUITES = {0x1301: (16, "sha256"), 0x1302: (32, "sha384"), 0x1303: (32, "sha256")}


class WireError(ValueError):
    """The bytes are not the TLS the parser expected (truncated, malformed, not TLS)."""


@dataclass(frozen=True)
class ParsedRequest:
    """The fields of a CertificateRequest message, names still DER."""

    ca_names_der: tuple[bytes, ...]
    signature_algorithms: tuple[str, ...] | None
    certificate_types: tuple[str, ...] | None


@dataclass(frozen=True)
class ServerFlight:
    """What the raw server bytes showed: the ServerHello suite and the handshake messages."""

    is_tls: bool
    cipher_suite: int | None
    messages: tuple[tuple[int, bytes], ...]  # (type, body) in order, as far as readable
    encrypted_unread: bool  # TLS 1.3 records were present but could not be decrypted

    def find(self, msg_type: int) -> bytes | None:
        for kind, body in self.messages:
            if kind == msg_type:
                return body
        return None


def looks_like_tls(data: bytes) -> bool:
    """True when the first bytes can be a TLS record (handshake or alert, version 3.x)."""
    if len(data) < 3:
        return len(data) > 0 and data[0] in (CONTENT_HANDSHAKE, CONTENT_ALERT)
    return data[0] in (CONTENT_HANDSHAKE, CONTENT_ALERT) and data[1] == 3 and data[2] <= 4


def records(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """Split into (content type, header, fragment); a truncated last record is dropped."""
    out: list[tuple[int, bytes, bytes]] = []
    pos = 0
    while pos + 5 <= len(data):
        header = data[pos : pos + 5]
        length = int.from_bytes(header[3:5], "big")
        if length > 18432:  # 2^14 + 2048 (RFC 8446 5.2); anything bigger is not TLS
            raise WireError("record longer than TLS allows")
        if pos + 5 + length > len(data):
            break
        out.append((header[0], header, data[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    return out


def _messages(stream: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(stream):
        kind = stream[pos]
        length = int.from_bytes(stream[pos + 1 : pos + 4], "big")
        if pos + 4 + length > len(stream):
            break
        out.append((kind, stream[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


def server_flight(data: bytes, server_hs_secret: bytes | None = None) -> ServerFlight:
    """Read the server's handshake messages from the bytes it sent (in order)."""
    return flight(data, server_hs_secret)


def flight(
    data: bytes, hs_secret: bytes | None = None, suite: int | None = None,
    tls13: bool | None = None,
) -> ServerFlight:
    """Read one side's handshake messages. For the server side, the version and suite come
    from its ServerHello; for the client side pass the ``suite`` and ``tls13`` the server chose.
    Never raises: unreadable bytes give fewer messages (``is_tls`` False when not TLS at all)."""
    if not data or not looks_like_tls(data):
        return ServerFlight(False, None, (), False)
    try:
        return _flight(data, hs_secret, suite, tls13)
    except (WireError, ValueError, IndexError):
        # a malformed message deep inside (a truncated extension, say) must not escape the
        # promise above: the flight is TLS, and nothing of it could be read reliably
        return ServerFlight(True, suite, (), False)


def _flight(data: bytes, hs_secret: bytes | None, suite: int | None,
            tls13: bool | None) -> ServerFlight:
    try:
        parts = records(data)
    except WireError:
        return ServerFlight(True, suite, (), False)
    plain = bytearray()
    encrypted: list[tuple[bytes, bytes]] = []
    for kind, header, fragment in parts:
        if kind == CONTENT_HANDSHAKE and not encrypted:
            plain += fragment
        elif kind == CONTENT_APPDATA:
            encrypted.append((header, fragment))
        elif kind == CONTENT_CCS:
            if tls13 is None:
                tls13 = _is_tls13(plain)
            if not tls13:
                break  # TLS 1.2: what follows ChangeCipherSpec is encrypted
    messages = _messages(bytes(plain))
    for kind, body in messages:
        if kind == HS_SERVER_HELLO:
            parsed = _server_hello_suite(body)
            if parsed is not None:
                suite = parsed
    unread = False
    if encrypted:
        decrypted = None
        if hs_secret is not None and suite in TLS13_SUITES:
            try:
                decrypted = _decrypt_flight(encrypted, suite, hs_secret)
            except (WireError, ValueError):
                decrypted = None
        if decrypted is None:
            unread = True
        else:
            messages += _messages(decrypted)
    return ServerFlight(True, suite, tuple(messages), unread)


def certificate_count(body: bytes, tls13: bool) -> int:
    """How many certificates a Certificate message (RFC 5246 7.4.2 / RFC 8446 4.4.2) holds."""
    pos = 0
    if tls13:
        _, pos = _vector(body, 0, 1)  # certificate_request_context
    if pos + 3 > len(body):
        raise WireError("Certificate truncated")
    end = pos + 3 + int.from_bytes(body[pos : pos + 3], "big")
    if end > len(body):
        raise WireError("certificate_list truncated")
    pos += 3
    count = 0
    while pos < end:
        if pos + 3 > end:
            raise WireError("certificate entry truncated")
        pos += 3 + int.from_bytes(body[pos : pos + 3], "big")
        if tls13:
            _, pos = _vector(body, pos, 2)  # per-entry extensions
        count += 1
    return count


def _is_tls13(plain: bytearray) -> bool:
    for kind, body in _messages(bytes(plain)):
        if kind == HS_SERVER_HELLO and _supported_version(body) == 0x0304:
            return True
    return False


def _server_hello_fields(body: bytes) -> tuple[bytes, int, bytes]:
    """(random, cipher suite, extensions block) of a ServerHello."""
    if len(body) < 38:
        raise WireError("ServerHello too short")
    random = body[2:34]
    sid_len = body[34]
    pos = 35 + sid_len
    if pos + 3 > len(body):
        raise WireError("ServerHello truncated")
    suite = int.from_bytes(body[pos : pos + 2], "big")
    pos += 3  # cipher suite + compression method
    ext = b""
    if pos + 2 <= len(body):
        ext_len = int.from_bytes(body[pos : pos + 2], "big")
        ext = body[pos + 2 : pos + 2 + ext_len]
    return random, suite, ext


def _server_hello_suite(body: bytes) -> int | None:
    try:
        random, suite, _ = _server_hello_fields(body)
    except WireError:
        return None
    return None if random == HRR_RANDOM else suite


def _supported_version(body: bytes) -> int | None:
    try:
        _, _, ext = _server_hello_fields(body)
        extensions = _extensions(ext)
    except WireError:  # e.g. a truncated supported_versions: no version can be read
        return None
    for ext_type, data in extensions:
        if ext_type == 43 and len(data) == 2:  # supported_versions
            return int.from_bytes(data, "big")
    return None


def _extensions(block: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos + 4 <= len(block):
        ext_type = int.from_bytes(block[pos : pos + 2], "big")
        length = int.from_bytes(block[pos + 2 : pos + 4], "big")
        if pos + 4 + length > len(block):
            raise WireError("extension truncated")
        out.append((ext_type, block[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    return out


def _vector(data: bytes, pos: int, width: int) -> tuple[bytes, int]:
    if pos + width > len(data):
        raise WireError("vector length truncated")
    length = int.from_bytes(data[pos : pos + width], "big")
    end = pos + width + length
    if end > len(data):
        raise WireError("vector truncated")
    return data[pos + width : end], end


def _sigalgs(data: bytes) -> tuple[str, ...]:
    if len(data) % 2:
        raise WireError("odd signature_algorithms length")
    codes = (int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    return tuple(SIGNATURE_SCHEMES.get(c, f"0x{c:04x}") for c in codes)


def _dn_list(data: bytes) -> tuple[bytes, ...]:
    names = []
    pos = 0
    while pos < len(data):
        name, pos = _vector(data, pos, 2)
        names.append(name)
    return tuple(names)


def parse_certificate_request(body: bytes, tls13: bool) -> ParsedRequest:
    """Parse a CertificateRequest body (RFC 5246 7.4.4 or RFC 8446 4.3.2)."""
    if tls13:
        _, pos = _vector(body, 0, 1)  # certificate_request_context
        ext_block, _ = _vector(body, pos, 2)
        sigalgs: tuple[str, ...] | None = None
        names: tuple[bytes, ...] = ()  # extension absent = no CA names (F1.4)
        for ext_type, data in _extensions(ext_block):
            if ext_type == EXT_SIGNATURE_ALGORITHMS:
                sigalgs = _sigalgs(_vector(data, 0, 2)[0])
            elif ext_type == EXT_CERTIFICATE_AUTHORITIES:
                names = _dn_list(_vector(data, 0, 2)[0])
        return ParsedRequest(names, sigalgs, None)
    types, pos = _vector(body, 0, 1)
    algs, pos = _vector(body, pos, 2)
    dns, _ = _vector(body, pos, 2)
    return ParsedRequest(
        _dn_list(dns),
        _sigalgs(algs),
        tuple(CERTIFICATE_TYPES.get(t, str(t)) for t in types),
    )


# --- TLS 1.3 record protection (RFC 8446 7.1, 7.3, 5.2) --------------------------------------


def _hkdf_expand_label(secret: bytes, label: bytes, length: int, hash_name: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

    full = b"tls13 " + label
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    algorithm = hashes.SHA256() if hash_name == "sha256" else hashes.SHA384()
    return HKDFExpand(algorithm, length, info).derive(secret)


def _aead(suite: int, key: bytes):
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    return ChaCha20Poly1305(key) if suite == 0x1303 else AESGCM(key)


def _decrypt_flight(
    encrypted: list[tuple[bytes, bytes]], suite: int, secret: bytes
) -> bytes:
    """The server's decrypted handshake bytes up to and including its Finished."""
    from cryptography.exceptions import InvalidTag

    key_len, hash_name = TLS13_SUITES[suite]
    key = _hkdf_expand_label(secret, b"key", key_len, hash_name)
    iv = _hkdf_expand_label(secret, b"iv", 12, hash_name)
    aead = _aead(suite, key)
    out = bytearray()
    for seq, (header, fragment) in enumerate(encrypted):
        nonce = bytes(a ^ b for a, b in zip(iv, seq.to_bytes(12, "big")))
        try:
            inner = aead.decrypt(nonce, fragment, header)
        except InvalidTag as exc:
            raise WireError("record did not decrypt with the handshake secret") from exc
        inner = inner.rstrip(b"\x00")
        if not inner:
            raise WireError("empty inner plaintext")
        if inner[-1] == CONTENT_HANDSHAKE:
            out += inner[:-1]
            if any(kind == HS_FINISHED for kind, _ in _messages(bytes(out))):
                break  # later records use the application traffic keys
        elif inner[-1] == CONTENT_ALERT:
            break
    return bytes(out)


# --- DER distinguished names -> RFC 4514 ------------------------------------------------------


def _der(data: bytes, pos: int) -> tuple[int, bytes, int]:
    if pos + 2 > len(data):
        raise WireError("DER truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise WireError("bad DER length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise WireError("DER value truncated")
    return tag, data[pos : pos + length], pos + length


def _oid(raw: bytes) -> str:
    if not raw:
        raise WireError("empty OID")
    parts = [min(raw[0] // 40, 2), raw[0] - 40 * min(raw[0] // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1A: "ascii",
                0x12: "ascii", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def dn_to_rfc4514(der_name: bytes) -> str:
    """RFC 4514 text of a DER Name, as ``cryptography``'s ``Name.rfc4514_string()`` gives it."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    try:
        tag, body, _ = _der(der_name, 0)
        if tag != 0x30:
            raise WireError("Name is not a SEQUENCE")
        rdns = []
        pos = 0
        while pos < len(body):
            tag, rdn_body, pos = _der(body, pos)
            attrs = []
            apos = 0
            while apos < len(rdn_body):
                _, atv, apos = _der(rdn_body, apos)
                otag, oid_raw, vpos = _der(atv, 0)
                vtag, value_raw, _ = _der(atv, vpos)
                encoding = _STRING_TAGS.get(vtag)
                if otag != 0x06 or encoding is None:
                    raise WireError("unsupported attribute")
                value = value_raw.decode(encoding)
                attrs.append(_name_attribute(ObjectIdentifier(_oid(oid_raw)), value, vtag))
            rdns.append(x509.RelativeDistinguishedName(attrs))
        return x509.Name(rdns).rfc4514_string()
    except (WireError, ValueError, UnicodeDecodeError):
        # not representable by cryptography: RFC 4514 section 2.4 hex form of the whole value
        return "#" + der_name.hex()


def _name_attribute(oid, value: str, tag: int):
    from cryptography import x509

    try:
        from cryptography.x509.name import _ASN1Type

        return x509.NameAttribute(oid, value, _type=_ASN1Type(tag))
    except (ImportError, ValueError, TypeError):
        return x509.NameAttribute(oid, value)
