"""The JSON Schemas (draft 2020-12) of every command's ``--format json`` output.

One schema file per command (``<command>.schema.json``, ``lab run`` -> ``lab-run``), each
self-contained (the shared vocabulary of docs/json.md repeated under ``$defs``), shipped as
package data next to this module and copied to ``docs/schema/``. They are generated from the
literals below: ``python -m mtls_doctor.schema DIR`` writes them; tests/report checks that the
shipped files, the docs copies and this module agree, and validates real outputs against them.

Strictness: the envelope, the vocabulary objects (location, fix, verify_error, finding) and the
top level of every command are closed (``additionalProperties: false``), so a renamed key fails
validation; deeper command-specific objects list their keys and types but stay open.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://github.com/mtls-doctor/mtls-doctor/schema/"

COMMANDS = ("inspect", "verify", "lint", "probe", "logs", "diagnose", "lab list", "lab run",
            "lab pki", "demo", "rules", "explain", "migrate")


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
STRS = {"type": "array", "items": STR}
OSTR, OINT, OBOOL = _null(STR), _null(INT), _null(BOOL)


def _obj(props: dict[str, Any], required: tuple[str, ...] | None = None, closed: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "required": list(props if required is None else required)}
    if closed:
        out["additionalProperties"] = False
    return out


def _arr(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


DEFS: dict[str, Any] = {
    "time": {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$",
             "description": "RFC 3339, UTC, whole seconds, Z"},
    "tls_version": {"enum": ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
                    "description": "spelt as in ssl_protocols and $ssl_protocol"},
    "sni": {"type": ["string", "null"], "description": "the server name sent; null: no SNI"},
    "location": _obj({"file": STR, "line": {"type": "integer", "minimum": 1},
                      "index": {"type": "integer", "minimum": 0}, "host": STR,
                      "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                      "display": STR}, required=("display",), closed=True),
    "fix": _null(_obj({"text": STR, "snippet": OSTR}, closed=True)),
    "verify_error": _null(_obj({"code": INT, "text": OSTR, "openssl": OSTR}, closed=True)),
    "severity": {"enum": ["info", "warning", "error", "critical"]},
    "rule": {"type": "string", "pattern": r"^MTLS\d{3}$"},
    "finding": _obj({"rule": _ref("rule"), "name": STR, "severity": _ref("severity"),
                     "message": STR, "location": _ref("location"), "fix": _ref("fix")},
                    closed=True),
    "findings": _arr(_ref("finding")),
    "nginx_build": _null({"type": "object", "properties": {
        "binary": STR, "root": OSTR, "version": OSTR, "tls_library": OSTR, "openssl_built": OSTR,
        "openssl_running": OSTR, "libcrypto": OSTR, "openssl_version": OSTR, "prefix": OSTR},
        "required": ["binary", "version"], "additionalProperties": False}),
    "judged_for": {"type": "object", "properties": {
        "nginx_version": OSTR, "openssl_version": OSTR, "nginx": {"$ref": "#/$defs/nginx_build"},
        "notes": STRS}},
}

ENVELOPE = {"schema_version": {"const": 2}, "command": STR, "generated_at": _ref("time")}

_CERT_SUMMARY = _obj({"subject": STR, "issuer": STR, "self_signed": BOOL}, required=("subject", "issuer"))

_INSPECT_NODE = {
    "type": "object",
    "properties": {"location": _ref("location"), "subject": STR, "issuer": STR, "kind": STR,
                   "self_signed": BOOL, "issuer_found": BOOL,
                   "duplicate_of": _null(_ref("location")),
                   "children": _arr({"$ref": "#/$defs/tree_node"})},
    "required": ["location", "subject", "issuer", "kind", "self_signed", "children"],
    "additionalProperties": False,
}

_VERIFY_CLIENT = _obj({
    "file": STR, "accepted": BOOL, "status": OINT, "page": OINT, "page_title": OSTR,
    "ssl_client_verify": OSTR, "ssl_client_s_dn": OSTR, "ssl_client_i_dn": OSTR,
    "verify_error": _ref("verify_error"), "errors": _arr(_obj({"code": INT, "text": OSTR, "depth": INT})),
    "log_line": OSTR, "explanation": OSTR, "fix": _ref("fix"),
    "ssl_verify_client": STR, "ssl_verify_depth": INT, "chain": _arr(_obj({
        "depth": INT, "subject": STR, "issuer": STR, "role": STR, "source": STR,
        "self_signed": BOOL, "counts_against_depth": BOOL})),
}, required=("file", "accepted", "status", "ssl_client_verify", "verify_error", "fix", "chain"))

_ATTEMPT = _obj({
    "spec": _obj({"cert": STR, "sni": _ref("sni"), "tls_version": _null(_ref("tls_version"))},
                 closed=True),
    "outcome": STR, "failed_step": OSTR, "error": OSTR, "tls_version": _null(_ref("tls_version")),
    "cipher": OSTR, "certificate_requested": BOOL,
    # TLS 1.3's CertificateRequest has no certificate_types (RFC 8446 4.3.2): null
    "certificate_request": _null(_obj({"ca_names": STRS, "signature_algorithms": _null(STRS),
                                       "certificate_types": _null(STRS), "source": STR},
                                      required=("ca_names",))),
    "client_certificate_sent": OSTR, "client_certificates_sent": OINT,
    "server_chain": _arr(_obj({"subject": STR, "issuer": STR, "not_before": _null(_ref("time")),
                               "not_after": _null(_ref("time")), "dns_names": STRS,
                               "ip_addresses": STRS, "self_signed": BOOL},
                              required=("subject", "issuer", "not_before", "not_after"))),
    "alert": _null(_obj({"direction": STR, "level": STR, "code": INT, "name": STR})),
    "http": _null(_obj({"status": OINT}, required=())),
    "steps": _arr(_obj({"name": STR, "ok": BOOL}, required=("name", "ok"))),
    "elapsed_ms": NUM,
}, required=("spec", "outcome", "tls_version", "certificate_requested", "certificate_request", "steps"))

_PROBE = {
    "target": _obj({"host": STR, "port": INT, "path": STR}, required=("host", "port")),
    "sni": _ref("sni"), "at": _ref("time"), "certificate_requested": BOOL, "ca_names": STRS,
    "inferred_mode": STR,
    "inferences": _arr(_obj({"sni": _ref("sni"), "mode": STR, "layer": OSTR,
                             "certificate_requested": OBOOL, "evidence": STRS,
                             "per_version": _arr(_obj({"tls_version": _ref("tls_version"), "mode": STR},
                                                      closed=True))},
                            required=("sni", "mode", "certificate_requested"))),
    "legacy_tls_accepted": _null({"type": ["boolean", "array", "string"]}), "legacy_tls_note": OSTR,
    "client": _null(_obj({"subject": STR, "issuer": STR, "chain": _arr(_CERT_SUMMARY)},
                         required=("subject",))),
    "insecure": BOOL,
    "offline_verdict": _null(_obj({"verify_error": _ref("verify_error"), "fix": _ref("fix"),
                                   "ssl_verify_client": STR, "ssl_verify_depth": INT,
                                   "status": OINT, "page": OINT, "ssl_client_verify": STR,
                                   "matched_names": STRS, "explanation": STR},
                                  required=("verify_error", "fix", "ssl_client_verify"))),
    "judged_for": _ref("judged_for"),
    "notes": STRS, "attempts": _arr(_ATTEMPT),
    # probe --targets: each JSON Lines record is this document plus its input line
    "input": _obj({"line": INT, "text": STR, "sni": _ref("sni")}, closed=True),
    "elapsed_ms": NUM,
}

_LOG_GROUP = _obj({
    "cause": STR, "title": STR, "rule": _null(_ref("rule")), "fault": STR, "count": INT,
    "verify_error": _ref("verify_error"), "explanation": STR, "fix": _ref("fix"), "facts": STRS,
    "first": _null(_ref("time")), "last": _null(_ref("time")), "servers": STRS, "clients": STRS,
    "location": _ref("location"), "example": STR, "hosts": STRS, "modules": STRS,
}, required=("cause", "count", "verify_error", "location"))

_LOGS = {
    "files": _arr(_obj({"file": STR, "lines": INT, "has_info": BOOL}, required=("file", "lines"))),
    "groups": _arr(_LOG_GROUP),
    "restarted": _null(_ref("location")),
}

_DIAG_SIDE = _null(_obj({"outcome": STR, "certificate_requested": OBOOL, "ca_names": _null(STRS),
                         "status": OINT, "page": OINT, "error": OSTR,
                         "tls_version": _null(_ref("tls_version"))},
                        required=("outcome", "tls_version")))

_DIAGNOSE = {
    "at": _ref("time"),
    "nginx": _ref("nginx_build"),
    "config_file": OSTR, "servers": INT,
    "root_causes": _arr(_obj({
        "cause": STR, "title": STR, "rank": INT, "confidence": NUM, "summary": STR, "server": OSTR,
        "evidence": _arr(_obj({"source": STR, "location": _ref("location"), "text": STR}, closed=True)),
        "fix": _ref("fix"), "facts": STRS}, required=("cause", "rank", "evidence", "fix"))),
    "probes": _arr(_obj({"endpoint": STR, "sni": _ref("sni"), "host_header": OSTR, "server": OSTR,
                         "without_certificate": _DIAG_SIDE, "with_your_certificate": _DIAG_SIDE},
                        closed=True)),
    "logs": _null(_obj({"files": _LOGS["files"], "groups": _arr(_obj({
        "cause": STR, "count": INT, "verify_error": _ref("verify_error"),
        "location": _ref("location")}, closed=True)), "skipped_probe_lines": INT,
        "restarted": _null(_ref("location")),
        "history": _null(_obj({"restarted": _null(_ref("location")), "groups": {"type": "array"}},
                              closed=True))}, required=("files", "groups"), closed=True)),
    "verify": _arr(_obj({"server": OSTR, "ssl_client_verify": OSTR, "status": OINT,
                         "verify_error": _ref("verify_error"), "passes_deeper": OBOOL}, closed=True)),
    "notes": STRS, "target": {"type": "object", "properties": {"sni": _ref("sni")}},
    "symptoms": STRS, "verdict": {"type": "object"}, "close_call": _null({"type": "object"}),
    # diagnose on Kubernetes manifests: what was read and rendered
    "manifests": {"type": "object"},
}

_LAB_EXPECTED = _null(_obj({"status": OINT, "verify": OSTR, "log": OSTR, "page": OSTR, "body": OSTR,
                            "error": OSTR, "verify_error": _ref("verify_error"),
                            "tls_version": _null(_ref("tls_version")), "depth_exceeded": BOOL},
                           required=("status", "verify", "verify_error", "tls_version"), closed=True))

_LAB_SERVER = _null(_obj({"ssl_verify_client": STR, "ssl_verify_depth": OINT,
                          "ssl_client_certificate": STRS, "ssl_trusted_certificate": STRS,
                          "ssl_crl": STRS, "ssl_protocols": STRS, "server_name": STR,
                          "check_verify": BOOL, "proxy": OSTR, "ssl_reject_handshake": BOOL},
                         required=("ssl_verify_client", "server_name")))

_LAB_SCENARIO = _obj({
    "scenario": STR, "title": STR, "demonstrates": STR, "facts": STRS, "broken": BOOL,
    "fix": _ref("fix"), "server": _LAB_SERVER, "default_server": _LAB_SERVER,
    "clients": _arr(_obj({"client_id": STR, "client": OSTR, "expected": _LAB_EXPECTED,
                          "send_chain": BOOL, "sni": _ref("sni"),
                          "tls_version": _null(_ref("tls_version")), "note": STR,
                          "headers": {"type": "array"}},
                         required=("client_id", "client", "expected", "sni", "tls_version"))),
    "config_error": OSTR, "config_error_before": OSTR,
}, required=("scenario", "title", "broken", "fix", "server", "clients"), closed=True)

_LAB_RESULT = _obj({
    "scenario": STR, "title": STR, "broken": BOOL, "facts": STRS, "nginx": STR, "seconds": NUM,
    "prefix": OSTR, "error": OSTR, "expected_error": OSTR, "matched": BOOL, "config": OSTR,
    "rows": _arr(_obj({"client_id": STR, "client": OSTR, "send_chain": BOOL, "sni": _ref("sni"),
                       "status": OINT, "page": OSTR, "ssl_client_verify": OSTR,
                       "ssl_client_s_dn": OSTR, "log_line": OSTR,
                       "tls_version": _null(_ref("tls_version")), "server": OSTR, "body": OSTR,
                       "error": OSTR, "expected": _LAB_EXPECTED, "matched": BOOL,
                       "mismatches": STRS},
                      required=("client_id", "sni", "status", "tls_version", "expected", "matched"),
                      closed=True)),
}, required=("scenario", "matched", "rows"), closed=True)

_RULE = {"rule": _ref("rule"), "name": STR, "severity": _ref("severity"), "target": STR,
         "summary": STR, "facts": STRS, "sections": {"type": "object",
                                                     "additionalProperties": STR}}

#: command -> (its own top-level properties, the required ones); the envelope is added to each
COMMAND_PROPS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "inspect": ({
        "at": _ref("time"),
        "files": _arr(_obj({"file": STR, "format": STR, "role": STR, "certificates": INT,
                            "ca_names": STRS, "ca_names_size": INT}, required=("file", "format"))),
        "certificates": _arr(_obj({
            "location": _ref("location"), "subject": STR, "issuer": STR, "serial": STR,
            "x509_version": INT, "not_before": _ref("time"), "not_after": _ref("time"),
            "days_left": INT, "validity": STR, "self_signed": BOOL, "is_ca": BOOL,
            "sha256": STR}, required=("location", "subject", "issuer", "not_before",
                                      "not_after", "self_signed", "x509_version"))),
        "tree": _arr(_ref("tree_node")), "ca_names": STRS, "ca_names_size": INT,
        "crls": _arr(_obj({"location": _ref("location"), "issuer": STR,
                           "last_update": _null(_ref("time")), "next_update": _null(_ref("time")),
                           "expired": BOOL, "revoked": INT}, required=("location", "issuer"))),
        "keys": _arr({"type": "object", "properties": {"location": _ref("location")}}),
        "findings": _ref("findings"),
    }, ("at", "files", "certificates", "tree", "findings")),
    "verify": ({
        "at": _ref("time"), "openssl": STR, "prediction": _ref("judged_for"),
        "settings": _obj({"ssl_client_certificate": OSTR, "ssl_trusted_certificate": OSTR,
                          "ssl_verify_depth": INT, "ssl_verify_client": STR, "ssl_crl": OSTR,
                          "server": _null({"type": "object"}), "security_level": OINT},
                         required=("ssl_verify_depth", "ssl_verify_client")),
        "notes": STRS, "clients": _arr(_VERIFY_CLIENT), "accepted": BOOL,
        "findings": _ref("findings"),
    }, ("at", "settings", "clients", "accepted", "findings")),
    "lint": ({
        "at": _ref("time"), "nginx_version": OSTR, "openssl_version": OSTR,
        "configs": _arr(_obj({"file": STR, "files": STRS, "nginx_version": OSTR, "servers": INT,
                              "at": _ref("time")}, required=("file", "files"))),
        # Kubernetes manifests (lint on manifests)
        "manifests": STRS, "resources": INT, "skipped": INT,
        "renderings": {"type": "array"},
        "findings": _ref("findings"),
    }, ("findings",)),
    "probe": ({**_PROBE, "findings": _ref("findings")},
              ("target", "sni", "at", "certificate_requested", "ca_names", "inferred_mode",
               "inferences", "attempts", "findings")),
    "logs": ({**_LOGS, "findings": _ref("findings")}, ("files", "groups", "findings")),
    "diagnose": ({**_DIAGNOSE, "findings": _ref("findings")},
                 ("at", "root_causes", "probes", "findings")),
    "lab list": ({"scenarios": _arr(_LAB_SCENARIO)}, ("scenarios",)),
    "lab run": ({"matched": BOOL, "seconds": NUM, "workdir": OSTR,
                 "scenarios": _arr(_LAB_RESULT),
                 # --matrix
                 "nginx": {"type": "object", "additionalProperties": _obj(
                     {"binary": STR, "matched": INT, "scenarios": INT}, closed=True)},
                 "differences": _arr(_obj({"scenario": STR, "client": STR,
                                           "by_nginx": {"type": "object"}}, closed=True))},
                ("matched",)),
    "lab pki": ({"directory": STR, "manifest": STR, "generator": STR, "key_type": STR,
                 "server_names": STRS, "pkcs12_password": STR, "note": STR, "try": {},
                 "clients": {}, "pki_generated_at": _ref("time"),
                 "files": _arr(_obj({"file": STR, "not_before": _null(_ref("time")),
                                     "not_after": _null(_ref("time"))}, required=("file",)))},
                ("directory", "manifest", "files")),
    "demo": ({"matched": BOOL, "seconds": NUM, "broken": _LAB_RESULT, "fixed": _LAB_RESULT,
              "diagnose": {"$ref": "#/$defs/diagnose_document"}},
             ("matched", "broken", "fixed", "diagnose")),
    "rules": ({"rules": _arr(_obj(_RULE, closed=True))}, ("rules",)),
    "migrate": ({"hosts": _arr(_obj({
        "host": STR, "ingress": STR, "ssl_verify_client": STR, "ssl_verify_depth": OINT,
        "ca_secret": OSTR, "columns": _arr(_obj({"target": STR, "cells": {"type": "object"},
                                                 "resources": STR, "cannot": STRS},
                                                required=("target", "cells")))},
        required=("host", "ssl_verify_client", "columns"))),
        "resources": INT, "findings": _ref("findings")}, ("hosts", "findings")),
    "explain": (_RULE, tuple(_RULE)),
}


def _document(command: str) -> dict[str, Any]:
    props, required = COMMAND_PROPS[command]
    return {"type": "object",
            "properties": {**ENVELOPE, "command": {"const": command}, **props},
            "required": ["schema_version", "command", "generated_at", *required],
            "additionalProperties": False}


def build(command: str) -> dict[str, Any]:
    """The schema of ``command``'s JSON output."""
    from mtls_doctor.report.json import schema_name

    defs = dict(DEFS)
    defs["tree_node"] = _INSPECT_NODE
    if command == "demo":
        defs["diagnose_document"] = _document("diagnose")
    return {"$schema": DRAFT, "$id": BASE_ID + schema_name(command),
            "title": f"mtls-doctor {command} --format json",
            "description": "docs/json.md: the one JSON contract of mtls-doctor",
            **_document(command), "$defs": defs}


def text(command: str) -> str:
    return json.dumps(build(command), indent=2, sort_keys=False) + "\n"


def load(command: str) -> dict[str, Any]:
    """The shipped schema file of ``command`` (package data)."""
    from mtls_doctor.report.json import schema_name

    return json.loads(resources.files(__name__).joinpath(schema_name(command)).read_text())


def write(directory: str | Path) -> list[Path]:
    from mtls_doctor.report.json import schema_name

    out = []
    for command in COMMANDS:
        path = Path(directory) / schema_name(command)
        path.write_text(text(command))
        out.append(path)
    return out
