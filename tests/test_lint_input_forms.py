"""`lint` on every input form (issue 13): fragments at each level, templates, nginx config in
YAML, zero servers, unknown module blocks, missing files once per path, the versions assumed.

The patterns come from public repositories (each cited where it is used); every input here is
our own. Claims about what nginx does with these inputs are tested against real nginx in
tests/nginx/test_input_forms_nginx.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.lint import lint_config, load_named_files
from mtls_doctor.nginx.parse import DictReader, detect_context, load_path, parse_sources
from mtls_doctor.nginx.templates import Role, neutralize
from mtls_doctor.nginx.version import parse_version

AT = datetime(2026, 11, 28, tzinfo=timezone.utc)
V = parse_version("1.22.1")


def lint_text(text: str, path: str = "/cfg/x.conf", context: str | None = None, files=None):
    config = parse_sources(path, DictReader({path: text}), context=context)
    return config, lint_config(config, AT, V, files)


def codes(report) -> list[tuple[str, int | None]]:
    return sorted((f.rule, f.location.line) for f in report.findings)


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "mtls_doctor", "lint", *args], capture_output=True,
                          text=True, input=stdin, timeout=60, env=env)


# --------------------------------------------------------------------------- fragments

SERVER_FRAGMENT = """\
listen 443 ssl;
ssl_certificate /etc/nginx/tls/server.pem;
ssl_certificate_key /etc/nginx/tls/server.key;
ssl_protocols TLSv1.2 TLSv1.3;
ssl_verify_client optional;
ssl_client_certificate /etc/nginx/tls/ca.pem;
location / { proxy_pass http://app; }
"""


@pytest.mark.parametrize("text, level", [
    ("server { listen 443 ssl; server_name a; }\n", "http"),  # conf.d/*.conf
    (SERVER_FRAGMENT, "server"),  # sites snippet included inside server {}
    ("if ($ssl_client_verify != SUCCESS) { return 403; }\nproxy_pass http://app;\n", "location"),
    ("server { listen 9443 ssl; proxy_pass 127.0.0.1:9000; }\n", "stream"),  # streams.d/*.conf
    ("ssl_protocols TLSv1.2 TLSv1.3;\nssl_verify_client on;\n", "server"),  # ssl-params.conf
    ("events {}\nhttp { server { listen 80; } }\n", "main"),
    ("", "main"),
])
def test_fragment_level_is_detected(text: str, level: str) -> None:
    config, _ = lint_text(text)
    assert config.context == level
    if level != "main":
        assert detect_context(parse_sources("/f", DictReader({"/f": text}), context="main").root) == level


def test_server_fragment_is_analysed_as_a_tls_server() -> None:
    # the issue's case: a server-level fragment gave "0 server blocks", "Findings: none", exit 0
    config, report = lint_text(SERVER_FRAGMENT)
    (server,) = effective(config).servers
    assert server.ssl and server.verify == "optional"
    assert ("MTLS201", 5) in codes(report)
    assert all(f.location.line for f in report.findings)  # nothing at the synthetic wrapper


def test_location_fragment_checking_verify_is_clean_and_one_forwarding_identity_is_not_blamed() -> None:
    # a location snippet that checks $ssl_client_verify is wrapped in a server that requests
    # certificates: no "never requests a client certificate" about a server it does not hold
    _, report = lint_text("if ($ssl_client_verify != SUCCESS) { return 403; }\n"
                          "proxy_set_header X-Client-DN $ssl_client_s_dn;\nproxy_pass http://app;\n")
    assert [f for f in report.findings if f.rule == "MTLS403"] == []


def test_context_option_forces_the_level() -> None:
    text = "ssl_verify_client optional;\nssl_client_certificate /ca.pem;\nlocation / { root /srv; }\n"
    config, report = lint_text(text, context="server")
    assert config.context == "server" and ("MTLS201", 1) in codes(report)
    with pytest.raises(Exception, match="--context"):
        lint_text(text, context="tcp")


def test_relative_include_of_a_snippet_resolves_against_the_main_files_directory(tmp_path: Path) -> None:
    # /etc/nginx/snippets/site.conf includes "snippets/mtls.conf": relative to /etc/nginx (the
    # conf prefix), not to snippets/ (proven against nginx in tests/nginx/test_input_forms_nginx.py)
    (tmp_path / "nginx.conf").write_text("events {}\nhttp { server { include snippets/site.conf; } }\n")
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "site.conf").write_text("listen 443 ssl;\ninclude snippets/mtls.conf;\n"
                                                     "location / { root /srv; }\n")
    (tmp_path / "snippets" / "mtls.conf").write_text("ssl_verify_client optional;\nssl_client_certificate ca.pem;\n")
    config = load_path(tmp_path / "snippets" / "site.conf")
    assert config.prefix == str(tmp_path) and config.problems == ()
    assert effective(config).servers[0].verify == "optional"
    # --prefix wins; a wrong one leaves the include unresolved (MTLS230, as nginx -t fails)
    wrong = load_path(tmp_path / "snippets" / "site.conf", prefix=str(tmp_path / "snippets"))
    assert [p.message for p in wrong.problems] == [
        f'open() "{tmp_path}/snippets/snippets/mtls.conf" failed (no such or unreadable file)']


# --------------------------------------------------------------------------- templates

ENVSUBST = """\
server {
    listen ${LISTEN_ADDR} ssl;
    server_name ${SERVER_NAME};
    ssl_certificate /etc/nginx/certs/server.pem;
    ssl_certificate_key /etc/nginx/certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate /etc/nginx/certs/ca.pem;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Port $NGINX_PORT;
    location / { proxy_pass http://${BACKEND}:8080; }
}
"""


def test_envsubst_placeholders_are_values_and_nginx_variables_stay() -> None:
    # docker-nginx: /etc/nginx/templates/*.template rendered by envsubst with the defined
    # variables only (https://github.com/nginxinc/docker-nginx, 20-envsubst-on-templates.sh)
    config, report = lint_text(ENVSUBST, "/etc/nginx/templates/default.conf.template")
    (server,) = effective(config).servers
    assert server.ssl, "listen ${LISTEN_ADDR} ssl is a TLS listener"
    assert server.listens[0].node.args == ("${LISTEN_ADDR}", "ssl")
    found = {p.text for p in config.templates[config.main]}
    assert found == {"${LISTEN_ADDR}", "${SERVER_NAME}", "$NGINX_PORT", "${BACKEND}"}  # not $host
    assert [f for f in report.findings if f.rule == "MTLS290"] == []  # verification is literal


def test_placeholder_in_verification_is_a_hazard_and_mode_verdicts_on_that_server_are_dropped() -> None:
    text = ENVSUBST.replace("ssl_verify_client on;", "ssl_verify_client ${CLIENT_VERIFY};").replace(
        "ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols SSLv3 TLSv1.2;")
    config, report = lint_text(text, "/t/default.conf.template")
    # MTLS205 (CA without verification) would be a guess; the weak protocol is not about the mode
    assert codes(report) == [("MTLS221", 6), ("MTLS222", 6), ("MTLS290", 7)]


def test_envsubst_hazards_defaults_and_eaten_nginx_variables() -> None:
    # plain `envsubst < f` (no variable list) empties $ssl_client_verify; envsubst has no ${X:-d}
    # (pattern of cisagov/FLAREclient-UI docker/nginx.conf.tpl)
    text = ENVSUBST.replace("ssl_verify_client on;", "ssl_verify_client ${VERIFY:-on};").replace(
        "proxy_set_header X-Port $NGINX_PORT;", "proxy_set_header X-DN $ssl_client_s_dn;")
    _, report = lint_text(text, "/t/nginx.conf.tpl")
    found = {(f.location.line, f.severity.value): f.message for f in report.findings if f.rule == "MTLS290"}
    assert set(found) == {(7, "warning"), (10, "info")}
    assert "no shell defaults" in found[(7, "warning")] and "empty string" in found[(10, "info")]
    # the official image's *.template: its entrypoint passes the variable list, nginx's stay
    _, image = lint_text(text, "/etc/nginx/templates/default.conf.template")
    assert {f.location.line for f in image.findings if f.rule == "MTLS290"} == {7}


def test_jinja_control_lines_do_not_break_the_block_structure() -> None:
    # Ansible role templates (pattern of geerlingguy/ansible-role-nginx vhosts.j2: {% if %} /
    # {% for %} around directives and blocks)
    text = """\
{% for vhost in nginx_vhosts %}
server {
    listen {{ vhost.listen | default('443 ssl') }};
    server_name {{ vhost.server_name }};
    {% if vhost.mtls %}
    ssl_verify_client on;
    ssl_client_certificate {{ vhost.ca }};
    {% endif %}
    {# extra parameters #}
    {{ vhost.extra_parameters | default('') }}
    location / {
        if ($ssl_client_verify != SUCCESS) { return 403; }
        proxy_pass http://{{ vhost.backend }};
    }
}
{% endfor %}
server { listen 80; return 301 https://$host$request_uri; }
"""
    config, report = lint_text(text, "/roles/nginx/templates/vhosts.conf.j2")
    servers = effective(config).servers
    assert len(servers) == 2 and servers[0].verify == "on"
    roles = {p.text: p.role for p in config.templates[config.main]}
    assert roles["{% if vhost.mtls %}"] is Role.CONTROL
    assert roles["{{ vhost.extra_parameters | default('') }}"] is Role.STATEMENT
    assert roles["{{ vhost.server_name }}"] is Role.VALUE
    assert servers[0].ssl, "a templated listen in a server that configures TLS is read as TLS"
    got = codes(report)
    # the {% if %} section holding the verification and the inserted block: one note for the
    # file, at the section (the {% for %} loop repeats the same directives: not a hazard)
    assert [c for c in got if c[0].startswith("MTLS29")] == [("MTLS291", 5)]
    (note,) = [f for f in report.findings if f.rule == "MTLS291"]
    assert "lines 5" in note.message and "lines 10" in note.message


@pytest.mark.parametrize("text, values", [
    ("listen <%= @port %> ssl;\n<% if @mtls %>\nssl_verify_client on;\n<% end %>\n", ["<%= @port %>"]),  # ERB
    ("listen {{port}} ssl;\n{{#mtls}}\nssl_verify_client on;\n{{/mtls}}\n", ["{{port}}"]),  # mustache
    ("listen {{ .Values.port }} ssl;\n{{- if .Values.mtls }}\nssl_verify_client on;\n{{- end }}\n",
     ["{{ .Values.port }}"]),  # Helm
])
def test_other_engines(text: str, values: list[str]) -> None:
    neutral = neutralize(text, "/x.conf")
    assert [p.text for p in neutral.placeholders if p.role is Role.VALUE] == values
    assert neutral.text.count("\n") == text.count("\n")
    config, _ = lint_text(text)
    (server,) = effective(config).servers
    assert server.ssl and server.verify == "on"


def test_nothing_in_an_ordinary_config_or_a_lua_block_is_a_placeholder() -> None:
    text = ('set $A 1; proxy_set_header X ${host}$uri; return 200 "$A ${request_uri}";\n'
            'content_by_lua_block { local t = {{1, 2}, {3}} ngx.say(t[1][1]) }\n')
    assert neutralize(text, "/x.conf").placeholders == ()


# --------------------------------------------------------------------------- zero servers, modules

def test_zero_servers_is_a_warning_with_exit_1(tmp_path: Path) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text("events {}\nhttp {\n    include sites-enabled/*;\n}\n")
    done = cli("--no-files", "--nginx-version", "1.22.1", str(p))
    assert done.returncode == 1, done.stderr
    assert "MTLS292 no-server-analysed" in done.stdout and "0 server blocks" in done.stdout


def test_blocks_of_unknown_modules_are_named() -> None:
    # nginx_tcp_proxy_module (github.com/yaoweibin/nginx_tcp_proxy_module) and nginx-rtmp-module
    text = ("events {}\nhttp { server { listen 80; } }\n"
            "tcp {\n    upstream b { server 127.0.0.1:9000; }\n    server { listen 9443 ssl;"
            " ssl_verify_client on; ssl_client_certificate ca.pem; proxy_pass b; }\n}\n"
            "rtmp { server { listen 1935; application live { live on; } } }\n")
    _, report = lint_text(text)
    found = {(f.location.line, f.severity.value) for f in report.findings if f.rule == "MTLS293"}
    assert found == {(3, "warning"), (7, "info")}


# --------------------------------------------------------------------------- missing files

MANY_SERVERS = "events {}\nhttp {\n" + "".join(
    f"    server {{ listen {8443 + i} ssl; server_name s{i}; ssl_certificate certs/server.pem;"
    f" ssl_certificate_key certs/server.key; ssl_protocols TLSv1.2 TLSv1.3;"
    f" ssl_verify_client on; ssl_client_certificate certs/ca.pem; error_log /dev/null info;"
    f" location / {{ return 200; }} }}\n" for i in range(5)) + "}\n"


def test_missing_files_are_one_info_per_path_without_their_secrets(tmp_path: Path) -> None:
    p = tmp_path / "nginx.conf"
    p.write_text(MANY_SERVERS)
    config = load_path(p)
    report = lint_config(config, AT, V, load_named_files(effective(config)))
    missing = [f for f in report.findings if f.rule in ("MTLS294", "MTLS230")]
    assert [(f.rule, f.severity.value) for f in missing] == [("MTLS294", "info")] * 3  # 3 paths, 5 servers
    ca = next(f for f in missing if "ca.pem" in f.message)
    assert "server 's0'" in ca.message and "2 more" in ca.message and "MTLS207" in ca.message
    done = cli("--nginx-version", "1.22.1", str(p))
    assert done.returncode == 0, done.stdout  # CI without the secrets: not a failure


def test_a_missing_file_next_to_present_ones_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "server.pem").write_text("not a certificate\n")
    p = tmp_path / "nginx.conf"
    p.write_text(MANY_SERVERS)
    config = load_path(p)
    report = lint_config(config, AT, V, load_named_files(effective(config)))
    sev = {f.message.split(" ")[0].rsplit("/", 1)[-1]: f.severity.value for f in report.findings if f.rule == "MTLS294"}
    assert sev == {"ca.pem": "warning", "server.key": "info"}
    assert not [f for f in lint_config(config, AT, V, None).findings if f.rule == "MTLS294"]  # --no-files


# --------------------------------------------------------------------------- YAML

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: nginx-conf
data:
  nginx.conf: |
    events {}
    http {
      server {
        listen 443 ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client optional;
        ssl_client_certificate /etc/nginx/ca/ca.pem;
        location / { proxy_pass http://app:8080; }
      }
    }
"""
ANSIBLE = """\
# group_vars (pattern of geerlingguy.nginx nginx_vhosts[].extra_parameters)
nginx_vhosts:
  - listen: "443 ssl"
    server_name: "api.example.com"
    extra_parameters: |
      ssl_protocols TLSv1.2 TLSv1.3;
      ssl_verify_client optional;
      ssl_client_certificate {{ nginx_ca_path }};
      location / {
          proxy_pass http://127.0.0.1:8080;
      }
  - listen: "80"
    server_name: "plain"
"""


@pytest.mark.parametrize("name, text, expected", [
    ("nginx-cm.yaml", CONFIGMAP, {("MTLS201", 12)}),
    ("group_vars/all.yml", ANSIBLE, {("MTLS201", 7)}),
])
def test_nginx_config_in_yaml_points_into_the_yaml(tmp_path: Path, name: str, text: str, expected) -> None:
    p = tmp_path / name
    p.parent.mkdir(exist_ok=True)
    p.write_text(text)
    done = cli("--no-files", "--nginx-version", "1.22.1", "--format", "json", str(p))
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    got = {(f["rule"], f["location"]["line"]) for f in doc["findings"] if f["severity"] != "info"}
    assert expected <= got, got
    assert {f["location"]["file"] for f in doc["findings"]} == {str(p)}


HELM_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}-nginx
  labels:
    {{- include "app.labels" . | nindent 4 }}
data:
  default.conf: |
    server {
      listen 443 ssl;
      {{- if .Values.mtls.enabled }}
      ssl_verify_client {{ .Values.mtls.mode | default "optional" }};
      {{- end }}
      location / { proxy_pass http://127.0.0.1:{{ .Values.port }}; }
    }
"""


def test_a_helm_template_of_yaml_is_read_with_its_nginx_text_as_written() -> None:
    # a chart's templates/configmap.yaml is not YAML before `helm template` (name: {{ ... }})
    from mtls_doctor.nginx.yamlsrc import nginx_in_yaml

    (item,) = nginx_in_yaml(HELM_CONFIGMAP, "/chart/templates/configmap.yaml")
    assert item.line == 9 and item.exact
    config = parse_sources(item.path, DictReader({item.path: item.text}))
    report = lint_config(config, AT, V, None)
    assert {(f.rule, f.location.line) for f in report.findings if f.rule.startswith("MTLS29")} == {
        ("MTLS290", 12), ("MTLS291", 11)}


def test_yaml_without_nginx_config_is_one_line_exit_2(tmp_path: Path) -> None:
    p = tmp_path / "compose.yml"
    p.write_text("services:\n  web:\n    image: nginx:1.27\n")
    done = cli(str(p))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no nginx configuration" in done.stderr


# --------------------------------------------------------------------------- versions stated

def test_versions_assumed_are_stated_in_text_json_and_sarif(tmp_path: Path) -> None:
    p = tmp_path / "site.conf"
    p.write_text(SERVER_FRAGMENT)
    common = ("--no-files", "--nginx-version", "1.26.3", "--openssl-version", "3.5.1", str(p))
    text = cli(*common)
    assert "nginx version: 1.26.3; OpenSSL: 3.5.1" in text.stdout.splitlines()[0]
    doc = json.loads(cli("--format", "json", *common).stdout)
    assert (doc["nginx_version"], doc["openssl_version"]) == ("1.26.3", "3.5.1")
    assert doc["configs"][0]["context"] == "server"
    run = json.loads(cli("--format", "sarif", *common).stdout)["runs"][0]
    assert (run["properties"]["nginx_version"], run["properties"]["openssl_version"]) == ("1.26.3", "3.5.1")
