"""Issue 11, defect 4: ``location``/``if`` nested 1,000 deep (nginx -t accepts it) is parsed,
linted, rendered and diagnosed without RecursionError: every walk over the tree is iterative."""

from __future__ import annotations

import json

import pytest

from tests.hardening.conftest import clean, cli
from tests.pki.certs import pki

DEPTH = 1000


def _conf(tmp_path, inner: str) -> str:
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(pki().leaf.pem)
    text = ("events {}\nhttp {\n server {\n  listen 443 ssl;\n  server_name a.test;\n"
            f"  ssl_certificate {leaf};\n  ssl_certificate_key {leaf};\n"
            "  ssl_verify_client optional;\n  ssl on;\n"
            # at the bottom: a header MTLS404 flags (since 7fe35b2 it leaves `return` bodies alone)
            + inner * DEPTH + "  proxy_set_header X-Client-Cert $ssl_client_cert;\n"
            "  proxy_pass http://127.0.0.1:9;\n" + "}\n" * (DEPTH * inner.count("{"))
            + " }\n}\n")
    path = tmp_path / "nginx.conf"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("inner", ["location /a {\n", "location /b {\nif ($x) {\n"],
                         ids=["location", "location-if"])
def test_lint_of_deep_nesting(tmp_path, inner):
    conf = _conf(tmp_path, inner)
    for args in ((), ("--format", "json"), ("--format", "sarif"), ("--diff",)):
        proc = cli("lint", conf, "--nginx-version", "1.22.1", *args)
        clean(proc, 1)
    findings = json.loads(cli("lint", conf, "--format", "json").stdout)["findings"]
    bottom = 10 + DEPTH * inner.count("\n")  # the proxy_set_header line
    assert any(f["rule"] == "MTLS404" and f["location"]["line"] == bottom for f in findings), \
        [(f["rule"], f["location"].get("line")) for f in findings]


def test_verify_and_diagnose_of_deep_nesting(tmp_path):
    conf = _conf(tmp_path, "location /a {\n")
    leaf = tmp_path / "leaf.pem"
    clean(cli("verify", "--config", conf, "--server-name", "a.test", str(leaf)), 0, 1, 2)
    clean(cli("diagnose", "--config", conf, "--no-probe"), 0, 1)


def test_include_bomb_is_one_line(tmp_path):
    """Each file includes the next one twice, 30 deep: 2^30 copies. Expansion is capped
    (parse.MAX_EXPANDED directives): one line, exit 2, instead of a hang."""
    for i in range(30):
        (tmp_path / f"b{i}.conf").write_text(f"include b{i + 1}.conf;\ninclude b{i + 1}.conf;\n")
    (tmp_path / "b30.conf").write_text("server_name x;\n")
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\ninclude b0.conf;\n}\n")
    proc = cli("lint", str(conf))
    clean(proc, 2)
    assert "includes expand to more than" in proc.stderr


def test_inspect_of_a_very_long_chain(tmp_path):
    """A 1,500-certificate chain (each issued by the one before): the chain tree is built and
    printed without recursion; JSON nests at most inspect.MAX_TREE_DEPTH levels."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from mtls_doctor.cli.inspect import MAX_TREE_DEPTH

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    parts, issuer = [], None
    for i in range(1500):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"C{i}")])
        parts.append(x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                     .public_key(key.public_key()).serial_number(i + 1)
                     .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=9))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        issuer = name
    chain = tmp_path / "chain.pem"
    chain.write_bytes(b"".join(parts))
    clean(cli("inspect", str(chain)), 0, 1)
    proc = cli("inspect", str(chain), "--format", "json")
    clean(proc, 0, 1)
    node, depth = json.loads(proc.stdout)["tree"][0], 1
    while node["children"]:
        node, depth = node["children"][0], depth + 1
    assert depth == MAX_TREE_DEPTH and node["children_not_shown"] == 1
