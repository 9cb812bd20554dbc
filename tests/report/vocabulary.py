"""The vocabulary of docs/json.md as a check any JSON document of the CLI must pass.

Walks a document and returns every place that breaks the one-name-one-shape rules; the schema
tests (test_schemas.py) validate shapes, this catches a retired name anywhere, even inside
objects a schema leaves open.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
#: keys whose values are times
TIME_KEYS = {"generated_at", "at", "not_before", "not_after", "first", "last", "last_update",
             "next_update", "pki_generated_at"}
#: retired names: (key, why)
RETIRED = {
    "code": "a rule id is `rule`; a verify code lives in verify_error, a TLS alert in alert",
    "verify_code": "verify_error.code", "verify_text": "verify_error.text",
    "error_code": "verify_error.code", "error_text": "verify_error.text",
    "primary_sni": "sni", "servername": "sni", "server_name_sent": "sni",
    "protocol": "tls_version", "tls": "tls_version",
    "self_issued": "self_signed", "certificate_request_received": "certificate_requested",
    "expect": "expected", "verify_depth": "ssl_verify_depth", "verify_client": "ssl_verify_client",
    "restarted_at": "restarted (a location)", "openssl_version_of_error": "verify_error.openssl",
}
ALLOWED_CODE_PARENTS = {"alert", "verify_error", "errors"}  # numeric codes of a TLS alert / OpenSSL


def problems(doc: Any, path: str = "$", parent: str = "") -> Iterator[str]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            where = f"{path}.{key}"
            if key in RETIRED and not (key == "code" and parent in ALLOWED_CODE_PARENTS):
                yield f"{where}: retired name (use {RETIRED[key]})"
            if key in TIME_KEYS and value is not None and not (isinstance(value, str) and TIME.match(value)):
                yield f"{where}: not RFC 3339 UTC with Z: {value!r}"
            if key == "location" and value is not None and not isinstance(value, dict):
                yield f"{where}: a location is an object"
            if key == "fix" and value is not None and not (isinstance(value, dict) and set(value) == {"text", "snippet"}):
                yield f"{where}: a fix is {{text, snippet}}"
            if key == "verify_error" and value is not None and set(value) != {"code", "text", "openssl"}:
                yield f"{where}: a verify error is {{code, text, openssl}}"
            if key == "tls_version" and value is not None and not re.fullmatch(r"TLSv1(\.[0-3])?|SSLv3", str(value)):
                yield f"{where}: a TLS version is spelt TLSv1.2: {value!r}"
            if key in ("openssl_version", "nginx_version") and value is not None and not re.fullmatch(
                    r"\d+\.\d+(\.\d+)?[a-z]*", str(value)):
                yield f"{where}: a version number (the text is `openssl`): {value!r}"
            if key == "sni" and isinstance(value, bool):
                yield f"{where}: sni is the name sent or null, not a bool"
            if key == "path" and parent not in {"target"}:
                yield f"{where}: a file is `file` (`path` is only a URL path, in target)"
            if key == "version" and parent not in {"nginx", "prediction"}:
                yield f"{where}: say which version (tls_version, x509_version, nginx_version)"
            yield from problems(value, where, key)
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            yield from problems(value, f"{path}[{i}]", parent)


def envelope_problems(doc: Any, command: str) -> list[str]:
    out = list(problems(doc))
    if not isinstance(doc, dict):
        return ["not an object"]
    if list(doc)[:3] != ["schema_version", "command", "generated_at"]:
        out.append(f"envelope starts {list(doc)[:3]}")
    if doc.get("command") != command:
        out.append(f"command {doc.get('command')!r} != {command!r}")
    return out
