"""Live probes for ``diagnose`` (I/O): every TLS listen address on loopback, per server_name.

Invariants: each (address, server_name) gets one attempt WITH SNI and one WITHOUT SNI (same Host
header, the server_name: F7.3 shows only that way), each without a certificate and, when the user
gave ``--cert/--key``, with it; every attempt is bounded by ``timeout`` per step
(``probe.handshake``); an address that does not answer TLS is not probed further. Requests carry
``PROBE_MARK`` so that their error-log lines can be left out. ``*``/``0.0.0.0`` -> 127.0.0.1,
``[::]`` -> ::1; names with wildcards/regexes are not sent as SNI, IPs never (RFC 6066).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from mtls_doctor.diagnose.evidence import ProbeEvidence

PROBE_MARK = "mtls-doctor=diagnose"
PROBE_PATH = "/?" + PROBE_MARK



def _loopback(address: str) -> tuple[str, int] | None:
    if address.startswith("unix:"):
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    host = host.strip("[]")
    if host in ("*", "0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    else:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return None  # a host name in listen: not probed (it may not be local)
    return host, int(port)


def _plain_names(server: Any) -> list[str]:
    out = []
    for name in server.names:
        if not name or name == "_" or name.startswith(("~", "*", ".")) or "*" in name or "$" in name:
            continue
        try:
            ipaddress.ip_address(name)
            continue  # an IP is never sent as SNI (RFC 6066)
        except ValueError:
            pass
        if name not in out:
            out.append(name)
    return out


def _attempts(host: str, port: int, sni: str | None, host_header: str | None, identity: Any,
              opts: Any, local: bool, protocol: str = "https",
              starttls: bool = False) -> tuple[Any, ...]:
    """``protocol``/``starttls``: as ``probe.handshake.ProbeConfig`` (stream: "tls"; mail:
    "imap"/"pop3"/"smtp"): the mode is then read without HTTP (probe.starttls)."""
    from mtls_doctor.probe.handshake import ProbeConfig, attempt
    from mtls_doctor.probe.model import AttemptSpec, CertKind

    config = ProbeConfig(host=host, port=port, path=PROBE_PATH, host_header=host_header,
                         timeout=opts.timeout, ca_file=opts.ca_file, insecure=opts.insecure,
                         send_cert_anyway=local, verify_name=sni or host_header or host,
                         protocol=protocol, starttls=starttls)
    out = [attempt(config, AttemptSpec(CertKind.NONE, sni, "auto"))]
    if identity is not None and (out[0].handshake_done or out[0].certificate_request is not None):
        out.append(attempt(config, AttemptSpec(CertKind.USER, sni, "auto"), identity))
    return tuple(out)


def local_probes(eff: Any, opts: Any, identity: Any) -> list[ProbeEvidence]:
    from mtls_doctor.nginx.effective import listen_groups

    out: list[ProbeEvidence] = []
    for address, servers in listen_groups(eff).items():
        tls = [s for s in servers if any(l.address == address and l.ssl for l in s.listens) or
               s.settings["ssl"].value == "on"]
        target = _loopback(address)
        if not tls or target is None:
            continue
        host, port = target
        default = eff.defaults.get(address)
        pairs: list[tuple[str, Any]] = []
        for server in tls:
            for name in _plain_names(server):
                if opts.server_names and name not in opts.server_names:
                    continue
                if all(n != name for n, _ in pairs):
                    pairs.append((name, server))
        unreachable = False
        for name, server in pairs:
            if unreachable:
                break
            with_sni = _attempts(host, port, name, name, identity, opts, True)
            out.append(ProbeEvidence(host, port, name, name, with_sni, address, server, server))
            if not (with_sni[0].handshake_done or with_sni[0].certificate_request is not None):
                unreachable = True  # nginx not listening there (not running, not reloaded)
                continue
            without = _attempts(host, port, None, name, identity, opts, True)
            out.append(ProbeEvidence(host, port, None, name, without, address, server, default))
        if not pairs:
            attempts = _attempts(host, port, None, None, identity, opts, True)
            out.append(ProbeEvidence(host, port, None, None, attempts, address, default, default))
    for server in eff.servers:  # stream servers: plain TLS, no HTTP (probe.starttls, F0.4)
        if server.kind != "stream" or server.verify == "off":
            continue
        for listen in server.listens:
            target = _loopback(listen.address) if listen.ssl else None
            if target is None:
                continue
            attempts = _attempts(*target, None, None, identity, opts, True, protocol="tls")
            out.append(ProbeEvidence(*target, None, None, attempts, listen.address, server, server))
    return out


def target_probes(eff: Any, opts: Any, identity: Any, target: Any) -> list[ProbeEvidence]:
    """One attempt set that does what the user's client does (its SNI or none, its Host) at
    the address it reaches, when the per-server_name probes did not."""
    if target.address is None:
        return []
    where = _loopback(target.address)
    if where is None:
        return []
    host, port = where
    attempts = _attempts(host, port, target.sni, target.host, identity, opts, True)
    return [ProbeEvidence(host, port, target.sni, target.host, attempts, target.address,
                          target.request_server, target.handshake_server)]


def remote_probes(opts: Any, identity: Any, eff: Any = None, user: Any = None) -> list[ProbeEvidence]:
    """``--url``: one attempt set with SNI (the host name, ``--sni`` or ``--server-name``) and
    one without. With ``--config`` too, the server block the Host selects (``user``, a
    ``Target``) is the one the probe is compared with; ``--host`` sets the Host header."""
    from mtls_doctor.probe.target import parse_target

    target = parse_target(opts.url or "")
    name = opts.sni or (opts.server_names[0] if opts.server_names else (None if target.is_ip else target.host))
    if opts.no_sni:
        name = None
    host_header = opts.host or (opts.server_names[0] if opts.server_names else None) or name
    server = None
    if user is not None and user.request_server is not None:
        server = user.request_server
    elif eff is not None and host_header:
        server = next((s for s in eff.servers if s.kind == "http" and host_header in s.names), None)
    default = user.handshake_server if user is not None and user.lands_on_default else None
    out = []
    kind = {"protocol": target.protocol, "starttls": target.starttls}  # tls://, imap://, ...
    if name:
        hs = user.handshake_server if user is not None and user.handshake_server is not None else server
        out.append(ProbeEvidence(target.host, target.port, name, host_header,
                                 _attempts(target.host, target.port, name, host_header, identity, opts, False,
                                           **kind),
                                 None, server, hs))
    out.append(ProbeEvidence(target.host, target.port, None, host_header,
                             _attempts(target.host, target.port, None, host_header, identity, opts, False,
                                       **kind),
                             None, server, default))
    return out


def probe_findings(probes: list[ProbeEvidence], at: datetime, identity: Any) -> tuple:
    """The probe rules (MTLS5xx) over each endpoint's attempts, as ``probe`` would judge them."""
    from mtls_doctor.probe.matrix import infer
    from mtls_doctor.probe.model import ProbeResult
    from mtls_doctor.rules.probe import check

    by_endpoint: dict[tuple[str, int, str | None], list[ProbeEvidence]] = {}
    for p in probes:
        by_endpoint.setdefault((p.host, p.port, p.host_header), []).append(p)
    out: list = []
    for (host, port, _), group in by_endpoint.items():
        attempts = tuple(a for p in group for a in p.attempts)
        settings = [p.sni for p in group]
        result = ProbeResult(host=host, port=port, path=PROBE_PATH, primary_sni=settings[0],
                             attempts=attempts, inferences=tuple(infer(attempts, s) for s in settings),
                             at=at.isoformat(),
                             client=identity.summary() if identity is not None else None)
        for finding in check(result):
            if finding not in out:
                out.append(finding)
    return tuple(out)


__all__ = ["PROBE_MARK", "PROBE_PATH", "local_probes", "remote_probes", "probe_findings"]
