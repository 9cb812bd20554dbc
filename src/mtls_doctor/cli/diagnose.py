"""``mtls-doctor diagnose``: lint, inspect, probe, verify and logs joined into ranked root causes.

Thin: options -> ``diagnose.collect.collect`` (the I/O) -> ``diagnose.core.diagnose`` (pure) ->
render. Without options it diagnoses this machine's nginx (``nginx -V``, ``nginx -T``, the files
and error logs the configuration names, loopback probes of every TLS listen address). Exit 0
when no root cause was found, 1 when any was, 2 on usage or input errors (one line).
JSON keys: see ``mtls_doctor.diagnose.report``; causes: docs/diagnose-causes.md.
"""

from __future__ import annotations

import click

from mtls_doctor.cli.common import (emit, fail, fail_on_option, format_option, parse_at, password_bytes,
                                    password_option, resolve_target, target_options)

from mtls_doctor.cli.common import REPORTS

TOP_SHOWN = 5
EVIDENCE_SHOWN = 4


@click.command("diagnose")
@click.option("--config", "config", metavar="FILE", help="nginx configuration to read (default: `nginx -T`).")
@click.option("--url", metavar="URL", help="Probe this remote https://host[:port]/ instead of the local listeners.")
@click.option("--manifests", "manifests", multiple=True, metavar="PATH",
              help="Kubernetes manifests instead of an nginx.conf: files, directories, - for `kubectl get "
                   "ingress,secret,configmap -A -o yaml` (repeatable; a --config ending .yaml/.yml/.json is read so too).")
@click.option("--cert", metavar="FILE", help="A client certificate to judge (PEM; may hold the chain).")
@click.option("--key", metavar="FILE", help="Its private key: the probes then send the certificate.")
@click.option("--chain", metavar="FILE", help="Intermediates the client sends after the certificate.")
@password_option("an encrypted --key")
@click.option("--log", "logs", multiple=True, metavar="FILE",
              help="Error log to read, - for stdin (default: those the configuration names; repeatable).")
@click.option("--server-name", "server_names", multiple=True, metavar="NAME",
              help="Only this server_name (SNI for --url; repeatable).")
@click.option("--sni", metavar="NAME", help="The SNI your client sends (default: the --url host name).")
@click.option("--no-sni", is_flag=True, help="Your client sends no SNI (an IP address in its URL, an old client).")
@click.option("--host", "host", metavar="NAME", help="The Host header your client sends (default: the SNI).")
@click.option("--symptom", "symptoms", multiple=True, metavar="WHAT",
              help="What you see: no-ca-names, 400-no-certificate, 400-certificate-error, 400-plain-http, "
                   "'FAILED:<text>', none-at-backend, browser-no-prompt, 421, 403, handshake-alert[:name], "
                   "backend-rejects, or the words themselves (repeatable; docs/diagnose-causes.md).")
@click.option("--pid", "pid", type=int, metavar="PID",
              help="The running nginx master to diagnose (default: the only one running).")
@click.option("--ca-file", metavar="FILE", help="CAs to verify the server with when probing (default: system store).")
@click.option("--insecure", is_flag=True, help="Allow an unverified remote server (your certificate may be sent).")
@target_options("The nginx to diagnose and predict for (default: PATH, then /usr/sbin; also one "
                "inside another OS root): offline verification uses the libcrypto it loads.")
@click.option("--timeout", type=click.FloatRange(min=0.05, max=120), default=3.0, show_default=True,
              help="Seconds for each probe step.")
@click.option("--no-probe", is_flag=True, help="Do not connect to anything (config, files, logs, verify only).")
@click.option("--deadline", type=click.FloatRange(min=0, max=86400), default=600, show_default=True,
              help="Seconds the whole run may take (0: none); past it, one line and exit 2.")
@click.option("--at", "at", metavar="TIME", help="Judge validity at this ISO 8601 time (default: now).")
@format_option("markdown", "html")
@fail_on_option(None, "default: only a root cause exits 1; given, findings at or above it too")
def command(config, url, manifests, cert, key, chain, password, logs, server_names, sni, no_sni, host, symptoms,
            pid, ca_file, insecure, nginx, nginx_version, openssl_version, timeout, no_probe,
            deadline, at, fmt, fail_on=None) -> int:
    """Find the root causes of an mTLS problem: on this machine's nginx by default, or with any
    subset of --config, --url, --cert/--key, --log, --server-name. Most likely cause first.

    Bounds: every probe step has --timeout (a probed address takes at most 38 x --timeout, see
    `probe --help`); the whole run stops after --deadline seconds with one line, exit 2 (e.g.
    an error_log that is a terminal or a pipe nobody writes to, such as /dev/stderr)."""
    import os

    from mtls_doctor.diagnose.collect import Options, collect
    from mtls_doctor.diagnose.core import diagnose
    from mtls_doctor.diagnose.report import build_report

    from mtls_doctor.inputs import check_path
    from mtls_doctor.probe.target import parse_target

    if url is not None:
        parse_target(url)  # checked even with --no-probe: a URL that cannot be probed is an error

    # regular files only (a FIFO or a device would block or never end); stdin is --log -
    for option, path in (("--config", config), ("--cert", cert), ("--key", key), ("--chain", chain),
                         ("--ca-file", ca_file)):
        if path:
            check_path(path, what=option)
    for path in logs:
        if path == "-":  # stdin
            continue
        if os.path.isdir(path):
            fail(f"--log {path}: is a directory, not an error log")
        check_path(path, what="--log")
    if sni and no_sni:
        fail("--sni and --no-sni contradict each other")
    target = resolve_target(nginx, nginx_version, openssl_version)  # one line, exit 2 if bad
    opts = Options(at=parse_at(at), config=config, url=url, cert=cert, key=key, chain=chain,
                   logs=tuple(logs), server_names=tuple(server_names), ca_file=ca_file,
                   insecure=insecure, nginx=nginx, timeout=timeout, probe=not no_probe,
                   password=password_bytes(password), sni=sni, no_sni=no_sni, host=host,
                   symptoms=tuple(symptoms), pid=pid, nginx_version=nginx_version,
                   openssl_version=target.openssl_version if openssl_version else None)
    from mtls_doctor.cli.common import deadline as whole_run

    from mtls_doctor.k8s.cli import manifest_input

    given = manifest_input(tuple(manifests)) if manifests else (
        manifest_input((config,)) if config and config != "-" else None)
    if manifests and given is None:
        fail("--manifests: not Kubernetes manifests (YAML/JSON files, a directory of them, or -)")
    if given is not None:  # Kubernetes (issue 15): mtls_doctor.k8s.diagnose
        from dataclasses import replace as _replace

        from mtls_doctor.k8s.diagnose import diagnose_manifests

        with whole_run(deadline, f"diagnose did not finish within --deadline {deadline:g} s"):
            report = diagnose_manifests(given.paths, given.stdin_text, _replace(opts, config=None))
        emit(report, fmt, render_text)
        return exit_code(report, fail_on)
    with whole_run(deadline, f"diagnose did not finish within --deadline {deadline:g} s (is an "
                   "error_log a terminal or a pipe, e.g. /dev/stderr? give --log FILE)"):
        evidence = collect(opts)
    causes = diagnose(evidence)
    report = build_report(evidence, causes)
    emit(report, fmt, render_text, attachments(evidence) if fmt in REPORTS else None)
    return exit_code(report, fail_on)


def exit_code(report, fail_on: str | None) -> int:
    """1 when a root cause was found, or (only when --fail-on is given) any finding is at or
    above it; else 0 (README: exit codes). Every error-severity finding can raise a cause
    (tests/diagnose/test_causes_meta.py); one that raised none was judged not to explain a
    failure here (a warning, or the tool's own probe not trusting a private server CA), so a
    good setup exits 0."""
    from mtls_doctor.model import Severity

    if report.data.get("root_causes"):
        return 1
    return report.exit_code(Severity(fail_on)) if fail_on else 0


def attachments(evidence):
    """What the markdown and html reports add to the document: the configuration's text (for
    the excerpts the evidence points at) and the chain nginx builds from your certificate."""
    from mtls_doctor.report.view import Attachments

    chains = []
    for v in evidence.verifies:
        where = v.server.label if v.server is not None else "the server"
        chains.append((f"your certificate, as nginx builds it for {where}",
                       [c.to_dict() for c in v.result.chain],
                       [e.to_dict() for e in v.result.errors]))
    sources = dict(evidence.config.sources) if evidence.config is not None else {}
    return Attachments(sources=sources, chains=tuple(chains))


def render_text(report) -> None:
    """One screen: what was looked at, then the root causes (top first) with evidence and fix."""
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.report.view import plural

    out = console()
    data = report.data
    nginx = data.get("nginx") or {}
    bits = []
    if nginx.get("version"):
        ssl = nginx.get("openssl_running") or nginx.get("openssl_built")
        bits.append(f"nginx {nginx['version']}" + (f" ({ssl})" if ssl else ""))
    if data.get("config"):
        bits.append(f"config {data['config']} ({plural(data.get('servers', 0), 'server')})")
    if data.get("manifests"):
        m = data["manifests"]
        bits.append(f"{m['resources']} Kubernetes objects rendered to " + (", ".join(
            f"{r['controller']} ({len(r['servers'])} server blocks)" for r in m["renderings"]) or "nothing"))
    if data.get("probes"):
        bits.append(plural(len(data['probes']), "probe"))
    if data.get("logs"):
        bits.append(plural(len(data['logs']['files']), "error log"))
    if data.get("verify"):
        bits.append(f"your certificate against {plural(len(data['verify']), 'server')}")
    out.print(Text("Looked at: " + ("; ".join(bits) or "nothing"), style="dim"))
    for note in data.get("notes", []):
        out.print(Text("note: " + note, style="yellow"))
    verdict = data.get("verdict") or {}
    target = data.get("target") or {}
    if target.get("handshake_server"):
        out.print(Text(f"Your client: {target.get('why') or 'as given'}; the handshake gets "
                       f"{target['handshake_server']}"
                       + (" (the default server)" if target.get("lands_on_default") else ""), style="dim"))
    if verdict.get("accepted"):
        out.print(Text(f"Your certificate: accepted end to end at {verdict['accepted']}.", style="bold green"))
    causes = data["root_causes"]
    if not causes and verdict.get("unexplained_errors"):
        out.print(Text("No root cause could be named, but these findings are errors:", style="yellow"))
        for item in verdict["unexplained_errors"]:
            out.print(Text(f"  {item}", style="yellow"))
    elif not causes:
        checked = "; ".join(verdict.get("checked") or []) or "nothing"
        out.print(Text(f"No root cause found: nothing indicates an mTLS failure. Checked: {checked}.",
                       style="green"))
    if not causes:
        for item in verdict.get("would_decide") or []:
            out.print(Text(f"  would decide: {item}", style="yellow"))
    else:
        out.print(Text(f"Root causes ({len(causes)}), most likely first:", style="bold"))
    from mtls_doctor.cli.console import verbosity
    from mtls_doctor.report.text import print_lines, wrapped

    top_shown, evidence_shown = (None, None) if verbosity() > 0 else (TOP_SHOWN, EVIDENCE_SHOWN)
    for c in causes[:top_shown]:
        head = Text(f"{c['rank']}. ", style="bold")
        head.append(c["cause"], style="bold red" if c["rank"] == 1 else "bold")
        head.append(f"  {round(c['confidence'] * 100)}%", style="dim")
        out.print(head)
        lines = wrapped(out, c["summary"], "   ")
        for e in c["evidence"][:evidence_shown]:
            # wrapped at spaces, every continuation line indented under the text (not column 0)
            lines += wrapped(out, f"[{e['source']}] {e['location']} {e['text']}", "   ", hang=3)
        fix = c["fix"]
        lines += wrapped(out, "fix: " + fix["text"], "   ", style="green", hang=5)
        print_lines(out, lines)
        for line in (fix.get("snippet") or "").splitlines():
            out.print(Text("        " + line, style="green"))
    close = data.get("close_call")
    if close:
        a, b = close["causes"]
        out.print(Text(f"{a} and {b} are too close to rank; what tells them apart:", style="yellow"))
        for cid in (a, b):
            out.print(Text(f"   {cid}: {close['tell_apart'].get(cid, '')}", style="yellow"))
    history = (data.get("logs") or {}).get("history")
    if history and history.get("groups"):
        n = sum(g["count"] for g in history["groups"])
        out.print(Text(f"History: {plural(n, 'log line')} from before the last (re)start/reload at "
                       f"{history['restarted_at']} (not counted): "
                       + ", ".join(f"{g['cause']} x{g['count']}" for g in history["groups"][:4]), style="dim"))
    if top_shown is not None and len(causes) > top_shown:
        more = len(causes) - top_shown
        out.print(Text(f"... and {more} less likely cause{'s' if more != 1 else ''}: --verbose or "
                       "--format json shows all.", style="dim"))
    if report.findings:
        out.print(Text(f"{plural(len(report.findings), 'finding')} from lint, probe and logs behind these: "
                       "--format json, or `mtls-doctor lint` / `probe` / `logs`.", style="dim"))


def demo_section(scenario: str, nginx: str | None = None, number: int = 5):
    """The last part of ``mtls-doctor demo``: diagnose the broken scenario on real nginx and
    show the cause found. Returns the LabDiagnosis (``.top`` is the top RootCause or None)."""
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.diagnose.lab import run_on_lab_scenario

    out = console()
    out.print()
    from mtls_doctor.cli.console import heading

    heading(out, f"{number}. mtls-doctor diagnose on the broken setup (config + live probe + error log)")
    result = run_on_lab_scenario(scenario, nginx=nginx)
    out.print(Text(f"$ {result.command}", style="dim"))
    render_text(result.report)
    if result.top is not None:
        out.print(Text(f"Cause found: {result.top.cause} - {result.top.title}", style="bold"))
    return result
