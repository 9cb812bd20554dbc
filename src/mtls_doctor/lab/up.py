"""``mtls-doctor lab up|down``: one lab scenario kept running on 127.0.0.1 until stopped.

Invariants of this module:
- nginx listens on 127.0.0.1 only (``NginxServer`` checks every ``listen``) at the port asked
  for (``--port``; a proxy scenario also takes the next port for its echo backend);
- the state lives in a private run directory (mode 0700, owned by this user; refused otherwise):
  ``$MTLS_DOCTOR_RUN_DIR``, else ``$XDG_RUNTIME_DIR/mtls-doctor``, else
  ``/tmp/mtls-doctor-<uid>``; one ``lab-<port>.json`` per scenario that is up, written once nginx
  listens and removed when it stops;
- the process that started nginx (the *supervisor*: ``lab up`` itself, or its detached child
  with ``--detach``) is the only one that stops it: ``lab down`` sends it SIGTERM and waits a
  bounded time before SIGKILL (nginx dies with its supervisor: PR_SET_PDEATHSIG);
- a state whose supervisor is gone (a reboot, SIGKILL) is stale: it is removed, with a note,
  by ``lab up`` and ``lab down``; pids are checked to be ours (command line) before a signal.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from mtls_doctor.model import InputError

RUN_DIR_ENV = "MTLS_DOCTOR_RUN_DIR"
#: seconds ``lab up --detach`` waits for its child to listen; ``lab down`` for a supervisor
READY_TIMEOUT = 60.0
DOWN_TIMEOUT = 20.0


def run_dir(create: bool = True) -> Path:
    """The private run directory (created 0700); InputError when it is not private or not ours."""
    explicit = os.environ.get(RUN_DIR_ENV, "").strip()
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR", "").strip() and Path(os.environ["XDG_RUNTIME_DIR"]).is_dir():
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "mtls-doctor"
    else:
        path = Path("/tmp") / f"mtls-doctor-{os.getuid()}"
    if create:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{path}: cannot create the lab run directory: {exc.strerror or exc}") from None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    import stat

    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: the lab run directory is not a directory (a symlink?)")
    if st.st_uid != os.getuid():
        raise InputError(f"{path}: the lab run directory belongs to uid {st.st_uid}, not to you")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours: make it private again (a umask or a chmod widened it)
    return path


@dataclass(frozen=True)
class LabUp:
    """One scenario that is up, as its state file says."""

    scenario: str
    port: int
    ports: tuple[int, ...]
    pid: int  # the supervisor
    nginx_pid: int | None
    directory: str
    owned_directory: bool  # the run directory's own (removed on down) or the user's --dir
    started_at: str
    clients: tuple[str, ...]
    state_file: str

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}/"

    def path(self, rel: str) -> str:
        return str(Path(self.directory) / rel)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "port": self.port, "ports": list(self.ports),
                "pid": self.pid, "nginx_pid": self.nginx_pid, "directory": self.directory,
                "owned_directory": self.owned_directory, "started_at": self.started_at,
                "clients": list(self.clients)}


def _state_path(port: int) -> Path:
    return run_dir() / f"lab-{port}.json"


def read_state(path: Path) -> LabUp | None:
    try:
        data = json.loads(path.read_text())
        return LabUp(data["scenario"], int(data["port"]), tuple(int(p) for p in data["ports"]),
                     int(data["pid"]), data.get("nginx_pid"), data["directory"],
                     bool(data.get("owned_directory")), data.get("started_at", ""),
                     tuple(data.get("clients", ())), str(path))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def states() -> list[tuple[Path, LabUp | None]]:
    """Every state file of the run directory (None: unreadable, i.e. stale)."""
    base = run_dir()
    return [(p, read_state(p)) for p in sorted(base.glob("lab-*.json"))]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _ours(pid: int | None, needle: str) -> bool:
    """Alive, this user's, and its command line holds ``needle`` (not a recycled pid)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return needle in _cmdline(pid)


def alive(state: LabUp) -> bool:
    return _ours(state.pid, "mtls")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_up(scenario_name: str, port: int, directory: str | None) -> tuple[Any, tuple[int, ...], list[str]]:
    """Everything ``up`` can refuse before building anything: the scenario, the ports (free), an
    older state for the port (alive: refused; stale: removed). Returns (scenario, ports, notes)."""
    from mtls_doctor.lab.scenarios import get

    scenario = get(scenario_name)
    if scenario is None:
        raise InputError(f"no scenario {scenario_name!r}; `mtls-doctor lab list` shows them")
    ports = tuple(range(port, port + scenario.ports))
    if ports[-1] > 65535:
        raise InputError(f"--port {port}: scenario {scenario.name} needs {len(ports)} ports, up to {ports[-1]}")
    notes = []
    for p in ports:
        path = _state_path(p)
        if path.exists():
            state = read_state(path)
            if state is not None and alive(state):
                raise InputError(f"lab scenario {state.scenario} is already up on port {p} "
                                 f"(pid {state.pid}); `mtls-doctor lab down --port {state.port}` first")
            _forget(path, state)
            notes.append(f"removed a stale lab state for port {p} (its process is gone)")
    for p in ports:
        if not _port_free(p):
            raise InputError(f"--port {port}: 127.0.0.1:{p} is in use")
    if directory is not None:
        d = Path(directory)
        if d.exists() and (not d.is_dir() or any(d.iterdir())):
            raise InputError(f"--dir {directory}: exists and is not an empty directory")
    return scenario, ports, notes


def serve(scenario_name: str, port: int, directory: str | None, nginx: str | None,
          on_ready: Callable[[LabUp], None]) -> int:
    """Start the scenario, write its state, call ``on_ready``, then wait until SIGTERM/Ctrl-C
    (the CLI turns both into exceptions that unwind through ``finally``) or until nginx dies."""
    import shutil
    from datetime import datetime, timezone

    from mtls_doctor.lab.nginx import NginxError, NginxServer
    from mtls_doctor.lab.pki import build_lab_pki

    scenario, ports, notes = check_up(scenario_name, port, directory)
    owned = directory is None
    base = Path(directory) if directory is not None else run_dir() / f"lab-{port}"
    if owned and base.exists():
        shutil.rmtree(base, ignore_errors=True)  # a stale run's files
    state_file = _state_path(port)
    at = datetime.now(timezone.utc)
    pki = build_lab_pki(at)
    server = None
    try:
        try:
            pki.write(base)
        except (FileExistsError, NotADirectoryError) as exc:
            raise InputError(f"--dir {base}: {exc}") from None
        except OSError as exc:
            raise InputError(f"cannot write {base}: {exc.strerror or exc}") from None
        if owned:
            os.chmod(base, 0o700)
        server = NginxServer(scenario.render, ports=scenario.ports, files=scenario.files(pki),
                             nginx_bin=nginx, workdir=base / "nginx", fixed_ports=ports)
        try:
            server.start()
        except NginxError as exc:
            raise InputError(f"lab scenario {scenario.name}: {str(exc).splitlines()[0]}") from None
        clients = tuple(dict.fromkeys(s.client for s in scenario.clients if s.client is not None))
        state = LabUp(scenario.name, port, ports, os.getpid(), server.pid, str(base.resolve()),
                      owned, at.strftime("%Y-%m-%dT%H:%M:%SZ"), clients, str(state_file))
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        on_ready(state)  # printed before the state exists: whoever sees the state saw the paths
        tmp = state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state.to_dict(), fh, indent=2)
        os.replace(tmp, state_file)
        while True:  # until a signal; each second: is nginx still there?
            time.sleep(1.0)
            if server.process is None or server.process.poll() is not None:
                raise InputError(f"lab scenario {scenario.name}: nginx on port {port} exited "
                                 f"(see {server.error_log})")
    finally:
        if server is not None:
            server.stop()
        mine = read_state(state_file)
        if mine is not None and mine.pid == os.getpid():
            state_file.unlink(missing_ok=True)
        if owned:
            shutil.rmtree(base, ignore_errors=True)


def detach(argv: list[str], port: int) -> LabUp:
    """Run ``lab up`` (``argv`` without ``--detach``) as a child in its own session and return
    its state once it listens (bounded by READY_TIMEOUT); its error line when it fails."""
    log = run_dir() / f"lab-{port}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        child = subprocess.Popen([sys.executable, "-m", "mtls_doctor", *argv],
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, close_fds=True)
    deadline = time.monotonic() + READY_TIMEOUT
    path = _state_path(port)
    while time.monotonic() < deadline:
        if child.poll() is not None:
            lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
            last = next((ln for ln in reversed(lines) if "error" in ln), lines[-1] if lines else "")
            raise InputError(last.replace("mtls-doctor: error: ", "") or
                             f"lab up exited with {child.returncode}")
        state = read_state(path)
        if state is not None and state.pid == child.pid:
            return state
        time.sleep(0.05)
    _stop_pid(child.pid, DOWN_TIMEOUT)
    raise InputError(f"lab up: not listening on port {port} after {READY_TIMEOUT:g} s (see {log})")


def _stop_pid(pid: int, timeout: float) -> bool:
    """SIGTERM, wait (bounded), SIGKILL. True when it ended before SIGKILL."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _exists(pid):
            return True
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return False


def _exists(pid: int) -> bool:
    try:
        # a child of ours that exited stays a zombie until reaped: reap it if it is ours
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _forget(path: Path, state: LabUp | None) -> None:
    """Remove a state file, its log and (when the run directory owns it) its files."""
    import shutil

    path.unlink(missing_ok=True)
    path.with_suffix(".log").unlink(missing_ok=True)
    if state is not None and state.owned_directory and Path(state.directory).parent == run_dir():
        shutil.rmtree(state.directory, ignore_errors=True)


def down(port: int | None) -> list[str]:
    """Stop the scenario on ``port`` (all when None); one line per state handled."""
    out = []
    found = [(p, s) for p, s in states() if port is None or (s is not None and port in s.ports)
             or p.name == f"lab-{port}.json"]
    if not found:
        return ["no lab scenario is up" + (f" on port {port}" if port is not None else "")]
    for path, state in found:
        if state is None:
            path.unlink(missing_ok=True)
            out.append(f"removed an unreadable lab state {path.name}")
            continue
        if not alive(state):
            # its supervisor is gone: nginx died with it (PDEATHSIG); a survivor is killed
            if _ours(state.nginx_pid, "nginx"):
                _stop_pid(state.nginx_pid, 5.0)  # type: ignore[arg-type]
            _forget(path, state)
            out.append(f"removed the stale state of {state.scenario} on port {state.port} "
                       "(its process was gone)")
            continue
        clean = _stop_pid(state.pid, DOWN_TIMEOUT)
        if _ours(state.nginx_pid, "nginx"):
            _stop_pid(state.nginx_pid, 5.0)  # type: ignore[arg-type]
        path.unlink(missing_ok=True)
        path.with_suffix(".log").unlink(missing_ok=True)
        out.append(f"stopped {state.scenario} on port {state.port}"
                   + ("" if clean else " (killed: it did not stop in time)")
                   + ("" if state.owned_directory else f"; its files stay in {state.directory}"))
    return out


__all__ = ["LabUp", "run_dir", "serve", "detach", "down", "states", "check_up"]
