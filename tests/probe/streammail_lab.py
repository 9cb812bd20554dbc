"""Real nginx stream and mail servers with ``ssl_verify_client``, for probe and verify tests.

``NginxServer`` (lab.nginx) renders an ``http {}`` body only, so the configuration is run by
``tests.rawnginx.RawNginx`` (``load_module`` of the dynamic stream/mail modules of the nginx at
hand, bounded start, always stopped). Everything listens on 127.0.0.1.

Stream servers proxy to a silent loopback backend (it accepts and never speaks: what a database
or a message broker behind nginx looks like to a client that has not spoken yet). Mail servers point ``auth_http`` at a loopback port nothing listens on: what is measured
is the handshake (implicit TLS or STARTTLS) and the reply nginx sends right after it, before any
login; a login would only reach the dead auth server.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mtls_doctor.lab.pki import build_lab_pki
from tests.conftest import nginx_module
from tests.rawnginx import RawNginx

TLS = ("ssl_certificate certs/server.pem; ssl_certificate_key certs/server.key; "
       "ssl_client_certificate certs/ca.pem; ssl_verify_depth 2;")

#: name -> (kind, protocol, tls, mode): kind stream|mail; tls "implicit" | "starttls"
SERVERS = {
    "stream-on": ("stream", None, "implicit", "on"),
    "stream-optional": ("stream", None, "implicit", "optional"),
    "stream-optional_no_ca": ("stream", None, "implicit", "optional_no_ca"),
    "stream-off": ("stream", None, "implicit", "off"),
    "imap-on": ("mail", "imap", "implicit", "on"),
    "imap-optional": ("mail", "imap", "implicit", "optional"),
    "imap-off": ("mail", "imap", "implicit", "off"),
    "imap-starttls-on": ("mail", "imap", "starttls", "on"),
    "pop3-on": ("mail", "pop3", "implicit", "on"),
    "pop3-starttls-on": ("mail", "pop3", "starttls", "on"),
    "pop3-starttls-optional": ("mail", "pop3", "starttls", "optional"),
    "smtp-on": ("mail", "smtp", "implicit", "on"),
    "smtp-starttls-on": ("mail", "smtp", "starttls", "on"),
    "smtp-starttls-off": ("mail", "smtp", "starttls", "off"),
}


class _SilentBackend:
    """Accepts on 127.0.0.1 and never sends; closes everything on stop."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self._conns.append(conn)
            except OSError:
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._conns:
            conn.close()
        self.sock.close()


@dataclass
class StreamMailLab:
    """``with StreamMailLab(nginx_bin, workdir) as lab: lab.ports[name]``; ``lab.pki``."""

    nginx_bin: str
    workdir: Path
    names: tuple[str, ...] = tuple(SERVERS)
    #: more stream servers: (name, directives after ``listen ... ssl;``) and files they name
    #: (relative to the prefix); their ports are in ``ports`` too
    extra_stream: tuple[tuple[str, str], ...] = ()
    extra_files: tuple[tuple[str, bytes], ...] = ()

    def modules(self) -> dict[str, str]:
        return {m: p for m in ("stream", "mail") if (p := nginx_module(self.nginx_bin, m))}

    def __enter__(self) -> "StreamMailLab":
        self.nginx = None
        self.backend = _SilentBackend()
        try:
            self._start()
            return self
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> None:
        mods = self.modules()
        self.pki = build_lab_pki(datetime.now(timezone.utc))
        w = self.workdir
        for sub in ("logs", "certs", "clients", "ocsp"):
            (w / sub).mkdir(parents=True, exist_ok=True)
        files = {"certs/server.pem": self.pki.server_chain_pem,
                 "certs/server.key": self.pki.server.key_pem,
                 "certs/ca.pem": self.pki.pem("root", "inter")}
        for label in ("good", "expired", "foreign"):
            client = self.pki.clients[label]
            files[f"clients/{label}.pem"] = client.chain_pem
            files[f"clients/{label}.key"] = client.key_pem
        files["clients/root.pem"] = self.pki.pem("root")
        files.update(dict(self.extra_files))
        names = [n for n in self.names if SERVERS[n][0] in mods]
        extra = [e for e in self.extra_stream if "stream" in mods]

        def body(ports: tuple[int, ...]) -> str:
            self.ports = dict(zip(names + [n for n, _ in extra], ports))
            dead = ports[-1]
            stream, mail = [], []
            for name in names:
                kind, proto, tls, mode = SERVERS[name]
                listen = f"listen 127.0.0.1:{self.ports[name]}{' ssl' if tls == 'implicit' else ''};"
                verify = f"ssl_verify_client {mode};"
                if kind == "stream":
                    stream.append(f"  server {{ {listen} {TLS} {verify} "
                                  f"proxy_pass 127.0.0.1:{self.backend.port}; }}")
                else:
                    starttls = "starttls on;" if tls == "starttls" else ""
                    mail.append(f"  server {{ {listen} protocol {proto}; server_name mail.test; "
                                f"{TLS} {verify} {starttls} }}")
            for name, directives in extra:
                stream.append(f"  server {{ listen 127.0.0.1:{self.ports[name]} ssl; {directives} }}")
            conf = ["stream {", *stream, "}"] if stream else []
            if mail:
                conf += ["mail {", f"  auth_http 127.0.0.1:{dead}/auth;", "  smtp_auth login plain;",
                         *mail, "}"]
            return "\n".join(conf)

        self.nginx = RawNginx(self.nginx_bin, w, body, len(names) + len(extra) + 1, files,
                              modules=tuple(m for m in ("stream", "mail") if m in mods),
                              listening=lambda ports: ports[:-1])  # the last: the dead auth port
        self.nginx.__enter__()
        self.conf_path = self.nginx.conf_path

    def __exit__(self, *exc: object) -> None:
        try:
            if getattr(self, "nginx", None) is not None:
                self.nginx.__exit__()
        finally:
            self.backend.stop()

    def client(self, label: str) -> tuple[str, str]:
        return str(self.workdir / f"clients/{label}.pem"), str(self.workdir / f"clients/{label}.key")

    @property
    def ca(self) -> str:
        return str(self.workdir / "clients/root.pem")

    def error_log(self) -> str:
        return (self.workdir / "logs/error.log").read_text(errors="replace")

