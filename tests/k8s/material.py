"""Lab PKI material for the Kubernetes tests, as the base64 a Secret's ``data`` holds.

Manifests in these tests are written here (never copied): each reproduces a situation from a
public thread cited next to it. ``{CA}``, ``{CRL}``, ``{TLS_CRT}``, ``{TLS_KEY}`` and
``{OTHER_CA}`` in a manifest template are replaced by ``manifest()``.
"""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mtls_doctor.pki.issue import CA, key_pem, pem

NOW = datetime.now(timezone.utc).replace(microsecond=0)  # the lab nginx judges at the real time


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@lru_cache(maxsize=None)
def pki():
    root = CA.new("Lab Root", at=NOW - timedelta(days=1))
    other = CA.new("Other Root", at=NOW - timedelta(days=1))
    server = root.issue("api.example.com", at=NOW - timedelta(days=1), sans=("api.example.com",),
                        eku=(x509.ExtendedKeyUsageOID.SERVER_AUTH,))
    client = root.issue("client", at=NOW - timedelta(days=1))
    crl = root.crl(at=NOW - timedelta(days=1))
    return {"root": root, "other": other, "server": server, "client": client, "crl": crl}


def values() -> dict[str, str]:
    p = pki()
    return {
        "CA": b64(pem(p["root"].cert)),
        "OTHER_CA": b64(pem(p["other"].cert)),
        "CRL": b64(p["crl"].public_bytes(serialization.Encoding.PEM)),
        "TLS_CRT": b64(pem(p["server"].cert)),
        "TLS_KEY": b64(key_pem(p["server"].key)),
        "GARBAGE": b64(b"\x00\x01not a certificate\xff"),
    }


def manifest(template: str) -> str:
    text = template
    for key, value in values().items():
        text = text.replace("{" + key + "}", value)
    return text
