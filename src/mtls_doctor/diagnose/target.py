"""Which server the user's client reaches, and the values a fix is rendered with (pure).

Invariants: no I/O; server selection is nginx's (``nginx.effective.find_server``): the SNI
selects the server whose TLS settings the handshake gets, the default server of the address
when there is no SNI (an IP address in the URL) or the name matches no server_name (F7.1,
F7.3); the Host header selects the server that answers the request; a target the user did not
describe stays unknown (``Target.sni_known`` False) instead of being guessed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from mtls_doctor.diagnose.evidence import Target


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def resolve_target(eff: Any, url: str | None = None, sni: str | None = None, no_sni: bool = False,
                   host: str | None = None, server_names: tuple[str, ...] = ()) -> Target:
    """The user's target from ``--url``, ``--sni``/``--no-sni``, ``--host``, ``--server-name``."""
    from mtls_doctor.probe.target import parse_target

    url_host = port = None
    why = []
    if url:
        t = parse_target(url)
        url_host, port = t.host, t.port
    sni_known = False
    the_sni: str | None = None
    if no_sni:
        sni_known, why = True, ["--no-sni"]
    elif sni:
        sni_known, the_sni, why = True, sni, [f"--sni {sni}"]
    elif url_host is not None:
        sni_known = True
        if server_names:
            the_sni = server_names[0]
            why.append(f"--url {url_host} with --server-name {the_sni}: SNI {the_sni}")
        elif _is_ip(url_host):
            why.append(f"--url {url_host}: an IP address, so no SNI (RFC 6066)")
        else:
            the_sni = url_host
            why.append(f"--url {url_host}: SNI {the_sni}")
    elif server_names:
        sni_known, the_sni = True, server_names[0]
        why.append(f"--server-name {the_sni}: SNI and Host")
    # the Host: --host, else the name the user gave (--server-name, --sni), else the URL's host
    the_host = host or (server_names[0] if server_names else None) or sni or url_host or the_sni
    if eff is None:
        return Target(sni=the_sni, sni_known=sni_known, host=the_host, why="; ".join(why))
    address = _address(eff, url_host, port, the_sni or the_host)
    if address is None:
        return Target(sni=the_sni, sni_known=sni_known, host=the_host, why="; ".join(why))
    from mtls_doctor.nginx.effective import find_server

    request_server = find_server(eff, address, the_host)[0] if the_host else None
    handshake_server = matched = None
    if sni_known:
        handshake_server, matched = find_server(eff, address, the_sni)
    return Target(sni=the_sni, sni_known=sni_known, host=the_host, address=address,
                  request_server=request_server, handshake_server=handshake_server,
                  lands_on_default=(not matched) if sni_known else None,
                  sni_matches=matched if sni_known and the_sni else None, why="; ".join(why))


def _address(eff: Any, url_host: str | None, port: int | None, name: str | None) -> str | None:
    from mtls_doctor.nginx.effective import address_servers, listen_groups, match_name

    groups = {a: s for a, s in listen_groups(eff).items()
              if any(l.ssl for srv in s for l in srv.listens if l.address == a)
              or any(srv.settings["ssl"].value == "on" for srv in s)}
    if port is not None:
        ip = url_host if url_host is not None and _is_ip(url_host) else None
        if ip in ("127.0.0.1", "::1", "localhost"):
            ip = ip  # loopback: a listen on 127.0.0.1 or * serves it
        address, _ = address_servers(eff, ip, port)
        if address is None and ip is None:
            address = next((a for a in groups if a.endswith(f":{port}")), None)
        return address
    if len(groups) == 1:
        return next(iter(groups))
    if name:
        for address, servers in groups.items():
            if any(match_name(s, name) is not None for s in servers):
                return address
    return None


def fix_values(server: Any, address: str | None = None) -> dict[str, str]:
    """What a fix template is rendered with for ``server``: its listen (as written), first
    server_name, label, client CA file, error_log path, and its kind (http, stream: the
    snippet a stream server takes, ``Cause.stream_snippet``)."""
    if server is None:
        return {}
    listen = next((l for l in server.listens if address is None or l.address == address),
                  server.listens[0] if server.listens else None)
    listen_text = listen.node.args[0] if listen is not None and listen.node is not None and \
        listen.node.args else (listen.address if listen is not None else "")
    name = next((n for n in server.names if n and n != "_" and not n.startswith("~")), "")
    ca = server.settings["ssl_client_certificate"]
    if ca.node is None:
        ca = server.settings["ssl_trusted_certificate"]
    log = server.error_log_nodes[0].args[0] if server.error_log_nodes and \
        server.error_log_nodes[0].args else ""
    return {"listen": listen_text, "name": name, "server": server.label,
            "ca_file": ca.args[0] if ca.node is not None and ca.args else "",
            "error_log": log, "kind": getattr(server, "kind", "http") or "http"}


__all__ = ["resolve_target", "fix_values"]
