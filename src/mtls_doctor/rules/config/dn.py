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
from mtls_doctor.rules.config.common import ConfigRule, LintContext

DN_VAR = re.compile(r"^\$\{?(ssl_client_[si]_dn)(_legacy)?\}?$")
MAP_SPECIAL = frozenset({"default", "hostnames", "volatile", "include"})


@dataclass(frozen=True)
class DnMatch:
    node: Directive
    variable: str  # e.g. ssl_client_s_dn
    legacy: bool  # the _legacy variable
    regex: bool
    pattern: str


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
                if key.startswith("~"):
                    yield DnMatch(entry, m.group(1), bool(m.group(2)), True, key[2:] if key.startswith("~*") else key[1:])
                else:
                    yield DnMatch(entry, m.group(1), bool(m.group(2)), False, key.lstrip("\\"))


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
    return None


class DnRegexUnanchored(ConfigRule):
    """A regex on `$ssl_client_s_dn` that does not anchor the CN value: `CN=admin` also matches `CN=admin-evil`.

    What it checks:
    Regexes of `if` and `map` on `$ssl_client_s_dn`/`$ssl_client_i_dn` containing `CN=value`
    where the value is not followed by `,` or `$`, or not preceded by `^` or `,`.

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
            if not m.regex or m.legacy or _legacy_shape(m.pattern):
                continue
            why = unanchored(m.pattern)
            if why:
                yield cls.finding(f"regex `{m.pattern}`: {why}.", m.node.location,
                                  "Anchor the value: `^CN=admin,` (or `(^|,)CN=admin(,|$)`).")


RULES = (DnMatchLegacyFormat, DnRegexInvalid, DnRegexUnanchored)
