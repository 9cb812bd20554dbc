"""``mtls-doctor exporter``: a Prometheus exporter (``/probe`` multi-target, ``/metrics``).

Parse the options -> validate the modules file -> serve until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import click

from mtls_doctor.exporter.config import DEFAULT_LISTEN

MAX_CONFIG = 1024 * 1024


@click.command("exporter")
@click.option("--config", "config_path", required=True, metavar="PATH",
              help="The modules file (YAML): modules, local sources, allow_targets, limits "
                   "(docs/exporter.md).")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
              help="Address to serve /probe and /metrics on (loopback unless told otherwise).")
@click.option("--check", is_flag=True, help="Validate the configuration and exit (0 valid, 2 not).")
def command(config_path: str, listen: str, check: bool) -> int:
    """Serve Prometheus metrics: /probe?target=HOST:PORT&module=NAME probes a target (the
    blackbox_exporter pattern), /metrics has the exporter's health and the local CA files,
    CRLs and client certificates."""
    from mtls_doctor.exporter.config import parse_config, parse_listen
    from mtls_doctor.inputs import read_bytes
    from mtls_doctor.model import InputError

    host, port = parse_listen(listen)
    data = read_bytes(config_path, limit=MAX_CONFIG, what="config", pipe=False)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{config_path}: not UTF-8 text") from None
    config = parse_config(text, config_path)
    if check:
        click.echo(f"{config_path}: {len(config.modules)} module(s), {len(config.local)} local "
                   "source(s): valid")
        return 0
    from mtls_doctor.exporter.server import serve

    try:
        server = serve(config, host, port)
    except OSError as exc:
        raise InputError(f"--listen {listen}: {exc.strerror or exc}") from None
    click.echo(f"mtls-doctor exporter listening on http://{listen}/ (/probe, /metrics)", err=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
    return 0
