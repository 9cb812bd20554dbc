"""``nginx -t`` as an oracle: run a real nginx binary on a parsed configuration in a sandbox.

Invariants of this module:
- the configuration is rendered from the parsed tree (includes expanded) into ONE file in a
  fresh private prefix; every line written maps back to the (file, line) of the directive it
  came from, so nginx's ``in <file>:<line>`` names the original place;
- nothing outside the prefix is written: ``pid``, ``lock_file``, every ``error_log`` and
  ``access_log``, the temp paths point into it; ``user`` is dropped (it names accounts of the
  target machine); ``nginx -t`` binds no socket (measured: a listen on a port in use passes);
- files the configuration names are used where they are readable; a missing certificate, key,
  CA file or CRL is replaced by a placeholder (one self-signed EC certificate + key, a CRL of
  it), so what nginx refuses is the configuration, not the absence of secrets; a pair
  certificate/key is replaced together (else "key values mismatch" would be ours);
- the binary is run only through ``nginx.local.run_nginx`` (one home for starting nginx), with
  ``-p`` and ``-c`` of the sandbox, ``-e`` inside it (1.19.5+), bounded by a timeout; the
  prefix is removed afterwards. The system's nginx configuration is never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from mtls_doctor.nginx.parse import Config, Directive

#: directives whose first argument is a file nginx reads at -t, and the placeholder kind
FILE_ARGS = {
    "ssl_certificate": "cert", "ssl_certificate_key": "key", "ssl_client_certificate": "cert",
    "ssl_trusted_certificate": "cert", "ssl_crl": "crl", "ssl_stapling_file": "drop",
    "ssl_dhparam": "drop", "ssl_password_file": "drop", "ssl_session_ticket_key": "ticket",
    "proxy_ssl_certificate": "cert", "proxy_ssl_certificate_key": "key",
    "proxy_ssl_trusted_certificate": "cert", "proxy_ssl_crl": "crl",
    "grpc_ssl_certificate": "cert", "grpc_ssl_certificate_key": "key",
    "grpc_ssl_trusted_certificate": "cert", "grpc_ssl_crl": "crl",
    "uwsgi_ssl_certificate": "cert", "uwsgi_ssl_certificate_key": "key",
    "uwsgi_ssl_trusted_certificate": "cert", "uwsgi_ssl_crl": "crl",
    "auth_basic_user_file": "empty", "ssl_key_log": "drop",
}
PAIRS = {"ssl_certificate": "ssl_certificate_key", "proxy_ssl_certificate": "proxy_ssl_certificate_key",
         "grpc_ssl_certificate": "grpc_ssl_certificate_key", "uwsgi_ssl_certificate": "uwsgi_ssl_certificate_key"}
TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path",
              "scgi_temp_path")
DROPPED = frozenset({"user", "pid", "lock_file", "daemon", "master_process", "working_directory"})
#: nginx's own messages: "nginx: [emerg] text in /path:line"
MESSAGE = re.compile(r"^nginx: \[(\w+)\] (.*?)(?: in (\S+?):(\d+))?$")
TIMEOUT = 30.0


@dataclass(frozen=True)
class Refusal:
    level: str  # emerg, alert, crit, warn, notice
    message: str
    path: str | None
    line: int | None


@dataclass(frozen=True)
class OracleResult:
    nginx: str  # "nginx 1.22.1 (/usr/sbin/nginx)"
    ok: bool  # nginx -t accepted the configuration
    refusals: tuple[Refusal, ...] = ()
    placeholders: tuple[str, ...] = ()  # original paths that were replaced (missing here)
    #: why nginx could not be run (then ``ok`` is False and there are no refusals)
    error: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _quote(arg: str) -> str:
    if arg and not re.search(r"[\s;{}#'\"]", arg):
        return arg
    return '"' + arg.replace("\\\"", "\\\\\"").replace('"', '\\"') + '"'


class _Renderer:
    def __init__(self, config: Config, prefix: str) -> None:
        self.config = config
        self.prefix = prefix
        self.lines: list[str] = []
        self.origin: list[tuple[str, int] | None] = []
        self.placeholders: dict[str, str] = {}
        self.notes: list[str] = []
        self._pem: dict[str, str] = {}

    # -- placeholders ----------------------------------------------------------------------
    def placeholder(self, kind: str) -> str:
        if kind not in self._pem:
            self._pem.update(_placeholder_files(self.prefix))
        return self._pem[kind]

    def file_arg(self, node: Directive, siblings: tuple[Directive, ...]) -> tuple[str, ...] | None:
        kind = FILE_ARGS[node.name]
        arg = node.args[0] if node.args else ""
        if not arg or "$" in arg or arg.startswith(("data:", "engine:")):
            return node.args
        path = self.config.resolve(arg)
        partner = PAIRS.get(node.name) or next((c for c, k in PAIRS.items() if k == node.name), None)
        partner_missing = False
        if partner:
            mates = [d for d in siblings if d.name == partner and d.args and "$" not in d.args[0]]
            partner_missing = any(not _readable(self.config.resolve(d.args[0])) for d in mates)
        if _readable(path) and not partner_missing:
            return (path, *node.args[1:])
        if kind == "drop":
            self.notes.append(f"{node.name} {arg} left out (missing here)")
            return None
        self.placeholders[path] = kind
        return (self.placeholder(kind), *node.args[1:])

    # -- rendering -------------------------------------------------------------------------
    def emit(self, text: str, node: Directive | None) -> None:
        self.lines.append(text)
        self.origin.append((node.path, node.line) if node is not None else None)

    def render(self) -> str:
        p = self.prefix
        self.emit(f"pid {p}/nginx.pid;", None)
        self.emit(f"lock_file {p}/nginx.lock;", None)
        self.emit(f"error_log {p}/logs/error.log;", None)
        from mtls_doctor.nginx.parse import is_snippet

        names = {d.name for d in self.config.root}
        if "events" not in names:
            self.emit("events {}", None)
        root = self.config.root
        if is_snippet(self.config):  # conf.d snippet of server blocks: nginx reads it in http
            root = (Directive("http", (), self.config.main, 0, self.config.root),)
        stack = [(iter(root), 0, root, "main")]
        while stack:
            it, depth, siblings, parent = stack[-1]
            node = next(it, None)
            if node is None:
                stack.pop()
                if stack:
                    self.emit("    " * (depth - 1) + "}", None)
                continue
            self._one(node, depth, siblings, parent, stack)
        return "\n".join(self.lines) + "\n"

    def _one(self, node: Directive, depth: int, siblings, parent: str, stack) -> None:
        pad = "    " * depth
        if node.name in DROPPED:
            return
        args: tuple[str, ...] | None = node.args
        if node.name == "error_log":
            args = (f"{self.prefix}/logs/error.log", *node.args[1:2])
        elif node.name == "access_log" and node.args and node.args[0] != "off":
            args = (f"{self.prefix}/logs/access.log", *node.args[1:])
        elif node.name in TEMP_PATHS:
            args = (f"{self.prefix}/temp/{node.name}",)
        elif node.name in FILE_ARGS:
            args = self.file_arg(node, siblings)
            if args is None:
                return
        text = pad + " ".join([node.name, *(_quote(a) for a in args)]) if args else pad + node.name
        if node.block is None:
            self.emit(text + ";", node)
            return
        self.emit(text + " {", node if node.line else None)
        if node.name == "http":  # temp paths into the prefix unless the config sets them
            own = {d.name for d in node.block}
            for name in TEMP_PATHS:
                if name not in own:
                    self.emit(f"{pad}    {name} {self.prefix}/temp/{name};", None)
            if "access_log" not in own:
                self.emit(f"{pad}    access_log {self.prefix}/logs/access.log;", None)
        stack.append((iter(node.block), depth + 1, node.block, node.name))


def _readable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _placeholder_files(prefix: str) -> dict[str, str]:
    """One self-signed EC certificate, its key and a CRL it signs, written into the prefix."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mtls-doctor nginx -t placeholder")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), True)
            .sign(key, hashes.SHA256()))
    crl = (x509.CertificateRevocationListBuilder().issuer_name(name).last_update(now - timedelta(days=1))
           .next_update(now + timedelta(days=2)).sign(key, hashes.SHA256()))
    out = {}
    for kind, data in (("cert", cert.public_bytes(serialization.Encoding.PEM)),
                       ("key", key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())),
                       ("crl", crl.public_bytes(serialization.Encoding.PEM)),
                       ("ticket", os.urandom(80)), ("empty", b"")):
        path = os.path.join(prefix, "placeholders", f"placeholder.{kind}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        out[kind] = path
    return out


def run_oracle(config: Config, nginx: str, timeout: float = TIMEOUT) -> OracleResult:
    """Run ``nginx -t`` (the binary ``nginx``) on ``config`` in a sandbox; never raises for an
    nginx that cannot run (``OracleResult.error``)."""
    from mtls_doctor.lab.nginx import nginx_version
    from mtls_doctor.nginx.local import run_nginx

    prefix = tempfile.mkdtemp(prefix="mtls-doctor-nginx-t-")
    try:
        for sub in ("logs", "temp"):
            os.makedirs(os.path.join(prefix, sub), exist_ok=True)
        try:
            version = nginx_version(nginx)
        except Exception as exc:  # not an nginx, or it cannot run here
            return OracleResult(nginx=nginx, ok=False, error=f"cannot run {nginx}: {exc}")
        label = f"nginx {'.'.join(map(str, version))}" if version else nginx
        renderer = _Renderer(config, prefix)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(renderer.render())
        args = [nginx, "-t", "-q", "-p", prefix + "/", "-c", conf]
        if version and tuple(version) >= (1, 19, 5):
            args += ["-e", os.path.join(prefix, "logs", "error.log")]
        done = run_nginx(args, timeout=timeout)
        if done is None:
            return OracleResult(nginx=label, ok=False, error=f"{nginx} -t did not run or did not finish in {timeout:.0f} s")
        refusals = tuple(_refusals(done.stderr + done.stdout, conf, renderer, config))
        return OracleResult(nginx=label, ok=done.returncode == 0, refusals=refusals,
                            placeholders=tuple(sorted(renderer.placeholders)), notes=tuple(renderer.notes))
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def _refusals(text: str, conf: str, renderer: _Renderer, config: Config):
    for raw in text.splitlines():
        m = MESSAGE.match(raw.strip())
        if not m or m.group(2).startswith(("the configuration file", "configuration file")):
            continue
        level, message, path, line = m.group(1), m.group(2), m.group(3), m.group(4)
        where: tuple[str | None, int | None] = (config.main, None)
        if path == conf and line and 0 < int(line) <= len(renderer.origin):
            where = renderer.origin[int(line) - 1] or (config.main, None)
        if where[1] is None:
            where = _guess_place(message, config) or where
        message = message.replace(renderer.prefix + "/placeholders/", "<placeholder>/")
        message = message.replace(renderer.prefix, "<sandbox>")
        yield Refusal(level=level, message=message, path=where[0], line=where[1])


def _guess_place(message: str, config: Config) -> tuple[str, int] | None:
    """Where a message nginx prints without ``in file:line`` points: the first directive named
    in it (``no ssl_client_certificate for ssl_verify_client``) or using the variable it names
    (``unknown "x" variable``)."""
    names = re.findall(r'"([^"]+)"', message) + re.findall(r"\bfor (\w+)$", message)
    for name in names:
        for node in config.walk():
            if node.name == name or any("$" + name in a or "${" + name + "}" in a for a in node.args):
                return node.path, node.line
    return None

