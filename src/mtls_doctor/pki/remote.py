"""Verification with the libcrypto a given nginx uses, wherever that library can run.

``verify`` is exact only with the very OpenSSL nginx runs with (codes, texts and chain building
differ between 1.1.1, 3.0, 3.5 and 3.6; see ``mtls_doctor.pki.openssl_versions``). This process
has the system libcrypto loaded (``mtls_doctor.pki.libcrypto``); another one runs in a helper
process (``helper.py``, a line-oriented JSON protocol):

1. with this machine's Python when the library loads under this machine's C library (an older
   one, e.g. OpenSSL 1.1.1 of Debian 11 on Debian 12);
2. else with the Python of the OS root the library belongs to, started with that root's own
   loader (``nginx.local.root_command``): OpenSSL 3.5/3.6 of Debian 13/sid need a newer glibc.

``engine_for(libcrypto_path)`` returns something with the interface the ``Verifier`` uses
(``Store``, ``openssl_version``, ``error_string``, ``default_security_level``, ``DecodeError``),
or raises ``LibcryptoUnavailable`` with every reason it could not. Every helper call has a
deadline; a helper that dies or hangs is an error, never a hang.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Sequence

from mtls_doctor.pki import libcrypto
from mtls_doctor.pki.libcrypto import ChainCert, DecodeError, Event, LibcryptoUnavailable, RawResult

#: seconds one helper request may take (one verification is milliseconds)
CALL_TIMEOUT = 30.0
_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helper.py")
_b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731


class Helper:
    """One helper process serving one libcrypto."""

    def __init__(self, argv: list[str], env: dict[str, str], label: str) -> None:
        self.label = label
        self._lock = threading.Lock()
        try:
            self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=env, text=True, bufsize=1)
        except OSError as exc:
            raise LibcryptoUnavailable(f"cannot start the verify helper ({label}): {exc}") from exc
        try:
            info = self.call({"op": "info"})
        except LibcryptoUnavailable:
            self.close()  # a helper whose library does not load is not left running
            raise
        self.version = str(info["version"])
        self.security_level = int(info["security_level"])
        self.texts = {int(k): v for k, v in info["texts"].items()}

    def call(self, request: dict) -> dict:
        with self._lock:
            proc = self._proc
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise LibcryptoUnavailable(self._died()) from None
            deadline = time.monotonic() + CALL_TIMEOUT
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.close()
                    raise LibcryptoUnavailable(f"the verify helper ({self.label}) did not answer "
                                               f"within {CALL_TIMEOUT:.0f} s")
                ready, _, _ = select.select([proc.stdout], [], [], left)
                if ready:
                    break
            line = proc.stdout.readline()
        if not line:
            raise LibcryptoUnavailable(self._died())
        answer = json.loads(line)
        if answer.get("failure") == "decode":
            raise DecodeError(answer["message"])
        if "failure" in answer:
            raise LibcryptoUnavailable(f"verify helper ({self.label}): {answer['message']}")
        return answer

    def _died(self) -> str:
        self.close()
        err = (self._proc.stderr.read() if self._proc.stderr else "") or ""
        last = next((l for l in reversed(err.strip().splitlines()) if l.strip()), "no message")
        return f"the verify helper ({self.label}) stopped: {last.strip()}"

    def close(self) -> None:
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(timeout=5)


class RemoteStore:
    """``libcrypto.Store`` kept in a helper process."""

    _ids = iter(range(1, 1 << 62))

    def __init__(self, helper: Helper, certs_der: Sequence[bytes] = (),
                 crls_der: Sequence[bytes] = ()) -> None:
        self._helper = helper
        self._id = next(self._ids)
        helper.call({"op": "store", "id": self._id, "certs": [_b64(c) for c in certs_der],
                     "crls": [_b64(c) for c in crls_der]})
        self._open = True

    def verify(self, leaf_der: bytes, chain_der: Sequence[bytes], *, depth: int, at: int,
               security_level: int) -> RawResult:
        raw = self._helper.call({"op": "verify", "store": self._id, "leaf": _b64(leaf_der),
                                 "chain": [_b64(c) for c in chain_der], "depth": depth, "at": at,
                                 "level": security_level})
        unb64 = base64.b64decode
        return RawResult(
            returned=raw["returned"], error=raw["error"], error_depth=raw["error_depth"],
            events=tuple(Event(depth=e["depth"], error=e["error"],
                               cert_der=unb64(e["cert"]) if e["cert"] is not None else None)
                         for e in raw["events"]),
            chain=tuple(ChainCert(unb64(c["der"]), c["subject"], c["issuer"], c["self_issued"])
                        for c in raw["chain"]))

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                self._helper.call({"op": "close", "store": self._id})
            except LibcryptoUnavailable:
                pass

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteEngine:
    """The engine interface of ``mtls_doctor.pki.libcrypto``, served by a helper process."""

    DecodeError = DecodeError

    def __init__(self, helper: Helper, libcrypto_path: str) -> None:
        self.helper = helper
        self.path = libcrypto_path

    def Store(self, certs_der: Sequence[bytes] = (), crls_der: Sequence[bytes] = ()) -> RemoteStore:  # noqa: N802
        return RemoteStore(self.helper, certs_der, crls_der)

    def openssl_version(self) -> str:
        return self.helper.version

    def error_string(self, code: int) -> str:
        # codes past the measured range: OpenSSL's own text for an unknown code
        return self.helper.texts.get(code, "unknown certificate verification error")

    def default_security_level(self) -> int:
        return self.helper.security_level

    def close(self) -> None:
        self.helper.close()


def _root_python(root: str) -> str | None:
    found = sorted(glob.glob(os.path.join(root, "usr/bin/python3.[0-9]*")))
    found = [p for p in found if os.path.basename(p).replace("python", "").replace(".", "").isdigit()]
    return found[-1] if found else None


_engines: dict[str, RemoteEngine] = {}
_engines_lock = threading.Lock()


def engine_for(libcrypto_path: str | None):
    """The engine that verifies with ``libcrypto_path`` (None or this process's own library:
    the in-process ``libcrypto`` module). Helpers are started once per library and reused."""
    if libcrypto_path is None or _same_as_loaded(libcrypto_path):
        return libcrypto
    real = os.path.realpath(libcrypto_path)
    with _engines_lock:
        engine = _engines.get(real)
        if engine is None:
            engine = _engines[real] = RemoteEngine(_start(real), real)
        return engine


def _same_as_loaded(path: str) -> bool:
    try:
        here = libcrypto.loaded_path()
    except LibcryptoUnavailable:
        return False
    return here is not None and os.path.realpath(here) == os.path.realpath(path)


def _start(path: str) -> Helper:
    from mtls_doctor.nginx.local import os_root, root_command, root_openssl_conf

    env = {"MTLS_DOCTOR_LIBCRYPTO": path, "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LANG": "C.UTF-8"}
    root = os_root(path)
    conf = root_openssl_conf(root) if root else None
    if conf:  # the library reads its own system's configuration (security level, protocols)
        env["OPENSSL_CONF"] = conf
    reasons = []
    try:  # 1. this machine's Python
        return Helper([sys.executable, "-I", "-S", _HELPER], env, f"{path} with this Python")
    except LibcryptoUnavailable as exc:
        reasons.append(str(exc))
    python = _root_python(root) if root else None
    if root and python:  # 2. the Python of the library's own root
        root_env = dict(env, PYTHONHOME=os.path.join(root, "usr"))
        try:
            return Helper([*root_command(root, python), "-I", "-S", _HELPER], root_env,
                          f"{path} with {os.path.relpath(python, root)} of {root}")
        except LibcryptoUnavailable as exc:
            reasons.append(str(exc))
    elif root:
        reasons.append(f"{root} has no python3 to run the helper in")
    raise LibcryptoUnavailable("; ".join(reasons))
