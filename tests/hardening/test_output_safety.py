"""Round 2 hardening: what a hostile input can do to the terminal and to stderr.

- A certificate subject is attacker data: a hostile server (or a bundle you were handed) can put
  ESC sequences in its CN (``ESC [2J`` clears the screen, ``ESC ]0;`` retitles the terminal) or a
  bidi override (U+202E) that reverses what is shown. nginx escapes them in ``$ssl_client_s_dn``;
  every human-readable output of mtls-doctor (text, markdown, html, the one-line errors) shows
  each as one visible character (``report.safe``). Field pattern: terminal escape injection
  through certificate fields, e.g. https://github.com/openssl/openssl/issues/14327 (names printed
  unescaped) and CVE-2021-3449-era s_client output hardening; inputs here are our own.
- A terminal that cannot encode a subject's characters (``PYTHONIOENCODING=ascii``, a latin-1
  locale) gets them escaped, not a UnicodeEncodeError ("internal error", exit 2).
- A certificate with a zero or negative serial (OpenSSL and nginx take it, RFC 5280 forbids it)
  must not make cryptography's deprecation warning appear on stderr (two extra lines, and an
  exit-2 error would no longer be one line).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import subprocess
import sys
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mtls_doctor.report.safe import terminal_safe
from tests.hardening.conftest import ENV, clean, cli

HOSTILE_CN = "evil\x1b[2J\x1b]0;owned\x07\u202emoc.live\x9b31m"
CONTROLS = ("\x1b", "\u202e", "\x9b", "\x07")


def _self_signed(path, cn: str, san: str = "localhost"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
            .sign(key, hashes.SHA256()))
    path.with_suffix(".pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path.with_suffix(".pem"), path.with_suffix(".key")


def _no_controls(*texts: str) -> None:
    for text in texts:
        assert not any(c in text for c in CONTROLS), repr(text[:2000])


def test_terminal_safe_is_one_character_for_one():
    assert terminal_safe("plain\tline\n") == "plain\tline\n"
    safe = terminal_safe(HOSTILE_CN)
    assert len(safe) == len(HOSTILE_CN) and not any(c in safe for c in CONTROLS)
    assert "\u241b" in safe  # ESC shown as its control picture


def test_hostile_subject_and_file_name_are_escaped_everywhere(tmp_path):
    pem, _ = _self_signed(tmp_path / "hostile", HOSTILE_CN)
    for args in (("inspect", str(pem)), ("verify", str(pem), "--ssl-client-certificate", str(pem)),
                 ("diagnose", "--cert", str(pem), "--no-probe", "--config", str(tmp_path / "none.conf"),
                  "--format", "markdown"),
                 ("diagnose", "--cert", str(pem), "--no-probe", "--config", str(tmp_path / "none.conf"),
                  "--format", "html")):
        (tmp_path / "none.conf").write_text("events {}\n")
        proc = cli(*args)
        clean(proc, 0, 1)
        if args[0] != "diagnose":
            assert "evil" in proc.stdout, (args, proc.stdout[-1000:])
        _no_controls(proc.stdout, proc.stderr)
    named = tmp_path / "x\x1b[2Jy.pem"
    named.write_bytes(b"not a certificate\n")
    proc = cli("inspect", str(named))
    clean(proc, 2)
    assert "x\u241b[2Jy" in proc.stderr
    _no_controls(proc.stderr)


def test_probe_of_a_server_whose_certificate_subject_is_hostile(tmp_path):
    """A real TLS server on 127.0.0.1 (Python's ssl) presenting that certificate: probe's text
    report names its subject, escaped."""
    pem, key = _self_signed(tmp_path / "server", HOSTILE_CN)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(2)
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(4096)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            except (OSError, ssl.SSLError):
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        proc = cli("probe", f"https://localhost:{port}/", "--insecure", "--timeout", "3", timeout=90)
    finally:
        stop.set()
        thread.join(5)
        listener.close()
    clean(proc, 0, 1)
    assert "evil" in proc.stdout, proc.stdout[-2000:]
    _no_controls(proc.stdout, proc.stderr)


def test_a_terminal_that_cannot_encode_the_subject(tmp_path):
    pem, _ = _self_signed(tmp_path / "utf8", "Ünïcødé ☃ 雪")
    for encoding in ("ascii", "latin-1"):
        proc = subprocess.run([sys.executable, "-m", "mtls_doctor", "inspect", str(pem)],
                              capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
                              env={**ENV, "PYTHONIOENCODING": encoding, "LC_ALL": "C", "LANG": "C"})
        out, err = proc.stdout.decode(encoding), proc.stderr.decode(encoding)
        assert proc.returncode in (0, 1), (encoding, err)
        assert "internal error" not in err and "Traceback" not in err
        assert "\\u2603" in out or "\\xdc" in out or "Ünïcødé" in out


def test_zero_and_negative_serials_leave_stderr_empty(tmp_path):
    key = tmp_path / "k.pem"
    for serial in ("0", "-5"):
        pem = tmp_path / f"s{serial}.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", str(key), "-out", str(pem), "-subj", "/CN=serial",
                        "-days", "2", "-set_serial", serial], check=True, capture_output=True, timeout=30)
        conf = tmp_path / "nginx.conf"
        conf.write_text("events {}\n")
        for args in (("inspect", str(pem)), ("verify", str(pem), "--ssl-client-certificate", str(pem)),
                     ("diagnose", "--cert", str(pem), "--no-probe", "--config", str(conf))):
            proc = cli(*args)
            clean(proc, 0, 1)
            assert proc.stderr == "", (args, proc.stderr)
    os.unlink(key)
