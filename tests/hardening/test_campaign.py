"""Issue 11: the hostile campaign as tests, so that "no traceback, no hang, no unbounded memory,
no secret in any output" stays true.

Every area runs generated inputs through the real code: the parsers (bytes in, data out), every
command's input path (in-process ``cli.main``, the exit codes of the README: 0, 1, 2), and a
corpus of hostile servers on 127.0.0.1 (plain sockets written here, Python's ``ssl`` and
``openssl s_server``: real TLS, never mocked). A run fails on a traceback, on an "internal error"
line (the CLI's last line of defence, which only a bug reaches), on an undocumented exit code, on
a hang (a watchdog of HANG_SECONDS per run: far above any normal run, not a speed check) and on
key material in any output. ``test_campaign_figures`` prints how many inputs ran, by kind
and by outcome (0 ok, 1 finding, 2 one-line error).

Most runs call ``cli.main`` in this process (fast: no interpreter start-up per input); a fixed
sample (every ``SAMPLE_EVERY``-th run of each area, and one hostile server in five) runs again as
``python -m mtls_doctor`` in a subprocess, the way a user runs it, and must end with the same exit
code, no traceback and (for exit 2) one line: the in-process path is the CLI's path.

Profiles (``$MTLS_DOCTOR_CAMPAIGN``): ``ci`` (default: derandomized, so the same inputs every
run, bounded example counts, about a minute on two cores) and ``nightly`` (random seeds, ten
times the examples).
"""

from __future__ import annotations

import contextlib
import gc
import gzip
import io
import os
import random
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mtls_doctor.model import InputError
from tests.hardening import hostile

PROFILE = os.environ.get("MTLS_DOCTOR_CAMPAIGN", "ci")
SCALE = 10 if PROFILE == "nightly" else 1
HANG_SECONDS = 60

#: area -> inputs run; problems are assertion errors (the figures test prints the tally)
TALLY: Counter = Counter()
AREAS = ("parsers", "inspect", "verify", "lint", "logs", "diagnose", "probe-input", "argv",
         "hostile-servers", "hostile-flights", "limbo", "odd-certs")
#: every output of the campaign, scanned for key material at the end
OUTPUTS: list[str] = []
#: area -> exit code -> runs (0 ok, 1 finding, 2 one-line error)
OUTCOMES: dict[str, Counter] = {}
#: area -> runs repeated as a subprocess (``python -m mtls_doctor``)
SUBPROCESS: Counter = Counter()
SAMPLE_EVERY = 100
#: the areas whose inputs are the generated commands (the rest are parser calls)
COMMAND_AREAS = tuple(a for a in AREAS if a != "parsers")


def campaign(examples: int):
    return settings(max_examples=examples * SCALE, deadline=None, database=None,
                    derandomize=PROFILE != "nightly",
                    suppress_health_check=list(HealthCheck))


# --------------------------------------------------------------------------- the harness


class Hang(Exception):
    pass


@contextlib.contextmanager
def watchdog(seconds: int = HANG_SECONDS):
    def fire(signum, frame):
        raise Hang(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*argv: str, codes=(0, 1, 2), area: str, subprocess_too: bool | None = None) -> tuple[int, str, str]:
    """``mtls-doctor ARGV`` in this process, as ``python -m mtls_doctor`` runs it; also as a
    subprocess for the sample (``subprocess_too``; by default every SAMPLE_EVERY-th run)."""
    from mtls_doctor.cli import console as console_mod
    from mtls_doctor.cli import main

    out, err = io.StringIO(), io.StringIO()
    term, interrupt = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    console_mod.console.cache_clear()
    try:
        with watchdog(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(list(argv))
    finally:
        signal.signal(signal.SIGTERM, term)  # main() installs its signal handlers
        signal.signal(signal.SIGINT, interrupt)
        console_mod.console.cache_clear()
        gc.enable()  # lint disables the cyclic collector for its short-lived process
    stdout, stderr = out.getvalue(), err.getvalue()
    OUTPUTS.append(stdout + stderr)
    TALLY[area] += 1
    OUTCOMES.setdefault(area, Counter())[rc] += 1
    _judge(argv, rc, stdout, stderr, codes)
    if subprocess_too is None:
        subprocess_too = TALLY[area] % SAMPLE_EVERY == 1
    if subprocess_too and not any("\x00" in a for a in argv):  # a NUL cannot be in an argv
        done = subprocess.run([sys.executable, "-m", "mtls_doctor", *argv], capture_output=True,
                              text=True, errors="replace", timeout=HANG_SECONDS,
                              stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        SUBPROCESS[area] += 1
        OUTPUTS.append(done.stdout + done.stderr)
        _judge(argv, done.returncode, done.stdout, done.stderr, codes)
        assert done.returncode == rc, (argv, rc, done.returncode, done.stderr[-500:])
    return rc, stdout, stderr


def _judge(argv, rc: int, stdout: str, stderr: str, codes) -> None:
    assert "internal error" not in stderr and "Traceback" not in stderr + stdout, (argv, stderr)
    assert rc in codes, (argv, rc, stderr[-500:])
    if rc == 2:
        assert len(stderr.strip().splitlines()) <= 1, (argv, stderr)  # one clear line


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Real material to mutate: the lab PKI written once (certificates, chains, CRLs, keys,
    PKCS#12), a FIFO nobody writes to, and the key bodies the secrets scan looks for."""
    import datetime as dt

    from mtls_doctor.lab.pki import build_lab_pki

    base = tmp_path_factory.mktemp("campaign")
    pki = build_lab_pki(dt.datetime.now(dt.timezone.utc))
    pki.write(base / "lab")
    lab = base / "lab"
    fifo = base / "fifo"
    os.mkfifo(fifo)
    blobs = {p.relative_to(lab).as_posix(): p.read_bytes() for p in lab.rglob("*") if p.is_file()}
    keys = [data for name, data in blobs.items() if name.endswith(".key")]
    secrets = {line for key in keys for line in key.decode().splitlines()
               if len(line) >= 40 and "-----" not in line}
    work = base / "work"
    work.mkdir()
    return {"lab": lab, "fifo": fifo, "blobs": blobs, "secrets": secrets, "work": work}


_counter = [0]


def write(seeds, data: bytes, suffix: str = ".pem") -> str:
    _counter[0] += 1
    path = seeds["work"] / f"in{_counter[0]}{suffix}"
    path.write_bytes(data)
    return str(path)


# --------------------------------------------------------------------------- mutations


def mutations():
    """A list of edits applied in order: flip, cut, insert, duplicate, CRLF, splice junk."""
    edit = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
        st.tuples(st.just("cut"), st.integers(0, 10**6)),
        st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(max_size=24)),
        st.tuples(st.just("dup"), st.integers(0, 10**6), st.integers(0, 10**6)),
        st.tuples(st.just("crlf")),
        st.tuples(st.just("junk"), st.sampled_from([
            b"-----BEGIN CERTIFICATE-----\n", b"-----END CERTIFICATE-----\n", b"\x00" * 8,
            b"-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n", b"\xff\xfe",
            b"-----BEGIN X509 CRL-----\n", b"0\x82\xff\xff", b"=" * 5, b"\r", b"\x1f\x8b"])),
    )
    return st.lists(edit, max_size=4)


def mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for e in edits:
        n = max(1, len(out))
        if e[0] == "flip" and out:
            out[e[1] % n] ^= e[2]
        elif e[0] == "cut":
            del out[e[1] % n:]
        elif e[0] == "insert":
            out[e[1] % n:e[1] % n] = e[2]
        elif e[0] == "dup" and out:
            a, b = sorted((e[1] % n, e[2] % n))
            out[b:b] = out[a:b][:4096]
        elif e[0] == "crlf":
            out = bytearray(bytes(out).replace(b"\n", b"\r\n"))
        elif e[0] == "junk":
            out += e[1]
    return bytes(out)


def blob_names(seeds, *suffixes: str) -> list[str]:
    return sorted(n for n in seeds["blobs"] if n.endswith(suffixes))


# --------------------------------------------------------------------------- parsers (pure)


def test_parsers_never_raise_on_hostile_bytes():
    from mtls_doctor.logs.parse import parse_line
    from mtls_doctor.nginx.parse import ConfigSyntaxError, parse_text
    from mtls_doctor.pki.load import load_bytes
    from mtls_doctor.probe import wire
    from mtls_doctor.probe.target import parse_target

    @campaign(400)
    @given(st.binary(max_size=600), st.booleans())
    def wire_bytes(data, tls13):
        TALLY["parsers"] += 1
        wire.flight(data)
        wire.flight(hostile.record(22, data))
        for fn in (lambda: wire.parse_certificate_request(data, tls13),
                   lambda: wire.certificate_count(data, tls13)):
            try:
                fn()
            except wire.WireError:
                pass
        assert isinstance(wire.dn_to_rfc4514(data), str)

    @campaign(300)
    @given(st.lists(st.sampled_from(list("ab $#;{}\"'\\\n\t[]=-_") + [
        "content_by_lua_block", "set_by_lua_block", "location", "if", "include", "${", "--[[",
        "]]", "[==["]), max_size=80).map("".join))
    def config_text(text):
        TALLY["parsers"] += 1
        try:
            parse_text(text, "t.conf")
        except ConfigSyntaxError:
            pass

    @campaign(300)
    @given(st.binary(max_size=400))
    def loader(data):
        TALLY["parsers"] += 1
        load_bytes(data, "x.pem")  # documented: never raises below the size cap

    @campaign(300)
    @given(st.text(max_size=120))
    def targets(text):
        TALLY["parsers"] += 1
        try:
            parse_target(text)
        except InputError:
            pass

    @campaign(300)
    @given(st.text(max_size=300))
    def log_lines(text):
        TALLY["parsers"] += 1
        parse_line(text)

    with watchdog(600):
        for part in (wire_bytes, config_text, loader, targets, log_lines):
            part()


# --------------------------------------------------------------------------- inspect / verify


def test_inspect_mutated_certificate_files(seeds):
    names = blob_names(seeds, ".pem", ".p12", ".key")

    @campaign(450)
    @given(st.sampled_from(names), mutations(), st.sampled_from(["text", "json"]),
           st.sampled_from(["auto", "ca", "client", "any"]))
    def one(name, edits, fmt, role):
        path = write(seeds, mutate(seeds["blobs"][name], edits), Path(name).suffix)
        run_cli("inspect", path, "--format", fmt, "--role", role, "--password", "x", area="inspect")

    one()


def test_verify_mutated_clients_and_trust(seeds):
    clients = blob_names(seeds, "-chain.pem", ".p12")
    trust = blob_names(seeds, "bundles/client-ca.pem", "ca/root.pem", "bundles/client-ca-all.pem")

    @campaign(220)
    @given(st.sampled_from(clients), mutations(), st.sampled_from(trust), mutations(),
           st.integers(-1, 5), st.sampled_from(["on", "optional", "optional_no_ca"]))
    def one(client, client_edits, ca, ca_edits, depth, mode):
        c = write(seeds, mutate(seeds["blobs"][client], client_edits), Path(client).suffix)
        t = write(seeds, mutate(seeds["blobs"][ca], ca_edits))
        args = ["verify", c, "--ssl-client-certificate", t, "--ssl-verify-client", mode,
                "--password", "lab", "--format", "json"]
        if depth >= 0:
            args += ["--ssl-verify-depth", str(depth)]
        run_cli(*args, area="verify")

    one()


# --------------------------------------------------------------------------- lint / diagnose


def configs(seeds):
    """nginx configurations from a grammar: nested blocks, includes of odd files, ssl_* paths
    to real, mutated, missing and non-regular files, lua blocks, quotes and escapes."""
    lab, fifo = seeds["lab"], seeds["fifo"]
    files = st.sampled_from([str(lab / "bundles/client-ca.pem"), str(lab / "ca/inter.pem"),
                             str(lab / "crl/inter.crl.pem"), str(lab / "server/server.pem"),
                             str(lab / "server/server.key"), "/dev/zero", str(fifo),
                             "/nonexistent/x.pem", "relative/x.pem", "\"a b.pem\"", "$var"])
    simple = st.one_of(
        st.builds(lambda f: f"ssl_client_certificate {f};", files),
        st.builds(lambda f: f"ssl_trusted_certificate {f};", files),
        st.builds(lambda f: f"ssl_crl {f};", files),
        st.builds(lambda f: f"ssl_certificate {f};", files),
        st.builds(lambda f: f"ssl_certificate_key {f};", files),
        st.builds(lambda f: f"include {f};", files),
        st.sampled_from(["ssl_verify_client on;", "ssl_verify_client optional;",
                         "ssl_verify_client optional_no_ca;", "ssl_verify_client maybe;",
                         "ssl_verify_depth 0;", "ssl_verify_depth -1;", "ssl_verify_depth 99999999999;",
                         "ssl on;", "ssl_protocols TLSv1 TLSv1.3;", "listen 443 ssl;",
                         "listen [::1]:8443 ssl default_server;", "listen unix:/x ssl;",
                         "server_name a.test *.b.test ~^c;", "return 200 $ssl_client_cert;",
                         "proxy_set_header X-DN $ssl_client_s_dn;", "error_log /x info;",
                         "add_header X $ssl_client_verify;", "proxy_pass http://127.0.0.1:9;",
                         'set $a "q\\"{";', "a\\;b;", "# comment {\n",
                         "content_by_lua_block { local s = [[ } ]] -- {\n }",
                         "set $x ${host}a;", "set $y \"${a}\";",
                         "ssl_client_hello_by_lua_block { if not x then return end -- }\n }",
                         "preread_by_lua_block { local t = { [[}]] } }",
                         "include *.conf;", "ssl_stapling on;", ""]),
    )

    def block(name, inner):
        return st.builds(lambda parts: f"{name} {{\n" + "\n".join(parts) + "\n}", st.lists(inner, max_size=6))

    location = st.recursive(simple, lambda inner: st.one_of(
        block("location /", inner), block("if ($ssl_client_verify != SUCCESS)", inner)), max_leaves=8)
    server = block("server", st.one_of(simple, location))
    http = block("http", st.one_of(simple, server, server))
    stream = block("stream", st.one_of(simple, server))
    return st.builds(lambda parts, junk: "\n".join(parts) + junk,
                     st.lists(st.one_of(http, stream, simple, st.just("events {}")), max_size=4),
                     st.sampled_from(["", "}", "{", "\"", "server {", ";;"]))


def test_lint_generated_configs(seeds):
    @campaign(450)
    @given(configs(seeds), st.sampled_from(["text", "json", "sarif"]), st.booleans())
    def one(text, fmt, diff):
        path = write(seeds, text.encode(), ".conf")
        args = ["lint", path, "--format", fmt, "--nginx-version", "1.22.1"]
        run_cli(*(args + ["--diff"] if diff else args), area="lint")

    one()


def test_diagnose_generated_configs_and_logs(seeds):
    lines = st.lists(st.one_of(
        st.just("2026/11/28 01:00:00 [info] 1#1: *1 client SSL certificate verify error: "
                "(2:unable to get issuer certificate) while reading client request headers, "
                'client: 127.0.0.1, server: a, request: "GET / HTTP/1.1", host: "a"'),
        st.just("2026/11/28 01:00:00 [info] 1#1: *2 client sent no required SSL certificate while "
                'reading client request headers, client: 127.0.0.1, server: a, request: "GET /"'),
        st.text(max_size=200)), max_size=8)

    @campaign(120)
    @given(configs(seeds), lines, st.booleans())
    def one(text, log, gz):
        conf = write(seeds, text.encode(), ".conf")
        data = ("\n".join(log) + "\n").encode("utf-8", "replace")
        logf = write(seeds, gzip.compress(data)[: len(data) // 2 + 10] if gz else data, ".log")
        run_cli("diagnose", "--config", conf, "--log", logf, "--no-probe", "--format", "json",
                area="diagnose")

    one()


def test_logs_generated(seeds):
    @campaign(300)
    @given(st.binary(max_size=2000), st.sampled_from(["plain", "gz", "cut-gz"]))
    def one(data, how):
        if how == "gz":
            data = gzip.compress(data)
        elif how == "cut-gz":
            data = gzip.compress(data)[:-5]
        run_cli("logs", write(seeds, data, ".log"), "--format", "json", area="logs")

    one()


def test_probe_input_paths(seeds, monkeypatch):
    """Options and --targets files of the probe: only 127.0.0.1 (a closed port) or lines that
    cannot name a host at all, so no name is ever looked up."""
    monkeypatch.setenv("MTLS_DOCTOR_READ_TIMEOUT", "1")
    closed = _closed_port()
    line = st.sampled_from([f"127.0.0.1:{closed}", f"https://127.0.0.1:{closed}/x?y", "ftp://127.0.0.1/",
                            "127.0.0.1:0", "127.0.0.1:99999", "https://", "[::1", "# comment",
                            "", "a b c", "127.0.0.1:1 sni extra", "https://" + "x" * 64 + ".test/",
                            "\x00", "https://user@/", "127.0.0.1:%d servername" % closed])

    @campaign(40)
    @given(st.lists(line, max_size=4), st.sampled_from(["", "--no-sni"]))
    def one(lines, flag):
        path = write(seeds, "\n".join(lines).encode(), ".targets")
        args = ["probe", "--targets", path, "--timeout", "0.3", "--no-legacy"]
        run_cli(*(args + [flag] if flag else args), area="probe-input")

    one()
    lab = seeds["lab"]
    for extra in (["--cert", str(seeds["fifo"]), "--key", str(seeds["fifo"])],
                  ["--ca-file", "/dev/zero"], ["--cert", "/dev/null", "--key", "/dev/null"],
                  ["--cert", str(lab / "clients/good.pem"), "--key", str(lab / "clients/expired.key")],
                  ["--pkcs12", str(lab / "clients/good.p12"), "--password", "wrong"],
                  ["--client-ca", str(lab / "server/server.key")]):
        run_cli("probe", f"127.0.0.1:{closed}", "--timeout", "0.3", "--no-legacy", *extra,
                area="probe-input")


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_odd_command_lines(seeds, monkeypatch):
    """Every command with hostile option values: paths that are devices, FIFOs, directories or
    missing, odd numbers and times, unknown codes; never a network name (127.0.0.1 only)."""
    monkeypatch.setenv("MTLS_DOCTOR_READ_TIMEOUT", "1")
    lab = seeds["lab"]
    closed = _closed_port()
    path = st.sampled_from([str(lab / "ca/root.pem"), str(lab / "clients/good.p12"), str(lab),
                            "/dev/zero", "/dev/null", str(seeds["fifo"]), "/nonexistent", "-x", "",
                            str(lab / "server/server.key"), "a\x00b", "\udcff.pem"])
    value = st.one_of(path, st.sampled_from(["0", "-1", "1e309", "nan", "99999999999999999999", "now",
                                             "9999-12-31T23:59:59Z", "MTLS", "MTLS999", "zz", "x" * 300]))
    commands = st.sampled_from([
        ["inspect"], ["inspect", "--role"], ["inspect", "--at"], ["verify", "--ssl-client-certificate"],
        ["verify", "--ssl-verify-depth"], ["verify", "--ssl-crl"], ["verify", "--config"],
        ["lint"], ["lint", "--nginx-version"], ["lint", "--select"], ["lint", "--at"], ["logs"],
        ["rules", "--format"], ["explain"], ["lab", "list", "--format"],
        ["probe", f"127.0.0.1:{closed}", "--no-legacy", "--timeout", "0.2", "--ca-file"],
        ["probe", f"127.0.0.1:{closed}", "--no-legacy", "--timeout", "0.2", "--client-ca"],
        ["probe", f"127.0.0.1:{closed}", "--no-legacy", "--timeout", "0.2", "--servername"],
        ["probe", f"127.0.0.1:{closed}", "--no-legacy", "--timeout"],
        ["diagnose", "--no-probe", "--config", str(lab / "ca/root.pem"), "--log"],
        ["diagnose", "--no-probe", "--config"], ["diagnose", "--no-probe", "--deadline", "30", "--at"],
    ])

    @campaign(330)
    @given(commands, st.lists(value, min_size=1, max_size=2))
    def one(command, values):
        run_cli(*command, *values, area="argv")

    one()


# --------------------------------------------------------------------------- hostile servers


def _tls_server(seeds, answer):
    """A real TLS server (Python's ssl, the system OpenSSL) that completes the handshake and
    then runs ``answer(tls_conn, stop)``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(seeds["lab"] / "server/server.pem", seeds["lab"] / "server/server.key")

    def behaviour(conn, stop):
        conn.settimeout(3)
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            answer(tls, stop)
        except (ssl.SSLError, OSError):
            pass

    return behaviour


def _silent(conn, stop):
    stop.wait(5)


def _drip(conn, stop):
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x03\x40\x00")
    for _ in range(50):
        if stop.wait(0.1):
            return
        conn.sendall(b"\x02")


def _reset(conn, stop):
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _plain_http(conn, stop):
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


def _garbage(conn, stop):
    conn.recv(65536)
    conn.sendall(bytes(random.Random(7).randrange(256) for _ in range(3000)))


def _hrr(conn, stop):
    conn.recv(65536)
    ext = struct.pack(">HHH", 43, 2, 0x0304) + struct.pack(">HHH", 51, 2, 0x001D)
    body = hostile.server_hello(ext).replace(b"\x11" * 32, bytes.fromhex(
        "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"))
    conn.sendall(hostile.record(22, body) * 2)  # a second HRR: illegal
    stop.wait(2)


def _huge_record(conn, stop):
    conn.recv(65536)
    conn.sendall(b"\x16\x03\x03\xff\xff" + b"\x00" * 65535)


def _many_tiny_records(conn, stop):
    conn.recv(65536)
    sh = hostile.record(22, hostile.server_hello(b""))
    conn.sendall(b"".join(hostile.record(22, sh[5:][i:i + 1]) for i in range(len(sh) - 5)))
    stop.wait(2)


def _fatal_alert(conn, stop):
    conn.recv(65536)
    conn.sendall(hostile.record(21, b"\x02\x28"))  # fatal handshake_failure, then close


def _hello_then_reset(conn, stop):
    """Reset in the middle of the handshake: after a TLS 1.2 ServerHello, before its certificate."""
    conn.recv(65536)
    conn.sendall(hostile.record(22, hostile.server_hello(b"", 0xC02F)))
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _giant_handshake_length(conn, stop):
    """A Certificate message that announces 16 MiB and sends a few bytes: no buffering to it."""
    conn.recv(65536)
    conn.sendall(hostile.record(22, hostile.server_hello(b"", 0xC02F))
                 + hostile.record(22, b"\x0b\xff\xff\xff" + b"\x00" * 100))
    stop.wait(2)


def _sslv2_answer(conn, stop):
    conn.recv(65536)
    conn.sendall(b"\x80\x2e\x04\x00\x01\x00\x02" + b"\x00" * 45)


def _cert_flight_then_close(conn, stop):
    """A TLS 1.2 ServerHello and a Certificate message holding garbage instead of DER, then EOF."""
    conn.recv(65536)
    junk = b"\x30\x82\x01\x00" + b"\xaa" * 256
    body = (len(junk) + 3).to_bytes(3, "big") + len(junk).to_bytes(3, "big") + junk
    conn.sendall(hostile.record(22, hostile.server_hello(b"", 0xC02F))
                 + hostile.record(22, hostile.handshake(11, body)))


def _no_http_answer(tls, stop):
    tls.recv(65536)
    stop.wait(5)


def _endless_headers(tls, stop):
    tls.recv(65536)
    tls.sendall(b"HTTP/1.1 200 OK\r\n")
    for i in range(20000):
        if stop.is_set():
            return
        tls.sendall(b"X-Endless-%d: %s\r\n" % (i, b"v" * 200))


def _huge_body(tls, stop):
    tls.recv(65536)
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
    for _ in range(2000):
        if stop.is_set():
            return
        tls.sendall(b"b" * 65536)


def _nul_status(tls, stop):
    tls.recv(65536)
    tls.sendall(b"HTTP/1.1 \x00\xff\xfe 400\r\n\x00\r\n\r\n")


def _status_then_close(tls, stop):
    tls.recv(65536)
    tls.sendall(b"HTTP/1.1 400 ")


def _openssl_many_ca_names(seeds, tmp: Path, count: int = 10000):
    """``openssl s_server`` requesting a client certificate with COUNT CA names."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    parts = []
    for i in range(count):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"campaign CA {i}")])
        parts.append(x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(key.public_key()).serial_number(i + 1)
                     .not_valid_before(now - dt.timedelta(days=1))
                     .not_valid_after(now + dt.timedelta(days=9))
                     .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    ca = tmp / "many-ca.pem"
    ca.write_bytes(b"".join(parts))
    (tmp / "huge-chain.pem").write_bytes(b"".join(parts[:300]))  # a 300-certificate "chain"
    return ["-verify", "1", "-CAfile", str(ca), "-www"]


@pytest.fixture(scope="module")
def s_servers(seeds, tmp_path_factory):
    """openssl s_server processes (killed at the end): (name, port)."""
    tmp = tmp_path_factory.mktemp("s_server")
    lab = seeds["lab"]
    specs = {
        "tls12-only-no-http": ["-tls1_2", "-quiet"],
        "many-ca-names": _openssl_many_ca_names(seeds, tmp, 10000 // (1 if PROFILE == "nightly" else 4)),
        "huge-chain": ["-cert_chain", str(tmp / "huge-chain.pem"), "-www"],
        "chain-of-the-lab": ["-cert_chain", str(lab / "bundles/client-ca-all.pem"), "-www"],
    }
    procs, out = [], []
    for name, args in specs.items():
        port = _closed_port()
        proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-naccept", "100",
                                 "-cert", str(lab / "server/server.pem"), "-key", str(lab / "server/server.key"),
                                 *args], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(proc)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                out.append((name, port))
                break
            except OSError:
                time.sleep(0.05)
    yield out
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def test_hostile_server_corpus(seeds, s_servers):
    raw = [_silent, _drip, _reset, _plain_http, _garbage, _hrr, _huge_record, _many_tiny_records,
           hostile.truncated_supported_versions_then_ccs, lambda c, s: c.close(), _fatal_alert,
           _hello_then_reset, _giant_handshake_length, _sslv2_answer, _cert_flight_then_close]
    tls = [_no_http_answer, _endless_headers, _huge_body, _nul_status, _status_then_close]
    behaviours = raw + [_tls_server(seeds, t) for t in tls]
    lab = seeds["lab"]
    ident = ["--cert", str(lab / "clients/good-chain.pem"), "--key", str(lab / "clients/good.key")]
    # the servers that only ever time out get a shorter per-step timeout (the bound is what is
    # tested there, and every attempt waits for it); one server in five is also probed by a
    # subprocess (the sample)
    waiting = {_silent, _drip, behaviours[len(raw)]}
    for i, behaviour in enumerate(behaviours):
        timeout = "0.25" if behaviour in waiting else "0.5"
        with hostile.HostileServer(behaviour) as server:
            for j, extra in enumerate(([], ident, ["--insecure", *ident])):
                run_cli("probe", f"127.0.0.1:{server.port}", "--timeout", timeout, "--no-legacy",
                        "--format", "json", *extra, codes=(0, 1), area="hostile-servers",
                        subprocess_too=i % 5 == 0 and j == 1)
    empty = seeds["work"] / "empty.conf"
    empty.write_text("events {}\n")
    for behaviour in (_silent, _garbage, _hrr, hostile.truncated_supported_versions_then_ccs):
        with hostile.HostileServer(behaviour) as server:
            run_cli("diagnose", "--url", f"https://127.0.0.1:{server.port}/", "--config", str(empty),
                    "--timeout", "0.5", *ident, "--format", "json", codes=(0, 1), area="hostile-servers")
    for name, port in s_servers:
        for extra in ([], ["--insecure", *ident]):
            run_cli("probe", f"127.0.0.1:{port}", "--timeout", "2", "--no-legacy", "--format",
                    "json", *extra, codes=(0, 1), area="hostile-servers")
    assert len(s_servers) == 4, s_servers


def test_hostile_generated_flights(seeds):
    """A server answering the ClientHello with generated TLS records (valid framing, hostile
    content), then closing: every probe ends with an outcome."""
    record = st.builds(hostile.record, st.sampled_from([20, 21, 22, 23, 24, 99]),
                       st.binary(max_size=300), st.sampled_from([b"\x03\x03", b"\x03\x01", b"\x03\x04"]))
    hello = st.builds(lambda ext, suite: hostile.record(22, hostile.server_hello(ext, suite)),
                      st.binary(max_size=60), st.sampled_from([0x1301, 0x1302, 0xC02F, 0x0000, 0xFFFF]))

    @campaign(60)
    @given(st.lists(st.one_of(record, hello), min_size=1, max_size=5), st.sampled_from(["1.2", "1.3"]))
    def one(records, version):
        payload = b"".join(records)
        assume(len(payload) < 5000)

        def behaviour(conn, stop):
            conn.recv(65536)
            conn.sendall(payload)

        with hostile.HostileServer(behaviour) as server:
            run_cli("probe", f"127.0.0.1:{server.port}", "--timeout", "0.3", "--no-legacy",
                    "--tls", version, "--format", "json", codes=(0, 1), area="hostile-flights")

    one()


# --------------------------------------------------------------------------- odd but valid


LIMBO = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "x509-limbo" / "cases.json"
#: limbo cases whose certificates crashed lint's rules (tests/hardening/test_limbo_rules.py: the
#: regression tests of rules/config/server.py and ciphers.py taking them)
LIMBO_RULE_CRASHES = frozenset({
    "invalid::invalid-issuer-key", "clientauth-twin::invalid::invalid-issuer-key",
    "rfc5280::eku::ee-eku-empty", "rfc5280::san::malformed", "rfc5280::duplicate-extensions",
    "webpki::malformed-aia"})


def limbo_cases() -> list[dict]:
    import json

    if not LIMBO.is_file():
        pytest.skip(f"{LIMBO} is missing (no ../shared next to this checkout)")
    return json.loads(LIMBO.read_text())["cases"]


def limbo_files(case: dict, where: Path) -> dict[str, Path]:
    """The case's certificates as the files a user would have: the client's chain, the CA file,
    everything in one bundle, the CRLs, and a configuration naming them as nginx would."""
    where.mkdir(parents=True, exist_ok=True)
    texts = {
        "chain.pem": case["peer_certificate"] + "".join(case["untrusted_intermediates"]),
        "trust.pem": "".join(case["trusted_certs"]),
        "all.pem": case["peer_certificate"] + "".join(case["untrusted_intermediates"])
        + "".join(case["trusted_certs"]),
        "crl.pem": "".join(case["crls"]),
        "leaf.pem": case["peer_certificate"],
    }
    files = {name: where / name for name in texts}
    for name, text in texts.items():
        files[name].write_text(text)
    crl = f"ssl_crl {files['crl.pem']};" if case["crls"] else ""
    files["nginx.conf"] = where / "nginx.conf"
    files["nginx.conf"].write_text(
        "events {}\nhttp { server { listen 443 ssl; server_name a.test;\n"
        f" ssl_certificate {files['leaf.pem']}; ssl_certificate_key {files['leaf.pem']};\n"
        f" ssl_client_certificate {files['all.pem']}; ssl_trusted_certificate {files['trust.pem']};\n"
        f" ssl_verify_client on; {crl} }} }}\n")
    return files


def test_limbo_cases_through_every_command(seeds):
    """Every x509-limbo case (odd but real constructions: name constraints, policy trees, empty
    EKUs, malformed SANs, duplicate extensions, v1 CAs, huge serials) as the files of a user:
    inspect (the bundle, JSON), verify as the client and with the chain swapped in as the CA file,
    lint of a configuration naming them (certificate, CA file, trusted, CRL) and diagnose --cert.
    The verdicts are tests/verify/test_verify_limbo.py's; here only: an outcome, never a crash."""
    for i, case in enumerate(limbo_cases()):
        f = limbo_files(case, seeds["work"] / f"limbo{i}")
        at = case["validation_time"] or "now"
        crl = ["--ssl-crl", str(f["crl.pem"])] if case["crls"] else []
        run_cli("inspect", str(f["all.pem"]), area="limbo")
        run_cli("inspect", "--format", "json", str(f["chain.pem"]), str(f["trust.pem"]), area="limbo")
        run_cli("verify", str(f["chain.pem"]), "--ssl-client-certificate", str(f["trust.pem"]),
                "--at", at, *crl, area="limbo")
        run_cli("verify", str(f["trust.pem"]), "--ssl-client-certificate", str(f["chain.pem"]),
                "--at", at, "--format", "json", area="limbo")
        run_cli("lint", str(f["nginx.conf"]), area="limbo")
        run_cli("diagnose", "--config", str(f["nginx.conf"]), "--cert", str(f["chain.pem"]),
                "--no-probe", "--at", at, area="limbo")


def _odd_certificates(tmp: Path) -> dict[str, bytes]:
    """Valid but unusual certificates and containers, made here: key types (Ed25519, Ed448, DSA,
    brainpool, P-521, RSA-PSS signatures), zero and negative serials and a v1 certificate (by
    the openssl CLI: cryptography refuses to build them), UTF-8/BMPString names, an empty
    subject, 3,000 SANs; as DER, PKCS#7 (PEM and DER), PKCS#12 (no password, none at all, a
    password, legacy 3DES/RC2), PEM with CRLF, a BOM, garbage between the blocks."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
    from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(65537, 2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd root")])

    def issue(name, key, sign_key=ca_key, issuer=ca_name, pss=False, sans=1, ca=False):
        b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
             .not_valid_after(now + dt.timedelta(days=3))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
             .add_extension(x509.SubjectAlternativeName(
                 [x509.DNSName(f"h{i}.odd.test") for i in range(sans)]), critical=False))
        if pss:
            return b.sign(sign_key, hashes.SHA256(), rsa_padding=padding.PSS(
                padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH))
        return b.sign(sign_key, None if isinstance(sign_key, (ed25519.Ed25519PrivateKey,
                                                              ed448.Ed448PrivateKey)) else hashes.SHA256())

    def cn(text, tag=None):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text, *([tag] if tag else []))])

    pem = serialization.Encoding.PEM
    root = issue(ca_name, ca_key, ca=True)
    keys = {"ed25519": ed25519.Ed25519PrivateKey.generate(), "ed448": ed448.Ed448PrivateKey.generate(),
            "dsa": dsa.generate_private_key(2048), "brainpool": ec.generate_private_key(ec.BrainpoolP256R1()),
            "p521": ec.generate_private_key(ec.SECP521R1())}
    out = {"root.pem": root.public_bytes(pem)}
    for kind, key in keys.items():
        out[f"{kind}.pem"] = issue(cn(f"odd {kind}"), key).public_bytes(pem) + out["root.pem"]
    ed_root = issue(cn("ed root"), keys["ed25519"], sign_key=keys["ed25519"], issuer=cn("ed root"), ca=True)
    out["ed-root.pem"] = ed_root.public_bytes(pem)
    leaf = issue(cn("pss leaf"), keys["p521"], pss=True)
    out["pss.pem"] = leaf.public_bytes(pem)
    out["bmp.pem"] = issue(cn("bmp \u2603 \u96ea", x509.name._ASN1Type.BMPString), keys["p521"]).public_bytes(pem)
    out["utf8.pem"] = issue(cn("\u00dcn\u00efc\u00f8d\u00e9 \u202e rtl"), keys["p521"]).public_bytes(pem)
    out["empty-subject.pem"] = issue(x509.Name([]), keys["p521"]).public_bytes(pem)
    out["many-sans.pem"] = issue(cn("many sans"), keys["p521"], sans=3000).public_bytes(pem)
    out["leaf.der"] = leaf.public_bytes(serialization.Encoding.DER)
    out["bundle.p7b"] = pkcs7.serialize_certificates([leaf, root], pem)
    out["bundle.p7b.der"] = pkcs7.serialize_certificates([leaf, root], serialization.Encoding.DER)
    p12 = lambda enc: pkcs12.serialize_key_and_certificates(b"odd", keys["p521"], leaf, [root], enc)  # noqa: E731
    out["nopass.p12"] = p12(serialization.NoEncryption())
    out["pw.p12"] = p12(serialization.BestAvailableEncryption(b"campaign-pw"))
    out["legacy.p12"] = p12(serialization.PrivateFormat.PKCS12.encryption_builder().key_cert_algorithm(
        pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1()).build(b"campaign-pw"))
    body = out["root.pem"]
    out["crlf.pem"] = body.replace(b"\n", b"\r\n")
    out["bom.pem"] = b"\xef\xbb\xbf" + body
    out["garbage.pem"] = b"subject=junk\n" + out["pss.pem"] + b"\x00\xff junk\n" + body + b"trailing"
    key = tmp / "odd.key"
    for name, extra in (("serial-zero", ["-set_serial", "0"]), ("serial-negative", ["-set_serial", "-5"])):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", str(key), "-out", str(tmp / f"{name}.pem"), "-subj",
                        f"/CN={name}", "-days", "2", *extra], check=True, capture_output=True, timeout=30)
        out[f"{name}.pem"] = (tmp / f"{name}.pem").read_bytes()
    subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj", "/CN=v1 leaf", "-out",
                    str(tmp / "v1.csr")], check=True, capture_output=True, timeout=30)
    (tmp / "root.pem").write_bytes(out["root.pem"])
    (tmp / "root.key").write_bytes(ca_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    subprocess.run(["openssl", "x509", "-req", "-in", str(tmp / "v1.csr"), "-CA", str(tmp / "root.pem"),
                    "-CAkey", str(tmp / "root.key"), "-days", "2", "-set_serial", "9", "-out",
                    str(tmp / "v1.pem")], check=True, capture_output=True, timeout=30)
    out["v1.pem"] = (tmp / "v1.pem").read_bytes()
    for secret in (key, tmp / "root.key"):
        secret.unlink()
    return out


def test_odd_but_valid_certificates_through_every_command(seeds, tmp_path):
    """Every odd certificate or container as the client, as the CA file, in a configuration
    (certificate, CA file, CRL slot) and through diagnose --cert; PKCS#12 with no, a wrong and
    the right password."""
    files = {}
    for name, data in _odd_certificates(tmp_path).items():
        files[name] = tmp_path / name
        files[name].write_bytes(data)
    root = str(files["root.pem"])
    for name, path in files.items():
        p = str(path)
        run_cli("inspect", p, area="odd-certs")
        run_cli("inspect", "--format", "json", p, "--password", "campaign-pw", area="odd-certs")
        for pw in ([], ["--password", "wrong"], ["--password", "campaign-pw"]):
            run_cli("verify", p, "--ssl-client-certificate", root, *pw, area="odd-certs")
        run_cli("verify", str(files["pss.pem"]), "--ssl-client-certificate", p, area="odd-certs")
        conf = tmp_path / f"{name}.conf"
        conf.write_text("events {}\nhttp { server { listen 443 ssl; server_name h0.odd.test;\n"
                        f" ssl_certificate {p}; ssl_certificate_key {p}; ssl_client_certificate {p};\n"
                        f" ssl_verify_client on; ssl_crl {p}; }} }}\n")
        run_cli("lint", str(conf), area="odd-certs")
        run_cli("diagnose", "--config", str(conf), "--cert", p, "--no-probe", "--password",
                "campaign-pw", area="odd-certs")


# --------------------------------------------------------------------------- the figures


def test_campaign_figures(seeds, capsys):
    ran = [a for a in AREAS if TALLY[a]]
    if len(ran) < len(AREAS):
        pytest.skip(f"run the whole module for the figures (ran: {ran})")
    leaked = [s for s in seeds["secrets"] for out in OUTPUTS if s in out]
    commands = sum(TALLY[a] for a in COMMAND_AREAS)
    total = commands + TALLY["parsers"]
    outcome = Counter()
    for area in COMMAND_AREAS:
        outcome.update(OUTCOMES.get(area, Counter()))

    def split(c: Counter) -> str:
        return f"ok {c[0]} / finding {c[1]} / exit 2 {c[2]}"

    with capsys.disabled():
        print(f"\n[hardening campaign, profile {PROFILE}] {total} generated inputs: {commands} command"
              f" runs + {TALLY['parsers']} parser inputs; outcomes of the command runs: {split(outcome)}"
              f"; {sum(SUBPROCESS.values())} of them repeated as a subprocess (same exit code)")
        for area in COMMAND_AREAS:
            print(f"  {area:16} {TALLY[area]:5} runs  {split(OUTCOMES.get(area, Counter()))}"
                  f"  subprocess {SUBPROCESS[area]}")
        print(f"  0 tracebacks, 0 internal errors, 0 hangs (watchdog {HANG_SECONDS} s), every exit 2"
              f" one line; {len(OUTPUTS)} outputs scanned, {len(leaked)} key fragments found")
    assert not leaked
    assert sum(outcome.values()) == commands
    assert commands >= 2000 * SCALE and sum(SUBPROCESS.values()) >= 20
