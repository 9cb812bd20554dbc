"""Run a real nginx on loopback under its own prefix, and always stop it.

Invariants of this module:
- nginx listens on 127.0.0.1 only: every ``listen`` in the given configuration must name
  ``127.0.0.1:<port>`` (checked before nginx starts; anything else is a ``ValueError``);
- ports are free ports chosen by binding port 0, substituted for ``@PORT0@``, ``@PORT1@``, ...;
  a lost race (another process took the port) is retried a bounded number of times;
- everything nginx writes lives under the prefix: configuration, pid, lock, logs and every
  temp path (client_body, proxy, fastcgi, uwsgi, scgi);
- ``nginx -t`` runs first; its own message is raised as ``NginxConfigError``;
- every wait is bounded, and the server is stopped (SIGQUIT, then SIGTERM, then SIGKILL of the
  master and its workers) whatever happens: normal exit, exception or Ctrl-C.

Verification failures of client certificates are logged at ``info`` only (F4.1), so the error
log is always written at ``info``. The access log records, tab-separated, the lab request id
(``$arg_lab``), ``$request_id``, ``$status``, ``$ssl_client_verify``, ``$ssl_client_s_dn``,
``$ssl_server_name``, ``$ssl_protocol`` and ``$server_name``; ``parse_access_line`` reads it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping, Sequence

__all__ = [
    "NginxError",
    "NginxNotFound",
    "NginxConfigError",
    "NginxStartError",
    "NginxServer",
    "find_nginx",
    "nginx_version",
    "free_ports",
    "parse_access_line",
    "lab_nginx_pids",
    "ACCESS_FIELDS",
]

INSTALL_HINT = "install it with `apt-get install nginx-light` (Debian/Ubuntu) or pass --nginx PATH"

#: The access-log fields -> nginx variables, in order (tab-separated ``name=value``; values use
#: nginx's default escaping, so a tab inside a value appears as ``\x09`` and never splits a field).
_FIELDS = {"lab": "$arg_lab", "request_id": "$request_id", "status": "$status",
           "verify": "$ssl_client_verify", "s_dn": "$ssl_client_s_dn", "sni": "$ssl_server_name",
           "protocol": "$ssl_protocol", "server": "$server_name", "request": "$request"}
ACCESS_FIELDS = tuple(_FIELDS)
_LOG_FORMAT = "\\t".join(f"{name}={var}" for name, var in _FIELDS.items())
_BIND_IN_USE = "Address already in use"


class NginxError(Exception):
    """Base class of the operational errors of this module."""


class NginxNotFound(NginxError):
    """No nginx binary: the message says how to install it."""


class NginxConfigError(NginxError):
    """``nginx -t`` rejected the configuration; the message is nginx's own output."""


class NginxStartError(NginxError):
    """nginx passed ``-t`` but did not start (or did not listen in time)."""


def find_nginx(explicit: str | None = None) -> str:
    """Return the nginx binary: ``explicit`` if given, else ``nginx`` on PATH, else /usr/sbin/nginx.

    Raises ``NginxNotFound`` (with the ``apt-get install nginx-light`` hint) when none is usable.
    """
    if explicit:
        path = shutil.which(explicit) or explicit
        if Path(path).is_file() and os.access(path, os.X_OK):
            path = os.path.abspath(path)  # nginx runs with its prefix as cwd
            if not nginx_version(path):  # `nginx -v` (10 s timeout) must name an nginx
                raise NginxNotFound(f"{explicit!r} is not nginx (`{explicit} -v` printed no "
                                    f"nginx version); {INSTALL_HINT}")
            return path
        raise NginxNotFound(f"nginx not found at {explicit!r}; {INSTALL_HINT}")
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise NginxNotFound(f"nginx is not installed; {INSTALL_HINT}")


@lru_cache(maxsize=8)
def nginx_version(nginx_bin: str) -> tuple[int, ...]:
    """The version of ``nginx_bin`` as a tuple, e.g. (1, 22, 1); () when it cannot be read."""
    from mtls_doctor.nginx.local import nginx_command

    try:
        out = subprocess.run(
            [*nginx_command(nginx_bin), "-v"], capture_output=True, text=True, timeout=10,
            check=False, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    match = re.search(r"nginx/(\d+(?:\.\d+)*)", out.stderr + out.stdout)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct loopback ports that were free a moment ago (bound to port 0 together)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return tuple(s.getsockname()[1] for s in socks)
    finally:
        for sock in socks:
            sock.close()


def parse_access_line(line: str) -> dict[str, str]:
    """Split one access-log line of the lab format into ``{field: value}`` ("-" means empty)."""
    fields: dict[str, str] = {}
    for part in line.rstrip("\n").split("\t"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name] = value
    return fields


def _check_loopback_only(conf_path: Path) -> None:
    """Every server block must have ``listen 127.0.0.1:<port>`` and no other address."""
    import crossplane

    parsed = crossplane.parse(str(conf_path), single=True, check_ctx=False, check_args=False)
    if parsed["status"] != "ok":
        return  # nginx -t reports syntax errors in its own words

    def walk(block: list, inside_http: bool) -> None:
        for node in block:
            name = node["directive"]
            if name == "server" and inside_http:
                listens = [d["args"][0] for d in node.get("block", []) if d["directive"] == "listen" and d["args"]]
                if not listens:
                    raise ValueError("every lab server block needs `listen 127.0.0.1:<port>` (nginx would use *:80)")
                for address in listens:
                    if not address.startswith("127.0.0.1:"):
                        raise ValueError(f"lab nginx may listen on 127.0.0.1:<port> only, not {address!r}")
            if "block" in node:
                walk(node["block"], inside_http or name == "http")

    walk(parsed["config"][0]["parsed"], False)


class NginxServer:
    """A real nginx, run as the current user under its own prefix; a context manager.

    Arguments:
        http: the body of the ``http {}`` block (server blocks, maps, ...), either a string in
            which ``@PORT0@``, ``@PORT1@``, ... stand for the chosen ports and ``@PREFIX@`` for
            the prefix directory, or a callable ``(ports: tuple[int, ...]) -> str``. Every
            ``listen`` must be ``127.0.0.1:<port>``. Relative file names in it resolve against
            the prefix (nginx ``-p``), e.g. ``ssl_certificate certs/server.pem;``.
        ports: how many free ports to choose (``self.ports``).
        files: ``{relative path: bytes}`` written under the prefix before start (mode 0600),
            e.g. certificates, keys, CA bundles and CRLs the configuration names.
        nginx_bin: the nginx binary; default ``find_nginx()``.
        workdir: the prefix directory to use (created if needed, never removed: the caller
            owns it); default a fresh temporary directory, removed on stop unless ``keep``.
        keep: keep the temporary prefix (configuration and logs) after stop.
        start_timeout: seconds to wait for the ports to listen (per attempt).
        stop_timeout: seconds to wait after SIGQUIT, and again after SIGTERM, before SIGKILL.
        attempts: how many times to choose new ports when one was taken meanwhile.
        fixed_ports: use these ports (``len == ports``) instead of free ones (``lab up --port``,
            ``lab run --base-port``): one attempt, a port in use is a ``NginxStartError``.

    Generated around ``http``: ``pid``, ``lock_file``, ``error_log <prefix>/logs/error.log
    info``, ``worker_processes 1``, the temp paths, the lab ``log_format`` and ``access_log
    <prefix>/logs/access.log``, ``server_tokens off``. When running as root, ``user root root;``
    keeps the worker in the lab (it then reads 0600 files in the prefix); as a normal user the
    directive is omitted (nginx would ignore it with a warning).

    nginx runs in the foreground (``-g 'daemon off; master_process on;'``) in its own session,
    so Ctrl-C reaches Python, which stops nginx. On Linux the master also gets SIGTERM if the
    thread that started it dies (PR_SET_PDEATHSIG): start it from a long-lived thread.
    """

    def __init__(
        self,
        http: str | Callable[[tuple[int, ...]], str],
        *,
        ports: int = 1,
        files: Mapping[str, bytes] | None = None,
        nginx_bin: str | None = None,
        workdir: str | Path | None = None,
        keep: bool = False,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        attempts: int = 5,
        fixed_ports: Sequence[int] | None = None,
    ) -> None:
        self._http = http
        self._nports = ports
        self._fixed = tuple(fixed_ports) if fixed_ports else None
        if self._fixed is not None and len(self._fixed) != ports:
            raise ValueError(f"fixed_ports: {ports} port(s) needed, {len(self._fixed)} given")
        self._files = dict(files or {})
        self.nginx_bin = find_nginx(nginx_bin)
        self._workdir = Path(workdir) if workdir is not None else None
        self.keep = keep
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.attempts = max(1, attempts)
        self.prefix: Path | None = None
        self.ports: tuple[int, ...] = ()
        self.process: subprocess.Popen[bytes] | None = None
        self._workers: set[int] = set()

    # -- paths --------------------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        return self._need_prefix() / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self._need_prefix() / "logs" / "error.log"

    @property
    def access_log(self) -> Path:
        return self._need_prefix() / "logs" / "access.log"

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def _need_prefix(self) -> Path:
        if self.prefix is None:
            raise RuntimeError("NginxServer has no prefix yet: call start() or use `with`")
        return self.prefix

    # -- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> "NginxServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "NginxServer":
        """Write the prefix, run ``nginx -t``, start nginx and wait until every port listens."""
        try:
            self._prepare_prefix()
            last = ""
            for _ in range(1 if self._fixed is not None else self.attempts):
                self.ports = self._fixed if self._fixed is not None else free_ports(self._nports)
                self._write_conf()
                self._test_conf()
                try:
                    self._spawn_and_wait()
                    return self
                except NginxStartError as exc:
                    last = str(exc)
                    self._terminate()
                    if _BIND_IN_USE not in last or self._fixed is not None:
                        raise
            raise NginxStartError(f"no free ports after {self.attempts} attempts: {last}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop nginx (bounded: SIGQUIT, SIGTERM, SIGKILL) and remove the prefix unless kept."""
        try:
            self._terminate()
        finally:
            if self.prefix is not None and not self.keep and self._workdir is None:
                shutil.rmtree(self.prefix, ignore_errors=True)

    def running_pids(self) -> set[int]:
        """Pids of this server's master and workers that are still alive."""
        pids = set(self._workers)
        if self.process is not None:
            pids.add(self.process.pid)
            pids |= _children(self.process.pid)
        return {p for p in pids if _alive(p)}

    def read_error_log(self) -> str:
        return _read_text(self.error_log)

    def read_access_log(self) -> str:
        return _read_text(self.access_log)

    # -- internals ----------------------------------------------------------------------
    def _prepare_prefix(self) -> None:
        # explicit modes whatever the umask (issue 11 #17: `lab run --keep` under umask 000
        # kept 0777 directories and a 0666 nginx.conf): mtls_doctor.lab.files
        from mtls_doctor.lab.files import SECRET_MODE, make_dirs, write_file

        if self._workdir is not None:
            make_dirs(self._workdir)
            self.prefix = self._workdir.resolve()
        else:
            self.prefix = Path(tempfile.mkdtemp(prefix="mtls-doctor-nginx-")).resolve()
        for sub in ("logs", "temp/client_body", "temp/proxy", "temp/fastcgi", "temp/uwsgi", "temp/scgi"):
            make_dirs(self.prefix / sub, self.prefix)
        for rel, data in self._files.items():
            target = (self.prefix / rel).resolve()
            if self.prefix not in target.parents:
                raise ValueError(f"lab file {rel!r} would be written outside the prefix")
            write_file(target, data, SECRET_MODE, self.prefix)

    def _render_http(self) -> str:
        if callable(self._http):
            return self._http(self.ports)
        body = self._http.replace("@PREFIX@", str(self.prefix))
        for i, port in enumerate(self.ports):
            body = body.replace(f"@PORT{i}@", str(port))
        return body

    def _write_conf(self) -> None:
        prefix = self._need_prefix()
        body = self._render_http()
        user = "user root root;\n" if hasattr(os, "geteuid") and os.geteuid() == 0 else ""
        temp = prefix / "temp"
        conf = (
            "# generated by mtls-doctor lab: real nginx on loopback only\n"
            f"{user}"
            "worker_processes 1;\n"
            f"pid {prefix}/nginx.pid;\n"
            f"lock_file {prefix}/nginx.lock;\n"
            # F4.1: verification failures are logged at info only
            f"error_log {prefix}/logs/error.log info;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    log_format mtls_lab '{_LOG_FORMAT}';\n"
            f"    access_log {prefix}/logs/access.log mtls_lab;\n"
            f"    client_body_temp_path {temp}/client_body;\n"
            f"    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n"
            f"    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            "    server_tokens off;\n"
            "    default_type text/plain;\n"
            "    keepalive_timeout 5s;\n"
            + body
            + "\n}\n"
        )
        from mtls_doctor.lab.files import PUBLIC_MODE, write_file

        write_file(self.conf_path, conf.encode(), PUBLIC_MODE, prefix)
        _check_loopback_only(self.conf_path)

    def _cmd(self, *extra: str) -> list[str]:
        from mtls_doctor.nginx.local import nginx_command

        # a binary of another OS root runs with that root's loader and libraries
        cmd = [*nginx_command(self.nginx_bin), "-p", f"{self.prefix}/", "-c", str(self.conf_path)]
        if nginx_version(self.nginx_bin) >= (1, 19, 5):
            cmd += ["-e", str(self.error_log)]  # startup errors too stay in the prefix
        return cmd + list(extra)

    def _test_conf(self) -> None:
        try:
            out = subprocess.run(
                self._cmd("-t", "-q"), capture_output=True, text=True, timeout=30, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise NginxConfigError("nginx -t did not finish within 30 s") from exc
        if out.returncode != 0:
            message = (out.stderr or out.stdout).strip() or f"nginx -t exited {out.returncode}"
            raise NginxConfigError(message)

    def _spawn_and_wait(self) -> None:
        prefix = self._need_prefix()
        from mtls_doctor.lab.files import open_append

        stderr_path = prefix / "logs" / "stderr.log"
        with os.fdopen(open_append(stderr_path), "ab") as err:
            self.process = subprocess.Popen(
                self._cmd("-g", "daemon off; master_process on;"),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                cwd=prefix,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            rc = self.process.poll()
            if rc is not None:
                raise NginxStartError(
                    f"nginx exited with {rc} at start: {_tail(stderr_path) or _tail(self.error_log)}"
                )
            if _listening(self.ports, self.process.pid):
                self._workers |= _children(self.process.pid)
                return
            if time.monotonic() > deadline:
                raise NginxStartError(
                    f"nginx did not listen on {self.ports} within {self.start_timeout} s: "
                    f"{_tail(self.error_log)}"
                )
            time.sleep(0.01)

    def _terminate(self) -> None:
        proc = self.process
        if proc is None:
            return
        self._workers |= _children(proc.pid)
        for sig, wait in (
            (signal.SIGQUIT, self.stop_timeout),
            (signal.SIGTERM, self.stop_timeout),
            (signal.SIGKILL, 5.0),
        ):
            if proc.poll() is not None:
                break
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        # orphaned workers (only possible after SIGKILL of the master): kill them too
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            alive = {p for p in self._workers if _alive(p)}
            if not alive:
                break
            for pid in alive:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        self.process = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the context manager still stops nginx
        pass


def _listening(ports: Sequence[int], pid: int) -> bool:
    """True when process ``pid`` itself listens on 127.0.0.1 at every port.

    Read from /proc (no connection made): a LISTEN socket on the port whose inode is one of the
    process's file descriptors, so another program that took the port meanwhile does not count.
    Without /proc, a TCP connect is the (weaker) fallback.
    """
    try:
        owned = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                owned.add(link[8:-1])
        wanted = {f"0100007F:{port:04X}" for port in ports}
        found = set()
        with open("/proc/net/tcp") as fh:
            for line in fh:
                cols = line.split()
                if len(cols) > 9 and cols[1] in wanted and cols[3] == "0A" and cols[9] in owned:
                    found.add(cols[1])
        return found == wanted
    except OSError:
        for port in ports:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    pass
            except OSError:
                return False
        return True


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            except OSError:
                continue
            found |= {int(p) for p in text.split()}
    except OSError:
        pass
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    except IndexError:
        return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 5) -> str:
    text = _read_text(path).strip().splitlines()
    return " | ".join(text[-lines:])


def lab_nginx_pids(markers: Sequence[str | Path]) -> set[int]:
    """Pids of nginx masters whose command line contains one of ``markers`` (prefix dirs)."""
    found: set[int] = set()
    wanted = [str(m) for m in markers]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ("nginx" not in cmdline and "/ld-" not in cmdline) or "nginx: worker" in cmdline \
                or "nginx: cache" in cmdline:
            continue
        # nginx rewrites its argv (ngx_setproctitle); started through another root's loader,
        # only the loader's path is left, so the prefix (the master's cwd) identifies it too
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            cwd = ""
        # a marker is a directory: /tmp/x/pytest-3 must not match /tmp/x/pytest-31
        if any(m.rstrip("/") + "/" in cmdline.replace(" ", "/ ") + "/"
               or (cwd and (cwd + "/").startswith(m.rstrip("/") + "/")) for m in wanted) \
                and _alive(int(entry)):
            found.add(int(entry))
    return found
