"""The verify helper: ``libcrypto.py`` run in another process, with another libcrypto.

Run as a script (``python3 helper.py``) by ``mtls_doctor.pki.remote``, never imported by the
package. It needs only the standard library (Python 3.9 or newer), so it runs under the Python of
another OS root (a Debian 13 root's python3.13 with that root's glibc), where that root's
libcrypto loads although it cannot load into this machine's process. ``$MTLS_DOCTOR_LIBCRYPTO``
names the library.

Protocol: one JSON object per line on stdin, one answer per line on stdout; bytes are base64.

- ``{"op": "info"}`` -> ``{"version", "security_level", "texts": {code: text}}``
- ``{"op": "store", "id", "certs", "crls"}`` -> ``{"ok": true}`` (an X509_STORE kept by id)
- ``{"op": "verify", "store", "leaf", "chain", "depth", "at", "level"}`` -> a ``RawResult``
- ``{"op": "close", "store"}`` -> ``{"ok": true}``

An answer ``{"failure": KIND, "message": TEXT}`` reports a failure (``decode``: libcrypto refused a
DER; ``unavailable``: the library cannot be used); the helper keeps serving. End of input ends it.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import sys

#: verify error codes whose texts ``info`` reports (X509_V_ERR_* run below 128 in 1.1.1-3.6)
TEXT_CODES = range(0, 128)


def _load_libcrypto():
    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("mtls_doctor_helper_libcrypto",
                                                  os.path.join(here, "libcrypto.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


def _raw(result) -> dict:
    b64 = lambda data: base64.b64encode(data).decode("ascii")  # noqa: E731
    return {
        "returned": result.returned, "error": result.error, "error_depth": result.error_depth,
        "events": [{"depth": e.depth, "error": e.error,
                    "cert": b64(e.cert_der) if e.cert_der is not None else None}
                   for e in result.events],
        "chain": [{"der": b64(c.der), "subject": c.subject, "issuer": c.issuer,
                   "self_issued": c.self_issued} for c in result.chain],
    }


def serve(lc, lines, write) -> None:
    stores: dict = {}
    unb64 = base64.b64decode
    for line in lines:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "info":
                answer = {"version": lc.openssl_version(),
                          "security_level": lc.default_security_level(),
                          "texts": {str(c): lc.error_string(c) for c in TEXT_CODES}}
            elif op == "store":
                old = stores.pop(req["id"], None)
                if old is not None:
                    old.close()
                stores[req["id"]] = lc.Store([unb64(c) for c in req["certs"]],
                                             [unb64(c) for c in req["crls"]])
                answer = {"ok": True}
            elif op == "verify":
                result = stores[req["store"]].verify(
                    unb64(req["leaf"]), [unb64(c) for c in req["chain"]], depth=req["depth"],
                    at=req["at"], security_level=req["level"])
                answer = _raw(result)
            elif op == "close":
                store = stores.pop(req["store"], None)
                if store is not None:
                    store.close()
                answer = {"ok": True}
            else:
                answer = {"failure": "usage", "message": f"unknown op {op!r}"}
        except lc.DecodeError as exc:
            answer = {"failure": "decode", "message": str(exc)}
        except lc.LibcryptoUnavailable as exc:
            answer = {"failure": "unavailable", "message": str(exc)}
        except (KeyError, TypeError, ValueError) as exc:
            answer = {"failure": "usage", "message": f"{type(exc).__name__}: {exc}"}
        write(json.dumps(answer) + "\n")


def main() -> int:
    lc = _load_libcrypto()

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    serve(lc, sys.stdin, write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
