"""One probe attempt: TCP connect, TLS handshake, one HTTP request over the same connection.

Invariants of this module (the only socket code of the project, with ``legacy.py``):
- every step has its own deadline (``ProbeConfig.timeout`` seconds): connect, handshake, and
  the HTTP exchange; so an attempt ends within about three timeouts whatever the server does;
- bytes read are capped (``MAX_SERVER_BYTES``); the TLS state machine is pyOpenSSL driven over
  memory BIOs, so this module sees every byte the server sent (for ``wire``) and never blocks
  inside OpenSSL;
- every outcome is data (``Attempt``); exceptions escape only for misuse (bad arguments);
- the server's certificate is always verified and the result recorded. When the user's own
  certificate would be sent, a failed verification aborts the handshake before the client
  Certificate goes out, unless ``insecure`` or ``send_cert_anyway`` allows it;
- "read server certificate request" in OpenSSL's state machine is the CertificateRequest
  witness; the CA names come from the message (or OpenSSL's parse of it); an absent request and
  an empty list are kept apart (F1.4, F8.2).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from mtls_doctor.probe import http
from mtls_doctor.probe.identity import ClientIdentity
from mtls_doctor.probe.model import Attempt, AttemptSpec, CertKind, Outcome, Step, VerifyError
from mtls_doctor.probe.observe import after_handshake, alert_of, classify, http_detail, ladder
from mtls_doctor.probe.tlsinfo import hostname_matches, verify_error_text

MAX_SERVER_BYTES = 2 * 1024 * 1024
SYSTEM_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
_CB_ALERT, _CB_READ, _CB_HANDSHAKE_DONE = 0x4000, 0x04, 0x20


@dataclass(frozen=True)
class ProbeConfig:
    host: str
    port: int
    path: str = "/"
    host_header: str | None = None  # default: the SNI name or the host (with the port)
    timeout: float = 3.0  # seconds, for each step
    ca_file: str | None = None  # trust for the server's certificate; None: system store
    insecure: bool = False  # the user's certificate may go to an unverified server
    send_cert_anyway: bool = False
    verify_name: str | None = None  # name checked against the server certificate
    #: "https" (an HTTP request after the handshake), "tls" (a stream server: wait for the
    #: server to close or keep the session) or "imap"/"pop3"/"smtp" (probe.starttls)
    protocol: str = "https"
    starttls: bool = False  # mail: the plaintext STARTTLS dialogue before the handshake
    #: stream targets: how long an open, silent session counts as admitted (nginx closes a
    #: rejected one within milliseconds of the handshake, F0.4)
    session_wait: float = 1.0


class _Recorder:
    """Per-connection state the OpenSSL callbacks write into (via Connection app data)."""

    def __init__(self, verify_name: str | None, abort_on_failure: bool) -> None:
        self.states: list[str] = []
        self.alerts: list[tuple[str, int, int, bool]] = []  # (direction, level, code, after)
        self.done = False
        self.verify_errors: list[VerifyError] = []
        self.verify_name = verify_name
        self.abort_on_failure = abort_on_failure
        self.aborted = False
        self.name_checked = False
        self.secrets: dict[str, bytes] = {}


def _info_cb(conn: Any, where: int, ret: int) -> None:
    rec: _Recorder = conn.get_app_data()
    if where & _CB_ALERT:
        direction = "received" if where & _CB_READ else "sent"
        rec.alerts.append((direction, (ret >> 8) & 0xFF, ret & 0xFF, rec.done))
    elif where & _CB_HANDSHAKE_DONE:
        rec.done = True
    else:
        state = conn.get_state_string().decode("ascii", "replace")
        if not rec.states or rec.states[-1] != state:
            rec.states.append(state)


def _keylog_cb(conn: Any, line: bytes) -> None:
    rec: _Recorder = conn.get_app_data()
    parts = line.split()
    if len(parts) == 3 and parts[0].endswith(b"HANDSHAKE_TRAFFIC_SECRET"):
        try:
            rec.secrets[parts[0].decode()] = bytes.fromhex(parts[2].decode())
        except ValueError:
            pass


def _verify_cb(conn: Any, cert: Any, errnum: int, depth: int, ok: int) -> bool:
    rec: _Recorder = conn.get_app_data()
    good = bool(ok)
    if not good:
        rec.verify_errors.append(VerifyError(depth, errnum, verify_error_text(errnum)))
    if depth == 0 and rec.verify_name and not rec.name_checked:
        rec.name_checked = True
        try:
            matches = hostname_matches(cert.to_cryptography(), rec.verify_name)
        except Exception:  # noqa: BLE001 - a certificate cryptography cannot read: no match
            matches = False
        if not matches:
            # X509_V_ERR_HOSTNAME_MISMATCH (62), checked here the way curl asks OpenSSL to
            rec.verify_errors.append(VerifyError(0, 62, f"hostname mismatch ({rec.verify_name})"))
    if not good or rec.verify_errors:
        if rec.abort_on_failure:
            rec.aborted = True
            return False
    return True


_CONTEXTS: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def _context(config: ProbeConfig, spec: AttemptSpec, identity: ClientIdentity | None) -> Any:
    """A pyOpenSSL client context, cached: loading a trust store costs more than a loopback
    handshake. One context per (trust, user identity): the TLS version is set per connection
    and the throwaway certificate is put on the connection, so a probe loads its trust store
    at most twice."""
    user = identity if spec.cert is CertKind.USER and identity is not None else None
    key = (config.ca_file, _fingerprints(user) if user is not None else None)
    with _LOCK:
        cached = _CONTEXTS.get(key)
        if cached is None:
            if len(_CONTEXTS) > 32:
                _CONTEXTS.clear()
            cached = _CONTEXTS[key] = _new_context(config, user)
    return cached


def _fingerprints(identity: ClientIdentity) -> tuple[bytes, ...]:
    from cryptography.hazmat.primitives import hashes

    return tuple(c.fingerprint(hashes.SHA256()) for c in (identity.cert, *identity.chain))


def _new_context(config: ProbeConfig, identity: ClientIdentity | None) -> Any:
    from OpenSSL import SSL

    from mtls_doctor.model import InputError

    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    try:
        if config.ca_file:
            from mtls_doctor.inputs import check_path

            # OpenSSL opens the file itself: a FIFO or a device would block it forever
            check_path(config.ca_file, what="--ca-file", pipe=False)
            ctx.load_verify_locations(config.ca_file)
        else:
            system = next((f for f in SYSTEM_CA_FILES if _exists(f)), None)
            if system:
                ctx.load_verify_locations(system)
            else:
                ctx.set_default_verify_paths()
    except SSL.Error:
        raise InputError(f"--ca-file {config.ca_file}: no readable CA certificate") from None
    ctx.set_verify(SSL.VERIFY_PEER, _verify_cb)
    ctx.set_info_callback(_info_cb)
    ctx.set_keylog_callback(_keylog_cb)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)  # every attempt is a full handshake
    if identity is not None:
        ctx.use_certificate(identity.cert)
        ctx.use_privatekey(identity.key)
        for extra in identity.chain:
            ctx.add_extra_chain_cert(extra)
    return ctx


def _exists(path: str) -> bool:
    import os

    return os.path.isfile(path)


class _Failure(Exception):
    """Internal: ends an attempt with an outcome (never leaves this module)."""

    def __init__(self, outcome: Outcome, step: str, error: str) -> None:
        super().__init__(error)
        self.outcome, self.step, self.error = outcome, step, error


class _Pump:
    """Moves bytes between the memory BIO and the socket, within a deadline."""

    def __init__(self, sock: socket.socket, conn: Any) -> None:
        self.sock, self.conn = sock, conn
        self.received = bytearray()
        self.sent = bytearray()
        self.eof = False
        self._eofs = 0

    def eof_seen_twice(self) -> bool:
        self._eofs += 1
        return self._eofs > 1

    def flush(self, deadline: float, step: str) -> None:
        from OpenSSL import SSL

        while True:
            try:
                data = self.conn.bio_read(65536)
            except SSL.WantReadError:
                return
            if not data:
                return
            self.sent += data
            self._sendall(data, deadline, step)

    def _sendall(self, data: bytes, deadline: float, step: str) -> None:
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Failure(Outcome.TIMEOUT, step, f"{step}: sending timed out")
            self.sock.settimeout(remaining)
            try:
                n = self.sock.send(view)
            except socket.timeout:
                raise _Failure(Outcome.TIMEOUT, step, f"{step}: sending timed out") from None
            except OSError as exc:
                raise _Failure(Outcome.CLOSED, step, f"{step}: send failed ({exc})") from None
            view = view[n:]

    def fill(self, deadline: float, step: str) -> bool:
        """Read what the server sent into the BIO; False at EOF."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failure(Outcome.TIMEOUT, step, f"{step}: no answer within the timeout")
        readable, _, _ = select.select([self.sock], [], [], remaining)
        if not readable:
            raise _Failure(Outcome.TIMEOUT, step, f"{step}: no answer within the timeout")
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except OSError as exc:
            raise _Failure(Outcome.CLOSED, step, f"{step}: receive failed ({exc})") from None
        if not data:
            self.eof = True
            self.conn.bio_shutdown()
            return False
        if len(self.received) + len(data) > MAX_SERVER_BYTES:
            raise _Failure(Outcome.TLS_ERROR, step, f"{step}: server sent more than 2 MiB")
        self.received += data
        self.conn.bio_write(data)
        return True


def attempt(
    config: ProbeConfig,
    spec: AttemptSpec,
    identity: ClientIdentity | None = None,
) -> Attempt:
    """Run one attempt. ``identity`` is the certificate offered (None for CertKind.NONE)."""
    from OpenSSL import SSL

    start = time.monotonic()
    steps: list[Step] = []
    abort = spec.cert is CertKind.USER and not (config.insecure or config.send_cert_anyway)
    rec = _Recorder(config.verify_name, abort)
    sock: socket.socket | None = None
    conn = None
    pump = None
    fields: dict[str, Any] = {}
    try:
        t = time.monotonic()
        try:
            sock = _connect(config.host, config.port, config.timeout)
        except socket.timeout as exc:
            what = str(exc) if str(exc).startswith("name lookup") else "TCP connect timed out"
            raise _Failure(Outcome.TIMEOUT, "tcp", f"{what} after {config.timeout}s") from None
        except OSError as exc:
            raise _Failure(Outcome.CONNECT_FAILED, "tcp", f"TCP connect failed: {exc.strerror or exc}") from None
        steps.append(Step("tcp", True, f"connected to {config.host}:{config.port}", _ms(t)))
        if config.starttls:
            from mtls_doctor.probe import starttls as st

            t = time.monotonic()
            try:
                said = st.starttls(sock, config.protocol, config.timeout)
            except st.StartTlsError as exc:
                raise _Failure(Outcome.STARTTLS_FAILED, "starttls", str(exc)) from None
            steps.append(Step("starttls", True, f"{config.protocol.upper()} STARTTLS: {said[:60]}",
                              _ms(t)))
        conn = SSL.Connection(_context(config, spec, identity), None)
        conn.set_app_data(rec)
        if spec.tls == "1.2":
            conn.set_options(SSL.OP_NO_TLSv1_3)
        elif spec.tls == "1.3":
            conn.set_options(SSL.OP_NO_TLSv1_2)
        if spec.cert is not CertKind.USER and identity is not None:
            conn.use_certificate(identity.cert)  # the throwaway: no chain, per connection
            conn.use_privatekey(identity.key)
        conn.set_connect_state()
        if spec.sni:
            conn.set_tlsext_host_name(spec.sni.encode("idna"))
        pump = _Pump(sock, conn)
        t = time.monotonic()
        _handshake(conn, pump, time.monotonic() + config.timeout)
        fields.update(after_handshake(conn, pump, rec, spec, identity))
        steps.extend(ladder(fields, rec, spec, done=True, ms=_ms(t)))
        t = time.monotonic()
        if config.protocol == "https":
            answer = _exchange(conn, pump, config, spec, time.monotonic() + config.timeout)
            fields["http"] = answer
            steps.append(Step("http", True, http_detail(answer), _ms(t)))
            outcome = Outcome.HTTP_ANSWER
        elif config.protocol == "tls":
            outcome, detail = _session(conn, pump, time.monotonic() + config.session_wait)
            steps.append(Step("session", True, detail, _ms(t)))
        else:
            fields["app"] = _mail_reply(conn, pump, config, time.monotonic() + config.timeout)
            steps.append(Step(config.protocol, True, f"{fields['app'].line!r} "
                              f"({fields['app'].verdict})", _ms(t)))
            outcome = Outcome.APP_ANSWER
        failed_step = error = None
    except (_Failure, SSL.Error, OSError, ValueError) as exc:  # ValueError: e.g. a bad SNI
        failure = exc if isinstance(exc, _Failure) else _Failure(
            Outcome.TLS_ERROR, "handshake" if "version" not in fields else "http",
            f"unexpected TLS/socket error: {_err(exc)}")
        outcome, failed_step, error = failure.outcome, failure.step, failure.error
        if conn is not None and pump is not None and "version" not in fields:
            fields.update(after_handshake(conn, pump, rec, spec, identity))
            steps.extend(ladder(fields, rec, spec, done=False, ms=None))
        outcome, error = classify(outcome, failed_step, error, rec, pump)
        steps.append(Step(failed_step, False, error))
    finally:
        if sock is not None:
            sock.close()
    alert = alert_of(rec)
    return Attempt(
        spec=spec,
        outcome=outcome,
        steps=tuple(steps),
        failed_step=failed_step,
        error=error,
        alert=alert,
        elapsed_ms=_ms(start),
        **fields,
    )


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """TCP connect where the name lookup is bounded too (getaddrinfo itself has no timeout: it
    runs on a daemon thread that is abandoned when the deadline passes)."""
    deadline = time.monotonic() + timeout
    box: list = []

    def lookup() -> None:
        try:
            box.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            box.append(exc)
        except (UnicodeError, ValueError) as exc:  # the IDNA codec: "label too long", "empty label"
            box.append(OSError(f"cannot look up {host!r}: {exc}"))

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    if not box:
        raise socket.timeout(f"name lookup of {host} timed out")
    if isinstance(box[0], OSError):
        raise box[0]
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in box[0]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("connect timed out")
        sock = socket.socket(family, kind, proto)
        sock.settimeout(remaining)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _ms(t: float) -> float:
    return round((time.monotonic() - t) * 1000, 2)


def _handshake(conn: Any, pump: _Pump, deadline: float) -> None:
    from OpenSSL import SSL

    while True:
        try:
            conn.do_handshake()
            pump.flush(deadline, "handshake")
            return
        except SSL.WantReadError:
            pump.flush(deadline, "handshake")
            if not pump.fill(deadline, "handshake") and pump.eof_seen_twice():
                raise _Failure(Outcome.TLS_ERROR, "handshake", "the server closed the connection")
        except SSL.Error as exc:
            try:
                pump.flush(deadline, "handshake")  # our alert, if any
            except _Failure:
                pass
            raise _Failure(Outcome.TLS_ERROR, "handshake", f"handshake failed: {_err(exc)}") from None


def _exchange(conn: Any, pump: _Pump, config: ProbeConfig, spec: AttemptSpec, deadline: float):
    from OpenSSL import SSL

    host = config.host_header or _default_host(config, spec)
    try:
        conn.sendall(http.build_request(host, config.path))
    except SSL.Error as exc:
        raise _Failure(Outcome.TLS_ERROR, "http", f"cannot send the request: {_err(exc)}") from None
    pump.flush(deadline, "http")
    data = bytearray()
    while len(data) < http.MAX_ANSWER and not http.answer_complete(bytes(data)):
        try:
            data += conn.recv(65536)
        except SSL.WantReadError:
            pump.flush(deadline, "http")
            try:
                pump.fill(deadline, "http")
            except _Failure:
                if http.parse_answer(bytes(data)):
                    break  # a status line and headers came; the body is cut short
                raise
        except SSL.ZeroReturnError:
            break
        except SSL.SysCallError:
            break  # EOF without close_notify
        except SSL.Error as exc:
            pump.flush(deadline, "http")
            raise _Failure(Outcome.TLS_ERROR, "http", f"after the handshake: {_err(exc)}") from None
    answer = http.parse_answer(bytes(data))
    if answer is None:
        if not data:
            raise _Failure(Outcome.CLOSED, "http", "the server closed the connection without an answer")
        raise _Failure(Outcome.NO_HTTP_ANSWER, "http", "the answer is not HTTP")
    return answer


def _read_some(conn: Any, pump: _Pump, deadline: float, want: bytes | None) -> tuple[bytes, str]:
    """Application data until ``want`` is seen (None: any byte), EOF or ``deadline``;
    (data, "eof" | "data" | "wait")."""
    from OpenSSL import SSL

    data = bytearray()
    while len(data) < MAX_APP:
        try:
            data += conn.recv(4096)
            if want is None or want in data:
                return bytes(data), "data"
        except SSL.WantReadError:
            pump.flush(deadline, "session")
            if time.monotonic() >= deadline:
                return bytes(data), "wait"
            try:
                if not pump.fill(deadline, "session"):
                    return bytes(data), "eof"
            except _Failure as exc:
                if exc.outcome is Outcome.TIMEOUT:
                    return bytes(data), "wait"
                return bytes(data), "eof"
        except (SSL.ZeroReturnError, SSL.SysCallError):
            return bytes(data), "eof"
        except SSL.Error as exc:
            raise _Failure(Outcome.TLS_ERROR, "session", f"after the handshake: {_err(exc)}") from None
    return bytes(data), "data"


MAX_APP = 16384


def _session(conn: Any, pump: _Pump, deadline: float) -> tuple[Outcome, str]:
    """A stream target: does the server close right after the handshake (nginx's rejection,
    F0.4) or keep the session (admitted)?"""
    data, how = _read_some(conn, pump, deadline, None)
    if how == "eof" and not data:
        raise _Failure(Outcome.CLOSED, "session",
                       "the server closed the connection right after the handshake")
    if data:
        return Outcome.SESSION_OPEN, f"the server sent {len(data)} bytes of application data"
    return Outcome.SESSION_OPEN, "the session stayed open (the server waits for the client)"


def _mail_reply(conn: Any, pump: _Pump, config: ProbeConfig, deadline: float):
    """A mail target: the first line after the handshake (after STARTTLS, the answer to the
    next command: the server speaks first only on implicit TLS)."""
    from OpenSSL import SSL

    from mtls_doctor.probe import starttls as st

    if config.starttls:
        # nginx sends its rejection right after the handshake; an admitted client speaks first
        early, how = _read_some(conn, pump, min(deadline, time.monotonic() + 0.3), b"\n")
        if not early and how != "eof":
            try:
                conn.sendall(st.AFTER_STARTTLS[config.protocol])
                pump.flush(deadline, "session")
            except SSL.Error:
                pass
            early, how = _read_some(conn, pump, deadline, b"\n")
    else:
        early, how = _read_some(conn, pump, deadline, b"\n")
    if not early:
        raise _Failure(Outcome.CLOSED if how == "eof" else Outcome.TIMEOUT, "session",
                       "the server closed the connection after the handshake without a reply"
                       if how == "eof" else "no reply after the handshake")
    line = early.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")[:200]
    return st.AppAnswer(config.protocol, line, st.classify_reply(config.protocol, line))


def _default_host(config: ProbeConfig, spec: AttemptSpec) -> str:
    name = spec.sni or config.verify_name or config.host
    if ":" in name:
        name = f"[{name}]"
    return name if config.port == 443 else f"{name}:{config.port}"


def _err(exc: Exception) -> str:
    args = exc.args[0] if exc.args else None
    if isinstance(args, list) and args:
        return "; ".join(str(item[-1]) for item in args if item)
    return str(exc) or type(exc).__name__
