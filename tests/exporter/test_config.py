"""The modules file: what is accepted, and one clear line naming the key for what is not;
the command's --check and its errors (exit 2, one line)."""

from __future__ import annotations

import pytest

from mtls_doctor.cli import main
from mtls_doctor.exporter.config import parse_config, parse_listen
from mtls_doctor.model import InputError


def test_a_full_module_is_read():
    config = parse_config("""
modules:
  api:
    sni: api.example.com
    tls_versions: ["1.2"]
    timeout_seconds: 1.5
    expected_mode: optional_no_ca
    identities:
      - {name: partner, cert: /c.pem, key: /c.key, password_env: PW}
      - {name: p12, pkcs12: /b.p12, password_file: /pw}
allow_targets: ["*.example.com:443"]
local:
  crls: {inter: /crl.pem}
  nginx_config: /etc/nginx/nginx.conf
""")
    api = config.modules["api"]
    assert api.tls_versions == ("1.2",) and api.timeout_seconds == 1.5
    assert [i.name for i in api.identities] == ["partner", "p12"]
    assert api.identities[1].pkcs12 == "/b.p12"
    assert config.local[0].kind == "crl" and config.nginx_config == "/etc/nginx/nginx.conf"
    assert config.allowed("API.example.com", 443) and not config.allowed("example.com", 443)
    assert not config.allowed("a.example.com", 8443)


def test_without_allow_list_every_target_is_allowed_and_on_is_a_string():
    config = parse_config('modules:\n  m:\n    expected_mode: on\n')
    assert config.modules["m"].expected_mode == "on"  # YAML 1.2: `on` is not a boolean
    assert config.allowed("203.0.113.9", 1)


@pytest.mark.parametrize("text, where", [
    ("modules: {}", "modules: no module defined"),
    ("modules:\n  m:\n    timeout: 3\n", "modules.m: unknown key 'timeout'"),
    ("modules:\n  m:\n    timeout_seconds: 0\n", "modules.m.timeout_seconds: expected a number"),
    ("modules:\n  m:\n    tls_versions: ['1.1']\n", "modules.m.tls_versions:"),
    ("modules:\n  m:\n    expected_mode: required\n", "modules.m.expected_mode: 'required' is not one of"),
    ("modules:\n  m:\n    identities: [{name: a}]\n", "modules.m.identities[0]: give exactly one of cert"),
    ("modules:\n  m:\n    identities: [{name: none, cert: /c}]\n", "'none' is reserved"),
    ("modules:\n  m:\n    identities: [{name: a, cert: /c}, {name: a, cert: /d}]\n", "same name"),
    ("modules:\n  m:\n    identities: [{name: 'CN=x, O=y', cert: /c}]\n", "is not a name"),
    ("modules:\n  m:\n    identities: [{name: a, cert: /c, password: s3cret}]\n", "unknown key 'password'"),
    ("modules:\n  m:\n    sni: a\n    no_sni: true\n", "sni and no_sni"),
    ("modules:\n  m: {}\nallow_targets: [example.com]\n", "allow_targets[0]: 'example.com' is not host:port"),
    ("modules:\n  m: {}\nmax_concurrent_probes: 0\n", "max_concurrent_probes"),
    ("modules:\n  m: {}\nlocal:\n  crl: {a: /x}\n", "local: unknown key 'crl'"),
    ("modules: [\n", "not valid YAML"),
])
def test_errors_name_the_key(text, where):
    with pytest.raises(InputError) as info:
        parse_config(text, "m.yaml")
    message = str(info.value)
    assert message.startswith("m.yaml") and where in message and "\n" not in message
    assert "s3cret" not in message


def test_listen_is_host_and_port():
    assert parse_listen("127.0.0.1:9471") == ("127.0.0.1", 9471)
    assert parse_listen("[::1]:9471") == ("::1", 9471)
    for bad in ("9471", "host:", "h:70000", ":1"):
        with pytest.raises(InputError):
            parse_listen(bad)


def test_check_and_errors_from_the_command(tmp_path, capsys):
    good = tmp_path / "m.yaml"
    good.write_text("modules:\n  m: {}\n")
    assert main(["exporter", "--config", str(good), "--check"]) == 0
    assert "valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("modules:\n  m: {timeout_seconds: fast}\n")
    assert main(["exporter", "--config", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "modules.m.timeout_seconds" in err
    assert main(["exporter", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert main(["exporter", "--config", str(good), "--listen", "nowhere"]) == 2
    assert "--listen" in capsys.readouterr().err
