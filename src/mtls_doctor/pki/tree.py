"""Arrange certificates as trees: trust anchor -> intermediates -> leaves.

Invariants of this module:
- pure: certificates in, a frozen ``Tree`` out; no I/O, no clock;
- "self-signed" follows OpenSSL: subject == issuer and the key identifiers agree (the
  anchor's own signature is not checked, as OpenSSL does not check it either);
- an issuer link is made only when the issuer's subject equals the certificate's issuer name,
  the key identifiers do not contradict each other (AKI keyIdentifier == issuer SKI when both
  are present), and the issuer's public key verifies the certificate's signature
  (``verify_directly_issued_by``); a name match whose signature fails is not a link;
- a certificate that appears twice (same DER) is linked under the first copy's parent and marked
  ``duplicate_of``; nothing ever links to a duplicate;
- the result never has cycles (cross-signed pairs are cut at the certificate seen first).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

TRUST_ANCHOR = "trust-anchor"  # self-signed CA: what nginx's trust store must end in (F3.4)
INTERMEDIATE = "intermediate"
LEAF = "leaf"


@dataclass(frozen=True)
class Node:
    index: int
    kind: str  # TRUST_ANCHOR, INTERMEDIATE or LEAF
    parent: int | None  # index of the issuer in the same list, confirmed by signature
    children: tuple[int, ...]
    self_signed: bool
    #: False when the issuer is not in the list (and the certificate is not self-signed)
    issuer_found: bool
    duplicate_of: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "kind": self.kind,
            "parent": self.parent,
            "children": list(self.children),
            "self_signed": self.self_signed,
            "issuer_found": self.issuer_found,
            "duplicate_of": self.duplicate_of,
        }


@dataclass(frozen=True)
class Tree:
    nodes: tuple[Node, ...]
    #: indexes of the top-level certificates (trust anchors, and those whose issuer is absent)
    tops: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"tops": list(self.tops), "nodes": [n.to_dict() for n in self.nodes]}

    def depth_first(self) -> list[tuple[int, int]]:
        """(depth, index) pairs in display order: each top, then its subtree."""
        out: list[tuple[int, int]] = []
        stack = [(0, top) for top in reversed(self.tops)]  # no recursion: chains may be long
        while stack:
            depth, i = stack.pop()
            out.append((depth, i))
            stack.extend((depth + 1, c) for c in reversed(self.nodes[i].children))
        return out


def _ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> Any:
    try:
        return cert.extensions.get_extension_for_oid(oid).value
    except Exception:
        return None


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s name matches and its key verifies ``cert``'s signature."""
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except ValueError:
        # cryptography refuses some algorithms here (e.g. SHA-1 in its Rust verifier) though
        # OpenSSL still builds chains with them; check the signature by hand then.
        return cert.issuer == issuer.subject and _verify_by_hand(cert, issuer)
    except Exception:  # InvalidSignature, TypeError (unsupported key type)
        return False


def _verify_by_hand(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa

    try:
        key = issuer.public_key()
        algo = cert.signature_hash_algorithm
        if algo is None:
            return False
        if isinstance(key, rsa.RSAPublicKey):
            params = cert.signature_algorithm_parameters
            pad = params if isinstance(params, padding.PSS) else padding.PKCS1v15()
            key.verify(cert.signature, cert.tbs_certificate_bytes, pad, algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algo))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, algo)
        else:
            return False
        return True
    except Exception:
        return False


def _is_ca(cert: x509.Certificate) -> bool:
    bc = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    if bc is not None:
        return bool(bc.ca)
    return cert.version == x509.Version.v1 and cert.subject == cert.issuer


def build_tree(certs: Sequence[x509.Certificate]) -> Tree:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _build(certs)


def _build(certs: Sequence[x509.Certificate]) -> Tree:
    n = len(certs)
    ders = [c.public_bytes(Encoding.DER) for c in certs]
    first_copy: dict[bytes, int] = {}
    duplicate_of: list[int | None] = []
    for i, der in enumerate(ders):
        duplicate_of.append(first_copy.get(der))
        first_copy.setdefault(der, i)

    by_subject: dict[bytes, list[int]] = {}
    for i, c in enumerate(certs):
        if duplicate_of[i] is None:
            by_subject.setdefault(c.subject.public_bytes(), []).append(i)
    skis = []
    for c in certs:
        ski = _ext(c, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
        skis.append(ski.digest if ski is not None else None)

    self_signed = [False] * n
    parent: list[int | None] = [None] * n
    for i, c in enumerate(certs):
        if duplicate_of[i] is not None:
            continue
        aki = _ext(c, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        aki_id = aki.key_identifier if aki is not None else None
        if c.subject == c.issuer and (aki_id is None or skis[i] is None or aki_id == skis[i]):
            # OpenSSL's notion (x509v3_cache_extensions -> EXFLAG_SS): self-issued with
            # consistent key identifiers; it does not check a trust anchor's own signature.
            self_signed[i] = True
            continue
        for j in by_subject.get(c.issuer.public_bytes(), ()):
            if j == i:
                continue
            if aki_id is not None and skis[j] is not None and aki_id != skis[j]:
                continue
            if signed_by(c, certs[j]):
                parent[i] = j
                break
    for i in range(n):
        d = duplicate_of[i]
        if d is not None:
            self_signed[i] = self_signed[d]
            parent[i] = parent[d]

    # Cut cycles (cross-signed certificates issue each other): every node has one parent, so
    # each connected part holds at most one cycle; walk up once from each node not yet seen and
    # cut the cycle a walk closes at its lowest index. Each node is walked once: linear (one
    # walk per node was quadratic in a deep chain: a 8,000-certificate chain took 10 s).
    state = [0] * n  # 0 not seen, 1 on the current walk, 2 done
    for i in range(n):
        if state[i]:
            continue
        path = []
        j: int | None = i
        while j is not None and state[j] == 0:
            state[j] = 1
            path.append(j)
            j = parent[j]
        if j is not None and state[j] == 1:
            parent[min(path[path.index(j):])] = None
        for k in path:
            state[k] = 2

    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p is not None:
            children[p].append(i)
    nodes = []
    for i, c in enumerate(certs):
        if self_signed[i] and _is_ca(c):
            kind = TRUST_ANCHOR
        elif _is_ca(c):
            kind = INTERMEDIATE
        else:
            kind = LEAF
        nodes.append(
            Node(
                index=i,
                kind=kind,
                parent=parent[i],
                children=tuple(children[i]),
                self_signed=self_signed[i],
                issuer_found=self_signed[i] or parent[i] is not None,
                duplicate_of=duplicate_of[i],
            )
        )
    tops = tuple(i for i in range(n) if parent[i] is None)
    return Tree(tuple(nodes), tops)


__all__ = ["Node", "Tree", "build_tree", "signed_by", "TRUST_ANCHOR", "INTERMEDIATE", "LEAF"]
