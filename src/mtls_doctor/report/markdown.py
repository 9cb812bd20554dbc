"""``--format markdown``: a report to paste into a ticket or a pull-request comment.

Rendered from ``report.view`` (itself built from the command's JSON document), so it says what
``--format json`` and ``--format html`` say. Pure: no I/O. GitHub-flavoured Markdown: tables,
fenced code; every value from the document is escaped (a certificate subject or a config line
cannot inject markup, close a code fence or break a table).
"""

from __future__ import annotations

import re

from mtls_doctor.model import Report
from mtls_doctor.report.view import Attachments, View, build_view

_ARROW = {"c>s": "client → nginx", "s>c": "nginx → client", "both": "client ↔ nginx"}
_STATE = {"ok": "", "failed": " **(failed)**", "absent": " *(not sent)*"}
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def esc(text: object) -> str:
    """Inline text with Markdown's special characters escaped and on one line."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: object) -> str:
    """Inline code that no backtick in ``text`` can close."""
    s = " ".join(str(text).split())
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{ticks}{pad}{s}{pad}{ticks}"


def fence(text: str, lang: str = "") -> list[str]:
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`{3,}", text)), default=0) + 1)
    return [ticks + lang, *text.splitlines(), ticks]


def _cell(text: object) -> str:
    return esc(text).replace("\\|", "&#124;") or " "


def view_markdown(view: View) -> str:
    out: list[str] = [f"## {esc(view.title)}", ""]
    if view.meta:
        out += [" · ".join(esc(m) for m in view.meta if m), ""]
    out += [f"**{'✅' if view.ok else '❌'} {esc(view.verdict)}**", ""]
    if view.facts:
        out += ["| | |", "|---|---|"]
        out += [f"| {_cell(k)} | {_cell(v)} |" for k, v in view.facts]
        out.append("")
    if view.causes:
        out += ["### Root causes" if view.command == "diagnose" else "### Why", ""]
        for c in view.causes:
            conf = f" ({round(c.confidence * 100)}%)" if isinstance(c.confidence, (int, float)) else ""
            out.append(f"{c.rank}. **{esc(c.cause)}**{(' - ' + esc(c.title)) if c.title else ''}{conf}")
            if c.summary:
                out.append(f"   {esc(c.summary)}")
            for source, where, text in c.evidence:
                out.append(f"   - \\[{esc(source)}\\] {code(where) if where else ''} {esc(text)}")
            if c.fix:
                out.append(f"   - **fix:** {esc(c.fix)}")
            if c.snippet:
                out += ["", *("   " + line for line in fence(c.snippet, "nginx"))]
            if c.facts:
                out.append(f"   - facts: {esc(', '.join(c.facts))}")
        out.append("")
    for ladder in view.ladders:
        out += [f"### Handshake: {esc(ladder.title)}", ""]
        out += ["| # | direction | message | detail |", "|---|---|---|---|"]
        for i, s in enumerate(ladder.steps, 1):
            out.append(f"| {i} | {_ARROW.get(s.direction, s.direction)} | "
                       f"{_cell(s.label)}{_STATE.get(s.state, '')} | {_cell(s.detail)} |")
        out.append("")
    for chain in view.chains:
        out += [f"### Chain: {esc(chain.title)}", ""]
        if chain.verdict:
            out += [esc(chain.verdict), ""]
        lines = []
        for level, n in enumerate(chain.nodes):
            mark = "└─ " if level else ""
            errs = ("  !! " + "; ".join(n.errors)) if n.errors else ""
            lines.append(f"{'   ' * max(0, level - 1)}{mark}{n.subject}  [depth {n.depth}, "
                         f"{n.role}, from {n.source}]{errs}")
        out += [*fence("\n".join(lines) or "(empty)"), ""]
    if view.excerpts:
        out += ["### Configuration", ""]
        for e in view.excerpts:
            out.append(f"{code(f'{e.file}:{e.line}')}")
            width = len(str(e.lines[-1][0])) if e.lines else 1
            body = "\n".join(f"{'>' if n == e.line else ' '} {str(n).rjust(width)} | {t}"
                             for n, t in e.lines)
            out += [*fence(body, "nginx"), ""]
    if view.findings:
        out += ["### Findings", "", "| severity | rule | where | message | fix |",
                "|---|---|---|---|---|"]
        for f in view.findings:
            out.append(f"| {_cell(f.severity)} | {_cell(f.rule)} {_cell(f.name)} | "
                       f"{code(f.location).replace('|', '&#124;') if f.location else ' '} | "
                       f"{_cell(f.message)} | {_cell(f.fix or '')} |")
        out.append("")
    if view.notes:
        out += ["### Notes", ""] + [f"- {esc(n)}" for n in view.notes] + [""]
    out.append("<sub>mtls-doctor</sub>")
    return "\n".join(out) + "\n"


def render_markdown(report: Report, attachments: Attachments | None = None) -> str:
    from mtls_doctor.report.json import document

    return view_markdown(build_view(document(report), attachments))


__all__ = ["render_markdown", "view_markdown", "esc", "code"]
