"""Mechanical fixes as a unified diff (``lint --diff``): no I/O, source text in, diff text out.

A fix is mechanical when it needs no judgement: the new text follows from the configuration
and the finding alone (no path, address or policy the user must choose). Those rules, and what
their fix rewrites (``MECHANICAL``):

- MTLS404, MTLS411: ``$ssl_client_cert`` / ``$ssl_client_raw_cert`` -> ``$ssl_client_escaped_cert``
  on the flagged line (section 5 of the facts);
- MTLS220: ``ssl on;`` removed and ``ssl`` added to the ``listen`` directives of the same block
  (F8.1); ``ssl off;`` removed;
- MTLS252: a misspelled directive or variable replaced by the rule's spelling, the rest of the
  line as written (not when the block already holds the right directive: a duplicate);
- MTLS223: ``@SECLEVEL=0`` dropped from ``ssl_ciphers``;
- MTLS203, MTLS207, MTLS221, MTLS222, MTLS234, MTLS242: the rule's one-directive snippet set in
  the block of the flagged line: the directive of that name in the block is replaced, else the
  snippet is inserted after the flagged line (inside the block it opens, for ``server {``).

Every other finding (a CA file to pick, a policy such as ``if ($ssl_client_verify ...)``, a
resolver address, a new default server) has no mechanical fix: ``fix_plan`` returns it, and
``lint --diff`` names it in one line. Paths in the diff are relative to ``cwd`` when the file is
below it (``git apply``, ``patch -p1``), else from ``/`` (``patch -p1 -d /``).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from mtls_doctor.model import Finding
from mtls_doctor.nginx.parse import Config, Directive

_CERT_VAR = re.compile(r"\$(\{ssl_client_(?:raw_)?cert\}|ssl_client_(?:raw_)?cert(?![A-Za-z0-9_]))")
_SSL_ON = re.compile(r"(^|[\s;{])ssl\s+(on|off)\s*;[ \t]*")
_ONE_DIRECTIVE = re.compile(r"^([a-z_][a-z0-9_]*)\s+[^;{}\n]*;$")
_SET_IN_BLOCK = frozenset({"MTLS203", "MTLS207", "MTLS221", "MTLS222", "MTLS234", "MTLS242"})
#: the rules ``lint --diff`` rewrites (the others are named as having no mechanical fix)
MECHANICAL = frozenset({"MTLS220", "MTLS223", "MTLS252", "MTLS404", "MTLS411"} | _SET_IN_BLOCK)


@dataclass(frozen=True)
class FixPlan:
    diff: str  # a unified diff ("" when nothing is rewritten)
    fixed: tuple[Finding, ...]  # the findings the diff fixes
    manual: tuple[Finding, ...]  # the findings without a mechanical fix


def _index(config: Config):
    """(path, line) -> [(directive, the block it sits in)], in file order."""
    out: dict[tuple[str, int], list[tuple[Directive, tuple[Directive, ...]]]] = {}
    # depth first in file order, with an explicit stack: blocks may nest deeper than Python
    # recurses (nginx -t accepts 1,000 levels)
    stack = [(config.root, iter(config.root))]
    while stack:
        block, rest = stack[-1]
        d = next(rest, None)
        if d is None:
            stack.pop()
            continue
        out.setdefault((d.path, d.line), []).append((d, block))
        if d.block:
            stack.append((d.block, iter(d.block)))
    return out


def _directive_re(name: str) -> re.Pattern:
    """``name args;`` as written on a line (not a longer name, not inside a variable)."""
    return re.compile(r"(?<![A-Za-z0-9_$])" + re.escape(name) + r"(?=[\s;])[^;{}]*;")


class _Editor:
    """Line edits over the sources: {path: {line: new text}}; "" removes a line."""

    def __init__(self, configs: Sequence[Config]):
        self.sources: dict[str, str] = {}
        self.index: dict[tuple[str, int], list] = {}
        for config in configs:
            self.sources.update(config.sources)
            for key, found in _index(config).items():
                self.index.setdefault(key, []).extend(found)
        self.out: dict[str, dict[int, str]] = {}
        self._split: dict[str, list[str]] = {}
        self.inserted: dict[tuple[str, int, str], str] = {}  # (path, line, directive) -> text

    def line(self, path: str, n: int) -> str | None:
        if path not in self.sources:
            return None
        current = self.out.get(path, {}).get(n)
        if current is not None:
            return current
        lines = self._split.get(path)
        if lines is None:  # split each file once, not once per finding
            lines = self._split[path] = self.sources[path].splitlines(keepends=True)
        return lines[n - 1] if 0 < n <= len(lines) else None

    def set(self, path: str, n: int, text: str) -> None:
        self.out.setdefault(path, {})[n] = text

    def at(self, path: str, n: int):
        return self.index.get((path, n), [])

    # the rewrites ------------------------------------------------------------------------

    def ssl_on(self, path: str, n: int, text: str) -> bool:
        match = _SSL_ON.search(text)
        if not match:
            return False
        new = text[: match.start()] + match.group(1) + text[match.end():]
        self.set(path, n, "" if not new.strip() else new)
        if match.group(2) != "on":
            return True
        for d, block in self.at(path, n):
            if d.name != "ssl":
                continue
            for sib in block:
                if sib.name == "listen" and sib.args and "ssl" not in sib.args[1:]:
                    old = self.line(sib.path, sib.line)
                    if old is not None:
                        addr = re.escape(sib.args[0])
                        self.set(sib.path, sib.line, re.sub(r"(listen\s+" + addr + r")", r"\1 ssl", old, count=1))
        return True

    def replace_directive(self, path: str, n: int, name: str, new: str) -> bool:
        text = self.line(path, n)
        if text is None:
            return False
        pattern = _directive_re(name)
        if not pattern.search(text):
            return False
        self.set(path, n, pattern.sub(lambda _m: new, text, count=1))
        return True

    def set_in_block(self, path: str, n: int, snippet: str) -> bool:
        """The one-directive ``snippet`` set in the block of line ``n`` (see the module doc)."""
        new = snippet.strip()
        m = _ONE_DIRECTIVE.match(new)
        found = self.at(path, n)
        if not m or not found:
            return False
        name = m.group(1)
        for d, _ in found:
            if d.name == name and d.block is None:
                return self.replace_directive(path, n, name, new)
        d, block = found[-1]  # the innermost directive of the line
        if d.block is not None:  # `server {` (MTLS222): inside the block it opens
            block, opener = d.block, d
        else:
            opener = next((x for x, _ in found if x.block is block), None)
        for sib in block:
            if sib.name == name and sib.block is None:
                return self.replace_directive(sib.path, sib.line, name, new)
        text = self.line(path, n)
        if text is None:
            return False
        earlier = self.inserted.get((path, n, name))
        if earlier is not None:  # two findings asking for the same directive at the same place
            return self._merge(path, n, name, earlier, new)
        self.inserted[(path, n, name)] = new
        brace = text.find("{", _directive_re_start(opener.name, text)) if opener is not None else -1
        if brace >= 0 and (d.block is None or "}" in text[brace:].split("#")[0]):
            # a one-line block (`location / { proxy_pass ...; }`, `server {}`): into it, on the line
            self.set(path, n, f"{text[:brace + 1]} {new}{text[brace + 1:]}")
            return True
        first = text.splitlines()[0] if text.strip() else text
        indent = re.match(r"[ \t]*", first).group(0)
        if d.block is not None:
            indent += "\t" if indent.startswith("\t") else "    "
        newline = "" if text.endswith("\n") else "\n"
        self.set(path, n, f"{text}{newline}{indent}{new}\n")
        return True


    def _merge(self, path: str, n: int, name: str, earlier: str, new: str) -> bool:
        """The same directive inserted once: equal, it is done; two depths, the larger one
        (both findings are then fixed); anything else is left to the user."""
        if earlier == new:
            return True
        depths = [re.fullmatch(r"[a-z_]+\s+(\d+);", s) for s in (earlier, new)]
        if not name.endswith("_verify_depth") or not all(depths):
            return False
        if int(depths[1].group(1)) > int(depths[0].group(1)):
            self.set(path, n, (self.line(path, n) or "").replace(earlier, new, 1))
            self.inserted[(path, n, name)] = new
        return True


def _directive_re_start(name: str, text: str) -> int:
    m = re.search(r"(?<![A-Za-z0-9_$])" + re.escape(name) + r"(?=[\s{])", text)
    return m.start() if m else 0


def fix_plan(configs: Sequence[Config], findings: Iterable[Finding], cwd: str | None = None) -> FixPlan:
    """The diff of every mechanical fix of ``findings``, and the findings left to the user."""
    ed = _Editor(configs)
    fixed: list[Finding] = []
    manual: list[Finding] = []
    for f in findings:
        if _apply(ed, f):
            fixed.append(f)
        else:
            manual.append(f)
    return FixPlan(_render(ed, cwd), tuple(fixed), tuple(manual))


def _apply(ed: _Editor, f: Finding) -> bool:
    path, n = f.location.path, f.location.line
    if f.rule not in MECHANICAL or path is None or n is None:
        return False
    text = ed.line(path, n)
    if text is None:
        return False
    snippet = f.fix.snippet if f.fix is not None else None
    if f.rule in ("MTLS404", "MTLS411"):
        if not snippet or not _CERT_VAR.search(text):  # MTLS404: no snippet on nginx < 1.13.5
            return False
        ed.set(path, n, _CERT_VAR.sub(lambda m: "${ssl_client_escaped_cert}" if m.group(1).startswith("{")
                                      else "$ssl_client_escaped_cert", text))
        return True
    if f.rule == "MTLS220":
        return ed.ssl_on(path, n, text)
    if f.rule == "MTLS252":
        return _misspelling(ed, f, path, n, text)
    if f.rule == "MTLS223":
        new = re.sub(r":?@SECLEVEL=0\b", "", text, count=1)
        if new == text:
            return False
        ed.set(path, n, new.replace("ssl_ciphers ;", snippet.strip() if snippet else "ssl_ciphers DEFAULT;"))
        return True
    if f.rule in _SET_IN_BLOCK:
        return bool(snippet) and ed.set_in_block(path, n, snippet)
    return False


def _misspelling(ed: _Editor, f: Finding, path: str, n: int, text: str) -> bool:
    """MTLS252: the name the rule suggests in place of the misspelled one, the rest of the line
    as written. Not when the block already holds the right directive (nginx -t would then
    refuse a duplicate): which one to keep is the user's choice."""
    wrong_var = re.search(r"unknown variable `\$([A-Za-z0-9_]+)`", f.message)
    near_var = re.fullmatch(r"Use \$([A-Za-z0-9_]+)\.", f.fix.text if f.fix else "")
    if wrong_var and near_var:
        pattern = re.compile(r"\$(\{" + re.escape(wrong_var.group(1)) + r"\}|" + re.escape(wrong_var.group(1))
                             + r"(?![A-Za-z0-9_]))")
        if not pattern.search(text):
            return False
        near = near_var.group(1)
        ed.set(path, n, pattern.sub(lambda m: "${" + near + "}" if m.group(1).startswith("{") else "$" + near, text))
        return True
    m = _ONE_DIRECTIVE.match((f.fix.snippet or "").strip()) if f.fix else None
    found = [(d, block) for d, block in ed.at(path, n) if d.block is None and d.name != (m.group(1) if m else "")]
    if not m or not found:
        return False
    d, block = found[0]
    near = m.group(1)
    if any(sib.name == near for sib in block):
        return False
    new = re.sub(r"(?<![A-Za-z0-9_$])" + re.escape(d.name) + r"(?=[\s;])", near, text, count=1)
    if new == text:
        return False
    ed.set(path, n, new)
    return True


def _display(path: str, cwd: str | None) -> str:
    if cwd and os.path.isabs(path):
        rel = os.path.relpath(path, cwd)
        if not rel.startswith(".."):
            return rel
    return path.lstrip("/")


def _render(ed: _Editor, cwd: str | None) -> str:
    chunks: list[str] = []
    for path, changes in sorted(ed.out.items()):
        old = ed.sources[path].splitlines(keepends=True)
        if old and not old[-1].endswith("\n"):
            old[-1] += "\n"  # difflib writes no "\ No newline" marker: patch would refuse the hunk
        new = [changes.get(i + 1, line) for i, line in enumerate(old)]
        new = [line for line in new if line != ""]  # "": the line is removed
        new = [line if line.endswith("\n") else line + "\n" for line in "".join(new).splitlines(keepends=True)]
        name = _display(path, cwd)
        chunks.extend(difflib.unified_diff(old, new, fromfile=f"a/{name}", tofile=f"b/{name}"))
    return "".join(chunks)


def unified_diff(configs: Sequence[Config], findings: Iterable[Finding], cwd: str | None = None) -> str:
    return fix_plan(configs, findings, cwd).diff
