"""Mechanical fixes as a unified diff (``lint --diff``): no I/O, source text in, diff text out.

Only fixes that need no judgement are rewritten:
- MTLS404: ``$ssl_client_cert`` -> ``$ssl_client_escaped_cert`` (section 5 of the facts);
- MTLS220: ``ssl on;`` removed and ``ssl`` added to the ``listen`` directives of the same block
  (F8.1); ``ssl off;`` removed.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterable, Sequence

from mtls_doctor.model import Finding
from mtls_doctor.nginx.parse import Config, Directive

_CERT_VAR = re.compile(r"\$(\{ssl_client_cert\}|ssl_client_cert(?![A-Za-z0-9_]))")
_SSL_ON = re.compile(r"(^|[\s;{])ssl\s+(on|off)\s*;[ \t]*")


def _parents(config: Config) -> dict[tuple[str, int, str], tuple[Directive, ...]]:
    """(path, line, name) of each directive -> the block it sits in."""
    out: dict[tuple[str, int, str], tuple[Directive, ...]] = {}

    # depth first in file order, with an explicit stack: blocks may nest deeper than Python
    # recurses (nginx -t accepts 1,000 levels)
    stack = [(config.root, iter(config.root))]
    while stack:
        block, rest = stack[-1]
        d = next(rest, None)
        if d is None:
            stack.pop()
            continue
        out.setdefault((d.path, d.line, d.name), block)
        if d.block:
            stack.append((d.block, iter(d.block)))
    return out


def edits(configs: Sequence[Config], findings: Iterable[Finding]) -> dict[str, dict[int, str]]:
    """path -> {line: new text} for every mechanical fix."""
    sources: dict[str, str] = {}
    parents: dict[tuple[str, int, str], tuple[Directive, ...]] = {}
    for config in configs:
        sources.update(config.sources)
        parents.update(_parents(config))
    out: dict[str, dict[int, str]] = {}
    split: dict[str, list[str]] = {}

    def line_of(path: str, n: int) -> str | None:
        if path not in sources:
            return None
        current = out.get(path, {}).get(n)
        if current is not None:
            return current
        lines = split.get(path)
        if lines is None:  # split each file once, not once per finding
            lines = split[path] = sources[path].splitlines(keepends=True)
        return lines[n - 1] if 0 < n <= len(lines) else None

    for f in findings:
        path, n = f.location.path, f.location.line
        if path is None or n is None:
            continue
        text = line_of(path, n)
        if text is None:
            continue
        if f.rule == "MTLS404" and f.fix is not None and f.fix.snippet:  # not on nginx < 1.13.5
            out.setdefault(path, {})[n] = _CERT_VAR.sub(
                lambda m: "${ssl_client_escaped_cert}" if m.group(1).startswith("{") else "$ssl_client_escaped_cert", text)
        elif f.rule == "MTLS220":
            match = _SSL_ON.search(text)
            if not match:
                continue
            new = text[: match.start()] + match.group(1) + text[match.end():]
            out.setdefault(path, {})[n] = "" if not new.strip() else new
            if match.group(2) != "on":
                continue
            for sib in parents.get((path, n, "ssl"), ()):
                if sib.name == "listen" and sib.args and "ssl" not in sib.args[1:]:
                    old = line_of(sib.path, sib.line)
                    if old is not None:
                        addr = re.escape(sib.args[0])
                        out.setdefault(sib.path, {})[sib.line] = re.sub(
                            r"(listen\s+" + addr + r")", r"\1 ssl", old, count=1)
    return out


def unified_diff(configs: Sequence[Config], findings: Iterable[Finding]) -> str:
    sources: dict[str, str] = {}
    for config in configs:
        sources.update(config.sources)
    chunks: list[str] = []
    for path, changes in sorted(edits(configs, findings).items()):
        old = sources[path].splitlines(keepends=True)
        new = [changes.get(i + 1, line) for i, line in enumerate(old)]
        new = [line for line in new if line != ""]  # "": the line is removed
        chunks.extend(difflib.unified_diff(old, new, fromfile=f"a{path}" if path.startswith("/") else f"a/{path}",
                                           tofile=f"b{path}" if path.startswith("/") else f"b/{path}"))
    return "".join(chunks)
