"""Benchmark: the cost of a large CA bundle named by a configuration (issue 11 #9), and its
growth with the number of certificates (1k / 5k / 10k / 20k): linear means the time ratio
follows the size ratio.

Bundle shapes, each a hostile case for a subject map or a chain walk:
- ``roots``: N self-issued CA certificates with distinct subjects (a big corporate bundle);
- ``renewals``: N CA certificates sharing one subject (every renewal of one CA kept);
- ``chain``: certificate i issued by certificate i-1 (one N-deep chain of CAs).

What is timed, each a fresh process as a user runs it (start-up included), wall time and peak
RSS (``wait4``), median of --repeat runs:
- ``mtls-doctor lint --format json`` of a configuration whose server names the bundle in
  ``ssl_client_certificate`` (files opened: the bundle is parsed, MTLS208 lists its names,
  F3.2 depth is walked);
- what a user would otherwise run on the same files: ``nginx -t`` on the same configuration
  (nginx loads the bundle with OpenSSL), ``openssl crl2pkcs7 -nocrl -certfile B | openssl
  pkcs7 -print_certs -noout`` (lists every subject and issuer) and ``grep -c``.

Prints a markdown section to stdout (the numbers, ratios 1k -> 5k -> 10k -> 20k, and a
"linear factor" = time ratio / size ratio after subtracting the process start-up measured with
a 1-certificate bundle; 1.0 is linear, 2.0 at 2x the size would be quadratic).

    .venv/bin/python bench/bench_bundle_scaling.py [--sizes 1000,5000,10000,20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MTLS = [str(ROOT / ".venv" / "bin" / "mtls-doctor"), "lint", "--nginx-version", "1.22.1",
        "--format", "json"]
SHAPES = ("roots", "renewals", "chain")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TIME = "/usr/bin/time"  # GNU time (Debian package time): the peak RSS of the command itself


def run(cmd: list[str] | str, repeat: int, shell: bool = False) -> tuple[float, float, float, int]:
    """(median CPU seconds, median wall seconds, max peak RSS MiB, exit code), from GNU time
    (``%U + %S`` of the command and its children, ``%M`` of the command itself: ``wait4`` of a
    child forked from this Python process would report this process's own RSS for small tools).
    CPU time is the measure of growth: on a shared machine wall time follows the load."""
    cpus, walls, peaks, rc = [], [], [], 0
    argv = ["sh", "-c", cmd] if shell else list(cmd)
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
            start = time.perf_counter()
            proc = subprocess.run([TIME, "-f", "T %U %S %M", "-o", report.name, *argv], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, check=False)
            walls.append(time.perf_counter() - start)
            rc = proc.returncode
            fields = [ln.split() for ln in Path(report.name).read_text().splitlines() if ln.startswith("T ")][-1]
            cpus.append(float(fields[1]) + float(fields[2]))
            peaks.append(int(fields[3]) / 1024)
    return statistics.median(cpus), statistics.median(walls), max(peaks), rc


def bundle(n: int, shape: str) -> bytes:
    """N CA certificates of ``shape`` (one EC key for all: generation stays fast)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    out = []

    def name(i: int) -> x509.Name:
        cn = "bench renewed CA" if shape == "renewals" else f"bench CA {i}"
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    for i in range(n):
        subject = name(i)
        issuer = name(i - 1) if shape == "chain" and i else subject
        out.append(x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(i + 1)
                   .not_valid_before(now - dt.timedelta(days=1, seconds=i))
                   .not_valid_after(now + dt.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def server_pair(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench.example.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("bench.example.test")]), critical=False)
            .sign(key, hashes.SHA256()))
    (tmp / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(tmp / "server.key", 0o600)
    return tmp / "server.pem", tmp / "server.key"


def config(tmp: Path, ca: Path, servers: int = 1) -> Path:
    cert, key = tmp / "server.pem", tmp / "server.key"
    blocks = "".join(
        f"    server {{\n        listen 127.0.0.1:{18443 + i % 50} ssl;\n"
        f"        server_name b{i}.example.test;\n"
        f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n"
        f"        ssl_verify_client on;\n        ssl_client_certificate {ca};\n    }}\n"
        for i in range(servers))
    conf = tmp / f"{ca.stem}-{servers}.conf"
    conf.write_text(f"pid {tmp}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n"
                    f"    access_log off;\n{blocks}}}\n")
    return conf


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,10000,20000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--anchor-repeat", type=int, default=1,
                    help="runs of nginx -t / openssl / grep (nginx -t alone takes minutes at 20k)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    tools = ("mtls-doctor lint", "nginx -t", "openssl pkcs7 -print_certs", "grep -c")
    rows: dict[tuple[str, int, str], tuple[float, float, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as name:
        tmp = Path(name)
        server_pair(tmp)
        for shape in shapes:
            for n in [1, *sizes]:
                ca = tmp / f"{shape}-{n}.pem"
                ca.write_bytes(bundle(n, shape))
                conf = config(tmp, ca)
                cmds = {
                    "mtls-doctor lint": (MTLS + [str(conf)], False),
                    "nginx -t": ([NGINX, "-t", "-q", "-p", str(tmp), "-e", "/dev/null", "-c", str(conf)], False),
                    "openssl pkcs7 -print_certs":
                        (f"openssl crl2pkcs7 -nocrl -certfile {ca} | openssl pkcs7 -print_certs -noout", True),
                    "grep -c": (["grep", "-c", "BEGIN CERTIFICATE", str(ca)], False),
                }
                for tool, (cmd, shell) in cmds.items():
                    if shape != shapes[0] and tool in tools[2:]:
                        continue  # openssl and grep do the same work whatever the shape
                    rows[(shape, n, tool)] = run(cmd, args.repeat if tool == tools[0] else args.anchor_repeat, shell)
                    print(f"# {shape} {n} {tool}: cpu {rows[(shape, n, tool)][0]:.3f} s wall "
                          f"{rows[(shape, n, tool)][1]:.3f} s rc {rows[(shape, n, tool)][3]}", file=sys.stderr)
        many = {}
        if "roots" in shapes and 10000 in sizes:  # one bundle named by many servers
            for servers in (10, 100):
                conf = config(tmp, tmp / "roots-10000.pem", servers=servers)
                many[servers] = run(MTLS + [str(conf)], args.repeat)
                print(f"# roots 10000 x {servers} servers: cpu {many[servers][0]:.2f} s", file=sys.stderr)

    from mtls_doctor.pki.load import MAX_BLOCKS  # a bound: the rest of a bigger file is not read

    lo = sizes[0]
    grown = [n for n in sizes if n <= MAX_BLOCKS]  # the growth is measured up to the bound
    out = ["## lint with a large CA bundle: growth in certificates (issue 11 #9)", "",
           "One server naming an N-certificate bundle in `ssl_client_certificate`; a fresh process"
           f" per run (start-up included), median of {args.repeat} run(s): CPU s (user + sys, the measure:"
           " the machine is shared, wall time follows its load) / wall s / peak RSS MiB."
           " mtls-doctor: `lint --nginx-version 1.22.1 --format json` (files opened: the bundle"
           " parsed, its CA names listed, the F3.2 depth walked). Command: `.venv/bin/python"
           f" bench/bench_bundle_scaling.py --sizes {args.sizes} --repeat {args.repeat} --anchor-repeat"
           f" {args.anchor_repeat} --shapes {args.shapes}` (anchors: median of {args.anchor_repeat} run(s);"
           " openssl and grep only on the first shape: their work does not depend on it).", ""]
    header = "| shape | N | " + " | ".join(tools) + " | mtls-doctor / nginx -t |"
    out += [header, "|---|---:|" + "---:|" * (len(tools) + 1)]
    for shape in shapes:
        for n in sizes:
            cells = [f"{rows[(shape, n, t)][0]:.2f} / {rows[(shape, n, t)][1]:.2f} / {rows[(shape, n, t)][2]:.0f}"
                     if (shape, n, t) in rows else "-" for t in tools]
            ratio = rows[(shape, n, tools[0])][0] / rows[(shape, n, tools[1])][0]
            capped = " (reads the first {:,}: MAX_BLOCKS)".format(MAX_BLOCKS) if n > MAX_BLOCKS else ""
            out.append(f"| {shape} | {n:,}{capped} | " + " | ".join(cells) + f" | {ratio:.1f}x |")
    out += ["", "Growth of mtls-doctor lint (CPU time ratio between sizes; the start-up, a 1-certificate"
            " bundle, subtracted in the factors; factor = net time ratio / size ratio, 1.0 = linear,"
            " a quadratic cost would give the size ratio itself):", "",
            "| shape | " + " | ".join(f"{a // 1000}k -> {b // 1000}k" for a, b in zip(grown, grown[1:]))
            + f" | factor {lo // 1000}k -> {grown[-1] // 1000}k | nginx -t factor {lo // 1000}k -> {grown[-1] // 1000}k |"
            + (f" nginx -t factor {lo // 1000}k -> {sizes[-1] // 1000}k |" if sizes[-1] > grown[-1] else ""),
            "|---|" + "---:|" * (len(grown) + 1 + (sizes[-1] > grown[-1]))]
    for shape in shapes:
        t = {n: rows[(shape, n, tools[0])][0] for n in [1, *sizes]}
        g = {n: rows[(shape, n, tools[1])][0] for n in [1, *sizes]}
        steps = [f"{t[b] / t[a]:.2f}x (size {b / a:g}x)" for a, b in zip(grown, grown[1:])]
        hi = grown[-1]
        factor = ((t[hi] - t[1]) / (t[lo] - t[1])) / (hi / lo)
        gfactor = ((g[hi] - g[1]) / (g[lo] - g[1])) / (hi / lo)
        line = f"| {shape} | " + " | ".join(steps) + f" | {factor:.2f} | {gfactor:.2f} |"
        if sizes[-1] > hi:
            line += f" {((g[sizes[-1]] - g[1]) / (g[lo] - g[1])) / (sizes[-1] / lo):.2f} |"
        out.append(line)
    if many:
        one = rows[("roots", 10000, tools[0])][0]
        out += ["", "The 10,000-certificate `roots` bundle named by several servers (each with its own"
                f" ssl_certificate): 1 server {one:.2f} s CPU; "
                + "; ".join(f"{n} servers {r[0]:.2f} s CPU ({r[2]:.0f} MiB), {(r[0] - one) / (n - 1):.3f} s per"
                            " extra server" for n, r in many.items()) + "."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
