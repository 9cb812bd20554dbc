"""Run one lab scenario against real nginx and compare what happened with what it expects.

Invariants of this module:
- one nginx per scenario, started under ``<workdir>/<scenario name>`` and always stopped
  (``NginxServer``); the prefix is removed afterwards unless ``keep``;
- the client matrix runs sequentially, each request carrying ``?lab=<client id>``, so every
  access-log line (``$arg_lab``) and every info error-log line (``request: "GET /?lab=<id> ..."``,
  F4.1) is attributed to exactly one row; logs are read after nginx stopped (all flushed);
- an nginx that cannot start is a result (``ScenarioResult.error``), not an exception; a full
  or unwritable disk is not the scenario's fault: it raises ``InputError`` (one line, exit 2),
  whether the prefix could not be written or nginx could not write its logs;
- results are frozen dataclasses with ``to_dict()``.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtls_doctor.lab.client import Answer, request
from mtls_doctor.lab.nginx import NginxError, NginxServer, _read_text as _read, nginx_version, parse_access_line
from mtls_doctor.lab.scenarios import PAGES, ClientSpec, Expect, Scenario
from mtls_doctor.model import InputError

__all__ = ["Row", "ScenarioResult", "run_scenario", "compare", "recognise_page"]

#: the server name a lab client sends when its spec says it sends SNI
LAB_SNI = "localhost"

_REQUEST_RE = re.compile(r'request: "[A-Z]+ /\?lab=([A-Za-z0-9._-]+)[ &"]')
_LOG_PREFIX_RE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: (?:\*\d+ )?")
_VERIFY_LINES = ("client SSL certificate verify error", "client sent no required SSL certificate")


@dataclass(frozen=True)
class Row:
    """What one client of the matrix got, as measured, and how it compares to the expectation."""

    client_id: str
    client: str | None
    send_chain: bool
    sni: bool
    status: int | None
    page: str | None
    ssl_client_verify: str | None
    ssl_client_s_dn: str | None
    log_line: str | None
    protocol: str | None
    server: str | None  # the $server_name that answered
    body: str
    error: str | None
    expected: Expect
    mismatches: tuple[str, ...]

    @property
    def matched(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client": self.client,
            "send_chain": self.send_chain,
            "sni": self.sni,
            "status": self.status,
            "page": self.page,
            "ssl_client_verify": self.ssl_client_verify,
            "ssl_client_s_dn": self.ssl_client_s_dn,
            "log_line": self.log_line,
            "protocol": self.protocol,
            "server": self.server,
            "body": self.body,
            "error": self.error,
            "expected": {k: v for k, v in vars(self.expected).items()},
            "matched": self.matched,
            "mismatches": list(self.mismatches),
        }


@dataclass(frozen=True)
class ScenarioResult:
    """The measured matrix of one scenario (or why nginx did not run)."""

    scenario: str
    title: str
    broken: bool
    facts: tuple[str, ...]
    rows: tuple[Row, ...]
    nginx: str  # binary and version
    seconds: float
    config: str  # the nginx.conf that ran
    prefix: str | None  # kept prefix directory, if any
    error: str | None = None  # nginx -t / start failure
    expected_error: str | None = None  # the nginx -t failure the scenario expects (F1.5)

    @property
    def matched(self) -> bool:
        if self.expected_error is not None:
            return self.error is not None and self.expected_error in self.error
        return self.error is None and all(r.matched for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "title": self.title,
            "broken": self.broken,
            "facts": list(self.facts),
            "nginx": self.nginx,
            "seconds": round(self.seconds, 3),
            "prefix": self.prefix,
            "error": self.error,
            "expected_error": self.expected_error,
            "matched": self.matched,
            "rows": [r.to_dict() for r in self.rows],
            "config": self.config,
        }


def run_scenario(
    scenario: Scenario,
    pki: Any,
    nginx_bin: str,
    workdir: str | Path,
    *,
    keep: bool = False,
    timeout: float = 5.0,
    ports: tuple[int, ...] | None = None,
) -> ScenarioResult:
    """Start nginx for ``scenario`` with ``pki`` (a LabPKI), run its matrix, stop nginx.
    ``ports``: the loopback ports to listen on (``scenario.ports`` of them; default free ones)."""
    started = time.monotonic()
    prefix = Path(workdir) / scenario.name
    if prefix.exists():
        shutil.rmtree(prefix)
    files = scenario.files(pki)
    for spec in scenario.clients:
        if spec.client is not None:
            files.update(_client_files(spec, pki))
    version_tuple = nginx_version(nginx_bin)
    version = ".".join(map(str, version_tuple)) or "?"
    release = openssl_release(nginx_bin)
    if release is not None:
        version += f" (OpenSSL {release})"
    server = NginxServer(scenario.render, ports=scenario.ports, files=files, nginx_bin=nginx_bin,
                         workdir=prefix, keep=True,
                         fixed_ports=ports[:scenario.ports] if ports else None)
    answers: list[tuple[ClientSpec, Answer]] = []
    error: str | None = None
    try:
        with server:
            for spec in scenario.clients:
                answers.append((spec, _ask(server.port, spec, prefix, pki, timeout)))
    except NginxError as exc:
        error = str(exc)
    except OSError as exc:  # writing the prefix (ENOSPC, EDQUOT, EROFS, EACCES)
        shutil.rmtree(prefix, ignore_errors=True)
        raise InputError(f"{workdir}: cannot write the lab's nginx prefix: "
                         f"{exc.strerror or exc}") from None
    config = _read(prefix / "nginx.conf")
    access = _access_by_lab(_read(prefix / "logs" / "access.log"))
    errors = _errors_by_lab(_read(prefix / "logs" / "error.log"))
    rows = tuple(_row(spec, answer, access.get(spec.id), errors.get(spec.id), release)
                 for spec, answer in answers)
    expected_error = scenario.expected_config_error(version_tuple)
    # on a (nearly) full disk anything unexpected is the disk's doing, not the scenario's:
    # nginx exits 1 at start with nothing said (it cannot open its error log), or loses
    # access-log or info error-log lines (issue 11 #15: "0/1 scenarios behaved as expected")
    went_wrong = (error is not None and expected_error is None) or not all(r.matched for r in rows) \
        or any(spec.id not in access for spec, _ in answers)
    full = went_wrong and _disk_full(prefix)
    if not keep or full:
        shutil.rmtree(prefix, ignore_errors=True)
    if full:
        raise InputError(f"{workdir}: the file system is full: nginx could not write its logs "
                         "(free some space or set TMPDIR elsewhere)")
    return ScenarioResult(scenario.name, scenario.title, scenario.broken, scenario.facts, rows,
                          f"{nginx_bin} {version}", time.monotonic() - started, config,
                          str(prefix) if keep else None, error, expected_error)


#: below this many free bytes a missing access-log line is blamed on the disk, not nginx
_LOW_SPACE = 1 << 20


def _disk_full(path: Path) -> bool:
    """True when the file system of ``path`` has (almost) no space left for an unprivileged
    writer (``statvfs`` f_bavail), the one reason nginx silently loses access-log lines."""
    import os

    try:
        st = os.statvfs(path if path.exists() else path.parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _LOW_SPACE


def openssl_release(nginx_bin: str):
    """The OpenSSL release ``nginx_bin`` runs with (``nginx -V``), or None when unknown: the
    expectations (written in OpenSSL 3.0's codes and texts) are rewritten for it."""
    from mtls_doctor.model import InputError
    from mtls_doctor.nginx.local import describe_nginx
    from mtls_doctor.pki.openssl_versions import parse_release

    build = describe_nginx(nginx_bin)
    if build is None or build.openssl_version is None:
        return None
    try:
        return parse_release(build.openssl_version)
    except InputError:
        return None


def compare(expect: Expect, status: int | None, verify: str | None, log_line: str | None,
            page: str | None, body: str, error: str | None, protocol: str | None) -> tuple[str, ...]:
    """Every way the measured values differ from ``expect`` (empty: as expected)."""
    out = []
    if status != expect.status:
        out.append(f"status {status} (expected {expect.status})")
    if verify != expect.verify:
        out.append(f"$ssl_client_verify {verify} (expected {expect.verify})")
    if expect.log is None and log_line is not None and any(v in log_line for v in _VERIFY_LINES):
        out.append(f"unexpected log line {log_line!r}")
    if expect.log is not None and (log_line is None or expect.log not in log_line):
        out.append(f"log line {log_line!r} (expected one containing {expect.log!r})")
    if expect.page is not None and page != expect.page:
        out.append(f"page {page!r} (expected {expect.page!r})")
    if expect.body is not None and expect.body not in body:
        out.append(f"body {body.strip()!r} (expected it to contain {expect.body!r})")
    if expect.error is not None and (error is None or expect.error not in error):
        out.append(f"client error {error!r} (expected one containing {expect.error!r})")
    if expect.protocol is not None and protocol != expect.protocol:
        out.append(f"protocol {protocol} (expected {expect.protocol})")
    return tuple(out)


def recognise_page(body: str) -> str | None:
    """The page text: nginx's 400 texts (F2.5), the lab's own pages, or an HTML title."""
    for text in (PAGES["no_cert"], PAGES["cert_error"]):
        if text in body:
            return text
    for key in ("ok", "echo"):
        if body.startswith(PAGES[key]):
            return PAGES[key]
    match = re.search(r"<title>(.*?)</title>", body)
    return match.group(1) if match else None


def _client_files(spec: ClientSpec, pki: Any) -> dict[str, bytes]:
    client = pki.clients[spec.client]
    name = f"clients/{spec.client}{'-chain' if spec.send_chain else ''}.pem"
    return {name: client.chain_pem if spec.send_chain else client.cert_pem,
            f"clients/{spec.client}.key": client.key_pem}


def _ask(port: int, spec: ClientSpec, prefix: Path, pki: Any, timeout: float) -> Answer:
    cert = key = None
    if spec.client is not None:
        cert = prefix / f"clients/{spec.client}{'-chain' if spec.send_chain else ''}.pem"
        key = prefix / f"clients/{spec.client}.key"
    return request(port, lab_id=spec.id, ca_pem=pki.pem("root"), host="localhost",
                   sni=LAB_SNI if spec.sni else None, cert_file=cert, key_file=key,
                   tls=spec.tls, headers=spec.headers, timeout=timeout)


def _row(spec: ClientSpec, answer: Answer, access: dict[str, str] | None, log_line: str | None,
         release: Any = None) -> Row:
    access = access or {}
    expect = spec.expect.for_release(release)

    def field(name: str) -> str | None:
        value = access.get(name)
        return None if value in (None, "", "-") else value

    verify = field("verify")
    if access and verify is None:
        verify = "NONE"  # cannot happen on an SSL port; kept total for plain-HTTP lines
    page = recognise_page(answer.body) if answer.status is not None else None
    protocol = field("protocol") or answer.protocol
    mismatches = compare(expect, answer.status, verify, log_line, page, answer.body,
                         answer.error, protocol)
    return Row(spec.id, spec.client, spec.send_chain, spec.sni, answer.status, page, verify,
               field("s_dn"), log_line, protocol, field("server"), answer.body, answer.error,
               expect, mismatches)


def _access_by_lab(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        fields = parse_access_line(line)
        lab = fields.get("lab", "-")
        if lab == "-":
            continue
        # the TLS front's line wins over the echo backend's (same lab id, no $ssl_protocol)
        if lab not in out or (out[lab].get("protocol") == "-" and fields.get("protocol") != "-"):
            out[lab] = fields
    return out


def _errors_by_lab(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        match = _REQUEST_RE.search(line)
        if not match:
            continue
        lab = match.group(1)
        clean = _LOG_PREFIX_RE.sub(r"\1 ", line.strip())
        if lab not in out or (any(v in clean for v in _VERIFY_LINES)
                              and not any(v in out[lab] for v in _VERIFY_LINES)):
            out[lab] = clean
    return out
