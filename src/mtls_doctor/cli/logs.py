"""``mtls-doctor logs FILE...``: client-certificate failures in nginx error logs, grouped by cause.

Thin: stream each file (``.gz`` and ``-`` for stdin) through ``logs.summary.Summarizer``, run the
MTLS6xx rules, render. JSON (``--format json``) keys besides ``findings``:
``files`` (per input: ``path``, ``lines``, ``nginx_lines``, ``levels``, ``has_info``) and
``groups`` (biggest first: ``cause`` - a stable id from docs/log-causes.md -, ``title``,
``rule``, ``fault``, ``count``, ``verify_code`` (or null), ``verify_text``, ``explanation``,
``fix``, ``facts``, ``first``/``last`` (ISO, server local time, or null), ``servers``,
``clients`` (sample), ``clients_distinct``, ``clients_truncated``, ``hosts``, ``protocols``,
``levels``, ``details``, ``location``, ``example``).
"""

from __future__ import annotations

from typing import Any

import click

from mtls_doctor.cli.common import emit, fail_on_option, format_option

TOP_DETAILED = 3  # groups shown with why/fix; the rest one line each
MAX_LISTED = 15  # groups listed at all in text (JSON has every group)


def _render_text(report: Any) -> None:
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.report.text import print_findings
    from mtls_doctor.report.view import plural

    out = console()
    data = report.data
    for f in data["files"]:
        levels = ", ".join(f"{k} {n}" for k, n in f["levels"].items()) or "no nginx lines"
        out.print(Text(f"{f['path']}: " + (f"{plural(f['lines'], 'line')} ({levels})" if f["lines"]
                                           else "empty: nginx has written nothing to it "
                                           "(yet), or it was just rotated"), style="dim"))
    groups = data["groups"]
    if not groups:
        out.print(Text("No client-certificate or TLS failures found.", style="green"))
    else:
        total = sum(g["count"] for g in groups)
        out.print(Text(f"{plural(total, 'failure line')} in {plural(len(groups), 'group')}, "
                       "biggest first:", style="bold"))
    for i, g in enumerate(groups):
        if i == MAX_LISTED:
            rest = groups[i:]
            out.print(Text(f"{'':>7}  ... {len(rest)} more group(s), {sum(r['count'] for r in rest)} line(s): "
                           "--format json lists every group", style="dim"))
            break
        head = Text(f"{g['count']:>7}  ")
        head.append(g["cause"], style="bold")
        title = g["title"] if g["verify_code"] is None else f"{g['verify_text']}: {g['title']}"
        head.append(f"  {title}")
        out.print(head)
        if i >= TOP_DETAILED:
            continue
        when = g["first"] if g["first"] == g["last"] else f"{g['first']} .. {g['last']}"
        bits = [b for b in (when, "servers " + ", ".join(g["servers"][:3]) if g["servers"] else "",
                            f"{g['clients_distinct']}{'+' if g['clients_truncated'] else ''} client(s): "
                            + ", ".join(g["clients"][:3]) if g["clients"] else "",
                            "; ".join(f"{d['detail']} x{d['count']}" for d in g["details"][:3])) if b]
        out.print(Text("         " + " | ".join(bits), style="dim"))
        out.print(Text("         why: " + g["explanation"]))
        out.print(Text("         fix: " + g["fix"], style="green"))
        out.print(Text(f"         first at {g['location']['display']}", style="magenta"))
    file_findings = [f for f in report.findings if f.rule in ("MTLS601", "MTLS610")]
    if file_findings:
        print_findings(out, file_findings, title="About the input")


@click.command("logs")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@format_option()
@fail_on_option()
def command(files: tuple[str, ...], fmt: str, fail_on: str) -> int:
    """Group client-certificate failures in nginx error logs by cause, with explanations and
    fixes. FILE may be a rotated .gz file or - for stdin. Causes: docs/log-causes.md.
    """
    from mtls_doctor.logs.read import summarize_paths
    from mtls_doctor.model import Report, Severity
    from mtls_doctor.rules.logs import check

    summary = summarize_paths(files)
    report = Report(command="logs", findings=check(summary), data=summary.to_dict())
    emit(report, fmt, _render_text)
    return report.exit_code(Severity(fail_on))
