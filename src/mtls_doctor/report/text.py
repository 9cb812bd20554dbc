"""Readable text output with rich: the findings table every command ends with."""

from __future__ import annotations

from typing import Callable, Iterable

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
        lines = [head, Text("    " + f.message)]
        lines.extend(context(f) if context is not None else ())
        if f.fix is not None:
            lines.append(Text("    fix: " + f.fix.text, style="green"))
            if f.fix.snippet:
                lines.extend(Text("      " + line, style="green") for line in f.fix.snippet.splitlines())
        console.print(Text("\n").join(lines))
