"""What real nginx does with the input forms lint reads (issue 13), next to what lint says.

- a fragment's relative ``include`` resolves against nginx's conf prefix (the main file's
  directory), not the fragment's own folder;
- a server-level fragment is linted exactly as the server that includes it;
- an envsubst template (rendered as the official nginx image renders it) parses like its
  rendering: same servers, same findings at the same lines;
- ``tcp {}`` of a third-party module is not stock nginx (``unknown directive "tcp"``);
- a missing certificate or CA file fails ``nginx -t``; lint says so once per path.
"""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import load_path
from mtls_doctor.nginx.version import parse_version
from tests.conftest import nginx_argv, nginx_at_hand_version

AT = datetime(2026, 11, 28, tzinfo=timezone.utc)
V = nginx_at_hand_version() or parse_version("1.22.1")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    from mtls_doctor.lab.pki import build_lab_pki

    root = tmp_path_factory.mktemp("inputforms")
    build_lab_pki(AT).write(root / "p")
    return root / "p"


def main_conf(lab: Path, http_body: str, name: str = "nginx.conf", extra: str = "") -> Path:
    temp = lab / "tmp"
    temp.mkdir(exist_ok=True)
    text = (f"pid {lab}/{name}.pid;\nerror_log stderr info;\nevents {{}}\n{extra}http {{\n    access_log off;\n"
            f"    client_body_temp_path {temp}/b;\n    proxy_temp_path {temp}/p;\n    fastcgi_temp_path {temp}/f;\n"
            f"    uwsgi_temp_path {temp}/u;\n    scgi_temp_path {temp}/s;\n{http_body}}}\n")
    path = lab / name
    path.write_text(text)
    return path


def nginx_t(nginx_bin: str, conf: Path) -> subprocess.CompletedProcess:
    return subprocess.run(nginx_argv(nginx_bin, "-t", "-p", str(conf.parent), "-c", str(conf), "-e", "stderr"),
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def rules_at(report, path: Path) -> set[tuple[str, int]]:
    return {(f.rule, f.location.line) for f in report.findings if f.location.path == str(path)}


SITE = """listen 127.0.0.1:18543 ssl;
server_name localhost;
ssl_certificate LAB/server/server.pem;
ssl_certificate_key LAB/server/server.key;
ssl_protocols TLSv1.2 TLSv1.3;
include %s;
location / { return 200 "ok"; }
"""
MTLS = "ssl_verify_client optional;\nssl_client_certificate LAB/bundles/client-ca.pem;\n"


def site(lab: Path, include: str) -> str:
    return (SITE % include).replace("LAB", str(lab))


@pytest.mark.parametrize("written, resolves", [("snippets/mtls.conf", True), ("mtls.conf", False)])
def test_snippet_include_resolves_against_the_conf_prefix(written: str, resolves: bool, lab: Path,
                                                          nginx_bin: str, tmp_path: Path) -> None:
    # /etc/nginx/nginx.conf -> snippets/site.conf -> "include snippets/mtls.conf" (Debian's layout)
    prefix = tmp_path / "etc-nginx"
    (prefix / "snippets").mkdir(parents=True)
    snippet = prefix / "snippets" / "site.conf"
    snippet.write_text(site(lab, written))
    (prefix / "snippets" / "mtls.conf").write_text(MTLS.replace("LAB", str(lab)))
    conf = main_conf(prefix, "    server { include snippets/site.conf; }\n")
    done = nginx_t(nginx_bin, conf)
    assert (done.returncode == 0) == resolves, done.stderr
    config = load_path(snippet)  # the snippet alone: its prefix is the nginx.conf's directory above it
    assert config.prefix == str(prefix)
    report = lint_config(config, AT, V, load_named_files(effective(config)))
    got = rules_at(report, snippet)
    if resolves:
        assert config.problems == () and ("MTLS230", 6) not in got
        assert effective(config).servers[0].verify == "optional"
        assert any(f.rule == "MTLS201" for f in report.findings), report.findings
    else:
        missing = f"{prefix}/mtls.conf"
        assert f'open() "{missing}" failed' in done.stderr
        assert ("MTLS230", 6) in got
        assert [p.message for p in config.problems] == [f'open() "{missing}" failed (no such or unreadable file)']


def test_server_fragment_is_linted_as_the_server_that_includes_it(lab: Path, nginx_bin: str) -> None:
    frag = lab / "frag.conf"
    frag.write_text(site(lab, "x").replace("include x;", MTLS.replace("\n", " ").replace("LAB", str(lab))))
    conf = main_conf(lab, f"    server {{\n        include {frag.name};\n    }}\n", "wrapper.conf")
    assert nginx_t(nginx_bin, conf).returncode == 0
    whole = load_path(conf)
    alone = load_path(frag)
    assert alone.context == "server"
    a = lint_config(alone, AT, V, load_named_files(effective(alone)))
    w = lint_config(whole, AT, V, load_named_files(effective(whole)))
    assert rules_at(a, frag) == rules_at(w, frag)
    assert ("MTLS201", 6) in rules_at(a, frag)


TEMPLATE = """server {
    listen ${LISTEN_ADDR} ssl;
    server_name ${SERVER_NAME};
    ssl_certificate server/server.pem;
    ssl_certificate_key server/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client optional;
    ssl_client_certificate bundles/client-ca.pem;
    proxy_set_header X-Client-Verify $ssl_client_verify;
    proxy_set_header Host $host;
    location / { proxy_pass http://${BACKEND}; }
}
"""


def test_envsubst_template_parses_like_its_rendering(lab: Path, nginx_bin: str) -> None:
    # docker-nginx's 20-envsubst-on-templates.sh: envsubst "$defined_envs" < x.template > x
    (lab / "templates").mkdir(exist_ok=True)
    template = lab / "templates" / "default.conf.template"
    template.write_text(TEMPLATE)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LISTEN_ADDR": "127.0.0.1:18544",
           "SERVER_NAME": "localhost", "BACKEND": "127.0.0.1:9"}
    defined = " ".join(f"${name}" for name in ("LISTEN_ADDR", "SERVER_NAME", "BACKEND"))
    rendered_text = subprocess.run(["envsubst", defined], input=TEMPLATE, capture_output=True, text=True,
                                   env=env, timeout=10, check=True).stdout
    assert "$host" in rendered_text and "${" not in rendered_text
    rendered = lab / "rendered.conf"
    rendered.write_text(rendered_text)
    conf = main_conf(lab, f"    include {rendered.name};\n", "tmpl.conf")
    assert nginx_t(nginx_bin, conf).returncode == 0
    # the template, as lint reads it, next to its rendering as nginx reads it
    t = load_path(template, prefix=str(lab))
    r = load_path(rendered, prefix=str(lab))
    (ts,), (rs,) = effective(t).servers, effective(r).servers
    assert (ts.ssl, ts.verify) == (rs.ssl, rs.verify) == (True, "optional")
    tr = lint_config(t, AT, V, load_named_files(effective(t)))
    rr = lint_config(r, AT, V, load_named_files(effective(r)))
    assert {x for x in rules_at(tr, template) if not x[0].startswith("MTLS29")} == rules_at(rr, rendered)


def test_tcp_block_is_not_stock_nginx_and_lint_names_it(lab: Path, nginx_bin: str) -> None:
    # nginx_tcp_proxy_module's tcp {} (github.com/yaoweibin/nginx_tcp_proxy_module)
    tcp = "tcp {\n    server {\n        listen 127.0.0.1:18545 ssl;\n        ssl_verify_client on;\n    }\n}\n"
    conf = main_conf(lab, "", "tcp.conf", extra=tcp)
    done = nginx_t(nginx_bin, conf)
    assert done.returncode != 0 and 'unknown directive "tcp"' in done.stderr
    report = lint_config(load_path(conf), AT, V)
    assert [(f.rule, f.location.line, f.severity.value) for f in report.findings if f.rule == "MTLS293"] == [
        ("MTLS293", 4, "warning")]


def test_missing_files_fail_nginx_t_and_lint_says_so_once_per_path(lab: Path, nginx_bin: str) -> None:
    servers = "".join(
        f"    server {{\n        listen 127.0.0.1:{18546 + i} ssl;\n        server_name localhost;\n"
        f"        ssl_certificate server/server.pem;\n        ssl_certificate_key server/server.key;\n"
        f"        ssl_verify_client on;\n        ssl_client_certificate bundles/{'absent-ca' if i else 'client-ca'}.pem;\n"
        f"        location / {{ return 200; }}\n    }}\n" for i in range(3))
    conf = main_conf(lab, servers, "missing.conf")
    done = nginx_t(nginx_bin, conf)
    assert done.returncode != 0 and f"{lab}/bundles/absent-ca.pem" in done.stderr, done.stderr
    config = load_path(conf)
    report = lint_config(config, AT, V, load_named_files(effective(config)))
    missing = [f for f in report.findings if f.rule in ("MTLS230", "MTLS294")]
    # one finding for the path two servers name; a warning: client-ca.pem next to it is there
    assert [(f.rule, f.severity.value) for f in missing] == [("MTLS294", "warning")]
    assert "nginx -t would fail" in missing[0].message
