"""Certificate facts, advertised CA names, and the chain tree."""

from __future__ import annotations

import random

from mtls_doctor.pki.facts import advertised_ca_names, ca_names_wire_size, cert_facts
from mtls_doctor.pki.tree import INTERMEDIATE, LEAF, TRUST_ANCHOR, build_tree

from tests.pki.certs import AT, DAY, make, pki


def test_facts_of_a_client_leaf():
    p = pki()
    f = cert_facts(p.leaf.cert, 2, AT)
    assert f.index == 2
    assert f.subject == "CN=client one,O=Test Org"
    assert f.issuer == "CN=Test Client CA,O=Test Org"
    assert (f.is_ca, f.basic_constraints, f.path_length) == (False, True, None)
    assert f.extended_key_usage == ("clientAuth",)
    assert f.key_usage == ("digitalSignature",)
    assert (f.key_type, f.key_bits, f.signature_hash) == ("EC", 256, "sha256")
    assert f.days_left == 365 and f.validity == "valid"
    assert f.authority_key_id == cert_facts(p.inter.cert, 1, AT).subject_key_id
    d = f.to_dict()
    for key in ("subject", "issuer", "not_after", "is_ca", "sha256"):
        assert key in d
    assert len(d["sha256"]) == 64


def test_validity_is_relative_to_at():
    c = make("x", not_before=-2 * DAY, not_after=10 * DAY).cert
    assert cert_facts(c, 0, AT).days_left == 10
    assert cert_facts(c, 0, AT + 11 * DAY).validity == "expired"
    assert cert_facts(c, 0, AT + 11 * DAY).days_left == -1
    assert cert_facts(c, 0, AT - 3 * DAY).validity == "not-yet-valid"


def test_ca_facts_and_server_san():
    p = pki()
    f = cert_facts(p.inter.cert, 0, AT)
    assert (f.is_ca, f.path_length) == (True, 0)
    assert f.key_usage == ("keyCertSign", "cRLSign")
    assert f.extended_key_usage is None
    s = cert_facts(p.server.cert, 0, AT)
    assert s.subject_alt_names == ("DNS:localhost", "IP:127.0.0.1")


def test_advertised_names_file_order_duplicates_skipped():
    p = pki()
    certs = [p.inter.cert, p.root.cert, p.leaf.cert, p.root.cert]
    assert advertised_ca_names(certs) == [
        "CN=Test Client CA,O=Test Org",
        "CN=Test Root CA,O=Test Org",
        "CN=client one,O=Test Org",
    ]
    ders = [c.subject.public_bytes() for c in certs[:3]]
    assert ca_names_wire_size(certs) == 2 + sum(2 + len(d) for d in ders)
    assert ca_names_wire_size([]) == 2


def test_tree_any_order():
    p = pki()
    certs = [p.leaf.cert, p.server.cert, p.inter.cert, p.root.cert]
    for _ in range(5):
        order = certs[:]
        random.Random(len(order)).shuffle(order)
        tree = build_tree(order)
        idx = {c.subject.rfc4514_string(): i for i, c in enumerate(order)}
        root, inter = idx["CN=Test Root CA,O=Test Org"], idx["CN=Test Client CA,O=Test Org"]
        leaf, server = idx["CN=client one,O=Test Org"], idx["CN=localhost"]
        assert tree.tops == (root,)
        assert tree.nodes[root].kind == TRUST_ANCHOR and tree.nodes[root].self_signed
        assert tree.nodes[inter].kind == INTERMEDIATE and tree.nodes[inter].parent == root
        assert tree.nodes[leaf].kind == LEAF and tree.nodes[leaf].parent == inter
        assert tree.nodes[server].parent == root
        walk = tree.depth_first()
        assert walk[0] == (0, root)
        assert sorted(walk) == sorted([(0, root), (1, inter), (2, leaf), (1, server)])
        assert walk.index((2, leaf)) == walk.index((1, inter)) + 1


def test_missing_root_and_name_only_impostor():
    p = pki()
    tree = build_tree([p.inter.cert, p.leaf.cert])
    assert tree.tops == (0,)
    assert not tree.nodes[0].issuer_found and tree.nodes[1].parent == 0
    # Same subject as the real root but another key: a name match is not a link.
    impostor = make("Test Root CA", ca=True, org="Test Org").cert
    tree = build_tree([impostor, p.inter.cert])
    assert tree.nodes[1].parent is None and not tree.nodes[1].issuer_found


def test_duplicates_and_cross_signed_cycle():
    p = pki()
    tree = build_tree([p.root.cert, p.inter.cert, p.root.cert])
    assert tree.nodes[2].duplicate_of == 0 and tree.nodes[1].parent == 0
    # Two CAs that each issued a certificate for the other's name and key: no infinite loop.
    a = make("A", ca=True)
    b = make("B", ca=True)
    a_by_b = make("A", b, ca=True, key=a.key)
    b_by_a = make("B", a, ca=True, key=b.key)
    tree = build_tree([a_by_b.cert, b_by_a.cert])
    assert len(tree.depth_first()) == 2
