"""The ``mtls-doctor`` command: a thin, lazily loaded click group.

Each command lives in its own module and is imported only when it runs, so that
``mtls-doctor --help`` stays fast (no cryptography, rich or crossplane import). Exit codes:
0 fine, 1 findings, 2 usage or input error (one line on stderr, never a traceback).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import sys
import warnings

import click

from mtls_doctor import __version__

#: command name -> (module:attribute, one-line help). An explicit literal, not discovery.
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("mtls_doctor.cli.inspect:command", "Inspect certificate files: chain tree, facts, problems, CA names."),
    "verify": ("mtls_doctor.cli.verify:command", "Judge client certificates offline exactly as nginx would."),
    "lint": ("mtls_doctor.cli.lint:command", "Find mTLS mistakes in an nginx configuration."),
    "probe": ("mtls_doctor.cli.probe:command", "Watch a live mTLS handshake step by step; infer what the server enforces."),
    "logs": ("mtls_doctor.cli.logs:command", "Group client-certificate failures in nginx error logs by cause."),
    "diagnose": ("mtls_doctor.cli.diagnose:command", "Join lint, inspect, probe, verify and logs into ranked root causes."),
    "lab": ("mtls_doctor.cli.lab:group", "Lab PKI and real nginx scenarios on loopback."),
    "migrate": ("mtls_doctor.k8s.cli:migrate_command", "ingress-nginx mTLS to another Kubernetes front end: what changes, what to write."),
    "exporter": ("mtls_doctor.cli.exporter:command", "Serve Prometheus metrics: probe targets (/probe) and local CA files and CRLs (/metrics)."),
    "demo": ("mtls_doctor.cli.demo:command", "Run a broken and the good lab scenario side by side."),
    "rules": ("mtls_doctor.cli.rules:rules_command", "List every rule."),
    "explain": ("mtls_doctor.cli.rules:explain_command", "Show a rule's documentation."),
}


#: command path -> examples shown at the end of its --help (one home; a command whose own help
#: already has "Examples:" keeps it). Each line is a command that can be run as written in the
#: directory of a lab kept up: `mtls-doctor lab up depth-default --port 8443 --dir /tmp/lab
#: --detach && cd /tmp/lab` (tests/cli/test_help_examples.py runs every one of them).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "inspect": ("mtls-doctor inspect clients/deep-chain.pem",
                "mtls-doctor inspect clients/good.p12 --password env:P12_PASSWORD --format json"),
    "verify": ("mtls-doctor verify clients/deep-chain.pem --ssl-client-certificate ca/root.pem",
               "mtls-doctor verify clients/good-chain.pem --config nginx/nginx.conf --server-name localhost",
               "mtls-doctor verify clients/*.pem --ssl-client-certificate bundles/client-ca.pem --format html > verify.html"),
    "lint": ("mtls-doctor lint /etc/nginx/nginx.conf",
             "nginx -T 2>/dev/null | mtls-doctor lint - --format sarif > mtls.sarif",
             "mtls-doctor lint nginx/nginx.conf --diff | patch -p1 --dry-run"),
    "probe": ("mtls-doctor probe https://127.0.0.1:8443/ --ca-file ca/root.pem",
              "mtls-doctor probe https://localhost:8443/ --ca-file ca/root.pem --cert clients/good-chain.pem "
              "--key clients/good.key --format markdown"),
    "logs": ("mtls-doctor logs nginx/logs/error.log",
             "gzip -c nginx/logs/error.log | mtls-doctor logs - --format json"),
    "diagnose": ("mtls-doctor diagnose",
                 "mtls-doctor diagnose --url https://localhost:8443/ --ca-file ca/root.pem --cert clients/deep-chain.pem "
                 "--key clients/deep.key",
                 "mtls-doctor diagnose --config nginx/nginx.conf --symptom 400-no-certificate --format html > report.html"),
    "lab": ("mtls-doctor lab pki /tmp/lab", "mtls-doctor lab up depth-default --port 8443 --detach",
            "mtls-doctor lab down"),
    "lab pki": ("mtls-doctor lab pki /tmp/lab", "mtls-doctor lab pki /tmp/lab-rsa --key-type rsa --server-name api.test"),
    "lab list": ("mtls-doctor lab list", "mtls-doctor lab list --format json"),
    "migrate": ("mtls-doctor migrate ingress.yaml",
                "kubectl get ingress,secret -A -o yaml | mtls-doctor migrate - --format json"),
    "exporter": ("mtls-doctor exporter --config exporter.yaml --check",
                 "mtls-doctor exporter --config exporter.yaml --listen 127.0.0.1:9471"),
    "demo": ("mtls-doctor demo", "mtls-doctor demo --scenario depth-default --base-port 9443"),
    "rules": ("mtls-doctor rules", "mtls-doctor rules --format json"),
    "explain": ("mtls-doctor explain MTLS201",),
}


def _epilog(path: str) -> str | None:
    lines = EXAMPLES.get(path)
    return "\b\nExamples:\n" + "\n".join("  " + line for line in lines) if lines else None


def _set_verbosity(level: int):
    def callback(ctx: click.Context, param: click.Parameter, value: bool) -> None:
        if value:
            if ctx.meta.get("mtls_doctor.verbosity", 0) not in (0, level):
                raise click.UsageError("--quiet and --verbose contradict each other", ctx)
            ctx.meta["mtls_doctor.verbosity"] = level
            from mtls_doctor.cli import console

            console.set_verbosity(level)
    return callback


def _habits(cmd: click.Command, path: str) -> click.Command:
    """What every command has: an example in --help, --quiet/--verbose (added once)."""
    if getattr(cmd, "_mtls_doctor_habits", False):
        return cmd
    cmd._mtls_doctor_habits = True  # type: ignore[attr-defined]
    if not cmd.epilog and "Examples:" not in (cmd.help or ""):
        cmd.epilog = _epilog(path)
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            _habits(sub, f"{path} {name}")
        return cmd
    cmd.params.append(click.Option(
        ["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_verbosity(-1),
        help="Text output: print nothing on stdout (the exit code tells); errors still go to "
             "stderr, other formats are printed."))
    cmd.params.append(click.Option(
        ["-v", "--verbose"], is_flag=True, expose_value=False, callback=_set_verbosity(1),
        help="Text output: show everything it shortens (every cause and evidence line)."))
    _complete_one_spelling(cmd)
    callback = cmd.callback
    if callback is not None:
        import functools

        @functools.wraps(callback)
        def run_quietly(*args, **kwargs):
            ctx = click.get_current_context()
            if ctx.meta.get("mtls_doctor.verbosity") == -1 and kwargs.get("fmt", "text") == "text":
                import contextlib

                with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                    from mtls_doctor.cli import console

                    console.console.cache_clear()
                    try:
                        return callback(*args, **kwargs)
                    finally:
                        console.console.cache_clear()
            return callback(*args, **kwargs)

        cmd.callback = run_quietly
    return cmd


def _complete_one_spelling(cmd: click.Command) -> None:
    """Shell completion offers the spelling --help shows, not the hidden old ones
    (cli.common.OneSpelling: ``probe --s<TAB>`` gives --sni, not --servername)."""
    old = {o for p in cmd.params if isinstance(p, click.Option) and type(p).__name__ == "OneSpelling"
           for o in p.opts[1:]}
    if not old:
        return
    complete = cmd.shell_complete

    def shell_complete(ctx: click.Context, incomplete: str):
        return [item for item in complete(ctx, incomplete) if item.value not in old]

    cmd.shell_complete = shell_complete  # type: ignore[method-assign]


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (target, _) in COMMANDS.items() if _available(target)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _available(entry[0]):
            return None
        module_name, attr = entry[0].split(":")
        return _habits(getattr(importlib.import_module(module_name), attr), cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _available(target: str) -> bool:
    module_name = target.split(":")[0]
    return importlib.util.find_spec(module_name) is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mtls-doctor")
def cli() -> None:
    """Find out why mutual TLS (client certificates) does not work on nginx, say how to fix
    it, and prove that it works.

    Exit codes: 0 fine, 1 findings, 2 usage or input error.

    \b
    Examples:
      mtls-doctor diagnose
      mtls-doctor lab up depth-default --port 8443 --detach
      mtls-doctor verify --ssl-client-certificate ca/root.pem clients/deep-chain.pem
    Shell completion (bash; zsh, fish alike): eval "$(_MTLS_DOCTOR_COMPLETE=bash_source mtls-doctor)"
    """


#: exit codes after a signal, as a shell reports them (128 + signal number)
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C (``finally`` blocks stop nginx and remove temporary
    directories), then exit 143. A BaseException, so ``except Exception`` does not swallow it."""


#: Python functions that C calls back through ctypes: an exception raised in one is printed
#: ("Exception ignored on calling ctypes callback function") and lost, so a signal that lands
#: there is re-sent 50 ms later instead (pki/libcrypto.py: the verify callback of every chain)
_C_CALLBACKS = frozenset({("libcrypto.py", "_callback")})
_RETRY_SECONDS = 0.05


def _in_c_callback(frame) -> bool:
    while frame is not None:
        code = frame.f_code
        if (os.path.basename(code.co_filename), code.co_name) in _C_CALLBACKS:
            return True
        frame = frame.f_back
    return False


def _on_signal(signum, frame) -> None:
    import signal
    import threading

    if _in_c_callback(frame):  # raising here would be swallowed: ask again, outside it
        threading.Timer(_RETRY_SECONDS, os.kill, (os.getpid(), signum)).start()
        return
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _catch_signals() -> None:
    """SIGTERM unwinds like Ctrl-C (exit 143); both are delivered outside C callbacks."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_signal)


def main(argv: list[str] | None = None) -> int:
    from mtls_doctor.model import EXIT_USAGE, InputError

    _catch_signals()
    if sys.stdout is None:  # started with fd 1 closed (`>&-`): nowhere to write the result
        if sys.stderr is not None:
            click.echo("mtls-doctor: error: stdout is closed", err=True)
        return EXIT_USAGE
    _tolerant_streams()
    if not os.environ.get(ENV_DEBUG):
        # a library's warning is not for the user and would break the one-line error contract:
        # cryptography warns on every certificate with a zero or negative serial (RFC 5280
        # forbids it, OpenSSL and nginx take it); MTLS_DOCTOR_DEBUG=1 shows them
        warnings.simplefilter("ignore")
    try:
        rv = cli.main(args=argv, prog_name="mtls-doctor", standalone_mode=False)
    except Terminated:
        click.echo("mtls-doctor: terminated", err=True)
        return EXIT_SIGTERM
    except InputError as exc:
        from mtls_doctor.report.safe import terminal_safe

        click.echo(terminal_safe(f"mtls-doctor: error: {exc}"), err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:
        click.echo("mtls-doctor: interrupted", err=True)
        return EXIT_SIGINT
    except click.exceptions.NoArgsIsHelpError as exc:  # `mtls-doctor`, `mtls-doctor lab`: the help
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return EXIT_USAGE
    except click.UsageError as exc:  # one line, like every other error (README: exit codes)
        command = exc.ctx.command_path if exc.ctx is not None else "mtls-doctor"
        click.echo(f"mtls-doctor: error: {exc.format_message()} (see `{command} --help`)", err=True)
        return EXIT_USAGE
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if exc.exit_code != 0 else 0
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        click.echo("mtls-doctor: interrupted", err=True)
        return EXIT_SIGINT
    except MemoryError:
        click.echo("mtls-doctor: error: out of memory", err=True)
        return EXIT_USAGE
    except OSError as exc:  # the environment, not a bug: stdout on a full disk (/dev/full), EIO
        _silence_stdout()
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(f"mtls-doctor: error: {exc.strerror or exc}{where}", err=True)
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see internal_error()
        if os.environ.get(ENV_DEBUG):
            raise
        click.echo(internal_error(exc), err=True)
        return EXIT_USAGE
    return rv if isinstance(rv, int) else 0


def _tolerant_streams() -> None:
    """Names, subjects and paths are any Unicode; a terminal or pipe whose encoding cannot
    show a character (``PYTHONIOENCODING=ascii``, a latin-1 locale) gets it escaped
    (``\\xc6``), not a UnicodeEncodeError half-way through the report."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


#: set to show the traceback of an internal error instead of its one line
ENV_DEBUG = "MTLS_DOCTOR_DEBUG"


def internal_error(exc: BaseException) -> str:
    """The one line for an exception no layer turned into data (a bug): the user gets one
    clear line and exit 2, never a traceback. Only the exception's type and the start of its
    first line are shown (no file content can follow: messages of this code never quote it)."""
    text = (str(exc).splitlines() or [""])[0][:160]
    return (f"mtls-doctor: internal error: {type(exc).__name__}"
            + (f": {text}" if text else "")
            + f" (a bug: please report it; {ENV_DEBUG}=1 shows the traceback)")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's last flush of unwritable output does
    not add an "Exception ignored" message after our one line."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def run() -> None:  # console-script entry point
    from mtls_doctor.model import EXIT_USAGE

    code = main()
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError:  # e.g. stdout on /dev/full, found only at the final flush
        _silence_stdout()
        click.echo("mtls-doctor: error: cannot write the output", err=True)
        code = EXIT_USAGE
    _forget_handled_interrupt()
    sys.exit(code)


def _forget_handled_interrupt() -> None:
    """Clear CPython's "unhandled KeyboardInterrupt" flag before exiting.

    CPython sets that flag when a KeyboardInterrupt leaves code it ran through its PyRun_*
    functions (``exec`` of a string is one: dataclasses build their methods so when a module is
    imported, and imports here are lazy), even when an outer ``except`` then handles it; at exit
    the flag makes the interpreter kill itself with SIGINT. Measured: about one interrupted
    ``lab run`` in 40 ended "killed by SIGINT" after printing "interrupted". Each ``exec`` of a
    string resets the flag before it runs, and one that completes leaves it clear."""
    exec("None")  # noqa: S102 - a constant; see the docstring
