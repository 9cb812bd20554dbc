"""A real nginx running a whole configuration of ours (stream, mail and http blocks): the one
runner of the tests that need more than ``lab.nginx.NginxServer``'s ``http {}`` body.

Stream and mail need ``load_module`` of the dynamic modules of the nginx at hand (Debian's
libnginx-mod-stream / libnginx-mod-mail). ``RawNginx`` writes the files (0600) and the
configuration under the prefix, runs ``nginx -t``, starts nginx in the foreground in its own
session, waits (bounded, 10 s) until every port accepts a connection, and always stops it
(SIGQUIT, SIGTERM, SIGKILL). Every ``listen`` is 127.0.0.1.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping

from mtls_doctor.lab.nginx import free_ports
from tests.conftest import nginx_argv, nginx_module


class RawNginx:
    """``with RawNginx(nginx_bin, workdir, body, nports, files, modules) as n: n.ports[i]``.

    ``body`` is the configuration after the main-level lines: a string with ``@PORTn@`` and
    ``@PREFIX@`` placeholders, or a callable ``(ports) -> str``. ``listening`` says which of the
    ports must accept before the start counts (default: all)."""

    def __init__(self, nginx_bin: str, workdir: Path, body: str | Callable[[tuple[int, ...]], str],
                 nports: int, files: Mapping[str, bytes], modules: tuple[str, ...] = ("stream",),
                 listening: Callable[[tuple[int, ...]], tuple[int, ...]] | None = None) -> None:
        self.nginx_bin, self.prefix, self.body, self.nports = nginx_bin, Path(workdir), body, nports
        self.files, self.modules, self.proc = dict(files), modules, None
        self.listening = listening or (lambda ports: ports)
        self.ports: tuple[int, ...] = ()

    @property
    def conf_path(self) -> Path:
        return self.prefix / "nginx.conf"

    def error_log(self) -> str:
        return (self.prefix / "logs/error.log").read_text(errors="replace")

    def __enter__(self) -> "RawNginx":
        try:
            self._start()
            return self
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> None:
        mods = []
        for name in self.modules:
            path = nginx_module(self.nginx_bin, name)
            if path is None:
                raise RuntimeError(f"the nginx at hand has no {name} module: ./dev.sh installs "
                                   f"libnginx-mod-{name}")
            mods.append(f"load_module {path};")
        w = self.prefix
        for sub in ("logs", "temp"):
            (w / sub).mkdir(parents=True, exist_ok=True)
        for rel, data in self.files.items():
            path = w / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_bytes(data)
        self.ports = tuple(free_ports(self.nports))
        if callable(self.body):
            body = self.body(self.ports)
        else:
            body = self.body.replace("@PREFIX@", str(w))
            for i, port in enumerate(self.ports):
                body = body.replace(f"@PORT{i}@", str(port))
        conf = [*mods, f"pid {w}/nginx.pid;", f"lock_file {w}/nginx.lock;",
                f"error_log {w}/logs/error.log info;", "worker_processes 1;",
                "events { worker_connections 128; }", body]
        self.conf_path.write_text("\n".join(conf) + "\n")
        cmd = nginx_argv(self.nginx_bin, "-p", f"{w}/", "-c", str(self.conf_path),
                         "-e", str(w / "logs/error.log"))
        test = subprocess.run(cmd + ["-t", "-q"], timeout=30, capture_output=True, text=True,
                              check=False)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t failed: {test.stderr.strip()}")
        self.proc = subprocess.Popen(cmd + ["-g", "daemon off; master_process on;"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True, cwd=w)
        deadline = time.monotonic() + 10
        while not all(_listening(p) for p in self.listening(self.ports)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("nginx did not start: " + self.error_log()[-300:])
            time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        proc = self.proc
        for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGKILL):
            if proc is None or proc.poll() is not None:
                break
            proc.send_signal(sig)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                continue


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
