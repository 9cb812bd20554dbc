"""The nginx parser: file:line on every directive, includes as nginx resolves them, `nginx -T`
input, broken configurations as one clear line, and a fuzz test (never a traceback)."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.model import InputError
from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.parse import (
    ConfigSyntaxError,
    DictReader,
    directory_mains,
    load_path,
    parse_dump,
    parse_sources,
    parse_text,
    split_dump,
)


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_every_directive_keeps_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {
        "nginx.conf": "events {}\nhttp {\n    include conf.d/*.conf;\n    include snippets/log.conf;\n}\n",
        "conf.d/b.conf": "server {\n  listen 443 ssl;\n  include snippets/mtls.conf;\n}\n",
        "conf.d/a.conf": "server {\n  listen 8443 ssl;\n}\n",
        "conf.d/skip.txt": "garbage {{{",
        "snippets/mtls.conf": "\n\nssl_verify_client on;\n",
        "snippets/log.conf": "error_log /tmp/x info;\n",
    })
    config = load_path(tmp_path / "nginx.conf")
    http = next(d for d in config.root if d.name == "http")
    servers = http.children("server")
    # glob expands in sorted order (glob(3)), relative to the conf prefix
    assert [Path(s.path).name for s in servers] == ["a.conf", "b.conf"]
    verify = next(d for d in servers[1].walk() if d.name == "ssl_verify_client")
    assert (Path(verify.path).name, verify.line) == ("mtls.conf", 3)
    assert not config.problems
    log = http.children("error_log")[0]
    assert (Path(log.path).name, log.line) == ("log.conf", 1)


def test_include_relative_to_prefix_not_to_including_file(tmp_path: Path) -> None:
    write(tmp_path, {
        "nginx.conf": "http { include conf.d/site.conf; }\n",
        "conf.d/site.conf": "server { include snippets/x.conf; }\n",
        "snippets/x.conf": "ssl_verify_client on;\n",
    })
    config = load_path(tmp_path / "nginx.conf")
    assert not config.problems
    names = [d.name for d in config.walk()]
    assert "ssl_verify_client" in names


def test_missing_include_is_a_problem_and_empty_glob_is_not(tmp_path: Path) -> None:
    write(tmp_path, {"nginx.conf": "http {\n include none/*.conf;\n include absent.conf;\n}\n"})
    config = load_path(tmp_path / "nginx.conf")
    assert [(p.line, "absent.conf" in p.message) for p in config.problems] == [(3, True)]


def test_include_loop_is_bounded() -> None:
    reader = DictReader({"/c/nginx.conf": "include /c/a.conf;\n", "/c/a.conf": "include /c/nginx.conf;\n"})
    config = parse_sources("/c/nginx.conf", reader)
    assert any("loop" in p.message for p in config.problems)


def test_nginx_T_sections_become_files() -> None:
    dump = (
        "# configuration file /etc/nginx/nginx.conf:\n"
        "events {}\nhttp {\n    include /etc/nginx/sites-enabled/*;\n}\n\n"
        "# configuration file /etc/nginx/sites-enabled/default:\n"
        "server {\n    listen 443 ssl;\n    ssl_verify_client optional;\n}\n\n"
    )
    config = parse_dump(dump)
    assert config.main == "/etc/nginx/nginx.conf"
    node = next(d for d in config.walk() if d.name == "ssl_verify_client")
    assert (node.path, node.line) == ("/etc/nginx/sites-enabled/default", 3)
    assert effective(config).servers[0].verify == "optional"


def test_split_dump_ignores_text_before_first_section() -> None:
    assert split_dump("nginx: the configuration file ok\n# configuration file /a:\nx;\n") == {"/a": "x;\n"}


def test_not_a_dump_is_input_error() -> None:
    with pytest.raises(InputError):
        parse_dump("server { listen 80; }\n")


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("events {}\nhttp {\n server {\n", 4, 'expecting "}"'),  # nginx 1.22.1: eof.conf:4
        ("http {\n}\n}\n", 3, 'unexpected "}"'),
        ("events {}\nlisten 80\n", 3, 'expecting ";" or "}"'),  # nginx 1.22.1: eof2.conf:3
        ("a;\n;\n", 2, 'unexpected ";"'),
    ],
)
def test_syntax_errors_are_one_line_with_position(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigSyntaxError) as err:
        parse_text(text, "x.conf")
    assert err.value.line == line and message in str(err.value)
    assert str(err.value).startswith(f"x.conf:{line}: ") and "\n" not in str(err.value)


def test_odd_real_world_syntax_parses() -> None:
    text = r'''
    http {
        map $ssl_client_s_dn $cn { ~CN=(?<cn>[^,]+) $cn; default ""; }
        server {
            listen ${PORT} ssl;
            location / {
                content_by_lua_block { ngx.say("}") }
                if ($http_x = "a;b") { return 403; }
                set $a '{';
            }
        }
    }
    '''
    tree, comments = parse_text(text, "t.conf")
    names = [d.name for d in tree[0].walk()]
    assert "content_by_lua_block" in names and "if" in names and "map" in names


def test_comments_are_kept_by_line() -> None:
    _, comments = parse_text("a; # mtls-doctor: ignore\n# top\n", "t")
    assert comments[("t", 1)].startswith("# mtls-doctor") and ("t", 2) in comments


def test_directory_prefers_nginx_conf(tmp_path: Path) -> None:
    write(tmp_path, {"nginx.conf": "events {}\n", "conf.d/a.conf": "server {}\n"})
    assert [Path(p).name for p in directory_mains(tmp_path)] == ["nginx.conf"]
    (tmp_path / "nginx.conf").unlink()
    assert [Path(p).name for p in directory_mains(tmp_path)] == ["a.conf"]


def test_directory_of_snippets_is_judged_together(tmp_path: Path) -> None:
    from mtls_doctor.nginx.parse import load_directory

    write(tmp_path, {"conf.d/a.conf": "server { listen 443 ssl; server_name a; }\n",
                     "conf.d/b.conf": "server { listen 443 ssl; server_name b; ssl_verify_client on; }\n"})
    (config,) = load_directory(tmp_path / "conf.d")
    e = effective(config)
    assert [s.names for s in e.servers] == [("a",), ("b",)]
    assert e.defaults["*:443"].names == ("a",)  # the first file's server, as in one http block
    assert {Path(s.node.path).name for s in e.servers} == {"a.conf", "b.conf"}


def test_missing_main_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_path(tmp_path / "absent.conf")


NGINXISH = st.text(alphabet=string.ascii_letters + string.digits + " \t\n{};#\"'\\$~^()*.,=/-_", max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(NGINXISH)
def test_fuzz_parser_never_tracebacks(text: str) -> None:
    from mtls_doctor.nginx.lint import lint_config

    try:
        config = parse_sources("/f/nginx.conf", DictReader({"/f/nginx.conf": text}))
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    lint_config(config)  # the rules must survive anything that parses


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([
    "server {", "}", "listen 443 ssl;", "listen 8443 ssl default_server;", "ssl_verify_client optional;",
    "ssl_verify_client on;", "ssl_client_certificate ca.pem;", "ssl_trusted_certificate t.pem;",
    "location / {", "proxy_pass http://a;", "proxy_set_header X-DN $ssl_client_s_dn;",
    "if ($ssl_client_s_dn ~ \"CN=a(\") {", "map $ssl_client_s_dn $x {", "~CN=x 1;", "error_log x warn;",
    "ssl on;", "ssl_ocsp on;", "add_header X $ssl_client_cert;", "http {", "stream {", "return 200;",
]), max_size=40))
def test_fuzz_structured_configs(parts: list[str]) -> None:
    from mtls_doctor.nginx.lint import lint_config

    text = "\n".join(parts)
    try:
        config = parse_sources("/f/nginx.conf", DictReader({"/f/nginx.conf": text}))
    except InputError:
        return
    lint_config(config)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["/etc/nginx/nginx.conf", "/etc/nginx/conf.d/a.conf", "rel.conf", ""]),
                          NGINXISH), max_size=4))
def test_fuzz_nginx_T_input_never_tracebacks(sections) -> None:
    from mtls_doctor.nginx.lint import lint_config

    text = "".join(f"# configuration file {name}:\n{body}\n" for name, body in sections)
    try:
        config = parse_dump(text)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    lint_config(config)
