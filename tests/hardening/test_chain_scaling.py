"""Issue 11 #9 (chains): the certificate tree of a bundle is built in time linear in its size.

Cycle cutting walked up from every certificate (quadratic in a deep chain: an 8,000-deep chain
took 10 s of a 15 s inspect); now each certificate is walked once and a cycle (two CAs that
cross-signed each other) is cut once, at its lowest index. The growth itself is measured by
``bench/bench_bundle_scaling.py`` (a benchmark, not a timed test); these tests pin the results."""

from __future__ import annotations

from mtls_doctor.pki.tree import build_tree
from tests.pki.certs import make


def test_a_leaf_under_a_cross_signed_pair_keeps_its_issuer():
    a = make("A", ca=True)
    b = make("B", ca=True)
    a_by_b = make("A", b, ca=True, key=a.key)
    b_by_a = make("B", a, ca=True, key=b.key)
    leaf = make("leaf", a_by_b)
    tree = build_tree([leaf.cert, a_by_b.cert, b_by_a.cert])
    # the cycle A <-> B is cut once, at its lowest index (1); the leaf, which was cut too when
    # its walk met the cycle, keeps its issuer
    assert tree.nodes[0].parent == 1 and tree.nodes[0].issuer_found
    assert tree.nodes[1].parent is None and tree.nodes[2].parent == 1
    assert tree.tops == (1,) and len(tree.depth_first()) == 3


def test_a_deep_chain_links_every_certificate_to_the_one_before():
    made = [make("CA 0", ca=True)]
    for i in range(1, 600):
        made.append(make(f"CA {i}", made[-1], ca=True))
    certs = [m.cert for m in reversed(made)]  # leaf-most first, as a chain file lists them
    tree = build_tree(certs)
    assert tree.tops == (len(certs) - 1,)
    assert all(tree.nodes[i].parent == i + 1 for i in range(len(certs) - 1))
    assert len(tree.depth_first()) == len(certs)
