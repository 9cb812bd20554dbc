"""The one way the lab writes to disk: explicit modes whatever the umask, data on disk before a
write returns.

Invariants: a directory created here has mode ``DIR_MODE`` (0755) exactly, never
``0777 & ~umask`` (under ``umask 000`` that is 0777: anyone could swap the certificates next to
the 0600 keys); a file is created with its final mode from the first byte (``O_EXCL`` after
removing an old file, no window where it is wider) and ``fsync``-ed, so a full disk (ENOSPC)
fails at the write that did not fit, never later as a truncated file.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the mode of every directory the lab creates
DIR_MODE = 0o755
#: the mode of a file that holds no secret (certificates, CRLs, configs, manifests)
PUBLIC_MODE = 0o644
#: the mode of keys, PKCS#12 files and anything else secret
SECRET_MODE = 0o600


def make_dirs(path: Path, root: Path | None = None) -> None:
    """Create ``path`` and its missing parents (up to ``root`` or the first existing
    directory) with DIR_MODE exactly; existing directories are left as they are."""
    path = Path(path)
    missing = []
    while path != root and not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            if not d.is_dir():
                raise
            continue  # created meanwhile by someone else: not ours to chmod
        os.chmod(d, DIR_MODE)  # mkdir's mode is filtered by the umask, never widened


def write_file(path: Path, data: bytes, mode: int, root: Path | None = None) -> None:
    """Create ``path`` with ``mode`` from the start and its data on disk (fsync) before this
    returns; missing parents are made with DIR_MODE (up to ``root``)."""
    path = Path(path)
    make_dirs(path.parent, root)
    if path.is_symlink() or path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0), mode)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), mode)  # exact, whatever the umask
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def open_append(path: Path, mode: int = PUBLIC_MODE) -> int:
    """A descriptor appending to ``path`` (created with ``mode`` exactly if missing)."""
    created = not os.path.lexists(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0), mode)
    if created:
        os.fchmod(fd, mode)  # exact, whatever the umask
    return fd
