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
        head = Text("  ")
        head.append_text(severity_text(f.severity))
        head.append(f" {f.rule} ", style="bold")
        head.append(f"{f.name} ", style="dim")
        head.append(str(f.location), style="magenta")
        console.print(head)
        console.print(Text("    " + f.message))
        for line in context(f) if context is not None else ():
            console.print(line)
        if f.fix is not None:
            console.print(Text("    fix: " + f.fix.text, style="green"))
            if f.fix.snippet:
                for line in f.fix.snippet.splitlines():
                    console.print(Text("      " + line, style="green"))
