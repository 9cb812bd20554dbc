"""Issue 11, defects 8 and 9: lint is linear in findings (text output) and in the size of a CA
bundle a config names. Shown by counting work, never by a clock: each configuration source is
split into lines once however many findings point into it (it was split once per finding)."""

from __future__ import annotations

import datetime as dt

from mtls_doctor.cli import console as console_mod
from mtls_doctor.cli.lint import _render_text
from mtls_doctor.model import Report
from mtls_doctor.nginx.lint import lint_config
from mtls_doctor.nginx.parse import DictReader, parse_sources
from mtls_doctor.nginx.version import parse_version

AT = dt.datetime(2026, 11, 28, tzinfo=dt.timezone.utc)


class CountingText(str):
    """A source text that counts how often it is split into lines."""

    splits = 0

    def splitlines(self, *args, **kwargs):  # type: ignore[override]
        CountingText.splits += 1
        return super().splitlines(*args, **kwargs)


def _config(servers: int):
    blocks = "".join(
        f"server {{ listen 127.0.0.1:{8000 + i} ssl; server_name s{i}.test;\n"
        f"  ssl_verify_client optional; ssl on;\n  location / {{ return 200 $ssl_client_cert; }}\n}}\n"
        for i in range(servers))
    text = CountingText("events {}\nhttp {\n" + blocks + "}\n")
    return parse_sources("/etc/nginx/nginx.conf", DictReader({"/etc/nginx/nginx.conf": text}))


def test_text_lint_splits_each_source_once(monkeypatch, capsys):
    config = _config(300)
    report = lint_config(config, AT, parse_version("1.22.1"), None)
    assert len(report.findings) >= 600  # several findings per server block
    console_mod.console.cache_clear()
    monkeypatch.setenv("COLUMNS", "200")
    CountingText.splits = 0
    _render_text(Report("lint", report.findings, {"configs": [report.data]}), [config])
    console_mod.console.cache_clear()
    assert CountingText.splits <= 1, CountingText.splits
    out = capsys.readouterr().out
    assert out.count("MTLS") >= len(report.findings)


def _ca_bundle(n: int) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    out = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CA {i}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(i + 1)
                .not_valid_before(AT - dt.timedelta(days=1)).not_valid_after(AT + dt.timedelta(days=90))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        out.append(cert.public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def test_big_ca_bundle_is_mapped_once(tmp_path, monkeypatch):
    from cryptography import x509

    from mtls_doctor.nginx.effective import effective
    from mtls_doctor.nginx.lint import load_named_files
    from mtls_doctor.nginx.parse import load_path

    certs, servers = 500, 10
    ca = tmp_path / "ca.pem"
    ca.write_bytes(_ca_bundle(certs))
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp {\n" + "".join(
        f"server {{ listen 127.0.0.1:{9000 + i} ssl; server_name s{i}; ssl_verify_client on;"
        f" ssl_client_certificate {ca}; }}\n" for i in range(servers)) + "}\n")
    config = load_path(conf)
    eff = effective(config)
    files = load_named_files(eff)
    calls = [0]
    original = x509.Name.__hash__

    def counting(self):
        calls[0] += 1
        return original(self)

    from mtls_doctor.pki import facts

    named = [0]
    advertised = facts.advertised_ca_names

    def counting_names(certs_):
        named[0] += 1
        return advertised(certs_)

    monkeypatch.setattr(x509.Name, "__hash__", counting)
    monkeypatch.setattr(facts, "advertised_ca_names", counting_names)
    lint_config(config, AT, parse_version("1.22.1"), files, eff=eff)
    # linear: a few hashes per certificate and per server (the quadratic map made
    # servers x certs x certs = 2.5 million here)
    assert calls[0] < 20 * (certs + servers), calls[0]
    # the CA names of the shared file are listed once, not once per server (MTLS208)
    assert named[0] == 1, named[0]
