"""Real stream and mail lines: nginx with the dynamic stream/mail modules, client certificates.

``NginxServer`` (lab.nginx) renders only an ``http {}`` body, so this small runner writes its own
configuration (``load_module``, ``stream {}``, ``mail {}``) under a temporary prefix, runs
``nginx -g 'daemon off;'`` in its own session, waits (bounded) for the ports, and always stops
it (SIGQUIT, SIGTERM, SIGKILL). Debian ships the modules as libnginx-mod-stream and
libnginx-mod-mail; ``modules()`` says which are installed.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from mtls_doctor.lab.nginx import free_ports
from mtls_doctor.lab.pki import build_lab_pki
from tests.conftest import nginx_argv, nginx_module

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


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


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
    for sub in ("logs", "certs", "tmp"):
        (workdir / sub).mkdir(exist_ok=True)
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "certs/root.pem": pki.pem("root"), "certs/expired.pem": pki.clients["expired"].chain_pem,
             "certs/expired.key": pki.clients["expired"].key_pem}
    for rel, data in files.items():
        fd = os.open(workdir / rel, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    stream_port, mail_port, dummy = free_ports(3)
    tls = (f"ssl_certificate {workdir}/certs/server.pem; ssl_certificate_key {workdir}/certs/server.key; "
           f"ssl_client_certificate {workdir}/certs/root.pem; ssl_verify_client on;")
    conf = [f"load_module {mods[m]};" for m in ("stream", "mail") if m in mods]
    conf += [f"pid {workdir}/nginx.pid;", f"lock_file {workdir}/nginx.lock;",
             f"error_log {workdir}/logs/error.log info;", "worker_processes 1;",
             "events { worker_connections 64; }"]
    if "stream" in mods:
        conf.append(f"stream {{ server {{ listen 127.0.0.1:{stream_port} ssl; {tls} "
                    f"proxy_pass 127.0.0.1:{dummy}; }} }}")
    if "mail" in mods:
        conf.append(f"mail {{ auth_http 127.0.0.1:{dummy}/auth; server {{ listen 127.0.0.1:{mail_port} ssl; "
                    f"protocol imap; {tls} }} }}")
    (workdir / "nginx.conf").write_text("\n".join(conf) + "\n")
    cmd = nginx_argv(nginx_bin, "-p", f"{workdir}/", "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "logs/error.log"))
    subprocess.run(cmd + ["-t", "-q"], check=True, timeout=30, capture_output=True)
    proc = subprocess.Popen(cmd + ["-g", "daemon off; master_process on;"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        ports = [p for m, p in (("stream", stream_port), ("mail", mail_port)) if m in mods]
        deadline = time.monotonic() + 10
        while not all(_listening(p) for p in ports):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx (stream/mail) did not start")
            time.sleep(0.05)
        root, cert, key = workdir / "certs/root.pem", workdir / "certs/expired.pem", workdir / "certs/expired.key"
        for port in ports:
            send = b"a1 CAPABILITY\r\n" if port == mail_port else b"hello"
            _client(port, root, None, None, send)  # no certificate
            _client(port, root, cert, key, send)  # expired certificate: 10
    finally:
        for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                continue
    return (workdir / "logs" / "error.log").read_text(errors="replace")
