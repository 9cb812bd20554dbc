"""Options and output plumbing shared by the command modules (kept small on purpose)."""

from __future__ import annotations

import sys
from typing import Callable

import click

from mtls_doctor.model import EXIT_USAGE, InputError, Report, Severity

FORMATS = ("text", "json")
#: the formats of a report to share (report.markdown, report.html): diagnose, probe, verify, lint
REPORTS = ("markdown", "html")


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


class OneSpelling(click.Option):
    """An option with one spelling shown in --help (the first); the others are hidden aliases
    kept for old command lines (``probe --servername`` = ``--sni``)."""

    def get_help_record(self, ctx: click.Context):
        shown, self.opts = self.opts, self.opts[:1]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


def fail_on_option(default: str = Severity.WARNING.value, what: str = "") -> Callable:
    return click.option(
        "--fail-on",
        type=click.Choice([s.value for s in Severity]),
        default=default,
        show_default=True,
        help="Exit 1 when any finding is at or above this severity" + (f" ({what})." if what else "."),
    )


def emit(report: Report, fmt: str, render_text: Callable[[Report], None],
         attachments=None) -> None:
    """Write the report in the chosen format to stdout. ``attachments``
    (``report.view.Attachments``): what markdown and html add to the document (config lines,
    the chains nginx built)."""
    if fmt in REPORTS:
        from mtls_doctor.report.html import render_html
        from mtls_doctor.report.markdown import render_markdown

        from mtls_doctor.report.safe import terminal_safe

        sys.stdout.write(terminal_safe((render_html if fmt == "html" else render_markdown)(report, attachments)))
    elif fmt == "json":
        from mtls_doctor.report.json import render_json

        sys.stdout.write(render_json(report))
    elif fmt == "sarif":
        from mtls_doctor import __version__
        from mtls_doctor.report.sarif import render_sarif, resolve_base

        # the command's own --base and inputs (lint: PATH...), read from its click context
        ctx = click.get_current_context(silent=True)
        params = ctx.params if ctx is not None else {}
        inputs = [str(p) for p in params.get("paths") or ()]
        base = resolve_base(params.get("base"), inputs)
        sys.stdout.write(render_sarif(report, __version__, base=base, inputs=inputs))
    else:
        render_text(report)


PASSWORD_ENV = "MTLS_DOCTOR_PASSWORD"


def password_option(what: str) -> Callable:
    """``--password`` as every command takes it: the text, ``env:VAR``, or $MTLS_DOCTOR_PASSWORD."""
    return click.option(
        "--password",
        metavar="TEXT",
        envvar=PASSWORD_ENV,
        help=f"Password of {what} ('env:VAR' reads $VAR; or set {PASSWORD_ENV}, which `ps` does not show).",
    )


def password_bytes(value: str | None) -> bytes | None:
    """The bytes of a ``--password`` value (``env:VAR`` reads the variable)."""
    import os

    if value is None:
        return None
    if value.startswith("env:"):
        found = os.environ.get(value[4:])
        if found is None:
            fail(f"--password {value}: environment variable not set")
        return found.encode()  # type: ignore[union-attr]
    return value.encode()


def parse_at(value: str | None):
    """The ``--at`` option of every command: ISO 8601 (``Z`` or an offset; naive = UTC) or
    ``now``/empty for now. Returned in UTC; a time UTC cannot hold is a usage error."""
    from datetime import datetime, timezone

    text = (value or "").strip()
    if not text or text.lower() == "now":
        return datetime.now(timezone.utc)
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        fail(f"--at: not an ISO 8601 time: {value!r} (e.g. 2026-11-28T00:00:00Z)")
        raise  # unreachable: fail() raises


class DeadlineExceeded(InputError):
    """The whole command ran past its deadline (one line, exit 2)."""


def deadline(seconds: float, message: str):
    """A context manager: the whole block must end within ``seconds`` (SIGALRM, main thread
    only), else ``DeadlineExceeded(message)``. The last bound on a command whose steps are
    each bounded but whose inputs are not all ours to open (a log that is a terminal or a pipe
    nobody writes to). A signal that lands in a ctypes callback is re-armed, not lost."""
    import contextlib
    import signal
    import threading

    @contextlib.contextmanager
    def guard():
        if threading.current_thread() is not threading.main_thread() or seconds <= 0:
            yield
            return

        def fire(signum, frame):
            from mtls_doctor.cli import _in_c_callback

            if _in_c_callback(frame):
                signal.setitimer(signal.ITIMER_REAL, 0.05)
                return
            raise DeadlineExceeded(message)

        previous = signal.signal(signal.SIGALRM, fire)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return guard()


def fail(message: str) -> None:
    """Usage or input error: one clear line on stderr, exit 2."""
    raise InputError(message)


__all__ = ["format_option", "fail_on_option", "emit", "fail", "parse_at", "password_option", "password_bytes", "EXIT_USAGE"]


def target_options(nginx_help: str = "The nginx to predict for (also one inside another OS "
                   "root): its version, TLS library and the very libcrypto it loads.") -> Callable:
    """``--nginx PATH``, ``--nginx-version``, ``--openssl-version``: the same on every command
    (``mtls_doctor.nginx.target``)."""
    def wrap(fn: Callable) -> Callable:
        fn = click.option("--openssl-version", "openssl_version", metavar="X.Y.Z",
                          help="Predict codes and texts for this OpenSSL (`nginx -V`: "
                               "'running with'); default: that of --nginx, else this "
                               "machine's.")(fn)
        fn = click.option("--nginx-version", "nginx_version", metavar="X.Y.Z",
                          help="Judge for this nginx version (default: that of --nginx or of "
                               "the nginx found).")(fn)
        return click.option("--nginx", "nginx", metavar="PATH", help=nginx_help)(fn)
    return wrap


def resolve_target(nginx: str | None, nginx_version: str | None, openssl_version: str | None):
    """``nginx.target.resolve`` with its InputError as one line and exit 2."""
    from mtls_doctor.model import InputError
    from mtls_doctor.nginx.target import resolve

    try:
        return resolve(nginx, nginx_version, openssl_version)
    except InputError as exc:
        fail(str(exc))
        raise


def complete_scenario(ctx: click.Context, param: click.Parameter, incomplete: str):
    """Shell completion of a lab scenario name (`lab up <TAB>`, `lab run`, `demo --scenario`)."""
    from mtls_doctor.lab.scenarios import SCENARIOS

    return [s.name for s in SCENARIOS if s.name.startswith(incomplete)]


def complete_rule(ctx: click.Context, param: click.Parameter, incomplete: str):
    """Shell completion of a rule code (`explain <TAB>`, `lint --select`)."""
    from mtls_doctor.rules import REGISTRY

    return [code for code in sorted(REGISTRY) if code.startswith(incomplete.upper())]
