"""``mtls-doctor lab pki|list|run``: the lab PKI on disk and real-nginx scenarios on loopback.

Thin: the PKI comes from ``mtls_doctor.lab.pki``, the scenarios from ``mtls_doctor.lab.scenarios``
and the measurements from ``mtls_doctor.lab.run``; this module parses options, renders tables
and picks the exit code (0 every row as expected, 1 otherwise, 2 usage error or no nginx).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import click

from mtls_doctor.cli.common import fail, format_option

_SHORT_LOG_CUT = " while "


@click.group("lab")
def group() -> None:
    """Lab PKI and real nginx scenarios on loopback (127.0.0.1 only)."""


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
    from rich.table import Table
    from rich.text import Text

    from mtls_doctor.cli.console import console

    table = Table("scenario", "kind", "clients", "title", "facts", box=None, pad_edge=False)
    for s in SCENARIOS:
        table.add_row(s.name, "broken" if s.broken else "correct", str(len(s.clients)),
                      Text(s.title), " ".join(s.facts))
    console().print(table)
    return 0


@group.command("run")
@click.argument("scenarios", nargs=-1, metavar="[SCENARIO...]")
@click.option("--nginx", "nginx", metavar="PATH", help="The nginx binary (default: PATH, /usr/sbin).")
@format_option()
@click.option("--keep", is_flag=True, help="Keep each scenario's nginx prefix (config, logs) and the PKI.")
@click.option("--matrix", is_flag=True,
              help="Run on every nginx of the version matrix (this machine's and the roots "
                   "tools/roots.sh built in $MTLS_DOCTOR_ROOTS) and show where they differ.")
def run_command(scenarios: tuple[str, ...], nginx: str | None, fmt: str, keep: bool,
                matrix: bool) -> int:
    """Run scenarios on real nginx (all by default) and compare with the expected behaviour
    (expectations follow the nginx and OpenSSL version: codes, texts, directives).

    Exit 0 when every client got what the scenario expects, 1 otherwise, 2 when nginx is
    missing or a scenario name is unknown.

    \b
    Examples:
      mtls-doctor lab run depth-default
      mtls-doctor lab run --nginx /var/cache/mtls-doctor/roots/bullseye/usr/sbin/nginx
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
        return _run_matrix(chosen or list(SCENARIOS), fmt)
    results, total, workdir = execute(chosen or list(SCENARIOS), nginx, keep)
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
    from rich.table import Table

    from mtls_doctor.cli.console import console

    for label, results in by_nginx.items():
        console().print(f"{label}: {sum(r.matched for r in results)}/{len(results)} scenarios "
                        "behaved as expected", markup=False)
    table = Table(title="Where the versions differ", show_lines=False)
    table.add_column("scenario / client", overflow="fold")
    for label in by_nginx:
        table.add_column(label, overflow="fold")
    for d in diffs:
        table.add_row(f"{d['scenario']} / {d['client']}", *d["by_nginx"].values())
    console().print(table)
    return 0 if ok else 1


def execute(scenarios: Sequence[Any], nginx: str | None, keep: bool) -> tuple[list[Any], float, Path]:
    """Build one PKI and run every scenario; nginx problems become one line and exit 2."""
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
    started = time.monotonic()
    pki = build_lab_pki(datetime.now(timezone.utc))
    workdir = Path(tempfile.mkdtemp(prefix="mtls-doctor-lab-"))
    try:
        if keep:
            pki.write(workdir / "pki")
        results = [run_scenario(s, pki, nginx_bin, workdir, keep=keep) for s in scenarios]
    finally:
        if not keep:
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


def result_table(result: Any, title: str | None = None) -> Any:
    from rich.table import Column, Table
    from rich.text import Text

    headers = ("client", "HTTP", "page", "$ssl_client_verify", "$ssl_client_s_dn",
               "info log line", "expected?")
    table = Table(*(Column(h, overflow="fold", min_width=len(h)) for h in headers), title=title,
                  title_justify="left", box=None, pad_edge=False)
    for row in result.rows:
        cells = (client_label(row), str(row.status) if row.status is not None else "-", short_page(row),
                 row.ssl_client_verify or "-", row.ssl_client_s_dn or "-",
                 short_log(row.log_line), "yes" if row.matched else "NO")
        table.add_row(*(Text(c) for c in cells))
    return table


def render_result(result: Any) -> None:
    from mtls_doctor.cli.console import console
    from mtls_doctor.lab.scenarios import get

    out = console()
    scenario = get(result.scenario)
    kind = "broken" if result.broken else "correct"
    out.rule(f"{result.scenario} ({kind}): {result.title}", align="left")
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
    out.print(result_table(result))
    for row in result.rows:
        for problem in row.mismatches:
            out.print(f"  {row.client_id}: {problem}", markup=False)
    out.print()
