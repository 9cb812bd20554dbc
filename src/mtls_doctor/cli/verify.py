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

from mtls_doctor.cli.common import (emit, fail, fail_on_option, format_option, parse_at,
                                    password_bytes, password_option, resolve_target,
                                    target_options)

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
@click.option("--ssl-ocsp", "ocsp_mode", type=click.Choice(["off", "on", "leaf"]), default="off",
              show_default=True, help="ssl_ocsp: ask an OCSP responder about the leaf (leaf) or "
              "the whole chain but the root (on) once the chain verified (nginx 1.19.0+).")
@click.option("--ssl-ocsp-responder", "ocsp_responder", metavar="URL",
              help="ssl_ocsp_responder: the responder nginx asks instead of the certificate's "
                   "AIA URL.")
@click.option("--resolver", "resolver", metavar="ADDRESS",
              help="The resolver directive (nginx needs one for a responder host name in AIA).")
@click.option("--ssl-ocsp-cache", "ocsp_cache", metavar="VALUE", help="ssl_ocsp_cache (noted: "
              "cached answers are reused without asking).")
@click.option("--ocsp-answer", "ocsp_answer",
              type=click.Choice(["good", "revoked", "unknown", "unreachable"]),
              help="With ssl_ocsp: assume the responder answers this instead of asking it "
                   "(default: ask it as nginx would, 5 s timeout).")
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
@click.option("--listen", "listen", metavar="[IP:]PORT",
              help="With --config: the address the client connects to (its listen picks the "
                   "server blocks; --server-name then chooses among them, as SNI and Host do).")
@password_option("a PKCS#12 CLIENT")
@click.option("--key", metavar="FILE", help="The client's private key, to check it matches.")
@target_options("Verify with the libcrypto this nginx loads (exact for that nginx, also one "
                "inside another OS root); default: this machine's OpenSSL.")
@format_option("markdown", "html")
@fail_on_option(default="error", what="a rejected client (or a key that does not match) is an "
                "error, a note (e.g. a trust file nginx refuses) a warning")
def command(clients: tuple[str, ...], client_ca: str | None, trusted_ca: str | None, depth: int,
            crl: str | None, mode: str, at_text: str | None, security_level: int | None,
            config_path: str | None, server_name: str | None, password: str | None,
            key: str | None, nginx: str | None, nginx_version: str | None,
            openssl_version: str | None, fmt: str, ocsp_mode: str = "off",
            ocsp_responder: str | None = None, resolver: str | None = None,
            ocsp_cache: str | None = None, ocsp_answer: str | None = None,
            fail_on: str = "error", listen: str | None = None) -> int:
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
    kind, mail_protocol, starttls = "http", None, False
    handshake: dict[str, str] | None = None
    if config_path is not None:
        ctx = click.get_current_context()
        given = {n for n in ("client_ca", "trusted_ca", "depth", "crl", "mode", "ocsp_mode",
                             "ocsp_responder", "resolver", "ocsp_cache")
                 if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE}
        conf = _from_config(config_path, server_name, listen)
        server_label = conf["server"]
        client_ca = client_ca if "client_ca" in given else conf["client_ca"]
        trusted_ca = trusted_ca if "trusted_ca" in given else conf["trusted_ca"]
        depth = depth if "depth" in given else conf["depth"]
        crl = crl if "crl" in given else conf["crl"]
        mode = mode if "mode" in given else conf["mode"]
        ocsp_mode = ocsp_mode if "ocsp_mode" in given else conf["ocsp_mode"]
        ocsp_responder = ocsp_responder if "ocsp_responder" in given else conf["ocsp_responder"]
        resolver = resolver if "resolver" in given else conf["resolver"]
        ocsp_cache = ocsp_cache if "ocsp_cache" in given else conf["ocsp_cache"]
        kind = conf["kind"]
        notes.extend(conf["notes"])
        mail_protocol, starttls = conf["protocol"], conf["starttls"]
        if "mode" not in given:
            handshake = conf["handshake"]
    elif server_name is not None or listen is not None:
        fail(f"{'--server-name' if server_name is not None else '--listen'} needs --config")
    elif client_ca is None and trusted_ca is None and mode != "optional_no_ca":
        # nothing to verify against: a usage error, not a verdict on the client (a CLIENT
        # that cannot be read is named first)
        from mtls_doctor.inputs import check_path

        for path in clients:
            if path != "-":
                check_path(path, pipe=True)
        fail("no trust settings: give --ssl-client-certificate FILE (or "
             "--ssl-trusted-certificate FILE, or --config nginx.conf)")
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
    # nginx -t checks only servers with a certificate of their own (measured 1.22: the
    # no.context server of ssl_verify_client.t passes without a CA file)
    if mode in ("on", "optional") and not client_certs and handshake is None:
        if target.nginx_version is None:
            notes.append("nginx before 1.27.2 refuses this configuration: \"no "
                         "ssl_client_certificate for ssl_verify_client\" (F1.5)")
        elif target.nginx_version < TRUSTED_ONLY_OK:
            notes.append(f"nginx {target.nginx_version} refuses this configuration: \"no "
                         "ssl_client_certificate for ssl_verify_client\" (F1.5; accepted from "
                         "1.27.2)")
    ocsp_settings = _ocsp_settings(ocsp_mode, ocsp_responder, resolver, ocsp_cache, mode, kind,
                                   target, notes)
    # F7.1: the handshake server decides whether a certificate is asked for and verified,
    # the request's server whether a failure is refused
    not_requested = handshake is not None and handshake["verify"] == "off" and mode != "off"
    unchecked = handshake is not None and handshake["verify"] != "off" and mode == "off"
    trust = TrustSettings(client_certificate=client_certs, trusted_certificate=trusted_certs,
                          verify_depth=depth, crls=crls,
                          verify_client="optional" if unchecked else mode,
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
        verifier = Verifier(trust, keep_chain=ocsp_settings is not None, **engine_args)
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
        # ssl_ocsp needs each built chain (Verifier.keep_chain): verified in this process
        workers = 1 if ocsp_settings is not None else WORKERS
        for path, leaf, problems, result in verify_paths(verifier, clients, at, password=pw,
                                                         workers=workers):
            if result is None:
                fail(problems[0])
            if not_requested or unchecked:
                result = _handshake_elsewhere(verifier, result, at, handshake, server_label,
                                              mode, not_requested)
            result = _with_ocsp(result, ocsp_settings, ocsp_answer, at, resolver)
            result = _for_kind(result, kind, mail_protocol, starttls)
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
                     "ssl_crl": crl, "security_level": verifier.security_level,
                     "kind": kind, "ssl_ocsp": ocsp_settings.to_dict() if ocsp_settings else None},
        "notes": notes,
        "clients": rows,
        "accepted": all(r["accepted"] for r in rows),
    }
    report = Report(command="verify", data=data)
    emit(report, fmt, _render_text)
    # a client whose key does not match its leaf never completes the handshake: not a 200
    from mtls_doctor.model import Severity

    rejected = not data["accepted"] or any(r["key_matches"] is False for r in rows)
    worst = (Severity.ERROR if rejected else
             Severity.WARNING if notes or any(r["notes"] for r in rows) else None)
    return 1 if worst is not None and worst >= Severity(fail_on) else 0


def _handshake_elsewhere(verifier: Any, result: Any, at: Any, handshake: dict[str, str],
                         server: str | None, mode: str, not_requested: bool) -> Any:
    """The verdict when the SNI server has no certificate of its own and the handshake is done
    by ``handshake`` (the address's default server, F7.1): its ssl_verify_client decides
    whether a certificate is asked for, ``server``'s whether a failure is refused (measured on
    nginx-tests' ssl_verify_client.t "no.context", tests/verify/test_nginx_tests_port_sni.py)."""
    import dataclasses

    if not_requested:  # no CertificateRequest: the client cannot send its certificate
        none = verifier.verify(None, (), at)
        why = (f"{server} has no ssl_certificate of its own, so the handshake is done with "
               f"{handshake['label']}'s, which has ssl_verify_client off: nginx sends no "
               "CertificateRequest and the client sends no certificate (F7.1). "
               + none.explanation)
        fix = (f"give {server} its own ssl_certificate and ssl_certificate_key (its "
               f"ssl_verify_client then asks for the certificate), or set ssl_verify_client in "
               f"{handshake['label']}.")
        return dataclasses.replace(none, explanation=why, fix=fix)
    why = (f"{server} has no ssl_certificate of its own: the handshake is done with "
           f"{handshake['label']}'s, which asks for and verifies the certificate "
           f"($ssl_client_verify {result.ssl_client_verify}); {server} has ssl_verify_client "
           "off, so nginx serves the request whatever the result (F7.1).")
    fix = (None if result.ssl_client_verify == "SUCCESS" else
           f"set ssl_verify_client on in {server} to refuse what {handshake['label']} could not "
           "verify, or check $ssl_client_verify there.")
    return dataclasses.replace(result, status=200, page=None, log_line=None, verify_client=mode,
                               explanation=why, fix=fix)


def _ocsp_settings(mode: str, responder: str | None, resolver: str | None, cache: str | None,
                   verify_mode: str, kind: str, target: Any, notes: list[str]):
    """The ssl_ocsp settings (pki.ocsp.OcspSettings), with nginx's refusals as notes; None when
    OCSP is off or cannot run (then nginx -t fails, and the note says so)."""
    from mtls_doctor.nginx.version import SSL_OCSP_HTTP, SSL_OCSP_STREAM, STREAM_OCSP_BYPASS_FIXED
    from mtls_doctor.pki.ocsp import OcspSettings

    if mode == "off":
        return None
    if responder is not None:
        from urllib.parse import urlsplit

        from mtls_doctor.probe.target import redact

        if redact(responder) != responder:  # measured 1.22: "invalid port" / "host not found"
            fail(f"ssl_ocsp_responder {redact(responder)}: nginx -t fails on a user:password@ "
                 "in the URL (invalid port or host not found in OCSP responder)")
        if not responder.lower().startswith("http://"):
            fail(f"ssl_ocsp_responder {redact(responder)}: nginx takes http:// URLs only (F6.2)")
        try:
            host = urlsplit(responder).hostname
            urlsplit(responder).port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            fail(f"ssl_ocsp_responder {redact(responder)}: not a URL ({exc})")
            raise
        if not host:
            fail(f"ssl_ocsp_responder {redact(responder)}: no host in it")
    if kind == "mail":
        notes.append("the mail module has no ssl_ocsp: nginx -t fails on it (unknown directive)")
        return None
    gate = SSL_OCSP_STREAM if kind == "stream" else SSL_OCSP_HTTP
    version = target.nginx_version
    if version is not None and version < gate:
        notes.append(f"nginx {version} has no ssl_ocsp in {kind} servers (from {gate}, F6.2): "
                     "nginx -t fails with unknown directive \"ssl_ocsp\"; judged without OCSP")
        return None
    if kind == "stream" and version is not None and version < STREAM_OCSP_BYPASS_FIXED:
        notes.append(f"nginx {version}: a stream session might go on although OCSP rejected the "
                     f"client certificate (CVE-2026-28755, fixed in {STREAM_OCSP_BYPASS_FIXED}, "
                     "F6.2): upgrade; the verdict below is that of a fixed nginx")
    if verify_mode == "optional_no_ca":
        notes.append("nginx -t refuses this configuration: \"ssl_ocsp\" is incompatible with "
                     "\"ssl_verify_client optional_no_ca\" (F2.4); judged without OCSP")
        return None
    if cache:
        notes.append(f"ssl_ocsp_cache {cache}: nginx reuses a cached answer without asking the "
                     "responder again (a cached good stays SUCCESS while the responder is down, "
                     "a cached revoked stays revoked); this verdict is that of an empty cache")
    return OcspSettings(mode=mode, responder=responder, resolver=resolver is not None,
                        cache=cache)


def _with_ocsp(result: Any, settings: Any, assume: str | None, at: Any,
               resolver: str | None = None) -> Any:
    """``result`` with nginx's ssl_ocsp verdict on top (pki.ocsp), asking the responders it
    would ask (or assuming ``assume``)."""
    if settings is None:
        return result
    from mtls_doctor.pki import ocsp

    if not ocsp.applies(result, settings):
        return result
    certs = ocsp.certificates(result)
    checks = []
    for query in ocsp.queries(settings, certs):
        if query.blocked:
            checks.append(ocsp.OcspCheck(query, "unreachable", query.blocked))
        elif assume is not None:
            checks.append(ocsp.OcspCheck(query, assume, f"assumed (--ocsp-answer {assume})"))
        else:
            cert = certs[query.depth]
            issuer = certs[query.depth + 1] if query.depth + 1 < len(certs) else cert
            answer, detail = _ask_responder(
                query.url or "", ocsp.request_der(cert, issuer),
                resolver if query.source == "AIA" else None)
            if answer == "response":
                answer, detail = ocsp.judge_response(detail, cert, issuer, at)
            checks.append(ocsp.OcspCheck(query, answer, detail))
        if checks[-1].answer != "good":
            break  # nginx stops at the first certificate that is not good
    return ocsp.apply(result, settings, ocsp.verdict(settings, checks))


#: seconds to wait for an OCSP responder (nginx's resolver/ocsp timeouts are similar)
def _timeout(text: str | None, default: float = 5.0) -> float:
    try:
        value = float(text or default)
    except ValueError:
        return default  # junk: the default, as for MTLS_DOCTOR_VERIFY_WORKERS
    return value if 0 < value <= 120 else default


OCSP_TIMEOUT = _timeout(os.environ.get("MTLS_DOCTOR_OCSP_TIMEOUT"))


def _resolve_with(resolver: str, host: str, timeout: float) -> str | None:
    """``host``'s first IPv4 address from the DNS server ``resolver`` (nginx's ``resolver``
    directive: ADDRESS[:PORT] ..., options with '='), one UDP query; None when it does not
    answer in time (nginx: "HOST could not be resolved (110: Operation timed out)")."""
    import os as _os
    import socket
    import struct

    servers = [a for a in resolver.split() if "=" not in a]
    for server in servers:
        address, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "53")
        qid = int.from_bytes(_os.urandom(2), "big")
        query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"".join(
            bytes([len(p)]) + p.encode() for p in host.rstrip(".").split(".")) + b"\0" + \
            struct.pack(">HH", 1, 1)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(timeout)
                sock.connect((address, int(port or 53)))
                sock.send(query)
                data = sock.recv(4096)
        except (OSError, ValueError):
            continue
        found = _dns_a(data, qid)
        if found:
            return found
    return None


def _dns_a(data: bytes, qid: int) -> str | None:
    """The first A record of a DNS answer to query ``qid`` (None for anything else)."""
    import struct

    if len(data) < 12 or int.from_bytes(data[:2], "big") != qid:
        return None
    qd, an = struct.unpack(">HH", data[4:8])
    at = 12

    def skip_name(i: int) -> int:
        while i < len(data):
            n = data[i]
            if n == 0:
                return i + 1
            if n & 0xC0 == 0xC0:
                return i + 2
            i += n + 1
        return len(data)

    for _ in range(qd):
        at = skip_name(at) + 4
    for _ in range(an):
        at = skip_name(at)
        if at + 10 > len(data):
            return None
        rtype, _cls, _ttl, size = struct.unpack(">HHIH", data[at:at + 10])
        at += 10
        if rtype == 1 and size == 4:
            return ".".join(str(b) for b in data[at:at + 4])
        at += size
    return None


def _ask_responder(url: str, request: bytes, resolver: str | None = None) -> tuple[str, Any]:
    """GET ``url``/base64(request) as nginx does; ("response", DER) or (answer, detail).
    ``resolver``: a host name in ``url`` is resolved through it, as nginx does."""
    import base64
    import socket
    import urllib.error
    import urllib.request
    from urllib.parse import quote, urlsplit

    from mtls_doctor.pki.ocsp import needs_resolver

    if not url.lower().startswith("http://"):
        return "invalid", f"not an http:// URL: {url[:80]} (nginx asks http:// responders only)"
    host = needs_resolver(url)
    if host and resolver:
        address = _resolve_with(resolver, host, OCSP_TIMEOUT)
        if address is None:
            return "unreachable", f"{host} could not be resolved (110: Operation timed out)"
        parts = urlsplit(url)
        netloc = address + (f":{parts.port}" if parts.port else "")
        url = parts._replace(netloc=netloc).geturl()
    full = url.rstrip("/") + "/" + quote(base64.b64encode(request).decode(), safe="")
    try:
        with urllib.request.urlopen(full, timeout=OCSP_TIMEOUT) as answer:  # noqa: S310 - http only
            body = answer.read(1 << 20)
    except urllib.error.HTTPError as exc:
        return "invalid", f"the responder answered HTTP {exc.code}"
    except ValueError as exc:  # a malformed URL (nginx: "invalid URL ... in OCSP responder")
        return "invalid", f"not a usable OCSP URL ({exc})"
    except (urllib.error.URLError, OSError, socket.timeout) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ConnectionRefusedError):
            # a non-blocking connect: nginx sees the refusal on recv() (measured 1.22-1.30)
            return "unreachable", "recv() failed (111: Connection refused)"
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return "unreachable", f"the responder did not answer within {OCSP_TIMEOUT:g} s"
        return "unreachable", f"cannot reach the responder ({reason})"
    return "response", body


def _for_kind(result: Any, kind: str, protocol: str | None, starttls: bool) -> Any:
    """An http verdict told as a stream or mail server tells it (pki.serverkind)."""
    if kind == "http":
        return result
    from mtls_doctor.pki.serverkind import for_kind

    return for_kind(result, kind, protocol, starttls)


def _from_config(path: str, server_name: str | None, listen: str | None = None) -> dict[str, Any]:
    """The ssl_* settings of the server block nginx would pick for ``server_name`` (on the
    ``listen`` address when given)."""
    from mtls_doctor.nginx.effective import effective, match_name
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
    servers = [s for s in (*eff.servers, *_mail_servers(config)) if s.ssl or _starttls(s)]
    if not servers:
        fail(f"{path}: no http, stream or mail server with ssl")
    http = [s for s in servers if s.kind == "http"]
    others = [s for s in servers if s.kind != "http"]
    verifying = [s for s in servers if s.verify != "off"]
    trust = None
    if listen is not None:
        server, trust = _on_listen(eff, servers, listen, server_name, path)
    elif server_name is None and len(verifying) == 1:
        server = verifying[0]
    elif server_name is None and others and (len(verifying) > 1 or not http):
        kinds = "; ".join(f"{s.kind} {s.label}" for s in (verifying or servers))
        server = servers[0] if len(servers) == 1 else None
        if server is None:
            fail(f"{path}: several TLS servers ({kinds}); choose one with --server-name")
    elif http and (server_name is None or any(match_name(s, server_name) is not None
                                              for s in http) or not others):
        server = _pick_server(http, eff, server_name)
    else:  # a mail (or stream 1.25.5+) server_name
        named = [s for s in others if match_name(s, server_name) is not None]
        # no stream/mail server has that name: nginx's http choice (the default server)
        server = named[0] if named else (_pick_server(http, eff, server_name) if http else None)
    if server is None:
        names = ", ".join(n for s in servers for n in s.names if n) or "(none)"
        fail(f"{path}: several TLS servers ({names}); choose one with --server-name")

    trust = trust or server  # the server whose SSL context does the handshake (F7.1, F7.3)

    def file_of(name: str) -> str | None:
        value = trust.get(name).args
        return config.resolve(value[0]) if value else None

    depth_text = trust.get("ssl_verify_depth").value
    try:
        depth = int(depth_text)
    except ValueError:
        fail(f"{path}: ssl_verify_depth {depth_text!r} is not a number")
        raise
    responder = trust.get("ssl_ocsp_responder").args
    cache = _directive(trust, "ssl_ocsp_cache")
    ocsp_mode = trust.get("ssl_ocsp").value if server.kind != "mail" else "off"
    if ocsp_mode not in ("off", "on", "leaf"):
        fail(f"{path}: ssl_ocsp {ocsp_mode!r} is not on, off or leaf")
    return {"server": f"{server.kind} {server.label}" if server.kind != "http" else server.label,
            "mode": server.verify, "kind": server.kind,
            "client_ca": file_of("ssl_client_certificate"),
            "trusted_ca": file_of("ssl_trusted_certificate"), "crl": file_of("ssl_crl"),
            "depth": depth, "ocsp_mode": ocsp_mode,
            "ocsp_responder": responder[0] if responder else None,
            "resolver": " ".join(server.get("resolver").args) or None,
            "ocsp_cache": " ".join(cache) if cache else None, "notes": [],
            "protocol": (_directive(server, "protocol") or ("imap",))[0]
            if server.kind == "mail" else None, "starttls": _starttls(server),
            # the SNI server has no certificate of its own: another server's SSL context does
            # the handshake (its CertificateRequest or none), this one judges the request (F7.1)
            "handshake": None if trust is server else {"label": trust.label,
                                                       "verify": trust.verify}}


def _on_listen(eff: Any, servers: list, listen: str, name: str | None, path: str) -> tuple:
    """The server nginx selects for a connection to ``listen`` with SNI/Host ``name``, and the
    server whose SSL context does the handshake (``nginx.effective``: the one home of both)."""
    from mtls_doctor.nginx.effective import (find_server, group_by_address, handshake_server,
                                             listening_on, select_server)

    host, sep, port_text = listen.rpartition(":")
    if not sep:
        host = ""
    host = host.strip("[]") or None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        fail(f"--listen {listen!r}: expected [IP:]PORT with a port from 1 to 65535")
    groups = group_by_address(servers)
    address, on = listening_on(groups, host, int(port_text))
    same_port = [a for a in groups if a.rpartition(":")[2] == port_text]
    if not on and host is None and len(same_port) == 1:  # a bare port: its only address
        address, on = same_port[0], groups[same_port[0]]
    if not on:
        known = ", ".join(dict.fromkeys(l.address for s in servers for l in s.listens))
        fail(f"{path}: no TLS server listens on {listen} (listens: {known or 'none'})")
    if all(s.kind == "http" for s in on):
        server, _ = find_server(eff, address, name)
        return server, handshake_server(eff, server, address)
    return select_server(on, address, name)[0], None


def _mail_servers(config: Any) -> list:
    """The servers of ``mail {}`` blocks, with the same inheritance as http and stream ones
    (``nginx.effective``: the one home of it; its public view covers http and stream only)."""
    from mtls_doctor.nginx.effective import _own, _servers

    main_logs = _own(config.root, "error_log")
    return [s for ctx in config.root if ctx.name == "mail" and ctx.block is not None
            for s in _servers(ctx, "mail", config.root, main_logs)]


def _starttls(server: Any) -> bool:
    """A mail server with ``starttls on|only`` (TLS after the protocol's STARTTLS command)."""
    value = _directive(server, "starttls")
    return server.kind == "mail" and bool(value) and value[0] in ("on", "only")


def _directive(server: Any, name: str) -> tuple[str, ...] | None:
    """The args of ``name`` at server level, else inherited from the http/stream/mail block."""
    for node in (*(server.node.block or ()), *server.inherited):
        if node.name == name:
            return node.args
    return None


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
    ocsp = s.get("ssl_ocsp")
    ocsp_text = "" if not ocsp else f"ssl_ocsp {ocsp['mode']}" + (
        f" (responder {ocsp['responder']})" if ocsp.get("responder") else " (AIA)") + "; "
    kind = "" if s.get("kind", "http") == "http" else f"{s['kind']} server; "
    out.print(f"nginx settings: {kind}ssl_verify_client {s['ssl_verify_client']}; "
              f"ssl_verify_depth {s['ssl_verify_depth']}; {escape(ocsp_text)}security level "
              f"{s['security_level']}; {escape(data['openssl_version'])}; at {data['at']}")
    for note in data["notes"]:
        out.print(f"note: {escape(note)}")
    for row in data["clients"]:
        out.print()
        if row["ssl_client_verify"] is None:
            verdict = "HANDSHAKE FAILS"
        elif not row["accepted"]:
            verdict = "REJECTED"
        elif row["ssl_client_verify"] == "SUCCESS" or row.get("server_kind", "http") != "http" \
                and row["ssl_client_verify"] == "SUCCESS":
            verdict = "ACCEPTED"
        else:  # optional / optional_no_ca: served, but not verified (F2.2, F2.4)
            verdict = f"LET THROUGH UNVERIFIED ({row['ssl_client_verify']})"
        status = row["status"]
        page = f" (page {row['page']}: \"{row['page_title']}\")" if row["page"] else ""
        answer = f"HTTP {status}{page}" if status is not None else "no HTTP answer"
        if row.get("server_kind", "http") != "http" and row["ssl_client_verify"] is not None:
            kind = row["server_kind"]
            if row["accepted"]:
                answer = f"{kind} session goes on"
            elif row.get("reply"):
                answer = f"{kind} reply {row['reply']!r}, then closed"
            else:
                answer = f"{kind} connection closed after the handshake"
        out.print(f"[bold]{escape(row['client'])}[/bold]: {escape(verdict)}, {answer}")
        if row["ssl_client_verify"] is not None:
            out.print(f"  $ssl_client_verify  {escape(row['ssl_client_verify'])}")
        if row["error"]:
            err = row["error"]
            out.print(f"  error               {err['code']}: {escape(err['text'] or '')} "
                      f"({escape(err['openssl_version'])})")
        if row["log_line"]:
            out.print(escape("  error.log [info]    ") + escape(row["log_line"]))
        for line in (row.get("ocsp") or {}).get("error_lines", ()):
            out.print(escape("  error.log [error]   ") + escape(line))
        for check in (row.get("ocsp") or {}).get("checks", ()):
            out.print(f"  ocsp depth {check['depth']}     {escape(check['answer'])} from "
                      f"{escape(str(check['url']))} ({escape(str(check['source']))}): "
                      f"{escape(check['detail'])}")
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
