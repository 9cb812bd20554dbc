"""Which nginx runs here: the master processes and the configuration each was started with (I/O).

Invariants: it reads only ``/proc/<pid>/comm`` and ``/proc/<pid>/cmdline`` of processes named
``nginx`` (nothing else of any process); an nginx master rewrites its title to
``nginx: master process <binary> <its arguments>``, which keeps ``-c``, ``-p``, ``-g``;
``parse_master_title`` is pure and tested on its own. A configuration that runs elsewhere than
``/etc/nginx/nginx.conf`` (``-c``) is the one to read: diagnose says which master it looked at.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class RunningNginx:
    pid: int
    binary: str
    conf: str | None  # -c, resolved against the prefix when relative
    prefix: str | None  # -p
    globals: str | None  # -g

    def args(self) -> list[str]:
        """The arguments that make ``nginx -T`` read what this master runs."""
        out: list[str] = []
        if self.prefix:
            out += ["-p", self.prefix]
        if self.conf:
            out += ["-c", self.conf]
        if self.globals:
            out += ["-g", self.globals]
        return out

    def describe(self) -> str:
        bits = [f"pid {self.pid}", self.binary]
        if self.conf:
            bits.append(f"-c {self.conf}")
        if self.prefix:
            bits.append(f"-p {self.prefix}")
        return " ".join(bits)


def parse_master_title(pid: int, title: str) -> RunningNginx | None:
    """``nginx: master process /usr/sbin/nginx -c /srv/n.conf -g daemon off;`` -> RunningNginx."""
    head = "nginx: master process "
    if not title.startswith(head):
        return None
    rest = title[len(head):].strip()
    try:
        words = shlex.split(rest)
    except ValueError:
        words = rest.split()
    if not words:
        return None
    binary, conf, prefix, glob = words[0], None, None, None
    i = 1
    while i < len(words):
        w = words[i]
        value = words[i + 1] if i + 1 < len(words) else None
        if w in ("-c", "-p", "-e") and value is not None:
            if w == "-c":
                conf = value
            elif w == "-p":
                prefix = value
            i += 2
            continue
        if w == "-g" and value is not None:
            glob = " ".join(words[i + 1:])  # -g takes the rest (the title joins argv with spaces)
            break
        i += 1
    if conf and not os.path.isabs(conf) and prefix:
        conf = os.path.join(prefix, conf)
    return RunningNginx(pid, binary, conf, prefix, glob)


def running_masters(proc: str = "/proc") -> list[RunningNginx]:
    """Every running nginx master on this machine (empty when none or /proc is unreadable)."""
    out: list[RunningNginx] = []
    try:
        pids = [int(p) for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return out
    for pid in sorted(pids):
        try:
            with open(f"{proc}/{pid}/comm", "rb") as fh:
                if fh.read(16).strip() != b"nginx":
                    continue
            with open(f"{proc}/{pid}/cmdline", "rb") as fh:
                title = fh.read(4096).replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        found = parse_master_title(pid, title)
        if found is not None:
            out.append(found)
    return out


def choose(masters: list[RunningNginx], pid: int | None) -> tuple[RunningNginx | None, str]:
    """The master to diagnose and why (``--pid`` wins; a single one; else none, with a note)."""
    if pid is not None:
        chosen = next((m for m in masters if m.pid == pid), None)
        if chosen is None:
            return None, f"no running nginx master with pid {pid}"
        return chosen, f"--pid {pid}"
    if len(masters) == 1:
        return masters[0], "the only running nginx master"
    if not masters:
        return None, "no running nginx master found"
    listed = "; ".join(m.describe() for m in masters[:5])
    return None, f"{len(masters)} nginx masters run ({listed}): choose one with --pid"


__all__ = ["RunningNginx", "parse_master_title", "running_masters", "choose"]
