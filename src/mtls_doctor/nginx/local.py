"""The nginx installed on this machine, or in an OS root beside it: find it, run it, describe it.

The only code that starts an nginx binary (lint, diagnose, lab and the tests all come here):

- ``nginx_command(path)``: the argv that runs ``path``. A binary of this machine runs as it is.
  A binary inside another OS root (a Debian root made by ``tools/roots.sh``, a chroot, a
  container's unpacked filesystem: any directory above the binary holding ``etc/os-release`` and
  an ELF loader) runs with *that root's* loader and libraries (``ld-linux --library-path``), so
  nginx 1.18 / OpenSSL 1.1.1 or nginx 1.30 / OpenSSL 3.6 run here exactly as built, with the
  libcrypto they ship, on this machine's paths (no chroot, no root privileges needed).
- ``run_nginx(args)``: one run with a timeout; a failure to run is ``None`` (operational
  failures are data).
- ``describe_nginx(path)``: what ``nginx -V`` says (version, TLS library and its versions,
  configure arguments) plus the libcrypto the binary loads (the loader's ``--list``): what the
  version-dependent predictions need.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

#: seconds an `nginx -T` / `-V` / `-v` may take
NGINX_TIMEOUT = 20.0

_LOADERS = ("lib/*-linux-gnu/ld-linux*.so.*", "usr/lib/*-linux-gnu/ld-linux*.so.*",
            "lib64/ld-linux*.so.*", "lib/ld-linux*.so.*", "lib/ld-musl-*.so.1")


def find_local_nginx(explicit: str | None = None) -> str | None:
    """The nginx binary (``explicit``, PATH, then the usual sbin dirs), or None."""
    from mtls_doctor.lab.nginx import NginxNotFound, find_nginx

    try:
        return find_nginx(explicit)
    except NginxNotFound:
        return None


def _in_root(root: str, path: str) -> str | None:
    """``path`` (absolute inside ``root``) as a host path, symlinks resolved inside the root."""
    rel = path.lstrip("/")
    for _ in range(40):  # bounded: a symlink loop is "not there"
        full = os.path.join(root, rel)
        if not os.path.islink(full):
            return full if os.path.exists(full) else None
        target = os.readlink(full)
        rel = (target.lstrip("/") if target.startswith("/")
               else os.path.normpath(os.path.join(os.path.dirname(rel), target)))
    return None


def _loader(root: str) -> str | None:
    for pattern in _LOADERS:
        for candidate in sorted(glob.glob(os.path.join(root, pattern))):
            found = _in_root(root, "/" + os.path.relpath(candidate, root))
            if found and os.path.isfile(found):
                return found
    return None


@lru_cache(maxsize=32)
def os_root(path: str) -> str | None:
    """The OS root ``path`` belongs to when it is not this machine's ("/"), else None."""
    real = os.path.realpath(path)
    here = os.path.dirname(real)
    while here not in ("/", ""):
        if os.path.isfile(os.path.join(here, "etc", "os-release")) and _loader(here):
            return here
        here = os.path.dirname(here)
    return None


def _library_path(root: str) -> str:
    dirs = []
    for pattern in ("lib/*-linux-gnu", "usr/lib/*-linux-gnu", "lib", "usr/lib"):
        for d in sorted(glob.glob(os.path.join(root, pattern))):
            real = os.path.realpath(d)
            if os.path.isdir(real) and real not in dirs:
                dirs.append(real)
    return ":".join(dirs)


def _is_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def root_openssl_conf(root: str) -> str | None:
    """The root's own OpenSSL configuration (Debian: /etc/ssl/openssl.cnf), which its OpenSSL
    would read on that system: Debian 11's sets ``CipherString = DEFAULT@SECLEVEL=2`` and
    ``MinProtocol = TLSv1.2``, which this machine's file may not."""
    found = _in_root(root, "/etc/ssl/openssl.cnf")
    return found if found and os.path.isfile(found) else None


def root_command(root: str, program: str) -> list[str]:
    """The argv prefix that runs ``program`` (an ELF binary inside ``root``) with the root's own
    loader, libraries and OpenSSL configuration (``OPENSSL_CONF``, through ``env``)."""
    loader = _loader(root)
    if loader is None:
        return [program]
    argv = [loader, "--library-path", _library_path(root), program]
    conf = root_openssl_conf(root)
    env = shutil.which("env")
    return [env, f"OPENSSL_CONF={conf}", *argv] if conf and env else argv


def nginx_command(path: str) -> list[str]:
    """The argv prefix that runs the nginx binary ``path`` (see the module docstring)."""
    root = os_root(path)
    if root is None or _is_script(path):
        return [path]
    return root_command(root, path)


def run_nginx(args: list[str], timeout: float = NGINX_TIMEOUT) -> subprocess.CompletedProcess | None:
    """Run ``args`` (an nginx command line, ``args[0]`` the binary) with a timeout; None when it
    cannot run or hangs."""
    try:
        return subprocess.run([*nginx_command(args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


@dataclass(frozen=True)
class NginxBuild:
    """One nginx binary as ``nginx -V`` and its loader describe it."""

    path: str
    root: str | None  # the OS root it runs in (None: this machine's)
    version: str | None  # "1.26.3"
    tls_library: str  # "OpenSSL", "LibreSSL", "BoringSSL", "none" or "unknown"
    built_with: str | None  # "OpenSSL 3.5.7 9 Jun 2026"
    running_with: str | None  # the library at run time ("running with ..."), else built_with
    libcrypto: str | None  # the libcrypto file it loads; None: linked statically or unknown
    configure: str  # configure arguments

    @property
    def openssl_version(self) -> str | None:
        """"3.5.9" of the OpenSSL nginx runs with (None for LibreSSL/BoringSSL/unknown)."""
        if self.tls_library != "OpenSSL" or not self.running_with:
            return None
        match = re.search(r"OpenSSL (\d+\.\d+\.\d+[a-z]*)", self.running_with)
        return match.group(1) if match else None

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "root": self.root, "version": self.version,
                "tls_library": self.tls_library, "built_with": self.built_with,
                "running_with": self.running_with, "libcrypto": self.libcrypto,
                "openssl_version": self.openssl_version}


_BUILT = re.compile(r"built with (.+?)(?: \(running with (.+?)\))?$", re.M)


def parse_nginx_V(text: str) -> dict[str, object]:  # noqa: N802 - named after `nginx -V`
    """The fields of ``nginx -V`` output (no I/O): version, TLS library, built/running with."""
    version = re.search(r"nginx version: \S+?/(\d+\.\d+\.\d+)", text)
    built = next((m for m in _BUILT.finditer(text) if "gcc" not in m.group(1)
                  and "clang" not in m.group(1)), None)
    built_with = built.group(1).strip() if built else None
    running = (built.group(2) or built_with) if built else None
    if built_with is None:
        library = "none" if "--with-http_ssl_module" not in text else "unknown"
    elif "BoringSSL" in built_with or "BoringSSL" in text:
        library = "BoringSSL"
    elif built_with.startswith("LibreSSL"):
        library = "LibreSSL"
    elif built_with.startswith("OpenSSL"):
        library = "OpenSSL"
    else:
        library = "unknown"
    configure = re.search(r"configure arguments: (.*)$", text, re.M)
    return {"version": version.group(1) if version else None, "tls_library": library,
            "built_with": built_with, "running_with": running,
            "configure": configure.group(1) if configure else ""}


def linked_library(path: str, name: str = "libcrypto") -> str | None:
    """The file of the shared library ``name`` (e.g. libcrypto) that ``path`` loads, as its own
    loader resolves it (``ld-linux --list``); None when it is not dynamically linked to one."""
    root = os_root(path)
    loader = _loader(root or "/")
    if loader is None:
        return None
    argv = [loader, "--list", path] if root is None else \
        [loader, "--library-path", _library_path(root), "--list", path]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=NGINX_TIMEOUT,
                              stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(rf"^\s*{re.escape(name)}\.so[^\s]* => (\S+)", done.stdout, re.M)
    return match.group(1) if match and os.path.isfile(match.group(1)) else None


def process_library(pid: int, name: str = "libcrypto") -> str | None:
    """The ``name`` library a running process has mapped (``/proc/PID/maps``), as a host path
    (through ``/proc/PID/root`` when the process runs in a chroot or container)."""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
                if os.path.basename(path).startswith(f"{name}.so"):
                    root = os.path.realpath(f"/proc/{pid}/root")
                    return path if root == "/" else os.path.join(root, path.lstrip("/"))
    except OSError:
        return None
    return None


@lru_cache(maxsize=16)
def describe_nginx(path: str) -> NginxBuild | None:
    """``nginx -V`` of ``path`` and the libcrypto it loads; None when it does not run as nginx."""
    done = run_nginx([path, "-V"])
    if done is None:
        return None
    fields = parse_nginx_V(done.stderr + done.stdout)
    if fields["version"] is None:
        return None
    return NginxBuild(path=path, root=os_root(path), libcrypto=linked_library(path), **fields)
