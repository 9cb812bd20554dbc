"""Readable text output with rich: the findings every command ends with, tables and wrapped lines.

Invariants: a word is never split and a name one must type (a scenario, a rule code, a path) is
never truncated, at any width, in a terminal or a pipe: tables (``print_table``) size the
columns of names to their longest cell and wrap only the prose columns, at spaces; prose lines
(``wrapped``) wrap at spaces with their indent kept on every continuation line. The width is
the terminal's or ``$COLUMNS``; in a pipe without ``$COLUMNS`` prose is not wrapped at all (one
finding, one line: grep finds it) and tables lay out to 100 columns (cli.console).
"""

from __future__ import annotations

import os
import textwrap
from typing import Callable, Iterable, Sequence

from rich.console import Console
from rich.text import Text

from mtls_doctor.model import Finding, Severity, sort_findings

SEVERITY_STYLE = {
    Severity.INFO: "cyan",
    Severity.WARNING: "yellow",
    Severity.ERROR: "red",
    Severity.CRITICAL: "bold white on red",
}


def severity_text(severity: Severity) -> Text:
    return Text(severity.value.upper(), style=SEVERITY_STYLE[severity])


def print_findings(
    console: Console,
    findings: Iterable[Finding],
    title: str = "Findings",
    context: Callable[[Finding], Iterable[Text]] | None = None,
) -> None:
    """One block per finding: severity, rule, location, message, the ``context`` lines (e.g.
    the config lines around ``file:line``), then the fix indented."""
    ordered = sort_findings(findings)
    if not ordered:
        console.print(Text(f"{title}: none", style="green"))
        return
    console.print(Text(f"{title} ({len(ordered)})", style="bold"))
    for f in ordered:
        # one print per finding (rich's per-call cost dominates 20,000 findings), each line its
        # own Text joined by newlines: the same output as one print per line
        head = Text("  ")
        head.append_text(severity_text(f.severity))
        head.append(f" {f.rule} ", style="bold")
        head.append(f"{f.name} ", style="dim")
        head.append(str(f.location), style="magenta")
        lines = [head, *wrapped(console, f.message, "    ")]
        lines.extend(context(f) if context is not None else ())
        if f.fix is not None:
            lines.extend(wrapped(console, "fix: " + f.fix.text, "    ", style="green", hang=5))
            if f.fix.snippet:
                lines.extend(Text("      " + line, style="green") for line in f.fix.snippet.splitlines())
        console.print(Text("\n").join(lines))


def wrap_width(console: Console) -> int | None:
    """The width prose wraps at: the terminal's or $COLUMNS; None in a pipe without $COLUMNS."""
    if console.is_terminal or os.environ.get("COLUMNS", "").strip().isdigit():
        return console.width
    return None


def wrapped(console: Console, text: str, indent: str = "", style: str = "", hang: int = 2,
            width: int | None = None) -> list[Text]:
    """``text`` as lines at ``indent``, wrapped at spaces only (never inside a word, a path or
    a URL); continuation lines keep the indent plus ``hang`` spaces."""
    width = width or wrap_width(console)
    lines = text.splitlines() or [""]
    if width is None:
        return [Text(indent + line, style=style) for line in lines]
    out: list[Text] = []
    for line in lines:
        parts = textwrap.wrap(line, width=max(width, len(indent) + 20), initial_indent=indent,
                              subsequent_indent=indent + " " * hang, break_long_words=False,
                              break_on_hyphens=False) or [indent]
        out.extend(Text(p, style=style) for p in parts)
    return out


def print_lines(console: Console, lines: Iterable[Text]) -> None:
    """Print lines as laid out here: rich neither re-wraps nor crops them."""
    console.print(Text("\n").join(list(lines)), soft_wrap=True, crop=False)


GAP = 2


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int,
                prose: Iterable[int] = ()) -> list[str]:
    """A table as text lines: columns not in ``prose`` are as wide as their longest cell (names
    one must type are never cut); ``prose`` columns share the rest of ``width`` and wrap at
    spaces (each at least as wide as its longest word: a word is never split)."""
    prose = set(prose)
    cells = [[str(c) for c in r] for r in rows]
    n = len(headers)
    natural = [max([len(headers[i])] + [max((len(x) for x in r[i].splitlines()), default=0)
                                        for r in cells]) for i in range(n)]
    longest_word = [max([len(headers[i])] + [len(w) for r in cells for w in r[i].split()])
                    for i in range(n)]
    widths = list(natural)
    room = width - sum(natural[i] for i in range(n) if i not in prose) - GAP * (n - 1)
    wanted = sum(natural[i] for i in prose)
    if prose and wanted > room:
        share = max(room, 0)
        for i in sorted(prose):
            widths[i] = longest_word[i]
        spare = share - sum(widths[i] for i in prose)
        grow = [i for i in sorted(prose) if natural[i] > widths[i]]
        while spare > 0 and grow:  # hand out what is left, one column at a time
            for i in list(grow):
                if spare <= 0:
                    break
                widths[i] += 1
                spare -= 1
                if widths[i] >= natural[i]:
                    grow.remove(i)

    def layout(row: Sequence[str]) -> list[str]:
        columns = []
        for i, cell in enumerate(row):
            if i in prose:
                parts = [p for line in cell.splitlines() or [""]
                         for p in (textwrap.wrap(line, widths[i], break_long_words=False,
                                                 break_on_hyphens=False) or [""])]
            else:
                parts = cell.splitlines() or [""]
            columns.append(parts)
        height = max(len(c) for c in columns)
        out = []
        for k in range(height):
            bits = [(c[k] if k < len(c) else "").ljust(widths[i]) for i, c in enumerate(columns)]
            out.append((" " * GAP).join(bits).rstrip())
        return out

    lines = layout(list(headers))
    for r in cells:
        lines.extend(layout(r))
    return lines


def print_table(console: Console, headers: Sequence[str], rows: Sequence[Sequence[str]],
                prose: Iterable[int] = (), title: str | None = None) -> None:
    """``table_lines`` at the console's width, the header in bold."""
    lines = table_lines(headers, rows, console.width, prose)
    out = ([Text(title, style="bold")] if title else []) + [Text(lines[0], style="bold")]
    out.extend(Text(line) for line in lines[1:])
    print_lines(console, out)
