"""A fast tokenizer that yields exactly what crossplane's lexer yields, for ordinary files.

crossplane's ``_lex_file_object`` walks the text one character at a time through three
generators; on a 10,000-server configuration that is most of lint's run time. ``tokens`` uses
one regular expression instead and falls back to crossplane only for a lone trailing backslash.
crossplane's irregular ``${...}`` reading is reproduced here (``_expansion``), so that a
``${...}`` anywhere in a file no longer hands the whole file, Lua blocks included, to crossplane.
``*_by_lua_block`` bodies are read here Lua-aware (``_lua_block``): a brace inside a Lua long
string, long comment, line comment or quoted string does not count, as in lua-nginx-module,
where crossplane's Lua lexer counts braces in long strings and comments and fails on valid
OpenResty configurations. ``tests/nginx/test_lex.py`` checks both give identical
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
    """Texts handed to crossplane: a lone trailing backslash (its escape reader runs off the
    end). ``${...}`` expansion is reproduced here (``_expansion``) and ``*_by_lua_block`` bodies
    are read here (``_lua_block``)."""
    return text.endswith("\\")


_WORD_REST = re.compile(r"[^\s{};\\]*+(?:\\.[^\s{};\\]*+)*+", re.S)


def _expansion(text: str, pos: int, token: str) -> tuple[str | None, int]:
    """crossplane's ``${...}`` reading of an unquoted token that ends with ``$`` before the
    ``{`` at ``pos``: units (``\\x`` is one) join the token until it ends with ``}`` or a unit
    is whitespace; the unit that stopped it joins the token too unless it is ``{``, ``}`` or
    ``;`` (so a whitespace character stays inside the token), then the token goes on as an
    ordinary word and may expand again. Returns the token and the position after it, or
    ``None`` when the file ends inside it (crossplane drops it)."""
    end = len(text)
    parts = [token]
    last = token[-1]
    while True:
        while True:
            if pos >= end:
                return None, end
            unit = text[pos:pos + 2] if text[pos] == "\\" else text[pos]
            if last == "}" or unit.isspace():
                break
            parts.append(unit)
            last = unit[-1]
            pos += len(unit)
        if unit in ("{", "}", ";"):
            return "".join(parts), pos
        parts.append(unit)
        rest = _WORD_REST.match(text, pos + len(unit))
        parts.append(rest.group())
        pos = rest.end()
        if pos >= end:
            return None, end
        last = parts[-1][-1] if parts[-1] else unit[-1]
        if not (last == "$" and text[pos] == "{"):
            return "".join(parts), pos


#: the directives whose argument is a Lua block (crossplane's ``ext/lua.py`` list, which follows
#: lua-nginx-module's ``*_by_lua_block`` directives)
LUA_BLOCK_DIRECTIVES = frozenset({
    "access_by_lua_block", "balancer_by_lua_block", "body_filter_by_lua_block",
    "content_by_lua_block", "header_filter_by_lua_block", "init_by_lua_block",
    "init_worker_by_lua_block", "log_by_lua_block", "rewrite_by_lua_block", "set_by_lua_block",
    "ssl_certificate_by_lua_block", "ssl_session_fetch_by_lua_block",
    "ssl_session_store_by_lua_block",
    # newer lua-nginx-module directives and stream-lua-nginx-module's preread phase, which
    # crossplane's list lacks (its lexer reads their Lua bodies as nginx tokens)
    "exit_worker_by_lua_block", "server_rewrite_by_lua_block", "ssl_client_hello_by_lua_block",
    "preread_by_lua_block",
})

# Lua's lexical elements that can hide a brace (Lua 5.1 manual section 2.1; lua-nginx-module's
# ngx_http_lua_conf_read_lua_token() skips the same): "--" comments (a long comment when
# "[==[" follows), long strings "[==[ ... ]==]", and quoted strings with backslash escapes.
_LUA_EVENT = re.compile(r"--|\[=*\[|[\"'{}]")
_LUA_LONG_OPEN = re.compile(r"\[=*\[")
_LUA_STRING_END = {q: re.compile(rf"[^{q}\\]*+(?:\\.[^{q}\\]*+)*+{q}", re.S) for q in "\"'"}


class LuaBlockError(ValueError):
    """A ``*_by_lua_block`` body that does not end (one line, via ConfigSyntaxError)."""


def _long_end(text: str, pos: int, level: int, what: str) -> int:
    close = text.find("]" + "=" * level + "]", pos)
    if close < 0:
        raise LuaBlockError(f"unterminated Lua long {what} in a *_by_lua_block")
    return close + level + 2


def _lua_close(text: str, pos: int) -> int:
    """The index of the brace that closes the Lua block whose body starts at ``pos``."""
    depth = 1
    search = _LUA_EVENT.search
    while True:
        m = search(text, pos)
        if m is None:
            raise LuaBlockError("unexpected end of file in a *_by_lua_block")
        event, pos = m.group(), m.end()
        if event == "--":
            long = _LUA_LONG_OPEN.match(text, pos)
            if long is not None:
                pos = _long_end(text, long.end(), long.group().count("="), "comment")
            else:
                newline = text.find("\n", pos)
                if newline < 0:
                    raise LuaBlockError("unexpected end of file in a Lua comment")
                pos = newline + 1
        elif event[0] == "[":
            pos = _long_end(text, pos, event.count("="), "string")
        elif event in "\"'":
            end = _LUA_STRING_END[event].match(text, pos)
            if end is None:
                raise LuaBlockError("unterminated Lua string in a *_by_lua_block")
            pos = end.end()
        elif event == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.start()


def _lua_block(text: str, pos: int, line: int, directive: str):
    """The tokens crossplane's Lua lexer gives after ``directive`` (the optional argument of
    set_by_lua_block, the body as one quoted token, a ";"), the position after the closing
    brace and the line there. The body is the raw text between the braces; each token is
    numbered by the line of the character that ends it."""
    out = []
    end = len(text)
    origin = pos  # ``line`` is the line at ``origin``; lines below count from there (linear)
    if directive == "set_by_lua_block":
        while pos < end and text[pos].isspace():
            pos += 1
        start = pos
        while pos < end and not text[pos].isspace():
            pos += 1
        if pos >= end:
            raise LuaBlockError("unexpected end of file in set_by_lua_block")
        out.append((text[start:pos], line + text.count("\n", origin, pos + 1), False))
    while pos < end and text[pos].isspace():
        pos += 1
    if pos >= end or text[pos] != "{":
        raise LuaBlockError(f'expected "{{" to start the Lua block of {directive}')
    close = _lua_close(text, pos + 1)
    close_line = line + text.count("\n", origin, close)
    out.append((text[pos + 1:close], close_line, True))
    out.append((";", close_line, False))
    return out, close + 1, close_line


def tokens(text: str) -> Iterator[tuple[str, int, bool]]:
    """``(token, line, quoted)`` like ``crossplane.lexer._lex_file_object``; ``*_by_lua_block``
    bodies are read Lua-aware (a brace in a Lua long string or comment does not count), where
    crossplane's own Lua lexer counts it."""
    if needs_crossplane(text):
        yield from _crossplane(text)
        return
    line = 1
    pos = 0
    end = len(text)
    match = _TOKEN.match
    directive = True  # crossplane's next_token_is_directive
    while pos < end:
        m = match(text, pos)
        if m is None:  # an unterminated quote: crossplane drops it and stops
            return
        kind = m.lastgroup
        chunk = m.group(0)
        lua = None
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
            lua = value if directive and value in LUA_BLOCK_DIRECTIVES else None
            directive = False
        elif kind == "special":
            yield chunk, line, False
            directive = True
        else:  # a word: dropped at end of file, like crossplane
            after = m.end()
            if after >= end:
                return
            word = chunk
            if chunk.endswith("$") and text[after] == "{":
                word, after = _expansion(text, after, chunk)
                if word is None:
                    return
                chunk = text[pos:after]
            # crossplane numbers a token by its first unit, counted after that unit's newline
            yield word, line + (1 if chunk.startswith("\\\n") else 0), False
            # crossplane hands over to its Lua lexer at the whitespace after the directive
            lua = word if directive and word in LUA_BLOCK_DIRECTIVES and text[after].isspace() else None
            directive = False
        line += chunk.count("\n")
        pos = m.end() if kind != "word" else pos + len(chunk)
        if lua is not None:
            found, pos, line = _lua_block(text, pos, line, lua)
            yield from found
            directive = True
