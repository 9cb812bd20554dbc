"""A fast tokenizer that yields exactly what crossplane's lexer yields, for ordinary files.

crossplane's ``_lex_file_object`` walks the text one character at a time through three
generators; on a 10,000-server configuration that is most of lint's run time. ``tokens`` uses
one regular expression instead and falls back to crossplane whenever the text uses a feature
whose crossplane semantics are irregular (``*_by_lua_block`` bodies, ``${...}`` expansion, a
lone trailing backslash). ``tests/nginx/test_lex.py`` checks both give identical
``(token, line, quoted)`` streams on random input.

crossplane's rules reproduced here: ``\\x`` is one unit everywhere (so ``\\;`` does not end a
token); ``#`` starts a comment only at the start of a token and the comment runs to the end of
the line; a quote starts a quoted token only at the start of a token, and inside it only
``\\<same quote>`` is unescaped; ``{``, ``}`` and ``;`` are tokens of their own; a token or
comment still open at end of file is dropped.
"""

from __future__ import annotations

import io
import re
from typing import Iterator

# Each repetition is "unrolled" and possessive (``[^x\\]*+(?:\\.[^x\\]*+)*+`` instead of
# ``(?:\\.|[^x\\])*``): the same language (every character can be consumed one way only, so
# nothing is ever given back), but the engine keeps no backtracking frame per character or per
# escape, so memory stays linear in the token (the alternation form cost about 400 bytes per
# input byte: 4 GB for a 10 MB token). Possessive quantifiers need Python 3.11 (our floor).
_TOKEN = re.compile(
    r"""
    (?P<ws>\s++)
    | (?P<comment>\#[^\\\n]*+(?:\\[^\n][^\\\n]*+)*+)(?P<cend>\n|\\\n)?
    | (?P<dq>"(?P<dqv>[^"\\]*+(?:\\.[^"\\]*+)*+)")
    | (?P<sq>'(?P<sqv>[^'\\]*+(?:\\.[^'\\]*+)*+)')
    | (?P<special>[{};])
    | (?P<word>(?:\\.|[^\s{};"'\#\\])[^\s{};\\]*+(?:\\.[^\s{};\\]*+)*+)
    """,
    re.X | re.S,
)


def _crossplane(text: str) -> Iterator[tuple[str, int, bool]]:
    import crossplane  # noqa: F401  (registers the lua lexer)
    from crossplane.lexer import _lex_file_object

    return _lex_file_object(io.StringIO(text))


def needs_crossplane(text: str) -> bool:
    return "_by_lua" in text or "${" in text or text.endswith("\\")


def tokens(text: str) -> Iterator[tuple[str, int, bool]]:
    """``(token, line, quoted)`` like ``crossplane.lexer._lex_file_object``."""
    if needs_crossplane(text):
        yield from _crossplane(text)
        return
    line = 1
    pos = 0
    end = len(text)
    match = _TOKEN.match
    while pos < end:
        m = match(text, pos)
        if m is None:  # an unterminated quote: crossplane drops it and stops
            return
        kind = m.lastgroup
        chunk = m.group(0)
        if kind == "ws":
            pass
        elif kind in ("comment", "cend"):
            if m.group("cend") is None:
                return  # a comment at end of file without newline is dropped
            yield m.group("comment"), line, False
        elif kind in ("dq", "sq", "dqv", "sqv"):
            quote = chunk[0]
            value = chunk[1:-1]
            if "\\" in value:
                # only \<quote> is unescaped; inside the value a quote character occurs only as
                # the second character of an escape, so a plain replace is the same as walking
                # the escapes, in one copy of the text
                value = value.replace("\\" + quote, quote)
            yield value, line, True
        elif kind == "special":
            yield chunk, line, False
        else:  # a word: dropped at end of file, like crossplane
            if m.end() >= end:
                return
            # crossplane numbers a token by its first unit, counted after that unit's newline
            yield chunk, line + (1 if chunk.startswith("\\\n") else 0), False
        line += chunk.count("\n")
        pos = m.end()
