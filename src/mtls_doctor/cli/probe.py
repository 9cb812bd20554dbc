"""``mtls-doctor probe TARGET``: watch live mTLS handshakes and infer what the server enforces.

Thin: parse the options, load the user's identity (``probe.identity``), run the matrix
(``probe.matrix.run_matrix``), judge (``rules.probe.check``), render. Exit 0 when no finding
reaches ``--fail-on``, 1 otherwise, 2 on usage or input errors (one line, no traceback).
The JSON output (``Report.data``) is ``ProbeResult.to_dict()``: top-level
``certificate_request`` and ``ca_names`` of the primary variant, ``inferred_mode``,
``inferences``, ``attempts``.
"""

from __future__ import annotations

import click

from mtls_doctor.cli.common import (OneSpelling, emit, fail, fail_on_option, format_option, password_bytes,
                                    password_option, resolve_target, target_options)


@click.command("probe")
@click.argument("target", required=False)
@click.option("--targets", "targets_file", metavar="FILE",  # - = stdin
              help="Probe every target in FILE (- for stdin; one `TARGET [SERVERNAME]` a line); JSON Lines out.")
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True,
              help="With --targets: how many targets are probed at a time.")
@click.option("--sni", "--servername", "--server-name", "servername", cls=OneSpelling, metavar="NAME",
              help="SNI name to send (default: the target's host name).")
@click.option("--no-sni", is_flag=True, help="Send no SNI in the primary variant.")
@click.option("--host-header", metavar="HOST", help="Host header (default: the SNI name or host, with the port).")
@click.option("--cert", metavar="FILE", help="Your client certificate (PEM/DER; may hold the chain).")
@click.option("--key", metavar="FILE", help="Its private key (default: the --cert file).")
@click.option("--chain", metavar="FILE", help="Intermediates to send after the certificate.")
@click.option("--pkcs12", metavar="FILE", help="Certificate, key and chain in one PKCS#12 file.")
@password_option("--pkcs12 or --key")
@click.option("--ca-file", metavar="FILE", help="CAs to verify the server with (default: the system store).")
@click.option("--insecure", is_flag=True,
              help="Allow an unverified server: still verified and reported, but your certificate may be sent.")
@click.option("--send-cert-anyway", is_flag=True,
              help="Send your certificate even when the server certificate failed verification.")
@click.option("--ssl-client-certificate", "--client-ca", "client_ca", cls=OneSpelling, metavar="FILE",
              help="The server's ssl_client_certificate file, if you have it: adds nginx's offline verdict on your certificate.")
@click.option("--ssl-verify-depth", "--verify-depth", "verify_depth", cls=OneSpelling, type=click.IntRange(min=0), default=1, show_default=True,
              help="With --ssl-client-certificate: the server's ssl_verify_depth (not observable on the wire).")
@click.option("--tls", type=click.Choice(["1.2", "1.3"]), help="Probe only this TLS version.")
@click.option("--timeout", type=click.FloatRange(min=0.05, max=120), default=3.0, show_default=True,
              help="Seconds allowed for each step (connect, handshake, HTTP).")
@click.option("--no-legacy", is_flag=True, help="Skip the TLS 1.0/1.1 check.")
@target_options("With --ssl-client-certificate: the nginx behind TARGET, if you have its binary: the offline "
                "verdict is computed with the libcrypto it loads.")
@format_option("markdown", "html")
@fail_on_option()
def command(
    target: str | None,
    targets_file: str | None,
    concurrency: int,
    servername: str | None,
    no_sni: bool,
    host_header: str | None,
    cert: str | None,
    key: str | None,
    chain: str | None,
    pkcs12: str | None,
    password: str | None,
    ca_file: str | None,
    insecure: bool,
    send_cert_anyway: bool,
    client_ca: str | None,
    verify_depth: int,
    tls: str | None,
    timeout: float,
    no_legacy: bool,
    nginx: str | None,
    nginx_version: str | None,
    openssl_version: str | None,
    fmt: str,
    fail_on: str,
) -> int:
    """Probe TARGET (https://host[:port][/path] or host:port) with and without client
    certificates, with and without SNI, over TLS 1.2 and 1.3; show each handshake step by step
    and infer the enforcement (off / optional / optional_no_ca / on / TLS-layer).

    Stream and mail servers: tls://host:port (plain TLS, no HTTP: the mode is read from whether
    the server closes the session right after the handshake), imaps:// pop3s:// smtps://
    (implicit TLS) and imap:// pop3:// smtp:// (STARTTLS first; default ports 143, 110, 587):
    the mode is read from the protocol's reply after the handshake (nginx's "No required SSL
    certificate" / "SSL certificate error", or the greeting).

    Bounds: each step (name lookup and TCP connect, TLS handshake, HTTP answer of at most
    256 KiB) has its own --timeout deadline; a target gets at most 12 attempts plus one TLS
    1.0/1.1 handshake, so it ends within 38 x --timeout (114 s at the default 3 s, far less
    in practice: a silent server stops the matrix after its first attempt); --targets runs
    --concurrency targets at a time. Ctrl-C or SIGTERM stops at once (exit 130 / 143)."""
    from mtls_doctor.model import Report, Severity
    from mtls_doctor.probe.handshake import ProbeConfig
    from mtls_doctor.probe.identity import load_identity
    from mtls_doctor.probe.matrix import run_matrix
    from mtls_doctor.probe.target import parse_target
    from mtls_doctor.rules.probe import check

    if (target is None) == (targets_file is None):
        fail("give exactly one of TARGET or --targets FILE")
    judged_for = resolve_target(nginx, nginx_version, openssl_version)
    if servername and no_sni:
        fail("--sni and --no-sni exclude each other")
    if pkcs12 and (cert or key or chain):
        fail("--pkcs12 excludes --cert/--key/--chain")
    if chain and not cert:
        fail("--chain needs --cert")
    if ca_file:
        _client_ca(ca_file, "--ca-file")  # readable certificates, or exit 2 now
    for name in (servername, host_header):
        if name is not None and not _valid_name(name):
            fail(f"{name!r}: not a valid host name")
    secret = password_bytes(password)
    identity = load_identity(cert=cert, key=key, chain=chain, pkcs12=pkcs12, password=secret)
    if client_ca and identity is None:
        fail("--ssl-client-certificate judges your certificate: give --cert/--key or --pkcs12 too")
    if client_ca and targets_file:
        fail("--ssl-client-certificate applies to one TARGET")
    ca_certs = _client_ca(client_ca) if client_ca else ()
    if targets_file is not None:
        if servername:
            fail("--sni applies to one TARGET; put names in the --targets file")
        return _fleet(targets_file, identity, host_header, timeout, ca_file, insecure,
                      send_cert_anyway, tls, not no_legacy, concurrency, no_sni, Severity(fail_on))
    assert target is not None
    t = parse_target(target)
    name = servername or (None if t.is_ip else t.host)
    primary = None if no_sni else name
    other: str | None | bool = None if primary is not None else (name if name else False)
    config = ProbeConfig(
        host=t.host, port=t.port, path=t.path, host_header=host_header, timeout=timeout,
        ca_file=ca_file, insecure=insecure, send_cert_anyway=send_cert_anyway,
        verify_name=name or t.host, protocol=t.protocol, starttls=t.starttls,
    )
    # legacy TLS versions are tried on a fresh connection without STARTTLS: not for mail
    result = run_matrix(config, primary, other_sni=other, tls=tls, identity=identity,
                        legacy=not no_legacy and not t.starttls)
    import dataclasses

    data_extra = {}
    if ca_certs and identity is not None:
        engine, why = judged_for.verifier_args()
        result = _with_offline(result, identity, ca_certs, verify_depth, engine)
        if why:
            result = dataclasses.replace(result, notes=result.notes + why)
    if nginx or nginx_version or openssl_version:
        data_extra["judged_for"] = judged_for.to_dict()
    report = Report("probe", findings=check(result), data={**result.to_dict(), **data_extra})
    emit(report, fmt, lambda r: _render(result, r))
    return report.exit_code(Severity(fail_on))


def _fleet(path, identity, host_header, timeout, ca_file, insecure, send_cert_anyway, tls,
           legacy, concurrency, no_sni, fail_on) -> int:
    import sys

    from mtls_doctor.model import Report
    from mtls_doctor.probe.fleet import parse_targets, run_fleet
    from mtls_doctor.probe.handshake import ProbeConfig
    from mtls_doctor.probe.identity import _read
    from mtls_doctor.report.json import dumps
    from mtls_doctor.rules.probe import check

    raw = _read(path, "--targets")  # a file, a pipe or stdin (-), bounded, with a read timeout
    entries = parse_targets(raw.decode("utf-8", "replace"), path)
    base = ProbeConfig(host="", port=0, host_header=host_header, timeout=timeout, ca_file=ca_file,
                       insecure=insecure, send_cert_anyway=send_cert_anyway)
    failing = []
    progress = _progress(len(entries))

    def emit_record(record: dict) -> None:
        sys.stdout.write(dumps(record, line=True))
        sys.stdout.flush()
        if any(fail_on <= _sev(f["severity"]) for f in record["findings"]):
            failing.append(record["input"]["line"])
        if progress is not None:
            progress[0].advance(progress[1])

    try:
        run_fleet(entries, base, lambda result: Report("probe", check(result), result.to_dict()),
                  identity=identity, tls=tls, legacy=legacy, concurrency=concurrency,
                  no_sni=no_sni, on_result=emit_record)
    finally:
        if progress is not None:
            progress[0].stop()
    return 1 if failing else 0


def _sev(value: str):
    from mtls_doctor.model import Severity

    return Severity(value)


def _progress(total: int):
    """A progress bar on stderr, only when stderr is a terminal."""
    from mtls_doctor.cli.console import console

    err = console(stderr=True)
    if not err.is_terminal:
        return None
    from rich.progress import Progress

    bar = Progress(console=err, transient=True)
    task = bar.add_task("probing", total=total)
    bar.start()
    return bar, task


def _client_ca(path: str, option: str = "--ssl-client-certificate") -> tuple:
    from cryptography import x509

    from mtls_doctor.probe.identity import _read

    data = _read(path, option)
    try:
        certs = (x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                 else [x509.load_der_x509_certificate(data)])
    except ValueError:
        fail(f"{option} {path}: no readable certificate (PEM or DER)")
        raise
    return tuple(certs)


def _valid_name(name: str) -> bool:
    try:
        encoded = name.encode("idna")
    except UnicodeError:
        return False
    return 0 < len(encoded) <= 253 and not any(c in name for c in " /\\\r\n\t")


def _with_offline(result, identity, ca_certs, verify_depth: int, engine: dict | None = None):
    import dataclasses
    import datetime as dt

    from mtls_doctor.probe.model import primary_request
    from mtls_doctor.probe.offline import offline_verdict

    cr = primary_request(result)
    mode = result.primary.mode if result.primary else "on"
    verdict = None
    if cr is not None:
        verdict = offline_verdict(identity.cert, identity.chain, ca_certs, cr.ca_names, mode,
                                  dt.datetime.fromisoformat(result.at), verify_depth, engine)
    if verdict is None:
        note = ("no offline verdict: the --client-ca subjects are none of the CA names the "
                "server advertised" if cr is not None and cr.ca_names else
                "no offline verdict: the server advertised no CA names to match --client-ca")
        return dataclasses.replace(result, notes=result.notes + (note,))
    return dataclasses.replace(result, offline=verdict)


def _render(result, report) -> None:
    from rich.table import Table
    from rich.text import Text

    from mtls_doctor.cli.console import console
    from mtls_doctor.probe.model import primary_request
    from mtls_doctor.report.text import print_findings

    out = console()
    where = f"{result.host}:{result.port}{result.path}"
    out.print(Text(f"probe {where}  (primary: {'SNI ' + result.primary_sni if result.primary_sni else 'no SNI'})",
                   style="bold"))
    for n, a in enumerate(result.attempts, 1):
        head = Text(f"\n#{n} {a.spec.label}  -> {a.outcome.value}", style="bold")
        head.append(f"  {a.elapsed_ms:.1f} ms", style="dim")
        out.print(head)
        if a.outcome.value == "skipped":
            out.print(Text(f"   {a.error}", style="yellow"))
            continue
        for step in a.steps:
            line = Text(f"   {'ok ' if step.ok else 'XX '}{step.name:<20}", style="green" if step.ok else "red")
            line.append(step.detail, style="")
            if step.ms is not None:
                line.append(f"  ({step.ms:.1f} ms)", style="dim")
            out.print(line)
        for note in a.notes:
            out.print(Text(f"   note: {note}", style="dim"))
    out.print()
    table = Table("#", "cert", "SNI", "TLS", "CertificateRequest", "client cert", "result",
                  title="Matrix", box=None, pad_edge=False, title_justify="left")
    for n, a in enumerate(result.attempts, 1):
        cr = a.certificate_request
        req = "-" if not (a.handshake_done or cr) else ("no" if cr is None else (
            f"yes, {len(cr.ca_names)} CA" if cr.ca_names else "yes, EMPTY list"))
        if a.http is not None:
            res = f"HTTP {a.http.status}" + (f" ({a.http.page})" if a.http.page else "")
        elif a.alert is not None and a.alert.direction == "received":
            res = f"alert {a.alert.code} {a.alert.name}"
        else:
            res = a.outcome.value
        table.add_row(str(n), a.spec.cert.value, a.spec.sni or "-", a.spec.tls, req,
                      "sent" if a.client_certificate_sent else "-", res)
    out.print(table)
    cr = primary_request(result)
    if cr is not None:
        out.print(Text("\nCA names advertised (primary): " + (
            "none (EMPTY list)" if not cr.ca_names else ""), style="bold"))
        for name in cr.ca_names:
            out.print(Text(f"  {name}"))
        if cr.signature_algorithms is not None:
            out.print(Text(f"  signature algorithms: {', '.join(cr.signature_algorithms)}", style="dim"))
        else:
            out.print(Text("  signature algorithms: not observable (message not readable here)", style="dim"))
        if cr.certificate_types is not None:
            out.print(Text(f"  certificate types: {', '.join(cr.certificate_types)}", style="dim"))
    out.print()
    for inf in result.inferences:
        label = f"SNI {inf.sni}" if inf.sni else "no SNI"
        out.print(Text(f"Inferred mode ({label}): {inf.mode}  [enforced at: {inf.layer}]", style="bold"))
        for ev in inf.evidence:
            out.print(Text(f"  - {ev}", style="dim"))
    if result.offline is not None:
        off = result.offline
        out.print(Text(f"Offline nginx verdict (--client-ca, {off.verify_client}, depth "
                       f"{off.verify_depth}): {off.status} {off.ssl_client_verify}", style="bold"))
        out.print(Text(f"  {off.explanation}", style="dim"))
    if result.legacy_note:
        out.print(Text(f"TLS 1.0/1.1: {result.legacy_note}"))
    for note in result.notes:
        out.print(Text(f"note: {note}", style="yellow"))
    unverified = [n for n, a in enumerate(result.attempts, 1)
                  if a.client_certificate_sent and a.spec.cert.value == "user"
                  and a.server_verification is not None and not a.server_verification.ok]
    if unverified:
        out.print(Text("note: your certificate WAS sent to a server whose certificate failed "
                       f"verification (attempts {', '.join(map(str, unverified))}), as "
                       "--insecure/--send-cert-anyway allowed", style="yellow"))
    out.print()
    print_findings(out, report.findings)
