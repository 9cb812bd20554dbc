"""Text from inputs made safe for a terminal: the one place that does it.

A certificate subject, a SAN, a server's alert text, a log line or a file name is attacker
data: a hostile server can put ESC sequences in its certificate's CN (``\\x1b]0;...`` retitles
the terminal, ``\\x1b[2J`` clears it), or a bidi override (U+202E) that shows ``evil.com`` as
``moc.live``. nginx itself escapes controls in ``$ssl_client_s_dn`` (RFC 2253, ``\\1B``).
Every human-readable output (the rich console, Markdown and HTML reports, the one-line errors)
goes through ``terminal_safe``: each C0/C1 control except newline and tab becomes one visible
character (a C0 control its Unicode control picture, ``\\x1b`` -> U+241B; DEL U+2421; C1 and
bidi controls U+FFFD). One character for one, so the positions of rich's styled spans stay.
JSON and SARIF are already safe (``json`` escapes controls as ``\\u001b``).
"""

from __future__ import annotations

import re

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _picture(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c < 0x20:
        return chr(0x2400 + c)
    if c == 0x7F:
        return "\u2421"
    return "\ufffd"


def terminal_safe(text: str) -> str:
    """``text`` with every control (except ``\\n``, ``\\t``) and bidi override replaced by one
    visible character; the same string object when there is none (the common case)."""
    return _UNSAFE.sub(_picture, text) if _UNSAFE.search(text) else text
