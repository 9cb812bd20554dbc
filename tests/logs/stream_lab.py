"""Real stream and mail lines: nginx with the dynamic stream/mail modules, client certificates.

``NginxServer`` (lab.nginx) renders only an ``http {}`` body, so the ``stream {}`` and
``mail {}`` configuration is run by ``tests.rawnginx.RawNginx`` (bounded start, always stopped).
Debian ships the modules as libnginx-mod-stream and libnginx-mod-mail; ``modules()`` says which
are installed.
"""

from __future__ import annotations

import socket
import ssl
from datetime import datetime, timezone
from pathlib import Path

from mtls_doctor.lab.pki import build_lab_pki
from tests.conftest import nginx_module
from tests.rawnginx import RawNginx

MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/lib64/nginx/modules", "/usr/local/nginx/modules")


def modules(nginx_bin: str | None = None) -> dict[str, str]:
    """``{"stream": path, "mail": path}`` for the dynamic modules that exist (those built for
    ``nginx_bin`` when given: a root's nginx loads its own root's modules)."""
    out = {}
    for name in ("stream", "mail"):
        if nginx_bin is not None:
            found = nginx_module(nginx_bin, name)
            if found:
                out[name] = found
            continue
        for d in MODULE_DIRS:
            path = Path(d) / f"ngx_{name}_module.so"
            if path.is_file():
                out[name] = str(path)
                break
    return out


def _client(port: int, ca: Path, cert: Path | None, key: Path | None, send: bytes | None) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(ca))
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    data = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
                if send:
                    tls.sendall(send)
                for _ in range(16):
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
    except (ssl.SSLError, OSError):
        pass
    return data


def run_stream_mail(workdir: Path, nginx_bin: str) -> str:
    """Provoke client-certificate failures on a stream and a mail (IMAP) server; the error log."""
    mods = modules(nginx_bin)
    pki = build_lab_pki(datetime.now(timezone.utc))
    workdir.mkdir(parents=True, exist_ok=True)
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "certs/root.pem": pki.pem("root"), "certs/expired.pem": pki.clients["expired"].chain_pem,
             "certs/expired.key": pki.clients["expired"].key_pem}
    tls = ("ssl_certificate certs/server.pem; ssl_certificate_key certs/server.key; "
           "ssl_client_certificate certs/root.pem; ssl_verify_client on;")
    kinds = tuple(m for m in ("stream", "mail") if m in mods)

    def body(ports: tuple[int, ...]) -> str:
        stream_port, mail_port, dummy = ports
        conf = []
        if "stream" in kinds:
            conf.append(f"stream {{ server {{ listen 127.0.0.1:{stream_port} ssl; {tls} "
                        f"proxy_pass 127.0.0.1:{dummy}; }} }}")
        if "mail" in kinds:
            conf.append(f"mail {{ auth_http 127.0.0.1:{dummy}/auth; server {{ listen 127.0.0.1:{mail_port} ssl; "
                        f"protocol imap; {tls} }} }}")
        return "\n".join(conf)

    def serving(ports: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(p for m, p in zip(("stream", "mail"), ports) if m in kinds)

    with RawNginx(nginx_bin, workdir, body, 3, files, modules=kinds, listening=serving) as nginx:
        root, cert, key = workdir / "certs/root.pem", workdir / "certs/expired.pem", workdir / "certs/expired.key"
        for port in serving(nginx.ports):
            send = b"a1 CAPABILITY\r\n" if port == nginx.ports[1] else b"hello"
            _client(port, root, None, None, send)  # no certificate
            _client(port, root, cert, key, send)  # expired certificate: 10
    return (workdir / "logs" / "error.log").read_text(errors="replace")
