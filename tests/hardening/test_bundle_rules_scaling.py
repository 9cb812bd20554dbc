"""Issue 11, open item 3: a CA bundle named by many servers is read once per lint run by the
bundle rules (MTLS224 in rules/config/ciphers.py, MTLS211 in rules/config/sni.py), not once per
server: since f1f2756 they cost servers x certificates (100 servers x 10,000 certificates
12.5 s CPU, 1 server 1.9 s). Shown by counting work, never by a clock."""

from __future__ import annotations

import datetime as dt

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import load_path
from mtls_doctor.nginx.version import parse_version
from mtls_doctor.rules.config import ciphers, files as files_rules, sni
from mtls_doctor.rules.config.common import LintContext

AT = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)


def _bundle(n: int, weak_last: bool) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    weak = rsa.generate_private_key(65537, 1024)
    out = []
    for i in range(n):
        k = weak if weak_last and i == n - 1 else key
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CA {i}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(k.public_key()).serial_number(i + 1)
                .not_valid_before(AT - dt.timedelta(days=1)).not_valid_after(AT + dt.timedelta(days=90))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(k, hashes.SHA256()))
        out.append(cert.public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def test_a_shared_bundle_is_judged_once(tmp_path, monkeypatch):
    certs, servers = 300, 20
    ca = tmp_path / "ca.pem"
    ca.write_bytes(_bundle(certs, weak_last=True))  # MTLS224 scans to the last certificate
    other = tmp_path / "other-ca.pem"
    other.write_bytes(_bundle(2, weak_last=False))
    conf = tmp_path / "nginx.conf"
    # on one address: a default server trusting another CA file (MTLS211 for every other one)
    conf.write_text(
        "events {}\nhttp {\n"
        "server { listen 127.0.0.1:9000 ssl default_server; server_name d; ssl_verify_client on;"
        f" ssl_certificate a.pem; ssl_certificate_key a.key; ssl_client_certificate {other}; }}\n"
        + "".join(f"server {{ listen 127.0.0.1:9000 ssl; server_name s{i}; ssl_verify_client on;"
                  f" ssl_certificate a.pem; ssl_certificate_key a.key; ssl_client_certificate {ca}; }}\n"
                  for i in range(servers)) + "}\n")
    config = load_path(conf)
    eff = effective(config)
    loaded = load_named_files(eff)
    calls = {"weakness": 0, "is_ca": 0}
    weakness, is_ca = ciphers._weakness, files_rules._is_ca

    def counting_weakness(*args):
        calls["weakness"] += 1
        return weakness(*args)

    def counting_is_ca(cert):
        calls["is_ca"] += 1
        return is_ca(cert)

    monkeypatch.setattr(ciphers, "_weakness", counting_weakness)
    monkeypatch.setattr(files_rules, "_is_ca", counting_is_ca)
    report = lint_config(config, AT, parse_version("1.22.1"), loaded, eff=eff)
    codes = [f.rule for f in report.findings]
    # every verifying server naming the weak bundle is told, each once
    assert codes.count("MTLS224") == servers, codes
    assert codes.count("MTLS211") == servers, codes
    # the bundle was judged once (+ the 2-certificate one), not once per server
    assert calls["weakness"] <= certs + 2, calls
    assert calls["is_ca"] <= 3 * (certs + 2) + servers, calls  # other rules ask too, per certificate

    # MTLS211: servers naming the same file share one set of fingerprints
    ctx = LintContext(eff, AT, parse_version("1.22.1"), dict(loaded))
    named = [s for s in ctx.servers if s.names and s.names[0].startswith("s")]
    assert len(named) == servers
    first = sni._cas(ctx, named[0])
    assert len(first) == certs and all(sni._cas(ctx, s) is first for s in named)
