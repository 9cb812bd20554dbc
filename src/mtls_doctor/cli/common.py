"""Options and output plumbing shared by the command modules (kept small on purpose)."""

from __future__ import annotations

import sys
from typing import Callable

import click

from mtls_doctor.model import EXIT_USAGE, InputError, Report, Severity

FORMATS = ("text", "json")


def format_option(*extra: str) -> Callable:
    choices = FORMATS + extra
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="text",
        show_default=True,
        help="Output format: readable text, or " + ", ".join(choices[1:]) + ".",
    )


def fail_on_option() -> Callable:
    return click.option(
        "--fail-on",
        type=click.Choice([s.value for s in Severity]),
        default=Severity.WARNING.value,
        show_default=True,
        help="Exit 1 when any finding is at or above this severity.",
    )


def emit(report: Report, fmt: str, render_text: Callable[[Report], None]) -> None:
    """Write the report in the chosen format to stdout."""
    if fmt == "json":
        from mtls_doctor.report.json import render_json

        sys.stdout.write(render_json(report))
    elif fmt == "sarif":
        from mtls_doctor import __version__
        from mtls_doctor.report.sarif import render_sarif

        sys.stdout.write(render_sarif(report, __version__))
    else:
        render_text(report)


def fail(message: str) -> None:
    """Usage or input error: one clear line on stderr, exit 2."""
    raise InputError(message)


__all__ = ["format_option", "fail_on_option", "emit", "fail", "EXIT_USAGE"]
