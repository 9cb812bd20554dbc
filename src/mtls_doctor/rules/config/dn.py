"""MTLS406-408: `map` and `if` matches on `$ssl_client_s_dn` / `$ssl_client_i_dn`.

Since nginx 1.11.6 these variables use RFC 2253 (``CN=admin,OU=Ops,O=Example``, the most
specific RDN first, ``,`` separators, ``\\,`` escapes); the old ``/C=US/O=Example/CN=admin``
format lives on in the ``_legacy`` variables (section 5 of the facts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator

from mtls_doctor.model import Finding, Fix, Severity
from mtls_doctor.nginx.parse import Directive
from mtls_doctor.nginx.version import RFC2253_DN
from mtls_doctor.rules.config.common import FORWARD_DIRECTIVES, ConfigRule, LintContext

DN_VAR = re.compile(r"^\$\{?(ssl_client_[si]_dn)(_legacy)?\}?$")
MAP_SPECIAL = frozenset({"default", "hostnames", "volatile", "include"})


@dataclass(frozen=True)
class DnMatch:
    node: Directive
    variable: str  # e.g. ssl_client_s_dn
    legacy: bool  # the _legacy variable
    regex: bool
    pattern: str
    map_var: str | None = None  # the variable a ``map`` entry sets (None for ``if``)


def _if_match(node: Directive) -> DnMatch | None:
    args = list(node.args)
    if args and args[0] == "(":
        args = args[1:]
    elif args:
        args[0] = args[0][1:] if args[0].startswith("(") else args[0]
    if args and args[-1] == ")":
        args = args[:-1]
    elif args:
        args[-1] = args[-1][:-1] if args[-1].endswith(")") else args[-1]
    if len(args) != 3:
        return None
    var, op, pattern = args
    m = DN_VAR.match(var)
    if not m or op not in ("~", "~*", "!~", "!~*", "=", "!="):
        return None
    return DnMatch(node, m.group(1), bool(m.group(2)), op.lstrip("!").startswith("~"), pattern)


def matches(ctx: LintContext) -> Iterator[DnMatch]:
    """Every regex or string comparison on a DN variable in ``if`` and ``map``."""
    for node in ctx.eff.named("if", "map"):
        if node.name == "if":
            found = _if_match(node)
            if found:
                yield found
        elif node.name == "map" and node.block is not None and node.args:
            m = DN_VAR.match(node.args[0])
            if not m:
                continue
            for entry in node.block:
                key = entry.name
                if key in MAP_SPECIAL:
                    continue
                out = node.args[1].lstrip("$") if len(node.args) > 1 else None
                if key.startswith("~"):
                    yield DnMatch(entry, m.group(1), bool(m.group(2)), True, key[2:] if key.startswith("~*") else key[1:], out)
                else:
                    yield DnMatch(entry, m.group(1), bool(m.group(2)), False, key.lstrip("\\"), out)


#: directives whose use of a variable only writes it down: a map read only there decides nothing
LOG_ONLY = frozenset({"log_format", "access_log", "error_log"})


def decides(ctx: LintContext, m: DnMatch) -> bool:
    """The match can change what a request gets: an ``if``, or a ``map`` whose variable is used
    somewhere other than a log format (a header, an ``if``, another ``map``, a ``return``...).
    A map read only by ``log_format`` (a CN column in the access log) authorises nobody."""
    if m.map_var is None:
        return True
    used = re.compile(r"\$(?:\{%s\}|%s(?![A-Za-z0-9_]))" % (re.escape(m.map_var), re.escape(m.map_var)))
    for node in ctx.eff.config.walk():
        if node.name in LOG_ONLY or node.name == "map" and tuple(node.args[1:2]) == (f"${m.map_var}",):
            continue
        if any(used.search(a) for a in (node.name, *node.args)):
            return True
    return False


def _legacy_shape(pattern: str) -> bool:
    p = pattern.lstrip("^")
    return p.startswith("/") or bool(re.search(r"/(CN|O|OU|C|ST|L|emailAddress)=", pattern))


class DnMatchLegacyFormat(ConfigRule):
    """A match on `$ssl_client_s_dn` written for the pre-1.11.6 `/C=../CN=..` format never matches.

    What it checks:
    An `if` or `map` comparison of `$ssl_client_s_dn` or `$ssl_client_i_dn` (not the `_legacy`
    variables) with a string or regex in the old slash format (`/CN=`, `^/C=US/...`), on nginx
    1.11.6 or later (or an unknown version).

    Why it matters:
    Since 1.11.6 the variables use RFC 2253: `CN=admin,O=Example,C=US`, most specific RDN first
    (section 5). A rule written for `/C=US/O=Example/CN=admin` never matches: allow-lists
    reject everyone, deny-lists let everyone through.

    Example:
    ```nginx
    if ($ssl_client_s_dn !~ "/CN=admin$") { return 403; }
    ```

    Use instead:
    ```nginx
    if ($ssl_client_s_dn !~ "^CN=admin,") { return 403; }
    ```
    or match `$ssl_client_s_dn_legacy`.

    References:
    Section 5 and 9 of nginx-mtls-facts.md; nginx CHANGES 1.11.6.
    """

    code = "MTLS406"
    name = "dn-match-legacy-format"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        if ctx.version is not None and ctx.version < RFC2253_DN:
            return
        for m in matches(ctx):
            if not m.legacy and _legacy_shape(m.pattern):
                yield cls.finding(
                    f"`{m.pattern}` is in the old /CN= format, but ${m.variable} is RFC 2253"
                    " (`CN=...,O=...`) since nginx 1.11.6: it never matches.",
                    m.node.location,
                    Fix(f"Rewrite it for RFC 2253, or match ${m.variable}_legacy."))


def _pcre_to_python(pattern: str) -> str:
    # named groups: PCRE (?<n>..) and (?'n'..) are (?P<n>..) in Python
    pattern = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
    return re.sub(r"\(\?'([A-Za-z_][A-Za-z0-9_]*)'", r"(?P<\1>", pattern)


#: Python re errors that PCRE reports too (anything else may be a PCRE-only feature)
_SHARED_ERRORS = ("missing ), unterminated subpattern", "unbalanced parenthesis", "unterminated character set",
                  "nothing to repeat", "multiple repeat", "bad character range")


def regex_error(pattern: str) -> str | None:
    """Why PCRE would reject ``pattern`` (errors both engines share), else None."""
    if "\\Q" in pattern or "(*" in pattern:
        return None
    try:
        re.compile(_pcre_to_python(pattern))
    except re.error as exc:
        msg = str(exc.msg if hasattr(exc, "msg") else exc)
        if any(msg.startswith(e) for e in _SHARED_ERRORS):
            return msg
    except Exception:
        return None
    return None


class DnRegexInvalid(ConfigRule):
    """A regex on a client DN variable that PCRE cannot compile.

    What it checks:
    Regexes of `if` and `map` on `$ssl_client_s_dn`/`$ssl_client_i_dn` for errors PCRE reports
    too: unbalanced parentheses or brackets, a quantifier with nothing to repeat.

    Why it matters:
    In `if`, nginx -t fails with `pcre_compile() failed`; in a `map` the whole configuration
    is rejected as well. A hand-edited allow-list then takes the site down at the next reload.

    Example:
    ```nginx
    if ($ssl_client_s_dn !~ "^CN=(admin|ops,") { return 403; }
    ```

    Use instead:
    ```nginx
    if ($ssl_client_s_dn !~ "^CN=(admin|ops),") { return 403; }
    ```

    References:
    https://nginx.org/en/docs/http/ngx_http_rewrite_module.html#if ;
    https://nginx.org/en/docs/http/ngx_http_map_module.html
    """

    code = "MTLS407"
    name = "dn-regex-invalid"
    severity = Severity.ERROR
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for m in matches(ctx):
            if m.regex:
                err = regex_error(m.pattern)
                if err:
                    yield cls.finding(f"regex `{m.pattern}` does not compile: {err}.", m.node.location,
                                      "Fix the regex (nginx -t rejects it).")


_CN_VALUE = re.compile(r"CN=((?:[A-Za-z0-9 _.@-]|\\\.)+)")
_TERMINATORS = (",", "$", "(,|$)", "(?:,|$)", "(?=,|$)", "(?=,)", "(,", "(?:,")
_STARTS = ("^", ",", "(^|,)", "(?:^|,)", "(?<=,)", "(?<=^)")


def unanchored(pattern: str) -> str | None:
    """Why a DN regex matches more than the CN it names, else None."""
    for m in _CN_VALUE.finditer(pattern):
        before, after = pattern[: m.start()], pattern[m.end():]
        value = m.group(1)
        if not any(after.startswith(t) for t in _TERMINATORS):
            return f"CN={value} also matches CN={value}-evil"
        if not any(before.endswith(s) for s in _STARTS) and not before.endswith("^"):
            return f"CN={value} also matches a CN that ends in CN={value}"
    for m in re.finditer(r"CN=\(", pattern):  # a CN capture: it must start at an RDN boundary
        before = pattern[: m.start()]
        if not before.endswith(_STARTS + ("/", "]")):  # "[/,]?CN=(" ends in "?": optional
            return "the CN capture can start inside another attribute (OU=xCN=admin yields admin)"
    return None


class DnRegexUnanchored(ConfigRule):
    """A regex on `$ssl_client_s_dn` that does not anchor the CN value: `CN=admin` also matches `CN=admin-evil`.

    What it checks:
    Regexes of `if` and `map` on `$ssl_client_s_dn`/`$ssl_client_i_dn` containing `CN=value`
    where the value is not followed by `,` or `$`, or not preceded by `^` or `,`. A `map` whose
    variable is only written to the log (`log_format`) decides nothing and is left alone.

    Why it matters:
    A regex matches anywhere in the string: `CN=admin` matches `CN=admin-evil,O=Example` and
    `CN=evilCN=admin,O=Example`. Anyone who can get a certificate from the trusted CA with a
    chosen common name passes the check.

    Example:
    ```nginx
    if ($ssl_client_s_dn !~ "CN=admin") { return 403; }
    ```

    Use instead:
    ```nginx
    if ($ssl_client_s_dn !~ "^CN=admin,") { return 403; }
    ```
    (RFC 2253 puts the most specific RDN first, and escapes commas inside values as `\\,`).

    References:
    Section 5 of nginx-mtls-facts.md; RFC 4514 section 2.
    """

    code = "MTLS408"
    name = "dn-regex-unanchored"
    severity = Severity.WARNING
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        for m in matches(ctx):
            if not m.regex or m.legacy or _legacy_shape(m.pattern) or not decides(ctx, m):
                continue
            why = unanchored(m.pattern)
            if why:
                yield cls.finding(f"regex `{m.pattern}`: {why}.", m.node.location,
                                  "Anchor the value: `^CN=admin,` (or `(^|,)CN=admin(,|$)`).")


class DnExactComparison(ConfigRule):
    """An exact string comparison of `$ssl_client_s_dn` / `$ssl_client_i_dn`: it depends on the whole DN's formatting.

    What it checks:
    An `if ($ssl_client_s_dn = "...")` / `!=`, or a `map $ssl_client_s_dn` entry that is a
    plain string (not a regex), on `$ssl_client_s_dn`, `$ssl_client_i_dn` or their `_legacy`
    variants, written in the current RFC 2253 shape (the old `/CN=` shape is MTLS406); and
    OpenResty Lua code that reads `ngx.var.ssl_client_s_dn` and compares (`==`, `~=`) with a
    DN string literal.

    Why it matters:
    The comparison only matches if every attribute, its order, its escaping and its spacing
    are exactly what nginx prints: RFC 2253, most specific RDN first, `,` without spaces,
    `\\,` escapes, UTF-8 as is (section 5; measured: `CN=lab client good,O=mtls-doctor lab`).
    A CA that adds an OU or an emailAddress, reorders the subject, or a re-issue with another
    attribute set silently locks the client out (allow-list) or lets it in (deny-list); the
    `_legacy` variables print the opposite order with `/` separators. The value that matters
    is usually one attribute (the CN) or the certificate itself.

    Example:
    ```nginx
    if ($ssl_client_s_dn != "CN=client1,OU=Ops,O=Example,C=US") { return 403; }
    ```

    Use instead:
    Match the attribute, anchored: `if ($ssl_client_s_dn !~ "^CN=client1,")` (or
    `(^|,)CN=client1(,|$)`), pin the certificate with `$ssl_client_fingerprint`, or
    issue the clients from a dedicated CA and check `$ssl_client_verify = SUCCESS`.

    References:
    Section 5 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#var_ssl_client_s_dn
    """

    code = "MTLS409"
    name = "dn-exact-comparison"
    severity = Severity.WARNING
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        yield from _lua_dn_equals(cls, ctx)
        for m in matches(ctx):
            if m.regex or not m.pattern or (not m.legacy and _legacy_shape(m.pattern)) or not decides(ctx, m):
                continue
            if "=" not in m.pattern:
                continue  # not a DN (e.g. a map's empty key or a variable)
            var = m.variable + ("_legacy" if m.legacy else "")
            yield cls.finding(
                f"`${var}` compared with the exact string `{m.pattern}`: any other attribute, order,"
                " escaping or spacing in the certificate's DN breaks the match.",
                m.node.location, "Match the one attribute, anchored (`~ \"^CN=client1,\"`), or pin"
                " $ssl_client_fingerprint.")


LUA_DN = re.compile(r"ngx\.var\.ssl_client_[si]_dn(?:_legacy)?\b")
LUA_EQUALS = re.compile(r"(==|~=)\s*([\"'])([^\"'\n]*=[^\"'\n]*)\2")


def _lua_dn_equals(cls, ctx: LintContext) -> Iterable[Finding]:
    """OpenResty: Lua code that reads a DN variable and compares a string with a DN literal."""
    from mtls_doctor.model import Location
    from mtls_doctor.rules.config.common import lua_code, lua_line

    for node, code in lua_code(ctx.eff):
        if not LUA_DN.search(code):
            continue
        for m in LUA_EQUALS.finditer(code):
            yield cls.finding(
                f"Lua compares a client DN with the exact string `{m.group(3)}`: nginx gives RFC 2253"
                " (most specific RDN first, `,` without spaces), so any other order, spacing or"
                " attribute breaks the match.",
                Location(path=node.path, line=lua_line(node, code, m.start())),
                "Compare one attribute (string.match(dn, \"^CN=billing,\")) or the fingerprint.")


FORWARDED_DN = re.compile(r"\$\{?ssl_client_[si]_dn(?:_legacy)?(?![A-Za-z0-9_])")


class DnForwardedWithoutFormat(ConfigRule):
    """`$ssl_client_s_dn` handed to a backend: the application must parse nginx's RFC 2253 format.

    What it checks:
    A `proxy_set_header`, `grpc_set_header`, `fastcgi_param`, `uwsgi_param` or `scgi_param`
    whose value is `$ssl_client_s_dn` or `$ssl_client_i_dn` (or `_legacy`), in a file with no
    comment near it (the line itself or the one above) naming the format (`RFC 2253`,
    `rfc2253`, `RFC 4514`, `legacy`).

    Why it matters:
    Since nginx 1.11.6 these variables are RFC 2253 (`CN=app,O=Example`, most specific RDN
    first); before, and in the `_legacy` variables, `/O=Example/CN=app` (section 5, measured).
    Backends written against Apache's `SSL_CLIENT_S_DN` (the legacy order), Java's
    `X500Principal` or a proxy that reformats often parse the other order, take the wrong CN
    or split on `,` inside an escaped value (`\\,`). Saying which format is sent keeps the two
    sides in agreement across upgrades.

    Example:
    ```nginx
    proxy_set_header X-SSL-Client-DN $ssl_client_s_dn;
    ```

    Use instead:
    ```nginx
    # X-SSL-Client-DN: RFC 2253 (CN=...,O=...), set only after SUCCESS
    proxy_set_header X-SSL-Client-DN $ssl_client_s_dn;
    ```
    or send the certificate (`$ssl_client_escaped_cert`) and let the application parse it.

    References:
    Section 5 and 9 of nginx-mtls-facts.md; nginx CHANGES 1.11.6.
    """

    code = "MTLS410"
    name = "dn-forwarded-without-format"
    severity = Severity.INFO
    facts = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        comments = ctx.eff.config.comments
        for node in ctx.eff.named(*FORWARD_DIRECTIVES):
            if len(node.args) < 2 or not FORWARDED_DN.search(node.args[1]):
                continue
            near = " ".join(comments.get((node.path, node.line - i), "") for i in (0, 1)).lower()
            if any(w in near for w in ("rfc 2253", "rfc2253", "rfc 4514", "rfc4514", "legacy", "format")):
                continue
            yield cls.finding(
                f"`{node.name} {node.args[0]}` hands the DN to the application in nginx's RFC 2253 format"
                " (CN=...,O=..., most specific first): say so, or the backend may parse another order.",
                node.location, "Document the format next to it, or send $ssl_client_escaped_cert.")


RULES = (DnMatchLegacyFormat, DnRegexInvalid, DnRegexUnanchored, DnExactComparison, DnForwardedWithoutFormat)
