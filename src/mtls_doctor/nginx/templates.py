"""Template placeholders in nginx configuration: recognised as unknown values, never as text
that changes the parse.

Configurations are often kept as templates and rendered before nginx reads them: envsubst
(``${VAR}``, and ``$VAR`` in ``*.template`` files, as the official nginx image's
``docker-entrypoint.d/20-envsubst-on-templates.sh`` renders ``/etc/nginx/templates/*.template``),
Jinja2 (Ansible roles: ``{{ var }}``, ``{% if %}``, ``{# #}``), Go templates (Helm charts:
``{{ .Values.x }}``, ``{{- if }}``, ``{{ end }}``), mustache (``{{x}}``, ``{{#section}}``) and
ERB (Chef, Puppet: ``<%= @x %>``, ``<% if %>``).

Invariants of this module (no I/O; text in, text out):
- ``neutralize`` returns a text with the same lines in which every placeholder is replaced by
  one opaque word (a *value*: it stays an argument or part of one) or by blanks (a *control*
  tag such as ``{% if %}``/``{{ end }}``, a template comment, or a *statement* placeholder that
  stands alone on its line and inserts directives lint cannot see); newlines are kept, so every
  directive keeps its line;
- ``Neutralized.restore`` maps a token back to the original text (``listen ${ADDR} ssl`` parses
  as ``listen`` + ``${ADDR}`` + ``ssl``: still an ssl listener);
- ``${name}`` that names an nginx variable (``${host}``, nginx's own brace syntax) or a
  variable the text sets (``set``, ``map``, ``geo``) is nginx's, not a placeholder; ``$NAME``
  without braces is a placeholder only in an envsubst template (a ``*.template`` file, or a
  text that already uses ``${NAME}`` placeholders) and only when NAME has an upper-case letter
  and is not set by the configuration (nginx's variables are lower case by convention);
- ``*_by_lua_block`` bodies are Lua, not templates: ``{{`` there is a Lua table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Engine(str, Enum):
    ENVSUBST = "envsubst"
    JINJA = "jinja"  # Jinja2 and Go templates share {{ }}; {% %} is Jinja
    GO = "go"
    MUSTACHE = "mustache"
    ERB = "erb"


class Role(str, Enum):
    VALUE = "value"  # stands for an argument (or part of one)
    CONTROL = "control"  # if/for/end: the lines around it may or may not be rendered
    STATEMENT = "statement"  # alone on its line: inserts directives lint cannot see
    COMMENT = "comment"


@dataclass(frozen=True)
class Placeholder:
    text: str  # as written
    engine: Engine
    role: Role
    line: int


#: nginx's own variables (ngx_http_variables.c, ngx_http_ssl_module, ngx_stream_*), and the
#: prefixes of its families; enough to tell ``${host}`` (nginx) from ``${HOST_NAME}`` (envsubst)
NGINX_VARIABLES = frozenset("""
arg args binary_remote_addr body_bytes_sent bytes_sent connection connection_requests
connection_time connections_active connections_reading connections_waiting connections_writing
content_length content_type date_gmt date_local document_root document_uri fastcgi_path_info
fastcgi_script_name geoip_area_code geoip_city geoip_country_code gzip_ratio host hostname
https is_args limit_rate msec nginx_version pid pipe proxy_add_x_forwarded_for proxy_host
proxy_port proxy_protocol_addr proxy_protocol_port proxy_protocol_server_addr
proxy_protocol_server_port query_string realip_remote_addr realip_remote_port realpath_root
remote_addr remote_port remote_user request request_body request_body_file request_completion
request_filename request_id request_length request_method request_time request_uri scheme
secure_link secure_link_expires server_addr server_name server_port server_protocol status
tcpinfo_rtt tcpinfo_rttvar tcpinfo_snd_cwnd tcpinfo_rcv_space time_iso8601 time_local uri
upstream_addr upstream_bytes_received upstream_bytes_sent upstream_cache_status
upstream_connect_time upstream_header_time upstream_queue_time upstream_response_length
upstream_response_time upstream_status upstream_first_byte_time upstream_session_time
ssl_cipher ssl_ciphers ssl_client_cert ssl_client_escaped_cert ssl_client_fingerprint
ssl_client_i_dn ssl_client_i_dn_legacy ssl_client_raw_cert ssl_client_s_dn ssl_client_s_dn_legacy
ssl_client_serial ssl_client_v_end ssl_client_v_remain ssl_client_v_start ssl_client_verify
ssl_client_sigalg ssl_curve ssl_curves ssl_early_data ssl_protocol ssl_server_name ssl_session_id
ssl_session_reused ssl_sigalg ssl_alpn_protocol ssl_preread_server_name ssl_preread_protocol
ssl_preread_alpn_protocols http2 http3 invalid_referer modern_browser ancient_browser msie
server_port remote_addr bytes_received session_time protocol ssl_preread_alpn_protocols
""".split())
NGINX_VARIABLE_PREFIXES = ("http_", "sent_http_", "sent_trailer_", "arg_", "cookie_",
                           "upstream_http_", "upstream_cookie_", "upstream_trailer_", "jwt_")

_SET_VAR = re.compile(r"(?:\bset|\bmap\s+\S+|\bgeo(?:\s+\S+)?|\bsplit_clients\s+\S+|"
                      r"\bperl_set|\bjs_set|\bset_by_lua\w*)\s+\$\{?([A-Za-z_][A-Za-z0-9_]*)")

# one alternation, tried left to right at each position; DOTALL bounded by a length cap
_TAGS = re.compile(r"""
    (?P<lua>\b\w+_by_lua_block\s*\{)                 # a Lua body: skipped, not a template
  | (?P<mustache_comment>\{\{![\s\S]{0,2000}?\}\})
  | (?P<curly>\{\{[\s\S]{0,2000}?\}\})
  | (?P<jinja_block>\{%[\s\S]{0,2000}?%\})
  | (?P<jinja_comment>\{\#[^\n]{0,2000}?\#\})
  | (?P<erb><%[\s\S]{0,2000}?%>)
  | (?P<braced>\$\{(?P<bname>[A-Za-z_][A-Za-z0-9_]*)(?P<bmod>[^}\n]{0,200})\})
  | (?P<bare>\$(?P<name>[A-Za-z_][A-Za-z0-9_]*))
""", re.X)

_GO_CONTROL = re.compile(r"^\{\{-?\s*(?:if|else|end|range|with|define|block)\b")
_GO_STATEMENT = re.compile(r"^\{\{-?\s*(?:template|include|tpl|toYaml|\.Values\.[\w.]*(?:snippet|config|extra)\w*)\b",
                           re.I)
_MUSTACHE_SECTION = re.compile(r"^\{\{\{?\s*[#^/]")
_MUSTACHE_PARTIAL = re.compile(r"^\{\{\s*>")
_JINJA_STATEMENT = re.compile(r"^\{%-?\s*(?:include|import|macro|call)\b")
_ERB_VALUE = re.compile(r"^<%-?=")
_ERB_COMMENT = re.compile(r"^<%#")

SENTINEL = "__mtls_tpl_{}__"
_SENTINEL_RE = re.compile(r"__mtls_tpl_(\d+)__")
#: cheap pre-check: a text without any of these has no placeholder
_ANY = re.compile(r"\{\{|\{%|\{#|<%|\$\{|\$[A-Z_]")


def is_nginx_variable(name: str, defined: frozenset[str] | set[str] = frozenset()) -> bool:
    low = name.lower()
    if name in defined or low in defined:
        return True
    if name != low:  # nginx's variables are written in lower case; envsubst's in upper
        return False
    return low in NGINX_VARIABLES or low.startswith(NGINX_VARIABLE_PREFIXES) or low.isdigit()


def defined_variables(text: str) -> frozenset[str]:
    """Variables the configuration defines itself (``set``, ``map``, ``geo`` ...)."""
    return frozenset(m.group(1) for m in _SET_VAR.finditer(text))


def is_envsubst_template(path: str, text: str, defined: frozenset[str] = frozenset()) -> bool:
    """A file envsubst renders: ``*.template`` (the nginx image), or one with ``${NAME}``
    placeholders that are not nginx variables."""
    if path.endswith(".template") or ".template." in path.rsplit("/", 1)[-1]:
        return True
    return any(not is_nginx_variable(m.group(1), defined) for m in re.finditer(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text))


@dataclass(frozen=True)
class Neutralized:
    text: str
    placeholders: tuple[Placeholder, ...]
    values: tuple[str, ...]  # sentinel index -> original text

    def restore(self, token: str) -> str:
        if not self.values or "__mtls_tpl_" not in token:
            return token
        return _SENTINEL_RE.sub(lambda m: self.values[int(m.group(1))], token)


def _blank(text: str) -> str:
    """Spaces of the same lines (newlines kept)."""
    return re.sub(r"[^\n]", " ", text)


def _alone_on_line(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    after = text[end:line_end].strip()
    return not text[line_start:start].strip() and (not after or after.startswith("#"))


def _lua_body_end(text: str, pos: int) -> int:
    """Where a ``*_by_lua_block`` body that opens before ``pos`` ends (brace count; the lexer
    reads it exactly, this only keeps the template scan out of it)."""
    depth = 1
    while pos < len(text) and depth:
        ch = text[pos]
        depth += 1 if ch == "{" else -1 if ch == "}" else 0
        pos += 1
    return pos


def _classify_curly(tag: str) -> tuple[Engine, Role]:
    if _MUSTACHE_SECTION.match(tag):
        return Engine.MUSTACHE, Role.CONTROL
    if _MUSTACHE_PARTIAL.match(tag):
        return Engine.MUSTACHE, Role.STATEMENT
    if _GO_CONTROL.match(tag):
        return Engine.GO, Role.CONTROL
    if _GO_STATEMENT.match(tag):
        return Engine.GO, Role.STATEMENT
    inner = tag[2:-2].strip("- ")
    return (Engine.GO if inner.startswith(".") or inner.startswith("$") else Engine.JINJA), Role.VALUE


def neutralize(text: str, path: str = "") -> Neutralized:
    """``text`` with its placeholders made harmless (see the module invariants)."""
    if not _ANY.search(text):
        return Neutralized(text, (), ())
    defined = defined_variables(text)
    envsubst = is_envsubst_template(path, text, defined)
    out: list[str] = []
    found: list[Placeholder] = []
    values: list[str] = []
    pos = 0
    line = 1
    while True:
        m = _TAGS.search(text, pos)
        if m is None:
            break
        kind = m.lastgroup if m.lastgroup not in ("bname", "bmod", "name") else (
            "braced" if m.group("braced") else "bare")
        start, end = m.start(), m.end()
        if kind == "lua":
            stop = _lua_body_end(text, end)
            out.append(text[pos:stop])
            line += text.count("\n", pos, stop)
            pos = stop
            continue
        tag = m.group(0)
        engine, role = None, Role.VALUE
        if kind == "mustache_comment":
            engine, role = Engine.MUSTACHE, Role.COMMENT
        elif kind == "curly":
            engine, role = _classify_curly(tag)
        elif kind == "jinja_block":
            engine = Engine.JINJA
            role = Role.STATEMENT if _JINJA_STATEMENT.match(tag) else Role.CONTROL
        elif kind == "jinja_comment":
            engine, role = Engine.JINJA, Role.COMMENT
        elif kind == "erb":
            engine = Engine.ERB
            role = Role.VALUE if _ERB_VALUE.match(tag) else Role.COMMENT if _ERB_COMMENT.match(tag) else Role.CONTROL
        elif kind == "braced":
            if not m.group("bmod") and is_nginx_variable(m.group("bname"), defined):
                engine = None
            else:
                engine = Engine.ENVSUBST
        elif kind == "bare":
            name = m.group("name")
            if envsubst and name != name.lower() and not is_nginx_variable(name, defined):
                engine = Engine.ENVSUBST
        if engine is None:  # nginx's own: keep as is
            out.append(text[pos:end])
            line += text.count("\n", pos, end)
            pos = end
            continue
        if role is Role.VALUE and _alone_on_line(text, start, end) and engine is not Engine.ENVSUBST:
            role = Role.STATEMENT
        out.append(text[pos:start])
        line += text.count("\n", pos, start)
        found.append(Placeholder(tag, engine, role, line))
        if role is Role.VALUE:
            out.append(SENTINEL.format(len(values)) + "\n" * tag.count("\n"))
            values.append(tag)
        else:
            out.append(_blank(tag))
        line += tag.count("\n")
        pos = end
    out.append(text[pos:])
    return Neutralized("".join(out), tuple(found), tuple(values))


def has_placeholder(text: str, placeholders: tuple[Placeholder, ...]) -> bool:
    """Whether ``text`` (a restored argument) holds one of the file's value placeholders."""
    return any(p.role is Role.VALUE and p.text in text for p in placeholders)
