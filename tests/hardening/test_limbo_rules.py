"""Round 2 hardening: x509-limbo certificates that crash lint's rules (and so diagnose).

cryptography parses a certificate's extensions and public key lazily: ``cert.extensions`` raises
(ValueError, DuplicateExtension) on a malformed SAN, an empty EKU, a malformed AIA or a
duplicated extension, and ``cert.public_key()`` raises on an issuer key it cannot decode. OpenSSL
loads these certificates (nginx -t accepts them; verification decides), inspect and verify
report them, but MTLS233 (rules/config/server.py ``server-name-not-in-san``: the SAN of the
served certificate) and the weak-key check of rules/config/ciphers.py (``_weakness``:
``cert.public_key()`` of a CA in the client CA file) call them unguarded: "internal error", exit 2.
Both now take them (a SAN or key cryptography cannot decode is left to verification); these
cases stay as the regression tests of that.
"""

from __future__ import annotations

import pytest

from tests.hardening.conftest import clean, cli
from tests.hardening.test_campaign import LIMBO_RULE_CRASHES, limbo_cases, limbo_files

WHERE = {
    "invalid::invalid-issuer-key": "rules/config/ciphers.py _weakness: cert.public_key()",
    "clientauth-twin::invalid::invalid-issuer-key": "rules/config/ciphers.py _weakness: cert.public_key()",
    "rfc5280::eku::ee-eku-empty": "rules/config/server.py MTLS233: cert.extensions",
    "rfc5280::san::malformed": "rules/config/server.py MTLS233: cert.extensions",
    "rfc5280::duplicate-extensions": "rules/config/server.py MTLS233: cert.extensions",
    "webpki::malformed-aia": "rules/config/server.py MTLS233: cert.extensions",
}


@pytest.mark.parametrize("case_id", sorted(LIMBO_RULE_CRASHES))
def test_lint_and_diagnose_take_a_certificate_cryptography_half_reads(case_id, tmp_path):
    assert WHERE[case_id]  # where it crashed before
    case = next(c for c in limbo_cases() if c["id"] == case_id)
    f = limbo_files(case, tmp_path / "case")
    proc = cli("lint", str(f["nginx.conf"]))
    clean(proc, 0, 1)
    assert "internal error" not in proc.stderr
    proc = cli("diagnose", "--config", str(f["nginx.conf"]), "--cert", str(f["chain.pem"]), "--no-probe")
    clean(proc, 0, 1)
    assert "internal error" not in proc.stderr
