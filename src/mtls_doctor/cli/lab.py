"""``mtls-doctor lab pki|list|run``: the lab PKI on disk and real-nginx scenarios on loopback.

Thin: the PKI comes from ``mtls_doctor.lab.pki``, the scenarios from ``mtls_doctor.lab.scenarios``
and the measurements from ``mtls_doctor.lab.run``; this module parses options, renders tables
and picks the exit code (0 every row as expected, 1 otherwise, 2 usage error or no nginx).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import click

from mtls_doctor.cli.common import OneSpelling, complete_scenario, fail, format_option

_SHORT_LOG_CUT = " while "


@click.group("lab")
def group() -> None:
    """Lab PKI and real nginx scenarios on loopback (127.0.0.1 only)."""


def base_port_option():
    """``--base-port N`` (``--port`` a hidden alias): the first loopback port; the scenarios run
    one after the other, each on N (a proxy scenario's echo backend on N+1). Default: free ports."""
    return click.option("--base-port", "--port", "base_port", cls=OneSpelling, type=click.IntRange(1, 65534),
                        metavar="N", help="Listen on 127.0.0.1:N (a proxy scenario's backend on "
                        "N+1) instead of free ports; the scenarios run one after the other.")


@group.command("pki")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--key-type", type=click.Choice(["ec", "rsa"]), default="ec", show_default=True,
              help="Key algorithm of every certificate.")
@click.option("--server-name", "server_names", multiple=True, metavar="NAME",
              help="Extra DNS name for the server certificate (repeatable).")
@click.option("--force", is_flag=True, help="Overwrite the lab files in a non-empty directory.")
@format_option()
def pki_command(directory: Path, key_type: str, server_names: tuple[str, ...], force: bool,
                fmt: str) -> int:
    """Write a complete lab PKI (CAs, server, every broken client, CRLs, bundles) to DIRECTORY."""
    from datetime import datetime, timezone

    from mtls_doctor.cli.console import console
    from mtls_doctor.lab.pki import build_lab_pki

    pki = build_lab_pki(datetime.now(timezone.utc), key_type=key_type, server_names=server_names)
    try:
        manifest = pki.write(directory, force=force)
    except (FileExistsError, NotADirectoryError) as exc:
        fail(str(exc))
        return 2
    except OSError as exc:
        fail(f"cannot write {directory}: {exc.strerror or exc}")
        return 2
    data = json.loads(manifest.read_text())
    if fmt == "json":  # the manifest (paths, roles, fingerprints; never key material)
        from mtls_doctor.report.json import dumps, envelope, lab_pki

        out = envelope("lab pki", {"directory": str(directory), "manifest": str(manifest),
                                   **lab_pki(data)})
        sys.stdout.write(dumps(out))
        return 0
    console().print(f"wrote {len(data['files'])} files ({key_type}) to {directory}; "
                    f"manifest: {manifest}", markup=False)
    console().print(f"keys are mode 0600; PKCS#12 password: {data['pkcs12_password']!r}",
                    markup=False)
    return 0


@group.command("list")
@format_option()
def list_command(fmt: str) -> int:
    """List the scenarios: name, correct or broken, what each demonstrates."""
    from mtls_doctor.lab.scenarios import SCENARIOS

    if fmt == "json":
        from mtls_doctor.report.json import dumps, envelope, lab_scenario

        data = envelope("lab list", {"scenarios": [lab_scenario(s.to_dict()) for s in SCENARIOS]})
        sys.stdout.write(dumps(data))
        return 0
    from mtls_doctor.cli.console import console
    from mtls_doctor.report.text import print_table

    # the names are typed into `lab run`/`lab up`: never cut; title and facts wrap at spaces
    print_table(console(), ("scenario", "kind", "clients", "title", "facts"),
                [(s.name, "broken" if s.broken else "correct", str(len(s.clients)), s.title,
                  " ".join(s.facts)) for s in SCENARIOS], prose=(3, 4))
    return 0


@group.command("run")
@click.argument("scenarios", nargs=-1, metavar="[SCENARIO...]", shell_complete=complete_scenario)
@click.option("--nginx", "nginx", metavar="PATH", help="The nginx binary (default: PATH, /usr/sbin).")
@format_option()
@click.option("--keep", is_flag=True, help="Keep each scenario's nginx prefix (config, logs) and the PKI.")
@click.option("--matrix", is_flag=True,
              help="Run on every nginx of the version matrix (this machine's and the roots "
                   "tools/roots.sh built in $MTLS_DOCTOR_ROOTS) and show where they differ.")
@base_port_option()
def run_command(scenarios: tuple[str, ...], nginx: str | None, fmt: str, keep: bool,
                matrix: bool, base_port: int | None = None) -> int:
    """Run scenarios on real nginx (all by default) and compare with the expected behaviour
    (expectations follow the nginx and OpenSSL version: codes, texts, directives).

    Exit 0 when every client got what the scenario expects, 1 otherwise, 2 when nginx is
    missing or a scenario name is unknown.

    \b
    Examples:
      mtls-doctor lab run depth-default
      mtls-doctor lab run depth-default good --base-port 9443
      mtls-doctor lab run depth-default --nginx /var/cache/mtls-doctor/roots/bullseye/usr/sbin/nginx
      mtls-doctor lab run --matrix
    """
    from mtls_doctor.lab.scenarios import SCENARIOS, get

    chosen = []
    for name in scenarios:
        scenario = get(name)
        if scenario is None:
            fail(f"no scenario {name!r}; `mtls-doctor lab list` shows them")
        chosen.append(scenario)
    if matrix:
        if nginx is not None:
            fail("--matrix runs every nginx of the matrix: leave out --nginx")
        if base_port is not None:
            fail("--matrix runs several nginx at once on free ports: leave out --base-port")
        return _run_matrix(chosen or list(SCENARIOS), fmt)
    results, total, workdir = execute(chosen or list(SCENARIOS), nginx, keep, base_port)
    ok = all(r.matched for r in results)
    if fmt == "json":
        from mtls_doctor.report.json import dumps, envelope, lab_result

        data = envelope("lab run", {"matched": ok, "seconds": round(total, 3),
                                    "workdir": str(workdir) if keep else None,
                                    "scenarios": [lab_result(r.to_dict()) for r in results]})
        sys.stdout.write(dumps(data))
    else:
        from mtls_doctor.cli.console import console

        for result in results:
            render_result(result)
        matched = sum(r.matched for r in results)
        console().print(f"{matched}/{len(results)} scenarios behaved as expected "
                        f"in {total:.1f} s ({results[0].nginx if results else 'nginx'})")
        if keep:
            console().print(f"kept: {workdir} (pki/ and one nginx prefix per scenario)",
                            markup=False)
    return 0 if ok else 1


def _run_matrix(scenarios: Sequence[Any], fmt: str) -> int:
    from mtls_doctor.lab.matrix import differences, matrix_nginx, roots_dir

    binaries = matrix_nginx()
    if not binaries:
        fail(f"no nginx here and no roots in {roots_dir()}: run tools/roots.sh build")
    by_nginx: dict[str, list[Any]] = {}
    for binary in binaries:
        results, _, _ = execute(scenarios, binary, False)
        label = results[0].nginx.removeprefix(binary).strip() if results else binary
        by_nginx[label] = results
    ok = all(r.matched for results in by_nginx.values() for r in results)
    diffs = differences(by_nginx)
    if fmt == "json":
        from mtls_doctor.report.json import dumps, envelope, lab_matrix

        data = {"matched": ok,
                "nginx": {label: {"path": binary, "matched": sum(r.matched for r in rs),
                                  "scenarios": len(rs)}
                          for (label, rs), binary in zip(by_nginx.items(), binaries)},
                "differences": diffs}
        sys.stdout.write(dumps(envelope("lab run", lab_matrix(data))))
        return 0 if ok else 1
    from mtls_doctor.cli.console import console
    from mtls_doctor.report.text import print_table

    for label, results in by_nginx.items():
        console().print(f"{label}: {sum(r.matched for r in results)}/{len(results)} scenarios "
                        "behaved as expected", markup=False)
    print_table(console(), ("scenario / client", *by_nginx),
                [(f"{d['scenario']} / {d['client']}", *d["by_nginx"].values()) for d in diffs],
                prose=range(1, len(by_nginx) + 1), title="Where the versions differ")
    return 0 if ok else 1


def execute(scenarios: Sequence[Any], nginx: str | None, keep: bool,
            base_port: int | None = None) -> tuple[list[Any], float, Path]:
    """Build one PKI and run every scenario; nginx problems become one line and exit 2.
    With ``base_port`` every scenario listens on it (and the next port for a backend)."""
    import shutil
    import tempfile
    import time
    from datetime import datetime, timezone

    from mtls_doctor.lab.nginx import NginxNotFound, find_nginx
    from mtls_doctor.lab.pki import build_lab_pki
    from mtls_doctor.lab.run import run_scenario

    try:
        nginx_bin = find_nginx(nginx)
    except NginxNotFound as exc:
        fail(str(exc))
        raise  # unreachable: fail raises
    if base_port is not None:
        from mtls_doctor.lab.up import _port_free

        width = max((s.ports for s in scenarios), default=1)
        for port in range(base_port, base_port + width):
            if not _port_free(port):
                fail(f"--base-port {base_port}: 127.0.0.1:{port} is in use")
    started = time.monotonic()
    pki = build_lab_pki(datetime.now(timezone.utc))
    workdir = Path(tempfile.mkdtemp(prefix="mtls-doctor-lab-"))
    done = False
    try:
        if keep:
            pki.write(workdir / "pki")
        results = [run_scenario(s, pki, nginx_bin, workdir, keep=keep,
                                ports=tuple(range(base_port, base_port + s.ports))
                                if base_port is not None else None)
                   for s in scenarios]
        done = True
    finally:
        if not keep or not done:  # --keep keeps a complete run, never a partial one (ENOSPC)
            shutil.rmtree(workdir, ignore_errors=True)
    return results, time.monotonic() - started, workdir


def short_log(line: str | None) -> str:
    """The info log line without its context (``while reading client request headers, ...``)."""
    if not line:
        return "-"
    text = line.split(_SHORT_LOG_CUT, 1)[0].replace("[info] ", "")
    return text.split("verify error: ", 1)[1] if "verify error: " in text else text


def short_page(row: Any) -> str:
    """The page text; the echo backend's whole answer; or the TLS error without its prefix."""
    import re

    if row.status is None:
        return "TLS: " + re.sub(r"^\[SSL: [A-Z0-9_]+\] ", "", row.error or "no answer")
    if row.page == "echo":
        return row.body.strip()
    return row.page or "-"


def client_label(row: Any) -> str:
    extras = []
    if not row.sni:
        extras.append("no SNI")
    if row.client is not None and not row.send_chain:
        extras.append("leaf only")
    label = row.client_id
    return f"{label} ({', '.join(extras)})" if extras else label


RESULT_HEADERS = ("client", "HTTP", "page", "$ssl_client_verify", "$ssl_client_s_dn",
                  "info log line", "expected?")


def result_rows(result: Any) -> list[tuple[str, ...]]:
    return [(client_label(row), str(row.status) if row.status is not None else "-", short_page(row),
             row.ssl_client_verify or "-", row.ssl_client_s_dn or "-",
             short_log(row.log_line), "yes" if row.matched else "NO") for row in result.rows]


def render_result(result: Any) -> None:
    from mtls_doctor.cli.console import console
    from mtls_doctor.lab.scenarios import get

    out = console()
    scenario = get(result.scenario)
    kind = "broken" if result.broken else "correct"
    from mtls_doctor.cli.console import heading

    heading(out, f"{result.scenario} ({kind}): {result.title}")
    if scenario is not None:
        out.print(f"{scenario.demonstrates} [{' '.join(scenario.facts)}]", markup=False)
        if scenario.fix:
            out.print(f"fix: {scenario.fix}", markup=False)
    if result.expected_error is not None:
        state = "as expected" if result.matched else "NOT as expected"
        out.print(f"nginx -t: {result.error or 'passed'} ({state}; expected "
                  f"{result.expected_error!r})", markup=False)
        return
    if result.error:
        out.print(f"nginx did not run: {result.error}", markup=False)
        return
    from mtls_doctor.report.text import print_table

    print_table(out, RESULT_HEADERS, result_rows(result), prose=(2, 3, 4, 5))
    for row in result.rows:
        for problem in row.mismatches:
            out.print(f"  {row.client_id}: {problem}", markup=False)
    out.print()


@group.command("up", epilog="""\b
Examples:
  mtls-doctor lab up depth-default --port 8443            # until Ctrl-C
  mtls-doctor lab up depth-default --port 8443 --detach   # until `mtls-doctor lab down`
  mtls-doctor lab up good --port 9443 --dir /tmp/lab-good --detach""")
@click.argument("scenario", shell_complete=complete_scenario)
@click.option("--port", type=click.IntRange(1, 65534), default=8443, show_default=True,
              help="Listen on 127.0.0.1:PORT (a proxy scenario's echo backend on PORT+1).")
@click.option("--dir", "directory", metavar="DIR",
              help="Write the lab PKI and nginx's prefix (config, logs) to DIR, an empty or new "
                   "directory, kept after `lab down` (default: in the private run directory, "
                   "removed on down).")
@click.option("--detach", is_flag=True,
              help="Return once nginx listens; it runs until `mtls-doctor lab down`.")
@click.option("--nginx", "nginx", metavar="PATH", help="The nginx binary (default: PATH, /usr/sbin).")
def up_command(scenario: str, port: int, directory: str | None, detach: bool,
               nginx: str | None) -> int:
    """Start one lab SCENARIO on 127.0.0.1:PORT and keep it running until Ctrl-C or
    `mtls-doctor lab down`; prints its CA, client certificates and keys, config and error log,
    and a curl command to try. Exit 0 once stopped, 2 when the port is taken or the scenario
    is unknown."""
    from mtls_doctor.lab import up

    if directory is not None:
        directory = os.path.abspath(directory)
    if detach:
        up.check_up(scenario, port, directory)  # refuse at once, in this process's words
        argv = ["lab", "up", scenario, "--port", str(port)]
        argv += ["--dir", directory] if directory else []
        argv += ["--nginx", nginx] if nginx else []
        _print_up(up.detach(argv, port), detached=True)
        return 0
    up.serve(scenario, port, directory, nginx, lambda state: _print_up(state, detached=False))
    return 0


def _print_up(state: Any, detached: bool) -> None:
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.lab.scenarios import get

    out = console()
    scenario = get(state.scenario)
    kind = "broken" if scenario is not None and scenario.broken else "correct"
    out.print(Text(f"lab scenario {state.scenario} ({kind}) is up on {state.url} "
                   f"(127.0.0.1:{state.port}; nginx pid {state.nginx_pid})", style="bold"))
    rows = [("files", state.directory), ("CA", state.path("ca/root.pem")),
            ("config", state.path("nginx/nginx.conf")),
            ("error log", state.path("nginx/logs/error.log"))]
    for name in state.clients:
        rows.append((f"client {name}", state.path(f"clients/{name}-chain.pem") + "  key "
                     + state.path(f"clients/{name}.key")))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        line = Text(f"  {key.ljust(width)}  ", style="dim")
        line.append(value)
        out.print(line)
    client = state.clients[0] if state.clients else None
    curl = f"curl --cacert {state.path('ca/root.pem')}"
    if client is not None:
        curl += (f" --cert {state.path(f'clients/{client}-chain.pem')}"
                 f" --key {state.path(f'clients/{client}.key')}")
    out.print(Text("  try: ", style="dim") + Text(f"{curl} {state.url}"))
    out.print(Text("  stop: ", style="dim") + Text(f"mtls-doctor lab down --port {state.port}"
                                                    + ("" if detached else "  (or Ctrl-C)")))
    sys.stdout.flush()


@group.command("down", epilog="""\b
Examples:
  mtls-doctor lab down
  mtls-doctor lab down --port 8443""")
@click.option("--port", type=click.IntRange(1, 65535), help="Only the scenario on this port (default: every one that is up).")
def down_command(port: int | None) -> int:
    """Stop lab scenarios started by `mtls-doctor lab up` (bounded: SIGTERM, then SIGKILL);
    stale state left by a process that is gone is removed. Exit 0."""
    from mtls_doctor.cli.console import console
    from mtls_doctor.lab import up

    for line in up.down(port):
        console().print(line, markup=False, highlight=False)
    return 0
