"""``mtls-doctor verify CLIENT...``: judge client certificates offline exactly as nginx would.

Thin: read the files (``mtls_doctor.pki.load``), build ``TrustSettings`` from options named
after the nginx directives, call ``mtls_doctor.pki.verify``, render. Exit 0 when nginx would
answer every client with 200, 1 when any would get 400, 2 on usage or input errors.
Clients are loaded and verified by ``mtls_doctor.pki.batch.verify_paths``: one X509_STORE for
all, a clean-PEM fast path, and up to ``$MTLS_DOCTOR_VERIFY_WORKERS`` processes (default 2) for
large batches when CPUs are idle (output order is input order).
"""

from __future__ import annotations

import os
from typing import Any

import click

from mtls_doctor.cli.common import (emit, fail, format_option, parse_at, password_bytes,
                                    password_option, resolve_target, target_options)

#: worker processes for loading + verifying many clients (see pki.batch.verify_paths)
_WORKERS_ENV = os.environ.get("MTLS_DOCTOR_VERIFY_WORKERS", "").strip()
WORKERS = max(1, int(_WORKERS_ENV)) if _WORKERS_ENV.isdigit() else 2  # junk: the default


def _bundle(path: str, password: bytes | None, what: str):
    from mtls_doctor.pki.load import load_path

    from mtls_doctor.pki.load import TRUSTED

    bundle = load_path(path, password)
    # TRUSTED CERTIFICATE blocks get one note of their own, for ssl_client_certificate only
    # (see _certs; F1.5): not a second one here
    return bundle, [f"{path}: {p.message}" for p in bundle.problems if p.kind != TRUSTED]


def _pem_only(path: str, bundle: Any, what: str) -> None:
    # nginx loads CA and CRL files as PEM only (SSL_CTX_load_verify_locations,
    # X509_LOOKUP_load_file with X509_FILETYPE_PEM): a DER, PKCS#7 or PKCS#12 file fails
    # `nginx -t` with "no certificate or crl found" (F1.5; measured on 1.22.1)
    if bundle.format not in ("pem", "empty", "unknown"):
        fail(f"{path}: {what} must be PEM; nginx -t fails on this {bundle.format.upper()} file "
             "(\"no certificate or crl found\", F1.5)")


def _certs(path: str | None, what: str, notes: list[str]) -> tuple:
    if path is None:
        return ()
    bundle, problems = _bundle(path, None, what)
    _pem_only(path, bundle, what)
    notes.extend(problems)
    if what == "ssl_client_certificate" and bundle.format == "pem" and os.path.isfile(path):
        with open(path, "rb") as handle:  # already read once within the loader's size limit
            if b"-----BEGIN TRUSTED CERTIFICATE-----" in handle.read():
                # SSL_load_client_CA_file() expects CERTIFICATE blocks (F1.5; measured 1.22.1)
                notes.append(f"{path}: holds TRUSTED CERTIFICATE blocks: nginx before 1.27.2 "
                             "refuses them in ssl_client_certificate (\"SSL_load_client_CA_file()"
                             " failed\", F1.5); use plain CERTIFICATE blocks")
    if not bundle.certificates:
        fail(f"{path}: no certificate found for {what}")
    return tuple(bundle.certificates)


@click.command("verify")
@click.argument("clients", nargs=-1, required=True, metavar="CLIENT...")
@click.option("--ssl-client-certificate", "client_ca", metavar="FILE",
              help="The ssl_client_certificate file (trusted and advertised CAs).")
@click.option("--ssl-trusted-certificate", "trusted_ca", metavar="FILE",
              help="The ssl_trusted_certificate file (trusted, not advertised).")
@click.option("--ssl-verify-depth", "depth", type=click.IntRange(min=0, max=2**31 - 1), default=1,
              show_default=True, help="ssl_verify_depth: how many intermediates are allowed.")
@click.option("--ssl-crl", "crl", metavar="FILE",
              help="The ssl_crl file (CRLs of every CA in the chain, root included).")
@click.option("--ssl-verify-client", "mode",
              type=click.Choice(["on", "optional", "optional_no_ca"]), default="on",
              show_default=True, help="ssl_verify_client mode.")
@click.option("--at", "at_text", metavar="TIME",
              help="Verification time, ISO 8601 (default: now).")
@click.option("--security-level", type=click.IntRange(0, 5), default=None,
              help="The SSL security level (default: the system libssl's, 2 on Debian).")
@click.option("--config", "config_path", metavar="NGINX.CONF",
              help="Take the ssl_* settings from the server block nginx would pick (options "
                   "given explicitly still win).")
@click.option("--server-name", metavar="NAME",
              help="With --config: the SNI/Host name whose server block to use (default: the "
                   "only verifying server, else the default server).")
@password_option("a PKCS#12 CLIENT")
@click.option("--key", metavar="FILE", help="The client's private key, to check it matches.")
@target_options("Verify with the libcrypto this nginx loads (exact for that nginx, also one "
                "inside another OS root); default: this machine's OpenSSL.")
@format_option()
def command(clients: tuple[str, ...], client_ca: str | None, trusted_ca: str | None, depth: int,
            crl: str | None, mode: str, at_text: str | None, security_level: int | None,
            config_path: str | None, server_name: str | None, password: str | None,
            key: str | None, nginx: str | None, nginx_version: str | None,
            openssl_version: str | None, fmt: str) -> int:
    """Judge each CLIENT (a PEM with the leaf then the intermediates it sends, or a PKCS#12)
    exactly as nginx would with these settings: $ssl_client_verify, HTTP status and page, the
    error-log line, the chain built, and the real cause with its fix.

    Exit codes: 0 every client gets 200, 1 any gets 400 (or --key does not match it), 2 usage or
    input error.
    """
    from mtls_doctor.model import Report
    from mtls_doctor.pki import libcrypto
    from mtls_doctor.nginx.version import TRUSTED_ONLY_OK
    from mtls_doctor.pki.verify import TrustSettings, Verifier

    at = parse_at(at_text)
    target = resolve_target(nginx, nginx_version, openssl_version)
    notes: list[str] = []
    server_label = None
    if config_path is not None:
        ctx = click.get_current_context()
        given = {n for n in ("client_ca", "trusted_ca", "depth", "crl", "mode")
                 if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE}
        conf = _from_config(config_path, server_name)
        server_label = conf["server"]
        client_ca = client_ca if "client_ca" in given else conf["client_ca"]
        trusted_ca = trusted_ca if "trusted_ca" in given else conf["trusted_ca"]
        depth = depth if "depth" in given else conf["depth"]
        crl = crl if "crl" in given else conf["crl"]
        mode = mode if "mode" in given else conf["mode"]
    elif server_name is not None:
        fail("--server-name needs --config")
    client_certs = _certs(client_ca, "ssl_client_certificate", notes)
    trusted_certs = _certs(trusted_ca, "ssl_trusted_certificate", notes)
    crls: tuple = ()
    if crl is not None:
        bundle, problems = _bundle(crl, None, "ssl_crl")
        _pem_only(crl, bundle, "ssl_crl")
        notes.extend(problems)
        if not bundle.crls:
            fail(f"{crl}: no CRL found for ssl_crl (nginx -t would fail too, F6.1)")
        crls = tuple(bundle.crls)
    if mode in ("on", "optional") and not client_certs:
        if target.nginx_version is None:
            notes.append("nginx before 1.27.2 refuses this configuration: \"no "
                         "ssl_client_certificate for ssl_verify_client\" (F1.5)")
        elif target.nginx_version < TRUSTED_ONLY_OK:
            notes.append(f"nginx {target.nginx_version} refuses this configuration: \"no "
                         "ssl_client_certificate for ssl_verify_client\" (F1.5; accepted from "
                         "1.27.2)")
    trust = TrustSettings(client_certificate=client_certs, trusted_certificate=trusted_certs,
                          verify_depth=depth, crls=crls, verify_client=mode,
                          security_level=security_level)
    pw = password_bytes(password)
    key_public = None
    if key is not None:
        kb, problems = _bundle(key, pw, "--key")
        notes.extend(problems)
        if not kb.keys or kb.keys[0].public_key is None:
            fail(f"{key}: no readable private key")
        key_public = kb.keys[0].public_key

    engine_args, engine_notes = target.verifier_args()
    notes.extend(target.notes + engine_notes)
    try:
        verifier = Verifier(trust, **engine_args)
    except libcrypto.LibcryptoUnavailable as exc:
        fail(str(exc))
        raise
    except ValueError as exc:  # a trust certificate or CRL libcrypto cannot decode
        fail(f"the trust files hold something OpenSSL cannot load ({exc}); nginx -t would "
             "fail too")
        raise

    from mtls_doctor.pki.batch import verify_paths

    rows: list[dict[str, Any]] = []
    with verifier:
        for path, leaf, problems, result in verify_paths(verifier, clients, at, password=pw,
                                                         workers=WORKERS):
            if result is None:
                fail(problems[0])
            row = {"client": path, **result.to_dict()}
            row["notes"] = row["notes"] + problems
            row["key_matches"] = None if key_public is None else _same_key(key_public, leaf.public_key())
            if row["key_matches"] is False:
                row["notes"].append(f"{key}: this private key does not belong to the leaf; the "
                                    "client could not complete the handshake with it")
            rows.append(row)
    data = {
        "at": at.isoformat(),
        "openssl_version": verifier.engine.openssl_version(),
        "prediction": {"exact": verifier.exact, "verified_with": verifier.engine.openssl_version(),
                       **target.to_dict()},
        "settings": {"server": server_label, "ssl_verify_client": mode, "ssl_verify_depth": depth,
                     "ssl_client_certificate": client_ca, "ssl_trusted_certificate": trusted_ca,
                     "ssl_crl": crl, "security_level": verifier.security_level},
        "notes": notes,
        "clients": rows,
        "accepted": all(r["accepted"] for r in rows),
    }
    report = Report(command="verify", data=data)
    emit(report, fmt, _render_text)
    # a client whose key does not match its leaf never completes the handshake: not a 200
    return 0 if data["accepted"] and all(r["key_matches"] is not False for r in rows) else 1


def _from_config(path: str, server_name: str | None) -> dict[str, Any]:
    """The ssl_* settings of the server block nginx would pick for ``server_name``."""
    from mtls_doctor.nginx.effective import effective
    from mtls_doctor.nginx.parse import load_path as load_config

    if os.path.isdir(path):  # a configuration directory means its nginx.conf, as in diagnose
        main = os.path.join(path, "nginx.conf")
        if not os.path.isfile(main):
            fail(f"--config {path}: a directory without nginx.conf")
        path = main
    elif os.path.exists(path) and not os.path.isfile(path):  # a device or FIFO has no end
        fail(f"--config {path}: not a regular file")
    config = load_config(path)
    eff = effective(config)
    servers = [s for s in eff.servers if s.kind == "http" and s.ssl]
    if not servers:
        fail(f"{path}: no http server with ssl")
    server = _pick_server(servers, eff, server_name)
    if server is None:
        names = ", ".join(n for s in servers for n in s.names if n) or "(none)"
        fail(f"{path}: several TLS servers ({names}); choose one with --server-name")

    def file_of(name: str) -> str | None:
        value = server.get(name).args
        return config.resolve(value[0]) if value else None

    depth_text = server.get("ssl_verify_depth").value
    try:
        depth = int(depth_text)
    except ValueError:
        fail(f"{path}: ssl_verify_depth {depth_text!r} is not a number")
        raise
    return {"server": server.label, "mode": server.verify,
            "client_ca": file_of("ssl_client_certificate"),
            "trusted_ca": file_of("ssl_trusted_certificate"), "crl": file_of("ssl_crl"),
            "depth": depth}


def _pick_server(servers: list, eff: Any, name: str | None):
    """The TLS server nginx picks for ``name`` (``nginx.effective.find_server``: the one home of
    nginx's virtual-server choice); without a name, the only verifying server, else the default
    server when nothing verifies."""
    from mtls_doctor.nginx.effective import find_server

    if name is None:
        verifying = [s for s in servers if s.verify != "off"]
        if len(verifying) == 1:
            return verifying[0]
        defaults = {id(s) for s in eff.defaults.values()}
        first = [s for s in servers if id(s) in defaults]
        return first[0] if len(servers) == 1 or (first and not verifying) else None
    fallback = None
    for address in dict.fromkeys(l.address for s in servers for l in s.listens):
        server, by_name = find_server(eff, address, name)
        if server is not None and server.ssl and by_name:
            return server
        if fallback is None and server is not None and server.ssl:
            fallback = server
    return fallback or servers[0]


def _same_key(a: Any, b: Any) -> bool:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    try:
        return (a.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
                == b.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    except Exception:  # noqa: BLE001 - an exotic key type: do not claim a mismatch
        return True


def _render_text(report: Any) -> None:
    from rich.markup import escape

    from mtls_doctor.cli.console import console

    out = console()
    data = report.data
    s = data["settings"]
    if s.get("server"):
        out.print(f"server block: {escape(s['server'])}")
    out.print(f"nginx settings: ssl_verify_client {s['ssl_verify_client']}; ssl_verify_depth "
              f"{s['ssl_verify_depth']}; security level {s['security_level']}; "
              f"{escape(data['openssl_version'])}; at {data['at']}")
    for note in data["notes"]:
        out.print(f"note: {escape(note)}")
    for row in data["clients"]:
        out.print()
        if row["ssl_client_verify"] is None:
            verdict = "HANDSHAKE FAILS"
        elif not row["accepted"]:
            verdict = "REJECTED"
        elif row["ssl_client_verify"] == "SUCCESS":
            verdict = "ACCEPTED"
        else:  # optional / optional_no_ca: served, but not verified (F2.2, F2.4)
            verdict = f"LET THROUGH UNVERIFIED ({row['ssl_client_verify']})"
        status = row["status"]
        page = f" (page {row['page']}: \"{row['page_title']}\")" if row["page"] else ""
        answer = f"HTTP {status}{page}" if status is not None else "no HTTP answer"
        out.print(f"[bold]{escape(row['client'])}[/bold]: {escape(verdict)}, {answer}")
        if row["ssl_client_verify"] is not None:
            out.print(f"  $ssl_client_verify  {escape(row['ssl_client_verify'])}")
        if row["error"]:
            err = row["error"]
            out.print(f"  error               {err['code']}: {escape(err['text'] or '')} "
                      f"({escape(err['openssl_version'])})")
        if row["log_line"]:
            out.print(escape("  error.log [info]    ") + escape(row["log_line"]))
        if row["chain"]:
            out.print(f"  chain built (ssl_verify_depth {row['verify_depth']}):")
            used = 0
            for c in row["chain"]:
                mark = ""
                if c["counts_against_depth"]:
                    used += 1
                    mark = escape(f"  [intermediate {used} of {row['verify_depth']} allowed]")
                src = {"client": "sent by the client"}.get(c["source"], f"from {c['source']}")
                out.print(f"    depth {c['depth']}  {c['role']:<21} {escape(c['subject'])}  "
                          f"({src}){mark}")
        if len(row["errors"]) > 1:
            seen = ", ".join(f"{e['code']}@{e['depth']}" for e in row["errors"])
            out.print(f"  callback errors     {seen} (the last one wins, F3.3)")
        out.print(f"  why  {escape(row['explanation'])}")
        if row["fix"]:
            out.print(f"  fix  {escape(row['fix'])}")
        for note in row["notes"]:
            out.print(f"  note {escape(note)}")
