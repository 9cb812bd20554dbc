"""Benchmark: how `mtls-doctor lint` scales (issue 11): in server blocks, in findings, for every
output format, and with a 10,000-certificate CA bundle named by the configuration.

Configurations come from ``bench_lint.generate`` (N mTLS server blocks, several findings each).
Each run is a fresh process as a user runs it (start-up included), wall time and peak RSS
(``wait4``), median of --repeat runs. Prints a markdown section to stdout; the scaling factor is
the time ratio divided by the size ratio (1.0 = linear).

    .venv/bin/python bench/bench_lint_scaling.py [--sizes 1000,5000,20000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_lint import generate  # noqa: E402

ROOT = HERE.parent
MTLS = [str(ROOT / ".venv" / "bin" / "mtls-doctor"), "lint", "--nginx-version", "1.22.1"]
FORMATS = ("text", "json", "sarif")


def run(cmd: list[str], repeat: int) -> tuple[float, float, int]:
    """(median wall seconds, max peak RSS MiB, exit code) of ``repeat`` fresh runs."""
    times, peaks, rc = [], [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        times.append(time.perf_counter() - start)
        peaks.append(usage.ru_maxrss / 1024)
        rc = os.waitstatus_to_exitcode(status)
    return statistics.median(times), max(peaks), rc


def ca_bundle(n: int) -> bytes:
    """N self-issued CA certificates with distinct subjects (one key: generation stays fast)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    out = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench CA {i}")])
        out.append(x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(i + 1)
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def bundle_config(servers: int, bundle: Path) -> str:
    blocks = "".join(
        f"    server {{\n        listen 127.0.0.1:{10000 + i % 50} ssl;\n"
        f"        server_name b{i}.example.test;\n        ssl_verify_client on;\n"
        f"        ssl_client_certificate {bundle};\n    }}\n" for i in range(servers))
    return "events {}\nhttp {\n" + blocks + "}\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--bundle", type=int, default=10000, help="certificates in the CA bundle")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: dict[tuple[int, str], tuple[float, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lint-scaling-") as tmp:
        for n in sizes:
            conf = Path(tmp) / f"servers-{n}.conf"
            conf.write_text(generate(n))
            for fmt in FORMATS:
                rows[(n, fmt)] = run(MTLS + ["--no-files", "--format", fmt, str(conf)], args.repeat)
                print(f"# {n} servers {fmt}: {rows[(n, fmt)][0]:.2f} s", file=sys.stderr)
        bundle = Path(tmp) / "ca-bundle.pem"
        bundle.write_bytes(ca_bundle(args.bundle))
        bundle_rows = {}
        for servers in (1, 1000):
            conf = Path(tmp) / f"bundle-{servers}.conf"
            conf.write_text(bundle_config(servers, bundle))
            bundle_rows[servers] = run(MTLS + ["--format", "json", str(conf)], args.repeat)
            print(f"# bundle x {servers} servers: {bundle_rows[servers][0]:.2f} s", file=sys.stderr)
    lo, hi = sizes[0], sizes[-1]
    out = ["## lint scaling (issue 11)", "",
           "Generated configurations (`bench_lint.generate`: N mTLS server blocks, about 2 findings"
           " each); a fresh process per run (start-up included), wall time and peak RSS, median of"
           f" {args.repeat} run(s); `lint --no-files --nginx-version 1.22.1 --format F`. Command:"
           f" `.venv/bin/python bench/bench_lint_scaling.py --sizes {args.sizes} --repeat"
           f" {args.repeat}`. Scaling factor = time ratio / size ratio ({lo:,} -> {hi:,}); 1.0 is"
           " linear.", "",
           "| servers | " + " | ".join(f"{f} (s, MiB)" for f in FORMATS) + " |",
           "|---:|" + "---:|" * len(FORMATS)]
    for n in sizes:
        out.append(f"| {n:,} | " + " | ".join(
            f"{rows[(n, f)][0]:.2f} s, {rows[(n, f)][1]:.0f}" for f in FORMATS) + " |")
    factors = {f: (rows[(hi, f)][0] / rows[(lo, f)][0]) / (hi / lo) for f in FORMATS}
    out.append("| scaling factor | " + " | ".join(f"{factors[f]:.2f}" for f in FORMATS) + " |")
    out += ["", f"A {args.bundle:,}-certificate CA bundle named by `ssl_client_certificate` (files"
            " opened, `--format json`): "
            + "; ".join(f"{s:,} server(s) {t:.2f} s ({m:.0f} MiB)" for s, (t, m, _) in bundle_rows.items())
            + "."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
