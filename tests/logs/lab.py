"""Produce a REAL nginx error log full of client-certificate failures (no invented lines).

``run_lab(workdir)`` starts one real nginx (``mtls_doctor.lab.nginx.NginxServer``) on 127.0.0.1
with several TLS servers, provokes each failure with a real client (Python ``ssl`` = the system
OpenSSL, ``curl`` when installed, a raw socket for plain HTTP, a Python ``ssl`` upstream that
requires client certificates), stops nginx, and returns the error log plus what each request
was expected to produce. ``config_errors(workdir)`` runs ``nginx -t`` on broken configurations
and returns nginx's own messages. Everything is bounded by timeouts and always stopped.

Run ``python -m tests.logs.lab DIR`` to refresh ``tests/logs/data/lab-error.log`` (the captured
real log the rule fixtures use).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from mtls_doctor.lab.client import request
from mtls_doctor.lab.nginx import NginxConfigError, NginxServer
from mtls_doctor.lab.pki import build_lab_pki

NAMES = ("a.test", "b.test", "c.test")


@dataclass(frozen=True)
class LabRun:
    error_log: str  # the whole error log nginx wrote
    expected: dict[str, int]  # cause id -> how many lines the provoked requests must produce
    answers: dict[str, object]  # request id -> lab.client.Answer (for debugging failures)


def _files(pki) -> dict[str, bytes]:
    c = pki.clients
    files = {
        "certs/server.pem": pki.server_chain_pem,
        "certs/server.key": pki.server.key_pem,
        "ca/root.pem": pki.pem("root"),
        "ca/inter.pem": pki.pem("inter"),
        "ca/other.pem": pki.pem("other-root"),
        "crl/root-only.pem": pki.crl_pem("root"),
        "crl/root-inter.pem": pki.crl_pem("root", "inter"),
        "crl/root-inter-expired.pem": pki.crl_pem("root", "inter-expired"),
        "up/foreign.pem": c["foreign"].chain_pem,
        "up/foreign.key": c["foreign"].key_pem,
    }
    for name in ("good", "expired", "self-signed", "server-eku", "deep", "foreign", "revoked", "not-yet-valid"):
        files[f"clients/{name}.pem"] = c[name].chain_pem
        files[f"clients/{name}.key"] = c[name].key_pem
    files["clients/good-leaf-only.pem"] = c["good"].cert_pem
    files["clients/good-leaf-only.key"] = c["good"].key_pem
    return files


_TLS = "ssl_certificate certs/server.pem; ssl_certificate_key certs/server.key; ssl_protocols TLSv1.2;"


def _http(up_port: int, version: tuple[int, ...] = (9, 9)) -> str:
    """The lab's servers; directives this nginx does not have yet are left out (their servers
    then serve without them, and run_lab does not ask what they would provoke)."""
    v = "ssl_verify_client on; return 200 \"$ssl_client_verify\\n\";"
    reject = "ssl_reject_handshake on;" if version >= (1, 19, 4) else ""
    ocsp = "ssl_ocsp on;" if version >= (1, 19, 0) else ""
    return f"""
    server {{ listen 127.0.0.1:@PORT0@ ssl; server_name localhost; {_TLS}
              ssl_stapling on;  # -> [warn] "ssl_stapling" ignored (not a failure)
              ssl_client_certificate ca/root.pem; {v} }}
    server {{ listen 127.0.0.1:@PORT1@ ssl default_server; server_name a.test; {_TLS}
              ssl_client_certificate ca/root.pem; ssl_verify_client optional; return 200 a; }}
    server {{ listen 127.0.0.1:@PORT1@ ssl; server_name b.test; {_TLS}
              ssl_client_certificate ca/root.pem; {v} }}
    server {{ listen 127.0.0.1:@PORT2@ ssl default_server; {_TLS} {reject} }}
    server {{ listen 127.0.0.1:@PORT2@ ssl; server_name c.test; {_TLS} return 200 c; }}
    server {{ listen 127.0.0.1:@PORT3@ ssl; server_name localhost; {_TLS}
              ssl_client_certificate ca/inter.pem; {v} }}
    server {{ listen 127.0.0.1:@PORT4@ ssl; server_name localhost; {_TLS}
              ssl_client_certificate ca/root.pem; ssl_crl crl/root-only.pem; {v} }}
    server {{ listen 127.0.0.1:@PORT5@ ssl; server_name localhost; {_TLS}
              ssl_client_certificate ca/root.pem; ssl_crl crl/root-inter.pem; {v} }}
    server {{ listen 127.0.0.1:@PORT6@ ssl; server_name localhost; {_TLS}
              ssl_client_certificate ca/root.pem; ssl_crl crl/root-inter-expired.pem; {v} }}
    server {{ listen 127.0.0.1:@PORT7@ ssl; server_name localhost; {_TLS}
              ssl_client_certificate ca/root.pem; {ocsp} {v} }}
    server {{ listen 127.0.0.1:@PORT8@; server_name localhost;
        location /nocert {{ proxy_pass https://127.0.0.1:{up_port}; proxy_ssl_protocols TLSv1.2; }}
        location /nocert13 {{ proxy_pass https://127.0.0.1:{up_port}; proxy_ssl_protocols TLSv1.3; }}
        location /foreign {{ proxy_pass https://127.0.0.1:{up_port};
            proxy_ssl_certificate up/foreign.pem; proxy_ssl_certificate_key up/foreign.key; }}
        location /verify {{ proxy_pass https://127.0.0.1:@PORT0@;
            proxy_ssl_verify on; proxy_ssl_trusted_certificate ca/other.pem; }}
    }}
"""


class _RequiringUpstream:
    """A TLS server (Python ssl) that REQUIRES a client certificate from root: nginx's upstream."""

    def __init__(self, workdir: Path, pki) -> None:
        d = workdir / "upstream"
        d.mkdir(parents=True, exist_ok=True)
        (d / "server.pem").write_bytes(pki.server_chain_pem)
        key = d / "server.key"
        key.touch(mode=0o600)
        key.write_bytes(pki.server.key_pem)
        (d / "root.pem").write_bytes(pki.pem("root"))
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(d / "server.pem"), str(key))
        self.ctx.load_verify_locations(str(d / "root.pem"))
        self.ctx.verify_mode = ssl.CERT_REQUIRED  # = SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.settimeout(3)
            try:
                with self.ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
                    try:
                        tls.do_handshake()
                    except (ssl.SSLError, OSError):
                        # the alert is sent; drain nginx's request before closing so that the
                        # close is a FIN, not a RST that could overtake the alert (TLS 1.3: 116)
                        _drain(tls)
                        continue
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (ssl.SSLError, OSError):
                pass
            finally:
                conn.close()

    def __enter__(self) -> "_RequiringUpstream":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def _drain(conn: socket.socket) -> None:
    """Half-close and read what the peer still sends (the SSLSocket's fd; wrap_socket detached
    the plain socket), so that the final close sends no RST."""
    try:
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(1)
        for _ in range(64):
            if not conn.recv(4096):
                break
    except OSError:
        pass


def _plain_http(port: int, path: str = "/") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.settimeout(5)
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        data = b""
        while len(data) < 65536:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def run_lab(workdir: Path, nginx_bin: str | None = None) -> LabRun:
    pki = build_lab_pki(datetime.now(timezone.utc), server_names=NAMES)
    root, other = pki.pem("root"), pki.pem("other-root")
    answers: dict[str, object] = {}
    expected: dict[str, int] = {}
    from mtls_doctor.lab.nginx import find_nginx, nginx_version

    from tests.truth.util import nginx_release

    version = nginx_version(find_nginx(nginx_bin)) or (9, 9)
    old_openssl = nginx_release().major == 1  # 1.1.1: an exceeded depth is 22 (docs/versions.md)
    with _RequiringUpstream(workdir, pki) as up, NginxServer(
        _http(up.port, version), ports=9, files=_files(pki), nginx_bin=nginx_bin,
        workdir=workdir / "nginx", keep=True,
    ) as ng:
        p = ng.ports
        cdir = ng.prefix / "clients"

        def ask(rid: str, port: int, cause: str | None, client: str | None = None, **kw) -> None:
            if client is not None:
                kw.update(cert_file=cdir / f"{client}.pem", key_file=cdir / f"{client}.key")
            answers[rid] = request(port, lab_id=rid, ca_pem=kw.pop("ca", root), **kw)
            if cause is not None:
                expected[cause] = expected.get(cause, 0) + 1

        ask("no-cert", p[0], "no-required-certificate")
        ask("good", p[0], None, "good")
        ask("leaf-only", p[0], "client-cert-verify-failed:21", "good-leaf-only")
        ask("foreign", p[0], "client-cert-verify-failed:21", "foreign")
        ask("expired", p[0], "client-cert-verify-failed:10", "expired")
        ask("not-yet-valid", p[0], "client-cert-verify-failed:9", "not-yet-valid")
        ask("self-signed", p[0], "client-cert-verify-failed:18", "self-signed")
        ask("server-eku", p[0], "client-cert-verify-failed:26", "server-eku")
        ask("deep", p[0], f"client-cert-verify-failed:{22 if old_openssl else 20}", "deep")  # F3.3
        ask("wrong-ca", p[0], "client-rejected-server-certificate", ca=other)  # client sends 48
        ask("tls13-only", p[0], "tls-version-or-cipher-mismatch", tls="TLSv1.3")
        answers["plain-http"] = _plain_http(p[0])
        expected["plain-http-to-https-port"] = 1
        ask("sni-host", p[1], "sni-host-mismatch", "good", sni="a.test", host="b.test")
        if version >= (1, 19, 4):
            ask("reject", p[2], "handshake-rejected", sni="nomatch.test", host="nomatch.test")
        ask("inter-only", p[3], "client-cert-verify-failed:2", "good")
        ask("crl-missing", p[4], "client-cert-verify-failed:3", "good")
        ask("revoked", p[5], "client-cert-verify-failed:23", "revoked")
        ask("crl-expired", p[6], "client-cert-verify-failed:12", "good")
        if version >= (1, 19, 0):
            ask("ocsp", p[7], "client-cert-ocsp-failed", "good")
            expected["ocsp-check-error"] = 1  # the [error] line before it
        answers["up-nocert"] = _plain_http(p[8], "/nocert")
        expected["upstream-requires-client-certificate"] = 1  # TLS 1.2: alert 40 at [error]
        answers["up-nocert13"] = _plain_http(p[8], "/nocert13")
        expected["upstream-requires-client-certificate"] += 1  # TLS 1.3: alert 116 at [crit] (F4.3)
        answers["up-foreign"] = _plain_http(p[8], "/foreign")
        expected["upstream-rejected-client-certificate"] = 1
        answers["up-verify"] = _plain_http(p[8], "/verify")
        expected["upstream-cert-verify-failed:21"] = 1  # server leaf from root, other-root trusted
        curl = shutil.which("curl")
        if curl:  # independent client: curl without the lab CA rejects nginx's certificate (F4.3)
            subprocess.run([curl, "-s", "-m", "5", "-o", "/dev/null", f"https://localhost:{p[0]}/?lab=curl"],
                           timeout=10, check=False, capture_output=True)
            expected["client-rejected-server-certificate"] += 1
    log = (workdir / "nginx" / "logs" / "error.log").read_text(errors="replace")
    return LabRun(log, expected, answers)


#: broken TLS settings -> the cause ``nginx -t`` must produce (1.22.1 texts, F1.5, F6.1, F2.4)
CONFIG_CASES = {
    "no-ca": ("ssl_verify_client on;", "config-no-client-ca"),
    "ca-missing": ("ssl_verify_client on; ssl_client_certificate ca/missing.pem;", "config-ca-file-load-failed"),
    "ca-empty": ("ssl_verify_client on; ssl_client_certificate ca/empty.pem;", "config-ca-file-load-failed"),
    "crl-garbage": ("ssl_verify_client on; ssl_client_certificate ca/root.pem; ssl_crl ca/garbage.pem;",
                    "config-crl-load-failed"),
    "ocsp-no-ca": ("ssl_verify_client optional_no_ca; ssl_ocsp on;", "config-ocsp-incompatible"),
}


def config_errors(workdir: Path, nginx_bin: str | None = None) -> dict[str, str]:
    """Run ``nginx -t`` on each broken configuration; return nginx's own message per case."""
    pki = build_lab_pki(datetime.now(timezone.utc))
    files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
             "certs/other.key": pki.clients["good"].key_pem, "ca/root.pem": pki.pem("root"),
             "ca/empty.pem": b"", "ca/garbage.pem": b"garbage\n"}
    cases = {k: f"{_TLS} {v[0]}" for k, v in CONFIG_CASES.items()}
    cases["cert-missing"] = "ssl_certificate certs/missing.pem; ssl_certificate_key certs/server.key;"
    cases["key-mismatch"] = "ssl_certificate certs/server.pem; ssl_certificate_key certs/other.key;"
    out: dict[str, str] = {}
    for name, tls in cases.items():
        http = f"server {{ listen 127.0.0.1:@PORT0@ ssl; {tls} return 200; }}"
        try:
            with NginxServer(http, files=files, nginx_bin=nginx_bin, workdir=workdir / name):
                out[name] = ""
        except NginxConfigError as exc:
            out[name] = str(exc)
    return out


CONFIG_EXPECTED = {**{k: v[1] for k, v in CONFIG_CASES.items()},
                   "cert-missing": "config-cannot-load-certificate", "key-mismatch": "config-key-mismatch"}


def config_expected(version) -> dict[str, str]:
    """CONFIG_EXPECTED for that nginx version: from 1.27.2 a CA file that cannot be read logs
    `cannot load certificate` like a server certificate (nginx.version.CA_FILES_READ_BY_NGINX)."""
    from mtls_doctor.nginx.version import CA_FILES_READ_BY_NGINX

    if version is None or version < CA_FILES_READ_BY_NGINX:
        return dict(CONFIG_EXPECTED)
    return {k: ("config-cannot-load-certificate" if v == "config-ca-file-load-failed" else v)
            for k, v in CONFIG_EXPECTED.items()}


if __name__ == "__main__":  # refresh tests/logs/data/lab-error.log from a real run
    import sys
    import tempfile

    target = Path(__file__).parent / "data" / "lab-error.log"
    with tempfile.TemporaryDirectory() as tmp:
        run = run_lab(Path(tmp))
        conf = config_errors(Path(tmp) / "conf")
    target.parent.mkdir(exist_ok=True)
    target.write_text(run.error_log + "".join(m + "\n" for m in conf.values() if m))
    print(f"wrote {target}", file=sys.stderr)
