"""Fixture tests of the nginx configuration rules (MTLS2xx-4xx).

Each fixture is ``tests/rules/fixtures/config/<CODE>/fire_*.conf`` or ``ok_*.conf``; an offending
line carries ``# expect: MTLSxxx[, MTLSyyy]``. A fixture is linted (with the files it names,
taken from the lab PKI written at ``AT``) and EXACTLY the expected (code, line) pairs must come
out for that file: nothing missing, nothing extra. ``# nginx-version: X.Y.Z`` on the first line
sets the version judged (default: unknown).
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import load_path
from mtls_doctor.nginx.version import parse_version
from tests.rules.cases import RuleCase

FIXTURES = Path(__file__).parent / "fixtures" / "config"
AT = datetime(2026, 11, 28, tzinfo=timezone.utc)
EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
VERSION = re.compile(r"^#\s*nginx-version:\s*(\S+)", re.M)
NGINX_T = re.compile(r"^#\s*nginx-t:", re.M)

CASES = [
    RuleCase(p.parent.name, "fire" if p.name.startswith("fire_") else "ok", f"{p.parent.name}/{p.stem}", p)
    for p in sorted(FIXTURES.glob("MTLS*/*.conf"))
]


def expectations(text: str) -> set[tuple[str, int]]:
    out = set()
    for n, line in enumerate(text.splitlines(), 1):
        m = EXPECT.search(line)
        if m:
            out |= {(code.strip(), n) for code in m.group(1).split(",") if code.strip()}
    return out


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory) -> Path:
    from mtls_doctor.lab.pki import build_lab_pki

    pki = build_lab_pki(AT)
    root = tmp_path_factory.mktemp("lab")
    pki.write(root / "lab")
    d = root / "lab"
    extra = d / "extra"
    extra.mkdir()
    (extra / "ca-first.pem").write_bytes(pki.cas["inter"].cert_pem + pki.server.cert_pem)
    (extra / "unrelated-second.pem").write_bytes(pki.server.cert_pem + pki.cas["other-root"].cert_pem)
    (extra / "crl-expired.pem").write_bytes(pki.crls["root"].pem + pki.crls["inter-expired"].pem)
    # a stale CRL next to the current one of the same CA: OpenSSL uses the current one (F6.1)
    (extra / "crl-stale-and-current.pem").write_bytes(
        pki.crls["root"].pem + pki.crls["inter-expired"].pem + pki.crls["inter"].pem)
    from mtls_doctor.pki.issue import CA

    (extra / "weak-ca.pem").write_bytes(_rsa1024_ca())  # below security level 2 (MTLS224)
    roots = [CA.new(f"Public Root {i:02d}", at=AT) for i in range(60)]  # like a system trust store
    (extra / "many-roots.pem").write_bytes(b"".join(r.cert_pem for r in roots))
    return d


def _rsa1024_ca() -> bytes:
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy rsa1024 client CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(AT - timedelta(days=1)).not_valid_after(AT + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def lint_fixture(path: Path, lab: Path):
    text = path.read_text()
    target = lab / f"{path.parent.name}-{path.name}"
    shutil.copyfile(path, target)
    m = VERSION.search(text)
    version = parse_version(m.group(1)) if m else None
    config = load_path(target)
    files = load_named_files(effective(config))
    oracle = None
    if NGINX_T.search(text):  # MTLS250: nginx -t itself (real nginx) on the fixture
        from mtls_doctor.nginx.oracle import run_oracle
        from tests.conftest import find_nginx

        nginx = find_nginx()
        assert nginx, "the MTLS250 fixtures need a real nginx"
        oracle = run_oracle(config, nginx)
    report = lint_config(config, AT, version, files, oracle=oracle)
    got = {(f.rule, f.location.line) for f in report.findings if f.location.path == str(target)}
    return got, report


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture(case: RuleCase, lab_dir: Path) -> None:
    expected = expectations(case.input.read_text())
    got, report = lint_fixture(case.input, lab_dir)
    assert got == expected, "\n".join(f"{f.rule} {f.location}: {f.message}" for f in report.findings)
    if case.kind == "fire":
        assert any(code == case.code for code, _ in expected), f"{case.id}: fire fixture expects no {case.code}"
    else:
        assert all(code != case.code for code, _ in expected)


def test_every_config_rule_has_fixtures() -> None:
    from mtls_doctor.rules.config import RULES

    codes = {r.code for r in RULES}
    fire = {c.code for c in CASES if c.kind == "fire"}
    ok = {c.code for c in CASES if c.kind == "ok"}
    assert codes <= fire and codes <= ok, sorted(codes - (fire & ok))
