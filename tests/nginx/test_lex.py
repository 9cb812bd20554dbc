"""The fast tokenizer gives exactly crossplane's token stream (differential, random input)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mtls_doctor.nginx.lex import _crossplane, needs_crossplane, tokens

ALPHABET = st.sampled_from(list("ab $#;{}\"'\\\n\t ,=/()^~*") + ["\u00a0", "\x1c", "é"])


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_same_tokens_as_crossplane(text: str) -> None:
    assert list(tokens(text)) == list(_crossplane(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([
    "server {", "}", "listen 443 ssl;", 'return 200 "a;b";', "set $a '{';", "# comment\n",
    'if ($ssl_client_s_dn ~ "^CN=a\\"b") {', "map $a $b { ~x 1; }", "a\\;b;", "\n", "  ", "location ~ \\.php$ {",
]), max_size=30))
def test_same_tokens_on_config_like_input(parts: list[str]) -> None:
    text = "\n".join(parts) + "\n"
    assert not needs_crossplane(text)
    assert list(tokens(text)) == list(_crossplane(text))


def test_only_a_trailing_backslash_uses_crossplane() -> None:
    # Lua blocks are read Lua-aware here and ${...} is reproduced (issue 11 #16; a ${...}
    # elsewhere in the file used to hand its Lua blocks to crossplane's brace-counting lexer);
    # tests/hardening/test_lua_blocks.py
    assert not needs_crossplane("content_by_lua_block { ngx.say(1) }")
    assert not needs_crossplane("listen ${PORT};")
    assert needs_crossplane("listen 80\\")


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(["${", "$", "{", "}", ";", " ", "\n", "a", "\\", "'", "#"]), max_size=30))
def test_same_tokens_as_crossplane_on_expansions(parts: list[str]) -> None:
    text = "".join(parts)
    if not text.endswith("\\"):
        assert list(tokens(text)) == list(_crossplane(text))
