"""A real OCSP responder on 127.0.0.1 for the lab: ``openssl ocsp`` answers, loopback only.

``openssl ocsp -index ... -port N`` binds every interface (``-port`` takes a number only, OpenSSL
3.0 and 3.5), which the lab must not do. So the listening socket is a small HTTP server bound to
127.0.0.1 in this process, and every OCSP request it receives (GET ``/<base64 DER>`` as nginx
sends it, or POST) is answered by ``openssl ocsp -index INDEX -CA CA -rsigner CA -rkey KEY
-reqin REQ -respout RESP``: the very responder code of ``openssl ocsp -port``, run once per
request, so the answers (good, revoked, unknown) come from OpenSSL, not from this project.

Each issuing CA has its own index (the OpenSSL CA database format: ``V``/``R`` rows), and the
request's issuer key hash picks it, so one responder answers for the leaf's CA and for the
intermediate's (``ssl_ocsp on`` checks the whole chain but the root, ``leaf`` only the leaf).
A serial missing from its CA's index is answered ``unknown``; an issuer no CA matches too.

Invariants: binds 127.0.0.1 only; every ``openssl`` run has a timeout (10 s); the server thread
and its sockets are stopped on ``stop()``/``__exit__`` whatever happened; the key files live in
a private temporary directory (0600) removed on stop. ``unreachable_url()`` names a loopback
port nothing listens on (the "responder down" case). ``requests`` counts what nginx asked.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping, Sequence
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from mtls_doctor.pki.issue import CA, Leaf, key_pem, name, new_key, pem

__all__ = ["OcspCA", "OcspResponder", "OcspLabPKI", "build_ocsp_pki", "unreachable_url",
           "STATUSES"]

#: what the responder says about a serial: "good" (V row), "revoked" (R row); a serial without a
#: row is answered "unknown" by openssl ocsp
STATUSES = ("good", "revoked", "unknown")
_OPENSSL_TIMEOUT = 10.0


@dataclass(frozen=True)
class OcspCA:
    """One issuing CA the responder speaks for, and the status of each serial it issued."""

    ca: CA
    statuses: Mapping[int, str] = field(default_factory=dict)  # serial -> "good" | "revoked"


def _serial_hex(serial: int) -> str:
    text = f"{serial:X}"
    return text if len(text) % 2 == 0 else "0" + text  # BN_bn2hex: whole bytes, upper case


def _index_text(statuses: Mapping[int, str], at: datetime) -> str:
    """The OpenSSL CA database rows (``openssl ca``'s index.txt) for ``statuses``."""
    expiry = (at + timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
    revoked = (at - timedelta(days=1)).strftime("%y%m%d%H%M%SZ")
    rows = []
    for serial, status in statuses.items():
        if status == "good":
            rows.append(f"V\t{expiry}\t\t{_serial_hex(serial)}\tunknown\t/CN={_serial_hex(serial)}")
        elif status == "revoked":
            rows.append(f"R\t{expiry}\t{revoked},keyCompromise\t{_serial_hex(serial)}\tunknown\t/CN={_serial_hex(serial)}")
        elif status != "unknown":
            raise ValueError(f"OCSP status must be one of {STATUSES}, not {status!r}")
    return "".join(row + "\n" for row in rows)


def unreachable_url() -> str:
    """``http://127.0.0.1:PORT/`` where PORT was free a moment ago and nothing listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class OcspResponder:
    """``openssl ocsp`` behind a loopback HTTP listener; a context manager (see module doc)."""

    def __init__(self, cas: Sequence[OcspCA] = (), *, at: datetime | None = None,
                 openssl: str = "openssl") -> None:
        self._cas = list(cas)
        self._at = at or datetime.now(timezone.utc)
        self._openssl = openssl
        self._dir: Path | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._by_key_hash: dict[bytes, Path] = {}
        self._fallback: Path | None = None
        self._lock = threading.Lock()
        self.requests = 0
        self.failures: list[str] = []

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the responder is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> "OcspResponder":
        try:
            self._dir = Path(tempfile.mkdtemp(prefix="mtls-doctor-ocsp-"))
            self.set_cas(self._cas)
            responder = self

            class Handler(BaseHTTPRequestHandler):
                protocol_version = "HTTP/1.0"

                def log_message(self, *args: object) -> None:  # quiet: tests read .requests
                    pass

                def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                    text = unquote(self.path.lstrip("/"))
                    try:
                        der = base64.b64decode(text, validate=False)
                    except ValueError:
                        der = b""
                    self._answer(der)

                def do_POST(self) -> None:  # noqa: N802
                    length = min(int(self.headers.get("Content-Length") or 0), 65536)
                    self._answer(self.rfile.read(length))

                def _answer(self, der: bytes) -> None:
                    body = responder._respond(der)
                    if body is None:
                        self.send_response(500)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/ocsp-response")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self._server.daemon_threads = True
            self._server.timeout = 1.0
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.1}, daemon=True,
                                            name="lab-ocsp-responder")
            self._thread.start()
            return self
        except BaseException:
            self.stop()
            raise

    def set_cas(self, cas: Sequence[OcspCA]) -> None:
        """Speak for ``cas`` from now on (their indexes replace the previous ones); the PKI can
        be issued after ``start()``, once ``url`` is known for the certificates' AIA."""
        if self._dir is None:
            raise RuntimeError("the responder is not started")
        by_key_hash: dict[bytes, Path] = {}
        generation = len(list(self._dir.iterdir()))
        for i, entry in enumerate(cas):
            folder = self._dir / f"g{generation}-ca{i}"
            folder.mkdir(mode=0o700)
            _write(folder / "ca.pem", pem(entry.ca.cert))
            _write(folder / "ca.key", key_pem(entry.ca.key))
            _write(folder / "index.txt", _index_text(entry.statuses, self._at).encode())
            # the issuerKeyHash of a CertID hashes the subjectPublicKey BIT STRING contents
            for algorithm in (hashes.SHA1(), hashes.SHA256()):
                by_key_hash[_key_hash(entry.ca.cert, algorithm)] = folder
        with self._lock:
            self._cas = list(cas)
            self._by_key_hash = by_key_hash
            self._fallback = next(iter(by_key_hash.values()), None)

    def _respond(self, der: bytes) -> bytes | None:
        with self._lock:
            self.requests += 1
            by_key_hash, fallback = self._by_key_hash, self._fallback
        try:
            request = ocsp.load_der_ocsp_request(der)
        except ValueError as exc:
            self.failures.append(f"not an OCSP request: {exc}")
            return None
        # an issuer no CA matches: openssl ocsp answers unknown for it
        folder = by_key_hash.get(request.issuer_key_hash, fallback)
        if folder is None:
            self.failures.append("the responder speaks for no CA yet")
            return None
        work = Path(tempfile.mkdtemp(dir=self._dir))
        try:
            (work / "req.der").write_bytes(der)
            argv = [self._openssl, "ocsp", "-index", str(folder / "index.txt"),
                    "-CA", str(folder / "ca.pem"), "-rsigner", str(folder / "ca.pem"),
                    "-rkey", str(folder / "ca.key"), "-ndays", "1",
                    "-reqin", str(work / "req.der"), "-respout", str(work / "resp.der")]
            run = subprocess.run(argv, capture_output=True, timeout=_OPENSSL_TIMEOUT,
                                 check=False, stdin=subprocess.DEVNULL, cwd=work)
            out = work / "resp.der"
            if run.returncode != 0 or not out.is_file():
                self.failures.append(run.stderr.decode(errors="replace")[-300:])
                return None
            return out.read_bytes()
        except (OSError, subprocess.SubprocessError) as exc:
            self.failures.append(str(exc))
            return None
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> "OcspResponder":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _key_hash(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    """issuerKeyHash of RFC 6960: the hash of the issuer's subjectPublicKey bits."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        bits = key.public_bytes(serialization.Encoding.X962,
                                serialization.PublicFormat.UncompressedPoint)
    else:
        bits = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    digest = hashes.Hash(algorithm)
    digest.update(bits)
    return digest.finalize()


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@dataclass(frozen=True)
class OcspLabPKI:
    """root -> "inter" (the client CA) -> leaves; each leaf named after its OCSP status.

    ``leaves``: name -> Leaf: "good", "revoked", "unknown" (not in the index) carry an AIA
    OCSP URL (``aia_url``); "no-aia" has none; "aia-name" names the responder by host name
    (``http://localhost:PORT/``, which nginx must resolve). ``inter_status``: what the root's
    index says about the intermediate (``ssl_ocsp on`` asks about it too).
    """

    root: CA
    inter: CA
    leaves: Mapping[str, Leaf]
    aia_url: str | None

    def responder_cas(self, inter_status: str = "good") -> list[OcspCA]:
        statuses = {}
        for label, leaf in self.leaves.items():
            if label in ("good", "no-aia", "aia-name"):
                statuses[leaf.cert.serial_number] = "good"
            elif label == "revoked":
                statuses[leaf.cert.serial_number] = "revoked"
        root_rows = {} if inter_status == "unknown" else {self.inter.cert.serial_number: inter_status}
        return [OcspCA(self.inter, statuses), OcspCA(self.root, root_rows)]


def _leaf(issuer: CA, common_name: str, at: datetime, aia: str | None) -> Leaf:
    key = new_key(issuer.key_type)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(at - timedelta(days=1))
        .not_valid_after(at + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key()), critical=False)
    )
    if aia is not None:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(aia))]),
            critical=False)
    return Leaf(builder.sign(issuer.key, hashes.SHA256()), key)


def build_ocsp_pki(at: datetime, aia_url: str | None, *, aia_name_url: str | None = None) -> OcspLabPKI:
    """The OCSP lab PKI (in memory). ``aia_url``: the responder URL written into the AIA of
    "good", "revoked" and "unknown" (None: no AIA at all); ``aia_name_url``: the URL of
    "aia-name" (default: ``aia_url`` with ``localhost`` for 127.0.0.1)."""
    root = CA.new("mtls-doctor ocsp lab root", at=at)
    inter_key_url = aia_url
    inter = root.child_ca("mtls-doctor ocsp lab client CA", at=at)
    if inter_key_url is not None:
        # the intermediate names the same responder (ssl_ocsp on asks about it too)
        inter = _with_aia(root, inter, inter_key_url, at)
    leaves = {label: _leaf(inter, f"ocsp {label}", at, aia_url)
              for label in ("good", "revoked", "unknown")}
    leaves["no-aia"] = _leaf(inter, "ocsp no-aia", at, None)
    if aia_url is not None:
        leaves["aia-name"] = _leaf(inter, "ocsp aia-name", at,
                                   aia_name_url or aia_url.replace("127.0.0.1", "localhost"))
    return OcspLabPKI(root, inter, leaves, aia_url)


def _with_aia(root: CA, inter: CA, url: str, at: datetime) -> CA:
    """``inter`` re-signed by ``root`` with an AIA OCSP URL (same key and subject)."""
    cert = inter.cert
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(cert.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url))]), critical=False)
    return CA(builder.sign(root.key, hashes.SHA256()), inter.key)
